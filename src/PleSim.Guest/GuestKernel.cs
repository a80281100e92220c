using PleSim.Engine;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Plugins;

namespace PleSim.Guest;

/// <summary>
/// One VM's guest kernel: a <see cref="GuestCpu"/> per VCPU, its threads, spinlocks and wait
/// queues. Wake-up placement follows 2.6.3x's <c>select_task_rq_fair</c> for the topology QEMU
/// shows the guest.
/// </summary>
public sealed class GuestKernel
{
    private readonly List<GuestThread> _threads = [];
    private readonly List<GuestSpinLock> _locks = [];
    private readonly List<WaitQueue> _queues = [];
    private readonly List<GuestMutex> _mutexes = [];
    private readonly List<GuestRwSem> _rwsems = [];
    private readonly List<Futex> _futexes = [];
    private GuestSpinLock?[]? _futexBuckets;
    private HrTimer? _stealPoll;

    /// <param name="streams">The run's random streams; a plug-in spinlock (<see cref="SpinlockKind.Plugin"/>) draws from <c>vm.NAME.plugin-lock.PLUGIN</c>.</param>
    public GuestKernel(Kvm kvm, Vm vm, GuestSettings settings, RandomStreams? streams = null)
    {
        Kvm = kvm;
        Vm = vm;
        Settings = settings = KvmSpinlockInit(settings, kvm.Settings);
        Name = vm.Name;
        // An s390 guest (decision 0055) executes no PAUSE, so no pause-loop exiting applies to it.
        if (settings.Spinlock == SpinlockKind.S390 && kvm.Handler.PleEnabled)
            throw new ArgumentException($"{vm.Name}: an s390 guest (guest.spinlock: s390) has no pause-loop exiting: the host's kvm.ple_handler must be 'none', not '{kvm.Handler.Name}'");
        if (settings.Spinlock == SpinlockKind.Plugin)
        {
            // One instance per VM per run (decision 0041), created before the first lock.
            var plugin = settings.SpinlockPlugin ?? throw new ArgumentException($"{vm.Name}: guest.spinlock is a plug-in lock but names no plug-in");
            LockPlugin = PluginRegistry.CreateGuestLock(plugin);
            string stream = $"vm.{vm.Name}.plugin-lock.{plugin}";
            long loopNs = Math.Max(1, kvm.Tsc.ToDuration(new TscCycles(kvm.Settings.PauseLoopCycles)).Ns);
            LockPlugin.Initialize(streams?.Get(stream) ?? new RandomStream(0, stream),
                new GuestKernelInfo(vm.Index, vm.Vcpus.Count, settings.SpinThresholdLoops, loopNs, settings.VcpuIsPreemptedCheck));
        }
        SchedDomain = GuestSchedDomain.For(settings.KernelVersion, settings.Topology, vm.Vcpus.Count);
        if (settings.NewIdleAvgIdleGate is bool gate)
            SchedDomain = SchedDomain with { NewIdleAvgIdleGate = gate }; // guest.newidle_avg_idle_gate overrides the version's rule
        if (settings.NewIdleRdOverloadGate is bool overloadGate)
            SchedDomain = SchedDomain with { NewIdleRdOverloadGate = overloadGate }; // guest.newidle_rd_overload_gate
        NohzModel = GuestNohz.For(settings.KernelVersion);
        Cpus = new GuestCpu[vm.Vcpus.Count];
        for (int i = 0; i < Cpus.Length; i++)
        {
            Cpus[i] = new GuestCpu(this, i, vm.Vcpus[i]);
            vm.Vcpus[i].AttachGuest(Cpus[i]);
        }
        kvm.Sim.Invariants.Register(new GuestInvariants(this));
    }

    public Kvm Kvm { get; }

    /// <summary>The scheduling domain the VCPUs share: its periodic-balancing parameters (decision 0072).</summary>
    public GuestSchedDomain SchedDomain { get; }

    /// <summary>
    /// <c>rq->rd->overload</c> (3.16+): some VCPU went from one to two runnable threads since the last
    /// balance pass, which rewrites it from what it saw (decision 0087). Kept for every version; read
    /// only where <see cref="GuestSchedDomain.NewIdleRdOverloadGate"/> says so.
    /// </summary>
    public bool RdOverload { get; internal set; }

    /// <summary><c>update_sd_lb_stats</c>' overload indicator at the root domain: whether any VCPU has more than one runnable thread.</summary>
    internal void UpdateRdOverload()
    {
        bool overload = false;
        foreach (var c in Cpus)
            overload |= c.NrRunning > 1;
        RdOverload = overload;
    }

    /// <summary>The last <see cref="GuestThread.ListSeq"/> handed out.</summary>
    internal long TaskListSeq;

    /// <summary>The busy balancer's copy of a run queue's task list (reused: no allocation per balance).</summary>
    internal readonly List<GuestThread> BalanceScratch = [];

    /// <summary>The spinlock policy plug-in of <see cref="SpinlockKind.Plugin"/> locks (decision 0041); null otherwise.</summary>
    internal IGuestSpinlockPlugin? LockPlugin { get; }
    public Vm Vm { get; }
    public GuestSettings Settings { get; }
    public string Name { get; }
    public GuestCpu[] Cpus { get; }
    public IReadOnlyList<GuestThread> Threads => _threads;
    public IReadOnlyList<GuestSpinLock> Locks => _locks;
    public IReadOnlyList<WaitQueue> Queues => _queues;
    public IReadOnlyList<GuestMutex> Mutexes => _mutexes;

    /// <summary>The rw_semaphores that spin on their owner (<c>guest.rwsem: "4.19"</c>); empty otherwise.</summary>
    public IReadOnlyList<GuestRwSem> RwSems => _rwsems;

    /// <summary>A 4.19 rw_semaphore: its spinners read <c>owner->on_cpu</c> and <c>vcpu_is_preempted</c>.</summary>
    internal void RegisterRwSem(GuestRwSem s) => _rwsems.Add(s);

    /// <summary>
    /// The first rw_semaphore spin creates the event that re-reads <c>vcpu_is_preempted</c> (once per
    /// kernel; created then rather than with the semaphore, so that a semaphore nobody spins on
    /// leaves the run's event registrations as they were).
    /// </summary>
    internal void EnsureStealPoll() => _stealPoll ??= new HrTimer(Kvm.Sim, new StealPollHandler(this));

    /// <summary>A task left its CPU: spinners of the 4.19 rw_semaphores it owns for writing see <c>owner->on_cpu</c> drop.</summary>
    internal void RwSemOwnerSwitchedOut(GuestThread t)
    {
        for (int i = 0; i < _rwsems.Count; i++)
            _rwsems[i].TaskSwitchedOut(t);
    }
    public IReadOnlyList<Futex> Futexes => _futexes;

    /// <summary>FUTEX_HASHBITS (kernel/futex.c 2.6.39: 8 unless CONFIG_BASE_SMALL): 256 hash buckets.</summary>
    public const int FutexHashBuckets = 1 << 8;

    /// <summary>A kernel <c>struct mutex</c> (<see cref="GuestMutex"/>) with its own <c>wait_lock</c>.</summary>
    public GuestMutex NewMutex(string name)
    {
        var m = new GuestMutex(this, name);
        _mutexes.Add(m);
        // vcpu_is_preempted is read in the owner-spin loop: the guest must learn when KVM sets the flag.
        _stealPoll ??= new HrTimer(Kvm.Sim, new StealPollHandler(this));
        return m;
    }

    /// <summary>
    /// A private futex word at <paramref name="address"/> of address space <paramref name="mm"/>; its
    /// hash bucket's lock is created with the first futex hashed there. The bucket is a deterministic
    /// hash of the key (<paramref name="maxWaiters"/>: room reserved for waiters, so queueing does not allocate; FNV-1a here, where the kernel uses jhash2 with a boot-time seed from 3.13 and
    /// none before: which keys collide differs, how a collision costs does not).
    /// </summary>
    public Futex NewFutex(string name, int mm, long address, int maxWaiters = 64)
    {
        _futexBuckets ??= new GuestSpinLock?[FutexHashBuckets];
        int bucket = (int)(StableHash.Combine(StableHash.Combine(14695981039346656037UL, (ulong)mm), (ulong)address) % FutexHashBuckets);
        var lk = _futexBuckets[bucket] ??= NewLock($"futex_queues[{bucket}].lock");
        var f = new Futex(name, mm, address, lk, bucket, maxWaiters);
        _futexes.Add(f);
        return f;
    }

    /// <summary>KVM set <paramref name="c"/>'s steal-time preempted flag: owner spinners that read it look again (in a separate event).</summary>
    internal void StealTimePreempted(GuestCpu c)
    {
        if (!Settings.VcpuIsPreemptedCheck || _stealPoll is null || _stealPoll.IsArmed)
            return;
        foreach (var m in _mutexes)
        {
            if (m.Spinners > 0 && m.Owner is { } o && o.Cpu == c.Index)
            {
                // The flag is written during the host's context switch; the spinners' next loop
                // iteration reads it. Looking in an event of its own keeps the host switch atomic.
                _stealPoll.StartAfter(SimDuration.Zero);
                return;
            }
        }
        for (int i = 0; i < _rwsems.Count; i++)
        {
            if (_rwsems[i].SpinnersWatch(c.Index))
            {
                _stealPoll.StartAfter(SimDuration.Zero);
                return;
            }
        }
    }

    private void StealPoll()
    {
        foreach (var m in _mutexes)
        {
            if (m.Spinners > 0)
                m.NotifySpinners();
        }
        for (int i = 0; i < _rwsems.Count; i++)
        {
            if (_rwsems[i].Spinners > 0)
                _rwsems[i].NotifySpinners();
        }
    }

    /// <summary>A mutex owner left its CPU (guest context switch): spinners of the mutexes it owns see <c>owner->on_cpu</c> drop.</summary>
    internal void MutexOwnerSwitchedOut(GuestThread t)
    {
        foreach (var m in _mutexes)
        {
            if (m.Owner == t && m.Spinners > 0)
                m.OwnerSwitchedOut();
        }
    }

    private sealed class StealPollHandler(GuestKernel k) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg) => k.StealPoll();
    }

    /// <summary>Receives lock events (traces); null when nobody listens.</summary>
    public IGuestObserver? Observer { get; set; }

    /// <summary>A spinlock the kernel takes as <paramref name="irq"/> says (plain <c>spin_lock</c> unless told).</summary>
    public GuestSpinLock NewLock(string name, LockIrq irq = LockIrq.Plain)
    {
        var l = new GuestSpinLock(this, name, Settings.Spinlock, irq, _locks.Count);
        _locks.Add(l);
        return l;
    }

    /// <summary>
    /// A spinlock of a fixed implementation whatever <c>guest.spinlock</c> says: a user-space lock
    /// such as glibc's <c>pthread_spin_lock</c> (a test-and-set loop with PAUSE, <paramref name="userSpace"/>)
    /// is not the kernel's.
    /// </summary>
    public GuestSpinLock NewLock(string name, SpinlockKind kind, bool userSpace, LockIrq irq = LockIrq.Plain)
    {
        var l = new GuestSpinLock(this, name, kind, irq, _locks.Count) { UserSpace = userSpace };
        _locks.Add(l);
        return l;
    }

    /// <summary>
    /// A wait queue with its own spinlock, or sharing <paramref name="lk"/> (e.g. an epoll instance's
    /// ep->lock). Its own lock is a <c>wait_queue_head_t</c> lock, taken with interrupts off
    /// (<c>__wake_up</c> in kernel/sched.c, <c>prepare_to_wait</c> in kernel/wait.c, 2.6.32:
    /// <c>spin_lock_irqsave(&amp;q->lock)</c>) unless <paramref name="irq"/> says otherwise — a futex's
    /// hash-bucket lock, for one, is a plain <c>spin_lock(&amp;hb->lock)</c> (kernel/futex.c).
    /// </summary>
    public WaitQueue NewWaitQueue(string name, GuestSpinLock? lk = null, LockIrq irq = LockIrq.IrqSave)
    {
        var q = new WaitQueue(name, lk ?? NewLock(name + ".lock", irq));
        _queues.Add(q);
        return q;
    }

    /// <summary>Creates a runnable thread on <paramref name="cpu"/> (optionally pinned there), in address space <paramref name="mm"/>.</summary>
    public GuestThread CreateThread(string name, IThreadProgram program, int cpu, bool pinned = false, int mm = 0)
    {
        var t = new GuestThread(_threads.Count, name, program, cpu, pinned ? CpuMask.Of(cpu) : CpuMask.All(Cpus.Length), mm);
        _threads.Add(t);
        // Every run queue can hold every thread: sized now, not while the simulation runs.
        foreach (var c in Cpus)
            c.ReserveQueue(_threads.Count);
        t.Vruntime = Cpus[cpu].MinVruntime;
        Cpus[cpu].EnqueueInitial(t);
        return t;
    }

    /// <summary>
    /// <c>exec</c> gives running thread <paramref name="t"/> the new address space <paramref name="mm"/>
    /// (2.6.39 fs/exec.c <c>exec_mmap</c>: <c>activate_mm</c> loads it on the thread's VCPU, which
    /// leaves the old mm's cpumask).
    /// </summary>
    public void ExecMm(GuestThread t, int mm)
    {
        t.Mm = mm;
        if (Cpus[t.Cpu].Curr == t)
            Cpus[t.Cpu].ActivateMm(mm);
    }

    /// <summary>Starts the guest: every VCPU's local APIC timer ticks at the guest's HZ, on a grid offset by <paramref name="tickPhase"/>.</summary>
    public void Start(SimDuration tickPhase = default)
    {
        foreach (var c in Cpus)
        {
            c.Vcpu.GuestTimerPhase = tickPhase;
            c.Vcpu.SetGuestTimer(Settings.TickPeriod);
            c.StartTimers();
        }
    }

    private readonly IGuestIrqHandler?[] _irqHandlers = new IGuestIrqHandler?[Vectors.Count];

    /// <summary>
    /// <c>request_irq</c>: <paramref name="handler"/> handles device interrupt <paramref name="vector"/>
    /// on every VCPU (one handler per vector; the timer and IPI vectors are the kernel's own).
    /// </summary>
    public void RequestIrq(int vector, IGuestIrqHandler handler)
    {
        if (vector < Vectors.VirtioNetInput || vector >= Vectors.Count)
            throw new ArgumentOutOfRangeException(nameof(vector), vector, "not a device interrupt vector");
        if (_irqHandlers[vector] is not null)
            throw new InvalidOperationException($"{Name}: vector {Vectors.Name(vector)} already has a handler");
        _irqHandlers[vector] = handler;
    }

    /// <summary>
    /// <c>kvm_spinlock_init</c> (arch/x86/kernel/kvm.c): without KVM_FEATURE_PV_UNHALT from the host
    /// (<c>kvm.pv_unhalt: false</c>) the guest leaves the native lock ops in place (decision 0048).
    /// A 3.x PV ticket lock then runs as the plain ticket lock. A 4.2+ queued-lock guest runs the
    /// native <c>queued_spin_lock_slowpath</c>, whose first step on a hypervisor is
    /// <c>virt_spin_lock</c> (arch/x86/include/asm/qspinlock.h; 4.2's <c>virt_queued_spin_lock</c>:
    /// cmpxchg the whole word from 0 with <c>cpu_relax</c> between tries): a test-and-set lock. From
    /// 4.15 it is gated by <c>virt_spin_lock_key</c>, which KVM's <c>kvm_spinlock_init</c> disables only
    /// after it found PV_UNHALT (dedicated / KVM_HINTS_REALTIME hint, one CPU, <c>nopvspin</c>) up to
    /// 6.17; the 2025 reorder checks the REALTIME hint first — no host here gives that hint, so every
    /// version 4.2+ without PV_UNHALT uses the test-and-set lock (decision 0058).
    /// </summary>
    private static GuestSettings KvmSpinlockInit(GuestSettings guest, KvmSettings kvm) =>
        kvm.PvUnhalt ? guest : guest.Spinlock switch
        {
            SpinlockKind.PvTicket => guest with { Spinlock = SpinlockKind.Ticket },
            SpinlockKind.PvQueued => guest with { Spinlock = SpinlockKind.TestAndSet },
            _ => guest,
        };

    /// <summary>
    /// Ground truth (oracle, read-only) shared by the sleeping locks' owner-spin loops (mutex
    /// owner spinning, 4.19 rwsem writer spinning): an owner whose VCPU runs guest code is what
    /// owner spinning is for; an owner whose VCPU is elsewhere (off CPU, halted, in an exit) is
    /// preempted for the spinner; no owner (a release in progress) is contention.
    /// </summary>
    internal SpinCause OwnerSpinCause(GuestThread? owner) =>
        owner is null ? SpinCause.Contention
        : Cpus[owner.Cpu].Vcpu.Presence == VcpuPresence.InGuest ? SpinCause.MutexOwnerRunning : SpinCause.MutexOwnerPreempted;

    /// <summary>Whether <paramref name="candidate"/> is the VCPU <paramref name="owner"/> last ran on (statistics only).</summary>
    internal bool IsOwnerVcpu(GuestThread? owner, Vcpu candidate) => owner is { } o && Cpus[o.Cpu].Vcpu == candidate;

    internal IGuestIrqHandler? IrqHandler(int vector) => vector >= 0 && vector < _irqHandlers.Length ? _irqHandlers[vector] : null;

    /// <summary>
    /// Where a woken thread goes: its previous VCPU or the waker's (<c>wake_affine</c>), then, with
    /// a one-socket topology, an idle VCPU of the package (<c>select_idle_sibling</c>); with
    /// QEMU's <c>-smp N</c> (N sockets) there is no cache-sharing domain to search. With
    /// <see cref="GuestSettings.AvailableIdleCpu"/> (4.19's <c>select_idle_sibling</c>) "idle" is
    /// <see cref="AvailableIdleCpu"/>: an idle VCPU whose steal-time flag says it is preempted is
    /// passed over.
    /// </summary>
    internal GuestCpu SelectWakeTarget(GuestThread t, GuestCpu waker)
    {
        var cpu = SelectIdleSibling(t, waker);
        if (cpu.IsIdle && GuestCpu.VcpuIsPreempted(cpu))
            WakeupsToPreemptedIdleVcpu++;
        return cpu;
    }

    /// <summary>Woken threads sent to an idle VCPU whose steal-time flag said it was preempted (they wait for the host to run it).</summary>
    public long WakeupsToPreemptedIdleVcpu { get; private set; }

    private GuestCpu SelectIdleSibling(GuestThread t, GuestCpu waker)
    {
        var prev = Cpus[t.Cpu];
        if (t.Affinity.IsOnly(prev.Index))
            return prev;
        GuestCpu target;
        if (!t.AllowedOn(waker.Index))
            target = prev;
        else if (waker == prev || WakeAffine(waker, prev))
            target = waker;
        else
            target = prev;
        // select_idle_sibling: this CPU or the previous one if idle, ...
        if (target == waker && AvailableIdleCpu(waker))
            return waker;
        if (target == prev && AvailableIdleCpu(prev))
            return prev;
        if (Settings.Topology == GuestTopology.Cores)
        {
            // ... else the first idle allowed CPU of the package.
            foreach (var c in Cpus)
            {
                if (AvailableIdleCpu(c) && t.AllowedOn(c.Index))
                    return c;
            }
        }
        return target;
    }

    /// <summary>
    /// Whether <paramref name="c"/> can take a woken thread at once: <c>idle_cpu</c>, and from 4.19
    /// (<see cref="GuestSettings.AvailableIdleCpu"/>) also not <c>vcpu_is_preempted</c>
    /// (kernel/sched/core.c v4.19 <c>available_idle_cpu</c>, which <c>select_idle_sibling</c> and the
    /// idle-core/idle-CPU scans call; commit 943d355d7fee). On a 5.19+ host a halted VCPU is not
    /// preempted (its thread blocked), so this passes over only idle VCPUs the host preempted before
    /// they halted; on a 4.10–5.18 host KVM marks a VCPU preempted at every put, a block on HLT
    /// included (<see cref="PleSim.Hypervisor.KvmSettings.StealTimePreemptedOnBlock"/>, decision
    /// 0081), so it passes over halted idle VCPUs too.
    /// </summary>
    internal bool AvailableIdleCpu(GuestCpu c) =>
        c.IsIdle && !(Settings.AvailableIdleCpu && GuestCpu.VcpuIsPreempted(c));

    /// <summary>
    /// <c>wake_affine</c> with every thread weighing NICE_0_LOAD and the guest's package-level
    /// imbalance_pct (125): wake on the waker's CPU when that keeps loads within half the margin,
    /// or when the waker's CPU is lightly loaded.
    /// </summary>
    private static bool WakeAffine(GuestCpu waker, GuestCpu prev)
    {
        const long w = PleSim.Host.Weights.Nice0Load;
        long thisLoad = waker.NrRunning * w;
        long load = prev.NrRunning * w;
        bool balanced = thisLoad == 0 || 100 * (thisLoad + w) <= 112 * load;
        if (balanced)
            return true;
        long tlPerTask = waker.NrRunning == 0 ? 0 : thisLoad / waker.NrRunning;
        return thisLoad <= load && thisLoad + load <= tlPerTask;
    }

    // ------------------------------------------------------------------ NOHZ idle balancing
    // 2.6.32 kernel/sched.c select_nohz_load_balancer / trigger_load_balance: tickless idle CPUs
    // are in nohz.cpu_mask; one of them, nohz.load_balancer, keeps its tick and balances on behalf
    // of the others (here it kicks an idle VCPU that has work to pull, which then pulls it).
    // From 2.6.36 (GuestNohzBalance.Push*, decision 0076) every idle CPU stops its tick and a busy
    // CPU's tick kicks one of them to balance for all (GuestCpu.Nohz.cs).

    /// <summary>Which NOHZ idle balancing the guest kernel does (decision 0076).</summary>
    public GuestNohzBalance NohzModel { get; }

    /// <summary>The push model of 2.6.36+ (every idle CPU stops its tick; busy ticks kick an idle balancer).</summary>
    internal bool NohzPush => NohzModel != GuestNohzBalance.Owner;

    /// <summary>
    /// <c>nohz.load_balancer</c>: the idle VCPU that keeps its tick for idle balancing (2.6.32), or
    /// the one a busy CPU kicks first (2.6.39, whose tick stops too); -1 for none.
    /// </summary>
    public int NohzBalancer { get; private set; } = -1;

    /// <summary><c>nohz.cpu_mask</c> (2.6.32) / <c>nohz.idle_cpus_mask</c> (2.6.39+): tickless idle VCPUs (a bit each).</summary>
    public ref readonly CpuMask NohzMask => ref _nohzMask;

    private CpuMask _nohzMask;

    /// <summary><c>nohz.next_balance</c> (jiffies): no busy tick kicks an idle balancer before it.</summary>
    internal long NohzNextBalance;

    /// <summary>2.6.39 <c>nohz.first_pick_cpu</c> / <c>nohz.second_pick_cpu</c> (-1: none).</summary>
    internal int NohzFirstPick = -1, NohzSecondPick = -1;

    /// <summary>
    /// <c>select_nohz_load_balancer(1)</c> (2.6.32, 2.6.39) / <c>nohz_balance_enter_idle</c> (4.x+):
    /// <paramref name="c"/> stops its tick. True if it must keep its tick (the 2.6.32 balancer).
    /// </summary>
    internal bool NohzEnter(GuestCpu c)
    {
        _nohzMask.Set(c.Index);
        if (NohzPush)
        {
            if (NohzModel == GuestNohzBalance.Push2639)
            {
                if (NohzFirstPick == c.Index)
                    NohzFirstPick = -1;
                if (NohzSecondPick == c.Index)
                    NohzSecondPick = -1;
                if (NohzBalancer == -1)
                    NohzBalancer = c.Index; // find_new_ilb only differs with power-savings balancing (off)
            }
            return false;
        }
        if (_nohzMask.Count == Cpus.Length)
        {
            // Every VCPU idle: nothing to balance, the owner sleeps too.
            if (NohzBalancer == c.Index)
                NohzBalancer = -1;
            return false;
        }
        if (NohzBalancer == -1)
            NohzBalancer = c.Index;
        return NohzBalancer == c.Index;
    }

    /// <summary>
    /// <c>select_nohz_load_balancer(0)</c>: <paramref name="c"/> leaves idle (2.6.32, 2.6.39; from
    /// 3.x a CPU leaves the mask only at its first busy tick, <see cref="NohzBalanceExitIdle"/>).
    /// </summary>
    internal void NohzExit(GuestCpu c)
    {
        if (NohzModel is not (GuestNohzBalance.Owner or GuestNohzBalance.Push2639))
            return;
        _nohzMask.Clear(c.Index);
        if (NohzBalancer == c.Index)
            NohzBalancer = -1;
    }

    /// <summary><c>nohz_balance_exit_idle</c> (4.16, 5.x, 6.1): the first busy tick after idle takes <paramref name="c"/> out of the mask.</summary>
    internal void NohzBalanceExitIdle(GuestCpu c) => _nohzMask.Clear(c.Index);

    /// <summary><c>sd_llc_shared->nr_busy_cpus</c>: VCPUs whose domain state is busy (<c>set_cpu_sd_state_busy</c> / <c>_idle</c>).</summary>
    internal int NrBusyCpus
    {
        get
        {
            int n = 0;
            foreach (var c in Cpus)
                n += c.SdStateBusy ? 1 : 0;
            return n;
        }
    }

    /// <summary>
    /// An idle CPU's pull candidate: a queued thread of the busiest other queue. With
    /// <paramref name="overloadedOnly"/> (the push model's NOHZ idle balance, decision 0076) a queue
    /// whose one thread waits for its idle VCPU to schedule it is no candidate: load_balance takes
    /// only from an overloaded group, and find_busiest_queue skips a run queue with one task.
    /// <c>Overloaded</c>: some other VCPU has two runnable threads and one queued (what decides
    /// load_balance's out_balanced for the failure count, decision 0077).
    /// </summary>
    internal (GuestThread? Thread, GuestCpu? From, bool Overloaded) FindPull(GuestCpu idle, bool overloadedOnly = false, bool mayTakeHot = false)
    {
        GuestCpu? busiest = null;
        bool overloaded = false;
        foreach (var c in Cpus)
        {
            if (c == idle || c.QueuedCount == 0)
                continue;
            overloaded |= c.NrRunning > 1;
            if (overloadedOnly && c.NrRunning < 2)
                continue;
            if (busiest is null || c.QueuedCount > busiest.QueuedCount)
                busiest = c;
        }
        RdOverload = overloaded; // update_sd_lb_stats at the root domain (decision 0087); the idle CPU has none
        var t = busiest?.Pullable(idle, mayTakeHot);
        return t is null ? (null, null, overloaded) : (t, busiest, overloaded);
    }
}

/// <summary>Lock activity on guest CPUs, for traces; <c>thread</c> is the CPU's current thread (null when idle).</summary>
public interface IGuestObserver
{
    void SpinStart(GuestThread? thread, GuestCpu cpu, GuestSpinLock lk) { }
    void Acquired(GuestThread? thread, GuestCpu cpu, GuestSpinLock lk) { }
    void Released(GuestThread? thread, GuestCpu cpu, GuestSpinLock lk) { }

    /// <summary>
    /// A sleeping lock's optimistic spin started on <paramref name="cpu"/> (<c>mutex_spin_on_owner</c>'s
    /// loop, <c>rwsem_optimistic_spin</c>, the hand-off writer's <c>rwsem_spin_on_owner</c>);
    /// <paramref name="queued"/>: the spinner waits in the OSQ behind another node (<c>osq_lock</c>).
    /// </summary>
    void OwnerSpinStart(GuestThread thread, GuestCpu cpu, string lockName, OwnerSpinKind kind, bool queued) { }

    /// <summary>The OSQ node of <paramref name="cpu"/> became the queue's head: it spins on the owner from now.</summary>
    void OsqHead(GuestCpu cpu) { }

    /// <summary>The owner spin of <paramref name="cpu"/> ended, with the lock or not (a spin that ended as it began was never started).</summary>
    void OwnerSpinEnd(GuestThread? thread, GuestCpu cpu, bool acquired) { }

    /// <summary>
    /// <c>schedule()</c> on <paramref name="cpu"/> switched from <paramref name="prev"/> to
    /// <paramref name="next"/> (null: the idle task); <paramref name="prev"/>'s state says why it left
    /// (runnable: preempted or yielded; blocked: it went to sleep).
    /// </summary>
    void Switched(GuestCpu cpu, GuestThread? prev, GuestThread? next) { }

    /// <summary>
    /// <c>try_to_wake_up</c> run on <paramref name="waker"/> queued <paramref name="thread"/> on
    /// <paramref name="target"/> (<c>activate_task</c>); <paramref name="preempt"/>: <c>check_preempt_curr</c>
    /// asked the target's current thread to reschedule (always when the target was idle).
    /// </summary>
    void Woken(GuestThread thread, GuestCpu waker, GuestCpu target, bool preempt) { }
}

/// <summary>What an owner spin (<see cref="IGuestObserver.OwnerSpinStart"/>) is, for trace names.</summary>
public enum OwnerSpinKind
{
    /// <summary>A mutex waiter in <c>__mutex_lock_common</c>'s owner-spin loop.</summary>
    Mutex,

    /// <summary>A writer in <c>rwsem_optimistic_spin</c> (4.19, 5.3, 6.1).</summary>
    RwsemWriter,

    /// <summary>A reader in <c>rwsem_optimistic_spin</c> (5.3–5.10).</summary>
    RwsemReader,

    /// <summary>The hand-off writer spinning on the owner in <c>rwsem_down_write_slowpath</c> (5.3, 6.1).</summary>
    RwsemHandoff,
}

/// <summary>A guest's invariants: a thread runs on at most one VCPU, runnable threads are queued exactly once, a lock has at most one owner which holds it.</summary>
internal sealed class GuestInvariants(GuestKernel k) : PleSim.Engine.IInvariant
{
    public string Name => $"guest {k.Name}";

    public string? Check()
    {
        var running = new Dictionary<GuestThread, GuestCpu>();
        foreach (var c in k.Cpus)
        {
            if (c.Curr is { } t && !running.TryAdd(t, c))
                return $"{t} is current on {running[t]} and {c}";
            if (c.LocksHeld < 0)
                return $"{c} holds {c.LocksHeld} locks";
        }
        foreach (var t in k.Threads)
        {
            int queued = k.Cpus.Count(c => c.IsQueued(t));
            if (t.State == ThreadState.Runnable && queued != 1)
                return $"{t} is runnable but queued {queued} times";
            if (t.State != ThreadState.Runnable && queued != 0)
                return $"{t} is {t.State} but queued";
            if (t.State == ThreadState.Running && !running.ContainsKey(t))
                return $"{t} is running but no VCPU's current thread";
        }
        foreach (var l in k.Locks)
        {
            if (l.Owner is { } o && o.LocksHeld <= 0)
                return $"{l} is owned by {o}, which holds no lock";
        }
        foreach (var m in k.Mutexes)
        {
            if (m.Owner is { } o && o.MutexesHeld <= 0)
                return $"{m} is owned by {o}, which holds no mutex";
            if (m.Count == 1 && m.Owner is not null)
                return $"{m} is free (count 1) but owned by {m.Owner}";
            if (m.Count > 1)
                return $"{m} has count {m.Count}";
        }
        foreach (var t in k.Threads)
        {
            if (t.MutexWait is { } w && t.State == ThreadState.Blocked && !w.OnWaitList(t))
                return $"{t} sleeps in {w}'s slow path but is not on its wait list";
        }
        return null;
    }
}

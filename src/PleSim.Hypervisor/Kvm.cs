using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Hypervisor;

/// <summary>
/// The hypervisor: VMs whose VCPUs are host tasks, interrupt delivery (<c>kvm_vcpu_kick</c>), PLE
/// detection and the PAUSE-exit handler policy. It listens to the host scheduler like KVM's
/// preempt notifiers do, and tells the host which CPUs have guest timers pending (so NOHZ idle
/// does not stop their tick).
/// </summary>
public sealed partial class Kvm : IHostTimerSource, IHostObserver
{
    private readonly List<Vm> _vms = [];
    private readonly long _pleWindowNs;

    public Kvm(HostScheduler host, KvmSettings settings, TscFrequency tsc, RandomStreams? streams = null)
    {
        Host = host;
        Sim = host.Sim;
        Settings = settings;
        Tsc = tsc;
        Handler = PleHandlers.Create(settings.PleHandler, settings.DirectedYield, streams, settings.CandidateFilter);
        _pleWindowNs = ComputeWindowNs();
        // Every yield_to a handler makes holds one or two rq locks for acquire + hold at least.
        host.RqLockSectionFloorNs = settings.Costs.RqLockAcquire.Ns + settings.Costs.YieldTo.Ns;
        host.AddTimerSource(this);
        host.AddObserver(this);
        Sim.Invariants.Register(new PlacementInvariant(this));
    }

    private sealed class PlacementInvariant(Kvm kvm) : PleSim.Engine.IInvariant
    {
        public string Name => "VCPU placement (ground truth)";

        public string? Check()
        {
            foreach (var vm in kvm._vms)
            {
                if (vm.CheckPlacement() is { } error)
                    return error;
            }
            return null;
        }
    }

    public HostScheduler Host { get; }
    // Host.Sim, kept here: every VCPU and guest step reads the clock through Kvm.Sim, one pointer
    // hop fewer than through the host scheduler (256-CPU run, bench/RESULTS.md).
    public Simulator Sim { get; }
    public KvmSettings Settings { get; }
    public TscFrequency Tsc { get; }
    public IPleHandler Handler { get; }
    public IReadOnlyList<Vm> Vms => _vms;

    /// <summary>Receives PAUSE exits, halts and kicks (traces); null when nobody listens.</summary>
    public IKvmObserver? Observer { get; set; }

    /// <summary>The co-scheduling comparator (<c>host.coscheduling</c>, decision 0040); null when VCPUs are scheduled on their own (KVM).</summary>
    public Coscheduler? Coscheduler { get; private set; }

    /// <summary>Turns on gang or relaxed co-scheduling of every VM created after this call (decision 0040).</summary>
    public void EnableCoscheduling(CoschedSettings settings)
    {
        if (_vms.Count > 0)
            throw new InvalidOperationException("co-scheduling is enabled before the first VM is created");
        Coscheduler = settings.Mode == CoschedulingMode.None ? null : new Coscheduler(this, settings);
    }

    /// <summary>The pause-loop time before a PAUSE exit (0 = no exits).</summary>
    public long PleWindowNs(bool userMode)
    {
        if (!Handler.PleEnabled)
            return 0;
        // Intel PLE only fires at CPL 0; AMD's pause filter counts at any privilege level.
        if (userMode && Settings.Vendor == CpuVendor.Intel)
            return 0;
        return _pleWindowNs;
    }

    /// <summary>The pause-loop time before <paramref name="v"/>'s next PAUSE exit: its own window when the window is dynamic (3.18).</summary>
    public long PleWindowNs(Vcpu v, bool userMode)
    {
        long baseNs = PleWindowNs(userMode);
        if (baseNs == 0 || !Settings.PleWindowPolicy.Dynamic)
            return baseNs;
        if (v.PleWindowNs < 0)
            v.PleWindowNs = WindowToNs(v.PleWindow);
        return v.PleWindowNs;
    }

    /// <summary>The module's base window: <c>ple_window</c> cycles (VMX) or <c>pause_filter_count</c> PAUSEs (SVM).</summary>
    public long BaseWindow => Settings.Vendor == CpuVendor.Amd ? Settings.PauseFilterCount : Settings.PleWindow;

    private long WindowToNs(long window) => Settings.Vendor == CpuVendor.Amd
        ? Tsc.ToDuration(new TscCycles(window * Settings.PauseLoopCycles)).Ns
        : Tsc.ToDuration(new TscCycles(window)).Ns;

    /// <summary><c>grow_ple_window</c> (vmx.c <c>handle_pause</c> 3.18; svm.c <c>pause_interception</c> 4.18).</summary>
    private void GrowPleWindow(Vcpu v)
    {
        var p = Settings.PleWindowPolicy;
        long next = p.Grown(v.PleWindow, BaseWindow);
        if (next != v.PleWindow)
        {
            v.PleWindow = next;
            v.PleWindowNs = -1;
        }
    }

    /// <summary>
    /// The VCPU thread is scheduled in (<c>kvm_sched_in</c> → <c>vmx_sched_in</c> /
    /// <c>svm_sched_in</c>, 3.18/4.18): <c>shrink_ple_window</c> when the window is dynamic.
    /// </summary>
    internal void OnSchedIn(Vcpu v)
    {
        var p = Settings.PleWindowPolicy;
        if (!p.Dynamic)
            return;
        long next = PleWindowPolicy.ShrinkWindow(v.PleWindow, BaseWindow, p.Shrink);
        if (next != v.PleWindow)
        {
            v.PleWindow = next;
            v.PleWindowNs = -1;
        }
    }

    private long ComputeWindowNs()
    {
        if (Settings.Vendor == CpuVendor.Amd)
        {
            // pause_filter_thresh (4.18): PAUSEs further apart than this reset the count, so such a loop never exits.
            if (Settings.PauseFilterThresh > 0 && Settings.SpinLoopGapCycles > Settings.PauseFilterThresh)
                return 0;
            return Settings.PauseFilterCount <= 0 ? 0 : Tsc.ToDuration(new TscCycles(Settings.PauseFilterCount * Settings.PauseLoopCycles)).Ns;
        }
        // ple_gap 0 disables PLE; a loop whose PAUSEs are further apart than ple_gap never counts.
        if (Settings.PleGap <= 0 || Settings.SpinLoopGapCycles > Settings.PleGap)
            return 0;
        return Tsc.ToDuration(new TscCycles(Settings.PleWindow)).Ns;
    }

    /// <summary>Largest VM the model holds: its VCPU bitmaps (spinning mask, PV send-IPI, guest cpumasks) are <see cref="CpuMask"/>s.</summary>
    public const int MaxVcpus = CpuMask.NrCpus;

    /// <summary>
    /// Creates a VM with <paramref name="vcpus"/> VCPU threads allowed on <paramref name="affinity"/>, in <paramref name="group"/>.
    /// <paramref name="vcpuAffinity"/>, when given, holds one mask per VCPU thread that replaces
    /// <paramref name="affinity"/> for that thread: per-VCPU pinning as libvirt's <c>&lt;vcpupin&gt;</c>
    /// (<c>virsh vcpupin</c>) sets it, one <c>sched_setaffinity</c> per VCPU thread before the guest runs.
    /// The host scheduler honours each thread's own mask on every path (Linux 2.6.39 kernel/sched_fair.c
    /// select_task_rq_fair and can_migrate_task, kernel/sched.c set_cpus_allowed_ptr).
    /// </summary>
    public Vm CreateVm(string name, int vcpus, CpuMask affinity, TaskGroup? group = null, IReadOnlyList<CpuMask>? vcpuAffinity = null)
    {
        // KVM_MAX_VCPUS was 64 on x86 in 2.6.39 (arch/x86/include/asm/kvm_host.h); later kernels
        // raised it. The model's limit is the capacity of its VCPU bitmaps (CpuMask.NrCpus, decision 0038).
        if (vcpus < 1 || vcpus > MaxVcpus)
            throw new ArgumentOutOfRangeException(nameof(vcpus), vcpus, $"a VM has 1 to {MaxVcpus} VCPUs");
        if (vcpuAffinity is not null && vcpuAffinity.Count != vcpus)
            throw new ArgumentException($"{vcpuAffinity.Count} per-VCPU masks for {vcpus} VCPUs", nameof(vcpuAffinity));
        var vm = new Vm(_vms.Count, name, group ?? Host.RootGroup, Host.NrCpus);
        for (int i = 0; i < vcpus; i++)
        {
            var v = new Vcpu(this, vm, i) { PleWindow = BaseWindow, HaltPollNs = Settings.HaltPoll.Adaptive ? 0 : Settings.HaltPoll.HaltPollNs };
            var task = Host.CreateTask($"{name}/vcpu{i}", v, 0, vcpuAffinity?[i] ?? affinity, vm.Group, xenDomain: vm);
            task.Owner = v;
            v.Task = task;
            vm.Vcpus.Add(v);
        }
        Coscheduler?.AddVm(vm);
        _vms.Add(vm);
        return vm;
    }

    /// <summary>Starts the VCPU threads (QEMU creating them, forked from <paramref name="parentCpu"/>).</summary>
    public void Start(Vm vm, int parentCpu = 0)
    {
        foreach (var v in vm.Vcpus)
        {
            if (v.Guest is null)
                throw new InvalidOperationException($"{v} has no guest attached");
            Host.WakeUpNewTask(v.Task, parentCpu);
        }
    }

    /// <summary>
    /// <c>kvm_vcpu_kick</c> with an interrupt: mark it pending; wake the VCPU if its wait queue is
    /// active (halted or PLE-sleeping), or force it out of guest mode with a host IPI if it runs
    /// on another CPU; otherwise it is injected at the next VM entry.
    /// </summary>
    public void Kick(Vcpu target, int vector, Vcpu? from)
    {
        // APICv (decision 0060): an IPI is posted. The guest's LAPIC timer (from null) keeps its path:
        // its host hrtimer interrupt exits the VCPU anyway and apic_timer_expired queues it for the
        // next entry (lapic_timer.pending), where it reaches the virtual IRR as before.
        if (from is not null)
            target.NoteIpiSent(vector);
        if (from is not null && Settings.Apicv)
            VmxDeliverPostedInterrupt(target, vector, from, from.Task.Cpu, Settings.Costs.KickIpiLatency);
        else
            Deliver(target, vector, from, from?.Task.Cpu ?? target.Task.Cpu, from is null ? SimDuration.Zero : Settings.Costs.KickIpiLatency,
                requestEvent: !(from is null && vector == Vectors.Timer)); // the LAPIC timer (Vcpu.OnGuestTimer) makes no KVM_REQ_EVENT
    }

    /// <summary>
    /// An MSI through an irqfd (virt/kvm/eventfd.c <c>irqfd_wakeup</c>, 4.2: an MSI route is
    /// injected at once from the signalling context with <c>kvm_set_msi</c> →
    /// <c>kvm_irq_delivery_to_apic</c> → <c>__apic_accept_irq</c> → <c>kvm_vcpu_kick</c>), from a host
    /// task running on <paramref name="fromCpu"/> (a vhost worker's <c>vhost_signal</c>): wakes a halted
    /// VCPU from that CPU, ends a halt poll, or forces a running VCPU out with a host IPI.
    /// </summary>
    public void InjectMsi(Vcpu target, int vector, int fromCpu)
    {
        var latency = fromCpu == target.Task.Cpu ? SimDuration.Zero : Settings.Costs.KickIpiLatency;
        // APICv: __apic_accept_irq posts a fixed MSI like an IPI (decision 0060).
        if (Settings.Apicv)
            VmxDeliverPostedInterrupt(target, vector, null, fromCpu, latency);
        else
            Deliver(target, vector, null, fromCpu, latency, requestEvent: true);
    }

    /// <summary>
    /// An interrupt into the IRR and <c>kvm_vcpu_kick</c>. <paramref name="requestEvent"/>: KVM_REQ_EVENT
    /// is made first (<c>__apic_accept_irq</c> for an IPI or an MSI); false for the LAPIC timer, whose
    /// <c>apic_timer_expired</c> makes only the pending-timer request before its kick (5.10 lapic.c:
    /// KVM_REQ_PENDING_TIMER; 6.x: KVM_REQ_UNBLOCK) — what <see cref="Vcpu.DyRunnable"/> tells apart.
    /// </summary>
    private void Deliver(Vcpu target, int vector, Vcpu? from, int fromCpu, SimDuration ipiLatency, bool requestEvent)
    {
        target.SetPending(vector);
        if (requestEvent)
            target.EventRequested = true;
        target.Stats.Kicks++;
        Observer?.Kick(from, target, vector);
        VcpuKick(target, from, fromCpu, ipiLatency);
    }

    /// <summary>
    /// APICv delivery of a fixed interrupt (arch/x86/kvm/vmx/vmx.c, 5.13, <c>vmx_deliver_posted_interrupt</c>;
    /// decision 0060): set the vector in the target's PIR (already set: done) and ON (already set: a
    /// notification is outstanding, done); then <c>kvm_vcpu_trigger_posted_interrupt</c>: a target in
    /// guest mode on its CPU gets POSTED_INTR_VECTOR and takes the interrupt without a VM exit;
    /// otherwise <c>kvm_vcpu_kick</c>: a halted target is woken, a polling one stops polling, a
    /// preempted or exiting one finds the PIR at its next entry (<c>vmx_sync_pir_to_irr</c>).
    /// </summary>
    internal void VmxDeliverPostedInterrupt(Vcpu target, int vector, Vcpu? from, int fromCpu, SimDuration ipiLatency)
    {
        target.Stats.Kicks++;
        Observer?.Kick(from, target, vector);
        if (target.PiTestAndSetPir(vector) || target.PiTestAndSetOn())
        {
            target.PiStats.Coalesced++;
            return;
        }
        target.PiStats.Posted++;
        // vcpu != kvm_get_running_vcpu(): a self-IPI is synced at this VCPU's own entry.
        if (target != from && target.InGuestMode)
        {
            target.SendPostedInterruptNotification(ipiLatency);
            return;
        }
        target.PiStats.Kicks++;
        // Halted with RFLAGS.IF clear: the kick's wake-up finds nothing runnable in kvm_vcpu_check_block,
        // whose kvm_cpu_has_interrupt has synced the PIR (ON is clear again); the model skips the wake-up.
        if (target.WaitQueueActive && target.Mode == VcpuMode.Halted && !target.Guest.InterruptsEnabled(target))
            target.SyncPirToIrr();
        VcpuKick(target, from, fromCpu, ipiLatency);
    }

    /// <summary>The wake-up part of <c>kvm_vcpu_kick</c> once the interrupt is pending (IRR or PIR).</summary>
    private void VcpuKick(Vcpu target, Vcpu? from, int fromCpu, SimDuration ipiLatency)
    {
        // A VCPU halted with RFLAGS.IF clear (the PV lock slow path's halt() under an irqsave
        // lock) is not runnable for an interrupt: kvm_arch_vcpu_runnable requires
        // kvm_arch_interrupt_allowed. Only KVM_HC_KICK_CPU (pv_unhalted) wakes it.
        if (target.WaitQueueActive && !(target.Mode == VcpuMode.Halted && !target.Guest.InterruptsEnabled(target)))
        {
            target.Stats.WakeFromHalt++;
            if (from is not null)
            {
                from.LastWoken = target;
                from.LastWokenAt = Sim.Now.Ns;
            }
            // wake_up_interruptible → autoremove_wake_function: a successful wake-up removes the
            // waiter from the queue at once, so the VCPU stops being "waiting" before it runs.
            if (Host.TryToWakeUp(target.Task, fromCpu))
            {
                target.RemovedFromWaitQueue();
                target.Ready = true; // kvm_vcpu_wake_up (5.3)
            }
        }
        else if (target.HaltPolling)
        {
            // Polling in kvm_vcpu_block (4.0+): not on the wait queue and not in guest mode, so no
            // wake-up and no IPI; the poll loop sees the interrupt at once.
            target.EndHaltPollOnEvent();
        }
        else if (target.InGuestMode)
        {
            // A local timer interrupt exits at once; a kick from another CPU needs a host IPI.
            target.ForceExit(ipiLatency);
        }
    }

    /// <summary>
    /// KVM_HC_KICK_CPU → <c>kvm_pv_kick_cpu_op</c> (arch/x86/kvm/x86.c, 3.12): an APIC_DM_REMRD
    /// "interrupt" whose delivery sets <c>pv_unhalted</c> and calls <c>kvm_vcpu_kick</c> — wakes the
    /// target if it waits on its queue (halted, even with IF clear; or in the pre-2011 PLE sleep),
    /// forces it out of guest mode if it runs (a later HLT then does not block).
    /// </summary>
    public void PvKickCpu(Vcpu? target, Vcpu from)
    {
        if (target is null)
            return; // the APIC id names no VCPU: kvm_irq_delivery_to_apic delivers to nobody
        target.PvUnhalted = true;
        target.Stats.PvKicks++;
        if (target.WaitQueueActive)
        {
            target.Stats.WakeFromHalt++;
            if (Host.TryToWakeUp(target.Task, from.Task.Cpu))
            {
                target.RemovedFromWaitQueue();
                target.Ready = true; // kvm_vcpu_kick → kvm_vcpu_wake_up (5.3), as in Kick
            }
        }
        else if (target.HaltPolling)
        {
            // Polling in kvm_vcpu_block: kvm_vcpu_check_block → kvm_arch_vcpu_runnable sees
            // pv_unhalted on the poll's next iteration, so the poll ends and the VCPU re-enters;
            // leaving the halted state clears pv_unhalted (vcpu_block, 3.12+). Without this branch a
            // kick that landed during the poll was lost when the poll ran out and the VCPU blocked
            // with IF clear, where no interrupt wakes it.
            target.EndHaltPollOnEvent();
            target.PvUnhalted = false;
        }
        else if (target.InGuestMode)
        {
            target.ForceExit(Settings.Costs.KickIpiLatency);
        }
    }

    /// <summary>
    /// The boost of KVM_HC_KICK_CPU (5.3, commit 266e85a5ec91; decision 0043): once
    /// <c>kvm_pv_kick_cpu_op</c> has woken the waiter, the same hypercall calls
    /// <c>kvm_sched_yield</c> with the kicked APIC id, so the unlocker hands its CPU to it.
    /// <paramref name="target"/> null: the APIC id maps to no VCPU. Only with <see cref="KvmSettings.KickYield"/>.
    /// </summary>
    public SchedYieldOutcome KickYield(Vcpu me, Vcpu? target)
    {
        me.Vm.Stats.KickYields++;
        var o = KvmSchedYield(me, target);
        me.Vm.Stats.CountKickYield(o);
        return o;
    }

    /// <summary>KVM_HC_SCHED_YIELD (5.3 PV sched yield, the guest's IPI sender): <c>kvm_sched_yield</c> on the IPI target.</summary>
    public SchedYieldOutcome SchedYield(Vcpu me, Vcpu? target)
    {
        me.Vm.Stats.PvSchedYields++;
        var o = KvmSchedYield(me, target);
        if (o == SchedYieldOutcome.Yielded)
            me.Vm.Stats.PvSchedYieldSuccesses++;
        return o;
    }

    /// <summary>
    /// <c>kvm_sched_yield</c> (arch/x86/kvm/x86.c), shared by KVM_HC_SCHED_YIELD and the kick
    /// yield, run at the end of the hypercall handler with the caller's re-entry already set:
    /// (5.14: bail out if <c>single_task_running()</c>); look the APIC id up in the APIC map (null:
    /// no VCPU); no yield unless the target is <c>ready</c> (5.3: set when its thread is put while
    /// runnable or woken by <c>kvm_vcpu_wake_up</c>, cleared when it is scheduled in — so never set
    /// for a VCPU that runs, in guest mode or not); (5.13: never to itself — the ready test already
    /// excludes it here); then <c>kvm_vcpu_yield_to</c>: no pid, no yield; otherwise
    /// <c>get_pid_task</c> and <c>yield_to(task, 1)</c> (with its 3.9 -ESRCH test when both run queues
    /// hold one task) and its two run-queue locks, timed and booked as the PAUSE handler's walk books them. The cost is added to the caller's re-entry.
    /// </summary>
    internal SchedYieldOutcome KvmSchedYield(Vcpu me, Vcpu? target)
    {
        if (Settings.SchedYieldSingleTaskBail && Host.Rqs[me.Task.Cpu].NrRunning <= 1)
            return SchedYieldOutcome.SingleTaskRunning;
        if (target is null)
            return SchedYieldOutcome.NoTarget;
        if (!target.Ready)
            return SchedYieldOutcome.NotReady;
        if (target == me)
            return SchedYieldOutcome.Self;
        if (target.Pid is not { } task)
            return SchedYieldOutcome.NoPid;
        return YieldToFromHypercall(me, task) == YieldToResult.Success ? SchedYieldOutcome.Yielded : SchedYieldOutcome.YieldToFailed;
    }

    /// <summary>
    /// <c>kvm_vcpu_yield_to</c> called from a hypercall handler (<c>kvm_sched_yield</c>, s390's diag
    /// 9c): the target's task is looked up (<c>get_pid_task</c>) and the host's <c>yield_to</c> runs
    /// on the calling VCPU's thread. As in the PAUSE walk, the caller's continuation is set before
    /// <c>yield_to</c> (a successful one schedules at once), then again with the time the run-queue
    /// locks took. <c>yield_to</c> has had the 3.9 test "both run queues hold one task: -ESRCH" ever since.
    /// </summary>
    internal YieldToResult YieldToFromHypercall(Vcpu me, HostTask task)
    {
        var costs = Settings.Costs;
        long now = Sim.Now.Ns;
        long cost = costs.GetPidTask.Ns;
        me.ContinueAfterHypercall(cost);
        var r = Host.YieldTo(me.Task, task, preempt: true, undercommitCheck: true,
            now + cost, costs.RqLockAcquire.Ns, costs.YieldTo.Ns, out long done);
        me.ContinueAfterHypercall(done - now);
        return r;
    }

    /// <summary>A PAUSE exit's handler work is done: run the policy.</summary>
    internal bool HandlePauseExit(Vcpu me)
    {
        me.Vm.Stats.PauseExits++;
        Observer?.PauseExit(me);
        if (Settings.PleWindowPolicy.Dynamic)
            GrowPleWindow(me);
        return Handler.OnPauseExit(this, me);
    }

    /// <summary>Counts one yield_to call of a directed-yield walk, labelled with the ground truth taken before it.</summary>
    public void CountYieldTo(Vcpu me, Vcpu target, YieldToWitness before, YieldToResult result) => CountYieldTo(me, target, before.Relation, result);

    /// <summary>
    /// Counts one yield_to call of a directed-yield walk: its result, and its ground-truth label
    /// (<paramref name="relation"/> = what the target was to the spinner just before the call,
    /// from <see cref="Vcpu.SpinRelationTo"/>). Statistics and traces only.
    /// </summary>
    public void CountYieldTo(Vcpu me, Vcpu target, SpinRelation relation, YieldToResult result)
    {
        var st = me.Vm.Stats;
        st.CountYieldTo(result);
        var label = GroundTruth.Label(result, relation);
        st.YieldToLabels[(int)label]++;
        if (result == YieldToResult.Success && GroundTruth.IsWaitedOn(relation))
            st.YieldToHits++;
        Observer?.YieldTo(me, target, result, label);
    }

    // ------------------------------------------------------------------ IHostTimerSource

    public bool HasTimerDue(int cpu, SimTime until)
    {
        foreach (var vm in _vms)
        {
            foreach (var v in vm.Vcpus)
            {
                if (v.Task.Cpu == cpu && v.GuestTimerArmed && v.GuestTimerExpires <= until)
                    return true;
            }
        }
        return false;
    }

    // ------------------------------------------------------------------ IHostObserver

    // Where each VM's runnable VCPU threads are queued (ground truth for Vm.StackedNs): a VCPU thread
    // is queued when it is started or woken, moves with its migrations while runnable, and leaves
    // its CPU when it blocks.

    public void NewTask(HostTask task, int cpu)
    {
        TaskQueuedOn(cpu);
        if (task.Owner is Vcpu v)
            v.Vm.VcpuQueued(v, cpu, Sim.Now.Ns);
    }

    public void Wakeup(HostTask task, int targetCpu, int wakerCpu, bool preemptsCurrent)
    {
        // A wake-up that preempts a polling VCPU takes its CPU; its poll is re-tested when it runs again.
        if (!preemptsCurrent)
            TaskQueuedOn(targetCpu);
        if (task.Owner is not Vcpu v || v.QueuedOnCpu == targetCpu)
            return;
        if (v.QueuedOnCpu >= 0)
            v.Vm.VcpuUnqueued(v, Sim.Now.Ns);
        v.Vm.VcpuQueued(v, targetCpu, Sim.Now.Ns);
    }

    public void Migrate(HostTask task, int from, int to, MigrationCause cause)
    {
        // A wake-up's or a fork's placement is followed by Wakeup / NewTask; a balancer's or an
        // affinity change's move is queued on `to` right after this call.
        if (cause is not (MigrationCause.Wakeup or MigrationCause.Fork))
            TaskQueuedOn(to);
        if (task.Owner is not Vcpu v || v.QueuedOnCpu < 0)
            return;
        v.Vm.VcpuUnqueued(v, Sim.Now.Ns);
        v.Vm.VcpuQueued(v, to, Sim.Now.Ns);
    }

    /// <summary>
    /// A task is (about to be) queued on <paramref name="cpu"/>: if a VCPU halt-polls there, its poll
    /// loop's next <c>single_task_running()</c> fails and the poll ends (decision 0097;
    /// <see cref="HaltPollSettings.RecheckSingleTask"/>).
    /// </summary>
    private void TaskQueuedOn(int cpu)
    {
        if (Settings.HaltPoll.HaltPollNs == 0 || !Settings.HaltPoll.RecheckSingleTask)
            return;
        if (Host.Rqs[cpu].Curr.Owner is Vcpu poller && poller.HaltPolling)
            poller.EndHaltPollForQueuedTask();
    }

    /// <summary>Classifies lock-holder preemptions by what took the CPU; a VCPU thread that blocks leaves its CPU's queue.</summary>
    public void Switch(int cpu, HostTask prev, HostTask next, StopReason prevReason)
    {
        if (prevReason == StopReason.Blocked && prev.Owner is Vcpu b && b.QueuedOnCpu >= 0)
            b.Vm.VcpuUnqueued(b, Sim.Now.Ns);
        if (prevReason != StopReason.Preempted || prev.Owner is not Vcpu v || v.Guest is null || !v.Guest.HoldsSpinlock(v))
            return;
        var cause = next.Owner switch
        {
            Vcpu n when n.Vm == v.Vm && v.LastWoken == n && Sim.Now.Ns - v.LastWokenAt < 1_000_000 => LhpCause.WokenByHolder,
            Vcpu n when n.Vm == v.Vm => LhpCause.SameVm,
            Vcpu => LhpCause.OtherVm,
            _ when next.IsIdle => LhpCause.Stopper,
            _ => LhpCause.HostTask,
        };
        v.Vm.Stats.LockHolderPreemptions[(int)cause]++;
    }
}

/// <summary>KVM events, for traces.</summary>
public interface IKvmObserver
{
    void PauseExit(Vcpu vcpu) { }
    void Kick(Vcpu? from, Vcpu target, int vector) { }

    /// <summary>Ground truth: <paramref name="vcpu"/> spun for <paramref name="cause"/> over [start, end) ns.</summary>
    void SpinSegment(Vcpu vcpu, SpinCause cause, long startNs, long endNs) { }

    /// <summary>A directed-yield walk called yield_to; <paramref name="label"/> is its ground-truth label.</summary>
    void YieldTo(Vcpu me, Vcpu target, YieldToResult result, YieldLabel label) { }
}

using PleSim.Engine;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Plugins;

namespace PleSim.Guest;

/// <summary>
/// The guest kernel on one VCPU: its run queue (a small CFS: vruntime order, sleeper placement,
/// wake-up and tick preemption), its run-queue spinlock, and the kernel code paths it executes —
/// lock/unlock, wake-ups (wait-queue lock → run-queue lock → enqueue → reschedule IPI, all under
/// the locks, as 2.6.3x's try_to_wake_up does), schedule(), idle pull, HLT, TLB shootdowns.
/// Kernel paths are queued as micro-operations and turned into VCPU operations one at a time.
/// This file holds the state, the op-queue dispatch (<see cref="OnOpDone"/>, <c>Execute</c>) and the
/// <c>IGuestCpu</c> glue; the other parts are GuestCpu.OpQueue, .Actions, .Interrupts, .Locks,
/// .Wakeup, .Scheduling, .Shootdown and .Haltpoll (decision 0042).
/// </summary>
public sealed partial class GuestCpu : IGuestCpu
{
    private enum Micro : byte
    {
        Compute,
        Lock,
        Unlock,
        SignalDo,
        WaitDo,
        BlockIfSleeping,
        WakeSelect,
        WakeCheck,
        EnqueueDo,
        Ipi,
        Pick,
        Shootdown,
        WaitBarrier,
        IoExit,
        PullDo,
        IrqRestore,
        Hypercall,
        PvYieldCheck,
        PvSendIpi,
        MutexLock,
        MutexSlow,
        MutexRetry,
        MutexUnlock,
        MutexUnlockSlow,
        FutexWaitDo,
        FutexWakeDo,
        Notify,
        SoftIrq,
        OwnerSpin,
        MoveTasks,
        NohzPullDo,
    }

    // An op names at most one object besides a CPU (a lock, a wait queue, a mutex, a futex, a
    // thread, an eventfd, an interrupt handler or a sleeping lock's owner spin), so they share one reference field: an op is 32
    // bytes, one vector register, instead of 88 (copying the larger op in and out of the ring
    // was a measurable cost of a 256-CPU run). Reading the field as another type gives null, as
    // the separate fields did.
    private struct Op
    {
        public Micro Kind;
        public long Ns;
        public bool User;
        private object? _obj;
        public GuestCpu? Cpu;
        public int Vector;
        public bool Flag;

        public GuestSpinLock? Lock { readonly get => _obj as GuestSpinLock; set => SetObj(value); }
        public WaitQueue? Queue { readonly get => _obj as WaitQueue; set => SetObj(value); }
        public GuestMutex? Mutex { readonly get => _obj as GuestMutex; set => SetObj(value); }
        public Futex? Futex { readonly get => _obj as Futex; set => SetObj(value); }
        public GuestThread? Thread { readonly get => _obj as GuestThread; set => SetObj(value); }
        public IIoEventFd? Fd { readonly get => _obj as IIoEventFd; set => SetObj(value); }
        public IGuestIrqHandler? Irq { readonly get => _obj as IGuestIrqHandler; set => SetObj(value); }
        public IOwnerSpin? OwnerSpin { readonly get => _obj as IOwnerSpin; set => SetObj(value); }

        private void SetObj(object? value)
        {
            if (value is null)
                return;
            if (_obj is not null)
                ThrowTwoObjects();
            _obj = value;
        }

        private static void ThrowTwoObjects() => throw new InvalidOperationException("a guest micro-op names one object besides its CPU");
    }

    // Destinations of the pending PvSendIpi op (kept out of Op so that queued ops stay small; a
    // CPU has at most one: it is pushed at the front by the shootdown that then waits on it).
    private CpuMask _pvSendIpiMask;

    private readonly GuestKernel _k;
    private readonly List<GuestThread> _queue = []; // runnable, not running, by vruntime
    private Op[] _ops = new Op[32];
    private int _head;
    private int _count;
    private GuestSpinLock? _spinningOn;
    private GuestMutex? _mutexSpinning;  // in the mutex owner-spin loop (mutex_spin_on_owner)
    private IOwnerSpin? _ownerSpinning;  // in another sleeping lock's owner-spin loop (4.19 rwsem_optimistic_spin)
    private bool _spinSavedIf;         // the flags local_irq_save returned before the spin
    private long _spinToken;           // the ticket / queue position the spin waits for
    private bool _pvHalting;           // halted in a PV lock slow path (kvm_lock_spinning / pv_wait)
    private long _waitLoops;           // plug-in lock: PAUSE loops spun in this wait (budgets used up)
    private int _waitHalts;            // plug-in lock: halts in this wait
    private long _waitBudgetLoops;     // plug-in lock: the budget of the spin under way (0: until ours)
    private bool _if = true;           // RFLAGS.IF
    private bool _halting;
    private bool _inNohzRecently;     // rq->in_nohz_recently
    private bool _nohzBalanceDue;     // an idle tick of the NOHZ balancer
    private bool _idleBalanceDue = true; // the idle loop may pull: schedule() went idle, a due idle tick (decision 0085) or a reschedule IPI (decision 0070)
    private long _idleStamp;           // rq->idle_stamp: when idle_balance last ran with nothing pulled (0: none)
    private long _avgIdle;             // rq->avg_idle (decision 0086)
    private readonly ShootdownBarrier _barrier = new();
    private readonly List<ShootdownBarrier> _acksOwed;
    private readonly PollState _pollTarget;
    private bool _polling;             // in poll_idle: TIF_POLLING_NRFLAG set
    private long _pollStart;
    private bool _lastWasPoll;         // haltpoll governor: dev->last_state_idx == 0
    private bool _pollTimeLimit;       // dev->poll_time_limit: the last poll ran out
    private long _haltEnteredAt = -1;  // start of a haltpoll-governed HLT (its residency)

    internal GuestCpu(GuestKernel kernel, int index, Vcpu vcpu)
    {
        _k = kernel;
        Index = index;
        Vcpu = vcpu;
        // rq->lock is always taken with interrupts off (2.6.32 kernel/sched.c: schedule() takes it
        // with spin_lock_irq, try_to_wake_up through task_rq_lock = local_irq_save + spin_lock,
        // idle_balance runs under it from schedule()).
        RqLock = kernel.NewLock($"rq{index}.lock", LockIrq.IrqSave);
        _barrier.Initiator = this;
        _balanceIntervalMs = kernel.SchedDomain.MinIntervalMs; // sd->balance_interval starts at min_interval
        _avgIdle = 2 * kernel.Settings.MigrationCost.Ns; // sched_init: rq->avg_idle = 2 × sysctl_sched_migration_cost
        _acksOwed = new List<ShootdownBarrier>(vcpu.Vm.Vcpus.Count); // one per other sender at most: no growth when the first flush IPI comes late

        _pollTarget = new PollState(this);
        // arch_haltpoll_enable (5.4 arch/x86/kernel/kvm.c): MSR_KVM_POLL_CONTROL = 0 — the host
        // stops halt polling for this VCPU (kvm_arch_no_poll).
        if (kernel.Settings.Haltpoll)
            vcpu.PollControl = false;
    }

    public int Index { get; }
    public Vcpu Vcpu { get; }
    internal GuestKernel Kernel => _k;

    /// <summary>The guest run-queue lock (<c>rq->lock</c>).</summary>
    public GuestSpinLock RqLock { get; }

    public GuestThread? Curr
    {
        get => _curr;
        private set
        {
            _curr = value;
            _currProgram = value?.Program;
        }
    }

    private GuestThread? _curr;

    // Curr.Program, kept here: the dispatch loads the program without waiting for the thread's
    // cache line first, so the two loads can overlap (256-CPU run, bench/RESULTS.md).
    private IThreadProgram? _currProgram;

    /// <summary>
    /// The address space loaded on this VCPU (x86 <c>cpu_tlbstate.active_mm</c>, 2.6.32): that of
    /// the thread running, or — lazy TLB — of the last one when idle; -1 after an idle VCPU left
    /// it (<c>leave_mm</c> on a flush IPI, which 4.20+ sends a lazy CPU only when page tables
    /// were freed). The VCPU is in that mm's <c>mm_cpumask</c>.
    /// </summary>
    public int ActiveMm { get; private set; } = -1;

    /// <summary><c>exec_mmap</c> → <c>activate_mm</c>: the current thread switches to a new address space.</summary>
    internal void ActivateMm(int mm) => ActiveMm = mm;

    /// <summary>Idle VCPUs this one kicked as the NOHZ idle balancer.</summary>
    public long NohzKicks { get; private set; }

    /// <summary>TLB-shootdown IPIs this VCPU received while idle in lazy-TLB mode.</summary>
    public long LazyTlbFlushes { get; private set; }

    /// <summary>Idle lazy-TLB VCPUs this CPU's shootdowns left out (<see cref="GuestSettings.LazyTlbSkip"/>).</summary>
    public long LazyTlbSkips { get; private set; }
    public bool NeedResched { get; internal set; }
    public long MinVruntime { get; private set; }

    /// <summary>The interrupt flag (RFLAGS.IF): false while this CPU's code runs with interrupts disabled.</summary>
    public bool InterruptsEnabled => _if;

    /// <summary>Times this CPU re-enabled interrupts (<c>local_irq_restore</c> to on) while an interrupt was pending.</summary>
    public long IrqRestoresWithPending { get; private set; }

    /// <summary>Spinlocks this CPU's code holds now.</summary>
    public int LocksHeld { get; private set; }

    public int NrRunning => _queue.Count + (Curr is null ? 0 : 1);
    public bool IsIdle => Curr is null;

    // Statistics.
    public long Switches, IdleHalts, Pulls, ReschedIpisSent, TicksHandled;

    /// <summary>
    /// New-idle balances (<c>idle_balance</c> from <c>schedule()</c> going idle), and those skipped because
    /// the VCPU's average idle period was shorter than sched_migration_cost (decision 0086) or, from 4.2,
    /// because no VCPU was overloaded (decision 0087).
    /// </summary>
    public long NewIdleBalances, NewIdleAvgIdleSkips, NewIdleNotOverloadedSkips;

    /// <summary><c>rq->avg_idle</c> in ns (decision 0086).</summary>
    public long AvgIdleNs => _avgIdle;

    /// <summary>KVM_HC_KICK_CPU hypercalls this CPU's unlocks made; shootdown targets skipped by PV TLB flush; KVM_HC_SCHED_YIELD calls.</summary>
    public long PvKicksSent, PvTlbFlushSkips, PvSchedYieldsSent;

    /// <summary>TLB shootdowns this CPU started (<c>flush_tlb_others</c> calls) and the flush IPIs they sent.</summary>
    public long Shootdowns, ShootdownIpis;

    /// <summary>Call-function (TLB-flush) IPIs this CPU handled.</summary>
    public long CallFunctionsHandled { get; private set; }
    /// <summary>KVM_HC_SEND_IPI hypercalls this CPU made, and the ICR-write exits they replaced beyond the one exit each costs.</summary>
    public long PvSendIpisSent, PvSendIpiExitsSaved;

    /// <summary>
    /// Guest haltpoll: polls started (<c>poll_idle</c>), polls ended by a wake-up (need_resched),
    /// guest time spent polling (ns), wake-ups of this CPU that needed no IPI because it polled,
    /// and the governor's grows and shrinks of <see cref="PollLimitNs"/>.
    /// </summary>
    public long HaltPolls, HaltPollHits, HaltPollNs, PollingWakeups, PollLimitGrows, PollLimitShrinks;

    /// <summary>The haltpoll governor's <c>dev->poll_limit_ns</c> (0 at <c>haltpoll_enable_device</c>).</summary>
    public long PollLimitNs { get; private set; }

    /// <summary>In <c>poll_idle</c> now (TIF_POLLING_NRFLAG set): a wake-up sets need_resched without an IPI.</summary>
    public bool Polling => _polling;
    /// <summary>The owner the mutex owner-spin loop of this CPU watches (the <c>owner</c> argument of <c>mutex_spin_on_owner</c>).</summary>
    internal GuestThread? MutexSpinOwner;

    /// <summary>How this CPU's last mutex owner-spin ended: with the lock (else it gave up).</summary>
    internal bool MutexSpinAcquired;

    /// <summary>The steal-time <c>preempted</c> flag of <paramref name="cpu"/> as this guest reads it (<c>kvm_vcpu_is_preempted</c>, 4.10+).</summary>
    /// <remarks>An s390 guest (<c>guest.spinlock: s390</c>, decision 0055) reads <see cref="ArchVcpuIsPreempted"/> instead.</remarks>
    public static bool VcpuIsPreempted(GuestCpu cpu) =>
        cpu._k.Settings.Spinlock == SpinlockKind.S390 ? ArchVcpuIsPreempted(cpu) : cpu.Vcpu.StealTimePreempted;

    private long Now => _k.Kvm.Sim.Now.Ns;
    private GuestSettings S => _k.Settings;

    /// <summary>SPIN_THRESHOLD PAUSE loops in time (each loop as long as KVM's PAUSE-loop model says).</summary>
    private long SpinThresholdNs => _k.Kvm.Tsc.ToDuration(new TscCycles(S.SpinThresholdLoops * _k.Kvm.Settings.PauseLoopCycles)).Ns;

    /// <summary><c>PV_PREV_CHECK_MASK</c> (qspinlock_paravirt.h, 4.5+): <c>pv_wait_node</c> reads its predecessor's state on the loops whose count has these bits clear.</summary>
    internal const int PvPrevCheckMask = 0xff;

    private long _pvLoopsLeft; // pv_wait_node's loop counter: SPIN_THRESHOLD loops of this round not yet spun (0: none pending; only with wait-early)
    private bool _pvEarly;     // the slow path about to be entered comes from pv_wait_early

    /// <summary>
    /// A PV lock waiter starts a round of SPIN_THRESHOLD loops (the first, or after a halt or a
    /// re-check that found the lock still taken). With <c>pv_wait_early</c> on a PV queued lock
    /// (decision 0058) the round is spun in pieces that end on the check iterations; otherwise in one piece.
    /// </summary>
    private void PvSpinStart(GuestSpinLock lk)
    {
        _pvEarly = false;
        if (lk.Kind == SpinlockKind.PvQueued && S.PvQspinlockWaitEarly != PvWaitEarly.Off)
        {
            _pvLoopsLeft = S.SpinThresholdLoops;
            PvNodeSpin(lk, continuing: false);
            return;
        }
        _pvLoopsLeft = 0;
        Vcpu.Spin(lk, _spinToken, lk.UserSpace, SpinThresholdNs);
    }

    /// <summary>
    /// 4.5+ <c>pv_wait_node</c> (qspinlock_paravirt.h): the loop counts down from SPIN_THRESHOLD and,
    /// on every count with the low <see cref="PvPrevCheckMask"/> bits clear (the first count
    /// included), asks <c>pv_wait_early</c> whether the predecessor is not running; if so the node
    /// stops spinning and halts. Spun here as PAUSE loops up to the next check; a node that became
    /// the queue head spins the rest of the round in one piece (the head's loop has no such check).
    /// At a spin's very start a check that fires is spun as one loop before the slow path (the real
    /// loop breaks before its first <c>cpu_relax</c>; one PAUSE loop is the model's granularity).
    /// </summary>
    private void PvNodeSpin(GuestSpinLock lk, bool continuing)
    {
        long left = _pvLoopsLeft;
        long chunk;
        if (!lk.IsQueuedBehindHead(this))
        {
            chunk = left;
        }
        else if ((left & PvPrevCheckMask) == 0 && lk.PvWaitEarly(this))
        {
            _pvEarly = true;
            _pvLoopsLeft = 0;
            if (continuing)
            {
                PvEnterSlowpath(lk);
                return;
            }
            chunk = left = 1;
        }
        else
        {
            chunk = (left & PvPrevCheckMask) == 0 ? Math.Min(PvPrevCheckMask + 1, left) : left & PvPrevCheckMask;
        }
        _pvLoopsLeft = left - chunk;
        long ns = Math.Max(1, _k.Kvm.Tsc.ToDuration(new TscCycles(chunk * _k.Kvm.Settings.PauseLoopCycles)).Ns);
        if (continuing)
            Vcpu.ContinueSpin(lk, _spinToken, lk.UserSpace, ns);
        else
            Vcpu.Spin(lk, _spinToken, lk.UserSpace, ns);
    }

    /// <summary>
    /// The PV slow path after a round of loops (or a <c>pv_wait_early</c>): register, re-check, and
    /// halt if the lock is still not ours; otherwise spin a new round.
    /// </summary>
    private void PvEnterSlowpath(GuestSpinLock lk)
    {
        bool early = _pvEarly;
        _pvEarly = false;
        if (lk.EnterSlowpath(this, _spinToken))
        {
            if (early)
                lk.PvWaitEarlies++;
            _pvHalting = true;
            Vcpu.Halt();
        }
        else
        {
            PvSpinStart(lk);
        }
    }

    public override string ToString() => $"{_k.Name}/cpu{Index}";

    // ------------------------------------------------------------------ IGuestCpu

    /// <summary>
    /// The part of <see cref="OnOpDone"/> before its dispatch loop: the end of a poll, a PV halt,
    /// a spin, an owner spin or a halt. Returns true when the op's end was fully handled here.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private bool OnOpDoneInState()
    {
        if (_polling)
        {
            // poll_idle returned: need_resched, or the time limit (dev->poll_time_limit). The
            // governor's reflect records the state; polls do not adjust the limit.
            _polling = false;
            HaltPollNs += Now - _pollStart;
            _pollTimeLimit = !PollWakeCondition;
            if (!_pollTimeLimit)
                HaltPollHits++;
            _lastWasPoll = true;
        }
        if (_pvHalting)
        {
            // Back from the PV slow path's halt (kicked, an interrupt under safe_halt, or a stale
            // pv_unhalted): leave waiting_cpus and spin SPIN_THRESHOLD loops again.
            _pvHalting = false;
            _spinningOn!.LeaveSlowpath(this);
            if (_spinningOn.Kind == SpinlockKind.Plugin)
                PluginLockWait(continuing: false);
            else
                PvSpinStart(_spinningOn);
            return true;
        }
        if (_spinningOn is { Kind: SpinlockKind.Plugin } && Vcpu.SpinTimedOut)
        {
            // A plug-in lock's spin budget ran out: ask the plug-in again.
            _waitLoops += _waitBudgetLoops;
            PluginLockWait(continuing: true);
            return true;
        }
        if (_diag9cThenSpin)
        {
            // Back from the s390 lock's diag 9c (decision 0055): the wait loop resumes.
            S390AfterDiag();
            return true;
        }
        if (_spinningOn is { Kind: SpinlockKind.S390 } && Vcpu.SpinTimedOut)
        {
            // spin_retry + 2 looks at a held s390 lock: diag 9c to its owner (decision 0055).
            S390RetryExpired(_spinningOn);
            return true;
        }
        if (_spinningOn is { Kind: SpinlockKind.PreemptableTicket } && Vcpu.SpinTimedOut)
        {
            // The preemptable loop's timeout ran out (decision 0046): one last look at the head, then
            // the lock word — or, if the head moved, the loop goes on with the new timeout. To the
            // hardware it is one PAUSE loop throughout.
            Vcpu.ContinueSpin(_spinningOn, _spinToken, _spinningOn.UserSpace, _spinningOn.PreemptableTimeout(this));
            return true;
        }
        if (_spinningOn is not null && Vcpu.SpinTimedOut)
        {
            // SPIN_THRESHOLD loops without the lock: the PV slow path. The halt keeps the interrupt
            // flag the waiter had (kvm_lock_spinning: halt() if the saved flags had IF clear — an
            // irqsave lock — else safe_halt(), which takes interrupts while halted).
            if (_pvLoopsLeft > 0)
            {
                // pv_wait_node between two pv_wait_early checks (decision 0058): the loop goes on.
                PvNodeSpin(_spinningOn, continuing: true);
                return true;
            }
            PvEnterSlowpath(_spinningOn);
            return true;
        }
        if (_mutexSpinning is { } sm)
        {
            // The owner-spin loop ended: with the lock (the cmpxchg pulled the line over), or
            // for the slow path: wait_lock, wait_list, and maybe sleep.
            _mutexSpinning = null;
            MutexSpinOwner = null;
            _k.Observer?.OwnerSpinEnd(Curr, this, MutexSpinAcquired);
            if (MutexSpinAcquired)
                PushFront(new Op { Kind = Micro.Compute, Ns = S.Costs.LockHandover.Ns });
            else
                PushMutexSlowFront(sm, Micro.MutexSlow);
        }
        if (_ownerSpinning is { } os)
        {
            // The spin ended (TryAcquire said so): the lock queues what follows into the program.
            _ownerSpinning = null;
            os.SpinEnded(this);
        }
        if (_spinningOn is not null)
        {
            _k.Observer?.Acquired(Curr, this, _spinningOn);
            _spinningOn.SavedIf = _spinSavedIf;
            // The hand-off: guest.costs.lock_handover, or the modelled cache-line traffic (decision 0059).
            long handoff = _spinningOn.HandoffNs(S.Costs.LockHandover.Ns);
            _spinningOn = null;
            LocksHeld++;
            PushFront(new Op { Kind = Micro.Compute, Ns = handoff });
        }
        if (_halting)
        {
            _halting = false;
            if (_haltEnteredAt >= 0)
            {
                // haltpoll_reflect after the HLT state: adjust the poll limit from its residency.
                AdjustPollLimit(Now - _haltEnteredAt);
                _haltEnteredAt = -1;
                _lastWasPoll = false;
            }
            if (S.TicklessIdle)
                Vcpu.SetGuestTimer(S.TickPeriod);
            PushFront(new Op { Kind = Micro.Compute, Ns = S.Costs.IdleExit.Ns });
        }
        return false;
    }

    public void OnOpDone(Vcpu vcpu)
    {
        // The states an op can end in besides plain running are handled out of line, so the
        // common path (the next op of the current thread) does not carry their Op temporaries,
        // which the JIT zeroes on every call (a speed choice: the same checks in the same order).
        if ((_polling | _pvHalting | _diag9cThenSpin | _halting)
            || _spinningOn is not null || _mutexSpinning is not null || _ownerSpinning is not null)
        {
            if (OnOpDoneInState())
                return;
        }
        for (int guard = 0; guard < 1000; guard++)
        {
            if (_count > 0)
            {
                var op = PopFront();
                if (Execute(in op))
                    return;
                continue;
            }
            if (Curr is null)
            {
                IdleStep();
                if (_count == 0)
                    return; // halted
                continue;
            }
            if (NeedResched && LocksHeld == 0)
            {
                PushSchedule();
                continue;
            }
            if (Curr.MutexWait is { } mw)
            {
                // Back from schedule() in __mutex_lock_common's wait loop: retake wait_lock and retry.
                PushMutexSlowFront(mw, Micro.MutexRetry);
                continue;
            }
            if (Expand(_currProgram!.Next(Curr)))
                return;
        }
        ThrowNoProgress();
    }

    // Out of line: the interpolated message's formatting state, built in OnOpDone itself, was a
    // frame slot the JIT zeroed on every op.
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void ThrowNoProgress() =>
        throw new InvalidOperationException($"{this}: no progress (the program keeps returning zero-time actions)");

    public bool HoldsSpinlock(Vcpu vcpu) => LocksHeld > 0;

    void IGuestCpu.OnStealTimePreempted(Vcpu vcpu) => _k.StealTimePreempted(this);

    bool IGuestCpu.InterruptsEnabled(Vcpu vcpu) => _if;

    // The guest's CPL for KVM (IGuestCpu.InKernelMode): user code is a user-mode Compute; everything else runs in the kernel.
    private bool _inUser;

    public bool InKernelMode(Vcpu vcpu) => !_inUser;

    /// <summary>Executes one micro-operation; true when it started a VCPU operation (time passes).</summary>
    private bool Execute(in Op op)
    {
        _inUser = op.Kind == Micro.Compute && op.User;
        switch (op.Kind)
        {
            case Micro.Compute:
                Vcpu.Compute(op.Ns);
                return true;
            case Micro.Lock:
                // spin_lock_irqsave: interrupts go off before the lock word is touched, and stay
                // off while spinning (x86 ticket locks ignore the saved flags).
                bool saved = op.Lock!.Irq == LockIrq.IrqSave ? LocalIrqSave() : _if;
                if (op.Lock.TryFast(this, out long token))
                {
                    op.Lock.SavedIf = saved;
                    LocksHeld++;
                    _k.Observer?.Acquired(Curr, this, op.Lock);
                    // guest.cache_coherence: directory (decision 0059): the atomic waited for the line.
                    Vcpu.Compute(S.Costs.LockAcquire.Ns + op.Lock.FastPathStallNs());
                }
                else
                {
                    _spinSavedIf = saved;
                    _spinningOn = op.Lock;
                    _spinToken = token;
                    _k.Observer?.SpinStart(Curr, this, op.Lock);
                    if (op.Lock.Kind == SpinlockKind.Plugin)
                    {
                        _waitLoops = 0;
                        _waitHalts = 0;
                        PluginLockWait(continuing: false);
                    }
                    else if (op.Lock.Kind == SpinlockKind.S390)
                    {
                        S390LockWait(op.Lock); // arch_spin_lock_classic (decision 0055)
                    }
                    else
                    {
                        if (op.Lock.IsPv)
                        {
                            PvSpinStart(op.Lock);
                        }
                        else
                        {
                            _pvLoopsLeft = 0;
                            Vcpu.Spin(op.Lock, token, op.Lock.UserSpace, op.Lock.SpinLimitNs(this));
                        }
                    }
                }
                return true;
            case Micro.Unlock:
                return ExecuteUnlock(in op);
            default:
                return ExecuteOther(in op);
        }
    }

    // Execute keeps the lock loop's compute and lock ops; the unlock and every other op are
    // executed out of line, so that their Op temporaries (which the JIT zeroes in the prologue of
    // the method holding them: 0x148 bytes of frame when they were all in Execute) cost nothing to
    // a compute or lock op.

    /// <summary>spin_unlock(_irqrestore) of <paramref name="op"/>'s lock (see <see cref="Execute"/>).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private bool ExecuteUnlock(in Op op)
    {
        LocksHeld--;
        _k.Observer?.Released(Curr, this, op.Lock!);
        // spin_unlock_irqrestore: the unlock, then local_irq_restore (read the flags
        // first: the release may hand the lock to a waiter at once).
        if (op.Lock!.Irq == LockIrq.IrqSave)
            PushFront(new Op { Kind = Micro.IrqRestore, Flag = op.Lock.SavedIf });
        // A PV lock whose next waiter halted: the unlock's slow path kicks it (a hypercall
        // after the release, before the flags are restored).
        var next = op.Lock.Release(this);
        if (op.Lock.Kind == SpinlockKind.Plugin)
        {
            // A plug-in lock's unlock may kick halted waiters behind the next one early
            // (decision 0041); they run after the next one's kick, in ticket order.
            int extra = _k.LockPlugin!.OnUnlock(op.Lock.PluginState(this));
            for (int k = Math.Min(extra, _k.Cpus.Length); k >= 1; k--)
            {
                if (op.Lock.HaltedWaiterBehindNext(k) is { } early)
                    PushFront(new Op { Kind = Micro.Hypercall, Cpu = early, Vector = (int)Hypercall.KickCpu });
            }
        }
        if (next is { } kick)
            PushFront(new Op { Kind = Micro.Hypercall, Cpu = kick, Vector = (int)Hypercall.KickCpu });
        // A PV unlock is a locked instruction: it waits for the line (decision 0059; 0 without the model).
        Vcpu.Compute(S.Costs.LockRelease.Ns + op.Lock.ReleaseStallNs);
        return true;
    }

    /// <summary>The micro-operations other than compute, lock and unlock (see <see cref="Execute"/>).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private bool ExecuteOther(in Op op)
    {
        switch (op.Kind)
        {
            case Micro.Hypercall:
                if (op.Vector == (int)Hypercall.KickCpu)
                    PvKicksSent++;
                else
                    PvSchedYieldsSent++;
                Vcpu.Hypercall((Hypercall)op.Vector, op.Cpu!.Vcpu);
                return true;
            case Micro.PvYieldCheck:
                // kvm_smp_send_call_func_ipi (5.3): after the IPIs, yield to the first target
                // (for_each_cpu order) that vcpu_is_preempted says is preempted, and stop.
                foreach (var c in _k.Cpus)
                {
                    if (c != this && c.OwesAck(_barrier) && VcpuIsPreempted(c))
                    {
                        PvSchedYieldsSent++;
                        Vcpu.Hypercall(Hypercall.SchedYield, c.Vcpu);
                        return true;
                    }
                }
                return false;
            case Micro.IrqRestore:
                return LocalIrqRestore(op.Flag);
            case Micro.SignalDo:
                if (op.Queue!.Waiters.Count > 0)
                    PushFront(new Op { Kind = Micro.WakeSelect, Thread = op.Queue.Waiters.Dequeue() });
                else if (op.Queue.TaskState)
                    op.Queue.Pending = 1; // the task is awake: its state becomes TASK_RUNNING (once)
                else
                    op.Queue.Pending++;
                return false;
            case Micro.WaitDo:
                if (op.Queue!.Pending > 0)
                {
                    op.Queue.Pending--;
                }
                else
                {
                    op.Queue.Sleeps++;
                    op.Queue.Waiters.Enqueue(Curr!);
                    Curr!.State = ThreadState.Sleeping;
                }
                return false;
            case Micro.BlockIfSleeping:
                // schedule(): the thread is dequeued under the run-queue lock (in Pick) unless a
                // wake-up set it running again first.
                if (Curr is { State: ThreadState.Sleeping })
                {
                    RunNext(
                        new Op { Kind = Micro.Lock, Lock = RqLock },
                        new Op { Kind = Micro.Compute, Ns = S.Costs.ContextSwitch.Ns },
                        new Op { Kind = Micro.Pick },
                        new Op { Kind = Micro.Unlock, Lock = RqLock });
                }
                return false;
            case Micro.WakeSelect:
                return WakeSelect(op.Thread!);
            case Micro.WakeCheck:
                WakeCheck(op.Thread!, op.Cpu!);
                return false;
            case Micro.EnqueueDo:
                return EnqueueDo(op.Thread!, op.Cpu!);
            case Micro.Ipi:
                if (IsS390)
                    return S390EcCall(op.Cpu!, op.Vector); // SIGP external call (decision 0055 addendum)
                ReschedIpisSent += op.Vector == Vectors.Reschedule ? 1 : 0;
                Vcpu.SendIpi(op.Cpu!.Vcpu, op.Vector);
                return true;
            case Micro.Pick:
                Pick();
                return false;
            case Micro.Shootdown:
                StartShootdown(freedTables: op.Flag);
                return false;
            case Micro.WaitBarrier:
                if (_barrier.Remaining == 0)
                    return false;
                Vcpu.Spin(_barrier, 0);
                return true;
            case Micro.IoExit:
                Vcpu.ExitToUserspace(op.Ns);
                return true;
            case Micro.Notify:
                Vcpu.NotifyIoEventFd(op.Fd!);
                return true;
            case Micro.SoftIrq:
                op.Irq!.SoftIrq(this);
                return false;
            case Micro.PullDo:
                PullDo(op.Thread!, op.Cpu!);
                return false;
            case Micro.MoveTasks:
                return MoveTasks(op.Cpu!, op.Ns);
            case Micro.NohzPullDo:
                NohzPullDo(op.Thread!, op.Cpu!, _k.Cpus[op.Vector]);
                return false;
            case Micro.PvSendIpi:
                PvSendIpisSent++;
                PvSendIpiExitsSaved += _pvSendIpiMask.Count - 1;
                Vcpu.SendIpiMany(_pvSendIpiMask, op.Vector);
                return true;
            case Micro.OwnerSpin:
                if (!op.OwnerSpin!.BeginSpin(this))
                    return false;
                _ownerSpinning = op.OwnerSpin;
                Vcpu.Spin(op.OwnerSpin, 0);
                return true;
            case Micro.MutexLock:
                return MutexLock(op.Mutex!);
            case Micro.MutexSlow:
            case Micro.MutexRetry:
            {
                var t = Curr!;
                bool got = op.Kind == Micro.MutexSlow ? op.Mutex!.SlowPathFirst(t) : op.Mutex!.SlowPathRetry(t);
                if (got)
                {
                    t.MutexWait = null;
                }
                else
                {
                    // __set_task_state(TASK_UNINTERRUPTIBLE) under wait_lock; schedule() after the unlock.
                    t.MutexWait = op.Mutex;
                    t.State = ThreadState.Sleeping;
                }
                return false;
            }
            case Micro.MutexUnlock:
                if (!op.Mutex!.Unlock(Curr!))
                {
                    // __mutex_unlock_slowpath: under wait_lock.
                    RunNext(
                        new Op { Kind = Micro.Lock, Lock = op.Mutex.WaitLock },
                        new Op { Kind = Micro.MutexUnlockSlow, Mutex = op.Mutex },
                        new Op { Kind = Micro.Unlock, Lock = op.Mutex.WaitLock });
                }
                Vcpu.Compute(S.Costs.LockRelease.Ns);
                return true;
            case Micro.MutexUnlockSlow:
                // wake_up_process(first waiter), under wait_lock.
                if (op.Mutex!.UnlockSlowPath() is { } first)
                    PushFront(new Op { Kind = Micro.WakeSelect, Thread = first });
                return false;
            case Micro.FutexWaitDo:
            {
                var f = op.Futex!;
                if (f.Value != op.Ns)
                {
                    f.WouldBlock++; // the word changed: -EWOULDBLOCK, back to user space
                    return false;
                }
                // set_current_state(TASK_INTERRUPTIBLE); queue_me: on the bucket's chain.
                f.Waiters.Enqueue(Curr!);
                Curr!.State = ThreadState.Sleeping;
                return false;
            }
            case Micro.FutexWakeDo:
            {
                // Wake up to nr_wake waiters of this key, in queue order, under the bucket lock
                // (wake_futex → wake_up_state). WakeSelect ops run first-in-front, so push in reverse.
                var f = op.Futex!;
                int n = (int)Math.Min(op.Ns, f.Waiters.Count);
                f.Woken += n;
                if (_wakeScratch.Length < n)
                    _wakeScratch = new GuestThread?[n * 2];
                for (int i = 0; i < n; i++)
                    _wakeScratch[i] = f.Waiters.Dequeue();
                for (int i = n - 1; i >= 0; i--)
                {
                    PushFront(new Op { Kind = Micro.WakeSelect, Thread = _wakeScratch[i] });
                    _wakeScratch[i] = null;
                }
                return false;
            }
        }
        return false;
    }

    private GuestThread?[] _wakeScratch = new GuestThread?[64];
}

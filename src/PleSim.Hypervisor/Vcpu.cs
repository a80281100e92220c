using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Hypervisor;

/// <summary>Where a VCPU thread is: executing guest code, in KVM (an exit), in QEMU userspace, or blocked.</summary>
public enum VcpuMode
{
    /// <summary>In guest mode (VMX non-root): PF_VCPU is set while the task runs.</summary>
    Guest,

    /// <summary>Handling a VM exit in KVM (host kernel), or entering the guest.</summary>
    Exit,

    /// <summary>In QEMU userspace emulating an I/O exit.</summary>
    Userspace,

    /// <summary>Halted: blocked in <c>kvm_vcpu_block</c> on its wait queue.</summary>
    Halted,

    /// <summary>Sleeping in the pre-2011 PAUSE handler (on its wait queue, with a timeout).</summary>
    PleSleep,
}

/// <summary>The guest operation a VCPU is executing.</summary>
public enum GuestOp
{
    None,
    Compute,
    Spin,
    Halt,
    SendIpi,
    Userspace,

    /// <summary>VMCALL: a paravirtual hypercall (one exit, the handler, its effect).</summary>
    Hypercall,
}

/// <summary>The KVM hypercalls the guest model issues (include/uapi/linux/kvm_para.h numbers).</summary>
public enum Hypercall
{
    /// <summary>KVM_HC_KICK_CPU (5, 3.12): wake a VCPU halted in a PV lock slow path (<c>kvm_pv_kick_cpu_op</c>).</summary>
    KickCpu = 5,

    /// <summary>KVM_HC_SEND_IPI (10, 4.19): one IPI to every VCPU of a bitmap (<c>kvm_pv_send_ipi</c>, arch/x86/kvm/lapic.c).</summary>
    SendIpi = 10,

    /// <summary>KVM_HC_SCHED_YIELD (11, 5.3): yield to the preempted VCPU an IPI was sent to (<c>kvm_sched_yield</c>).</summary>
    SchedYield = 11,
}

/// <summary>What a VCPU's time went to (host wall time, per VCPU).</summary>
public enum VcpuTime
{
    GuestRun,
    GuestSpin,
    PauseExit,
    OtherExit,
    Halted,
    PleSleep,
    Preempted,
    Userspace,
    NotStarted,
}

/// <summary>
/// A virtual CPU: a host task (the VCPU thread) whose body runs the guest while it is scheduled.
/// Guest operations progress only in guest mode on a CPU; exits, their handlers and re-entries
/// cost host CPU time; PAUSE loops exit after the PLE window; HLT blocks the thread until an
/// interrupt kicks it, like <c>kvm_vcpu_block</c> / <c>kvm_vcpu_kick</c> (virt/kvm/kvm_main.c, 2.6.39).
/// </summary>
public sealed class Vcpu : ITaskBody
{
    private enum Seg
    {
        None,
        Exit,
        Userspace,
        Irq,
        Compute,
    }

    private enum ExitKind
    {
        None,
        Entry,
        Pause,
        Hlt,
        IcrWrite,
        External,
        IrqWindow,
        Hypercall,

        /// <summary>The PAUSE handler's remaining work (the directed-yield walk); its end is the handler's return.</summary>
        PauseReturn,

        /// <summary>Halt polling in <c>kvm_vcpu_block</c> (4.0+): the thread stays on its CPU looking for a wake-up condition.</summary>
        HaltPoll,
    }

    private readonly Kvm _kvm;
    private readonly HrTimer _segTimer;
    private readonly HrTimer _pleTimer;
    private readonly HrTimer _sleepTimer;
    private readonly HrTimer _kickTimer;
    private readonly HrTimer _guestTimer;
    private readonly HrTimer _spinLimitTimer;
    private readonly long[] _time = new long[Enum.GetValues<VcpuTime>().Length];
    private VcpuTime _cat = VcpuTime.NotStarted;
    private long _catSince;

    // Ground truth (oracle, read-only; docs/ground-truth.md): GuestSpin time split by cause.
    private readonly long[] _spinByCause = new long[GroundTruth.Causes.Length];
    private SpinCause _spinCause = SpinCause.Other;
    private bool _traceOpen;
    private SpinCause _traceCause;
    private long _traceSince;

    private GuestOp _op;
    private long _opRemaining;
    private ISpinTarget? _spinTarget;
    private long _spinToken;
    private bool _spinUser;
    private long _spinBudget = -1;   // guest-mode spin time left before the loop gives up (-1: no limit)
    private long _spinBudgetSince = -1;
    private Hypercall _hypercall;
    private Vcpu? _hypercallTarget;
    private CpuMask _hypercallMask;
    private int _hypercallVector;
    private bool _flushTlbAtEntry;
    private Vcpu? _ipiTarget;
    private int _ipiVector;
    private int _irqVector = -1;
    private long _irqRemaining;
    private int _pending;
    private bool _irqWindowArmed;
    private int _deferredMask;
    private readonly long[] _deferredSince = new long[Vectors.Count];
    private ExitKind _exitKind;
    private long _exitRemaining;
    private bool _inPauseEpisode;
    private Seg _seg;
    private long _segStart = -1;
    private long _guestTimerPeriod;
    private long _guestTimerPhase;
    private long _lhpSince = -1;
    private bool _onWaitQueue;
    private long _haltStart = -1;
    private long _pollStart;
    private long _pollStop;

    internal Vcpu(Kvm kvm, Vm vm, int index)
    {
        _kvm = kvm;
        Vm = vm;
        Index = index;
        var sim = kvm.Sim;
        var h = new Handlers(this);
        _segTimer = new HrTimer(sim, h, (long)VcpuTimer.Segment);
        _pleTimer = new HrTimer(sim, h, (long)VcpuTimer.PleWindow);
        _sleepTimer = new HrTimer(sim, h, (long)VcpuTimer.SleepTimeout);
        _kickTimer = new HrTimer(sim, h, (long)VcpuTimer.KickArrival);
        _guestTimer = new HrTimer(sim, h, (long)VcpuTimer.GuestApicTimer);
        _spinLimitTimer = new HrTimer(sim, h, (long)VcpuTimer.SpinLimit);
        vm.AddPresence();
    }

    public Vm Vm { get; }

    /// <summary>Index in the VM (<c>vcpu->vcpu_id</c>, the order <c>kvm_for_each_vcpu</c> walks).</summary>
    public int Index { get; }

    public HostTask Task { get; internal set; } = null!;
    public IGuestCpu Guest { get; private set; } = null!;

    /// <summary>Connects the guest kernel's side of this VCPU (once, before the VM starts).</summary>
    public void AttachGuest(IGuestCpu guest) => Guest = Guest is null ? guest : throw new InvalidOperationException($"{this} already has a guest");
    public VcpuMode Mode { get; private set; } = VcpuMode.Exit;
    public GuestOp Op => _op;

    /// <summary><c>vcpu->pid</c>: the thread that last ran KVM_RUN for it (null until its first run).</summary>
    public HostTask? Pid { get; private set; }

    /// <summary>The host scheduled it out while it was runnable (what 3.10 calls <c>vcpu->preempted</c>).</summary>
    public bool Preempted { get; private set; }

    /// <summary><c>PF_VCPU</c>: the thread is on a CPU in guest mode.</summary>
    public bool InGuestMode => Mode == VcpuMode.Guest && IsExecuting;

    /// <summary>
    /// The wait queue is active (<c>waitqueue_active(&amp;vcpu->wq)</c>): the thread is on it from
    /// <c>prepare_to_wait</c> (halt, or the pre-2011 PLE sleep) until a wake-up through the queue
    /// removes it (<c>DEFINE_WAIT</c>'s <c>autoremove_wake_function</c>: a successful
    /// <c>try_to_wake_up</c> deletes the entry at once) or, after a wake-up that bypassed the queue
    /// (the sleep's hrtimer), until it runs and calls <c>finish_wait</c>. A kicked VCPU that has
    /// not run yet is therefore not "waiting" (kvm_vcpu_block, 2.6.39).
    /// </summary>
    public bool WaitQueueActive => _onWaitQueue;

    /// <summary>
    /// 3.7's dy_eligible bookkeeping (<c>vcpu->spin_loop</c>): in a spin loop from the start of the
    /// PAUSE handler until it returns (the time descheduled in a successful yield_to included), and
    /// the flag <c>kvm_vcpu_eligible_for_directed_yield</c> flips each time it looks.
    /// </summary>
    public bool InSpinLoop { get; internal set; }
    public bool DyEligible { get; internal set; }

    /// <summary>
    /// 5.3 <c>vcpu->ready</c>: set when the thread is preempted (<c>kvm_sched_out</c> with the task
    /// still running) and when <c>kvm_vcpu_wake_up</c> wakes it; cleared when it is scheduled in.
    /// </summary>
    public bool Ready { get; internal set; }

    /// <summary>
    /// 4.14 <c>vcpu->arch.preempted_in_kernel</c>: the guest was at CPL 0 when the thread was last
    /// preempted (asked of the guest through <see cref="IGuestCpu.InKernelMode"/>; a user-mode spin is user mode).
    /// </summary>
    public bool PreemptedInKernel { get; private set; }

    /// <summary>The current operation is a spin loop in guest user mode (the PAUSE exit's CPL &gt; 0; AMD only).</summary>
    public bool SpinningInUserMode => _op == GuestOp.Spin && _spinUser;

    /// <summary>
    /// The VCPU's current PLE window (<c>vmx->ple_window</c>, TSC cycles) or pause-filter count
    /// (<c>control->pause_filter_count</c>, PAUSEs); the module's base value until the dynamic window changes it.
    /// </summary>
    public long PleWindow { get; internal set; }

    /// <summary>The window above as simulated time (recomputed when it changes).</summary>
    internal long PleWindowNs { get; set; } = -1;

    /// <summary>4.3+ <c>vcpu->halt_poll_ns</c>: how long the next halt polls (4.0–4.2: always the module's halt_poll_ns).</summary>
    public long HaltPollNs { get; internal set; }

    /// <summary>
    /// Bit 0 of MSR_KVM_POLL_CONTROL (5.4, KVM_FEATURE_POLL_CONTROL): 1 at reset; a guest running
    /// cpuidle-haltpoll writes 0 and KVM then skips halt polling for it (<c>kvm_arch_no_poll</c>).
    /// </summary>
    public bool PollControl { get; set; } = true;

    /// <summary>The last VCPU this one kicked out of HLT (to classify lock-holder preemptions).</summary>
    public Vcpu? LastWoken { get; internal set; }
    public long LastWokenAt { get; internal set; }

    public VcpuStats Stats { get; } = new();

    /// <summary>
    /// <c>vcpu->arch.pv.pv_unhalted</c> (3.12, arch/x86/kvm/lapic.c APIC_DM_REMRD): set by a
    /// KVM_HC_KICK_CPU aimed at this VCPU; while set a HLT does not block
    /// (<c>kvm_arch_vcpu_runnable</c>); cleared when the VCPU leaves the halted state.
    /// </summary>
    public bool PvUnhalted { get; internal set; }

    /// <summary>
    /// The <c>preempted</c> byte of the steal-time area (KVM_VCPU_PREEMPTED, 4.10+): set by
    /// <c>kvm_steal_time_set_preempted</c> when the VCPU thread is put while still runnable
    /// (preempted or yielded: <c>kvm_sched_out</c> with the task RUNNING), cleared by
    /// <c>record_steal_time</c> at its next entry. What the guest's <c>vcpu_is_preempted</c> reads.
    /// </summary>
    public bool StealTimePreempted { get; private set; }

    /// <summary>A spin with a loop limit (<see cref="Spin(ISpinTarget, long, bool, long)"/>) ended because the limit ran out.</summary>
    public bool SpinTimedOut { get; private set; }

    public override string ToString() => $"{Vm.Name}/vcpu{Index}";

    // ------------------------------------------------------------------ guest operations

    /// <summary>Executes <paramref name="ns"/> of guest code.</summary>
    public void Compute(long ns)
    {
        RequireIdleOp();
        _op = GuestOp.Compute;
        _opRemaining = Math.Max(0, ns);
    }

    /// <summary>True if this VCPU is spinning on something that <paramref name="candidate"/> holds up (see <see cref="ISpinTarget.WaitsOn"/>).</summary>
    public bool SpinWaitsOn(Vcpu candidate) => _spinTarget?.WaitsOn(this, _spinToken, candidate) ?? false;

    /// <summary>Ground truth (oracle, read-only): what <paramref name="candidate"/> is to this VCPU's spin (Unrelated when not spinning).</summary>
    public SpinRelation SpinRelationTo(Vcpu candidate) =>
        _op == GuestOp.Spin && _spinTarget is { } t ? t.Relation(this, _spinToken, candidate) : SpinRelation.Unrelated;

    /// <summary>Where this VCPU is, as of its last accounting step (what spinners' causes are computed from).</summary>
    public VcpuPresence Presence => GroundTruth.Presence(_cat);

    /// <summary>The cause its spin time is charged to now (meaningful while <see cref="Spinning"/>).</summary>
    public SpinCause SpinCause => _spinCause;

    /// <summary>Its time is being accounted as <see cref="VcpuTime.GuestSpin"/>.</summary>
    public bool Spinning => _cat == VcpuTime.GuestSpin;

    /// <summary>A PAUSE loop on <paramref name="target"/> until <see cref="ISpinTarget.TryAcquire"/> succeeds.</summary>
    public void Spin(ISpinTarget target, long token, bool userMode = false) => Spin(target, token, userMode, -1);

    /// <summary>
    /// A PAUSE loop that gives up after <paramref name="limitNs"/> of looping in guest mode (the
    /// <c>SPIN_THRESHOLD</c> loops of a paravirtual lock's fast spin; time in exits, interrupts or
    /// off the CPU does not count). The operation then ends with <see cref="SpinTimedOut"/> set.
    /// Negative: no limit.
    /// </summary>
    public void Spin(ISpinTarget target, long token, bool userMode, long limitNs)
    {
        RequireIdleOp();
        _op = GuestOp.Spin;
        _spinTarget = target;
        _spinToken = token;
        _spinUser = userMode;
        _spinBudget = limitNs;
        SpinTimedOut = false;
        Stats.Spins++;
    }

    /// <summary>VMCALL <paramref name="nr"/> aimed at <paramref name="target"/>: one exit, the handler, its effect, re-entry.</summary>
    public void Hypercall(Hypercall nr, Vcpu target)
    {
        RequireIdleOp();
        _op = GuestOp.Hypercall;
        _hypercall = nr;
        _hypercallTarget = target;
    }

    /// <summary>
    /// KVM_HC_SEND_IPI (4.19 guest <c>kvm_send_ipi_mask</c> → <c>__send_ipi_mask</c>): one VMCALL
    /// carries a bitmap of destinations (VCPU indices here: APIC ID = VCPU index, all within one
    /// 128-bit cluster); the host's <c>kvm_pv_send_ipi</c> delivers <paramref name="vector"/> to each
    /// (<c>kvm_apic_set_irq</c> → kick). One exit instead of one ICR write per destination.
    /// </summary>
    public void SendIpiMany(in CpuMask mask, int vector)
    {
        RequireIdleOp();
        _op = GuestOp.Hypercall;
        _hypercall = PleSim.Hypervisor.Hypercall.SendIpi;
        _hypercallTarget = null;
        _hypercallMask = mask;
        _hypercallVector = vector;
    }

    /// <summary>
    /// PV TLB flush (4.16 <c>kvm_flush_tlb_others</c>): the guest swaps the steal-time
    /// <c>preempted</c> byte to KVM_VCPU_PREEMPTED | KVM_VCPU_FLUSH_TLB instead of sending this
    /// VCPU an IPI. Succeeds only while it is marked preempted; the flush then happens at its next
    /// entry (<c>record_steal_time</c>).
    /// </summary>
    public bool TrySetFlushTlbAtEntry()
    {
        if (!StealTimePreempted)
            return false;
        _flushTlbAtEntry = true;
        return true;
    }

    /// <summary>A PV TLB flush is waiting for this VCPU's next entry.</summary>
    public bool FlushTlbAtEntryPending => _flushTlbAtEntry;

    /// <summary>HLT: exit and block until an interrupt is pending.</summary>
    public void Halt()
    {
        RequireIdleOp();
        _op = GuestOp.Halt;
    }

    /// <summary>Writes the APIC ICR to send <paramref name="vector"/> to <paramref name="target"/> (one exit).</summary>
    public void SendIpi(Vcpu target, int vector)
    {
        RequireIdleOp();
        _op = GuestOp.SendIpi;
        _ipiTarget = target;
        _ipiVector = vector;
    }

    /// <summary>An I/O exit handled by QEMU in userspace for <paramref name="ns"/> (PF_VCPU clear meanwhile).</summary>
    public void ExitToUserspace(long ns)
    {
        RequireIdleOp();
        _op = GuestOp.Userspace;
        _opRemaining = ns;
    }

    /// <summary>
    /// The offset of the guest's tick grid from host time 0: ticks fire at phase + k × period (the
    /// guest kernel's jiffies grid, fixed when it booted; a stopped tick restarts on the same grid).
    /// </summary>
    public SimDuration GuestTimerPhase
    {
        get => new(_guestTimerPhase);
        set => _guestTimerPhase = value.Ns;
    }

    /// <summary>Programs the local APIC timer to fire every <paramref name="period"/> on the tick grid (0 stops it).</summary>
    public void SetGuestTimer(SimDuration period)
    {
        _guestTimerPeriod = period.Ns;
        if (period.Ns <= 0)
        {
            _guestTimer.Cancel();
            return;
        }
        if (!_guestTimer.IsArmed)
        {
            long p = period.Ns;
            long since = _kvm.Sim.Now.Ns - _guestTimerPhase;
            long next = since < 0 ? _guestTimerPhase : _guestTimerPhase + (since / p + 1) * p;
            _guestTimer.Start(new SimTime(next));
        }
    }

    public bool GuestTimerArmed => _guestTimer.IsArmed;
    public SimTime GuestTimerExpires => _guestTimer.Expires;

    /// <summary>The lock this VCPU spins on may have changed: look again (after a cache-line transfer if it gets it).</summary>
    public void NotifySpinRelease()
    {
        if (_op != GuestOp.Spin || Mode != VcpuMode.Guest || _irqVector >= 0 || !IsExecuting)
            return; // it will look when it next executes the loop
        // The PLE window keeps counting: the loop goes on unless the lock is now ours.
        Run();
    }

    private void RequireIdleOp()
    {
        if (_op != GuestOp.None)
            throw new InvalidOperationException($"{this}: a new guest operation while {_op} is in progress");
    }

    /// <summary>The thread is on its CPU and past the context switch.</summary>
    private bool IsExecuting => Task.OnCpu && !_switchPending;

    private bool _switchPending = true;

    // ------------------------------------------------------------------ host hooks (preempt notifiers)

    public void OnRun(HostTask task, int cpu, bool switched)
    {
        _switchPending = false;
        Preempted = false;
        Ready = false; // kvm_sched_in (5.3)
        if (switched)
            _kvm.OnSchedIn(this); // vmx_sched_in → shrink_ple_window (3.18)
        if (StealTimePreempted)
        {
            // record_steal_time (4.16): xchg the preempted byte to 0; KVM_VCPU_FLUSH_TLB in it
            // means a flush was deferred to this entry (kvm_vcpu_flush_tlb; its cost is folded
            // into the entry).
            StealTimePreempted = false;
            if (_flushTlbAtEntry)
            {
                _flushTlbAtEntry = false;
                Stats.PvTlbFlushesAtEntry++;
            }
        }
        if (_lhpSince >= 0)
        {
            Stats.LockHolderPreemptedNs += _kvm.Sim.Now.Ns - _lhpSince;
            _lhpSince = -1;
        }
        if (Pid is null)
        {
            Pid = task;
            Mode = VcpuMode.Exit;
            _exitKind = ExitKind.Entry;
            _exitRemaining = Costs.Entry.Ns;
        }
        else if (Mode == VcpuMode.Guest)
        {
            // Scheduled out from guest mode (external interrupt exit + schedule): pay the exit and re-enter.
            Mode = VcpuMode.Exit;
            _exitKind = ExitKind.Entry;
            _exitRemaining = Costs.Exit.Ns + Costs.Entry.Ns;
        }
        else if (Mode is VcpuMode.Halted or VcpuMode.PleSleep)
        {
            if (Mode == VcpuMode.Halted)
            {
                EndHalt();
                PvUnhalted = false; // __vcpu_run leaving KVM_MP_STATE_HALTED (3.12)
            }
            _onWaitQueue = false; // finish_wait
            _sleepTimer.Cancel();
            Mode = VcpuMode.Exit;
            _exitKind = ExitKind.Entry;
            _exitRemaining = Costs.Entry.Ns;
        }
        else if (HaltPolling)
        {
            // Preempted while polling: the loop resumes only while before its wall-clock stop and
            // while single_task_running() (kvm_vcpu_block); otherwise it ends now and blocks.
            long now = _kvm.Sim.Now.Ns;
            _exitRemaining = now >= _pollStop || _kvm.Host.Rqs[cpu].NrRunning > 1 ? 0 : _pollStop - now;
        }
        Account();
        Run();
    }

    public void OnStop(HostTask task, int cpu, StopReason reason)
    {
        Freeze();
        _switchPending = true;
        if (reason != StopReason.Blocked)
        {
            Preempted = reason == StopReason.Preempted;
            if (Preempted)
            {
                Ready = true; // kvm_sched_out (5.3)
                // kvm_arch_vcpu_put (4.14): preempted_in_kernel = CPL 0. Only while in guest mode
                // does the guest's own mode matter; preempted in an exit it is past the guest's instruction.
                // An interrupt handler in progress runs at CPL 0 whatever it interrupted.
                PreemptedInKernel = _irqVector >= 0 || (_op == GuestOp.Spin ? !_spinUser : Guest.InKernelMode(this));
            }
            StealTimePreempted = true; // kvm_arch_vcpu_put → kvm_steal_time_set_preempted
            if (Preempted && Guest.HoldsSpinlock(this))
                _lhpSince = _kvm.Sim.Now.Ns;
        }
        Account();
        if (reason != StopReason.Blocked)
            Guest.OnStealTimePreempted(this);
    }

    // ------------------------------------------------------------------ the state machine

    private ExitCosts Costs => _kvm.Settings.Costs;

    private void StartSeg(Seg seg, long ns)
    {
        _seg = seg;
        _segStart = _kvm.Sim.Now.Ns;
        _segTimer.Start(new SimTime(_segStart + ns));
    }

    /// <summary>Stops the running segment (preemption, forced exit), keeping what is left of it.</summary>
    private void Freeze()
    {
        _pleTimer.Cancel();
        PauseSpinBudget();
        if (_seg == Seg.None)
            return;
        long ran = _kvm.Sim.Now.Ns - _segStart;
        switch (_seg)
        {
            case Seg.Exit:
            case Seg.Userspace:
                _exitRemaining -= ran;
                break;
            case Seg.Irq:
                _irqRemaining -= ran;
                break;
            case Seg.Compute:
                _opRemaining -= ran;
                break;
        }
        _segTimer.Cancel();
        _seg = Seg.None;
        _segStart = -1;
    }

    private void OnSegmentDone()
    {
        switch (_seg)
        {
            case Seg.Exit:
            case Seg.Userspace:
                _exitRemaining = 0;
                break;
            case Seg.Irq:
                _irqRemaining = 0;
                break;
            case Seg.Compute:
                _opRemaining = 0;
                break;
        }
        _seg = Seg.None;
        _segStart = -1;
        Account();
        Run();
    }

    /// <summary>Advances the VCPU until it waits for time to pass, blocks or yields.</summary>
    private void Run()
    {
        if (!IsExecuting)
            return;
        for (int guard = 0; guard < 10_000; guard++)
        {
            switch (Mode)
            {
                case VcpuMode.Exit:
                    if (_exitRemaining > 0)
                    {
                        StartSeg(Seg.Exit, _exitRemaining);
                        Account();
                        return;
                    }
                    if (!FinishExit())
                        return;
                    continue;
                case VcpuMode.Userspace:
                    if (_exitRemaining > 0)
                    {
                        StartSeg(Seg.Userspace, _exitRemaining);
                        Account();
                        return;
                    }
                    _op = GuestOp.None;
                    EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                    continue;
                case VcpuMode.Guest:
                    if (_irqVector >= 0)
                    {
                        if (_irqRemaining > 0)
                        {
                            StartSeg(Seg.Irq, _irqRemaining);
                            Account();
                            return;
                        }
                        int v = _irqVector;
                        _irqVector = -1;
                        Guest.OnInterruptDone(this, v);
                        if (!IsExecuting || Mode != VcpuMode.Guest)
                            return;
                        continue;
                    }
                    if (_pending != 0)
                    {
                        if (Guest.InterruptsEnabled(this))
                        {
                            TakeInterrupt();
                            continue;
                        }
                        NoteDeferred();
                    }
                    if (!RunOp())
                        return;
                    continue;
                default:
                    return; // blocked
            }
        }
        throw new InvalidOperationException($"{this}: the guest made no progress (it keeps issuing zero-time operations)");
    }

    /// <summary>Runs the current guest operation; false when the VCPU now waits (time, exit, block).</summary>
    private bool RunOp()
    {
        switch (_op)
        {
            case GuestOp.None:
                Guest.OnOpDone(this);
                // No operation is fine only if re-enabling interrupts started a deferred delivery.
                if (_op == GuestOp.None && Mode == VcpuMode.Guest && _irqVector < 0)
                    throw new InvalidOperationException($"{this}: the guest gave no operation");
                return IsExecuting;
            case GuestOp.Compute:
                if (_opRemaining > 0)
                {
                    StartSeg(Seg.Compute, _opRemaining);
                    Account();
                    return false;
                }
                _op = GuestOp.None;
                return true;
            case GuestOp.Spin:
                if (_spinTarget!.TryAcquire(this, _spinToken))
                {
                    _pleTimer.Cancel();
                    PauseSpinBudget();
                    _spinBudget = -1;
                    _op = GuestOp.None;
                    _spinTarget = null;
                    Account();
                    return true;
                }
                if (_spinBudget == 0)
                {
                    EndSpinTimedOut();
                    return true;
                }
                Account();
                long window = _kvm.PleWindowNs(this, _spinUser);
                if (window > 0 && !_pleTimer.IsArmed)
                    _pleTimer.Start(_kvm.Sim.Now + new SimDuration(window));
                if (_spinBudget > 0 && !_spinLimitTimer.IsArmed)
                {
                    _spinBudgetSince = _kvm.Sim.Now.Ns;
                    _spinLimitTimer.Start(new SimTime(_spinBudgetSince + _spinBudget));
                }
                return false;
            case GuestOp.Halt:
                EnterExit(ExitKind.Hlt, Costs.Exit.Ns + Costs.HltHandler.Ns);
                Stats.HltExits++;
                return true;
            case GuestOp.SendIpi:
                EnterExit(ExitKind.IcrWrite, Costs.Exit.Ns + Costs.IcrWriteHandler.Ns);
                Stats.IpiExits++;
                return true;
            case GuestOp.Hypercall:
                // kvm_pv_send_ipi walks the bitmap: the handler's work grows with the destinations.
                long perTarget = _hypercall == PleSim.Hypervisor.Hypercall.SendIpi
                    ? _hypercallMask.Count * Costs.PvSendIpiPerTarget.Ns
                    : 0;
                EnterExit(ExitKind.Hypercall, Costs.Exit.Ns + Costs.HypercallHandler.Ns + perTarget);
                Stats.Hypercalls++;
                return true;
            case GuestOp.Userspace:
                Mode = VcpuMode.Userspace;
                _exitRemaining = Costs.Exit.Ns + Costs.UserspaceExit.Ns + _opRemaining;
                Stats.UserspaceExits++;
                Account();
                return true;
        }
        return false;
    }

    private void EnterExit(ExitKind kind, long ns)
    {
        PauseSpinBudget(); // out of guest mode: the loop does not run
        Mode = VcpuMode.Exit;
        _exitKind = kind;
        _exitRemaining = ns;
        Account();
    }

    /// <summary>What happens when the exit's work is done; false when the thread blocked or yielded.</summary>
    private bool FinishExit()
    {
        switch (_exitKind)
        {
            case ExitKind.Entry:
                Mode = VcpuMode.Guest;
                _exitKind = ExitKind.None;
                _inPauseEpisode = false;
                // vcpu_enter_guest → inject_pending_event (arch/x86/kvm/x86.c, 2.6.39): an interrupt
                // the guest cannot take now (RFLAGS.IF = 0) stays in the IRR and KVM asks for an
                // exit as soon as the guest can (vmx.c enable_irq_window: VIRTUAL_INTR_PENDING).
                if (_pending != 0 && !Guest.InterruptsEnabled(this))
                    _irqWindowArmed = true;
                Account();
                return true;
            case ExitKind.IrqWindow:
                // vmx.c handle_interrupt_window: clear the window request and re-enter, injecting.
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                return true;
            case ExitKind.Hlt:
                _op = GuestOp.None; // HLT retired; the next instruction runs after an interrupt
                // kvm_arch_vcpu_runnable: an interrupt the guest can take (IF set), or pv_unhalted.
                if ((_pending != 0 && Guest.InterruptsEnabled(this)) || PvUnhalted)
                {
                    PvUnhalted = false;
                    EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                    return true;
                }
                _haltStart = _kvm.Sim.Now.Ns;
                // kvm_vcpu_block (4.0+): poll first while this CPU has nothing else to run (single_task_running).
                long poll = _kvm.Settings.HaltPoll.HaltPollNs == 0 ? 0 : _kvm.Settings.HaltPoll.Adaptive ? HaltPollNs : _kvm.Settings.HaltPoll.HaltPollNs;
                if (poll > 0 && PollControl && _kvm.Host.Rqs[Task.Cpu].NrRunning == 1)
                {
                    Stats.HaltPollAttempts++;
                    _pollStart = _haltStart;
                    _pollStop = _haltStart + poll;
                    EnterExit(ExitKind.HaltPoll, poll);
                    return true;
                }
                return BlockHalted();
            case ExitKind.HaltPoll:
                // The poll ran out (ktime past stop) with no wake-up condition: block.
                Stats.HaltPollNs += _kvm.Sim.Now.Ns - _pollStart;
                return BlockHalted();
            default:
                return FinishExitRest();
        }
        throw new InvalidOperationException($"{this}: exit {_exitKind} has no continuation");
    }

    /// <summary>The blocking part of <c>kvm_vcpu_block</c>: on the wait queue, off the CPU until a kick wakes it.</summary>
    private bool BlockHalted()
    {
        Mode = VcpuMode.Halted;
        _onWaitQueue = true; // prepare_to_wait
        Stats.Halts++;
        Account();
        _kvm.Host.Block(Task);
        return false;
    }

    /// <summary>
    /// The end of <c>kvm_vcpu_block</c> (the VCPU runs again, or its poll saw the interrupt): 4.3's
    /// adaptive poll time is adjusted from the halt's whole length, polling included.
    /// </summary>
    private void EndHalt()
    {
        if (_haltStart < 0)
            return;
        long blockNs = _kvm.Sim.Now.Ns - _haltStart;
        _haltStart = -1;
        var hp = _kvm.Settings.HaltPoll;
        if (hp.Adaptive)
            HaltPollNs = hp.Adjust(HaltPollNs, blockNs);
    }

    /// <summary>True while the VCPU polls in <c>kvm_vcpu_block</c> (on or off its CPU).</summary>
    public bool HaltPolling => Mode == VcpuMode.Exit && _exitKind == ExitKind.HaltPoll;

    /// <summary>
    /// A kick found the VCPU polling: <c>kvm_vcpu_check_block</c> sees the pending interrupt on the
    /// poll's next iteration, so the poll ends there and the VCPU re-enters, without any wake-up
    /// (it was never on the wait queue).
    /// </summary>
    internal void EndHaltPollOnEvent()
    {
        if (!HaltPolling)
            return;
        if (IsExecuting)
            Freeze();
        Stats.HaltPollSuccessful++;
        Stats.HaltPollNs += _kvm.Sim.Now.Ns - _pollStart;
        EndHalt();
        EnterExit(ExitKind.Entry, Costs.Entry.Ns);
        Run();
    }

    private bool FinishExitRest()
    {
        switch (_exitKind)
        {
            case ExitKind.IcrWrite:
                _op = GuestOp.None;
                var target = _ipiTarget!;
                _ipiTarget = null;
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                _kvm.Kick(target, _ipiVector, this);
                return IsExecuting;
            case ExitKind.External:
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                return true;
            case ExitKind.Hypercall:
            {
                _op = GuestOp.None;
                var hcTarget = _hypercallTarget;
                _hypercallTarget = null;
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                if (_hypercall == PleSim.Hypervisor.Hypercall.SendIpi)
                {
                    // kvm_pv_send_ipi (4.19 lapic.c): for each set bit, kvm_apic_set_irq on that
                    // VCPU (which sets the IRR and kicks it), in ascending APIC-ID order.
                    var m = _hypercallMask;
                    _hypercallMask = default;
                    Stats.PvSendIpis++;
                    Stats.PvSendIpiTargets += m.Count;
                    for (int i = m.First; i >= 0; i = m.Next(i + 1))
                    {
                        _kvm.Kick(Vm.Vcpus[i], _hypercallVector, this);
                    }
                }
                else if (_hypercall == PleSim.Hypervisor.Hypercall.KickCpu)
                    _kvm.PvKickCpu(hcTarget!, this);
                else
                    _kvm.SchedYield(this, hcTarget!);
                return IsExecuting;
            }
            case ExitKind.Pause:
                return _kvm.HandlePauseExit(this);
            case ExitKind.PauseReturn:
                // kvm_vcpu_on_spin returns (3.7+): kvm_vcpu_set_in_spin_loop(me, false) and
                // kvm_vcpu_set_dy_eligible(me, false). Never set without the 3.7 option.
                InSpinLoop = false;
                DyEligible = false;
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                return true;
        }
        throw new InvalidOperationException($"{this}: exit {_exitKind} has no continuation");
    }

    private void TakeInterrupt()
    {
        int v = System.Numerics.BitOperations.TrailingZeroCount(_pending);
        _pending &= ~(1 << v);
        if ((_deferredMask & (1 << v)) != 0)
        {
            _deferredMask &= ~(1 << v);
            Vm.Stats.IrqsDeferred++;
            Vm.Stats.IrqDeferredNs += _kvm.Sim.Now.Ns - _deferredSince[v];
        }
        if (_pending == 0)
            _irqWindowArmed = false;
        _pleTimer.Cancel();
        PauseSpinBudget();
        _irqVector = v;
        _irqRemaining = Guest.OnInterrupt(this, v);
        Stats.Interrupts++;
        Account();
    }

    /// <summary>
    /// Pending interrupts the guest, executing in guest mode, could not take because its
    /// RFLAGS.IF is clear: from now on they wait for the guest to re-enable (counted per VM).
    /// </summary>
    private void NoteDeferred()
    {
        int fresh = _pending & ~_deferredMask;
        if (fresh == 0)
            return;
        long now = _kvm.Sim.Now.Ns;
        for (int v = 0; v < Vectors.Count; v++)
        {
            if ((fresh & (1 << v)) != 0)
                _deferredSince[v] = now;
        }
        _deferredMask |= fresh;
    }

    /// <summary>
    /// The guest set RFLAGS.IF again (<c>sti</c>/<c>popf</c> of <c>local_irq_restore</c>). A pending
    /// interrupt held back by IF = 0 is taken at once: if KVM armed interrupt-window exiting at the
    /// last entry, the guest first exits (<c>handle_interrupt_window</c>) and the interrupt is
    /// injected on re-entry; otherwise it is delivered directly. Returns true if a delivery
    /// started: the guest must then not start an operation (it continues after the handler).
    /// </summary>
    public bool OnInterruptsEnabled()
    {
        if (_pending == 0 || Mode != VcpuMode.Guest || _irqVector >= 0 || !IsExecuting)
            return false;
        if (_irqWindowArmed)
        {
            _irqWindowArmed = false;
            Stats.IrqWindowExits++;
            EnterExit(ExitKind.IrqWindow, Costs.Exit.Ns);
            return true;
        }
        TakeInterrupt();
        return true;
    }

    // ------------------------------------------------------------------ called by KVM

    /// <summary>Called by the PAUSE handler policies: the handler returns after <paramref name="extraCost"/> more work, then the VCPU re-enters.</summary>
    internal void ContinueAfterPauseHandler(long extraCost) => EnterExit(ExitKind.PauseReturn, extraCost);

    /// <summary>The pre-2011 handler: sleep on the wait queue for <paramref name="timeout"/> (a kick ends it early).</summary>
    internal void SleepOnWaitQueue(SimDuration timeout)
    {
        Mode = VcpuMode.PleSleep;
        _onWaitQueue = true; // prepare_to_wait
        _exitKind = ExitKind.Entry;
        _exitRemaining = Costs.Entry.Ns;
        Account();
        _sleepTimer.StartAfter(timeout);
        _kvm.Host.Block(Task);
    }

    /// <summary>A wake-up through the wait queue succeeded: <c>autoremove_wake_function</c> took the thread off it.</summary>
    internal void RemovedFromWaitQueue() => _onWaitQueue = false;

    /// <summary>Marks <paramref name="vector"/> pending; the caller wakes or kicks the VCPU as needed.</summary>
    internal void SetPending(int vector) => _pending |= 1 << vector;

    public bool HasPendingInterrupt => _pending != 0;

    /// <summary>Forces a running VCPU out of guest mode after the IPI latency (kick).</summary>
    internal void ForceExit(SimDuration after)
    {
        var when = _kvm.Sim.Now + after;
        if (!_kickTimer.IsArmed || _kickTimer.Expires > when)
            _kickTimer.Start(when);
    }

    private void OnKickArrived()
    {
        if (Mode != VcpuMode.Guest || !IsExecuting)
            return; // not in guest mode: the interrupt is injected at the next entry
        Freeze();
        EnterExit(ExitKind.External, Costs.Exit.Ns);
        Stats.ExternalExits++;
        Run();
    }

    private void OnPleWindowExpired()
    {
        if (_op != GuestOp.Spin || Mode != VcpuMode.Guest || !IsExecuting)
            return;
        Stats.PauseExits++;
        Vm.Stats.PauseExitsByCause[(int)_spinCause]++; // ground truth: why it was spinning when the window expired
        _inPauseEpisode = true;
        EnterExit(ExitKind.Pause, Costs.Exit.Ns + Costs.PauseHandler.Ns);
        Run();
    }

    /// <summary>Stops counting the spin budget (the loop is not executing), keeping what is left.</summary>
    private void PauseSpinBudget()
    {
        if (_spinBudgetSince < 0)
            return;
        _spinBudget = Math.Max(0, _spinBudget - (_kvm.Sim.Now.Ns - _spinBudgetSince));
        _spinBudgetSince = -1;
        _spinLimitTimer.Cancel();
    }

    private void EndSpinTimedOut()
    {
        _pleTimer.Cancel();
        _spinLimitTimer.Cancel();
        _spinBudgetSince = -1;
        _spinBudget = -1;
        _op = GuestOp.None;
        _spinTarget = null;
        SpinTimedOut = true;
        Account();
    }

    private void OnSpinLimit()
    {
        _spinBudgetSince = -1;
        _spinBudget = 0;
        if (_op != GuestOp.Spin || Mode != VcpuMode.Guest || _irqVector >= 0 || !IsExecuting)
            return; // it notices when the loop runs again
        if (_spinTarget!.TryAcquire(this, _spinToken))
        {
            _pleTimer.Cancel();
            _spinBudget = -1;
            _op = GuestOp.None;
            _spinTarget = null;
            Account();
            Run();
            return;
        }
        EndSpinTimedOut();
        Run();
    }

    private void OnSleepTimeout()
    {
        if (Mode == VcpuMode.PleSleep)
            _kvm.Host.TryToWakeUp(Task, Task.Cpu);
    }

    private void OnGuestTimer()
    {
        if (_guestTimerPeriod > 0)
            _guestTimer.Forward(_kvm.Sim.Now, new SimDuration(_guestTimerPeriod));
        _kvm.Kick(this, Vectors.Timer, null);
    }

    // ------------------------------------------------------------------ accounting

    private VcpuTime CurrentCategory()
    {
        if (Pid is null)
            return VcpuTime.NotStarted;
        if (Mode == VcpuMode.Halted)
            return VcpuTime.Halted;
        if (Mode == VcpuMode.PleSleep)
            return VcpuTime.PleSleep;
        if (!IsExecuting)
            return VcpuTime.Preempted;
        return Mode switch
        {
            VcpuMode.Guest when _irqVector < 0 && _op == GuestOp.Spin => VcpuTime.GuestSpin,
            VcpuMode.Guest => VcpuTime.GuestRun,
            VcpuMode.Userspace => VcpuTime.Userspace,
            _ => _inPauseEpisode || _exitKind == ExitKind.Pause ? VcpuTime.PauseExit : VcpuTime.OtherExit,
        };
    }

    /// <summary>
    /// Charges the time since the last change to the category it was in (and spin time to its
    /// cause), and recomputes the category. When its presence (in guest / in exit / halted / off
    /// CPU) changes, the VM's spinners re-classify: they may be waiting on this VCPU.
    /// </summary>
    private void Account()
    {
        long now = _kvm.Sim.Now.Ns;
        long d = now - _catSince;
        _time[(int)_cat] += d;
        if (_cat == VcpuTime.GuestSpin)
            _spinByCause[(int)_spinCause] += d;
        _catSince = now;
        var old = _cat;
        _cat = CurrentCategory();
        if (_cat == VcpuTime.GuestSpin)
        {
            _spinCause = _spinTarget!.Cause(this, _spinToken);
            Vm.SpinningMask.Set(Index);
        }
        else if (old == VcpuTime.GuestSpin)
        {
            Vm.SpinningMask.Clear(Index);
        }
        if (_traceOpen || _cat == VcpuTime.GuestSpin)
            TraceSpin(now);
        if (old == _cat)
            return;
        var was = GroundTruth.Presence(old);
        var isNow = GroundTruth.Presence(_cat);
        if (was != isNow)
        {
            Vm.PresenceChanged(was, isNow, now);
            if (!Vm.SpinningMask.IsEmpty)
                Vm.ReclassifySpinners(this);
        }
    }

    /// <summary>
    /// Ground truth (oracle, read-only): what this spin waits on may have changed (the lock's owner
    /// or next waiter, an acknowledgement, another VCPU's presence). Charges the spin time so far
    /// to the cause it had and takes the cause again; the category does not change.
    /// </summary>
    public void ReclassifySpin()
    {
        if (_cat != VcpuTime.GuestSpin)
            return;
        long now = _kvm.Sim.Now.Ns;
        long d = now - _catSince;
        _time[(int)VcpuTime.GuestSpin] += d;
        _spinByCause[(int)_spinCause] += d;
        _catSince = now;
        _spinCause = _spinTarget!.Cause(this, _spinToken);
        TraceSpin(now);
    }

    /// <summary>Spin time charged to <paramref name="cause"/> up to now (ns); the causes add up to <see cref="VcpuTime.GuestSpin"/>.</summary>
    public long SpinTimeIn(SpinCause cause)
    {
        Account();
        return _spinByCause[(int)cause];
    }

    /// <summary>Reports spin segments of one cause to the KVM observer (traces): a segment ends when the cause or the category changes.</summary>
    private void TraceSpin(long now)
    {
        var obs = _kvm.Observer;
        if (obs is null)
            return;
        bool spinning = _cat == VcpuTime.GuestSpin;
        if (_traceOpen && (!spinning || _spinCause != _traceCause))
        {
            _traceOpen = false;
            if (now > _traceSince)
                obs.SpinSegment(this, _traceCause, _traceSince, now);
        }
        if (spinning && !_traceOpen)
        {
            _traceOpen = true;
            _traceCause = _spinCause;
            _traceSince = now;
        }
    }

    /// <summary>Ends the open spin segment at the current time (the end of a trace).</summary>
    public void CloseSpinTrace()
    {
        Account();
        if (_traceOpen && _kvm.Sim.Now.Ns > _traceSince)
            _kvm.Observer?.SpinSegment(this, _traceCause, _traceSince, _kvm.Sim.Now.Ns);
        _traceOpen = false;
        TraceSpin(_kvm.Sim.Now.Ns);
    }

    /// <summary>Time per category up to now (ns).</summary>
    public long TimeIn(VcpuTime category)
    {
        Account();
        return _time[(int)category];
    }

    /// <summary>
    /// The VCPU's timers; the value is the event argument (fixed numbers: the event digest folds
    /// them in, so renumbering would change every digest).
    /// </summary>
    private enum VcpuTimer : long
    {
        /// <summary>The running segment (exit work, guest compute, an interrupt handler) is done.</summary>
        Segment = 0,

        /// <summary>The PAUSE loop has lasted the PLE window: a PAUSE exit.</summary>
        PleWindow = 1,

        /// <summary>The pre-2011 handler's <c>schedule_hrtimeout</c> expired.</summary>
        SleepTimeout = 2,

        /// <summary>A kick's host IPI reaches the VCPU's CPU and forces an exit.</summary>
        KickArrival = 3,

        /// <summary>The guest's local APIC timer (its tick) fires.</summary>
        GuestApicTimer = 4,

        /// <summary>A spin with a loop budget (the paravirtual locks' SPIN_THRESHOLD) ran out.</summary>
        SpinLimit = 5,
    }

    private sealed class Handlers(Vcpu v) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg)
        {
            switch ((VcpuTimer)arg)
            {
                case VcpuTimer.Segment:
                    v.OnSegmentDone();
                    break;
                case VcpuTimer.PleWindow:
                    v.OnPleWindowExpired();
                    break;
                case VcpuTimer.SleepTimeout:
                    v.OnSleepTimeout();
                    break;
                case VcpuTimer.KickArrival:
                    v.OnKickArrived();
                    break;
                case VcpuTimer.GuestApicTimer:
                    v.OnGuestTimer();
                    break;
                case VcpuTimer.SpinLimit:
                    v.OnSpinLimit();
                    break;
            }
        }
    }
}

/// <summary>Counters of one VCPU.</summary>
public sealed class VcpuStats
{
    public long PauseExits, HltExits, Halts, IpiExits, ExternalExits, UserspaceExits, Interrupts, Spins, Kicks, WakeFromHalt;

    /// <summary>KVM_HC_KICK_CPU hypercalls aimed at this VCPU.</summary>
    public long PvKicks;

    /// <summary>Interrupt-window exits: the guest re-enabled interrupts with one pending (vmx.c handle_interrupt_window).</summary>
    public long IrqWindowExits;

    /// <summary>VMCALLs (paravirtual hypercalls) and the PV TLB flushes done at entry instead of by IPI.</summary>
    public long Hypercalls, PvTlbFlushesAtEntry;

    /// <summary>KVM_HC_SEND_IPI hypercalls this VCPU made, and the destinations they carried (each would have been one ICR-write exit).</summary>
    public long PvSendIpis, PvSendIpiTargets;
    public long LockHolderPreemptedNs;

    /// <summary>Halt polling (4.0+): polls started, polls that saw a wake-up condition (no block, no wake-up), time spent polling (ns).</summary>
    public long HaltPollAttempts, HaltPollSuccessful, HaltPollNs;
}

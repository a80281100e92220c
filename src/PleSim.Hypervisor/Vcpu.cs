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

    /// <summary>A write to an ioeventfd address (a virtqueue notify): one exit handled in KVM, which signals the eventfd.</summary>
    IoEventFd,

    /// <summary>
    /// s390 SIGP EXTERNAL CALL to another VCPU (the guest's <c>pcpu_ec_call</c>, decision 0055 addendum):
    /// interpreted by the machine without an exit, or an intercept, as <see cref="Kvm.SigpExternalCall"/> decides.
    /// </summary>
    Sigp,
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

    /// <summary>
    /// Not an x86 hypercall: the s390 guest's DIAGNOSE 0x9c (directed yield, <c>smp_yield_cpu</c>), an
    /// instruction intercept that KVM handles in <c>__diag_time_slice_end_directed</c>
    /// (arch/s390/kvm/diag.c, 6.17; <see cref="Kvm.Diag9c"/>). It takes the same exit path as a
    /// hypercall here (decision 0055).
    /// </summary>
    Diag9c = 0x9c,
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

    /// <summary>Co-stopped by the co-scheduling comparator (decision 0040): blocked until co-started.</summary>
    CoStopped,
}

/// <summary>
/// A virtual CPU: a host task (the VCPU thread) whose body runs the guest while it is scheduled.
/// Guest operations progress only in guest mode on a CPU; exits, their handlers and re-entries
/// cost host CPU time; PAUSE loops exit after the PLE window; HLT blocks the thread until an
/// interrupt kicks it, like <c>kvm_vcpu_block</c> / <c>kvm_vcpu_kick</c> (virt/kvm/kvm_main.c, 2.6.39).
/// </summary>
public sealed partial class Vcpu : ITaskBody
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

        /// <summary>An ioeventfd write (virtqueue notify): the handler signals the eventfd at its end.</summary>
        IoEventFd,

        /// <summary>Gang co-scheduling (decision 0040): at VM entry, waiting on the CPU for the siblings to be placed (the entry's cost is still ahead).</summary>
        GangWait,

        /// <summary>
        /// s390: the SIGP instruction intercepted (intercept code ICPT_INST 0x04, ipa 0xae00;
        /// arch/s390/kvm/intercept.c → <c>kvm_s390_handle_sigp</c>), when SIGP interpretation is off.
        /// </summary>
        SigpInstruction,

        /// <summary>
        /// s390: the partial-execution intercept of an interpreted SIGP EXTERNAL CALL whose target waits
        /// (ICPT_PARTEXEC 0x38, ipa 0xae00; <c>handle_partial_execution</c> → <c>kvm_s390_handle_sigp_pei</c>).
        /// </summary>
        SigpPartialExecution,
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
    private IIoEventFd? _ioEventFd;
    private int _ipiVector;
    private Vcpu? _sigpTarget;       // s390: the target of the SIGP EXTERNAL CALL under way
    private bool _kickForExit;       // the armed kick timer forces an exit (else: an interrupt presented in SIE, s390)
    private int _irqVector = -1;
    private long _irqRemaining;
    private int _pending;            // KVM's IRR (the software LAPIC; with APICv, the virtual IRR after a PIR sync)
    private int _injectable;         // the part of _pending the guest can take in guest mode (decision 0062)
    private bool _sieExtCallPresented; // s390: the armed kick timer presents the external call in SIE (PresentInSie)
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
    private bool _rcuwaitActive;
    private long _haltStart = -1;
    private long _pollStart;
    private long _pollStop;
    private bool _pollEndedByTask;   // a task was queued on this CPU mid-poll: the poll ends (decision 0097)
    private long _gangWaitSince;

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
        // Only with IPIv (decision 0066): registering a timer otherwise would shift later timers' ids.
        if (kvm.Settings.Ipiv)
            _piWakeupTimer = new HrTimer(sim, h, (long)VcpuTimer.PiWakeup);
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

    /// <summary>
    /// <c>vcpu->preempted</c> (3.10): scheduled out while still runnable — preempted by the host, or
    /// put after its own <c>yield_to</c>/<c>sched_yield</c>, which leave the task TASK_RUNNING
    /// (<c>kvm_sched_out</c>; decision 0079). What the directed-yield walks read.
    /// </summary>
    public bool Preempted { get; private set; }

    /// <summary>
    /// Scheduled out by the host while runnable, not by its own yield (<see cref="StopReason.Preempted"/>).
    /// For diagnostics only (lock-holder preemption counts); no KVM decision reads it.
    /// </summary>
    public bool PreemptedByHost { get; private set; }

    /// <summary>
    /// Loaded on a host CPU: scheduled in and past the context switch (from <c>kvm_sched_in</c> →
    /// <c>kvm_arch_vcpu_load</c> to <c>kvm_sched_out</c> → <c>kvm_arch_vcpu_put</c>). On s390 this is when
    /// <c>vcpu-&gt;cpu &gt;= 0</c> and CPUSTAT_RUNNING is set (what a guest's SIGP SENSE RUNNING STATUS
    /// reads; kvm-s390.c, 6.17). A VCPU halt-polling in <c>kvm_vcpu_block</c> is still loaded.
    /// </summary>
    public bool Loaded => IsExecuting;

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
    /// 5.8+ <c>rcuwait_active(&amp;vcpu->wait)</c> (5.16+ <c>kvm_vcpu_is_blocking</c>): the task pointer is
    /// set by <c>prepare_to_rcuwait</c> when the halt blocks (after any poll) and cleared only by
    /// <c>finish_rcuwait</c>, which the VCPU thread runs itself once it is scheduled again;
    /// <c>rcuwait_wake_up</c> leaves it set (kernel/exit.c, include/linux/rcuwait.h). So it stays true
    /// from the block until the woken thread runs, unlike <see cref="WaitQueueActive"/>. What the
    /// walk reads with <see cref="DirectedYieldOptions.BlockingUntilRun"/> (decision 0097).
    /// </summary>
    public bool RcuwaitActive => _rcuwaitActive;

    /// <summary>Woken from HLT (the wake-up succeeded) but not yet run: <see cref="RcuwaitActive"/> without <see cref="WaitQueueActive"/>.</summary>
    public bool WokenNotRun => _rcuwaitActive && !_onWaitQueue;

    /// <summary>
    /// A KVM_REQ_EVENT request is pending: <c>__apic_accept_irq</c> makes it before it kicks for an
    /// interrupt KVM puts in the IRR (an IPI, an MSI; not a posted one), and <c>vcpu_enter_guest</c>
    /// consumes it at the next entry. The LAPIC timer's expiry does not make it
    /// (<c>apic_timer_expired</c>: KVM_REQ_PENDING_TIMER, 6.x KVM_REQ_UNBLOCK, then the kick; the
    /// timer interrupt is accepted by the VCPU itself when it runs). Read by <see cref="DyRunnable"/>.
    /// </summary>
    public bool EventRequested { get; internal set; }

    /// <summary>
    /// <c>vcpu_dy_runnable</c> → x86 <c>kvm_arch_dy_runnable</c> (arch/x86/kvm/x86.c, 5.3 and 6.x alike):
    /// <c>pv_unhalted</c>; a pending KVM_REQ_NMI, KVM_REQ_SMI or KVM_REQ_EVENT request (the model makes
    /// only the last, <see cref="EventRequested"/>); or <c>kvm_arch_dy_has_pending_interrupt</c> (APICv and
    /// ON in the posted-interrupt descriptor). The async-PF "done" list the generic function also reads
    /// is not modelled.
    /// </summary>
    public bool DyRunnable => PvUnhalted || EventRequested || ArchDyHasPendingInterrupt();

    /// <summary>
    /// 3.7's dy_eligible bookkeeping (<c>vcpu->spin_loop</c>): in a spin loop from the start of the
    /// PAUSE handler until it returns (the time descheduled in a successful yield_to included), and
    /// the flag <c>kvm_vcpu_eligible_for_directed_yield</c> flips each time it looks.
    /// </summary>
    public bool InSpinLoop { get; internal set; }
    public bool DyEligible { get; internal set; }

    /// <summary>
    /// 5.3 <c>vcpu->ready</c>: set when the thread is scheduled out still runnable (<c>kvm_sched_out</c>
    /// with the task TASK_RUNNING: preempted, or after its own yield; decision 0079) and when
    /// <c>kvm_vcpu_wake_up</c> wakes it; cleared when it is scheduled in.
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

    /// <summary>Ground truth: the host CPU whose queue this VCPU's thread is on while runnable, -1 while it is blocked (<see cref="Vm.StackedNs"/>).</summary>
    internal int QueuedOnCpu = -1;

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
    /// (preempted or yielded: <c>kvm_sched_out</c> with the task RUNNING) — and before 5.19 also when
    /// it blocks (<see cref="KvmSettings.StealTimePreemptedOnBlock"/>, decision 0081) — cleared by
    /// <c>record_steal_time</c> at its next entry. What the guest's <c>vcpu_is_preempted</c> reads.
    /// </summary>
    public bool StealTimePreempted { get; private set; }

    /// <summary>Co-stopped (decision 0040): the thread is blocked by the co-scheduler until it is co-started.</summary>
    public bool CoStopped { get; private set; }

    /// <summary>A co-stop is decided and takes effect at the VCPU's next VM entry.</summary>
    public bool CoStopPending { get; private set; }

    /// <summary>A spin with a loop limit (<see cref="Spin(ISpinTarget, long, bool, long)"/>) ended because the limit ran out.</summary>
    public bool SpinTimedOut { get; private set; }

    public override string ToString() => $"{Vm.Name}/vcpu{Index}";
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

    /// <summary>Blocks (halts) at which KVM marked the VCPU preempted in steal time (<see cref="KvmSettings.StealTimePreemptedOnBlock"/>, decision 0081).</summary>
    public long BlocksMarkedPreempted;

    /// <summary>KVM_HC_SEND_IPI hypercalls this VCPU made, and the destinations they carried (each would have been one ICR-write exit).</summary>
    public long PvSendIpis, PvSendIpiTargets;

    /// <summary>
    /// s390 SIGP EXTERNAL CALLs this VCPU issued (decision 0055 addendum), and how they went: executed by
    /// the SIGP interpretation facility without an exit and accepted; answered "external call pending"
    /// (condition code 1, status stored: the target had one pending, no new interrupt); intercepted as an
    /// instruction (ICPT_INST, KVM's <c>instruction_sigp_external_call</c>); intercepted for partial
    /// execution because the target waited (ICPT_PARTEXEC).
    /// </summary>
    public long SigpExternalCalls, SigpInterpreted, SigpBusy, SigpInstIntercepts, SigpPeiIntercepts;

    /// <summary>ioeventfd exits (virtqueue notifications handled in KVM, decision 0045).</summary>
    public long IoEventFdExits;
    public long LockHolderPreemptedNs;

    /// <summary>Halt polling (4.0+): polls started, polls that saw a wake-up condition (no block, no wake-up), time spent polling (ns).</summary>
    public long HaltPollAttempts, HaltPollSuccessful, HaltPollNs;

    /// <summary>Polls ended because another task was queued on the poller's CPU (<c>single_task_running()</c> false; decision 0097); they block as a poll that ran out does.</summary>
    public long HaltPollEndedByTask;

    /// <summary>Co-scheduling (decision 0040): times the thread blocked co-stopped, and times it was co-started from it.</summary>
    public long CoStops, CoStarts;

    /// <summary>Gang: times the VCPU waited at its entry on its CPU for siblings to be placed, and the time it waited there (ns).</summary>
    public long GangWaits, GangWaitNs;
}

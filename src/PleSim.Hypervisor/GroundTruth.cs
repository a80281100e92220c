using System.Runtime.CompilerServices;
using PleSim.Host;

namespace PleSim.Hypervisor;

// Ground truth (docs/ground-truth.md, decision 0013). Everything in this file is an oracle's view:
// the simulator knows who holds a lock and who owes an acknowledgement, KVM does not. These
// classifications are read-only and feed statistics and traces only; no scheduling, PLE or
// guest decision may ever read them.

/// <summary>
/// Why a spinning VCPU is still spinning, at this instant (one cause at a time; the first that
/// applies in declaration order of the groups below wins). Spin time split by cause adds up to
/// <see cref="VcpuTime.GuestSpin"/> exactly. New causes go before <see cref="Other"/>.
/// </summary>
public enum SpinCause
{
    /// <summary>The lock holder's VCPU is not on a CPU (preempted, yielded, or descheduled by the PAUSE handler).</summary>
    HolderPreempted,

    /// <summary>The lock holder's VCPU is on a CPU but outside guest mode (an exit being handled, VM entry, QEMU userspace).</summary>
    HolderInExit,

    /// <summary>Ticket lock released to the next waiter, whose VCPU is not on a CPU (the lock waits for it; everyone behind spins).</summary>
    NextWaiterPreempted,

    /// <summary>Ticket lock released to the next waiter, whose VCPU is on a CPU but outside guest mode (e.g. in its own PAUSE exit).</summary>
    NextWaiterInExit,

    /// <summary>TLB-flush / call-function wait: a VCPU that owes the acknowledgement is preempted (runnable, not on a CPU).</summary>
    AckOwedPreempted,

    /// <summary>An acknowledgement is owed by a halted VCPU (in HLT, or woken by the IPI and not yet running).</summary>
    AckOwedHalted,

    /// <summary>
    /// An acknowledgement is owed by a VCPU in guest mode with interrupts disabled (spinning on or
    /// holding a <c>spin_lock_irqsave</c> lock): the IPI waits for the re-enable (decision 0012).
    /// </summary>
    AckOwedIrqsOff,

    /// <summary>Every VCPU owing an acknowledgement is on a CPU: the IPI is being delivered or handled.</summary>
    AckInFlight,

    /// <summary>Plain contention: the holder runs guest code (or the hand-over to a running waiter is in progress).</summary>
    Contention,

    /// <summary>
    /// Guest mutex optimistic spinning (<c>mutex_spin_on_owner</c>, 2.6.39 kernel/sched.c): the
    /// mutex owner is the current thread of a VCPU that runs guest code — the spin the kernel means
    /// to do, waiting for an owner that is about to release.
    /// </summary>
    MutexOwnerRunning,

    /// <summary>
    /// Guest mutex optimistic spinning while the owner's VCPU is not in guest mode (off CPU, halted
    /// or in an exit): the guest still sees the owner "on a CPU" (<c>owner->on_cpu</c>) and spins;
    /// a 4.10+ guest stops once <c>vcpu_is_preempted</c> says so.
    /// </summary>
    MutexOwnerPreempted,

    /// <summary>
    /// A sleeping lock's optimistic spin on a <c>rw_semaphore</c> (5.3 family, <c>rwsem_optimistic_spin</c>)
    /// that nobody holds but whose RWSEM_FLAG_HANDOFF reserves it for the first waiter in the queue:
    /// no spinner can take it (<c>rwsem_try_read_lock_unqueued</c> and <c>rwsem_try_write_lock_unqueued</c>
    /// refuse) until that waiter has. In Linux 5.3–5.10 the waiter can be asleep with nobody left to
    /// wake it (docs/anomalies/rwsem-5-3-reader-spin-lost-wakeup.md).
    /// </summary>
    HandoffReserved,

    /// <summary>The spin target does not classify (none of the shipped targets).</summary>
    Other,
}

/// <summary>What a candidate VCPU is to a spinner, at this instant (for labelling yield_to).</summary>
public enum SpinRelation
{
    /// <summary>Not involved in what the spinner waits for.</summary>
    Unrelated,

    /// <summary>Holds the lock the spinner spins on.</summary>
    Holder,

    /// <summary>Ticket lock: the first waiter in line (the next owner), ahead of the spinner.</summary>
    NextWaiter,

    /// <summary>Ticket lock: a waiter ahead of the spinner, but not the next one.</summary>
    WaiterAhead,

    /// <summary>Owes the spinner a TLB-flush / call-function acknowledgement.</summary>
    AckDebtor,

    /// <summary>Spins on the same lock and is not ahead (behind in ticket order, or any co-spinner of a test-and-set lock).</summary>
    OtherSpinner,
}

/// <summary>
/// The label of one yield_to call of a directed-yield walk: a success by what the boosted VCPU
/// was to the spinner when the call was made, a failure by the reason yield_to gave. Every call
/// gets exactly one label.
/// </summary>
public enum YieldLabel
{
    Holder,
    NextWaiter,
    WaiterAhead,
    AckDebtor,
    OtherSpinner,
    Unrelated,
    FailedTargetRunning,
    FailedTargetNotRunnable,
    FailedTargetNotQueued,
    FailedOtherClass,
    FailedBothQueuesSingle,
    FailedOther,
}

/// <summary>Where a VCPU is, as the ground-truth classification sees it (derived from its accounting category).</summary>
public enum VcpuPresence
{
    /// <summary>On a CPU in guest mode (guest code or spinning).</summary>
    InGuest,

    /// <summary>On a CPU outside guest mode (exit, entry, QEMU userspace).</summary>
    InExit,

    /// <summary>Blocked on its wait queue (HLT or the pre-2011 PLE sleep), including woken but not yet running.</summary>
    Halted,

    /// <summary>Runnable but not on a CPU (preempted, yielded, not started).</summary>
    OffCpu,

    /// <summary>Co-stopped by the co-scheduling comparator (decision 0040): off its CPU and not runnable until co-started.</summary>
    CoStopped,
}

/// <summary>
/// Ground truth (oracle, read-only) taken just before a directed yield's <c>yield_to</c>, for its
/// statistics: what the target was to the spinner (<see cref="Vcpu.SpinRelationTo"/>). Opaque to
/// the handler that takes it: it can only hand it to <see cref="Kvm.CountYieldTo(Vcpu, Vcpu, YieldToWitness, YieldToResult)"/>,
/// so the walk's choices cannot depend on it (a test holds decision code to that).
/// </summary>
public readonly struct YieldToWitness
{
    private YieldToWitness(SpinRelation relation) => Relation = relation;

    internal SpinRelation Relation { get; }

    /// <summary>What <paramref name="target"/> is to <paramref name="spinner"/>'s spin now.</summary>
    public static YieldToWitness Before(Vcpu spinner, Vcpu target) => new(spinner.SpinRelationTo(target));
}

/// <summary>Names and mappings of the ground-truth categories (metric keys use these names).</summary>
public static class GroundTruth
{
    public static readonly SpinCause[] Causes = Enum.GetValues<SpinCause>();
    public static readonly YieldLabel[] Labels = Enum.GetValues<YieldLabel>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VcpuPresence Presence(VcpuTime category) => category switch
    {
        VcpuTime.GuestRun or VcpuTime.GuestSpin => VcpuPresence.InGuest,
        VcpuTime.PauseExit or VcpuTime.OtherExit or VcpuTime.Userspace => VcpuPresence.InExit,
        VcpuTime.Halted or VcpuTime.PleSleep => VcpuPresence.Halted,
        VcpuTime.CoStopped => VcpuPresence.CoStopped,
        _ => VcpuPresence.OffCpu,
    };

    /// <summary>The cause when the lock has a holder: by where the holder's VCPU is.</summary>
    public static SpinCause HolderCause(Vcpu holder) => holder.Presence switch
    {
        VcpuPresence.InGuest => SpinCause.Contention,
        VcpuPresence.InExit => SpinCause.HolderInExit,
        _ => SpinCause.HolderPreempted,
    };

    /// <summary>The cause when a ticket lock is free and reserved for <paramref name="next"/>.</summary>
    public static SpinCause NextWaiterCause(Vcpu next) => next.Presence switch
    {
        VcpuPresence.InGuest => SpinCause.Contention,
        VcpuPresence.InExit => SpinCause.NextWaiterInExit,
        _ => SpinCause.NextWaiterPreempted,
    };

    /// <summary>The cause a single VCPU owing an acknowledgement contributes (the worst over all debtors applies).</summary>
    public static SpinCause AckCause(Vcpu debtor) => debtor.Presence switch
    {
        VcpuPresence.OffCpu or VcpuPresence.CoStopped => SpinCause.AckOwedPreempted,
        VcpuPresence.Halted => SpinCause.AckOwedHalted,
        _ => SpinCause.AckInFlight,
    };

    public static YieldLabel Label(YieldToResult result, SpinRelation relation) => result switch
    {
        YieldToResult.Success => relation switch
        {
            SpinRelation.Holder => YieldLabel.Holder,
            SpinRelation.NextWaiter => YieldLabel.NextWaiter,
            SpinRelation.WaiterAhead => YieldLabel.WaiterAhead,
            SpinRelation.AckDebtor => YieldLabel.AckDebtor,
            SpinRelation.OtherSpinner => YieldLabel.OtherSpinner,
            _ => YieldLabel.Unrelated,
        },
        YieldToResult.TargetRunning => YieldLabel.FailedTargetRunning,
        YieldToResult.TargetNotRunnable => YieldLabel.FailedTargetNotRunnable,
        YieldToResult.TargetNotQueued => YieldLabel.FailedTargetNotQueued,
        YieldToResult.OtherClass => YieldLabel.FailedOtherClass,
        YieldToResult.BothQueuesSingle => YieldLabel.FailedBothQueuesSingle,
        _ => YieldLabel.FailedOther,
    };

    /// <summary>True for relations that mean "running it brings the release closer" (the old yield_to "hit").</summary>
    public static bool IsWaitedOn(SpinRelation r) => r is SpinRelation.Holder or SpinRelation.NextWaiter or SpinRelation.WaiterAhead or SpinRelation.AckDebtor;

    public static string Name(SpinCause c) => c switch
    {
        SpinCause.HolderPreempted => "holder_preempted",
        SpinCause.HolderInExit => "holder_in_exit",
        SpinCause.NextWaiterPreempted => "next_waiter_preempted",
        SpinCause.NextWaiterInExit => "next_waiter_in_exit",
        SpinCause.AckOwedPreempted => "ack_owed_preempted",
        SpinCause.AckOwedHalted => "ack_owed_halted",
        SpinCause.AckOwedIrqsOff => "ack_owed_irqs_off",
        SpinCause.AckInFlight => "ack_in_flight",
        SpinCause.Contention => "contention",
        SpinCause.MutexOwnerRunning => "mutex_owner_running",
        SpinCause.MutexOwnerPreempted => "mutex_owner_preempted",
        SpinCause.HandoffReserved => "handoff_reserved",
        _ => "other",
    };

    public static string Name(YieldLabel l) => l switch
    {
        YieldLabel.Holder => "holder",
        YieldLabel.NextWaiter => "next_waiter",
        YieldLabel.WaiterAhead => "waiter_ahead",
        YieldLabel.AckDebtor => "ack_debtor",
        YieldLabel.OtherSpinner => "other_spinner",
        YieldLabel.Unrelated => "unrelated",
        YieldLabel.FailedTargetRunning => "failed_target_running",
        YieldLabel.FailedTargetNotRunnable => "failed_target_not_runnable",
        YieldLabel.FailedTargetNotQueued => "failed_target_not_queued",
        YieldLabel.FailedOtherClass => "failed_other_class",
        YieldLabel.FailedBothQueuesSingle => "failed_both_queues_single",
        _ => "failed_other",
    };
}

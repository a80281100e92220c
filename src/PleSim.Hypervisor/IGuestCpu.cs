namespace PleSim.Hypervisor;

/// <summary>Interrupt vectors the model delivers (a bit each).</summary>
public static class Vectors
{
    public const int Reschedule = 0;      // RESCHEDULE_VECTOR
    public const int Timer = 1;           // LOCAL_TIMER_VECTOR
    public const int CallFunction = 2;    // CALL_FUNCTION_VECTOR (TLB shootdown, smp_call_function)

    /// <summary>
    /// The MSI-X vector of a virtio-net receive queue (virtio_pci's per-virtqueue vector; the guest's
    /// handler is <c>vring_interrupt</c> → <c>skb_recv_done</c>), raised by the host through an irqfd.
    /// </summary>
    public const int VirtioNetInput = 3;
    public const int Count = 4;

    public static string Name(int v) => v switch
    {
        Reschedule => "resched",
        Timer => "timer",
        CallFunction => "call-function",
        VirtioNetInput => "virtio-net-input",
        _ => "vector" + v,
    };
}

/// <summary>
/// The guest kernel's side of one VCPU: what the "hardware" calls. The guest drives its VCPU only
/// through <see cref="Vcpu"/>'s operations (compute, spin, halt, send an IPI, exit to userspace);
/// it never sees the host scheduler.
/// </summary>
public interface IGuestCpu
{
    /// <summary>The last operation finished: start the next one.</summary>
    void OnOpDone(Vcpu vcpu);

    /// <summary>An interrupt is injected: return the guest time its handler takes.</summary>
    long OnInterrupt(Vcpu vcpu, int vector);

    /// <summary>The handler of <paramref name="vector"/> finished (effects such as need_resched take place here).</summary>
    void OnInterruptDone(Vcpu vcpu, int vector);

    /// <summary>True while the guest code on this VCPU holds a spinlock (for lock-holder preemption statistics).</summary>
    bool HoldsSpinlock(Vcpu vcpu);

    /// <summary>
    /// The guest's RFLAGS.IF: false while its code runs with interrupts disabled. A pending
    /// interrupt then waits until the guest re-enables them (it calls <see cref="Vcpu.OnInterruptsEnabled"/>).
    /// </summary>
    bool InterruptsEnabled(Vcpu vcpu) => true;

    /// <summary>
    /// The guest runs at CPL 0 (kernel mode) on this VCPU now: read by KVM when the VCPU thread is
    /// preempted (4.14 <c>preempted_in_kernel</c>, for <c>yield_to_kernel_mode</c>). A guest that
    /// does not model user mode answers true.
    /// </summary>
    bool InKernelMode(Vcpu vcpu) => true;

    /// <summary>
    /// KVM just set this VCPU's steal-time <c>preempted</c> flag (<see cref="Vcpu.StealTimePreempted"/>):
    /// guest code polling it (<c>vcpu_is_preempted</c> in an owner-spin loop) may stop. Called from the
    /// host's context switch: the guest must not start VCPU operations from here (defer them).
    /// </summary>
    void OnStealTimePreempted(Vcpu vcpu) { }
}

/// <summary>A lock word a VCPU spins on: asked again each time the VCPU could observe a change.</summary>
public interface ISpinTarget
{
    /// <summary>Try to take it (the ticket or flag check at the end of a PAUSE loop iteration).</summary>
    bool TryAcquire(Vcpu vcpu, long token);

    /// <summary>
    /// True if <paramref name="spinner"/> (spinning with <paramref name="token"/>) waits on
    /// <paramref name="candidate"/>: running it would bring the release closer (the holder, a
    /// ticket waiter ahead, a VCPU that owes an acknowledgement). A diagnostic only: KVM cannot
    /// know this; it tells whether a directed yield boosted the right VCPU.
    /// </summary>
    bool WaitsOn(Vcpu spinner, long token, Vcpu candidate) => false;

    /// <summary>
    /// Ground truth (oracle, read-only; docs/ground-truth.md): why <paramref name="spinner"/> is
    /// still spinning at this instant. The target must tell its spinners to re-classify
    /// (<see cref="Vcpu.ReclassifySpin()"/>) whenever its own state changes the answer (owner, next
    /// waiter, acknowledgements owed); changes of other VCPUs' presence reach spinners through
    /// <see cref="Vm.ReclassifySpinners"/>. Never used by any decision of the model.
    /// </summary>
    SpinCause Cause(Vcpu spinner, long token) => SpinCause.Other;

    /// <summary>Ground truth (oracle, read-only): what <paramref name="candidate"/> is to <paramref name="spinner"/> (labels yield_to calls).</summary>
    SpinRelation Relation(Vcpu spinner, long token, Vcpu candidate) => SpinRelation.Unrelated;
}

/// <summary>
/// An eventfd KVM signals when the guest writes a registered I/O address (<c>KVM_IOEVENTFD</c>,
/// virt/kvm/eventfd.c <c>ioeventfd_write</c> → <c>eventfd_signal</c>): the virtqueue notification of
/// a vhost device. <see cref="Signal"/> runs on the host CPU of the exiting VCPU, inside the exit.
/// </summary>
public interface IIoEventFd
{
    /// <summary><c>eventfd_signal</c> → the eventfd's wait queue (for vhost: <c>vhost_poll_wakeup</c>), on <paramref name="cpu"/>.</summary>
    void Signal(int cpu);
}

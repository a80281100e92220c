namespace PleSim.Hypervisor;

/// <summary>
/// The posted-interrupt descriptor of a VCPU (<c>struct pi_desc</c>, arch/x86/kvm/vmx/posted_intr.h,
/// 5.13): the posted-interrupt requests (PIR, one bit per vector) and the outstanding-notification bit
/// ON. The SN/NV/NDST fields serve VT-d device posting and the blocked-VCPU wake-up vector; only IPI
/// virtualization (decision 0066) needs SN here (NV and NDST follow from the VCPU's state: the wake-up
/// vector while it is blocked with interrupts enabled, else POSTED_INTR_VECTOR to the CPU it last ran on).
/// </summary>
public struct PiDesc
{
    /// <summary>PIR: the vectors posted and not yet moved into the virtual APIC's IRR (bit = <see cref="Vectors"/> index).</summary>
    public int Pir;

    /// <summary>ON: a notification is outstanding (set by the poster, cleared when the PIR is synced).</summary>
    public bool On;

    /// <summary>
    /// SN (suppress notification): set by <c>vmx_vcpu_pi_put</c> (posted_intr.c, 5.19) when the VCPU is
    /// scheduled out still runnable (<c>vcpu->preempted</c>), cleared by <c>vmx_vcpu_pi_load</c>. Only
    /// maintained with IPIv (<c>vmx_needs_pi_wakeup</c>; without it, or VT-d posting, both return early).
    /// </summary>
    public bool Sn;
}

/// <summary>A VCPU: APICv posted interrupts (decision 0060; only with <see cref="KvmSettings.Apicv"/>).</summary>
public sealed partial class Vcpu
{
    /// <summary><c>vmx->pi_desc</c>.</summary>
    public PiDesc PiDesc;

    // Per vector: when the oldest IPI still undelivered was sent (KVM's delivery), -1: none (measurement only).
    private readonly long[] _ipiSentAt = NewIpiSentAt();

    // Per vector: the oldest undelivered IPI found this VCPU in guest mode when KVM delivered it (measurement only).
    private readonly bool[] _ipiSentInGuestMode = new bool[Vectors.Count];

    private static long[] NewIpiSentAt()
    {
        var a = new long[Vectors.Count];
        Array.Fill(a, -1L);
        return a;
    }

    /// <summary>Measurement: an IPI for <paramref name="vector"/> was delivered by KVM now (the oldest undelivered one is kept).</summary>
    internal void NoteIpiSent(int vector)
    {
        if (_ipiSentAt[vector] < 0)
        {
            _ipiSentAt[vector] = _kvm.Sim.Now.Ns;
            _ipiSentInGuestMode[vector] = InGuestMode;
        }
    }

    /// <summary>Measurement: the guest's handler for <paramref name="vector"/> starts; an IPI's delivery latency is counted.</summary>
    private void NoteIpiTaken(int vector)
    {
        long at = _ipiSentAt[vector];
        if (at < 0)
            return;
        _ipiSentAt[vector] = -1;
        PiStats.IpisTaken++;
        PiStats.IpiLatencyNs += _kvm.Sim.Now.Ns - at;
        if (_ipiSentInGuestMode[vector])
        {
            PiStats.IpisTakenFromGuestMode++;
            PiStats.IpiLatencyFromGuestModeNs += _kvm.Sim.Now.Ns - at;
        }
    }

    /// <summary>Counters of posted-interrupt delivery (zero without APICv).</summary>
    public PostedInterruptStats PiStats { get; } = new();

    /// <summary><c>pi_test_on</c>: a posted interrupt is outstanding.</summary>
    public bool PiTestOn => PiDesc.On;

    /// <summary>
    /// x86 <c>kvm_arch_dy_has_pending_interrupt</c> (arch/x86/kvm/x86.c, 5.13; the 5.3 test of
    /// <c>kvm_arch_dy_runnable</c> it was split out of): <c>vcpu->arch.apicv_active</c> and
    /// <c>vmx_dy_apicv_has_pending_interrupt</c>, i.e. <c>pi_test_on(vcpu_to_pi_desc(vcpu))</c>.
    /// A lockless peek at another VCPU's descriptor, as in the kernel. Since 5.8 (Wanpeng Li's
    /// <c>vmx_dy_apicv_has_pending_interrupt</c>, later <c>pi_has_pending_interrupt</c>, posted_intr.c
    /// 5.16+) also true when SN is set and the PIR is not empty: the IPIv case of a preempted target,
    /// whose posts set no ON (decision 0066). SN is never set without IPIv.
    /// </summary>
    public bool ArchDyHasPendingInterrupt() => _kvm.Settings.Apicv && (PiDesc.On || (PiDesc.Sn && PiDesc.Pir != 0));

    /// <summary><c>pi_test_and_set_pir</c>: posts <paramref name="vector"/>; true when it was already posted.</summary>
    internal bool PiTestAndSetPir(int vector)
    {
        int bit = 1 << vector;
        bool was = (PiDesc.Pir & bit) != 0;
        PiDesc.Pir |= bit;
        return was;
    }

    /// <summary><c>pi_test_and_set_on</c>: true when a notification was already outstanding.</summary>
    internal bool PiTestAndSetOn()
    {
        bool was = PiDesc.On;
        PiDesc.On = true;
        return was;
    }

    /// <summary>
    /// <c>vmx_sync_pir_to_irr</c> (vmx.c, 5.13; called from <c>vcpu_enter_guest</c> before every VM entry
    /// and from <c>kvm_cpu_has_interrupt</c> in the halt checks), and the same work done by the CPU's
    /// posted-interrupt processing when the notification vector arrives in guest mode: clear ON, move
    /// the PIR into the virtual IRR. No-op without posted interrupts.
    /// </summary>
    internal void SyncPirToIrr()
    {
        if (!PiDesc.On && PiDesc.Pir == 0)
            return;
        PiDesc.On = false;
        if (PiDesc.Pir != 0)
        {
            _pending |= PiDesc.Pir;
            PiDesc.Pir = 0;
            PiStats.PirSyncs++;
        }
    }

    /// <summary>
    /// <c>kvm_vcpu_trigger_posted_interrupt</c> (vmx.c, 5.13) found the VCPU in guest mode
    /// (<c>vcpu->mode == IN_GUEST_MODE</c>) and sent POSTED_INTR_VECTOR to its CPU: after the host IPI's
    /// latency the CPU processes the descriptor in guest mode (no VM exit) and the guest takes the
    /// interrupt where it is (or when it sets RFLAGS.IF again). If the VCPU has left guest mode by then,
    /// the host's notification handler does nothing and the PIR is synced at the next entry.
    /// </summary>
    internal void SendPostedInterruptNotification(PleSim.Engine.SimDuration after)
    {
        PiStats.Notifications++;
        var when = _kvm.Sim.Now + after;
        if (!_kickTimer.IsArmed || _kickTimer.Expires > when)
            _kickTimer.Start(when);
    }

    /// <summary>
    /// <c>vmx_vcpu_pi_put</c> with IPIv (posted_intr.c, 5.19): a VCPU scheduled out still runnable
    /// (<c>vcpu->preempted</c>) gets SN, so the CPU posts IPIs to it without notifications. (A blocking
    /// one with interrupts enabled gets the wake-up vector instead, <c>pi_enable_wakeup_handler</c>; the
    /// model derives that from the VCPU's state when an IPI is posted, <see cref="Kvm.IpivSendIpi"/>.)
    /// </summary>
    private void VmxVcpuPiPut(bool stillRunnable)
    {
        if (_kvm.Settings.Ipiv && stillRunnable)
            PiDesc.Sn = true;
    }

    /// <summary>
    /// <c>vmx_vcpu_pi_load</c> with IPIv (posted_intr.c, 5.19): clear SN, then set ON if the PIR is not
    /// empty (what was posted while SN was set), so the entry's <c>vmx_sync_pir_to_irr</c> moves it.
    /// </summary>
    private void VmxVcpuPiLoad()
    {
        if (!PiDesc.Sn)
            return;
        PiDesc.Sn = false;
        if (PiDesc.Pir != 0)
            PiDesc.On = true;
    }

    // The POSTED_INTR_WAKEUP_VECTOR reaching the CPU a blocked VCPU waits on (IPIv only; null otherwise).
    private readonly PleSim.Engine.HrTimer? _piWakeupTimer;

    /// <summary>
    /// IPIv: the CPU sent the wake-up vector to the CPU this VCPU blocked on; <c>pi_wakeup_handler</c>
    /// runs there after <paramref name="after"/>.
    /// </summary>
    internal void SendPiWakeupVector(PleSim.Engine.SimDuration after)
    {
        var when = _kvm.Sim.Now + after;
        if (!_piWakeupTimer!.IsArmed || _piWakeupTimer.Expires > when)
            _piWakeupTimer.Start(when);
    }

    /// <summary>
    /// <c>pi_wakeup_handler</c> (posted_intr.c, 5.19) on the CPU the VCPU blocked on: for each VCPU on
    /// that CPU's wake-up list with ON set, <c>kvm_vcpu_wake_up</c>. A VCPU no longer blocked (woken
    /// otherwise, or its ON consumed by a sync) is left alone.
    /// </summary>
    private void OnPiWakeup()
    {
        if (!PiDesc.On || !WaitQueueActive || Mode != VcpuMode.Halted)
            return;
        PiStats.IpivWakeups++;
        _kvm.KvmVcpuWakeUp(this, Task.Cpu);
    }
}

/// <summary>Per-VCPU counters of APICv posted-interrupt delivery (decision 0060).</summary>
public sealed class PostedInterruptStats
{
    /// <summary>Interrupts posted (<c>vmx_deliver_posted_interrupt</c> calls that set a new PIR bit).</summary>
    public long Posted;

    /// <summary>Posts that found the vector already in the PIR, or ON already set (no new notification or kick).</summary>
    public long Coalesced;

    /// <summary>Notification vectors sent to a VCPU in guest mode (an interrupt delivered without a VM exit).</summary>
    public long Notifications;

    /// <summary>Posts to a VCPU not in guest mode: <c>kvm_vcpu_kick</c> (wakes a halted one; otherwise the PIR waits for the next entry).</summary>
    public long Kicks;

    /// <summary>Times a non-empty PIR was moved into the virtual IRR (at VM entry, in the halt checks, or by notification processing).</summary>
    public long PirSyncs;

    /// <summary>
    /// Vectors the CPU's posted-interrupt processing moved into the virtual IRR in guest mode (a
    /// notification that arrived while the VCPU was still in the guest): delivered without a VM exit,
    /// taken at once or when the guest next sets RFLAGS.IF.
    /// </summary>
    public long DeliveredWithoutExit;

    /// <summary>IPIv (decision 0066), on the sender: ICR writes the CPU virtualized (no VM exit).</summary>
    public long IpivSent;

    /// <summary>IPIv, on the target: IPIs the CPU posted (new or not), those that found SN set (PIR only, synced at the next entry), and wake-ups by the wake-up vector.</summary>
    public long IpivPosted, IpivSuppressed, IpivWakeups;

    /// <summary>
    /// Measurement, with or without APICv: IPIs whose guest handler started, and the summed time from
    /// KVM's delivery (end of the sender's ICR-write or PV send-IPI handler) to the handler's start (ns).
    /// </summary>
    public long IpisTaken, IpiLatencyNs;

    /// <summary>
    /// The same for the IPIs whose target was running in guest mode when KVM delivered them (decision
    /// 0062: without APICv at least the kick latency plus one exit and one entry).
    /// </summary>
    public long IpisTakenFromGuestMode, IpiLatencyFromGuestModeNs;
}

namespace PleSim.Hypervisor;

/// <summary>
/// Per-VCPU IPI context of the series' patch 6 (<c>vcpu->arch.ipi_context</c>): the VCPU index
/// this VCPU last sent a tracked IPI to, whether that IPI is still unacknowledged, when it was
/// sent, and the index of the VCPU that last sent one to this VCPU (−1: none). Reset at VCPU
/// creation (<c>kvm_vcpu_reset_ipi_context</c>: −1, −1, false, time 0).
/// </summary>
public struct IpiContext
{
    public int LastIpiReceiver;
    public int LastIpiSender;
    public bool PendingIpi;
    public long IpiTimeNs;

    public static IpiContext Reset => new() { LastIpiReceiver = -1, LastIpiSender = -1 };
}

/// <summary>The tier by which <see cref="IpiAwareYield.IsGoodYieldCandidate"/> accepted a candidate, or why not.</summary>
public enum YieldCandidateTier
{
    /// <summary>Priority 1: a confirmed IPI receiver of the spinner inside the recency window.</summary>
    IpiReceiver,

    /// <summary>Priority 2: <c>kvm_arch_dy_has_pending_interrupt</c> (x86: only with APICv, <c>kvm.apicv</c>, decision 0060).</summary>
    PendingInterrupt,

    /// <summary>Priority 3: preempted (and preempted in kernel mode when yielding to kernel mode).</summary>
    Preempted,

    /// <summary>Rejected: not preempted, or preempted in user mode while yielding to kernel mode.</summary>
    Rejected,
}

/// <summary>Counters of the IPI-aware directed yield, per VM (the <c>*.ipi_aware_*</c> metrics).</summary>
public sealed class IpiAwareStats
{
    /// <summary>Unicast fixed IPIs recorded at delivery (<c>kvm_track_ipi_communication</c>).</summary>
    public long IpisTracked;

    /// <summary>EOIs that ran the clearing, and those whose second stage cleared the sender's pending flag.</summary>
    public long Eois, SenderPendingCleared;

    /// <summary>First-walk candidates accepted by tier (indexed by <see cref="YieldCandidateTier"/>; Rejected = skipped).</summary>
    public readonly long[] Tiers = new long[4];

    /// <summary>Successful yield_to calls whose target was accepted as an IPI receiver (priority 1).</summary>
    public long YieldsToIpiReceiver;

    /// <summary>Second (relaxed, preempted-only) walks run, candidates they skipped as not preempted, and their successful yield_to calls.</summary>
    public long RelaxedRounds, RelaxedSkippedNotPreempted, RelaxedYields;
}

/// <summary>
/// The KVM half of Wanpeng Li's unmerged series "sched/kvm: Semantics-aware vCPU scheduling for
/// oversubscribed KVM" (v2, 2025-12-19, patches 6-9 against v6.19-rc1; decision 0052): IPI
/// tracking at unicast fixed-IPI delivery, its two-stage clearing at EOI, and the three-tier
/// candidate test of <c>kvm_vcpu_on_spin</c>. Times are the host's monotonic clock
/// (<c>ktime_get_mono_fast_ns</c>), the simulation clock here.
/// </summary>
public static class IpiAwareYield
{
    /// <summary>
    /// Patch 7, the hook in <c>kvm_irq_delivery_to_apic</c> (and its fast path): an IPI from a
    /// LAPIC (an ICR write), delivery mode fixed, no shorthand, delivered to exactly one VCPU other
    /// than the sender → patch 6 <c>kvm_track_ipi_communication</c>: the sender records the
    /// receiver, sets its pending flag and the time; the receiver records the sender.
    /// </summary>
    public static void TrackIpiCommunication(Vcpu sender, Vcpu receiver, long nowNs, bool trackingEnabled)
    {
        if (sender == receiver || !trackingEnabled)
            return;
        sender.Ipi.LastIpiReceiver = receiver.Index;
        sender.Ipi.PendingIpi = true;
        sender.Ipi.IpiTimeNs = nowNs;
        receiver.Ipi.LastIpiSender = sender.Index;
        sender.Vm.Stats.IpiAware.IpisTracked++;
    }

    /// <summary>
    /// Patch 6, <c>kvm_vcpu_is_ipi_receiver(sender, receiver)</c>: tracking on, the sender's IPI
    /// still pending, sent to <paramref name="receiver"/>, and at most <paramref name="windowNs"/>
    /// ago (the window's edge included).
    /// </summary>
    public static bool IsIpiReceiver(Vcpu sender, Vcpu receiver, long nowNs, long windowNs, bool trackingEnabled) =>
        trackingEnabled
        && sender.Ipi.PendingIpi
        && sender.Ipi.LastIpiReceiver == receiver.Index
        && nowNs - sender.Ipi.IpiTimeNs <= windowNs;

    /// <summary>
    /// Patch 7, <c>kvm_clear_ipi_on_eoi</c> (called after an EOI write to the APIC, and from
    /// <c>kvm_apic_set_eoi_accelerated</c>): stage 1 always clears the receiver's whole context
    /// (its pending flag and both indexes — also its own sender-side record); stage 2 clears the
    /// pending flag of the VCPU that last sent to it only if that VCPU's last receiver is this one
    /// and its IPI is inside the window. Any EOI counts, whatever its vector (v2).
    /// </summary>
    public static void ClearIpiOnEoi(Vcpu receiver, long nowNs, long windowNs, bool trackingEnabled)
    {
        if (!trackingEnabled)
            return;
        var stats = receiver.Vm.Stats.IpiAware;
        stats.Eois++;
        int senderIdx = receiver.Ipi.LastIpiSender;
        // kvm_vcpu_clear_ipi_context: the time stays.
        receiver.Ipi.PendingIpi = false;
        receiver.Ipi.LastIpiSender = -1;
        receiver.Ipi.LastIpiReceiver = -1;
        if (senderIdx < 0 || senderIdx >= receiver.Vm.Vcpus.Count)
            return;
        var sender = receiver.Vm.Vcpus[senderIdx];
        if (sender.Ipi.LastIpiReceiver == receiver.Index && nowNs - sender.Ipi.IpiTimeNs <= windowNs)
        {
            if (sender.Ipi.PendingIpi)
                stats.SenderPendingCleared++;
            sender.Ipi.PendingIpi = false;
        }
    }

    /// <summary>
    /// Patch 8, <c>kvm_vcpu_is_good_yield_candidate(me, vcpu, yield_to_kernel_mode)</c>, in its
    /// order: (1) a recent IPI receiver of <paramref name="me"/>; (2) the arch's fast
    /// pending-interrupt hint — on x86 <c>kvm_arch_dy_has_pending_interrupt</c> reads the posted
    /// interrupt descriptor, i.e. needs APICv (<c>kvm.apicv</c>; false without it, decision 0060);
    /// (3) preempted, and with <paramref name="yieldToKernelMode"/> preempted in kernel mode;
    /// otherwise rejected. Replaces 6.19's single test (skip a preempted user-mode candidate
    /// without a pending interrupt), so a candidate that is ready but not preempted (woken, not
    /// yet run) now passes only through tier 1 or 2.
    /// </summary>
    public static YieldCandidateTier IsGoodYieldCandidate(Vcpu me, Vcpu vcpu, bool yieldToKernelMode, long nowNs, long windowNs, bool trackingEnabled)
    {
        if (IsIpiReceiver(me, vcpu, nowNs, windowNs, trackingEnabled))
            return YieldCandidateTier.IpiReceiver;
        if (DyHasPendingInterrupt(vcpu))
            return YieldCandidateTier.PendingInterrupt;
        if (!vcpu.Preempted)
            return YieldCandidateTier.Rejected;
        if (yieldToKernelMode && !vcpu.PreemptedInKernel)
            return YieldCandidateTier.Rejected;
        return YieldCandidateTier.Preempted;
    }

    /// <summary>x86 <c>kvm_arch_dy_has_pending_interrupt</c>: APICv active and ON set in the posted-interrupt descriptor (<see cref="Vcpu.ArchDyHasPendingInterrupt"/>).</summary>
    public static bool DyHasPendingInterrupt(Vcpu vcpu) => vcpu.ArchDyHasPendingInterrupt();
}

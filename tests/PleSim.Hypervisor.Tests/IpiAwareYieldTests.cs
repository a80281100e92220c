using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>
/// The IPI-aware directed yield of Wanpeng Li's unmerged series (v2 patches 6-9, decision 0052):
/// the recency window, the two-stage EOI clearing and the candidate tiers as the patch text has
/// them, then hand-worked kvm_vcpu_on_spin walks (6.13 single walk) with and without the series.
/// </summary>
public class IpiAwareYieldTests
{
    private const long Window = 50_000_000;

    private static Vm ThreeVcpus()
    {
        var kit = new KvmKit(3, "directed-yield-6.13", new KvmSettings { IpiAwareYield = true });
        return kit.Vm("vm", 3).Vm;
    }

    [Fact]
    public void A_tracked_ipi_marks_its_receiver_for_the_window_edge_included_and_only_in_its_direction()
    {
        var vm = ThreeVcpus();
        var (v0, v1, v2) = (vm.Vcpus[0], vm.Vcpus[1], vm.Vcpus[2]);
        IpiAwareYield.TrackIpiCommunication(v0, v1, 1_000, trackingEnabled: true);
        Assert.Equal((1, true, 1_000L), (v0.Ipi.LastIpiReceiver, v0.Ipi.PendingIpi, v0.Ipi.IpiTimeNs));
        Assert.Equal(0, v1.Ipi.LastIpiSender);
        Assert.True(IpiAwareYield.IsIpiReceiver(v0, v1, 1_000 + Window, Window, true));
        Assert.False(IpiAwareYield.IsIpiReceiver(v0, v1, 1_000 + Window + 1, Window, true));
        Assert.False(IpiAwareYield.IsIpiReceiver(v0, v2, 1_000, Window, true));
        Assert.False(IpiAwareYield.IsIpiReceiver(v1, v0, 1_000, Window, true));
        Assert.False(IpiAwareYield.IsIpiReceiver(v0, v1, 1_000, Window, trackingEnabled: false));
        Assert.Equal(1, vm.Stats.IpiAware.IpisTracked);
    }

    [Fact]
    public void Self_ipis_and_ipis_with_tracking_off_are_not_recorded()
    {
        var vm = ThreeVcpus();
        var (v0, v1) = (vm.Vcpus[0], vm.Vcpus[1]);
        IpiAwareYield.TrackIpiCommunication(v0, v0, 1_000, true);
        IpiAwareYield.TrackIpiCommunication(v0, v1, 1_000, trackingEnabled: false);
        Assert.Equal(IpiContext.Reset, v0.Ipi);
        Assert.Equal(IpiContext.Reset, v1.Ipi);
        Assert.Equal(0, vm.Stats.IpiAware.IpisTracked);
    }

    [Fact]
    public void An_eoi_clears_the_receiver_and_the_matching_recent_sender()
    {
        var vm = ThreeVcpus();
        var (v0, v1) = (vm.Vcpus[0], vm.Vcpus[1]);
        IpiAwareYield.TrackIpiCommunication(v0, v1, 1_000, true);
        IpiAwareYield.ClearIpiOnEoi(v1, 2_000, Window, true);
        Assert.False(v0.Ipi.PendingIpi);
        Assert.False(IpiAwareYield.IsIpiReceiver(v0, v1, 2_000, Window, true));
        Assert.Equal(-1, v1.Ipi.LastIpiSender);
        Assert.Equal(1, v0.Ipi.LastIpiReceiver); // stage 2 clears only the sender's pending flag
        Assert.Equal(1, vm.Stats.IpiAware.SenderPendingCleared);
    }

    [Fact]
    public void An_eoi_leaves_the_sender_alone_when_it_has_since_sent_to_another_vcpu_or_its_ipi_is_old()
    {
        var vm = ThreeVcpus();
        var (v0, v1, v2) = (vm.Vcpus[0], vm.Vcpus[1], vm.Vcpus[2]);
        // v0 → v1, then v0 → v2: v1's EOI finds v0's last receiver is v2, so v0 stays pending.
        IpiAwareYield.TrackIpiCommunication(v0, v1, 1_000, true);
        IpiAwareYield.TrackIpiCommunication(v0, v2, 2_000, true);
        IpiAwareYield.ClearIpiOnEoi(v1, 3_000, Window, true);
        Assert.True(IpiAwareYield.IsIpiReceiver(v0, v2, 3_000, Window, true));
        Assert.Equal(-1, v1.Ipi.LastIpiSender);
        // v2's EOI after the window: the sender's flag is not cleared (it is stale anyway).
        IpiAwareYield.ClearIpiOnEoi(v2, 2_000 + Window + 1, Window, true);
        Assert.True(v0.Ipi.PendingIpi);
        Assert.False(IpiAwareYield.IsIpiReceiver(v0, v2, 2_000 + Window + 1, Window, true));
        Assert.Equal(0, vm.Stats.IpiAware.SenderPendingCleared);
    }

    [Fact]
    public void Stage_one_wipes_the_receivers_own_pending_ipi_too()
    {
        // v1 sent to v2 and is still waiting; v0's IPI to v1 is acknowledged: kvm_vcpu_clear_ipi_context
        // clears all of v1's context, so v2 is no longer v1's receiver.
        var vm = ThreeVcpus();
        var (v0, v1, v2) = (vm.Vcpus[0], vm.Vcpus[1], vm.Vcpus[2]);
        IpiAwareYield.TrackIpiCommunication(v1, v2, 1_000, true);
        IpiAwareYield.TrackIpiCommunication(v0, v1, 1_500, true);
        Assert.True(IpiAwareYield.IsIpiReceiver(v1, v2, 2_000, Window, true));
        IpiAwareYield.ClearIpiOnEoi(v1, 2_000, Window, true);
        Assert.False(IpiAwareYield.IsIpiReceiver(v1, v2, 2_000, Window, true));
        Assert.False(v0.Ipi.PendingIpi);
    }

    [Fact]
    public void The_ipi_receiver_tier_comes_before_the_preemption_fallback()
    {
        // Unstarted VCPUs are not preempted: only tier 1 accepts them.
        var vm = ThreeVcpus();
        var (v0, v1, v2) = (vm.Vcpus[0], vm.Vcpus[1], vm.Vcpus[2]);
        IpiAwareYield.TrackIpiCommunication(v0, v1, 0, true);
        Assert.Equal(YieldCandidateTier.IpiReceiver, IpiAwareYield.IsGoodYieldCandidate(v0, v1, true, 10, Window, true));
        Assert.Equal(YieldCandidateTier.Rejected, IpiAwareYield.IsGoodYieldCandidate(v0, v2, true, 10, Window, true));
        Assert.Equal(YieldCandidateTier.Rejected, IpiAwareYield.IsGoodYieldCandidate(v0, v1, true, 10, Window, trackingEnabled: false));
        Assert.Equal(YieldCandidateTier.Rejected, IpiAwareYield.IsGoodYieldCandidate(v0, v1, false, Window + 1, Window, true));
        Assert.False(IpiAwareYield.DyHasPendingInterrupt(v1));
    }

    /// <summary>
    /// Four CPUs, one VCPU pinned to each (6.13 single walk, last_boosted_vcpu = 0, so the walk
    /// examines 1, 2, 3). vcpu0 halts until kicked, then (optionally) sends vcpu1 an IPI by an ICR
    /// write and spins on a lock nobody frees. vcpu1 computes in guest user mode and is preempted
    /// by a nice −20 hog (preempted, not in kernel). vcpu2 sits in QEMU userspace (not ready).
    /// vcpu3 computes in kernel mode and is preempted by a hog, or sits in userspace.
    /// </summary>
    private static (Vm Vm, YieldToLog Log) Walk(KvmSettings settings, bool sendIpi, bool vcpu3Preempted = true)
    {
        var kit = new KvmKit(4, "directed-yield-6.13", settings);
        var (vm, g) = kit.Vm("vm", 4);
        var lk = new TestLock();
        g[0].Then(v => v.Halt());
        if (sendIpi)
            g[0].Then(v => v.SendIpi(vm.Vcpus[1], Vectors.CallFunction));
        g[0].Then(v => v.Spin(lk, 0));
        g[1].KernelMode = false;
        g[2].Then(v => v.ExitToUserspace(1_000_000_000));
        if (!vcpu3Preempted)
            g[3].Then(v => v.ExitToUserspace(1_000_000_000));
        kit.Kvm.Start(vm);
        for (int i = 0; i < 4; i++)
            kit.Host.SetAffinity(vm.Vcpus[i].Task, KvmKit.Cpu(i), 0);
        kit.RunUs(100);
        kit.UrgentHogs(vcpu3Preempted ? [1, 3] : [1]);
        for (int k = 0; k < 1000 && !(vm.Vcpus[1].Preempted && (!vcpu3Preempted || vm.Vcpus[3].Preempted)); k++)
            kit.RunUs(100);
        Assert.True(vm.Vcpus[1] is { Preempted: true, PreemptedInKernel: false });
        Assert.Equal(vcpu3Preempted, vm.Vcpus[3].Preempted);
        var log = new YieldToLog(vm);
        kit.Host.AddObserver(log);
        kit.KickAndRunOneWalk(vm);
        return (vm, log);
    }

    private static (int, YieldToResult)[] Calls(YieldToLog log) => [.. log.Calls];

    [Fact]
    public void Without_the_series_the_user_mode_receiver_is_skipped_and_the_kernel_mode_vcpu_is_boosted()
    {
        var (vm, log) = Walk(new KvmSettings(), sendIpi: true);
        Assert.Equal([(3, YieldToResult.Success)], Calls(log));
        Assert.Equal(1, vm.Stats.SkippedUserMode);
        Assert.Equal(0, vm.Stats.IpiAware.IpisTracked);
    }

    [Fact]
    public void With_the_series_the_recent_ipi_receiver_is_boosted_although_it_was_preempted_in_user_mode()
    {
        var (vm, log) = Walk(new KvmSettings { IpiAwareYield = true }, sendIpi: true);
        Assert.Equal([(1, YieldToResult.Success)], Calls(log));
        var ia = vm.Stats.IpiAware;
        Assert.Equal(1, ia.IpisTracked);
        Assert.Equal(1, ia.Tiers[(int)YieldCandidateTier.IpiReceiver]);
        Assert.Equal(1, ia.YieldsToIpiReceiver);
        Assert.Equal(0, ia.RelaxedRounds);
        Assert.Equal(0, vm.Stats.SkippedUserMode);
    }

    [Theory]
    [InlineData(false, 50_000_000)] // ipi_tracking_enabled = 0
    [InlineData(true, 1)] // the IPI is older than a 1 ns window when the walk looks
    public void Without_a_valid_ipi_record_the_fallback_rejects_the_user_mode_vcpu_and_boosts_the_preempted_kernel_one(bool tracking, long windowNs)
    {
        var (vm, log) = Walk(new KvmSettings { IpiAwareYield = true, IpiTracking = tracking, IpiWindow = new SimDuration(windowNs) }, sendIpi: true);
        Assert.Equal([(3, YieldToResult.Success)], Calls(log));
        var ia = vm.Stats.IpiAware;
        Assert.Equal(0, ia.Tiers[(int)YieldCandidateTier.IpiReceiver]);
        Assert.Equal(1, ia.Tiers[(int)YieldCandidateTier.Rejected]);
        Assert.Equal(1, ia.Tiers[(int)YieldCandidateTier.Preempted]);
    }

    [Fact]
    public void When_the_first_walk_finds_nobody_the_relaxed_walk_boosts_any_preempted_vcpu()
    {
        // No IPI, and vcpu3 is not ready: the strict walk rejects vcpu1 (user mode); the relaxed walk
        // only asks vcpu->preempted and boosts it.
        var (vm, log) = Walk(new KvmSettings { IpiAwareYield = true }, sendIpi: false, vcpu3Preempted: false);
        Assert.Equal([(1, YieldToResult.Success)], Calls(log));
        var ia = vm.Stats.IpiAware;
        Assert.Equal(1, ia.RelaxedRounds);
        Assert.Equal(1, ia.RelaxedYields);
        Assert.Equal(0, vm.Stats.WalksWithoutYield);
        // enable_relaxed_boost = 0: nothing is boosted, as without the series.
        var (vmOff, logOff) = Walk(new KvmSettings { IpiAwareYield = true, RelaxedBoost = false }, sendIpi: false, vcpu3Preempted: false);
        Assert.Empty(logOff.Calls);
        Assert.Equal(0, vmOff.Stats.IpiAware.RelaxedRounds);
        Assert.Equal(1, vmOff.Stats.WalksWithoutYield);
        var (vmBase, logBase) = Walk(new KvmSettings(), sendIpi: false, vcpu3Preempted: false);
        Assert.Empty(logBase.Calls);
        Assert.Equal(1, vmBase.Stats.SkippedUserMode);
    }
}

using PleSim.Engine;
using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>
/// Decision 0097, the walk as released: 5.8+ skips a VCPU woken from HLT that has not run yet unless
/// it is dy_runnable (the rcuwait stays set until the woken thread runs finish_rcuwait); 3.9–6.12 end
/// the walk after pass 0 when its last yield_to returned -ESRCH. Hand-worked walks.
/// </summary>
public class KvmWalkAsReleasedTests
{
    /// <summary>
    /// Two CPUs, one VCPU pinned to each. vcpu1 computes 20 ms and halts; a nice −20 hog then owns CPU 1.
    /// <paramref name="wake"/> wakes vcpu1, which stays queued behind the hog without running. Then vcpu0
    /// (halted until now) is kicked into a spin on a lock nobody frees and makes one walk from
    /// last_boosted_vcpu = 0: order 1, 0 (5.3's inclusive skip; 6.13's single walk: 1, 0 as well).
    /// Halt polling is off so the halts block at once.
    /// </summary>
    private static (KvmKit Kit, Vm Vm, YieldToLog Log) WokenNotRunWalk(string version, Action<Kvm, Vm> wake, DirectedYieldOverrides? overrides = null)
    {
        var preset = KvmVersions.Apply(version, new KvmSettings());
        var settings = preset with
        {
            HaltPoll = new HaltPollSettings(),
            DirectedYield = (overrides ?? new DirectedYieldOverrides()).Over(preset.DirectedYield),
        };
        var kit = new KvmKit(2, settings.PleHandler, settings);
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Halt()).Then(v => v.Spin(new TestLock(), 0));
        g[1].Then(v => v.Compute(20_000_000)).Then(v => v.Halt());
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        var v1 = vm.Vcpus[1];
        for (int k = 0; k < 1000 && v1.Mode != VcpuMode.Halted; k++)
            kit.RunUs(100);
        Assert.Equal(VcpuMode.Halted, v1.Mode);
        Assert.True(v1.WaitQueueActive && v1.RcuwaitActive);
        kit.UrgentHogs(1);
        kit.RunUs(100);
        wake(kit.Kvm, vm);
        kit.RunUs(50);
        Assert.False(v1.Task.OnCpu);
        Assert.Equal(VcpuMode.Halted, v1.Mode); // woken, not run yet
        Assert.False(v1.WaitQueueActive);       // off the queue: no further wake-up is needed
        Assert.True(v1.RcuwaitActive);          // but finish_rcuwait has not run
        Assert.True(v1.WokenNotRun);
        Assert.True(v1.Ready);                  // kvm_vcpu_wake_up set vcpu->ready
        var log = new YieldToLog(vm);
        kit.Host.AddObserver(log);
        kit.KickAndRunOneWalk(vm);
        return (kit, vm, log);
    }

    private static void TimerWake(Kvm kvm, Vm vm) => kvm.Kick(vm.Vcpus[1], Vectors.Timer, null); // the LAPIC timer (Vcpu.OnGuestTimer)

    private static void IpiWake(Kvm kvm, Vm vm) => kvm.Kick(vm.Vcpus[1], Vectors.Reschedule, vm.Vcpus[0]);

    private static void PvKickWake(Kvm kvm, Vm vm) => kvm.PvKickCpu(vm.Vcpus[1], vm.Vcpus[0]);

    [Fact]
    public void A_timer_woken_vcpu_that_has_not_run_is_skipped_from_5_10_and_boosted_in_5_3()
    {
        // 5.10: vcpu1 blocks on its rcuwait until it runs; apic_timer_expired made no KVM_REQ_EVENT,
        // pv_unhalted is clear, no APICv: not dy_runnable, skipped. vcpu0 itself is not ready. No yield_to.
        var (kit, vm, log) = WokenNotRunWalk("5.10", TimerWake);
        Assert.Empty(log.Calls);
        Assert.False(vm.Vcpus[1].DyRunnable);
        Assert.Equal(1, vm.Stats.SkippedWokenNotRun);
        Assert.Equal(0, vm.Stats.SkippedWaitQueue);
        Assert.Equal(1, vm.Stats.SkippedNotPreempted);
        Assert.Equal(1, vm.Stats.WalksWithoutYield);
        Assert.Equal(0, vm.LastBoostedVcpu);
        // 5.3: swake_up_one took it off the swait queue at the wake-up: a candidate, and boosted past the hog.
        var (kit53, vm53, log53) = WokenNotRunWalk("5.3", TimerWake);
        Assert.Equal([(1, PleSim.Host.YieldToResult.Success)], log53.Calls.ToArray());
        Assert.Equal(0, vm53.Stats.SkippedWokenNotRun);
        Assert.Equal(1, vm53.LastBoostedVcpu);
        // Once the boosted VCPU runs, finish_rcuwait: no longer blocking.
        kit53.RunUs(20);
        Assert.True(vm53.Vcpus[1].Task.OnCpu);
        Assert.False(vm53.Vcpus[1].RcuwaitActive);
        // In 5.10 it runs later (behind the hog), and then it is no longer blocking either.
        for (int k = 0; k < 1000 && !vm.Vcpus[1].Task.OnCpu; k++)
            kit.RunUs(100);
        Assert.False(vm.Vcpus[1].RcuwaitActive);
    }

    [Theory]
    [InlineData("5.3")]
    [InlineData("5.10")]
    [InlineData("6.13")]
    public void An_ipi_woken_vcpu_that_has_not_run_is_boosted_in_every_version(string version)
    {
        // __apic_accept_irq made KVM_REQ_EVENT before the kick: dy_runnable in 5.8+.
        var (_, vm, log) = WokenNotRunWalk(version, IpiWake);
        Assert.Equal([(1, PleSim.Host.YieldToResult.Success)], log.Calls.ToArray());
        Assert.Equal(0, vm.Stats.SkippedWokenNotRun);
        Assert.Equal(version == "5.3" ? 0 : 1, vm.Stats.BlockingDyRunnableCandidates);
        Assert.Equal(version == "6.13" ? 0 : 1, vm.LastBoostedVcpu); // 6.13 stores the loop counter (0), not idx 1
    }

    [Theory]
    [InlineData("5.3")]
    [InlineData("5.10")]
    public void A_pv_kicked_vcpu_that_has_not_run_is_boosted(string version)
    {
        // KVM_HC_KICK_CPU set pv_unhalted: dy_runnable in 5.8+.
        var (_, vm, log) = WokenNotRunWalk(version, PvKickWake);
        Assert.True(vm.Vcpus[1].PvUnhalted);
        Assert.Equal([(1, PleSim.Host.YieldToResult.Success)], log.Calls.ToArray());
        Assert.Equal(0, vm.Stats.SkippedWokenNotRun);
    }

    [Fact]
    public void The_6_13_walk_skips_a_timer_woken_vcpu_and_the_key_switches_the_test_per_preset()
    {
        var (_, vm613, log613) = WokenNotRunWalk("6.13", TimerWake);
        Assert.Empty(log613.Calls);
        Assert.Equal(1, vm613.Stats.SkippedWokenNotRun);
        // kvm.directed_yield.blocking_until_run: false on 5.10 walks as 5.3 does; true on 5.3 as 5.10 does.
        var (_, off, logOff) = WokenNotRunWalk("5.10", TimerWake, new DirectedYieldOverrides { BlockingUntilRun = false });
        Assert.Equal([(1, PleSim.Host.YieldToResult.Success)], logOff.Calls.ToArray());
        Assert.Equal(0, off.Stats.SkippedWokenNotRun);
        var (_, on, logOn) = WokenNotRunWalk("5.3", TimerWake, new DirectedYieldOverrides { BlockingUntilRun = true });
        Assert.Empty(logOn.Calls);
        Assert.Equal(1, on.Stats.SkippedWokenNotRun);
    }

    [Fact]
    public void The_event_request_of_an_ipi_is_consumed_at_the_next_entry()
    {
        // An IPI to a VCPU in guest mode: KVM_REQ_EVENT, the kick's exit, and vcpu_enter_guest clears it.
        var kit = new KvmKit(2);
        var (vm, _) = kit.Vm("vm", 2);
        kit.Kvm.Start(vm);
        kit.RunUs(100);
        var v1 = vm.Vcpus[1];
        Assert.True(v1.InGuestMode);
        kit.Kvm.Kick(v1, Vectors.Reschedule, vm.Vcpus[0]);
        Assert.True(v1.EventRequested);
        kit.RunUs(20);
        Assert.Equal(VcpuMode.Guest, v1.Mode);
        Assert.False(v1.EventRequested);
        // The LAPIC timer makes no such request.
        kit.Kvm.Kick(v1, Vectors.Timer, null);
        Assert.False(v1.EventRequested);
    }

    /// <summary>
    /// Four CPUs, one VCPU pinned to each: vcpu0 (CPU 0) halts until kicked, then spins on a lock
    /// nobody frees. vcpu1 computes until a nice −20 hog preempts it (a candidate that is boosted).
    /// vcpu2 halts. vcpu3 runs in QEMU userspace with <paramref name="vcpu3InUserspace"/> (alone on
    /// CPU 3, not in guest mode: yield_to returns -ESRCH, both run queues holding one task), else guest
    /// code (in guest mode: kvm_vcpu_yield_to's result is 0). last_boosted_vcpu = 1, so with 3.6's inclusive skip pass 0 is 2, 3 and
    /// pass 1 is 0, 1. The 3.9 preset with -ESRCH read as a failure is the 3.17 walk without
    /// preempted_only (which would pass vcpu3 over).
    /// </summary>
    private static (Vm Vm, YieldToLog Log) EsrchAtEndOfPass0(bool vcpu3InUserspace, DirectedYieldOverrides overrides)
    {
        var kit = new KvmKit(4, "directed-yield-3.9", new KvmSettings { DirectedYield = overrides });
        var (vm, g) = kit.Vm("vm", 4);
        g[0].Then(v => v.Halt()).Then(v => v.Spin(new TestLock(), 0));
        g[2].Then(v => v.Halt());
        if (vcpu3InUserspace)
            g[3].Then(v => v.ExitToUserspace(1_000_000_000));
        kit.Kvm.Start(vm);
        for (int i = 0; i < 4; i++)
            kit.Host.SetAffinity(vm.Vcpus[i].Task, KvmKit.Cpu(i), 0);
        kit.RunUs(100);
        kit.UrgentHogs(1);
        for (int k = 0; k < 1000 && !(vm.Vcpus[1].Preempted && !vm.Vcpus[1].Task.OnCpu); k++)
            kit.RunUs(100);
        Assert.True(vm.Vcpus[1].Preempted);
        Assert.True(vm.Vcpus[2].WaitQueueActive);
        Assert.Equal(vcpu3InUserspace ? VcpuMode.Userspace : VcpuMode.Guest, vm.Vcpus[3].Mode);
        vm.LastBoostedVcpu = 1;
        var log = new YieldToLog(vm);
        kit.Host.AddObserver(log);
        kit.KickAndRunOneWalk(vm);
        return (vm, log);
    }

    private static readonly DirectedYieldOverrides Int317 = new() { EsrchReadsAsSuccess = false };

    [Fact]
    public void After_a_last_esrch_in_pass_0_the_walk_never_starts_pass_1()
    {
        // Pass 0: vcpu2 halted (skipped), vcpu3 -ESRCH (try 3 → 2; yielded = -ESRCH). The outer loop's
        // !yielded test fails: vcpu1, preempted and boostable in pass 1, is never looked at.
        var (vm, log) = EsrchAtEndOfPass0(vcpu3InUserspace: true, Int317);
        Assert.Equal([(3, PleSim.Host.YieldToResult.BothQueuesSingle)], log.Calls.ToArray());
        Assert.Equal(1, vm.Stats.WalksEndedBeforePass1);
        Assert.Equal(0, vm.Stats.WalksWithoutYield);
        Assert.Equal(2, vm.Stats.CandidatesExamined);
        Assert.Equal(1, vm.LastBoostedVcpu);
        // kvm.directed_yield.esrch_skips_second_pass: false walks on (the model before decision 0097).
        var (vmOff, logOff) = EsrchAtEndOfPass0(vcpu3InUserspace: true, Int317 with { EsrchSkipsSecondPass = false });
        Assert.Equal([(3, PleSim.Host.YieldToResult.BothQueuesSingle), (1, PleSim.Host.YieldToResult.Success)], logOff.Calls.ToArray());
        Assert.Equal(0, vmOff.Stats.WalksEndedBeforePass1);
        Assert.Equal(1, vmOff.LastBoostedVcpu);
    }

    [Fact]
    public void A_zero_result_after_the_esrch_lets_pass_1_run()
    {
        // vcpu3 in guest mode: its kvm_vcpu_yield_to returns 0 (yielded = 0), so pass 1 runs and boosts vcpu1.
        var (vm, log) = EsrchAtEndOfPass0(vcpu3InUserspace: false, Int317);
        Assert.Equal([(1, PleSim.Host.YieldToResult.Success)], log.Calls.ToArray());
        Assert.Equal(1, vm.Stats.SkippedInGuest);
        Assert.Equal(0, vm.Stats.WalksEndedBeforePass1);
        Assert.Equal(1, vm.LastBoostedVcpu);
    }

    [Fact]
    public void While_esrch_reads_as_success_the_walk_ends_at_the_esrch_as_before()
    {
        // 3.9/3.10's bool return: -ESRCH is "yielded", last_boosted_vcpu = 3, no pass-1 question arises.
        var (vm, log) = EsrchAtEndOfPass0(vcpu3InUserspace: true, new DirectedYieldOverrides());
        Assert.Equal([(3, PleSim.Host.YieldToResult.BothQueuesSingle)], log.Calls.ToArray());
        Assert.Equal(3, vm.LastBoostedVcpu);
        Assert.Equal(0, vm.Stats.WalksEndedBeforePass1);
    }

    [Fact]
    public void The_walk_order_reports_where_pass_1_begins()
    {
        Span<int> order = stackalloc int[9];
        int count = DirectedYield.WalkOrder(4, 1, inclusiveSkip: true, order, out int pass1);
        Assert.Equal([2, 3, 0, 1], order[..count].ToArray());
        Assert.Equal(2, pass1);
        count = DirectedYield.WalkOrder(4, 0, inclusiveSkip: false, order, out pass1);
        Assert.Equal([0, 1, 2, 3, 0], order[..count].ToArray()); // 2.6.39 from 0 visits 0 twice
        Assert.Equal(4, pass1);
    }
}

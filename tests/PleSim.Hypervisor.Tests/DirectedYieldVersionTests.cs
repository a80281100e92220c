using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>Records every yield_to call: which VCPU it targeted and what came back.</summary>
internal sealed class YieldToLog(Vm vm) : IHostObserver
{
    public List<(int Target, YieldToResult Result)> Calls { get; } = [];

    public void YieldTo(HostTask yielder, HostTask target, YieldToResult result)
    {
        if (target.Owner is Vcpu v && v.Vm == vm)
            Calls.Add((v.Index, result));
    }
}

/// <summary>
/// The kernel versions' PAUSE-handler switches on hand-worked walks (kvm_vcpu_on_spin 2.6.39,
/// 3.6, 3.7, 3.9, 3.10), the handler's time on the run-queue locks, and the wait-queue state of a
/// kicked halted VCPU.
/// </summary>
public class DirectedYieldVersionTests
{
    /// <summary>
    /// Four CPUs, one VCPU pinned to each. vcpu0 halts until the test kicks it, then spins on a
    /// lock nobody frees (the walker). vcpu1 is halted (wait queue active). vcpu2 runs in QEMU
    /// userspace (PF_VCPU clear, on its CPU, not preempted). vcpu3 computes and is preempted by a
    /// nice −20 hog on CPU 3. The test kicks vcpu0 once vcpu3 is preempted and watches the first
    /// walk(s) from last_boosted_vcpu = 0.
    /// </summary>
    private static (KvmKit Kit, Vm Vm, YieldToLog Log) FourVcpuWalk(string handler, DirectedYieldOverrides? overrides = null, Action<Vm>? beforeKick = null, int walks = 1)
    {
        var kit = new KvmKit(4, handler, new KvmSettings { DirectedYield = overrides ?? new DirectedYieldOverrides() });
        var (vm, g) = kit.Vm("vm", 4);
        g[0].Then(v => v.Halt()).Then(v => v.Spin(new TestLock(), 0));
        g[1].Then(v => v.Halt());
        g[2].Then(v => v.ExitToUserspace(1_000_000_000));
        kit.Kvm.Start(vm);
        for (int i = 0; i < 4; i++)
            kit.Host.SetAffinity(vm.Vcpus[i].Task, KvmKit.Cpu(i), 0);
        kit.RunUs(100);
        var hog = kit.Host.CreateTask("hog", new HogBody(), -20, KvmKit.Cpu(3));
        kit.Host.WakeUpNewTask(hog, 3);
        for (int k = 0; k < 1000 && !(vm.Vcpus[3].Preempted && !vm.Vcpus[3].Task.OnCpu); k++)
            kit.RunUs(100);
        Assert.True(vm.Vcpus[3].Preempted, "vcpu3 should be preempted by the hog");
        Assert.True(vm.Vcpus[1].WaitQueueActive);
        Assert.Equal(0, vm.LastBoostedVcpu);
        beforeKick?.Invoke(vm);
        var log = new YieldToLog(vm);
        kit.Host.AddObserver(log);
        kit.Kvm.Kick(vm.Vcpus[0], Vectors.Reschedule, null);
        for (int k = 0; k < 100_000 && vm.Stats.DirectedYieldWalks < walks; k++)
            kit.Sim.RunUntil(kit.Sim.Now + new SimDuration(50));
        Assert.Equal(walks, vm.Stats.DirectedYieldWalks);
        return (kit, vm, log);
    }

    private static (int, YieldToResult)[] Calls(YieldToLog log) => [.. log.Calls];

    [Fact]
    public void The_2011_walk_starts_at_last_boosted_and_goes_on_past_a_running_target_to_the_preempted_one()
    {
        // Order 0,1,2,3,0: itself, halted vcpu1, vcpu2 (yield_to fails: running), vcpu3 (boosted).
        var (_, vm, log) = FourVcpuWalk("directed-yield-2011");
        Assert.Equal([(2, YieldToResult.TargetRunning), (3, YieldToResult.Success)], Calls(log));
        Assert.Equal(3, vm.LastBoostedVcpu);
        Assert.Equal(1, vm.Stats.SkippedSelf);
        Assert.Equal(1, vm.Stats.SkippedWaitQueue);
        Assert.Equal(4, vm.Stats.CandidatesExamined);
    }

    [Fact]
    public void The_3_6_walk_skips_last_boosted_itself()
    {
        // Order 1,2,3,0: the same calls, but the walk does not begin with vcpu0 itself.
        var (_, vm, log) = FourVcpuWalk("directed-yield-3.6");
        Assert.Equal([(2, YieldToResult.TargetRunning), (3, YieldToResult.Success)], Calls(log));
        Assert.Equal(3, vm.LastBoostedVcpu);
        Assert.Equal(3, vm.Stats.CandidatesExamined);
        Assert.Equal(0, vm.Stats.SkippedSelf);
        // The 2011 preset with only inclusive_skip on walks the same way.
        var (_, vm2, log2) = FourVcpuWalk("directed-yield-2011", new DirectedYieldOverrides { InclusiveSkip = true });
        Assert.Equal(Calls(log), Calls(log2));
        Assert.Equal(3, vm2.Stats.CandidatesExamined);
    }

    [Fact]
    public void With_dy_eligible_a_candidate_in_a_spin_loop_is_passed_over_then_boosted_the_next_time()
    {
        // vcpu3 is marked as being inside its own PAUSE handler (preempted there). First walk: its
        // dy_eligible flag is clear, so it is skipped and the flag flips; nothing is boosted.
        // Second walk: it is eligible and boosted.
        var (_, vm, log) = FourVcpuWalk("directed-yield-3.7", beforeKick: v => v.Vcpus[3].InSpinLoop = true, walks: 2);
        Assert.Equal([(2, YieldToResult.TargetRunning), (2, YieldToResult.TargetRunning), (3, YieldToResult.Success)], Calls(log));
        Assert.Equal(1, vm.Stats.SkippedIneligible);
        Assert.Equal(1, vm.Stats.WalksWithoutYield);
        Assert.Equal(3, vm.LastBoostedVcpu);
        // 3.6 does not look at the flag: boosted in the first walk.
        var (_, vm36, log36) = FourVcpuWalk("directed-yield-3.6", beforeKick: v => v.Vcpus[3].InSpinLoop = true);
        Assert.Equal([(2, YieldToResult.TargetRunning), (3, YieldToResult.Success)], Calls(log36));
        Assert.Equal(0, vm36.Stats.SkippedIneligible);
    }

    [Fact]
    public void In_3_9_the_first_esrch_reads_as_a_successful_boost_and_ends_the_walk()
    {
        // vcpu0 and vcpu2 are each alone on their CPUs: yield_to returns -ESRCH, which the bool
        // return type of 3.9 to 3.16/3.17 turns into "yielded": last_boosted_vcpu = 2, walk over, vcpu3 never tried.
        var (kit, vm, log) = FourVcpuWalk("directed-yield-3.9");
        Assert.Equal([(2, YieldToResult.BothQueuesSingle)], Calls(log));
        Assert.Equal(2, vm.LastBoostedVcpu);
        Assert.Equal(0, vm.Stats.WalksWithoutYield);
        Assert.Equal(0, vm.Stats.RqLockWaitNs);
        // The 2011 preset with only undercommit_exit on behaves the same way.
        var (_, vmO, logO) = FourVcpuWalk("directed-yield-2011", new DirectedYieldOverrides { UndercommitExit = true });
        Assert.Equal(Calls(log), Calls(logO));
        Assert.Equal(2, vmO.LastBoostedVcpu);
    }

    [Fact]
    public void With_esrch_read_as_failure_the_walk_counts_tries_down_and_goes_on()
    {
        // int return (after the 2014 fix): -ESRCH costs one of the three tries; vcpu3's CPU has two tasks, so its
        // yield_to is a real one and succeeds.
        var (_, vm, log) = FourVcpuWalk("directed-yield-3.9", new DirectedYieldOverrides { EsrchReadsAsSuccess = false });
        Assert.Equal([(2, YieldToResult.BothQueuesSingle), (3, YieldToResult.Success)], Calls(log));
        Assert.Equal(3, vm.LastBoostedVcpu);
        // With one try the first -ESRCH ends the walk and last_boosted_vcpu stays.
        var (_, vm1, log1) = FourVcpuWalk("directed-yield-3.9", new DirectedYieldOverrides { EsrchReadsAsSuccess = false, UndercommitTries = 1 });
        Assert.Equal([(2, YieldToResult.BothQueuesSingle)], Calls(log1));
        Assert.Equal(0, vm1.LastBoostedVcpu);
    }

    [Fact]
    public void In_3_10_only_preempted_vcpus_are_candidates()
    {
        // vcpu2 runs (not preempted) and is skipped before yield_to; vcpu3 is boosted.
        var (_, vm, log) = FourVcpuWalk("directed-yield-3.10");
        Assert.Equal([(3, YieldToResult.Success)], Calls(log));
        Assert.Equal(3, vm.LastBoostedVcpu);
        Assert.Equal(2, vm.Stats.SkippedNotPreempted); // order 1,2,3: vcpu1 (halted) and vcpu2
        // The 2011 preset with only preempted_only on: the same single call.
        var (_, _, logO) = FourVcpuWalk("directed-yield-2011", new DirectedYieldOverrides { PreemptedOnly = true });
        Assert.Equal(Calls(log), Calls(logO));
    }

    /// <summary>One CPU, two VCPUs: vcpu0 spins on a lock nobody frees and yields to vcpu1; returned once the first yield_to succeeded and vcpu0 is off its CPU.</summary>
    private static (KvmKit Kit, Vm Vm, Vcpu Yielder) AfterFirstSuccessfulYield(string handler)
    {
        var kit = new KvmKit(1, handler);
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Compute(2_000_000)).Then(v => v.Spin(new TestLock(), 0));
        kit.Kvm.Start(vm);
        var v0 = vm.Vcpus[0];
        for (int k = 0; k < 200_000 && vm.Stats.YieldToResults[(int)YieldToResult.Success] == 0; k++)
            kit.Sim.RunUntil(kit.Sim.Now + SimDuration.FromMicroseconds(1));
        Assert.True(vm.Stats.YieldToResults[(int)YieldToResult.Success] > 0);
        Assert.False(v0.Task.OnCpu);
        return (kit, vm, v0);
    }

    [Fact]
    public void The_spinner_stays_in_its_spin_loop_while_descheduled_in_a_successful_yield_to_until_its_handler_returns()
    {
        var (kit, vm, v0) = AfterFirstSuccessfulYield("directed-yield-3.7");
        Assert.True(v0.InSpinLoop, "in_spin_loop must stay set while the yielder is descheduled");
        // It runs again (tick preemption of vcpu1), finishes the handler and re-enters: flag clear.
        for (int k = 0; k < 1_000_000 && !(v0.Task.OnCpu && v0.Mode == VcpuMode.Guest); k++)
            kit.Sim.RunUntil(kit.Sim.Now + new SimDuration(50));
        Assert.Equal(VcpuMode.Guest, v0.Mode);
        Assert.False(v0.InSpinLoop);
        Assert.False(v0.DyEligible);
    }

    [Theory]
    [InlineData("directed-yield-2011")]
    [InlineData("directed-yield-3.10")]
    [InlineData("directed-yield-5.3")]
    public void A_vcpu_put_after_its_own_successful_yield_to_is_marked_preempted_and_ready(string handler)
    {
        // kvm_sched_out (3.10 vcpu->preempted, 5.3 vcpu->ready) tests current->state == TASK_RUNNING,
        // which yield_to leaves unchanged: a yielder that is switched out is marked like a preempted
        // VCPU (decision 0079), so another spinner's 3.10+ walk may boost it back. Only the host's
        // own preemptions count as lock-holder preemption diagnostics (PreemptedByHost).
        var (_, _, v0) = AfterFirstSuccessfulYield(handler);
        Assert.True(v0.Preempted, "a yielder scheduled out is still TASK_RUNNING: vcpu->preempted");
        Assert.True(v0.Ready, "vcpu->ready (5.3) is set by the same kvm_sched_out");
        Assert.False(v0.PreemptedByHost);
    }

    /// <summary>Three CPUs: vcpu0 and vcpu1 spin on a lock nobody frees; vcpu2 computes and is preempted by a hog.</summary>
    private static Vm TwoSpinners(string handler, long runUs)
    {
        var kit = new KvmKit(3, handler);
        var (vm, g) = kit.Vm("vm", 3);
        var lk = new TestLock();
        // vcpu1 starts its spin 1 us later, so the two handlers are not in lockstep.
        g[0].Then(v => v.Spin(lk, 0));
        g[1].Then(v => v.Compute(1_000)).Then(v => v.Spin(lk, 1));
        kit.Kvm.Start(vm);
        for (int i = 0; i < 3; i++)
            kit.Host.SetAffinity(vm.Vcpus[i].Task, KvmKit.Cpu(i), 0);
        kit.Hog("hog", KvmKit.Cpu(2));
        kit.RunUs(runUs);
        return vm;
    }

    [Fact]
    public void With_two_spinners_3_7_passes_over_the_other_spinner_and_differs_from_3_6()
    {
        var v36 = TwoSpinners("directed-yield-3.6", 20_000);
        var v37 = TwoSpinners("directed-yield-3.7", 20_000);
        Assert.Equal(0, v36.Stats.SkippedIneligible);
        Assert.True(v37.Stats.SkippedIneligible > 0, "a spinner inside its handler must be seen in its spin loop");
        Assert.NotEqual(v36.Stats.YieldToCalls, v37.Stats.YieldToCalls);
    }

    [Fact]
    public void A_halted_vcpu_that_was_kicked_but_has_not_run_is_a_walk_candidate_and_gets_boosted()
    {
        // vcpu1 computes 20 ms on CPU 1, halts; a nice -20 hog then owns CPU 1. The kick wakes vcpu1
        // (runnable, not preempting the hog): autoremove_wake_function took it off the wait queue.
        var kit = new KvmKit(2, "directed-yield-2011");
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
        var hog = kit.Host.CreateTask("hog", new HogBody(), -20, KvmKit.Cpu(1));
        kit.Host.WakeUpNewTask(hog, 1);
        kit.RunUs(100);
        kit.Kvm.Kick(v1, Vectors.Reschedule, null);
        kit.RunUs(50);
        Assert.False(v1.Task.OnCpu);
        Assert.Equal(VcpuMode.Halted, v1.Mode); // it has not run yet
        Assert.False(v1.WaitQueueActive);
        var log = new YieldToLog(vm);
        kit.Host.AddObserver(log);
        kit.Kvm.Kick(vm.Vcpus[0], Vectors.Reschedule, null);
        for (int k = 0; k < 100_000 && vm.Stats.DirectedYieldWalks == 0; k++)
            kit.Sim.RunUntil(kit.Sim.Now + new SimDuration(50));
        Assert.Equal([(1, YieldToResult.Success)], log.Calls.ToArray());
        Assert.Equal(1, vm.LastBoostedVcpu);
        kit.RunUs(20); // the resched IPI reaches CPU 1: the boosted VCPU runs ahead of the hog
        Assert.True(v1.Task.OnCpu);
    }

    [Fact]
    public void A_kick_takes_a_vcpu_sleeping_in_the_pre_2011_handler_off_its_wait_queue_before_it_runs()
    {
        var kit = new KvmKit(1, "sleep");
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Spin(new TestLock(), 0));
        kit.Kvm.Start(vm);
        var v0 = vm.Vcpus[0];
        for (int k = 0; k < 100_000 && v0.Mode != VcpuMode.PleSleep; k++)
            kit.Sim.RunUntil(kit.Sim.Now + new SimDuration(50));
        Assert.True(v0.WaitQueueActive);
        kit.Kvm.Kick(v0, Vectors.Reschedule, null);
        Assert.False(v0.Task.OnCpu);
        Assert.Equal(VcpuMode.PleSleep, v0.Mode);
        Assert.False(v0.WaitQueueActive);
    }

    [Fact]
    public void Concurrent_walks_wait_for_each_others_run_queue_locks_and_free_locks_cost_no_wait()
    {
        // Four VCPUs on four CPUs spinning on a lock nobody frees: every walk calls yield_to on the
        // others (in host mode in their own handlers, or running), each taking two run-queue locks.
        Vm Run(KvmSettings settings)
        {
            var kit = new KvmKit(4, "directed-yield-2011", settings);
            var (vm, g) = kit.Vm("vm", 4);
            var lk = new TestLock();
            for (int i = 0; i < 4; i++)
            {
                int t = i;
                g[i].Then(v => v.Spin(lk, t));
            }
            kit.Kvm.Start(vm);
            for (int i = 0; i < 4; i++)
                kit.Host.SetAffinity(vm.Vcpus[i].Task, KvmKit.Cpu(i), 0);
            kit.RunUs(2_000);
            return vm;
        }
        var locked = Run(new KvmSettings());
        Assert.True(locked.Stats.YieldToCalls > 100);
        Assert.True(locked.Stats.RqLockWaitNs > 0, "overlapping walks must wait for each other's locks");
        var free = Run(new KvmSettings { Costs = new ExitCosts { RqLockAcquire = SimDuration.Zero, YieldTo = SimDuration.Zero } });
        Assert.Equal(0, free.Stats.RqLockWaitNs);
    }
}

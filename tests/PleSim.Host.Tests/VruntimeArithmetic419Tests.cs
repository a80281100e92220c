using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// The vruntime arithmetic of the later CFS (decision 0099), hand-worked from kernel/sched/fair.c:
/// 3.16's <c>__calc_delta</c> / <c>__update_inv_weight</c> (truncating, inverse (2^32 − 1) / w) for
/// every class after 2.6.39, and, for cfs-4.19, <c>update_min_vruntime</c> leaving out a current
/// entity that is being dequeued, <c>dequeue_entity</c> normalising before it advances min_vruntime
/// and <c>enqueue_entity</c> renormalising after <c>update_curr</c> — against 2.6.39's
/// <c>calc_delta_mine</c> (rounding, inverse 1 + (2^32 − w/2) / (w + 1)) and orders.
/// </summary>
public class VruntimeArithmetic419Tests
{
    private static HostKit Kit(FairClass cls, int cpus = 1) => new(cpus, features: new SchedFeatures { Class = cls });

    [Theory]
    // One CPU: sched_latency 6 ms; three nice-0 tasks share a queue of weight 3072.
    // 2.6.39: inverse 1 + (2^32 − 1536) / 3073 = 1,397,647; SRR(SRR(6e6 × 1024, 16) × inverse, 16).
    // 3.16+: inverse (2^32 − 1) / 3072 = 1,398,101; fact 1024 × inverse fits 32 bits; (6e6 × fact) >> 32.
    [InlineData(FairClass.Cfs2639, 1_999_349)]
    [InlineData(FairClass.Cfs419, 1_999_999)]
    public void A_third_of_a_6ms_period_is_rounded_from_2_6_39s_inverse_and_truncated_from_3_16s(FairClass cls, long slice)
    {
        var kit = Kit(cls);
        var a = kit.Hog("a");
        kit.Hog("b");
        kit.Hog("c");
        kit.Settle();
        Assert.Equal(slice, kit.Host.SchedSlice(a.Se.CfsRq, a.Se));
    }

    [Fact]
    public void A_task_weight_keeps_the_kernels_table_inverse_but_3_16_truncates_the_product()
    {
        // nice −15: weight 29154, inverse 147320 (the same table in both). 1 ms × 1024 × 147320 / 2^32
        // = 35,123.4…: 2.6.39 rounds SRR(SRR(1024e6, 16) × 147320, 16) to 35,124; __calc_delta truncates.
        var lw = Weights.ForNice(-15);
        Assert.Equal(35_124, Weights.CalcDeltaMine(1_000_000, Weights.Nice0Load, ref lw));
        lw = Weights.ForNice(-15);
        Assert.Equal(35_123, Weights.CalcDelta316(1_000_000, Weights.Nice0Load, ref lw));
        // A queue of one nice-0 task: (2^32 − 1) / 1024 = 4,194,303, so 24 ms comes out 6 ns short.
        var q = new LoadWeight();
        q.Set(1024);
        Assert.Equal(23_999_994, Weights.CalcDelta316(24_000_000, Weights.Nice0Load, ref q));
        Assert.Equal(4_194_303, q.InvWeight);
    }

    [Fact]
    public void A_factor_above_32_bits_is_shifted_down_with_the_final_shift()
    {
        // weight 2^33 over a queue of 4096: the weight is shifted twice to fit 32 bits (2^31, shift 30);
        // inverse (2^32 − 1) / 4096 = 1,048,575; 2^31 × 1,048,575 has 51 bits, shifted 19 more times
        // (4,294,963,200, shift 11): 1e6 × 4,294,963,200 >> 11 = 2,097,150,000,000 (exact: 2,097,152e6).
        var q = new LoadWeight();
        q.Set(4096);
        Assert.Equal(2_097_150_000_000, Weights.CalcDelta316(1_000_000, 1L << 33, ref q));
        Assert.Equal(1_048_575, q.InvWeight);
    }

    /// <summary>
    /// Hogs a and b pinned to CPU 0 and h pinned to CPU 1, run for 20 ms, then to the first whole
    /// millisecond with <paramref name="runningOnCpu0"/> on CPU 0, then 0.5 ms more: the tick's
    /// update_curr last charged both running tasks 0.5 ms ago.
    /// </summary>
    private static (HostKit Kit, HostTask A, HostTask B, HostTask H) HalfAMillisecondAfterATick(FairClass cls, string runningOnCpu0)
    {
        var kit = Kit(cls, cpus: 2);
        var a = kit.Hog("a", HostKit.Cpu(0));
        var b = kit.Hog("b", HostKit.Cpu(0));
        var h = kit.Hog("h", HostKit.Cpu(1));
        var running = runningOnCpu0 == "a" ? a : b;
        kit.RunMs(20);
        while (!running.OnCpu)
            kit.RunMs(1); // whole milliseconds: the tick has just updated both queues
        kit.RunFor(SimDuration.FromMicroseconds(500));
        return (kit, a, b, h);
    }

    /// <summary>
    /// CPU 0: hog A running, task B queued 0.3 ms of vruntime left of A's current vruntime; CPU 1: hog
    /// H running alone, 0.5 ms after the tick's update_curr. B is moved to CPU 1 (affinity). Returns
    /// B's vruntime on CPU 1 right after the move, CPU 1's min_vruntime before it, and H's vruntime
    /// and time since its exec_start before it.
    /// </summary>
    private static (long BAfter, long Min1Before, long HBefore, long HUnaccounted) MoveQueuedLeftmost(FairClass cls)
    {
        var (kit, a, b, h) = HalfAMillisecondAfterATick(cls, runningOnCpu0: "a");
        long now = kit.Sim.Now.Ns;
        Assert.Equal(500_000, now - a.Se.ExecStart);
        Assert.True(h.OnCpu);
        long hUnaccounted = now - h.Se.ExecStart;
        Assert.True(hUnaccounted > 0);
        long aNow = a.Se.Vruntime + (now - a.Se.ExecStart);
        HostScheduler.SetVruntimeForTest(b.Se, aNow - 300_000);
        long min1 = h.Se.CfsRq.MinVruntime;
        long hVr = h.Se.Vruntime;
        kit.Host.SetAffinity(b, HostKit.Cpu(1), callerCpu: 0);
        Assert.Equal(1, b.Cpu);
        return (b.Se.Vruntime, min1, hVr, hUnaccounted);
    }

    [Fact]
    public void A_moved_leftmost_task_keeps_its_place_in_4_19_and_lands_behind_min_vruntime_in_2_6_39()
    {
        // 2.6.39: dequeue_entity advances min_vruntime to A (B is gone), then normalises B against it:
        // −0.3 ms; enqueue_entity adds CPU 1's min_vruntime before update_curr (H's last update).
        var (bOld, min1Old, _, _) = MoveQueuedLeftmost(FairClass.Cfs2639);
        Assert.Equal(min1Old - 300_000, bOld);

        // 4.19: normalised after update_curr (B is then min_vruntime: 0), renormalised after CPU 1's
        // update_curr has charged H its last 0.5 ms: B starts exactly at H's vruntime of now.
        var (bNew, _, hVr, hUnaccounted) = MoveQueuedLeftmost(FairClass.Cfs419);
        Assert.Equal(hVr + hUnaccounted, bNew);
    }

    [Theory]
    [InlineData(FairClass.Cfs2639)]
    [InlineData(FairClass.Cfs419)]
    public void A_task_woken_onto_another_cpu_is_renormalised_against_that_queues_min_vruntime_of_now_in_4_19(FairClass cls)
    {
        // B runs on CPU 0 and blocks 0.5 ms after a tick; its affinity then allows only CPU 1, where H
        // has run alone since that tick. The wake-up moves it: 2.6.39's task_waking_fair and 4.19's
        // migrate_task_rq_fair both subtract CPU 0's min_vruntime as it stands; 2.6.39 adds CPU 1's
        // before update_curr (H's vruntime at the tick), 4.19 after it (H's vruntime of now).
        var (kit, a, b, h) = HalfAMillisecondAfterATick(cls, runningOnCpu0: "b");
        // B's vruntime as it blocks (after update_curr charges its 0.5 ms) equals waiting A's.
        HostScheduler.SetVruntimeForTest(b.Se, a.Se.Vruntime - 500_000);
        kit.Host.Block(b);
        kit.Host.SetAffinity(b, HostKit.Cpu(1), callerCpu: 0);
        long relative = b.Se.Vruntime - b.Se.CfsRq.MinVruntime;
        long hUnaccounted = kit.Sim.Now.Ns - h.Se.ExecStart;
        Assert.Equal(500_000, hUnaccounted);
        Assert.True(relative - hUnaccounted > -kit.Host.SleeperCredit); // so place_entity does not move it
        long min1 = h.Se.CfsRq.MinVruntime, hVr = h.Se.Vruntime;
        Assert.Equal(hVr, min1);
        Assert.True(kit.Host.TryToWakeUp(b, 0));
        Assert.Equal(1, b.Cpu);
        Assert.Equal(cls == FairClass.Cfs419 ? hVr + hUnaccounted + relative : min1 + relative, b.Se.Vruntime);
    }

    [Theory]
    [InlineData(FairClass.Cfs2639)]
    [InlineData(FairClass.Cfs419)]
    public void A_blocking_current_task_holds_min_vruntime_back_in_2_6_39_only(FairClass cls)
    {
        // One CPU: A runs, B waits 2 ms of vruntime right of it. A blocks: 2.6.39's update_min_vruntime
        // still counts A (cfs_rq->curr), 4.19's leaves out a curr that is no longer on_rq and takes B.
        var kit = Kit(cls);
        var a = kit.Hog("a");
        var b = kit.Hog("b");
        kit.RunMs(20);
        while (!a.OnCpu)
            kit.RunMs(1);
        long aNow = a.Se.Vruntime; // the tick has just charged A
        HostScheduler.SetVruntimeForTest(b.Se, aNow + 2_000_000);
        kit.Host.Block(a);
        var q = b.Se.CfsRq;
        Assert.Equal(cls == FairClass.Cfs419 ? aNow + 2_000_000 : aNow, q.MinVruntime);
    }
}

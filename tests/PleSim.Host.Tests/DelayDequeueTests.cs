using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// DELAY_DEQUEUE of EEVDF 6.12+ (decision 0083), worked out by hand from kernel/sched/fair.c and
/// core.c at v6.12 (<c>dequeue_entity</c>, <c>pick_next_entity</c>, <c>requeue_delayed_entity</c>,
/// <c>finish_delayed_dequeue_entity</c>, <c>ttwu_runnable</c>) and v6.14 (<c>can_migrate_task</c>).
/// One CPU unless said, factor 1 (base slice 0.75 ms), HZ=1000, no tick jitter or switch cost;
/// vruntimes are quoted relative to min_vruntime's start M = −2^20.
/// </summary>
public class DelayDequeueTests
{
    private const long M = -(1L << 20);

    private static HostKit Kit(bool delay, FairClass cls = FairClass.Eevdf612, int cpus = 1) =>
        new(cpus, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero },
            new SchedFeatures { Class = cls, DelayDequeue = delay });

    private static void At(HostKit kit, long us) => kit.Sim.RunUntil(new SimTime(us * 1000));

    /// <summary>
    /// A and B forked at 0 (v=0, deadline 0.375e6); A runs first. At 0.5 ms A (v=0.5e6) blocks:
    /// V=(0.5e6+0)/2=0.25e6, so A is not eligible.
    /// </summary>
    private static (HostKit Kit, HostTask A, HostTask B) BlockIneligibleA(bool delay)
    {
        var kit = Kit(delay);
        var a = kit.Hog("A");
        var b = kit.Hog("B");
        At(kit, 500);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        kit.Host.Block(a);
        Assert.Equal(M + 500_000, a.Se.Vruntime); // update_curr at the dequeue
        return (kit, a, b);
    }

    [Fact]
    public void A_task_that_sleeps_while_not_eligible_stays_queued_until_a_pick_meets_it()
    {
        var (kit, a, b) = BlockIneligibleA(delay: true);
        var rq = kit.Host.Rqs[0];
        Assert.Same(b, rq.Curr);
        Assert.True(a.Se.SchedDelayed);
        Assert.True(a.Se.OnRq);
        Assert.Equal(2, rq.NrRunning); // still counted: block_task was not called
        Assert.Equal(1, kit.Host.DelayedDequeues);

        // B runs from 0.5 ms. At the 1 ms tick B (v=0.5e6) has passed its deadline (0.375e6): a new
        // request (deadline 1.25e6) and a pick. V=(0.5e6+0.5e6)/2 makes both eligible and A's
        // deadline (0.375e6) is the earlier: the pick meets delayed A, finishes its dequeue (its lag
        // V−v=0 stays 0) and picks again: B.
        At(kit, 1_200);
        Assert.Same(b, rq.Curr);
        Assert.False(a.Se.SchedDelayed);
        Assert.False(a.Se.OnRq);
        Assert.Equal(1, rq.NrRunning);
        Assert.Equal(1, kit.Host.DelayedPickDequeues);
        Assert.Equal(0, a.Se.Vlag);
    }

    [Fact]
    public void Without_delay_dequeue_the_same_sleep_dequeues_at_once()
    {
        var (kit, a, b) = BlockIneligibleA(delay: false);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        Assert.False(a.Se.SchedDelayed);
        Assert.False(a.Se.OnRq);
        Assert.Equal(1, kit.Host.Rqs[0].NrRunning);
        Assert.Equal(-250_000, a.Se.Vlag); // update_entity_lag at the dequeue: V − v
        Assert.Equal(0, kit.Host.DelayedDequeues);
    }

    [Fact]
    public void A_task_that_sleeps_while_eligible_is_dequeued_at_once()
    {
        // B blocks at 1.5 ms: B ran 1–1.5 ms (v=0.5e6), A ran 0–1 ms (v=1e6): V=0.75e6 ≥ B's v.
        var kit = Kit(delay: true);
        var a = kit.Hog("A");
        var b = kit.Hog("B");
        At(kit, 1_500);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        kit.Host.Block(b);
        Assert.False(b.Se.SchedDelayed);
        Assert.False(b.Se.OnRq);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        Assert.Equal(0, kit.Host.DelayedDequeues);
    }

    [Fact]
    public void Waking_a_delayed_task_requeues_it_in_place_with_its_negative_lag()
    {
        // requeue_delayed_entity with DELAY_ZERO: update_entity_lag gives V−v = 0.25e6 − 0.5e6 < 0,
        // so nothing moves: A keeps v=0.5e6 and its deadline, and is runnable again where it was.
        var (kit, a, b) = BlockIneligibleA(delay: true);
        long deadline = a.Se.Deadline;
        Assert.True(kit.Host.TryToWakeUp(a, wakerCpu: 0));
        Assert.False(a.Se.SchedDelayed);
        Assert.True(a.Se.OnRq);
        Assert.Equal(TaskState.Running, a.State);
        Assert.Equal(M + 500_000, a.Se.Vruntime);
        Assert.Equal(deadline, a.Se.Deadline);
        Assert.Equal(2, kit.Host.Rqs[0].NrRunning);
        Assert.Equal(1, a.NrDelayedWakeups);
        Assert.Equal(1, kit.Host.DelayedRequeues);
        Assert.Same(b, kit.Host.Rqs[0].Curr); // not eligible: no wake-up preemption
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Delay_zero_drops_the_positive_lag_a_delayed_task_gains_before_the_pick_meets_it(bool delayZero)
    {
        // B (nice −5, weight 3121; a slice of it is 0.246e6 of virtual time) and A (1024). B's first
        // deadline (0.123e6) is the earlier: B runs 0–1 ms (v=0.328e6, new deadline 0.574e6), then A
        // (deadline 0.375e6) runs 1–1.5 ms and blocks at v=0.5e6 > V=(1024·0.5e6+3121·0.328e6)/4145
        // ≈0.371e6: delayed. B runs on; at 3 ms it passes its deadline (v=0.82e6) and the pick meets
        // A, now eligible: V≈0.741e6, so A leaves with a lag of about +0.24e6 — which DELAY_ZERO
        // clips to 0 (finish_delayed_dequeue_entity), so A will not come back ahead of B.
        var kit = new HostKit(1, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero },
            new SchedFeatures { Class = FairClass.Eevdf612, DelayDequeue = true, DelayZero = delayZero });
        var b = kit.Hog("B", nice: -5);
        var a = kit.Hog("A");
        At(kit, 1_500);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        kit.Host.Block(a);
        Assert.True(a.Se.SchedDelayed);
        At(kit, 2_500);
        Assert.True(a.Se.SchedDelayed); // no pick at the 2 ms tick: B is inside its request
        At(kit, 3_200);
        Assert.False(a.Se.OnRq);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        if (delayZero)
            Assert.Equal(0, a.Se.Vlag);
        else
            Assert.InRange(a.Se.Vlag, 230_000, 250_000);
    }

    [Fact]
    public void A_delayed_task_is_woken_where_it_sleeps_even_when_another_cpu_is_idle()
    {
        // Two CPUs; A and B pinned to CPU 0 at fork, A's affinity widened to both CPUs after it
        // became delayed (sched_setaffinity leaves a task on an allowed CPU). ttwu_runnable wakes it
        // on CPU 0 with no select_task_rq; without the feature the same wake-up moves A to idle CPU 1.
        foreach (bool delay in new[] { true, false })
        {
            var kit = Kit(delay, cpus: 2);
            var a = kit.Hog("A", affinity: HostKit.Cpu(0));
            var b = kit.Hog("B", affinity: HostKit.Cpu(0));
            At(kit, 500);
            Assert.Same(a, kit.Host.Rqs[0].Curr);
            kit.Host.Block(a);
            Assert.Equal(delay, a.Se.SchedDelayed);
            kit.Host.SetAffinity(a, HostKit.Cpu(0, 1), callerCpu: 0);
            Assert.True(kit.Host.TryToWakeUp(a, wakerCpu: 1));
            Assert.Equal(delay ? 0 : 1, a.Cpu);
            Assert.Equal(delay ? 0 : 1, a.NrWakeupsMigrate);
            kit.RunMs(2);
            _ = b;
        }
    }

    [Fact]
    public void A_delayed_task_is_not_a_yield_to_target()
    {
        var (kit, a, b) = BlockIneligibleA(delay: true);
        Assert.Equal(YieldToResult.TargetNotRunnable, kit.Host.YieldTo(b, a, preempt: true));
    }

    [Fact]
    public void When_only_delayed_tasks_remain_the_cpu_goes_idle_and_nothing_stays_queued()
    {
        // A blocks delayed at 0.5 ms; B blocks at 0.6 ms: B (v=0.1e6) against V=(0.5e6+0.1e6)/2
        // is eligible, so B is dequeued; the pick then meets delayed A, dequeues it and finds nothing.
        var (kit, a, b) = BlockIneligibleA(delay: true);
        At(kit, 600);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        kit.Host.Block(b);
        var rq = kit.Host.Rqs[0];
        Assert.True(rq.Curr.IsIdle);
        Assert.Equal(0, rq.NrRunning);
        Assert.False(a.Se.OnRq);
        Assert.False(b.Se.OnRq);
        Assert.Equal(1, kit.Host.DelayedPickDequeues);
    }

    /// <summary>
    /// T alone in group /g (its entity weighs 1024 on the root queue) and R (root, nice 5: 335; its
    /// first deadline 1.146e6 of virtual time against /g's 0.75e6, so /g runs first). At 0.5 ms T
    /// blocks: alone in /g it is eligible there and is dequeued; /g empties, and its entity, at
    /// v=0.5e6 against V=(1024·0.5e6+335·0)/1359≈0.377e6, is not eligible: delayed.
    /// </summary>
    private static (HostKit Kit, TaskGroup G, HostTask T, HostTask R) BlockGroupWhileAhead()
    {
        var kit = Kit(delay: true);
        var g = kit.Host.CreateGroup("/g");
        var t = kit.Hog("T", group: g);
        var r = kit.Hog("R", nice: 5);
        At(kit, 500);
        Assert.Same(t, kit.Host.Rqs[0].Curr);
        kit.Host.Block(t);
        return (kit, g, t, r);
    }

    [Fact]
    public void A_group_entity_that_empties_while_not_eligible_is_delayed_and_requeued_when_its_task_wakes()
    {
        var (kit, g, t, r) = BlockGroupWhileAhead();
        var gse = g.Se[0];
        Assert.False(t.Se.OnRq);
        Assert.False(t.Se.SchedDelayed);
        Assert.True(gse.SchedDelayed);
        Assert.True(gse.OnRq);
        Assert.Equal(1, kit.Host.Rqs[0].NrRunning); // the task left; only /g's entity stays queued
        Assert.Same(r, kit.Host.Rqs[0].Curr);

        // T wakes while /g's entity is delayed: enqueue_task_fair meets it on the way up and requeues
        // it (its lag is negative, so it keeps its place).
        Assert.True(kit.Host.TryToWakeUp(t, 0));
        Assert.False(gse.SchedDelayed);
        Assert.True(gse.OnRq);
        Assert.True(t.Se.OnRq);
        Assert.Equal(2, kit.Host.Rqs[0].NrRunning);
        Assert.Equal(0, t.NrDelayedWakeups); // a normal wake-up: T itself was not delayed
        Assert.Equal(1, kit.Host.DelayedRequeues);
        long before = t.CpuTimeNs;
        kit.RunMs(5);
        Assert.True(t.CpuTimeNs > before);
    }

    [Fact]
    public void A_delayed_group_entity_that_a_pick_meets_is_dequeued_and_the_cpu_picks_on()
    {
        // R runs from 0.5 ms; at the 1 ms tick R (v≈1.53e6) has passed its deadline: the pick finds
        // /g's entity eligible (V≈0.754e6 ≥ 0.5e6) with the earlier deadline, dequeues it, picks R.
        var (kit, g, _, r) = BlockGroupWhileAhead();
        var gse = g.Se[0];
        At(kit, 900);
        Assert.True(gse.SchedDelayed);
        At(kit, 1_200);
        Assert.False(gse.OnRq);
        Assert.False(gse.SchedDelayed);
        Assert.Same(r, kit.Host.Rqs[0].Curr);
        Assert.Equal(1, kit.Host.Rqs[0].NrRunning);
        Assert.Equal(1, kit.Host.DelayedPickDequeues);
    }

    [Theory]
    [InlineData(FairClass.Eevdf612, MigrationType.Task, true)]
    [InlineData(FairClass.Eevdf614, MigrationType.Task, false)]
    [InlineData(FairClass.Eevdf618, MigrationType.Util, false)]
    [InlineData(FairClass.Eevdf618, MigrationType.Load, true)]
    public void From_6_14_the_balancer_moves_a_delayed_task_only_when_it_migrates_load(FairClass cls, MigrationType type, bool movable)
    {
        // can_migrate_task: 6.14/6.18 "if (p->se.sched_delayed && env->migration_type != migrate_load)
        // return 0" comes first; 6.12 has no such test. LBF_ACTIVE_LB skips the cache-hot test, so only
        // the delayed rule and the affinity decide here.
        var kit = new HostKit(2, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero },
            new SchedFeatures { Class = cls, DelayDequeue = true, Pelt = true, LoadBalance66 = true });
        var a = kit.Hog("A", affinity: HostKit.Cpu(0));
        kit.Hog("B", affinity: HostKit.Cpu(0));
        At(kit, 500);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        kit.Host.Block(a);
        Assert.True(a.Se.SchedDelayed);
        kit.Host.SetAffinity(a, HostKit.Cpu(0, 1), callerCpu: 0);
        var env = new HostScheduler.LbEnv66 { DstCpu = 1, SrcCpu = 0, MigrationType = type, Flags = HostScheduler.LbfActiveLb };
        Assert.Equal(movable, kit.Host.CanMigrateTask66(a, ref env));
    }

    [Theory]
    [InlineData(FairClass.Eevdf612, 2)]
    [InlineData(FairClass.Eevdf614, 1)]
    [InlineData(FairClass.Eevdf618, 1)]
    public void From_6_14_the_runnable_count_pelt_and_the_balancer_read_leaves_delayed_tasks_out(FairClass cls, int runnable)
    {
        // h_nr_running (6.12) counts a delayed task; 6.14's h_nr_runnable does not (set_delayed).
        var kit = Kit(delay: true, cls);
        var a = kit.Hog("A");
        kit.Hog("B");
        At(kit, 500);
        kit.Host.Block(a);
        var root = kit.Host.Rqs[0].Cfs;
        Assert.True(a.Se.SchedDelayed);
        Assert.Equal(2, root.HNrRunning);
        Assert.Equal(1, root.HNrDelayed);
        Assert.Equal(runnable, kit.Host.HNrRunnable(root));
        Assert.True(kit.Host.TryToWakeUp(a, 0));
        Assert.Equal(0, root.HNrDelayed);
        Assert.Equal(2, kit.Host.HNrRunnable(root));
    }
}

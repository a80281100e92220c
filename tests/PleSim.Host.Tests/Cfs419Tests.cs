using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Host.Tests;

/// <summary>
/// <c>host.scheduler: cfs-4.19</c> against 2.6.39 (decision 0049), hand-worked from
/// kernel/sched/fair.c at v4.19: <c>check_preempt_wakeup</c> makes a preempting wakee the next
/// buddy and updates the queue where the two hierarchies meet; <c>dequeue_task_fair</c> makes a
/// sleeping task's group entity the next buddy when the group still has runnable tasks.
/// </summary>
public class Cfs419Tests
{
    private static HostKit Kit(FairClass cls) => new(1, features: new SchedFeatures { Class = cls });

    /// <summary>A hog plus a sleeper that slept 50 ms, woken on the hog's CPU: far behind, it preempts.</summary>
    private static (HostKit Kit, HostTask Hog, HostTask Sleeper) WakeFarBehind(FairClass cls)
    {
        var kit = Kit(cls);
        var (hog, s) = kit.HogAndBlockedSleeper(20, 50);
        kit.Host.TryToWakeUp(s, 0);
        return (kit, hog, s);
    }

    [Fact]
    public void A_preempting_wakee_becomes_the_next_buddy_in_4_19_only()
    {
        // Two tasks: below sched_nr_latency (8), so neither NEXT_BUDDY (off) nor the last buddy
        // applies; only 4.19's "bias pick_next to the entity triggering the preemption" sets one.
        var (old, _, s0) = WakeFarBehind(FairClass.Cfs2639);
        Assert.True(old.Host.Rqs[0].NeedResched);
        Assert.Null(old.Host.Rqs[0].Cfs.Next);
        old.Settle();

        var (kit, hog, s) = WakeFarBehind(FairClass.Cfs419);
        Assert.True(kit.Host.Rqs[0].NeedResched);
        Assert.Same(s.Se, kit.Host.Rqs[0].Cfs.Next);
        // The pick takes it and clears the buddy (pick_next_entity → clear_buddies).
        kit.Settle();
        Assert.Same(s, kit.Host.Rqs[0].Curr);
        Assert.Null(kit.Host.Rqs[0].Cfs.Next);
        Assert.False(hog.OnCpu);
        Assert.Same(s0, old.Host.Rqs[0].Curr);
    }

    [Fact]
    public void A_wakee_that_does_not_preempt_is_no_buddy_in_4_19_either()
    {
        var kit = Kit(FairClass.Cfs419);
        var (hog, s) = kit.HogAndBlockedSleeper(0, 0);
        HostScheduler.SetVruntimeForTest(hog.Se, hog.Se.CfsRq.MinVruntime);
        s.Se.Vruntime = hog.Se.Vruntime - 500_000; // within the 1 ms wake-up granularity
        kit.Host.TryToWakeUp(s, 0);
        Assert.False(kit.Host.Rqs[0].NeedResched);
        Assert.Null(kit.Host.Rqs[0].Cfs.Next);
    }

    /// <summary>
    /// Groups /a (tasks a1, a2) and /b (task b1) on one CPU; a1 runs and blocks right after a tick,
    /// with /b's entity 0.3 ms of vruntime left of /a's (within the 1 ms wake-up granularity).
    /// Returns the root queue's next buddy right after the block, and who runs next.
    /// </summary>
    private static (SchedEntity? Next, SchedEntity GroupA, HostTask Picked, HostTask A2, HostTask B1) SleepInGroup(FairClass cls)
    {
        var kit = Kit(cls);
        var buddies = new BuddyLog();
        kit.Host.AddObserver(buddies);
        var ga = kit.Host.CreateGroup("/a");
        var gb = kit.Host.CreateGroup("/b");
        var a1 = kit.Hog("a1", group: ga);
        var a2 = kit.Hog("a2", group: ga);
        var b1 = kit.Hog("b1", group: gb);
        kit.RunMs(100);
        while (!a1.OnCpu)
            kit.RunMs(1); // whole milliseconds: the tick has just updated every level
        HostScheduler.SetVruntimeForTest(gb.Se[0], ga.Se[0].Vruntime - 300_000);
        buddies.Next = null;
        kit.Host.Block(a1); // dequeue, then schedule() at once: the pick clears the buddy it took
        kit.Settle();
        return (buddies.Next, ga.Se[0], kit.Host.Rqs[0].Curr, a2, b1);
    }

    [Fact]
    public void A_task_going_to_sleep_makes_its_group_the_next_buddy_in_4_19()
    {
        var (next0, _, picked0, _, b1Old) = SleepInGroup(FairClass.Cfs2639);
        Assert.Null(next0);
        Assert.Same(b1Old, picked0); // the leftmost group, /b

        var (next, groupA, picked, a2, _) = SleepInGroup(FairClass.Cfs419);
        Assert.Same(groupA, next);
        // /a is 0.3 ms right of /b: not unfair by more than the granularity, so the CPU stays
        // with group /a and a2 runs.
        Assert.Same(a2, picked);
    }

    [Fact]
    public void A_root_level_task_going_to_sleep_sets_no_buddy()
    {
        var kit = Kit(FairClass.Cfs419);
        var a = kit.Hog("a");
        kit.Hog("b");
        kit.RunMs(20);
        while (!a.OnCpu)
            kit.RunMs(1);
        kit.Host.Block(a);
        Assert.Null(kit.Host.Rqs[0].Cfs.Next);
    }

    /// <summary>
    /// /a holds a hog; /b a hog and a sleeper, so /b's entity stays on the root queue while the
    /// sleeper sleeps. A task of /a runs 0.6 ms past a tick when the sleeper wakes; returns how far
    /// /a's group entity's runtime advanced at that instant.
    /// </summary>
    private static long GroupEntityUpdateAtWakeup(FairClass cls)
    {
        var kit = Kit(cls);
        var ga = kit.Host.CreateGroup("/a");
        var gb = kit.Host.CreateGroup("/b");
        var a = kit.Hog("a", group: ga);
        kit.Hog("b2", group: gb);
        var b = kit.Host.CreateTask("b", new HogBody(), group: gb);
        kit.Host.WakeUpNewTask(b);
        kit.RunMs(30);
        while (!b.OnCpu)
            kit.RunMs(1);
        kit.Host.Block(b);
        while (!a.OnCpu)
            kit.RunMs(1);
        kit.RunFor(SimDuration.FromMicroseconds(600));
        Assert.True(a.OnCpu);
        Assert.True(gb.Se[0].OnRq);
        long before = ga.Se[0].SumExecRuntime;
        kit.Host.TryToWakeUp(b, 0);
        return ga.Se[0].SumExecRuntime - before;
    }

    [Fact]
    public void In_4_19_the_wakeup_check_updates_the_entity_where_the_hierarchies_meet()
    {
        // The wakee joins /b's queue; /b's entity is already on the root queue, so the enqueue
        // does not touch the root. 2.6.39 then updates only the running task's own queue (/a's):
        // /a's group entity keeps its value from the last tick. 4.19 updates the root queue, where
        // /a and /b meet, so the comparison sees the 0.6 ms /a has run since.
        Assert.Equal(0, GroupEntityUpdateAtWakeup(FairClass.Cfs2639));
        Assert.InRange(GroupEntityUpdateAtWakeup(FairClass.Cfs419), 500_000, 1_000_000);
    }

    [Fact]
    public void Without_groups_or_wakeups_4_19_schedules_like_2_6_39()
    {
        // Three hogs on one CPU never sleep: no wake-up preemption, no sleeping dequeue; the two
        // classes must make the same switches at the same instants.
        static (long, long, long) Run(FairClass cls)
        {
            var kit = Kit(cls);
            var x = kit.Hog("x");
            var y = kit.Hog("y");
            var z = kit.Hog("z");
            kit.RunMs(500);
            return (x.CpuTimeNs, y.CpuTimeNs, kit.Host.Rqs[0].NrSwitches);
        }
        Assert.Equal(Run(FairClass.Cfs2639), Run(FairClass.Cfs419));
    }

    /// <summary>The last entity made a next buddy (statistics hook of the scheduler).</summary>
    private sealed class BuddyLog : IHostObserver
    {
        public SchedEntity? Next;

        public void Buddy(int cpu, string kind, SchedEntity entity)
        {
            if (kind == "next")
                Next = entity;
        }
    }

    /// <summary>
    /// One CPU, A running and leftmost by 5 ms, B and C queued 1 and 2 ms ahead of that mark; A runs
    /// 3 ms, then yields to C. C is more than a wake-up granularity (1 ms) right of the leftmost (A,
    /// the skip buddy, and B within a granularity of it is not), so B or A is picked; here A's lead
    /// keeps B out too, and A is picked again. Returns A's slice start before and after.
    /// </summary>
    private static (long Before, long After, long Ran, HostTask Curr, HostTask A) YieldToRefusedThenRepicked(FairClass cls, bool groups)
    {
        var kit = Kit(cls);
        TaskGroup? ga = groups ? kit.Host.CreateGroup("/a") : null;
        TaskGroup? gb = groups ? kit.Host.CreateGroup("/b") : null;
        var a = kit.Hog("A", group: ga);
        kit.Settle();
        var b = kit.Hog("B", group: gb);
        var c = kit.Hog("C", group: gb);
        kit.Settle();
        Assert.True(a.OnCpu);
        var seA = a.Se.Parent ?? a.Se;
        var q = seA.CfsRq;
        long mark = q.MinVruntime;
        HostScheduler.SetVruntimeForTest(seA, mark - 5_000_000);
        HostScheduler.SetVruntimeForTest(b.Se.Parent ?? b.Se, mark + 1_000_000);
        if (!groups)
            HostScheduler.SetVruntimeForTest(c.Se, mark + 2_000_000);
        kit.RunMs(3);
        Assert.True(a.OnCpu);
        long before = a.Se.PrevSumExecRuntime;
        Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(a, c, preempt: true));
        kit.Settle();
        return (before, a.Se.PrevSumExecRuntime, a.Se.SumExecRuntime - before, kit.Host.Rqs[0].Curr, a);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_task_picked_again_after_a_refused_yield_to_keeps_its_slice_in_4_19_and_starts_a_new_one_in_2_6_39(bool groups)
    {
        // 4.19 pick_next_task_fair (CONFIG_FAIR_GROUP_SCHED): set_next_entity only when prev != p;
        // 2.6.39 calls it for every pick (decision 0073).
        var old = YieldToRefusedThenRepicked(FairClass.Cfs2639, groups);
        Assert.Same(old.A, old.Curr);
        Assert.True(old.After > old.Before, "2.6.39 restarts the slice of the task it picks again, at the yield");

        var now = YieldToRefusedThenRepicked(FairClass.Cfs419, groups);
        Assert.Same(now.A, now.Curr);
        Assert.Equal(now.Before, now.After);
        Assert.True(now.Ran >= 3_000_000, $"A ran {now.Ran} ns of this slice");
    }
}

using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

public class YieldToTests
{
    /// <summary>One CPU with A running and B, C runnable; B leftmost, C at <paramref name="cLead"/> ns after B.</summary>
    private static (HostKit Kit, HostTask A, HostTask B, HostTask C) OneCpu(long cLead, SchedFeatures? features = null, bool groups = false)
    {
        var kit = new HostKit(1, features: features);
        TaskGroup? ga = null, gb = null, gc = null;
        if (groups)
        {
            ga = kit.Host.CreateGroup("/a");
            gb = kit.Host.CreateGroup("/b");
            gc = kit.Host.CreateGroup("/c");
        }
        var a = kit.Hog("A", group: ga);
        kit.Settle();
        var b = kit.Hog("B", group: gb);
        var c = kit.Hog("C", group: gc);
        kit.Settle();
        Assert.True(a.OnCpu);
        var q = a.Se.Parent?.CfsRq ?? a.Se.CfsRq;  // the queue where the three compete
        long baseVr = q.MinVruntime;
        var seB = b.Se.Parent ?? b.Se;
        var seC = c.Se.Parent ?? c.Se;
        var seA = a.Se.Parent ?? a.Se;
        HostScheduler.SetVruntimeForTest(seB, baseVr);
        HostScheduler.SetVruntimeForTest(seC, baseVr + cLead);
        HostScheduler.SetVruntimeForTest(seA, baseVr + 10_000_000); // A ran a lot: not leftmost
        return (kit, a, b, c);
    }

    [Fact]
    public void After_yield_to_the_target_runs_next_when_within_a_wakeup_granularity_of_the_leftmost()
    {
        // 1 CPU: wakeup granularity 1 ms; C leads B by 0.9 ms.
        var (kit, a, _, c) = OneCpu(900_000);
        Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(a, c, preempt: true));
        Assert.Same(c, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void After_yield_to_the_leftmost_runs_when_the_target_is_more_than_a_wakeup_granularity_ahead()
    {
        var (kit, a, b, c) = OneCpu(1_100_000);
        Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(a, c, preempt: true));
        Assert.Same(b, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void Yield_to_sets_the_yielder_as_skip_buddy_and_the_target_as_next_buddy()
    {
        var (kit, a, _, c) = OneCpu(1_100_000);
        var q = a.Se.CfsRq;
        kit.Host.YieldTo(a, c, preempt: true);
        // The pick cleared nothing that pointed at B; C stays next buddy (stale), A skip.
        Assert.Same(c.Se, q.Next);
        Assert.Same(a.Se, q.Skip);
    }

    [Fact]
    public void Across_groups_yield_to_works_because_buddies_are_set_up_the_hierarchy()
    {
        var (kit, a, _, c) = OneCpu(900_000, groups: true);
        Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(a, c, preempt: true));
        Assert.Same(c, kit.Host.Rqs[0].Curr);
        // The skip buddy went up too: A's group entity is the root queue's skip buddy.
        Assert.Same(a.Se.Parent, kit.Host.Rqs[0].Cfs.Skip);
    }

    [Fact]
    public void Across_groups_without_hierarchical_buddies_the_top_level_picks_the_leftmost_group()
    {
        var (kit, a, b, c) = OneCpu(900_000, new SchedFeatures { HierarchicalBuddies = false }, groups: true);
        Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(a, c, preempt: true));
        Assert.Same(b, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void Yield_to_a_running_task_fails_and_the_yielder_keeps_running()
    {
        var kit = new HostKit(2);
        var a = kit.Hog("A", HostKit.Cpu(0));
        var b = kit.Hog("B", HostKit.Cpu(1), startCpu: 1);
        kit.Settle();
        Assert.Equal(YieldToResult.TargetRunning, kit.Host.YieldTo(a, b, preempt: true));
        Assert.Same(a, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void Yield_to_a_sleeping_task_fails_as_not_runnable()
    {
        var kit = new HostKit(2);
        var a = kit.Hog("A", HostKit.Cpu(0));
        var b = kit.Hog("B", HostKit.Cpu(1), startCpu: 1);
        kit.Settle();
        kit.Host.Block(b);
        Assert.Equal(YieldToResult.TargetNotRunnable, kit.Host.YieldTo(a, b, preempt: true));
    }

    [Fact]
    public void Yield_to_with_the_yielder_alone_sets_no_skip_buddy_yet_succeeds()
    {
        // A alone on CPU 0, target B waiting on CPU 1 behind a running hog.
        var kit = new HostKit(2);
        var a = kit.Hog("A", HostKit.Cpu(0));
        var h = kit.Hog("H", HostKit.Cpu(1), startCpu: 1);
        var b = kit.Hog("B", HostKit.Cpu(1), startCpu: 1);
        kit.Settle();
        Assert.True(h.OnCpu || b.OnCpu);
        var target = b.OnCpu ? h : b;
        Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(a, target, preempt: true));
        Assert.Null(a.Se.CfsRq.Skip);
        Assert.Same(target.Se, target.Se.CfsRq.Next);
        // A is picked again at once (it is alone) and CPU 1 got a resched for the target.
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        Assert.True(kit.Host.Rqs[1].NeedResched);
    }

    [Fact]
    public void With_the_undercommit_check_both_single_queues_return_esrch()
    {
        // 3.9: checked before anything else, so even a running target gives -ESRCH.
        var kit = new HostKit(2);
        var a = kit.Hog("A", HostKit.Cpu(0));
        var b = kit.Hog("B", HostKit.Cpu(1), startCpu: 1);
        kit.Settle();
        Assert.Equal(YieldToResult.BothQueuesSingle, kit.Host.YieldTo(a, b, preempt: true, undercommitCheck: true));
    }

    [Fact]
    public void Sched_yield_marks_the_skip_buddy_and_the_second_runs_when_within_a_granularity()
    {
        var (kit, a, b, _) = OneCpu(2_000_000);
        HostScheduler.SetVruntimeForTest(a.Se, a.Se.CfsRq.MinVruntime); // A as leftmost after put back
        kit.Host.Yield(a);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
    }
}

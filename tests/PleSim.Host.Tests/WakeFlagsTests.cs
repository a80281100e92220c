using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Host.Tests;

/// <summary>
/// Two wake-up details off the default features or outside the shipped scenarios (audit of the
/// 2.6.39 wake-up placement, docs/kernel-map.md): NEXT_BUDDY leaves a newly forked task unmarked
/// (WF_FORK; 2.6.39 and 4.19 <c>check_preempt_wakeup</c>, 6.6+ <c>check_preempt_wakeup_fair</c>),
/// and 2.6.39's <c>wake_affine</c> subtracts the idle task's nice-0 weight on a sync wake-up
/// issued from a CPU that runs its idle task.
/// </summary>
public class WakeFlagsTests
{
    public static TheoryData<FairClass> Classes => new() { FairClass.Cfs2639, FairClass.Cfs419, FairClass.Eevdf66, FairClass.Eevdf618 };

    [Theory]
    [MemberData(nameof(Classes))]
    public void With_next_buddy_on_a_forked_task_is_not_marked_but_a_woken_one_is(FairClass cls)
    {
        // One CPU, eight hogs: the queue reaches sched_nr_latency (8), so CFS's `scale` holds too.
        var kit = new HostKit(1, new SchedTunables { TickJitter = SimDuration.Zero }, new SchedFeatures { NextBuddy = true, Class = cls });
        var hogs = Enumerable.Range(0, 8).Select(i => kit.Hog("h" + i)).ToList();
        kit.RunMs(20);
        var cfs = kit.Host.Rqs[0].Cfs;
        Assert.False(kit.Host.Rqs[0].Curr.IsIdle);

        // wake_up_new_task → check_preempt_curr(WF_FORK): no next buddy for the child.
        var child = kit.Host.CreateTask("child", new HogBody());
        kit.Host.WakeUpNewTask(child, 0);
        Assert.True(child.Se.OnRq);
        Assert.NotSame(child.Se, cfs.Next);

        // An ordinary wake-up (wake flags 0) is marked.
        kit.RunMs(20);
        var sleeper = kit.Host.Rqs[0].Curr;
        kit.Host.Block(sleeper);
        kit.RunMs(5);
        Assert.True(kit.Host.TryToWakeUp(sleeper, 0));
        Assert.Same(sleeper.Se, cfs.Next);
        GC.KeepAlive(hogs);
    }

    [Fact]
    public void A_sync_wakeup_from_a_cpu_running_its_idle_task_subtracts_the_idle_tasks_nice_0_weight()
    {
        // Two single-CPU nodes: NODE is the only domain with SD_WAKE_AFFINE and it does not share
        // package resources, so select_idle_sibling keeps whichever CPU wake_affine chose.
        var kit = new HostKit(new HostTopology(2, 1).WithNodes(2), new SchedTunables { TickJitter = SimDuration.Zero });
        var hog = kit.Hog("hog", HostKit.Cpu(1), startCpu: 1);
        var p = kit.Host.CreateTask("p", new HogBody(), affinity: HostKit.Cpu(1));
        kit.Host.WakeUpNewTask(p, 1);
        var a = kit.Host.CreateTask("a", new HogBody(), affinity: HostKit.Cpu(0));
        kit.Host.WakeUpNewTask(a, 0);
        kit.RunMs(40);
        while (!p.OnCpu)
            kit.RunMs(1);
        kit.Host.Block(p);
        kit.Settle();
        kit.Host.Block(a);
        kit.RunMs(5);
        p.Affinity = HostKit.Cpu(0, 1);

        // a is woken onto CPU 0, which still runs its idle task (the switch has not happened yet):
        // CPU 0's weighted load is a's 1024 and CPU 1's is the hog's 1024.
        Assert.True(kit.Host.TryToWakeUp(a, 0));
        var rq0 = kit.Host.Rqs[0];
        Assert.True(rq0.Curr.IsIdle);
        Assert.Equal(Weights.Nice0Load, kit.Host.WeightedCpuload(0));
        Assert.Equal(Weights.Nice0Load, kit.Host.WeightedCpuload(1));
        Assert.Equal(1, p.Cpu);

        // From CPU 0, still in its idle task, a sync wake-up of p: wake_affine takes the idle task's
        // 1024 off this_load (root group: effective_load returns -1024), leaving 0, so `balanced`
        // (the else-branch of this_load > 0) and, with sync, affine: p goes to CPU 0. Without the
        // subtraction, this_load 1024 + 1024 against 1.12 × 1024 is not balanced, the light-load
        // test fails (1024 + 1024 > 1024 per task), and p would stay on CPU 1.
        Assert.True(kit.Host.TryToWakeUp(p, 0, sync: true));
        Assert.Equal(0, p.Cpu);
        GC.KeepAlive(hog);
    }
}

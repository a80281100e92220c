using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Host.Tests;

public class PreemptionTests
{
    [Fact]
    public void A_woken_task_more_than_a_wakeup_granularity_behind_preempts_the_running_one()
    {
        var kit = new HostKit(1);
        var (hog, s) = kit.HogAndBlockedSleeper(20, 50); // hog runs alone; s keeps its old vruntime, far behind
        kit.Host.TryToWakeUp(s, 0);
        Assert.True(kit.Host.Rqs[0].NeedResched);
        kit.Settle();
        Assert.Same(s, kit.Host.Rqs[0].Curr);
        Assert.False(hog.OnCpu);
    }

    [Fact]
    public void A_woken_task_within_a_wakeup_granularity_does_not_preempt()
    {
        var kit = new HostKit(1);
        var (hog, s) = kit.HogAndBlockedSleeper(0, 0);
        // s slept only now: its vruntime is about min_vruntime; the hog just started its turn.
        HostScheduler.SetVruntimeForTest(hog.Se, hog.Se.CfsRq.MinVruntime);
        // 0.5 ms behind the hog: less than the 1 ms wake-up granularity (place_entity never
        // moves it backwards, and the sleeper credit floor is further back).
        s.Se.Vruntime = hog.Se.Vruntime - 500_000;
        kit.Host.TryToWakeUp(s, 0);
        Assert.False(kit.Host.Rqs[0].NeedResched);
        Assert.True(hog.OnCpu);
    }

    [Fact]
    public void The_tick_preempts_a_task_that_used_its_ideal_slice()
    {
        // Two hogs on one CPU: period 6 ms, slice ~3 ms each; the switch happens at the first
        // tick after the slice is used up, and buddies of the preempted task are cleared.
        var kit = new HostKit(1);
        var a = kit.Hog("a");
        var b = kit.Hog("b");
        kit.RunMs(100);
        long switches = kit.Host.Rqs[0].NrSwitches;
        kit.RunMs(600);
        long per = kit.Host.Rqs[0].NrSwitches - switches;
        // ~3-4 ms per turn: between 150 and 200 switches in 600 ms.
        Assert.InRange(per, 150, 200);
        Assert.InRange(a.CpuTimeNs / (double)(a.CpuTimeNs + b.CpuTimeNs), 0.49, 0.51);
    }

    [Fact]
    public void The_last_buddy_is_set_on_wakeup_preemption_only_with_sched_nr_latency_tasks()
    {
        var few = new HostKit(1);
        few.Hog("h0");
        var s = few.Host.CreateTask("s", new HogBody());
        few.Host.WakeUpNewTask(s);
        few.RunMs(30);
        while (!s.OnCpu)
            few.RunMs(1);
        few.Host.Block(s);
        few.RunMs(50);
        few.Host.TryToWakeUp(s, 0);
        Assert.Null(few.Host.Rqs[0].Cfs.Last);

        var many = new HostKit(1);
        for (int i = 0; i < 8; i++)
            many.Hog("h" + i);
        var t = many.Host.CreateTask("t", new HogBody());
        many.Host.WakeUpNewTask(t);
        many.RunMs(200);
        while (!t.OnCpu)
            many.RunMs(1);
        many.Host.Block(t);
        many.RunMs(200);
        var curr = many.Host.Rqs[0].Curr;
        many.Host.TryToWakeUp(t, 0);
        Assert.True(many.Host.Rqs[0].NeedResched);
        Assert.Same(curr.Se, many.Host.Rqs[0].Cfs.Last);
    }
}

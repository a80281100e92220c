using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// 6.6 wake-up placement (select_task_rq_fair's wake path at v6.6; decision 0056): SIS_UTIL's scan
/// depth by hand, then wake-ups on a 4-CPU host (one LLC) that must land where the kernel's
/// wake_affine and select_idle_sibling put them.
/// </summary>
public class WakeSelect66Tests
{
    private static HostKit Kit(int cpus, int threadsPerCore = 1) =>
        new(cpus, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero },
            new SchedFeatures { Class = FairClass.Eevdf66, Pelt = true, LoadBalance66 = true, WakeSelect66 = true }, threadsPerCore);

    [Fact]
    public void Sis_util_scans_fewer_cpus_as_the_llc_fills_and_none_from_100_over_imbalance_pct()
    {
        Assert.Equal(8, HostScheduler.SisUtilNrIdleScan(0, 8, 117));
        // x = 512 per CPU: 512²·117²/(10000·1024) = 350 ⇒ (1024 − 350)·4/1024 = 2.
        Assert.Equal(2, HostScheduler.SisUtilNrIdleScan(4 * 512, 4, 117));
        // x = 1024·100/117 ≈ 875: the scan stops.
        Assert.Equal(0, HostScheduler.SisUtilNrIdleScan(4 * 876, 4, 117));
        Assert.Equal(0, HostScheduler.SisUtilNrIdleScan(4 * 1024, 4, 117));
    }

    /// <summary>A hog on cpu0 (the waker's CPU) and a sleeper that last ran on <paramref name="prev"/>, asleep.</summary>
    private static (HostKit Kit, HostTask Sleeper) SleeperOn(int prev, bool prevBusy)
    {
        var kit = Kit(4);
        kit.Hog("waker", HostKit.Cpu(0));
        if (prevBusy)
            kit.Hog("other", HostKit.Cpu(prev), startCpu: prev);
        var s = kit.Hog("s", HostKit.Cpu(prev), startCpu: prev);
        kit.RunMs(300);
        while (!s.OnCpu)
            kit.RunMs(1);
        kit.Host.Block(s);
        kit.Settle();
        kit.Host.SetAffinity(s, HostKit.Cpu(0, 1, 2, 3), 0); // asleep: only its next wake-up can move it
        kit.RunMs(20);
        return (kit, s);
    }

    [Fact]
    public void A_task_whose_previous_cpu_is_idle_wakes_there()
    {
        // wake_affine_idle: the waker's CPU is busy, the previous one idle ⇒ prev; it is idle ⇒ kept.
        var (kit, s) = SleeperOn(prev: 2, prevBusy: false);
        kit.Host.TryToWakeUp(s, 0);
        Assert.Equal(2, s.Cpu);
    }

    [Fact]
    public void A_task_whose_previous_cpu_is_busy_wakes_on_the_next_idle_cpu_of_the_llc()
    {
        // wake_affine keeps prev (cpu1: busy, its load still counting the sleeper); select_idle_sibling
        // finds prev busy and scans the LLC from prev + 1: cpu2 is idle. The periodic balance set the
        // SIS_UTIL depth (two busy CPUs of four ⇒ 2 CPUs).
        var (kit, s) = SleeperOn(prev: 1, prevBusy: true);
        Assert.True(kit.Host.LlcSharedForTest(0).NrIdleScan > 0, "the LLC balance should have set nr_idle_scan");
        kit.Host.TryToWakeUp(s, 0);
        Assert.Equal(2, s.Cpu);
        Assert.Equal(1, s.RecentUsedCpu); // select_idle_sibling remembers prev
    }

    [Fact]
    public void Forked_hogs_go_one_per_idle_cpu_by_find_idlest_group()
    {
        // The first stays (local group as idle as any); each next one goes to the first group with
        // the most idle CPUs (update_pick_idlest), beating the busier local group.
        var kit = Kit(4);
        var hogs = new HostTask[4];
        for (int i = 0; i < 4; i++)
            hogs[i] = kit.Hog($"h{i}");
        for (int i = 0; i < 4; i++)
            Assert.Equal(i, hogs[i].Cpu);
        // A fifth finds every group busier than none: it stays on the parent's CPU's side
        // (fully busy everywhere, no group beats the local one by imbalance_pct).
        var fifth = kit.Hog("h4");
        Assert.Equal(0, fifth.Cpu);
    }

    [Fact]
    public void The_idlest_group_is_the_less_busy_type_then_the_most_idle_cpus_then_the_lower_util()
    {
        var busy = new HostScheduler.SgLbStats66 { GroupType = GroupType.FullyBusy, AvgLoad = 900 };
        var spare1 = new HostScheduler.SgLbStats66 { GroupType = GroupType.HasSpare, IdleCpus = 1, GroupUtil = 300 };
        var spare2 = new HostScheduler.SgLbStats66 { GroupType = GroupType.HasSpare, IdleCpus = 2, GroupUtil = 600 };
        var spare1Low = spare1;
        spare1Low.GroupUtil = 100;
        Assert.True(HostScheduler.UpdatePickIdlest(busy, spare1));
        Assert.False(HostScheduler.UpdatePickIdlest(spare1, busy));
        Assert.True(HostScheduler.UpdatePickIdlest(spare1, spare2));
        Assert.True(HostScheduler.UpdatePickIdlest(spare1, spare1Low));
        Assert.False(HostScheduler.UpdatePickIdlest(spare1Low, spare1));
        var lighter = busy;
        lighter.AvgLoad = 800;
        Assert.True(HostScheduler.UpdatePickIdlest(busy, lighter));
        Assert.False(HostScheduler.UpdatePickIdlest(lighter, busy));
    }

    [Fact]
    public void Wake_up_placement_needs_the_6_6_balancer()
    {
        Assert.Throws<ArgumentException>(() => new HostKit(2, null, new SchedFeatures { Class = FairClass.Eevdf66, Pelt = true, WakeSelect66 = true }));
    }
}

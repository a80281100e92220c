using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// The 4.19 load balancer (kernel/sched/fair.c v4.19; decision 0053): group classification,
/// the busiest-group choice, find_busiest_group's checks and calculate_imbalance with
/// fix_small_imbalance on hand-built statistics, worked out from the source; then whole runs.
/// </summary>
public class LoadBalance419Tests
{
    private static HostScheduler.SgLbStats419 Stats(long nr, long weight, long capacity, long util, long load, long idle = 0) => new()
    {
        SumNrRunning = nr,
        GroupWeight = weight,
        GroupCapacity = capacity,
        GroupUtil = util,
        GroupLoad = load,
        SumWeightedLoad = load,
        AvgLoad = load * 1024 / capacity,
        LoadPerTask = nr != 0 ? load / nr : 0,
        IdleCpus = idle,
    };

    private static HostScheduler.SgLbStats419 Classified(int pct, SchedGroup g, HostScheduler.SgLbStats419 s)
    {
        s.GroupNoCapacity = HostScheduler.GroupIsOverloaded419(pct, s);
        s.GroupType = HostScheduler.GroupClassify419(g, s);
        return s;
    }

    private static HostScheduler.SdLbStats419 Domain(HostScheduler.SgLbStats419 local, HostScheduler.SgLbStats419 busiest) => new()
    {
        Local = new SchedGroup(HostKit.Cpu(0), local.GroupCapacity),
        Busiest = new SchedGroup(HostKit.Cpu(1), busiest.GroupCapacity),
        LocalStat = local,
        BusiestStat = busiest,
        TotalLoad = local.GroupLoad + busiest.GroupLoad,
        TotalCapacity = local.GroupCapacity + busiest.GroupCapacity,
        TotalRunning = local.SumNrRunning + busiest.SumNrRunning,
        AvgLoad = 1024 * (local.GroupLoad + busiest.GroupLoad) / (local.GroupCapacity + busiest.GroupCapacity),
    };

    // ---------------------------------------------------------------- group_classify (no misfit in 4.19)

    [Fact]
    public void Groups_are_overloaded_only_with_more_tasks_than_cpus_and_util_over_capacity()
    {
        var g = new SchedGroup(HostKit.Cpu(0, 1), 2048);
        // 3 tasks on 2 CPUs, util 2000: 2048·100 < 2000·117 ⇒ no capacity ⇒ overloaded.
        Assert.Equal(GroupType419.Overloaded, Classified(117, g, Stats(3, 2, 2048, 2000, 3072)).GroupType);
        // 3 tasks but util 1700: 204800 ≥ 198900 ⇒ other (4.19 has no runnable test, unlike 6.x).
        Assert.Equal(GroupType419.Other, Classified(117, g, Stats(3, 2, 2048, 1700, 3072)).GroupType);
        // As many tasks as CPUs: never overloaded, whatever the util.
        Assert.Equal(GroupType419.Other, Classified(117, g, Stats(2, 2, 2048, 2048, 2048)).GroupType);
        Assert.False(HostScheduler.GroupHasCapacity419(117, Stats(2, 2, 2048, 2000, 2048)));
        Assert.True(HostScheduler.GroupHasCapacity419(117, Stats(2, 2, 2048, 1000, 2048)));
        Assert.True(HostScheduler.GroupHasCapacity419(117, Stats(1, 2, 2048, 2048, 1024)));
        // sgc->imbalance: imbalanced unless overloaded.
        g.Imbalance = true;
        Assert.Equal(GroupType419.Imbalanced, Classified(117, g, Stats(1, 2, 2048, 1024, 1024)).GroupType);
        Assert.Equal(GroupType419.Overloaded, Classified(117, g, Stats(3, 2, 2048, 2000, 3072)).GroupType);
    }

    [Fact]
    public void The_busiest_group_is_the_higher_type_then_the_higher_avg_load()
    {
        var sds = default(HostScheduler.SdLbStats419);
        var other = Stats(2, 2, 2048, 1000, 4096);
        Assert.True(HostScheduler.UpdateSdPickBusiest419(sds, other));
        sds.BusiestStat = other;
        var overloaded = Stats(3, 2, 2048, 2040, 3072);
        overloaded.GroupType = GroupType419.Overloaded;
        Assert.True(HostScheduler.UpdateSdPickBusiest419(sds, overloaded)); // higher type, lower load
        sds.BusiestStat = overloaded;
        Assert.False(HostScheduler.UpdateSdPickBusiest419(sds, other)); // lower type, higher load
        var heavier = Stats(4, 2, 2048, 2040, 4096);
        heavier.GroupType = GroupType419.Overloaded;
        Assert.True(HostScheduler.UpdateSdPickBusiest419(sds, heavier));
        Assert.False(HostScheduler.UpdateSdPickBusiest419(sds, overloaded)); // equal avg_load: the first stays
    }

    // ---------------------------------------------------------------- calculate_imbalance

    [Fact]
    public void The_imbalance_is_the_smaller_distance_to_the_domain_average()
    {
        // One-CPU groups, pct 125: busiest 3 hogs (load 3072, overloaded), local 1 hog (1024).
        // Domain average 2048; max_pull = 1024; imbalance = min(1024·1024, 1024·1024)/1024 = 1024,
        // not below load_per_task (1024).
        var g = new SchedGroup(HostKit.Cpu(1), 1024);
        var sds = Domain(Classified(125, g, Stats(1, 1, 1024, 1024, 1024)), Classified(125, g, Stats(3, 1, 1024, 1024, 3072)));
        Assert.Equal(GroupType419.Overloaded, sds.BusiestStat.GroupType);
        Assert.Equal(1024, HostScheduler.CalculateImbalance419(ref sds, 1024));
    }

    [Fact]
    public void Two_overloaded_groups_cap_the_pull_at_the_load_above_capacity_then_fix_small_imbalance_moves_one_task()
    {
        // Two-CPU groups, pct 117. Busiest: 3 heavy tasks (load 6144, avg 3072, load_per_task 2048);
        // local: 3 light ones (1536, avg 768); both overloaded (util 2048). Domain average 1920.
        // load_above_capacity = (3·1024 − 2048)·1024/2048 = 512 ⇒ max_pull = min(1152, 512) = 512;
        // imbalance = min(512·2048, 1152·2048)/1024 = 1024 < 2048 ⇒ fix_small_imbalance: busiest
        // tasks heavier ⇒ imbn 1; scaled 1024; 3072 + 1024 ≥ 768 + 1024 ⇒ one busiest task: 2048.
        var g = new SchedGroup(HostKit.Cpu(2, 3), 2048);
        var sds = Domain(Classified(117, g, Stats(3, 2, 2048, 2048, 1536)), Classified(117, g, Stats(3, 2, 2048, 2048, 6144)));
        Assert.Equal(GroupType419.Overloaded, sds.LocalStat.GroupType);
        Assert.Equal(1920, sds.AvgLoad);
        Assert.Equal(2048, HostScheduler.CalculateImbalance419(ref sds, 512));
    }

    [Fact]
    public void Fix_small_imbalance_moves_nothing_when_no_capacity_would_be_gained()
    {
        // One-CPU groups. Busiest: 2 tasks of 1024 (avg 2048); local: 1 task of 1536. Average 1792;
        // imbalance min(256, 256) = 256 < 1024 ⇒ fix_small_imbalance: imbn 2; 2048 + 1024 < 1536 +
        // 2048; capa_now = (1024·1024 + 1024·1536)/1024 = 2560; capa_move = (1024·1024 +
        // 1024·min(1536, 1536 + 1024))/1024 = 2560: no gain ⇒ 0.
        var g = new SchedGroup(HostKit.Cpu(1), 1024);
        var sds = Domain(Classified(125, g, Stats(1, 1, 1024, 1024, 1536)), Classified(125, g, Stats(2, 1, 1024, 1024, 2048)));
        Assert.Equal(0, HostScheduler.CalculateImbalance419(ref sds, 1536));
        // Two tasks against one of the same weight: 2048 + 1024 ≥ 1024 + 2048 ⇒ one task (1024).
        var even = Domain(Classified(125, g, Stats(1, 1, 1024, 1024, 1024)), Classified(125, g, Stats(2, 1, 1024, 1024, 2048)));
        Assert.Equal(1024, HostScheduler.CalculateImbalance419(ref even, 1024));
    }

    // ---------------------------------------------------------------- find_busiest_group

    [Fact]
    public void An_idle_cpu_with_room_forces_balancing_against_a_group_without_capacity()
    {
        // Two-CPU groups, pct 117. Local: one heavy task (3000) — room left (1 task < 2 CPUs);
        // busiest: 3 hogs (3072, util 2048: no capacity). Averages 1500 vs 1536, domain 1518.
        // A busy CPU: 100·1536 ≤ 117·1500 ⇒ balanced.
        var g = new SchedGroup(HostKit.Cpu(2, 3), 2048);
        var local = Classified(117, g, Stats(1, 2, 2048, 1024, 3000));
        var busiest = Classified(117, g, Stats(3, 2, 2048, 2048, 3072));
        var sds = Domain(local, busiest);
        Assert.False(HostScheduler.FindBusiestGroupDecision419(CpuIdleType.NotIdle, 117, ref sds, 3000, out _));
        // An idle CPU: forced. calculate_imbalance: max_pull 18 ⇒ 36 < 1024 ⇒ fix_small_imbalance:
        // 1536 + 512 < 1500 + 1024, but capa_move 6072 > capa_now 5048 ⇒ one task (1024).
        sds = Domain(local, busiest);
        Assert.True(HostScheduler.FindBusiestGroupDecision419(CpuIdleType.Idle, 117, ref sds, 3000, out long imbalance));
        Assert.Equal(1518, sds.AvgLoad);
        Assert.Equal(1024, imbalance);
    }

    [Fact]
    public void An_idle_cpu_does_not_pull_from_a_group_that_is_not_overloaded_and_has_about_as_many_idle_cpus()
    {
        // Two-CPU groups: local idle (2 idle CPUs), busiest one hog plus one idle CPU (not
        // overloaded): idle CPUs 2 ≤ 1 + 1 ⇒ balanced. With the busiest group overloaded it pulls.
        var g = new SchedGroup(HostKit.Cpu(2, 3), 2048);
        var sds = Domain(Classified(117, g, Stats(0, 2, 2048, 0, 0, idle: 2)), Classified(117, g, Stats(1, 2, 2048, 1024, 1024, idle: 1)));
        Assert.False(HostScheduler.FindBusiestGroupDecision419(CpuIdleType.Idle, 117, ref sds, 0, out _));
        sds = Domain(Classified(117, g, Stats(0, 2, 2048, 0, 0, idle: 2)), Classified(117, g, Stats(3, 2, 2048, 2048, 3072)));
        Assert.True(HostScheduler.FindBusiestGroupDecision419(CpuIdleType.Idle, 117, ref sds, 0, out long imbalance));
        Assert.True(imbalance >= 1024, $"imbalance {imbalance}");
    }

    // ---------------------------------------------------------------- whole runs

    private static (HostKit Kit, HostTask[] Hogs) ThreeHogsOnTwoCpus(bool lb419)
    {
        var kit = new HostKit(2, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero },
            new SchedFeatures { Class = FairClass.Cfs419, Pelt419 = lb419, LoadBalance419 = lb419 });
        var hogs = new[] { kit.Hog("a"), kit.Hog("b"), kit.Hog("c") };
        return (kit, hogs);
    }

    [Fact]
    public void Three_hogs_on_two_cpus_migrate_and_their_cpu_shares_converge()
    {
        var (kit, hogs) = ThreeHogsOnTwoCpus(lb419: true);
        kit.RunMs(6000);
        long migrations = 0;
        long total = 0;
        foreach (var h in hogs)
        {
            migrations += h.Se.NrMigrations;
            total += h.Se.SumExecRuntime;
        }
        Assert.True(migrations >= 3, $"migrations {migrations}");
        Assert.InRange(total, 11_900_000_000L, 12_000_000_000L); // no CPU idle while three hogs run
        foreach (var h in hogs)
        {
            double share = h.Se.SumExecRuntime / 6e9;
            Assert.InRange(share, 0.55, 0.78); // 2/3 each once the balancer rotates the pair
        }
        // The balancer looked at runnable_load_avg: with both CPUs busy it is the PELT load.
        Assert.Equal(kit.Host.Rqs[0].Cfs.Avg.RunnableAvg, kit.Host.WeightedCpuload(0));
    }

    [Fact]
    public void The_same_run_gives_the_same_schedule()
    {
        static long[] RunOnce()
        {
            var (kit, hogs) = ThreeHogsOnTwoCpus(lb419: true);
            kit.RunMs(1500);
            return [.. hogs.Select(h => h.Se.SumExecRuntime), .. hogs.Select(h => h.Se.NrMigrations), kit.Host.Rqs[0].Cfs.Avg.LoadAvg];
        }

        Assert.Equal(RunOnce(), RunOnce());
    }
}

/// <summary>4.19 wake_affine (decision 0053): an idle waking CPU takes a wakee whose previous CPU is busy; weights decide otherwise.</summary>
public class WakeSelect419Tests
{
    [Fact]
    public void A_wakee_of_a_busy_cpu_woken_from_an_idle_cpu_comes_to_the_idle_cpu()
    {
        // wake_affine_idle: this CPU idle and sharing the cache with prev (one package), prev busy
        // ⇒ this CPU; 2.6.39's select_idle_sibling then keeps it (idle).
        var kit = new HostKit(2, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero },
            new SchedFeatures { Class = FairClass.Cfs419, Pelt419 = true, LoadBalance419 = true, WakeSelect419 = true });
        kit.Hog("busy", HostKit.Cpu(0));
        var s = kit.Hog("s", HostKit.Cpu(0));
        kit.RunMs(50);
        while (!s.OnCpu)
            kit.RunMs(1);
        kit.Host.Block(s);
        kit.Settle();
        kit.Host.SetAffinity(s, HostKit.Cpu(0, 1), 0);
        Assert.True(kit.Host.Rqs[1].IsIdle);
        kit.Host.TryToWakeUp(s, 1);
        Assert.Equal(1, s.Cpu);
    }

    [Fact]
    public void The_419_wake_placement_needs_the_419_balancer()
    {
        Assert.Throws<ArgumentException>(() => new HostKit(1, null, new SchedFeatures { Class = FairClass.Cfs419, Pelt419 = true, WakeSelect419 = true }));
    }
}

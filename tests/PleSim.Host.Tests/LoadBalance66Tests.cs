using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// The 6.6 load balancer (kernel/sched/fair.c v6.6; decision 0056): group classification, busiest
/// group choice and the imbalance with its migration type on hand-built statistics, then whole
/// passes on small hosts that must move the task the kernel would.
/// </summary>
public class LoadBalance66Tests
{
    private static HostKit Kit(int cpus) =>
        new(cpus, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero },
            new SchedFeatures { Class = FairClass.Eevdf66, Pelt = true, LoadBalance66 = true });

    private static HostScheduler.SgLbStats66 Stats(long nr, long weight, long capacity, long util, long runnable, long idle = 0) => new()
    {
        SumNrRunning = nr,
        SumHNrRunning = nr,
        GroupWeight = weight,
        GroupCapacity = capacity,
        GroupUtil = util,
        GroupRunnable = runnable,
        IdleCpus = idle,
    };

    private static SchedGroup Group(params int[] cpus) => new(HostKit.Cpu(cpus), 1024L * cpus.Length);

    private static SchedDomain Domain(SdFlags flags, SchedDomain? child, params SchedGroup[] groups)
    {
        var span = default(CpuMask);
        foreach (var g in groups)
            span = span | g.Cpus;
        return new SchedDomain { Name = "TEST", Span = span, Groups = groups, Flags = flags | SdFlags.LoadBalance, ImbalancePct = 117, Child = child };
    }

    // ---------------------------------------------------------------- group_classify

    [Fact]
    public void Groups_are_classified_by_tasks_against_cpus_and_by_util_and_runnable_against_capacity()
    {
        var g = Group(0, 1);
        // 3 tasks on 2 CPUs, util 2000 of 2048: 2048·100 < 2000·117 ⇒ overloaded.
        Assert.Equal(GroupType.Overloaded, HostScheduler.GroupClassify(117, g, Stats(3, 2, 2048, 2000, 3000)));
        // 3 tasks with runnable 3000: 3000·100 > 2048·117 ⇒ overloaded even at low util.
        Assert.Equal(GroupType.Overloaded, HostScheduler.GroupClassify(117, g, Stats(3, 2, 2048, 1000, 3000)));
        // 3 tasks, but util and runnable within capacity by imbalance_pct ⇒ room left ⇒ has spare.
        Assert.Equal(GroupType.HasSpare, HostScheduler.GroupClassify(117, g, Stats(3, 2, 2048, 1000, 2200)));
        // 2 tasks on 2 CPUs, util 2000: no room (2048·100 ≤ 2000·117) ⇒ fully busy.
        Assert.Equal(GroupType.FullyBusy, HostScheduler.GroupClassify(117, g, Stats(2, 2, 2048, 2000, 2000)));
        // 2 tasks on 2 CPUs using half: room ⇒ has spare; 1 task ⇒ has spare.
        Assert.Equal(GroupType.HasSpare, HostScheduler.GroupClassify(117, g, Stats(2, 2, 2048, 1000, 1000)));
        Assert.Equal(GroupType.HasSpare, HostScheduler.GroupClassify(117, g, Stats(1, 2, 2048, 1024, 1024)));
        // sgc->imbalance outranks all but overloaded.
        g.Imbalance = true;
        Assert.Equal(GroupType.Imbalanced, HostScheduler.GroupClassify(117, g, Stats(1, 2, 2048, 1024, 1024)));
        Assert.Equal(GroupType.Overloaded, HostScheduler.GroupClassify(117, g, Stats(3, 2, 2048, 2000, 3000)));
        g.Imbalance = false;
        var smt = Stats(2, 2, 2048, 1000, 1000);
        smt.GroupSmtBalance = true;
        Assert.Equal(GroupType.SmtBalance, HostScheduler.GroupClassify(117, g, smt));
    }

    [Fact]
    public void The_busiest_group_is_the_most_urgent_type_then_by_its_own_rule()
    {
        var sds = default(HostScheduler.SdLbStats66);
        var spare1 = Stats(1, 2, 2048, 1024, 1024, idle: 1);
        spare1.GroupType = GroupType.HasSpare;
        Assert.True(HostScheduler.UpdateSdPickBusiest66(sds, spare1)); // the first candidate
        sds.Busiest = Group(2, 3);
        sds.BusiestStat = spare1;
        var empty = Stats(0, 2, 2048, 0, 0, idle: 2);
        Assert.False(HostScheduler.UpdateSdPickBusiest66(sds, empty)); // nothing to pull
        var spare0 = Stats(2, 2, 2048, 1100, 1100, idle: 0);
        spare0.GroupType = GroupType.HasSpare;
        Assert.True(HostScheduler.UpdateSdPickBusiest66(sds, spare0)); // fewer idle CPUs
        var over = Stats(3, 2, 2048, 2040, 3072);
        over.GroupType = GroupType.Overloaded;
        over.AvgLoad = 1500;
        Assert.True(HostScheduler.UpdateSdPickBusiest66(sds, over)); // a higher type wins
        sds.BusiestStat = over;
        var lighter = over;
        lighter.AvgLoad = 1400;
        Assert.False(HostScheduler.UpdateSdPickBusiest66(sds, lighter)); // overloaded: by avg_load
        Assert.False(HostScheduler.UpdateSdPickBusiest66(sds, spare0)); // a lower type loses
        // Fully busy groups (avg_load 0): a later one replaces the busiest, unless they are SMT cores.
        var full = Stats(2, 2, 2048, 2040, 2048);
        full.GroupType = GroupType.FullyBusy;
        sds.BusiestStat = full;
        Assert.True(HostScheduler.UpdateSdPickBusiest66(sds, full, smtGroups: false));
        Assert.False(HostScheduler.UpdateSdPickBusiest66(sds, full, smtGroups: true));
    }

    // ---------------------------------------------------------------- calculate_imbalance

    [Fact]
    public void Spare_capacity_beside_an_overloaded_group_outside_a_cache_is_filled_by_util()
    {
        var local = Group(0, 1);
        var busy = Group(2, 3);
        var sd = Domain(SdFlags.None, null, local, busy); // no SD_SHARE_PKG_RESOURCES (a package or NUMA level)
        var env = new HostScheduler.LbEnv66 { Sd = sd, DstCpu = 0, Idle = CpuIdleType.Idle };
        var sds = new HostScheduler.SdLbStats66 { Local = local, Busiest = busy };
        sds.LocalStat = Stats(1, 2, 2048, 700, 700, idle: 1);
        sds.LocalStat.GroupType = GroupType.HasSpare;
        sds.BusiestStat = Stats(4, 2, 2048, 2040, 4096);
        sds.BusiestStat.GroupType = GroupType.Overloaded;
        HostScheduler.CalculateImbalance66(ref env, ref sds);
        Assert.Equal(MigrationType.Util, env.MigrationType);
        Assert.Equal(2048 - 700, env.Imbalance);
    }

    [Fact]
    public void Spare_capacity_inside_a_cache_with_prefer_sibling_evens_out_the_task_counts()
    {
        var child = Domain(SdFlags.PreferSibling, null, Group(0));
        var local = Group(0, 1);
        var busy = Group(2, 3);
        var sd = Domain(SdFlags.SharePkgResources, child, local, busy);
        var env = new HostScheduler.LbEnv66 { Sd = sd, DstCpu = 0, Idle = CpuIdleType.Idle };
        var sds = new HostScheduler.SdLbStats66 { Local = local, Busiest = busy, PreferSibling = true };
        sds.LocalStat = Stats(0, 2, 2048, 0, 0, idle: 2);
        sds.LocalStat.GroupType = GroupType.HasSpare;
        sds.BusiestStat = Stats(5, 2, 2048, 2040, 5120);
        sds.BusiestStat.GroupType = GroupType.Overloaded;
        HostScheduler.CalculateImbalance66(ref env, ref sds);
        // sibling_imbalance: equal core counts ⇒ 5 − 0; halved ⇒ 2 tasks.
        Assert.Equal(MigrationType.Task, env.MigrationType);
        Assert.Equal(2, env.Imbalance);
        // A busy destination does not spread (sibling_imbalance is 0 for CPU_NOT_IDLE).
        env.Idle = CpuIdleType.NotIdle;
        HostScheduler.CalculateImbalance66(ref env, ref sds);
        Assert.Equal(0, env.Imbalance);
    }

    [Fact]
    public void Two_overloaded_groups_move_load_towards_the_domain_average()
    {
        var local = Group(0);
        var busy = Group(1);
        var sd = Domain(SdFlags.SharePkgResources, null, local, busy);
        var env = new HostScheduler.LbEnv66 { Sd = sd, DstCpu = 0, Idle = CpuIdleType.NotIdle };
        var sds = new HostScheduler.SdLbStats66 { Local = local, Busiest = busy, TotalLoad = 6000, TotalCapacity = 2048 };
        sds.LocalStat = Stats(2, 1, 1024, 1024, 2048);
        sds.LocalStat.GroupType = GroupType.Overloaded;
        sds.LocalStat.AvgLoad = 2000;
        sds.BusiestStat = Stats(4, 1, 1024, 1024, 4096);
        sds.BusiestStat.GroupType = GroupType.Overloaded;
        sds.BusiestStat.AvgLoad = 4000;
        sds.AvgLoad = 6000 * 1024 / 2048; // 3000, as find_busiest_group sets it
        HostScheduler.CalculateImbalance66(ref env, ref sds);
        Assert.Equal(MigrationType.Load, env.MigrationType);
        Assert.Equal(Math.Min((4000 - 3000) * 1024, (3000 - 2000) * 1024) / 1024, env.Imbalance);
    }

    [Fact]
    public void Imbalanced_and_smt_balance_groups_move_one_task()
    {
        var local = Group(0);
        var busy = Group(1);
        var sd = Domain(SdFlags.SharePkgResources, null, local, busy);
        foreach (var type in new[] { GroupType.Imbalanced, GroupType.SmtBalance })
        {
            var env = new HostScheduler.LbEnv66 { Sd = sd, DstCpu = 0, Idle = CpuIdleType.Idle };
            var sds = new HostScheduler.SdLbStats66 { Local = local, Busiest = busy };
            sds.BusiestStat = Stats(2, 1, 1024, 1024, 2048);
            sds.BusiestStat.GroupType = type;
            HostScheduler.CalculateImbalance66(ref env, ref sds);
            Assert.Equal(MigrationType.Task, env.MigrationType);
            Assert.Equal(1, env.Imbalance);
        }
    }

    // ---------------------------------------------------------------- whole passes

    /// <summary>Hogs pinned to cpu0 for the warm-up, then free to run anywhere (the affinity change moves nobody).</summary>
    private static HostTask[] PinnedThenFree(HostKit kit, int count, int cpu, string prefix)
    {
        var tasks = new HostTask[count];
        for (int i = 0; i < count; i++)
            tasks[i] = kit.Hog($"{prefix}{i}", HostKit.Cpu(cpu), startCpu: cpu);
        return tasks;
    }

    [Fact]
    public void An_idle_cpu_pulls_one_task_the_least_recently_run_one()
    {
        var kit = Kit(cpus: 2);
        var hogs = PinnedThenFree(kit, 3, 0, "h");
        kit.RunMs(300);
        var all = HostKit.Cpu(0, 1);
        foreach (var h in hogs)
            kit.Host.SetAffinity(h, all, 0);
        var rq0 = kit.Host.Rqs[0];
        var tail = rq0.CfsTasks[^1];
        Assert.False(tail.OnCpu);
        Assert.Equal(3, rq0.CfsTasks.Count);
        var sd = kit.Host.Rqs[1].Domains[0];
        long passes = kit.Host.Lb66ImbalanceByType[(int)MigrationType.Task];
        long moved = kit.Host.Lb66TasksMovedByType[(int)MigrationType.Task];
        Assert.True(kit.Host.LoadBalanceForTest(1, sd, CpuIdleType.Idle));
        // Busiest cpu0 is overloaded, the local group has spare capacity inside the cache:
        // migrate_task, sibling_imbalance (3 − 0) halved ⇒ one task, from the tail of cfs_tasks.
        Assert.Equal(passes + 1, kit.Host.Lb66ImbalanceByType[(int)MigrationType.Task]);
        Assert.Equal(moved + 1, kit.Host.Lb66TasksMovedByType[(int)MigrationType.Task]);
        Assert.Equal(1, tail.Cpu);
        Assert.Equal(1, kit.Host.Rqs[1].NrRunning);
        Assert.Equal(2, rq0.NrRunning);
    }

    [Fact]
    public void A_busy_cpu_with_fewer_tasks_pulls_load_from_an_overloaded_one()
    {
        var kit = Kit(cpus: 2);
        var four = PinnedThenFree(kit, 4, 0, "a");
        PinnedThenFree(kit, 2, 1, "b");
        kit.RunMs(400);
        foreach (var h in four)
            kit.Host.SetAffinity(h, HostKit.Cpu(0, 1), 0);
        var sd = kit.Host.Rqs[1].Domains[0];
        long passes = kit.Host.Lb66ImbalanceByType[(int)MigrationType.Load];
        long moved = kit.Host.Lb66TasksMovedByType[(int)MigrationType.Load];
        long movedAll = kit.Host.Lb66TasksMovedByType.Sum();
        Assert.True(kit.Host.LoadBalanceForTest(1, sd, CpuIdleType.NotIdle));
        // Both overloaded: avg_load ≈ 4096 and 2048, domain average ≈ 3072 ⇒ migrate_load of
        // ≈ 1024, which one nice-0 task's h_load fits.
        Assert.Equal(passes + 1, kit.Host.Lb66ImbalanceByType[(int)MigrationType.Load]);
        Assert.Equal(moved + 1, kit.Host.Lb66TasksMovedByType[(int)MigrationType.Load]);
        Assert.Equal(movedAll + 1, kit.Host.Lb66TasksMovedByType.Sum());
        Assert.Equal(3, kit.Host.Rqs[0].NrRunning);
        Assert.Equal(3, kit.Host.Rqs[1].NrRunning);
    }

    [Fact]
    public void Balanced_cpus_move_nothing_and_a_busy_cpu_never_pulls_into_spare_capacity()
    {
        var kit = Kit(cpus: 2);
        var a = PinnedThenFree(kit, 2, 0, "a");
        var b = PinnedThenFree(kit, 2, 1, "b");
        kit.RunMs(300);
        foreach (var h in a.Concat(b))
            kit.Host.SetAffinity(h, HostKit.Cpu(0, 1), 0);
        var sd = kit.Host.Rqs[1].Domains[0];
        long moved = kit.Host.Lb66TasksMovedByType.Sum();
        Assert.False(kit.Host.LoadBalanceForTest(1, sd, CpuIdleType.NotIdle));
        Assert.Equal(moved, kit.Host.Lb66TasksMovedByType.Sum());
        Assert.Equal(2, kit.Host.Rqs[0].NrRunning);
    }

    [Fact]
    public void Five_free_hogs_on_four_cpus_spread_to_every_cpu_under_invariants()
    {
        var kit = Kit(cpus: 4);
        for (int i = 0; i < 5; i++)
            kit.Hog($"h{i}");
        kit.RunMs(2000);
        for (int c = 0; c < 4; c++)
            Assert.True(kit.Host.Rqs[c].NrRunning >= 1, $"cpu{c} runs {kit.Host.Rqs[c].NrRunning}");
        Assert.Equal(5, kit.Host.Rqs.Sum(r => r.NrRunning));
        Assert.Equal(5, kit.Host.Rqs.Sum(r => r.CfsTasks.Count));
    }

    [Fact]
    public void The_6_6_balancer_needs_pelt()
    {
        Assert.Throws<ArgumentException>(() => new HostKit(2, null, new SchedFeatures { Class = FairClass.Eevdf66, LoadBalance66 = true }));
    }
}

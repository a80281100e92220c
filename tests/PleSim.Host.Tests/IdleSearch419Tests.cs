using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Host.Tests;

/// <summary>
/// cfs-4.19's scheduling domains and idle search (decision 0064), worked by hand from v4.19's
/// kernel/sched/topology.c (sd_init, sched_init_numa, cpu_attach_domain) and kernel/sched/fair.c
/// (select_idle_sibling, select_idle_core/cpu/smt with SIS_PROP, find_idlest_group).
/// </summary>
public class IdleSearch419Tests
{
    /// <summary>cfs-4.19 with all its 4.19 parts (PELT, balancer, wake-up, domains, idle search); also used by <see cref="WakeAuditTests"/>.</summary>
    internal static readonly SchedFeatures Full419 = new()
    {
        Class = FairClass.Cfs419, Pelt419 = true, LoadBalance419 = true, WakeSelect419 = true, Domains419 = true, IdleSearch419 = true,
    };

    internal static HostKit Kit(HostTopology topo) =>
        new(topo, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero }, Full419);

    private const SdFlags Base = SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.BalanceExec | SdFlags.BalanceFork | SdFlags.WakeAffine;

    // ---------------------------------------------------------------- domains

    [Fact]
    public void Two_smt_sockets_give_smt_mc_and_one_numa_level_with_4_19_sd_init_values()
    {
        // 2 nodes × 4 cores × 2 threads. DIE and NODE span the node like MC with one group each:
        // sd_parent_degenerate drops them. NUMA (distance 20 ≤ RECLAIM_DISTANCE 30) keeps fork/exec/affine.
        var kit = Kit(new HostTopology(8, 2).WithNodes(2));
        var ds = kit.Host.Rqs[5].Domains;
        Assert.Equal(["SMT", "MC", "NUMA"], ds.Select(d => d.Name));
        var (smt, mc, numa) = (ds[0], ds[1], ds[2]);
        Assert.Equal(CpuMask.FromUInt64(0x30), smt.Span);
        Assert.Equal(Base | SdFlags.ShareCpupower | SdFlags.SharePkgResources | SdFlags.PreferSibling, smt.Flags);
        Assert.Equal((2, 4, 32, 110, 0), (smt.MinInterval, smt.MaxInterval, smt.BusyFactor, smt.ImbalancePct, smt.CacheNiceTries));
        Assert.Equal((0, 0, 0, 0, 0), (smt.BusyIdx, smt.IdleIdx, smt.NewidleIdx, smt.WakeIdx, smt.ForkexecIdx));
        Assert.Equal(CpuMask.FromUInt64(0xff), mc.Span);
        Assert.Equal(Base | SdFlags.SharePkgResources | SdFlags.PreferSibling, mc.Flags);
        Assert.Equal((8, 16, 32, 117, 1), (mc.MinInterval, mc.MaxInterval, mc.BusyFactor, mc.ImbalancePct, mc.CacheNiceTries));
        Assert.Equal((2, 0, 0, 0, 0), (mc.BusyIdx, mc.IdleIdx, mc.NewidleIdx, mc.WakeIdx, mc.ForkexecIdx));
        Assert.Equal(4, mc.Groups.Length);
        Assert.Equal(CpuMask.FromUInt64(0xffff), numa.Span);
        Assert.Equal(Base | SdFlags.Serialize | SdFlags.Numa | SdFlags.Overlap, numa.Flags);
        Assert.Equal((16, 32, 32, 125, 2), (numa.MinInterval, numa.MaxInterval, numa.BusyFactor, numa.ImbalancePct, numa.CacheNiceTries));
        Assert.Equal((3, 2, 0, 0, 0), (numa.BusyIdx, numa.IdleIdx, numa.NewidleIdx, numa.WakeIdx, numa.ForkexecIdx));
        Assert.Equal([CpuMask.FromUInt64(0xff), CpuMask.FromUInt64(0xff00)], numa.Groups.Select(g => g.Cpus));
        Assert.Equal(0, numa.ImbNumaNr); // no imb_numa_nr in 4.19
        // The same host under cfs-4.19 with 2.6.39's domains keeps SIBLING/MC/NODE (decision 0053's state).
        var old = new HostKit(new HostTopology(8, 2).WithNodes(2), null, Full419 with { Domains419 = false });
        Assert.Equal(["SIBLING", "MC", "NODE"], old.Host.Rqs[5].Domains.Select(d => d.Name));
    }

    [Fact]
    public void A_numa_level_beyond_reclaim_distance_neither_forks_nor_wakes_affine_and_one_node_keeps_the_node_level_name_off()
    {
        var far = Kit(new HostTopology(4, 1).WithNodes(2, distance: [[10, 40], [40, 10]]));
        var numa = far.Host.Rqs[0].Domains[^1];
        Assert.Equal("NUMA", numa.Name);
        Assert.Equal(SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.Serialize | SdFlags.Numa | SdFlags.Overlap, numa.Flags);
        // One node, no SMT: SMT has weight 1 (degenerate), MC spans everything and ends the walk.
        var one = Kit(new HostTopology(4, 1));
        var d = Assert.Single(one.Host.Rqs[0].Domains);
        Assert.Equal("MC", d.Name);
        Assert.False(d.Has(SdFlags.Serialize));
    }

    [Fact]
    public void Domains_419_are_refused_off_cfs_4_19()
    {
        Assert.Throws<ArgumentException>(() => new HostKit(4, null, new SchedFeatures { Class = FairClass.Cfs2639, Domains419 = true }));
        Assert.Throws<ArgumentException>(() => new HostKit(4, null, new SchedFeatures { Class = FairClass.Cfs419, Pelt419 = true, LoadBalance419 = true, IdleSearch419 = true }));
    }

    // ---------------------------------------------------------------- select_idle_sibling

    /// <summary>One socket of 4 cores × 2 threads (siblings 2k, 2k+1), pinned hogs on <paramref name="busy"/>, and an unstarted task p allowed everywhere.</summary>
    private static (HostKit Kit, HostTask P) Busy(int cores, int threads, params int[] busy)
    {
        var kit = Kit(new HostTopology(cores, threads));
        foreach (int c in busy)
            kit.Hog($"h{c}", HostKit.Cpu(c), startCpu: c);
        kit.RunMs(5);
        var p = kit.Host.CreateTask("p", new HogBody());
        return (kit, p);
    }

    [Fact]
    public void An_idle_target_is_kept_and_an_idle_cache_sharing_previous_cpu_is_taken_next()
    {
        var (kit, p) = Busy(4, 2, 0, 1, 2);
        Assert.Equal(3, kit.Host.SelectIdleSibling419ForTest(p, prev: 0, target: 3, thisCpu: 0));
        Assert.Equal(4, kit.Host.SelectIdleSibling419ForTest(p, prev: 4, target: 0, thisCpu: 0));
    }

    [Fact]
    public void An_idle_recent_used_cpu_is_taken_and_replaced_by_prev()
    {
        var (kit, p) = Busy(4, 2, 0, 1, 2);
        p.RecentUsedCpu = 6;
        Assert.Equal(6, kit.Host.SelectIdleSibling419ForTest(p, prev: 1, target: 0, thisCpu: 0));
        Assert.Equal(1, p.RecentUsedCpu);
        // Not allowed there: skipped (the scan then finds an idle core instead, or the first idle CPU).
        kit.Host.SetAffinity(p, HostKit.Cpu(0, 1, 2, 3, 4, 5, 7), 0);
        p.RecentUsedCpu = 6;
        Assert.NotEqual(6, kit.Host.SelectIdleSibling419ForTest(p, prev: 1, target: 0, thisCpu: 0));
        Assert.Equal(6, p.RecentUsedCpu); // unchanged when not taken (4.19, unlike 6.x)
    }

    [Fact]
    public void An_idle_core_is_preferred_to_the_busy_targets_idle_sibling_while_the_hint_is_set()
    {
        // Busy: 0 (core 0 half busy), 2 and 3 (core 1). Target 0, prev 2.
        var (kit, p) = Busy(4, 2, 0, 2, 3);
        kit.Host.SetHasIdleCoresForTest(0, true);
        // select_idle_core from 0: core {0,1} not idle, {2,3} busy, {4,5} idle ⇒ 4.
        Assert.Equal(4, kit.Host.SelectIdleSibling419ForTest(p, prev: 2, target: 0, thisCpu: 0));
        Assert.True(kit.Host.LlcSharedForTest(0).HasIdleCores);
        // Without the hint: select_idle_cpu from 0 finds 1, the target's idle sibling.
        kit.Host.SetHasIdleCoresForTest(0, false);
        Assert.Equal(1, kit.Host.SelectIdleSibling419ForTest(p, prev: 2, target: 0, thisCpu: 0));
    }

    [Fact]
    public void A_fruitless_idle_core_scan_clears_the_hint_and_the_cpu_scan_follows()
    {
        var (kit, p) = Busy(4, 2, 0, 2, 4, 6);
        kit.Host.SetHasIdleCoresForTest(0, true);
        Assert.Equal(1, kit.Host.SelectIdleSibling419ForTest(p, prev: 2, target: 0, thisCpu: 0));
        Assert.False(kit.Host.LlcSharedForTest(0).HasIdleCores);
    }

    [Fact]
    public void Sis_prop_scan_depth_is_the_llc_weight_times_avg_idle_over_512_over_avg_scan_cost_at_least_4()
    {
        // avg_idle 1 ms ⇒ 1953; cost 0 ⇒ 1; 8 × 1953 = 15624 > 4.
        Assert.Equal(15624, HostScheduler.SisPropScanDepth(1_000_000, 0, 8));
        // avg_idle' 100, avg_cost 100: 800 > 400 ⇒ 8.
        Assert.Equal(8, HostScheduler.SisPropScanDepth(512 * 100, 99, 8));
        // avg_idle' 50, avg_cost 100: 400 is not > 400 ⇒ 4.
        Assert.Equal(4, HostScheduler.SisPropScanDepth(512 * 50, 99, 8));
        Assert.Equal(4, HostScheduler.SisPropScanDepth(0, 0, 8));
    }

    [Fact]
    public void A_short_avg_idle_cuts_the_scan_before_the_idle_cpus_and_a_full_scan_feeds_avg_scan_cost()
    {
        // 8 CPUs, no SMT, one LLC; 0–4 busy, 5–7 idle; target 0 and prev 1 busy.
        var (kit, p) = Busy(8, 1, 0, 1, 2, 3, 4);
        // nr = 4: three CPUs inspected (0, 1, 2), none idle ⇒ the target; the cut scan leaves the cost alone.
        kit.Host.SetScanStateForTest(0, avgScanCost: 99, avgIdle: 512 * 50);
        Assert.Equal(0, kit.Host.SelectIdleSibling419ForTest(p, prev: 1, target: 0, thisCpu: 0));
        Assert.Equal(99, kit.Host.AvgScanCostForTest(0));
        // A long avg_idle: the scan reaches cpu5 after six CPUs ⇒ cost 99 + (6·50 − 99)/8 = 124.
        kit.Host.SetScanStateForTest(0, avgScanCost: 99, avgIdle: 1_000_000);
        Assert.Equal(5, kit.Host.SelectIdleSibling419ForTest(p, prev: 1, target: 0, thisCpu: 0));
        Assert.Equal(99 + (6 * HostScheduler.SisScanCostPerCpuNs - 99) / 8, kit.Host.AvgScanCostForTest(0));
    }

    // ---------------------------------------------------------------- fork: find_idlest_group

    [Fact]
    public void Forks_spread_to_the_first_remote_group_not_heavier_by_imbalance_then_stay_once_all_carry_a_task()
    {
        // 4 CPUs, one MC level with single-CPU groups. The first fork from idle cpu0: every group is
        // at 0 and the first remote one is taken (ULONG_MAX > 0 + 174; the local one is not lighter
        // by avg_load) ⇒ cpu1; then cpu2, cpu3 (each new task adds 1024 of runnable load); the
        // fourth finds every remote group heavier than the empty local one by more than 174 ⇒ cpu0.
        var kit = Kit(new HostTopology(4, 1));
        var cpus = new int[4];
        for (int i = 0; i < 4; i++)
            cpus[i] = kit.Hog($"f{i}").Cpu;
        Assert.Equal([1, 2, 3, 0], cpus);
    }
}

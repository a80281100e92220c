using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// Sched domains above MC (decision 0039), worked by hand from the kernels' sources: 2.6.39's
/// SD_*_INIT / __build_sched_domains / cpu_attach_domain, 6.x's sd_init / sched_init_numa /
/// build_sched_domains, and the balancer's SD_SERIALIZE and wake-affine rules at those levels.
/// </summary>
public class NumaDomainTests
{
    private static readonly SchedFeatures Eevdf66 = new() { Class = FairClass.Eevdf66 };

    /// <summary>2 nodes × 4 cores × 2 threads: CPUs 0-7 on node 0, 8-15 on node 1.</summary>
    private static HostTopology TwoSockets(int[][]? distance = null) => new HostTopology(8, 2).WithNodes(2, distance: distance);

    private static string Masks(SchedDomain d) => string.Join(" ", d.Groups.Select(g => g.Cpus.ToString()));

    [Fact]
    public void Cfs_2_6_39_two_sockets_give_sibling_mc_and_node_with_the_x86_64_sd_node_init_values()
    {
        var kit = new HostKit(TwoSockets());
        var ds = kit.Host.Rqs[5].Domains;
        // CPU (SD_CPU_INIT) spans the node like MC with one group (the package): degenerate, dropped.
        Assert.Equal(["SIBLING", "MC", "NODE"], ds.Select(d => d.Name));
        Assert.Equal(CpuMask.FromUInt64(0x30), ds[0].Span);
        Assert.Equal(CpuMask.FromUInt64(0xff), ds[1].Span);
        Assert.Equal(4, ds[1].Groups.Length);
        Assert.Equal(CpuMask.FromUInt64(0x30), ds[1].Groups[0].Cpus); // its own core first
        var node = ds[2];
        Assert.Equal(CpuMask.FromUInt64(0xffff), node.Span);
        Assert.Equal([CpuMask.FromUInt64(0xff), CpuMask.FromUInt64(0xff00)], node.Groups.Select(g => g.Cpus));
        Assert.Equal((8, 32, 32, 125, 2), (node.MinInterval, node.MaxInterval, node.BusyFactor, node.ImbalancePct, node.CacheNiceTries));
        Assert.Equal((3, 2, 0, 0, 0), (node.BusyIdx, node.IdleIdx, node.NewidleIdx, node.WakeIdx, node.ForkexecIdx));
        Assert.Equal(SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.BalanceExec | SdFlags.BalanceFork | SdFlags.WakeAffine | SdFlags.Serialize, node.Flags);
        Assert.Equal(8 * 589, node.Groups[1].CpuPower); // eight threads of smt_gain / 2
        // A CPU of node 1 enters the node list at its own node.
        Assert.Equal([CpuMask.FromUInt64(0xff00), CpuMask.FromUInt64(0xff)], kit.Host.Rqs[12].Domains[2].Groups.Select(g => g.Cpus));
    }

    [Fact]
    public void Cfs_2_6_39_one_node_keeps_the_old_tree_and_no_serialised_level()
    {
        var kit = new HostKit(new HostTopology(4, 1));
        var d = Assert.Single(kit.Host.Rqs[0].Domains);
        Assert.Equal("MC", d.Name);
        Assert.False(d.Has(SdFlags.Serialize));
    }

    [Fact]
    public void Cfs_2_6_39_builds_allnodes_only_beyond_sixteen_nodes_worth_of_cpus_and_node_spans_the_sixteen_nearest()
    {
        // 17 nodes of one CPU: cpu_map (17) > SD_NODES_PER_DOMAIN (16) × the node's CPUs (1).
        var kit = new HostKit(new HostTopology(17, 1).WithNodes(17));
        var ds = kit.Host.Rqs[0].Domains;
        Assert.Equal(["NODE", "ALLNODES"], ds.Select(d => d.Name));
        // sched_domain_node_span: node 0 and the 15 nearest (all at 20: found in order 1, 2, …, 15).
        Assert.Equal(CpuMask.FromUInt64(0xffff), ds[0].Span);
        var all = ds[1];
        Assert.Equal(CpuMask.All(17), all.Span);
        Assert.Equal((64, 64 * 17, 128, 133, 1, 3, 3), (all.MinInterval, all.MaxInterval, all.BusyFactor, all.ImbalancePct, all.CacheNiceTries, all.BusyIdx, all.IdleIdx));
        Assert.Equal(64, all.BalanceInterval);
        Assert.False(all.Has(SdFlags.WakeAffine));
        Assert.False(all.Has(SdFlags.BalanceFork));
        Assert.True(all.Has(SdFlags.Serialize));
        Assert.Equal(17, all.Groups.Length);

        var eight = new HostKit(new HostTopology(8, 1).WithNodes(8));
        Assert.DoesNotContain(eight.Host.Rqs[0].Domains, d => d.Name == "ALLNODES");
    }

    [Fact]
    public void Eevdf_two_sockets_give_smt_mc_and_one_numa_level_with_sd_init_values_and_imb_numa_nr()
    {
        var kit = new HostKit(TwoSockets(), features: Eevdf66);
        var ds = kit.Host.Rqs[5].Domains;
        // DIE spans the node like MC (one group) and NODE the same: both dropped; NUMA is distance 20.
        Assert.Equal(["SMT", "MC", "NUMA"], ds.Select(d => d.Name));
        Assert.Equal((2, 4, 16, 110, 0), (ds[0].MinInterval, ds[0].MaxInterval, ds[0].BusyFactor, ds[0].ImbalancePct, ds[0].CacheNiceTries));
        Assert.Equal((8, 16, 16, 117, 1), (ds[1].MinInterval, ds[1].MaxInterval, ds[1].BusyFactor, ds[1].ImbalancePct, ds[1].CacheNiceTries));
        var numa = ds[2];
        Assert.Equal((16, 32, 16, 117, 2), (numa.MinInterval, numa.MaxInterval, numa.BusyFactor, numa.ImbalancePct, numa.CacheNiceTries));
        Assert.Equal(16, numa.BalanceInterval);
        Assert.True(numa.Has(SdFlags.Numa));
        Assert.True(numa.Has(SdFlags.Serialize));
        Assert.True(numa.Has(SdFlags.WakeAffine)); // 20 is not beyond RECLAIM_DISTANCE (30)
        Assert.False(numa.Has(SdFlags.PreferSibling));
        Assert.True(ds[1].Has(SdFlags.PreferSibling));
        Assert.Equal("0-7 8-15", Masks(numa));
        // One LLC per node: imb = 8 >> 3 = 1 at DIE; the NUMA level spans one first-NUMA-level span: 1.
        Assert.Equal(1, numa.ImbNumaNr);
        Assert.Equal(1024, kit.Host.CpuPower(5)); // 6.x: every CPU has SCHED_CAPACITY_SCALE
    }

    [Fact]
    public void Eevdf_far_nodes_lose_wake_affine_and_fork_balancing_at_the_numa_level()
    {
        var far = HostTopology.DefaultDistances(2);
        far[0][1] = far[1][0] = 40;
        var numa = new HostKit(TwoSockets(far), features: Eevdf66).Host.Rqs[0].Domains[^1];
        Assert.Equal("NUMA", numa.Name);
        Assert.False(numa.Has(SdFlags.WakeAffine));
        Assert.False(numa.Has(SdFlags.BalanceFork));
        Assert.False(numa.Has(SdFlags.BalanceExec));
        Assert.True(numa.Has(SdFlags.Serialize));
    }

    [Fact]
    public void Eevdf_four_node_ring_builds_the_overlapping_levels_of_the_kernels_own_example()
    {
        // kernel/sched/topology.c's example: node distances 10/20/30 in a ring 0-1-2-3-0.
        int[][] ring = [[10, 20, 30, 20], [20, 10, 20, 30], [30, 20, 10, 20], [20, 30, 20, 10]];
        var kit = new HostKit(new HostTopology(4, 1).WithNodes(4, distance: ring), features: Eevdf66);
        var ds = kit.Host.Rqs[0].Domains;
        Assert.Equal(["NUMA", "NUMA"], ds.Select(d => d.Name));
        Assert.Equal("0-1,3", ds[0].Span.ToString());
        Assert.Equal("0 1 3", Masks(ds[0]));
        Assert.Equal(CpuMask.All(4), ds[1].Span);
        Assert.Equal("0-1,3 1-3", Masks(ds[1]));
        Assert.True(ds[1].Has(SdFlags.WakeAffine)); // 30 is not > RECLAIM_DISTANCE
        Assert.Equal("1-3 0-1,3", Masks(kit.Host.Rqs[2].Domains[1]));
    }

    [Fact]
    public void A_serialised_level_is_balanced_by_one_cpu_at_a_time()
    {
        var kit = new HostKit(TwoSockets(), new SchedTunables { TickJitter = SimDuration.Zero, SerializedBalanceHold = SimDuration.FromMicroseconds(5) });
        var node0 = kit.Host.Rqs[0].Domains[2];
        var node1 = kit.Host.Rqs[8].Domains[2];
        Assert.True(node0.Has(SdFlags.Serialize));
        node0.LastBalance = node1.LastBalance = -100; // both due
        kit.Host.Rqs[8].Domains[1].LastBalance = -100;
        // CPU 0 and CPU 8 (each its node's first idle CPU) reach NODE at the same instant.
        kit.Host.RebalanceDomainsForTest(0, CpuIdleType.Idle);
        kit.Host.RebalanceDomainsForTest(8, CpuIdleType.Idle);
        Assert.Equal(1, node0.LbCount);
        Assert.Equal(0, node1.LbCount);
        Assert.Equal(1, node1.SerializeSkipped);
        Assert.Equal(-100, node1.LastBalance); // skipped: still due
        // The lower levels are not serialised: CPU 8 balanced its MC all the same.
        Assert.Equal(1, kit.Host.Rqs[8].Domains[1].LbCount);
        // Once CPU 0's pass is over the lock is free.
        kit.RunFor(SimDuration.FromMicroseconds(6));
        kit.Host.RebalanceDomainsForTest(8, CpuIdleType.Idle);
        Assert.Equal(1, node1.LbCount);
    }

    [Fact]
    public void Without_a_hold_time_two_cpus_at_the_same_instant_both_balance_the_serialised_level()
    {
        var kit = new HostKit(TwoSockets(), new SchedTunables { TickJitter = SimDuration.Zero, SerializedBalanceHold = SimDuration.Zero });
        var node0 = kit.Host.Rqs[0].Domains[2];
        var node1 = kit.Host.Rqs[8].Domains[2];
        node0.LastBalance = node1.LastBalance = -100;
        kit.Host.RebalanceDomainsForTest(0, CpuIdleType.Idle);
        kit.Host.RebalanceDomainsForTest(8, CpuIdleType.Idle);
        Assert.Equal((1L, 1L, 0L), (node0.LbCount, node1.LbCount, node1.SerializeSkipped));
    }

    [Fact]
    public void An_overloaded_node_is_pulled_from_only_when_the_node_level_is_due()
    {
        // 2 nodes × 2 CPUs; four hogs start pinned to node 0, then may run anywhere.
        var kit = new HostKit(new HostTopology(4, 1).WithNodes(2), new SchedTunables { TickJitter = SimDuration.Zero, MigrationCostNs = SimDuration.Zero });
        var hogs = Enumerable.Range(0, 4).Select(i => kit.Hog("h" + i, HostKit.Cpu(0, 1))).ToArray();
        kit.RunMs(5);
        foreach (var h in hogs)
            h.Affinity = HostKit.Cpu(0, 1, 2, 3);
        var rq2 = kit.Host.Rqs[2];
        var ds = rq2.Domains;
        Assert.Equal(["MC", "NODE"], ds.Select(d => d.Name));
        var node = ds[1];
        long now = kit.Host.Jiffies;
        // An idle CPU's interval is balance_interval, not multiplied by busy_factor: 8 ms here,
        // as after three balanced passes (it doubles from 1 towards max_interval 32).
        node.BalanceInterval = 8;
        node.LastBalance = now - 7;
        kit.Host.RebalanceDomainsForTest(2, CpuIdleType.Idle);
        Assert.Equal(0, rq2.NrRunning); // MC (node 1 only) has nothing to pull; NODE not due
        Assert.Equal(now - 7, node.LastBalance);
        node.LastBalance = now - 8;
        kit.Host.RebalanceDomainsForTest(2, CpuIdleType.Idle);
        Assert.True(rq2.NrRunning >= 1, "the NODE level pulls once its interval has passed");
        Assert.Equal(now, node.LastBalance);
        Assert.All(rq2.Cfs.Tasks, t => Assert.Contains(t, hogs));
    }

    [Theory]
    [InlineData(20, true)]
    [InlineData(40, false)]
    public void Wake_affine_crosses_nodes_only_where_the_numa_level_has_sd_wake_affine(int remote, bool crosses)
    {
        var d = HostTopology.DefaultDistances(2);
        d[0][1] = d[1][0] = remote;
        var kit = new HostKit(TwoSockets(d), features: Eevdf66);
        var p = kit.Hog("wakee", HostKit.Cpu(9), startCpu: 9);
        kit.RunMs(1);
        Assert.Equal(9, p.Cpu);
        p.Affinity = CpuMask.All(16);
        int target = kit.Host.SelectWakeCpuForTest(p, sync: false, thisCpu: 0);
        Assert.Equal(crosses ? 0 : 1, kit.Host.Topology.NodeOf(target));
    }

    [Fact]
    public void Cfs_2_6_39_node_level_keeps_wake_affine_so_an_idle_waker_pulls_the_wakee_to_its_node()
    {
        var kit = new HostKit(TwoSockets());
        var p = kit.Hog("wakee", HostKit.Cpu(9), startCpu: 9);
        kit.RunMs(1);
        p.Affinity = CpuMask.All(16);
        Assert.Equal(0, kit.Host.Topology.NodeOf(kit.Host.SelectWakeCpuForTest(p, sync: false, thisCpu: 0)));
    }

    [Fact]
    public void The_numa_imbalance_allowance_leaves_a_pair_on_its_node_under_eevdf_but_not_under_2_6_39()
    {
        // 2 nodes × 4 CPUs (no SMT): imb_numa_nr = max(1, 4 >> 3) = 1 at the NUMA level.
        foreach (var (features, pulls) in new[] { (Eevdf66, false), (new SchedFeatures(), true) })
        {
            var kit = new HostKit(new HostTopology(8, 1).WithNodes(2), new SchedTunables { TickJitter = SimDuration.Zero, MigrationCostNs = SimDuration.Zero }, features);
            // Both on CPU 0 of node 0; node 1 is idle. 2.6.39 (new-idle pass) pulls one; 6.x's
            // adjust_numa_imbalance forgives an imbalance of 2 towards an empty node (0 + 1 <= 1).
            var a = kit.Hog("a", HostKit.Cpu(0));
            var b = kit.Hog("b", HostKit.Cpu(0));
            kit.RunMs(3);
            a.Affinity = b.Affinity = CpuMask.All(8);
            var top = kit.Host.Rqs[4].Domains[^1];
            Assert.Equal(features.Class.IsEevdf() ? "NUMA" : "NODE", top.Name);
            top.LastBalance = -1000;
            bool moved = kit.Host.LoadBalanceForTest(4, top, CpuIdleType.NewlyIdle);
            Assert.Equal(pulls, moved);
        }
    }
}

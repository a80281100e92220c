namespace PleSim.Host;

/// <summary>
/// Builds each CPU's scheduling-domain tree from the topology, as the host's kernel does at boot
/// (decision 0039), then drops the levels that do not contribute (<c>cpu_attach_domain</c>).
/// <list type="bullet">
/// <item>2.6.39 (kernel/sched.c <c>__build_sched_domains</c>, x86-64 with CONFIG_SCHED_SMT,
/// CONFIG_SCHED_MC and CONFIG_NUMA): SIBLING (SD_SIBLING_INIT), MC (SD_MC_INIT, the last-level
/// cache = the package), CPU (SD_CPU_INIT, spanning the node, groups = packages), NODE
/// (x86's SD_NODE_INIT, spanning the node and its up-to-15 nearest nodes) and ALLNODES
/// (SD_ALLNODES_INIT, only when there are more than 16 × a node's CPUs).</item>
/// <item>6.x (kernel/sched/topology.c <c>build_sched_domains</c> / <c>sd_init</c> with x86's
/// topology table, and <c>sched_init_numa</c>): SMT, MC, DIE (6.6; PKG from 6.7), NODE (the
/// node itself) and one NUMA level per further distinct distance of the SLIT, stopping at the
/// first level that spans every CPU; then <c>imb_numa_nr</c>.</item>
/// <item>4.19 (decision 0064; kernel/sched/topology.c at v4.19): the same levels as 6.x (x86_topology
/// SMT, MC, DIE; <c>sched_init_numa</c>'s NODE and NUMA levels, its distances read from node 0's
/// row of the SLIT) with 4.19's <c>sd_init</c> parameters (busy_factor 32, imbalance_pct 125/117/110,
/// the busy/idle load indexes, SD_PREFER_SIBLING on the non-NUMA levels) and 4.19's
/// <c>sd_degenerate</c>/<c>sd_parent_degenerate</c> flag lists; no imb_numa_nr.</item>
/// </list>
/// Only built once per host: allocation here is fine (the event loop never calls it).
/// </summary>
public static class SchedDomainBuilder
{
    /// <summary>SD_NODES_PER_DOMAIN (kernel/sched.c, 2.6.39).</summary>
    public const int SdNodesPerDomain = 16;

    /// <summary>smt_gain of SD_SIBLING_INIT (2.6.39): 1178, i.e. +15% for a core's threads together.</summary>
    public const long SmtGain = 1178;

    /// <summary>
    /// <c>rq-&gt;cpu_power</c> of each CPU at boot. 2.6.39: <c>default_scale_smt_power</c> gives each
    /// of t threads smt_gain / t (1024 without SMT). 6.x: every CPU has capacity
    /// SCHED_CAPACITY_SCALE (1024); smt_gain no longer exists.
    /// </summary>
    public static long CpuPower(HostTopology topo, FairClass cls) =>
        !cls.IsEevdf() && topo.ThreadsPerCore > 1 ? SmtGain / topo.ThreadsPerCore : Weights.Nice0Load;

    /// <summary>The domains of every CPU, lowest level first, after degenerate levels are removed.</summary>
    public static SchedDomain[][] Build(HostTopology topo, FairClass cls, long[] cpuPower, bool domains419 = false)
    {
        if (domains419 && cls != FairClass.Cfs419)
            throw new ArgumentException("4.19's scheduling domains (decision 0064) are built for cfs-4.19 only", nameof(domains419));
        var b = new Builder(topo, cls, cpuPower);
        return cls.IsEevdf() ? b.Build6x(v419: false) : domains419 ? b.Build6x(v419: true) : b.Build2639();
    }

    /// <summary>A domain under construction (the kernel's struct before cpu_attach_domain).</summary>
    private sealed class Proto
    {
        public required string Name;
        public CpuMask Span;
        public SdFlags Flags;
        public int MinInterval = 1, MaxInterval = 4, BusyFactor = 64, ImbalancePct = 125, CacheNiceTries;
        public int BusyIdx, IdleIdx, NewidleIdx, WakeIdx, ForkexecIdx;
        public long BalanceInterval = 1;
        public int ImbNumaNr;
        public int NumaLevel = -1;
        public SchedGroup[] Groups = [];
        public Proto? Parent, Child;
        public int SpanWeight => Span.Count;
    }

    private sealed class Builder(HostTopology topo, FairClass cls, long[] cpuPower)
    {
        private readonly int _n = topo.NrCpus;
        private readonly Dictionary<(string, CpuMask), SchedGroup> _shared = [];

        private SchedGroup Group(string key, CpuMask cpus)
        {
            if (!_shared.TryGetValue((key, cpus), out var g))
            {
                long power = 0;
                for (int c = cpus.First; c >= 0; c = cpus.Next(c + 1))
                    power += cpuPower[c];
                g = new SchedGroup(cpus, power);
                _shared[(key, cpus)] = g;
            }
            return g;
        }

        // ------------------------------------------------------------ 2.6.39

        public SchedDomain[][] Build2639()
        {
            var result = new SchedDomain[_n][];
            var all = topo.AllMask;
            int nodes = topo.NrNodes;
            for (int cpu = 0; cpu < _n; cpu++)
            {
                var nodeMask = topo.NodeMask(topo.NodeOf(cpu));
                var chain = new List<Proto>();
                // SD_SIBLING_INIT (include/linux/topology.h): groups = the threads.
                var sibling = new Proto
                {
                    Name = "SIBLING",
                    Span = topo.SiblingMask(cpu),
                    Flags = SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.BalanceExec | SdFlags.BalanceFork
                        | SdFlags.WakeAffine | SdFlags.ShareCpupower | SdFlags.SharePkgResources,
                    MinInterval = 1, MaxInterval = 2, BusyFactor = 64, ImbalancePct = 110,
                };
                sibling.Groups = RotatedGroups("sibling", cpu, SplitInto(sibling.Span, c => CpuMask.Of(c)));
                chain.Add(sibling);
                // SD_MC_INIT: cpu_coregroup_mask = the last-level cache = the package = the node here; groups = cores.
                // sd_balance_for_mc_power() is SD_PREFER_SIBLING with sched_mc/smt_power_savings off (the default).
                var mc = new Proto
                {
                    Name = "MC",
                    Span = nodeMask,
                    Flags = SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.BalanceExec | SdFlags.BalanceFork
                        | SdFlags.WakeAffine | SdFlags.SharePkgResources | SdFlags.PreferSibling,
                    MinInterval = 1, MaxInterval = 4, BusyFactor = 64, ImbalancePct = 125, CacheNiceTries = 1,
                    BusyIdx = 2, IdleIdx = 0, NewidleIdx = 0, WakeIdx = 0, ForkexecIdx = 0,
                };
                mc.Groups = RotatedGroups("core", cpu, SplitInto(mc.Span, topo.SiblingMask));
                chain.Add(mc);
                // SD_CPU_INIT: spans d->nodemask (the node); groups = cpu_to_phys_group = the MC spans (packages).
                // sd_balance_for_package_power() is SD_PREFER_SIBLING with power savings off.
                var phys = new Proto
                {
                    Name = "CPU",
                    Span = nodeMask,
                    Flags = SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.BalanceExec | SdFlags.BalanceFork
                        | SdFlags.WakeAffine | SdFlags.PreferSibling,
                    MinInterval = 1, MaxInterval = 4, BusyFactor = 64, ImbalancePct = 125, CacheNiceTries = 1,
                    BusyIdx = 2, IdleIdx = 1, NewidleIdx = 0, WakeIdx = 0, ForkexecIdx = 0,
                };
                phys.Groups = RotatedGroups("package", cpu, SplitInto(phys.Span, c => topo.NodeMask(topo.NodeOf(c))));
                chain.Add(phys);
                // SD_NODE_INIT of arch/x86/include/asm/topology.h (x86-64: SD_CACHE_NICE_TRIES 2, SD_IDLE_IDX 2).
                int home = topo.NodeOf(cpu);
                var node = new Proto
                {
                    Name = "NODE",
                    Span = NodeSpan2639(home) & all,
                    Flags = SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.BalanceExec | SdFlags.BalanceFork
                        | SdFlags.WakeAffine | SdFlags.Serialize,
                    MinInterval = 8, MaxInterval = 32, BusyFactor = 32, ImbalancePct = 125, CacheNiceTries = 2,
                    BusyIdx = 3, IdleIdx = 2, NewidleIdx = 0, WakeIdx = 0, ForkexecIdx = 0,
                };
                node.Groups = NodeGroups2639(home, node.Span);
                chain.Add(node);
                // SD_ALLNODES_INIT, only when cpu_map has more than SD_NODES_PER_DOMAIN × the node's CPUs (__build_numa_sched_domains).
                if (_n > SdNodesPerDomain * nodeMask.Count)
                {
                    var allnodes = new Proto
                    {
                        Name = "ALLNODES",
                        Span = all,
                        Flags = SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.Serialize,
                        MinInterval = 64, MaxInterval = 64 * _n, BusyFactor = 128, ImbalancePct = 133, CacheNiceTries = 1,
                        BusyIdx = 3, IdleIdx = 3, NewidleIdx = 0, WakeIdx = 0, ForkexecIdx = 0,
                        BalanceInterval = 64,
                    };
                    allnodes.Groups = RotatedGroups("allnodes", cpu, SplitInto(all, c => topo.NodeMask(topo.NodeOf(c))));
                    chain.Add(allnodes);
                }
                Link(chain);
                result[cpu] = Attach(chain[0], nodes, Flavour.V2639);
            }
            return result;
        }

        /// <summary><c>sched_domain_node_span</c>: the node and its SD_NODES_PER_DOMAIN − 1 nearest nodes (<c>find_next_best_node</c>).</summary>
        private CpuMask NodeSpan2639(int node)
        {
            int nr = topo.NrNodes;
            var used = new bool[nr];
            var span = topo.NodeMask(node);
            used[node] = true;
            for (int i = 1; i < SdNodesPerDomain; i++)
            {
                int best = 0, min = int.MaxValue;
                for (int j = 0; j < nr; j++)
                {
                    int n = (node + j) % nr;
                    if (used[n])
                        continue;
                    int val = topo.Distance(node, n);
                    if (val < min)
                    {
                        min = val;
                        best = n;
                    }
                }
                // With every node used the kernel falls back to node 0, already in the span.
                used[best] = true;
                span.Or(topo.NodeMask(best));
            }
            return span;
        }

        /// <summary><c>build_numa_sched_groups</c>: the home node first, then nodes home+1, home+2, … (mod) in the span; one list per home node.</summary>
        private SchedGroup[] NodeGroups2639(int home, CpuMask span)
        {
            int nr = topo.NrNodes;
            var groups = new List<SchedGroup> { Group($"node{home}", topo.NodeMask(home)) };
            for (int j = 0; j < nr; j++)
            {
                int n = (home + j) % nr;
                if (n == home)
                    continue;
                var m = topo.NodeMask(n) & span;
                if (!m.IsEmpty)
                    groups.Add(Group($"node{home}", m));
            }
            return groups.ToArray();
        }

        /// <summary>The distinct units <paramref name="unitOf"/> cuts <paramref name="span"/> into, in order of their first CPU.</summary>
        private static List<CpuMask> SplitInto(CpuMask span, Func<int, CpuMask> unitOf)
        {
            var units = new List<CpuMask>();
            var covered = default(CpuMask);
            for (int c = span.First; c >= 0; c = span.Next(c + 1))
            {
                if (covered.Contains(c))
                    continue;
                var u = unitOf(c) & span;
                covered.Or(u);
                units.Add(u);
            }
            return units;
        }

        /// <summary>2.6.39's circular group list (init_sched_build_groups: CPU order) entered at <paramref name="cpu"/>'s own group.</summary>
        private SchedGroup[] RotatedGroups(string key, int cpu, List<CpuMask> units)
        {
            int start = units.FindIndex(u => u.Contains(cpu));
            var groups = new SchedGroup[units.Count];
            for (int i = 0; i < units.Count; i++)
                groups[i] = Group(key, units[(start + i) % units.Count]);
            return groups;
        }

        // ------------------------------------------------------------ 6.x

        /// <summary>6.x's domains, or 4.19's when <paramref name="v419"/> (same levels, 4.19's sd_init and degenerate rules).</summary>
        public SchedDomain[][] Build6x(bool v419)
        {
            int nodes = topo.NrNodes;
            // sched_init_numa: the distinct SLIT values, ascending (level 0 = LOCAL_DISTANCE).
            // 4.19 reads them from node 0's row only (without sched_debug it trusts node 0 to be representative).
            var distances = new SortedSet<int>();
            for (int i = 0; i < (v419 ? 1 : nodes); i++)
            {
                for (int j = 0; j < nodes; j++)
                    distances.Add(topo.Distance(i, j));
            }
            var numaDistance = distances.ToArray();
            string pkg = cls is FairClass.Eevdf66 or FairClass.Cfs419 ? "DIE" : "PKG"; // renamed in v6.7
            Func<string, CpuMask, SdFlags, int, int, Proto> sdInit = v419 ? SdInit419 : SdInit;
            var all = topo.AllMask;
            var levels = new List<Proto?[]>();
            var bottoms = new Proto[_n];
            for (int cpu = 0; cpu < _n; cpu++)
            {
                int node = topo.NodeOf(cpu);
                var chain = new List<Proto>();
                // x86_topology (arch/x86/kernel/smpboot.c): SMT (x86_smt_flags), MC (x86_core_flags), DIE/PKG (cpu_cpu_mask = the node).
                chain.Add(sdInit("SMT", topo.SiblingMask(cpu), SdFlags.ShareCpupower | SdFlags.SharePkgResources, -1, 0));
                if (!Spans(chain, all))
                    chain.Add(sdInit("MC", topo.NodeMask(node), SdFlags.SharePkgResources, -1, 0));
                if (!Spans(chain, all))
                    chain.Add(sdInit(pkg, topo.NodeMask(node), SdFlags.None, -1, 0));
                for (int lvl = 0; lvl < numaDistance.Length && !Spans(chain, all); lvl++)
                {
                    var mask = default(CpuMask);
                    for (int k = 0; k < nodes; k++)
                    {
                        if (topo.Distance(node, k) <= numaDistance[lvl])
                            mask.Or(topo.NodeMask(k));
                    }
                    // Level 0 is the NODE identity level (no topology flags); the others carry SD_NUMA and overlap.
                    var p = lvl == 0
                        ? sdInit("NODE", mask, SdFlags.None, 0, numaDistance[0])
                        : sdInit("NUMA", mask, SdFlags.Numa, lvl, numaDistance[lvl]);
                    if (lvl > 0)
                        p.Flags |= SdFlags.Overlap;
                    chain.Add(p);
                }
                Link(chain);
                for (int l = 0; l < chain.Count; l++)
                {
                    if (levels.Count <= l)
                        levels.Add(new Proto?[_n]);
                    levels[l][cpu] = chain[l];
                }
                bottoms[cpu] = chain[0];
            }
            // Groups: get_group / build_sched_groups (wrap from this CPU; a group is the child's span),
            // or build_overlap_sched_groups for SD_OVERLAP levels.
            for (int cpu = 0; cpu < _n; cpu++)
            {
                int l = 0;
                for (var sd = bottoms[cpu]; sd is not null; sd = sd.Parent, l++)
                    sd.Groups = (sd.Flags & SdFlags.Overlap) != 0 ? OverlapGroups(sd, cpu, levels[l], v419) : Groups6x(sd, cpu, levels[l]);
            }
            if (!v419)
                ComputeImbNumaNr(bottoms); // imb_numa_nr arrived in v5.16
            var result = new SchedDomain[_n][];
            for (int cpu = 0; cpu < _n; cpu++)
                result[cpu] = Attach(bottoms[cpu], nodes, v419 ? Flavour.V419 : Flavour.V6x);
            return result;
        }

        private static bool Spans(List<Proto> chain, CpuMask all) => chain[^1].Span == all;

        /// <summary><c>sd_init</c> (kernel/sched/topology.c): the defaults from the level's weight, then the topological flags turned into behaviour.</summary>
        private static Proto SdInit(string name, CpuMask span, SdFlags topologyFlags, int numaLevel, int numaDistance)
        {
            int w = span.Count;
            var p = new Proto
            {
                Name = name,
                Span = span,
                MinInterval = w,
                MaxInterval = 2 * w,
                BusyFactor = 16,
                ImbalancePct = 117,
                CacheNiceTries = 0,
                // SD_LOAD_BALANCE no longer exists (v5.10): every level balances; PleSim keeps the bit set.
                Flags = SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.BalanceExec | SdFlags.BalanceFork
                    | SdFlags.WakeAffine | SdFlags.PreferSibling | topologyFlags,
                BalanceInterval = w,
                NumaLevel = numaLevel,
            };
            if ((p.Flags & SdFlags.ShareCpupower) != 0)
            {
                p.ImbalancePct = 110;
            }
            else if ((p.Flags & SdFlags.SharePkgResources) != 0)
            {
                p.ImbalancePct = 117;
                p.CacheNiceTries = 1;
            }
            else if ((p.Flags & SdFlags.Numa) != 0)
            {
                p.CacheNiceTries = 2;
                p.Flags &= ~SdFlags.PreferSibling;
                p.Flags |= SdFlags.Serialize;
                if (numaDistance > HostTopology.ReclaimDistance)
                    p.Flags &= ~(SdFlags.BalanceExec | SdFlags.BalanceFork | SdFlags.WakeAffine);
            }
            else
            {
                p.CacheNiceTries = 1;
            }
            return p;
        }

        /// <summary>
        /// <c>sd_init</c> of v4.19: min/max_interval = weight and twice it, busy_factor 32,
        /// imbalance_pct 125, SD_LOAD_BALANCE, SD_BALANCE_NEWIDLE/EXEC/FORK and SD_WAKE_AFFINE; then
        /// SMT (SD_SHARE_CPUCAPACITY): SD_PREFER_SIBLING, imbalance_pct 110 (smt_gain 1178);
        /// MC (SD_SHARE_PKG_RESOURCES): SD_PREFER_SIBLING, 117, cache_nice_tries 1, busy_idx 2;
        /// NUMA: cache_nice_tries 2, busy_idx 3, idle_idx 2, SD_SERIALIZE, and no EXEC/FORK/WAKE_AFFINE
        /// beyond RECLAIM_DISTANCE; any other level (DIE, NODE): SD_PREFER_SIBLING, cache_nice_tries 1,
        /// busy_idx 2, idle_idx 1. newidle_idx, wake_idx and forkexec_idx are 0 everywhere.
        /// </summary>
        private static Proto SdInit419(string name, CpuMask span, SdFlags topologyFlags, int numaLevel, int numaDistance)
        {
            int w = span.Count;
            var p = new Proto
            {
                Name = name,
                Span = span,
                MinInterval = w,
                MaxInterval = 2 * w,
                BusyFactor = 32,
                ImbalancePct = 125,
                CacheNiceTries = 0,
                BusyIdx = 0, IdleIdx = 0, NewidleIdx = 0, WakeIdx = 0, ForkexecIdx = 0,
                Flags = SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.BalanceExec | SdFlags.BalanceFork
                    | SdFlags.WakeAffine | topologyFlags,
                BalanceInterval = w,
                NumaLevel = numaLevel,
            };
            if ((p.Flags & SdFlags.ShareCpupower) != 0)
            {
                p.Flags |= SdFlags.PreferSibling;
                p.ImbalancePct = 110;
            }
            else if ((p.Flags & SdFlags.SharePkgResources) != 0)
            {
                p.Flags |= SdFlags.PreferSibling;
                p.ImbalancePct = 117;
                p.CacheNiceTries = 1;
                p.BusyIdx = 2;
            }
            else if ((p.Flags & SdFlags.Numa) != 0)
            {
                p.CacheNiceTries = 2;
                p.BusyIdx = 3;
                p.IdleIdx = 2;
                p.Flags |= SdFlags.Serialize;
                if (numaDistance > HostTopology.ReclaimDistance)
                    p.Flags &= ~(SdFlags.BalanceExec | SdFlags.BalanceFork | SdFlags.WakeAffine);
            }
            else
            {
                p.Flags |= SdFlags.PreferSibling;
                p.CacheNiceTries = 1;
                p.BusyIdx = 2;
                p.IdleIdx = 1;
            }
            return p;
        }

        private SchedGroup[] Groups6x(Proto sd, int cpu, Proto?[] level)
        {
            var groups = new List<SchedGroup>();
            var covered = default(CpuMask);
            foreach (int i in Wrap(sd.Span, cpu))
            {
                if (covered.Contains(i))
                    continue;
                var child = level[i]!.Child;
                var span = child is null ? CpuMask.Of(i) : child.Span;
                covered.Or(span);
                groups.Add(Group(sd.Name + "/" + sd.SpanWeight, span));
            }
            return groups.ToArray();
        }

        /// <summary><c>build_overlap_sched_groups</c>; 4.19 has no find_descended_sibling (v5.16) and takes the sibling's child span as it is.</summary>
        private SchedGroup[] OverlapGroups(Proto sd, int cpu, Proto?[] level, bool v419)
        {
            var groups = new List<SchedGroup>();
            var covered = default(CpuMask);
            foreach (int i in Wrap(sd.Span, cpu))
            {
                if (covered.Contains(i))
                    continue;
                var sibling = level[i];
                if (sibling is null || !sibling.Span.Contains(i))
                    continue;
                if (!v419 && sibling.Child is { } c && (c.Span & sd.Span) != c.Span)
                    sibling = FindDescendedSibling(sd, sibling);
                var span = sibling.Child?.Span ?? sibling.Span;
                covered.Or(span);
                // Overlapping groups are allocated per CPU in the kernel.
                groups.Add(Group($"overlap{cpu}/{sd.NumaLevel}", span));
            }
            return groups.ToArray();
        }

        private static Proto FindDescendedSibling(Proto sd, Proto sibling)
        {
            while (sibling.Child is { } c && (c.Span & sd.Span) != c.Span)
                sibling = c;
            while (sibling.Child is { } c && c.Span == sibling.Span)
                sibling = c;
            return sibling;
        }

        /// <summary><c>for_each_cpu_wrap</c>: the span's CPUs from <paramref name="start"/> upwards, then from 0.</summary>
        private static IEnumerable<int> Wrap(CpuMask span, int start)
        {
            for (int i = span.Next(start); i >= 0; i = span.Next(i + 1))
                yield return i;
            for (int i = span.First; i >= 0 && i < start; i = span.Next(i + 1))
                yield return i;
        }

        /// <summary>
        /// build_sched_domains' "allowed NUMA imbalance": at the first level above the LLC, one
        /// task per LLC (or 1/8 of the level for a single LLC, at least 1); above it, that figure
        /// times how many of the first NUMA level's spans the level covers. Computed on the tree
        /// before degenerate levels are dropped, as in the kernel.
        /// </summary>
        private static void ComputeImbNumaNr(Proto[] bottoms)
        {
            foreach (var bottom in bottoms)
            {
                int imb = 0, imbSpan = 1;
                for (var sd = bottom; sd is not null; sd = sd.Parent)
                {
                    var child = sd.Child;
                    if ((sd.Flags & SdFlags.SharePkgResources) == 0 && child is not null && (child.Flags & SdFlags.SharePkgResources) != 0)
                    {
                        int nrLlcs = sd.SpanWeight / child.SpanWeight;
                        imb = nrLlcs == 1 ? sd.SpanWeight >> 3 : nrLlcs;
                        imb = Math.Max(1, imb);
                        sd.ImbNumaNr = imb;
                        var top = sd.Parent;
                        while (top is not null && (top.Flags & SdFlags.Numa) == 0)
                            top = top.Parent;
                        imbSpan = top?.SpanWeight ?? sd.SpanWeight;
                    }
                    else
                    {
                        int factor = Math.Max(1, sd.SpanWeight / imbSpan);
                        sd.ImbNumaNr = imb * factor;
                    }
                }
            }
        }

        // ------------------------------------------------------------ both

        private static void Link(List<Proto> chain)
        {
            for (int i = 0; i < chain.Count; i++)
            {
                chain[i].Parent = i + 1 < chain.Count ? chain[i + 1] : null;
                chain[i].Child = i > 0 ? chain[i - 1] : null;
            }
        }

        /// <summary>Which kernel's degenerate rules <see cref="Attach"/> applies.</summary>
        private enum Flavour { V2639, V419, V6x }

        /// <summary>
        /// Flags that need at least two groups: 2.6.39's list in sd_degenerate (4.19's is the same
        /// for these flags, SD_ASYM_CPUCAPACITY and SD_SHARE_POWERDOMAIN being unset here), 6.x's
        /// SDF_NEEDS_GROUPS (sd_flags.h).
        /// </summary>
        private static SdFlags NeedsGroups(bool sixX) => sixX
            ? SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.BalanceExec | SdFlags.BalanceFork | SdFlags.BalanceWake
                | SdFlags.ShareCpupower | SdFlags.SharePkgResources | SdFlags.Serialize | SdFlags.AsymPacking
                | SdFlags.PreferSibling | SdFlags.Overlap | SdFlags.Numa
            : SdFlags.LoadBalance | SdFlags.BalanceNewidle | SdFlags.BalanceFork | SdFlags.BalanceExec
                | SdFlags.ShareCpupower | SdFlags.SharePkgResources;

        /// <summary><c>sd_degenerate</c>.</summary>
        private static bool Degenerate(Proto sd, Flavour f) => Degenerate(sd, f == Flavour.V6x);

        private static bool Degenerate(Proto sd, bool sixX)
        {
            if (sd.SpanWeight == 1)
                return true;
            if ((sd.Flags & NeedsGroups(sixX)) != 0 && sd.Groups.Length > 1)
                return false;
            return (sd.Flags & SdFlags.WakeAffine) == 0;
        }

        /// <summary><c>sd_parent_degenerate</c> (4.19 also ignores a one-group parent's SD_PREFER_SIBLING).</summary>
        private static bool ParentDegenerate(Proto sd, Proto parent, int nrNodes, Flavour f)
        {
            bool sixX = f == Flavour.V6x;
            if (Degenerate(parent, sixX))
                return true;
            if (sd.Span != parent.Span)
                return false;
            var cflags = sd.Flags;
            var pflags = parent.Flags;
            if (parent.Groups.Length == 1)
            {
                pflags &= ~NeedsGroups(sixX);
                if (f == Flavour.V419)
                    pflags &= ~SdFlags.PreferSibling;
                if (!sixX && nrNodes == 1)
                    pflags &= ~SdFlags.Serialize;
            }
            return (~cflags & pflags) == 0;
        }

        /// <summary><c>cpu_attach_domain</c>: drop degenerate parents (4.19 and 6.x hand SD_PREFER_SIBLING down), then a degenerate base.</summary>
        private static SchedDomain[] Attach(Proto? sd, int nrNodes, Flavour f)
        {
            bool sixX = f == Flavour.V6x;
            for (var tmp = sd; tmp is not null;)
            {
                var parent = tmp.Parent;
                if (parent is null)
                    break;
                if (ParentDegenerate(tmp, parent, nrNodes, f))
                {
                    tmp.Parent = parent.Parent;
                    if (parent.Parent is not null)
                        parent.Parent.Child = tmp;
                    if (f != Flavour.V2639 && (parent.Flags & SdFlags.PreferSibling) != 0)
                        tmp.Flags |= SdFlags.PreferSibling;
                }
                else
                {
                    tmp = parent;
                }
            }
            if (sd is not null && Degenerate(sd, sixX))
            {
                sd = sd.Parent;
                if (sd is not null)
                    sd.Child = null;
            }
            var list = new List<SchedDomain>();
            for (var p = sd; p is not null; p = p.Parent)
            {
                list.Add(new SchedDomain
                {
                    Name = p.Name,
                    Span = p.Span,
                    Groups = p.Groups,
                    Flags = p.Flags,
                    MinInterval = p.MinInterval,
                    MaxInterval = p.MaxInterval,
                    BusyFactor = p.BusyFactor,
                    ImbalancePct = p.ImbalancePct,
                    CacheNiceTries = p.CacheNiceTries,
                    BusyIdx = p.BusyIdx,
                    IdleIdx = p.IdleIdx,
                    NewidleIdx = p.NewidleIdx,
                    WakeIdx = p.WakeIdx,
                    ForkexecIdx = p.ForkexecIdx,
                    SmtGain = SmtGain,
                    ImbNumaNr = p.ImbNumaNr,
                    BalanceInterval = p.BalanceInterval,
                });
            }
            var domains = list.ToArray();
            for (int i = 0; i < domains.Length; i++)
            {
                domains[i].Parent = i + 1 < domains.Length ? domains[i + 1] : null;
                domains[i].Child = i > 0 ? domains[i - 1] : null;
            }
            return domains;
        }
    }
}

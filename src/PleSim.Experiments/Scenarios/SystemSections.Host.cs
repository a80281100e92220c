using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Experiments.Scenarios;

/// <summary>The <c>host</c> section: CPUs and topology, <c>host.numa</c> (decision 0039), <c>host.sched</c> tunables and features, and host tasks.</summary>
internal static partial class SystemSections
{
    private static HostSettings ReadHost(MapReader r)
    {
        int cpus = r.Get("cpus", Kinds.Int(1, MaxCpus), 4);
        int threads = r.Get("threads_per_core", Kinds.Int(1, 4), 1);
        if (!r.Failed("cpus") && !r.Failed("threads_per_core") && cpus % threads != 0)
            r.Error("threads_per_core", $"{cpus} CPUs do not divide into cores of {threads} threads");
        // Read in the file's documented order (plesim show lists keys as read); the scheduler comes
        // before its sched section, whose base-slice default depends on the version.
        var tscMhz = r.Get("tsc_mhz", Kinds.Integer(100, 10_000), 2900);
        var scheduler = r.Get("scheduler", Kinds.Choice(HostSettings.Schedulers), "cfs-2.6.39");
        var settings = new HostSettings
        {
            Cpus = cpus,
            ThreadsPerCore = threads,
            TscMhz = tscMhz,
            Scheduler = scheduler,
            Coscheduling = new CoschedSettings
            {
                Mode = CoschedSettings.Parse(r.Get("coscheduling", Kinds.Choice(CoschedSettings.Names), "none")),
                SkewThreshold = r.Get("coscheduling_skew_threshold", Kinds.Duration(SimDuration.FromMicroseconds(1), SimDuration.FromSeconds(10)), SimDuration.FromMilliseconds(3)),
            },
            Sched = ReadSched(r.Section("sched"), HostSettings.ClassOf(scheduler), out var features, out bool delayDequeueGiven),
            Features = features,
        };
        // Decision 0052: part 1 (the vCPU debooster) of Wanpeng Li's unmerged series (v2, 2025-12-19).
        bool debooster = r.Get("yield_to_debooster", Kinds.Bool, false);
        var fairClass = HostSettings.ClassOf(settings.Scheduler);
        // Decision 0083: DELAY_DEQUEUE is on by default from 6.12, as features.h has it; a file may turn it off.
        if (!delayDequeueGiven)
            features = features with { DelayDequeue = fairClass is >= FairClass.Eevdf612 and <= FairClass.Eevdf618 };
        settings = settings with { Features = features with { Class = fairClass, VcpuDebooster = debooster } };
        // Decision 0056: load tracking and group shares by kernel version (PELT of 6.6 on the EEVDF hosts).
        bool eevdf = settings.Features.Class.IsEevdf();
        // Decision 0053: 4.19's PELT and balancer for cfs-4.19 (its defaults); cfs-2.6.39 keeps 2.6.39's.
        bool cfs419 = settings.Features.Class == FairClass.Cfs419;
        var tracking = r.Get("load_tracking", Kinds.Choice(HostSettings.LoadTrackings), eevdf ? "pelt-6.6" : cfs419 ? "4.19" : "2.6.39");
        if (tracking == "pelt-6.6" && !eevdf && !r.Failed("scheduler"))
            r.Error("load_tracking", $"PELT load tracking (pelt-6.6) is modelled with the EEVDF classes only: it needs host.scheduler eevdf-6.6 … eevdf-6.18, not '{settings.Scheduler}'");
        if (tracking == "4.19" && !cfs419 && !r.Failed("scheduler"))
            r.Error("load_tracking", $"4.19 load tracking (PELT with runnable_load_avg) is modelled with the 4.19 CFS class only: it needs host.scheduler cfs-4.19, not '{settings.Scheduler}'");
        var balance = r.Get("load_balance", Kinds.Choice(HostSettings.LoadBalancers), eevdf && tracking == "pelt-6.6" ? "6.6" : cfs419 && tracking == "4.19" ? "4.19" : "2.6.39");
        if (balance == "6.6" && tracking != "pelt-6.6" && !r.Failed("load_tracking") && !r.Failed("scheduler"))
            r.Error("load_balance", $"the 6.6 load balancer reads PELT loads: it needs host.load_tracking pelt-6.6 (and an eevdf-* scheduler), not '{tracking}'");
        if (balance == "4.19" && tracking != "4.19" && !r.Failed("load_tracking") && !r.Failed("scheduler"))
            r.Error("load_balance", $"the 4.19 load balancer reads 4.19 PELT loads (runnable_load_avg): it needs host.load_tracking 4.19 (and host.scheduler cfs-4.19), not '{tracking}'");
        bool pelt419 = tracking == "4.19" && cfs419;
        bool lb419 = balance == "4.19" && pelt419;
        bool lb66 = balance == "6.6" && tracking == "pelt-6.6" && eevdf;
        var wake = r.Get("wake_placement", Kinds.Choice(HostSettings.WakePlacements), lb66 ? "6.6" : lb419 ? "4.19" : "2.6.39");
        if (wake == "4.19" && !lb419 && !r.Failed("load_balance") && !r.Failed("load_tracking") && !r.Failed("scheduler"))
            r.Error("wake_placement", $"4.19 wake-up placement reads the 4.19 balancer's loads (runnable_load_avg through cpu_load[]): it needs host.load_balance 4.19 (with load_tracking 4.19 and host.scheduler cfs-4.19), not '{balance}'");
        if (wake == "6.6" && !lb66 && !r.Failed("load_balance") && !r.Failed("load_tracking") && !r.Failed("scheduler"))
            r.Error("wake_placement", $"6.6 wake-up placement reads PELT loads and the 6.6 balancer's SIS_UTIL scan depth: it needs host.load_balance 6.6 (with pelt-6.6 and an eevdf-* scheduler), not '{balance}'");
        // Decision 0064: 4.19's scheduling domains and idle search, cfs-4.19's defaults; the EEVDF hosts keep 6.x's.
        bool wake419 = wake == "4.19" && lb419;
        var domains = r.Get("sched_domains", Kinds.Choice(HostSettings.SchedDomainSets), eevdf ? "6.x" : cfs419 ? "4.19" : "2.6.39");
        if (!r.Failed("scheduler"))
        {
            if (domains == "4.19" && !cfs419)
                r.Error("sched_domains", $"4.19's scheduling domains (sd_init, sched_init_numa) are modelled with the 4.19 CFS class only: they need host.scheduler cfs-4.19, not '{settings.Scheduler}'");
            else if (domains == "6.x" && !eevdf)
                r.Error("sched_domains", $"6.x's scheduling domains come with the EEVDF classes: they need host.scheduler eevdf-6.6 … eevdf-6.18, not '{settings.Scheduler}'");
            else if (domains != "6.x" && eevdf)
                r.Error("sched_domains", $"the EEVDF hosts build 6.x's scheduling domains: '{domains}' is not available with host.scheduler {settings.Scheduler}");
        }
        var search = r.Get("idle_search", Kinds.Choice(HostSettings.IdleSearches), wake419 ? "4.19" : wake == "6.6" ? "6.6" : "2.6.39");
        if (!r.Failed("wake_placement") && !r.Failed("load_balance") && !r.Failed("load_tracking") && !r.Failed("scheduler"))
        {
            if (search == "4.19" && !wake419)
                r.Error("idle_search", $"4.19's select_idle_sibling and fork slow path follow 4.19's wake_affine and read its loads: they need host.wake_placement 4.19 (with cfs-4.19's 4.19 balancer), not '{wake}'");
            else if (search == "6.6" && wake != "6.6")
                r.Error("idle_search", $"6.6's idle search is part of 6.6 wake-up placement: it needs host.wake_placement 6.6, not '{wake}'");
            else if (search != "6.6" && wake == "6.6")
                r.Error("idle_search", $"6.6 wake-up placement brings its own idle search (SIS_UTIL): '{search}' is not available with host.wake_placement 6.6");
        }
        settings = settings with
        {
            LoadTracking = tracking,
            LoadBalance = balance,
            WakePlacement = wake,
            SchedDomains = domains,
            IdleSearch = search,
            Features = settings.Features with
            {
                Pelt = tracking == "pelt-6.6" && eevdf, LoadBalance66 = lb66, WakeSelect66 = wake == "6.6" && lb66, Pelt419 = pelt419, LoadBalance419 = lb419, WakeSelect419 = wake419,
                Domains419 = domains == "4.19" && cfs419, IdleSearch419 = search == "4.19" && wake419,
            },
        };
        if (settings.Features.DelayDequeue && !r.Failed("scheduler") && settings.Features.Class < FairClass.Eevdf612)
            r.Error("sched", $"host.sched.features DELAY_DEQUEUE is an EEVDF feature of 6.12 and later (decision 0083): it needs host.scheduler eevdf-6.12 … eevdf-6.18, not '{settings.Scheduler}'");
        if (debooster && !r.Failed("scheduler") && !settings.Features.Class.IsEevdf())
            r.Error("yield_to_debooster", $"the vCPU debooster patches EEVDF's yield_to_task_fair (deadline, base slice; the series is based on 6.19-rc1): it needs host.scheduler eevdf-6.6 … eevdf-6.18, not '{settings.Scheduler}'");
        var cgroups = r.List("cgroups", (c, _) =>
        {
            var path = c.Require("path", Kinds.Text, "/x");
            if (!path.StartsWith('/') || path == "/" || path.EndsWith('/'))
                c.Error("path", $"'{path}' is not a cgroup path like /vm1 or /vms/vm1");
            return new CgroupSettings(path, c.Get("shares", Kinds.Integer(Weights.MinShares, Weights.MaxShares), Weights.Nice0Load));
        });
        var paths = new HashSet<string>(cgroups.Select(c => c.Path)) { "/" };
        foreach (var c in cgroups)
        {
            var parent = ParentPath(c.Path);
            if (!paths.Contains(parent))
                r.Error("cgroups", $"cgroup '{c.Path}' needs its parent '{parent}' to be listed before it");
        }
        var tasks = r.List("tasks", (t, i) => ReadTask(t, r.Failed("cpus") ? MaxCpus : cpus, paths));
        var names = tasks.SelectMany(t => t.Count == 1 ? [t.Name] : Enumerable.Range(0, t.Count).Select(i => t.Name + i)).ToList();
        foreach (var t in tasks.Where(t => t.YieldTo is not null && !names.Contains(t.YieldTo)))
        {
            var guess = Suggestions.Closest(t.YieldTo!, names);
            r.Error("tasks", $"task '{t.Name}' yields to '{t.YieldTo}', which is not a host task{(guess is null ? "" : $"; did you mean '{guess}'?")}");
        }
        var background = ReadBackground(r.Section("background"));
        var numa = ReadNuma(r.Section("numa"), r.Failed("cpus") || r.Failed("threads_per_core") ? 0 : cpus, threads);
        r.Done();
        return settings with { Cgroups = cgroups, Tasks = tasks, Background = background, Numa = numa };
    }

    /// <summary>
    /// <c>host.numa</c> (decision 0039): <c>nodes</c>, <c>cpus</c> (one CPU list per node,
    /// separated by ';', like <c>"0-7; 8-15"</c>: whole cores, every CPU on exactly one node) and
    /// <c>distance</c> (the SLIT as <c>/sys/devices/system/node/nodeN/distance</c> prints each
    /// row, rows separated by ';': <c>"10 20; 20 10"</c>). <paramref name="cpus"/> is 0 when
    /// host.cpus was invalid (the CPU checks are skipped).
    /// </summary>
    private static NumaSettings ReadNuma(MapReader r, int cpus, int threads)
    {
        int nodes = r.Get("nodes", Kinds.Int(1, 64), 1);
        var lists = r.Get("cpus", NodeCpuListsKind, null);
        var distance = r.Get("distance", DistanceTableKind, null);
        if (cpus > 0 && !r.Failed("nodes"))
        {
            int cores = cpus / threads;
            if (lists is null && !r.Failed("cpus") && cores % nodes != 0)
                r.Error("nodes", $"{cores} cores do not divide into {nodes} nodes of equal size; give host.numa.cpus");
            if (lists is not null && NodeCpusProblem(lists, nodes, cpus, threads) is { } p1)
                r.Error("cpus", p1);
            if (distance is not null && (distance.Length != nodes ? $"the table has {distance.Length} rows for {nodes} nodes" : HostTopology.ValidateDistances(distance)) is { } p2)
                r.Error("distance", p2);
        }
        r.Done();
        return new NumaSettings { Nodes = nodes, NodeCpus = lists, Distance = distance };
    }

    private static string? NodeCpusProblem(IReadOnlyList<CpuSet> lists, int nodes, int cpus, int threads)
    {
        if (lists.Count != nodes)
            return $"{lists.Count} CPU lists for {nodes} nodes";
        var seen = new int[cpus];
        for (int k = 0; k < lists.Count; k++)
        {
            for (int c = 0; c < cpus; c++)
            {
                if (!lists[k].Contains(c))
                    continue;
                if (seen[c]++ > 0)
                    return $"CPU {c} is on more than one node";
                int first = c / threads * threads;
                for (int s = first; s < first + threads; s++)
                {
                    if (!lists[k].Contains(s))
                        return $"node {k} holds CPU {c} but not its SMT sibling {s} (a core's threads share a node)";
                }
            }
            if (lists[k].Count == 0)
                return $"node {k} has no CPU";
            if (lists[k].Mask.Next(cpus) >= 0)
                return $"node {k} lists CPU {lists[k].Mask.Next(cpus)}, but the host has CPUs 0-{cpus - 1}";
        }
        for (int c = 0; c < cpus; c++)
        {
            if (seen[c] == 0)
                return $"CPU {c} is on no node";
        }
        return null;
    }

    private static SchedTunables ReadSched(MapReader r, FairClass fairClass, out SchedFeatures features, out bool delayDequeueGiven)
    {
        var d = new SchedTunables();
        // Decision 0088: the EEVDF base slice (min_granularity_ns's successor) is 0.70 ms from 6.15
        // (commit 2ae891b82695, "sched: Reduce the default slice to avoid tasks getting an extra
        // tick"), so the 6.17 and 6.18 classes start from it; earlier versions keep 0.75 ms.
        if (fairClass >= FairClass.Eevdf617)
            d = d with { MinGranularityNs = SchedTunables.BaseSlice615 };
        var max = SimDuration.FromSeconds(10);
        var t = new SchedTunables
        {
            LatencyNs = r.Get("latency_ns", Kinds.Duration(SimDuration.FromMicroseconds(100), max, bareIsNs: true), d.LatencyNs),
            MinGranularityNs = r.Get("min_granularity_ns", Kinds.Duration(SimDuration.FromMicroseconds(100), max, bareIsNs: true), d.MinGranularityNs),
            WakeupGranularityNs = r.Get("wakeup_granularity_ns", Kinds.Duration(SimDuration.Zero, max, bareIsNs: true), d.WakeupGranularityNs),
            TunableScaling = r.Get("tunable_scaling", Kinds.Choice("none", "log", "linear"), "log") switch
            {
                "none" => TunableScaling.None,
                "linear" => TunableScaling.Linear,
                _ => TunableScaling.Log,
            },
            NrLatency = r.Get("nr_latency", Kinds.Int(1, 1000), d.NrLatency),
            MigrationCostNs = r.Get("migration_cost_ns", Kinds.Duration(SimDuration.Zero, max, bareIsNs: true), d.MigrationCostNs),
            NrMigrate = r.Get("nr_migrate", Kinds.Int(1, 1024), d.NrMigrate),
            SharesWindowNs = r.Get("shares_window_ns", Kinds.Duration(SimDuration.FromMicroseconds(100), max, bareIsNs: true), d.SharesWindowNs),
            Hz = r.Get("hz", Kinds.Int(10, 10_000), d.Hz),
            NoHz = r.Get("nohz", Kinds.Bool, d.NoHz),
            ContextSwitchCost = r.Get("context_switch_cost", Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1)), d.ContextSwitchCost),
            ReschedIpiLatency = r.Get("resched_ipi_latency", Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1)), d.ReschedIpiLatency),
            IdleExitLatency = r.Get("idle_exit_latency", Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1)), d.IdleExitLatency),
            TickJitter = r.Get("tick_jitter", Kinds.Duration(SimDuration.Zero, SimDuration.FromMicroseconds(500)), d.TickJitter),
            SerializedBalanceHold = r.Get("serialized_balance_hold", Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1)), d.SerializedBalanceHold),
        };
        features = new SchedFeatures();
        delayDequeueGiven = false;
        foreach (var (name, on) in r.Map("features", Kinds.Bool, SchedFeatures.Names))
        {
            features = features.With(name, on);
            delayDequeueGiven |= name == "DELAY_DEQUEUE";
        }
        r.Done();
        return t;
    }

    private static HostTaskSettings ReadTask(MapReader t, int cpus, HashSet<string> cgroups)
    {
        var kind = t.Get("kind", Kinds.Choice(HostTaskSettings.Kinds), "hog");
        var cgroup = t.Get("cgroup", Kinds.Text, "/");
        if (!cgroups.Contains(cgroup))
        {
            var guess = Suggestions.Closest(cgroup, cgroups);
            t.Error("cgroup", $"no cgroup '{cgroup}' is defined under host.cgroups{(guess is null ? "" : $"; did you mean '{guess}'?")}");
        }
        var settings = new HostTaskSettings
        {
            Name = t.Require("name", Kinds.Text, "task"),
            Kind = kind,
            Count = t.Get("count", Kinds.Int(1, 4096), 1),
            Nice = t.Get("nice", Kinds.Int(-20, 19), 0),
            Cgroup = cgroup,
            Affinity = t.Has("affinity") ? t.Get("affinity", Kinds.CpuList(cpus), CpuSet.All(cpus)) : null,
            StartCpu = t.Get("start_cpu", Kinds.Int(0, cpus - 1), 0),
            StartAt = t.Get("start_at", Kinds.Duration(SimDuration.Zero, SimDuration.FromSeconds(3600)), SimDuration.Zero),
        };
        var later = t.Section("set_affinity");
        if (later.IsPresent)
        {
            settings = settings with
            {
                SetAffinityAt = later.Require("at", Kinds.Duration(SimDuration.Zero, SimDuration.FromSeconds(3600)), SimDuration.Zero),
                LaterAffinity = later.Require("cpus", Kinds.CpuList(cpus), CpuSet.All(cpus)),
            };
            later.Done();
        }
        var positive = Kinds.Duration(new SimDuration(1), SimDuration.FromSeconds(60));
        if (kind == "periodic")
        {
            settings = settings with
            {
                Run = t.Get("run", positive, settings.Run),
                Sleep = t.Get("sleep", positive, settings.Sleep),
                Jitter = t.Get("jitter", Kinds.Bool, false),
            };
        }
        else if (kind == "pingpong")
        {
            settings = settings with { Work = t.Get("work", positive, settings.Work) };
        }
        else if (kind == "yielder")
        {
            settings = settings with
            {
                Run = t.Get("run", positive, settings.Run),
                YieldTo = t.Has("yield_to") ? t.Get("yield_to", Kinds.Text, "") : null,
            };
        }
        return settings;
    }
}

using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Experiments.Scenarios;

/// <summary>
/// Reads the sections of a <c>system</c> scenario: <c>host</c> (and, with the hypervisor layer,
/// <c>kvm</c>, <c>vms</c>). Keys follow kernel spelling.
/// </summary>
internal static class SystemSections
{
    private static readonly string[] SystemOnly = ["host", "kvm", "vms"];

    public static Scenario Read(MapReader root, Scenario scenario)
    {
        if (scenario.Kind != "system")
        {
            foreach (var section in SystemOnly)
            {
                if (root.Has(section) && scenario.Kind != "")
                    root.Context.Error(null, section, $"the '{section}' section belongs to kind 'system', not '{scenario.Kind}'");
            }
            return scenario;
        }
        var host = ReadHost(root.Section("host"));
        return scenario with { Host = host };
    }

    private static HostSettings ReadHost(MapReader r)
    {
        int cpus = r.Get("cpus", Kinds.Int(1, 64), 4);
        int threads = r.Get("threads_per_core", Kinds.Int(1, 4), 1);
        if (cpus % threads != 0)
            r.Context.Error(null, r.Path + ".threads_per_core", $"{cpus} CPUs do not divide into cores of {threads} threads");
        var settings = new HostSettings
        {
            Cpus = cpus,
            ThreadsPerCore = threads,
            TscMhz = r.Get("tsc_mhz", Kinds.Integer(100, 10_000), 2900),
            Scheduler = r.Get("scheduler", Kinds.Choice("cfs-2.6.39"), "cfs-2.6.39"),
            Sched = ReadSched(r.Section("sched"), out var features),
            Features = features,
        };
        var cgroups = r.List("cgroups", (c, _) =>
        {
            var path = c.Require("path", Kinds.Text, "/x");
            if (!path.StartsWith('/') || path == "/" || path.EndsWith('/'))
                c.Context.Error(null, c.Path + ".path", $"'{path}' is not a cgroup path like /vm1 or /vms/vm1");
            return new CgroupSettings(path, c.Get("shares", Kinds.Integer(Weights.MinShares, Weights.MaxShares), Weights.Nice0Load));
        });
        var paths = new HashSet<string>(cgroups.Select(c => c.Path)) { "/" };
        foreach (var c in cgroups)
        {
            var parent = ParentPath(c.Path);
            if (!paths.Contains(parent))
                r.Context.Error(null, r.Path + ".cgroups", $"cgroup '{c.Path}' needs its parent '{parent}' to be listed before it");
        }
        var tasks = r.List("tasks", (t, i) => ReadTask(t, cpus, paths));
        var names = tasks.SelectMany(t => t.Count == 1 ? [t.Name] : Enumerable.Range(0, t.Count).Select(i => t.Name + i)).ToList();
        foreach (var t in tasks.Where(t => t.YieldTo is not null && !names.Contains(t.YieldTo)))
        {
            var guess = Suggestions.Closest(t.YieldTo!, names);
            r.Context.Error(null, r.Path + ".tasks", $"task '{t.Name}' yields to '{t.YieldTo}', which is not a host task{(guess is null ? "" : $"; did you mean '{guess}'?")}");
        }
        r.Done();
        return settings with { Cgroups = cgroups, Tasks = tasks };
    }

    internal static string ParentPath(string path)
    {
        int i = path.LastIndexOf('/');
        return i <= 0 ? "/" : path[..i];
    }

    private static SchedTunables ReadSched(MapReader r, out SchedFeatures features)
    {
        var d = new SchedTunables();
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
        };
        features = new SchedFeatures();
        foreach (var (name, on) in r.Map("features", Kinds.Bool, SchedFeatures.Names))
            features = features.With(name, on);
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
            t.Context.Error(null, t.Path + ".cgroup", $"no cgroup '{cgroup}' is defined under host.cgroups{(guess is null ? "" : $"; did you mean '{guess}'?")}");
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

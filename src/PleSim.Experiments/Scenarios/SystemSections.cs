using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Experiments.Scenarios;

/// <summary>
/// Reads the sections of a <c>system</c> scenario: <c>host</c> (and, with the hypervisor layer,
/// <c>kvm</c>, <c>vms</c>). Keys follow kernel spelling.
/// This file holds the entry point, the value kinds (all static fields stay here, so they are
/// initialised in this file's order) and shared helpers; each section's readers are in
/// SystemSections.Host, .Background, .Kvm, .Vms and .Workloads (decision 0042).
/// </summary>
internal static partial class SystemSections
{
    private static readonly string[] SystemOnly = ["host", "kvm", "vms"];

    /// <summary>Most CPUs a host may have (issue 12's target; the bitmaps hold <see cref="CpuMask.NrCpus"/>, decision 0038).</summary>
    private const int MaxCpus = 512;

    /// <summary>Most VCPUs a VM may have (<see cref="Kvm.MaxVcpus"/>).</summary>
    private const int MaxVcpus = Kvm.MaxVcpus;

    public static Scenario Read(MapReader root, Scenario scenario)
    {
        if (scenario.Kind != "system")
        {
            foreach (var section in SystemOnly)
            {
                if (root.Has(section) && scenario.Kind != "")
                    root.Error(section, $"the '{section}' section belongs to kind 'system', not '{scenario.Kind}'");
            }
            return scenario;
        }
        var hostSection = root.Section("host");
        var host = ReadHost(hostSection);
        var kvmSection = root.Section("kvm");
        var kvm = ReadKvm(kvmSection);
        // Decision 0063: a Xen host has no yield_to, so no directed yield; Xen's handler needs the Xen host.
        bool xen = host.Scheduler == HostSettings.XenCredit;
        if (xen && kvm.Version is not null && !kvmSection.Failed("version"))
            kvmSection.Error("version", $"kvm.version {kvm.Version} is a Linux/KVM release; host.scheduler {HostSettings.XenCredit} is Xen 3.4 (decision 0063)");
        else if (xen && !kvmSection.Has("ple_handler"))
            kvm = kvm with { PleHandler = PleSim.Hypervisor.XenYield2009.HandlerName }; // a Xen host's default: Xen's own handler
        if (xen && !kvmSection.Failed("ple_handler") && kvm.PleHandler is not ("none" or "yield" or PleSim.Hypervisor.XenYield2009.HandlerName))
            kvmSection.Error("ple_handler", $"host.scheduler {HostSettings.XenCredit} has no yield_to (Xen 3.4 has no directed yield): use kvm.ple_handler {PleSim.Hypervisor.XenYield2009.HandlerName}, yield or none, not '{kvm.PleHandler}'");
        if (!xen && !kvmSection.Failed("ple_handler") && !hostSection.Failed("scheduler") && kvm.PleHandler == PleSim.Hypervisor.XenYield2009.HandlerName)
            kvmSection.Error("ple_handler", $"{PleSim.Hypervisor.XenYield2009.HandlerName} is Xen's PAUSE-exit handler: it needs host.scheduler {HostSettings.XenCredit}, not '{host.Scheduler}'");
        if (xen && host.Background.Enabled && (host.Background.Preset != "none" || host.Background.Threads.Count > 0))
            hostSection.Error("background", $"host.background models a Linux KVM host's threads; host.scheduler {HostSettings.XenCredit} has no dom0 or host threads in PleSim (decision 0063): leave it at preset none");
        if (xen && host.Coscheduling.Mode != PleSim.Hypervisor.CoschedulingMode.None)
            hostSection.Error("coscheduling", $"coscheduling is not modelled on host.scheduler {HostSettings.XenCredit}");
        var hostGroups = new HashSet<string>(host.Cgroups.Select(c => c.Path)) { "/" };
        // When host.cpus is invalid, CPU numbers are checked against the largest host instead, so that one bad value gives one error.
        int cpuLimit = hostSection.Failed("cpus") ? MaxCpus : host.Cpus;
        var vms = root.List("vms", (v, i) => ReadVm(v, cpuLimit, hostGroups, kvm, scenario.Warmup + scenario.Duration));
        foreach (var dup in vms.GroupBy(v => v.Name).Where(g => g.Count() > 1))
            root.Error("vms", $"two VMs are called '{dup.Key}'");
        var compare = root.Has("compare_metric") ? root.Get("compare_metric", Kinds.Text, "") : null;
        return scenario with { Host = host, Kvm = kvm, Vms = vms, CompareMetric = compare };
    }

    /// <summary>The <c>kvm</c> keys a <c>kvm.version</c> preset sets (decision 0022).</summary>
    public static readonly string[] VersionCoveredKeys =
    [
        "ple_handler", "directed_yield", "ple_window_dynamic", "ple_window_grow", "ple_window_shrink", "ple_window_max",
        "pause_filter_thresh", "halt_poll_ns", "halt_poll_adaptive", "halt_poll_ns_grow", "halt_poll_ns_shrink", "halt_poll_ns_grow_start", "halt_poll_shrink_floor",
        "kick_yield", "sched_yield_single_task_bail", "steal_time_preempted_on_block",
    ];

    /// <summary>Removes the file's values of <see cref="VersionCoveredKeys"/> (a version given from outside the file replaces them).</summary>
    public static void DropVersionCoveredKeys(YamlDotNet.RepresentationModel.YamlMappingNode root)
    {
        if (!root.Children.TryGetValue(new YamlDotNet.RepresentationModel.YamlScalarNode("kvm"), out var kvm) || kvm is not YamlDotNet.RepresentationModel.YamlMappingNode map)
            return;
        foreach (var key in VersionCoveredKeys)
            map.Children.Remove(new YamlDotNet.RepresentationModel.YamlScalarNode(key));
    }

    private static (bool, string, string?) PluginName(string text, IReadOnlyList<string> loaded)
    {
        var name = text[PleSim.Hypervisor.PluginRegistry.Prefix.Length..];
        if (loaded.Contains(name))
            return (true, text, null);
        if (loaded.Count == 0)
            return (false, text, $"no plug-in is loaded, so '{YamlGuard.Clip(text)}' names nothing: pass --plugin PATH.dll (the assembly that defines '{YamlGuard.Clip(name)}')");
        var guess = Suggestions.Closest(name, loaded);
        return (false, text, $"no loaded plug-in is called '{YamlGuard.Clip(name)}'{(guess is null ? "" : $"; did you mean 'plugin:{guess}'?")} (loaded: {string.Join(", ", loaded)})");
    }

    /// <summary>malloc() request sizes in bytes, comma-separated: <c>440,72,264</c>.</summary>
    private static readonly ValueKind<int[]> AllocationList = new("a comma-separated list of malloc request sizes in bytes (1-131071), like 440,72,264", text =>
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] < 1 || sizes[i] >= 131072)
                return (false, sizes, $"'{parts[i]}' is not a request size between 1 and 131071 bytes");
        }
        return (true, sizes, null);
    }, sizes => string.Join(",", sizes));

    private static readonly ValueKind<int> MaxFastKind = new("a fastbin chunk limit: a multiple of 16 from 32 to 160", text =>
    {
        var (ok, v, problem) = Kinds.Int(32, 160).Parse(text);
        return ok && v % 16 != 0 ? (false, v, $"{v} is not a multiple of 16") : (ok, v, problem);
    });

    private static readonly ValueKind<int> PageSizeKind = new("a power of two from 4096", text =>
    {
        var (ok, v, problem) = Kinds.Int(4096, 1 << 30).Parse(text);
        return ok && (v & (v - 1)) != 0 ? (false, v, $"{v} is not a power of two") : (ok, v, problem);
    });

    /// <summary>One CPU list per node, separated by ';': <c>0-7; 8-15</c>.</summary>
    private static readonly ValueKind<IReadOnlyList<CpuSet>?> NodeCpuListsKind = new(
        $"one CPU list per node separated by ';', like \"0-7; 8-15\" (CPUs below {MaxCpus})", text =>
        {
            var parts = text.Split(';', StringSplitOptions.TrimEntries);
            var sets = new List<CpuSet>(parts.Length);
            foreach (var part in parts)
            {
                if (!CpuSet.TryParse(part, MaxCpus, out var set, out var problem))
                    return (false, null, $"'{YamlGuard.Clip(part)}': {problem}");
                sets.Add(set);
            }
            return (true, sets, null);
        }, sets => string.Join("; ", sets!.Select(x => x.ToString())));

    /// <summary>The SLIT, rows separated by ';', entries by spaces: <c>10 20; 20 10</c>.</summary>
    private static readonly ValueKind<int[][]?> DistanceTableKind = new(
        "the node distance table, rows separated by ';' and entries by spaces, like \"10 20; 20 10\"", text =>
        {
            var rows = text.Split(';', StringSplitOptions.TrimEntries);
            var table = new int[rows.Length][];
            for (int i = 0; i < rows.Length; i++)
            {
                var cells = rows[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                table[i] = new int[cells.Length];
                for (int j = 0; j < cells.Length; j++)
                {
                    if (!int.TryParse(cells[j], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out table[i][j]))
                        return (false, null, $"'{YamlGuard.Clip(cells[j])}' in row {i} is not a distance (an integer)");
                }
            }
            return (true, table, null);
        }, table => string.Join("; ", table!.Select(row => string.Join(" ", row))));

    internal static string ParentPath(string path)
    {
        int i = path.LastIndexOf('/');
        return i <= 0 ? "/" : path[..i];
    }
}

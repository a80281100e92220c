using PleSim.Engine;
using PleSim.Experiments.Scenarios;
using YamlDotNet.RepresentationModel;

namespace PleSim.Experiments.Running;

/// <summary>
/// Checks a scenario's <c>metrics:</c> list against the metrics its model produces. The names are
/// taken from the model itself, not from a hand-kept list: the scenario is built and run for
/// <see cref="ProbeDuration"/> (no warm-up), and the names its result carries are the valid ones
/// (metric names depend on the scenario's structure, such as VM and task names, not on how long it runs).
/// </summary>
public static class MetricNames
{
    /// <summary>How long the probe run lasts (simulated time).</summary>
    public static readonly SimDuration ProbeDuration = SimDuration.FromMicroseconds(100);

    /// <summary>
    /// Metrics of the system model that are reported only once the event they time has happened
    /// (SystemRun.Collect: the first periodic-balance migration, the gap between two of them, and
    /// wake-up latencies, which need a wake-up). A probe run is too short to see them, so they are
    /// valid for every system scenario. Keep in step with the conditional AddMetric calls there.
    /// </summary>
    public static readonly IReadOnlyList<string> EventDependent =
        ["min_periodic_balance_gap_ms", "first_periodic_migration_ms", "wakeup_latency_mean_us", "wakeup_latency_p99_us", "wakeup_latency_max_us"];

    /// <summary>The metric names a run of <paramref name="scenario"/> reports, or null when the probe run fails.</summary>
    public static IReadOnlyList<string>? Of(Scenario scenario)
    {
        var probe = scenario with { Duration = ProbeDuration, Warmup = SimDuration.Zero, Runs = 1 };
        var result = Runner.RunOne(probe, scenario.Seed);
        if (result.Error is not null)
            return null;
        var names = result.Metrics.Select(m => m.Key).ToList();
        if (scenario.Kind == "system")
            names.AddRange(EventDependent);
        return names.Distinct().ToList();
    }

    /// <summary>
    /// A located problem for each metric the scenario names that its model does not produce: the
    /// <c>metrics:</c> list and <c>compare_metric</c>, with the closest valid names.
    /// </summary>
    public static IReadOnlyList<ScenarioDiagnostic> Check(Scenario scenario)
    {
        if ((scenario.Metrics.Count == 0 && scenario.CompareMetric is null) || Of(scenario) is not { } valid)
            return [];
        var known = new HashSet<string>(valid, StringComparer.Ordinal);
        var root = ScenarioLoader.Parse(scenario.SourceText, new ReadContext(scenario.SourceFile));
        var items = ListNodes(root, "metrics");
        var problems = new List<ScenarioDiagnostic>();
        for (int i = 0; i < scenario.Metrics.Count; i++)
        {
            var name = scenario.Metrics[i];
            if (known.Contains(name))
                continue;
            var node = i < items.Count ? items[i] : null;
            problems.Add(new ScenarioDiagnostic(scenario.SourceFile, (int)(node?.Start.Line ?? 0), (int)(node?.Start.Column ?? 0), $"metrics[{i}]", Unknown(name, valid)));
        }
        if (scenario.CompareMetric is { } compare && !known.Contains(compare))
        {
            var node = ListNodes(root, "compare_metric").FirstOrDefault();
            problems.Add(new ScenarioDiagnostic(scenario.SourceFile, (int)(node?.Start.Line ?? 0), (int)(node?.Start.Column ?? 0), "compare_metric", Unknown(compare, valid)));
        }
        return problems;
    }

    /// <summary>
    /// <see cref="Check"/> for a scenario loaded with <c>--set</c> overrides. A metric the file's
    /// <c>metrics:</c> list names that the file's own settings report but the overridden ones do not —
    /// a <c>--set</c> switched off the model part that reports it, e.g. dedup's allocator metrics with
    /// <c>vms[0].workload.model_malloc=false</c> — is left out of the scenario's list and returned as a
    /// warning instead of an error. <paramref name="fileAlone"/> loads the file without the overrides;
    /// it is called only when there is a problem to sort.
    /// </summary>
    public static (Scenario Scenario, IReadOnlyList<ScenarioDiagnostic> Errors, IReadOnlyList<string> Warnings) CheckWithOverrides(
        Scenario scenario, Func<Scenario> fileAlone, string overridesText)
    {
        var problems = Check(scenario);
        if (problems.Count == 0)
            return (scenario, problems, []);
        var alone = fileAlone();
        var fileReports = new HashSet<string>(Of(alone) ?? [], StringComparer.Ordinal);
        var errors = new List<ScenarioDiagnostic>();
        var warnings = new List<string>();
        var leftOut = new HashSet<int>();
        foreach (var d in problems)
        {
            int i = ListIndex(d.KeyPath, "metrics");
            if (i >= 0 && i < scenario.Metrics.Count && fileReports.Contains(scenario.Metrics[i]))
            {
                leftOut.Add(i);
                var where = d.Line > 0 ? $"{d.File}:{d.Line}:{d.Column}" : d.File;
                warnings.Add($"{where}: warning: {d.KeyPath}: '{YamlGuard.Clip(scenario.Metrics[i])}' is reported with the file's own settings " +
                    $"but not with {YamlGuard.Clip(overridesText)}; left out of the tables");
            }
            else
                errors.Add(d);
        }
        var kept = scenario.Metrics.Where((_, i) => !leftOut.Contains(i)).ToList();
        return (scenario with { Metrics = kept }, errors, warnings);
    }

    /// <summary>The index in a key path <c>NAME[i]</c>, or -1 when it is not one.</summary>
    private static int ListIndex(string keyPath, string name) =>
        keyPath.StartsWith(name + "[", StringComparison.Ordinal) && keyPath.EndsWith(']')
        && int.TryParse(keyPath.AsSpan(name.Length + 1, keyPath.Length - name.Length - 2), out int i) ? i : -1;

    /// <summary>
    /// Names given on the command line (<paramref name="names"/>: the name and the option that gave
    /// it, e.g. <c>--metric</c>) that the model of <paramref name="scenario"/> does not produce, each
    /// as one line: "OPTION: 'name' is not a metric …; did you mean …?". Empty when all are valid
    /// (or when the probe run fails: the run itself then reports why).
    /// </summary>
    public static IReadOnlyList<string> CheckNames(Scenario scenario, IEnumerable<(string Name, string Where)> names)
    {
        var list = names.ToList();
        if (list.Count == 0 || Of(scenario) is not { } valid)
            return [];
        var known = new HashSet<string>(valid, StringComparer.Ordinal);
        return list.Where(n => !known.Contains(n.Name)).Select(n => $"{n.Where}: {Unknown(n.Name, valid)}").ToList();
    }

    /// <summary>"'name' is not a metric this scenario reports; did you mean …?", or the few names closest to it when none is close enough to be a likely typo.</summary>
    public static string Unknown(string name, IReadOnlyList<string> valid, string reportedBy = "this scenario reports")
    {
        var near = NearMatches(name, valid);
        var hint = near.Count switch
        {
            0 => "",
            1 => $"; did you mean '{near[0]}'?",
            _ => $"; did you mean {string.Join(", ", near.Take(near.Count - 1).Select(n => $"'{n}'"))} or '{near[^1]}'?",
        };
        // The full list would bury the names that matter (it is one command away): a short list is
        // shown whole, a long one by the names closest to the one given.
        var listed = near.Count > 0 ? $"'plesim metrics SCENARIO' lists all {valid.Count}"
            : valid.Count <= 10 ? "it reports: " + string.Join(", ", valid)
            : "the closest: " + string.Join(", ", Closest(name, valid, 5)) + $"; 'plesim metrics SCENARIO' lists all {valid.Count}";
        return $"'{YamlGuard.Clip(name)}' is not a metric {reportedBy}{hint} ({listed})";
    }

    /// <summary>The <paramref name="max"/> valid names nearest to <paramref name="name"/>: longest common start first, then edit distance.</summary>
    public static IReadOnlyList<string> Closest(string name, IReadOnlyList<string> valid, int max)
    {
        var lower = name.ToLowerInvariant();
        return valid
            .Select(v => (Name: v, Common: CommonPrefix(lower, v.ToLowerInvariant()), Distance: Suggestions.Distance(lower, v.ToLowerInvariant())))
            .OrderByDescending(t => t.Common).ThenBy(t => t.Distance).ThenBy(t => t.Name, StringComparer.Ordinal)
            .Take(max).Select(t => t.Name).ToList();
    }

    private static int CommonPrefix(string a, string b)
    {
        int n = 0;
        while (n < a.Length && n < b.Length && a[n] == b[n])
            n++;
        return n;
    }

    /// <summary>
    /// Up to <paramref name="max"/> valid names close to <paramref name="name"/>, from the first of
    /// these that has any: names that start with it (<c>bench.lock_iterations</c> →
    /// <c>bench.lock_iterations_per_second</c>), shortest first; names that end with it as whole
    /// segments (<c>frac_spin</c> → <c>bench.frac_spin</c>, <c>loops.frac_spin</c>); likely typos (edit
    /// distance at most a third of the length, at least 2; only those within 2 of the closest); names
    /// that contain it.
    /// </summary>
    public static IReadOnlyList<string> NearMatches(string name, IReadOnlyList<string> valid, int max = 3)
    {
        var lower = name.ToLowerInvariant();
        if (lower.Length == 0)
            return [];
        var prefix = valid.Where(v => v.StartsWith(lower, StringComparison.OrdinalIgnoreCase)).OrderBy(v => v.Length).ThenBy(v => v, StringComparer.Ordinal).ToList();
        if (prefix.Count > 0)
            return prefix.Take(max).ToList();
        var tail = valid.Where(v => v.EndsWith("." + lower, StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal).ToList();
        if (tail.Count > 0)
            return tail.Take(max).ToList();
        var typos = new List<(int Distance, string Name)>();
        foreach (var v in valid)
        {
            int d = Suggestions.Distance(lower, v.ToLowerInvariant());
            if (d <= Math.Max(2, Math.Max(lower.Length, v.Length) / 3))
                typos.Add((d, v));
        }
        if (typos.Count > 0)
        {
            int best = typos.Min(t => t.Distance);
            return typos.Where(t => t.Distance <= best + 2).OrderBy(t => t.Distance).ThenBy(t => t.Name, StringComparer.Ordinal).Take(max).Select(t => t.Name).ToList();
        }
        return valid.Where(v => v.Contains(lower, StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal).Take(max).ToList();
    }

    /// <summary>The nodes of a top-level key's value (a list's items, or the scalar), for positions.</summary>
    private static List<YamlNode> ListNodes(YamlMappingNode? root, string key)
    {
        if (root is not null && root.Children.TryGetValue(new YamlScalarNode(key), out var node))
            return node is YamlSequenceNode seq ? [.. seq.Children] : [node];
        return [];
    }
}

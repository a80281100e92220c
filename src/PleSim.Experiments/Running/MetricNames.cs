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

    /// <summary>A located problem for each listed metric the model does not produce, with the closest valid names.</summary>
    public static IReadOnlyList<ScenarioDiagnostic> Check(Scenario scenario)
    {
        if (scenario.Metrics.Count == 0 || Of(scenario) is not { } valid)
            return [];
        var known = new HashSet<string>(valid, StringComparer.Ordinal);
        var items = ListNodes(scenario);
        var problems = new List<ScenarioDiagnostic>();
        for (int i = 0; i < scenario.Metrics.Count; i++)
        {
            var name = scenario.Metrics[i];
            if (known.Contains(name))
                continue;
            var guess = Suggestions.Closest(name, valid);
            var hint = guess is null ? "" : $"; did you mean '{guess}'?";
            var node = i < items.Count ? items[i] : null;
            var listed = valid.Count <= 40 ? string.Join(", ", valid) : string.Join(", ", valid.Take(40)) + $", … ({valid.Count} in all)";
            problems.Add(new ScenarioDiagnostic(scenario.SourceFile, (int)(node?.Start.Line ?? 0), (int)(node?.Start.Column ?? 0), $"metrics[{i}]",
                $"'{YamlGuard.Clip(name)}' is not a metric this scenario reports{hint} (it reports: {listed})"));
        }
        return problems;
    }

    /// <summary>The nodes of the file's metrics list, for positions.</summary>
    private static List<YamlNode> ListNodes(Scenario scenario)
    {
        var root = ScenarioLoader.Parse(scenario.SourceText, new ReadContext(scenario.SourceFile));
        if (root is not null && root.Children.TryGetValue(new YamlScalarNode("metrics"), out var node))
            return node is YamlSequenceNode seq ? [.. seq.Children] : [node];
        return [];
    }
}

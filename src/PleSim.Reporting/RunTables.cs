using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using Spectre.Console;

namespace PleSim.Reporting;

/// <summary>Console tables of run results (Spectre.Console).</summary>
public static class RunTables
{
    /// <summary>The metrics to show: the scenario's list when it has one, else every metric.</summary>
    public static IReadOnlyList<string> ShownMetrics(Scenario scenario, IReadOnlyList<RunResult> runs)
    {
        if (scenario.Metrics.Count > 0)
            return scenario.Metrics;
        return runs.Where(r => r.Error is null).SelectMany(r => r.Metrics.Select(m => m.Key)).Distinct().ToList();
    }

    /// <summary>One row per run: seed, status, the shown metrics.</summary>
    /// <remarks>Too wide for the console, it is transposed (a row per metric, a column per seed) or split (<see cref="FitTable"/>).</remarks>
    public static FitTable Runs(Scenario scenario, IReadOnlyList<RunResult> runs)
    {
        var metrics = ShownMetrics(scenario, runs);
        var t = new FitTable(keyColumns: 1).Border(TableBorder.Rounded).Title($"[bold]{Markup.Escape(scenario.Name)}[/] — {runs.Count} run(s)");
        t.AddColumn("seed");
        t.AddColumn("status");
        foreach (var m in metrics)
            t.AddColumn(Markup.Escape(m), rightAligned: true);
        foreach (var r in runs)
        {
            var cells = new List<string> { r.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Error is null ? "ok" : "[red]failed[/]" };
            foreach (var m in metrics)
                cells.Add(r.Metric(m) is double v ? Formats.Number(v) : "");
            t.AddRow(cells.ToArray());
        }
        return t;
    }

    /// <summary>Mean, spread and 95% CI of each shown metric.</summary>
    public static FitTable Summary(Scenario scenario, IReadOnlyList<RunResult> runs)
    {
        var shown = ShownMetrics(scenario, runs);
        var t = new FitTable(keyColumns: 1, transposable: false).Border(TableBorder.Rounded).Title("[bold]summary[/] (95% CI: Student t)");
        t.AddColumn("metric");
        foreach (var h in new[] { "n", "mean", "stdev", "95% CI low", "95% CI high", "median" })
            t.AddColumn(h, rightAligned: true);
        foreach (var s in MetricSummary.OfRuns(runs).Where(s => shown.Contains(s.Metric)))
        {
            // Identical runs have no interval to show: say so rather than print a zero-width CI.
            t.AddRow(Markup.Escape(s.Metric), s.N.ToString(System.Globalization.CultureInfo.InvariantCulture), Formats.Number(s.Mean), Formats.Number(s.Stdev),
                s.AllRunsEqual ? Markup.Escape(Formats.AllRunsEqual) : Formats.Number(s.Ci95Low), s.AllRunsEqual ? "—" : Formats.Number(s.Ci95High), Formats.Number(s.Median));
        }
        return t;
    }

    /// <summary>
    /// A table of records (CPUs, tasks, VMs), with the given title. Too wide for the console, it is
    /// transposed (a row per field, a column per record) or split into groups of columns (<see cref="FitTable"/>).
    /// </summary>
    public static FitTable Records(string title, IReadOnlyList<Record> records)
    {
        var t = new FitTable(keyColumns: 1).Border(TableBorder.Simple).Title(Markup.Escape(title));
        if (records.Count == 0)
            return t.AddColumn("(none)");
        var cols = records[0].Fields.Select(f => f.Key).ToList();
        foreach (var c in cols)
            t.AddColumn(Markup.Escape(c));
        foreach (var r in records)
            t.AddRow(cols.Select(c => Markup.Escape(Formats.Value(r[c]))).ToArray());
        return t;
    }
}

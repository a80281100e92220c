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

    /// <summary>
    /// The timeline of one metric: a row per seed, a column per slice of the measured window (its
    /// start and end in simulated ms), so a start-up transient or a switch between states shows.
    /// </summary>
    public static FitTable Timeline(string metric, IReadOnlyList<(ulong Seed, TimelineWindow[] Windows)> runs)
    {
        var t = new FitTable(keyColumns: 1).Border(TableBorder.Rounded).Title(Markup.Escape(metric));
        t.AddColumn(Markup.Escape("seed \\ ms"));
        var slices = runs.Select(r => r.Windows.Length).DefaultIfEmpty(0).Max();
        var longest = runs.First(r => r.Windows.Length == slices).Windows;
        foreach (var w in longest)
            t.AddColumn(Markup.Escape($"{Ms(w.From.Ns)}–{Ms(w.To.Ns)}"), rightAligned: true);
        foreach (var (seed, windows) in runs)
        {
            var cells = new List<string> { seed.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            for (int i = 0; i < slices; i++)
            {
                cells.Add(i >= windows.Length ? "" : windows[i].Result.Error is not null ? "failed"
                    : windows[i].Result.Metric(metric) is double v ? Markup.Escape(Formats.Number(v)) : "–");
            }
            t.AddRow(cells.ToArray());
        }
        return t;
    }

    private static string Ms(long ns) => (ns / 1e6).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);

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

    /// <summary>
    /// Mean, spread and 95% CI of each shown metric. Identical runs say so instead of a zero-width
    /// interval; an interval that crosses the quantity's physical range (<see cref="Bounds"/>: below 0,
    /// a share above 1, more CPUs than the host has) is marked, and the table's caption says why.
    /// A metric without a definition is taken as never negative when none of its runs was.
    /// </summary>
    public static FitTable Summary(Scenario scenario, IReadOnlyList<RunResult> runs)
    {
        var shown = ShownMetrics(scenario, runs);
        var t = new FitTable(keyColumns: 1, transposable: false).Border(TableBorder.Rounded).Title("[bold]summary[/] (95% CI: Student t)");
        t.AddColumn("metric");
        foreach (var h in new[] { "n", "mean", "stdev", "95% CI low", "95% CI high", "median" })
            t.AddColumn(h, rightAligned: true);
        bool marked = false;
        foreach (var s in MetricSummary.OfRuns(runs).Where(s => shown.Contains(s.Metric)))
        {
            string low, high;
            if (s.AllRunsEqual)
            {
                low = Markup.Escape(Formats.AllRunsEqualFor(s.Metric, MetricDefinitions.ResolutionOf(s.Metric, scenario)));
                high = "—";
            }
            else
            {
                var range = Bounds.Of(s.Metric, scenario.Host.Cpus, NoRunBelowZero(runs, s.Metric));
                low = Formats.Number(s.Ci95Low);
                high = Formats.Number(s.Ci95High);
                if (s.Ci95Low < range.Min)
                    low += " " + Bounds.Mark;
                if (s.Ci95High > range.Max)
                    high += " " + Bounds.Mark;
                marked |= range.CrossedBy(s.Ci95Low, s.Ci95High);
            }
            t.AddRow(Markup.Escape(s.Metric), s.N.ToString(System.Globalization.CultureInfo.InvariantCulture), Formats.Number(s.Mean), Formats.Number(s.Stdev),
                low, high, Formats.Number(s.Median));
        }
        if (marked)
            t.Caption(Markup.Escape(Bounds.Note));
        return t;
    }

    private static bool NoRunBelowZero(IReadOnlyList<RunResult> runs, string metric)
    {
        foreach (var r in runs)
        {
            if (r.Error is null && r.Metric(metric) is double v && v < 0)
                return false;
        }
        return true;
    }

    /// <summary>
    /// A record field's column header, with its unit where the bare name misleads: <c>cpu_share</c> is
    /// CPU time over the window in CPUs (a cgroup's 4 is four CPUs' worth, not 400%).
    /// </summary>
    public static string Header(string field) => field switch
    {
        "cpu_share" => "cpu_share (CPUs)",
        _ => field,
    };

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
            t.AddColumn(Markup.Escape(Header(c)));
        foreach (var r in records)
            t.AddRow(cols.Select(c => Markup.Escape(Formats.Value(r[c]))).ToArray());
        return t;
    }
}

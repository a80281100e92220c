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

    /// <summary>Marks a lower 95% bound below 0 of a quantity no run had below 0 (see <see cref="BelowZeroNote"/>).</summary>
    public const string BelowZeroMark = "†";

    /// <summary>Why such a bound is printed, and how to read it.</summary>
    public const string BelowZeroNote =
        "† the interval reaches below 0 though no run was below 0: Student's t with few runs is wide (t = 12.71 for 2 runs, " +
        "2.78 for 5), and it does not know the quantity cannot be negative; read the bound as 0, or narrow it with more runs (--runs N)";

    /// <summary>
    /// Mean, spread and 95% CI of each shown metric. Identical runs say so instead of a zero-width
    /// interval; a lower bound below 0 for a quantity whose runs are all ≥ 0 (a rate or a share on
    /// a few seeds) is marked, and the table's caption says why.
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
            string low;
            if (s.AllRunsEqual)
                low = Markup.Escape(Formats.AllRunsEqual);
            else if (s.Ci95Low < 0 && NoRunBelowZero(runs, s.Metric))
            {
                low = Formats.Number(s.Ci95Low) + " " + BelowZeroMark;
                marked = true;
            }
            else
                low = Formats.Number(s.Ci95Low);
            t.AddRow(Markup.Escape(s.Metric), s.N.ToString(System.Globalization.CultureInfo.InvariantCulture), Formats.Number(s.Mean), Formats.Number(s.Stdev),
                low, s.AllRunsEqual ? "—" : Formats.Number(s.Ci95High), Formats.Number(s.Median));
        }
        if (marked)
            t.Caption(Markup.Escape(BelowZeroNote));
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

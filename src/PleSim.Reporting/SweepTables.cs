using System.Globalization;
using PleSim.Experiments.Sweeps;
using Spectre.Console;

namespace PleSim.Reporting;

/// <summary>What a sweep report shows: the key metrics and the comparisons between points.</summary>
public sealed record SweepView(SweepResults Results, IReadOnlyList<PointSummary> Points, IReadOnlyList<string> KeyMetrics, IReadOnlyList<PairedComparison> Comparisons)
{
    /// <summary>
    /// The view of a sweep: key metrics are <paramref name="metrics"/> when given, else the
    /// scenario's compare metric and its <c>metrics:</c> list; comparisons are along
    /// <paramref name="baselineAxis"/> (default: <see cref="SweepResults.DefaultBaselineAxis"/>).
    /// </summary>
    public static SweepView Of(SweepResults results, IReadOnlyList<string>? metrics = null, string? baselineAxis = null, string? baselineValue = null)
    {
        IReadOnlyList<string> keys;
        if (metrics is { Count: > 0 })
        {
            foreach (var m in metrics.Where(m => !results.AllMetrics.Contains(m)))
                throw new StoreException(PleSim.Experiments.Running.MetricNames.Unknown(m, results.AllMetrics.ToList(), "the stored runs report"));
            keys = metrics;
        }
        else
        {
            keys = new[] { results.CompareMetric }.OfType<string>().Concat(results.ShownMetrics).Where(results.AllMetrics.Contains).Distinct().ToList();
            if (keys.Count == 0)
                keys = results.AllMetrics.Take(6).ToList();
        }
        var axis = baselineAxis ?? results.DefaultBaselineAxis();
        var comparisons = axis is null ? [] : results.Compare(keys, axis, baselineValue);
        return new SweepView(results, results.Summaries(), keys, comparisons);
    }
}

/// <summary>Console tables of a sweep (Spectre.Console).</summary>
public static class SweepTables
{
    /// <summary>One row per point: the swept values, runs, and mean ± 95% CI half-width of up to <paramref name="maxMetrics"/> key metrics.</summary>
    public static FitTable Points(SweepView view, int maxMetrics = 5)
    {
        var r = view.Results;
        var metrics = view.KeyMetrics.Take(maxMetrics).ToList();
        var t = new FitTable(keyColumns: 1 + r.Varied.Count).Border(TableBorder.Rounded)
            .Title($"[bold]{Markup.Escape(r.ScenarioName)}[/] — {view.Points.Count} point(s), mean ± 95% CI half-width (Student t)");
        t.AddColumn("#");
        foreach (var a in r.Varied)
            t.AddColumn(Markup.Escape(a.Path));
        t.AddColumn("runs", rightAligned: true);
        foreach (var m in metrics)
            t.AddColumn(Markup.Escape(m), rightAligned: true);
        bool marked = false;
        foreach (var p in view.Points)
        {
            var cells = new List<string> { p.Point.Point.ToString(CultureInfo.InvariantCulture) };
            cells.AddRange(r.Varied.Select(a => Markup.Escape(p.Point.ValueOf(a.Path) ?? "")));
            cells.Add(p.Failed > 0 ? $"{p.Ok} [red]+{p.Failed} failed[/]" : p.Ok.ToString(CultureInfo.InvariantCulture));
            var shown = metrics.Select(m => MeanCi(p.Of(m))).ToList();
            marked |= shown.Any(Bounds.IsMarked);
            cells.AddRange(shown.Select(Markup.Escape));
            t.AddRow(cells.ToArray());
        }
        if (marked)
            t.Caption(Markup.Escape(Bounds.Note));
        return t;
    }

    /// <summary>Paired comparisons (same seeds) of each value of the baseline axis against its baseline value.</summary>
    public static FitTable Comparisons(SweepView view, int maxMetrics = 2)
    {
        var metrics = view.KeyMetrics.Take(maxMetrics).ToHashSet();
        var rows = view.Comparisons.Where(c => metrics.Contains(c.Metric)).ToList();
        var first = rows.FirstOrDefault();
        var t = new FitTable(keyColumns: 3).Border(TableBorder.Rounded).Title(first is null
            ? "[bold]paired comparisons[/] (none: nothing to compare)"
            : $"[bold]paired comparisons[/]: {Markup.Escape(first.Axis)} vs {Markup.Escape(first.BaselineValue)}, same seeds (difference = value − baseline)");
        foreach (var h in new[] { "metric", "at", "value" })
            t.AddColumn(h);
        foreach (var h in new[] { "n", "baseline mean", "mean difference", "95% CI", "relative" })
            t.AddColumn(h, rightAligned: true);
        foreach (var c in rows)
        {
            var ci = c.Difference.AllRunsEqual
                ? $"= {Formats.Number(c.Difference.Mean)}, all pairs equal"
                : Formats.Interval(c.Difference.Ci95Low, c.Difference.Ci95High);
            t.AddRow(Markup.Escape(c.Metric), Markup.Escape(c.Context.Length == 0 ? "—" : c.Context), Markup.Escape(c.Value),
                c.Difference.N.ToString(CultureInfo.InvariantCulture), Formats.Number(c.BaselineMean), Formats.Number(c.Difference.Mean),
                Markup.Escape(ci) + (c.Significant ? " *" : ""), Formats.SignedPercent(c.Relative));
        }
        if (rows.Any(c => c.Significant))
            t.Caption("* the 95% CI of the difference excludes zero");
        return t;
    }

    /// <summary>
    /// <c>mean ± half-width</c>, or the mean alone for one run, <c>mean (all runs equal)</c> when the
    /// runs agree exactly, or – without data; an interval crossing the metric's range
    /// (<see cref="Bounds"/>) is marked.
    /// </summary>
    public static string MeanCi(PleSim.Experiments.Running.MetricSummary? s) =>
        s is null || s.N == 0 ? "–"
        : s.N == 1 ? Formats.Number(s.Mean)
        : s.AllRunsEqual ? $"{Formats.Number(s.Mean)} {Formats.AllRunsEqualFor(s.Metric)}"
        : Bounds.Marked(Formats.PlusMinus(s.Mean, s.Ci95HalfWidth), Bounds.Of(s.Metric), s.Ci95Low, s.Ci95High);
}

/// <summary>CSV exports of a sweep: points × metrics (long form), runs (wide), comparisons.</summary>
public static class SweepCsv
{
    /// <summary>One row per point and metric: the swept values, runs, then n, mean, stdev, CI, median, p5, p95.</summary>
    public static string Points(SweepView view)
    {
        var r = view.Results;
        var rows = new List<string[]>();
        rows.Add(["point", .. r.Varied.Select(a => a.Path), "runs_ok", "runs_failed", "metric", "n", "mean", "stdev", "ci95_low", "ci95_high", "median", "p5", "p95"]);
        foreach (var p in view.Points)
        {
            foreach (var s in p.Metrics)
            {
                rows.Add([p.Point.Point.ToString(CultureInfo.InvariantCulture), .. r.Varied.Select(a => p.Point.ValueOf(a.Path) ?? ""),
                    p.Ok.ToString(CultureInfo.InvariantCulture), p.Failed.ToString(CultureInfo.InvariantCulture), s.Metric,
                    s.N.ToString(CultureInfo.InvariantCulture), CsvExport.Num(s.Mean), CsvExport.Num(s.Stdev), CsvExport.Num(s.Ci95Low),
                    CsvExport.Num(s.Ci95High), CsvExport.Num(s.Median), CsvExport.Num(s.P5), CsvExport.Num(s.P95)]);
            }
        }
        return CsvExport.Write(rows);
    }

    /// <summary>One row per run: point, swept values, run, seed, status, error, every metric.</summary>
    public static string Runs(SweepView view)
    {
        var r = view.Results;
        var points = r.Points.ToDictionary(p => p.Point);
        var rows = new List<string[]>();
        rows.Add(["point", .. r.Varied.Select(a => a.Path), "run", "seed", "status", "error", .. r.AllMetrics]);
        foreach (var run in r.Runs)
        {
            var p = points[run.Point];
            rows.Add([run.Point.ToString(CultureInfo.InvariantCulture), .. r.Varied.Select(a => p.ValueOf(a.Path) ?? ""),
                run.Run.ToString(CultureInfo.InvariantCulture), run.Seed.ToString(CultureInfo.InvariantCulture), run.Status, run.Error ?? "",
                .. r.AllMetrics.Select(m => run.Metric(m) is double v ? CsvExport.Num(v) : "")]);
        }
        return CsvExport.Write(rows);
    }

    /// <summary>One row per paired comparison.</summary>
    public static string Comparisons(SweepView view)
    {
        var rows = new List<string[]>();
        rows.Add(["metric", "axis", "baseline", "value", "context", "n", "baseline_mean", "mean_difference", "ci95_low", "ci95_high", "relative_difference", "significant"]);
        foreach (var c in view.Comparisons)
        {
            rows.Add([c.Metric, c.Axis, c.BaselineValue, c.Value, c.Context, c.Difference.N.ToString(CultureInfo.InvariantCulture),
                CsvExport.Num(c.BaselineMean), CsvExport.Num(c.Difference.Mean), CsvExport.Num(c.Difference.Ci95Low),
                CsvExport.Num(c.Difference.Ci95High), CsvExport.Num(c.Relative), c.Significant ? "true" : "false"]);
        }
        return CsvExport.Write(rows);
    }
}

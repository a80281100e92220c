using System.Globalization;
using System.Net;
using System.Text;
using PleSim.Experiments.Running;
using PleSim.Experiments.Sweeps;

namespace PleSim.Reporting;

/// <summary>A plot of a sweep report: its file name (without extension), title and what it shows.</summary>
public sealed record SweepPlot(string FileStem, string Title, string Caption, ScottPlot.Plot Plot);

/// <summary>Plots (ScottPlot) and the single-file HTML report of a sweep.</summary>
public static class SweepReport
{
    /// <summary>The VCPU time categories of a VM, bottom to top of the CPU-share bars (metrics <c>&lt;vm&gt;.frac_&lt;category&gt;</c>).</summary>
    public static readonly string[] TimeCategories = ["guest_run", "spin", "pause_exit", "other_exit", "userspace", "ple_sleep", "halted", "preempted"];

    /// <summary>
    /// One metric-vs-key plot per key metric (x: <paramref name="xAxis"/>, default the first swept
    /// key; one line per combination of the other swept keys; 95% CI error bars), and one stacked
    /// bar chart per VM of where its VCPU time went at each point.
    /// </summary>
    public static IReadOnlyList<SweepPlot> Plots(SweepView view, string? xAxis = null, int maxMetrics = 8)
    {
        var r = view.Results;
        var varied = r.Varied;
        var x = xAxis is null ? varied.FirstOrDefault() : varied.FirstOrDefault(a => a.Path == xAxis)
            ?? throw new ArgumentException($"'{xAxis}' is not a swept key of this sweep", nameof(xAxis));
        var others = varied.Where(a => a != x).ToList();
        var xLabels = x?.Values ?? ["(base)"];
        // Series: each combination of the other swept keys that occurs, in point order.
        var series = new List<string>();
        foreach (var p in view.Points)
        {
            var key = SeriesKey(p.Point, others);
            if (!series.Contains(key))
                series.Add(key);
        }
        var plots = new List<SweepPlot>();
        foreach (var metric in view.KeyMetrics.Take(maxMetrics))
        {
            var lines = series.Select(sk =>
            {
                var mean = new double[xLabels.Count];
                var lo = new double[xLabels.Count];
                var hi = new double[xLabels.Count];
                for (int i = 0; i < xLabels.Count; i++)
                {
                    var point = view.Points.FirstOrDefault(p => SeriesKey(p.Point, others) == sk && (x is null || p.Point.ValueOf(x.Path) == xLabels[i]));
                    var s = point?.Of(metric);
                    mean[i] = s is { N: > 0 } ? s.Mean : double.NaN;
                    lo[i] = s is { N: > 1 } ? s.Ci95Low : mean[i];
                    hi[i] = s is { N: > 1 } ? s.Ci95High : mean[i];
                }
                return new PlotSeries(sk.Length == 0 ? metric : sk, mean, lo, hi);
            }).ToList();
            var title = $"{metric} vs {Short(x?.Path ?? "point")}";
            plots.Add(new SweepPlot(
                "metric-" + FileSafe(metric),
                title,
                $"{metric}: mean over runs with its 95% confidence interval (Student t), per value of {x?.Path ?? "the single point"}" +
                    (others.Count > 0 ? $"; one line per {string.Join(" × ", others.Select(o => o.Path))}." : "."),
                PleSim.Reporting.Plots.MetricVsKey(title, x is null ? "" : AxisLabels.Key(x.Path, x.Values), xLabels, AxisLabels.Metric(metric), lines)));
        }
        foreach (var vm in VmNames(r))
        {
            var cats = TimeCategories.Where(c => r.AllMetrics.Contains($"{vm}.frac_{c}")).ToList();
            var segments = cats.Select(c => new StackSegment(c,
                view.Points.Select(p => p.Of($"{vm}.frac_{c}") is { N: > 0 } s ? s.Mean : double.NaN).ToList())).ToList();
            var labels = view.Points.Select(p => varied.Count == 0 ? "(base)" : string.Join("\n", varied.Select(a => p.Point.ValueOf(a.Path)))).ToList();
            var title = $"Where VM '{vm}' VCPU time went";
            plots.Add(new SweepPlot(
                "cpu-share-" + FileSafe(vm),
                title,
                $"Share of VM '{vm}' VCPU time (mean over runs) in each state at each point: guest_run (guest code), spin (PAUSE loops inside the guest), pause_exit and other_exit (exit handling), userspace, ple_sleep, halted (idle in HLT), preempted (runnable but not running on the host).",
                PleSim.Reporting.Plots.StackedShares(title, labels, "share of VCPU time [fraction]", segments, string.Join(" / ", varied.Select(a => $"{a.Path} [{AxisLabels.KeyUnit(a.Path, a.Values)}]")))));
        }
        return plots;
    }

    public static void SavePlots(IReadOnlyList<SweepPlot> plots, string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var p in plots)
            PleSim.Reporting.Plots.Save(p.Plot, Path.Combine(dir, p.FileStem));
    }

    /// <summary>VMs with CPU-share metrics, in metric order.</summary>
    public static IReadOnlyList<string> VmNames(SweepResults r) =>
        r.AllMetrics.Where(m => m.EndsWith(".frac_guest_run", StringComparison.Ordinal)).Select(m => m[..m.LastIndexOf('.')]).ToList();

    private static string SeriesKey(StoredPoint p, IReadOnlyList<StoredAxis> others) =>
        string.Join(" ", others.Select(a => $"{Short(a.Path)}={p.ValueOf(a.Path)}"));

    /// <summary>The last key of a path: <c>kvm.ple_window</c> → <c>ple_window</c>.</summary>
    public static string Short(string path) => path[(path.LastIndexOf('.') + 1)..];

    private static string FileSafe(string s) =>
        string.Concat(s.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));

    /// <summary>
    /// The single-file HTML report: summary, points table, paired comparisons, plots (inline SVG),
    /// all metrics per point, failures, the scenario text, seeds, version and environment. No
    /// external resources; deterministic for a given store.
    /// </summary>
    public static string Html(SweepView view, IReadOnlyList<SweepPlot> plots)
    {
        var r = view.Results;
        var h = new StringBuilder();
        string E(string s) => WebUtility.HtmlEncode(s);
        string N(double v) => E(Formats.Number(v));
        string Raw(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "";
        int ok = r.Runs.Count(x => x.Ok), failed = r.Runs.Count - ok, missing = r.Missing().Count;

        void ComparisonTable(string id, IEnumerable<PairedComparison> rows)
        {
            h.Append(CultureInfo.InvariantCulture, $"<div class=\"wide\"><table id=\"{id}\">\n<thead><tr><th>metric</th><th>at</th><th>value</th><th>n</th><th>baseline mean</th><th>mean difference</th><th>95% CI</th><th>relative</th></tr></thead>\n<tbody>\n");
            foreach (var c in rows)
            {
                h.Append(CultureInfo.InvariantCulture, $"<tr{(c.Significant ? " class=\"sig\"" : "")}><td>{E(c.Metric)}</td><td>{E(c.Context.Length == 0 ? "—" : c.Context)}</td><td>{E(c.Value)}</td>");
                h.Append(CultureInfo.InvariantCulture, $"<td class=\"num\">{c.Difference.N}</td><td class=\"num\">{N(c.BaselineMean)}</td><td class=\"num\" data-diff=\"{Raw(c.Difference.Mean)}\">{N(c.Difference.Mean)}</td>");
                h.Append(CultureInfo.InvariantCulture, $"<td class=\"num\">{(c.Difference.AllRunsEqual ? E($"= {N(c.Difference.Mean)}, all pairs equal") : $"{E(Formats.Interval(c.Difference.Ci95Low, c.Difference.Ci95High))}")}</td><td class=\"num\">{E(Formats.SignedPercent(c.Relative))}</td></tr>\n");
            }
            h.Append("</tbody>\n</table></div>\n");
        }

        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        h.Append(CultureInfo.InvariantCulture, $"<title>PleSim sweep report: {E(r.ScenarioName)}</title>\n");
        h.Append("""
            <style>
            body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; line-height: 1.4; }
            h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
            table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
            th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; white-space: nowrap; } th { background: #f2f2f2; }
            .wide { overflow-x: auto; max-width: 100%; }
            td.long { white-space: normal; overflow-wrap: anywhere; min-width: 16em; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; }
            .sig { font-weight: bold; } .fail { color: #b00; }
            figure { margin: 1.5em 0; } figure svg { max-width: 100%; height: auto; border: 1px solid #eee; box-sizing: border-box; }
            figcaption { font-size: 0.85em; color: #555; max-width: 800px; }
            pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.8em; white-space: pre-wrap; overflow-wrap: anywhere; }
            dl.meta dt { font-weight: bold; float: left; clear: left; width: 11em; } dl.meta dd { margin-left: 12em; overflow-wrap: anywhere; }
            summary { overflow-wrap: anywhere; }
            </style>
            </head>
            <body>

            """);
        h.Append(CultureInfo.InvariantCulture, $"<h1>Sweep report: {E(r.ScenarioName)}</h1>\n");
        h.Append("<dl class=\"meta\" id=\"summary\">\n");
        void Meta(string k, string v) => h.Append(CultureInfo.InvariantCulture, $"<dt>{E(k)}</dt><dd>{E(v)}</dd>\n");
        Meta("scenario file", r.Meta["scenario_file"]);
        Meta("swept keys", r.Varied.Count == 0 ? "none" : string.Join("; ", r.Varied.Select(a => $"{a.Path} = {string.Join(", ", a.Values)}")) + $" ({r.Meta["mode"]})");
        var fixedKeys = r.Axes.Where(a => !a.Varied).ToList();
        if (fixedKeys.Count > 0)
            Meta("fixed overrides", string.Join("; ", fixedKeys.Select(a => $"{a.Path} = {a.Values[0]}")));
        Meta("points", r.Points.Count.ToString(CultureInfo.InvariantCulture));
        Meta("runs", $"{ok} ok, {failed} failed, {missing} missing ({r.RunsPerPoint} per point{(r.Adaptive ? ", adaptive: " + r.Meta["adaptive"] : "")})");
        Meta("sweep digest", r.Meta["sweep_digest"]);
        h.Append("</dl>\n");

        h.Append("<h2>Points</h2>\n<p>Mean ± half-width of the 95% confidence interval (Student t) over each point's successful runs.</p>\n");
        h.Append("<div class=\"wide\"><table id=\"points\">\n<thead><tr><th>#</th>");
        foreach (var a in r.Varied)
            h.Append(CultureInfo.InvariantCulture, $"<th>{E(a.Path)}</th>");
        h.Append("<th>runs</th>");
        foreach (var m in view.KeyMetrics)
            h.Append(CultureInfo.InvariantCulture, $"<th>{E(m)}</th>");
        h.Append("</tr></thead>\n<tbody>\n");
        bool marked = false;
        foreach (var p in view.Points)
        {
            h.Append(CultureInfo.InvariantCulture, $"<tr data-point=\"{p.Point.Point}\"><td class=\"num\">{p.Point.Point}</td>");
            foreach (var a in r.Varied)
                h.Append(CultureInfo.InvariantCulture, $"<td>{E(p.Point.ValueOf(a.Path) ?? "")}</td>");
            h.Append(CultureInfo.InvariantCulture, $"<td class=\"num\">{p.Ok}{(p.Failed > 0 ? $" <span class=\"fail\">+{p.Failed} failed</span>" : "")}</td>");
            foreach (var m in view.KeyMetrics)
            {
                var s = p.Of(m);
                string cell = SweepTables.MeanCi(s);
                marked |= Bounds.IsMarked(cell);
                h.Append(CultureInfo.InvariantCulture, $"<td class=\"num\" data-metric=\"{E(m)}\" data-mean=\"{Raw(s?.Mean ?? double.NaN)}\">{E(cell)}</td>");
            }
            h.Append("</tr>\n");
        }
        h.Append("</tbody>\n</table></div>\n");
        if (marked)
            h.Append(CultureInfo.InvariantCulture, $"<p>{E(Bounds.Note)}</p>\n");

        if (view.Comparisons.Count > 0)
        {
            var c0 = view.Comparisons[0];
            h.Append(CultureInfo.InvariantCulture, $"<h2>Paired comparisons: {E(c0.Axis)} against {E(c0.BaselineValue)}</h2>\n");
            h.Append("<p>Runs with the same seed are paired; the difference is value − baseline, with its 95% confidence interval. Bold: the interval excludes zero.</p>\n");
            // The first two key metrics up front; the rest folded away (all are in comparisons.csv).
            var main = view.KeyMetrics.Take(2).ToHashSet();
            ComparisonTable("comparisons", view.Comparisons.Where(c => main.Contains(c.Metric)));
            var rest = view.Comparisons.Where(c => !main.Contains(c.Metric)).ToList();
            if (rest.Count > 0)
            {
                h.Append(CultureInfo.InvariantCulture, $"<details><summary>the other {view.KeyMetrics.Count - main.Count} metrics</summary>\n");
                ComparisonTable("comparisons-more", rest);
                h.Append("</details>\n");
            }
        }

        if (plots.Count > 0)
        {
            h.Append("<h2>Plots</h2>\n");
            foreach (var p in plots)
            {
                h.Append(CultureInfo.InvariantCulture, $"<figure class=\"plot\" id=\"plot-{E(p.FileStem)}\">\n");
                h.Append(PleSim.Reporting.Plots.Svg(p.Plot, p.FileStem.Replace('.', '_') + "_"));
                h.Append(CultureInfo.InvariantCulture, $"\n<figcaption>{E(p.Caption)}</figcaption>\n</figure>\n");
            }
        }

        h.Append("<h2>All metrics per point</h2>\n");
        foreach (var p in view.Points)
        {
            h.Append(CultureInfo.InvariantCulture, $"<details><summary>point {p.Point.Point}: {E(p.Point.Label)} ({p.Ok} runs)</summary>\n");
            h.Append("<div class=\"wide\"><table class=\"metrics\"><thead><tr><th>metric</th><th>n</th><th>mean</th><th>stdev</th><th>95% CI</th><th>median</th><th>p5</th><th>p95</th></tr></thead><tbody>\n");
            foreach (var s in p.Metrics)
            {
                h.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(s.Metric)}</td><td class=\"num\">{s.N}</td><td class=\"num\">{N(s.Mean)}</td><td class=\"num\">{N(s.Stdev)}</td>");
                h.Append(CultureInfo.InvariantCulture, $"<td class=\"num\">{E(Bounds.Marked(Formats.Interval(s.Ci95Low, s.Ci95High), Bounds.Of(s.Metric), s.Ci95Low, s.Ci95High))}</td><td class=\"num\">{N(s.Median)}</td><td class=\"num\">{N(s.P5)}</td><td class=\"num\">{N(s.P95)}</td></tr>\n");
            }
            h.Append("</tbody></table></div>\n");
            h.Append(CultureInfo.InvariantCulture, $"<p>Seeds: {E(string.Join(", ", p.Seeds))}. Scenario digest: <code>{E(p.Point.ScenarioDigest)}</code></p>\n</details>\n");
        }

        var failures = r.Runs.Where(x => !x.Ok).ToList();
        if (failures.Count > 0)
        {
            h.Append("<h2>Failed runs</h2>\n<div class=\"wide\"><table id=\"failed\"><thead><tr><th>point</th><th>run</th><th>seed</th><th>error</th><th>reproduce</th></tr></thead><tbody>\n");
            var points = r.Points.ToDictionary(p => p.Point);
            foreach (var f in failures)
            {
                var sets = string.Concat(points[f.Point].Assignments.Select(a => $" --set {a.Key}={a.Value}"));
                h.Append(CultureInfo.InvariantCulture, $"<tr><td class=\"num\">{f.Point}</td><td class=\"num\">{f.Run}</td><td class=\"num\">{f.Seed}</td><td class=\"long\">{E(f.Error ?? "")}</td>");
                h.Append(CultureInfo.InvariantCulture, $"<td class=\"long\"><code>plesim run {E(r.Meta["scenario_file"])}{E(sets)} --runs 1 --seed {f.Seed}</code></td></tr>\n");
            }
            h.Append("</tbody></table></div>\n");
        }

        h.Append("<h2>Scenario</h2>\n");
        h.Append(CultureInfo.InvariantCulture, $"<p>{E(r.Meta["scenario_file"])} (digest <code>{E(r.Meta["scenario_digest"])}</code>), before the sweep's assignments:</p>\n");
        h.Append(CultureInfo.InvariantCulture, $"<pre id=\"scenario\">{E(r.Meta["scenario_text"])}</pre>\n");

        h.Append("<h2>Provenance</h2>\n<dl class=\"meta\" id=\"environment\">\n");
        Meta("simulated by", "PleSim " + r.Meta["plesim_version"]);
        Meta("on", r.Meta["environment"]);
        Meta("store created", r.Meta["created_utc"]);
        if (r.Meta.TryGetValue("merged_from", out var merged))
            Meta("merged from", merged);
        Meta("report by", "PleSim " + VersionInfo.Text);
        h.Append("</dl>\n</body>\n</html>\n");
        return h.ToString();
    }
}

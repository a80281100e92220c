using System.Text.Json;
using PleSim.Experiments.Running;

namespace PleSim.Experiments.Sweeps;

/// <summary>A swept key as recorded in a store.</summary>
public sealed record StoredAxis(string Path, IReadOnlyList<string> Values, bool Varied);

/// <summary>A point's runs summarised: successes, failures, seeds, and every metric's statistics.</summary>
public sealed record PointSummary(StoredPoint Point, int Ok, int Failed, IReadOnlyList<ulong> Seeds, IReadOnlyList<MetricSummary> Metrics)
{
    public MetricSummary? Of(string metric) => Metrics.FirstOrDefault(m => m.Metric == metric);
}

/// <summary>
/// A point compared with its baseline point (same assignments except one key) over runs with the
/// same seeds: the mean of the per-seed differences (value − baseline) and its 95% CI.
/// </summary>
public sealed record PairedComparison(string Metric, string Axis, string BaselineValue, string Value, string Context, MetricSummary Difference, double BaselineMean)
{
    /// <summary>The mean difference relative to the baseline's mean (NaN when that is zero).</summary>
    public double Relative => BaselineMean != 0 ? Difference.Mean / BaselineMean : double.NaN;

    /// <summary>True when the 95% CI of the difference excludes zero.</summary>
    public bool Significant => Difference.N > 1 && (Difference.Ci95Low > 0 || Difference.Ci95High < 0);
}

/// <summary>The results of a sweep read from one or more stores (shards are combined in memory).</summary>
public sealed class SweepResults
{
    private SweepResults(Dictionary<string, string> meta, IReadOnlyList<StoredPoint> points, IReadOnlyList<StoredRun> runs, IReadOnlyList<string> sources)
    {
        Meta = meta;
        Points = points;
        Runs = runs;
        Sources = sources;
        Axes = (JsonSerializer.Deserialize<List<JsonElement>>(meta["axes"]) ?? [])
            .Select(a => new StoredAxis(
                a.GetProperty("path").GetString()!,
                a.GetProperty("values").EnumerateArray().Select(v => v.GetString()!).ToList(),
                a.GetProperty("varied").GetBoolean()))
            .ToList();
        var shown = JsonSerializer.Deserialize<List<string>>(meta.GetValueOrDefault("shown_metrics", "[]")) ?? [];
        AllMetrics = runs.Where(r => r.Ok).SelectMany(r => r.Metrics.Select(m => m.Key)).Distinct().ToList();
        ShownMetrics = shown.Count > 0 ? shown.Where(AllMetrics.Contains).ToList() : AllMetrics;
        CompareMetric = meta.GetValueOrDefault("compare_metric") is { Length: > 0 } c ? c : null;
    }

    public IReadOnlyDictionary<string, string> Meta { get; }
    public IReadOnlyList<StoredPoint> Points { get; }
    public IReadOnlyList<StoredRun> Runs { get; }

    /// <summary>The store files read.</summary>
    public IReadOnlyList<string> Sources { get; }

    public IReadOnlyList<StoredAxis> Axes { get; }
    public IReadOnlyList<StoredAxis> Varied => Axes.Where(a => a.Varied).ToList();

    /// <summary>Metrics reported by any successful run, in first-seen order.</summary>
    public IReadOnlyList<string> AllMetrics { get; }

    /// <summary>The scenario's <c>metrics:</c> list (those reported), or every metric.</summary>
    public IReadOnlyList<string> ShownMetrics { get; }

    /// <summary>The scenario's <c>compare_metric</c>, if any.</summary>
    public string? CompareMetric { get; }

    public string ScenarioName => Meta["scenario_name"];
    public int RunsPerPoint => int.Parse(Meta["runs"], System.Globalization.CultureInfo.InvariantCulture);
    public bool Adaptive => Meta.GetValueOrDefault("adaptive", "off") != "off";

    /// <summary>
    /// The store files of a sweep output: <c>DIR/results.sqlite</c> when present (an unsharded or
    /// merged sweep), else the shard stores <c>DIR/shard-*.sqlite</c>; a file is taken as it is.
    /// </summary>
    public static IReadOnlyList<string> FindStores(string dirOrFile)
    {
        if (File.Exists(dirOrFile))
            return [dirOrFile];
        if (!Directory.Exists(dirOrFile))
            throw new StoreException($"{dirOrFile}: no such directory or result store");
        var main = Path.Combine(dirOrFile, ResultStore.FileName);
        if (File.Exists(main))
            return [main];
        var shards = ShardStores(dirOrFile);
        return shards.Count > 0
            ? shards
            : throw new StoreException($"{dirOrFile} holds no result store ({ResultStore.FileName} or shard-*.sqlite); run 'plesim sweep ... --out {dirOrFile}' first");
    }

    /// <summary>The shard stores in a directory, in shard order.</summary>
    public static IReadOnlyList<string> ShardStores(string dir) =>
        Directory.GetFiles(dir, "shard-*-of-*.sqlite")
            .OrderBy(f => ShardNumber(f))
            .ThenBy(f => f, StringComparer.Ordinal)
            .ToList();

    private static int ShardNumber(string file)
    {
        var parts = Path.GetFileNameWithoutExtension(file).Split('-');
        return parts.Length == 4 && int.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out int i) ? i : int.MaxValue;
    }

    public static SweepResults Load(IReadOnlyList<string> stores)
    {
        var (meta, points, runs) = ResultStore.Combine(stores);
        return new SweepResults(meta, points, runs, stores);
    }

    /// <summary>Units (point, run) a non-adaptive sweep should have but the stores lack.</summary>
    public IReadOnlyList<(int Point, int Run)> Missing()
    {
        if (Adaptive)
            return [];
        var have = Runs.Select(r => (r.Point, r.Run)).ToHashSet();
        return Points.SelectMany(p => Enumerable.Range(0, RunsPerPoint).Select(k => (p.Point, k))).Where(u => !have.Contains(u)).ToList();
    }

    /// <summary>Per point: run counts, seeds and every metric's summary over its successful runs.</summary>
    public IReadOnlyList<PointSummary> Summaries()
    {
        var byPoint = Runs.GroupBy(r => r.Point).ToDictionary(g => g.Key, g => g.ToList());
        return Points.Select(p =>
        {
            var runs = byPoint.GetValueOrDefault(p.Point) ?? [];
            var ok = runs.Where(r => r.Ok).ToList();
            var metrics = AllMetrics.Select(m => MetricSummary.Of(m, ok.Select(r => r.Metric(m)).OfType<double>().Where(double.IsFinite).ToList())).ToList();
            return new PointSummary(p, ok.Count, runs.Count - ok.Count, runs.Select(r => r.Seed).ToList(), metrics);
        }).ToList();
    }

    /// <summary>
    /// The axis whose values are compared by default: <c>kvm.ple_handler</c> when it is swept,
    /// else the last swept key (the one that varies fastest); null when nothing varies.
    /// </summary>
    public string? DefaultBaselineAxis() =>
        Varied.FirstOrDefault(a => a.Path == "kvm.ple_handler")?.Path ?? Varied.LastOrDefault()?.Path;

    /// <summary>
    /// Paired comparisons of every value of <paramref name="axis"/> with <paramref name="baseline"/>
    /// (default: the axis's first value), for each combination of the other keys, over the seeds
    /// both points ran successfully.
    /// </summary>
    public IReadOnlyList<PairedComparison> Compare(IReadOnlyList<string> metrics, string axis, string? baseline = null)
    {
        var ax = Axes.FirstOrDefault(a => a.Path == axis)
            ?? throw new StoreException($"'{axis}' is not a swept key of this sweep (swept: {string.Join(", ", Varied.Select(a => a.Path))})");
        baseline ??= ax.Values[0];
        if (!ax.Values.Contains(baseline))
            throw new StoreException($"'{baseline}' is not a value of {axis} in this sweep (values: {string.Join(", ", ax.Values)})");
        var runsByPoint = Runs.Where(r => r.Ok).GroupBy(r => r.Point).ToDictionary(g => g.Key, g => g.ToDictionary(r => r.Seed));
        string Context(StoredPoint p) => string.Join(" ", p.Assignments.Where(a => a.Key != axis && Varied.Any(v => v.Path == a.Key)).Select(a => $"{a.Key}={a.Value}"));
        var result = new List<PairedComparison>();
        foreach (var p in Points.Where(p => p.ValueOf(axis) != baseline))
        {
            var basePoint = Points.FirstOrDefault(b => b.ValueOf(axis) == baseline && Context(b) == Context(p));
            if (basePoint is null)
                continue;
            var a = runsByPoint.GetValueOrDefault(basePoint.Point) ?? [];
            var b = runsByPoint.GetValueOrDefault(p.Point) ?? [];
            foreach (var m in metrics)
            {
                var pairs = a.Keys.Where(b.ContainsKey).Order()
                    .Select(seed => (A: a[seed].Metric(m), B: b[seed].Metric(m)))
                    .Where(x => x.A is double va && x.B is double vb && double.IsFinite(va) && double.IsFinite(vb))
                    .ToList();
                var diff = MetricSummary.Of(m, pairs.Select(x => x.B!.Value - x.A!.Value).ToList());
                var baseMean = pairs.Count > 0 ? pairs.Average(x => x.A!.Value) : double.NaN;
                result.Add(new PairedComparison(m, axis, baseline, p.ValueOf(axis) ?? "", Context(p), diff, baseMean));
            }
        }
        return result;
    }
}

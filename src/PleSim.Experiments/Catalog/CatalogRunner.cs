using System.Diagnostics;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;

namespace PleSim.Experiments.Catalog;

/// <summary>One simulated cell of a case: its runs and the compared metric's summary.</summary>
public sealed record CaseCell(string Row, string Column, IReadOnlyList<string> Overrides, RunResult[] Runs, MetricSummary Summary)
{
    /// <summary>The cell's value per seed (NaN where a run failed): the metric, or for a relative case the change over the base.</summary>
    public double[] Values { get; init; } = [];

    /// <summary>The compared metric per seed in the cell's own runs (NaN where a run failed or did not report it).</summary>
    public double[] MetricValues { get; init; } = [];

    /// <summary>For a relative case, the compared metric per seed in the base runs (empty otherwise).</summary>
    public double[] BaseMetricValues { get; init; } = [];

    /// <summary>The compared metric's name (for a relative case, of the variant and base runs, not of the change).</summary>
    public string MetricName { get; init; } = "";

    public int Failed => Runs.Count(r => r.Error is not null);

    /// <summary>
    /// Why the cell has no value, when its runs succeeded but the metric was missing (e.g. a
    /// run-to-completion time of a workload that did not finish inside the run): how many of the
    /// cell's own runs and, for a relative case, of its base runs gave no value, and the metric's
    /// definition. Null when the cell has a value or some run failed.
    /// </summary>
    public string? WhyNoValue()
    {
        if (Summary.N > 0 || Failed > 0 || MetricValues.Length == 0)
            return null;
        int n = MetricValues.Length;
        int own = MetricValues.Count(v => !double.IsFinite(v));
        string text = BaseMetricValues.Length > 0
            ? $"{MetricName} missing in {own} of {n} runs with the change and {BaseMetricValues.Count(v => !double.IsFinite(v))} of {n} base runs"
            : $"{MetricName} missing in {own} of {n} runs";
        return MetricDefinitions.Of(MetricName) is { } d ? $"{text} ({d.Meaning})" : text;
    }

    /// <summary>
    /// Whether the seeds disagree so much that the interval says little on its own: for a relative
    /// case, some seed gains and another loses, each by more than <paramref name="minChange"/> percent;
    /// for an absolute one, the largest value is at least <paramref name="minRatio"/> times the smallest
    /// (both positive). A reader is then shown every seed (<c>plesim reproduce</c> prints them).
    /// </summary>
    public bool SeedsDisagree(bool relative, double minChange = 5, double minRatio = 2)
    {
        var finite = Values.Where(double.IsFinite).ToList();
        if (finite.Count < 2)
            return false;
        if (relative)
            return finite.Max() > minChange && finite.Min() < -minChange;
        double lo = finite.Min(), hi = finite.Max();
        return lo > 0 && hi >= minRatio * lo;
    }

    /// <summary>
    /// Seeds whose runs all succeeded but gave no value: the metric was not reported, or, for a
    /// relative case, the base was 0 so the change is undefined. They are left out of the summary.
    /// </summary>
    public int NoValue
    {
        get
        {
            int n = Values.Length, count = 0;
            for (int k = 0; k < n; k++)
                if (!double.IsFinite(Values[k]) && Runs[k].Error is null && (Runs.Length == n || Runs[k + n].Error is null))
                    count++;
            return count;
        }
    }

    public Interval? Value => Summary.N >= 2 && double.IsFinite(Summary.Mean)
        ? new Interval(Summary.Mean, Summary.Ci95Low, Summary.Ci95High)
        : Summary.N == 1 ? Interval.Exact(Summary.Mean) : null;
}

/// <summary>The judgement of one shape predicate on the published and on the simulated table.</summary>
public sealed record PredicateResult(ShapePredicate Predicate, Judgement OnPublished, Interval[] PublishedValues, Judgement OnSimulated, Interval[] SimulatedValues, Interval? SimulatedDifference = null);

/// <summary>What running (or declining to run) one case gave.</summary>
public sealed record CaseResult(CatalogCase Case, string Verdict, IReadOnlyList<CaseCell> Cells, IReadOnlyList<PredicateResult> Predicates, int RunsPerCell, bool Quick, double WallSeconds, string ScenarioDigest)
{
    public Interval? Simulated(CellRef c) => Cells.FirstOrDefault(x => x.Row == c.Row && x.Column == c.Column)?.Value;

    public int Holding => Predicates.Count(p => p.OnSimulated == Judgement.Holds);
}

/// <summary>One cell of a case's grid before it runs: its row, column and overrides.</summary>
public sealed record CaseCellSpec(string Row, string Column, IReadOnlyList<string> Set);

/// <summary>
/// A case ready to run: its cells and the sweep plan — one point per cell in the order of
/// <see cref="Grid"/>, or for a relative case two (the cell, then its base: points 2i and 2i + 1).
/// </summary>
public sealed record CasePlan(CatalogCase Case, bool Quick, int Runs, IReadOnlyList<CaseCellSpec> Grid, SweepPlan Sweep)
{
    /// <summary>Points per cell: 2 when every cell also runs its base (<see cref="CaseExpression.Relative"/>), else 1.</summary>
    public int Sides => Case.Expression?.Relative is null ? 1 : 2;
}

/// <summary>
/// Runs catalog cases: every cell of the case's grid (the row's overrides, then the column's, then
/// <c>--quick</c>'s) with the same seeds in every cell, and judges the case's shape on the simulated
/// means and 95% CIs. A case that names a missing feature is not run; its verdict says so.
/// </summary>
public static class CatalogRunner
{
    public static CaseResult Run(CatalogCase c, bool quick, int? runs = null, int parallelism = 0, Action<int, int>? onRunDone = null)
    {
        if (c.Expression is null)
            return NotExpressible(c, quick);
        var sw = Stopwatch.StartNew();
        var plan = Plan(c, quick, runs);
        var points = plan.Sweep.Points;
        int n = plan.Runs;
        var results = new RunResult[points.Count, n];
        int total = points.Count * n, done = 0;
        var po = new ParallelOptions { MaxDegreeOfParallelism = parallelism > 0 ? parallelism : Environment.ProcessorCount };
        Parallel.For(0, total, po, k =>
        {
            var sc = points[k / n].Scenario;
            results[k / n, k % n] = Runner.RunOne(sc, sc.SeedOfRun(k % n));
            onRunDone?.Invoke(Interlocked.Increment(ref done), total);
        });
        sw.Stop();
        return Assemble(plan, (i, r) => results[i, r], sw.Elapsed.TotalSeconds);
    }

    /// <summary>The result of a case that names a missing feature: not run, its verdict says so.</summary>
    public static CaseResult NotExpressible(CatalogCase c, bool quick) =>
        new(c, Verdicts.CannotExpress, [], Judge(c, _ => null, ran: false), 0, quick, 0, "");

    /// <summary>
    /// A case's grid as a sweep plan: one point per cell (the row's overrides, then the column's,
    /// then <c>--quick</c>'s), labelled <c>row @ column</c>, in row-major order; run k of every cell
    /// uses seed + k of the case's scenario, so the cells are paired by seed. The same plan serves
    /// an in-memory run (<see cref="Run"/>) and a stored, resumable, shardable one
    /// (<see cref="FromStore"/>), so both give the same runs.
    /// </summary>
    /// <param name="resumeWith">The command that continues a stored run of this plan (recorded in the store).</param>
    public static CasePlan Plan(CatalogCase c, bool quick, int? runs = null, string? resumeWith = null)
    {
        var e = c.Expression ?? throw new InvalidOperationException($"{c.Name} cannot be expressed: {c.CannotExpress}");
        int n = runs ?? (quick ? e.QuickRuns : e.Runs);
        return Plan(c, quick, n, PlanPoints(c, quick),
            resumeWith ?? $"plesim reproduce {c.Name}{(quick ? " --quick" : "")}{(runs is int r ? $" --runs {r}" : "")} --out DIR --resume");
    }

    /// <summary>The plan of <paramref name="planned"/> (<see cref="PlanPoints"/>'s result), for a caller that already holds it.</summary>
    internal static CasePlan Plan(CatalogCase c, bool quick, int runs,
        (Scenario Base, List<CaseCellSpec> Grid, List<(string Label, IReadOnlyList<Override> Set, (string Text, string File)? Source)> Points) planned, string resumeWith) =>
        new(c, quick, runs, planned.Grid, SweepPlan.FromPoints(planned.Base, planned.Points, runs, resumeWith));

    /// <summary>
    /// What <see cref="Plan(CatalogCase, bool, int?, string?)"/> sweeps, before any point is loaded: the case's scenario (with
    /// <c>--quick</c>'s overrides), its cells, and one point per cell — two for a relative case, the
    /// cell and then its base (the cell's overrides, then the base's) — each with its overrides and,
    /// for a row measured on another scenario file, that file's text and name.
    /// </summary>
    public static (Scenario Base, List<CaseCellSpec> Grid, List<(string Label, IReadOnlyList<Override> Set, (string Text, string File)? Source)> Points) PlanPoints(CatalogCase c, bool quick)
    {
        var e = c.Expression ?? throw new InvalidOperationException($"{c.Name} cannot be expressed: {c.CannotExpress}");
        IReadOnlyList<string> quickSet = quick ? e.QuickSet : [];
        var grid = (from row in e.Rows from col in e.Columns
                    select new CaseCellSpec(row.Name, col.Name, [.. row.Set, .. col.Set, .. quickSet])).ToList();
        var texts = new Dictionary<string, (string Text, string File)>(StringComparer.Ordinal);
        (string Text, string File) TextOf(string path)
        {
            if (!texts.TryGetValue(path, out var t))
                texts[path] = t = (ScenarioText(path, out var src), src);
            return t;
        }
        var (text, sourceName) = TextOf(e.Scenario);
        var baseScenario = ScenarioLoader.LoadText(text, sourceName, quickSet.Select(Override.Parse).ToList());
        // A relative case runs each cell twice, the cell and then its base, with the same seeds: the
        // change is paired per seed.
        var points = new List<(string, IReadOnlyList<Override>, (string, string)?)>();
        foreach (var g in grid)
        {
            var source = e.ScenarioOf(g.Row) == e.Scenario ? ((string, string)?)null : TextOf(e.ScenarioOf(g.Row));
            points.Add(($"{g.Row} @ {g.Column}", Parse(g.Set, $"{c.Name}: {g.Row} @ {g.Column}"), source));
            if (e.Relative is { } rel)
                points.Add(($"{g.Row} @ {g.Column} (base)", Parse([.. g.Set, .. rel.Base], $"{c.Name}: {g.Row} @ {g.Column} (base)"), source));
        }
        return (baseScenario, grid, points);
    }

    private static List<Override> Parse(IReadOnlyList<string> set, string origin) =>
        set.Select(o => Override.Parse(o) with { Origin = $"{origin}: {o}" }).ToList();

    /// <summary>
    /// A case's result from the runs of its plan held in a result store (all of them: an unsharded
    /// or merged store). Nothing is run. The cells, predicates and verdict are computed exactly as
    /// after an in-memory run: from each run's seed, error and metric value.
    /// </summary>
    /// <param name="pointOffset">Where the plan's point 0 sits in the store (a study that sweeps the whole case once per draw stores draw d's points from d × points).</param>
    public static CaseResult FromStore(CasePlan plan, IReadOnlyList<StoredRun> stored, double wallSeconds, int pointOffset = 0)
    {
        var byKey = new Dictionary<(int, int), StoredRun>();
        foreach (var r in stored)
            byKey[(r.Point - pointOffset, r.Run)] = r;
        return Assemble(plan, (i, k) =>
        {
            if (!byKey.TryGetValue((i, k), out var s))
                throw new InvalidOperationException($"{plan.Case.Name}: cell {plan.Sweep.Points[i].Label} run {k} is not in the store");
            var rr = new RunResult
            {
                Seed = s.Seed,
                Error = s.Error ?? (s.Ok ? null : "failed"),
                Events = s.Events,
                EventDigest = ulong.Parse(s.EventDigest, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture),
                WallSeconds = s.WallSeconds,
            };
            rr.Metrics.AddRange(s.Metrics);
            return rr;
        }, wallSeconds);
    }

    /// <summary>Cells, predicates and verdict from run k of point i (<paramref name="run"/>).</summary>
    private static CaseResult Assemble(CasePlan plan, Func<int, int, RunResult> run, double wallSeconds)
    {
        var c = plan.Case;
        var e = c.Expression!;
        int n = plan.Runs, sides = plan.Sides;
        var cells = plan.Grid.Select((g, i) =>
        {
            string metric = e.MetricOf(g.Row);
            double ValueOf(RunResult x) => x.Error is null && x.Metric(metric) is double v ? v : double.NaN;
            var variant = Enumerable.Range(0, n).Select(k => run(i * sides, k)).ToArray();
            double[] values, own = variant.Select(ValueOf).ToArray(), baseValues = [];
            RunResult[] all;
            string compared = metric;
            if (e.RelativeOf(g.Row) is { } rel)
            {
                var bases = Enumerable.Range(0, n).Select(k => run(i * sides + 1, k)).ToArray();
                baseValues = bases.Select(ValueOf).ToArray();
                values = Enumerable.Range(0, n).Select(k => rel.Change(own[k], baseValues[k])).ToArray();
                all = [.. variant, .. bases];
                compared = $"change of {metric} over the base (%)";
            }
            else
            {
                values = own;
                all = variant;
            }
            return new CaseCell(g.Row, g.Column, g.Set, all, MetricSummary.Of(compared, values.Where(double.IsFinite).ToList()))
            {
                Values = values,
                MetricValues = own,
                BaseMetricValues = baseValues,
                MetricName = metric,
            };
        }).ToList();
        var preds = Judge(c, cref => cells.FirstOrDefault(x => x.Row == cref.Row && x.Column == cref.Column)?.Values, ran: true);
        // "runs failed" only when runs failed; a cell whose runs succeeded without a value (the
        // metric was not reported) leaves its predicates without value: inconclusive, with the reason
        // printed under the table (WhyNoValue).
        string verdict = cells.Any(x => x.Value is null && x.WhyNoValue() is null) ? Verdicts.Failed : Verdicts.Of(preds.Select(p => p.OnSimulated));
        return new CaseResult(c, verdict, cells, preds, n, plan.Quick, wallSeconds, plan.Sweep.Base.Digest);
    }

    /// <summary>Judges every predicate of a case on its published numbers and, when it ran, on the simulated runs (paired by seed).</summary>
    public static List<PredicateResult> Judge(CatalogCase c, Func<CellRef, double[]?> simulatedRuns, bool ran)
    {
        var list = new List<PredicateResult>();
        foreach (var p in c.Shape)
        {
            var (jp, vp) = p.Judge(x => c.Published.Value(x.Row, x.Column) is double v ? Interval.Exact(v) : null);
            var (js, vs, d) = ran ? p.JudgePaired(simulatedRuns) : (Judgement.NoValue, [], null);
            list.Add(new PredicateResult(p, jp, vp, js, vs, d));
        }
        return list;
    }

    /// <summary>
    /// The text of a case's scenario: the file relative to the repository (found by walking up from
    /// the working directory), else the copy built into the program.
    /// </summary>
    public static string ScenarioText(string path, out string sourceName)
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PleSim.slnx")))
            {
                var full = Path.Combine(dir.FullName, path);
                if (File.Exists(full))
                {
                    sourceName = path;
                    return File.ReadAllText(full);
                }
                break;
            }
        }
        // The riel-2011 scenario is built in under its own name (Riel2011.LoadScenario).
        var text = EmbeddedText.TryRead(path)
            ?? (path == "scenarios/riel-2011/amqp.yaml" ? EmbeddedText.TryRead("riel-2011-amqp.yaml") : null)
            ?? throw new ScenarioException(new ScenarioDiagnostic(path, 0, 0, "expression.scenario", "no such scenario file (neither in the repository nor built in)"));
        sourceName = path + " (built in)";
        return text;
    }
}

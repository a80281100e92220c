using System.Diagnostics;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Catalog;

/// <summary>One simulated cell of a case: its runs and the compared metric's summary.</summary>
public sealed record CaseCell(string Row, string Column, IReadOnlyList<string> Overrides, RunResult[] Runs, MetricSummary Summary)
{
    /// <summary>The cell's value per seed (NaN where a run failed): the metric, or for a relative case the change over the base.</summary>
    public double[] Values { get; init; } = [];

    public int Failed => Runs.Count(r => r.Error is not null);

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

/// <summary>
/// Runs catalog cases: every cell of the case's grid (the row's overrides, then the column's, then
/// <c>--quick</c>'s) with the same seeds in every cell, and judges the case's shape on the simulated
/// means and 95% CIs. A case that names a missing feature is not run; its verdict says so.
/// </summary>
public static class CatalogRunner
{
    public static CaseResult Run(CatalogCase c, bool quick, int? runs = null, int parallelism = 0, Action<int, int>? onRunDone = null)
    {
        if (c.Expression is not { } e)
            return new CaseResult(c, Verdicts.CannotExpress, [], Judge(c, _ => null, ran: false), 0, quick, 0, "");
        var sw = Stopwatch.StartNew();
        int n = runs ?? (quick ? e.QuickRuns : e.Runs);
        IReadOnlyList<string> quickSet = quick ? e.QuickSet : [];
        var grid = (from row in e.Rows from col in e.Columns
                    select (Row: row.Name, Column: col.Name, Set: (IReadOnlyList<string>)[.. row.Set, .. col.Set, .. quickSet])).ToList();
        // A relative case runs each cell twice: the variant (the cell's overrides) and its base (then
        // the base overrides); run k of both has the same seed, so the change is paired per seed.
        int sides = e.Relative is null ? 1 : 2;
        var scenarios = new Scenario[grid.Count * sides];
        var texts = new Dictionary<string, (string Text, string Source)>(StringComparer.Ordinal);
        (string Text, string Source) TextOf(string path)
        {
            if (!texts.TryGetValue(path, out var t))
                texts[path] = t = (ScenarioText(path, out var src), src);
            return t;
        }
        for (int i = 0; i < grid.Count; i++)
        {
            var g = grid[i];
            var (text, sourceName) = TextOf(e.ScenarioOf(g.Row));
            for (int side = 0; side < sides; side++)
            {
                IReadOnlyList<string> set = side == 0 ? g.Set : [.. g.Set, .. e.Relative!.Base];
                string label = side == 0 ? $"{g.Row} @ {g.Column}" : $"{g.Row} @ {g.Column} (base)";
                scenarios[i * sides + side] = ScenarioLoader.LoadText(text, sourceName,
                    set.Select(o => Override.Parse(o) with { Origin = $"{c.Name}: {label}: {o}" }).ToList());
            }
        }
        var (firstText, firstSource) = TextOf(e.Scenario);
        var baseScenario = ScenarioLoader.LoadText(firstText, firstSource, quickSet.Select(Override.Parse).ToList());
        var seeds = Runner.Seeds(baseScenario, n);
        var results = new RunResult[scenarios.Length, n];
        int total = scenarios.Length * n, done = 0;
        var po = new ParallelOptions { MaxDegreeOfParallelism = parallelism > 0 ? parallelism : Environment.ProcessorCount };
        Parallel.For(0, total, po, k =>
        {
            results[k / n, k % n] = Runner.RunOne(scenarios[k / n], seeds[k % n]);
            onRunDone?.Invoke(Interlocked.Increment(ref done), total);
        });
        var cells = grid.Select((g, i) =>
        {
            string metric = e.MetricOf(g.Row);
            double ValueOf(RunResult x) => x.Error is null && x.Metric(metric) is double v ? v : double.NaN;
            var variant = Enumerable.Range(0, n).Select(r => results[i * sides, r]).ToArray();
            double[] values;
            RunResult[] all;
            if (e.Relative is { } rel)
            {
                var bases = Enumerable.Range(0, n).Select(r => results[i * sides + 1, r]).ToArray();
                values = Enumerable.Range(0, n).Select(r => rel.Change(ValueOf(variant[r]), ValueOf(bases[r]))).ToArray();
                all = [.. variant, .. bases];
                metric = $"change of {metric} over the base (%)";
            }
            else
            {
                values = variant.Select(ValueOf).ToArray();
                all = variant;
            }
            return new CaseCell(g.Row, g.Column, g.Set, all, MetricSummary.Of(metric, values.Where(double.IsFinite).ToList())) { Values = values };
        }).ToList();
        sw.Stop();
        var preds = Judge(c, cref => cells.FirstOrDefault(x => x.Row == cref.Row && x.Column == cref.Column)?.Values, ran: true);
        string verdict = cells.Any(x => x.Value is null) ? Verdicts.Failed : Verdicts.Of(preds.Select(p => p.OnSimulated));
        return new CaseResult(c, verdict, cells, preds, n, quick, sw.Elapsed.TotalSeconds, baseScenario.Digest);
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
        var asm = typeof(CatalogRunner).Assembly;
        // The riel-2011 scenario is built in under its own name (Riel2011.LoadScenario).
        using var s = asm.GetManifestResourceStream(path)
            ?? (path == "scenarios/riel-2011/amqp.yaml" ? asm.GetManifestResourceStream("riel-2011-amqp.yaml") : null)
            ?? throw new ScenarioException(new ScenarioDiagnostic(path, 0, 0, "expression.scenario", "no such scenario file (neither in the repository nor built in)"));
        using var reader = new StreamReader(s);
        sourceName = path + " (built in)";
        return reader.ReadToEnd();
    }
}

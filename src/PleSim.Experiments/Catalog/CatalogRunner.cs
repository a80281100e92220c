using System.Diagnostics;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Catalog;

/// <summary>One simulated cell of a case: its runs and the compared metric's summary.</summary>
public sealed record CaseCell(string Row, string Column, IReadOnlyList<string> Overrides, RunResult[] Runs, MetricSummary Summary)
{
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
        var grid = (from row in e.Rows from col in e.Columns
                    select (Row: row.Name, Column: col.Name, Set: (IReadOnlyList<string>)[.. row.Set, .. col.Set, .. (quick ? e.QuickSet : [])])).ToList();
        var text = ScenarioText(e.Scenario, out var sourceName);
        var scenarios = grid.Select(g => ScenarioLoader.LoadText(text, sourceName,
            g.Set.Select(o => Override.Parse(o) with { Origin = $"{c.Name}: {g.Row} @ {g.Column}: {o}" }).ToList())).ToArray();
        var baseScenario = ScenarioLoader.LoadText(text, sourceName, quick ? e.QuickSet.Select(Override.Parse).ToList() : []);
        var seeds = Runner.Seeds(baseScenario, n);
        var results = new RunResult[grid.Count, n];
        int total = grid.Count * n, done = 0;
        var po = new ParallelOptions { MaxDegreeOfParallelism = parallelism > 0 ? parallelism : Environment.ProcessorCount };
        Parallel.For(0, total, po, k =>
        {
            results[k / n, k % n] = Runner.RunOne(scenarios[k / n], seeds[k % n]);
            onRunDone?.Invoke(Interlocked.Increment(ref done), total);
        });
        var cells = grid.Select((g, i) =>
        {
            var rr = Enumerable.Range(0, n).Select(r => results[i, r]).ToArray();
            var vals = rr.Where(x => x.Error is null && x.Metric(e.Metric) is double v && double.IsFinite(v)).Select(x => x.Metric(e.Metric)!.Value).ToList();
            return new CaseCell(g.Row, g.Column, g.Set, rr, MetricSummary.Of(e.Metric, vals));
        }).ToList();
        sw.Stop();
        var preds = Judge(c, cref => cells.FirstOrDefault(x => x.Row == cref.Row && x.Column == cref.Column) is { } cell
            ? cell.Runs.Select(x => x.Error is null && x.Metric(e.Metric) is double v ? v : double.NaN).ToArray()
            : null, ran: true);
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

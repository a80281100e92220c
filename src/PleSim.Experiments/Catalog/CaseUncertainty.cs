using System.Globalization;
using PleSim.Experiments.Reproduce;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;
using PleSim.Experiments.Uncertainty;

namespace PleSim.Experiments.Catalog;

/// <summary>One cell of a case under the unknowns: its band over the draws, the published value, and every unknown's elementary effects.</summary>
/// <remarks>
/// <see cref="NoValueRuns"/> counts the runs over all draws that succeeded but gave the cell no finite value
/// (its metric missing, e.g. a run-to-completion time of work that did not finish inside the window, or a
/// change over a base run whose metric is zero); a draw's
/// mean is over the runs that gave one, and a draw none of whose runs did is left out of the band.
/// </remarks>
public sealed record CaseUncertainCell(string Row, string Column, double? Published, CellBand Band, IReadOnlyList<ElementaryEffects> Effects, double NoiseMuStar, int FailedRuns, int NoValueRuns = 0);

/// <summary>
/// How one shape statement fares over the band's draws: judged on each draw's cell means alone
/// (which way the means point), and judged as the catalog judges it, on each draw's runs with
/// their 95% intervals (<see cref="Settleable"/> false with one run per draw: a single run has no interval).
/// </summary>
public sealed record PredicateSpread(ShapePredicate Predicate, int Draws, int HoldsOnMeans, int FailsOnMeans, int Holds, int Fails, int Unsettled, bool Settleable);

/// <summary>
/// <c>plesim reproduce CASE --uncertainty</c> (decision 0101): the study of
/// <see cref="Riel2011Uncertainty"/> for a catalog case. The case's scenario declares, in its
/// <c>unknowns:</c> section, the set-up values its publication does not state; every draw of them
/// (Morris trajectories for the ranking, a Latin hypercube for the band) runs the whole case — every
/// cell, and every cell's base for a relative case — through the sweep machinery, with the same
/// seeds in every draw. Per cell it gives the band of the case's compared value (the metric, or the
/// paired change for a relative case) and whether the published value lies in it; per shape
/// statement, in how many draws it holds. It never changes the case's verdict: the unknowns were
/// declared after the case's results were seen.
/// </summary>
public sealed class CaseUncertainty
{
    private CaseUncertainty(CatalogCase c, CasePlan casePlan, UncertaintyOptions options, MorrisDesign morris, double[][] lhs, SweepPlan plan)
    {
        Case = c;
        CasePlan = casePlan;
        Options = options;
        Morris = morris;
        Lhs = lhs;
        Plan = plan;
    }

    public CatalogCase Case { get; }

    /// <summary>The case's own plan (one draw's points), used to read each draw's cells back.</summary>
    public CasePlan CasePlan { get; }

    public UncertaintyOptions Options { get; }

    public IReadOnlyList<Unknown> Unknowns => CasePlan.Sweep.Base.Unknowns;

    public MorrisDesign Morris { get; }

    public double[][] Lhs { get; }

    /// <summary>The sweep: point p of draw d is sweep point d × <see cref="PointsPerDraw"/> + p.</summary>
    public SweepPlan Plan { get; }

    public int PointsPerDraw => CasePlan.Sweep.Points.Count;

    public int DesignPoints => Morris.Points.Count + Lhs.Length;

    /// <summary>
    /// Builds the study. The unknowns come from the case's scenario file (<c>expression.scenario</c>);
    /// every value is checked against it and no unknown may set a key a cell, its base or <c>--quick</c>
    /// sets (all problems together). Then every point of every draw is loaded.
    /// </summary>
    public static CaseUncertainty Create(CatalogCase c, UncertaintyOptions options, bool quick, string resumeWith)
    {
        if (!c.IsExpressible)
            throw new ScenarioException(new ScenarioDiagnostic(c.File, 0, 0, "expression", $"{c.Name} cannot be expressed yet ({c.CannotExpress}): there is nothing to study"));
        var planned = CatalogRunner.PlanPoints(c, quick);
        var (baseScenario, _, casePoints) = planned;
        var unknowns = baseScenario.Unknowns;
        var problems = new List<ScenarioDiagnostic>();
        if (unknowns.Count == 0)
            problems.Add(new ScenarioDiagnostic(baseScenario.SourceFile, 0, 0, "unknowns", $"the scenario of {c.Name} declares no unknowns: add an 'unknowns:' list (key, values or range, source) to study what its publication leaves unsaid"));
        var cellKeys = casePoints.SelectMany(p => p.Set).ToList();
        foreach (var u in unknowns)
        {
            foreach (var k in u.Keys)
            {
                if (cellKeys.Any(o => Override.PathsOverlap(o.Path, k)))
                    problems.Add(new ScenarioDiagnostic(u.Origin, 0, 0, k, $"a cell of {c.Name} (or its base, or --quick) sets this key; it cannot be an unknown"));
            }
        }
        var (morris, lhs) = UncertaintyDesign.Create(baseScenario, options, problems);
        int designPoints = morris.Points.Count + lhs.Length;
        var points = new List<(string, IReadOnlyList<Override>, (string, string)?)>(designPoints * casePoints.Count);
        for (int d = 0; d < designPoints; d++)
        {
            var x = d < morris.Points.Count ? morris.Points[d] : lhs[d - morris.Points.Count];
            var drawn = new List<Override>();
            for (int i = 0; i < unknowns.Count; i++)
            {
                var v = unknowns[i].ValueAt(x[i], grid: d < morris.Points.Count);
                drawn.AddRange(unknowns[i].Keys.Select(k => new Override(k, v) { Origin = $"{unknowns[i].Origin} (value {v})" }));
            }
            foreach (var p in casePoints)
                points.Add(($"draw {d}: {p.Label}", [.. drawn, .. p.Set], p.Source));
        }
        var plan = SweepPlan.FromPoints(baseScenario, points, options.Runs, resumeWith);
        var casePlan = CatalogRunner.Plan(c, quick, options.Runs, planned, resumeWith);
        return new CaseUncertainty(c, casePlan, options, morris, lhs, plan);
    }

    /// <summary>How many unknowns the case's scenario declares (0 for a case that cannot be expressed yet).</summary>
    public static int DeclaredUnknowns(CatalogCase c) => c.IsExpressible ? CatalogRunner.PlanPoints(c, quick: false).Base.Unknowns.Count : 0;

    /// <summary>The case's result in every draw (cells, statements and verdict, exactly as <c>plesim reproduce CASE</c> computes them), from a complete store.</summary>
    public IReadOnlyList<CaseResult> Draws(IReadOnlyList<StoredRun> runs)
    {
        var byDraw = new List<StoredRun>[DesignPoints];
        for (int d = 0; d < DesignPoints; d++)
            byDraw[d] = [];
        foreach (var r in runs)
        {
            if (r.Point >= 0 && r.Point < Plan.Points.Count && r.Run < Plan.Runs)
                byDraw[r.Point / PointsPerDraw].Add(r);
        }
        return byDraw.Select((list, d) => CatalogRunner.FromStore(CasePlan, list, 0, d * PointsPerDraw)).ToList();
    }

    /// <summary>Per cell: the band over the Latin hypercube (the Morris points when there is none) and the Morris effects.</summary>
    public IReadOnlyList<CaseUncertainCell> Cells(IReadOnlyList<CaseResult> draws)
    {
        int nm = Morris.Points.Count;
        var result = new List<CaseUncertainCell>();
        for (int g = 0; g < CasePlan.Grid.Count; g++)
        {
            var y = draws.Select(r => r.Cells[g].Summary.N > 0 ? r.Cells[g].Summary.Mean : double.NaN).ToArray();
            var effects = Morris.Analyse(y[..nm]);
            var band = CellBand.Of(Lhs.Length > 0 ? y[nm..] : y[..nm]);
            double variance = PooledVariance(draws.Select(r => r.Cells[g].Values));
            double noise = Math.Sqrt(2 / Math.PI) * Math.Sqrt(2.0 * variance / Options.Runs) / Morris.Delta;
            var spec = CasePlan.Grid[g];
            result.Add(new CaseUncertainCell(spec.Row, spec.Column, Case.Published.Value(spec.Row, spec.Column), band, effects, noise,
                draws.Sum(r => r.Cells[g].Failed),
                draws.Sum(r => r.Cells[g].Values.Count(v => !double.IsFinite(v)) - r.Cells[g].Failed)));
        }
        return result;
    }

    /// <summary>Per shape statement: how it is judged in the band's draws (the Latin hypercube; the Morris points when there is none).</summary>
    public IReadOnlyList<PredicateSpread> Statements(IReadOnlyList<CaseResult> draws)
    {
        var band = BandDraws(draws);
        // Judged on the means alone: every cell's runs replaced by its mean twice (an interval of width 0).
        var onMeans = band.Select(r => CatalogRunner.Judge(Case, cref => r.Cells.FirstOrDefault(x => x.Row == cref.Row && x.Column == cref.Column) is { Summary.N: > 0 } cell
            ? [cell.Summary.Mean, cell.Summary.Mean] : null, ran: true)).ToList();
        var list = new List<PredicateSpread>();
        for (int i = 0; i < Case.Shape.Count; i++)
        {
            int Count(Func<int, bool> of) => Enumerable.Range(0, band.Count).Count(of);
            list.Add(new PredicateSpread(Case.Shape[i], band.Count,
                HoldsOnMeans: Count(d => onMeans[d][i].OnSimulated == Judgement.Holds),
                FailsOnMeans: Count(d => onMeans[d][i].OnSimulated == Judgement.Fails),
                Holds: Count(d => band[d].Predicates[i].OnSimulated == Judgement.Holds),
                Fails: Count(d => band[d].Predicates[i].OnSimulated == Judgement.Fails),
                Unsettled: Count(d => band[d].Predicates[i].OnSimulated is Judgement.Inconclusive or Judgement.NoValue),
                Settleable: Options.Runs >= 2));
        }
        return list;
    }

    /// <summary>How many of the band's draws give each verdict, in the order matches, does not match, inconclusive, runs failed.</summary>
    public IReadOnlyList<(string Verdict, int Draws)> VerdictCounts(IReadOnlyList<CaseResult> draws)
    {
        var band = BandDraws(draws);
        string[] order = [Catalog.Verdicts.Matches, Catalog.Verdicts.DoesNotMatch, Catalog.Verdicts.Inconclusive, Catalog.Verdicts.Failed];
        return order.Select(v => (v, band.Count(r => r.Verdict == v))).Where(x => x.Item2 > 0).ToList();
    }

    /// <summary>How many draws the band is over: the Latin hypercube's, or the Morris draws when there is none.</summary>
    public int BandDrawCount => Lhs.Length > 0 ? Lhs.Length : Morris.Points.Count;

    private IReadOnlyList<CaseResult> BandDraws(IReadOnlyList<CaseResult> draws) =>
        Lhs.Length > 0 ? draws.Skip(Morris.Points.Count).ToList() : draws.Take(Morris.Points.Count).ToList();

    /// <summary>The within-draw variance of the compared values, pooled over the draws (NaN with fewer than two runs per draw).</summary>
    internal static double PooledVariance(IEnumerable<double[]> groups)
    {
        double within = 0;
        int dof = 0;
        foreach (var g in groups)
        {
            var v = g.Where(double.IsFinite).ToArray();
            if (v.Length < 2)
                continue;
            double m = v.Average();
            within += v.Sum(x => (x - m) * (x - m));
            dof += v.Length - 1;
        }
        return dof > 0 ? within / dof : double.NaN;
    }

    /// <summary>The method and its parameters, in words (printed and in the JSON).</summary>
    public string MethodText() =>
        $"Morris elementary effects: {Morris.Trajectories} trajectories × ({Unknowns.Count} unknowns + 1) draws on a {Morris.Levels}-level grid, " +
        $"Δ = {Morris.Delta.ToString("0.###", CultureInfo.InvariantCulture)}; μ* = mean |EE| (Campolongo et al. 2007), σ = standard deviation of EE. " +
        (Lhs.Length > 0
            ? $"Band and statements: the {Lhs.Length} draws of a Latin hypercube sample."
            : "Band and statements: the Morris draws.") +
        $" Each draw runs the whole case ({CasePlan.Grid.Count} cell(s){(CasePlan.Sides == 2 ? ", each with its base" : "")}), {Options.Runs} run(s) per point, seeds {CasePlan.Sweep.Base.Seed}… in every draw (paired).";
}

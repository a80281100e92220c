using System.Globalization;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;
using PleSim.Experiments.Uncertainty;

namespace PleSim.Experiments.Reproduce;

/// <summary>Size of an uncertainty study: Morris trajectories and levels, Latin-hypercube points for the band, runs per point.</summary>
public sealed record UncertaintyOptions(int Trajectories, int Levels, int LhsPoints, int Runs)
{
    /// <summary><c>--quick</c>: a look in well under a minute (with 300 ms windows).</summary>
    public static readonly UncertaintyOptions Quick = new(2, 4, 8, 1);

    /// <summary>
    /// The full study: 10 trajectories (320 points with 31 unknowns) + 64 band points, × 12 cells × 3 runs
    /// = 13,824 runs of 1.2 simulated s, ~190k events each: 9-15 minutes on 2 cores as measured
    /// (docs/decisions/0016).
    /// </summary>
    public static readonly UncertaintyOptions Full = new(10, 4, 64, 3);
}

/// <summary>The band of one cell's outcomes over the band sample, and whether the published value is inside.</summary>
public sealed record CellBand(double Min, double Max, double P5, double P95, double Mean, int Points)
{
    public bool Contains(double v) => v >= Min && v <= Max;

    public bool ContainsP5P95(double v) => v >= P5 && v <= P95;

    /// <summary>The band of a sample of cell means (non-finite values, from draws without a value, left out; all NaN when none is left).</summary>
    public static CellBand Of(IEnumerable<double> sample)
    {
        var s = sample.Where(double.IsFinite).Order().ToArray();
        return s.Length == 0
            ? new CellBand(double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, 0)
            : new CellBand(s[0], s[^1], Riel2011Uncertainty.Percentile(s, 0.05), Riel2011Uncertainty.Percentile(s, 0.95), s.Average(), s.Length);
    }
}

/// <summary>One cell's result: its band, and every unknown's elementary effects (same order as the study's unknowns).</summary>
public sealed record UncertainCell(CellSpec Spec, double? Published, CellBand Band, IReadOnlyList<ElementaryEffects> Effects, double NoiseMuStar, int FailedRuns);

/// <summary>
/// <c>plesim reproduce riel-2011 --uncertainty</c>: samples the scenario's <c>unknowns</c> (Morris
/// trajectories for the ranking, a Latin hypercube for the band) and runs each sampled point in each
/// published cell through the sweep machinery (one zipped sweep: point × cell is a sweep point, runs
/// use seeds seed, seed+1, … in every point, so points are paired by seed).
/// </summary>
public sealed class Riel2011Uncertainty
{
    private Riel2011Uncertainty(Scenario baseScenario, UncertaintyOptions options, MorrisDesign morris, double[][] lhs, IReadOnlyList<CellSpec> cells, SweepPlan plan)
    {
        Base = baseScenario;
        Options = options;
        Morris = morris;
        Lhs = lhs;
        Cells = cells;
        Plan = plan;
    }

    public Scenario Base { get; }

    public UncertaintyOptions Options { get; }

    public IReadOnlyList<Unknown> Unknowns => Base.Unknowns;

    public MorrisDesign Morris { get; }

    /// <summary>The Latin-hypercube points (the band's sample); empty when the band comes from the Morris points.</summary>
    public double[][] Lhs { get; }

    /// <summary>The cells studied: those with a published value.</summary>
    public IReadOnlyList<CellSpec> Cells { get; }

    /// <summary>The sweep: design point d in cell c is sweep point d × cells + c.</summary>
    public SweepPlan Plan { get; }

    public int DesignPoints => Morris.Points.Count + Lhs.Length;

    /// <summary>The unit coordinates of design point <paramref name="d"/> (Morris points first, then the Latin hypercube; a set unknown's value is <c>ValueAt(x, grid: d &lt; Morris.Points.Count)</c>).</summary>
    public double[] Coordinates(int d) => d < Morris.Points.Count ? Morris.Points[d] : Lhs[d - Morris.Points.Count];

    /// <summary>
    /// Builds the study for <paramref name="baseScenario"/> (the experiment's scenario, with any
    /// <c>--quick</c> or variant overrides). Every unknown's values are checked against the scenario
    /// first (all problems together, each naming its unknowns entry), then every point is loaded.
    /// </summary>
    public static Riel2011Uncertainty Create(Scenario baseScenario, UncertaintyOptions options, IReadOnlyList<CellSpec>? cells = null)
    {
        var unknowns = baseScenario.Unknowns;
        var problems = new List<ScenarioDiagnostic>();
        if (unknowns.Count == 0)
            problems.Add(new ScenarioDiagnostic(baseScenario.SourceFile, 0, 0, "unknowns", "the scenario declares no unknowns: add an 'unknowns:' list (key, values or range, source) to study"));
        foreach (var u in unknowns)
        {
            foreach (var k in u.Keys)
            {
                if (Riel2011.GridKeys.Any(g => Override.PathsOverlap(g, k)))
                    problems.Add(new ScenarioDiagnostic(u.Origin, 0, 0, k, "the reproduction sets this key in every cell; it cannot be an unknown"));
                if (baseScenario.Overrides.Any(o => Override.PathsOverlap(o.Path, k)))
                    problems.Add(new ScenarioDiagnostic(u.Origin, 0, 0, k, "the key is also fixed by --set; drop one of the two"));
            }
        }
        var (morris, lhs) = UncertaintyDesign.Create(baseScenario, options, problems);
        cells ??= Riel2011.Grid().Where(c => Riel2011.PublishedValue(c.Payload, c.Handler, c.Loops) is not null).ToList();
        int designPoints = morris.Points.Count + lhs.Length;
        double[] Coord(int d) => d < morris.Points.Count ? morris.Points[d] : lhs[d - morris.Points.Count];

        var axes = new List<SweepAxis>();
        for (int i = 0; i < unknowns.Count; i++)
        {
            var u = unknowns[i];
            var values = new List<string>(designPoints * cells.Count);
            for (int d = 0; d < designPoints; d++)
            {
                var v = u.ValueAt(Coord(d)[i], grid: d < morris.Points.Count);
                for (int c = 0; c < cells.Count; c++)
                    values.Add(v);
            }
            foreach (var k in u.Keys)
                axes.Add(new SweepAxis(k, values, u.Origin));
        }
        for (int g = 0; g < Riel2011.GridKeys.Length; g++)
        {
            var values = new List<string>(designPoints * cells.Count);
            for (int d = 0; d < designPoints; d++)
            {
                foreach (var c in cells)
                    values.Add(c.Overrides[g].Value);
            }
            axes.Add(new SweepAxis(Riel2011.GridKeys[g], values, "riel-2011 grid"));
        }
        foreach (var o in baseScenario.Overrides)
            axes.Add(new SweepAxis(o.Path, [o.Value], o.OriginText));
        // The points come from the file's text; the base scenario's overrides are fixed axes of the sweep.
        var plan = SweepPlan.Create(baseScenario with { Sweep = SweepSpec.Empty }, axes, SweepMode.Zip, options.Runs, bounded: false);
        return new Riel2011Uncertainty(baseScenario, options, morris, lhs, cells, plan);
    }

    /// <summary>The mean of <paramref name="metric"/> over the successful runs of every sweep point (NaN where none succeeded).</summary>
    public static double[] PointMeans(SweepPlan plan, IEnumerable<StoredRun> runs, string metric, out int failed, out double pooledVariance)
    {
        var sums = new double[plan.Points.Count];
        var squares = new double[plan.Points.Count];
        var counts = new int[plan.Points.Count];
        failed = 0;
        foreach (var r in runs)
        {
            if (r.Point < 0 || r.Point >= plan.Points.Count || r.Run >= plan.Runs)
                continue;
            if (!r.Ok || r.Metric(metric) is not double v || !double.IsFinite(v))
            {
                failed++;
                continue;
            }
            sums[r.Point] += v;
            squares[r.Point] += v * v;
            counts[r.Point]++;
        }
        double within = 0;
        int dof = 0;
        for (int p = 0; p < sums.Length; p++)
        {
            if (counts[p] > 1)
            {
                double m = sums[p] / counts[p];
                within += Math.Max(0, squares[p] - (counts[p] * m * m));
                dof += counts[p] - 1;
            }
        }
        pooledVariance = dof > 0 ? within / dof : double.NaN;
        return sums.Select((s, p) => counts[p] > 0 ? s / counts[p] : double.NaN).ToArray();
    }

    /// <summary>Per cell: the band over the Latin hypercube (the Morris points when there is none) and the Morris effects.</summary>
    public IReadOnlyList<UncertainCell> Analyse(IEnumerable<StoredRun> runs)
    {
        string metric = Base.CompareMetric ?? "amqp.subscribe_rate";
        var all = runs.ToList();
        var result = new List<UncertainCell>();
        int nm = Morris.Points.Count;
        for (int c = 0; c < Cells.Count; c++)
        {
            var mine = all.Where(r => r.Point % Cells.Count == c);
            var means = PointMeans(Plan, mine, metric, out int failed, out double variance);
            var y = Enumerable.Range(0, DesignPoints).Select(d => means[(d * Cells.Count) + c]).ToArray();
            var effects = Morris.Analyse(y[..nm]);
            var band = CellBand.Of(Lhs.Length > 0 ? y[nm..] : y[..nm]);
            // What |EE| noise alone gives: two independent means of n runs differ by N(0, 2s²/n); E|.| = sqrt(2/π)·sqrt(2/n)·s; over Δ.
            double noise = Math.Sqrt(2 / Math.PI) * Math.Sqrt(2.0 * variance / Options.Runs) / Morris.Delta;
            var spec = Cells[c];
            result.Add(new UncertainCell(spec, Riel2011.PublishedValue(spec.Payload, spec.Handler, spec.Loops), band, effects, noise, failed));
        }
        return result;
    }

    /// <summary>Linear-interpolation percentile of sorted values (the "type 7" definition).</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0)
            return double.NaN;
        double h = (sorted.Count - 1) * q;
        int lo = (int)Math.Floor(h);
        int hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }

    /// <summary>The method and its parameters, in words (printed and in the JSON).</summary>
    public string MethodText() =>
        $"Morris elementary effects: {Morris.Trajectories} trajectories × ({Unknowns.Count} unknowns + 1) points on a {Morris.Levels}-level grid, " +
        $"Δ = {Morris.Delta.ToString("0.###", CultureInfo.InvariantCulture)}; μ* = mean |EE| (Campolongo et al. 2007), σ = standard deviation of EE. " +
        (Lhs.Length > 0
            ? $"Band: min–max and p5–p95 of the cell means over a {Lhs.Length}-point Latin hypercube sample."
            : "Band: min–max and p5–p95 of the cell means over the Morris points.") +
        $" {Options.Runs} run(s) per point, seeds {Base.Seed}… in every point (paired).";
}

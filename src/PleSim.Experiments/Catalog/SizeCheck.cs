namespace PleSim.Experiments.Catalog;

/// <summary>How one simulated quantity compares in size with the published one (<see cref="SizeCheck.Judge"/>).</summary>
public enum SizeOutcome
{
    /// <summary>The simulated mean is within <see cref="SizeCheck.Factor"/>× of the published value (or, for a change, within <see cref="SizeCheck.NearZeroPoints"/> point of it).</summary>
    Within,

    /// <summary>Same sign, but more than <see cref="SizeCheck.Factor"/>× larger or smaller.</summary>
    Outside,

    /// <summary>The simulated mean has the other sign than the published value.</summary>
    OppositeSign,

    /// <summary>The published change is within <see cref="SizeCheck.NearZeroPoints"/> point of zero (no ratio is meaningful) and the simulated one is not within that point of it.</summary>
    PublishedNearZero,

    /// <summary>The simulated quantity has no value (its runs failed or gave none).</summary>
    NoSimulatedValue,
}

/// <summary>
/// One quantity whose size is compared: a cell of a relative case (a change in %, <see cref="Change"/>),
/// the relative difference between two absolute cells that a pre-registered predicate compares
/// (<see cref="Gain"/>, in %), or an absolute cell that a predicate judges on its own
/// (<see cref="Level"/>, in the case's unit). <see cref="Ratio"/> is simulated / published (null when
/// the published value is 0 or within a point of 0 for a change, or there is no simulated value).
/// </summary>
public sealed record SizeComparison(string Quantity, string Kind, double Published, double? Simulated, double? Ratio, SizeOutcome Outcome)
{
    public const string Change = "change";
    public const string Gain = "gain";
    public const string Level = "level";

    /// <summary>Whether the values are percentages (changes and gains) rather than values in the case's unit.</summary>
    public bool IsPercent => Kind != Level;
}

/// <summary>
/// The size check of a catalog case, stated apart from its verdict (decision 0098). The verdict is
/// the pre-registered shape — signs, orderings and stated ranges judged on 95% CIs — and is not
/// changed by this; this check says how far the simulated sizes are from the published ones, on the
/// means, by one fixed rule (<see cref="Judge"/>): within <see cref="Factor"/>× of the published
/// value, or for a change in % within <see cref="NearZeroPoints"/> percentage point of it. What is
/// compared is fixed by the case file: every cell of a relative case (each is a published change);
/// for an absolute case, the relative difference of every pair of cells a predicate compares
/// (<c>greater</c>, <c>near</c>, <c>gain(A; B)</c>, <c>ratio(A; B)</c>), because an absolute level
/// depends on how far the case's workload is scaled down (a 0.3 s build stands in for a 5-minute
/// one), and every absolute cell a predicate judges on its own (<c>between</c>, <c>positive</c>,
/// <c>negative</c>), whose level is the claim.
/// </summary>
public sealed record SizeCheck(IReadOnlyList<SizeComparison> Comparisons)
{
    /// <summary>The size tolerance: the simulated mean is within this factor of the published value either way.</summary>
    public const double Factor = 2;

    /// <summary>Percentage points under which a difference of changes is not told apart (published changes are mostly given to the whole percent).</summary>
    public const double NearZeroPoints = 1;

    /// <summary>The rule in one line, as printed under the size line and stored in the JSON.</summary>
    public const string Rule = "simulated mean 0.5–2× the published, or a change within 1 pt of it (a published change under 1 pt gives no ratio); " +
        "compared: each cell of a relative case, in an absolute case the change between the cells a predicate compares or a cell it judges alone; on means.";

    public int Within => Comparisons.Count(c => c.Outcome == SizeOutcome.Within);

    /// <summary>True when there is something to compare and every quantity is within size; null when nothing can be compared.</summary>
    public bool? AllWithin => Comparisons.Count == 0 ? null : Within == Comparisons.Count;

    public int Count(SizeOutcome o) => Comparisons.Count(c => c.Outcome == o);

    /// <summary>
    /// The quantity furthest from its published size: one of opposite sign first (the largest
    /// difference), then the largest ratio either way, then a simulated 0 against a published
    /// change (the largest published), then a published ≈ 0 one (the largest simulated value), then
    /// the within ones (the largest ratio); null when no quantity has a simulated value.
    /// </summary>
    public SizeComparison? Furthest => Comparisons
        .Where(c => c.Outcome != SizeOutcome.NoSimulatedValue)
        .Select(c => (c, Rank: Rank(c)))
        .OrderBy(x => x.Rank.Order)
        .ThenByDescending(x => x.Rank.Distance)
        .Select(x => x.c)
        .FirstOrDefault();

    private static (int Order, double Distance) Rank(SizeComparison c) => c.Outcome switch
    {
        SizeOutcome.OppositeSign => (0, Math.Abs(c.Simulated!.Value - c.Published)),
        SizeOutcome.Outside when c.Ratio > 0 => (1, Math.Abs(Math.Log(c.Ratio!.Value))),
        SizeOutcome.Outside => (2, Math.Abs(c.Published)),
        SizeOutcome.PublishedNearZero => (3, Math.Abs(c.Simulated!.Value)),
        _ => (4, c.Ratio > 0 ? Math.Abs(Math.Log(c.Ratio!.Value)) : 0),
    };

    /// <summary>
    /// The size rule on one quantity: <paramref name="percent"/> for a change or gain in % (the
    /// point floor applies), else a value in the case's unit (ratio only).
    /// </summary>
    public static (SizeOutcome Outcome, double? Ratio) Judge(double published, double? simulated, bool percent)
    {
        if (simulated is not double s || !double.IsFinite(s))
            return (SizeOutcome.NoSimulatedValue, null);
        bool nearZero = percent ? Math.Abs(published) < NearZeroPoints : published == 0;
        double? ratio = nearZero ? null : s / published;
        if (percent && Math.Abs(s - published) < NearZeroPoints)
            return (SizeOutcome.Within, ratio);
        if (nearZero)
            return (SizeOutcome.PublishedNearZero, null);
        if (ratio < 0)
            return (SizeOutcome.OppositeSign, ratio);
        return (ratio >= 1 / Factor && ratio <= Factor ? SizeOutcome.Within : SizeOutcome.Outside, ratio);
    }

    /// <summary>The size check of a case from its simulated cell means (<paramref name="simulated"/>: null where a cell has no value).</summary>
    public static SizeCheck Of(CatalogCase c, Func<CellRef, double?> simulated)
    {
        var list = new List<SizeComparison>();
        if (c.Published.Qualitative)
            return new SizeCheck(list);
        double? Pub(CellRef x) => c.Published.Value(x.Row, x.Column);
        if (c.Expression?.Relative is not null)
        {
            // Every published cell is a change in %, as is its simulated value.
            foreach (var row in c.Published.Rows)
            {
                foreach (var col in c.Published.Columns)
                {
                    var cell = new CellRef(row.Name, col);
                    if (Pub(cell) is not double p)
                        continue;
                    var (o, r) = Judge(p, simulated(cell), percent: true);
                    list.Add(new SizeComparison(cell.ToString(), SizeComparison.Change, p, Finite(simulated(cell)), r, o));
                }
            }
            return new SizeCheck(list);
        }
        var pairs = new List<(CellRef A, CellRef B)>();
        var levels = new List<CellRef>();
        void AddPair(CellRef a, CellRef b)
        {
            if (!pairs.Any(x => (x.A == a && x.B == b) || (x.A == b && x.B == a)))
                pairs.Add((a, b));
        }
        foreach (var pred in c.Shape)
        {
            foreach (var op in pred.Operands.Where(o => o.Kind != Operand.Cell && o.B is not null))
                AddPair(op.A, op.B!);
            var cells = pred.Operands.Where(o => o.Kind == Operand.Cell).Select(o => o.A).ToList();
            if (pred.Operands.Count == 2 && cells.Count == 2)
                AddPair(cells[0], cells[1]);
            else if (pred.Operands.Count == 1 && cells.Count == 1 && !levels.Contains(cells[0]))
                levels.Add(cells[0]);
        }
        foreach (var (a, b) in pairs)
        {
            if (Pub(a) is not double pa || Pub(b) is not double pb || pb == 0)
                continue;
            double p = 100 * ((pa / pb) - 1);
            double? s = simulated(a) is double sa && simulated(b) is double sb && sb != 0 ? 100 * ((sa / sb) - 1) : null;
            var (o, r) = Judge(p, s, percent: true);
            list.Add(new SizeComparison($"gain({a}; {b})", SizeComparison.Gain, p, Finite(s), r, o));
        }
        foreach (var cell in levels)
        {
            if (Pub(cell) is not double p)
                continue;
            var (o, r) = Judge(p, simulated(cell), percent: false);
            list.Add(new SizeComparison(cell.ToString(), SizeComparison.Level, p, Finite(simulated(cell)), r, o));
        }
        return new SizeCheck(list);
    }

    /// <summary>The size check of a case's result, from its cells' means.</summary>
    public static SizeCheck Of(CaseResult r) => Of(r.Case, x => r.Simulated(x)?.Mean);

    private static double? Finite(double? v) => v is double d && double.IsFinite(d) ? d : null;
}

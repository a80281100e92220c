using System.Globalization;

namespace PleSim.Experiments.Catalog;

/// <summary>A value with its 95% confidence interval; a published number has Low = High = Mean.</summary>
public readonly record struct Interval(double Mean, double Low, double High)
{
    public static Interval Exact(double v) => new(v, v, v);

    public bool IsFinite => double.IsFinite(Mean) && double.IsFinite(Low) && double.IsFinite(High);
}

/// <summary>A cell of a case's table: <c>row @ column</c>.</summary>
public sealed record CellRef(string Row, string Column)
{
    public override string ToString() => $"{Row} @ {Column}";
}

/// <summary>
/// A term of a shape predicate: a cell (<c>row @ column</c>), the relative gain of one cell over
/// another (<c>gain(A; B)</c> = (A − B) / B), or their ratio (<c>ratio(A; B)</c> = A / B).
/// </summary>
public sealed record Operand(string Kind, CellRef A, CellRef? B)
{
    public const string Cell = "cell";
    public const string Gain = "gain";
    public const string Ratio = "ratio";

    public IEnumerable<CellRef> Cells => B is null ? [A] : [A, B];

    public override string ToString() => Kind == Cell ? A.ToString() : $"{Kind}({A}; {B})";

    /// <summary>Parses an operand; returns null and a problem for malformed text.</summary>
    public static Operand? Parse(string text, out string? problem)
    {
        problem = null;
        var t = text.Trim();
        foreach (var kind in new[] { Gain, Ratio })
        {
            if (t.StartsWith(kind + "(", StringComparison.Ordinal) && t.EndsWith(')'))
            {
                var inner = t[(kind.Length + 1)..^1].Split(';');
                if (inner.Length != 2)
                {
                    problem = $"'{text}': {kind}(…) takes two cells separated by ';', e.g. {kind}(PLE @ 2x; no PLE @ 2x)";
                    return null;
                }
                var a = ParseCell(inner[0], out problem);
                var b = a is null ? null : ParseCell(inner[1], out problem);
                return a is null || b is null ? null : new Operand(kind, a, b);
            }
        }
        var c = ParseCell(t, out problem);
        return c is null ? null : new Operand(Cell, c, null);
    }

    private static CellRef? ParseCell(string text, out string? problem)
    {
        problem = null;
        int at = text.LastIndexOf(" @ ", StringComparison.Ordinal);
        if (at <= 0)
        {
            problem = $"'{text.Trim()}' is not a cell: write 'row @ column' (or gain(A; B), ratio(A; B))";
            return null;
        }
        return new CellRef(text[..at].Trim(), text[(at + 3)..].Trim());
    }

    /// <summary>The operand's value from a table of cells; null when a cell it needs has no value.</summary>
    public Interval? Evaluate(Func<CellRef, Interval?> cell)
    {
        if (cell(A) is not { } a || !a.IsFinite)
            return null;
        if (Kind == Cell)
            return a;
        if (B is null || cell(B) is not { } b || !b.IsFinite || b.Mean == 0)
            return null;
        // Interval arithmetic on the two CIs (conservative: ignores that same-seed cells are correlated).
        double lo = Math.Min(Math.Min(a.Low / b.Low, a.Low / b.High), Math.Min(a.High / b.Low, a.High / b.High));
        double hi = Math.Max(Math.Max(a.Low / b.Low, a.Low / b.High), Math.Max(a.High / b.Low, a.High / b.High));
        if (b.Low <= 0 && b.High >= 0)
            (lo, hi) = (double.NegativeInfinity, double.PositiveInfinity);
        double mean = a.Mean / b.Mean;
        return Kind == Ratio ? new Interval(mean, lo, hi) : new Interval(mean - 1, lo - 1, hi - 1);
    }
}

/// <summary>The outcome of one predicate on one table.</summary>
public enum Judgement
{
    Holds,
    Fails,

    /// <summary>The means point one way but the 95% intervals do not settle it.</summary>
    Inconclusive,

    /// <summary>A cell the predicate needs has no value (not published, or every run failed).</summary>
    NoValue,
}

/// <summary>
/// One machine-checkable statement about a case's table: <c>greater: [A, B]</c> (A &gt; B),
/// <c>positive: A</c>, <c>negative: A</c>, <c>between: [A, low, high]</c>, <c>near: [A, B, tol]</c>
/// (|A − B| ≤ tol·|B|). A published table is exact, so a statement simply holds or fails on it. On
/// simulated runs (<see cref="JudgePaired"/>) a statement holds or fails only when the 95% confidence
/// interval settles it — of the operand, or of the per-seed difference of two operands — otherwise
/// it is inconclusive.
/// </summary>
public sealed record ShapePredicate(string Kind, IReadOnlyList<Operand> Operands, double Low, double High, string Claim)
{
    public static readonly string[] Kinds = ["greater", "positive", "negative", "between", "near"];

    public IEnumerable<CellRef> Cells => Operands.SelectMany(o => o.Cells);

    public override string ToString() => Kind switch
    {
        "greater" => $"{Operands[0]} > {Operands[1]}",
        "positive" => $"{Operands[0]} > 0",
        "negative" => $"{Operands[0]} < 0",
        "between" => $"{Fmt(Low)} ≤ {Operands[0]} ≤ {Fmt(High)}",
        "near" => $"{Operands[0]} ≈ {Operands[1]} (within {Fmt(High * 100)}%)",
        _ => Kind,
    };

    private static string Fmt(double v) => v.ToString("0.####", CultureInfo.InvariantCulture);

    /// <summary>Judges the predicate on a table (<paramref name="cell"/> gives each cell's value).</summary>
    public (Judgement Judgement, Interval[] Values) Judge(Func<CellRef, Interval?> cell)
    {
        var values = new Interval[Operands.Count];
        for (int i = 0; i < Operands.Count; i++)
        {
            if (Operands[i].Evaluate(cell) is not { } v)
                return (Judgement.NoValue, []);
            values[i] = v;
        }
        var x = values[0];
        Judgement j = Kind switch
        {
            "greater" => Compare(x.Low > values[1].High, x.High <= values[1].Low),
            "positive" => Compare(x.Low > 0, x.High <= 0),
            "negative" => Compare(x.High < 0, x.Low >= 0),
            "between" => Compare(x.Low >= Low && x.High <= High, x.High < Low || x.Low > High),
            "near" => Near(x, values[1], High),
            _ => Judgement.NoValue,
        };
        return (j, values);
    }

    /// <summary>
    /// Judges the predicate on simulated runs paired by seed (run k of every cell has the same seed):
    /// each operand becomes a per-run series — a cell's values, gain(A; B) as (A_k − B_k) / mean(B),
    /// ratio(A; B) as A_k / mean(B) — and a comparison of two operands is judged on the 95% CI of
    /// their per-run difference (Student t), as the paired gains of <c>reproduce riel-2011</c> are.
    /// Returns each operand's interval and, for two operands, the interval of the difference.
    /// </summary>
    public (Judgement Judgement, Interval[] Values, Interval? Difference) JudgePaired(Func<CellRef, double[]?> runs)
    {
        var series = new double[Operands.Count][];
        for (int i = 0; i < Operands.Count; i++)
        {
            if (Series(Operands[i], runs) is not { } s)
                return (Judgement.NoValue, [], null);
            series[i] = s;
        }
        var values = series.Select(Summary).ToArray();
        if (values.Any(v => !double.IsFinite(v.Mean)))
            return (Judgement.NoValue, [], null);
        if (Operands.Count == 1)
        {
            var x = values[0];
            var one = Kind switch
            {
                "positive" => Compare(x.Low > 0, x.High <= 0),
                "negative" => Compare(x.High < 0, x.Low >= 0),
                "between" => Compare(x.Low >= Low && x.High <= High, x.High < Low || x.Low > High),
                _ => Judgement.NoValue,
            };
            return (one, values, null);
        }
        var diff = new List<double>();
        for (int k = 0; k < series[0].Length && k < series[1].Length; k++)
        {
            if (double.IsFinite(series[0][k]) && double.IsFinite(series[1][k]))
                diff.Add(series[0][k] - series[1][k]);
        }
        var d = Summary([.. diff]);
        if (!double.IsFinite(d.Mean))
            return (Judgement.NoValue, values, null);
        var j = Kind switch
        {
            "greater" => Compare(d.Low > 0, d.High <= 0),
            "near" => NearDifference(d, High * Math.Abs(values[1].Mean)),
            _ => Judgement.NoValue,
        };
        return (j, values, d);
    }

    private static Judgement NearDifference(Interval d, double bound) =>
        d.Low >= -bound && d.High <= bound ? Judgement.Holds
        : d.Low > bound || d.High < -bound ? Judgement.Fails
        : Judgement.Inconclusive;

    private static double[]? Series(Operand op, Func<CellRef, double[]?> runs)
    {
        if (runs(op.A) is not { } a)
            return null;
        if (op.Kind == Operand.Cell)
            return a;
        if (op.B is null || runs(op.B) is not { } b)
            return null;
        double meanB = b.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();
        if (!double.IsFinite(meanB) || meanB == 0)
            return null;
        var s = new double[Math.Min(a.Length, b.Length)];
        for (int k = 0; k < s.Length; k++)
            s[k] = op.Kind == Operand.Gain ? (a[k] - b[k]) / meanB : a[k] / meanB;
        return s;
    }

    /// <summary>Mean and 95% CI (Student t) of the finite values; a single value has a zero-width interval.</summary>
    private static Interval Summary(double[] values)
    {
        var v = values.Where(double.IsFinite).ToList();
        var m = Running.MetricSummary.Of("", v);
        return v.Count == 1 ? Interval.Exact(m.Mean) : new Interval(m.Mean, m.Ci95Low, m.Ci95High);
    }

    private static Judgement Compare(bool settledTrue, bool settledFalse) =>
        settledTrue ? Judgement.Holds
        : settledFalse ? Judgement.Fails
        : Judgement.Inconclusive;

    private static Judgement Near(Interval a, Interval b, double tol)
    {
        double bound = tol * Math.Abs(b.Mean);
        double dLow = a.Low - b.High, dHigh = a.High - b.Low;
        if (dLow >= -bound && dHigh <= bound)
            return Judgement.Holds;
        if (dLow > bound || dHigh < -bound)
            return Judgement.Fails;
        return Judgement.Inconclusive;
    }
}

/// <summary>The verdict on a case: does the simulated table have the stated shape?</summary>
public static class Verdicts
{
    public const string Matches = "matches";
    public const string DoesNotMatch = "does not match";
    public const string Inconclusive = "inconclusive";
    public const string CannotExpress = "cannot express yet";
    public const string Failed = "runs failed";

    /// <summary>Any predicate fails → does not match; else any inconclusive or without value → inconclusive; else matches.</summary>
    public static string Of(IEnumerable<Judgement> judgements)
    {
        var list = judgements.ToList();
        if (list.Contains(Judgement.Fails))
            return DoesNotMatch;
        if (list.Contains(Judgement.Inconclusive) || list.Contains(Judgement.NoValue))
            return Inconclusive;
        return Matches;
    }
}

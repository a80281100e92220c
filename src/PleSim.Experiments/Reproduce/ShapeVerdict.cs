using System.Globalization;

namespace PleSim.Experiments.Reproduce;

/// <summary>One cell's simulated mean next to the published value (null when the publication has none).</summary>
public sealed record ShapeInput(int Payload, string Handler, int Loops, double Simulated, double? Published);

/// <summary>One property of the published table's shape, as simulated and as published, and whether the two agree.</summary>
public sealed record ShapeCheck(string Property, string Simulated, string Published, bool Agrees);

/// <summary>
/// The reproduction's shape verdict: for each payload, the sign of the PLE row's gain over the no-PLE
/// row at each overcommitted load, whether that gain grows from the lower to the higher load, and how
/// many published cells the simulation is within <see cref="Tolerance"/> of. It is a report on
/// results, not a test of the model: the model is never changed to make it agree.
/// </summary>
public sealed record ShapeVerdict(IReadOnlyList<ShapeCheck> Checks, int CellsWithin, int CellsCompared, double Tolerance)
{
    public const double DefaultTolerance = 0.10;

    public int Agreeing => Checks.Count(c => c.Agrees);

    /// <param name="cells">Simulated and published values per cell.</param>
    /// <param name="baseline">The row gains are measured against ("none": no PLE).</param>
    /// <param name="handler">The row whose gain is checked (the PLE row).</param>
    public static ShapeVerdict Of(IReadOnlyList<ShapeInput> cells, string baseline = "none", string handler = "directed-yield-2011", double tolerance = DefaultTolerance)
    {
        var checks = new List<ShapeCheck>();
        foreach (var payload in cells.Select(c => c.Payload).Distinct().Order())
        {
            var loads = cells.Where(c => c.Payload == payload && c.Loops > 0 && c.Handler == handler).Select(c => c.Loops).Distinct().Order().ToList();
            var gains = new List<(int Loops, double Sim, double? Pub)>();
            foreach (var l in loads)
            {
                var ple = cells.FirstOrDefault(c => c.Payload == payload && c.Handler == handler && c.Loops == l);
                var none = cells.FirstOrDefault(c => c.Payload == payload && c.Handler == baseline && c.Loops == l);
                if (ple is null || none is null)
                    continue;
                double sim = (ple.Simulated / none.Simulated) - 1;
                double? pub = ple.Published is double a && none.Published is double b ? (a / b) - 1 : null;
                gains.Add((l, sim, pub));
                checks.Add(new ShapeCheck($"{payload} B, {Load(l)}: sign of the PLE gain", Signed(sim), pub is double p ? Signed(p) : "–",
                    pub is double q && Math.Sign(sim) == Math.Sign(q)));
            }
            for (int i = 1; i < gains.Count; i++)
            {
                var (lo, hi) = (gains[i - 1], gains[i]);
                bool simGrows = hi.Sim > lo.Sim;
                bool? pubGrows = lo.Pub is double a && hi.Pub is double b ? b > a : null;
                checks.Add(new ShapeCheck($"{payload} B: the PLE gain grows from {Load(lo.Loops)} to {Load(hi.Loops)}",
                    $"{Signed(lo.Sim)} → {Signed(hi.Sim)} ({(simGrows ? "grows" : "does not grow")})",
                    pubGrows is bool g ? $"{Signed(lo.Pub!.Value)} → {Signed(hi.Pub!.Value)} ({(g ? "grows" : "does not grow")})" : "–",
                    pubGrows == simGrows));
            }
        }
        var compared = cells.Where(c => c.Published is double p && p != 0 && double.IsFinite(c.Simulated)).ToList();
        int within = compared.Count(c => Math.Abs((c.Simulated - c.Published!.Value) / c.Published.Value) <= tolerance);
        return new ShapeVerdict(checks, within, compared.Count, tolerance);
    }

    private static string Load(int loops) => new CellSpec(0, "", loops).Overcommit;

    private static string Signed(double v) => (v >= 0 ? "+" : "") + (v * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";
}

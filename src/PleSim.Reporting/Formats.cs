using System.Globalization;

namespace PleSim.Reporting;

/// <summary>Number formatting for people: invariant culture, sensible precision.</summary>
public static class Formats
{
    /// <summary>What a table shows instead of a zero-width confidence interval when every run gave the same value.</summary>
    public const string AllRunsEqual = "(all runs equal)";

    public static string Number(double v)
    {
        if (double.IsNaN(v))
            return "–";
        if (double.IsInfinity(v))
            return v > 0 ? "∞" : "-∞";
        double a = Math.Abs(v);
        if (a == 0)
            return "0";
        if (a >= 1000)
            return v.ToString("N0", CultureInfo.InvariantCulture);
        if (a >= 100)
            return v.ToString("N1", CultureInfo.InvariantCulture);
        if (a >= 1)
            return v.ToString("0.###", CultureInfo.InvariantCulture);
        if (a >= 0.001)
            return v.ToString("0.####", CultureInfo.InvariantCulture);
        // Small values keep three significant digits instead of rounding to a misleading "0" or "-0".
        return v.ToString("0.##E+0", CultureInfo.InvariantCulture);
    }

    public static string Percent(double fraction) =>
        double.IsNaN(fraction) ? "–" : (fraction * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    public static string SignedPercent(double fraction) =>
        double.IsNaN(fraction) ? "–" : (fraction >= 0 ? "+" : "") + (fraction * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    public static string Value(object? v) => v switch
    {
        null => "",
        double d => Number(d),
        long l => l.ToString("N0", CultureInfo.InvariantCulture),
        int i => i.ToString("N0", CultureInfo.InvariantCulture),
        bool b => b ? "yes" : "no",
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };
}

using System.Globalization;

namespace PleSim.Reporting;

/// <summary>Number formatting for people: invariant culture, sensible precision.</summary>
public static class Formats
{
    /// <summary>What a table shows instead of a zero-width confidence interval when every run gave the same value.</summary>
    public const string AllRunsEqual = "(all runs equal)";

    /// <summary>
    /// <see cref="AllRunsEqual"/> for <paramref name="metric"/>: for a metric counted in whole batches
    /// (<see cref="PleSim.Experiments.Running.MetricDefinitions.Definition.Quantum"/>) it adds the
    /// step the metric moves in, when <paramref name="resolution"/> is known, or that the equality is
    /// a quantisation: runs that differ by less than a step print the same value.
    /// </summary>
    public static string AllRunsEqualFor(string metric, double? resolution = null)
    {
        var d = PleSim.Experiments.Running.MetricDefinitions.Of(metric);
        if (d?.Quantum is null)
            return AllRunsEqual;
        return resolution is double r && double.IsFinite(r)
            ? $"(all runs equal; resolution {Number(r)} {d.Unit} at this window)"
            : "(all runs equal; counted in whole batches: a quantisation, see plesim metrics)";
    }

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
        // At most two decimals from 1 to 100: a third ("16.915") reads as a thousands group next
        // to the comma-grouped numbers of the same table ("[-25,109, 16.915]").
        if (a >= 1)
            return v.ToString("0.##", CultureInfo.InvariantCulture);
        if (a >= 0.001)
            return v.ToString("0.####", CultureInfo.InvariantCulture);
        // Small values keep three significant digits instead of rounding to a misleading "0" or "-0",
        // as plain decimals ("0.000726", not "7.26E-4") down to a millionth.
        if (a >= 1e-6)
        {
            int decimals = 2 - (int)Math.Floor(Math.Log10(a));
            return v.ToString("0." + new string('#', decimals), CultureInfo.InvariantCulture);
        }
        return v.ToString("0.##E+0", CultureInfo.InvariantCulture);
    }

    /// <summary>A fraction in percent with one decimal and thousands separators ("81,329.5%").</summary>
    public static string Percent(double fraction) =>
        double.IsNaN(fraction) ? "–" : (fraction * 100).ToString("#,##0.0", CultureInfo.InvariantCulture) + "%";

    public static string SignedPercent(double fraction) =>
        double.IsNaN(fraction) ? "–" : (fraction >= 0 ? "+" : "") + (fraction * 100).ToString("#,##0.0", CultureInfo.InvariantCulture) + "%";

    /// <summary>A 95% interval, "[low, high]".</summary>
    public static string Interval(double low, double high) => $"[{Number(low)}, {Number(high)}]";

    /// <summary>"mean ± half-width", or "mean (all runs equal)" when the half-width is 0 (every table words a zero spread the same way).</summary>
    public static string PlusMinus(double mean, double halfWidth, string? equalNote = null) =>
        halfWidth == 0 ? $"{Number(mean)} {equalNote ?? AllRunsEqual}" : $"{Number(mean)} ± {Number(halfWidth)}";

    /// <summary>A signed percentage with its half-width, or "(all runs equal)" for a zero spread.</summary>
    public static string SignedPercentPlusMinus(double gain, double halfWidth) =>
        halfWidth == 0 ? $"{SignedPercent(gain)} {AllRunsEqual}" : $"{SignedPercent(gain)} ± {Percent(halfWidth)}";

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

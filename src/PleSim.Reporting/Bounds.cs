using PleSim.Experiments.Running;

namespace PleSim.Reporting;

/// <summary>
/// The physical range of a metric (from its unit in <see cref="MetricDefinitions"/>) and the mark every
/// table puts on a 95% interval that crosses it. A Student-t interval on a few runs is symmetric and
/// knows nothing of the range: a share can come out above 1, a rate below 0. Tables mark such an
/// interval rather than clip it, and print <see cref="Note"/> under themselves.
/// </summary>
public static class Bounds
{
    /// <summary>The mark after an interval that crosses its quantity's range.</summary>
    public const string Mark = "†";

    /// <summary>The legend of <see cref="Mark"/>.</summary>
    public const string Note =
        "† the 95% interval crosses a bound the quantity cannot cross (it cannot be negative; a share cannot exceed 100%, a gain cannot be below −100%, " +
        "CPUs used cannot exceed the host's CPUs): Student's t with few runs is wide (t = 12.71 for 2 runs, 2.78 for 5) and ignores the bound; " +
        "read the bound as the limit, or narrow the interval with more runs (--runs N)";

    /// <summary>A closed range of possible values.</summary>
    public readonly record struct Range(double Min, double Max)
    {
        public static readonly Range Any = new(double.NegativeInfinity, double.PositiveInfinity);

        public static readonly Range NonNegative = new(0, double.PositiveInfinity);

        /// <summary>A relative gain (a fraction: −1 is −100%) of a quantity that cannot be negative.</summary>
        public static readonly Range Gain = new(-1, double.PositiveInfinity);

        /// <summary>A change in percent of a quantity that cannot be negative.</summary>
        public static readonly Range GainPercent = new(-100, double.PositiveInfinity);

        /// <summary>Whether [<paramref name="low"/>, <paramref name="high"/>] reaches outside the range (NaN bounds never do).</summary>
        public bool CrossedBy(double low, double high) => low < Min || high > Max;
    }

    /// <summary>
    /// The range of <paramref name="metric"/> from its unit: shares and fractions [0, 1] ("fraction of
    /// one CPU" only ≥ 0: a cgroup can use several), percentages [0, 100], CPUs [0, host CPUs] when
    /// <paramref name="hostCpus"/> is known, every other defined unit (counts, rates, times) ≥ 0.
    /// A metric without a definition has no known range (<see cref="Range.Any"/>).
    /// </summary>
    public static Range Of(string metric, int? hostCpus = null)
    {
        if (MetricDefinitions.Of(metric) is not { } d)
            return Range.Any;
        string u = d.Unit;
        if (u == "fraction of one CPU")
            return Range.NonNegative;
        if (u.StartsWith("fraction", StringComparison.Ordinal) || u.StartsWith("share", StringComparison.Ordinal))
            return new Range(0, 1);
        if (u == "%")
            return new Range(0, 100);
        if (u == "CPUs" && hostCpus is int n)
            return new Range(0, n);
        return Range.NonNegative;
    }

    /// <summary>The range of <paramref name="metric"/>; without a definition, ≥ 0 when <paramref name="noneNegative"/> (every observed value was ≥ 0).</summary>
    public static Range Of(string metric, int? hostCpus, bool noneNegative)
    {
        var r = Of(metric, hostCpus);
        return double.IsNegativeInfinity(r.Min) && noneNegative ? Range.NonNegative : r;
    }

    /// <summary>Whether <paramref name="text"/> was marked by <see cref="Marked"/> (a table then prints <see cref="Note"/>).</summary>
    public static bool IsMarked(string text) => text.EndsWith(Mark, StringComparison.Ordinal);

    /// <summary><paramref name="text"/> followed by <see cref="Mark"/> when the interval crosses <paramref name="range"/>.</summary>
    public static string Marked(string text, Range range, double low, double high) =>
        range.CrossedBy(low, high) ? text + " " + Mark : text;
}

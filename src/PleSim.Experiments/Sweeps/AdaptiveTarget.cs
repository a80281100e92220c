using System.Globalization;
using PleSim.Experiments.Running;

namespace PleSim.Experiments.Sweeps;

/// <summary>
/// Adaptive repetitions: keep adding runs to a point until the 95% CI half-width of
/// <see cref="Metric"/> is at most <see cref="HalfWidth"/> (absolute, or percent of the mean when
/// <see cref="Relative"/>) or the point has <see cref="MaxRuns"/> runs.
/// </summary>
public sealed record AdaptiveTarget(string Metric, double HalfWidth, bool Relative, int MaxRuns)
{
    /// <summary>Reads <c>metric=2%</c> (relative) or <c>metric=1500</c> (absolute).</summary>
    public static AdaptiveTarget Parse(string text, int maxRuns)
    {
        int eq = text.LastIndexOf('=');
        if (eq <= 0)
            throw new FormatException($"--target-ci takes metric=half-width (e.g. amqp.subscribe_rate=2% or amqp.subscribe_rate=1500), got '{text}'");
        var value = text[(eq + 1)..].Trim();
        bool relative = value.EndsWith('%');
        if (!double.TryParse(relative ? value[..^1] : value, NumberStyles.Float, CultureInfo.InvariantCulture, out double hw) || !(hw > 0))
            throw new FormatException($"--target-ci: '{value}' is not a positive half-width (e.g. 2% or 1500)");
        if (maxRuns < 2)
            throw new FormatException($"--max-runs must be at least 2, got {maxRuns}");
        return new AdaptiveTarget(text[..eq].Trim(), hw, relative, maxRuns);
    }

    /// <summary>The half-width this summary must reach.</summary>
    public double Goal(MetricSummary s) => Relative ? HalfWidth / 100 * Math.Abs(s.Mean) : HalfWidth;

    /// <summary>True when a point with this summary needs no more runs.</summary>
    public bool IsMet(MetricSummary s) => s.N >= 2 && s.Ci95HalfWidth <= Goal(s);

    /// <summary>
    /// How many runs the point should have next: the count the CI width predicts (it shrinks as
    /// 1/√n), at most double the current count and at most <see cref="MaxRuns"/>.
    /// </summary>
    public int NextCount(MetricSummary s, int current)
    {
        double goal = Goal(s);
        double predicted = goal > 0 && double.IsFinite(s.Ci95HalfWidth)
            ? Math.Ceiling(current * Math.Pow(s.Ci95HalfWidth / goal, 2))
            : 2.0 * current;
        int next = (int)Math.Min(Math.Min(predicted, 2.0 * current), MaxRuns);
        return Math.Max(next, Math.Min(current + 1, MaxRuns));
    }

    public override string ToString() =>
        $"{Metric}={HalfWidth.ToString("R", CultureInfo.InvariantCulture)}{(Relative ? "%" : "")} max {MaxRuns}";
}

using MathNet.Numerics.Distributions;

namespace PleSim.Experiments.Running;

/// <summary>Mean, spread and 95% confidence interval (Student t) of one metric over runs.</summary>
public sealed record MetricSummary(string Metric, int N, double Mean, double Stdev, double Ci95Low, double Ci95High, double Median, double P5, double P95)
{
    public double Ci95HalfWidth => (Ci95High - Ci95Low) / 2;

    /// <summary>
    /// True when every one of two or more runs gave the same value (the spread is exactly zero: Welford's
    /// sum of squares stays 0 only for identical values). Tables then say so instead of a zero-width CI.
    /// </summary>
    public bool AllRunsEqual => N > 1 && Stdev == 0;

    /// <summary>Summary of <paramref name="values"/> (NaN fields where they are undefined, e.g. a CI of one value).</summary>
    public static MetricSummary Of(string metric, IReadOnlyList<double> values)
    {
        int n = values.Count;
        if (n == 0)
            return new MetricSummary(metric, 0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN);
        // Welford's algorithm: numerically stable in one pass.
        double mean = 0, m2 = 0;
        for (int i = 0; i < n; i++)
        {
            double d = values[i] - mean;
            mean += d / (i + 1);
            m2 += d * (values[i] - mean);
        }
        double stdev = n > 1 ? Math.Sqrt(m2 / (n - 1)) : double.NaN;
        double half = n > 1 ? StudentT.InvCDF(0, 1, n - 1, 0.975) * stdev / Math.Sqrt(n) : double.NaN;
        var sorted = values.OrderBy(v => v).ToArray();
        return new MetricSummary(metric, n, mean, stdev, mean - half, mean + half,
            Quantile(sorted, 0.5), Quantile(sorted, 0.05), Quantile(sorted, 0.95));
    }

    /// <summary>Linear interpolation between order statistics (the "type 7" definition used by R and NumPy).</summary>
    public static double Quantile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
            return double.NaN;
        double h = (sorted.Length - 1) * p;
        int lo = (int)Math.Floor(h);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }

    /// <summary>Summaries of every metric over the successful runs, in first-seen order.</summary>
    public static List<MetricSummary> OfRuns(IEnumerable<RunResult> runs)
    {
        var order = new List<string>();
        var values = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        foreach (var r in runs.Where(r => r.Error is null))
        {
            foreach (var (k, v) in r.Metrics)
            {
                if (!values.TryGetValue(k, out var list))
                {
                    values[k] = list = [];
                    order.Add(k);
                }
                list.Add(v);
            }
        }
        return order.Select(k => Of(k, values[k])).ToList();
    }

    /// <summary>
    /// The gain of <paramref name="runs"/> over <paramref name="baseline"/> on <paramref name="metric"/>,
    /// paired by run (run k of both used the same seed): the mean per-run difference over the
    /// baseline's mean, with the 95% CI (Student t) of the per-run differences over the same mean.
    /// Pairs where either run failed or lacks the metric are left out. The paired gains of
    /// <c>reproduce riel-2011</c> and <c>plesim compare</c> both come from here.
    /// </summary>
    public static (double Gain, double Low, double High, int Pairs) PairedGain(IReadOnlyList<RunResult> runs, IReadOnlyList<RunResult> baseline, string metric, double baselineMean)
    {
        var diffs = new List<double>();
        for (int k = 0; k < runs.Count && k < baseline.Count; k++)
        {
            var a = runs[k];
            var b = baseline[k];
            if (a.Seed != b.Seed)
                throw new ArgumentException($"run {k} is not paired: seed {a.Seed} against {b.Seed}");
            if (a.Error is null && b.Error is null && a.Metric(metric) is double x && b.Metric(metric) is double y)
                diffs.Add(x - y);
        }
        var d = Of("diff", diffs);
        return (d.Mean / baselineMean, d.Ci95Low / baselineMean, d.Ci95High / baselineMean, diffs.Count);
    }
}

using PleSim.Experiments.Running;

namespace PleSim.Experiments.Tests;

public class SummaryTests
{
    [Fact]
    public void Summary_statistics_match_hand_computed_values()
    {
        // values 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample variance 32/7, t(0.975, 7) = 2.364624252
        var s = MetricSummary.Of("x", [2, 4, 4, 4, 5, 5, 7, 9]);
        double sd = Math.Sqrt(32.0 / 7);
        double half = 2.364624252 * sd / Math.Sqrt(8);
        Assert.Equal(8, s.N);
        Assert.Equal(5.0, s.Mean, 12);
        Assert.Equal(sd, s.Stdev, 12);
        Assert.Equal(5 - half, s.Ci95Low, 8);
        Assert.Equal(5 + half, s.Ci95High, 8);
        Assert.Equal(4.5, s.Median, 12);
        Assert.Equal(2.7, s.P5, 12);   // type-7 quantile: 2 + 0.35*(4-2)
        Assert.Equal(8.3, s.P95, 12);  // 7 + 0.65*(9-7)
    }

    [Fact]
    public void One_value_has_no_spread_or_interval()
    {
        var s = MetricSummary.Of("x", [3]);
        Assert.Equal(3, s.Mean);
        Assert.True(double.IsNaN(s.Stdev));
        Assert.True(double.IsNaN(s.Ci95Low));
    }

    [Fact]
    public void Failed_runs_are_left_out_of_summaries()
    {
        var ok = new RunResult { Seed = 1 }.AddMetric("m", 10);
        var failed = new RunResult { Seed = 2, Error = "boom" }.AddMetric("m", 1000);
        var s = Assert.Single(MetricSummary.OfRuns([ok, failed]));
        Assert.Equal((1, 10.0), (s.N, s.Mean));
    }
}

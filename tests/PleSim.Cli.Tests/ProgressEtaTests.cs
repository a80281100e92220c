namespace PleSim.Cli.Tests;

public class ProgressEtaTests
{
    [Fact]
    public void A_total_that_grows_after_it_was_reached_is_reported_again()
    {
        // An adaptive sweep: the first round's 4 runs are done, then 6 more are added.
        var err = new StringWriter();
        var ctx = new CliContext(new StringWriter(), err);
        Progress.Run(ctx, "sweep x", report =>
        {
            for (int i = 0; i <= 4; i++)
                report(i, 4);
            for (int i = 4; i <= 10; i++)
                report(i, 10);
            return 0;
        });
        var lines = err.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("sweep x: 4/4 runs", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("sweep x: 10/10 runs", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("sweep x: 10/10 runs", StringComparison.Ordinal));
    }

    [Fact]
    public void NoEstimateBeforeARateIsSeen()
    {
        var eta = new EtaEstimate();
        Assert.Null(eta.SecondsLeft(100));
        eta.Observe(1_000, 5);
        Assert.Null(eta.SecondsLeft(100)); // one report: no rate yet
        eta.Observe(1_500, 5);
        Assert.Null(eta.SecondsLeft(100)); // no progress since the first report
    }

    [Fact]
    public void StartUpBeforeTheFirstReportIsLeftOut()
    {
        // A run of 10,000 simulated ms whose first report (50 ms) comes after 1 s of start-up,
        // then runs at 50 simulated ms per 10 ms of wall time: 9,800 ms left take about 2 s, not the
        // 3 min 14 s that dividing the whole elapsed time by the progress gave.
        var eta = new EtaEstimate();
        eta.Observe(1_000, 50);
        eta.Observe(1_010, 100);
        eta.Observe(1_030, 200);
        Assert.Equal(1.96, eta.SecondsLeft(10_000)!.Value, 6);
    }

    [Fact]
    public void DoneMeansNothingLeft()
    {
        var eta = new EtaEstimate();
        eta.Observe(0, 0);
        eta.Observe(2_000, 720);
        Assert.Null(eta.SecondsLeft(720));
    }
}

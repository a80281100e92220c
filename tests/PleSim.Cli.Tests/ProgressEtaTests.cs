namespace PleSim.Cli.Tests;

public class ProgressEtaTests
{
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

using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// <c>rq->avg_idle</c>'s update at a wake-up (decisions 0064 and 0086), hand-worked from 2.6.32
/// kernel/sched.c <c>try_to_wake_up</c> and 4.16 kernel/sched/core.c <c>ttwu_do_wakeup</c>:
/// update_avg moves the average an eighth of the way (an arithmetic shift of the difference).
/// </summary>
public class AvgIdleTests
{
    [Theory]
    // 1,000,000 + (200,000 − 1,000,000) >> 3 = 1,000,000 − 100,000.
    [InlineData(1_000_000, 200_000, false, 900_000)]
    [InlineData(1_000_000, 200_000, true, 900_000)]
    // A period longer than the bound (1,000,000): 2.6.32 sets the bound outright; 4.16 averages
    // 400,000 + (5,000,000 − 400,000) >> 3 = 975,000, under the bound.
    [InlineData(400_000, 5_000_000, false, 1_000_000)]
    [InlineData(400_000, 5_000_000, true, 975_000)]
    // 4.16 with an average already at the bound: 1,000,000 + 4,000,000 >> 3 is capped to 1,000,000.
    [InlineData(1_000_000, 5_000_000, true, 1_000_000)]
    // The shift rounds a negative difference towards minus infinity: (0 − 9) >> 3 = −2.
    [InlineData(9, 0, false, 7)]
    public void A_wake_up_averages_the_idle_period_in_as_the_version_does(long avg, long delta, bool capAfterAverage, long expected)
    {
        AvgIdle.OnWakeup(ref avg, delta, max: 1_000_000, capAfterAverage);
        Assert.Equal(expected, avg);
    }
}

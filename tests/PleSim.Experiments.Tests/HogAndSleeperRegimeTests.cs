using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>
/// scenarios/live/hog-and-sleeper.yaml under eevdf-6.18 has two steady cycles, as the live kernel
/// does (docs/anomalies/live-hog-and-sleeper-bistable.md), and the sleeper's start phase against the
/// 4 ms tick picks one. Locked: every fourth wake-up finds the sleeper with no lag just after a tick
/// renewed the hog's deadline, so it waits for the next tick. Fast: the sleeper goes to sleep behind
/// (DELAY_DEQUEUE keeps it queued), no pick finishes its dequeue before its timer, and
/// <c>requeue_delayed_entity</c> keeps it where it is, so it runs at once. Mechanism only: the
/// shares follow from 1 ms of every 5 or 6 ms.
/// </summary>
public class HogAndSleeperRegimeTests
{
    private static RunResult Run(string startAt) =>
        Runner.RunOne(HostScenarioTests.Shipped("live", "hog-and-sleeper.yaml", "duration=2s", $"host.tasks[1].start_at={startAt}"), 1, new RunOptions());

    [Theory]
    [InlineData("0ms", false)]
    [InlineData("1500us", true)]
    [InlineData("2500us", true)]
    public void The_start_phase_picks_the_locked_or_the_fast_cycle(string startAt, bool fast)
    {
        var r = Run(startAt);
        Assert.True(r.Error is null, r.Error);
        double p99 = r.Metric("wakeup_latency_p99_us")!.Value;
        double share = r.Metric("cpu_share.sleeper")!.Value;
        if (fast)
        {
            // every wake-up runs at once: 1 ms in every 5 ms
            Assert.True(p99 < 100, $"p99 {p99} us");
            Assert.InRange(share, 0.195, 0.205);
        }
        else
        {
            // one wake-up in four waits for the next tick: 4 ms in every 24 ms
            Assert.True(p99 > 3000, $"p99 {p99} us");
            Assert.InRange(share, 0.160, 0.172);
        }
    }
}

using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Host;

namespace PleSim.Experiments.Tests;

/// <summary>
/// The EEVDF base slice by kernel version (decision 0088): 0.75 ms normalized up to 6.14, 0.70 ms
/// for the 6.17 and 6.18 classes (Linux 6.15 commit 2ae891b82695), scaled by 1 + ilog2(CPUs) as
/// <c>update_sysctl</c> does, and a file's <c>host.sched.min_granularity_ns</c> wins over either.
/// </summary>
public class BaseSliceScenarioTests
{
    private static Scenario Live(params string[] overrides) =>
        HostScenarioTests.Shipped("live", "hog-and-sleeper.yaml", overrides);

    [Theory]
    [InlineData("cfs-2.6.39", 750_000)]
    [InlineData("cfs-4.19", 750_000)]
    [InlineData("eevdf-6.6", 750_000)]
    [InlineData("eevdf-6.14", 750_000)]
    [InlineData("eevdf-6.17", 700_000)]
    [InlineData("eevdf-6.18", 700_000)]
    public void The_default_follows_the_kernel_version(string scheduler, long normalizedNs)
    {
        var s = Live($"host.scheduler={scheduler}");
        Assert.Equal(normalizedNs, s.Host.Sched.MinGranularityNs.Ns);
        // Two CPUs: factor 1 + ilog2(2) = 2.
        Assert.Equal(2 * normalizedNs, EffectiveTunables.For(s.Host.Sched, s.Host.Cpus).MinGranularityNs);
    }

    [Fact]
    public void A_file_that_sets_the_slice_keeps_it_on_every_version()
    {
        foreach (var scheduler in new[] { "eevdf-6.14", "eevdf-6.18" })
            Assert.Equal(750_000, Live($"host.scheduler={scheduler}", "host.sched.min_granularity_ns=750us").Host.Sched.MinGranularityNs.Ns);
    }

    /// <summary>
    /// Two ping-pong tasks beside a hog on one CPU wake each other hundreds of times a second, so the
    /// deadlines placed at each wake-up (vruntime + slice) decide who runs (hog-and-sleeper, whose
    /// sleeper waits for a 4 ms tick either way, runs the same with both slices).
    /// </summary>
    [Fact]
    public void The_shorter_slice_reaches_the_run()
    {
        static Scenario PingPong(params string[] o) => HostScenarioTests.Shipped("live", "pingpong-hog.yaml", ["duration=300ms", "warmup=0ms", .. o]);
        var run = Runner.RunOne(PingPong(), 1, new RunOptions());
        var wide = Runner.RunOne(PingPong("host.sched.min_granularity_ns=750us"), 1, new RunOptions());
        Assert.True(run.Error is null, run.Error);
        Assert.True(wide.Error is null, wide.Error);
        Assert.NotEqual(wide.EventDigest, run.EventDigest);
    }
}

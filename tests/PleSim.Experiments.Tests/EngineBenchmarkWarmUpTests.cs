using PleSim.Experiments.Benchmarks;

namespace PleSim.Experiments.Tests;

/// <summary><c>plesim bench engine</c> warms the JIT up before its first measured row (quick mode too), so that row is not measured on cold code.</summary>
public class EngineBenchmarkWarmUpTests
{
    private sealed class Stop : Exception;

    [Fact]
    public void The_warm_up_pass_runs_before_the_first_measured_row_even_in_quick_mode()
    {
        var log = new List<string>();
        // Quick mode's sizes; stop at the first measured row (the structure, not the timing, is tested).
        Assert.Throws<Stop>(() => EngineBenchmark.Run(eventsPerTrial: 200_000, trials: 1, log: m =>
        {
            log.Add(m);
            if (m.StartsWith("measuring", StringComparison.Ordinal))
                throw new Stop();
        }));
        Assert.Equal(2, log.Count);
        Assert.StartsWith("warming up", log[0], StringComparison.Ordinal);
        Assert.StartsWith("measuring hold N=1,000", log[1], StringComparison.Ordinal);
    }

    [Fact]
    public void The_warm_up_calls_each_trial_method_past_the_tiered_compilation_threshold()
    {
        var delays = PleSim.Engine.HoldModel.DrawDelays(seed: 1, 1 << 10, PleSim.Engine.SimDuration.FromMilliseconds(1));
        // Three trial methods per call round; tiered compilation promotes a method after 30 calls.
        Assert.True(EngineBenchmark.WarmUp(delays, eventsPerCall: 100) / 3 >= 30);
    }
}

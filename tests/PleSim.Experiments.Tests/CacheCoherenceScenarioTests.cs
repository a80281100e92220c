using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Guest;

namespace PleSim.Experiments.Tests;

/// <summary>guest.cache_coherence (decision 0059) in scenarios: the keys, the metrics, allocation-freedom.</summary>
public class CacheCoherenceScenarioTests
{
    private static Scenario Bench(params string[] overrides) =>
        HostScenarioTests.Shipped("kvm", "lock-bench.yaml", overrides);

    [Fact]
    public void The_keys_default_to_no_model_and_are_read()
    {
        var d = Bench().Vms[0].Guest;
        Assert.Equal(CacheCoherence.None, d.CacheCoherence);
        var g = Bench("vms[0].guest.cache_coherence=directory", "vms[0].guest.cache_line_local=45ns", "vms[0].guest.cache_line_remote=0.2us").Vms[0].Guest;
        Assert.Equal(CacheCoherence.Directory, g.CacheCoherence);
        Assert.Equal(45, g.CacheLineLocal.Ns);
        Assert.Equal(200, g.CacheLineRemote.Ns);
    }

    [Fact]
    public void A_bad_cache_coherence_value_is_a_located_error()
    {
        var e = Assert.Throws<ScenarioException>(() => Bench("vms[0].guest.cache_coherence=mesi"));
        Assert.Contains("cache_coherence", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e2 = Assert.Throws<ScenarioException>(() => Bench("vms[0].guest.cache_line_remote=1s"));
        Assert.Contains("cache_line_remote", e2.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void The_line_metrics_appear_only_with_the_model_on()
    {
        var off = Runner.RunOne(Bench("duration=20ms", "warmup=5ms"), 1, new RunOptions());
        Assert.DoesNotContain(off.Metrics, m => m.Key.EndsWith("lock_handoff_mean_ns", StringComparison.Ordinal));
        var on = Runner.RunOne(Bench("duration=20ms", "warmup=5ms", "vms[0].guest.cache_coherence=directory"), 1, new RunOptions { CheckInvariantsEvery = 1 });
        Assert.True(on.Error is null, on.Error);
        Assert.True(on.Metric("bench.lock_handoff_mean_ns") > 0);
        Assert.True(on.Metric("bench.lock_line_readers_at_release") > 0);
    }

    [Theory]
    [InlineData("ticket")]
    [InlineData("pv-ticket")]
    [InlineData("pv-qspinlock")]
    [InlineData("test-and-set")]
    [InlineData("preemptable-ticket")]
    public void The_bench_with_the_line_model_allocates_nothing_per_event_in_steady_state(string spinlock)
    {
        var s = Bench($"vms[0].guest.spinlock={spinlock}", "vms[0].guest.cache_coherence=directory");
        var model = new SystemRun(s, 1);
        var (bytes, events) = SteadyState.Measure(model, 200_000_000, 400_000_000);
        Assert.True(events > 10_000);
        Assert.True(model.Vms[0].Kernel.Locks.Sum(l => l.LineHandoffs) > 0);
        Assert.Equal(0, bytes);
    }
}

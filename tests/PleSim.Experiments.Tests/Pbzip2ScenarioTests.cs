using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>The pbzip2 scenario: it loads, runs to completion with every invariant checked, is deterministic, allocates nothing per event in steady state, and refuses bad keys with a location.</summary>
public class Pbzip2ScenarioTests
{
    private static Scenario Load(params string[] overrides) =>
        HostScenarioTests.Shipped("workloads", "pbzip2.yaml", overrides);

    private static double M(RunResult r, string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");

    [Fact]
    public void Pbzip2_runs_to_completion_with_invariants_checked_and_reports_its_rates()
    {
        // 18 MB (20 blocks) at a fast compressor instead of the scenario's 200 MB: the same pipeline, a shorter run.
        var s = Load("vms[0].workload.input_bytes=18000000", "vms[0].workload.compress_mb_per_s=100");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 97 });
        Assert.True(r.Error is null, r.Error);
        double elapsed = M(r, "guest.pbzip2_elapsed_s");
        Assert.True(elapsed > 0 && elapsed < 10, $"elapsed {elapsed}");
        // MB/s is the input (10^6 bytes) over the elapsed time: the whole input was written.
        Assert.Equal(18.0 / elapsed, M(r, "guest.pbzip2_mb_per_s"), 6);
        Assert.Equal(20 / elapsed, M(r, "guest.pbzip2_blocks_per_s"), 6);
        Assert.True(M(r, "guest.shootdowns_per_s") > 0);
        Assert.True(M(r, "guest.pbzip2_futex_sleeps_per_block") >= 0);
    }

    [Fact]
    public void The_same_seed_gives_byte_identical_json()
    {
        var s = Load("vms[0].workload.input_bytes=5400000", "vms[0].workload.compress_mb_per_s=100");
        var a = ResultJson.Write(s, [Runner.RunOne(s, 3, new RunOptions()), Runner.RunOne(s, 4, new RunOptions())]);
        var b = ResultJson.Write(s, Runner.RunMany(s, [3UL, 4UL], parallelism: 2));
        Assert.Equal(a, b);
    }

    [Fact]
    public void Pbzip2_allocates_nothing_per_event_in_steady_state()
    {
        var (bytes, events) = SteadyState.MeasureOnNewThread(() => new SystemRun(Load(), 1), 300_000_000, 500_000_000);
        Assert.True(events > 10_000);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void A_bad_pbzip2_key_is_reported_with_its_location()
    {
        var e = Assert.Throws<ScenarioException>(() => Load("vms[0].workload.thread=3"));
        Assert.Contains("threads", e.Message);
        var e2 = Assert.Throws<ScenarioException>(() => Load("vms[0].workload.bwt_block_size=10"));
        Assert.Contains("bwt_block_size", e2.Message);
        // A refused block_size (found by the fuzz test: it divided by zero) is a located error too.
        foreach (var bad in new[] { "vms[0].workload.block_size=ssss", "vms[0].workload.block_size=0" })
        {
            var e3 = Assert.Throws<ScenarioException>(() => Load(bad));
            Assert.EndsWith("block_size", e3.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        }
    }
}

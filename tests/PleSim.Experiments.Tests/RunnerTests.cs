using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

public class RunnerTests
{
    private static Scenario Hold(int runs = 3) => ScenarioLoader.LoadText($"""
        name: hold
        description: d
        kind: engine-hold
        seed: 10
        runs: {runs}
        duration: 5ms
        warmup: 1ms
        engine_hold:
          population: 200
          mean_delay: 100us
          cancel_half: true
        """, "h.yaml");

    [Fact]
    public void Runs_use_consecutive_seeds_and_come_back_in_seed_order()
    {
        var s = Hold(5);
        var results = Runner.RunMany(s, Runner.Seeds(s), parallelism: 2);
        Assert.Equal([10UL, 11UL, 12UL, 13UL, 14UL], results.Select(r => r.Seed));
        Assert.All(results, r => Assert.Null(r.Error));
    }

    [Fact]
    public void The_same_scenario_and_seeds_give_byte_identical_json()
    {
        var s = Hold();
        var a = ResultJson.Write(s, Runner.RunMany(s, Runner.Seeds(s), parallelism: 1));
        var b = ResultJson.Write(s, Runner.RunMany(s, Runner.Seeds(s), parallelism: 2));
        Assert.Equal(a, b);
        Assert.Contains("\"events_per_sim_second\"", a, StringComparison.Ordinal);
    }

    [Fact]
    public void A_run_is_reproduced_by_its_seed_alone()
    {
        var s = Hold();
        var all = Runner.RunMany(s, Runner.Seeds(s));
        var again = Runner.RunOne(s, all[2].Seed);
        Assert.Equal(all[2].EventDigest, again.EventDigest);
        Assert.Equal(all[2].Metrics, again.Metrics);
    }

    [Fact]
    public void The_warmup_is_not_counted_in_the_metrics()
    {
        var s = Hold(1);
        var r = Runner.RunOne(s, 10);
        double events = r.Metric("events")!.Value;
        Assert.True(events < r.Events, "measured events exclude the warm-up");
        Assert.InRange(r.Metric("events_per_sim_second")!.Value, 1.8e6, 2.2e6); // 200 pending / 100us mean
    }
}

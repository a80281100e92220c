using PleSim.Experiments.Reproduce;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

public class CpuSplitTests
{
    [Fact]
    public void A_group_whose_whole_load_is_on_one_cpu_gets_its_shares_as_entity_weight()
    {
        // update_cfs_shares: weight = shares x local load / group load; with one CPU the ratio is 1.
        var s = ScenarioLoader.LoadText("""
            name: weights
            description: d
            kind: system
            seed: 3
            runs: 1
            duration: 200ms
            warmup: 50ms
            host:
              cpus: 1
              cgroups:
                - {path: /a, shares: 1024}
                - {path: /b, shares: 2048}
              tasks:
                - {name: a, cgroup: /a}
                - {name: b, cgroup: /b}
            """, "w.yaml");
        var r = Runner.RunOne(s, 3);
        Assert.Null(r.Error);
        Assert.Equal(1024, r.Metric("group_weight./a")!.Value, 0);
        Assert.Equal(2048, r.Metric("group_weight./b")!.Value, 0);
        Assert.InRange(r.Metric("group_share./b")!.Value, 0.64, 0.70);
        Assert.Null(r.Metric("group_weight./"));
    }

    private static RunResult Run(ulong seed, double amqp, double loops) =>
        new RunResult { Seed = seed }.AddMetric("amqp.cpus_used", amqp).AddMetric("loops.cpus_used", loops);

    [Fact]
    public void Split_counts_the_runs_where_one_guest_got_at_most_a_quarter()
    {
        var cell = new CellResult(new CellSpec(8, "none", 4), 100_000, CellBasis.Predicted,
            [Run(1, 2.0, 2.0), Run(2, 0.8, 3.2), Run(3, 3.1, 0.9), Run(4, 1.2, 2.8), new RunResult { Seed = 5, Error = "boom" }],
            "amqp.subscribe_rate");
        var x = Riel2011.Split(cell);
        Assert.Equal(4, x.Runs);
        Assert.Equal(2, x.ImbalancedRuns); // 0.8/4 = 20% and 0.9/4 = 22.5%; 1.2/4 = 30% is not
        Assert.Equal(0.2, x.AmqpShareMin, 9);
        Assert.Equal(0.775, x.AmqpShareMax, 9);
        Assert.Equal((0.5 + 0.2 + 0.775 + 0.3) / 4, x.AmqpShare, 9);
        Assert.Equal(7.1 / 4, x.AmqpCpus, 9);
        Assert.True(double.IsNaN(x.AmqpGroupWeight));
    }
}

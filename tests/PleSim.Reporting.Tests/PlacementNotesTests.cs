using PleSim.Experiments.Running;

namespace PleSim.Reporting.Tests;

/// <summary>The placement note: printed for a VM whose stacked share spans 0.3 or more between successful runs, never otherwise.</summary>
public class PlacementNotesTests
{
    private static RunResult Run(ulong seed, double amqp, double loops, string? error = null)
    {
        var r = new RunResult { Seed = seed, Error = error };
        if (error is null)
        {
            r.Metrics.Add(new("amqp.frac_vcpus_stacked", amqp));
            r.Metrics.Add(new("amqp.subscribe_rate", 1e5));
            r.Metrics.Add(new("loops.frac_vcpus_stacked", loops));
        }
        return r;
    }

    [Fact]
    public void A_vm_whose_seeds_split_gets_one_line_with_every_seed()
    {
        var runs = new[] { Run(1, 0.30, 0.10), Run(2, 0.0, 0.12), Run(3, 0.46, 0.11) };
        var line = Assert.Single(PlacementNotes.Lines(runs));
        Assert.Contains("amqp's VCPUs were stacked", line, StringComparison.Ordinal);
        Assert.Contains("0%–46% of the window", line, StringComparison.Ordinal);
        Assert.Contains("by seed: 1 30%, 2 0%, 3 46%.", line, StringComparison.Ordinal);
        Assert.DoesNotContain("loops", line, StringComparison.Ordinal);
        Assert.Equal("  base: amqp's VCPUs were stacked on one host CPU (frac_vcpus_stacked) by seed: 1 30%, 2 0%, 3 46%.",
            Assert.Single(PlacementNotes.Short(runs, "base: ")));
    }

    [Fact]
    public void Shares_within_the_span_failed_runs_and_a_single_run_give_no_note()
    {
        Assert.Empty(PlacementNotes.Lines([Run(1, 0.10, 0), Run(2, 0.39, 0)]));
        Assert.Empty(PlacementNotes.Lines([Run(1, 0.0, 0), Run(2, 0, 0, error: "boom"), Run(3, 0.05, 0)]));
        Assert.Empty(PlacementNotes.Lines([Run(1, 0.9, 0)]));
        Assert.Single(PlacementNotes.Lines([Run(1, 0.10, 0), Run(2, 0.40, 0)]));
    }

    [Fact]
    public void Long_seed_lists_are_cut_and_counted()
    {
        var runs = Enumerable.Range(1, 20).Select(i => Run((ulong)i, i % 2 == 0 ? 0.5 : 0.0, 0)).ToArray();
        var line = Assert.Single(PlacementNotes.Lines(runs, maxSeeds: 4));
        Assert.Contains("by seed: 1 0%, 2 50%, 3 0%, 4 50%, … (20 seeds).", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Runs_group_into_kept_apart_and_stacked_with_their_means()
    {
        static RunResult R(ulong seed, double stacked, double rate, double spin)
        {
            var r = new RunResult { Seed = seed };
            r.Metrics.Add(new("amqp.frac_vcpus_stacked", stacked));
            r.Metrics.Add(new("amqp.frac_spin", spin));
            r.Metrics.Add(new("amqp.subscribe_rate", rate));
            return r;
        }
        var g = PlacementNotes.ByPlacement([R(1, 0.0, 140, 0.01), R(2, 0.09, 150, 0.03), R(3, 0.1, 100, 0.07), R(4, 0.5, 120, 0.05)], "amqp", "amqp.subscribe_rate");
        Assert.NotNull(g);
        Assert.Equal((2, 145.0, 0.02), (g.Value.Apart.N, g.Value.Apart.Mean, Math.Round(g.Value.Apart.Spin, 9)));
        Assert.Equal((2, 110.0, 0.06), (g.Value.Stacked.N, g.Value.Stacked.Mean, Math.Round(g.Value.Stacked.Spin, 9)));
        Assert.Null(PlacementNotes.ByPlacement([R(1, 0.2, 1, 0), R(2, 0.3, 1, 0)], "amqp", "amqp.subscribe_rate"));
    }

    private static RunResult Group(ulong seed, double preempted, double split, string? error = null, double spin = 0.05)
    {
        var r = new RunResult { Seed = seed, Error = error };
        if (error is null)
        {
            r.Metrics.Add(new("bench.frac_preempted", preempted));
            r.Metrics.Add(new("bench.frac_time_split", split));
            r.Metrics.Add(new("bench.frac_spin", spin));
        }
        return r;
    }

    [Fact]
    public void A_vm_preempted_often_but_never_split_is_named_as_run_in_one_group()
    {
        var line = Assert.Single(PlacementNotes.GroupLines([Group(1, 0.5, 0.001), Group(2, 0.48, 0.003)]));
        Assert.StartsWith("bench's VCPUs ran and waited as one group: preempted 49% of their time (bench.frac_preempted) but split for only 0.2% of the window", line, StringComparison.Ordinal);
        Assert.Contains("mean of 2 runs", line, StringComparison.Ordinal);
        Assert.Contains("docs/lock-bench.md", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_vm_that_splits_or_is_seldom_preempted_gets_no_group_note()
    {
        Assert.Empty(PlacementNotes.GroupLines([Group(1, 0.5, 0.3)]));      // split: the usual case
        Assert.Empty(PlacementNotes.GroupLines([Group(1, 0.05, 0.0)]));     // hardly preempted: nothing to say
        Assert.Empty(PlacementNotes.GroupLines([Group(1, 0.5, 0.0, error: "boom")]));
        Assert.Empty(PlacementNotes.GroupLines([Group(1, 0.5, 0.0), Group(2, 0.5, 0.2)])); // on average it split
        Assert.Empty(PlacementNotes.GroupLines([Group(1, 0.5, 0.0, spin: 0)]));  // a VM that never spins (hogs)
    }
}

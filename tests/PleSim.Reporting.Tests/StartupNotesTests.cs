using PleSim.Experiments.Running;

namespace PleSim.Reporting.Tests;

/// <summary>The start-up note: a VM whose VCPU threads had not all run when the window opened is named, with its share; others are not.</summary>
public class StartupNotesTests
{
    private static RunResult Run(ulong seed, double guest1, double guest2, string? error = null)
    {
        var r = new RunResult { Seed = seed, Error = error };
        if (error is null)
        {
            r.Metrics.Add(new("guest1.frac_not_started", guest1));
            r.Metrics.Add(new("guest2.frac_not_started", guest2));
        }
        return r;
    }

    [Fact]
    public void A_vm_not_yet_started_in_the_window_is_named_with_its_mean_and_largest_share()
    {
        var runs = new[] { Run(1, 0.30, 0), Run(2, 0.36, 0.0004), Run(3, 0, 0, error: "boom") };
        var line = Assert.Single(StartupNotes.Lines(runs));
        Assert.StartsWith("guest1's VCPU threads had not yet run for 33% of their time in the window (guest1.frac_not_started, mean of 2 runs, up to 36%)", line, StringComparison.Ordinal);
        Assert.Contains("lengthen warmup", line, StringComparison.Ordinal);
        Assert.Contains("vms[].start_at", line, StringComparison.Ordinal);
        Assert.Equal("Start-up in the window, 4th row @ base: guest1's VCPU threads had not yet run for 33% of their time (guest1.frac_not_started, up to 36%; docs/anomalies/multi-vm-start-up.md).",
            Assert.Single(StartupNotes.Short(runs, "4th row @ base")));
    }

    [Fact]
    public void Started_vms_runs_without_the_metric_and_failed_runs_give_no_note()
    {
        Assert.Empty(StartupNotes.Lines([Run(1, 0, 0), Run(2, 0.0009, 0)]));
        Assert.Empty(StartupNotes.Lines([new RunResult { Seed = 1 }]));
        Assert.Empty(StartupNotes.Lines([Run(1, 0.5, 0, error: "boom")]));
        Assert.Equal("guest1", Assert.Single(StartupNotes.Late([Run(1, 0.001, 0)])).Vm);
    }
    private static RunResult Drift(ulong seed, double guest1, double guest2)
    {
        var r = new RunResult { Seed = seed };
        r.Metrics.Add(new("guest1.host_share_drift", guest1));
        r.Metrics.Add(new("guest2.host_share_drift", guest2));
        return r;
    }

    [Fact]
    public void A_vm_whose_host_share_moves_between_the_halves_on_average_is_named_either_way()
    {
        var runs = new[] { Drift(1, -0.08, 0.06), Drift(2, -0.06, -0.05) };
        var line = Assert.Single(StartupNotes.Lines(runs));
        Assert.StartsWith("The window is not steady: guest1's share of the host's CPUs moved by -7 points from the window's first half to its second (guest1.host_share_drift, mean of 2 runs)", line, StringComparison.Ordinal);
        Assert.Equal("Not steady, 2VM @ vanilla: guest1's share of the host's CPUs moved by -7 points between the window's halves (guest1.host_share_drift, mean of 2 runs).",
            Assert.Single(StartupNotes.Short(runs, "2VM @ vanilla")));
        Assert.Single(StartupNotes.Lines([Drift(1, 0.05, 0)]));
        Assert.Empty(StartupNotes.Lines([Drift(1, 0.06, 0), Drift(2, -0.06, 0)])); // drifts that cancel: no systematic move
        Assert.Empty(StartupNotes.Lines([new RunResult { Seed = 1 }]));
    }
}

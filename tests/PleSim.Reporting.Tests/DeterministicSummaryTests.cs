using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Reporting;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace PleSim.Reporting.Tests;

/// <summary>Runs that all give the same value are reported as such, not as a zero-width confidence interval.</summary>
public class DeterministicSummaryTests
{
    private static RunResult Run(ulong seed, double same, double varying) =>
        new RunResult { Seed = seed }.AddMetric("same", same).AddMetric("varying", varying);

    private static string Render(IRenderable table)
    {
        var w = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(w), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 200;
        console.Write(table);
        return w.ToString();
    }

    /// <summary>The rendered text as one line, runs of spaces and borders as one space (a caption wraps).</summary>
    private static string Flat(string text) =>
        System.Text.RegularExpressions.Regex.Replace(text.Replace("│", " ", StringComparison.Ordinal), @"\s+", " ");

    [Fact]
    public void Summary_marks_identical_runs_and_keeps_the_interval_of_varying_ones()
    {
        var runs = new[] { Run(1, 42, 1), Run(2, 42, 2), Run(3, 42, 4) };
        var scenario = new Scenario { Name = "t", Description = "", Kind = "system", Seed = 1, Runs = 3, Duration = PleSim.Engine.SimDuration.FromMilliseconds(1), Warmup = PleSim.Engine.SimDuration.Zero };
        var lines = Render(RunTables.Summary(scenario, runs)).Split('\n');
        var same = lines.Single(l => l.Contains(" same ", StringComparison.Ordinal));
        var varying = lines.Single(l => l.Contains(" varying ", StringComparison.Ordinal));
        Assert.Contains(Formats.AllRunsEqual, same, StringComparison.Ordinal);
        Assert.DoesNotContain(Formats.AllRunsEqual, varying, StringComparison.Ordinal);
        Assert.Contains(Formats.Number(MetricSummary.Of("varying", [1, 2, 4]).Ci95High), varying, StringComparison.Ordinal);
    }

    [Fact]
    public void MeanCi_says_all_runs_equal_only_when_the_spread_is_zero()
    {
        Assert.Equal($"{Formats.Number(42)} {Formats.AllRunsEqual}", SweepTables.MeanCi(MetricSummary.Of("m", [42, 42, 42])));
        Assert.Contains("±", SweepTables.MeanCi(MetricSummary.Of("m", [42, 42, 43])), StringComparison.Ordinal);
        // One run has no spread to speak of: just the value.
        Assert.Equal(Formats.Number(42), SweepTables.MeanCi(MetricSummary.Of("m", [42])));
        Assert.True(MetricSummary.Of("m", [0.1, 0.1, 0.1]).AllRunsEqual);
        Assert.False(MetricSummary.Of("m", [0.1]).AllRunsEqual);
    }

    [Fact]
    public void A_lower_bound_below_zero_of_a_never_negative_quantity_is_marked_and_explained()
    {
        // Two runs of a rate, 1 and 9: the t interval (t = 12.71) reaches far below 0.
        var scenario = new Scenario { Name = "t", Description = "", Kind = "system", Seed = 1, Runs = 2, Duration = PleSim.Engine.SimDuration.FromMilliseconds(1), Warmup = PleSim.Engine.SimDuration.Zero };
        var rate = new[] { Run(1, 42, 1), Run(2, 42, 9) };
        Assert.True(MetricSummary.Of("varying", [1, 9]).Ci95Low < 0);
        var text = Render(RunTables.Summary(scenario, rate));
        var row = text.Split('\n').Single(l => l.Contains(" varying ", StringComparison.Ordinal));
        Assert.Contains(Bounds.Mark, row, StringComparison.Ordinal);
        Assert.Contains("cannot be negative", Flat(text), StringComparison.Ordinal);

        // A quantity one of whose runs is negative (a change) has a genuine negative bound: no mark.
        var change = new[] { Run(1, 42, -1), Run(2, 42, 9) };
        var plain = Render(RunTables.Summary(scenario, change));
        Assert.DoesNotContain(Bounds.Mark, plain, StringComparison.Ordinal);
        // A bound that stays above 0: no mark either.
        var tight = new[] { Run(1, 42, 10), Run(2, 42, 10.5), Run(3, 42, 10.2) };
        Assert.DoesNotContain(Bounds.Mark, Render(RunTables.Summary(scenario, tight)), StringComparison.Ordinal);
    }

    private static RunResult Metric(ulong seed, string name, double v) => new RunResult { Seed = seed }.AddMetric(name, v);

    private static readonly Scenario Small = new() { Name = "t", Description = "", Kind = "system", Seed = 1, Runs = 2, Duration = PleSim.Engine.SimDuration.FromMilliseconds(1), Warmup = PleSim.Engine.SimDuration.Zero };

    [Fact]
    public void A_share_whose_interval_exceeds_one_is_marked_in_every_table()
    {
        // A share of VCPU time: runs 0.5 and 0.99 give a t interval far above 1.
        var s = MetricSummary.Of("vm.frac_spin", [0.5, 0.99]);
        Assert.True(s.Ci95High > 1);
        var text = Render(RunTables.Summary(Small, [Metric(1, "vm.frac_spin", 0.5), Metric(2, "vm.frac_spin", 0.99)]));
        var row = text.Split('\n').Single(l => l.Contains(" vm.frac_spin ", StringComparison.Ordinal));
        Assert.Contains(Bounds.Mark, row, StringComparison.Ordinal);
        Assert.Contains("cannot exceed 100%", Flat(text), StringComparison.Ordinal);
        Assert.EndsWith(Bounds.Mark, SweepTables.MeanCi(s), StringComparison.Ordinal);
    }

    [Fact]
    public void A_count_whose_lower_bound_is_below_zero_is_marked_and_one_inside_its_range_is_not()
    {
        var count = MetricSummary.Of("vm.pause_exits", [1, 9]);
        Assert.True(count.Ci95Low < 0);
        Assert.EndsWith(Bounds.Mark, SweepTables.MeanCi(count), StringComparison.Ordinal);
        Assert.Contains(Bounds.Mark, Render(RunTables.Summary(Small, [Metric(1, "vm.pause_exits", 1), Metric(2, "vm.pause_exits", 9)])), StringComparison.Ordinal);

        var inside = MetricSummary.Of("vm.frac_spin", [0.5, 0.51, 0.52]);
        Assert.DoesNotContain(Bounds.Mark, SweepTables.MeanCi(inside), StringComparison.Ordinal);
        Assert.DoesNotContain(Bounds.Mark, Render(RunTables.Summary(Small, [Metric(1, "vm.frac_spin", 0.5), Metric(2, "vm.frac_spin", 0.51), Metric(3, "vm.frac_spin", 0.52)])), StringComparison.Ordinal);
    }

    [Fact]
    public void Physical_ranges_come_from_the_metric_units()
    {
        Assert.Equal(new Bounds.Range(0, 1), Bounds.Of("vm.frac_spin"));
        Assert.Equal(new Bounds.Range(0, 100), Bounds.Of("guest1.spin_within_65536_iterations_pct"));
        Assert.Equal(new Bounds.Range(0, 4), Bounds.Of("loops.cpus_used", hostCpus: 4));
        // A cgroup can use several CPUs: only ≥ 0.
        Assert.Equal(Bounds.Range.NonNegative, Bounds.Of("group_share.vms"));
        Assert.Equal(Bounds.Range.NonNegative, Bounds.Of("vm.pause_exits_per_second"));
        Assert.Equal(Bounds.Range.Any, Bounds.Of("no.such.metric.defined"));
        Assert.True(Bounds.Range.Gain.CrossedBy(-2.5, 1));
        Assert.False(Bounds.Range.Gain.CrossedBy(-0.5, 1));
    }
}

/// <summary>Equal runs of a metric counted in whole batches are reported as a quantisation, with the step at the window.</summary>
public class QuantisedMetricTests
{
    private static string Render(IRenderable table)
    {
        var w = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(w), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 400;
        console.Write(table);
        return w.ToString();
    }

    private static Scenario Amqp(int payload) => new()
    {
        Name = "t", Description = "", Kind = "system", Seed = 1, Runs = 2,
        Duration = PleSim.Engine.SimDuration.FromMilliseconds(200), Warmup = PleSim.Engine.SimDuration.Zero,
        Vms = [new VmSettings { Name = "amqp", Workload = new WorkloadSettings { Kind = "amqp-perftest", Amqp = new PleSim.Workloads.AmqpSettings { PayloadBytes = payload } } }],
    };

    [Fact]
    public void Equal_runs_of_the_subscribe_rate_print_its_resolution_at_the_window()
    {
        // 65,536-byte buffers of 8 + 80-byte messages: 744 messages per batch, 3,720 msg/s in 200 ms.
        var s = Amqp(8);
        var resolution = MetricDefinitions.ResolutionOf("amqp.subscribe_rate", s);
        Assert.Equal(744 / 0.2, resolution!.Value, 9);
        var runs = new[] { new RunResult { Seed = 1 }.AddMetric("amqp.subscribe_rate", 37_200), new RunResult { Seed = 2 }.AddMetric("amqp.subscribe_rate", 37_200) };
        var text = Render(RunTables.Summary(s, runs));
        Assert.Contains("all runs equal; resolution 3,720 messages/s at this window", text, StringComparison.Ordinal);
        // Without the scenario (sweep tables), the note still says it is a quantisation.
        Assert.Contains("quantisation", SweepTables.MeanCi(MetricSummary.Of("amqp.subscribe_rate", [37_200, 37_200])), StringComparison.Ordinal);
        // A metric not counted in batches keeps the plain wording.
        Assert.Equal(Formats.AllRunsEqual, Formats.AllRunsEqualFor("amqp.frac_spin", 1));
    }
}

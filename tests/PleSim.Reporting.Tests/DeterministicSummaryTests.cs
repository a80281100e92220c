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
        Assert.Contains(RunTables.BelowZeroMark, row, StringComparison.Ordinal);
        Assert.Contains("cannot be negative", text.Replace("\n", " ", StringComparison.Ordinal).Replace("│", " ", StringComparison.Ordinal), StringComparison.Ordinal);

        // A quantity one of whose runs is negative (a change) has a genuine negative bound: no mark.
        var change = new[] { Run(1, 42, -1), Run(2, 42, 9) };
        var plain = Render(RunTables.Summary(scenario, change));
        Assert.DoesNotContain(RunTables.BelowZeroMark, plain, StringComparison.Ordinal);
        // A bound that stays above 0: no mark either.
        var tight = new[] { Run(1, 42, 10), Run(2, 42, 10.5), Run(3, 42, 10.2) };
        Assert.DoesNotContain(RunTables.BelowZeroMark, Render(RunTables.Summary(scenario, tight)), StringComparison.Ordinal);
    }
}

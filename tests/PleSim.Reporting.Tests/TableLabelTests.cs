using PleSim.Experiments.Reproduce;
using PleSim.Experiments.Running;
using PleSim.Hypervisor;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace PleSim.Reporting.Tests;

/// <summary>Table labels mean one thing each, and the captions say what the less obvious columns count.</summary>
public class TableLabelTests
{
    private static string Render(IRenderable table)
    {
        var w = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(w), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 400;
        console.Write(table);
        return System.Text.RegularExpressions.Regex.Replace(w.ToString().Replace("│", " ", StringComparison.Ordinal), @"\s+", " ");
    }

    private static CellResult Cell()
    {
        var r = new RunResult { Seed = 1 };
        foreach (var m in new[] { "amqp.cpus_used", "loops.cpus_used", "amqp.frac_spin", "amqp.frac_lock_holder_preempted", "amqp.dy_walks", "amqp.dy_walks_without_yield", "amqp.yield_to_calls", "amqp.spin_ns" })
            r.AddMetric(m, 1);
        r.AddMetric("amqp.spin_ns." + GroundTruth.Name(SpinCause.HolderPreempted), 1);
        r.AddMetric("amqp.subscribe_rate", 1000);
        return new CellResult(new CellSpec(8, "directed-yield-2011", 4), 1000, null, [r], "amqp.subscribe_rate");
    }

    [Fact]
    public void Preemption_while_holding_a_lock_and_spin_behind_a_preempted_holder_have_different_labels()
    {
        var explain = Render(ReproduceReport.Explain([Cell()]));
        var causes = Render(ReproduceReport.SpinCauseTable([Cell()]));
        Assert.Contains("preempted holding a lock", explain, StringComparison.Ordinal);
        Assert.Contains("holder preempted", causes, StringComparison.Ordinal);
        // The time table's header row does not use the ground truth's label.
        Assert.DoesNotContain(" holder preempted ", explain.Split("amqp VCPU busy: ")[0], StringComparison.Ordinal);
        Assert.Contains("spin and PAUSE exit are parts of busy", explain, StringComparison.Ordinal);
        Assert.Contains("yield_to hit: share of the successful calls", explain, StringComparison.Ordinal);
        Assert.Contains("LHP/s:", explain, StringComparison.Ordinal);
    }

    [Fact]
    public void The_yield_label_table_says_what_walks_without_yield_and_ack_debtor_count()
    {
        var text = Render(ReproduceReport.YieldLabelTable([Cell()]));
        Assert.Contains("walks w/o yield: directed-yield walks that went over every candidate without a successful yield_to", text, StringComparison.Ordinal);
        Assert.Contains("ack debtor: a VCPU that owed the spinner", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cpu_share_column_is_headed_in_CPUs()
    {
        var groups = new[] { new PleSim.Experiments.Running.Record().Add("group", "/vms").Add("shares", 1024L).Add("cpu_share", 4.0) };
        var text = Render(RunTables.Records("groups", groups));
        Assert.Contains("cpu_share (CPUs)", text, StringComparison.Ordinal);
    }
}

using PleSim.Experiments.Compare;
using Spectre.Console;

namespace PleSim.Reporting;

/// <summary>The table and the plot of <c>plesim compare</c>.</summary>
public static class CompareReport
{
    /// <summary>Spin-cause groups shown as table columns (the JSON and CSV carry every cause).</summary>
    public static readonly (string Column, string[] Causes)[] SpinGroups =
    [
        ("holder", ["holder_preempted", "holder_in_exit"]),
        ("next waiter", ["next_waiter_preempted", "next_waiter_in_exit"]),
        ("ack owed", ["ack_owed_preempted", "ack_owed_halted", "ack_owed_irqs_off", "ack_in_flight"]),
        ("contention", ["contention", "other"]),
    ];

    /// <summary>One row per policy: throughput with CI, paired gain over the first, spin by cause, exits/s, yield_to precision.</summary>
    public static FitTable Table(PolicyComparisonResult c)
    {
        var t = new FitTable(keyColumns: 1).Border(TableBorder.Rounded)
            .Title($"[bold]{Markup.Escape(c.ScenarioName)}[/] — {c.Seeds.Count} paired run(s) per policy, seeds {c.Seeds[0]}…{c.Seeds[^1]}");
        t.AddColumn("policy");
        t.AddColumn(Markup.Escape(c.Metric) + "\n(mean ± 95% CI)", rightAligned: true);
        t.AddColumn($"gain vs {Markup.Escape(c.Outcomes[0].Policy.Name)}\n(± paired 95% CI)", rightAligned: true);
        t.AddColumn("spin\nms/s", rightAligned: true);
        foreach (var (col, _) in SpinGroups)
            t.AddColumn(col + "\nms/s", rightAligned: true);
        t.AddColumn("PAUSE\nexits/s", rightAligned: true);
        t.AddColumn("yield_to\nprecision", rightAligned: true);
        var vm = c.MeasuredVm;
        if (vm is not null)
            t.AddColumn($"{Markup.Escape(vm)}\nstacked", rightAligned: true);
        var vms = c.Outcomes[0].Scenario.Vms.Select(v => v.Name).ToList();
        if (vms.Count > 1)
            t.AddColumn("CPUs\nby VM", rightAligned: true);
        bool marked = false;
        for (int i = 0; i < c.Outcomes.Count; i++)
        {
            var o = c.Outcomes[i];
            var s = o.Throughput(c.Metric);
            // Student-t intervals are symmetric: mean ± half-width.
            var range = Bounds.Of(c.Metric, o.Scenario.Host.Cpus);
            string tp = s.N == 0 ? "no runs" : Formats.PlusMinus(s.Mean, s.Ci95HalfWidth, Formats.AllRunsEqualFor(c.Metric, PleSim.Experiments.Running.MetricDefinitions.ResolutionOf(c.Metric, o.Scenario)));
            if (s.N > 1)
                tp = Bounds.Marked(tp, range, s.Ci95Low, s.Ci95High);
            // A gain of a quantity that cannot be negative cannot be below −100%.
            string gain = c.Gain(i) is { } g
                ? Bounds.Marked(Formats.SignedPercentPlusMinus(g.Gain, (g.High - g.Low) / 2), range.Min >= 0 ? Bounds.Range.Gain : Bounds.Range.Any, g.Low, g.High)
                : "(baseline)";
            marked |= Bounds.IsMarked(tp) || Bounds.IsMarked(gain);
            var spin = o.SpinByCause().ToDictionary(x => x.Cause, x => x.MsPerSecond);
            var cells = new List<string>
            {
                Markup.Escape(o.Policy.Name) + (o.Failed > 0 ? $" [red]({o.Failed} failed)[/]" : ""),
                Markup.Escape(tp),
                Markup.Escape(gain),
                Formats.Number(spin.Values.Sum()),
            };
            foreach (var (_, causes) in SpinGroups)
                cells.Add(Formats.Number(causes.Sum(k => spin.GetValueOrDefault(k))));
            cells.Add(Formats.Number(o.MeanOverVms("pause_exits_per_second")));
            var (hits, calls, precision) = o.YieldToPrecision();
            cells.Add(calls > 0 ? $"{Formats.Percent(precision)} ({hits.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)}/{calls.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)})" : "–");
            if (vm is not null)
                cells.Add(Formats.Percent(o.StackedShare(vm)));
            if (vms.Count > 1)
                cells.Add(Markup.Escape(string.Join("\n", vms.Select(n => $"{n} {Cpus(o.CpusUsed(n))}"))));
            t.AddRow(cells.ToArray());
        }
        t.Caption("spin: VCPU-ms spent spinning per simulated second, all VMs, by ground-truth cause; yield_to precision: calls that boosted a VCPU the spinner waited on / all calls, failed ones included (every run, every VM; reproduce's \"yield_to hit\" divides by the successful calls only)"
            + (vm is null ? "" : $"; {vm} stacked: mean share of the window with two or more of its runnable VCPUs queued on one host CPU (ground truth)")
            + (vms.Count > 1 ? "; CPUs by VM: host CPU time of each VM's VCPU threads, in CPUs (mean over runs)" : "")
            + (marked ? "\n" + Markup.Escape(Bounds.Note) : ""));
        return t;
    }

    /// <summary>A policy's share of the host moves between VMs by at least this many CPUs before <see cref="CpuShiftNotes"/> names it.</summary>
    public const double CpuShiftNoted = 0.1;

    /// <summary>
    /// Where a policy gave the measured VM host CPU time that another VM lost (or the reverse),
    /// part of its gain or loss is CPU share rather than efficiency: one line per such policy,
    /// against the first, with every VM whose mean <c>cpus_used</c> moved by
    /// <see cref="CpuShiftNoted"/> or more.
    /// </summary>
    public static IReadOnlyList<string> CpuShiftNotes(PolicyComparisonResult c)
    {
        var lines = new List<string>();
        var vm = c.MeasuredVm;
        var vms = c.Outcomes[0].Scenario.Vms.Select(v => v.Name).ToList();
        if (vm is null || vms.Count < 2)
            return lines;
        var baseline = c.Outcomes[0];
        for (int i = 1; i < c.Outcomes.Count; i++)
        {
            var o = c.Outcomes[i];
            double mine = o.CpusUsed(vm) - baseline.CpusUsed(vm);
            if (!double.IsFinite(mine) || Math.Abs(mine) < CpuShiftNoted)
                continue;
            var others = vms.Where(n => n != vm)
                .Select(n => (Name: n, Delta: o.CpusUsed(n) - baseline.CpusUsed(n)))
                .Where(x => double.IsFinite(x.Delta) && Math.Abs(x.Delta) >= CpuShiftNoted && Math.Sign(x.Delta) != Math.Sign(mine))
                .ToList();
            if (others.Count == 0)
                continue;
            static string D(double d) => (d >= 0 ? "+" : "−") + Cpus(Math.Abs(d));
            lines.Add($"Under {o.Policy.Name}, {vm} used {D(mine)} CPUs against {baseline.Policy.Name} "
                + $"({Cpus(baseline.CpusUsed(vm))} → {Cpus(o.CpusUsed(vm))}) and "
                + string.Join(", ", others.Select(x => $"{x.Name} {D(x.Delta)}"))
                + $": part of the difference in {c.Metric} is host CPU moved between the VMs, not work done better with the same CPU.");
        }
        return lines;
    }

    /// <summary>A number of CPUs with two decimals ("–" when there is none).</summary>
    private static string Cpus(double v) => double.IsFinite(v) ? v.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) : "–";

    /// <summary>The plot: the throughput metric per policy with its 95% CI.</summary>
    public static ScottPlot.Plot Plot(PolicyComparisonResult c)
    {
        var labels = c.Outcomes.Select(o => o.Policy.Name).ToList();
        var sums = c.Outcomes.Select(o => o.Throughput(c.Metric)).ToList();
        var series = new PlotSeries(c.Metric, [.. sums.Select(s => s.Mean)], [.. sums.Select(s => s.Ci95Low)], [.. sums.Select(s => s.Ci95High)]);
        return Plots.MetricVsKey($"{c.ScenarioName}: {c.Metric} by policy ({c.Seeds.Count} paired runs, 95% CI)", "policy", labels, c.Metric, [series]);
    }
}

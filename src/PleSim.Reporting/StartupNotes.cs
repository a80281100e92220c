using System.Globalization;
using PleSim.Experiments.Running;

namespace PleSim.Reporting;

/// <summary>
/// Says when a measured window opened before a VM's VCPU threads had all run once
/// (<c>VM.frac_not_started</c> above zero): the window then measures the VM's start-up, not its
/// steady state. Threads forked at one instant get START_DEBIT placements up to a slice apart
/// (kernel/sched/fair.c <c>task_fork_fair</c> → <c>place_entity</c>), so the VM forked first can
/// wait tens of milliseconds for its first run (docs/anomalies/multi-vm-start-up.md).
/// </summary>
public static class StartupNotes
{
    /// <summary>The metric's suffix, after the VM's name.</summary>
    public const string Metric = MetricDefinitions.NotStarted;

    /// <summary>A VM is named when its mean share of not-yet-run VCPU time is at least this.</summary>
    public const double Threshold = 0.001;

    /// <summary>Per VM at or above <see cref="Threshold"/> over the successful runs: its name, mean and largest share, and how many runs.</summary>
    public static IReadOnlyList<(string Vm, double Mean, double Max, int Runs)> Late(IReadOnlyList<RunResult> runs)
    {
        var ok = runs.Where(r => r.Error is null).ToList();
        var late = new List<(string, double, double, int)>();
        string suffix = "." + Metric;
        var keys = ok.SelectMany(r => r.Metrics.Select(m => m.Key)).Where(k => k.EndsWith(suffix, StringComparison.Ordinal)).Distinct();
        foreach (var key in keys)
        {
            var v = ok.Select(r => r.Metric(key)).OfType<double>().Where(double.IsFinite).ToList();
            if (v.Count > 0 && v.Average() >= Threshold)
                late.Add((key[..^suffix.Length], v.Average(), v.Max(), v.Count));
        }
        return late;
    }

    /// <summary>One line per VM that <see cref="Late"/> finds, for <c>run</c> and <c>compare</c>.</summary>
    public static IReadOnlyList<string> Lines(IReadOnlyList<RunResult> runs) =>
        Late(runs).Select(l => $"{l.Vm}'s VCPU threads had not yet run for {Pct(l.Mean)} of their time in the window "
            + $"({l.Vm}.{Metric}{(l.Runs > 1 ? $", mean of {l.Runs} runs, up to {Pct(l.Max)}" : "")}): the window opened before all of them had "
            + "first run, so it includes the VM's start-up. Threads forked at one instant are placed up to a START_DEBIT slice apart, "
            + "and the VM forked first can wait tens of milliseconds; lengthen warmup (docs/anomalies/multi-vm-start-up.md).").ToList();

    /// <summary>The short form under a catalog cell: "  {where}: {vm}'s VCPU threads had not yet run for …".</summary>
    public static IEnumerable<string> Short(IReadOnlyList<RunResult> runs, string where) =>
        Late(runs).Select(l => $"Start-up in the window, {where}: {l.Vm}'s VCPU threads had not yet run for {Pct(l.Mean)} of their time ({l.Vm}.{Metric}, up to {Pct(l.Max)}; docs/anomalies/multi-vm-start-up.md).");

    private static string Pct(double share) => (share * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%";
}

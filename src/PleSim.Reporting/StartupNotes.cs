using System.Globalization;
using PleSim.Experiments.Running;

namespace PleSim.Reporting;

/// <summary>
/// Says when a measured window opened before a VM's VCPU threads had all run once
/// (<c>VM.frac_not_started</c> above zero): the window then measures the VM's start-up, not its
/// steady state. Threads forked at one instant get START_DEBIT placements up to a slice apart
/// (kernel/sched/fair.c <c>task_fork_fair</c> → <c>place_entity</c>), so the VM forked first can
/// wait tens of milliseconds for its first run (docs/anomalies/multi-vm-start-up.md). Also says when a
/// VM's share of the host moved between the window's halves (<c>VM.host_share_drift</c>), which a
/// start that goes on after every thread has run once shows.
/// </summary>
public static class StartupNotes
{
    /// <summary>The metric's suffix, after the VM's name.</summary>
    public const string Metric = MetricDefinitions.NotStarted;

    /// <summary>A VM is named when its mean share of not-yet-run VCPU time is at least this.</summary>
    public const double Threshold = 0.001;

    /// <summary>Per VM at or above <see cref="Threshold"/> over the successful runs: its name, mean and largest share, and how many runs.</summary>
    public static IReadOnlyList<(string Vm, double Mean, double Max, int Runs)> Late(IReadOnlyList<RunResult> runs) =>
        PerVm(runs, Metric).Where(m => m.Values.Average() >= Threshold)
            .Select(m => (m.Vm, m.Values.Average(), m.Values.Max(), m.Values.Count)).ToList();

    /// <summary>Per VM reporting <paramref name="metric"/> in the successful runs: its name and the finite values.</summary>
    private static IEnumerable<(string Vm, List<double> Values)> PerVm(IReadOnlyList<RunResult> runs, string metric) =>
        PlacementNotes.PerVm(runs, metric).Select(m => (m.Vm, m.BySeed.Select(s => s.Value).ToList()));

    /// <summary>The notes under <c>run</c> and <c>compare</c>: one line per VM that <see cref="Late"/> finds, then one per VM that <see cref="Drifts"/> finds.</summary>
    public static IReadOnlyList<string> Lines(IReadOnlyList<RunResult> runs) => LateLines(runs).Concat(DriftLines(runs)).ToList();

    /// <summary>The short forms under a catalog cell: "Start-up in the window, {where}: …" per late VM, then "Not steady, {where}: …" per drifting VM.</summary>
    public static IEnumerable<string> Short(IReadOnlyList<RunResult> runs, string where) => LateShort(runs, where).Concat(DriftShort(runs, where));

    private static IEnumerable<string> LateLines(IReadOnlyList<RunResult> runs) =>
        Late(runs).Select(l => $"{l.Vm}'s VCPU threads had not yet run for {PlacementNotes.Pct(l.Mean)} of their time in the window "
            + $"({l.Vm}.{Metric}{(l.Runs > 1 ? $", mean of {l.Runs} runs, up to {PlacementNotes.Pct(l.Max)}" : "")}): the window opened before all of them had "
            + "first run, so it includes the VM's start-up. Threads forked at one instant are placed up to a START_DEBIT slice apart, "
            + "and the VM forked first can wait tens of milliseconds; lengthen warmup, or create the VMs one after another "
            + "with vms[].start_at (docs/anomalies/multi-vm-start-up.md).");

    private static IEnumerable<string> LateShort(IReadOnlyList<RunResult> runs, string where) =>
        Late(runs).Select(l => $"Start-up in the window, {where}: {l.Vm}'s VCPU threads had not yet run for {PlacementNotes.Pct(l.Mean)} of their time ({l.Vm}.{Metric}, up to {PlacementNotes.Pct(l.Max)}; docs/anomalies/multi-vm-start-up.md).");

    /// <summary>The drift metric's suffix, after the VM's name.</summary>
    public const string DriftMetric = MetricDefinitions.HostShareDrift;

    /// <summary>A VM is named when the mean of its drift over the runs is at least this share of the host, either way.</summary>
    public const double DriftThreshold = 0.05;

    /// <summary>Per VM whose mean <c>host_share_drift</c> over the successful runs is at least <see cref="DriftThreshold"/> in size: its name, the mean and how many runs.</summary>
    public static IReadOnlyList<(string Vm, double Mean, int Runs)> Drifts(IReadOnlyList<RunResult> runs) =>
        PerVm(runs, DriftMetric).Where(m => Math.Abs(m.Values.Average()) >= DriftThreshold)
            .Select(m => (m.Vm, m.Values.Average(), m.Values.Count)).ToList();

    private static IEnumerable<string> DriftLines(IReadOnlyList<RunResult> runs) =>
        Drifts(runs).Select(d => $"The window is not steady: {d.Vm}'s share of the host's CPUs moved by {Points(d.Mean)} from the window's first half to its second "
            + $"({d.Vm}.{DriftMetric}{(d.Runs > 1 ? $", mean of {d.Runs} runs" : "")}): a start-up still under way or a placement that changed. "
            + "Lengthen warmup or look at run --timeline (docs/anomalies/wanpeng-2017-halt-poll-after-0097.md).");

    private static IEnumerable<string> DriftShort(IReadOnlyList<RunResult> runs, string where) =>
        Drifts(runs).Select(d => $"Not steady, {where}: {d.Vm}'s share of the host's CPUs moved by {Points(d.Mean)} between the window's halves ({d.Vm}.{DriftMetric}, mean of {d.Runs} runs).");

    private static string Points(double share) => (share * 100).ToString("+0.#;-0.#;0", CultureInfo.InvariantCulture) + " points";
}

using System.Globalization;
using PleSim.Experiments.Running;

namespace PleSim.Reporting;

/// <summary>
/// Says when the seeds of one set-up landed in different VCPU placements: a VM whose VCPUs were
/// stacked (two or more queued on one host CPU, <c>VM.frac_vcpus_stacked</c>) for much of the window
/// in some seeds and hardly at all in others. Such placements can last a whole run, so those seeds
/// sample placement states rather than scatter around one mean (README, "Known problems").
/// </summary>
public static class PlacementNotes
{
    /// <summary>The metric's suffix, after the VM's name.</summary>
    public const string Metric = MetricDefinitions.VcpusStacked;

    /// <summary>Seeds disagree when the stacked shares of a VM span at least this much of the window.</summary>
    public const double SplitSpan = 0.3;

    /// <summary>Below this stacked share a run counts as "kept apart" in <see cref="ByPlacement"/>.</summary>
    public const double ApartShare = 0.1;

    /// <summary>
    /// Per VM whose stacked share spans <see cref="SplitSpan"/> or more over the successful
    /// <paramref name="runs"/>: the VM's name and each run's seed and share, in run order.
    /// </summary>
    public static IReadOnlyList<(string Vm, IReadOnlyList<(ulong Seed, double Share)> BySeed)> Splits(IReadOnlyList<RunResult> runs) =>
        PerVm(runs, Metric).Where(m => m.BySeed.Count >= 2 && m.BySeed.Max(s => s.Value) - m.BySeed.Min(s => s.Value) >= SplitSpan)
            .Select(m => (m.Vm, (IReadOnlyList<(ulong, double)>)m.BySeed)).ToList();

    /// <summary>
    /// Per VM reporting the per-VM <paramref name="metric"/> (<c>VM.metric</c>) in the successful
    /// <paramref name="runs"/>: the VM's name and each such run's seed and finite value, in run order.
    /// </summary>
    internal static IEnumerable<(string Vm, List<(ulong Seed, double Value)> BySeed)> PerVm(IReadOnlyList<RunResult> runs, string metric)
    {
        var ok = runs.Where(r => r.Error is null).ToList();
        string suffix = "." + metric;
        var keys = ok.SelectMany(r => r.Metrics.Select(m => m.Key)).Where(k => k.EndsWith(suffix, StringComparison.Ordinal)).Distinct();
        foreach (var key in keys)
        {
            var bySeed = ok.Where(r => r.Metric(key) is double v && double.IsFinite(v)).Select(r => (r.Seed, r.Metric(key)!.Value)).ToList();
            if (bySeed.Count > 0)
                yield return (key[..^suffix.Length], bySeed);
        }
    }

    /// <summary>One line per VM that <see cref="Splits"/> finds, with every seed's share (at most <paramref name="maxSeeds"/> listed).</summary>
    public static IReadOnlyList<string> Lines(IReadOnlyList<RunResult> runs, int maxSeeds = 12)
    {
        var lines = new List<string>();
        foreach (var (vm, bySeed) in Splits(runs))
        {
            string list = SeedList(bySeed, maxSeeds);
            lines.Add($"Placement differs between seeds: {vm}'s VCPUs were stacked (two or more queued on one host CPU, "
                + $"{vm}.{Metric}) for {Pct(bySeed.Min(s => s.Share))}–{Pct(bySeed.Max(s => s.Share))} of the window — by seed: {list}. "
                + "Such placements can last a whole run, so these seeds sample placement states rather than scatter around one mean: read each seed's results beside its share (README, Known problems).");
        }
        return lines;
    }

    /// <summary>The short form under a catalog cell whose seeds disagree: "  {side}{vm}'s VCPUs stacked … by seed: …", one line per VM that <see cref="Splits"/> finds.</summary>
    public static IEnumerable<string> Short(IReadOnlyList<RunResult> runs, string side = "") =>
        Splits(runs).Select(s => $"  {side}{s.Vm}'s VCPUs were stacked on one host CPU ({Metric}) by seed: {SeedList(s.BySeed, int.MaxValue)}.");

    /// <summary>"seed share, …" for the first <paramref name="max"/> seeds, and how many there were when some are left out.</summary>
    private static string SeedList(IReadOnlyList<(ulong Seed, double Share)> bySeed, int max) =>
        string.Join(", ", bySeed.Take(max).Select(s => $"{s.Seed} {Pct(s.Share)}")) + (bySeed.Count > max ? $", … ({bySeed.Count} seeds)" : "");

    /// <summary>
    /// The successful runs split by <paramref name="vm"/>'s stacked share (below <see cref="ApartShare"/>:
    /// kept apart; otherwise stacked): count and mean of <paramref name="metric"/> and of the VM's spin
    /// share in each group (NaN means for an empty group).
    /// </summary>
    public static ((int N, double Mean, double Spin) Apart, (int N, double Mean, double Spin) Stacked) Groups(IReadOnlyList<RunResult> runs, string vm, string metric)
    {
        string stackedKey = $"{vm}.{Metric}", spinKey = $"{vm}.frac_spin";
        var ok = runs.Where(r => r.Error is null && r.Metric(stackedKey) is double s && double.IsFinite(s) && r.Metric(metric) is double m && double.IsFinite(m)).ToList();
        (int, double, double) Group(List<RunResult> g) => g.Count == 0 ? (0, double.NaN, double.NaN)
            : (g.Count, g.Average(r => r.Metric(metric)!.Value), g.Average(r => r.Metric(spinKey) ?? double.NaN));
        return (Group(ok.Where(r => r.Metric(stackedKey) < ApartShare).ToList()), Group(ok.Where(r => r.Metric(stackedKey) >= ApartShare).ToList()));
    }

    /// <summary><see cref="Groups"/> when both groups have runs, else null (the runs do not split by placement).</summary>
    public static ((int N, double Mean, double Spin) Apart, (int N, double Mean, double Spin) Stacked)? ByPlacement(IReadOnlyList<RunResult> runs, string vm, string metric)
    {
        var g = Groups(runs, vm, metric);
        return g.Apart.N == 0 || g.Stacked.N == 0 ? null : g;
    }

    /// <summary>A VM counts as run in one group when its VCPUs were preempted at least this share of their time…</summary>
    public const double GroupPreempted = 0.2;

    /// <summary>…while some of them ran and others waited for at most this share of the window.</summary>
    public const double GroupSplit = 0.02;

    /// <summary>
    /// VMs whose VCPUs were preempted for much of their time (<c>frac_preempted</c> at least
    /// <see cref="GroupPreempted"/>) yet almost never split (<c>frac_time_split</c> at most
    /// <see cref="GroupSplit"/>), averaged over the successful runs, and that spun at all (<c>frac_spin</c>): they ran and waited all together,
    /// as if gang-scheduled, so their spinners seldom wait on a preempted VCPU. A quiet model host can
    /// lock such phases in for a whole run (docs/lock-bench.md); a real host's other activity may
    /// break them. One line per such VM.
    /// </summary>
    public static IReadOnlyList<string> GroupLines(IReadOnlyList<RunResult> runs)
    {
        var ok = runs.Where(r => r.Error is null).ToList();
        var lines = new List<string>();
        if (ok.Count == 0)
            return lines;
        const string splitSuffix = ".frac_time_split", preemptedSuffix = ".frac_preempted";
        var vms = ok.SelectMany(r => r.Metrics.Select(m => m.Key)).Where(k => k.EndsWith(splitSuffix, StringComparison.Ordinal))
            .Select(k => k[..^splitSuffix.Length]).Distinct().ToList();
        foreach (var vm in vms)
        {
            double Mean(string suffix)
            {
                var v = ok.Select(r => r.Metric(vm + suffix)).OfType<double>().Where(double.IsFinite).ToList();
                return v.Count == ok.Count ? v.Average() : double.NaN;
            }
            double split = Mean(splitSuffix), preempted = Mean(preemptedSuffix), spin = Mean(".frac_spin");
            // A VM that never spins (hogs, loops) has no spinners for the grouping to matter to.
            if (!(preempted >= GroupPreempted && split <= GroupSplit && spin > 0))
                continue;
            lines.Add($"{vm}'s VCPUs ran and waited as one group: preempted {Pct(preempted)} of their time ({vm}.frac_preempted) "
                + $"but split for only {Pct(split)} of the window ({vm}.frac_time_split: some on a CPU while others waited){(ok.Count > 1 ? $", mean of {ok.Count} runs" : "")}. "
                + "Its spinners then seldom wait on a preempted VCPU. The model's quiet host can keep such a phase for a whole run; "
                + "a real host's other activity may break it (docs/lock-bench.md) — try vms[*].vcpu_start_spread or a longer run.");
        }
        return lines;
    }

    /// <summary>A share as a percentage with at most one decimal ("12.5%"), as the run notes print it.</summary>
    internal static string Pct(double share) => (share * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%";
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Live;

/// <summary>Nearest-rank percentiles of a latency sample, in µs (the model's <c>wakeup_latency_p99_us</c> uses the same rank).</summary>
public readonly record struct LatencySummary(long Count, double P50Us, double P90Us, double P99Us, double MaxUs)
{
    public static LatencySummary? Of(long[] sortedNs)
    {
        if (sortedNs.Length == 0)
            return null;
        return new LatencySummary(sortedNs.Length, Rank(sortedNs, 0.50), Rank(sortedNs, 0.90), Rank(sortedNs, 0.99), sortedNs[^1] / 1e3);
    }

    /// <summary>The value at rank ⌈n·p⌉ (1-based) of a sorted sample, in µs.</summary>
    public static double Rank(long[] sortedNs, double p)
    {
        int i = (int)Math.Min(sortedNs.Length - 1, Math.Max(0, Math.Ceiling(sortedNs.Length * p) - 1));
        return sortedNs[i] / 1e3;
    }
}

/// <summary>How a latency sample spreads over fixed buckets (µs upper edges), to compare shapes rather than a few ranks.</summary>
public static class LatencyHistogram
{
    /// <summary>Upper edges of the buckets in µs; the last bucket holds everything above the last edge.</summary>
    public static readonly double[] EdgesUs = [2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

    /// <summary>The fraction of the sample in each bucket (<see cref="EdgesUs"/>.Length + 1 of them), or null for an empty sample.</summary>
    public static double[]? Of(long[] ns)
    {
        if (ns.Length == 0)
            return null;
        var counts = new double[EdgesUs.Length + 1];
        foreach (long v in ns)
        {
            int b = 0;
            while (b < EdgesUs.Length && v / 1e3 > EdgesUs[b])
                b++;
            counts[b]++;
        }
        for (int i = 0; i < counts.Length; i++)
            counts[i] /= ns.Length;
        return counts;
    }

    /// <summary>Column headings: <c>≤2</c>, <c>≤5</c>, …, <c>&gt;10000</c> (µs).</summary>
    public static string[] Headings() =>
        [.. EdgesUs.Select(e => "≤" + e.ToString(CultureInfo.InvariantCulture)), ">" + EdgesUs[^1].ToString(CultureInfo.InvariantCulture)];
}

/// <summary>One task's row: the model's prediction and the live measurement side by side.</summary>
public sealed record ComparisonRow
{
    public required string Task { get; init; }
    public required string Kind { get; init; }
    public required int Nice { get; init; }
    public required string Cpus { get; init; }

    /// <summary>CPU time over the window, as a fraction of one CPU.</summary>
    public required double ModelShare { get; init; }
    public required double LiveShare { get; init; }

    /// <summary>The task's part of all the scenario's tasks' CPU time (insensitive to other load on the machine).</summary>
    public required double ModelOfTotal { get; init; }
    public required double LiveOfTotal { get; init; }

    public required double ModelVoluntaryPerSecond { get; init; }
    public required double LiveVoluntaryPerSecond { get; init; }
    public required double ModelInvoluntaryPerSecond { get; init; }
    public required double LiveInvoluntaryPerSecond { get; init; }

    /// <summary>Time runnable but waiting for a CPU, per second of window (model: wait_ns; live: schedstat run_delay), in ms/s.</summary>
    public required double ModelWaitMsPerSecond { get; init; }
    public required double LiveWaitMsPerSecond { get; init; }

    public LatencySummary? ModelLatency { get; init; }
    public LatencySummary? LiveLatency { get; init; }

    /// <summary>Fractions per <see cref="LatencyHistogram"/> bucket, or null without wake-ups.</summary>
    public double[]? ModelHistogram { get; init; }
    public double[]? LiveHistogram { get; init; }
}

/// <summary>The model's run of the scenario (deterministic) and its per-task wake-up latencies.</summary>
public sealed record ModelSide(RunResult Result, IReadOnlyDictionary<string, long[]> Latencies, string Scheduler, double Seconds);

/// <summary>
/// One model run with every task's start shifted by <paramref name="ShiftMs"/> (a fraction of the
/// scheduler tick): each task's share of the tasks' CPU time and its wake-up p99 (null without wake-ups).
/// A system with more than one steady cycle (docs/anomalies/live-hog-and-sleeper-bistable.md) can
/// settle into a different one at another start phase; a live run's phase against the tick is unknown.
/// </summary>
public sealed record ModelPhase(double ShiftMs, IReadOnlyDictionary<string, (double OfTotal, double? P99Us)> Tasks);

/// <summary>The comparison <c>plesim live</c> prints: one row per task, plus the conditions of both sides.</summary>
public sealed record LiveComparison
{
    public required string Scenario { get; init; }
    public required ulong Seed { get; init; }
    public required string ModelScheduler { get; init; }
    public required double ModelSeconds { get; init; }
    public required double WarmupSeconds { get; init; }
    public required LiveRun Live { get; init; }
    public required IReadOnlyList<ComparisonRow> Rows { get; init; }

    /// <summary>The model at several start phases (<see cref="ModelPhases"/>); empty unless asked for.</summary>
    public IReadOnlyList<ModelPhase> Phases { get; init; } = [];

    public const string NotDeterministic =
        "The live side is a wall-clock measurement on a shared machine: it is NOT deterministic and changes from run to run " +
        "with the machine's other load, its hypervisor (steal) and timer interrupts; the model side is deterministic (same scenario and seed, same numbers).";

    /// <summary>Runs the model on the scenario (one seed, the scenario's warm-up and duration) and keeps each task's latencies.</summary>
    public static ModelSide RunModel(Scenario scenario, ulong seed)
    {
        var model = new SystemRun(scenario, seed);
        var warmEnd = SimTime.Zero + scenario.Warmup;
        model.Sim.RunUntil(warmEnd);
        model.ResetStatistics();
        model.Sim.RunUntil(warmEnd + scenario.Duration);
        var result = new RunResult { Seed = seed, Events = model.Sim.EventsFired, EventDigest = model.Sim.Digest };
        model.Collect(result, scenario.Duration);
        var lat = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (task, list) in model.WakeLatenciesByTask)
        {
            var a = list.ToArray();
            Array.Sort(a);
            lat[task] = a;
        }
        return new ModelSide(result, lat, scenario.Host.Scheduler, scenario.Duration.TotalSeconds);
    }

    /// <summary>
    /// The model at <paramref name="phases"/> start phases: phase k shifts every task's
    /// <c>start_at</c> by k/<paramref name="phases"/> of the tick period (<c>host.sched.hz</c>).
    /// Phase 0 is <paramref name="asWritten"/>, the run of the scenario as written
    /// (<see cref="RunModel"/>); the others are run here with its seed.
    /// </summary>
    public static IReadOnlyList<ModelPhase> ModelPhases(Scenario scenario, ModelSide asWritten, int phases)
    {
        var list = new List<ModelPhase>(phases) { PhaseOf(asWritten, 0) };
        long tick = scenario.Host.Sched.TickPeriod.Ns;
        for (int k = 1; k < phases; k++)
        {
            var shift = new SimDuration(tick * k / phases);
            var shifted = scenario with { Host = scenario.Host with { Tasks = scenario.Host.Tasks.Select(t => t with { StartAt = t.StartAt + shift }).ToList() } };
            list.Add(PhaseOf(RunModel(shifted, asWritten.Result.Seed), shift.Ns / 1e6));
        }
        return list;
    }

    private static ModelPhase PhaseOf(ModelSide side, double shiftMs)
    {
        double total = side.Result.Tasks.Sum(r => (double)(long)r["cpu_ns"]!);
        var tasks = new Dictionary<string, (double, double?)>(StringComparer.Ordinal);
        foreach (var rec in side.Result.Tasks)
        {
            var name = (string)rec["task"]!;
            double? p99 = side.Latencies.TryGetValue(name, out var lat) && LatencySummary.Of(lat) is { } v ? v.P99Us : null;
            tasks[name] = (total > 0 ? (long)rec["cpu_ns"]! / total : 0, p99);
        }
        return new ModelPhase(shiftMs, tasks);
    }

    /// <summary>Matches the model's task rows with the live tasks by name.</summary>
    public static LiveComparison Build(Scenario scenario, ModelSide model, LiveRun live)
    {
        double modelTotal = 0, liveTotal = 0;
        var modelTasks = new Dictionary<string, Record>(StringComparer.Ordinal);
        foreach (var rec in model.Result.Tasks)
            modelTasks[(string)rec["task"]!] = rec;
        foreach (var t in live.Tasks)
        {
            liveTotal += t.Window.CpuNs;
            if (modelTasks.TryGetValue(t.Spec.Name, out var rec))
                modelTotal += (long)rec["cpu_ns"]!;
        }
        var rows = new List<ComparisonRow>();
        foreach (var t in live.Tasks)
        {
            if (!modelTasks.TryGetValue(t.Spec.Name, out var m))
                throw new LiveException($"the model has no task called '{t.Spec.Name}' (live and model task lists differ)");
            long mCpu = (long)m["cpu_ns"]!;
            double ls = live.WindowSeconds;
            rows.Add(new ComparisonRow
            {
                Task = t.Spec.Name,
                Kind = t.Spec.Kind.ToString().ToLowerInvariant(),
                Nice = t.Spec.Nice,
                Cpus = LivePlan.CpuList(t.Spec.AffinityMask),
                ModelShare = (double)m["cpu_share"]!,
                LiveShare = t.Window.CpuNs / 1e9 / ls,
                ModelOfTotal = modelTotal > 0 ? mCpu / modelTotal : 0,
                LiveOfTotal = liveTotal > 0 ? t.Window.CpuNs / liveTotal : 0,
                ModelVoluntaryPerSecond = (long)m["voluntary_switches"]! / model.Seconds,
                LiveVoluntaryPerSecond = t.Window.VoluntarySwitches / ls,
                ModelInvoluntaryPerSecond = (long)m["involuntary_switches"]! / model.Seconds,
                LiveInvoluntaryPerSecond = t.Window.InvoluntarySwitches / ls,
                ModelWaitMsPerSecond = (long)m["wait_ns"]! / 1e6 / model.Seconds,
                LiveWaitMsPerSecond = t.Window.RunDelayNs / 1e6 / ls,
                ModelLatency = model.Latencies.TryGetValue(t.Spec.Name, out var ml) ? LatencySummary.Of(ml) : null,
                LiveLatency = t.Spec.RecordsLatency ? LatencySummary.Of(t.Latencies) : null,
                ModelHistogram = ml is null ? null : LatencyHistogram.Of(ml),
                LiveHistogram = t.Spec.RecordsLatency ? LatencyHistogram.Of(t.Latencies) : null,
            });
        }
        return new LiveComparison
        {
            Scenario = scenario.SourceFile,
            Seed = model.Result.Seed,
            ModelScheduler = model.Scheduler,
            ModelSeconds = model.Seconds,
            WarmupSeconds = scenario.Warmup.TotalSeconds,
            Live = live,
            Rows = rows,
        };
    }

    /// <summary>The comparison as text tables for people.</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        var l = Live;
        sb.Append(Inv($"plesim live {Scenario}: model {ModelScheduler} (seed {Seed}, {ModelSeconds:0.###} s simulated) vs this machine ({l.WindowSeconds:0.###} s wall clock), each after {WarmupSeconds:0.###} s warm-up\n"));
        sb.Append(Inv($"machine: {l.Kernel}, {l.MachineCpus} CPU(s); load average {l.LoadBefore.One:0.00} {l.LoadBefore.Five:0.00} {l.LoadBefore.Fifteen:0.00} before, {l.LoadAfter.One:0.00} {l.LoadAfter.Five:0.00} {l.LoadAfter.Fifteen:0.00} after\n"));
        double liveTasks = l.Tasks.Sum(t => t.Window.CpuNs) / 1e9;
        sb.Append(Inv($"window: machine busy {l.MachineBusySeconds:0.00} CPU-s of {l.MachineCpus * l.WindowSeconds:0.00} (these tasks {liveTasks:0.00}, everything else {Math.Max(0, l.MachineBusySeconds - liveTasks):0.00}); steal {l.StealSeconds:0.00} CPU-s\n"));
        sb.Append($"tasks' autogroup {l.Autogroup ?? "(none)"}, cpu cgroup {l.CpuCgroup ?? "(unknown)"}\n");
        sb.Append("note: ").Append(NotDeterministic).Append('\n');
        sb.Append('\n');

        int w = Math.Max(4, Rows.Count == 0 ? 4 : Rows.Max(r => r.Task.Length));
        sb.Append("CPU share (of one CPU; 'of total': of all these tasks' CPU time)\n");
        sb.Append(Inv($"{"task".PadRight(w)}  {"kind",-8} {"nice",4} {"cpus",-5} {"model",7} {"live",7} {"diff",7}   {"model",8} {"live",8} {"diff",7}\n"));
        sb.Append(Inv($"{"".PadRight(w)}  {"",-8} {"",4} {"",-5} {"share",7} {"share",7} {"pp",7}   {"of total",8} {"of total",8} {"pp",7}\n"));
        foreach (var r in Rows)
        {
            sb.Append(Inv($"{r.Task.PadRight(w)}  {r.Kind,-8} {r.Nice,4} {r.Cpus,-5} {Pct(r.ModelShare),7} {Pct(r.LiveShare),7} {Pp(r.LiveShare - r.ModelShare),7}   "));
            sb.Append(Inv($"{Pct(r.ModelOfTotal),8} {Pct(r.LiveOfTotal),8} {Pp(r.LiveOfTotal - r.ModelOfTotal),7}\n"));
        }
        sb.Append('\n');
        sb.Append("context switches per second (voluntary: blocked; involuntary: preempted or sched_yield) and time waiting for a CPU\n");
        sb.Append(Inv($"{"task".PadRight(w)}  {"model vol",10} {"live vol",10} {"model inv",10} {"live inv",10} {"model wait",11} {"live wait",11}\n"));
        foreach (var r in Rows)
        {
            sb.Append(Inv($"{r.Task.PadRight(w)}  {r.ModelVoluntaryPerSecond,10:0.0} {r.LiveVoluntaryPerSecond,10:0.0} {r.ModelInvoluntaryPerSecond,10:0.0} {r.LiveInvoluntaryPerSecond,10:0.0} "));
            sb.Append(Inv($"{r.ModelWaitMsPerSecond,8:0.0}ms/s {r.LiveWaitMsPerSecond,8:0.0}ms/s\n"));
        }
        if (Rows.Any(r => r.ModelLatency is not null || r.LiveLatency is not null))
        {
            sb.Append('\n');
            sb.Append("wake-up latency, µs (model: wake-up to running; live: intended wake time or partner's write to running again)\n");
            sb.Append(Inv($"{"task".PadRight(w)}  {"side",-5} {"count",8} {"p50",9} {"p90",9} {"p99",9} {"max",9}\n"));
            foreach (var r in Rows.Where(r => r.ModelLatency is not null || r.LiveLatency is not null))
            {
                sb.Append(LatencyLine(r.Task.PadRight(w), "model", r.ModelLatency));
                sb.Append(LatencyLine("".PadRight(w), "live", r.LiveLatency));
            }
        }
        if (Rows.Any(r => r.ModelHistogram is not null || r.LiveHistogram is not null))
        {
            sb.Append('\n');
            sb.Append("wake-up latency histogram: % of wake-ups per bucket (upper edge, µs)\n");
            sb.Append(Inv($"{"task".PadRight(w)}  {"side",-5}"));
            foreach (var h in LatencyHistogram.Headings())
                sb.Append(Inv($" {h,6}"));
            sb.Append('\n');
            foreach (var r in Rows.Where(r => r.ModelHistogram is not null || r.LiveHistogram is not null))
            {
                sb.Append(HistogramLine(r.Task.PadRight(w), "model", r.ModelHistogram));
                sb.Append(HistogramLine("".PadRight(w), "live", r.LiveHistogram));
            }
        }
        if (Phases.Count > 1)
        {
            sb.Append('\n');
            sb.Append(Inv($"model at {Phases.Count} start phases (every task's start_at shifted by k/{Phases.Count} of a tick; phase 0 is the run above): of total, and wake-up p99 in µs, per phase\n"));
            sb.Append(Inv($"{"task".PadRight(w)}  {"shift ms",-8}"));
            foreach (var ph in Phases)
                sb.Append(Inv($" {ph.ShiftMs,9:0.###}"));
            sb.Append('\n');
            foreach (var r in Rows)
            {
                sb.Append(Inv($"{r.Task.PadRight(w)}  {"of total",-8}"));
                foreach (var ph in Phases)
                    sb.Append(Inv($" {(ph.Tasks.TryGetValue(r.Task, out var v) ? Pct(v.OfTotal) : "-"),9}"));
                sb.Append('\n');
                if (Phases.Any(ph => ph.Tasks.TryGetValue(r.Task, out var v) && v.P99Us is not null))
                {
                    sb.Append(Inv($"{"".PadRight(w)}  {"p99 µs",-8}"));
                    foreach (var ph in Phases)
                        sb.Append(Inv($" {(ph.Tasks.TryGetValue(r.Task, out var v) && v.P99Us is { } p ? p.ToString("0.0", CultureInfo.InvariantCulture) : "-"),9}"));
                    sb.Append('\n');
                }
            }
        }
        var dropped = Live.Tasks.Where(t => t.LatenciesDropped > 0).ToList();
        foreach (var t in dropped)
            sb.Append(Inv($"warning: {t.Spec.Name}: {t.LatenciesDropped} wake-ups did not fit the latency buffer and are not counted\n"));
        return sb.ToString();
    }

    private static string LatencyLine(string task, string side, LatencySummary? s) => s is { } v
        ? Inv($"{task}  {side,-5} {v.Count,8} {v.P50Us,9:0.0} {v.P90Us,9:0.0} {v.P99Us,9:0.0} {v.MaxUs,9:0.0}\n")
        : Inv($"{task}  {side,-5} {0,8} {"-",9} {"-",9} {"-",9} {"-",9}\n");

    private static string HistogramLine(string task, string side, double[]? h)
    {
        var sb = new StringBuilder(Inv($"{task}  {side,-5}"));
        for (int i = 0; i <= LatencyHistogram.EdgesUs.Length; i++)
            sb.Append(Inv($" {(h is null ? "-" : (h[i] * 100).ToString("0.0", CultureInfo.InvariantCulture)),6}"));
        return sb.Append('\n').ToString();
    }

    private static string Pct(double f) => (f * 100).ToString("0.00", CultureInfo.InvariantCulture) + "%";

    private static string Pp(double f) => (f * 100).ToString("+0.00;-0.00;0.00", CultureInfo.InvariantCulture);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>The comparison as JSON (stable key order; the live numbers differ run to run).</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var j = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            j.WriteStartObject();
            j.WriteString("scenario", Scenario);
            j.WriteString("note", NotDeterministic);
            j.WriteStartObject("model");
            j.WriteString("scheduler", ModelScheduler);
            j.WriteNumber("seed", Seed);
            j.WriteNumber("seconds", ModelSeconds);
            j.WriteNumber("warmup_seconds", WarmupSeconds);
            j.WriteEndObject();
            j.WriteStartObject("live");
            j.WriteString("kernel", Live.Kernel);
            j.WriteNumber("cpus", Live.MachineCpus);
            j.WriteNumber("window_seconds", Live.WindowSeconds);
            j.WriteStartArray("load_average_before");
            j.WriteNumberValue(Live.LoadBefore.One);
            j.WriteNumberValue(Live.LoadBefore.Five);
            j.WriteNumberValue(Live.LoadBefore.Fifteen);
            j.WriteEndArray();
            j.WriteStartArray("load_average_after");
            j.WriteNumberValue(Live.LoadAfter.One);
            j.WriteNumberValue(Live.LoadAfter.Five);
            j.WriteNumberValue(Live.LoadAfter.Fifteen);
            j.WriteEndArray();
            j.WriteNumber("steal_cpu_seconds", Live.StealSeconds);
            j.WriteNumber("machine_busy_cpu_seconds", Live.MachineBusySeconds);
            j.WriteString("autogroup", Live.Autogroup);
            j.WriteString("cpu_cgroup", Live.CpuCgroup);
            j.WriteEndObject();
            j.WriteStartArray("tasks");
            foreach (var r in Rows)
            {
                j.WriteStartObject();
                j.WriteString("task", r.Task);
                j.WriteString("kind", r.Kind);
                j.WriteNumber("nice", r.Nice);
                j.WriteString("cpus", r.Cpus);
                Side(j, "model", r.ModelShare, r.ModelOfTotal, r.ModelVoluntaryPerSecond, r.ModelInvoluntaryPerSecond, r.ModelWaitMsPerSecond, r.ModelLatency, r.ModelHistogram);
                Side(j, "live", r.LiveShare, r.LiveOfTotal, r.LiveVoluntaryPerSecond, r.LiveInvoluntaryPerSecond, r.LiveWaitMsPerSecond, r.LiveLatency, r.LiveHistogram);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            if (Phases.Count > 1)
            {
                j.WriteStartArray("model_phases");
                foreach (var ph in Phases)
                {
                    j.WriteStartObject();
                    j.WriteNumber("start_shift_ms", ph.ShiftMs);
                    j.WriteStartArray("tasks");
                    foreach (var (task, v) in ph.Tasks.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    {
                        j.WriteStartObject();
                        j.WriteString("task", task);
                        j.WriteNumber("cpu_of_total", v.OfTotal);
                        if (v.P99Us is { } p)
                            j.WriteNumber("wakeup_p99_us", p);
                        j.WriteEndObject();
                    }
                    j.WriteEndArray();
                    j.WriteEndObject();
                }
                j.WriteEndArray();
            }
            j.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static void Side(Utf8JsonWriter j, string name, double share, double ofTotal, double vol, double invol, double waitMs, LatencySummary? lat, double[]? histogram)
    {
        j.WriteStartObject(name);
        j.WriteNumber("cpu_share", share);
        j.WriteNumber("cpu_of_total", ofTotal);
        j.WriteNumber("voluntary_switches_per_second", vol);
        j.WriteNumber("involuntary_switches_per_second", invol);
        j.WriteNumber("wait_ms_per_second", waitMs);
        if (lat is { } v)
        {
            j.WriteStartObject("wakeup_latency_us");
            j.WriteNumber("count", v.Count);
            j.WriteNumber("p50", v.P50Us);
            j.WriteNumber("p90", v.P90Us);
            j.WriteNumber("p99", v.P99Us);
            j.WriteNumber("max", v.MaxUs);
            j.WriteEndObject();
        }
        if (histogram is not null)
        {
            j.WriteStartArray("wakeup_latency_histogram");
            for (int i = 0; i < histogram.Length; i++)
            {
                j.WriteStartObject();
                if (i < LatencyHistogram.EdgesUs.Length)
                    j.WriteNumber("le_us", LatencyHistogram.EdgesUs[i]);
                else
                    j.WriteNull("le_us");
                j.WriteNumber("fraction", histogram[i]);
                j.WriteEndObject();
            }
            j.WriteEndArray();
        }
        j.WriteEndObject();
    }
}

using System.Text;
using System.Text.Json;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Hypervisor;

namespace PleSim.Experiments.Compare;

/// <summary>One policy's runs and what <c>plesim compare</c> reports about them.</summary>
public sealed record PolicyOutcome(PolicySpec Policy, Scenario Scenario, RunResult[] Runs)
{
    public int Failed => Runs.Count(r => r.Error is not null);

    /// <summary>The throughput metric over the successful runs (mean, 95% CI).</summary>
    public MetricSummary Throughput(string metric) =>
        MetricSummary.Of(metric, [.. Runs.Where(r => r.Error is null).Select(r => r.Metric(metric)).OfType<double>()]);

    /// <summary>Mean over successful runs of a per-run sum over every VM of <c>VM.suffix</c>.</summary>
    public double MeanOverVms(string suffix, double scale = 1)
    {
        var ok = Runs.Where(r => r.Error is null).ToList();
        if (ok.Count == 0)
            return double.NaN;
        return ok.Average(r => SumOverVms(r, suffix)) * scale;
    }

    /// <summary>Sum over every VM of the scenario of <c>VM.suffix</c> in run <paramref name="r"/> (absent counts 0).</summary>
    public double SumOverVms(RunResult r, string suffix)
    {
        double sum = 0;
        foreach (var vm in Scenario.Vms)
        {
            if (r.Metric(vm.Name + "." + suffix) is double v && double.IsFinite(v))
                sum += v;
        }
        return sum;
    }

    /// <summary>Mean over successful runs of <paramref name="vm"/>'s <c>frac_vcpus_stacked</c> (ground truth, decision 0093); NaN when no run has it.</summary>
    public double StackedShare(string vm)
    {
        var v = Runs.Where(r => r.Error is null).Select(r => r.Metric(vm + "." + MetricDefinitions.VcpusStacked)).OfType<double>().ToList();
        return v.Count == 0 ? double.NaN : v.Average();
    }

    /// <summary>Mean over successful runs of <paramref name="vm"/>'s <c>cpus_used</c> (host CPU time of its VCPU threads, in CPUs); NaN when no run has it.</summary>
    public double CpusUsed(string vm)
    {
        var v = Runs.Where(r => r.Error is null).Select(r => r.Metric(vm + ".cpus_used")).OfType<double>().Where(double.IsFinite).ToList();
        return v.Count == 0 ? double.NaN : v.Average();
    }

    /// <summary>Spin time of all VCPUs, by ground-truth cause, in VCPU-milliseconds per simulated second (mean over runs).</summary>
    public IReadOnlyList<(string Cause, double MsPerSecond)> SpinByCause()
    {
        double perSecond = 1e-6 / Scenario.Duration.TotalSeconds;
        return [.. GroundTruth.Causes.Select(c => (GroundTruth.Name(c), MeanOverVms("spin_ns." + GroundTruth.Name(c), perSecond)))];
    }

    /// <summary>yield_to calls of the PAUSE handlers in all runs, by ground-truth label (sums over runs and VMs).</summary>
    public IReadOnlyList<(string Label, double Calls)> YieldToLabels() =>
        [.. GroundTruth.Labels.Select(l => (GroundTruth.Name(l), Runs.Where(r => r.Error is null).Sum(r => SumOverVms(r, "yield_to." + GroundTruth.Name(l)))))];

    /// <summary>
    /// yield_to precision: calls that boosted a VCPU the spinner waited on (labels holder,
    /// next_waiter, waiter_ahead, ack_debtor) over all yield_to calls, summed over runs and VMs
    /// (NaN when there were none). Failed calls count against it.
    /// </summary>
    public (double Hits, double Calls, double Precision) YieldToPrecision()
    {
        var labels = YieldToLabels();
        double calls = labels.Sum(l => l.Calls);
        double hits = labels.Where(l => IsHit(l.Label)).Sum(l => l.Calls);
        return (hits, calls, calls > 0 ? hits / calls : double.NaN);
    }

    private static bool IsHit(string label) => label is "holder" or "next_waiter" or "waiter_ahead" or "ack_debtor";
}

/// <summary>The result of <c>plesim compare</c>: the same scenario under each policy, runs paired by seed.</summary>
public sealed record PolicyComparisonResult(string ScenarioFile, string ScenarioName, string Metric, IReadOnlyList<ulong> Seeds, IReadOnlyList<PolicyOutcome> Outcomes)
{
    /// <summary>The VM the compared metric belongs to (its name before the first dot), or null when the metric is not a VM's.</summary>
    public string? MeasuredVm
    {
        get
        {
            int dot = Metric.IndexOf('.', StringComparison.Ordinal);
            return dot > 0 && Outcomes.Count > 0 && Outcomes[0].Scenario.Vms.Any(v => v.Name == Metric[..dot]) ? Metric[..dot] : null;
        }
    }

    /// <summary>Gain of policy <paramref name="i"/> over the first on the metric, paired by seed (null for the first).</summary>
    public (double Gain, double Low, double High, int Pairs)? Gain(int i)
    {
        if (i == 0)
            return null;
        var baseline = Outcomes[0];
        return MetricSummary.PairedGain(Outcomes[i].Runs, baseline.Runs, Metric, baseline.Throughput(Metric).Mean);
    }

    /// <summary>
    /// Pairs of policies whose results were identical on every seed: no failure, the compared metric
    /// reported, and every metric both runs report equal bit for bit (the event digests may differ:
    /// a policy can add events, such as a different lock's, that change no result). Two different
    /// policies that never differ in a result usually mean what differs between them was never exercised.
    /// </summary>
    public IReadOnlyList<(int A, int B)> IdenticalPairs()
    {
        var pairs = new List<(int, int)>();
        for (int a = 0; a < Outcomes.Count; a++)
        {
            for (int b = a + 1; b < Outcomes.Count; b++)
            {
                if (Identical(Outcomes[a].Runs, Outcomes[b].Runs))
                    pairs.Add((a, b));
            }
        }
        return pairs;
    }

    private bool Identical(RunResult[] x, RunResult[] y)
    {
        if (x.Length == 0 || x.Length != y.Length)
            return false;
        for (int k = 0; k < x.Length; k++)
        {
            var (p, q) = (x[k], y[k]);
            if (p.Error is not null || q.Error is not null || p.Seed != q.Seed || p.Metric(Metric) is null || q.Metric(Metric) is null)
                return false;
            var other = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var (key, value) in q.Metrics)
                other[key] = value;
            foreach (var (key, value) in p.Metrics)
            {
                if (other.TryGetValue(key, out var v) && BitConverter.DoubleToInt64Bits(v) != BitConverter.DoubleToInt64Bits(value))
                    return false;
            }
        }
        return true;
    }

    /// <summary>One note per pair of <see cref="IdenticalPairs"/>, printed under the table.</summary>
    public IReadOnlyList<string> IdenticalNotes() =>
        IdenticalPairs().Select(p =>
            $"Note: {Outcomes[p.B].Policy.Name} and {Outcomes[p.A].Policy.Name} gave identical results on every seed ({Seeds.Count} seeds; every metric both report equal): " +
            "what differs between them was never exercised here; look for why before reading the two rows as a comparison.").ToList();

    /// <summary>The JSON report (every policy: overrides, runs with seeds and digests, the summary columns, every cause and label).</summary>
    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("scenario", ScenarioName);
            w.WriteString("file", ScenarioFile);
            w.WriteString("metric", Metric);
            w.WriteNumber("runs", Seeds.Count);
            w.WriteStartArray("seeds");
            foreach (var s in Seeds)
                w.WriteNumberValue(s);
            w.WriteEndArray();
            w.WriteString("baseline", Outcomes[0].Policy.Name);
            w.WriteStartArray("policies");
            for (int i = 0; i < Outcomes.Count; i++)
                WritePolicy(w, i);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    private void WritePolicy(Utf8JsonWriter w, int i)
    {
        var o = Outcomes[i];
        w.WriteStartObject();
        w.WriteString("policy", o.Policy.Name);
        w.WriteString("kind", o.Policy.Kind);
        w.WriteStartObject("overrides");
        foreach (var s in o.Policy.Overrides)
            w.WriteString(s.Path, s.Value);
        w.WriteEndObject();
        w.WriteString("scenario_digest", o.Scenario.Digest);
        w.WriteNumber("failed", o.Failed);
        var t = o.Throughput(Metric);
        w.WriteStartObject("throughput");
        w.WriteNumber("n", t.N);
        Num(w, "mean", t.Mean);
        Num(w, "ci95_low", t.Ci95Low);
        Num(w, "ci95_high", t.Ci95High);
        w.WriteEndObject();
        if (Gain(i) is { } g)
        {
            w.WriteStartObject("gain_over_baseline");
            w.WriteNumber("pairs", g.Pairs);
            Num(w, "mean", g.Gain);
            Num(w, "ci95_low", g.Low);
            Num(w, "ci95_high", g.High);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("gain_over_baseline");
        }
        var spin = o.SpinByCause();
        w.WriteStartObject("spin_ms_per_s");
        Num(w, "total", spin.Sum(s => s.MsPerSecond));
        foreach (var (cause, v) in spin)
            Num(w, cause, v);
        w.WriteEndObject();
        Num(w, "pause_exits_per_s", o.MeanOverVms("pause_exits_per_second"));
        var (hits, calls, precision) = o.YieldToPrecision();
        Num(w, "yield_to_per_s", o.Runs.Any(r => r.Error is null) ? calls / o.Runs.Count(r => r.Error is null) / o.Scenario.Duration.TotalSeconds : double.NaN);
        Num(w, "yield_to_calls", calls);
        Num(w, "yield_to_hits", hits);
        Num(w, "yield_to_precision", precision);
        if (MeasuredVm is { } vm)
        {
            w.WriteString("stacked_vm", vm);
            Num(w, MetricDefinitions.VcpusStacked, o.StackedShare(vm));
        }
        w.WriteStartObject("cpus_used");
        foreach (var v in o.Scenario.Vms)
            Num(w, v.Name, o.CpusUsed(v.Name));
        w.WriteEndObject();
        w.WriteStartObject("yield_to_labels");
        foreach (var (label, n) in o.YieldToLabels())
            Num(w, label, n);
        w.WriteEndObject();
        w.WriteStartArray("runs");
        foreach (var r in o.Runs)
        {
            w.WriteStartObject();
            w.WriteNumber("seed", r.Seed);
            w.WriteString("status", r.Status);
            if (r.Error is not null)
                w.WriteString("error", r.Error);
            if (r.Metric(Metric) is double v)
                Num(w, Metric, v);
            w.WriteString("event_digest", r.EventDigest.ToString("x16", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Num(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v))
            w.WriteNumber(name, v);
        else
            w.WriteNull(name);
    }

    /// <summary>One CSV row per policy with the table's columns (invariant culture, empty = no value).</summary>
    public string ToCsv()
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        var causes = GroundTruth.Causes.Select(GroundTruth.Name).ToList();
        var sb = new StringBuilder();
        sb.Append("policy,kind,runs,failed,").Append(Metric).Append("_mean,").Append(Metric).Append("_ci95_low,").Append(Metric).Append("_ci95_high,gain,gain_ci95_low,gain_ci95_high,spin_ms_per_s");
        foreach (var c in causes)
            sb.Append(",spin_ms_per_s.").Append(c);
        sb.Append(",pause_exits_per_s,yield_to_calls,yield_to_hits,yield_to_precision,frac_vcpus_stacked");
        var vmNames = Outcomes[0].Scenario.Vms.Select(v => v.Name).ToList();
        foreach (var n in vmNames)
            sb.Append(',').Append(Csv(n + ".cpus_used"));
        sb.Append('\n');
        var vm = MeasuredVm;
        string F(double v) => double.IsFinite(v) ? v.ToString("R", ci) : "";
        for (int i = 0; i < Outcomes.Count; i++)
        {
            var o = Outcomes[i];
            var t = o.Throughput(Metric);
            var g = Gain(i);
            var spin = o.SpinByCause();
            var (hits, calls, precision) = o.YieldToPrecision();
            sb.Append(Csv(o.Policy.Name)).Append(',').Append(Csv(o.Policy.Kind)).Append(',').Append(o.Runs.Length.ToString(ci)).Append(',').Append(o.Failed.ToString(ci));
            sb.Append(',').Append(F(t.Mean)).Append(',').Append(F(t.Ci95Low)).Append(',').Append(F(t.Ci95High));
            sb.Append(',').Append(g is { } x ? F(x.Gain) : "").Append(',').Append(g is { } y ? F(y.Low) : "").Append(',').Append(g is { } z ? F(z.High) : "");
            sb.Append(',').Append(F(spin.Sum(s => s.MsPerSecond)));
            foreach (var (_, v) in spin)
                sb.Append(',').Append(F(v));
            sb.Append(',').Append(F(o.MeanOverVms("pause_exits_per_second"))).Append(',').Append(F(calls)).Append(',').Append(F(hits)).Append(',').Append(F(precision));
            sb.Append(',').Append(vm is null ? "" : F(o.StackedShare(vm)));
            foreach (var n in vmNames)
                sb.Append(',').Append(F(o.CpusUsed(n)));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    private static string Csv(string s) => s.Contains(',', StringComparison.Ordinal) || s.Contains('"', StringComparison.Ordinal) ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;
}

/// <summary>
/// <c>plesim compare</c>: runs one scenario under several policies with the same seeds (run k of
/// every policy uses seed + k), through the ordinary <see cref="Runner"/>.
/// </summary>
public static class PolicyComparison
{
    /// <summary>Resolves every policy against the scenario (its VM count) and loads one scenario per policy; problems throw.</summary>
    public static IReadOnlyList<(PolicySpec Spec, Scenario Scenario)> Prepare(string file, IReadOnlyList<string> policies, IReadOnlyList<Override> baseOverrides)
    {
        if (policies.Count == 0)
            throw new ArgumentException("--policies needs at least one policy");
        foreach (var dup in policies.GroupBy(p => p.Trim()).Where(g => g.Count() > 1))
            throw new ArgumentException($"policy '{dup.Key}' is listed twice");
        var baseScenario = ScenarioLoader.LoadFile(file, baseOverrides);
        if (baseScenario.Kind != "system" || baseScenario.Vms.Count == 0)
            throw new ArgumentException($"{file}: compare needs a system scenario with VMs (kind '{baseScenario.Kind}', {baseScenario.Vms.Count} VM(s))");
        var list = new List<(PolicySpec, Scenario)>();
        foreach (var p in policies)
        {
            var spec = ComparePolicies.Resolve(p, baseScenario.Vms.Count);
            list.Add((spec, ScenarioLoader.LoadFile(file, [.. baseOverrides, .. spec.Overrides])));
        }
        return list;
    }

    /// <summary>Runs every prepared policy on <paramref name="seeds"/>; <paramref name="onRunDone"/> is called as each run finishes.</summary>
    public static PolicyComparisonResult Run(string file, string metric, IReadOnlyList<(PolicySpec Spec, Scenario Scenario)> prepared, IReadOnlyList<ulong> seeds,
        int parallelism = 0, Action<RunResult>? onRunDone = null, CancellationToken cancel = default)
    {
        var outcomes = new List<PolicyOutcome>();
        foreach (var (spec, scenario) in prepared)
        {
            var runs = Runner.RunMany(scenario, seeds, null, parallelism, onRunDone, cancel);
            outcomes.Add(new PolicyOutcome(spec, scenario, runs));
        }
        return new PolicyComparisonResult(file, prepared[0].Scenario.Name, metric, seeds, outcomes);
    }
}

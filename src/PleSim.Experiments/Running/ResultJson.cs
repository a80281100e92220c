using System.Text;
using System.Text.Json;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Running;

/// <summary>
/// Writes the <c>run --json</c> contract. Output is deterministic: fixed field order, shortest
/// round-trip number formatting, no wall-clock values.
/// <code>
/// { "scenario": name, "digest": sha256, "runs": [ { "seed", "status", "metrics": {…}, "cpus": […], "tasks": […], "groups": […], "vms": […] } ],
///   "summary": { metric: { "mean", "stdev", "ci95_low", "ci95_high", "n", "median", "p5", "p95" } } }
/// </code>
/// </summary>
public static class ResultJson
{
    public static string Write(Scenario scenario, IReadOnlyList<RunResult> runs)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("scenario", scenario.Name);
            w.WriteString("digest", scenario.Digest);
            w.WriteString("kind", scenario.Kind);
            w.WriteString("duration", scenario.Duration.ToString());
            w.WriteString("warmup", scenario.Warmup.ToString());
            if (scenario.Overrides.Count > 0)
            {
                w.WriteStartObject("overrides");
                foreach (var o in scenario.Overrides)
                    w.WriteString(o.Path, o.Value);
                w.WriteEndObject();
            }
            w.WriteStartArray("runs");
            foreach (var r in runs)
                WriteRun(w, r);
            w.WriteEndArray();
            w.WriteStartObject("summary");
            foreach (var s in MetricSummary.OfRuns(runs))
                WriteSummary(w, s);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    public static void WriteRun(Utf8JsonWriter w, RunResult r)
    {
        w.WriteStartObject();
        w.WriteNumber("seed", r.Seed);
        w.WriteString("status", r.Status);
        if (r.Error is not null)
            w.WriteString("error", r.Error);
        w.WriteNumber("events", r.Events);
        w.WriteString("event_digest", r.EventDigest.ToString("x16", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteStartObject("metrics");
        foreach (var (k, v) in r.Metrics)
            WriteNumber(w, k, v);
        w.WriteEndObject();
        WriteRecords(w, "cpus", r.Cpus);
        WriteRecords(w, "tasks", r.Tasks);
        WriteRecords(w, "groups", r.Groups);
        WriteRecords(w, "vms", r.Vms);
        w.WriteEndObject();
    }

    public static void WriteSummary(Utf8JsonWriter w, MetricSummary s)
    {
        w.WriteStartObject(s.Metric);
        WriteNumber(w, "mean", s.Mean);
        WriteNumber(w, "stdev", s.Stdev);
        WriteNumber(w, "ci95_low", s.Ci95Low);
        WriteNumber(w, "ci95_high", s.Ci95High);
        w.WriteNumber("n", s.N);
        WriteNumber(w, "median", s.Median);
        WriteNumber(w, "p5", s.P5);
        WriteNumber(w, "p95", s.P95);
        w.WriteEndObject();
    }

    public static void WriteRecords(Utf8JsonWriter w, string name, IReadOnlyList<Record> records)
    {
        w.WriteStartArray(name);
        foreach (var rec in records)
        {
            w.WriteStartObject();
            foreach (var (k, v) in rec.Fields)
                WriteValue(w, k, v);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>JSON has no NaN or infinity: such values are written as null.</summary>
    public static void WriteNumber(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v))
            w.WriteNumber(name, v);
        else
            w.WriteNull(name);
    }

    private static void WriteValue(Utf8JsonWriter w, string name, object v)
    {
        switch (v)
        {
            case string s: w.WriteString(name, s); break;
            case long l: w.WriteNumber(name, l); break;
            case int i: w.WriteNumber(name, i); break;
            case double d: WriteNumber(w, name, d); break;
            case bool b: w.WriteBoolean(name, b); break;
            default: w.WriteString(name, Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)); break;
        }
    }
}

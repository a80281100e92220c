using System.Text;
using System.Text.Json;
using PleSim.Experiments.Running;

namespace PleSim.Experiments.Sweeps;

/// <summary>
/// The JSON export of a sweep (<c>points.json</c>): axes, one entry per point with its assignments,
/// run counts, seeds and every metric's statistics, the paired comparisons, failures and missing
/// runs. Deterministic: no timings, no paths of the machine it ran on.
/// </summary>
public static class SweepJson
{
    public static string Write(SweepResults results, IReadOnlyList<PairedComparison> comparisons)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("scenario", results.ScenarioName);
            w.WriteString("sweep_digest", results.Meta["sweep_digest"]);
            w.WriteString("scenario_digest", results.Meta["scenario_digest"]);
            w.WriteString("mode", results.Meta["mode"]);
            w.WriteNumber("runs_per_point", results.RunsPerPoint);
            w.WriteString("adaptive", results.Meta["adaptive"]);
            w.WriteStartArray("axes");
            foreach (var a in results.Axes)
            {
                w.WriteStartObject();
                w.WriteString("path", a.Path);
                w.WriteBoolean("varied", a.Varied);
                w.WriteStartArray("values");
                foreach (var v in a.Values)
                    w.WriteStringValue(v);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("points");
            foreach (var p in results.Summaries())
            {
                w.WriteStartObject();
                w.WriteNumber("point", p.Point.Point);
                w.WriteString("label", p.Point.Label);
                w.WriteStartObject("set");
                foreach (var (k, v) in p.Point.Assignments)
                    w.WriteString(k, v);
                w.WriteEndObject();
                w.WriteString("scenario_digest", p.Point.ScenarioDigest);
                w.WriteNumber("runs_ok", p.Ok);
                w.WriteNumber("runs_failed", p.Failed);
                w.WriteStartArray("seeds");
                foreach (var s in p.Seeds)
                    w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteStartObject("metrics");
                foreach (var m in p.Metrics)
                    ResultJson.WriteSummary(w, m);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("comparisons");
            foreach (var c in comparisons)
            {
                w.WriteStartObject();
                w.WriteString("metric", c.Metric);
                w.WriteString("axis", c.Axis);
                w.WriteString("baseline", c.BaselineValue);
                w.WriteString("value", c.Value);
                w.WriteString("context", c.Context);
                w.WriteNumber("n", c.Difference.N);
                ResultJson.WriteNumber(w, "baseline_mean", c.BaselineMean);
                ResultJson.WriteNumber(w, "mean_difference", c.Difference.Mean);
                ResultJson.WriteNumber(w, "ci95_low", c.Difference.Ci95Low);
                ResultJson.WriteNumber(w, "ci95_high", c.Difference.Ci95High);
                ResultJson.WriteNumber(w, "relative_difference", c.Relative);
                w.WriteBoolean("significant", c.Significant);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("failed");
            foreach (var r in results.Runs.Where(r => !r.Ok))
            {
                w.WriteStartObject();
                w.WriteNumber("point", r.Point);
                w.WriteNumber("run", r.Run);
                w.WriteNumber("seed", r.Seed);
                w.WriteString("error", r.Error);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("missing");
            foreach (var (p, k) in results.Missing())
            {
                w.WriteStartObject();
                w.WriteNumber("point", p);
                w.WriteNumber("run", k);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}

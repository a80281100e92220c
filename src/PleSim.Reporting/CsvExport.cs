using System.Globalization;
using CsvHelper;
using PleSim.Experiments.Running;

namespace PleSim.Reporting;

/// <summary>CSV exports of run results (CsvHelper, RFC 4180 quoting, LF line ends, invariant number format).</summary>
public static class CsvExport
{
    private static readonly CsvWriterOptions Options = CsvWriterOptions.Default with { NewLine = "\n" };

    /// <summary>Writes rows (the first is the header) as CSV text.</summary>
    public static string Write(IEnumerable<string[]> rows)
    {
        using var sw = new StringWriter(CultureInfo.InvariantCulture);
        using (var csv = CsvWriter.Create(sw, Options, leaveOpen: true))
        {
            foreach (var row in rows)
                csv.WriteRecord(row);
        }
        return sw.ToString();
    }

    /// <summary>One row per run: seed, status, error, then every metric seen in any run.</summary>
    public static string Runs(IReadOnlyList<RunResult> runs)
    {
        var metrics = runs.SelectMany(r => r.Metrics.Select(m => m.Key)).Distinct().ToList();
        var rows = new List<string[]>();
        rows.Add(["seed", "status", "error", .. metrics]);
        foreach (var r in runs)
        {
            rows.Add([r.Seed.ToString(CultureInfo.InvariantCulture), r.Status, r.Error ?? "",
                .. metrics.Select(m => r.Metric(m) is double v ? Num(v) : "")]);
        }
        return Write(rows);
    }

    /// <summary>One row per seed and slice of the window: seed, from_ms, to_ms, status, error, every metric.</summary>
    public static string Timeline(IReadOnlyList<(ulong Seed, TimelineWindow[] Windows)> runs)
    {
        var metrics = runs.SelectMany(r => r.Windows).SelectMany(w => w.Result.Metrics.Select(m => m.Key)).Distinct().ToList();
        var rows = new List<string[]> { new[] { "seed", "from_ms", "to_ms", "status", "error" }.Concat(metrics).ToArray() };
        foreach (var (seed, windows) in runs)
        {
            foreach (var w in windows)
            {
                rows.Add([seed.ToString(CultureInfo.InvariantCulture), Num(w.From.Ns / 1e6), Num(w.To.Ns / 1e6), w.Result.Status, w.Result.Error ?? "",
                    .. metrics.Select(m => w.Result.Metric(m) is double v ? Num(v) : "")]);
            }
        }
        return Write(rows);
    }

    /// <summary>One row per metric: n, mean, stdev, CI, median, p5, p95, after optional leading columns (e.g. sweep keys).</summary>
    public static string Summary(IReadOnlyList<MetricSummary> summaries, IReadOnlyList<(string Name, string Value)>? leading = null)
    {
        leading ??= [];
        var rows = new List<string[]>();
        rows.Add([.. leading.Select(l => l.Name), "metric", "n", "mean", "stdev", "ci95_low", "ci95_high", "median", "p5", "p95"]);
        foreach (var s in summaries)
        {
            rows.Add([.. leading.Select(l => l.Value), s.Metric, s.N.ToString(CultureInfo.InvariantCulture),
                Num(s.Mean), Num(s.Stdev), Num(s.Ci95Low), Num(s.Ci95High), Num(s.Median), Num(s.P5), Num(s.P95)]);
        }
        return Write(rows);
    }

    /// <summary>One row per record (CPU, task, group, VM), one column per field; numbers in full.</summary>
    public static string Records(IReadOnlyList<Record> records)
    {
        if (records.Count == 0)
            return "";
        var fields = records[0].Fields.Select(f => f.Key).ToList();
        var rows = new List<string[]> { fields.ToArray() };
        foreach (var r in records)
            rows.Add(fields.Select(f => r[f] switch
            {
                null => "",
                double d => Num(d),
                IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
                var o => o.ToString() ?? "",
            }).ToArray());
        return Write(rows);
    }

    /// <summary>Shortest round-trip text of a number; empty for NaN/infinity.</summary>
    public static string Num(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "";
}

using System.Globalization;
using PleSim.Experiments.Running;

namespace PleSim.Reporting;

/// <summary>
/// Axis titles of the sweep plots, each with its unit in brackets (decision 0029): a metric's unit
/// comes from <see cref="MetricDefinitions"/>, a swept key's from its name (below). The x axis of
/// a metric plot places the swept values at even steps; when they grow by a constant factor that
/// is a logarithmic scale, and the title says "log scale"; when they are numbers at uneven steps
/// it says the axis is not to scale.
/// </summary>
public static class AxisLabels
{
    /// <summary>Units of numeric scenario keys, by their last segment (kernel and library units; see the scenario reference).</summary>
    private static readonly Dictionary<string, string> KeyUnits = new(StringComparer.Ordinal)
    {
        // VMX PLE_Gap / PLE_Window and SVM's pause filter threshold count TSC cycles; the filter count counts PAUSEs.
        ["ple_window"] = "cycles",
        ["ple_gap"] = "cycles",
        ["ple_window_max"] = "cycles",
        ["pause_filter_thresh"] = "cycles",
        ["pause_filter_count"] = "PAUSE instructions",
        ["ple_window_grow"] = "factor",
        ["ple_window_shrink"] = "factor",
        ["halt_poll_ns_grow"] = "factor",
        ["halt_poll_ns_shrink"] = "factor",
        ["cpus"] = "CPUs",
        ["vcpus"] = "VCPUs",
        ["threads"] = "threads",
        ["client_io_threads"] = "threads",
        ["broker_workers"] = "threads",
        ["loops"] = "threads",
        ["locks"] = "locks",
        ["population"] = "events",
        ["payload"] = "bytes",
        ["hz"] = "Hz",
        ["nice"] = "nice level",
        ["shares"] = "CFS shares",
        ["cgroup_shares"] = "CFS shares",
        ["iterations"] = "iterations",
        ["count"] = "count",
        ["runs"] = "runs",
        ["seed"] = "seed",
    };

    private static readonly (string Suffix, string Unit)[] SuffixUnits =
        [("_bytes", "bytes"), ("_ns", "ns"), ("_us", "µs"), ("_ms", "ms"), ("_cycles", "cycles"), ("_mhz", "MHz"), ("_kib", "KiB")];

    /// <summary>"metric [unit]", the unit from <see cref="MetricDefinitions"/>.</summary>
    public static string Metric(string metric) => $"{metric} [{MetricDefinitions.Of(metric)?.Unit ?? "unit not defined"}]";

    /// <summary>The unit of a swept key whose values are <paramref name="values"/>.</summary>
    public static string KeyUnit(string path, IReadOnlyList<string> values)
    {
        if (values.Count > 0 && values.All(v => !IsNumber(v)))
            return values.All(HasUnitSuffix) ? "as given" : "names";
        var last = path[(path.LastIndexOf('.') + 1)..];
        int bracket = last.IndexOf('[', StringComparison.Ordinal);
        if (bracket >= 0)
            last = last[..bracket];
        if (KeyUnits.TryGetValue(last, out var unit))
            return unit;
        foreach (var (suffix, u) in SuffixUnits)
        {
            if (last.EndsWith(suffix, StringComparison.Ordinal))
                return u;
        }
        return "as in the scenario file";
    }

    /// <summary>"key [unit]", with ", log scale" or ", not to scale" for numbers placed at even steps.</summary>
    public static string Key(string path, IReadOnlyList<string> values) =>
        $"{path} [{KeyUnit(path, values)}]{Scale(values) switch { AxisScale.Log => ", log scale", AxisScale.Uneven => ", not to scale", _ => "" }}";

    /// <summary>How evenly spaced categories map the numeric values they stand for.</summary>
    public enum AxisScale
    {
        /// <summary>Not numbers, or too few to tell, or at even steps: the axis is linear or categorical.</summary>
        Linear,

        /// <summary>Positive numbers growing by a constant factor (within 1%): equal steps are equal ratios.</summary>
        Log,

        /// <summary>Numbers at neither equal differences nor equal ratios.</summary>
        Uneven,
    }

    public static AxisScale Scale(IReadOnlyList<string> values)
    {
        if (values.Count < 3 || !values.All(IsNumber))
            return AxisScale.Linear;
        var x = values.Select(v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
        bool Near(double a, double b) => Math.Abs(a - b) <= 0.01 * Math.Max(Math.Abs(a), Math.Abs(b));
        double step = x[1] - x[0];
        if (step != 0 && Enumerable.Range(1, x.Length - 1).All(i => Near(x[i] - x[i - 1], step)))
            return AxisScale.Linear;
        if (x.All(v => v > 0))
        {
            double ratio = x[1] / x[0];
            if (ratio != 1 && Enumerable.Range(1, x.Length - 1).All(i => Near(x[i] / x[i - 1], ratio)))
                return AxisScale.Log;
        }
        return AxisScale.Uneven;
    }

    private static bool IsNumber(string v) => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d);

    private static bool HasUnitSuffix(string v) => v.Length > 1 && char.IsAsciiDigit(v[0]) && char.IsAsciiLetter(v[^1]);
}

namespace PleSim.Experiments.Running;

/// <summary>
/// One row of a per-run table (a CPU, a task, a VM): named values in a fixed order. Values are
/// <see cref="string"/>, <see cref="long"/>, <see cref="double"/> or <see cref="bool"/>.
/// </summary>
public sealed class Record
{
    private readonly List<KeyValuePair<string, object>> _fields = [];

    public IReadOnlyList<KeyValuePair<string, object>> Fields => _fields;

    public Record Add(string name, object value)
    {
        _fields.Add(new(name, value));
        return this;
    }

    public object? this[string name] => _fields.FirstOrDefault(f => f.Key == name).Value;
}

/// <summary>What one run (one seed of one scenario) produced.</summary>
public sealed class RunResult
{
    public required ulong Seed { get; init; }

    /// <summary>"ok" or "failed".</summary>
    public string Status => Error is null ? "ok" : "failed";

    /// <summary>Why the run failed (exception or broken invariant), or null.</summary>
    public string? Error { get; init; }

    /// <summary>Scalar results, in the model's order (e.g. <c>messages_per_second</c>).</summary>
    public List<KeyValuePair<string, double>> Metrics { get; } = [];

    public List<Record> Cpus { get; } = [];
    public List<Record> Tasks { get; } = [];
    public List<Record> Groups { get; } = [];
    public List<Record> Vms { get; } = [];

    /// <summary>Events the engine fired over the whole run (warm-up included).</summary>
    public long Events { get; init; }

    /// <summary>The engine's event digest at the end of the run (equal digests: same event sequence).</summary>
    public ulong EventDigest { get; init; }

    /// <summary>Wall-clock seconds the run took. Not part of the deterministic output.</summary>
    public double WallSeconds { get; set; }

    public double? Metric(string name)
    {
        foreach (var (k, v) in Metrics)
        {
            if (k == name)
                return v;
        }
        return null;
    }

    public RunResult AddMetric(string name, double value)
    {
        Metrics.Add(new(name, value));
        return this;
    }
}

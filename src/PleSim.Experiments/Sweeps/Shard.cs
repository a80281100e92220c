using System.Globalization;

namespace PleSim.Experiments.Sweeps;

/// <summary>
/// The i-th of N deterministic shares of a sweep's work (0 ≤ i &lt; N). Work units (point, run)
/// are numbered <c>point × runs + run</c> and dealt round-robin, so every shard gets a similar mix
/// of points; with adaptive repetitions whole points are dealt instead (a point's runs depend on
/// each other's results).
/// </summary>
public readonly record struct Shard(int Index, int Count)
{
    public static readonly Shard All = new(0, 1);

    public bool IsAll => Count == 1;

    /// <summary>True when unit number <paramref name="unit"/> belongs to this shard.</summary>
    public bool Owns(long unit) => unit % Count == Index;

    /// <summary>The store file of this shard inside a sweep's output directory.</summary>
    public string StoreFileName => IsAll ? ResultStore.FileName : $"shard-{Index}-of-{Count}.sqlite";

    public override string ToString() => $"{Index}/{Count}";

    /// <summary>Reads <c>i/N</c> (0-based i).</summary>
    public static Shard Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n))
        {
            return Of(i, n, $"--shard {text}");
        }
        throw new FormatException($"--shard takes i/N with 0 <= i < N (e.g. 0/4), got '{text}'");
    }

    private static Shard Of(int i, int n, string origin) =>
        n >= 1 && i >= 0 && i < n
            ? new Shard(i, n)
            : throw new FormatException($"{origin}: shard index {i} is not in 0..{n - 1} (N = {n})");

    /// <summary>
    /// The shard a cluster scheduler assigned, when <c>--shard</c> is absent: a Slurm job array
    /// (<c>SLURM_ARRAY_TASK_ID</c> relative to <c>SLURM_ARRAY_TASK_MIN</c> and its step, out of
    /// <c>SLURM_ARRAY_TASK_COUNT</c>), or a Kubernetes indexed Job (<c>JOB_COMPLETION_INDEX</c>, with
    /// the count from <paramref name="countOption"/>). Null when none applies.
    /// </summary>
    public static Shard? FromEnvironment(Func<string, string?> env, int? countOption)
    {
        if (env("SLURM_ARRAY_TASK_ID") is { Length: > 0 } id)
        {
            int task = Number(id, "SLURM_ARRAY_TASK_ID");
            int min = env("SLURM_ARRAY_TASK_MIN") is { Length: > 0 } m ? Number(m, "SLURM_ARRAY_TASK_MIN") : 0;
            int step = env("SLURM_ARRAY_TASK_STEP") is { Length: > 0 } s ? Math.Max(1, Number(s, "SLURM_ARRAY_TASK_STEP")) : 1;
            int count = countOption ?? (env("SLURM_ARRAY_TASK_COUNT") is { Length: > 0 } c
                ? Number(c, "SLURM_ARRAY_TASK_COUNT")
                : throw new FormatException("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; pass --shard-count N"));
            return Of((task - min) / step, count, $"Slurm array task {task} (min {min}, step {step}, count {count})");
        }
        if (env("JOB_COMPLETION_INDEX") is { Length: > 0 } index)
        {
            int i = Number(index, "JOB_COMPLETION_INDEX");
            if (countOption is not int n)
                throw new FormatException("JOB_COMPLETION_INDEX is set (a Kubernetes indexed Job) but not the number of shards: pass --shard-count N (the Job's completions)");
            return Of(i, n, $"JOB_COMPLETION_INDEX={i} with --shard-count {n}");
        }
        if (countOption is not null)
            throw new FormatException("--shard-count needs a shard index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX; use --shard i/N to give both");
        return null;
    }

    private static int Number(string text, string name) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v)
            ? v
            : throw new FormatException($"{name}='{text}' is not a non-negative integer");
}

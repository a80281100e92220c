using System.Globalization;

namespace PleSim.Experiments.Sweeps;

/// <summary>
/// One of N deterministic shares of a sweep's work. People and the command line count shards from
/// 1 (<c>--shard 1/4</c> .. <c>--shard 4/4</c>, <c>shard-1-of-4.sqlite</c>, as test runners do);
/// <see cref="Index"/> is the 0-based position used to deal units (0 ≤ Index &lt; N). Work units (point, run)
/// are numbered <c>point × runs + run</c> and dealt round-robin, so every shard gets a similar mix
/// of points; with adaptive repetitions whole points are dealt instead (a point's runs depend on
/// each other's results).
/// </summary>
public readonly record struct Shard(int Index, int Count)
{
    public static readonly Shard All = new(0, 1);

    public bool IsAll => Count == 1;

    /// <summary>The shard's number as people count it, 1..N (what <c>--shard K/N</c> and the store's name say).</summary>
    public int Number => Index + 1;

    /// <summary>True when unit number <paramref name="unit"/> belongs to this shard.</summary>
    public bool Owns(long unit) => unit % Count == Index;

    /// <summary>The store file of this shard inside a sweep's output directory.</summary>
    public string StoreFileName => IsAll ? ResultStore.FileName : $"shard-{Number}-of-{Count}.sqlite";

    /// <summary><c>K/N</c>, K counted from 1.</summary>
    public override string ToString() => $"{Number}/{Count}";

    /// <summary>Reads <c>K/N</c>: shard K (counted from 1) of N, 1 ≤ K ≤ N.</summary>
    public static Shard Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int k)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n))
        {
            if (n < 1)
                throw new FormatException($"--shard {text}: the number of shards must be at least 1");
            if (k < 1 || k > n)
                throw new FormatException($"--shard {text}: shards are counted from 1, so K must be in 1..{n} (the shards of {n} are 1/{n} .. {n}/{n})");
            return new Shard(k - 1, n);
        }
        throw new FormatException($"--shard takes K/N, shard K of N counted from 1 (e.g. 1/4 .. 4/4), got '{text}'");
    }

    /// <summary>Reads the shard as written in a store's meta: 1-based <c>K/N</c>, or the 0-based <c>i/N</c> of stores made before shards were counted from 1.</summary>
    public static Shard ParseStored(string text, bool oneBased)
    {
        var parts = text.Split('/');
        if (parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int k)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            && n >= 1)
        {
            int index = oneBased ? k - 1 : k;
            if (index >= 0 && index < n)
                return new Shard(index, n);
        }
        throw new FormatException($"'{text}' is not a shard");
    }

    /// <summary>A 0-based index from a scheduler's environment (array task, completion index) as a shard.</summary>
    private static Shard Of(int i, int n, string origin) =>
        n >= 1 && i >= 0 && i < n
            ? new Shard(i, n)
            : throw new FormatException($"{origin}: gives shard position {i} (counted from 0), which is not in 0..{n - 1}: there are {n} shard(s)");

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
            int task = ParseNumber(id, "SLURM_ARRAY_TASK_ID");
            int min = env("SLURM_ARRAY_TASK_MIN") is { Length: > 0 } m ? ParseNumber(m, "SLURM_ARRAY_TASK_MIN") : 0;
            int step = env("SLURM_ARRAY_TASK_STEP") is { Length: > 0 } s ? Math.Max(1, ParseNumber(s, "SLURM_ARRAY_TASK_STEP")) : 1;
            int count = countOption ?? (env("SLURM_ARRAY_TASK_COUNT") is { Length: > 0 } c
                ? ParseNumber(c, "SLURM_ARRAY_TASK_COUNT")
                : throw new FormatException("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; pass --shard-count N"));
            return Of((task - min) / step, count, $"Slurm array task {task} (min {min}, step {step}, count {count})");
        }
        if (env("JOB_COMPLETION_INDEX") is { Length: > 0 } index)
        {
            int i = ParseNumber(index, "JOB_COMPLETION_INDEX");
            if (countOption is not int n)
                throw new FormatException("JOB_COMPLETION_INDEX is set (a Kubernetes indexed Job) but not the number of shards: pass --shard-count N (the Job's completions)");
            return Of(i, n, $"JOB_COMPLETION_INDEX={i} with --shard-count {n}");
        }
        if (countOption is not null)
            throw new FormatException("--shard-count needs a shard index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX; use --shard i/N to give both");
        return null;
    }

    private static int ParseNumber(string text, string name) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v)
            ? v
            : throw new FormatException($"{name}='{text}' is not a non-negative integer");
}

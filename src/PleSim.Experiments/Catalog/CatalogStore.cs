using System.Diagnostics;
using PleSim.Experiments.Sweeps;

namespace PleSim.Experiments.Catalog;

/// <summary>What a stored run of one case did: the sweep outcome and, when the store holds every run, the case's result.</summary>
public sealed record StoredCaseOutcome(CasePlan Plan, string StorePath, SweepOutcome Sweep, CaseResult? Result);

/// <summary>
/// The catalog run through the sweep store (decision 0035): each expressible case of
/// <c>reproduce all --out DIR</c> is a sweep of its cells stored in <c>DIR/NAME/results.sqlite</c>,
/// or with <c>--shard K/N</c> in <c>DIR/NAME/shard-K-of-N.sqlite</c>; <c>plesim merge DIR</c>
/// merges every case's shard stores, and <c>--resume</c> runs only what the store lacks, so a
/// resumed or merged catalog prints the scorecard without running anything again.
/// </summary>
public static class CatalogStore
{
    /// <summary>The directory of one case's stores inside a catalog output directory.</summary>
    public static string CaseDirectory(string outDir, CatalogCase c) => Path.Combine(outDir, c.Name);

    /// <summary>
    /// The case directories of a catalog output directory: its subdirectories holding a result
    /// store (<c>results.sqlite</c> or shard stores), in ordinal order. Empty for a sweep directory.
    /// </summary>
    public static IReadOnlyList<string> CaseDirectories(string outDir)
    {
        if (!Directory.Exists(outDir))
            return [];
        return Directory.GetDirectories(outDir)
            .Where(d => File.Exists(Path.Combine(d, ResultStore.FileName)) || SweepResults.ShardStores(d).Count > 0)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// The results of a catalog output directory read from its stores, without running anything:
    /// for each case of <paramref name="cases"/> that has a complete store (<c>DIR/NAME/results.sqlite</c>;
    /// merge shard stores first), its plan is rebuilt (with and without <c>--quick</c>, at the store's
    /// runs per cell) and must have the store's digest; cases that cannot be expressed are listed as such.
    /// </summary>
    public static IReadOnlyList<CaseResult> Load(string outDir, IReadOnlyList<CatalogCase> cases)
    {
        var results = new List<CaseResult>();
        // Cases that cannot be expressed are counted only where they were asked for: a whole-catalog
        // run (reproduce all) lists them in DIR/catalog.json; without that file, when every case that
        // can be expressed has its directory.
        var listed = ListedCases(outDir);
        bool wholeCatalog = listed is null && cases.Where(c => c.IsExpressible).All(c => Directory.Exists(CaseDirectory(outDir, c)));
        foreach (var c in cases)
        {
            if (!c.IsExpressible)
            {
                if (listed?.Contains(c.Name) == true || wholeCatalog)
                    results.Add(CatalogRunner.NotExpressible(c, false));
                continue;
            }
            var dir = CaseDirectory(outDir, c);
            var path = Path.Combine(dir, ResultStore.FileName);
            if (!File.Exists(path))
            {
                if (Directory.Exists(dir) && SweepResults.ShardStores(dir).Count > 0)
                    throw new StoreException($"{dir} holds shard stores but no {ResultStore.FileName}: merge them first with plesim merge {outDir}");
                continue; // not run into this directory
            }
            using var store = ResultStore.Open(path, readOnly: true);
            int runs = int.Parse(store.Meta["runs"], System.Globalization.CultureInfo.InvariantCulture);
            // The grid decides --quick; where a case's quick grid is its full grid (no quick overrides),
            // the command that wrote the store says which it was.
            bool quickHint = store.Meta.GetValueOrDefault("resume_with", "").Contains(" --quick", StringComparison.Ordinal);
            var plan = new[] { quickHint, !quickHint }.Select(q => CatalogRunner.Plan(c, q, runs)).FirstOrDefault(p => p.Sweep.Digest == store.SweepDigest)
                ?? throw new StoreException($"{path} does not hold case {c.Name} as this build defines it (the case file or its scenario changed since it was run); run it again into a new --out directory");
            var stored = store.Runs();
            if (stored.Count < plan.Sweep.Points.Count * plan.Runs)
                throw new StoreException($"{path} holds {stored.Count} of the {plan.Sweep.Points.Count * plan.Runs} runs of {c.Name}: continue it with: {store.Meta.GetValueOrDefault("resume_with", "plesim reproduce all --out DIR --resume")}");
            results.Add(CatalogRunner.FromStore(plan, stored, StoredWallSeconds(stored)));
        }
        // Cases that cannot be expressed were "run" with the same --quick as the stored ones.
        bool quick = results.Any(r => r.Case.IsExpressible && r.Quick);
        return results.Select(r => r.Case.IsExpressible ? r : r with { Quick = quick }).ToList();
    }

    /// <summary>The case names of DIR/catalog.json (what the command that wrote the directory ran), or null without a readable one.</summary>
    private static HashSet<string>? ListedCases(string outDir)
    {
        var path = Path.Combine(outDir, "catalog.json");
        if (!File.Exists(path))
            return null;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
            if (!doc.RootElement.TryGetProperty("results", out var results) || results.ValueKind != System.Text.Json.JsonValueKind.Array)
                return null;
            return results.EnumerateArray()
                .Select(r => r.TryGetProperty("name", out var n) && n.ValueKind == System.Text.Json.JsonValueKind.String ? n.GetString() : null)
                .OfType<string>().ToHashSet(StringComparer.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The wall time of a case's stored runs: from the start of the first to the end of the last
    /// (runs in parallel overlap), at most their summed run times (so the gap before a --resume is not counted).
    /// </summary>
    public static double StoredWallSeconds(IReadOnlyList<StoredRun> runs)
    {
        double sum = runs.Sum(r => r.WallSeconds);
        var ends = runs.Select(r => (Ok: DateTime.TryParse(r.FinishedUtc, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal, out var t), End: t, r.WallSeconds)).ToList();
        if (ends.Count == 0 || ends.Any(e => !e.Ok))
            return sum;
        double span = (ends.Max(e => e.End) - ends.Min(e => e.End.AddSeconds(-e.WallSeconds))).TotalSeconds;
        return Math.Max(0, Math.Min(span, sum));
    }

    /// <summary>
    /// Runs what <paramref name="shard"/> owns of a case's plan that its store lacks, storing each
    /// run as it finishes; then, for the whole catalog (no shard) and unless interrupted, the case's
    /// result from the store. A new store is created unless one exists, which is continued only
    /// with <paramref name="resume"/> (after checking it holds the same plan).
    /// </summary>
    public static StoredCaseOutcome Run(CasePlan plan, string outDir, Shard shard, bool resume, int parallelism = 0,
        Action<int, int>? progress = null, CancellationToken cancel = default)
    {
        var dir = CaseDirectory(outDir, plan.Case);
        var storePath = Path.Combine(dir, shard.StoreFileName);
        if (shard.IsAll && resume && !File.Exists(storePath) && Directory.Exists(dir) && SweepResults.ShardStores(dir) is { Count: > 0 } shards)
        {
            throw new StoreException($"{storePath}: no such result store, but {dir} holds shard stores ({string.Join(", ", shards.Select(Path.GetFileName))}): " +
                $"merge them first with plesim merge {outDir} (or continue one shard with --shard K/N)");
        }
        var sw = Stopwatch.StartNew();
        using var store = ResultStore.OpenFor(storePath, plan.Sweep, shard, resume, "continue that run with --resume");
        var outcome = SweepRunner.Run(plan.Sweep, store, shard, parallelism, null, progress, cancel);
        CaseResult? result = null;
        if (shard.IsAll && !outcome.Interrupted)
        {
            var runs = store.Runs();
            sw.Stop();
            result = CatalogRunner.FromStore(plan, runs, sw.Elapsed.TotalSeconds);
        }
        return new StoredCaseOutcome(plan, storePath, outcome, result);
    }
}

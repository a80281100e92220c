using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using PleSim.Experiments.Catalog;
using PleSim.Experiments.Sweeps;

namespace PleSim.Cli.Commands;

/// <summary>
/// <c>plesim status DIR</c>: what a sweep's output directory holds (scenario, axes, points, runs
/// done / failed / missing per store and shard), read-only, also while a sweep writes it.
/// </summary>
public static class StatusCommand
{
    public static Command Create(CliContext ctx)
    {
        var input = new Argument<string>("dir") { Description = "A sweep's output directory (results.sqlite and/or shard-K-of-N.sqlite) or a store file" };
        var cmd = new Command("status", "Show a stored sweep: scenario, swept keys, points, runs done/failed/missing, shards") { input };
        cmd.SetAction(parse => Show(ctx, parse.GetValue(input)!));
        return cmd;
    }

    private static int Show(CliContext ctx, string dir)
    {
        {
            // A catalog output directory (plesim reproduce all --out DIR): one sweep per case in DIR/CASE/.
            if (Directory.Exists(dir) && !File.Exists(Path.Combine(dir, ResultStore.FileName)) && SweepResults.ShardStores(dir).Count == 0
                && CatalogStore.CaseDirectories(dir) is { Count: > 0 } caseDirs)
            {
                ctx.Out.WriteLine($"catalog output {dir}: {caseDirs.Count} case(s) with result stores");
                foreach (var caseDir in caseDirs)
                {
                    ctx.Out.WriteLine();
                    ctx.Out.WriteLine($"{Path.GetFileName(caseDir)}:");
                    Show(ctx, caseDir);
                }
                return ExitCodes.Ok;
            }
            var stores = new List<string>();
            if (File.Exists(dir))
            {
                stores.Add(dir);
            }
            else if (Directory.Exists(dir))
            {
                var main = Path.Combine(dir, ResultStore.FileName);
                if (File.Exists(main))
                    stores.Add(main);
                stores.AddRange(SweepResults.ShardStores(dir));
            }
            else
            {
                throw new StoreException($"{dir}: no such directory or result store");
            }
            if (stores.Count == 0)
                throw new StoreException($"{dir} holds no result store ({ResultStore.FileName} or shard-K-of-N.sqlite)");

            var w = ctx.Out;
            IReadOnlyDictionary<string, string>? first = null;
            int totalDone = 0, totalFailed = 0, totalMissing = 0, totalExpected = 0;
            var shardsSeen = new HashSet<int>();
            int shardCount = 0;
            foreach (var path in stores)
            {
                using var store = ResultStore.Open(path, readOnly: true);
                var meta = store.Meta;
                var points = store.Points();
                var runs = store.Runs();
                int perPoint = int.Parse(meta["runs"], CultureInfo.InvariantCulture);
                bool adaptive = meta.GetValueOrDefault("adaptive", "off") != "off";
                var shard = store.StoredShard;
                if (first is null)
                {
                    first = meta;
                    w.WriteLine($"sweep '{meta["scenario_name"]}' from {meta["scenario_file"]} (sweep digest {meta["sweep_digest"][..12]}…, plesim {meta.GetValueOrDefault("plesim_version", "?")})");
                    if (meta.TryGetValue("resume_with", out var by))
                        w.WriteLine($"  points given one by one ({string.Join("; ", points.Take(4).Select(p => p.Label))}{(points.Count > 4 ? "; …" : "")}); written by: {by}");
                    else
                        foreach (var line in Axes(meta))
                            w.WriteLine("  " + line);
                    w.WriteLine($"  points: {points.Count} × {perPoint} run(s) per point{(adaptive ? $", adaptive: {meta["adaptive"]} (more runs where the CI is wide)" : $" = {points.Count * perPoint} runs")}");
                }
                else if (meta["sweep_digest"] != first["sweep_digest"])
                {
                    w.WriteLine($"{Path.GetFileName(path)}: a DIFFERENT sweep ('{meta["scenario_name"]}', digest {meta["sweep_digest"][..12]}…); it cannot be merged with the others");
                    continue;
                }
                int failed = runs.Count(r => !r.Ok);
                int done = runs.Count;
                string missingText;
                if (adaptive)
                {
                    missingText = "missing: decided as it runs (adaptive)";
                }
                else
                {
                    var have = runs.Select(r => (r.Point, r.Run)).ToHashSet();
                    int expected = 0, missing = 0;
                    foreach (var p in points)
                    {
                        for (int k = 0; k < perPoint; k++)
                        {
                            if (!shard.Owns(((long)p.Point * perPoint) + k))
                                continue;
                            expected++;
                            if (!have.Contains((p.Point, k)))
                                missing++;
                        }
                    }
                    missingText = $"{missing} missing of {expected}";
                    if (shard.IsAll || !File.Exists(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ResultStore.FileName)))
                    {
                        totalExpected += expected;
                        totalMissing += missing;
                    }
                }
                if (shard.IsAll || !File.Exists(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ResultStore.FileName)))
                {
                    totalDone += done;
                    totalFailed += failed;
                }
                if (!shard.IsAll)
                {
                    shardsSeen.Add(shard.Number);
                    shardCount = shard.Count;
                }
                var writer = StoreLock.Writer(path);
                string merged = meta.TryGetValue("merged_from", out var from) ? $", merged from {from}" : "";
                w.WriteLine($"  {Path.GetFileName(path)} (shard {shard}{merged}): {done} run(s) stored ({done - failed} ok, {failed} failed), {missingText}" +
                    (writer is null ? "" : $"; being written now ({writer})"));
            }
            if (shardCount > 0)
            {
                var absent = Enumerable.Range(1, shardCount).Where(k => !shardsSeen.Contains(k)).ToList();
                if (absent.Count > 0)
                    w.WriteLine($"  shards without a store yet: {string.Join(", ", absent.Select(k => $"{k}/{shardCount}"))}");
            }
            if (first is not null && first.GetValueOrDefault("adaptive", "off") == "off")
            {
                w.WriteLine($"total: {totalDone} of {totalExpected} run(s) stored ({totalFailed} failed), {totalMissing} missing" +
                    (totalMissing > 0 && shardCount == 0 ? $"; continue with: {first.GetValueOrDefault("resume_with") ?? $"plesim sweep --resume --out {SweepCommand.Quote(dir)}"}" : ""));
            }
            else
            {
                w.WriteLine($"total: {totalDone} run(s) stored ({totalFailed} failed)");
            }
            return ExitCodes.Ok;
        }
    }

    /// <summary>
    /// An axis's values for one line: all of a short list; of a long one (an uncertainty study zips
    /// hundreds of sampled values per key) the first few and how many there are.
    /// </summary>
    internal static string ValueList(IReadOnlyList<string> values, int shown = 5)
    {
        static string Clip(string v) => v.Length <= 40 ? v : v[..39] + "…";
        return values.Count <= shown + 1
            ? string.Join(", ", values.Select(Clip))
            : string.Join(", ", values.Take(shown).Select(Clip)) + $", … ({values.Count} values)";
    }

    /// <summary>The swept keys with their values, then the keys fixed by a single value.</summary>
    private static IEnumerable<string> Axes(IReadOnlyDictionary<string, string> meta)
    {
        var axes = JsonSerializer.Deserialize<List<JsonElement>>(meta["axes"]) ?? [];
        var varied = axes.Where(a => a.GetProperty("varied").GetBoolean()).ToList();
        var fixedKeys = axes.Where(a => !a.GetProperty("varied").GetBoolean()).ToList();
        string Values(JsonElement a) => ValueList(a.GetProperty("values").EnumerateArray().Select(v => v.GetString() ?? "").ToList());
        if (varied.Count == 0)
            yield return "swept keys: none (one point)";
        else if (varied.Count <= 3)
            yield return $"swept keys ({meta.GetValueOrDefault("mode", "cartesian")}): " + string.Join("; ", varied.Select(a => $"{a.GetProperty("path").GetString()} = {Values(a)}"));
        else
        {
            // Many keys (an uncertainty study's unknowns): one line each.
            yield return $"swept keys ({meta.GetValueOrDefault("mode", "cartesian")}), {varied.Count}:";
            foreach (var a in varied)
                yield return $"  {a.GetProperty("path").GetString()} = {Values(a)}";
        }
        if (fixedKeys.Count > 0)
            yield return "fixed: " + string.Join(", ", fixedKeys.Select(a => $"{a.GetProperty("path").GetString()}={Values(a)}"));
    }
}

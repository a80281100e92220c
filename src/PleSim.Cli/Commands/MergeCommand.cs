using System.CommandLine;
using PleSim.Experiments.Catalog;
using PleSim.Experiments.Sweeps;

namespace PleSim.Cli.Commands;

/// <summary><c>plesim merge DIR...</c>: combines the shard stores of one sweep into one <c>results.sqlite</c>.</summary>
public static class MergeCommand
{
    public static Command Create(CliContext ctx)
    {
        var inputs = new Argument<string[]>("inputs")
        {
            Description = "Sweep output directories (their shard-*.sqlite stores) or store files",
            Arity = ArgumentArity.OneOrMore,
        };
        var outDir = new Option<string?>("--out", "-o") { Description = "Directory of the merged results.sqlite (default: the input directory, when there is one)" };
        var cmd = new Command("merge", "Combine the result stores of one sweep's shards (refuses stores of different sweeps)") { inputs, outDir };
        cmd.SetAction(parse =>
        {
            var given = parse.GetValue(inputs)!;
            // A catalog output directory (plesim reproduce all --out DIR --shard K/N): one sweep per case in DIR/CASE/.
            if (given.Length == 1 && Directory.Exists(given[0]) && SweepResults.ShardStores(given[0]).Count == 0
                && CatalogStore.CaseDirectories(given[0]) is { Count: > 0 } caseDirs)
            {
                var root = parse.GetValue(outDir) ?? given[0];
                int merged = 0;
                foreach (var caseDir in caseDirs)
                {
                    var shardStores = SweepResults.ShardStores(caseDir);
                    if (shardStores.Count == 0)
                        continue; // already merged, or run without shards
                    var target = Path.Combine(root, Path.GetFileName(caseDir));
                    OutputPaths.CheckDirectory(target, "--out");
                    Merge(ctx, shardStores, Path.Combine(target, ResultStore.FileName), Path.GetFileName(caseDir) + ": ");
                    merged++;
                }
                if (merged == 0)
                    throw new StoreException($"{given[0]} is a catalog output whose case directories hold no shard stores (shard-<K>-of-<N>.sqlite): nothing to merge");
                ctx.Err.WriteLine($"plesim: merged the shard stores of {merged} case(s); print the scorecard from them with: plesim reproduce all --out {SweepCommand.Quote(root)} --resume (with the shards' --quick/--runs)");
                return ExitCodes.Ok;
            }
            var stores = new List<string>();
            foreach (var g in given)
            {
                if (File.Exists(g))
                {
                    stores.Add(g);
                }
                else if (Directory.Exists(g))
                {
                    var shards = SweepResults.ShardStores(g);
                    if (shards.Count == 0)
                        throw new StoreException($"{g} holds no shard stores (shard-<K>-of-<N>.sqlite)");
                    stores.AddRange(shards);
                }
                else
                {
                    throw new StoreException($"{g}: no such directory or result store");
                }
            }
            var dir = parse.GetValue(outDir) ?? (given.Length == 1 && Directory.Exists(given[0])
                ? given[0]
                : throw new CliInputException("give --out DIR for the merged store (several inputs, or a file)"));
            OutputPaths.CheckDirectory(dir, "--out");
            Merge(ctx, stores, Path.Combine(dir, ResultStore.FileName), "");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static void Merge(CliContext ctx, IReadOnlyList<string> stores, string output, string prefix)
    {
        int n = ResultStore.Merge(stores, output);
        var merged = SweepResults.Load([output]);
        var missing = merged.Missing();
        int failed = merged.Runs.Count(r => !r.Ok);
        ctx.Err.WriteLine($"plesim: {prefix}merged {n} run(s) of {merged.Points.Count} point(s) from {stores.Count} store(s) into {output}" +
            (failed > 0 ? $"; {failed} run(s) had failed" : ""));
        if (missing.Count > 0)
        {
            ctx.Err.WriteLine($"plesim: {prefix}warning: {missing.Count} run(s) are missing (e.g. point {missing[0].Point} run {missing[0].Run}); " +
                "run the missing shards (with --resume) and merge again");
        }
    }
}

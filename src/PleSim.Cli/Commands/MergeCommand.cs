using System.CommandLine;
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
            var output = Path.Combine(dir, ResultStore.FileName);
            int n = ResultStore.Merge(stores, output);
            var merged = SweepResults.Load([output]);
            var missing = merged.Missing();
            int failed = merged.Runs.Count(r => !r.Ok);
            ctx.Err.WriteLine($"plesim: merged {n} run(s) of {merged.Points.Count} point(s) from {stores.Count} store(s) into {output}" +
                (failed > 0 ? $"; {failed} run(s) had failed" : ""));
            if (missing.Count > 0)
            {
                ctx.Err.WriteLine($"plesim: warning: {missing.Count} run(s) are missing (e.g. point {missing[0].Point} run {missing[0].Run}); " +
                    "run the missing shards (with --resume) and merge again");
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }
}

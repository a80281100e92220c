using System.CommandLine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;
using PleSim.Reporting;

namespace PleSim.Cli.Commands;

/// <summary>
/// <c>plesim sweep SCENARIO.yaml --set key=v1,v2 ...</c>: runs every point of a grid (its runs in
/// parallel), storing each run in <c>DIR/results.sqlite</c> as it finishes; resumable, shardable.
/// </summary>
public static class SweepCommand
{
    public static Command Create(CliContext ctx)
    {
        var file = new Argument<string>("scenario") { Description = "Scenario file (YAML); its 'sweep:' section, if any, gives the grid" };
        var set = new Option<string[]>("--set")
        {
            Description = "Sweep a key: --set kvm.ple_window=1024,4096,16384 (repeatable; a single value fixes the key; replaces the file's axis of the same key)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var zip = new Option<bool>("--zip") { Description = "Pair the i-th values of all swept keys instead of taking every combination" };
        var runs = new Option<int?>("--runs", "-n") { Description = "Runs (seeds) per point; default: the file's 'runs'" };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "First seed (run k of every point uses seed+k); default: the file's 'seed'" };
        var outDir = new Option<string?>("--out", "-o") { Description = "Output directory (result store, CSV/JSON exports); default: out/<scenario name>" };
        var resume = new Option<bool>("--resume") { Description = "Continue the sweep stored in --out: run only what is missing (refused if the scenario or grid changed)" };
        var shard = new Option<string?>("--shard") { Description = "Run only share i of N (0-based, e.g. 0/4); default: from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX" };
        var shardCount = new Option<int?>("--shard-count") { Description = "Number of shards when the index comes from JOB_COMPLETION_INDEX (Kubernetes indexed Job)" };
        var target = new Option<string?>("--target-ci") { Description = "Adaptive runs: add runs to a point until the 95% CI half-width of a metric is below a target, e.g. amqp.subscribe_rate=1% or =1500" };
        var maxRuns = new Option<int>("--max-runs") { Description = "Adaptive runs: at most this many runs per point", DefaultValueFactory = _ => 100 };
        var parallel = new Option<int>("--parallel", "-j") { Description = "Runs at once (default: all cores)", DefaultValueFactory = _ => 0 };
        var invariants = new Option<bool>("--check-invariants") { Description = "Check every registered model invariant after each event (slow)" };
        var metric = new Option<string[]>("--metric", "-m") { Description = "Metric(s) for the tables (default: the scenario's compare_metric and metrics list)", Arity = ArgumentArity.ZeroOrMore };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output" };
        var cmd = new Command("sweep", "Run a scenario over a grid of key values (points × runs), into a resumable SQLite store")
        {
            file, set, zip, runs, seed, outDir, resume, shard, shardCount, target, maxRuns, parallel, invariants, metric, quiet,
        };
        cmd.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            Scenario fromFile;
            SweepPlan plan;
            AdaptiveTarget? adaptive;
            List<SweepAxis> axes;
            Shard sh;
            try
            {
                axes = (parse.GetValue(set) ?? []).Select(SweepSpec.ParseAxis).ToList();
                adaptive = parse.GetValue(target) is { } t ? AdaptiveTarget.Parse(t, parse.GetValue(maxRuns)) : null;
                sh = parse.GetValue(shard) is { } s ? Shard.Parse(s) : Shard.FromEnvironment(Environment.GetEnvironmentVariable, parse.GetValue(shardCount)) ?? Shard.All;
            }
            catch (FormatException e)
            {
                throw new CliInputException(e.Message);
            }
            try
            {
                fromFile = ScenarioLoader.LoadFile(path);
                plan = SweepPlan.Create(fromFile, axes, parse.GetValue(zip) ? SweepMode.Zip : null, parse.GetValue(runs), parse.GetValue(seed), adaptive);
            }
            catch (ScenarioException e)
            {
                foreach (var d in e.Diagnostics)
                    ctx.Err.WriteLine(d.ToString());
                return ExitCodes.BadInput;
            }
            var dir = parse.GetValue(outDir) ?? Path.Combine("out", SafeName(plan.Base.Name));
            var storePath = Path.Combine(dir, sh.StoreFileName);
            ResultStore store;
            if (File.Exists(storePath))
            {
                if (!parse.GetValue(resume))
                    throw new StoreException($"{storePath} already exists: continue that sweep with --resume, or choose another --out directory");
                store = ResultStore.Open(storePath);
                try
                {
                    store.CheckResumable(plan, sh);
                }
                catch
                {
                    store.Dispose();
                    throw;
                }
            }
            else
            {
                store = ResultStore.Create(storePath, plan, sh);
            }
            using (store)
            {
                ctx.Err.WriteLine($"plesim: sweep '{plan.Base.Name}': {plan.Points.Count} point(s) × {plan.Runs} run(s){(plan.Adaptive is null ? "" : $" (adaptive: {plan.Adaptive})")}" +
                    $"{(sh.IsAll ? "" : $", shard {sh}")} → {storePath}");
                var options = new RunOptions { CheckInvariantsEvery = parse.GetValue(invariants) ? 1 : 0 };
                // Ctrl+C stops starting runs; the ones in flight finish and are stored, so --resume loses nothing.
                using var cancel = new CancellationTokenSource();
                ConsoleCancelEventHandler onCtrlC = (_, e) =>
                {
                    e.Cancel = true;
                    cancel.Cancel();
                };
                Console.CancelKeyPress += onCtrlC;
                SweepOutcome outcome;
                try
                {
                    outcome = Progress.Run(ctx, $"sweep {plan.Base.Name}{(sh.IsAll ? "" : $" shard {sh}")}",
                        report => SweepRunner.Run(plan, store, sh, parse.GetValue(parallel), options, report, cancel.Token),
                        quiet: parse.GetValue(quiet));
                }
                finally
                {
                    Console.CancelKeyPress -= onCtrlC;
                }
                ctx.Err.WriteLine($"plesim: {outcome.Ran} run(s) done now, {outcome.AlreadyStored} were already stored" +
                    (outcome.Failed.Count > 0 ? $", {outcome.Failed.Count} failed" : ""));
                foreach (var n in outcome.Notes)
                    ctx.Err.WriteLine("plesim: note: " + n);
                foreach (var f in outcome.Failed)
                {
                    var sets = string.Concat(plan.Points[f.Point].Assignments.Select(a => $" --set {Quote(a.ToString())}"));
                    ctx.Err.WriteLine($"plesim: point {f.Point} ({f.Label}) run {f.Run} (seed {f.Seed}) failed: {f.Error}");
                    ctx.Err.WriteLine($"        reproduce: plesim run {Quote(path)}{sets} --runs 1 --seed {f.Seed}");
                }
                if (outcome.Interrupted)
                {
                    ctx.Err.WriteLine($"plesim: interrupted; the finished runs are stored; continue with: plesim sweep {Quote(path)} ... --out {Quote(dir)} --resume");
                    return ExitCodes.RunFailed;
                }
                if (sh.IsAll)
                {
                    var view = SweepView.Of(SweepResults.Load([storePath]), parse.GetValue(metric));
                    SweepOutputs.WriteExports(view, dir);
                    ctx.Console_.Write(SweepTables.Points(view));
                    if (view.Comparisons.Count > 0)
                        ctx.Console_.Write(SweepTables.Comparisons(view));
                    ctx.Err.WriteLine($"plesim: wrote {string.Join(", ", SweepOutputs.ExportFiles)} in {dir}; plots and HTML: plesim report {Quote(dir)} --html {Quote(Path.Combine(dir, "report.html"))}");
                }
                else
                {
                    ctx.Err.WriteLine($"plesim: shard {sh} complete; when every shard is done: plesim merge {Quote(dir)}");
                }
                return outcome.Failed.Count > 0 ? ExitCodes.RunFailed : ExitCodes.Ok;
            }
        });
        return cmd;
    }

    private static string SafeName(string name) =>
        string.Concat(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-'));

    internal static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/' or '=' or ',' or ':' or '[' or ']')
            ? s
            : "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

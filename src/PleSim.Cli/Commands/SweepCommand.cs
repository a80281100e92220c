using System.CommandLine;
using System.Runtime.InteropServices;
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
        var file = new Argument<string?>("scenario")
        {
            Description = "Scenario file (YAML); its 'sweep:' section, if any, gives the grid. With --resume it may be left out: the store's scenario and grid are used",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var set = new Option<string[]>("--set")
        {
            Description = "Sweep a key: --set kvm.ple_window=1024,4096,16384 (repeatable; a single value fixes the key; replaces the file's axis of the same key)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var zip = new Option<bool>("--zip") { Description = "Pair the i-th values of all swept keys instead of taking every combination" };
        var runs = new Option<int?>("--runs", "-n") { Description = "Runs (seeds) per point; default: the file's 'runs'" };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "First seed (run k of every point uses seed+k); default: the file's 'seed'" };
        var outDir = new Option<string?>("--out", "-o") { Description = "Output directory (result store, CSV/JSON exports); default: out/<scenario name>" };
        var resume = new Option<bool>("--resume") { Description = "Continue the sweep stored in --out: run only what is missing. Without a scenario file, the store's scenario and grid are used; with one, it must be the same sweep" };
        var shard = new Option<string?>("--shard") { Description = "Run only shard K of N, counted from 1 (1/4 .. 4/4; store DIR/shard-K-of-N.sqlite); default: from SLURM_ARRAY_TASK_ID (relative to SLURM_ARRAY_TASK_MIN) and SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX (0-based) with --shard-count" };
        var shardCount = new Option<int?>("--shard-count") { Description = "Number of shards when the index comes from JOB_COMPLETION_INDEX (Kubernetes indexed Job)" };
        var target = new Option<string?>("--target-ci") { Description = "Adaptive runs: add runs to a point until the 95% CI half-width of a metric is below a target, e.g. amqp.subscribe_rate=1% or =1500" };
        var maxRuns = new Option<int>("--max-runs") { Description = "Adaptive runs: at most this many runs per point", DefaultValueFactory = _ => 100 };
        var parallel = CommonOptions.Parallel();
        var invariants = new Option<bool>("--check-invariants") { Description = "Check every registered model invariant after each event (slow)" };
        var metric = new Option<string[]>("--metric", "-m") { Description = "Metric(s) for the tables (default: the scenario's compare_metric and metrics list)", Arity = ArgumentArity.ZeroOrMore };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress output" };
        var cmd = new Command("sweep", "Run a scenario over a grid of key values (points × runs), into a resumable SQLite store. " +
            "SIGINT (Ctrl+C) or SIGTERM stops starting runs, stores the ones in flight and exits 130 or 143; --resume continues")
        {
            file, set, zip, runs, seed, outDir, resume, shard, shardCount, target, maxRuns, parallel, invariants, metric, quiet,
        };
        cmd.SetAction(parse =>
        {
            var path = parse.GetValue(file);
            bool fromStore = path is null;
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
            string dir;
            Scenario? fromFile = null;
            if (fromStore)
            {
                // plesim sweep --resume --out DIR: the grid is the store's.
                if (!parse.GetValue(resume) || parse.GetValue(outDir) is null)
                    throw new CliInputException("give the scenario file (plesim sweep SCENARIO.yaml ...), or continue a stored sweep with: plesim sweep --resume --out DIR");
                var changing = new List<string>();
                if (axes.Count > 0) changing.Add("--set");
                if (parse.GetValue(zip)) changing.Add("--zip");
                if (parse.GetValue(runs) is not null) changing.Add("--runs");
                if (parse.GetValue(seed) is not null) changing.Add("--seed");
                if (adaptive is not null) changing.Add("--target-ci");
                if (changing.Count > 0)
                    throw new CliInputException($"{string.Join(", ", changing)}: a sweep resumed from its store keeps the store's grid; give the scenario file too to check a grid against the store");
                dir = parse.GetValue(outDir)!;
                var stored = Path.Combine(dir, sh.StoreFileName);
                if (!File.Exists(stored))
                {
                    var shards = Directory.Exists(dir) ? SweepResults.ShardStores(dir) : [];
                    throw new StoreException(shards.Count > 0 && sh.IsAll
                        ? $"{stored}: no such result store; {dir} holds shard stores ({string.Join(", ", shards.Select(Path.GetFileName))}): resume one with --shard K/N"
                        : $"{stored}: no such result store to resume");
                }
                using (var peek = ResultStore.Open(stored, readOnly: true))
                {
                    // A plan the program built itself (a catalog case) is not a grid of the file: its command continues it.
                    if (peek.Meta.TryGetValue("resume_with", out var resumeWith))
                        throw new StoreException($"{stored} was not written by plesim sweep; continue it with: {resumeWith}");
                    try
                    {
                        plan = SweepPlan.FromStore(peek.Meta, stored);
                    }
                    catch (ScenarioException e)
                    {
                        foreach (var d in e.Diagnostics)
                            ctx.Err.WriteLine(d.ToString());
                        throw new StoreException($"{stored}: the stored scenario no longer loads with this build of plesim (above); it cannot be resumed");
                    }
                }
                path = plan.Base.SourceFile;
            }
            else
            {
                try
                {
                    fromFile = ScenarioLoader.LoadFile(path!);
                    plan = SweepPlan.Create(fromFile, axes, parse.GetValue(zip) ? SweepMode.Zip : null, parse.GetValue(runs), parse.GetValue(seed), adaptive);
                }
                catch (ScenarioException e)
                {
                    foreach (var d in e.Diagnostics)
                        ctx.Err.WriteLine(d.ToString());
                    return ExitCodes.BadInput;
                }
                dir = parse.GetValue(outDir) ?? Path.Combine("out", SafeName(plan.Base.Name));
            }
            // Every metric named (in the file, by --metric, by --target-ci) must be one the model
            // reports: checked against a probe run of the base scenario before the first run.
            // One that only the sweep's fixed --set values switch off is left out with a warning (the
            // tables show only the metrics the runs report).
            IReadOnlyList<ScenarioDiagnostic> located = [];
            IReadOnlyList<string> leftOut = [];
            if (fromFile is { } file0)
                (_, located, leftOut) = MetricNames.CheckWithOverrides(plan.Base, () => file0, "this sweep's fixed --set values");
            foreach (var w in leftOut)
                ctx.Err.WriteLine("plesim: " + w);
            foreach (var d in located)
                ctx.Err.WriteLine(d.ToString());
            var named = (parse.GetValue(metric) ?? []).Select(m => (m, "--metric")).ToList();
            if (adaptive is not null)
                named.Add((adaptive.Metric, "--target-ci"));
            var unknown = MetricNames.CheckNames(plan.Base, named);
            foreach (var u in unknown)
                ctx.Error(u);
            if (located.Count > 0 || unknown.Count > 0)
                return ExitCodes.BadInput;
            // Where the store and the exports go is checked before anything runs.
            OutputPaths.CheckDirectory(dir, "--out");
            var storePath = Path.Combine(dir, sh.StoreFileName);
            var store = ResultStore.OpenFor(storePath, plan, sh, parse.GetValue(resume), "continue that sweep with --resume");
            string resumeHint = $"plesim sweep --resume --out {Quote(dir)}{(sh.IsAll ? "" : $" --shard {sh}")}";
            using (store)
            {
                ctx.Err.WriteLine($"plesim: sweep '{plan.Base.Name}'{(fromStore ? $" (from {storePath})" : "")}: {plan.Points.Count} point(s) × {plan.Runs} run(s){(plan.Adaptive is null ? "" : $" (adaptive: {plan.Adaptive})")}" +
                    $"{(sh.IsAll ? "" : $", shard {sh}")} → {storePath}");
                var options = new RunOptions { CheckInvariantsEvery = parse.GetValue(invariants) ? 1 : 0 };
                using var signals = new StopSignals();
                var outcome = Progress.Run(ctx, $"sweep {plan.Base.Name}{(sh.IsAll ? "" : $" shard {sh}")}{(plan.Adaptive is null ? "" : " (adaptive: the total grows)")}",
                    report => SweepRunner.Run(plan, store, sh, parse.GetValue(parallel), options, report, signals.Token),
                    quiet: parse.GetValue(quiet));
                ctx.Err.WriteLine($"plesim: {outcome.Ran} run(s) done now, {outcome.AlreadyStored} were already stored" +
                    (outcome.Failed.Count > 0 ? $", {outcome.Failed.Count} failed" : ""));
                foreach (var n in outcome.Notes)
                    ctx.Err.WriteLine("plesim: note: " + n);
                foreach (var f in outcome.Failed)
                {
                    var sets = string.Concat(plan.Points[f.Point].Assignments.Select(a => $" --set {Quote(a.ToString())}"));
                    ctx.Err.WriteLine($"plesim: point {f.Point} ({f.Label}) run {f.Run} (seed {f.Seed}) failed: {f.Error}");
                    ctx.Err.WriteLine($"        reproduce: plesim run {Quote(path!)}{sets} --runs 1 --seed {f.Seed}");
                }
                if (outcome.Interrupted)
                {
                    ctx.Err.WriteLine($"plesim: interrupted{signals.By}; the finished runs are stored; continue with: {resumeHint}");
                    return signals.ExitCode;
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

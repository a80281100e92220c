using System.CommandLine;
using Spectre.Console;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Engine;
using PleSim.Reporting;
using PleSim.Reporting.Trace;

namespace PleSim.Cli.Commands;

/// <summary><c>plesim run SCENARIO.yaml</c>: runs each seed (in parallel), prints a table or the JSON contract.</summary>
public static class RunCommand
{
    public static Command Create(CliContext ctx)
    {
        var file = new Argument<string>("scenario") { Description = "Scenario file (YAML)" };
        var runs = new Option<int?>("--runs", "-n") { Description = "Number of runs (seeds); default: the file's 'runs'" };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "First seed; runs use seed, seed+1, ... (default: the file's 'seed')" };
        var json = new Option<bool>("--json") { Description = "Print the JSON result contract on standard output instead of tables" };
        var csv = new Option<bool>("--csv") { Description = "Print one CSV row per run (seed, status, error, every metric) on standard output instead of tables" };
        var outDir = new Option<string?>("--out", "-o") { Description = "Also write results.json, runs.csv and summary.csv into this directory (with --details also cpus.csv, tasks.csv, groups.csv, vms.csv of the first run)" };
        var set = CommonOptions.Set();
        var invariants = new Option<bool>("--check-invariants") { Description = "Check every registered model invariant after each event (slow)" };
        var parallel = CommonOptions.Parallel();
        var plugin = CommonOptions.Plugin();
        var details = new Option<bool>("--details") { Description = "Also print the per-CPU, per-task and per-VM tables of the first run" };
        var trace = new Option<string?>("--trace") { Description = "Write a Chrome/Perfetto trace (JSON) of the first run to this file (open it in ui.perfetto.dev)" };
        var traceFrom = new Option<string>("--trace-from") { Description = "Start of the traced window (simulated time, e.g. 100ms)", DefaultValueFactory = _ => "0" };
        var traceFor = new Option<string>("--trace-for") { Description = "Length of the traced window (default 200ms)", DefaultValueFactory = _ => "200ms" };
        var timeline = new Option<string?>("--timeline") { Description = $"Also measure the window in slices of this simulated length (e.g. 50ms, at most {Timeline.MaxWindows} slices) and print each shown metric per slice and seed, to see whether the window is steady; with --out also timeline.csv" };
        var cmd = new Command("run", "Run a scenario: each run is one seed; runs execute in parallel, results are in seed order")
        {
            file, runs, seed, json, csv, outDir, set, invariants, parallel, plugin, details, trace, traceFrom, traceFor, timeline,
        };
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(json) && parse.GetValue(csv))
                throw new CliInputException("--json and --csv both choose what standard output carries: give one of them");
            CommonOptions.LoadPlugins(parse.GetValue(plugin));
            var overrides = CommonOptions.ParseOverrides(parse.GetValue(set));
            var scenario = CommonOptions.LoadOrReport(ctx, parse.GetValue(file)!, overrides);
            if (scenario is null)
                return ExitCodes.BadInput;
            // The metrics it names (metrics:, compare_metric) must be ones its model reports; one that
            // only a --set switched off is left out with a warning.
            var (checkedScenario, unknownMetrics, leftOut) = overrides.Count == 0
                ? (scenario, MetricNames.Check(scenario), [])
                : MetricNames.CheckWithOverrides(scenario, () => ScenarioLoader.LoadFile(parse.GetValue(file)!),
                    string.Join(" ", overrides.Select(o => o.OriginText)));
            foreach (var w in leftOut)
                ctx.Err.WriteLine("plesim: " + w);
            if (unknownMetrics.Count > 0)
            {
                foreach (var d in unknownMetrics)
                    ctx.Err.WriteLine(d.ToString());
                return ExitCodes.BadInput;
            }
            scenario = checkedScenario;
            int? n = parse.GetValue(runs);
            if (n is <= 0)
                throw new CliInputException($"--runs must be positive, got {n}");
            CommonOptions.CheckSeedRange(parse.GetValue(seed) ?? scenario.Seed, n ?? scenario.Runs, parse.GetValue(seed) is null ? $"{scenario.SourceFile}: seed" : "--seed");
            var seeds = Runner.Seeds(scenario, n, parse.GetValue(seed));
            // Every output path is checked before the first run, not found unwritable after it.
            if (parse.GetValue(outDir) is { } checkDir)
                OutputPaths.CheckDirectory(checkDir, "--out");
            SimDuration? step = null;
            if (parse.GetValue(timeline) is { } stepText)
            {
                step = CommonOptions.ParseTime(stepText, "--timeline", positive: true);
                if (Timeline.Windows(scenario, step.Value) > Timeline.MaxWindows)
                    throw new CliInputException($"--timeline {stepText} cuts the {scenario.Duration} window into {Timeline.Windows(scenario, step.Value)} slices; at most {Timeline.MaxWindows}: give a longer step");
            }
            var options = new RunOptions { CheckInvariantsEvery = parse.GetValue(invariants) ? 1 : 0 };
            TraceRecorder? recorder = null;
            if (parse.GetValue(trace) is { } tracePath)
            {
                var from = CommonOptions.ParseTime(parse.GetValue(traceFrom)!, "--trace-from");
                var length = CommonOptions.ParseTime(parse.GetValue(traceFor)!, "--trace-for", positive: true);
                OutputPaths.CheckFile(tracePath, "--trace");
                var end = scenario.Warmup + scenario.Duration;
                if (from >= end)
                {
                    ctx.Err.WriteLine($"plesim: warning: the trace window starts at {from}, after the run ends ({end} = warm-up {scenario.Warmup} + duration {scenario.Duration}); the trace will hold no events");
                }
                else if (from + length > end)
                {
                    ctx.Err.WriteLine($"plesim: warning: the trace window {from}..{from + length} ends after the run ({end} = warm-up {scenario.Warmup} + duration {scenario.Duration}); it is traced up to {end}");
                }
                recorder = new TraceRecorder(tracePath, seeds[0], SimTime.Zero + from, SimTime.Zero + from + length);
                options = recorder.Apply(options);
            }
            var results = RunWithProgress(ctx, scenario, seeds, options, parse.GetValue(parallel));
            var slices = step is { } st ? RunTimelines(scenario, seeds, st, parse.GetValue(parallel)) : null;
            var jsonText = ResultJson.Write(scenario, results);
            if (parse.GetValue(outDir) is { } dir)
            {
                AtomicFile.Write(Path.Combine(dir, "results.json"), jsonText);
                AtomicFile.Write(Path.Combine(dir, "runs.csv"), CsvExport.Runs(results));
                AtomicFile.Write(Path.Combine(dir, "summary.csv"), CsvExport.Summary(MetricSummary.OfRuns(results)));
                if (slices is not null)
                    AtomicFile.Write(Path.Combine(dir, "timeline.csv"), CsvExport.Timeline(slices));
                if (parse.GetValue(details) && results.Length > 0)
                {
                    var r = results[0];
                    AtomicFile.Write(Path.Combine(dir, "cpus.csv"), CsvExport.Records(r.Cpus));
                    AtomicFile.Write(Path.Combine(dir, "tasks.csv"), CsvExport.Records(r.Tasks));
                    AtomicFile.Write(Path.Combine(dir, "groups.csv"), CsvExport.Records(r.Groups));
                    AtomicFile.Write(Path.Combine(dir, "vms.csv"), CsvExport.Records(r.Vms));
                }
            }
            if (parse.GetValue(json))
            {
                ctx.Out.Write(jsonText);
            }
            else if (parse.GetValue(csv))
            {
                ctx.Out.Write(CsvExport.Runs(results));
            }
            else
            {
                ctx.Console_.Write(RunTables.Runs(scenario, results));
                if (results.Length > 1)
                    ctx.Console_.Write(RunTables.Summary(scenario, results));
                foreach (var line in PlacementNotes.Lines(results).Concat(PlacementNotes.GroupLines(results)).Concat(StartupNotes.Lines(results)))
                    ctx.Console_.WriteLine(line);
                if (parse.GetValue(details) && results.Length > 0)
                {
                    var r = results[0];
                    ctx.Console_.Write(RunTables.Records($"CPUs (seed {r.Seed})", r.Cpus));
                    ctx.Console_.Write(RunTables.Records($"tasks (seed {r.Seed})", r.Tasks));
                    ctx.Console_.Write(RunTables.Records($"groups (seed {r.Seed})", r.Groups));
                    ctx.Console_.Write(RunTables.Records($"VMs (seed {r.Seed})", r.Vms));
                }
                if (slices is not null)
                {
                    foreach (var m in RunTables.ShownMetrics(scenario, results))
                        ctx.Console_.Write(RunTables.Timeline(m, slices));
                }
            }
            if (recorder is not null)
                ctx.Err.WriteLine($"plesim: trace of seed {seeds[0]} ({recorder.Events} events, {recorder.From}..{recorder.To}) written to {parse.GetValue(trace)}");
            if (recorder is { Events: 0 })
                ctx.Err.WriteLine($"plesim: warning: the trace window {recorder.From}..{recorder.To} caught no events (does it lie outside the run?)");
            foreach (var f in results.Where(r => r.Error is not null))
                ctx.Err.WriteLine($"plesim: run with seed {f.Seed} failed: {f.Error} (reproduce: {ReproduceCommandLine(scenario, f.Seed)})");
            return results.Any(r => r.Error is not null) ? ExitCodes.RunFailed : ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>Every seed's window in slices of <paramref name="step"/> (a second simulation of each seed, in parallel).</summary>
    private static (ulong Seed, TimelineWindow[] Windows)[] RunTimelines(Scenario scenario, ulong[] seeds, SimDuration step, int parallel)
    {
        var timelines = new (ulong, TimelineWindow[])[seeds.Length];
        var po = new ParallelOptions { MaxDegreeOfParallelism = parallel > 0 ? parallel : Environment.ProcessorCount };
        Parallel.For(0, seeds.Length, po, i => timelines[i] = (seeds[i], Timeline.Run(scenario, seeds[i], step)));
        return timelines;
    }

    /// <summary>
    /// The runs, with a progress bar (or a line every 5 s when stderr is not a terminal) counting
    /// simulated time across all runs, so a long run shows how far it is and when it will end. Off
    /// the terminal it appears only when the runs simulate 10 s or more in total.
    /// </summary>
    private static RunResult[] RunWithProgress(CliContext ctx, Scenario scenario, ulong[] seeds, RunOptions options, int parallel)
    {
        long perRunMs = (scenario.Warmup + scenario.Duration).Ns / 1_000_000;
        long totalMs = perRunMs * seeds.Length;
        if (totalMs <= 0 || (!ctx.IsErrTerminal && totalMs < 10_000))
            return Runner.RunMany(scenario, seeds, options, parallel);
        var index = new Dictionary<ulong, int>();
        for (int i = 0; i < seeds.Length; i++)
            index[seeds[i]] = i;
        var reachedMs = new long[seeds.Length];
        return Progress.Run(ctx, $"{scenario.Name} ({seeds.Length} run(s))", report =>
        {
            var watched = options with
            {
                Progress = (seed, now) =>
                {
                    Interlocked.Exchange(ref reachedMs[index[seed]], now.Ns / 1_000_000);
                    long sum = 0;
                    foreach (var r in reachedMs)
                        sum += Interlocked.Read(in r);
                    report((int)Math.Min(sum, int.MaxValue), (int)Math.Min(totalMs, int.MaxValue));
                },
            };
            var results = Runner.RunMany(scenario, seeds, watched, parallel, r => Interlocked.Exchange(ref reachedMs[index[r.Seed]], perRunMs));
            report((int)Math.Min(totalMs, int.MaxValue), (int)Math.Min(totalMs, int.MaxValue));
            return results;
        }, unit: "simulated ms");
    }

    /// <summary>
    /// The command that runs one seed of <paramref name="scenario"/> again: its file, every <c>--set</c>
    /// it was run with (quoted for a POSIX shell; without them it would be another scenario), the seed.
    /// </summary>
    public static string ReproduceCommandLine(Scenario scenario, ulong seed)
    {
        var sets = string.Concat(scenario.Overrides.Select(o => o.OriginText).Distinct(StringComparer.Ordinal)
            .Where(t => t.StartsWith("--set ", StringComparison.Ordinal))
            .Select(t => " --set '" + t["--set ".Length..].Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
        return $"plesim run {scenario.SourceFile}{sets} --runs 1 --seed {seed}";
    }
}

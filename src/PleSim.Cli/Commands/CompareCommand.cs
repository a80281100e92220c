using System.CommandLine;
using PleSim.Experiments.Compare;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Reporting;
using Spectre.Console;

namespace PleSim.Cli.Commands;

/// <summary>
/// <c>plesim compare SCENARIO --policies a,b,c</c>: the same scenario under several policies (PAUSE
/// handlers, guest locks, host schedulers, KVM or guest versions, stack presets), run k of every
/// policy with seed + k; one table, one plot, JSON or CSV.
/// </summary>
public static class CompareCommand
{
    public static Command Create(CliContext ctx)
    {
        var file = new Argument<string>("scenario") { Description = "Scenario file (YAML, kind system with VMs)" };
        var policies = new Option<string>("--policies", "-p")
        {
            Description = "Comma-separated policies; the first is the baseline. Each is a PAUSE handler (none, yield, directed-yield-2011, oracle, plugin:NAME, …), " +
                "a guest lock (ticket, pv-qspinlock, plugin:NAME of a guest-lock plug-in, …), a host scheduler (cfs-2.6.39, eevdf-6.6, …), kvm-VERSION, guest-VERSION, a stack preset " +
                $"({string.Join(", ", ComparePolicies.Stacks.Select(s => s.Name))}), key=value, or several joined with '+'",
            Required = true,
        };
        var runs = new Option<int?>("--runs", "-n") { Description = "Runs per policy (paired seeds); default: the file's 'runs'" };
        var seed = new Option<ulong?>("--seed", "-s") { Description = "First seed; run k of every policy uses seed + k (default: the file's 'seed')" };
        var metric = new Option<string?>("--metric", "-m") { Description = "Throughput metric (default: the scenario's compare_metric)" };
        var json = new Option<bool>("--json") { Description = "Print the JSON report on standard output instead of the table" };
        var csv = new Option<bool>("--csv") { Description = "Print one CSV row per policy on standard output instead of the table" };
        var plot = new Option<string?>("--plot") { Description = "Write the plot (throughput by policy, 95% CI) as SVG to this file" };
        var outDir = new Option<string?>("--out", "-o") { Description = "Also write compare.json, compare.csv, compare.svg and compare.txt into this directory" };
        var set = CommonOptions.Set();
        var parallel = CommonOptions.Parallel();
        var plugin = CommonOptions.Plugin();
        var cmd = new Command("compare", "Run one scenario under several policies with paired seeds; compare throughput, spin waste by cause, exits and yield_to precision")
        {
            file, policies, runs, seed, metric, json, csv, plot, outDir, set, parallel, plugin,
        };
        cmd.SetAction(parse =>
        {
            CommonOptions.LoadPlugins(parse.GetValue(plugin));
            if (parse.GetValue(json) && parse.GetValue(csv))
                throw new CliInputException("--json and --csv both print on standard output; choose one (--out writes both)");
            var overrides = CommonOptions.ParseOverrides(parse.GetValue(set));
            var path = parse.GetValue(file)!;
            var names = parse.GetValue(policies)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            IReadOnlyList<(PolicySpec Spec, Scenario Scenario)> prepared;
            try
            {
                prepared = PolicyComparison.Prepare(path, names, overrides);
            }
            catch (ScenarioException e)
            {
                foreach (var d in e.Diagnostics)
                    ctx.Err.WriteLine(d.ToString());
                return ExitCodes.BadInput;
            }
            catch (ArgumentException e)
            {
                throw new CliInputException("--policies: " + e.Message);
            }
            var first = prepared[0].Scenario;
            var m = parse.GetValue(metric) ?? first.CompareMetric
                ?? throw new CliInputException($"{path} has no compare_metric; name the throughput metric with --metric");
            // The metric must be one the model reports (checked, as run and sweep do, before the first
            // run): refused when no policy's scenario reports it, with the closest names.
            string label = parse.GetValue(metric) is null ? $"{first.SourceFile}: compare_metric" : "--metric";
            var unknownMetric = prepared.Select(p => MetricNames.CheckNames(p.Scenario, [(m, label)])).ToList();
            if (unknownMetric.All(u => u.Count > 0))
            {
                ctx.Error(unknownMetric[0][0]);
                return ExitCodes.BadInput;
            }
            int n = parse.GetValue(runs) ?? first.Runs;
            if (n < 2)
                throw new CliInputException($"--runs must be at least 2 (a confidence interval needs two runs), got {n}");
            CommonOptions.CheckSeedRange(parse.GetValue(seed) ?? first.Seed, n, parse.GetValue(seed) is null ? $"{first.SourceFile}: seed" : "--seed");
            var seeds = Runner.Seeds(first, n, parse.GetValue(seed));
            if (parse.GetValue(outDir) is { } checkDir)
                OutputPaths.CheckDirectory(checkDir, "--out");
            if (parse.GetValue(plot) is { } checkPlot)
                OutputPaths.CheckFile(checkPlot, "--plot");
            int total = prepared.Count * seeds.Length;
            int done = 0;
            var result = Progress.Run(ctx, $"compare ({prepared.Count} policies × {n} runs)",
                report => PolicyComparison.Run(path, m, prepared, seeds, parse.GetValue(parallel), _ => report(Interlocked.Increment(ref done), total)),
                quiet: (parse.GetValue(json) || parse.GetValue(csv)) && !ctx.IsErrTerminal);
            if (result.Outcomes.Any(o => o.Runs.All(r => r.Error is null) && o.Runs.All(r => r.Metric(m) is null)))
                throw new CliInputException($"--metric: the runs report no metric '{m}' (see plesim metrics {path})");
            var jsonText = result.ToJson();
            var csvText = result.ToCsv();
            var text = new StringWriter();
            foreach (var console in ctx.ReportConsoles(text, parse.GetValue(json) || parse.GetValue(csv)))
            {
                console.Write(CompareReport.Table(result));
                foreach (var o in result.Outcomes)
                    console.WriteLine($"  {o.Policy.Name} ({o.Policy.Kind}): {(o.Policy.Overrides.Count == 0 ? "(no change)" : o.Policy.Describe())}");
                foreach (var note in result.IdenticalNotes())
                    console.WriteLine(note);
                foreach (var note in CompareReport.CpuShiftNotes(result))
                    console.WriteLine(note);
                foreach (var o in result.Outcomes)
                {
                    foreach (var note in PlacementNotes.GroupLines(o.Runs).Concat(StartupNotes.Lines(o.Runs)))
                        console.WriteLine($"{o.Policy.Name}: {note}");
                }
            }
            if (parse.GetValue(json))
                ctx.Out.Write(jsonText);
            if (parse.GetValue(csv))
                ctx.Out.Write(csvText);
            if (parse.GetValue(plot) is { } plotPath)
                AtomicFile.Write(plotPath, Plots.Svg(CompareReport.Plot(result)));
            if (parse.GetValue(outDir) is { } dir)
            {
                AtomicFile.Write(Path.Combine(dir, "compare.json"), jsonText);
                AtomicFile.Write(Path.Combine(dir, "compare.csv"), csvText);
                AtomicFile.Write(Path.Combine(dir, "compare.txt"), text.ToString());
                AtomicFile.Write(Path.Combine(dir, "compare.svg"), Plots.Svg(CompareReport.Plot(result)));
            }
            foreach (var o in result.Outcomes)
            {
                foreach (var f in o.Runs.Where(r => r.Error is not null))
                    ctx.Err.WriteLine($"plesim: policy {o.Policy.Name}, seed {f.Seed} failed: {f.Error}");
            }
            return result.Outcomes.Any(o => o.Failed > 0) ? ExitCodes.RunFailed : ExitCodes.Ok;
        });
        return cmd;
    }
}

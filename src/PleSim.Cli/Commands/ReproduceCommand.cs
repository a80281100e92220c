using System.CommandLine;
using System.Diagnostics;
using PleSim.Experiments.Catalog;
using PleSim.Experiments.Reproduce;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;
using PleSim.Reporting;
using Spectre.Console;

namespace PleSim.Cli.Commands;

/// <summary><c>plesim reproduce riel-2011</c>: the seed's benchmark grid, side by side with the seed's table.</summary>
public static class ReproduceCommand
{
    public static Command Create(CliContext ctx)
    {
        var experiment = new Argument<string?>("experiment") { Description = "riel-2011 (the seed's full experiment), a case of the catalog of published results, 'all' (the scorecard), or a case file (NAME.yaml) to check and run", Arity = ArgumentArity.ZeroOrOne };
        var list = new Option<bool>("--list") { Description = "List the catalog of published results: name, source, set-up, what was measured, whether PleSim can express it" };
        var runs = new Option<int?>("--runs", "-n") { Description = "Runs per cell (default: the case's, 30 for riel-2011; --quick: the case's quick runs, 3 for riel-2011); with --uncertainty, runs per sampled point and cell (default 3; --quick: 1)" };
        var quick = new Option<bool>("--quick") { Description = "A quick look, well under a minute on 2 cores: riel-2011 runs 3 runs per cell of 300 ms, a catalog case its own quick settings (expression.quick: fewer, shorter runs) (with --uncertainty: 2 trajectories, 8 band points, 1 run of 300 ms)" };
        var json = new Option<bool>("--json") { Description = "Print the cells as JSON on standard output" };
        var outDir = new Option<string?>("--out", "-o") { Description = "Also write reproduce.json and reproduce.txt into this directory (--uncertainty: the study's results.sqlite, uncertainty.json and uncertainty.txt; a catalog case or all: every run in DIR/CASE/results.sqlite, then catalog.json and catalog.txt)" };
        var cgroups = new Option<bool>("--cgroups") { Description = "Put each VM in its own cpu cgroup (the seed's 80%/320% observation)" };
        var scenario = new Option<string?>("--scenario") { Description = "Scenario file to use instead of the built-in scenarios/riel-2011/amqp.yaml" };
        var parallel = CommonOptions.Parallel();
        var uncertainty = new Option<bool>("--uncertainty") { Description = "Sample the scenario's unknowns (Morris elementary effects + a Latin-hypercube band) over the published cells; resumable store in --out (default out/riel-2011-uncertainty, out/CASE-uncertainty). A catalog case needs 'unknowns:' in its scenario" };
        var trajectories = new Option<int?>("--trajectories") { Description = "--uncertainty: Morris trajectories (default 10; --quick: 2)" };
        var levels = new Option<int?>("--levels") { Description = "--uncertainty: Morris grid levels p, even (default 4)" };
        var bandPoints = new Option<int?>("--band-points") { Description = "--uncertainty: Latin-hypercube points for the band (default 64; --quick: 8; 0: the band comes from the Morris points)" };
        var resume = new Option<bool>("--resume") { Description = "--uncertainty, or a catalog case / all with --out: continue the runs stored in --out (run only what is missing)" };
        var shard = new Option<string?>("--shard") { Description = "--uncertainty, or a catalog case / all with --out: run only shard K of N, counted from 1 (e.g. 1/4 .. 4/4); then plesim merge DIR and run again with --resume" };
        var shardCount = new Option<int?>("--shard-count") { Description = "--uncertainty or the catalog: number of shards when the index comes from JOB_COMPLETION_INDEX" };
        var set = CommonOptions.Set();
        set.Description = "A what-if of the whole table: override a scenario key in every cell, e.g. --set vms[0].guest.tickless_idle=true (repeatable; not the grid's own keys)";
        var cmd = new Command("reproduce", "Reproduce published results: riel-2011 (the 2011 directed-yield series' AMQP table, two 4-VCPU guests on 4 CPUs), a case of the catalog, or all of it as a scorecard")
        {
            experiment, runs, quick, json, outDir, cgroups, scenario, parallel, set, list,
            uncertainty, trajectories, levels, bandPoints, resume, shard, shardCount,
        };
        cmd.SetAction(parse =>
        {
            // Every output path is checked before the first run (a bad --out must not fail after 720 runs).
            if (parse.GetValue(outDir) is { } outPath)
                OutputPaths.CheckDirectory(outPath, "--out");
            if (CatalogCommand.Dispatch(ctx, parse, new CatalogOptions(experiment, list, runs, quick, json, parallel, outDir, resume, shard, shardCount,
                uncertainty, trajectories, levels, bandPoints, [cgroups, scenario, set])) is int code)
                return code;
            bool q = parse.GetValue(quick);
            bool cg = parse.GetValue(cgroups);
            var variantOverrides = CommonOptions.ParseOverrides(parse.GetValue(set));
            Scenario s;
            try
            {
                s = Riel2011.LoadScenario(parse.GetValue(scenario), cg, q, variantOverrides);
            }
            catch (ScenarioException e)
            {
                foreach (var d in e.Diagnostics)
                    ctx.Err.WriteLine(d.ToString());
                return ExitCodes.BadInput;
            }
            if (parse.GetValue(uncertainty))
            {
                var options = UncertaintyCommand.OptionsFrom(q, parse.GetValue(trajectories), parse.GetValue(levels), parse.GetValue(bandPoints), parse.GetValue(runs));
                var sh = UncertaintyCommand.ShardFrom(parse.GetValue(shard), parse.GetValue(shardCount));
                return UncertaintyCommand.Run(ctx, s, options, parse.GetValue(outDir) ?? Path.Combine("out", q ? "riel-2011-uncertainty-quick" : "riel-2011-uncertainty"),
                    parse.GetValue(resume), sh, parse.GetValue(parallel), parse.GetValue(json));
            }
            if (parse.GetValue(resume) || parse.GetValue(shard) is not null || parse.GetValue(shardCount) is not null
                || parse.GetValue(trajectories) is not null || parse.GetValue(levels) is not null || parse.GetValue(bandPoints) is not null)
            {
                throw new CliInputException("--resume, --shard, --shard-count, --trajectories, --levels and --band-points belong to --uncertainty");
            }
            int n = parse.GetValue(runs) ?? (q ? 3 : s.Runs);
            if (n < 2)
                throw new CliInputException($"--runs must be at least 2 (a confidence interval needs two runs), got {n}");
            var sw = Stopwatch.StartNew();
            var cells = Progress.Run(ctx, $"riel-2011 ({Riel2011.Grid().Count} cells × {n} runs)",
                report => Riel2011.Run(s, n, parse.GetValue(parallel), report), quiet: parse.GetValue(json) && !ctx.IsErrTerminal);
            sw.Stop();
            var variant = Riel2011.Variant(s, variantOverrides.Count);
            // The JSON document costs about half a second for 720 runs: build it only when it is written.
            string? jsonText = parse.GetValue(json) || parse.GetValue(outDir) is not null ? ReproduceReport.Json(cells, n, s.Digest, cg, variant) : null;
            var text = new StringWriter();
            var consoles = ctx.ReportConsoles(text, parse.GetValue(json));
            // The plain-text copy (the last console) is only written out with --out: without it, skip rendering it.
            if (parse.GetValue(outDir) is null)
                consoles = consoles.Take(consoles.Count - 1).ToList();
            foreach (var console in consoles)
            {
                if (variant.Count > 0)
                    console.WriteLine($"What-if variant: {string.Join(" ", variant.Select(v => "--set " + v))} in every cell (the no-overcommit cells were calibrated without it).");
                foreach (var p in Riel2011.Payloads)
                    console.Write(ReproduceReport.Main(cells, p));
                console.Write(ReproduceReport.Ratios(cells));
                console.Write(ReproduceReport.Explain(cells));
                console.Write(ReproduceReport.SpinCauseTable(cells));
                console.Write(ReproduceReport.YieldLabelTable(cells));
                foreach (var line in ReproduceReport.PlacementSplits(cells))
                    console.WriteLine(line);
                console.Write(ReproduceReport.Split(cells, cg));
                foreach (var line in ReproduceReport.SplitVerdict(cells, cg))
                    console.WriteLine(line);
                foreach (var line in ReproduceReport.BasisAndShape(cells))
                    console.WriteLine(line);
                // What the catalog's riel-2011 case says about the shape, written after it was seen: for the
                // shipped set-up only (a variant, cgroups or another scenario is a different experiment).
                if (variant.Count == 0 && !cg && parse.GetValue(scenario) is null && ReproduceReport.Shape(cells).Checks.Any(c => !c.Agrees))
                {
                    var riel = CaseLoader.BuiltIn("riel-2011");
                    foreach (var line in CatalogReport.ExplanationLines(riel.Explanations))
                        console.WriteLine(line);
                    if (q && riel.Expression is { } e)
                        console.WriteLine(CatalogReport.QuickExplanationNote(e.QuickRuns, e.QuickSet));
                }
                console.WriteLine($"Compared metric: {cells[0].Metric} (messages delivered to the subscriber per second). {cells.Sum(c => c.Runs.Length)} runs in {sw.Elapsed.TotalSeconds:0.0} s wall time on {Environment.ProcessorCount} cores.");
            }
            if (parse.GetValue(json))
                ctx.Out.Write(jsonText!);
            if (parse.GetValue(outDir) is { } dir)
            {
                AtomicFile.Write(Path.Combine(dir, "reproduce.json"), jsonText!);
                AtomicFile.Write(Path.Combine(dir, "reproduce.txt"), text.ToString());
            }
            int failed = cells.Sum(c => c.Failed);
            if (failed > 0)
                ctx.Err.WriteLine($"plesim: {failed} runs failed; their seeds and errors are in the JSON output");
            return failed > 0 ? ExitCodes.RunFailed : ExitCodes.Ok;
        });
        return cmd;
    }
}

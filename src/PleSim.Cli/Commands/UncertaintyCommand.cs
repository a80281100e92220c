using System.Diagnostics;
using PleSim.Experiments.Catalog;
using PleSim.Experiments.Reproduce;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;
using PleSim.Reporting;
using Spectre.Console;

namespace PleSim.Cli.Commands;

/// <summary>
/// <c>plesim reproduce riel-2011 --uncertainty</c> and <c>plesim reproduce CASE --uncertainty</c>:
/// an unknowns study, run as a sweep into <c>DIR/results.sqlite</c> (resumable with <c>--resume</c>,
/// shardable with <c>--shard</c>), then analysed from the store.
/// </summary>
internal static class UncertaintyCommand
{
    /// <summary>One study as the command runs it: its sweep, a line that sizes it, and its analysis of a complete store.</summary>
    private sealed record Study(SweepPlan Plan, string Size, Func<IReadOnlyList<StoredRun>, (Action<IAnsiConsole> Render, string Json)> Analyse);

    /// <summary>The study's size from the command line: the full or <c>--quick</c> defaults, each overridden when given.</summary>
    public static UncertaintyOptions OptionsFrom(bool quick, int? trajectories, int? levels, int? bandPoints, int? runs)
    {
        var d = quick ? UncertaintyOptions.Quick : UncertaintyOptions.Full;
        return new UncertaintyOptions(trajectories ?? d.Trajectories, levels ?? d.Levels, bandPoints ?? d.LhsPoints, runs ?? d.Runs);
    }

    /// <summary>The shard to run: <c>--shard K/N</c>, else one from the environment (Slurm, Kubernetes) with <c>--shard-count</c>, else all.</summary>
    public static Shard ShardFrom(string? shard, int? shardCount)
    {
        try
        {
            return shard is { } sv ? Shard.Parse(sv) : Shard.FromEnvironment(Environment.GetEnvironmentVariable, shardCount) ?? Shard.All;
        }
        catch (FormatException e)
        {
            throw new CliInputException(e.Message);
        }
    }

    /// <summary>The riel-2011 study of the scenario <paramref name="s"/>.</summary>
    public static int Run(CliContext ctx, Scenario s, UncertaintyOptions options, string dir, bool resume, Shard sh, int parallel, bool json) =>
        Run(ctx, "riel-2011", "plesim reproduce riel-2011 --uncertainty ...", dir, resume, sh, parallel, json, () =>
        {
            var study = Riel2011Uncertainty.Create(s, options);
            return new Study(study.Plan, $"{study.Unknowns.Count} unknowns, {study.DesignPoints} sampled points × {study.Cells.Count} cells", stored =>
            {
                var cells = study.Analyse(stored);
                return (console =>
                {
                    console.Write(UncertaintyReport.Bands(study, cells));
                    foreach (var p in Riel2011.Payloads)
                        console.Write(UncertaintyReport.Effects(study, cells, p));
                    foreach (var line in UncertaintyReport.Summary(study, cells))
                        console.WriteLine(line);
                }, UncertaintyReport.Json(study, cells));
            });
        });

    /// <summary>The study of a catalog case (decision 0101); <paramref name="command"/> is the command line that continues it.</summary>
    public static int Run(CliContext ctx, CatalogCase c, bool quick, UncertaintyOptions options, string command, string dir, bool resume, Shard sh, int parallel, bool json) =>
        Run(ctx, c.Name, command, dir, resume, sh, parallel, json, () =>
        {
            var study = CaseUncertainty.Create(c, options, quick, $"{command} --out {SweepCommand.Quote(dir)} --resume");
            return new Study(study.Plan,
                $"{study.Unknowns.Count} unknowns, {study.DesignPoints} draws × {study.CasePlan.Grid.Count} cell(s){(study.CasePlan.Sides == 2 ? " × 2 (cell and base)" : "")}", stored =>
            {
                var draws = study.Draws(stored);
                var cells = study.Cells(draws);
                var statements = study.Statements(draws);
                var verdicts = study.VerdictCounts(draws);
                return (console =>
                {
                    console.Write(CaseUncertaintyReport.Bands(study, cells));
                    console.Write(CaseUncertaintyReport.Statements(statements));
                    console.Write(CaseUncertaintyReport.Effects(study, cells));
                    foreach (var line in CaseUncertaintyReport.Summary(study, cells, verdicts))
                        console.WriteLine(line);
                }, CaseUncertaintyReport.Json(study, cells, statements, verdicts));
            });
        });

    private static int Run(CliContext ctx, string name, string command, string dir, bool resume, Shard sh, int parallel, bool json, Func<Study> create)
    {
        Study study;
        var sw = Stopwatch.StartNew();
        var storePath = Path.Combine(dir, sh.StoreFileName);
        const string advice = "continue that study with --resume";
        ResultStore.RefuseExisting(storePath, resume, advice); // before the plan, which takes seconds to build
        try
        {
            study = create();
        }
        catch (ScenarioException e)
        {
            foreach (var d in e.Diagnostics)
                ctx.Err.WriteLine(d.ToString());
            return ExitCodes.BadInput;
        }
        var plan = study.Plan;
        var store = ResultStore.OpenFor(storePath, plan, sh, resume, advice);
        using (store)
        {
            ctx.Err.WriteLine($"plesim: {name} uncertainty: {study.Size} × {plan.Runs} run(s) " +
                $"= {plan.Points.Count * plan.Runs} runs{(sh.IsAll ? "" : $", shard {sh}")} → {storePath} (planned in {sw.Elapsed.TotalSeconds:0.0} s)");
            using var signals = new StopSignals();
            var runSw = Stopwatch.StartNew();
            var outcome = Progress.Run(ctx, $"{name} uncertainty{(sh.IsAll ? "" : $" shard {sh}")}",
                report => SweepRunner.Run(plan, store, sh, parallel, null, report, signals.Token), quiet: json && !ctx.IsErrTerminal);
            runSw.Stop();
            ctx.Err.WriteLine($"plesim: {outcome.Ran} run(s) done now in {runSw.Elapsed.TotalSeconds:0.0} s, {outcome.AlreadyStored} were already stored" +
                (outcome.Failed.Count > 0 ? $", {outcome.Failed.Count} failed" : ""));
            foreach (var f in outcome.Failed.Take(10))
                ctx.Err.WriteLine($"plesim: point {f.Point} ({plan.Points[f.Point].Label}) run {f.Run} (seed {f.Seed}) failed: {f.Error}");
            if (outcome.Interrupted)
            {
                ctx.Err.WriteLine($"plesim: interrupted{signals.By}; the finished runs are stored; continue with: {command} --out {SweepCommand.Quote(dir)} --resume");
                return signals.ExitCode;
            }
            if (!sh.IsAll)
            {
                ctx.Err.WriteLine($"plesim: shard {sh} complete; when every shard is done: plesim merge {SweepCommand.Quote(dir)}, then the same command without --shard and with --resume analyses the merged store");
                return outcome.Failed.Count > 0 ? ExitCodes.RunFailed : ExitCodes.Ok;
            }
            var stored = store.Runs();
            var (render, jsonText) = study.Analyse(stored);
            long events = stored.Sum(r => r.Events);
            var text = new StringWriter();
            foreach (var console in ctx.ReportConsoles(text, json))
            {
                render(console);
                console.WriteLine($"{plan.Points.Count * plan.Runs} runs, {events:N0} events ({outcome.Ran} runs now, {runSw.Elapsed.TotalSeconds:0.0} s wall on {Environment.ProcessorCount} cores); store: {storePath}.");
            }
            if (json)
                ctx.Out.Write(jsonText);
            AtomicFile.Write(Path.Combine(dir, "uncertainty.json"), jsonText);
            AtomicFile.Write(Path.Combine(dir, "uncertainty.txt"), text.ToString());
            return outcome.Failed.Count > 0 ? ExitCodes.RunFailed : ExitCodes.Ok;
        }
    }
}

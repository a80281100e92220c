using System.Diagnostics;
using PleSim.Experiments.Reproduce;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;
using PleSim.Reporting;
using Spectre.Console;

namespace PleSim.Cli.Commands;

/// <summary>
/// <c>plesim reproduce riel-2011 --uncertainty</c>: the unknowns study, run as a sweep into
/// <c>DIR/results.sqlite</c> (resumable with <c>--resume</c>, shardable with <c>--shard</c>), then
/// analysed from the store.
/// </summary>
internal static class UncertaintyCommand
{
    public static int Run(CliContext ctx, Scenario s, UncertaintyOptions options, string dir, bool resume, Shard sh, int parallel, bool json)
    {
        Riel2011Uncertainty study;
        var sw = Stopwatch.StartNew();
        var storePath = Path.Combine(dir, sh.StoreFileName);
        const string advice = "continue that study with --resume";
        ResultStore.RefuseExisting(storePath, resume, advice); // before the plan, which takes seconds to build
        try
        {
            study = Riel2011Uncertainty.Create(s, options);
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
            ctx.Err.WriteLine($"plesim: riel-2011 uncertainty: {study.Unknowns.Count} unknowns, {study.DesignPoints} sampled points × {study.Cells.Count} cells × {plan.Runs} run(s) " +
                $"= {plan.Points.Count * plan.Runs} runs{(sh.IsAll ? "" : $", shard {sh}")} → {storePath} (planned in {sw.Elapsed.TotalSeconds:0.0} s)");
            using var signals = new StopSignals();
            var runSw = Stopwatch.StartNew();
            var outcome = Progress.Run(ctx, $"riel-2011 uncertainty{(sh.IsAll ? "" : $" shard {sh}")}",
                report => SweepRunner.Run(plan, store, sh, parallel, null, report, signals.Token), quiet: json && !ctx.IsErrTerminal);
            runSw.Stop();
            ctx.Err.WriteLine($"plesim: {outcome.Ran} run(s) done now in {runSw.Elapsed.TotalSeconds:0.0} s, {outcome.AlreadyStored} were already stored" +
                (outcome.Failed.Count > 0 ? $", {outcome.Failed.Count} failed" : ""));
            foreach (var f in outcome.Failed.Take(10))
                ctx.Err.WriteLine($"plesim: point {f.Point} run {f.Run} (seed {f.Seed}) failed: {f.Error}");
            if (outcome.Interrupted)
            {
                ctx.Err.WriteLine($"plesim: interrupted{signals.By}; the finished runs are stored; continue with: plesim reproduce riel-2011 --uncertainty ... --out {SweepCommand.Quote(dir)} --resume");
                return signals.ExitCode;
            }
            if (!sh.IsAll)
            {
                ctx.Err.WriteLine($"plesim: shard {sh} complete; when every shard is done: plesim merge {SweepCommand.Quote(dir)}, then the same command without --shard and with --resume analyses the merged store");
                return outcome.Failed.Count > 0 ? ExitCodes.RunFailed : ExitCodes.Ok;
            }
            var stored = store.Runs();
            var cells = study.Analyse(stored);
            long events = stored.Sum(r => r.Events);
            var jsonText = UncertaintyReport.Json(study, cells);
            var text = new StringWriter();
            foreach (var console in ctx.ReportConsoles(text, json))
            {
                console.Write(UncertaintyReport.Bands(study, cells));
                foreach (var p in Riel2011.Payloads)
                    console.Write(UncertaintyReport.Effects(study, cells, p));
                foreach (var line in UncertaintyReport.Summary(study, cells))
                    console.WriteLine(line);
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

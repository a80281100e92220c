using System.CommandLine;
using PleSim.Experiments.Catalog;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;
using PleSim.Reporting;
using Spectre.Console;

namespace PleSim.Cli.Commands;

/// <summary>The options of <c>plesim reproduce</c> the catalog uses.</summary>
public sealed record CatalogOptions(
    Argument<string?> Experiment,
    Option<bool> List,
    Option<int?> Runs,
    Option<bool> Quick,
    Option<bool> Json,
    Option<int> Parallel,
    Option<string?> Out,
    Option<bool> Resume,
    Option<string?> Shard,
    Option<int?> ShardCount,
    Option<bool> Uncertainty,
    Option<int?> Trajectories,
    Option<int?> Levels,
    Option<int?> BandPoints,
    IReadOnlyList<Option> RielOnly);

/// <summary>
/// The catalog of published results behind <c>plesim reproduce</c>: <c>--list</c>, a case by name,
/// and <c>all</c> with its scorecard. <c>riel-2011</c> by itself stays the full experiment of
/// <see cref="ReproduceCommand"/> (this class returns null for it).
/// </summary>
public static class CatalogCommand
{
    /// <summary>
    /// Pre-registration (decision 0018): the model never runs on a case before it is committed,
    /// whether it is named, a file being written (<paramref name="file"/>), or one of 'all' (a
    /// built-in case is pending only between the commit that adds it and the one that records that
    /// commit). Says so for each pending case — on <paramref name="output"/> when it was the only
    /// one asked for, else on <paramref name="errors"/> — and returns the others.
    /// </summary>
    internal static List<CatalogCase> SkipPending(List<CatalogCase> selected, string? file, TextWriter output, TextWriter errors)
    {
        var kept = new List<CatalogCase>(selected.Count);
        foreach (var c in selected)
        {
            if (c is not { IsExpressible: true, PreregisteredCommit: "pending" })
            {
                kept.Add(c);
                continue;
            }
            var what = file is null ? $"{c.Name}: not run" : $"{file}: the case '{c.Name}' is well formed. Not run";
            (selected.Count == 1 ? output : errors).WriteLine($"{what}: it is not pre-registered yet — commit it, " +
                "write that commit into preregistered_commit, then run it.");
        }
        return kept;
    }

    /// <summary>Handles the catalog forms of <c>reproduce</c>; null when the command is the built-in riel-2011 experiment.</summary>
    public static int? Dispatch(CliContext ctx, ParseResult parse, CatalogOptions o)
    {
        var name = parse.GetValue(o.Experiment);
        bool list = parse.GetValue(o.List);
        if (name == "riel-2011" && !list)
            return null;
        if (BuiltInCases(ctx) is not { } cases)
            return ExitCodes.BadInput;
        bool json = parse.GetValue(o.Json);
        if (list)
        {
            if (name is not null)
                throw new CliInputException("--list takes no experiment name (it lists them all)");
            var unknowns = cases.ToDictionary(c => c.Name, CaseUncertainty.DeclaredUnknowns);
            if (json)
                ctx.Out.Write(CatalogReport.ListJson(cases, unknowns));
            else
                ctx.Out.Write(CatalogReport.List(cases, unknowns));
            return ExitCodes.Ok;
        }
        if (name is null)
            throw new CliInputException("name a case to reproduce (plesim reproduce --list shows them), or 'all'");
        foreach (var opt in o.RielOnly)
        {
            if (parse.GetResult(opt) is { Implicit: false })
                throw new CliInputException($"{opt.Name} applies to 'plesim reproduce riel-2011' only");
        }
        List<CatalogCase> selected;
        if (name == "all")
        {
            selected = [.. cases];
        }
        else if (name.EndsWith(".yaml", StringComparison.Ordinal))
        {
            // A case file being written: check it (file:line:column errors) and run it.
            try
            {
                selected = [CaseLoader.LoadFile(name)];
            }
            catch (ScenarioException e)
            {
                foreach (var d in e.Diagnostics)
                    ctx.Err.WriteLine(d.ToString());
                return ExitCodes.BadInput;
            }
        }
        else if (cases.FirstOrDefault(c => c.Name == name) is { } one)
        {
            selected = [one];
        }
        else
        {
            var guess = Suggestions.Closest(name, cases.Select(c => c.Name).Append("all"));
            throw new CliInputException($"no case named '{name}'{(guess is null ? "" : $"; did you mean '{guess}'?")} (plesim reproduce --list shows the catalog)");
        }
        selected = SkipPending(selected, name.EndsWith(".yaml", StringComparison.Ordinal) ? name : null, ctx.Out, ctx.Err);
        if (selected.Count == 0)
            return ExitCodes.Ok;
        if (name.EndsWith(".yaml", StringComparison.Ordinal))
        {
            // A case file: its recorded commit must exist and hold it, where git can tell (decision 0095).
            var check = Preregistration.Check(name, selected[0].PreregisteredCommit);
            if (check.State == PreregistrationState.Refused)
            {
                ctx.Err.WriteLine($"{name}: not run: the case '{selected[0].Name}' is not pre-registered: {check.Detail}.");
                return ExitCodes.BadInput;
            }
            selected = [selected[0] with { PreregistrationCheck = check }];
        }
        bool quick = parse.GetValue(o.Quick);
        int? runs = parse.GetValue(o.Runs);
        if (parse.GetValue(o.Uncertainty))
            return Uncertainty(ctx, parse, o, name, selected[0], quick, runs);
        if (parse.GetValue(o.Trajectories) is not null || parse.GetValue(o.Levels) is not null || parse.GetValue(o.BandPoints) is not null)
            throw new CliInputException("--trajectories, --levels and --band-points belong to --uncertainty");
        if (runs is < 2)
            throw new CliInputException($"--runs must be at least 2 (a confidence interval needs two runs), got {runs}");
        var outDir = parse.GetValue(o.Out);
        bool resume = parse.GetValue(o.Resume);
        Shard? shard;
        try
        {
            shard = parse.GetValue(o.Shard) is { } sv ? Shard.Parse(sv)
                : outDir is null && parse.GetValue(o.ShardCount) is null ? null
                : Shard.FromEnvironment(Environment.GetEnvironmentVariable, parse.GetValue(o.ShardCount));
        }
        catch (FormatException e)
        {
            throw new CliInputException(e.Message);
        }
        if (outDir is null && (resume || shard is not null))
            throw new CliInputException("--resume, --shard and --shard-count work on the result stores in --out DIR: give --out");
        var sh = shard ?? Shard.All;
        var results = new List<CaseResult>();
        int ranNow = 0, stored = 0, failedNow = 0;
        using var signals = outDir is null ? null : new StopSignals();
        foreach (var c in selected)
        {
            CaseResult? r;
            try
            {
                if (!c.IsExpressible)
                {
                    r = CatalogRunner.NotExpressible(c, quick);
                }
                else if (outDir is null)
                {
                    r = Progress.Run(ctx, $"{c.Name} ({c.Expression!.Rows.Count * c.Expression.Columns.Count} cells)",
                        report => CatalogRunner.Run(c, quick, runs, parse.GetValue(o.Parallel), report), quiet: json && !ctx.IsErrTerminal);
                }
                else
                {
                    // Through the sweep store (decision 0035): resumable, shardable, merged by plesim merge.
                    var command = $"plesim reproduce {name}{(quick ? " --quick" : "")}{(runs is int n ? $" --runs {n}" : "")} --out {SweepCommand.Quote(outDir)}";
                    var plan = CatalogRunner.Plan(c, quick, runs, command + " --resume");
                    OutputPaths.CheckDirectory(CatalogStore.CaseDirectory(outDir, c), "--out");
                    var outcome = Progress.Run(ctx, $"{c.Name} ({plan.Grid.Count} cells × {plan.Runs} runs{(sh.IsAll ? "" : $", shard {sh}")})",
                        report => CatalogStore.Run(plan, outDir, sh, resume, parse.GetValue(o.Parallel), report, signals!.Token), quiet: json && !ctx.IsErrTerminal);
                    ranNow += outcome.Sweep.Ran;
                    stored += outcome.Sweep.AlreadyStored;
                    failedNow += outcome.Sweep.Failed.Count;
                    foreach (var f in outcome.Sweep.Failed.Take(10))
                        ctx.Err.WriteLine($"plesim: {c.Name}: cell {plan.Sweep.Points[f.Point].Label} run {f.Run} (seed {f.Seed}) failed: {f.Error}");
                    if (outcome.Sweep.Interrupted)
                    {
                        ctx.Err.WriteLine($"plesim: interrupted{signals!.By} in {c.Name}; the finished runs are stored in {outDir}; continue with: {command}{(sh.IsAll ? "" : $" --shard {sh}")} --resume");
                        return signals.ExitCode;
                    }
                    r = outcome.Result;
                }
            }
            catch (ScenarioException e)
            {
                foreach (var d in e.Diagnostics)
                    ctx.Err.WriteLine(d.ToString());
                return ExitCodes.BadInput;
            }
            if (r is not null)
                results.Add(r);
        }
        if (outDir is not null)
            ctx.Err.WriteLine($"plesim: {ranNow} run(s) done now, {stored} were already stored{(failedNow > 0 ? $", {failedNow} failed" : "")} (stores in {outDir}/CASE/)");
        if (!sh.IsAll)
        {
            ctx.Err.WriteLine($"plesim: shard {sh} of {(name == "all" ? "the catalog" : selected[0].Name)} complete; when every shard is done: plesim merge {SweepCommand.Quote(outDir!)}, " +
                $"then the same command without --shard and with --resume prints the {(name == "all" ? "scorecard" : "table")} from the merged stores");
            return failedNow > 0 ? ExitCodes.RunFailed : ExitCodes.Ok;
        }
        var jsonText = CatalogReport.ResultsJson(results);
        var text = new StringWriter();
        foreach (var console in ctx.ReportConsoles(text, json))
        {
            foreach (var r in results)
            {
                if (name == "all" && !r.Case.IsExpressible)
                    continue; // the scorecard names what is missing
                console.Write(CatalogReport.Table(r));
                foreach (var line in CatalogReport.Verdict(r))
                    console.WriteLine(line);
                console.WriteLine();
            }
            if (name == "all")
            {
                console.Write(CatalogReport.Scorecard(results));
                console.WriteLine(CatalogReport.Totals(results));
            }
        }
        if (json)
            ctx.Out.Write(jsonText);
        if (parse.GetValue(o.Out) is { } dir)
        {
            AtomicFile.Write(Path.Combine(dir, "catalog.json"), jsonText);
            AtomicFile.Write(Path.Combine(dir, "catalog.txt"), text.ToString());
        }
        int failed = results.Sum(r => r.Cells.Sum(c => c.Failed));
        if (failed > 0)
            ctx.Err.WriteLine($"plesim: {failed} runs failed; their seeds and errors are in the JSON output");
        return failed > 0 ? ExitCodes.RunFailed : ExitCodes.Ok;
    }

    /// <summary>
    /// <c>plesim reproduce CASE --uncertainty</c> (decision 0101): the unknowns study of one case,
    /// sized like riel-2011's (<c>--quick</c>: the case's quick window and 2 trajectories, 8 band draws, 1 run).
    /// </summary>
    private static int Uncertainty(CliContext ctx, ParseResult parse, CatalogOptions o, string name, CatalogCase c, bool quick, int? runs)
    {
        if (name == "all")
            throw new CliInputException("--uncertainty studies one case at a time: name it (plesim reproduce --list shows the catalog)");
        if (!c.IsExpressible)
            throw new CliInputException($"{c.Name} cannot be expressed yet ({c.CannotExpress}): there is nothing to study");
        if (runs is < 1)
            throw new CliInputException($"--runs with --uncertainty is the runs per draw and must be at least 1, got {runs}");
        var options = UncertaintyCommand.OptionsFrom(quick, parse.GetValue(o.Trajectories), parse.GetValue(o.Levels), parse.GetValue(o.BandPoints), runs);
        var sh = UncertaintyCommand.ShardFrom(parse.GetValue(o.Shard), parse.GetValue(o.ShardCount));
        var command = $"plesim reproduce {name} --uncertainty{(quick ? " --quick" : "")}" +
            (parse.GetValue(o.Runs) is int r ? $" --runs {r}" : "") +
            (parse.GetValue(o.Trajectories) is int t ? $" --trajectories {t}" : "") +
            (parse.GetValue(o.Levels) is int l ? $" --levels {l}" : "") +
            (parse.GetValue(o.BandPoints) is int b ? $" --band-points {b}" : "");
        var dir = parse.GetValue(o.Out) ?? Path.Combine("out", $"{c.Name}-uncertainty{(quick ? "-quick" : "")}");
        return UncertaintyCommand.Run(ctx, c, quick, options, command, dir, parse.GetValue(o.Resume), sh, parse.GetValue(o.Parallel), parse.GetValue(o.Json));
    }

    /// <summary>The cases built into the program, or null after printing why they cannot be read.</summary>
    internal static IReadOnlyList<CatalogCase>? BuiltInCases(CliContext ctx)
    {
        try
        {
            return CaseLoader.BuiltIn();
        }
        catch (ScenarioException e)
        {
            foreach (var d in e.Diagnostics)
                ctx.Err.WriteLine(d.ToString());
            return null;
        }
    }
}

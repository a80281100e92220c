using System.CommandLine;
using PleSim.Experiments.Sweeps;
using PleSim.Reporting;

namespace PleSim.Cli.Commands;

/// <summary><c>plesim report DIR [--html FILE]</c>: tables, CSV/JSON exports, plots and an HTML report of a sweep.</summary>
public static class ReportCommand
{
    public static Command Create(CliContext ctx)
    {
        var input = new Argument<string>("dir") { Description = "A sweep's output directory (results.sqlite, or its shard stores) or a store file; or a catalog output (plesim reproduce all --out DIR) or its catalog.json: the scorecard" };
        var html = new Option<string?>("--html") { Description = "Write a single-file HTML report (tables, plots, scenario, environment, seeds) here" };
        var metric = new Option<string[]>("--metric", "-m") { Description = "Metric(s) to tabulate and plot (default: the scenario's compare_metric and metrics list)", Arity = ArgumentArity.ZeroOrMore };
        var x = new Option<string?>("--x") { Description = "Swept key on the plots' x axis (default: the first swept key)" };
        var baseline = new Option<string?>("--baseline") { Description = "Compare along this key, against its first value or KEY=VALUE (default: kvm.ple_handler if swept, else the last swept key)" };
        var noPlots = new Option<bool>("--no-plots") { Description = "Skip the PNG/SVG plots" };
        var json = new Option<bool>("--json") { Description = "Print points.json on standard output instead of tables" };
        var cmd = new Command("report", "Summarise a sweep: tables, paired comparisons, CSV/JSON, plots (PNG/SVG) and an HTML report")
        {
            input, html, metric, x, baseline, noPlots, json,
        };
        cmd.SetAction(parse =>
        {
            var dir = parse.GetValue(input)!;
            if (CatalogReportCommand.Applies(dir))
                return CatalogReportCommand.Run(ctx, dir, parse.GetValue(html), parse.GetValue(json));
            var results = SweepResults.Load(SweepResults.FindStores(dir));
            string? axis = null, value = null;
            if (parse.GetValue(baseline) is { } b)
            {
                int eq = b.IndexOf('=', StringComparison.Ordinal);
                (axis, value) = eq > 0 ? (b[..eq], b[(eq + 1)..]) : (b, null);
            }
            var view = SweepView.Of(results, parse.GetValue(metric), axis, value);
            if (parse.GetValue(x) is { } xKey && results.Varied.All(a => a.Path != xKey))
                throw new StoreException($"--x {xKey}: not a swept key of this sweep (swept: {(results.Varied.Count == 0 ? "none" : string.Join(", ", results.Varied.Select(a => a.Path)))})");
            var outDir = File.Exists(dir) ? Path.GetDirectoryName(Path.GetFullPath(dir))! : dir;
            // The exports go beside the store; check that, and the HTML file, before writing anything.
            OutputPaths.CheckDirectory(outDir, "report (exports beside the store)");
            if (!parse.GetValue(noPlots))
                OutputPaths.CheckDirectory(Path.Combine(outDir, "plots"), "report (plots)");
            if (parse.GetValue(html) is { } htmlCheck)
                OutputPaths.CheckFile(htmlCheck, "--html");
            SweepOutputs.WriteExports(view, outDir);
            var written = new List<string>(SweepOutputs.ExportFiles);
            IReadOnlyList<SweepPlot> plots = [];
            if (!parse.GetValue(noPlots) || parse.GetValue(html) is not null)
            {
                plots = SweepReport.Plots(view, parse.GetValue(x));
                if (!parse.GetValue(noPlots))
                {
                    SweepReport.SavePlots(plots, Path.Combine(outDir, "plots"));
                    written.Add($"plots/ ({plots.Count} plots, PNG and SVG)");
                }
            }
            if (parse.GetValue(html) is { } htmlPath)
            {
                AtomicFile.Write(htmlPath, SweepReport.Html(view, plots));
                written.Add(htmlPath);
            }
            if (parse.GetValue(json))
            {
                ctx.Out.Write(SweepJson.Write(results, view.Comparisons));
            }
            else if (UncertaintyAnalysis(outDir) is { } analysis)
            {
                // An uncertainty study's points are samples, one per zipped set of unknowns: a table per
                // point would be hundreds of columns wide. Its analysis is what to read.
                ctx.Out.Write(analysis);
                ctx.Err.WriteLine($"plesim: {dir} holds an uncertainty study ({results.Points.Count} sampled points): shown is its analysis (uncertainty.txt), " +
                    $"not a table per point; the points are in points.csv, and {results.Meta.GetValueOrDefault("resume_with", "plesim reproduce riel-2011 --uncertainty ... --out DIR --resume")} analyses the store again");
            }
            else
            {
                ctx.Console_.Write(SweepTables.Points(view));
                if (view.Comparisons.Count > 0)
                    ctx.Console_.Write(SweepTables.Comparisons(view));
            }
            var missing = results.Missing();
            if (missing.Count > 0)
                ctx.Err.WriteLine($"plesim: warning: {missing.Count} run(s) of this sweep are missing; the statistics use the runs present");
            ctx.Err.WriteLine($"plesim: wrote {string.Join(", ", written)} (in {outDir})");
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The text analysis an uncertainty study wrote beside its store (<c>uncertainty.txt</c> with <c>uncertainty.json</c>), or null.</summary>
    private static string? UncertaintyAnalysis(string dir)
    {
        var text = Path.Combine(dir, "uncertainty.txt");
        return File.Exists(text) && File.Exists(Path.Combine(dir, "uncertainty.json")) ? File.ReadAllText(text) : null;
    }
}

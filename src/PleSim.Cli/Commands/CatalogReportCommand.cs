using System.Text.Json;
using PleSim.Experiments.Catalog;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;
using PleSim.Reporting;
using Spectre.Console;

namespace PleSim.Cli.Commands;

/// <summary>
/// <c>plesim report</c> on the catalog: a catalog output directory (<c>reproduce all --out DIR</c>),
/// judged again from its result stores, or a catalog JSON file (<c>catalog.json</c>, <c>reproduce all
/// --json</c>) as it is; prints the scorecard and writes the HTML page with <c>--html</c>.
/// </summary>
internal static class CatalogReportCommand
{
    /// <summary>True for a catalog JSON file, or a directory with case stores and no sweep store of its own.</summary>
    public static bool Applies(string path) =>
        File.Exists(path)
            ? path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
            : Directory.Exists(path) && !File.Exists(Path.Combine(path, ResultStore.FileName)) && SweepResults.ShardStores(path).Count == 0
              && CatalogStore.CaseDirectories(path).Count > 0;

    public static int Run(CliContext ctx, string path, string? html, bool json)
    {
        if (html is not null)
            OutputPaths.CheckFile(html, "--html");
        string text, origin;
        if (File.Exists(path))
        {
            text = File.ReadAllText(path);
            origin = Path.GetFileName(path);
        }
        else
        {
            if (CatalogCommand.BuiltInCases(ctx) is not { } cases)
                return ExitCodes.BadInput;
            var results = CatalogStore.Load(path, cases);
            text = CatalogReport.ResultsJson(results);
            origin = $"the result stores in {Path.GetFileName(Path.GetFullPath(path).TrimEnd('/'))}/ (judged again by this build)";
            if (!json)
            {
                foreach (var r in results.Where(r => r.Case.IsExpressible))
                {
                    ctx.Console_.Write(CatalogReport.Table(r));
                    foreach (var line in CatalogReport.Verdict(r))
                        ctx.Console_.WriteLine(line);
                    ctx.Console_.WriteLine();
                }
                ctx.Console_.Write(CatalogReport.Scorecard(results));
                ctx.Console_.WriteLine(CatalogReport.Totals(results));
            }
        }
        string page;
        try
        {
            page = CatalogHtml.Render(text, origin);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new CliInputException($"{path}: not the JSON of plesim reproduce NAME|all --json ({e.Message})");
        }
        if (json)
            ctx.Out.Write(text);
        if (html is not null)
        {
            AtomicFile.Write(html, page);
            ctx.Err.WriteLine($"plesim: wrote {html}");
        }
        return ExitCodes.Ok;
    }
}

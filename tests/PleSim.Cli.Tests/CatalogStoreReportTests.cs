using PleSim.Experiments.Catalog;
using PleSim.Reporting;

namespace PleSim.Cli.Tests;

/// <summary>
/// <c>plesim report DIR</c> on the output of one case (<c>reproduce NAME --out DIR</c>): only that case
/// is counted, its wall time comes from the store, and the lines under its table say how many runs were simulated.
/// </summary>
public sealed class CatalogStoreReportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-catstore-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, true);
    }

    [Fact]
    public void A_one_case_directory_reports_that_case_only_with_its_stored_wall_time_and_runs()
    {
        var file = CatalogCliTests.TinyCaseFile(Path.Combine(_dir, "cases"));
        var outDir = Path.Combine(_dir, "out");
        var (code, _, err) = CatalogCliTests.Plesim("reproduce", file, "--quick", "--out", outDir, "-j", "1");
        Assert.True(code == 0, err);

        var tiny = CaseLoader.LoadFile(file);
        var cannot = CaseLoader.BuiltIn().First(c => !c.IsExpressible);
        var results = CatalogStore.Load(outDir, [tiny, cannot]);
        var r = Assert.Single(results);
        Assert.Equal("tiny-lock", r.Case.Name);
        Assert.True(r.WallSeconds > 0, $"wall {r.WallSeconds}");
        Assert.Contains(CatalogReport.Verdict(r), l => l.StartsWith("Measured: ", StringComparison.Ordinal) && l.EndsWith("(simulated: 3 runs per cell, --quick)", StringComparison.Ordinal));
    }

    [Fact]
    public void The_wall_time_of_stored_runs_counts_overlap_once_and_no_gap()
    {
        static PleSim.Experiments.Sweeps.StoredRun Run(string finished, double wall) =>
            new(0, 0, 1, "d", "ok", null, [], 0, "0", wall, finished, "w");
        // Two runs in parallel, each 2 s, ending together: 2 s, not 4.
        Assert.Equal(2, CatalogStore.StoredWallSeconds([Run("2026-01-01T00:00:10.0000000Z", 2), Run("2026-01-01T00:00:10.0000000Z", 2)]), 6);
        // A day between two 1 s runs (a --resume): at most the runs' own time.
        Assert.Equal(2, CatalogStore.StoredWallSeconds([Run("2026-01-01T00:00:10.0000000Z", 1), Run("2026-01-02T00:00:10.0000000Z", 1)]), 6);
    }
}

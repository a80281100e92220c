using PleSim.Experiments.Catalog;
using PleSim.Experiments.Sweeps;

namespace PleSim.Experiments.Tests;

/// <summary>
/// The catalog through the sweep store (decision 0035): a case stored, interrupted and resumed,
/// or run in shards and merged, gives the same cells, judgements and verdict as an in-memory run,
/// and a complete store is read back without running anything.
/// </summary>
public sealed class CatalogStoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-catstore-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    /// <summary>A two-row, two-column case on the lock benchmark, 20 ms per run (a few hundred ms in all).</summary>
    private static CatalogCase TinyCase() => CaseLoader.LoadText(
        "name: demo\n" +
        "title: a demo\n" +
        "source: {authors: A. Author, title: A patch, venue: LKML, date: 2012-07-10, url: https://example.org/x}\n" +
        "setup: two guests\n" +
        "measured: lock iterations\n" +
        "published:\n  unit: ops\n  columns: [c1, c2]\n  rows:\n    - {name: a, values: [~, ~]}\n    - {name: b, values: [~, ~]}\n  qualitative: true\n" +
        "shape:\n  - {claim: x, greater: [\"a @ c1\", \"b @ c1\"]}\n  - {claim: y, positive: \"gain(a @ c2; b @ c2)\"}\n" +
        "expression:\n  scenario: scenarios/kvm/lock-bench.yaml\n  metric: bench.lock_iterations_per_second\n  runs: 4\n" +
        "  quick: {runs: 3, set: [duration=20ms, warmup=5ms]}\n" +
        "  rows: {a: [\"kvm.ple_handler=none\"], b: [\"kvm.ple_handler=directed-yield-2011\"]}\n" +
        "  columns: {c1: [], c2: [\"kvm.ple_window=1024\"]}\n" +
        "preregistered_commit: 0123456789abcdef0123456789abcdef01234567\n", "demo.yaml");

    /// <summary>Everything a result says about the simulation (no timings).</summary>
    private static string Text(CaseResult r) => string.Join("\n",
        new[] { r.Verdict, r.RunsPerCell.ToString(System.Globalization.CultureInfo.InvariantCulture), r.ScenarioDigest }
        .Concat(r.Cells.Select(c => $"{c.Row}@{c.Column} {string.Join(",", c.Overrides)} {c.Summary.Mean:R} {c.Summary.Ci95Low:R} {c.Summary.Ci95High:R} {c.Summary.N} "
            + string.Join(",", c.Runs.Select(x => $"{x.Seed}:{x.Error}:{x.Events}:{x.EventDigest:x}:{string.Join(";", x.Metrics.Select(m => $"{m.Key}={m.Value:R}"))}"))))
        .Concat(r.Predicates.Select(p => $"{p.Predicate} {p.OnSimulated} {string.Join(",", p.SimulatedValues)} {p.SimulatedDifference}")));

    [Fact]
    public void An_interrupted_stored_run_resumes_to_the_in_memory_result()
    {
        var c = TinyCase();
        var memory = CatalogRunner.Run(c, quick: true, parallelism: 1);
        var plan = CatalogRunner.Plan(c, quick: true);
        Assert.Equal(["a @ c1", "a @ c2", "b @ c1", "b @ c2"], plan.Sweep.Points.Select(p => p.Label));

        // --resume of a case never run into this directory starts it (the catalog was interrupted before it).
        var fresh = CatalogStore.Run(plan, Path.Combine(_dir, "elsewhere"), Shard.All, resume: true, parallelism: 1);
        Assert.Equal(Text(memory), Text(fresh.Result!));

        // Stop after the fifth run: the finished runs are stored, nothing else.
        using var cts = new CancellationTokenSource();
        var first = CatalogStore.Run(plan, _dir, Shard.All, resume: false, parallelism: 1,
            progress: (done, _) => { if (done >= 5) cts.Cancel(); }, cancel: cts.Token);
        Assert.True(first.Sweep.Interrupted);
        Assert.Null(first.Result);
        Assert.Equal(Path.Combine(_dir, "demo", ResultStore.FileName), first.StorePath);
        int stored;
        using (var s = ResultStore.Open(first.StorePath, readOnly: true))
        {
            stored = s.Runs().Count;
            Assert.Equal("plesim reproduce demo --quick --out DIR --resume", s.Meta["resume_with"]);
        }
        Assert.InRange(stored, 5, 11);

        // Without --resume an existing store is refused; with it only the missing runs run.
        Assert.Throws<StoreException>(() => CatalogStore.Run(plan, _dir, Shard.All, resume: false, parallelism: 1));
        var resumed = CatalogStore.Run(plan, _dir, Shard.All, resume: true, parallelism: 1);
        Assert.False(resumed.Sweep.Interrupted);
        Assert.Equal(12 - stored, resumed.Sweep.Ran);
        Assert.Equal(Text(memory), Text(resumed.Result!));

        // A complete store is read back without running anything, by the command and by the report.
        var again = CatalogStore.Run(plan, _dir, Shard.All, resume: true, parallelism: 1);
        Assert.Equal(0, again.Sweep.Ran);
        Assert.Equal(Text(memory), Text(again.Result!));
        Assert.Equal(Text(memory), Text(CatalogStore.Load(_dir, [c]).Single()));
    }

    [Fact]
    public void Shards_merged_give_the_in_memory_result_and_a_changed_grid_is_refused()
    {
        var c = TinyCase();
        var memory = CatalogRunner.Run(c, quick: true, parallelism: 1);
        var plan = CatalogRunner.Plan(c, quick: true);
        int ran = 0;
        foreach (var k in new[] { 1, 2, 3 })
        {
            var o = CatalogStore.Run(plan, _dir, new Shard(k - 1, 3), resume: false, parallelism: 1);
            Assert.Null(o.Result);
            ran += o.Sweep.Ran;
        }
        Assert.Equal(12, ran);
        var caseDir = Path.Combine(_dir, "demo");
        Assert.Equal([caseDir], CatalogStore.CaseDirectories(_dir));
        // Before the merge, the whole catalog is not read from shard stores.
        Assert.Contains("plesim merge", Assert.Throws<StoreException>(() => CatalogStore.Run(plan, _dir, Shard.All, resume: true)).Message, StringComparison.Ordinal);
        Assert.Contains("plesim merge", Assert.Throws<StoreException>(() => CatalogStore.Load(_dir, [c])).Message, StringComparison.Ordinal);
        ResultStore.Merge(SweepResults.ShardStores(caseDir), Path.Combine(caseDir, ResultStore.FileName));
        var merged = CatalogStore.Run(plan, _dir, Shard.All, resume: true, parallelism: 1);
        Assert.Equal(0, merged.Sweep.Ran);
        Assert.Equal(Text(memory), Text(merged.Result!));

        // The same directory with another grid (more runs per cell) is refused, not mixed.
        var other = CatalogRunner.Plan(c, quick: true, runs: 5);
        Assert.Contains("different sweep", Assert.Throws<StoreException>(() => CatalogStore.Run(other, _dir, Shard.All, resume: true)).Message, StringComparison.Ordinal);
    }
}

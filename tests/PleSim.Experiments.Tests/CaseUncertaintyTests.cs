using PleSim.Experiments.Catalog;
using PleSim.Experiments.Reproduce;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;

namespace PleSim.Experiments.Tests;

/// <summary>
/// <c>plesim reproduce CASE --uncertainty</c> (decision 0101): every draw of a case's unknowns runs
/// the whole case, each draw is read back exactly as the case itself would compute it, and a key a
/// cell sets cannot be an unknown.
/// </summary>
public sealed class CaseUncertaintyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("plesim-caseunc").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The lock benchmark with two unknowns: the guests' HZ (a set) and the lock's hold time (a range).</summary>
    private string ScenarioWithUnknowns(string unknowns = """
        unknowns:
          - name: guest HZ
            keys:
              - vms[0].guest.hz
              - vms[1].guest.hz
            values: [100, 1000]
            source: "test"
          - name: hold time
            key: vms[0].workload.hold
            range: [1us, 4us]
            source: "test"
        """)
    {
        var path = Path.Combine(_dir, "bench.yaml");
        File.WriteAllText(path, File.ReadAllText(Path.Combine(RepoRoot(), "scenarios", "kvm", "lock-bench.yaml")) + "\n" + unknowns + "\n");
        return path;
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "PleSim.slnx")))
                return d.FullName;
        }
        throw new InvalidOperationException("repository root not found");
    }

    /// <summary>A two-row case (no PLE against the 2011 directed yield), one column, 20 ms windows; <paramref name="extraQuick"/> joins its quick overrides.</summary>
    private static CatalogCase TinyCase(string scenario, string extraQuick = "") => CaseLoader.LoadText(
        "name: demo\n" +
        "title: a demo\n" +
        "source: {authors: A. Author, title: A patch, venue: LKML, date: 2012-07-10, url: https://example.org/x}\n" +
        "setup: two guests\n" +
        "measured: lock iterations\n" +
        "published:\n  unit: ops\n  columns: [c1]\n  rows:\n    - {name: a, values: [100000]}\n    - {name: b, values: [150000]}\n" +
        "shape:\n  - {claim: b beats a, greater: [\"b @ c1\", \"a @ c1\"]}\n" +
        $"expression:\n  scenario: {scenario}\n  metric: bench.lock_iterations_per_second\n  runs: 4\n" +
        $"  quick: {{runs: 2, set: [duration=20ms, warmup=5ms{extraQuick}]}}\n" +
        "  rows: {a: [\"kvm.ple_handler=none\"], b: [\"kvm.ple_handler=directed-yield-2011\"]}\n" +
        "  columns: {c1: []}\n" +
        "preregistered_commit: 0123456789abcdef0123456789abcdef01234567\n", "demo.yaml");

    private static readonly UncertaintyOptions Tiny = new(Trajectories: 1, Levels: 4, LhsPoints: 3, Runs: 2);

    [Fact]
    public void Every_draw_runs_every_cell_with_the_drawn_values_and_the_same_seeds()
    {
        var study = CaseUncertainty.Create(TinyCase(ScenarioWithUnknowns()), Tiny, quick: true, "resume");
        Assert.Equal(2, study.Unknowns.Count);
        Assert.Equal(3 + 3, study.DesignPoints); // 1 trajectory × (2 unknowns + 1) Morris draws + 3 Latin-hypercube draws
        Assert.Equal(2, study.PointsPerDraw);
        Assert.Equal(12, study.Plan.Points.Count);
        for (int d = 0; d < study.DesignPoints; d++)
        {
            var x = d < study.Morris.Points.Count ? study.Morris.Points[d] : study.Lhs[d - study.Morris.Points.Count];
            var hz = study.Unknowns[0].ValueAt(x[0], grid: d < study.Morris.Points.Count);
            var hold = study.Unknowns[1].ValueAt(x[1], grid: d < study.Morris.Points.Count);
            for (int p = 0; p < 2; p++)
            {
                var point = study.Plan.Points[(d * 2) + p];
                Assert.Equal($"draw {d}: {(p == 0 ? "a" : "b")} @ c1", point.Label);
                var set = point.Assignments.ToDictionary(o => o.Path, o => o.Value);
                Assert.Equal(hz, set["vms[0].guest.hz"]);
                Assert.Equal(hz, set["vms[1].guest.hz"]);
                Assert.Equal(hold, set["vms[0].workload.hold"]);
                Assert.Equal(p == 0 ? "none" : "directed-yield-2011", set["kvm.ple_handler"]);
                Assert.Equal(study.CasePlan.Sweep.Base.Seed, point.Scenario.Seed);
            }
        }
        // The Morris draws sit on the 4-level grid: a range's value is one of its four levels.
        var levels = new[] { "1000ns", "2000ns", "3000ns", "4000ns" };
        Assert.All(Enumerable.Range(0, study.Morris.Points.Count), d =>
            Assert.Contains(study.Plan.Points[d * 2].Assignments.Single(o => o.Path == "vms[0].workload.hold").Value, levels));
    }

    [Fact]
    public void Each_draw_is_read_back_as_the_case_run_with_those_values_would_give()
    {
        var c = TinyCase(ScenarioWithUnknowns());
        var study = CaseUncertainty.Create(c, Tiny, quick: true, "resume");
        using var store = ResultStore.Create(Path.Combine(_dir, ResultStore.FileName), study.Plan, Shard.All);
        var outcome = SweepRunner.Run(study.Plan, store, Shard.All, parallelism: 2);
        Assert.Empty(outcome.Failed);
        var draws = study.Draws(store.Runs());
        Assert.Equal(study.DesignPoints, draws.Count);

        // Draw 4 (a Latin-hypercube draw) against the case run by itself with that draw's values.
        int d = 4;
        var drawn = study.Plan.Points[d * 2].Assignments.Where(o => o.Path != "kvm.ple_handler").Select(o => $", \"{o.Path}={o.Value}\"");
        var alone = CatalogRunner.Run(TinyCase(ScenarioWithUnknowns(), string.Concat(drawn)), quick: true, runs: 2, parallelism: 2);
        for (int g = 0; g < 2; g++)
        {
            Assert.Equal(alone.Cells[g].Values, draws[d].Cells[g].Values);
            Assert.Equal(alone.Cells[g].Runs.Select(r => r.EventDigest), draws[d].Cells[g].Runs.Select(r => r.EventDigest));
        }
        Assert.Equal(alone.Verdict, draws[d].Verdict);

        // The band and the statements are over the three Latin-hypercube draws only.
        var cells = study.Cells(draws);
        var lhsMeans = draws.Skip(3).Select(r => r.Cells[1].Summary.Mean).Order().ToArray();
        Assert.Equal((lhsMeans[0], lhsMeans[^1], 3), (cells[1].Band.Min, cells[1].Band.Max, cells[1].Band.Points));
        Assert.Equal(150000, cells[1].Published);
        Assert.Equal(2, cells[1].Effects.Count);
        var s = Assert.Single(study.Statements(draws));
        Assert.Equal(3, s.Draws);
        Assert.True(s.Settleable);
        Assert.Equal(3, s.Holds + s.Fails + s.Unsettled);
        Assert.Equal(draws.Skip(3).Count(r => r.Predicates[0].OnSimulated == Judgement.Holds), s.Holds);
        Assert.Equal(draws.Skip(3).Count(r => r.Cells[1].Summary.Mean > r.Cells[0].Summary.Mean), s.HoldsOnMeans);
        Assert.Equal(3, study.VerdictCounts(draws).Sum(v => v.Draws));
    }

    [Fact]
    public void A_key_a_cell_sets_and_a_scenario_without_unknowns_are_refused_before_anything_runs()
    {
        var setByCell = ScenarioWithUnknowns("""
            unknowns:
              - name: handler
                key: kvm.ple_handler
                values: [none, directed-yield-2011]
                source: "test"
            """);
        var e = Assert.Throws<ScenarioException>(() => CaseUncertainty.Create(TinyCase(setByCell), Tiny, quick: true, "resume"));
        Assert.Contains(e.Diagnostics, d => d.ToString().Contains("a cell of demo (or its base, or --quick) sets this key", StringComparison.Ordinal));

        var setByQuick = ScenarioWithUnknowns("""
            unknowns:
              - name: window
                key: duration
                values: [20ms, 40ms]
                source: "test"
            """);
        Assert.Throws<ScenarioException>(() => CaseUncertainty.Create(TinyCase(setByQuick), Tiny, quick: true, "resume"));

        var none = Path.Combine(RepoRoot(), "scenarios", "kvm", "lock-bench.yaml");
        e = Assert.Throws<ScenarioException>(() => CaseUncertainty.Create(TinyCase(none), Tiny, quick: true, "resume"));
        Assert.Contains(e.Diagnostics, d => d.ToString().Contains("declares no unknowns", StringComparison.Ordinal));
    }

    [Fact]
    public void A_star_key_sets_every_vm_of_the_drawn_scenario_and_may_not_cover_a_key_a_cell_sets()
    {
        var star = ScenarioWithUnknowns("""
            unknowns:
              - name: guest HZ
                key: vms[*].guest.hz
                values: [100, 1000]
                source: "test"
            """);
        var study = CaseUncertainty.Create(TinyCase(star), Tiny, quick: true, "resume");
        foreach (var point in study.Plan.Points)
        {
            var hz = point.Assignments.Single(o => o.Path == "vms[*].guest.hz").Value;
            Assert.All(point.Scenario.Vms, vm => Assert.Equal(int.Parse(hz, System.Globalization.CultureInfo.InvariantCulture), vm.Guest.Hz));
        }

        // vms[*].guest.hz covers a cell's vms[1].guest.hz: refused, as the exact key would be.
        var caseText =
            "name: demo2\ntitle: a demo\n" +
            "source: {authors: A. Author, title: A patch, venue: LKML, date: 2012-07-10, url: https://example.org/x}\n" +
            "setup: two guests\nmeasured: lock iterations\n" +
            "published:\n  unit: ops\n  columns: [c1]\n  rows:\n    - {name: a, values: [100000]}\n" +
            "shape:\n  - {claim: a is positive, positive: \"a @ c1\"}\n" +
            $"expression:\n  scenario: {star}\n  metric: bench.lock_iterations_per_second\n  runs: 4\n" +
            "  quick: {runs: 2, set: [duration=20ms, warmup=5ms]}\n" +
            "  rows: {a: [\"vms[1].guest.hz=250\"]}\n  columns: {c1: []}\n" +
            "preregistered_commit: 0123456789abcdef0123456789abcdef01234567\n";
        var e = Assert.Throws<ScenarioException>(() => CaseUncertainty.Create(CaseLoader.LoadText(caseText, "demo2.yaml"), Tiny, quick: true, "resume"));
        Assert.Contains(e.Diagnostics, d => d.ToString().Contains("vms[*].guest.hz", StringComparison.Ordinal) && d.ToString().Contains("sets this key", StringComparison.Ordinal));

        // Two unknowns may not name the same key, through [*] either (this rewrites the scenario file).
        var twice = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(ScenarioWithUnknowns("""
            unknowns:
              - {name: all, key: "vms[*].guest.hz", values: [100, 1000], source: test}
              - {name: one, key: "vms[1].guest.hz", values: [250, 1000], source: test}
            """)));
        Assert.Contains(twice.Diagnostics, d => d.ToString().Contains("'vms[1].guest.hz' is already set by unknowns[0]", StringComparison.Ordinal));
    }

    /// <summary>
    /// Every shipped case whose scenario declares unknowns can be studied, full and quick: every value
    /// loads into every row's scenario (rows on other files included) and no unknown sets a key a cell,
    /// its base or the quick window sets. Nothing runs.
    /// </summary>
    [Fact]
    public void Every_shipped_case_with_unknowns_plans_its_study()
    {
        var studied = CaseLoader.BuiltIn().Where(c => CaseUncertainty.DeclaredUnknowns(c) > 0).ToList();
        Assert.Contains(studied, c => c.Name == "wanpeng-2019-pv-sched-yield");
        Assert.Contains(studied, c => c.Name == "raghavendra-2012-dy-eligible"); // rows on three scenario files
        foreach (var c in studied)
        {
            foreach (bool quick in new[] { false, true })
            {
                var study = CaseUncertainty.Create(c, new UncertaintyOptions(1, 2, 1, 1), quick, "resume");
                Assert.Equal((study.Unknowns.Count + 2) * study.PointsPerDraw, study.Plan.Points.Count);
            }
        }
    }

    [Fact]
    public void Pooled_variance_ignores_groups_of_one_and_non_finite_values()
    {
        Assert.Equal(2.0, CaseUncertainty.PooledVariance([[1, 3], [5], [2, double.NaN, 4]]), 12); // ((1-2)²+(3-2)² + (2-3)²+(4-3)²) / 2
        Assert.True(double.IsNaN(CaseUncertainty.PooledVariance([[1], [2]])));
    }
}

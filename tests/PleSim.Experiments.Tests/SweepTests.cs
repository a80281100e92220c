using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;

namespace PleSim.Experiments.Tests;

/// <summary>Sweep grids, shards, the result store, merge, resume and adaptive repetitions on a fast engine-hold scenario.</summary>
public sealed class SweepTests : IDisposable
{
    internal const string Hold = """
        name: hold-sweep
        description: hold model for sweep tests
        kind: engine-hold
        seed: 7
        runs: 3
        duration: 2ms
        warmup: 0
        engine_hold:
          population: 100
          mean_delay: 100us
          cancel_half: false
        metrics: [events, events_per_sim_second]
        """;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-sweep-{Guid.NewGuid():N}");

    public SweepTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Scenario Load(string text = Hold) => ScenarioLoader.LoadText(text, "hold.yaml");

    private static SweepPlan Plan(string text = Hold, int? runs = null, AdaptiveTarget? adaptive = null, params string[] sets) =>
        SweepPlan.Create(Load(text), sets.Select(SweepSpec.ParseAxis), runs: runs, adaptive: adaptive);

    private static readonly string[] TwoAxes = ["engine_hold.population=50,100,200", "engine_hold.cancel_half=false,true"];

    private string RunToStore(SweepPlan plan, Shard shard, string name, RunOptions? options = null, CancellationToken cancel = default)
    {
        var path = Path.Combine(_dir, name);
        using var store = File.Exists(path) ? ResultStore.Open(path) : ResultStore.Create(path, plan, shard);
        store.CheckResumable(plan, shard);
        SweepRunner.Run(plan, store, shard, parallelism: 2, options: options, cancel: cancel);
        return path;
    }

    private static List<string> ResultLines(string store)
    {
        using var s = ResultStore.Open(store, readOnly: true);
        return s.Runs().Select(r => r.ResultText()).ToList();
    }

    [Fact]
    public void A_cartesian_grid_varies_the_last_key_fastest()
    {
        var plan = Plan(sets: TwoAxes);
        Assert.Equal(6, plan.Points.Count);
        Assert.Equal(
            ["engine_hold.population=50 engine_hold.cancel_half=false", "engine_hold.population=50 engine_hold.cancel_half=true",
             "engine_hold.population=100 engine_hold.cancel_half=false", "engine_hold.population=100 engine_hold.cancel_half=true",
             "engine_hold.population=200 engine_hold.cancel_half=false", "engine_hold.population=200 engine_hold.cancel_half=true"],
            plan.Points.Select(p => p.Label));
        Assert.Equal(200, plan.Points[5].Scenario.EngineHold!.Population);
        Assert.True(plan.Points[5].Scenario.EngineHold!.CancelHalf);
    }

    [Fact]
    public void A_zipped_grid_pairs_values_and_refuses_unequal_lengths()
    {
        var plan = SweepPlan.Create(Load(), [SweepSpec.ParseAxis("engine_hold.population=50,100"), SweepSpec.ParseAxis("engine_hold.mean_delay=10us,20us")], SweepMode.Zip);
        Assert.Equal(["engine_hold.population=50 engine_hold.mean_delay=10us", "engine_hold.population=100 engine_hold.mean_delay=20us"], plan.Points.Select(p => p.Label));
        var e = Assert.Throws<ScenarioException>(() =>
            SweepPlan.Create(Load(), [SweepSpec.ParseAxis("engine_hold.population=50,100,200"), SweepSpec.ParseAxis("engine_hold.mean_delay=10us,20us")], SweepMode.Zip));
        Assert.Contains("engine_hold.population (3), engine_hold.mean_delay (2)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_single_value_is_a_fixed_override_not_a_dimension()
    {
        var plan = Plan(sets: ["engine_hold.population=50,100", "engine_hold.mean_delay=20us"]);
        Assert.Equal(2, plan.Points.Count);
        Assert.Equal("engine_hold.population=50", plan.Points[0].Label);
        Assert.All(plan.Points, p => Assert.Equal(20_000, p.Scenario.EngineHold!.MeanDelay.Ns));
        Assert.Equal(20_000, plan.Base.EngineHold!.MeanDelay.Ns);
    }

    [Fact]
    public void Values_split_at_top_level_commas_only()
    {
        Assert.Equal(["[0,1]", "{a: 1, b: 2}", "\"x,y\"", "3"], SweepSpec.SplitValues("[0,1],{a: 1, b: 2},\"x,y\",3"));
    }

    [Fact]
    public void The_file_sweep_section_gives_the_grid_and_a_command_line_axis_replaces_its_key()
    {
        var text = Hold + "\nsweep:\n  mode: cartesian\n  set:\n    engine_hold.population: [10, 20]\n    engine_hold.cancel_half: [false, true]\n";
        var fromFile = SweepPlan.Create(Load(text), []);
        Assert.Equal(4, fromFile.Points.Count);
        var replaced = SweepPlan.Create(Load(text), [SweepSpec.ParseAxis("engine_hold.population=30,40,50")]);
        Assert.Equal(6, replaced.Points.Count);
        Assert.Equal(30, replaced.Points[0].Scenario.EngineHold!.Population);
        // The sweep section is not part of the scenario: a point's digest equals that of plain --set.
        var plain = ScenarioLoader.LoadText(Hold, "hold.yaml", [Override.Parse("engine_hold.population=10"), Override.Parse("engine_hold.cancel_half=false")]);
        Assert.Equal(plain.Digest, fromFile.Points[0].Scenario.Digest);
    }

    [Fact]
    public void A_bad_sweep_section_is_reported_with_its_position()
    {
        var text = Hold + "\nsweep:\n  mdoe: zip\n  set:\n    engine_hold.population: [10, 20]\n";
        var e = Assert.Throws<ScenarioException>(() => Load(text));
        var d = Assert.Single(e.Diagnostics);
        Assert.Equal((14, 3), (d.Line, d.Column));
        Assert.Contains("did you mean 'mode'?", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_value_in_a_point_names_the_assignment()
    {
        var e = Assert.Throws<ScenarioException>(() => Plan(sets: ["engine_hold.population=50,-3"]));
        var d = Assert.Single(e.Diagnostics);
        Assert.StartsWith("--set engine_hold.population=50,-3 (value 2: -3)", d.File, StringComparison.Ordinal);
        Assert.Equal("engine_hold.population", d.KeyPath);
    }

    [Fact]
    public void A_short_key_resolves_to_the_unique_path_that_ends_with_it()
    {
        var plan = Plan(sets: ["population=50,60"]);
        Assert.Equal("engine_hold.population", plan.Spec.Axes[0].Path);
        Assert.Equal(60, plan.Points[1].Scenario.EngineHold!.Population);
        Assert.Equal(plan.Points[1].Scenario.Digest, ScenarioLoader.LoadText(Hold, "hold.yaml", [Override.Parse("engine_hold.population=60")]).Digest);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    public void Shards_cover_every_run_exactly_once(int n)
    {
        var plan = Plan(runs: 5, sets: TwoAxes);
        var owners = new Dictionary<long, int>();
        for (int i = 0; i < n; i++)
        {
            var shard = new Shard(i, n);
            foreach (var p in plan.Points)
            {
                for (int k = 0; k < plan.Runs; k++)
                {
                    if (shard.Owns(plan.Unit(p.Index, k)))
                        Assert.True(owners.TryAdd(plan.Unit(p.Index, k), i), $"unit ({p.Index},{k}) owned twice");
                }
            }
        }
        Assert.Equal(plan.Points.Count * plan.Runs, owners.Count);
        // Balanced: shard sizes differ by at most one.
        var sizes = owners.Values.GroupBy(v => v).Select(g => g.Count()).ToList();
        Assert.True(sizes.Max() - sizes.Min() <= 1);
    }

    [Fact]
    public void Shards_come_from_slurm_or_kubernetes_variables()
    {
        Assert.Equal(new Shard(2, 4), Shard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "4")), null));
        Assert.Equal(new Shard(1, 3), Shard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "11"), ("SLURM_ARRAY_TASK_MIN", "10"), ("SLURM_ARRAY_TASK_COUNT", "3")), null));
        Assert.Equal(new Shard(3, 5), Shard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "3")), 5));
        Assert.Null(Shard.FromEnvironment(Env(), null));
        Assert.Contains("--shard-count", Assert.Throws<FormatException>(() => Shard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "3")), null)).Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => Shard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "5")), 5));
        // --shard counts from 1, as test runners do: 1/4 .. 4/4 (positions 0..3 inside).
        Assert.Equal(new Shard(3, 4), Shard.Parse("4/4"));
        Assert.Equal(new Shard(0, 4), Shard.Parse("1/4"));
        Assert.Equal("4/4", new Shard(3, 4).ToString());
        Assert.Equal("shard-4-of-4.sqlite", new Shard(3, 4).StoreFileName);
        Assert.Contains("counted from 1", Assert.Throws<FormatException>(() => Shard.Parse("0/4")).Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => Shard.Parse("5/4"));
        Assert.Equal(new Shard(0, 1), Shard.Parse("1/1"));

        static Func<string, string?> Env(params (string K, string V)[] vars) => k => vars.FirstOrDefault(v => v.K == k).V;
    }

    [Fact]
    public void The_store_holds_one_row_per_run_with_the_runners_results()
    {
        var plan = Plan(sets: TwoAxes);
        var path = RunToStore(plan, Shard.All, "all.sqlite");
        using var store = ResultStore.Open(path, readOnly: true);
        var runs = store.Runs();
        Assert.Equal(18, runs.Count);
        Assert.Equal(plan.Digest, store.SweepDigest);
        // Row = what a plain run of that point and seed gives.
        var r = runs.Single(x => x.Point == 4 && x.Run == 2);
        var direct = Runner.RunOne(plan.Points[4].Scenario, 9);
        Assert.Equal(9UL, r.Seed);
        Assert.Equal(direct.Metric("events"), r.Metric("events"));
        Assert.Equal(direct.EventDigest.ToString("x16", System.Globalization.CultureInfo.InvariantCulture), r.EventDigest);
        Assert.Equal(plan.Points[4].Scenario.Digest, r.ScenarioDigest);
    }

    [Fact]
    public void Merged_shards_equal_the_unsharded_sweep()
    {
        var plan = Plan(sets: TwoAxes);
        var all = RunToStore(plan, Shard.All, "all.sqlite");
        var shards = Enumerable.Range(0, 3).Select(i => RunToStore(plan, new Shard(i, 3), $"shard-{i}-of-3.sqlite")).ToList();
        Assert.All(shards, s => Assert.InRange(ResultLines(s).Count, 1, 17));
        var merged = Path.Combine(_dir, "merged", ResultStore.FileName);
        Assert.Equal(18, ResultStore.Merge(shards, merged));
        Assert.Equal(ResultLines(all), ResultLines(merged));
        var a = SweepResults.Load([all]);
        var m = SweepResults.Load([merged]);
        Assert.Equal(SweepJson.Write(a, a.Compare(["events"], "engine_hold.cancel_half")), SweepJson.Write(m, m.Compare(["events"], "engine_hold.cancel_half")));
        // Reading the shards directly gives the same too.
        Assert.Equal(ResultLines(all), SweepResults.Load(shards).Runs.Select(r => r.ResultText()).ToList());
    }

    [Fact]
    public void Stores_of_different_sweeps_are_not_merged()
    {
        var a = RunToStore(Plan(runs: 1, sets: ["engine_hold.population=50,100"]), Shard.All, "a.sqlite");
        var b = RunToStore(Plan(runs: 1, sets: ["engine_hold.population=50,200"]), Shard.All, "b.sqlite");
        var e = Assert.Throws<StoreException>(() => ResultStore.Merge([a, b], Path.Combine(_dir, "m.sqlite")));
        Assert.Contains("different sweep", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_dir, "m.sqlite")));
    }

    [Fact]
    public void An_interrupted_sweep_resumes_to_the_same_results()
    {
        var plan = Plan(sets: TwoAxes);
        var full = RunToStore(plan, Shard.All, "full.sqlite");
        using var cts = new CancellationTokenSource();
        int started = 0;
        var stopAfterFive = new RunOptions { Attach = (_, _, _) => { if (Interlocked.Increment(ref started) == 5) cts.Cancel(); } };
        var partial = RunToStore(plan, Shard.All, "partial.sqlite", stopAfterFive, cts.Token);
        int before = ResultLines(partial).Count;
        Assert.InRange(before, 1, 17);
        RunToStore(plan, Shard.All, "partial.sqlite");
        Assert.Equal(ResultLines(full), ResultLines(partial));
    }

    [Fact]
    public void A_store_refuses_to_resume_a_changed_sweep()
    {
        var plan = Plan(sets: TwoAxes);
        var path = RunToStore(plan, Shard.All, "s.sqlite");
        using var store = ResultStore.Open(path);
        var changedFile = Plan(Hold.Replace("mean_delay: 100us", "mean_delay: 200us", StringComparison.Ordinal), sets: TwoAxes);
        Assert.Contains("the scenario (hold.yaml) changed", Assert.Throws<StoreException>(() => store.CheckResumable(changedFile, Shard.All)).Message, StringComparison.Ordinal);
        Assert.Contains("runs per point changed (3 then, 4 now)", Assert.Throws<StoreException>(() => store.CheckResumable(Plan(runs: 4, sets: TwoAxes), Shard.All)).Message, StringComparison.Ordinal);
        Assert.Contains("swept keys", Assert.Throws<StoreException>(() => store.CheckResumable(Plan(sets: ["engine_hold.population=50,100"]), Shard.All)).Message, StringComparison.Ordinal);
        Assert.Contains("holds shard 1/1, not 1/2", Assert.Throws<StoreException>(() => store.CheckResumable(plan, new Shard(0, 2))).Message, StringComparison.Ordinal);
        store.CheckResumable(Plan(sets: TwoAxes), Shard.All); // the same sweep, planned again
        Assert.Throws<StoreException>(() => ResultStore.Create(path, plan, Shard.All));
    }

    [Fact]
    public void A_failing_run_is_recorded_with_its_seed_and_the_sweep_goes_on()
    {
        var plan = Plan(sets: ["engine_hold.population=50,100"]);
        var failSeed8 = new RunOptions { Attach = (_, _, seed) => { if (seed == 8) throw new InvalidOperationException("boom"); } };
        var path = Path.Combine(_dir, "f.sqlite");
        SweepOutcome outcome;
        using (var store = ResultStore.Create(path, plan, Shard.All))
            outcome = SweepRunner.Run(plan, store, Shard.All, options: failSeed8);
        Assert.Equal([(0, 1, 8UL), (1, 1, 8UL)], outcome.Failed.Select(f => (f.Point, f.Run, f.Seed)));
        Assert.Contains("boom", outcome.Failed[0].Error, StringComparison.Ordinal);
        var results = SweepResults.Load([path]);
        Assert.Equal(6, results.Runs.Count);
        Assert.Equal(2, results.Summaries()[0].Ok);
        Assert.Equal(1, results.Summaries()[0].Failed);
    }

    /// <summary>
    /// Progress (done, total) counts every stored run once: adaptive rounds list a point's earlier
    /// runs again, and a resumed sweep starts from what the store holds.
    /// </summary>
    [Fact]
    public void Progress_counts_each_run_once_in_adaptive_rounds_and_after_a_resume()
    {
        var capped = Plan(runs: 2, adaptive: AdaptiveTarget.Parse("events=0.0001%", 6), sets: ["engine_hold.population=50,100"]);
        List<(int Done, int Total)> Record(string name, RunOptions? options = null, CancellationToken cancel = default)
        {
            var seen = new List<(int, int)>();
            var path = Path.Combine(_dir, name);
            using var store = File.Exists(path) ? ResultStore.Open(path) : ResultStore.Create(path, capped, Shard.All);
            SweepRunner.Run(capped, store, Shard.All, 2, options, (d, t) => { lock (seen) seen.Add((d, t)); }, cancel);
            return seen;
        }
        var whole = Record("whole.sqlite");
        Assert.All(whole, p => Assert.True(p.Done <= p.Total, $"{p.Done}/{p.Total}"));
        Assert.Equal((12, 12), whole.MaxBy(p => p.Done));

        using var cts = new CancellationTokenSource();
        int started = 0;
        var stop = new RunOptions { Attach = (_, _, _) => { if (Interlocked.Increment(ref started) == 7) cts.Cancel(); } };
        Record("resumed.sqlite", stop, cts.Token);
        int stored = ResultLines(Path.Combine(_dir, "resumed.sqlite")).Count;
        var resumed = Record("resumed.sqlite");
        Assert.All(resumed, p => Assert.True(p.Done <= p.Total, $"{p.Done}/{p.Total}"));
        Assert.True(resumed[0].Done >= Math.Min(stored, 4), $"first report {resumed[0]} with {stored} stored");
        Assert.Equal((12, 12), resumed.MaxBy(p => p.Done));
    }

    [Fact]
    public void Adaptive_runs_stop_at_the_target_or_the_cap_and_resume_identically()
    {
        // A tiny half-width target can only be met by the cap; a huge one by the first batch.
        var capped = Plan(runs: 2, adaptive: AdaptiveTarget.Parse("events=0.0001%", 6), sets: ["engine_hold.population=50,100"]);
        var path = Path.Combine(_dir, "capped.sqlite");
        SweepOutcome outcome;
        using (var store = ResultStore.Create(path, capped, Shard.All))
            outcome = SweepRunner.Run(capped, store, Shard.All);
        Assert.Equal(12, ResultLines(path).Count);
        Assert.Equal(2, outcome.Notes.Count);
        var easy = Plan(runs: 2, adaptive: AdaptiveTarget.Parse("events=50%", 6), sets: ["engine_hold.population=50,100"]);
        Assert.Equal(4, ResultLines(RunToStore(easy, Shard.All, "easy.sqlite")).Count);

        // Interrupted after a few runs, then resumed: same decisions, same rows.
        using var cts = new CancellationTokenSource();
        int started = 0;
        var stop = new RunOptions { Attach = (_, _, _) => { if (Interlocked.Increment(ref started) == 7) cts.Cancel(); } };
        var resumed = RunToStore(capped, Shard.All, "resumed.sqlite", stop, cts.Token);
        Assert.True(ResultLines(resumed).Count < 12);
        RunToStore(capped, Shard.All, "resumed.sqlite");
        Assert.Equal(ResultLines(path), ResultLines(resumed));
    }

    [Fact]
    public void Next_count_follows_the_inverse_square_root_law_within_bounds()
    {
        var t = AdaptiveTarget.Parse("m=1", 50);
        // half-width 2 with 4 runs: 4 × (2/1)² = 16, capped at double (8).
        Assert.Equal(8, t.NextCount(new MetricSummary("m", 4, 10, 1, 8, 12, 10, 9, 11), 4));
        // half-width 1.2: 4 × 1.44 = 5.76 → 6.
        Assert.Equal(6, t.NextCount(new MetricSummary("m", 4, 10, 1, 8.8, 11.2, 10, 9, 11), 4));
        Assert.Equal(50, AdaptiveTarget.Parse("m=1", 50).NextCount(new MetricSummary("m", 40, 10, 1, 0, 20, 10, 9, 11), 40));
        Assert.Throws<FormatException>(() => AdaptiveTarget.Parse("m", 10));
        Assert.Throws<FormatException>(() => AdaptiveTarget.Parse("m=-1", 10));
    }

    [Fact]
    public void Paired_comparisons_match_hand_computed_differences()
    {
        // Two points (a key with values x and y), three seeds; metric values chosen by hand.
        var plan = Plan(sets: ["engine_hold.population=50,100"]);
        var path = Path.Combine(_dir, "paired.sqlite");
        double[] a = [10, 12, 14], b = [13, 14, 20];
        using (var store = ResultStore.Create(path, plan, Shard.All))
        {
            for (int k = 0; k < 3; k++)
            {
                store.Add(0, k, "d0", new RunResult { Seed = 7 + (ulong)k }.AddMetric("m", a[k]), "test");
                store.Add(1, k, "d1", new RunResult { Seed = 7 + (ulong)k }.AddMetric("m", b[k]), "test");
            }
        }
        var c = Assert.Single(SweepResults.Load([path]).Compare(["m"], "engine_hold.population"));
        // differences 3, 2, 6: mean 11/3, sample sd sqrt(13/3), t(0.975, 2) = 4.302652730
        double mean = 11.0 / 3, half = 4.302652730 * Math.Sqrt(13.0 / 3) / Math.Sqrt(3);
        Assert.Equal(("50", "100", 3), (c.BaselineValue, c.Value, c.Difference.N));
        Assert.Equal(mean, c.Difference.Mean, 12);
        Assert.Equal(mean - half, c.Difference.Ci95Low, 8);
        Assert.Equal(mean + half, c.Difference.Ci95High, 8);
        Assert.Equal(mean / 12, c.Relative, 12);
        Assert.False(c.Significant); // [-1.5, 8.8] includes zero
    }
}

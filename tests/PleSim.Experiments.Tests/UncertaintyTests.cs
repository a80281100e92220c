using PleSim.Engine;
using PleSim.Experiments.Reproduce;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Uncertainty;

namespace PleSim.Experiments.Tests;

/// <summary>The uncertainty study's building blocks: the Morris design and its effects, the Latin hypercube, the unknowns section.</summary>
public class UncertaintyTests
{
    [Theory]
    [InlineData(5, 4, 3)]
    [InlineData(1, 2, 1)]
    [InlineData(12, 6, 4)]
    public void Each_morris_step_changes_exactly_one_factor_by_delta_and_every_factor_once_per_trajectory(int k, int p, int r)
    {
        var d = MorrisDesign.Create(k, p, r, new RandomStream(7, "t"));
        Assert.Equal(r * (k + 1), d.Points.Count);
        Assert.Equal(p / (2.0 * (p - 1)), d.Delta, 12);
        for (int t = 0; t < r; t++)
        {
            int start = t * (k + 1);
            Assert.Equal(-1, d.Changed[start]);
            var moved = new HashSet<int>();
            for (int s = 1; s <= k; s++)
            {
                var (a, b) = (d.Points[start + s - 1], d.Points[start + s]);
                var differ = Enumerable.Range(0, k).Where(i => a[i] != b[i]).ToList();
                int i = Assert.Single(differ);
                Assert.Equal(d.Changed[start + s], i);
                Assert.Equal(d.Delta, Math.Abs(b[i] - a[i]), 12);
                Assert.True(moved.Add(i), $"factor {i} moved twice in trajectory {t}");
            }
            Assert.Equal(k, moved.Count);
        }
        foreach (var x in d.Points.SelectMany(pt => pt))
        {
            Assert.InRange(x, 0, 1);
            double level = x * (p - 1);
            Assert.Equal(Math.Round(level), level, 9); // on the p-level grid
        }
    }

    [Fact]
    public void Mu_star_of_a_linear_function_is_the_absolute_coefficient_and_sigma_is_zero()
    {
        double[] c = [3, -2, 0.5, 0];
        var d = MorrisDesign.Create(c.Length, 4, 10, new RandomStream(1, "lin"));
        var y = d.Points.Select(x => 7 + c.Select((ci, i) => ci * x[i]).Sum()).ToList();
        var e = d.Analyse(y);
        for (int i = 0; i < c.Length; i++)
        {
            Assert.Equal(Math.Abs(c[i]), e[i].MuStar, 9);
            Assert.Equal(c[i], e[i].Mu, 9);
            Assert.Equal(0, e[i].Sigma, 9);
            Assert.Equal(10, e[i].Count);
        }
    }

    [Fact]
    public void Morris_ranks_factors_by_influence_and_sigma_reveals_interaction()
    {
        // y = 10·x0 + 4·x1·x2 + 1·x3 (+ nothing from x4): x0 first, x4 last; x1, x2 interact (σ > 0).
        var d = MorrisDesign.Create(5, 4, 20, new RandomStream(3, "rank"));
        var y = d.Points.Select(x => (10 * x[0]) + (4 * x[1] * x[2]) + x[3]).ToList();
        var e = d.Analyse(y);
        var order = Enumerable.Range(0, 5).OrderByDescending(i => e[i].MuStar).ToList();
        Assert.Equal(0, order[0]);
        Assert.Equal(4, order[4]);
        Assert.Equal(3, order[3]);
        Assert.Equal(0, e[4].MuStar);
        Assert.True(e[1].Sigma > 0.1 && e[2].Sigma > 0.1, $"{e[1].Sigma} {e[2].Sigma}");
        Assert.Equal(0, e[0].Sigma, 9);
    }

    [Fact]
    public void A_missing_output_drops_only_the_effects_next_to_it()
    {
        var d = MorrisDesign.Create(3, 4, 2, new RandomStream(5, "nan"));
        var y = d.Points.Select(x => x.Sum()).ToArray();
        y[1] = double.NaN;
        var e = d.Analyse(y);
        Assert.Equal(4, e.Sum(x => x.Count)); // 6 effects, 2 touch the missing output
        Assert.All(e.Where(x => x.Count > 0), x => Assert.Equal(1, x.MuStar, 9));
    }

    [Theory]
    [InlineData(10, 3)]
    [InlineData(1, 4)]
    [InlineData(37, 31)]
    public void A_latin_hypercube_has_one_point_in_each_stratum_of_each_dimension(int n, int k)
    {
        var x = LatinHypercube.Create(n, k, new RandomStream(11, "lhs"));
        Assert.Equal(n, x.Length);
        for (int i = 0; i < k; i++)
        {
            var strata = x.Select(pt => (int)Math.Floor(pt[i] * n)).Order().ToList();
            Assert.Equal(Enumerable.Range(0, n), strata);
        }
    }

    private const string Head = "name: u\ndescription: d\nkind: engine-hold\nseed: 1\nruns: 1\nduration: 1ms\nwarmup: 0\n";

    [Fact]
    public void Unknowns_are_read_with_their_kinds_and_sources_and_are_not_part_of_the_digest()
    {
        var text = Head + """
            unknowns:
              - name: population
                key: engine_hold.population
                range: [100, 1000]
                source: "s1"
              - keys:
                  - engine_hold.mean_delay
                range: [1us, 3us]
                source: "s2"
              - key: engine_hold.cancel_half
                values: [false, true]
                source: "s3"
              - key: seed
                range: [0.5, 1.5]
                source: "s4"
            """;
        var s = ScenarioLoader.LoadText(text, "u.yaml");
        Assert.Equal(4, s.Unknowns.Count);
        var (pop, delay, cancel, num) = (s.Unknowns[0], s.Unknowns[1], s.Unknowns[2], s.Unknowns[3]);
        Assert.Equal((UnknownKind.IntegerRange, "population", "s1"), (pop.Kind, pop.Name, pop.Source));
        Assert.Equal(UnknownKind.DurationRange, delay.Kind);
        Assert.Equal("engine_hold.mean_delay", delay.Name); // the first key when unnamed
        Assert.Equal(UnknownKind.Set, cancel.Kind);
        Assert.Equal(UnknownKind.NumberRange, num.Kind);
        Assert.Equal("u.yaml:13:5 (unknowns[1])", delay.Origin);
        Assert.Equal(("100", "550", "1000"), (pop.ValueAt(0), pop.ValueAt(0.5), pop.ValueAt(1)));
        Assert.Equal(("1000ns", "2000ns", "3000ns"), (delay.ValueAt(0), delay.ValueAt(0.5), delay.ValueAt(1)));
        Assert.Equal(("false", "false", "true", "true"), (cancel.ValueAt(0), cancel.ValueAt(0.49), cancel.ValueAt(0.5), cancel.ValueAt(1)));
        Assert.Equal("1.25", num.ValueAt(0.75));
        // On a 4-level grid a 3-value set reaches every value and a Δ step moves to a neighbour.
        var hz = ScenarioLoader.LoadText(Head + "unknowns:\n  - key: runs\n    values: [1, 2, 3]\n    source: s\n", "h.yaml").Unknowns[0];
        Assert.Equal(["1", "2", "2", "3"], new[] { 0.0, 1 / 3.0, 2 / 3.0, 1.0 }.Select(x => hz.ValueAt(x, grid: true)));
        Assert.Equal(["1", "2", "3", "3"], new[] { 0.0, 1 / 3.0, 2 / 3.0, 1.0 }.Select(x => hz.ValueAt(x)));
        Assert.Equal(ScenarioLoader.LoadText(Head, "u.yaml").Digest, s.Digest);
    }

    [Fact]
    public void Unknowns_errors_name_file_line_and_column()
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "BadScenarios", "bad-unknowns.yaml"));
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadText(text, "b.yaml"));
        Assert.Contains(e.Diagnostics, d => (d.Line, d.Column, d.KeyPath) == (10, 13, "unknowns[0].values") && d.Message.Contains("at least two values", StringComparison.Ordinal));
        Assert.Contains(e.Diagnostics, d => (d.Line, d.Column) == (13, 12) && d.Message.Contains("3ms is not below 1ms", StringComparison.Ordinal));
        Assert.Contains(e.Diagnostics, d => d.KeyPath == "unknowns[2].source" && d.Message.Contains("required key 'source'", StringComparison.Ordinal));
        Assert.All(e.Diagnostics, d => Assert.True(d.Line > 0 && d.Column > 0, d.ToString()));
    }

    [Fact]
    public void An_unknown_value_the_scenario_refuses_is_reported_against_its_entry_before_anything_runs()
    {
        var text = File.ReadAllText(HostScenarioTests.Repo("scenarios", "riel-2011", "amqp.yaml"));
        int at = text.IndexOf("\nunknowns:", StringComparison.Ordinal);
        var bad = text[..at] + """

            unknowns:
              - key: vms[0].guest.hz
                values: [1000, 3]
                source: "a typo"
            """;
        var s = ScenarioLoader.LoadText(bad, "bad.yaml");
        var e = Assert.Throws<ScenarioException>(() => Riel2011Uncertainty.Create(s, new UncertaintyOptions(1, 4, 0, 1)));
        var d = Assert.Single(e.Diagnostics);
        Assert.StartsWith("bad.yaml:", d.File, StringComparison.Ordinal);
        Assert.Contains("(unknowns[0]) (value 3)", d.File, StringComparison.Ordinal);
    }

    [Fact]
    public void The_study_is_one_zipped_sweep_of_design_points_times_published_cells()
    {
        var s = Riel2011.LoadScenario(null, cgroups: false, quick: true);
        var study = Riel2011Uncertainty.Create(s, new UncertaintyOptions(1, 4, 3, 2));
        int k = s.Unknowns.Count;
        Assert.True(k >= 8, $"{k} unknowns");
        Assert.Equal(12, study.Cells.Count);
        Assert.Equal((k + 1 + 3) * 12, study.Plan.Points.Count);
        Assert.Equal(2, study.Plan.Runs);
        // Point d × 12 + c is cell c with design point d's values; the digest of the unchanged file is not affected.
        var p = study.Plan.Points[(2 * 12) + 5];
        Assert.Equal(study.Cells[5].Loops, p.Scenario.Vms[1].Workload.Loops);
        Assert.Equal(study.Unknowns[0].ValueAt(study.Coordinates(2)[0], grid: true), p.Assignments.First(a => a.Path == study.Unknowns[0].Keys[0]).Value);
        Assert.Equal(SimDuration.FromMilliseconds(300), p.Scenario.Duration); // --quick's window is a fixed axis
    }

    [Fact]
    public void Percentiles_interpolate_linearly()
    {
        double[] v = [1, 2, 3, 4, 5];
        Assert.Equal(1.2, Riel2011Uncertainty.Percentile(v, 0.05), 9);
        Assert.Equal(4.8, Riel2011Uncertainty.Percentile(v, 0.95), 9);
        Assert.Equal(3, Riel2011Uncertainty.Percentile(v, 0.5), 9);
    }
}

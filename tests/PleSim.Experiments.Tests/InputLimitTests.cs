using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;

namespace PleSim.Experiments.Tests;

/// <summary>The limits on scenario input (decision 0020) and the reproductions of issue 13 that do not fit a golden file.</summary>
public class InputLimitTests
{
    private const string Hold = "name: h\ndescription: d\nkind: engine-hold\nseed: 1\nruns: 1\nduration: 1ms\nwarmup: 0\n";

    private static ScenarioDiagnostic Single(string text, IReadOnlyList<Override>? overrides = null) =>
        Assert.Single(Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadText(text, "f.yaml", overrides)).Diagnostics);

    [Fact]
    public void Thirty_thousand_nested_brackets_are_refused_at_the_limit_not_a_stack_overflow()
    {
        var d = Single("a: " + new string('[', 30_000) + new string(']', 30_000) + "\n");
        Assert.Equal(("f.yaml", 1, 3 + YamlGuard.MaxDepth), (d.File, d.Line, d.Column)); // the top-level mapping is the first level
        Assert.Contains($"nested more than {YamlGuard.MaxDepth} deep", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Nesting_up_to_the_limit_is_read()
    {
        var text = Hold + "x: " + new string('[', YamlGuard.MaxDepth - 1) + new string(']', YamlGuard.MaxDepth - 1) + "\n";
        var d = Single(text);
        Assert.Contains("unknown key 'x'", d.Message, StringComparison.Ordinal); // read, then refused as a key
    }

    [Fact]
    public void An_oversized_document_is_refused()
    {
        var d = Single(Hold + "description2: " + new string('x', YamlGuard.MaxDocumentChars) + "\n");
        Assert.Contains("limited to", d.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(YamlGuard.MaxDocumentChars), d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_forward_alias_is_refused_because_its_expansion_cannot_be_counted()
    {
        var d = Single(Hold + "a: *later\nb: &later [1, 2]\n");
        Assert.Equal((8, 4), (d.Line, d.Column));
        Assert.Contains("refers to no anchor defined before it", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_huge_list_index_in_an_override_is_a_problem_not_an_overflow()
    {
        var text = File.ReadAllText(Path.Combine(RepoDir(), "scenarios", "kvm", "lock-bench.yaml"));
        var d = Single(text, [Override.Parse("vms[2147483648].vcpus=1")]);
        Assert.Equal("--set vms[2147483648].vcpus=1", d.File);
        Assert.Contains("is not a key path", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_alias_bomb_in_a_set_value_is_not_expanded()
    {
        var bomb = "[" + string.Join(", ", Enumerable.Range(0, 9).Select(i => $"&a{i} [" + (i == 0 ? "x, x, x, x, x, x, x, x, x, x" : string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))) + "]")) + "]";
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var d = Single(Hold, [new Override("runs", bomb)]);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), sw.Elapsed.ToString());
        Assert.StartsWith("--set runs=", d.File, StringComparison.Ordinal);
    }

    [Fact]
    public void A_grid_above_the_limit_is_refused_before_it_is_expanded()
    {
        var values = string.Join(", ", Enumerable.Range(1, 200));
        var s = ScenarioLoader.LoadText(Hold + $"sweep:\n  set:\n    seed: [{values}]\n    engine_hold.population: [{values}]\n", "f.yaml");
        var before = GC.GetAllocatedBytesForCurrentThread();
        var d = Assert.Single(Assert.Throws<ScenarioException>(() => SweepPlan.Create(s, [])).Diagnostics);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < (1 << 20), "the grid was expanded");
        Assert.Equal(("f.yaml", 10, 5), (d.File, d.Line, d.Column));
        Assert.Contains($"more than {SweepSpec.MaxGridPoints} points", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_files_own_zip_length_mismatch_is_reported_in_the_file()
    {
        var s = ScenarioLoader.LoadText(Hold + "sweep:\n  mode: zip\n  set:\n    seed: [1, 2]\n    engine_hold.population: [10, 20, 30]\n", "f.yaml");
        var d = Assert.Single(Assert.Throws<ScenarioException>(() => SweepPlan.Create(s, [])).Diagnostics);
        Assert.Equal(("f.yaml", 11, 5), (d.File, d.Line, d.Column));
        Assert.Contains("equally long lists", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_zip_mismatch_from_the_command_line_names_zip()
    {
        var s = ScenarioLoader.LoadText(Hold, "f.yaml");
        var d = Assert.Single(Assert.Throws<ScenarioException>(() => SweepPlan.Create(s, [SweepSpec.ParseAxis("seed=1,2"), SweepSpec.ParseAxis("engine_hold.population=1,2,3")], SweepMode.Zip)).Diagnostics);
        Assert.Equal("--zip", d.File);
    }

    [Fact]
    public void The_short_set_form_reaches_a_key_the_file_leaves_at_its_default()
    {
        var text = File.ReadAllText(Path.Combine(RepoDir(), "scenarios", "kvm", "lock-bench.yaml"));
        Assert.DoesNotContain("pause_loop_cycles", text, StringComparison.Ordinal);
        var s = ScenarioLoader.LoadText(text, "f.yaml", [Override.Parse("pause_loop_cycles=77")]);
        Assert.Equal(77, s.Kvm.PauseLoopCycles);
        Assert.Equal("kvm.pause_loop_cycles", s.Overrides[0].Path);
    }

    [Fact]
    public void Echoed_values_are_cut_short()
    {
        var d = Single(Hold.Replace("kind: engine-hold", "kind: " + new string('x', 100_000), StringComparison.Ordinal));
        Assert.True(d.ToString().Length < 400, d.ToString().Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains(new string('x', YamlGuard.MaxEchoChars) + "…'", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_shipped_scenario_lists_only_metrics_its_model_reports()
    {
        foreach (var f in Directory.GetFiles(Path.Combine(RepoDir(), "scenarios"), "*.yaml", SearchOption.AllDirectories))
        {
            var s = ScenarioLoader.LoadFile(f);
            Assert.True(MetricNames.Check(s).Count == 0, string.Join("\n", MetricNames.Check(s)));
            Assert.NotNull(MetricNames.Of(s));
        }
    }

    [Fact]
    public void An_unknown_metric_is_located_and_gets_a_suggestion()
    {
        var s = ScenarioLoader.LoadText(Hold + "metrics: [events, event_per_sim_second]\n", "f.yaml");
        var d = Assert.Single(MetricNames.Check(s));
        Assert.Equal(("f.yaml", 8, 19, "metrics[1]"), (d.File, d.Line, d.Column, d.KeyPath));
        Assert.Contains("did you mean 'events_per_sim_second'?", d.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("engine-hold.yaml")]
    [InlineData("kvm/lock-bench.yaml")]
    public void Riel_2011_refuses_a_scenario_without_its_shape(string file)
    {
        var e = Assert.Throws<ScenarioException>(() => PleSim.Experiments.Reproduce.Riel2011.LoadScenario(Path.Combine(RepoDir(), "scenarios", file), cgroups: false, quick: true));
        var d = Assert.Single(e.Diagnostics);
        Assert.Contains("riel-2011 needs a system scenario whose vms[0] runs the amqp-perftest workload", d.Message, StringComparison.Ordinal);
    }

    private static string RepoDir()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PleSim.slnx")))
            dir = dir.Parent;
        return dir!.FullName;
    }
}

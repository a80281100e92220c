using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

public class OverrideTests
{
    private const string Hold = """
        name: hold
        description: d
        kind: engine-hold
        seed: 1
        runs: 2
        duration: 10ms
        warmup: 1ms
        engine_hold:
          population: 100
        """;

    [Fact]
    public void An_override_replaces_a_value_and_changes_the_digest()
    {
        var plain = ScenarioLoader.LoadText(Hold, "h.yaml");
        var changed = ScenarioLoader.LoadText(Hold, "h.yaml", [Override.Parse("engine_hold.population=7")]);
        Assert.Equal(100, plain.EngineHold!.Population);
        Assert.Equal(7, changed.EngineHold!.Population);
        Assert.NotEqual(plain.Digest, changed.Digest);
    }

    [Fact]
    public void An_override_can_add_a_key_the_file_leaves_out()
    {
        var s = ScenarioLoader.LoadText(Hold, "h.yaml", [Override.Parse("engine_hold.mean_delay=5us")]);
        Assert.Equal(5_000, s.EngineHold!.MeanDelay.Ns);
    }

    [Fact]
    public void A_misspelt_override_is_reported_like_a_misspelt_key()
    {
        var e = Assert.Throws<ScenarioException>(() =>
            ScenarioLoader.LoadText(Hold, "h.yaml", [Override.Parse("engine_hold.populaton=7")]));
        var d = e.Diagnostics.Single();
        Assert.Contains("did you mean 'population'?", d.Message, StringComparison.Ordinal);
        Assert.True(d.UnknownKey);
        Assert.Equal("--set engine_hold.populaton=7", d.File);
    }

    [Fact]
    public void An_unknown_section_made_on_the_way_is_blamed_on_its_override_and_a_bad_value_is_not_an_unknown_key()
    {
        // 'engine_holdx' is created by the override itself: the problem is the --set's, with the whole key path it meant.
        var e = Assert.Throws<ScenarioException>(() =>
            ScenarioLoader.LoadText(Hold, "h.yaml", [Override.Parse("engine_holdx.population=7")]));
        var d = e.Diagnostics.Single();
        Assert.True(d.UnknownKey);
        Assert.Equal("--set engine_holdx.population=7", d.File);
        Assert.Contains("did you mean", d.Message, StringComparison.Ordinal);
        // A known key with a bad value is blamed on the --set too, but is not an unknown key.
        e = Assert.Throws<ScenarioException>(() =>
            ScenarioLoader.LoadText(Hold, "h.yaml", [Override.Parse("engine_hold.population=-3")]));
        d = e.Diagnostics.Single();
        Assert.False(d.UnknownKey);
        Assert.Equal("--set engine_hold.population=-3", d.File);
    }

    [Fact]
    public void An_index_out_of_range_names_the_list_length()
    {
        var text = Hold + "\nmetrics: [events]\n";
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadText(text, "h.yaml", [Override.Parse("metrics[3]=x")]));
        Assert.Contains("index 3 is out of range ('metrics' has 1 items)", e.Diagnostics.Single().Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_star_index_sets_the_key_in_every_item_and_the_scenario_records_the_assignment_as_given()
    {
        var text = Hold + "\nmetrics: [events, pending, events]\n";
        var s = ScenarioLoader.LoadText(text, "h.yaml", [Override.Parse("metrics[*]=watchdog_fires")]);
        Assert.Equal(["watchdog_fires", "watchdog_fires", "watchdog_fires"], s.Metrics);
        var o = Assert.Single(s.Overrides);
        Assert.Equal("metrics[*]", o.Path);
        Assert.True(o.Sets("metrics[2]"));
        Assert.False(o.Sets("metrics"));
        Assert.False(o.Sets("metrics[x]"));
        // The same scenario as the assignments written out one by one.
        var byIndex = ScenarioLoader.LoadText(text, "h.yaml", [Override.Parse("metrics[0]=watchdog_fires"), Override.Parse("metrics[1]=watchdog_fires"), Override.Parse("metrics[2]=watchdog_fires")]);
        Assert.Equal(byIndex.Digest, s.Digest);
    }

    [Theory]
    [InlineData("vms[0].guest.hz", "vms[0].guest.hz", true)]
    [InlineData("vms[*].guest.hz", "vms[1].guest.hz", true)]
    [InlineData("vms[2].guest.hz", "vms[*].guest.hz", true)]
    [InlineData("vms[*].guest.hz", "vms[*].guest.hz", true)]
    [InlineData("vms[*].cpus[0]", "vms[1].cpus[*]", true)]
    [InlineData("vms[0].guest.hz", "vms[1].guest.hz", false)]
    [InlineData("vms[*].guest.hz", "vms[*].guest.kernel", false)]
    [InlineData("vms[*].guest.hz", "vms.guest.hz", false)]
    [InlineData("vms[*].workload.threads", "vms[0].workload", false)]
    [InlineData("host.cpus", "host.cpus_per_node", false)]
    public void Two_paths_overlap_when_a_star_index_can_stand_for_the_others_index(string a, string b, bool overlap)
    {
        Assert.Equal(overlap, Override.PathsOverlap(a, b));
        Assert.Equal(overlap, Override.PathsOverlap(b, a));
    }

    [Fact]
    public void A_star_index_needs_a_list_in_the_file_and_reports_each_items_problem_under_the_assignment_given()
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadText(Hold, "h.yaml", [Override.Parse("engine_hold[*].population=7")]));
        var d = Assert.Single(e.Diagnostics);
        Assert.Equal("--set engine_hold[*].population=7", d.File);
        Assert.Contains("the file has no list at 'engine_hold'", d.Message, StringComparison.Ordinal);

        // lock-bench.yaml: two VMs (bench, loops) of 4 VCPUs.
        var lockBench = HostScenarioTests.Repo("scenarios", "kvm", "lock-bench.yaml");
        var twoVms = File.ReadAllText(lockBench);
        var ok = ScenarioLoader.LoadText(twoVms, "v.yaml", [Override.Parse("vms[*].vcpus=5")]);
        Assert.Equal(2, ok.Vms.Count);
        Assert.All(ok.Vms, vm => Assert.Equal(5, vm.Vcpus));
        e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadText(twoVms, "v.yaml", [Override.Parse("vms[*].vcpuz=2")]));
        Assert.Equal(["vms[0].vcpuz", "vms[1].vcpuz"], e.Diagnostics.Select(x => x.KeyPath).Order(StringComparer.Ordinal));
        Assert.All(e.Diagnostics, x => Assert.Equal("--set vms[*].vcpuz=2", x.File));
    }

    [Fact]
    public void List_items_can_be_overridden_by_index()
    {
        var text = Hold + "\nmetrics: [events, pending]\n";
        var s = ScenarioLoader.LoadText(text, "h.yaml", [Override.Parse("metrics[1]=watchdog_fires")]);
        Assert.Equal(["events", "watchdog_fires"], s.Metrics);
    }

    [Theory]
    [InlineData("novalue")]
    [InlineData("=3")]
    public void Malformed_assignments_are_refused(string text) =>
        Assert.Throws<FormatException>(() => Override.Parse(text));

    [Fact]
    public void The_digest_ignores_comments_and_key_order_but_not_values()
    {
        var reordered = """
            # a comment
            warmup: 1ms
            name: hold
            engine_hold: {population: 100}
            description: d
            kind: engine-hold
            runs: 2
            seed: 1
            duration: 10ms
            """;
        Assert.Equal(ScenarioLoader.LoadText(Hold, "a.yaml").Digest, ScenarioLoader.LoadText(reordered, "b.yaml").Digest);
    }

    [Fact]
    public void Provenance_is_read_from_value_source_pairs()
    {
        var text = Hold.Replace("population: 100", "population: {value: 100, source: \"seed table\"}", StringComparison.Ordinal);
        var s = ScenarioLoader.LoadText(text, "h.yaml");
        Assert.Equal(100, s.EngineHold!.Population);
        Assert.Equal("seed table", s.Provenance["engine_hold.population"]);
    }
}

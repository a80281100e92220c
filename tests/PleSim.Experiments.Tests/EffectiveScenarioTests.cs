using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary><c>plesim show</c>'s YAML is itself a scenario: read back, it binds every key to the same value.</summary>
public class EffectiveScenarioTests
{
    public static TheoryData<string> ShippedScenarios()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(HostScenarioTests.Repo("scenarios"), "*.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(HostScenarioTests.Repo(), f));
        return data;
    }

    [Theory]
    [MemberData(nameof(ShippedScenarios))]
    public void The_shown_scenario_reads_back_to_the_same_settings(string file)
    {
        Scenario original;
        try
        {
            original = ScenarioLoader.LoadFile(HostScenarioTests.Repo(file));
        }
        catch (ScenarioException)
        {
            return; // a file that needs a plug-in or is a deliberate bad example is not a scenario to show
        }
        var text = EffectiveScenario.ToYaml(original);
        var again = ScenarioLoader.LoadText(text, "shown.yaml");
        var before = EffectiveScenario.Entries(original).ToDictionary(e => e.Path, e => e.Value, StringComparer.Ordinal);
        var after = EffectiveScenario.Entries(again).ToDictionary(e => e.Path, e => e.Value, StringComparer.Ordinal);
        Assert.Equal(before.Count, after.Count);
        foreach (var (path, value) in before)
            Assert.True(after.TryGetValue(path, out var v) && v == value, $"{path}: shown {value}, read back {(v ?? "(missing)")}");
    }

    [Fact]
    public void A_default_the_reader_refuses_when_written_out_is_shown_as_a_comment()
    {
        // lock-bench leaves the IPI-aware walk off: its module parameters cannot be written without it,
        // and an unset NUMA layout (null) cannot be written at all.
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "kvm", "lock-bench.yaml"));
        var lines = EffectiveScenario.ToYaml(s).Split('\n');
        Assert.Contains(lines, l => l.TrimStart().StartsWith("# ipi_window:", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.TrimStart().StartsWith("# cpus: null", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Trim().StartsWith("ple_window:", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.TrimStart().StartsWith("- # [0]", StringComparison.Ordinal));
    }

    [Fact]
    public void List_valued_keys_are_shown_in_the_form_the_reader_takes()
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "numa-balance.yaml"));
        var values = EffectiveScenario.Entries(s).ToDictionary(e => e.Path, e => e.Value, StringComparer.Ordinal);
        Assert.Equal("0-7; 8-15", values["host.numa.cpus"]);
        Assert.Equal("10 20; 20 10", values["host.numa.distance"]);
    }
}

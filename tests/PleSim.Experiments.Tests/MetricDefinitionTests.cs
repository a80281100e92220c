using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

public class MetricDefinitionTests
{
    private static string Repo(params string[] parts)
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "PleSim.slnx")))
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("repository root not found");
        return Path.Combine([dir, .. parts]);
    }

    public static TheoryData<string> ShippedScenarios()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Repo("scenarios"), "*.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(Repo(), f));
        return data;
    }

    [Theory]
    [MemberData(nameof(ShippedScenarios))]
    public void Every_metric_a_shipped_scenario_reports_has_a_definition(string file)
    {
        var scenario = ScenarioLoader.LoadFile(Repo(file));
        var names = MetricNames.Of(scenario);
        Assert.NotNull(names);
        Assert.NotEmpty(names);
        var missing = names.Where(n => MetricDefinitions.Of(n) is null).ToList();
        Assert.True(missing.Count == 0, $"{file}: metrics without a definition in MetricDefinitions.All: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Patterns_match_segment_by_segment()
    {
        Assert.Equal("*.spin_ns", MetricDefinitions.Of("bench.spin_ns")!.Pattern);
        Assert.Equal("*.spin_ns.*", MetricDefinitions.Of("bench.spin_ns.holder_preempted")!.Pattern);
        Assert.Equal("cpu_share.**", MetricDefinitions.Of("cpu_share.qemu-iothread:amqp")!.Pattern);
        // A name no row covers is reported as undefined, so a new metric without a row fails the test above.
        Assert.Null(MetricDefinitions.Of("bench.a_metric_nobody_defined"));
        Assert.Null(MetricDefinitions.Of("bench.spin_ns.holder.extra"));
    }

    [Fact]
    public void Every_row_has_a_unit_and_a_meaning_and_patterns_are_unique()
    {
        Assert.All(MetricDefinitions.All, d => Assert.False(string.IsNullOrWhiteSpace(d.Unit) || string.IsNullOrWhiteSpace(d.Meaning), d.Pattern));
        Assert.Equal(MetricDefinitions.All.Count, MetricDefinitions.All.Select(d => d.Pattern).Distinct().Count());
    }
}

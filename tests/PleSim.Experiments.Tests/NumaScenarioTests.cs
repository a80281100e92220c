using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>host.numa (decision 0039): the keys, their errors, and scenarios/host/numa-balance.yaml.</summary>
public class NumaScenarioTests
{
    private static RunResult[] Run(params string[] overrides)
    {
        var s = HostScenarioTests.Shipped("host", "numa-balance.yaml", overrides);
        var results = Runner.RunMany(s, Runner.Seeds(s, 1), new RunOptions { CheckInvariantsEvery = 13 });
        foreach (var r in results)
            Assert.True(r.Error is null, r.Error);
        return results;
    }

    private static double M(RunResult r, string metric) => r.Metric(metric) ?? throw new Xunit.Sdk.XunitException($"no metric {metric}");

    [Fact]
    public void The_balancing_lock_is_contended_only_when_a_pass_holds_it_for_some_time()
    {
        Assert.True(M(Run()[0], "serialized_balance_skips_per_second") > 0);
        Assert.Equal(0, M(Run("host.sched.serialized_balance_hold=0s")[0], "serialized_balance_skips_per_second"));
    }

    [Fact]
    public void The_scenario_builds_a_two_node_topology_from_its_keys()
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "numa-balance.yaml"));
        var t = s.Host.Topology;
        Assert.Equal(2, t.NrNodes);
        Assert.Equal(0, t.NodeOf(7));
        Assert.Equal(1, t.NodeOf(8));
        Assert.Equal(20, t.Distance(0, 1));
        Assert.Contains("host.numa.distance", s.Provenance.Keys);
    }

    [Fact]
    public void A_one_node_host_reports_no_numa_metrics()
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "six-hogs-four-cpus.yaml"));
        var r = Runner.RunMany(s, Runner.Seeds(s, 1), new RunOptions())[0];
        Assert.Null(r.Metric("host_node_migrations_per_second"));
        Assert.Equal(1, s.Host.Topology.NrNodes);
    }

    private static ScenarioDiagnostic OneError(string numa, int cpus = 16, int threads = 2)
    {
        var text = $"""
            name: t
            description: d
            kind: system
            seed: 1
            runs: 1
            warmup: 0s
            duration: 10ms
            host:
              cpus: {cpus}
              threads_per_core: {threads}
              numa: {numa}
            metrics: [host_utilisation]
            """;
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadText(text, "t.yaml"));
        var d = Assert.Single(e.Diagnostics);
        Assert.Equal(11, d.Line);
        return d;
    }

    [Theory]
    [InlineData("{nodes: 3}", "host.numa.nodes", "do not divide")]
    [InlineData("{nodes: 2, cpus: \"0-6; 7-15\"}", "host.numa.cpus", "SMT sibling")]
    [InlineData("{nodes: 2, cpus: \"0-7; 6-15\"}", "host.numa.cpus", "more than one node")]
    [InlineData("{nodes: 2, cpus: \"0-7\"}", "host.numa.cpus", "1 CPU lists for 2 nodes")]
    [InlineData("{nodes: 2, distance: \"10 20; 21 10\"}", "host.numa.distance", "symmetric")]
    [InlineData("{nodes: 2, distance: \"10 20; 20 12\"}", "host.numa.distance", "itself")]
    [InlineData("{nodes: 2, distance: \"10 20 30; 20 10 30; 30 30 10\"}", "host.numa.distance", "3 rows for 2 nodes")]
    [InlineData("{nodes: 2, distance: \"10 x; 20 10\"}", "host.numa.distance", "not a distance")]
    [InlineData("{nodes: 2, sockets: 2}", "host.numa.sockets", "unknown key")]
    public void Bad_numa_keys_are_errors_at_their_key(string numa, string path, string message)
    {
        var d = OneError(numa);
        Assert.Equal(path, d.KeyPath);
        Assert.Contains(message, d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Node_cpu_lists_may_interleave_whole_cores()
    {
        var s = ScenarioLoader.LoadText("""
            name: t
            description: d
            kind: system
            seed: 1
            runs: 1
            warmup: 0s
            duration: 10ms
            host:
              cpus: 8
              threads_per_core: 2
              numa: {nodes: 2, cpus: "0-1,4-5; 2-3,6-7"}
            metrics: [host_utilisation]
            """, "t.yaml");
        var t = s.Host.Topology;
        Assert.Equal([0, 0, 1, 1, 0, 0, 1, 1], Enumerable.Range(0, 8).Select(t.NodeOf));
    }

    [Fact]
    public void A_numa_host_allocates_nothing_per_event_in_steady_state()
    {
        foreach (var scheduler in new[] { "cfs-2.6.39", "eevdf-6.6" })
        {
            var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "numa-balance.yaml"), [Override.Parse($"host.scheduler={scheduler}")]);
            var model = new SystemRun(s, 3);
            var (bytes, events) = SteadyState.Measure(model, 500_000_000, 1_500_000_000);
            Assert.True(events > 10_000);
            Assert.Equal(0, bytes);
        }
    }
}

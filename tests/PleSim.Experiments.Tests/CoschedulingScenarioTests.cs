using PleSim.Experiments.Compare;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Hypervisor;

namespace PleSim.Experiments.Tests;

/// <summary>
/// The co-scheduling comparators (decision 0040) through the scenario file: the shipped scenario
/// runs with every invariant checked, its metrics account for the co-stopped time, the keys are
/// validated, compare knows the policies, and the event loop stays allocation-free.
/// </summary>
public class CoschedulingScenarioTests
{
    private static Scenario Load(params string[] overrides) =>
        HostScenarioTests.Shipped("kvm", "coscheduling.yaml", overrides);

    private static double M(RunResult r, string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");

    [Fact]
    public void The_shipped_scenario_reads_its_keys_with_their_sources()
    {
        var s = Load();
        Assert.Equal(CoschedulingMode.Relaxed, s.Host.Coscheduling.Mode);
        Assert.Equal(3_000_000, s.Host.Coscheduling.SkewThreshold.Ns);
        Assert.Equal(CoschedulingMode.Gang, Load("host.coscheduling=gang").Host.Coscheduling.Mode);
        Assert.Equal(CoschedulingMode.None, ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "kvm", "lock-bench.yaml"), []).Host.Coscheduling.Mode);
    }

    [Theory]
    [InlineData("host.coscheduling=strict", "coscheduling")]
    [InlineData("host.coscheduling_skew_threshold=0", "coscheduling_skew_threshold")]
    public void A_bad_value_is_an_error_at_its_key(string set, string key)
    {
        var e = Assert.Throws<ScenarioException>(() => Load(set));
        Assert.EndsWith(key, e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("relaxed")]
    [InlineData("gang")]
    public void A_run_accounts_for_co_stopped_time_with_every_invariant_checked(string mode)
    {
        var s = Load($"host.coscheduling={mode}", "duration=100ms", "warmup=20ms");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 53 });
        Assert.True(r.Error is null, r.Error);
        foreach (var vm in new[] { "bench", "loops" })
        {
            Assert.True(M(r, vm + ".costops_per_second") > 0);
            Assert.InRange(M(r, vm + ".frac_costopped"), 1e-6, 1);
            // The categories still add up to the VCPU time.
            double sum = new[] { "spin", "pause_exit", "halted", "preempted", "guest_run", "other_exit", "ple_sleep", "userspace", "costopped" }
                .Sum(c => M(r, $"{vm}.frac_{c}"));
            Assert.Equal(1.0, sum, 6);
        }
    }

    [Fact]
    public void Without_co_scheduling_no_co_stop_metric_is_reported()
    {
        var r = Runner.RunOne(Load("host.coscheduling=none", "duration=20ms", "warmup=5ms"), 1, new RunOptions());
        Assert.True(r.Error is null, r.Error);
        Assert.Null(r.Metric("bench.frac_costopped"));
        Assert.Null(r.Metric("bench.costops_per_second"));
    }

    [Fact]
    public void Compare_has_the_co_scheduling_policies()
    {
        Assert.Equal("host.coscheduling=gang", ComparePolicies.Resolve("gang", 2).Describe());
        Assert.Equal("host.coscheduling=relaxed", ComparePolicies.Resolve("relaxed-cosched", 2).Describe());
        Assert.Equal("coscheduling+ple_handler", ComparePolicies.Resolve("relaxed-cosched+directed-yield-2011", 2).Kind);
        Assert.Contains("relaxed-cosched", ComparePolicies.KnownNames);
    }

    [Theory]
    [InlineData("relaxed")]
    [InlineData("gang")]
    public void Co_scheduling_allocates_nothing_per_event_in_steady_state(string mode)
    {
        var s = Load($"host.coscheduling={mode}", "kvm.ple_handler=directed-yield-2011");
        var model = new SystemRun(s, 1);
        var (bytes, events) = SteadyState.Measure(model, 200_000_000, 400_000_000);
        Assert.True(events > 10_000);
        Assert.True(model.Vms[0].Vm.Vcpus.Sum(v => v.Stats.CoStops) > 0);
        Assert.Equal(0, bytes);
    }
}

using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>The kvm.version presets on the shipped scenarios: allocation-free, deterministic, and actually different.</summary>
public class KvmVersionScenarioTests
{
    private static Scenario Load(string dir, string file, params string[] sets) =>
        ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", dir, file), sets.Select(Override.Parse).ToList());

    [Theory]
    [InlineData("kvm", "lock-bench.yaml", "6.13")]
    [InlineData("kvm", "lock-bench.yaml", "4.19")]
    [InlineData("riel-2011", "amqp.yaml", "5.10")]
    public void A_version_preset_allocates_nothing_per_event_in_steady_state(string dir, string file, string version)
    {
        // The dynamic window, halt polling (AMQP halts often) and the 5.3/6.13 walks all run here.
        var model = new SystemRun(Load(dir, file, $"kvm.version={version}", "vms[1].workload.loops=4"), 1);
        var (bytes, events) = SteadyState.Measure(model, 200_000_000, 500_000_000); // 300 ms: enough events at 2x even when the broker batches large
        Assert.True(events > 10_000);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void A_version_run_is_deterministic_and_differs_from_the_seed_kernel()
    {
        ulong Digest(string version)
        {
            var m = new SystemRun(Load("riel-2011", "amqp.yaml", $"kvm.version={version}", "vms[1].workload.loops=4"), 2012);
            m.Sim.RunUntil(new SimTime(100_000_000));
            return m.Sim.Digest;
        }
        Assert.Equal(Digest("5.10"), Digest("5.10"));
        Assert.NotEqual(Digest("2.6.39"), Digest("5.10"));
    }

    [Fact]
    public void On_the_amqp_scenario_5_10_polls_halts_at_1x_but_not_where_the_cpus_have_other_runnable_tasks()
    {
        (long Attempts, long Successful, long Halts) Polls(string loops)
        {
            var m = new SystemRun(Load("riel-2011", "amqp.yaml", "kvm.version=5.10", $"vms[1].workload.loops={loops}"), 2011);
            m.Sim.RunUntil(new SimTime(200_000_000));
            var vcpus = m.Vms[0].Vm.Vcpus;
            return (vcpus.Sum(v => v.Stats.HaltPollAttempts), vcpus.Sum(v => v.Stats.HaltPollSuccessful), vcpus.Sum(v => v.Stats.Halts));
        }
        var alone = Polls("0");
        Assert.True(alone.Attempts > 0 && alone.Successful > 0, $"1x: {alone}");
        var at2x = Polls("4");
        // single_task_running() is false on a CPU that also has a loop VCPU runnable.
        Assert.True(at2x.Attempts < alone.Attempts, $"2x: {at2x}, 1x: {alone}");
    }
}

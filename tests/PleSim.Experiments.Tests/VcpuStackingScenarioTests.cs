using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>
/// <c>VM.frac_vcpus_stacked</c> (ground truth: two or more of a VM's runnable VCPUs queued on one
/// host CPU) on the seed's AMQP system at 2×, with every invariant checked, the placement one among them.
/// </summary>
public class VcpuStackingScenarioTests
{
    private static Scenario Amqp(params string[] overrides) =>
        HostScenarioTests.Shipped("riel-2011", "amqp.yaml", ["duration=60ms", "warmup=10ms", "vms[1].workload.loops=4", .. overrides]);

    private static double M(RunResult r, string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");

    [Fact]
    public void Vcpus_pinned_one_per_cpu_never_stack()
    {
        var r = Runner.RunOne(Amqp("vms[0].vcpu_affinity=[0, 1, 2, 3]", "vms[1].vcpu_affinity=[0, 1, 2, 3]"), 2011, new RunOptions { CheckInvariantsEvery = 31 });
        Assert.Null(r.Error);
        Assert.Equal(0, M(r, "amqp.frac_vcpus_stacked"));
        Assert.Equal(0, M(r, "loops.frac_vcpus_stacked"));
    }

    [Fact]
    public void Vcpus_allowed_two_cpus_stack_while_more_than_two_are_runnable()
    {
        var r = Runner.RunOne(Amqp("vms[1].affinity=0-1"), 2011, new RunOptions { CheckInvariantsEvery = 31 });
        Assert.Null(r.Error);
        // Four loop VCPUs that never halt, on two CPUs: two of them share a CPU the whole window.
        Assert.Equal(1, M(r, "loops.frac_vcpus_stacked"), 9);
        double amqp = M(r, "amqp.frac_vcpus_stacked");
        Assert.InRange(amqp, 0, 1);
    }
}

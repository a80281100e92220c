using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>
/// <c>kvm.ipiv</c> (decision 0066) through the scenario file: off by default and in every
/// <c>kvm.version</c> preset, rejected without <c>kvm.apicv</c>, and on a hackbench run the ICR-write
/// exits give way to virtualized IPIs.
/// </summary>
public class IpivScenarioTests
{
    private static Scenario Load(params string[] overrides) =>
        HostScenarioTests.Shipped("workloads", "hackbench.yaml", overrides);

    private static double M(RunResult r, string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");

    [Fact]
    public void The_key_is_off_by_default_and_no_version_preset_turns_it_on()
    {
        Assert.False(Load().Kvm.Ipiv);
        foreach (var v in PleSim.Hypervisor.KvmVersions.Names)
            Assert.False(Load("kvm.version=" + v, "kvm.apicv=true").Kvm.Ipiv, v);
        Assert.True(Load("kvm.apicv=true", "kvm.ipiv=true").Kvm.Ipiv);
    }

    [Fact]
    public void Ipiv_without_apicv_is_an_error_at_its_key()
    {
        var e = Assert.Throws<ScenarioException>(() => Load("kvm.ipiv=true"));
        var d = e.Diagnostics.Single();
        Assert.EndsWith("ipiv", d.KeyPath, StringComparison.Ordinal);
        Assert.Contains("kvm.apicv: true", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void With_ipiv_the_icr_writes_stop_exiting()
    {
        var off = Runner.RunOne(Load("kvm.apicv=true", "duration=30ms"), 1, new RunOptions { CheckInvariantsEvery = 97 });
        var on = Runner.RunOne(Load("kvm.apicv=true", "kvm.ipiv=true", "duration=30ms"), 1, new RunOptions { CheckInvariantsEvery = 97 });
        Assert.True(off.Error is null && on.Error is null, off.Error ?? on.Error);
        Assert.Null(off.Metric("hackbench.ipiv_ipis_per_second"));
        Assert.True(M(off, "hackbench.ipi_exits_per_second") > 0);
        Assert.Equal(0, M(on, "hackbench.ipi_exits_per_second"));
        Assert.True(M(on, "hackbench.ipiv_ipis_per_second") > 0);
    }
}

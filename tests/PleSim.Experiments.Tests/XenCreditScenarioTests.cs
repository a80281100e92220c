using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>
/// Xen 3.4's credit scheduler and Xen's 2009 PAUSE-exit handler through the scenario file
/// (decision 0063): the keys are validated against each other, and a run is deterministic with
/// every invariant checked.
/// </summary>
public class XenCreditScenarioTests
{
    private static Scenario Load(params string[] overrides) =>
        HostScenarioTests.Shipped("kvm", "lock-bench.yaml", overrides);

    [Theory]
    [InlineData("host.scheduler=xen-credit-3.4;kvm.ple_handler=directed-yield-2011", "ple_handler")]
    [InlineData("host.scheduler=cfs-2.6.39;kvm.ple_handler=xen-yield-2009", "ple_handler")]
    [InlineData("host.scheduler=xen-credit-3.4;kvm.ple_handler=xen-yield-2009;host.background.preset=rhel6-kvm-host", "background")]
    public void A_linux_only_key_on_a_xen_host_or_xens_handler_on_linux_is_an_error_at_its_key(string sets, string key)
    {
        var e = Assert.Throws<ScenarioException>(() => Load(sets.Split(';')));
        Assert.EndsWith(key, e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void A_xen_run_yields_on_pause_exits_and_is_deterministic_with_every_invariant_checked()
    {
        var s = Load("host.scheduler=xen-credit-3.4", "kvm.ple_handler=xen-yield-2009", "duration=150ms", "warmup=20ms");
        var r1 = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 17 });
        Assert.True(r1.Error is null, r1.Error);
        Assert.True(r1.Metric("bench.pause_exits_per_second") > 0);
        Assert.True(r1.Metric("bench.lock_iterations_per_second") > 0);
        var r2 = Runner.RunOne(s, 1, new RunOptions());
        Assert.Equal(r1.Metric("bench.lock_iterations_per_second"), r2.Metric("bench.lock_iterations_per_second"));
        Assert.Equal(r1.Metric("bench.pause_exits_per_second"), r2.Metric("bench.pause_exits_per_second"));
    }

    [Fact]
    public void A_vcpu_that_vcpu_migrate_puts_back_on_the_pcpu_it_left_idle_runs_there_after_the_softirq()
    {
        // The catalog's zhai-2009 stand-in, PLE off, seed 2: at 170 ms csched_vcpu_acct marks guest1/vcpu6
        // on pCPU 11 for migration; schedule() leaves pCPU 11 idle, and context_saved → vcpu_migrate's
        // csched_cpu_pick then picks pCPU 11 itself, queueing the vcpu there with SCHEDULE_SOFTIRQ raised.
        // Before the fix the idle-with-work check threw at that instant (the seventeenth session's catalog).
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "catalog", "zhai-2009", "kernel-build.yaml"),
            [Override.Parse("kvm.ple_handler=none"), Override.Parse("duration=200ms"), Override.Parse("warmup=20ms")]);
        var r = Runner.RunOne(s, 2, new RunOptions { CheckInvariantsEvery = 101 });
        Assert.True(r.Error is null, r.Error);
        Assert.True(r.Metric("guest1.cpus_used") > 0);
    }

    [Fact]
    public void On_a_xen_host_the_handler_defaults_to_xens_and_a_kvm_version_is_refused()
    {
        var host = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "six-hogs-four-cpus.yaml"), [Override.Parse("host.scheduler=xen-credit-3.4")]);
        Assert.Equal("xen-yield-2009", host.Kvm.PleHandler);
        Assert.Equal("directed-yield-2011", ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "six-hogs-four-cpus.yaml"), []).Kvm.PleHandler);
        var e = Assert.Throws<ScenarioException>(() => Load("host.scheduler=xen-credit-3.4", "kvm.ple_handler=xen-yield-2009", "kvm.version=4.19"));
        Assert.EndsWith("version", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }
}

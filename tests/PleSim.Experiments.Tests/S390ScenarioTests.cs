using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Guest;

namespace PleSim.Experiments.Tests;

/// <summary>s390 guests (decision 0055): guest.spinlock: s390, guest.spin_retry, kvm.diag9c_forwarding_hz, the diag9c metrics, and the shipped example.</summary>
public class S390ScenarioTests
{
    private static Scenario S390Bench(params string[] overrides) =>
        HostScenarioTests.Shipped("kvm", "s390-lock-bench.yaml", overrides);

    private static Scenario X86Bench(params string[] overrides) =>
        HostScenarioTests.Shipped("kvm", "lock-bench.yaml", overrides);

    [Fact]
    public void The_keys_parse_with_the_kernel_defaults()
    {
        var s = S390Bench();
        var g = s.Vms[0].Guest;
        Assert.Equal((SpinlockKind.S390, 1000, 10L), (g.Spinlock, g.SpinRetry, g.S390SpinLoopCycles));
        Assert.Equal(0, s.Kvm.Diag9cForwardingHz);
        Assert.Equal("none", s.Kvm.PleHandler);
        Assert.Equal(0, S390Bench("vms[0].guest.spin_retry=0").Vms[0].Guest.SpinRetry);
        Assert.Equal(500, S390Bench("kvm.diag9c_forwarding_hz=500").Kvm.Diag9cForwardingHz);
        Assert.Equal(1000, X86Bench().Vms[0].Guest.SpinRetry); // read everywhere, used by s390 locks only
    }

    [Fact]
    public void An_s390_guest_with_pause_loop_exiting_is_a_located_error()
    {
        var e = Assert.Throws<ScenarioException>(() => X86Bench("vms[0].guest.spinlock=s390"));
        var d = e.Diagnostics.Single();
        Assert.Equal("vms[0].guest.spinlock", d.KeyPath);
        Assert.Contains("kvm.ple_handler: none", d.Message, StringComparison.Ordinal);
        Assert.Contains("directed-yield-2011", d.Message, StringComparison.Ordinal);
        var v = Assert.Throws<ScenarioException>(() => S390Bench("kvm.version=6.13", "kvm.ple_handler=directed-yield-6.13"));
        Assert.Contains("kvm.version 6.13", v.Diagnostics.Single().Message, StringComparison.Ordinal);
        Assert.Throws<ScenarioException>(() => S390Bench("vms[0].guest.spin_retry=-1"));
    }

    [Fact]
    public void The_s390_lock_bench_runs_deterministically_with_every_invariant_checked()
    {
        var s = S390Bench("duration=60ms", "warmup=20ms");
        var a = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 1 });
        var b = Runner.RunOne(s, 1, new RunOptions());
        Assert.True(a.Error is null, a.Error);
        Assert.Equal(a.Events, b.Events);
        Assert.Equal(a.Metrics, b.Metrics);
        Assert.Equal(0, a.Metric("bench.pause_exits_per_second"));
        double calls = a.Metric("bench.diag9c_calls")!.Value;
        Assert.True(calls > 0);
        Assert.Equal(calls / 0.060, a.Metric("bench.diag9c_calls_per_second")!.Value, 6);
        double sum = a.Metrics.Where(m => m.Key.StartsWith("bench.diag9c_outcome.", StringComparison.Ordinal)).Sum(m => m.Value);
        Assert.Equal(1.0, sum, 9);
        Assert.Equal(1.0, a.Metric("bench.diag9c_yield_rate")!.Value + a.Metric("bench.diag9c_ignored_rate")!.Value, 9);
        Assert.Null(a.Metric("loops.diag9c_calls")); // the hog VM runs the x86 default lock: not reported
        Assert.Null(Runner.RunOne(X86Bench("duration=20ms", "warmup=10ms"), 1, new RunOptions()).Metric("bench.diag9c_calls")); // x86 guests: not reported
    }
}

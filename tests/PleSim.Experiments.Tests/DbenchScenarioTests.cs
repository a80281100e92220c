using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>The dbench scenario: it loads, runs with every invariant checked, is deterministic, allocates nothing per event in steady state, and refuses bad keys with a location.</summary>
public class DbenchScenarioTests
{
    private static Scenario Load(params string[] overrides) =>
        HostScenarioTests.Shipped("workloads", "dbench.yaml", overrides);

    private static double M(RunResult r, string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");

    [Theory]
    [InlineData("vms[0].guest.spinlock=ticket")]
    [InlineData("vms[0].guest.spinlock=pv-ticket")]
    public void Dbench_runs_with_invariants_checked_and_reports_its_throughput(string option)
    {
        var s = Load(option, "duration=30ms", "warmup=5ms");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 97 });
        Assert.True(r.Error is null, r.Error);
        double mb = M(r, "dbench.dbench_mb_per_s"), ops = M(r, "dbench.dbench_ops_per_s");
        Assert.True(mb > 0 && ops > 0);
        // MB/s is 10^6 bytes of ReadX + WriteX per second: at most io_size per line.
        Assert.True(mb * 1e6 <= ops * 15200);
        double spin = M(r, "dbench.spin_ns");
        Assert.Equal(spin, Hypervisor.GroundTruth.Causes.Sum(c => M(r, "dbench.spin_ns." + Hypervisor.GroundTruth.Name(c))));
    }

    [Fact]
    public void The_same_seed_gives_byte_identical_json()
    {
        var s = Load("duration=20ms", "warmup=5ms");
        var a = ResultJson.Write(s, [Runner.RunOne(s, 3, new RunOptions()), Runner.RunOne(s, 4, new RunOptions())]);
        var b = ResultJson.Write(s, Runner.RunMany(s, [3UL, 4UL], parallelism: 2));
        Assert.Equal(a, b);
    }

    [Fact]
    public void Dbench_allocates_nothing_per_event_in_steady_state()
    {
        var model = new SystemRun(Load(), 1);
        var (bytes, events) = SteadyState.Measure(model, 50_000_000, 150_000_000);
        Assert.True(events > 10_000);
        Assert.Equal(0, bytes);
    }

    [Theory]
    [InlineData("pv-ticket", true, Guest.SpinlockKind.PvTicket)]
    [InlineData("pv-ticket", false, Guest.SpinlockKind.Ticket)]
    [InlineData("pv-qspinlock", false, Guest.SpinlockKind.TestAndSet)] // 4.2+ virt_spin_lock (decision 0058)
    [InlineData("ticket", true, Guest.SpinlockKind.Ticket)]
    public void Without_pv_unhalt_the_guests_pv_locks_stay_native(string spinlock, bool pvUnhalt, Guest.SpinlockKind expected)
    {
        // kvm_spinlock_init returns early when KVM does not offer KVM_FEATURE_PV_UNHALT (a queued-lock guest then runs virt_spin_lock).
        var model = new SystemRun(Load($"vms[0].guest.spinlock={spinlock}", $"kvm.pv_unhalt={(pvUnhalt ? "true" : "false")}"), 1);
        var locks = model.Vms[0].Kernel.Locks;
        Assert.NotEmpty(locks);
        Assert.All(locks, l => Assert.Equal(expected, l.Kind));
    }

    [Fact]
    public void An_unknown_dbench_key_is_reported_with_its_location()
    {
        var e = Assert.Throws<ScenarioException>(() => Load("vms[0].workload.client=3"));
        Assert.Contains("clients", e.Message);
    }
}

using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Guest;

namespace PleSim.Experiments.Tests;

/// <summary>guest.kernel presets and the paravirtual keys (decision 0023): parsing, invariants, allocation-freedom, determinism.</summary>
public class ParavirtScenarioTests
{
    private static Scenario Bench(params string[] overrides) =>
        HostScenarioTests.Shipped("kvm", "lock-bench.yaml", overrides);

    [Fact]
    public void Guest_kernel_picks_a_preset_and_the_individual_keys_override_it()
    {
        var g = Bench("vms[0].guest.kernel=5.10").Vms[0].Guest;
        Assert.Equal(("5.10", SpinlockKind.PvQueued, true, true), (g.KernelVersion, g.Spinlock, g.PvTlbFlush, g.PvSchedYield));
        var o = Bench("vms[0].guest.kernel=5.10", "vms[0].guest.spinlock=ticket", "vms[0].guest.pv_sched_yield=false").Vms[0].Guest;
        Assert.Equal((SpinlockKind.Ticket, true, false), (o.Spinlock, o.PvTlbFlush, o.PvSchedYield));
        Assert.Equal(SpinlockKind.PvTicket, Bench("vms[0].guest.kernel=3.12").Vms[0].Guest.Spinlock);
        Assert.Equal(SpinlockKind.Ticket, Bench().Vms[0].Guest.Spinlock); // no preset: the old default
        Assert.Null(Bench().Vms[0].Guest.KernelVersion);
    }

    [Theory]
    [InlineData(1, 6_000, 750, 1_000)]
    [InlineData(2, 12_000, 1_500, 2_000)]
    [InlineData(3, 12_000, 1_500, 2_000)]
    [InlineData(4, 18_000, 2_250, 3_000)]
    [InlineData(8, 24_000, 3_000, 4_000)]
    [InlineData(64, 24_000, 3_000, 4_000)]
    public void A_guests_granularities_scale_with_its_vcpu_count_as_its_kernel_sets_them_at_boot(int vcpus, long latencyUs, long minGranUs, long wakeupGranUs)
    {
        // sched_init_granularity → update_sysctl: normalized 6 / 0.75 / 1 ms × (1 + ilog2(min(ncpus, 8))) (decision 0090).
        foreach (var kernel in new[] { "", "vms[0].guest.kernel=2.6.39", "vms[0].guest.kernel=6.1" })
        {
            var g = Bench([$"vms[0].vcpus={vcpus}", .. kernel.Length > 0 ? [kernel] : Array.Empty<string>()]).Vms[0].Guest;
            Assert.Equal((latencyUs, minGranUs, wakeupGranUs), (g.Latency.Ns / 1000, g.MinGranularity.Ns / 1000, g.WakeupGranularity.Ns / 1000));
        }
    }

    [Fact]
    public void A_granularity_the_file_sets_is_kept_whatever_the_vcpu_count()
    {
        var g = Bench("vms[0].vcpus=16", "vms[0].guest.wakeup_granularity=5ms", "vms[0].guest.latency=18ms").Vms[0].Guest;
        Assert.Equal((18_000_000L, 3_000_000L, 5_000_000L), (g.Latency.Ns, g.MinGranularity.Ns, g.WakeupGranularity.Ns));
    }

    [Fact]
    public void A_bad_kernel_or_spinlock_value_is_a_located_error()
    {
        var e = Assert.Throws<ScenarioException>(() => Bench("vms[0].guest.kernel=3.13"));
        Assert.Contains("kernel", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e2 = Assert.Throws<ScenarioException>(() => Bench("vms[0].guest.spinlock=mcs"));
        Assert.Contains("spinlock", e2.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pv-ticket")]
    [InlineData("pv-qspinlock")]
    public void The_pv_lock_bench_runs_with_every_invariant_checked_and_takes_the_slow_path(string kind)
    {
        // PLE off: waiters behind a preempted holder spin out SPIN_THRESHOLD and halt.
        var s = Bench($"vms[0].guest.spinlock={kind}", "kvm.ple_handler=none", "duration=100ms", "warmup=20ms");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 1 });
        Assert.True(r.Error is null, r.Error);
        var model = new SystemRun(s, 1);
        model.Sim.RunUntil(new Engine.SimTime(100_000_000));
        Assert.True(model.Vms[0].Kernel.Locks.Sum(l => l.PvHalts) > 0);
    }

    [Theory]
    [InlineData("vms[0].guest.kernel=3.12", "vms[0].guest.spin_threshold=32768")]
    [InlineData("vms[0].guest.kernel=5.10", "vms[0].guest.spin_threshold=256")]
    public void The_pv_lock_bench_allocates_nothing_per_event_in_steady_state(string preset, string threshold)
    {
        // A short threshold keeps the PV queued lock's slow path busy in the measured window.
        var s = Bench(preset, threshold, "kvm.ple_handler=none");
        var model = new SystemRun(s, 1);
        model.Sim.RunUntil(new Engine.SimTime(200_000_000));
        long pv0 = model.Vms[0].Kernel.Locks.Sum(l => l.PvHalts + l.Steals);
        var (bytes, _) = SteadyState.Measure(model, 200_000_000, 400_000_000);
        Assert.True(model.Vms[0].Kernel.Locks.Sum(l => l.PvHalts + l.Steals) > pv0); // PV halts (3.12) or lock steals (5.10) in the window
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void The_same_seed_gives_byte_identical_json_for_a_pv_guest()
    {
        var s = Bench("vms[0].guest.kernel=5.10", "kvm.ple_handler=none", "duration=100ms", "warmup=20ms");
        var a = ResultJson.Write(s, [Runner.RunOne(s, 3, new RunOptions()), Runner.RunOne(s, 4, new RunOptions())]);
        var b = ResultJson.Write(s, Runner.RunMany(s, [3UL, 4UL], parallelism: 2));
        Assert.Equal(a, b);
    }
}

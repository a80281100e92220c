using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Hypervisor;

namespace PleSim.Experiments.Tests;

/// <summary>kvm.kick_yield (decision 0043) in scenarios: the key, its kvm.version default, allocation-freedom.</summary>
public class KickYieldScenarioTests
{
    private static Scenario Bench(params string[] overrides) =>
        HostScenarioTests.Shipped("kvm", "lock-bench.yaml", overrides);

    [Fact]
    public void Kvm_version_sets_kick_yield_from_5_3_and_an_explicit_key_overrides_it()
    {
        Assert.False(Bench().Kvm.KickYield);
        Assert.False(Bench("kvm.version=4.19").Kvm.KickYield);
        Assert.True(Bench("kvm.version=5.3").Kvm.KickYield);
        Assert.False(Bench("kvm.version=5.3").Kvm.SchedYieldSingleTaskBail);
        Assert.True(Bench("kvm.version=6.1").Kvm is { KickYield: true, SchedYieldSingleTaskBail: true });
        Assert.False(Bench("kvm.version=6.1", "kvm.kick_yield=false").Kvm.KickYield);
        Assert.True(Bench("kvm.kick_yield=true").Kvm.KickYield);
        Assert.True(Bench("kvm.sched_yield_single_task_bail=true").Kvm.SchedYieldSingleTaskBail);
    }

    [Fact]
    public void A_bad_kick_yield_value_is_a_located_error()
    {
        var e = Assert.Throws<ScenarioException>(() => Bench("kvm.kick_yield=sometimes"));
        Assert.Contains("kick_yield", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void The_pv_qspinlock_bench_with_kick_yield_allocates_nothing_per_event_in_steady_state()
    {
        // A short spin threshold and no PLE keep the PV queued lock halting, so unlocks kick and yield.
        var s = Bench("vms[0].guest.spinlock=pv-qspinlock", "vms[0].guest.spin_threshold=256", "kvm.ple_handler=none", "kvm.kick_yield=true");
        var model = new SystemRun(s, 1);
        model.Sim.RunUntil(new Engine.SimTime(200_000_000));
        var stats = model.Vms[0].Vm.Stats;
        long k0 = stats.KickYields;
        var (bytes, _) = SteadyState.Measure(model, 200_000_000, 400_000_000);
        Assert.True(stats.KickYields > k0); // kick yields ran in the measured window
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void With_kick_yield_the_pv_bench_runs_with_every_invariant_checked_and_yields()
    {
        var s = Bench("vms[0].guest.spinlock=pv-qspinlock", "vms[0].guest.spin_threshold=256", "kvm.ple_handler=none", "kvm.kick_yield=true",
            "duration=100ms", "warmup=20ms");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 1 });
        Assert.True(r.Error is null, r.Error);
        Assert.True(r.Metric("bench.kick_yields_per_second") > 0);
        Assert.True(r.Metric("bench.kick_yield_success_rate") > 0);
    }
}

using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Experiments.Tests;

/// <summary>scenarios/workloads/sysbench.yaml: parsing of sysbench's keys, invariants, ground-truth sums, determinism, allocation-freedom.</summary>
public class SysbenchScenarioTests
{
    private static Scenario Load(params string[] overrides) =>
        HostScenarioTests.Shipped("workloads", "sysbench.yaml", overrides);

    private static double M(RunResult r, string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");

    [Fact]
    public void The_keys_are_read_in_sysbench_spelling()
    {
        var w = Load("vms[0].workload.test=mutex", "vms[0].workload.num-threads=3", "vms[0].workload.mutex-num=16").Vms[0].Workload;
        Assert.Equal("sysbench", w.Kind);
        Assert.Equal((SysbenchTest.Mutex, 3, 16, 1000, 8), (w.Sysbench.Test, w.Sysbench.NumThreads, w.Sysbench.MutexNum, w.Sysbench.ThreadYields, w.Sysbench.ThreadLocks));
        var e = Assert.Throws<ScenarioException>(() => Load("vms[0].workload.test=cpu"));
        Assert.Contains("test", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e2 = Assert.Throws<ScenarioException>(() => Load("vms[0].workload.num_threads=3"));
        Assert.Contains("num_threads", e2.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void The_guest_mutex_keys_follow_the_kernel_preset_and_override_it()
    {
        Assert.False(Load().Vms[0].Guest.VcpuIsPreemptedCheck);
        Assert.True(Load("vms[0].guest.kernel=5.10").Vms[0].Guest.VcpuIsPreemptedCheck);
        Assert.False(Load("vms[0].guest.kernel=5.10", "vms[0].guest.vcpu_is_preempted=false").Vms[0].Guest.VcpuIsPreemptedCheck);
        Assert.False(Load("vms[0].guest.mutex_spin_on_owner=false").Vms[0].Guest.MutexSpinOnOwner);
    }

    [Theory]
    [InlineData("threads", "directed-yield-2011")]
    [InlineData("threads", "none")]
    [InlineData("mutex", "directed-yield-2011")]
    public void It_runs_with_every_invariant_checked_and_the_ground_truth_adds_up(string test, string handler)
    {
        var s = Load($"vms[0].workload.test={test}", $"kvm.ple_handler={handler}", "duration=60ms", "warmup=10ms", "vms[0].workload.mutex-loops=1000");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 29 });
        Assert.True(r.Error is null, r.Error);
        var causes = GroundTruth.Causes.Select(GroundTruth.Name).ToList();
        double spin = M(r, "sysbench.spin_ns");
        Assert.Equal(spin, causes.Sum(c => M(r, "sysbench.spin_ns." + c)));
        Assert.Equal(M(r, "sysbench.pause_exits"), causes.Sum(c => M(r, "sysbench.pause_exits." + c)));
        Assert.True(M(r, test == "threads" ? "sysbench.sysbench_yields_per_second" : "sysbench.sysbench_mutex_rounds_per_second") > 0);
    }

    [Fact]
    public void The_threads_test_contends_and_sleeps_on_futexes_at_overcommit()
    {
        var s = Load("duration=100ms", "warmup=20ms");
        var r = Runner.RunOne(s, 1, new RunOptions());
        Assert.True(r.Error is null, r.Error);
        Assert.True(M(r, "sysbench.sysbench_contended_locks_per_second") > 0);
        Assert.True(M(r, "sysbench.futex_sleeps_per_second") > 0);
        Assert.True(M(r, "sysbench.futex_wakes_per_second") > 0);
    }

    [Fact]
    public void The_same_seed_gives_byte_identical_json()
    {
        var s = Load("duration=50ms", "warmup=10ms", "vms[0].workload.test=mutex", "vms[0].workload.mutex-loops=1000");
        var a = ResultJson.Write(s, [Runner.RunOne(s, 3, new RunOptions()), Runner.RunOne(s, 4, new RunOptions())]);
        var b = ResultJson.Write(s, Runner.RunMany(s, [3UL, 4UL], parallelism: 2));
        Assert.Equal(a, b);
    }

    [Theory]
    [InlineData("threads")]
    [InlineData("mutex")]
    public void It_allocates_nothing_per_event_in_steady_state(string test)
    {
        var s = Load($"vms[0].workload.test={test}", "vms[0].workload.mutex-loops=1000");
        var model = new SystemRun(s, 1);
        var sb = model.Vms[0].Sysbench!;
        var (bytes, events) = SteadyState.Measure(model, 100_000_000, 200_000_000);
        Assert.True(events > 10_000);
        Assert.True(sb.ContendedLocks > 0);
        Assert.True(model.Vms[0].Kernel.Futexes.Sum(f => f.WaitCalls) > 0);
        Assert.Equal(0, bytes);
    }

    [Theory]
    [InlineData("2.6.39")]
    [InlineData("5.10")]
    public void The_lock_bench_on_a_kernel_mutex_spins_on_preempted_owners_only_without_vcpu_is_preempted(string kernel)
    {
        // lock-bench at 2x overcommit with lock_type: mutex, PLE off (so nothing but the guest ends
        // a spin). A 2.6.39 guest spins on owners whose VCPU the host preempted; a 5.10 guest reads
        // the steal-time flag and stops instead.
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "kvm", "lock-bench.yaml"),
            new[] { "vms[0].workload.lock_type=mutex", $"vms[0].guest.kernel={kernel}", "kvm.ple_handler=none", "duration=100ms", "warmup=20ms" }.Select(Override.Parse).ToList());
        Assert.Equal("mutex", s.Vms[0].Workload.LockType);
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 31 });
        Assert.True(r.Error is null, r.Error);
        var causes = GroundTruth.Causes.Select(GroundTruth.Name).ToList();
        Assert.Equal(M(r, "bench.spin_ns"), causes.Sum(c => M(r, "bench.spin_ns." + c)));
        Assert.True(M(r, "bench.lock_iterations_per_second") > 0);
        Assert.True(M(r, "bench.mutex_acquisitions_per_second") > 0);
        double giveUps = M(r, "bench.mutex_spin_give_ups_vcpu_preempted_per_second");
        if (kernel == "2.6.39")
        {
            Assert.Equal(0, giveUps);
            Assert.True(M(r, "bench.spin_ns.mutex_owner_preempted") > 0);
        }
        else
        {
            Assert.True(giveUps > 0);
        }
    }
}

using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>The ebizzy and kernbench scenarios: they load, run with every invariant checked, are deterministic and allocate nothing per event in steady state.</summary>
public class MmWorkloadScenarioTests
{
    private static Scenario Load(string file, params string[] overrides) =>
        HostScenarioTests.Shipped("workloads", file, overrides);

    private static double M(RunResult r, string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");

    [Theory]
    [InlineData("vms[0].workload.always_mmap=false")]
    [InlineData("vms[0].workload.always_mmap=true")]
    [InlineData("vms[0].workload.never_mmap=true")]
    public void Ebizzy_runs_with_invariants_checked_and_its_ground_truth_adds_up(string option)
    {
        var s = Load("ebizzy.yaml", option, "duration=60ms", "warmup=10ms");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 97 });
        Assert.True(r.Error is null, r.Error);
        Assert.True(M(r, "ebizzy.records_per_s") > 0);
        Assert.True(M(r, "ebizzy.page_faults_per_s") > 0);
        Assert.True(M(r, "ebizzy.shootdowns_per_s") > 0);
        double spin = M(r, "ebizzy.spin_ns");
        Assert.Equal(spin, Hypervisor.GroundTruth.Causes.Sum(c => M(r, "ebizzy.spin_ns." + Hypervisor.GroundTruth.Name(c))));
    }

    [Fact]
    public void Ebizzy_options_that_exclude_each_other_are_rejected_with_a_location()
    {
        var e = Assert.Throws<ScenarioException>(() => Load("ebizzy.yaml", "vms[0].workload.always_mmap=true", "vms[0].workload.never_mmap=true"));
        Assert.Contains("never_mmap", e.Message);
    }

    [Fact]
    public void Kernbench_reports_its_elapsed_time_when_the_last_unit_is_reaped()
    {
        var s = Load("kernbench.yaml", "vms[0].workload.compile_units=20", "vms[0].workload.compile_time=2ms");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 97 });
        Assert.True(r.Error is null, r.Error);
        double elapsed = M(r, "kernbench.elapsed_s");
        Assert.True(elapsed > 0 && elapsed < 10, $"elapsed {elapsed}");
        Assert.Equal(20, M(r, "kernbench.units_per_s") * elapsed, 6);
    }

    [Fact]
    public void With_two_benchmark_guests_the_run_ends_when_the_slower_one_is_done()
    {
        // The second guest runs a much smaller kernbench: it finishes first, and the run goes on
        // until the first guest's last unit is reaped, so both report their own elapsed time.
        var text = File.ReadAllText(HostScenarioTests.Repo("scenarios", "workloads", "kernbench.yaml"))
            .Replace("    workload: {kind: hog, loops: 4}", "    workload: {kind: kernbench, jobs: 4, compile_units: 2, compile_time: 2ms}", StringComparison.Ordinal)
            .Replace("loops.cpus_used", "loops.elapsed_s", StringComparison.Ordinal);
        var s = ScenarioLoader.LoadText(text, "two-kernbench.yaml", [Override.Parse("vms[0].workload.compile_units=20"), Override.Parse("vms[0].workload.compile_time=2ms")]);
        var r = Runner.RunOne(s, 1, new RunOptions());
        Assert.True(r.Error is null, r.Error);
        double slow = M(r, "kernbench.elapsed_s"), fast = M(r, "loops.elapsed_s");
        Assert.True(double.IsFinite(slow) && double.IsFinite(fast), $"elapsed {slow} and {fast}");
        Assert.True(fast < slow, $"the small build ({fast} s) should end before the large one ({slow} s)");
    }

    [Fact]
    public void The_same_seed_gives_byte_identical_json()
    {
        var s = Load("ebizzy.yaml", "duration=40ms", "warmup=10ms");
        var a = ResultJson.Write(s, [Runner.RunOne(s, 3, new RunOptions()), Runner.RunOne(s, 4, new RunOptions())]);
        var b = ResultJson.Write(s, Runner.RunMany(s, [3UL, 4UL], parallelism: 2));
        Assert.Equal(a, b);
    }

    [Theory]
    [InlineData("ebizzy.yaml", "vms[0].workload.always_mmap=false")]
    [InlineData("ebizzy.yaml", "vms[0].workload.always_mmap=true")]
    [InlineData("kernbench.yaml", "vms[0].workload.compile_units=100000")]
    public void The_mm_workloads_allocate_nothing_per_event_in_steady_state(string file, string option)
    {
        // Warm-up to 200 ms: queues reach their high-water marks (ebizzy -m grows one wait queue's
        // buffer once, at ~146 ms with seed 1); nothing is allocated from there to 400 ms.
        var s = Load(file, option);
        var model = new SystemRun(s, 1);
        var (bytes, events) = SteadyState.Measure(model, 200_000_000, 400_000_000);
        Assert.True(events > 10_000);
        Assert.Equal(0, bytes);
    }

    [Theory]
    [InlineData("ebizzy.yaml", "vms[0].workload.always_mmap=true")]
    [InlineData("kernbench.yaml", "vms[0].workload.compile_units=100000")]
    public void The_4_19_rwsem_runs_with_invariants_checked_reports_its_metrics_and_allocates_nothing_per_event(string file, string option)
    {
        // guest.rwsem 4.19 (decision 0050): writers spin on mmap_sem's owner. The rwsem_* metrics
        // appear only with it, and the spin adds no per-event allocation.
        var s = Load(file, option, "vms[0].guest.rwsem=4.19", "vms[0].guest.vcpu_is_preempted=true", "duration=60ms", "warmup=10ms");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 97 });
        Assert.True(r.Error is null, r.Error);
        string vm = file == "ebizzy.yaml" ? "ebizzy" : "kernbench";
        double spins = M(r, vm + ".rwsem_spins_per_second");
        if (file == "ebizzy.yaml")
            Assert.True(spins > 0, "ebizzy -m's mmap/munmap writers meet on mmap_sem"); // kernbench's writers rarely do in 60 ms
        Assert.True(M(r, vm + ".rwsem_spin_acquisitions_per_second") <= M(r, vm + ".rwsem_spins_per_second"));
        var plain = Runner.RunOne(Load(file, option, "duration=60ms", "warmup=10ms"), 1, new RunOptions());
        Assert.Null(plain.Metric(vm + ".rwsem_spins_per_second"));

        var model = new SystemRun(Load(file, option, "vms[0].guest.rwsem=4.19", "vms[0].guest.vcpu_is_preempted=true"), 1);
        var (bytes, events) = SteadyState.Measure(model, 200_000_000, 400_000_000);
        Assert.True(events > 10_000);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void The_5_3_rwsem_with_reader_spinning_and_its_handoff_ground_truth_allocates_nothing_per_event()
    {
        // ebizzy in a 5.10 guest (5.3's rwsem, decision 0057): readers and writers spin on mmap_sem,
        // and the spin-cause re-classifications of decision 0068 run; none allocates per event.
        var s = Load("ebizzy.yaml", "vms[0].guest.kernel=5.10");
        var model = new SystemRun(s, 1);
        var (bytes, events) = SteadyState.Measure(model, 100_000_000, 300_000_000);
        var sem = model.Vms[0].Kernel.RwSems.Single(x => x.Name == "mm1.mmap_sem");
        Assert.True(sem.Rwsem53);
        Assert.True(sem.ReaderSpins > 0 && sem.Spins > 0, $"{sem.ReaderSpins} reader and {sem.Spins} writer spins");
        Assert.True(events > 10_000);
        Assert.Equal(0, bytes);
    }
}

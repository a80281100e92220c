using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Hypervisor;

namespace PleSim.Experiments.Tests;

/// <summary>
/// The ground-truth breakdowns (docs/ground-truth.md) add up: spin time by cause to the measured
/// spin time (exactly, in ns), yield_to labels to the yield_to calls, PAUSE exits by cause to the
/// PAUSE exits, candidates to skips plus calls — on the lock benchmark and the riel-2011 AMQP
/// scenario, with every model invariant checked.
/// </summary>
public class GroundTruthTests
{
    private static Scenario Load(string dir, string file, params string[] overrides) =>
        HostScenarioTests.Shipped(dir, file, overrides);

    private static double M(RunResult r, string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");

    private static double Sum(RunResult r, string prefix, IEnumerable<string> names) => names.Sum(n => M(r, prefix + n));

    /// <summary>Checks every VM of a run; returns the run for further checks.</summary>
    private static RunResult CheckSums(Scenario s, ulong seed, params string[] vms)
    {
        var r = Runner.RunOne(s, seed, new RunOptions { CheckInvariantsEvery = 53 });
        Assert.True(r.Error is null, r.Error);
        var causes = GroundTruth.Causes.Select(GroundTruth.Name).ToList();
        var labels = GroundTruth.Labels.Select(GroundTruth.Name).ToList();
        foreach (var vm in vms)
        {
            string p = vm + ".";
            double spin = M(r, p + "spin_ns");
            Assert.Equal(Math.Round(spin), spin); // integer ns
            Assert.Equal(spin, Sum(r, p + "spin_ns.", causes));
            // The fraction of VCPU time reported elsewhere is the same spin time.
            Assert.Equal(M(r, p + "frac_spin"), spin / (s.Vms.First(v => v.Name == vm).Vcpus * (double)s.Duration.Ns), 9);
            Assert.Equal(M(r, p + "pause_exits"), Sum(r, p + "pause_exits.", causes));
            double calls = M(r, p + "yield_to_calls");
            Assert.Equal(calls, Sum(r, p + "yield_to.", labels));
            Assert.Equal(M(r, p + "dy_candidates"), calls + Sum(r, p + "dy_skipped.", VmRuntime.SkipReasons.Select(x => x.Name)));
            double successes = Sum(r, p + "yield_to.", ["holder", "next_waiter", "waiter_ahead", "ack_debtor", "other_spinner", "unrelated"]);
            // A walk ends with a successful yield_to, with 3.9's -ESRCH, or without a yield.
            Assert.Equal(M(r, p + "dy_walks"), successes + M(r, p + "yield_to.failed_both_queues_single") + M(r, p + "dy_walks_without_yield"));
            double rate = M(r, p + "yield_to_success_rate");
            if (calls > 0)
                Assert.Equal(rate, successes / calls, 12);
        }
        return r;
    }

    [Theory]
    [InlineData("none")]
    [InlineData("directed-yield-2011")]
    [InlineData("directed-yield-3.10")]
    [InlineData("sleep")]
    public void On_the_lock_bench_causes_add_up_to_spin_time_and_labels_to_yield_to_calls(string handler)
    {
        var s = Load("kvm", "lock-bench.yaml", $"kvm.ple_handler={handler}", "duration=100ms", "warmup=20ms");
        var r = CheckSums(s, 1, "bench", "loops");
        Assert.True(M(r, "bench.spin_ns") > 0);
        if (handler == "none")
            Assert.Equal(0, M(r, "bench.yield_to_calls"));
    }

    [Fact]
    public void The_vms_records_name_the_walk_share_apart_from_the_walk_count_and_use_snake_case_keys()
    {
        var s = Load("kvm", "lock-bench.yaml", "kvm.ple_handler=directed-yield-2011", "duration=100ms", "warmup=20ms");
        var r = Runner.RunOne(s, 1, new RunOptions());
        Assert.True(r.Error is null, r.Error);
        var bench = r.Vms.Single(v => (string)v["vm"]! == "bench");
        var keys = bench.Fields.Select(f => f.Key).ToList();
        // The record's share of walks is not the metric's count of the same name.
        Assert.DoesNotContain("dy_walks_without_yield", keys);
        double share = (double)bench["frac_dy_walks_without_yield"]!;
        Assert.Equal(M(r, "bench.dy_walks_without_yield") / M(r, "bench.dy_walks"), share, 12);
        Assert.Contains("yield_to.success", keys);
        Assert.All(keys, k => Assert.Matches("^[a-z0-9_./]+$", k));
    }

    [Theory]
    [InlineData("4.19")]
    [InlineData("6.12")]
    public void With_later_kvm_walks_every_candidate_is_a_skip_or_a_call(string kvmVersion)
    {
        // 4.14+ skips candidates preempted in guest user mode; the loops guest's hogs are such candidates
        // only for their own VM, so the AMQP guest's walks meet them through its own user-mode VCPUs.
        var s = Load("riel-2011", "amqp.yaml", $"kvm.version={kvmVersion}", "vms[1].workload.loops=4", "duration=150ms", "warmup=50ms",
            "vms[0].workload.allocator=summing-what-if");
        var r = CheckSums(s, 1, "amqp", "loops");
        Assert.True(M(r, "amqp.dy_candidates") > 0);
        Assert.True(M(r, "amqp.dy_skipped.user_mode") > 0, "no user-mode skip: the test does not exercise 4.14's test");
    }

    [Theory]
    [InlineData("none", 4)]
    [InlineData("directed-yield-2011", 4)]
    [InlineData("directed-yield-2011", 2)]
    public void On_the_riel_2011_amqp_scenario_causes_and_labels_add_up(string handler, int loops)
    {
        // The summing what-if allocator trims often, so a 150 ms window has TLB-shootdown waits,
        // lock spinning and PAUSE exits to classify (the glibc arena model trims rarely).
        var s = Load("riel-2011", "amqp.yaml", $"kvm.ple_handler={handler}", $"vms[1].workload.loops={loops}", "duration=150ms", "warmup=50ms",
            "vms[0].workload.allocator=summing-what-if");
        var r = CheckSums(s, 1, "amqp", "loops");
        Assert.True(M(r, "amqp.spin_ns") > 0);
        if (handler != "none")
            Assert.True(M(r, "amqp.pause_exits") > 0);
    }
}

public class GroundTruthAllocationTests
{
    [Theory]
    [InlineData("directed-yield-2011")]
    [InlineData("directed-yield-3.10")]
    [InlineData("sleep")]
    [InlineData("oracle")]
    public void The_lock_bench_with_its_ground_truth_allocates_nothing_per_event_in_steady_state(string handler)
    {
        // Spinning, PAUSE exits, yield_to labels, presence changes and re-classification all run here.
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "kvm", "lock-bench.yaml"), [Override.Parse($"kvm.ple_handler={handler}")]);
        var model = new SystemRun(s, 1);
        var (bytes, events) = SteadyState.Measure(model, 200_000_000, 400_000_000);
        Assert.True(events > 10_000);
        Assert.True(model.Vms[0].Vm.Vcpus.Sum(v => v.TimeIn(Hypervisor.VcpuTime.GuestSpin)) > 0);
        Assert.Equal(0, bytes);
    }
}

using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>
/// Decision 0097 through the scenario file: <c>kvm.directed_yield.blocking_until_run</c> (5.8+),
/// <c>kvm.directed_yield.esrch_skips_second_pass</c> (3.9–6.12) and <c>kvm.halt_poll_recheck_single_task</c>,
/// their <c>kvm.version</c> defaults, and a run where the 5.8+ skip happens.
/// </summary>
public class KvmWalkAsReleasedScenarioTests
{
    private static Scenario Bench(params string[] overrides) =>
        HostScenarioTests.Shipped("kvm", "lock-bench.yaml", overrides);

    private static bool BlockingUntilRun(Scenario s) =>
        Hypervisor.PleHandlers.Create(s.Kvm.PleHandler, s.Kvm.DirectedYield) is Hypervisor.DirectedYield dy && dy.Options.BlockingUntilRun;

    private static bool EsrchSkipsSecondPass(Scenario s) =>
        Hypervisor.PleHandlers.Create(s.Kvm.PleHandler, s.Kvm.DirectedYield) is Hypervisor.DirectedYield dy && dy.Options.EsrchSkipsSecondPass;

    [Fact]
    public void The_presets_set_the_rcuwait_test_from_5_10_and_the_keys_override_them()
    {
        foreach (var v in new[] { "2.6.39", "3.18", "4.19", "5.3" })
            Assert.False(BlockingUntilRun(Bench("kvm.version=" + v)), v);
        foreach (var v in new[] { "5.10", "5.13", "6.1", "6.12", "6.13" })
            Assert.True(BlockingUntilRun(Bench("kvm.version=" + v)), v);
        Assert.False(BlockingUntilRun(Bench("kvm.version=6.12", "kvm.directed_yield.blocking_until_run=false")));
        Assert.True(BlockingUntilRun(Bench("kvm.version=5.3", "kvm.directed_yield.blocking_until_run=true")));
        // The -ESRCH pass quirk comes with the 3.9 loop; 2.6.39's loop has no try counter.
        Assert.False(EsrchSkipsSecondPass(Bench()));
        Assert.True(EsrchSkipsSecondPass(Bench("kvm.version=6.12")));
        Assert.False(EsrchSkipsSecondPass(Bench("kvm.version=6.12", "kvm.directed_yield.esrch_skips_second_pass=false")));
        // Halt polling re-tests single_task_running() in every release; the key turns it off.
        Assert.True(Bench("kvm.version=4.3").Kvm.HaltPoll.RecheckSingleTask);
        Assert.False(Bench("kvm.version=4.3", "kvm.halt_poll_recheck_single_task=false").Kvm.HaltPoll.RecheckSingleTask);
    }

    [Theory]
    [InlineData("kvm.directed_yield.blocking_until_run=2", "blocking_until_run")]
    [InlineData("kvm.directed_yield.esrch_skips_second_pass=maybe", "esrch_skips_second_pass")]
    [InlineData("kvm.halt_poll_recheck_single_task=sometimes", "halt_poll_recheck_single_task")]
    public void A_bad_value_is_an_error_at_its_key(string set, string key)
    {
        var e = Assert.Throws<ScenarioException>(() => Bench(set));
        Assert.EndsWith(key, e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void On_the_amqp_scenario_at_5_10_walks_skip_woken_vcpus_that_have_not_run_and_every_candidate_is_accounted_for()
    {
        // The AMQP guest halts and is woken often at 2x: some of its walks meet a sibling woken from HLT
        // that has not run yet. Every candidate is still one skip or one yield_to call.
        var s = HostScenarioTests.Shipped("riel-2011", "amqp.yaml", "kvm.version=5.10", "vms[1].workload.loops=4", "duration=150ms", "warmup=50ms");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 53 });
        Assert.True(r.Error is null, r.Error);
        double M(string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");
        Assert.True(M("amqp.dy_skipped.woken_not_run") > 0, "no woken-not-run skip: the run does not exercise the 5.8 test");
        double skips = VmRuntime.SkipReasons.Sum(x => M("amqp.dy_skipped." + x.Name));
        Assert.Equal(M("amqp.dy_candidates"), M("amqp.yield_to_calls") + skips);
        // At 5.3 the same walks never skip for that reason.
        var r53 = Runner.RunOne(HostScenarioTests.Shipped("riel-2011", "amqp.yaml", "kvm.version=5.3", "vms[1].workload.loops=4", "duration=150ms", "warmup=50ms"), 1, new RunOptions());
        Assert.Equal(0, r53.Metric("amqp.dy_skipped.woken_not_run"));
    }
}

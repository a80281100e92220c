using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Host;

namespace PleSim.Experiments.Tests;

/// <summary>
/// DELAY_DEQUEUE in scenarios (decision 0083): on by default on the 6.12+ EEVDF classes, as the
/// kernel has it, refused before 6.12, and a run with it is deterministic, reports its counters and
/// differs from the run without it. Mechanisms only.
/// </summary>
public class DelayDequeueScenarioTests
{
    private static Scenario Load(params string[] overrides) =>
        HostScenarioTests.Shipped("riel-2011", "amqp.yaml", overrides);

    private static readonly string[] Today = ["host.scheduler=eevdf-6.18", "kvm.version=6.12", "vms[1].workload.loops=4", "duration=150ms", "warmup=20ms"];

    [Theory]
    [InlineData("eevdf-6.6", false)]
    [InlineData("eevdf-6.12", true)]
    [InlineData("eevdf-6.14", true)]
    [InlineData("eevdf-6.18", true)]
    [InlineData("cfs-4.19", false)]
    public void The_feature_follows_the_kernel_default_from_6_12_and_a_file_may_turn_it_off(string scheduler, bool on)
    {
        var s = Load([.. Today, $"host.scheduler={scheduler}"]);
        Assert.Equal(on, s.Host.Features.DelayDequeue);
        Assert.True(s.Host.Features.DelayZero);
        if (on)
            Assert.False(Load([.. Today, $"host.scheduler={scheduler}", "host.sched.features.DELAY_DEQUEUE=false"]).Host.Features.DelayDequeue);
    }

    [Theory]
    [InlineData("host.scheduler=eevdf-6.6")]
    [InlineData("host.scheduler=cfs-4.19")]
    [InlineData("host.scheduler=cfs-2.6.39")]
    public void Hosts_before_6_12_refuse_it_with_a_located_error(string scheduler)
    {
        var e = Assert.Throws<ScenarioException>(() => Load(scheduler, "host.sched.features.DELAY_DEQUEUE=true"));
        Assert.Contains(e.Diagnostics, d => d.KeyPath.Contains("sched", StringComparison.Ordinal) && d.Message.Contains("DELAY_DEQUEUE", StringComparison.Ordinal));
    }

    [Fact]
    public void A_run_with_delayed_dequeues_is_deterministic_and_counts_them()
    {
        var off = Runner.RunOne(Load([.. Today, "host.sched.features.DELAY_DEQUEUE=false"]), 1, new RunOptions());
        var s = Load(Today);
        var on = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 1 });
        var again = Runner.RunOne(s, 1, new RunOptions());
        Assert.True(on.Error is null, on.Error);
        Assert.Equal(on.Metrics, again.Metrics);
        Assert.Null(off.Metric("host.delayed_dequeues_per_second"));
        Assert.True(on.Metric("host.delayed_dequeues_per_second") > 0);
        Assert.True(on.Metric("host.delayed_requeues_per_second") + on.Metric("host.delayed_pick_dequeues_per_second") > 0);
        Assert.NotEqual(off.Metric("amqp.subscribe_rate"), on.Metric("amqp.subscribe_rate"));
    }
}

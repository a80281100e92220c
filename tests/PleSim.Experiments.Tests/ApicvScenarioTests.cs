using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>
/// <c>kvm.apicv</c> and <c>kvm.directed_yield.boost_pending_interrupt_user_mode</c> (decision 0060)
/// through the scenario file: the keys are read and validated, the posted-interrupt metrics appear only
/// when the key is given, an APICv run of the IPI-heavy hackbench posts interrupts, replaces the
/// receivers' forced exits, is deterministic, and its event loop allocates nothing.
/// </summary>
public class ApicvScenarioTests
{
    private static Scenario Load(params string[] overrides) =>
        HostScenarioTests.Shipped("workloads", "hackbench.yaml", overrides);

    private static double M(RunResult r, string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");

    [Fact]
    public void The_keys_are_read_and_the_version_preset_sets_the_boost()
    {
        Assert.False(Load().Kvm.Apicv);
        Assert.False(Load().Kvm.ReportApicv);
        var on = Load("kvm.apicv=true");
        Assert.True(on.Kvm.Apicv && on.Kvm.ReportApicv);
        Assert.True(Load("kvm.apicv=false").Kvm.ReportApicv);
        Assert.Null(Load("kvm.version=5.10").Kvm.DirectedYield.BoostPendingInterruptUserMode);
        Assert.True(Load("kvm.version=5.13").Kvm.DirectedYield.BoostPendingInterruptUserMode);
        Assert.False(Load("kvm.version=6.1", "kvm.directed_yield.boost_pending_interrupt_user_mode=false").Kvm.DirectedYield.BoostPendingInterruptUserMode);
    }

    [Theory]
    [InlineData("kvm.apicv=maybe", "apicv")]
    [InlineData("kvm.directed_yield.boost_pending_interrupt_user_mode=2", "boost_pending_interrupt_user_mode")]
    public void A_bad_value_is_an_error_at_its_key(string set, string key)
    {
        var e = Assert.Throws<ScenarioException>(() => Load(set));
        Assert.EndsWith(key, e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void Apicv_on_amd_is_an_error()
    {
        var e = Assert.Throws<ScenarioException>(() => Load("kvm.vendor=amd", "kvm.apicv=true"));
        Assert.EndsWith("apicv", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_the_key_no_posted_interrupt_metric_is_reported()
    {
        var r = Runner.RunOne(Load("duration=20ms"), 1, new RunOptions());
        Assert.True(r.Error is null, r.Error);
        Assert.Null(r.Metric("hackbench.posted_interrupts_per_second"));
        Assert.Null(r.Metric("hackbench.ipi_latency_us"));
    }

    [Fact]
    public void With_apicv_the_receivers_take_posted_ipis_without_forced_exits()
    {
        var offScenario = Load("kvm.apicv=false", "duration=40ms");
        var off = Runner.RunOne(offScenario, 1, new RunOptions { CheckInvariantsEvery = 97 });
        var on = Runner.RunOne(Load("kvm.apicv=true", "duration=40ms"), 1, new RunOptions { CheckInvariantsEvery = 97 });
        Assert.True(off.Error is null && on.Error is null, off.Error ?? on.Error);
        Assert.Equal(0, M(off, "hackbench.posted_interrupts_per_second"));
        Assert.True(M(on, "hackbench.posted_interrupts_per_second") > 0);
        Assert.True(M(on, "hackbench.pi_delivered_without_exit_per_second") > 0);
        Assert.Equal(0, M(off, "hackbench.pi_delivered_without_exit_per_second"));
        Assert.Equal(0, M(on, "hackbench.irq_window_exits_per_second"));
        Assert.True(M(on, "hackbench.ipi_latency_us") > 0 && M(off, "hackbench.ipi_latency_us") > 0);
        // Decision 0062: without APICv an IPI to a VCPU in guest mode needs an exit and an entry after
        // the send (the kick's, or one the target takes first), so none is taken sooner than that.
        var c = offScenario.Kvm.Costs;
        Assert.True(M(off, "hackbench.ipi_latency_guest_mode_us") * 1e3 >= c.Exit.Ns + c.Entry.Ns,
            $"{M(off, "hackbench.ipi_latency_guest_mode_us")} µs");
    }

    [Fact]
    public void An_apicv_run_is_deterministic()
    {
        var s = Load("kvm.apicv=true", "kvm.version=6.1", "duration=30ms");
        var a = Runner.RunOne(s, 1, new RunOptions());
        var b = Runner.RunOne(s, 1, new RunOptions());
        Assert.True(a.Error is null, a.Error);
        Assert.Equal(a.EventDigest, b.EventDigest);
        Assert.Equal(a.Metrics, b.Metrics);
    }

    [Fact]
    public void Posted_interrupts_allocate_nothing_per_event_in_steady_state()
    {
        var s = Load("kvm.apicv=true", "kvm.version=6.1", "vms[1].workload.loops=4", "vms[0].workload.loops=100000");
        var model = new SystemRun(s, 1);
        var (bytes, events) = SteadyState.Measure(model, 20_000_000, 60_000_000);
        Assert.True(events > 10_000);
        Assert.True(model.Vms[0].Vm.Vcpus.Sum(v => v.PiStats.Posted) > 0);
        Assert.Equal(0, bytes);
    }
}

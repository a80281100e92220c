using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>
/// Wanpeng Li's unmerged series in scenarios (decision 0052): the keys host.yield_to_debooster
/// and kvm.ipi_aware_yield (+ ipi_tracking, ipi_window, relaxed_boost), their validation, and
/// end-to-end runs that are deterministic and differ from runs without the series. Mechanisms
/// only: no assertion on whether the series helps.
/// </summary>
public class SemanticsAwareYieldScenarioTests
{
    private static Scenario Load(string dir, string file, params string[] overrides) =>
        HostScenarioTests.Shipped(dir, file, overrides);

    [Fact]
    public void The_keys_default_to_the_kernel_without_the_series_and_to_the_patches_module_parameters()
    {
        var s = Load("kvm", "lock-bench.yaml");
        Assert.False(s.Host.Features.VcpuDebooster);
        Assert.False(s.Kvm.IpiAwareYield);
        var on = Load("kvm", "lock-bench.yaml", "host.scheduler=eevdf-6.17", "host.yield_to_debooster=true", "kvm.version=6.13", "kvm.ipi_aware_yield=true");
        Assert.True(on.Host.Features.VcpuDebooster);
        Assert.True(on.Kvm is { IpiAwareYield: true, IpiTracking: true, RelaxedBoost: true });
        Assert.Equal(SimDuration.FromMilliseconds(50), on.Kvm.IpiWindow);
        var knobs = Load("kvm", "lock-bench.yaml", "kvm.version=6.13", "kvm.ipi_aware_yield=true", "kvm.ipi_window=5ms", "kvm.relaxed_boost=false", "kvm.ipi_tracking=false");
        Assert.True(knobs.Kvm is { IpiTracking: false, RelaxedBoost: false });
        Assert.Equal(SimDuration.FromMilliseconds(5), knobs.Kvm.IpiWindow);
    }

    [Theory]
    [InlineData("yield_to_debooster", "host.yield_to_debooster=true")] // CFS 2.6.39 host
    [InlineData("yield_to_debooster", "host.yield_to_debooster=true", "host.scheduler=cfs-4.19")]
    [InlineData("ipi_aware_yield", "kvm.ipi_aware_yield=true")] // the 2011 handler
    [InlineData("ipi_aware_yield", "kvm.ipi_aware_yield=true", "kvm.version=5.3")]
    [InlineData("ipi_window", "kvm.ipi_window=10ms")] // a module parameter without the series
    [InlineData("relaxed_boost", "kvm.relaxed_boost=false")]
    public void Keys_that_cannot_apply_are_located_errors(string key, params string[] overrides)
    {
        var e = Assert.Throws<ScenarioException>(() => Load("kvm", "lock-bench.yaml", overrides));
        Assert.Contains(e.Diagnostics, d => d.KeyPath.Contains(key, StringComparison.Ordinal));
    }

    private static readonly string[] HostOn = ["host.scheduler=eevdf-6.17", "duration=200ms", "warmup=20ms"];

    [Fact]
    public void The_debooster_changes_a_host_yield_to_run_deterministically_and_its_penalties_stay_under_the_three_task_cap()
    {
        var off = Runner.RunOne(Load("host", "yield-to.yaml", HostOn), 1, new RunOptions());
        var s = Load("host", "yield-to.yaml", [.. HostOn, "host.yield_to_debooster=true"]);
        var on = Runner.RunOne(s, 1, new RunOptions());
        var again = Runner.RunOne(s, 1, new RunOptions());
        Assert.True(on.Error is null, on.Error);
        Assert.Equal(on.Metrics, again.Metrics);
        Assert.Null(off.Metric("host.yield_deboosts_per_second"));
        Assert.True(on.Metric("host.yield_deboosts_per_second") > 0);
        Assert.True(on.Metric("host.yield_deboost_rate_limited_per_second") > 0); // A yields every 1 ms: the 6 ms limit bites
        // One CPU, three tasks: gran = 0.75 ms, penalty in [g, 4g].
        Assert.InRange(on.Metric("host.yield_deboost_mean_penalty_us")!.Value, 750, 3000);
        Assert.Contains(off.Metrics, kv => on.Metric(kv.Key) is { } v && v != kv.Value);
    }

    private static readonly string[] EbizzyOn =
        ["host.scheduler=eevdf-6.17", "kvm.version=6.13", "kvm.ipi_aware_yield=true", "host.yield_to_debooster=true", "duration=60ms", "warmup=0ms"];

    [Fact]
    public void The_ipi_aware_yield_tracks_the_guests_icr_ipis_and_changes_a_run_deterministically()
    {
        var off = Runner.RunOne(Load("workloads", "ebizzy.yaml", "host.scheduler=eevdf-6.17", "kvm.version=6.13", "duration=60ms", "warmup=0ms"), 1, new RunOptions());
        var s = Load("workloads", "ebizzy.yaml", EbizzyOn);
        var on = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 1 });
        var again = Runner.RunOne(s, 1, new RunOptions());
        Assert.True(on.Error is null, on.Error);
        Assert.Equal(on.Metrics, again.Metrics);
        Assert.True(on.Metric("ebizzy.ipi_aware_ipis_tracked_per_second") > 0);
        Assert.True(on.Metric("ebizzy.ipi_aware_sender_clears_per_second") > 0);
        Assert.True(on.Metric("ebizzy.ipi_aware_relaxed_rounds_per_second") > 0);
        Assert.True(on.Metric("ebizzy.ipi_aware_sender_clears_per_second") <= on.Metric("ebizzy.ipi_aware_ipis_tracked_per_second"));
        Assert.Null(off.Metric("ebizzy.ipi_aware_ipis_tracked_per_second"));
        Assert.Contains(off.Metrics, kv => on.Metric(kv.Key) is { } v && v != kv.Value);
    }

    [Fact]
    public void With_both_parts_on_the_lock_bench_allocates_nothing_per_event_in_steady_state()
    {
        var s = Load("kvm", "lock-bench.yaml", "host.scheduler=eevdf-6.17", "kvm.version=6.13", "kvm.ipi_aware_yield=true", "host.yield_to_debooster=true");
        var model = new SystemRun(s, 1);
        var (bytes, events) = SteadyState.Measure(model, 100_000_000, 300_000_000);
        Assert.True(events > 0);
        Assert.True(model.Vms[0].Vm.Stats.IpiAware.RelaxedRounds > 0);
        Assert.Equal(0, bytes);
    }
}

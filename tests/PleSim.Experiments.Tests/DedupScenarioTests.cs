using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>The dedup scenario: it loads, runs to completion with every invariant checked, is deterministic, allocates nothing per event in steady state, and refuses bad keys with a location.</summary>
public class DedupScenarioTests
{
    private static Scenario Load(params string[] overrides) =>
        HostScenarioTests.Shipped("workloads", "dedup.yaml", overrides);

    private static double M(RunResult r, string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");

    [Fact]
    public void Dedup_runs_to_completion_with_invariants_checked_and_reports_its_rates()
    {
        // 16 MB instead of simlarge's input: the same pipeline, a shorter run.
        var s = Load("vms[0].workload.input_bytes=16000000");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 97 });
        Assert.True(r.Error is null, r.Error);
        double elapsed = M(r, "dedup.dedup_elapsed_s");
        Assert.True(elapsed > 0 && elapsed < 5, $"elapsed {elapsed}");
        // MB/s is the input (10^6 bytes) over the elapsed time: the whole input was written.
        Assert.Equal(16.0 / elapsed, M(r, "dedup.dedup_mb_per_s"), 6);
        Assert.True(M(r, "dedup.dedup_chunks_per_s") > 0);
        double dup = M(r, "dedup.dedup_duplicate_fraction");
        Assert.InRange(dup, 0, 1);
        Assert.True(M(r, "dedup.dedup_futex_sleeps_per_chunk") >= 0);
    }

    [Fact]
    public void In_the_6_1_guest_flushes_skip_idle_lazy_tlb_vcpus_unless_page_tables_were_freed()
    {
        // Decision 0067: dedup's madvise trims free no page tables and leave idle VCPUs alone (4.20+
        // tlb_is_not_lazy); its munmaps of MAXBUF buffers free page tables and still reach them.
        var on = Runner.RunOne(Load("vms[0].workload.input_bytes=4000000"), 1, new RunOptions { CheckInvariantsEvery = 97 });
        Assert.True(on.Error is null, on.Error);
        Assert.True(M(on, "dedup.lazy_tlb_skips_per_s") > 0);
        Assert.True(M(on, "dedup.lazy_tlb_leaves_per_s") > 0);
        // Switched off (the 2.6.32–4.19 behaviour): no skips, so the metrics are not reported at all.
        var off = Runner.RunOne(Load("vms[0].workload.input_bytes=4000000", "vms[0].guest.lazy_tlb_skip=false"), 1, new RunOptions());
        Assert.True(off.Error is null, off.Error);
        Assert.Null(off.Metric("dedup.lazy_tlb_skips_per_s"));
        // With the skip an idle VCPU stays in the mm's cpumask and is skipped by every flush; without
        // it, its first flush IPI makes it leave the mm (leave_mm), so later flushes no longer see it.
        // A flush therefore considers more VCPUs (IPIs + skips) with the skip than it IPIs without.
        double consideredOn = (M(on, "dedup.shootdown_ipis_per_s") + M(on, "dedup.lazy_tlb_skips_per_s")) / M(on, "dedup.shootdowns_per_s");
        double ipisOff = M(off, "dedup.shootdown_ipis_per_s") / M(off, "dedup.shootdowns_per_s");
        Assert.True(consideredOn > ipisOff, $"with the skip a flush considers {consideredOn:F2} VCPUs, without it IPIs {ipisOff:F2}");
    }

    [Fact]
    public void The_same_seed_gives_byte_identical_json()
    {
        var s = Load("vms[0].workload.input_bytes=4000000");
        var a = ResultJson.Write(s, [Runner.RunOne(s, 3, new RunOptions()), Runner.RunOne(s, 4, new RunOptions())]);
        var b = ResultJson.Write(s, Runner.RunMany(s, [3UL, 4UL], parallelism: 2));
        Assert.Equal(a, b);
    }

    [Fact]
    public void Dedup_allocates_nothing_per_event_in_steady_state()
    {
        // The window starts once every thread has its glibc arena: arena_get2 makes a new one (a few
        // KiB, at most 8 x CPUs) when a thread first finds its arenas busy, which in seed 1 goes on
        // until about 135 ms since idle 6.1-guest VCPUs stay out of most flushes (decision 0067).
        var (bytes, events) = SteadyState.MeasureOnNewThread(() => new SystemRun(Load(), 1), 150_000_000, 250_000_000);
        Assert.True(events > 10_000);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void An_unknown_dedup_key_is_reported_with_its_location()
    {
        var e = Assert.Throws<ScenarioException>(() => Load("vms[0].workload.thread=3"));
        Assert.Contains("threads", e.Message);
        var e2 = Assert.Throws<ScenarioException>(() => Load("vms[0].workload.anchor_jump=268435456"));
        Assert.Contains("maxbuf", e2.Message);
    }
}

using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// The vCPU debooster of Wanpeng Li's unmerged series (v2 patches 1-5, decision 0052): the
/// penalty arithmetic of <c>yield_deboost_calculate_penalty</c>, the rate limit and the debounce
/// against cases worked by hand from the patch text, and the hook in EEVDF's
/// <c>yield_to_task_fair</c> (one CPU: base slice 0.75 ms, so a nice-0 granularity is 750 000 ns).
/// </summary>
public class VcpuDebooterTests
{
    private const long G = 750_000;

    [Theory]
    // need 1 ms, 2 tasks: g + need + need/10 = 0.75 + 1 + 0.1 ms, under the 6g cap.
    [InlineData(1_000_000, 2, 1_850_000)]
    // the same gap with 13+ tasks: capped at 1g.
    [InlineData(1_000_000, 13, G)]
    // need 2 ms, 5 tasks: 0.75 + 2.2 = 2.95 ms, capped at 5g/2 = 1.875 ms.
    [InlineData(2_000_000, 5, 1_875_000)]
    // need 0.1 ms, 3 tasks: 0.75 + 0.11 = 0.86 ms, under 4g.
    [InlineData(100_000, 3, 860_000)]
    // need 5 ms, 2 tasks: 0.75 + 5.5 = 6.25 ms, capped at 6g = 4.5 ms.
    [InlineData(5_000_000, 2, 4_500_000)]
    // need 1 ms, 8 tasks: 1.85 ms, capped at 2g = 1.5 ms; 12 tasks: 3g/2 = 1.125 ms.
    [InlineData(1_000_000, 8, 1_500_000)]
    [InlineData(1_000_000, 12, 1_125_000)]
    public void The_penalty_is_the_granularity_plus_110_percent_of_the_gap_under_the_queue_size_cap(long need, int tasks, long expected)
    {
        long yielder = 10_000_000;
        Assert.Equal(expected, VcpuDebooster.CalculatePenalty(G, yielder, yielder + need, tasks, reversePair: false));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(12)]
    [InlineData(40)]
    public void Without_a_gap_the_penalty_is_one_granularity_and_the_baseline_push_never_changes_it(int tasks)
    {
        // need = 0 also when the yielder is behind: the target's vruntime is lower.
        Assert.Equal(G, VcpuDebooster.CalculatePenalty(G, 5_000_000, 5_000_000, tasks, reversePair: false));
        Assert.Equal(G, VcpuDebooster.CalculatePenalty(G, 5_000_000, 1_000_000, tasks, reversePair: false));
        Assert.True(VcpuDebooster.BaselinePush(G, tasks) <= G);
    }

    [Fact]
    public void Caps_and_baselines_use_the_patch_integer_arithmetic()
    {
        Assert.Equal(18, VcpuDebooster.PenaltyCap(3, 2));
        Assert.Equal(12, VcpuDebooster.PenaltyCap(3, 3));
        Assert.Equal(7, VcpuDebooster.PenaltyCap(3, 4)); // 5*3/2
        Assert.Equal(6, VcpuDebooster.PenaltyCap(3, 7));
        Assert.Equal(4, VcpuDebooster.PenaltyCap(3, 9)); // 3*3/2
        Assert.Equal(3, VcpuDebooster.PenaltyCap(3, 13));
        Assert.Equal(15, VcpuDebooster.BaselinePush(16, 3));
        Assert.Equal(10, VcpuDebooster.BaselinePush(16, 6));
        Assert.Equal(8, VcpuDebooster.BaselinePush(16, 8));
        Assert.Equal(6, VcpuDebooster.BaselinePush(16, 12));
        Assert.Equal(4, VcpuDebooster.BaselinePush(16, 13));
        Assert.Equal(16, VcpuDebooster.BaselinePush(16, 2));
    }

    [Theory]
    // need 1 ms: 1.85 ms lowered to max(need, g) = 1 ms.
    [InlineData(1_000_000, 1_000_000)]
    // need 0.1 ms: 0.86 ms lowered to max(0.1, 0.75) ms = g.
    [InlineData(100_000, G)]
    public void A_reverse_pair_lowers_the_penalty_to_the_larger_of_gap_and_granularity(long need, long expected)
    {
        Assert.Equal(expected, VcpuDebooster.CalculatePenalty(G, 0, need, 2, reversePair: true));
    }

    [Fact]
    public void The_rate_limit_allows_one_attempt_per_6_ms_its_edge_included_and_a_limited_attempt_does_not_refresh_it()
    {
        var s = new DeboostRqState();
        Assert.False(s.RateLimited(1_000));
        Assert.True(s.RateLimited(1_000 + 5_000_000));
        Assert.True(s.RateLimited(1_000 + 6_000_000)); // "<= 6 ms"
        Assert.False(s.RateLimited(1_000 + 6_000_001)); // measured from 1 000, not from the limited attempts
        Assert.True(s.RateLimited(1_000 + 6_000_002));
        // A stored 0 means "never": an attempt at time 0 does not limit the next one.
        var z = new DeboostRqState();
        Assert.False(z.RateLimited(0));
        Assert.False(z.RateLimited(1));
    }

    [Fact]
    public void The_debounce_sees_the_reverse_pair_within_600_us_only()
    {
        var s = new DeboostRqState();
        Assert.False(s.ReversePair(1, 2, 0));
        Assert.False(s.ReversePair(1, 2, 100)); // the same direction again
        Assert.True(s.ReversePair(2, 1, 100 + 600_000)); // edge included
        Assert.False(s.ReversePair(1, 2, 100 + 600_000 + 600_001)); // the reverse of 2→1, but too late
        Assert.False(s.ReversePair(3, 1, 1_500_000)); // a different pair
    }

    private static HostKit Kit(bool debooster, FairClass cls = FairClass.Eevdf614, int cpus = 1) =>
        new(cpus, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero },
            new SchedFeatures { Class = cls, VcpuDebooster = debooster });

    private static void At(HostKit kit, long us) => kit.Sim.RunUntil(new SimTime(us * 1000));

    [Fact]
    public void Yield_to_on_one_cpu_adds_the_computed_penalty_to_the_yielder_and_moves_its_deadline()
    {
        // A runs at 0.2 ms with B and C queued (h_nr_queued = 3); A yields to C. The penalty is
        // computed from the vruntimes as they stand (the patch calls no update_curr for the
        // running yielder), then yield_task_fair charges A's runtime on top: with and without the
        // series A differs by exactly the penalty (6.14: no forfeit).
        long[] vr = new long[2];
        long expected = 0;
        for (int on = 0; on < 2; on++)
        {
            var kit = Kit(on == 1);
            var a = kit.Hog("A");
            kit.Hog("B");
            var c = kit.Hog("C");
            At(kit, 200);
            Assert.Same(a, kit.Host.Rqs[0].Curr);
            if (on == 1)
                expected = VcpuDebooster.CalculatePenalty(G, a.Se.Vruntime, c.Se.Vruntime, 3, reversePair: false);
            Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(a, c, preempt: true));
            vr[on] = a.Se.Vruntime;
            if (on == 1)
            {
                Assert.Equal(1, kit.Host.Deboost.Applied);
                Assert.Equal(expected, kit.Host.Deboost.PenaltyNs);
                Assert.Same(c, kit.Host.Rqs[0].Curr);
            }
            else
            {
                Assert.Equal(0, kit.Host.Deboost.Attempts);
            }
        }
        Assert.InRange(expected, G, 4 * G);
        Assert.Equal(expected, vr[1] - vr[0]);
    }

    [Fact]
    public void A_target_on_another_cpu_gets_no_deboost_but_still_uses_up_the_rate_limit()
    {
        // A (CPU 0) yields to C queued on CPU 1: yield_to succeeds, the validation refuses (task_rq
        // differs). The limiter ran first, so a same-CPU yield 1 ms later is rate-limited.
        var kit = Kit(true, cpus: 2);
        var a = kit.Hog("A", affinity: HostKit.Cpu(0));
        var b = kit.Hog("B", affinity: HostKit.Cpu(0));
        var d = kit.Hog("D", affinity: HostKit.Cpu(1), startCpu: 1);
        var c = kit.Hog("C", affinity: HostKit.Cpu(1), startCpu: 1);
        At(kit, 200);
        var curr0 = kit.Host.Rqs[0].Curr;
        var queued1 = kit.Host.Rqs[1].Curr == c ? d : c;
        Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(curr0, queued1, preempt: true));
        Assert.Equal(1, kit.Host.Deboost.OtherRq);
        Assert.Equal(0, kit.Host.Deboost.Applied);
        At(kit, 1200);
        var y = kit.Host.Rqs[0].Curr;
        var t = y == a ? b : a;
        Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(y, t, preempt: true));
        Assert.Equal(1, kit.Host.Deboost.RateLimited);
        Assert.Equal(0, kit.Host.Deboost.Applied);
    }

    [Fact]
    public void Across_cgroups_the_penalty_goes_to_the_yielders_group_entity_at_the_lowest_common_ancestor()
    {
        // A in /vm1 and C in /vm2 on one CPU: find_matching_se stops at the two group entities on
        // the root queue (h_nr_queued = 3 tasks below it). The group entity of /vm1 is charged;
        // A's own entity only gets yield_task_fair's usual accounting, as without the series.
        long[] group = new long[2], own = new long[2];
        for (int on = 0; on < 2; on++)
        {
            var kit = Kit(on == 1);
            var g1 = kit.Host.CreateGroup("/vm1");
            var g2 = kit.Host.CreateGroup("/vm2");
            var a = kit.Hog("A", group: g1);
            kit.Hog("B", group: g1);
            var c = kit.Hog("C", group: g2);
            At(kit, 200);
            var y = kit.Host.Rqs[0].Curr;
            Assert.Same(g1, y.Group);
            Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(y, c, preempt: true));
            group[on] = g1.Se[0].Vruntime;
            own[on] = y.Se.Vruntime;
            if (on == 1)
            {
                Assert.Equal(1, kit.Host.Deboost.Applied);
                Assert.Equal(kit.Host.Deboost.PenaltyNs, group[1] - group[0]);
            }
            _ = a;
        }
        Assert.True(group[1] > group[0]);
        Assert.Equal(own[0], own[1]);
    }
}

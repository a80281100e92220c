using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// EEVDF (kernel/sched/fair.c v6.6, 6.14) against schedules worked out by hand from the source.
/// One CPU (factor 1: base slice 0.75 ms), HZ=1000, no tick jitter and no context-switch cost,
/// so every number below follows from place_entity / update_deadline / pick_eevdf alone.
/// min_vruntime starts at M = −2^20; all vruntimes are quoted relative to it.
/// </summary>
public class EevdfTests
{
    private const long M = -(1L << 20);

    private static HostKit Kit(FairClass cls = FairClass.Eevdf66, SchedFeatures? features = null, int cpus = 1) =>
        new(cpus, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero },
            (features ?? new SchedFeatures()) with { Class = cls });

    private static void At(HostKit kit, long us) => kit.Sim.RunUntil(new SimTime(us * 1000));

    [Fact]
    public void Three_equal_hogs_take_turns_of_one_tick_in_fork_order()
    {
        // t=0: A, B, C forked: v=0 each (V=0), deadline 0.375 ms (half a slice, PLACE_DEADLINE_INITIAL).
        // A runs (equal deadlines: first in the tree). t=1: A at v=1e6 passed its deadline: new one
        // 1.75e6, resched; V=(1e6+0+0)/3 ⇒ A ineligible; B, C eligible with deadline 0.375e6 ⇒ B.
        // t=2: C (the only one still at v=0 has the earliest deadline). t=3: all at 1e6 with
        // deadline 1.75e6 ⇒ tree order A (put back first), then B, C.
        var kit = Kit();
        var a = kit.Hog("A");
        var b = kit.Hog("B");
        var c = kit.Hog("C");
        Assert.Equal(M, b.Se.Vruntime);
        Assert.Equal(M + 375_000, b.Se.Deadline);
        var expect = new[] { a, b, c, a, b, c, a };
        for (int i = 0; i < expect.Length; i++)
        {
            At(kit, i * 1000 + 500);
            Assert.Same(expect[i], kit.Host.Rqs[0].Curr);
        }
        // At 6.5 ms B has run [1,2) and [4,5): v=2e6, deadline one slice beyond.
        Assert.Equal(M + 2_000_000, b.Se.Vruntime);
        Assert.Equal(M + 2_750_000, b.Se.Deadline);
    }

    [Fact]
    public void Nice_0_against_nice_5_runs_three_ticks_for_one_by_eligibility()
    {
        // A (1024), B (nice 5: 335; 1 ms of it is ≈3.06e6 of virtual time).
        // t=0 A (deadline 0.375e6 < B's ≈1.15e6). t=1: A v=1e6, V=(1e6·1024)/1359≈0.75e6 ⇒ A
        // ineligible ⇒ B. t=2: B v≈3.06e6, V≈1.51e6 ⇒ B ineligible, A eligible ⇒ A.
        // t=3: A v=2e6 ≤ V≈2.26e6 ⇒ A again. t=4: A 3e6 ≤ V≈3.01e6 ⇒ A. t=5: A 4e6 > V≈3.77e6 ⇒ B.
        var kit = Kit();
        var a = kit.Hog("A");
        var b = kit.Hog("B", nice: 5);
        var expect = new[] { a, b, a, a, a, b };
        for (int i = 0; i < expect.Length; i++)
        {
            At(kit, i * 1000 + 500);
            Assert.Same(expect[i], kit.Host.Rqs[0].Curr);
        }
        kit.RunMs(3000);
        double share = (double)a.CpuTimeNs / (a.CpuTimeNs + b.CpuTimeNs);
        Assert.InRange(share, 1024.0 / 1359 - 0.01, 1024.0 / 1359 + 0.01);
    }

    [Fact]
    public void Lag_is_kept_across_a_migration_and_inflated_so_that_it_survives_placement()
    {
        // CPU 0: A and B (pinned), CPU 1: C. At t=2.5 ms A runs (v=1.5e6), B waits at v=1e6:
        // V=1.25e6, B's lag +0.25e6. Moved to CPU 1 (C alone, V=v_C), B is placed at
        // V − 0.25e6·(1024+1024)/1024 so that, with B counted, its lag is again 0.25e6.
        var kit = Kit(cpus: 2);
        var a = kit.Hog("A", affinity: HostKit.Cpu(0));
        var b = kit.Hog("B", affinity: HostKit.Cpu(0));
        var c = kit.Hog("C", affinity: HostKit.Cpu(1), startCpu: 1);
        At(kit, 2500);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        kit.Host.SetAffinity(b, HostKit.Cpu(1), 0);
        Assert.Equal(250_000, b.Se.Vlag);
        var q1 = kit.Host.Rqs[1].Cfs;
        Assert.Same(q1, b.Se.CfsRq);
        Assert.Equal(c.Se.Vruntime - 500_000, b.Se.Vruntime);
        long lag = HostScheduler.AvgVruntimeOf(q1) - b.Se.Vruntime;
        Assert.InRange(lag, 250_000 - 1, 250_000 + 1);
    }

    [Fact]
    public void Without_place_lag_a_moved_task_lands_on_the_average()
    {
        var kit = Kit(features: new SchedFeatures { PlaceLag = false }, cpus: 2);
        kit.Hog("A", affinity: HostKit.Cpu(0));
        var b = kit.Hog("B", affinity: HostKit.Cpu(0));
        var c = kit.Hog("C", affinity: HostKit.Cpu(1), startCpu: 1);
        At(kit, 2500);
        kit.Host.SetAffinity(b, HostKit.Cpu(1), 0);
        Assert.Equal(c.Se.Vruntime, b.Se.Vruntime);
    }

    [Fact]
    public void Yield_pushes_the_deadline_one_slice_and_sets_no_skip_buddy()
    {
        // t=0.2 ms: A runs (v=0.2e6, deadline 0.375e6), B waits (v=0, deadline 0.375e6).
        // sched_yield: deadline 0.375e6 + 0.75e6; V=0.1e6 ⇒ A ineligible ⇒ B.
        var kit = Kit();
        var a = kit.Hog("A");
        var b = kit.Hog("B");
        At(kit, 200);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        kit.Host.Yield(a);
        Assert.Equal(M + 1_125_000, a.Se.Deadline);
        Assert.Equal(M + 200_000, a.Se.Vruntime);
        Assert.Null(kit.Host.Rqs[0].Cfs.Skip);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
    }

    /// <summary>t=0.2 ms: A runs; B and C wait with equal vruntime and deadline, B first in the tree; A yields to C.</summary>
    private static (HostKit Kit, HostTask A, HostTask B, HostTask C) YieldToSetup(FairClass cls)
    {
        var kit = Kit(cls);
        var a = kit.Hog("A");
        var b = kit.Hog("B");
        var c = kit.Hog("C");
        At(kit, 200);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(a, c, preempt: true));
        return (kit, a, b, c);
    }

    [Fact]
    public void In_6_6_the_yield_to_buddy_is_ignored_and_pick_eevdf_chooses()
    {
        var (kit, _, b, c) = YieldToSetup(FairClass.Eevdf66);
        Assert.Same(c.Se, kit.Host.Rqs[0].Cfs.Next); // set, but NEXT_BUDDY is off
        Assert.Same(b, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void In_6_12_the_yield_to_buddy_is_still_ignored()
    {
        var (kit, _, b, _) = YieldToSetup(FairClass.Eevdf612);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void In_6_6_with_next_buddy_on_the_eligible_buddy_is_picked()
    {
        var kit = Kit(features: new SchedFeatures { NextBuddy = true });
        var a = kit.Hog("A");
        kit.Hog("B");
        var c = kit.Hog("C");
        At(kit, 200);
        kit.Host.YieldTo(a, c, preempt: true);
        Assert.Same(c, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void In_6_14_pick_buddy_honours_an_eligible_yield_to_target()
    {
        var (kit, _, _, c) = YieldToSetup(FairClass.Eevdf614);
        Assert.Same(c, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void In_6_14_without_pick_buddy_the_target_is_ignored()
    {
        var kit = Kit(FairClass.Eevdf614, new SchedFeatures { PickBuddy = false });
        var a = kit.Hog("A");
        var b = kit.Hog("B");
        var c = kit.Hog("C");
        At(kit, 200);
        kit.Host.YieldTo(a, c, preempt: true);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void In_6_14_an_ineligible_yield_to_target_is_not_picked()
    {
        // Round robin A [0,1), B [1,2), C from 2 ms. At 2.5 ms: A and B at v=1e6, C at 0.5e6,
        // V≈0.83e6 ⇒ A, B ineligible. C yields to A: C's deadline moves on, but C is the only
        // eligible entity, so it runs on; the buddy A is ignored because it is not eligible.
        var kit = Kit(FairClass.Eevdf614);
        var a = kit.Hog("A");
        kit.Hog("B");
        var c = kit.Hog("C");
        At(kit, 2500);
        Assert.Same(c, kit.Host.Rqs[0].Curr);
        Assert.False(HostScheduler.EntityEligible(a.Se.CfsRq, a.Se));
        Assert.Equal(YieldToResult.Success, kit.Host.YieldTo(c, a, preempt: true));
        Assert.Same(c, kit.Host.Rqs[0].Curr);
        Assert.Same(a.Se, kit.Host.Rqs[0].Cfs.Next);
    }

    [Theory]
    [InlineData(FairClass.Eevdf66)]
    [InlineData(FairClass.Eevdf612)]
    [InlineData(FairClass.Eevdf614)]
    public void An_eligible_yielder_keeps_the_cpu_and_each_yield_lengthens_its_stint_by_a_slice(FairClass cls)
    {
        // yield_task_fair of 6.6.0–6.14.0 only pushes the deadline (the later "forfeit vruntime on
        // yield" change, 79104becf42b, is not in these releases). A [0,1): at the 1 ms tick A is at
        // v=1e6, past its deadline ⇒ B (v=0, deadline 0.375e6). At 1.2 ms B (v=0.2e6) yields:
        // V=(1e6+0.2e6)/2=0.6e6, B is eligible and A is not, so pick_eevdf returns B again; its
        // deadline moved to 0.375e6+0.75e6=1.125e6. At 1.4 ms the same (V=0.7e6): deadline 1.875e6.
        // The 2 ms tick finds B at v=1e6 < 1.875e6: no new request, no resched (without the yields
        // B's deadline would have passed and A, at V, would run). The 3 ms tick: B at v=2e6 ≥ 1.875e6
        // ⇒ resched; V=1.5e6 ⇒ A. B's stint is [1, 3) ms: two slices longer than its request.
        var kit = Kit(cls);
        var a = kit.Hog("A");
        var b = kit.Hog("B");
        At(kit, 1200);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        kit.Host.Yield(b);
        Assert.Equal(M + 1_125_000, b.Se.Deadline);
        At(kit, 1400);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        kit.Host.Yield(b);
        Assert.Equal(M + 1_875_000, b.Se.Deadline);
        Assert.Equal(2, b.NrYieldSchedules);
        Assert.Equal(2, b.NrYieldsKeptCpu);
        At(kit, 2500);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        At(kit, 3500);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        Assert.Equal(1, b.NrStints);
        Assert.Equal(2_000_000, b.StintNs);
        Assert.Equal(4e12, b.StintNsSquared);
        Assert.Equal(1, a.NrStints);
        Assert.Equal(1_000_000, a.StintNs);
    }

    [Fact]
    public void From_6_18_an_eligible_yielder_forfeits_the_rest_of_its_request()
    {
        // yield_task_fair with 79104becf42b (6.18.2 stable, 6.19-rc1): an eligible yielder's vruntime jumps to its
        // deadline and the deadline moves one request on. Same start as the 6.6–6.14 case above:
        // at 1.2 ms B (v=0.2e6, d=0.375e6) yields while eligible (V=0.6e6) ⇒ v=0.375e6, d=1.125e6;
        // V=(1e6+0.375e6)/2=0.6875e6 leaves A ineligible, so B runs on. At 1.4 ms B (v=0.575e6,
        // V=0.7875e6) yields again ⇒ v=1.125e6, d=1.875e6; now V=1.0625e6 and only A (v=1e6) is
        // eligible ⇒ A runs from 1.4 ms, where 6.6–6.14 keep B until the 3 ms tick. (B's vprot,
        // 0.375e6 from its pick at 1 ms, is reached by the first forfeit: no protection after it.)
        var kit = Kit(FairClass.Eevdf618);
        var a = kit.Hog("A");
        var b = kit.Hog("B");
        At(kit, 1200);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        kit.Host.Yield(b);
        Assert.Equal(M + 375_000, b.Se.Vruntime);
        Assert.Equal(M + 1_125_000, b.Se.Deadline);
        At(kit, 1400);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        kit.Host.Yield(b);
        Assert.Equal(M + 1_125_000, b.Se.Vruntime);
        Assert.Equal(M + 1_875_000, b.Se.Deadline);
        At(kit, 1500);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        Assert.Equal(2, b.NrYieldSchedules);
        Assert.Equal(1, b.NrYieldsKeptCpu);
    }

    [Theory]
    [InlineData(FairClass.Eevdf614, 375_000 + 750_000)]
    [InlineData(FairClass.Eevdf617, 375_000 + 750_000)]
    [InlineData(FairClass.Eevdf618, 375_000)]
    public void An_ineligible_yielder_keeps_its_deadline_from_6_18_and_pushes_it_before(FairClass cls, long deadline)
    {
        // A at 0.2 ms (v=0.2e6) is ahead of B (v=0, V=0.1e6): ineligible. 6.6–6.17 push its
        // deadline one request (0.375e6 → 1.125e6); 6.18 leaves vruntime and deadline alone.
        // Either way pick_eevdf takes B (in 6.17 A is still protected, vprot 0.375e6 > 0.2e6, but
        // the protection keeps only an eligible entity).
        var kit = Kit(cls);
        var a = kit.Hog("A");
        var b = kit.Hog("B");
        At(kit, 200);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        kit.Host.Yield(a);
        Assert.Equal(M + deadline, a.Se.Deadline);
        Assert.Equal(M + 200_000, a.Se.Vruntime);
        At(kit, 300);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void An_ineligible_yielder_hands_the_cpu_on_and_counts_no_kept_yield()
    {
        // A at 0.2 ms is ahead of B (V=0.1e6): the yield moves its deadline and pick_eevdf takes B.
        var kit = Kit();
        var a = kit.Hog("A");
        kit.Hog("B");
        At(kit, 200);
        kit.Host.Yield(a);
        At(kit, 300);
        Assert.Equal(1, a.NrYieldSchedules);
        Assert.Equal(0, a.NrYieldsKeptCpu);
        Assert.Equal(1, a.NrStints);
        Assert.Equal(200_000, a.StintNs);
    }

    [Fact]
    public void Run_to_parity_keeps_the_current_task_against_an_earlier_deadline_until_the_tick()
    {
        // A (nice 5) alone: v=0, deadline ≈1.15e6 (half its vslice). At 0.1 ms (A at v≈0.31e6) D
        // (nice 0) is forked at V = v_A with deadline v_A + 0.375e6, earlier than A's. A is still
        // eligible and on the request it was picked with ⇒ no preemption; at the 1 ms tick A's
        // deadline has passed ⇒ new request, resched ⇒ D.
        var kit = Kit();
        var a = kit.Hog("A", nice: 5);
        At(kit, 100);
        var d = kit.Hog("D");
        Assert.True(d.Se.Deadline - a.Se.Deadline < 0);
        At(kit, 900);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        At(kit, 1100);
        Assert.Same(d, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void Without_run_to_parity_the_earlier_deadline_preempts_at_wakeup()
    {
        var kit = Kit(features: new SchedFeatures { RunToParity = false });
        kit.Hog("A", nice: 5);
        At(kit, 100);
        var d = kit.Hog("D");
        At(kit, 110);
        Assert.Same(d, kit.Host.Rqs[0].Curr);
    }

    [Theory]
    [InlineData(FairClass.Eevdf66)]
    [InlineData(FairClass.Eevdf612)]
    [InlineData(FairClass.Eevdf614)]
    public void A_task_picked_again_after_a_new_request_is_not_protected_and_an_earlier_deadline_preempts_it(FairClass cls)
    {
        // No EEVDF kernel calls set_next_entity for a task picked again (6.6 pick_next_task_fair,
        // `prev != p`; from 6.12 put_prev_set_next_task returns when next == prev), so the
        // RUN_TO_PARITY stash (vlag == deadline) stays the old deadline (decision 0074).
        // A (1024) and B (nice 5, 335; 1 ms of it is ≈3.06e6 of virtual time), as in the nice-5
        // test above: A [0,1) ms, B [1,2), A picked at 2 ms with v=1e6, deadline 1.75e6 ⇒ vlag
        // 1.75e6, slice start at 1e6 ns of runtime. The 3 ms tick: A at v=2e6 ≥ 1.75e6 ⇒ new
        // request, deadline 2.75e6, resched; V=(2e6·1024 + ≈3.06e6·335)/1359 ≈ 2.26e6, A eligible,
        // B ineligible ⇒ A picked again; its vlag stays 1.75e6 ≠ 2.75e6 and its slice start stays.
        // (The previous model re-ran set_next_entity: vlag 2.75e6 = deadline, slice start 2e6.)
        // At 3.1 ms (A at v=2.1e6, V ≈ (2.1e6·1024 + 3.06e6·335)/1359 ≈ 2.34e6) D (nice 0) is
        // forked at V with deadline V + 0.375e6 ≈ 2.71e6, earlier than A's 2.75e6. pick_eevdf:
        // A is eligible but unprotected; the tree's eligible entities are D (B is ineligible) ⇒ D
        // has the earliest deadline ⇒ D preempts at once. Protected, A would run to the 4 ms tick.
        var kit = Kit(cls);
        var a = kit.Hog("A");
        kit.Hog("B", nice: 5);
        At(kit, 2500);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        Assert.Equal(M + 1_750_000, a.Se.Vlag);
        Assert.Equal(1_000_000, a.Se.PrevSumExecRuntime);
        At(kit, 3050);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        Assert.Equal(1, a.NrStints); // only [0,1) has ended: the 3 ms pick switched nothing
        Assert.Equal(M + 2_750_000, a.Se.Deadline);
        Assert.Equal(M + 1_750_000, a.Se.Vlag);
        Assert.Equal(1_000_000, a.Se.PrevSumExecRuntime);
        At(kit, 3100);
        var d = kit.Hog("D");
        Assert.True(d.Se.Deadline - a.Se.Deadline < 0);
        Assert.True(HostScheduler.EntityEligible(a.Se.CfsRq, a.Se));
        At(kit, 3110);
        Assert.Same(d, kit.Host.Rqs[0].Curr);
    }


    [Theory]
    [InlineData(FairClass.Eevdf617)]
    [InlineData(FairClass.Eevdf618)]
    public void From_6_17_the_protection_is_vprot_set_at_pick_and_kept_by_a_task_picked_again(FairClass cls)
    {
        // 6.17 set_next_entity → set_protect_slice: every entity has the base slice, so vprot is
        // the deadline at pick and vlag is not touched. Same schedule as the 6.6–6.14 test above:
        // A picked at 2 ms with v=1e6, deadline 1.75e6 ⇒ vprot 1.75e6; the 3 ms tick renews the
        // request (deadline 2.75e6) and A is picked again without set_next_entity: vprot stays
        // 1.75e6 < v, A is unprotected; D forked at 3.1 ms (eligible, deadline ≈2.71e6) preempts.
        var kit = Kit(cls);
        var a = kit.Hog("A");
        kit.Hog("B", nice: 5);
        At(kit, 2500);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        Assert.Equal(M + 1_750_000, a.Se.Vprot);
        Assert.Equal(M + 1_750_000, a.Se.Deadline);
        Assert.NotEqual(a.Se.Deadline, a.Se.Vlag);
        At(kit, 3050);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        Assert.Equal(1, a.NrStints);
        Assert.Equal(M + 2_750_000, a.Se.Deadline);
        Assert.Equal(M + 1_750_000, a.Se.Vprot);
        At(kit, 3100);
        var d = kit.Hog("D");
        Assert.True(d.Se.Deadline - a.Se.Deadline < 0);
        At(kit, 3110);
        Assert.Same(d, kit.Host.Rqs[0].Curr);
    }

    [Theory]
    [InlineData(FairClass.Eevdf614, 2)]
    [InlineData(FairClass.Eevdf617, 1)]
    public void From_6_17_update_curr_reschedules_an_unprotected_task_before_its_deadline(FairClass cls, int bStintMs)
    {
        // The start of the 6.6–6.14 yield case: A [0,1), B picked at 1 ms (v=0, deadline and, in
        // 6.17, vprot 0.375e6). At 1.2 ms B (v=0.2e6, protected) yields: the deadline goes to
        // 1.125e6, and B, eligible (V=0.6e6), is picked again. At 1.4 ms B (v=0.4e6) yields again:
        // deadline 1.875e6; V=0.7e6, A (v=1e6) ineligible ⇒ B again. 6.17's update_curr at the
        // 2 ms tick: B at v=1e6 has not reached its deadline, but vruntime passed vprot (0.375e6)
        // and A is queued ⇒ resched (0b9ca2dcabc3); V=1e6, both eligible, A's deadline 1.75e6 is
        // the earlier ⇒ A runs from 2 ms. 6.14 has no such rule for an eligible entity, so B runs
        // until its deadline passes at the 3 ms tick.
        var kit = Kit(cls);
        var a = kit.Hog("A");
        var b = kit.Hog("B");
        At(kit, 1200);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        kit.Host.Yield(b);
        At(kit, 1400);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        kit.Host.Yield(b);
        Assert.Equal(M + 1_875_000, b.Se.Deadline);
        Assert.Equal(M + 400_000, b.Se.Vruntime);
        Assert.Equal(2, b.NrYieldsKeptCpu);
        At(kit, 1000 + bStintMs * 1000 + 500);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        Assert.Equal(1, b.NrStints);
        Assert.Equal(bStintMs * 1_000_000L, b.StintNs);
    }

    [Theory]
    [InlineData(FairClass.Eevdf614, false)]
    [InlineData(FairClass.Eevdf617, true)]
    [InlineData(FairClass.Eevdf618, false)]
    public void In_6_17_a_yielder_still_protected_is_picked_again_at_schedule(FairClass cls, bool kept)
    {
        // Three hogs, v=0 and deadline 0.375e6 each. A [0,1): at the 1 ms tick A is at v=1e6,
        // deadline 1.75e6; V=1e6/3 ⇒ B (first of the two eligible, equal deadlines), vprot 0.375e6.
        // At 1.1 ms B (v=0.1e6) yields. The kernel picks with B still cfs_rq->curr (pick_task_fair),
        // and pick_eevdf returns an eligible, protected curr at once:
        // 6.14: the deadline push (0.375e6 → 1.125e6) broke the vlag == deadline stash ⇒ not
        //   protected; C (v=0, deadline 0.375e6, eligible) has the earliest deadline ⇒ C.
        // 6.17: deadline pushed to 1.125e6, but v=0.1e6 < vprot=0.375e6 and B is eligible
        //   (V=(1e6+0.1e6+0)/3≈0.37e6) ⇒ B is kept.
        // 6.18: B forfeits: v=0.375e6 = vprot ⇒ not protected; V≈0.46e6, C eligible and earlier ⇒ C.
        var kit = Kit(cls);
        kit.Hog("A");
        var b = kit.Hog("B");
        var c = kit.Hog("C");
        At(kit, 1100);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
        kit.Host.Yield(b);
        Assert.Equal(M + 1_125_000, b.Se.Deadline);
        At(kit, 1150);
        Assert.Same(kept ? b : c, kit.Host.Rqs[0].Curr);
        Assert.Equal(kept ? 1 : 0, b.NrYieldsKeptCpu);
    }


    [Theory]
    [InlineData(FairClass.Eevdf66, false)]
    [InlineData(FairClass.Eevdf612, true)]
    [InlineData(FairClass.Eevdf614, true)]
    public void From_6_12_preempt_short_reschedules_a_task_picked_again_once_it_is_ineligible(FairClass cls, bool resched)
    {
        // 6.12/6.14 update_curr: did_preempt_short — PREEMPT_SHORT, not protected (vlag ≠ the
        // deadline stashed at pick) and not eligible ⇒ resched; 6.6 has no such rule.
        // A (nice 0) and B (nice 5): A [0,1), B [1,2) (v_B ≈ 3.06e6, deadline ≈ 5.35e6), A picked
        // at 2 ms (vlag 1.75e6), renewed and picked again at the 3 and 4 ms ticks (deadline 3.75e6
        // from 4 ms, vlag still 1.75e6). At 4.5 ms A is at v=3.5e6 > v_B: not eligible, deadline not
        // reached. W (nice 19, weight 15) is forked then: placed at V ≈ 3.39e6 with a deadline
        // ≈ 25e6 later, so pick_eevdf never prefers it and its wake-up preempts nobody. But its
        // enqueue runs update_curr: in 6.12/6.14 A is rescheduled, and the pick (A ineligible,
        // B eligible with the earlier deadline) runs B; in 6.6 A runs on to the 5 ms tick.
        var kit = Kit(cls);
        var a = kit.Hog("A");
        var b = kit.Hog("B", nice: 5);
        At(kit, 4500);
        Assert.Same(a, kit.Host.Rqs[0].Curr);
        Assert.Equal(M + 3_750_000, a.Se.Deadline);
        Assert.Equal(M + 1_750_000, a.Se.Vlag);
        // (A's vruntime is charged up to 4.5 ms only by the update_curr of W's enqueue.)
        var w = kit.Hog("W", nice: 19);
        Assert.False(HostScheduler.EntityEligible(a.Se.CfsRq, a.Se));
        Assert.NotSame(w, kit.Host.Rqs[0].Curr);
        At(kit, 4550);
        Assert.Same(resched ? b : a, kit.Host.Rqs[0].Curr);
        At(kit, 5100);
        Assert.Same(b, kit.Host.Rqs[0].Curr);
    }

    [Theory]
    [InlineData(FairClass.Eevdf66)]
    [InlineData(FairClass.Eevdf612)]
    [InlineData(FairClass.Eevdf614)]
    [InlineData(FairClass.Eevdf617)]
    [InlineData(FairClass.Eevdf618)]
    public void The_pick_at_schedule_keeps_a_protected_group_entity_of_the_previous_task(FairClass cls)
    {
        // The kernel picks with the previous task's entities still cfs_rq->curr (6.6
        // pick_next_task_fair's group loop, 6.12+ pick_task_fair), so pick_eevdf keeps one that is
        // queued, eligible and protected. Group /g holds g1 and g2; G, its entity, is alone at the
        // top from t=0: v=0, deadline one slice later (0.75e6), picked at 0 (protected: vlag ==
        // deadline, or 6.17+ vprot = deadline); g1 runs. At 0.1 ms F is forked at the top: V = v_G
        // = 0.1e6, so F gets v=0.1e6, deadline 0.475e6, earlier than G's; its wake-up does not
        // preempt (pick_eevdf keeps G: eligible at V, protected). At the same instant g1 blocks;
        // /g still has g2, so G stays queued and, being eligible and protected, is kept by the pick
        // at schedule() ⇒ g2 runs. Picked from the tree without that test, F (eligible, earlier
        // deadline) would run. (6.14+ reach g2 through PICK_BUDDY too: a sleeping task's busy group
        // becomes the next buddy.)
        var kit = Kit(cls);
        var g = kit.Host.CreateGroup("/g");
        var g1 = kit.Hog("g1", group: g);
        var g2 = kit.Hog("g2", group: g);
        At(kit, 100);
        Assert.Same(g1, kit.Host.Rqs[0].Curr);
        var f = kit.Hog("F");
        Assert.Same(g1, kit.Host.Rqs[0].Curr);
        var gse = g1.Se.Parent!;
        Assert.True(f.Se.Deadline - gse.Deadline < 0);
        Assert.True(HostScheduler.EntityEligible(gse.CfsRq, f.Se));
        kit.Host.Block(g1);
        kit.Settle();
        Assert.Same(g2, kit.Host.Rqs[0].Curr);
    }

    [Fact]
    public void Groups_share_by_shares_and_lag_sums_stay_consistent()
    {
        // Invariants (avg_vruntime/avg_load = the tree's sums) are checked after every event by the kit.
        var kit = Kit(cpus: 2);
        var g1 = kit.Host.CreateGroup("/a");
        var g2 = kit.Host.CreateGroup("/b");
        for (int i = 0; i < 3; i++)
            kit.Hog($"a{i}", group: g1, startCpu: i % 2);
        kit.Hog("b0", group: g2, startCpu: 1);
        kit.RunMs(2000);
        kit.Host.SyncAccounting();
        double shareA = (double)g1.CpuTimeNs / (g1.CpuTimeNs + g2.CpuTimeNs);
        Assert.InRange(shareA, 0.45, 0.55);
    }
}

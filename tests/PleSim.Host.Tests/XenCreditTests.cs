using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Host.Tests;

/// <summary>
/// Xen 3.4's credit scheduler (decision 0063): decisions worked by hand from
/// xen/common/sched_credit.c and schedule.c at commit b67758cda13b.
/// </summary>
public class XenCreditTests
{
    private static readonly SchedFeatures Xen = new() { Class = FairClass.XenCredit34 };

    private static (HostKit Kit, XenCredit Xc) NewHost(int cpus, int threadsPerCore = 1)
    {
        var kit = new HostKit(cpus, features: Xen, threadsPerCore: threadsPerCore);
        return (kit, kit.Host.Credit!);
    }

    /// <summary>A vcpu that is created (csched_vcpu_init) but never started, for decision-only tests.</summary>
    private static HostTask Vcpu(HostKit kit, string name, object domain) =>
        kit.Host.CreateTask(name, new HogBody(), xenDomain: domain);

    [Fact]
    public void The_tick_debits_100_credits_ends_a_boost_and_activates_the_vcpu()
    {
        var (kit, xc) = NewHost(2);
        var a = Vcpu(kit, "a", "A");
        xc.SetForTest(a, 0, XenCredit.PriTsBoost);
        xc.SetCurr(0, a);
        Assert.False(xc.IsActive(a));
        Assert.False(xc.VcpuAcct(0));
        Assert.Equal(-100, xc.Credit(a));
        Assert.Equal(XenCredit.PriTsUnder, xc.Pri(a));
        Assert.True(xc.IsActive(a));
        Assert.Equal(XenCredit.DefaultWeight, xc.TotalWeight);
        // Second tick: active already, so csched_cpu_pick is asked; a flat, all-idle host keeps it here.
        Assert.False(xc.VcpuAcct(0));
        Assert.Equal(-200, xc.Credit(a));
    }

    [Fact]
    public void Accounting_shares_the_credits_of_all_pcpus_by_domain_weight_and_caps_a_domain_at_its_active_vcpus()
    {
        // 2 pCPUs: 600 credits per 30 ms. Domain A has three active vcpus, B one; equal weights.
        // B: fair = ceil(600·256/512) = 300, peak = 300 → 300 for b. A: fair 300 < peak 900 → 300 / 3 = 100 each.
        var (kit, xc) = NewHost(2);
        var a = new[] { Vcpu(kit, "a0", "A"), Vcpu(kit, "a1", "A"), Vcpu(kit, "a2", "A") };
        var b = Vcpu(kit, "b", "B");
        foreach (var v in a)
        {
            xc.SetCurr(0, v);
            xc.VcpuAcct(0); // active, credit −100
        }
        xc.SetCurr(0, b);
        xc.VcpuAcct(0);
        xc.SetCurr(0, null);
        Assert.Equal(2 * XenCredit.DefaultWeight, xc.TotalWeight);
        xc.Acct();
        Assert.Equal(-100 + 300, xc.Credit(b));
        foreach (var v in a)
        {
            Assert.Equal(-100 + 100, xc.Credit(v));
            Assert.Equal(XenCredit.PriTsUnder, xc.Pri(v)); // credit ≥ 0 → UNDER
        }
        Assert.Equal(200, xc.CreditBalance);
    }

    [Fact]
    public void Accounting_makes_a_vcpu_in_debt_over_floors_its_credit_and_retires_a_rich_one()
    {
        // 1 pCPU, three single-vcpu domains.
        var (kit, xc) = NewHost(1);
        var poor = Vcpu(kit, "poor", "P");
        var rich = Vcpu(kit, "rich", "R");
        var mid = Vcpu(kit, "mid", "M");
        foreach (var v in new[] { poor, rich, mid })
        {
            xc.SetCurr(0, v);
            xc.VcpuAcct(0);
        }
        xc.SetCurr(0, null);
        // Weights: 3 domains → fair = ceil(300·256/768) = 100 each (≤ peak 300).
        xc.SetForTest(poor, -700, XenCredit.PriTsUnder);
        xc.SetForTest(rich, 250, XenCredit.PriTsUnder);
        xc.SetForTest(mid, -150, XenCredit.PriTsUnder);
        xc.Acct();
        Assert.Equal(-XenCredit.CreditsPerTslice, xc.Credit(poor)); // −600 floored at −300
        Assert.Equal(XenCredit.PriTsOver, xc.Pri(poor));
        Assert.Equal(-50, xc.Credit(mid));
        Assert.Equal(XenCredit.PriTsOver, xc.Pri(mid));
        Assert.Equal(0, xc.Credit(rich)); // 350 > 300: leaves the active list at 0
        Assert.False(xc.IsActive(rich));
        Assert.Equal(XenCredit.PriTsUnder, xc.Pri(rich));
        Assert.Equal(2 * XenCredit.DefaultWeight, xc.TotalWeight);
    }

    [Fact]
    public void The_runq_orders_boost_under_over_and_queues_equals_behind_each_other()
    {
        var (kit, xc) = NewHost(1);
        var o1 = Vcpu(kit, "o1", "O1");
        var u1 = Vcpu(kit, "u1", "U1");
        var b1 = Vcpu(kit, "b1", "B1");
        var u2 = Vcpu(kit, "u2", "U2");
        xc.SetForTest(o1, -10, XenCredit.PriTsOver);
        xc.SetForTest(b1, 0, XenCredit.PriTsBoost);
        xc.RunqInsert(0, o1);
        xc.RunqInsert(0, u1);
        xc.RunqInsert(0, b1);
        xc.RunqInsert(0, u2);
        Assert.Equal(new[] { b1, u1, u2, o1 }, Enumerable.Range(0, xc.RunqLength(0)).Select(i => xc.RunqAt(0, i)));
    }

    [Fact]
    public void The_tick_after_accounting_moves_under_vcpus_ahead_of_over_ones_keeping_their_order()
    {
        var (kit, xc) = NewHost(1);
        var runner = Vcpu(kit, "runner", "R");
        var x = Vcpu(kit, "x", "X");
        var y = Vcpu(kit, "y", "Y");
        var z = Vcpu(kit, "z", "Z");
        xc.RunqInsert(0, x);
        xc.RunqInsert(0, y);
        xc.RunqInsert(0, z);
        // Priorities change under the queue (as csched_acct does): x OVER, y and z stay UNDER.
        xc.SetForTest(x, -50, XenCredit.PriTsOver);
        xc.RunqSort(0); // no accounting pass yet: nothing moves
        Assert.Same(x, xc.RunqAt(0, 0));
        xc.SetCurr(0, runner);
        xc.VcpuAcct(0);
        xc.Acct(); // a new sort epoch
        xc.RunqSort(0);
        Assert.Equal(new[] { y, z, x }, Enumerable.Range(0, 3).Select(i => xc.RunqAt(0, i)));
    }

    [Fact]
    public void A_waking_under_vcpu_is_boosted_and_tickles_its_cpu_and_the_idlers_but_an_over_one_is_not_boosted()
    {
        var (kit, xc) = NewHost(4);
        var running = Vcpu(kit, "running", "R");
        var w = Vcpu(kit, "w", "W");
        var o = Vcpu(kit, "o", "O");
        xc.RunqInsert(1, running);
        Assert.Same(running, xc.Schedule(1, null, false, out _)); // cpu1 busy (not an idler), running UNDER
        xc.SetForTest(running, 0, XenCredit.PriTsUnder);
        var mask = xc.VcpuWake(w, 1);
        Assert.Equal(XenCredit.PriTsBoost, xc.Pri(w));
        // BOOST > UNDER: cpu1 itself; cpu1 busy: every idler (0, 2, 3) too.
        Assert.Equal(HostKit.Cpu(0, 1, 2, 3), mask);
        xc.SetForTest(o, -5, XenCredit.PriTsOver);
        mask = xc.VcpuWake(o, 1);
        Assert.Equal(XenCredit.PriTsOver, xc.Pri(o));
        Assert.Equal(HostKit.Cpu(0, 2, 3), mask); // not above the running UNDER vcpu
    }

    [Fact]
    public void An_idle_cpu_steals_from_the_next_busy_peer_and_an_over_vcpu_only_takes_strictly_better_work()
    {
        var (kit, xc) = NewHost(4);
        var r1 = Vcpu(kit, "r1", "A");
        var r2 = Vcpu(kit, "r2", "B");
        var r3 = Vcpu(kit, "r3", "C");
        xc.RunqInsert(1, r1);
        xc.RunqInsert(2, r2);
        xc.RunqInsert(3, r3);
        xc.Schedule(1, null, false, out _);
        xc.Schedule(2, null, false, out _);
        xc.Schedule(3, null, false, out _);
        var over1 = Vcpu(kit, "over1", "D");
        var under2 = Vcpu(kit, "under2", "E");
        xc.SetForTest(over1, -10, XenCredit.PriTsOver);
        xc.RunqInsert(1, over1);
        xc.RunqInsert(2, under2);
        // cpu0 has nothing: the first busy peer after it (cpu1) gives its OVER vcpu.
        var got = xc.Schedule(0, null, false, out int from);
        Assert.Same(over1, got);
        Assert.Equal(1, from);
        // cpu0 now runs OVER work and reschedules with it: OVER (itself) is not enough, cpu2's UNDER is.
        got = xc.Schedule(0, over1, true, out from);
        Assert.Same(under2, got);
        Assert.Equal(2, from);
        Assert.Same(over1, xc.RunqAt(0, 0)); // the local OVER vcpu stays queued
    }

    [Fact]
    public void The_vcpus_of_a_domain_are_placed_round_robin_from_the_least_populated_cpu()
    {
        // XEN_DOMCTL_max_vcpus: vcpu0 on default_vcpu0_location (ties to the highest CPU), then cycle_cpu.
        var (kit, xc) = NewHost(4);
        var a = Enumerable.Range(0, 3).Select(i => Vcpu(kit, $"a{i}", "A")).ToArray();
        Assert.Equal(new[] { 3, 0, 1 }, a.Select(xc.Placed));
        var b0 = Vcpu(kit, "b0", "B");
        Assert.Equal(2, xc.Placed(b0)); // cpu2 is the only one without a vcpu
    }

    [Fact]
    public void A_running_vcpu_keeps_its_pcpu_for_a_30_ms_slice_when_its_competitor_has_equal_priority()
    {
        var (kit, _) = NewHost(1);
        var a = kit.Host.CreateTask("a", new HogBody(), xenDomain: "A");
        var b = kit.Host.CreateTask("b", new HogBody(), xenDomain: "B");
        kit.Host.WakeUpNewTask(a);
        kit.Settle();
        kit.Host.WakeUpNewTask(b); // BOOST, but not above a's BOOST: no tickle preemption
        kit.RunMs(29);
        Assert.True(a.OnCpu);
        kit.RunMs(2);
        Assert.True(b.OnCpu);
    }

    [Fact]
    public void A_yield_hands_the_pcpu_to_an_equal_priority_vcpu_but_keeps_it_when_the_rest_is_lower()
    {
        var (kit, xc) = NewHost(1);
        var a = kit.Host.CreateTask("a", new HogBody(), xenDomain: "A");
        var b = kit.Host.CreateTask("b", new HogBody(), xenDomain: "B");
        kit.Host.WakeUpNewTask(a);
        kit.Settle();
        kit.Host.WakeUpNewTask(b);
        kit.Settle();
        Assert.True(a.OnCpu);
        // Both BOOST: the yielder goes behind b.
        kit.Host.Yield(a);
        kit.Settle();
        Assert.True(b.OnCpu);
        Assert.Equal(0, a.NrYieldsKeptCpu);
        // Now b yields with a queued OVER: b (BOOST) is queued ahead of a and picked again.
        xc.SetForTest(a, -100, XenCredit.PriTsOver);
        kit.Host.Yield(b);
        kit.Settle();
        Assert.True(b.OnCpu);
        Assert.Equal(1, b.NrYieldsKeptCpu);
    }

    [Fact]
    public void A_vcpu_that_wakes_on_a_busy_pcpu_is_stolen_by_a_tickled_idle_one()
    {
        var (kit, xc) = NewHost(2);
        var a = kit.Host.CreateTask("a", new HogBody(), xenDomain: "A");
        var b = kit.Host.CreateTask("b", new HogBody(), xenDomain: "B");
        var c = kit.Host.CreateTask("c", new HogBody(), xenDomain: "A");
        Assert.Equal((1, 0, 0), (xc.Placed(a), xc.Placed(b), xc.Placed(c)));
        kit.Host.WakeUpNewTask(a);
        kit.Host.WakeUpNewTask(b);
        kit.Settle();
        Assert.True(a.OnCpu && b.OnCpu);
        kit.Host.Block(a);
        kit.Settle();
        Assert.True(xc.IsIdler(1));
        // c wakes on cpu0 behind b (both BOOST: no local preemption); cpu0 is busy, so idle cpu1 is tickled and steals it.
        kit.Host.WakeUpNewTask(c);
        kit.Settle();
        Assert.True(c.OnCpu);
        Assert.Equal(1, c.Cpu);
        Assert.True(b.OnCpu);
    }

    [Fact]
    public void Yield_to_is_refused_on_a_xen_host()
    {
        var (kit, _) = NewHost(1);
        var a = kit.Host.CreateTask("a", new HogBody(), xenDomain: "A");
        var b = kit.Host.CreateTask("b", new HogBody(), xenDomain: "B");
        kit.Host.WakeUpNewTask(a);
        kit.Host.WakeUpNewTask(b);
        kit.Settle();
        var curr = a.OnCpu ? a : b;
        Assert.Throws<InvalidOperationException>(() => kit.Host.YieldTo(curr, curr == a ? b : a, true));
    }

    [Fact]
    public void An_affinity_change_away_from_its_pcpu_migrates_a_running_vcpu_after_its_pcpu_reschedules()
    {
        var (kit, xc) = NewHost(2);
        var a = kit.Host.CreateTask("a", new HogBody(), xenDomain: "A");
        kit.Host.WakeUpNewTask(a);
        kit.Settle();
        Assert.True(a.OnCpu);
        int from = a.Cpu;
        kit.Host.SetAffinity(a, HostKit.Cpu(1 - from), from);
        kit.Settle();
        Assert.True(a.OnCpu);
        Assert.Equal(1 - from, a.Cpu);
        Assert.True(xc.IsIdler(from));
    }
}

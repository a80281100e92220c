using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// PELT (kernel/sched/pelt.c and fair.c at v6.6; decision 0056): the integer series worked out by
/// hand, and the scheduler's load averages, propagation, attach/detach and group shares on small
/// hosts. One PELT period is 1024 × 1024 ns.
/// </summary>
public class PeltTests
{
    private const long PeriodNs = 1024 * 1024;

    private static HostKit Kit(int cpus = 1, FairClass cls = FairClass.Eevdf66) =>
        new(cpus, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero },
            new SchedFeatures { Class = cls, Pelt = true });

    // ---------------------------------------------------------------- pelt.c arithmetic

    [Fact]
    public void The_derived_tables_are_the_kernels_constants()
    {
        // runnable_avg_yN_inv[] and LOAD_AVG_MAX as kernel/sched/sched-pelt.h has them (generated
        // by Documentation/scheduler/sched-pelt.c); PleSim derives them from y^32 = 1/2.
        Assert.Equal(0xffffffffu, Pelt.RunnableAvgYNInv[0]);
        Assert.Equal(0xfa83b2dau, Pelt.RunnableAvgYNInv[1]);
        Assert.Equal(0xb504f333u, Pelt.RunnableAvgYNInv[16]); // 2^32·√½
        Assert.Equal(0x82cd8698u, Pelt.RunnableAvgYNInv[31]);
        Assert.Equal(47742, Pelt.LoadAvgMax);
        for (int i = 1; i < Pelt.LoadAvgPeriod; i++)
            Assert.True(Pelt.RunnableAvgYNInv[i] < Pelt.RunnableAvgYNInv[i - 1]);
    }

    [Fact]
    public void Decay_load_halves_every_32_periods_and_vanishes_after_63_half_lives()
    {
        // 1024·y^32: shift by one, then ×(2^32−1)/2^32 truncates 512 to 511.
        Assert.Equal(511, Pelt.DecayLoad(1024, 32));
        Assert.Equal(1024L * 0xfa83b2da >> 32, Pelt.DecayLoad(1024, 1)); // 1002
        Assert.Equal((1L << 37) - 32, Pelt.DecayLoad(1L << 40, 96)); // three halvings, then ×(2^32−1)/2^32
        Assert.Equal(0, Pelt.DecayLoad(long.MaxValue >> 2, 32 * 63 + 1));
    }

    [Fact]
    public void One_full_period_of_running_gives_the_hand_worked_sums()
    {
        // From zero, aligned: d1 = 1024 (the whole period, decayed once: 1002), no full periods
        // in between (c2 = LOAD_AVG_MAX − decay(LOAD_AVG_MAX, 1) − 1024 = 0), d3 = 0.
        var sa = default(SchedAvg);
        Assert.True(Pelt.UpdateLoadSum(PeriodNs, ref sa, 1, 1, true));
        long decayedMax = 47742L * 0xfa83b2da >> 32;
        Assert.Equal(0, 47742 - decayedMax - 1024);
        Assert.Equal(1002, sa.LoadSum);
        Assert.Equal(1002L << 10, sa.UtilSum);
        Assert.Equal(1002L << 10, sa.RunnableSum);
        Assert.Equal(0, sa.PeriodContrib);
        Pelt.UpdateLoadAvg(ref sa, 1024);
        long divider = 47742 - 1024; // period_contrib 0
        Assert.Equal(1002L * 1024 / divider, sa.UtilAvg); // 21
        Assert.Equal(1024L * 1002 / divider, sa.LoadAvg);
    }

    [Fact]
    public void Less_than_a_microsecond_unit_changes_nothing_and_a_partial_period_is_carried()
    {
        var sa = default(SchedAvg);
        Assert.False(Pelt.UpdateLoadSum(1023, ref sa, 1, 1, true));
        Assert.Equal(0, sa.LastUpdateTime);
        Assert.False(Pelt.UpdateLoadSum(500 * 1024 + 7, ref sa, 1, 1, true)); // 500 units, no boundary
        Assert.Equal(500 * 1024, sa.LastUpdateTime);
        Assert.Equal(500, sa.PeriodContrib);
        Assert.Equal(500, sa.LoadSum);
        // 600 more units cross one boundary: (500 + 524)·y (1002) + 76 in the new period.
        Assert.True(Pelt.UpdateLoadSum(1100 * 1024, ref sa, 1, 1, true));
        Assert.Equal(76, sa.PeriodContrib);
        Assert.Equal(Pelt.DecayLoad(500, 1) + Pelt.DecayLoad(524, 1) + 76, sa.LoadSum);
    }

    [Fact]
    public void A_task_running_for_good_converges_to_full_load_and_util_and_decays_to_half_in_32_periods()
    {
        var sa = default(SchedAvg);
        for (int p = 1; p <= 400; p++)
            Pelt.UpdateLoadSum(p * PeriodNs, ref sa, 1, 1, true);
        Pelt.UpdateLoadAvg(ref sa, 1024);
        Assert.InRange(sa.UtilAvg, 1020, 1024);
        Assert.InRange(sa.LoadAvg, 1020, 1024);
        long util = sa.UtilAvg;
        // Asleep (load 0) for exactly 32 periods.
        Pelt.UpdateLoadSum(432 * PeriodNs, ref sa, 0, 0, false);
        Pelt.UpdateLoadAvg(ref sa, 1024);
        Assert.InRange(sa.UtilAvg, util / 2 - 1, util / 2);
    }

    // ---------------------------------------------------------------- the scheduler

    [Fact]
    public void A_hog_alone_on_a_cpu_reaches_full_load_and_util_and_so_does_its_queue()
    {
        var kit = Kit();
        var hog = kit.Hog("hog");
        kit.RunMs(400);
        var cfs = kit.Host.Rqs[0].Cfs;
        Assert.InRange(hog.Se.Avg.LoadAvg, 1000, 1024);
        Assert.InRange(hog.Se.Avg.UtilAvg, 1000, 1024);
        Assert.InRange(cfs.Avg.LoadAvg, 1000, 1024);
        Assert.InRange(kit.Host.CpuUtilCfs(0), 1000, 1024);
        Assert.InRange(kit.Host.CpuRunnable(0), 1000, 1024);
        Assert.Equal(cfs.Avg.LoadAvg, kit.Host.CpuLoadPelt(0));
    }

    [Fact]
    public void Two_hogs_on_a_cpu_each_have_full_load_but_half_the_util()
    {
        // load_avg counts runnable time (both always queued); util_avg counts running time.
        var kit = Kit();
        var a = kit.Hog("a");
        var b = kit.Hog("b");
        kit.RunMs(400);
        Assert.InRange(a.Se.Avg.LoadAvg, 990, 1024);
        Assert.InRange(a.Se.Avg.UtilAvg, 450, 570);
        Assert.InRange(b.Se.Avg.UtilAvg, 450, 570);
        var cfs = kit.Host.Rqs[0].Cfs;
        Assert.InRange(cfs.Avg.LoadAvg, 1990, 2048);
        Assert.InRange(cfs.Avg.RunnableAvg, 1990, 2048); // h_nr_running = 2, ×1024
        Assert.InRange(cfs.Avg.UtilAvg, 1000, 1024);
    }

    [Fact]
    public void A_sleeping_tasks_load_halves_in_32_periods()
    {
        var kit = Kit(cpus: 1);
        var (_, s) = kit.HogAndBlockedSleeper(runFirstMs: 300, sleepMs: 0);
        long before = s.Se.Avg.LoadAvg;
        Assert.True(before > 100, $"load before sleeping {before}");
        kit.RunFor(new SimDuration(32 * PeriodNs));
        kit.Host.TryToWakeUp(s, 0);
        // Aged at the enqueue with load 0 over the sleep: y^32 = 1/2, within a period's rounding.
        long after = s.Se.Avg.LoadAvg;
        Assert.InRange(after, before * 48 / 100, before * 52 / 100);
    }

    [Fact]
    public void A_group_queues_load_and_util_propagate_to_its_entity_and_the_root()
    {
        var kit = Kit();
        var g = kit.Host.CreateGroup("/g");
        var hog = kit.Hog("hog", group: g);
        kit.RunMs(400);
        var gq = g.CfsRq[0];
        var gse = g.Se[0];
        var root = kit.Host.Rqs[0].Cfs;
        Assert.Equal(1024, gse.Load.Weight); // the only CPU holds all of the group's load
        Assert.InRange(gq.Avg.LoadAvg, 1000, 1024);
        Assert.InRange(gse.Avg.LoadAvg, 1000, 1024);
        Assert.InRange(root.Avg.LoadAvg, 1000, 1024);
        Assert.Equal(gq.Avg.UtilAvg, gse.Avg.UtilAvg); // update_tg_cfs_util
        Assert.InRange(root.Avg.UtilAvg, gq.Avg.UtilAvg - 10, gq.Avg.UtilAvg + 10);
        Assert.Equal(gq.TgLoadAvgContrib, g.LoadAvg);
        Assert.InRange(hog.Se.Avg.UtilAvg, 1000, 1024);
    }

    [Fact]
    public void Group_shares_follow_the_groups_load_on_each_cpu()
    {
        // calc_group_shares: 2 hogs of /g on cpu0, 1 on cpu1 ⇒ tg.load_avg ≈ 3072, so the group
        // entity weighs ≈ 1024·2048/3072 on cpu0 and ≈ 1024·1024/3072 on cpu1.
        var kit = Kit(cpus: 2);
        var g = kit.Host.CreateGroup("/g");
        kit.Hog("a", HostKit.Cpu(0), group: g);
        kit.Hog("b", HostKit.Cpu(0), group: g);
        kit.Hog("c", HostKit.Cpu(1), group: g, startCpu: 1);
        kit.RunMs(500);
        Assert.InRange(g.LoadAvg, 2990, 3072);
        Assert.InRange(g.Se[0].Load.Weight, 682 - 15, 682 + 15);
        Assert.InRange(g.Se[1].Load.Weight, 341 - 10, 341 + 10);
        Assert.InRange(g.Se[0].Load.Weight, CalcShares(g, 0) - 20, CalcShares(g, 0) + 20);
    }

    private static long CalcShares(TaskGroup g, int cpu) => HostScheduler.CalcGroupShares(g.CfsRq[cpu]);

    [Fact]
    public void A_queued_task_moved_to_another_cpu_is_detached_and_attached_at_once()
    {
        var kit = Kit(cpus: 2);
        var a = kit.Hog("a", HostKit.Cpu(0));
        var b = kit.Hog("b", HostKit.Cpu(0));
        kit.Hog("c", HostKit.Cpu(1), startCpu: 1);
        kit.RunMs(300);
        // a and b take turns on cpu0: move a while it waits.
        while (a.OnCpu)
            kit.RunMs(1);
        long loadA = a.Se.Avg.LoadAvg;
        long q0 = kit.Host.Rqs[0].Cfs.Avg.LoadAvg;
        long q1 = kit.Host.Rqs[1].Cfs.Avg.LoadAvg;
        kit.Host.SetAffinity(a, HostKit.Cpu(1), 0);
        Assert.Equal(1, a.Cpu);
        Assert.NotEqual(0, a.Se.Avg.LastUpdateTime); // attached on cpu1
        Assert.InRange(kit.Host.Rqs[0].Cfs.Avg.LoadAvg, q0 - loadA - 30, q0 - loadA + 30);
        Assert.InRange(kit.Host.Rqs[1].Cfs.Avg.LoadAvg, q1 + loadA - 30, q1 + loadA + 30);
        Assert.Equal(0, kit.Host.Rqs[0].Cfs.RemovedNr);
    }

    [Fact]
    public void A_task_woken_on_another_cpu_leaves_its_load_in_the_old_queues_removed_account()
    {
        var kit = Kit(cpus: 2);
        kit.Hog("busy1", HostKit.Cpu(1), startCpu: 1);
        var s = kit.Hog("s", HostKit.Cpu(0));
        kit.RunMs(200);
        Assert.True(s.OnCpu);
        kit.Host.Block(s);
        kit.Settle();
        kit.Host.SetAffinity(s, HostKit.Cpu(1), 0); // asleep: takes effect at the wake-up
        kit.Host.TryToWakeUp(s, 0);
        Assert.Equal(1, s.Cpu);
        var old = kit.Host.Rqs[0].Cfs;
        Assert.Equal(1, old.RemovedNr);
        Assert.True(old.RemovedLoadAvg > 0);
        Assert.True(old.RemovedUtilAvg > 0);
        // The next update of the old queue (an enqueue there) folds it out.
        long before = old.Avg.LoadAvg;
        long removed = old.RemovedLoadAvg;
        kit.Hog("d", HostKit.Cpu(0));
        Assert.Equal(0, old.RemovedNr);
        Assert.True(old.Avg.LoadAvg < before - removed / 2 + 1024, $"queue load {old.Avg.LoadAvg}, was {before}, removed {removed}");
    }

    [Fact]
    public void The_same_run_gives_the_same_averages()
    {
        static long[] RunOnce()
        {
            var kit = Kit(cpus: 2);
            var g = kit.Host.CreateGroup("/g");
            kit.Hog("a", group: g);
            kit.Hog("b", group: g);
            kit.Hog("c");
            kit.RunMs(300);
            var h = kit.Host;
            return [h.CpuLoadPelt(0), h.CpuLoadPelt(1), h.CpuUtilCfs(0), h.CpuUtilCfs(1), g.LoadAvg, g.Se[0].Load.Weight, g.Se[1].Load.Weight];
        }

        Assert.Equal(RunOnce(), RunOnce());
    }

    [Fact]
    public void Pelt_needs_an_eevdf_class()
    {
        Assert.Throws<ArgumentException>(() => Kit(cls: FairClass.Cfs2639));
    }
}

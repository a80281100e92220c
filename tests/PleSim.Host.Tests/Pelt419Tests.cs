using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// 4.19's PELT and group shares on cfs-4.19 (kernel/sched/pelt.c and fair.c at v4.19; decision
/// 0053): the runnable_load sums worked out by hand, calc_group_shares and calc_group_runnable on
/// hand-set queues, and the scheduler's averages on small hosts. One PELT period is 1024 × 1024 ns.
/// </summary>
public class Pelt419Tests
{
    private const long PeriodNs = 1024 * 1024;

    internal static HostKit Kit(int cpus = 1, bool balance = true) =>
        new(cpus, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero },
            new SchedFeatures { Class = FairClass.Cfs419, Pelt419 = true, LoadBalance419 = balance });

    // ---------------------------------------------------------------- pelt.c (v4.19)

    [Fact]
    public void One_full_period_gives_an_unscaled_runnable_load_sum_and_weighted_averages()
    {
        // As 6.6's hand-worked period (1002 after one decay), but 4.19 adds runnable · contrib to
        // runnable_load_sum — no << SCHED_CAPACITY_SHIFT — and weights it at the average.
        var sa = default(SchedAvg);
        Assert.True(Pelt.UpdateLoadSum(PeriodNs, ref sa, 1, 1, true, runnableShift: 0));
        Assert.Equal(1002, sa.LoadSum);
        Assert.Equal(1002, sa.RunnableSum);
        Assert.Equal(1002L << 10, sa.UtilSum);
        Pelt.UpdateLoadAvg419(ref sa, 1024, 512);
        long divider = 47742 - 1024;
        Assert.Equal(1024L * 1002 / divider, sa.LoadAvg);       // 22
        Assert.Equal(512L * 1002 / divider, sa.RunnableAvg);    // 11: the runnable weight, not the weight
        Assert.Equal((1002L << 10) / divider, sa.UtilAvg);
    }

    [Fact]
    public void A_blocked_entity_decays_its_load_and_runnable_load_to_half_in_32_periods()
    {
        var sa = default(SchedAvg);
        for (int p = 1; p <= 400; p++)
            Pelt.UpdateLoadSum(p * PeriodNs, ref sa, 1, 1, true, runnableShift: 0);
        Pelt.UpdateLoadAvg419(ref sa, 1024, 1024);
        Assert.InRange(sa.LoadAvg, 1020, 1024);
        Assert.Equal(sa.LoadAvg, sa.RunnableAvg);
        long load = sa.LoadAvg;
        Pelt.UpdateLoadSum(432 * PeriodNs, ref sa, 0, 0, false, runnableShift: 0);
        Pelt.UpdateLoadAvg419(ref sa, 1024, 1024);
        Assert.InRange(sa.LoadAvg, load / 2 - 1, load / 2);
        Assert.InRange(sa.RunnableAvg, load / 2 - 1, load / 2);
    }

    // ---------------------------------------------------------------- calc_group_shares / calc_group_runnable

    [Fact]
    public void Group_shares_and_runnable_weight_are_the_hand_worked_values()
    {
        var kit = Kit(cpus: 2);
        var g = kit.Host.CreateGroup("/g");
        var q = g.CfsRq[0];
        // tg.shares 1024; this queue: weight 2048, load_avg 1900, published contribution 1900;
        // tg.load_avg 3000. load = max(2048, 1900) = 2048; tg_weight = 3000 − 1900 + 2048 = 3148;
        // shares = 1024·2048/3148 = 666.
        q.Load.Set(2048);
        q.Avg.LoadAvg = 1900;
        q.TgLoadAvgContrib = 1900;
        g.LoadAvg = 3000;
        Assert.Equal(666, HostScheduler.CalcGroupShares(q));
        // runnable = max(runnable_load_avg 1000, runnable_weight 1024)·666 / max(1900, 2048) = 333.
        q.Avg.RunnableAvg = 1000;
        q.RunnableWeight = 1024;
        Assert.Equal(333, HostScheduler.CalcGroupRunnable(q, 666));
        // Nothing runnable: clamped at MIN_SHARES; all of it runnable: clamped at the shares.
        q.Avg.RunnableAvg = 1;
        q.RunnableWeight = 0;
        Assert.Equal(Weights.MinShares, HostScheduler.CalcGroupRunnable(q, 666));
        q.Avg.RunnableAvg = 5000;
        Assert.Equal(666, HostScheduler.CalcGroupRunnable(q, 666));
        // A queue holding the whole group's load gets all the shares.
        g.LoadAvg = 1900;
        Assert.Equal(1024, HostScheduler.CalcGroupShares(q));
    }

    // ---------------------------------------------------------------- the scheduler

    [Fact]
    public void Two_hogs_have_full_load_and_runnable_load_and_half_the_util_each()
    {
        var kit = Kit();
        var a = kit.Hog("a");
        var b = kit.Hog("b");
        kit.RunMs(400);
        Assert.InRange(a.Se.Avg.LoadAvg, 990, 1024);
        Assert.InRange(a.Se.Avg.RunnableAvg, 990, 1024);
        Assert.InRange(a.Se.Avg.UtilAvg, 450, 570);
        var cfs = kit.Host.Rqs[0].Cfs;
        Assert.Equal(2048, cfs.RunnableWeight);
        Assert.InRange(cfs.Avg.LoadAvg, 1990, 2048);
        Assert.InRange(cfs.Avg.RunnableAvg, 1990, 2048); // weighted, not h_nr_running × 1024 as in 6.x
        Assert.Equal(cfs.Avg.RunnableAvg, kit.Host.WeightedCpuload(0));
        Assert.InRange(cfs.Avg.UtilAvg, 1000, 1024);
    }

    [Fact]
    public void A_blocked_task_leaves_the_runnable_load_at_once_but_its_load_only_decays()
    {
        var kit = Kit();
        var (hog, s) = kit.HogAndBlockedSleeper(runFirstMs: 300, sleepMs: 0);
        var cfs = kit.Host.Rqs[0].Cfs;
        Assert.Equal(hog.Se.Load.Weight, cfs.RunnableWeight);
        // runnable_load_avg holds the hog only; load_avg still holds the sleeper's blocked load.
        Assert.InRange(cfs.Avg.RunnableAvg, hog.Se.Avg.RunnableAvg - 30, hog.Se.Avg.RunnableAvg + 30);
        Assert.True(cfs.Avg.LoadAvg > cfs.Avg.RunnableAvg + s.Se.Avg.LoadAvg / 2,
            $"load {cfs.Avg.LoadAvg}, runnable {cfs.Avg.RunnableAvg}, sleeper {s.Se.Avg.LoadAvg}");
    }

    [Fact]
    public void A_group_entity_weighs_its_shares_and_its_runnable_weight_follows_calc_group_runnable()
    {
        // calc_group_shares with /g's hogs 2 on cpu0 and 1 on cpu1 ⇒ ≈ 2/3 and 1/3 of 1024.
        var kit = Kit(cpus: 2, balance: false);
        var g = kit.Host.CreateGroup("/g");
        kit.Hog("a", HostKit.Cpu(0), group: g);
        kit.Hog("b", HostKit.Cpu(0), group: g);
        kit.Hog("c", HostKit.Cpu(1), group: g, startCpu: 1);
        kit.RunMs(500);
        Assert.InRange(g.LoadAvg, 2990, 3072);
        Assert.InRange(g.Se[0].Load.Weight, 682 - 15, 682 + 15);
        Assert.InRange(g.Se[1].Load.Weight, 341 - 10, 341 + 10);
        // Both queues always runnable: runnable weight ≈ weight.
        Assert.InRange(g.Se[0].RunnableWeight, g.Se[0].Load.Weight - 15, g.Se[0].Load.Weight);
        Assert.Equal(HostScheduler.CalcGroupRunnable(g.CfsRq[1], g.Se[1].Load.Weight), g.Se[1].RunnableWeight);
        // The root queue's runnable weight is the group entity's.
        Assert.Equal(g.Se[0].RunnableWeight, kit.Host.Rqs[0].Cfs.RunnableWeight);
    }

    [Fact]
    public void A_queued_task_moved_by_affinity_is_detached_after_its_dequeue_and_attached_on_the_new_cpu()
    {
        var kit = Kit(cpus: 2, balance: false);
        var a = kit.Hog("a", HostKit.Cpu(0));
        kit.Hog("b", HostKit.Cpu(0));
        kit.Hog("c", HostKit.Cpu(1), startCpu: 1);
        kit.RunMs(300);
        while (a.OnCpu)
            kit.RunMs(1);
        long loadA = a.Se.Avg.LoadAvg;
        long q0 = kit.Host.Rqs[0].Cfs.Avg.LoadAvg;
        long q1 = kit.Host.Rqs[1].Cfs.Avg.LoadAvg;
        kit.Host.SetAffinity(a, HostKit.Cpu(1), 0);
        Assert.Equal(1, a.Cpu);
        Assert.NotEqual(0, a.Se.Avg.LastUpdateTime);
        Assert.InRange(kit.Host.Rqs[0].Cfs.Avg.LoadAvg, q0 - loadA - 30, q0 - loadA + 30);
        Assert.InRange(kit.Host.Rqs[1].Cfs.Avg.LoadAvg, q1 + loadA - 30, q1 + loadA + 30);
        Assert.Equal(0, kit.Host.Rqs[0].Cfs.RemovedNr);
        Assert.Equal(2048, kit.Host.Rqs[1].Cfs.RunnableWeight);
    }

    [Fact]
    public void A_task_woken_on_another_cpu_leaves_its_load_sum_as_the_removed_runnable_sum()
    {
        var kit = Kit(cpus: 2, balance: false);
        kit.Hog("busy1", HostKit.Cpu(1), startCpu: 1);
        var s = kit.Hog("s", HostKit.Cpu(0));
        kit.RunMs(200);
        kit.Host.Block(s);
        kit.Settle();
        kit.Host.SetAffinity(s, HostKit.Cpu(1), 0);
        kit.Host.TryToWakeUp(s, 0);
        Assert.Equal(1, s.Cpu);
        var old = kit.Host.Rqs[0].Cfs;
        Assert.Equal(1, old.RemovedNr);
        Assert.True(old.RemovedLoadAvg > 0);
        Assert.True(old.RemovedRunnableAvg > 1000, $"removed runnable_sum {old.RemovedRunnableAvg}"); // a load_sum, not an average
    }

    [Fact]
    public void Pelt_419_needs_the_cfs_419_class_and_the_419_balancer_needs_it()
    {
        Assert.Throws<ArgumentException>(() => new HostKit(1, null, new SchedFeatures { Class = FairClass.Cfs2639, Pelt419 = true }));
        Assert.Throws<ArgumentException>(() => new HostKit(1, null, new SchedFeatures { Class = FairClass.Cfs419, LoadBalance419 = true }));
    }
}

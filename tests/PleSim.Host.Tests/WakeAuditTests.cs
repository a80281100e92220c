using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Host.Tests;

/// <summary>
/// The wake-up departures found by the source audits of v4.19 (decision 0102) and of v6.6 and the
/// 6.18.2 stable tree (decision 0103) — kernel/sched/fair.c and core.c (6.18: syscalls.c for
/// <c>idle_cpu</c>) — each worked by hand from the kernel's functions and run on cfs-4.19,
/// eevdf-6.6 and eevdf-6.18, whose functions here are the same: <c>idle_cpu</c> wants an empty run
/// queue, not only the idle task running (and the tick asks it too); <c>select_task_rq_fair</c>
/// records the wakee on <c>current</c> even when that is a CPU's idle task, so <c>wake_wide</c> can
/// turn an interrupt's wake-up away from the idle waking CPU; and <c>task_h_load</c> uses
/// <c>update_cfs_rq_h_load</c>'s once-a-jiffy cache.
/// </summary>
public class WakeAuditTests
{
    public static TheoryData<FairClass> Classes => [FairClass.Cfs419, FairClass.Eevdf66, FairClass.Eevdf618];

    private static SchedFeatures Features(FairClass cls) => cls == FairClass.Cfs419
        ? IdleSearch419Tests.Full419
        : new SchedFeatures { Class = cls, Pelt = true, LoadBalance66 = true, WakeSelect66 = true };

    /// <summary>
    /// One LLC of <paramref name="cpus"/> CPUs under <paramref name="cls"/> with all its version's
    /// parts. On the EEVDF hosts SIS_UTIL lets <c>select_idle_cpu</c> scan 4 CPUs (the periodic
    /// balance would set it; 4.19's SIS_PROP depth comes from its own scan-cost state).
    /// </summary>
    private static HostKit Kit(FairClass cls, int cpus, bool noHz = true)
    {
        var tun = new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero, NoHz = noHz };
        var kit = new HostKit(new HostTopology(cpus, 1), tun, cls == FairClass.Cfs2639 ? null : Features(cls));
        if (cls.IsEevdf())
            kit.Host.SetNrIdleScanForTest(0, 4);
        return kit;
    }

    /// <summary>The version's <c>select_idle_sibling</c> (4.19's, or 6.6's for the EEVDF hosts).</summary>
    private static int SelectIdleSibling(FairClass cls, HostKit kit, HostTask p, int prev, int target, int thisCpu) =>
        cls == FairClass.Cfs419
            ? kit.Host.SelectIdleSibling419ForTest(p, prev, target, thisCpu)
            : kit.Host.SelectIdleSibling66ForTest(p, prev, target);

    /// <summary>Runs a new task pinned to <paramref name="cpu"/> until it has been on it, then puts it to sleep there.</summary>
    private static HostTask SleeperThatRanOn(HostKit kit, string name, int cpu)
    {
        var t = kit.Host.CreateTask(name, new HogBody(), affinity: HostKit.Cpu(cpu));
        kit.Host.WakeUpNewTask(t, cpu);
        kit.RunMs(5);
        while (!t.OnCpu)
            kit.RunMs(1);
        kit.Host.Block(t);
        kit.Settle();
        return t;
    }

    [Theory]
    [MemberData(nameof(Classes))]
    public void A_cpu_still_in_its_idle_task_with_a_task_queued_on_it_is_not_idle(FairClass cls)
    {
        // 4 CPUs, one MC level (the LLC). Hogs on 0 and 1; 2 and 3 idle.
        var kit = Kit(cls, 4);
        kit.Hog("h0", HostKit.Cpu(0), startCpu: 0);
        kit.Hog("h1", HostKit.Cpu(1), startCpu: 1);
        var w = SleeperThatRanOn(kit, "w", 3);
        var rq3 = kit.Host.Rqs[3];
        Assert.True(rq3.IsIdle);

        // CPU 0 wakes w, which may only run on CPU 3: enqueued there, and CPU 3 stays in its idle
        // task until the reschedule reaches it (IdleExitLatency later).
        Assert.True(kit.Host.TryToWakeUp(w, 0));
        Assert.True(rq3.IsIdle);
        Assert.Equal(1, rq3.NrRunning);

        // select_idle_sibling(p, prev 3, target 3) from CPU 0: available_idle_cpu(3) is 0
        // (idle_cpu: rq->nr_running is 1); prev is the target; no recent_used_cpu; no SMT, so no
        // idle core; select_idle_cpu scans the LLC from 3, wrapping (4.19: SIS_PROP's depth; 6.6:
        // nr_idle_scan 4): 0 and 1 (hogs), then 2, idle ⇒ 2. With 2.6.39's idle_cpu (curr == idle
        // only) CPU 3 would count as idle and p would be stacked on w.
        var p = kit.Host.CreateTask("p", new HogBody());
        Assert.Equal(2, SelectIdleSibling(cls, kit, p, prev: 3, target: 3, thisCpu: 0));

        // Once w runs there, CPU 3 is busy either way; while nothing is queued, an idle CPU is idle.
        kit.Settle();
        Assert.True(w.OnCpu);
        Assert.Equal(2, SelectIdleSibling(cls, kit, p, prev: 3, target: 3, thisCpu: 0));
        Assert.Equal(2, SelectIdleSibling(cls, kit, p, prev: 2, target: 2, thisCpu: 0));
    }

    /// <summary>4 CPUs in one LLC, a hog on CPU 0, and p, which ran on CPU 0, now sleeps and may run on any CPU.</summary>
    private static (HostKit Kit, HostTask P) SleeperThatLastRanOnCpu0(FairClass cls)
    {
        var kit = Kit(cls, 4);
        kit.Hog("h0", HostKit.Cpu(0), startCpu: 0);
        var p = SleeperThatRanOn(kit, "p", 0);
        p.Affinity = HostKit.Cpu(0, 1, 2, 3);
        return (kit, p);
    }

    [Theory]
    [MemberData(nameof(Classes))]
    public void A_wakeup_from_an_idle_cpu_is_recorded_on_its_idle_task_and_wake_wide_keeps_the_wakee_near_prev(FairClass cls)
    {
        // 4 CPUs in one LLC (sd_llc_size 4). A hog on 0; p last ran on 0 and sleeps; 1, 2, 3 idle.
        var (kit, p) = SleeperThatLastRanOnCpu0(cls);
        Assert.Equal(0, p.Cpu);
        Assert.Equal(0, p.RecentUsedCpu); // wake_up_new_task: task_cpu(p), the parent's CPU

        // p has flipped among 4 wakees (= sd_llc_size); CPU 3's idle task (swapper/3) among 15 and
        // last woke someone else; no decay is due (jiffies < decay stamp + HZ).
        var swapper3 = kit.Host.Rqs[3].Idle;
        Assert.True(kit.Host.Rqs[3].IsIdle);
        p.WakeeFlips = 4;
        swapper3.WakeeFlips = 15;
        swapper3.WakeeFlipDecayTs = kit.Host.Jiffies;

        // An interrupt on idle CPU 3 wakes p. select_task_rq_fair(p, prev 0, a wake-up): record_wakee(p)
        // on current = swapper/3: last_wakee != p ⇒ flips 16. wake_wide: master 16, slave 4, factor 4:
        // slave ≥ 4 and master ≥ 4 × 4 ⇒ 1, so want_affine = 0; the MC domain has no SD_BALANCE_WAKE ⇒
        // break, sd = NULL ⇒ select_idle_sibling(p, 0, 0): 0 is busy, prev is the target,
        // recent_used_cpu is prev; no SMT; select_idle_cpu from 0: 0 busy, 1 idle ⇒ 1. Without the
        // record (the idle waker's flips left at 0), want_affine would hold and wake_affine_idle would
        // take idle CPU 3 (it shares the cache with busy prev 0).
        Assert.True(kit.Host.TryToWakeUp(p, 3));
        Assert.Equal(1, p.Cpu);
        Assert.Same(p, swapper3.LastWakee);
        Assert.Equal(16, swapper3.WakeeFlips);
    }

    [Theory]
    [MemberData(nameof(Classes))]
    public void Without_wide_flips_a_wakeup_from_an_idle_cpu_stays_affine_and_is_still_recorded(FairClass cls)
    {
        // As above with swapper/3 at 14 flips (15 after the record, < 4 × 4): not wide, so
        // wake_affine → wake_affine_idle(3, 0): CPU 3 is idle and shares the cache with busy 0 ⇒ 3;
        // select_idle_sibling(p, 0, 3): 3 is idle ⇒ 3.
        var (kit, p) = SleeperThatLastRanOnCpu0(cls);
        var swapper3 = kit.Host.Rqs[3].Idle;
        p.WakeeFlips = 4;
        swapper3.WakeeFlips = 14;
        swapper3.WakeeFlipDecayTs = kit.Host.Jiffies;
        Assert.True(kit.Host.TryToWakeUp(p, 3));
        Assert.Equal(3, p.Cpu);
        Assert.Equal(15, swapper3.WakeeFlips);
        Assert.Same(p, swapper3.LastWakee);
    }

    [Theory]
    [MemberData(nameof(Classes))]
    public void Task_h_load_uses_the_h_load_cached_earlier_in_the_jiffy(FairClass cls)
    {
        // One CPU: a hog h in the root group and a hog p in group /g, running for 50 ms.
        var kit = Kit(cls, 1);
        var g = kit.Host.CreateGroup("/g");
        var h = kit.Hog("h");
        var p = kit.Hog("p", group: g);
        kit.RunMs(50);
        var root = kit.Host.Rqs[0].Cfs;
        var gq = g.CfsRq[0];
        var gse = g.Se[0];

        // task_h_load(h): update_cfs_rq_h_load(root) sets root->h_load = its load_avg (l1) for this
        // jiffy; h's share = h.load_avg × l1 / (l1 + 1).
        long l1 = root.Avg.LoadAvg;
        Assert.Equal(h.Se.Avg.LoadAvg * l1 / (l1 + 1), kit.Host.TaskHLoad(h));

        // At the same instant (same jiffy) a new task forks onto the CPU: its enqueue attaches its
        // load_avg (init_entity_runnable_average) to the root at once (DO_ATTACH), l2 > l1.
        var c = kit.Host.CreateTask("c", new HogBody());
        kit.Host.WakeUpNewTask(c, 0);
        long l2 = root.Avg.LoadAvg;
        Assert.True(l2 >= l1 + 500, $"l1 {l1}, l2 {l2}");

        // task_h_load(h) again: root->last_h_load_update == jiffies, so h_load stays l1 while the
        // divisor is today's l2 + 1.
        Assert.Equal(h.Se.Avg.LoadAvg * l1 / (l2 + 1), kit.Host.TaskHLoad(h));

        // task_h_load(p): /g's queue was not updated this jiffy, so the walk goes up from /g's
        // entity to the root, which was (break), and comes down from the root's cached l1:
        // /g's h_load = l1 × gse.load_avg / (l2 + 1); p's share = p.load_avg × that / (/g's load_avg + 1).
        long gHLoad = l1 * gse.Avg.LoadAvg / (l2 + 1);
        Assert.Equal(p.Se.Avg.LoadAvg * gHLoad / (gq.Avg.LoadAvg + 1), kit.Host.TaskHLoad(p));

        // A jiffy later the root's h_load is its load_avg of then.
        kit.RunFor(kit.Host.Tunables.TickPeriod);
        long l3 = root.Avg.LoadAvg;
        Assert.Equal(h.Se.Avg.LoadAvg * l3 / (l3 + 1), kit.Host.TaskHLoad(h));
    }

    [Theory]
    [InlineData(FairClass.Cfs419, false)]
    [InlineData(FairClass.Eevdf66, false)]
    [InlineData(FairClass.Eevdf618, false)]
    [InlineData(FairClass.Cfs2639, true)]
    public void A_tick_that_finds_a_task_queued_behind_the_idle_task_is_not_an_idle_tick(FairClass cls, bool idleAtTick)
    {
        // scheduler_tick (6.18: sched_tick) sets rq->idle_balance (2.6.39: idle_at_tick) =
        // idle_cpu(cpu): the balancer's idle type for this tick. Ticks keep running on idle CPUs (no NOHZ).
        var kit = Kit(cls, 4, noHz: false);
        kit.Hog("h0", HostKit.Cpu(0), startCpu: 0);
        var w = kit.Host.CreateTask("w", new HogBody(), affinity: HostKit.Cpu(3));
        kit.Host.WakeUpNewTask(w, 3);
        kit.RunMs(5);
        while (!w.OnCpu)
            kit.RunMs(1);
        kit.Host.Block(w);
        kit.RunMs(2);
        var rq3 = kit.Host.Rqs[3];
        Assert.True(rq3.IsIdle);

        // 1 µs before CPU 3's next tick, CPU 0 wakes w onto CPU 3; the reschedule reaches CPU 3
        // IdleExitLatency (2 µs) later, so the tick finds the idle task running and w queued.
        long period = kit.Host.Tunables.TickPeriod.Ns;
        long nextTick = (kit.Sim.Now.Ns / period + 1) * period;
        kit.Sim.RunUntil(new SimTime(nextTick - 1_000));
        Assert.True(kit.Host.TryToWakeUp(w, 0));
        kit.Sim.RunUntil(new SimTime(nextTick + 500));
        Assert.True(rq3.IsIdle);
        Assert.Equal(1, rq3.NrRunning);
        Assert.Equal(idleAtTick, rq3.IdleAtTick);
    }
}

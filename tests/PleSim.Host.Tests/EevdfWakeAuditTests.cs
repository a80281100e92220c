using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Host.Tests;

/// <summary>
/// The EEVDF hosts' share of the wake-up departures first found on cfs-4.19 (decision 0102), after
/// reading v6.6 (kernel/sched/core.c, fair.c) and the 6.18.2 stable tree (syscalls.c, fair.c;
/// decision 0103): <c>idle_cpu</c> wants an empty run queue; <c>select_task_rq_fair</c> records the
/// wakee on <c>current</c> even when that is a CPU's idle task; <c>task_h_load</c> uses
/// <c>update_cfs_rq_h_load</c>'s once-a-jiffy cache; and the tick's balancing idle type is
/// <c>idle_cpu</c>'s. Each case is worked by hand from 6.6's functions, on 6.6 and on 6.18 (whose
/// functions here are the same).
/// </summary>
public class EevdfWakeAuditTests
{
    private static readonly SchedTunables Tun = new() { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero };

    private static SchedFeatures Features(FairClass cls) =>
        new() { Class = cls, Pelt = true, LoadBalance66 = true, WakeSelect66 = true };

    private static HostKit Kit(FairClass cls, int cpus, SchedTunables? tun = null) => new(cpus, tun ?? Tun, Features(cls));

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
    [InlineData(FairClass.Eevdf66)]
    [InlineData(FairClass.Eevdf618)]
    public void A_cpu_still_in_its_idle_task_with_a_task_queued_on_it_is_not_idle(FairClass cls)
    {
        // 4 CPUs, one LLC. Hogs on 0 and 1; 2 and 3 idle; SIS_UTIL lets select_idle_cpu scan 4 CPUs.
        var kit = Kit(cls, 4);
        kit.Hog("h0", HostKit.Cpu(0), startCpu: 0);
        kit.Hog("h1", HostKit.Cpu(1), startCpu: 1);
        var w = SleeperThatRanOn(kit, "w", 3);
        kit.Host.SetNrIdleScanForTest(0, 4);
        var rq3 = kit.Host.Rqs[3];

        // CPU 0 wakes w (pinned to 3): queued there, CPU 3 still in its idle task.
        Assert.True(kit.Host.TryToWakeUp(w, 0));
        Assert.True(rq3.IsIdle);
        Assert.Equal(1, rq3.NrRunning);

        // v6.6 select_idle_sibling(p, prev 3, target 3): available_idle_cpu(3) = 0 (rq->nr_running 1);
        // prev is the target; p has no recent_used_cpu; no SMT; select_idle_cpu from 4 (wrapping),
        // nr = 4 + 1: 0 busy (nr 4), 1 busy (3), 2 idle ⇒ 2. With the curr-is-idle test alone, 3.
        var p = kit.Host.CreateTask("p", new HogBody());
        Assert.Equal(2, kit.Host.SelectIdleSibling66ForTest(p, prev: 3, target: 3));
    }

    /// <summary>4 CPUs in one LLC, a hog on CPU 0, and p, which ran on CPU 0, now sleeps and may run on any CPU.</summary>
    private static (HostKit Kit, HostTask P) SleeperThatLastRanOnCpu0(FairClass cls)
    {
        var kit = Kit(cls, 4);
        kit.Hog("h0", HostKit.Cpu(0), startCpu: 0);
        var p = SleeperThatRanOn(kit, "p", 0);
        p.Affinity = HostKit.Cpu(0, 1, 2, 3);
        kit.Host.SetNrIdleScanForTest(0, 4);
        return (kit, p);
    }

    [Theory]
    [InlineData(FairClass.Eevdf66)]
    [InlineData(FairClass.Eevdf618)]
    public void A_wakeup_from_an_idle_cpu_is_recorded_on_its_idle_task_and_wake_wide_keeps_the_wakee_near_prev(FairClass cls)
    {
        var (kit, p) = SleeperThatLastRanOnCpu0(cls);
        Assert.Equal(0, p.RecentUsedCpu);
        var swapper3 = kit.Host.Rqs[3].Idle;
        Assert.True(kit.Host.Rqs[3].IsIdle);
        p.WakeeFlips = 4;
        swapper3.WakeeFlips = 15;
        swapper3.WakeeFlipDecayTs = kit.Host.Jiffies;

        // An interrupt on idle CPU 3 wakes p. v6.6 select_task_rq_fair(p, prev 0, WF_TTWU):
        // record_wakee(p) on current = swapper/3 ⇒ 16 flips, last_wakee p; wake_wide: master 16,
        // slave 4, sd_llc_size 4 ⇒ 1, want_affine = 0, the domain loop breaks, sd = NULL ⇒
        // select_idle_sibling(p, 0, 0): 0 busy, prev is the target, recent_used_cpu is prev; no SMT;
        // select_idle_cpu from 1: 1 idle ⇒ 1. Without the record, want_affine would hold and
        // wake_affine_idle(3, 0) would take idle CPU 3, which shares the cache with busy 0.
        Assert.True(kit.Host.TryToWakeUp(p, 3));
        Assert.Equal(1, p.Cpu);
        Assert.Same(p, swapper3.LastWakee);
        Assert.Equal(16, swapper3.WakeeFlips);
    }

    [Theory]
    [InlineData(FairClass.Eevdf66)]
    [InlineData(FairClass.Eevdf618)]
    public void Without_wide_flips_a_wakeup_from_an_idle_cpu_stays_affine_and_is_still_recorded(FairClass cls)
    {
        // swapper/3 at 14 flips (15 after the record < 4 × 4): want_affine; wake_affine_idle(3, 0):
        // 3 idle, shares the cache, 0 busy ⇒ 3; wake_affine returns it; select_idle_sibling(p, 0, 3):
        // 3 idle ⇒ 3.
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
    [InlineData(FairClass.Eevdf66)]
    [InlineData(FairClass.Eevdf618)]
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

        // task_h_load(h): update_cfs_rq_h_load(root) sets root->h_load = its load_avg l1 this jiffy.
        long l1 = root.Avg.LoadAvg;
        Assert.Equal(h.Se.Avg.LoadAvg * l1 / (l1 + 1), kit.Host.TaskHLoad(h));

        // A fork in the same jiffy attaches the child's load_avg to the root at once: l2 > l1.
        var c = kit.Host.CreateTask("c", new HogBody());
        kit.Host.WakeUpNewTask(c, 0);
        long l2 = root.Avg.LoadAvg;
        Assert.True(l2 >= l1 + 500, $"l1 {l1}, l2 {l2}");

        // The root's h_load stays l1 for the jiffy; the divisor is today's l2 + 1.
        Assert.Equal(h.Se.Avg.LoadAvg * l1 / (l2 + 1), kit.Host.TaskHLoad(h));

        // /g's queue was not updated this jiffy: the walk goes up to the root (updated: break) and
        // comes down from its cached l1.
        long gHLoad = l1 * gse.Avg.LoadAvg / (l2 + 1);
        Assert.Equal(p.Se.Avg.LoadAvg * gHLoad / (gq.Avg.LoadAvg + 1), kit.Host.TaskHLoad(p));

        // A jiffy later the root's h_load is its load_avg of then.
        kit.RunFor(kit.Host.Tunables.TickPeriod);
        long l3 = root.Avg.LoadAvg;
        Assert.Equal(h.Se.Avg.LoadAvg * l3 / (l3 + 1), kit.Host.TaskHLoad(h));
    }

    [Theory]
    [InlineData(FairClass.Eevdf66)]
    [InlineData(FairClass.Eevdf618)]
    public void A_tick_that_finds_a_task_queued_behind_the_idle_task_is_not_an_idle_tick(FairClass cls)
    {
        // scheduler_tick (v6.6 core.c; 6.18.2 sched_tick): rq->idle_balance = idle_cpu(cpu).
        var kit = Kit(cls, 4, new SchedTunables { TickJitter = SimDuration.Zero, ContextSwitchCost = SimDuration.Zero, NoHz = false });
        kit.Hog("h0", HostKit.Cpu(0), startCpu: 0);
        var w = SleeperThatRanOn(kit, "w", 3);
        var rq3 = kit.Host.Rqs[3];

        // 1 µs before CPU 3's next tick CPU 0 wakes w onto it; the reschedule arrives 2 µs later.
        long period = kit.Host.Tunables.TickPeriod.Ns;
        long nextTick = (kit.Sim.Now.Ns / period + 1) * period;
        kit.Sim.RunUntil(new SimTime(nextTick - 1_000));
        Assert.True(kit.Host.TryToWakeUp(w, 0));
        kit.Sim.RunUntil(new SimTime(nextTick + 500));
        Assert.True(rq3.IsIdle);
        Assert.Equal(1, rq3.NrRunning);
        Assert.False(rq3.IdleAtTick);
    }
}

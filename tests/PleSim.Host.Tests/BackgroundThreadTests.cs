using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Host.Tests;

/// <summary>Host background threads: timer-driven work items on a host task (kworkers, QEMU's I/O thread, kthreads).</summary>
public class BackgroundThreadTests
{
    private static (BackgroundThreadBody Body, HostTask Task) Thread(HostKit kit, string name, ulong affinity, int nice, params BackgroundTimer[] timers)
    {
        var body = new BackgroundThreadBody(kit.Host, timers);
        var task = kit.Host.CreateTask(name, body, nice, affinity);
        body.Attach(task);
        kit.Host.WakeUpNewTask(task, 0);
        return (body, task);
    }

    private static BackgroundTimer Timer(long periodUs, long costUs, TimerRearm rearm, long phaseUs, string name = "t") =>
        new(name, SimDuration.FromMicroseconds(periodUs), SimDuration.FromMicroseconds(costUs), rearm, SimDuration.FromMicroseconds(phaseUs));

    [Fact]
    public void An_on_grid_timer_wakes_the_thread_once_per_period_and_each_wake_up_costs_the_stated_cpu_time()
    {
        var kit = new HostKit(1);
        var (body, task) = Thread(kit, "events/0", 1, 0, Timer(10_000, 100, TimerRearm.OnGrid, 5_000));
        kit.RunMs(1000);
        // Expiries at 5, 15, ..., 995 ms.
        Assert.Equal(100, body.Fires[0]);
        Assert.Equal(100, body.Done[0]);
        Assert.Equal(0, body.Coalesced[0]);
        // Each wake-up ran its 100 us of work, and nothing else but the switch into it.
        long work = 100 * 100_000L;
        Assert.InRange(task.CpuTimeNs, work, work + (101 * 2 * kit.Host.Tunables.ContextSwitchCost.Ns));
        Assert.Equal(101, task.NrVoluntarySwitches); // 100 items + the first run after creation
    }

    [Fact]
    public void An_after_run_timer_counts_its_period_from_the_end_of_its_work()
    {
        var grid = new HostKit(1);
        var (onGrid, _) = Thread(grid, "g", 1, 0, Timer(10_000, 1_000, TimerRearm.OnGrid, 1_000));
        grid.RunMs(1000);
        var after = new HostKit(1);
        var (afterRun, _) = Thread(after, "a", 1, 0, Timer(10_000, 1_000, TimerRearm.AfterRun, 1_000));
        after.RunMs(1000);
        Assert.Equal(100, onGrid.Fires[0]);
        // Re-armed 10 ms after each 1 ms item (plus the wake-up latency): about every 11 ms.
        Assert.InRange(afterRun.Fires[0], 90, 91);
    }

    [Fact]
    public void Timers_of_one_thread_queue_their_items_and_the_thread_runs_them_one_after_the_other()
    {
        var kit = new HostKit(1);
        // Both fire at 2 ms: one wake-up runs both items.
        var (body, task) = Thread(kit, "qemu", 1, 0,
            Timer(10_000, 300, TimerRearm.OnGrid, 2_000, "a"), Timer(20_000, 500, TimerRearm.OnGrid, 2_000, "b"));
        kit.RunMs(100);
        Assert.Equal(10, body.Done[0]);
        Assert.Equal(5, body.Done[1]);
        Assert.Equal(1 + 10, task.NrVoluntarySwitches); // the 5 joint expiries share a wake-up
        Assert.InRange(task.CpuTimeNs, (10 * 300_000L) + (5 * 500_000L), (10 * 300_000L) + (5 * 500_000L) + (11 * 2 * kit.Host.Tunables.ContextSwitchCost.Ns));
    }

    [Fact]
    public void A_background_thread_takes_its_cpu_time_from_the_task_running_on_its_cpu()
    {
        var kit = new HostKit(1);
        var hog = kit.Hog("hog");
        var (body, task) = Thread(kit, "events/0", 1, 0, Timer(1_000, 50, TimerRearm.OnGrid, 500));
        kit.RunMs(1000);
        // A woken sleeper preempts the hog at once (sleeper credit beyond the wake-up granularity): every item ran.
        Assert.Equal(1000, body.Fires[0]);
        Assert.InRange(body.Done[0], 999, 1000);
        Assert.Equal(0, body.Coalesced[0]);
        Assert.InRange(hog.CpuTimeNs + task.CpuTimeNs, 990_000_000L, 1_000_000_000L);
        Assert.InRange(task.CpuTimeNs, 999 * 50_000L, 1000 * 60_000L);
    }

    [Fact]
    public void A_timer_whose_item_is_still_queued_does_not_queue_a_second_one()
    {
        var kit = new HostKit(1);
        kit.Hog("hog0", nice: -20);
        kit.Hog("hog1", nice: -20);
        // Nice 19 against two nice -20 hogs: the thread waits far longer than its 1 ms period.
        var (body, _) = Thread(kit, "khugepaged", 1, 19, Timer(1_000, 500, TimerRearm.OnGrid, 100));
        kit.RunMs(500);
        Assert.True(body.Coalesced[0] > 0, "expected expiries dropped while the item was queued");
        long queued = body.Fires[0] - body.Coalesced[0] - body.Done[0];
        Assert.InRange(queued, 0, 1);
    }

    [Fact]
    public void After_a_sched_yield_the_cpu_can_pick_a_queued_background_thread()
    {
        var kit = new HostKit(1);
        var watcher = new SwitchWatcher();
        kit.Host.AddObserver(watcher);
        var yielderBody = new YielderBody(kit.Host, SimDuration.FromMicroseconds(100));
        var yielder = kit.Host.CreateTask("vcpu", yielderBody, 0, 1);
        yielderBody.Attach(yielder);
        kit.Host.WakeUpNewTask(yielder, 0);
        // Nice 19: its wake-up does not preempt (the wake-up granularity scales with its small
        // weight), so it waits in the queue until the yielder gives the CPU up.
        var (body, bg) = Thread(kit, "khugepaged", 1, 19, Timer(5_000, 50, TimerRearm.AfterRun, 1_000));
        watcher.From = yielder;
        watcher.To = bg;
        kit.RunMs(200);
        Assert.True(body.Done[0] > 10);
        Assert.True(watcher.YieldedTo > 0, "the background thread never ran right after a yield");
    }

    private sealed class SwitchWatcher : IHostObserver
    {
        public HostTask? From, To;
        public long YieldedTo;

        public void Switch(int cpu, HostTask prev, HostTask next, StopReason prevReason)
        {
            if (prev == From && next == To && prevReason == StopReason.Yielded)
                YieldedTo++;
        }
    }

    [Fact]
    public void A_timer_needs_a_positive_period_and_cost()
    {
        Assert.Throws<ArgumentException>(() => new BackgroundThreadBody(new HostKit(1).Host, [Timer(0, 10, TimerRearm.OnGrid, 0)]));
        Assert.Throws<ArgumentException>(() => new BackgroundThreadBody(new HostKit(1).Host, [Timer(10, 0, TimerRearm.OnGrid, 0)]));
        Assert.Throws<ArgumentException>(() => new BackgroundThreadBody(new HostKit(1).Host, []));
    }
}

using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Host.Tests;

public class BalancerTests
{
    [Fact]
    public void Without_smt_there_is_one_MC_domain_whose_groups_are_the_cpus_starting_at_ones_own()
    {
        var kit = new HostKit(4);
        var d = Assert.Single(kit.Host.Rqs[2].Domains);
        Assert.Equal("MC", d.Name);
        Assert.Equal([4UL, 8UL, 1UL, 2UL], d.Groups.Select(g => g.Cpus));
        Assert.Equal((1, 4, 64, 125, 1, 2, 0, 0, 0), (d.MinInterval, d.MaxInterval, d.BusyFactor, d.ImbalancePct, d.CacheNiceTries, d.BusyIdx, d.IdleIdx, d.NewidleIdx, d.WakeIdx));
        Assert.True(d.Has(SdFlags.WakeAffine | SdFlags.BalanceNewidle | SdFlags.SharePkgResources));
        Assert.False(d.Has(SdFlags.BalanceWake));
    }

    [Fact]
    public void With_smt_there_are_sibling_and_core_levels_and_threads_share_the_smt_gain()
    {
        var kit = new HostKit(4, threadsPerCore: 2);
        var ds = kit.Host.Rqs[1].Domains;
        Assert.Equal(["SIBLING", "MC"], ds.Select(d => d.Name));
        Assert.Equal(3UL, ds[0].Span);
        Assert.Equal(2, ds[1].Groups.Length);
        Assert.Equal(589, kit.Host.CpuPower(1)); // 1178 / 2
        Assert.Equal(110, ds[0].ImbalancePct);
    }

    [Fact]
    public void Load_indexes_decay_towards_the_current_load_on_the_tick()
    {
        var kit = new HostKit(2, new SchedTunables { NoHz = false, TickJitter = SimDuration.Zero });
        kit.Hog("a", HostKit.Cpu(0));
        kit.RunMs(1);
        var rq = kit.Host.Rqs[0];
        Assert.Equal(1024, rq.CpuLoad[0]);
        Assert.True(rq.CpuLoad[4] < rq.CpuLoad[1]);
        kit.RunMs(300);
        Assert.All(rq.CpuLoad, l => Assert.InRange(l, 1000, 1024));
    }

    [Fact]
    public void A_cache_hot_task_moves_only_after_nr_balance_failed_exceeds_cache_nice_tries()
    {
        var kit = new HostKit(2, new SchedTunables { NoHz = false, TickJitter = SimDuration.Zero });
        var x = kit.Hog("x", HostKit.Cpu(0));
        var y = kit.Hog("y", HostKit.Cpu(0));
        var z = kit.Hog("z", HostKit.Cpu(1), startCpu: 1);
        kit.RunMs(50);
        x.Affinity = y.Affinity = HostKit.Cpu(0, 1);
        var waiting = x.OnCpu ? y : x;
        var sd = kit.Host.Rqs[1].Domains[0];
        sd.NrBalanceFailed = 0;
        // The waiting task ran 100 us ago: hot.
        waiting.Se.ExecStart = kit.Sim.Now.Ns - 100_000;
        Assert.False(kit.Host.LoadBalanceForTest(1, sd, CpuIdleType.NotIdle));
        Assert.Equal(1, sd.NrBalanceFailed);
        waiting.Se.ExecStart = kit.Sim.Now.Ns - 100_000;
        Assert.False(kit.Host.LoadBalanceForTest(1, sd, CpuIdleType.NotIdle));
        Assert.Equal(2, sd.NrBalanceFailed);
        waiting.Se.ExecStart = kit.Sim.Now.Ns - 100_000;
        Assert.True(kit.Host.LoadBalanceForTest(1, sd, CpuIdleType.NotIdle));
        Assert.Equal(1, waiting.Cpu);
        Assert.Equal(0, sd.NrBalanceFailed);
        GC.KeepAlive(z);
    }

    [Fact]
    public void A_cold_task_moves_at_the_first_attempt()
    {
        var kit = new HostKit(2, new SchedTunables { NoHz = false, TickJitter = SimDuration.Zero });
        var x = kit.Hog("x", HostKit.Cpu(0));
        var y = kit.Hog("y", HostKit.Cpu(0));
        kit.Hog("z", HostKit.Cpu(1), startCpu: 1);
        kit.RunMs(50);
        x.Affinity = y.Affinity = HostKit.Cpu(0, 1);
        var waiting = x.OnCpu ? y : x;
        waiting.Se.ExecStart = kit.Sim.Now.Ns - 5_000_000;
        var sd = kit.Host.Rqs[1].Domains[0];
        Assert.True(kit.Host.LoadBalanceForTest(1, sd, CpuIdleType.NotIdle));
        Assert.Equal(1, waiting.Cpu);
    }

    [Fact]
    public void A_running_task_is_never_pulled_and_a_pinned_one_makes_the_pass_all_pinned()
    {
        var kit = new HostKit(2, new SchedTunables { NoHz = false, TickJitter = SimDuration.Zero });
        kit.Hog("x", HostKit.Cpu(0));
        kit.Hog("y", HostKit.Cpu(0));
        kit.Hog("z", HostKit.Cpu(1), startCpu: 1);
        kit.RunMs(50);
        var sd = kit.Host.Rqs[1].Domains[0];
        long before = sd.BalanceInterval;
        Assert.False(kit.Host.LoadBalanceForTest(1, sd, CpuIdleType.NotIdle));
        Assert.True(sd.BalanceInterval > before); // backs off
        Assert.All(kit.Host.Tasks.Where(t => t.Name != "z"), t => Assert.Equal(0, t.Cpu));
    }

    [Fact]
    public void Busy_cpus_balance_only_every_balance_interval_times_busy_factor()
    {
        var kit = new HostKit(2, new SchedTunables { NoHz = false, TickJitter = SimDuration.Zero });
        var pulls = new List<long>();
        kit.Host.AddObserver(new OnMigrate((t, from, to, cause) =>
        {
            if (cause == MigrationCause.PeriodicBalance)
                pulls.Add(kit.Sim.Now.Ns);
        }));
        for (int i = 0; i < 3; i++)
            kit.Hog("h" + i);
        kit.RunMs(2_000);
        Assert.NotEmpty(pulls);
        Assert.True(pulls[0] >= 64_000_000, $"first periodic pull at {pulls[0]} ns");
        var gaps = pulls.Zip(pulls.Skip(1), (p, q) => q - p).Where(g => g > 0).ToList();
        Assert.All(gaps, g => Assert.True(g >= 32_000_000, $"gap {g}"));
    }

    [Fact]
    public void A_cpu_going_idle_pulls_a_waiting_task_unless_its_average_idle_is_below_the_migration_cost()
    {
        foreach (var (avgIdle, expectPull) in new[] { (1_000_000L, true), (100_000L, false) })
        {
            var kit = new HostKit(2, new SchedTunables { NoHz = false, TickJitter = SimDuration.Zero });
            var blocker = kit.Host.CreateTask("b", new HogBody(), affinity: HostKit.Cpu(0));
            kit.Host.WakeUpNewTask(blocker, 0);
            var hogs = Enumerable.Range(0, 2).Select(i => kit.Hog("h" + i, HostKit.Cpu(1), startCpu: 1)).ToList();
            kit.RunMs(30);
            foreach (var h in hogs)
                h.Affinity = HostKit.Cpu(0, 1);
            var waiting = hogs.First(h => !h.OnCpu);
            waiting.Se.ExecStart = kit.Sim.Now.Ns - 5_000_000; // cold
            kit.Host.Rqs[0].AvgIdle = avgIdle;
            kit.Host.Rqs[0].Domains[0].LastBalance = kit.Host.Jiffies; // no periodic pass now
            kit.Host.Block(blocker);
            Assert.Equal(expectPull, waiting.Cpu == 0);
        }
    }

    [Fact]
    public void A_sync_wakeup_on_a_balanced_pair_pulls_the_wakee_to_the_wakers_cpu()
    {
        var kit = new HostKit(2, new SchedTunables { NoHz = false, TickJitter = SimDuration.Zero });
        var waker = kit.Hog("waker", HostKit.Cpu(0));
        var other = kit.Hog("other", HostKit.Cpu(1), startCpu: 1);
        var wakee = kit.Host.CreateTask("wakee", new HogBody(), affinity: HostKit.Cpu(1));
        kit.Host.WakeUpNewTask(wakee, 1);
        kit.RunMs(40);
        while (!wakee.OnCpu)
            kit.RunMs(1);
        kit.Host.Block(wakee);
        wakee.Affinity = HostKit.Cpu(0, 1);
        kit.RunMs(5);
        kit.Host.TryToWakeUp(wakee, 0, sync: true);
        Assert.Equal(0, wakee.Cpu);
        GC.KeepAlive(waker);
        GC.KeepAlive(other);
    }

    [Fact]
    public void A_wakeup_goes_to_an_idle_cpu_of_the_package_when_the_target_is_busy()
    {
        var kit = new HostKit(4, new SchedTunables { NoHz = false, TickJitter = SimDuration.Zero });
        kit.Hog("a", HostKit.Cpu(0));
        kit.Hog("b", HostKit.Cpu(1), startCpu: 1);
        var s = kit.Host.CreateTask("s", new HogBody(), affinity: HostKit.Cpu(1));
        kit.Host.WakeUpNewTask(s, 1);
        kit.RunMs(40);
        while (!s.OnCpu)
            kit.RunMs(1);
        kit.Host.Block(s);
        s.Affinity = HostKit.Cpu(0, 1, 2, 3);
        kit.RunMs(5);
        kit.Host.TryToWakeUp(s, 0);
        Assert.Equal(2, s.Cpu); // select_idle_sibling: first idle CPU in the MC span
    }

    [Fact]
    public void An_idle_cpu_stops_its_tick_and_becomes_the_idle_load_balancer()
    {
        var kit = new HostKit(2);
        kit.Hog("a", HostKit.Cpu(0));
        kit.RunMs(5);
        Assert.True(kit.Host.Rqs[1].TickStopped);
        Assert.False(kit.Host.Rqs[0].TickStopped);
    }

    private sealed class OnMigrate(Action<HostTask, int, int, MigrationCause> f) : IHostObserver
    {
        public void Migrate(HostTask task, int from, int to, MigrationCause cause) => f(task, from, to, cause);
    }
}

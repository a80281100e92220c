using PleSim.Guest;
using PleSim.Engine;

namespace PleSim.Guest.Tests;

/// <summary>
/// NOHZ idle balancing by guest kernel version (decision 0076): 2.6.32's designated balancer that
/// keeps its tick, against the push model of 2.6.36+ where every idle VCPU stops its tick and a busy
/// VCPU's tick kicks one idle VCPU to balance for all (2.6.39 kernel/sched_fair.c; 4.16, 5.3, 5.10
/// kernel/sched/fair.c nohz_kick_needed / nohz_balancer_kick / nohz_idle_balance).
/// </summary>
public class NohzBalanceTests
{
    /// <summary>4 VCPUs on 4 host CPUs, a tickless guest of <paramref name="version"/>; <paramref name="threadsOnVcpu0"/> CPU-bound threads start on VCPU 0.</summary>
    private static GuestKit Tickless(string version, int threadsOnVcpu0, GuestTopology topology = GuestTopology.Sockets)
    {
        var guest = GuestKernelPresets.Apply(new GuestSettings { TicklessIdle = true, Topology = topology }, version);
        var kit = new GuestKit(4, 4, guest: guest);
        for (int i = 0; i < threadsOnVcpu0; i++)
            kit.Kernel.CreateThread($"hog{i}", new ListProgram(GuestAction.Compute(10_000_000_000, userMode: true)), 0);
        kit.Start();
        return kit;
    }

    private static int[] Counts(GuestKit kit) => [.. kit.Kernel.Cpus.Select(c => c.NrRunning)];

    [Theory]
    [InlineData(null, GuestNohzBalance.Owner)]
    [InlineData("2.6.32", GuestNohzBalance.Owner)]
    [InlineData("2.6.39", GuestNohzBalance.Push2639)]
    [InlineData("3.12", GuestNohzBalance.PushFirstInMask)]
    [InlineData("4.2", GuestNohzBalance.PushFirstInMask)]
    [InlineData("4.16", GuestNohzBalance.PushFirstInMask)]
    [InlineData("5.3", GuestNohzBalance.PushFirstIdle)]
    [InlineData("5.10", GuestNohzBalance.PushNextJiffy)]
    [InlineData("6.1", GuestNohzBalance.PushNextJiffy)]
    public void Each_version_has_its_nohz_model(string? version, GuestNohzBalance expected) =>
        Assert.Equal(expected, GuestNohz.For(version));

    [Fact]
    public void With_2_6_32_rules_the_designated_balancer_keeps_its_tick_and_no_busy_vcpu_kicks()
    {
        // The first VCPU to go idle (1) becomes nohz.load_balancer and keeps its tick; its idle
        // ticks spread the queued threads. The busy VCPU sends no kick of the push model.
        var kit = Tickless("2.6.32", 3);
        kit.RunUs(20_000);
        var cpus = kit.Kernel.Cpus;
        Assert.Equal(0, cpus[0].NohzKicks);
        Assert.Equal(0, cpus.Sum(c => c.NohzIdleBalances));
        Assert.Equal(3, cpus.Count(c => c.NrRunning == 1));
        Assert.True(cpus[1].TicksHandled >= 15, $"balancer ticks {cpus[1].TicksHandled}");
    }

    [Fact]
    public void With_the_4_2_push_model_the_busy_tick_kicks_an_idle_vcpu_that_balances_for_the_others()
    {
        // Hand-worked from 4.16 kernel/sched/fair.c (4.2 taken as the same). Every idle VCPU stops
        // its tick; none is a balancer. At VCPU 0's first tick (jiffy 1) nr_running 3 >= 2 and
        // nohz.next_balance (0) has passed: nohz_balancer_kick picks the first CPU of
        // nohz.idle_cpus_mask, VCPU 1, which balances for VCPUs 2 and 3 — not yet due (the domain
        // of 4 VCPUs has min_interval 4 ms) — then for itself: it takes a queued thread. VCPU 1
        // stays in the mask until its first busy tick; from then the next kick (after
        // nohz.next_balance = jiffy 4) goes to VCPU 2, which moves the last queued thread to VCPU 3.
        var kit = Tickless("4.2", 3);
        var cpus = kit.Kernel.Cpus;
        kit.RunUs(800);
        Assert.Equal([3, 0, 0, 0], Counts(kit));
        Assert.Equal(0, cpus[1].TicksHandled + cpus[2].TicksHandled + cpus[3].TicksHandled); // every idle tick stopped
        kit.RunUs(20_000);
        Assert.Equal(3, cpus.Count(c => c.NrRunning == 1));
        Assert.True(cpus[0].NohzKicks >= 2, $"kicks {cpus[0].NohzKicks}");
        Assert.Equal(1, cpus[1].Pulls);                         // the first kicked VCPU pulled for itself
        Assert.Equal(1, cpus.Sum(c => c.NohzIdleBalancePulls)); // one thread moved to another idle VCPU on its behalf
        Assert.Equal(1, cpus[2].NohzIdleBalancePulls);
        Assert.Equal(0, cpus[2].Pulls); // nor did VCPU 2 take back the thread it had queued on VCPU 3 (not overloaded)
        Assert.Equal([1, 1, 0, 1], Counts(kit));
        Assert.Equal(0, cpus[3].Pulls);
    }

    [Theory]
    [InlineData("2.6.39")]
    [InlineData("4.2")]
    [InlineData("5.10")]
    public void A_busy_vcpu_with_one_thread_kicks_nobody(string version)
    {
        // 2.6.39: the first busy CPU kicks only with more than one running; 4.x+: nr_running >= 2,
        // and with VCPUs as sockets there is no last-level-cache domain to count busy CPUs in.
        var kit = Tickless(version, 1);
        kit.RunUs(50_000);
        var cpus = kit.Kernel.Cpus;
        Assert.Equal(0, cpus.Sum(c => c.NohzKicks));
        Assert.Equal(0, cpus.Sum(c => c.NohzIdleBalances));
        Assert.True(cpus[1].TicksHandled + cpus[2].TicksHandled + cpus[3].TicksHandled <= 3, "idle VCPUs keep no tick");
    }

    [Fact]
    public void Two_busy_vcpus_of_one_socket_kick_with_one_thread_each_from_4_x()
    {
        // 4.16 nohz_kick_needed: sd_llc_shared->nr_busy_cpus > 1 kicks even with one thread each,
        // when the VCPUs are cores of one socket (an LLC domain); as sockets they do not.
        static GuestKit Two(GuestTopology topology)
        {
            var guest = GuestKernelPresets.Apply(new GuestSettings { TicklessIdle = true, Topology = topology }, "4.16");
            var kit = new GuestKit(4, 4, guest: guest);
            kit.Kernel.CreateThread("hog0", new ListProgram(GuestAction.Compute(10_000_000_000, userMode: true)), 0);
            kit.Kernel.CreateThread("hog1", new ListProgram(GuestAction.Compute(10_000_000_000, userMode: true)), 1);
            kit.Start();
            kit.RunUs(30_000);
            return kit;
        }
        Assert.True(Two(GuestTopology.Cores).Kernel.Cpus.Sum(c => c.NohzKicks) > 0);
        Assert.Equal(0, Two(GuestTopology.Sockets).Kernel.Cpus.Sum(c => c.NohzKicks));
    }

    [Fact]
    public void The_2_6_39_busy_tick_kicks_only_when_its_own_balance_is_not_due_and_the_balancer_pulls_for_itself_first()
    {
        // 2.6.39: nohz.load_balancer is the first VCPU whose tick stopped; its tick is stopped too
        // (no 2.6.32-style ticking balancer). At jiffy 1 VCPU 0's own rq->next_balance (0) is due:
        // trigger_load_balance raises its own softirq and, by its `else if`, kicks nobody. At jiffy
        // 2 the first busy pick with 3 running kicks the balancer, whose run_rebalance_domains
        // balances itself first and pulls a thread — need_resched then ends nohz_idle_balance.
        var kit = Tickless("2.6.39", 3);
        var cpus = kit.Kernel.Cpus;
        kit.RunUs(800);
        int b = kit.Kernel.NohzBalancer;
        Assert.True(b >= 1, $"balancer {b}");
        kit.RunUs(1_000); // 1.8 ms: past jiffy 1, before jiffy 2
        Assert.Equal(0, cpus[0].NohzKicks);
        Assert.Equal([3, 0, 0, 0], Counts(kit));
        Assert.Equal(0, cpus[b].TicksHandled);
        kit.RunUs(500);
        Assert.Equal(1, cpus[0].NohzKicks);
        Assert.Equal(1, cpus[b].NrRunning);
        Assert.Equal(1, cpus[b].Pulls);
        Assert.Equal(0, cpus[b].NohzIdleBalances); // aborted by need_resched
        kit.RunUs(30_000);
        Assert.Equal(3, cpus.Count(c => c.NrRunning == 1));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_guest_timer_expiry_is_a_full_idle_tick_that_runs_a_pending_2_6_39_kick(bool timers)
    {
        // 2.6.39 tick_nohz_stop_sched_tick programs a stopped tick for the next timer
        // (get_next_timer_interrupt); when it fires, tick_sched_timer → update_process_times →
        // scheduler_tick sets rq->idle_at_tick and trigger_load_balance raises SCHED_SOFTIRQ once the
        // idle CPU's own rq->next_balance has come; run_rebalance_domains(CPU_IDLE) then runs
        // nohz_idle_balance, which clears nohz_balance_kick at its end (2.6.39 kernel/sched_fair.c).
        // The flag is set by hand on the halted balancer, as a kick that found it busy would have
        // left it (docs/anomalies/amqp-2639-guests-after-nohz-push.md). One busy VCPU with one
        // thread kicks nobody, so only a tick of the balancer's own can clear it.
        var guest = GuestKernelPresets.Apply(new GuestSettings
        {
            TicklessIdle = true,
            Timers = timers ? [new GuestTimer("wake", SimDuration.FromMilliseconds(10), SimDuration.FromMicroseconds(2))] : [],
        }, "2.6.39");
        var kit = new GuestKit(4, 4, guest: guest);
        kit.Kernel.CreateThread("hog", new ListProgram(GuestAction.Compute(10_000_000_000, userMode: true)), 0);
        kit.Start();
        kit.RunUs(5_000);
        var cpus = kit.Kernel.Cpus;
        int b = kit.Kernel.NohzBalancer;
        Assert.True(b >= 1, $"balancer {b}");
        var ilb = cpus[b];
        Assert.True(ilb.IdleCpu);
        var flag = typeof(GuestCpu).GetField("_nohzBalanceKick", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!;
        flag.SetValue(ilb, true);
        long ticks = ilb.TicksHandled;
        kit.RunUs(35_000); // 40 ms: three or four expiries of a 10 ms timer
        Assert.Equal(0, cpus[0].NohzKicks);
        if (timers)
        {
            Assert.True(ilb.TimerExpiries >= 3, $"expiries {ilb.TimerExpiries}");
            Assert.True(ilb.TicksHandled - ticks >= 3, $"ticks {ilb.TicksHandled - ticks}");
            Assert.True(ilb.NohzIdleBalances >= 1, $"nohz_idle_balance runs {ilb.NohzIdleBalances}");
            Assert.False((bool)flag.GetValue(ilb)!);
        }
        else
        {
            Assert.Equal(ticks, ilb.TicksHandled); // no timer: the stopped tick never fires
            Assert.Equal(0, ilb.NohzIdleBalances);
            Assert.True((bool)flag.GetValue(ilb)!); // the stale flag lasts
        }
    }

    [Fact]
    public void The_push_model_is_deterministic()
    {
        static string Run()
        {
            var kit = Tickless("5.10", 7);
            kit.RunUs(50_000);
            return string.Join(",", kit.Kernel.Cpus.Select(c => $"{c.NrRunning}/{c.NohzKicks}/{c.NohzIdleBalances}/{c.NohzIdleBalancePulls}/{c.Pulls}"));
        }
        Assert.Equal(Run(), Run());
    }
}

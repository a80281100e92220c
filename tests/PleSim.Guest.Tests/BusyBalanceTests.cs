using PleSim.Guest;
using PleSim.Host;

namespace PleSim.Guest.Tests;

/// <summary>
/// A busy VCPU's periodic load balancing (decision 0072): scheduler_tick → rebalance_domains(CPU_NOT_IDLE)
/// → load_balance, against hand-worked cases from 2.6.39 kernel/sched_fair.c and 5.10 kernel/sched/fair.c.
/// </summary>
public class BusyBalanceTests
{
    private const long Load = Weights.Nice0Load;

    private static GuestKit CpuBound(int vcpus, int[] threadsPerVcpu, GuestSettings guest)
    {
        var kit = new GuestKit(vcpus, vcpus, guest: guest);
        for (int cpu = 0; cpu < threadsPerVcpu.Length; cpu++)
        {
            for (int i = 0; i < threadsPerVcpu[cpu]; i++)
                kit.Kernel.CreateThread($"hog{cpu}.{i}", new ListProgram(GuestAction.Compute(10_000_000_000, userMode: true)), cpu);
        }
        kit.Start();
        return kit;
    }

    private static int[] Counts(GuestKit kit) => [.. kit.Kernel.Cpus.Select(c => c.NrRunning)];

    [Fact]
    public void Five_threads_on_one_of_four_busy_vcpus_spread_two_per_vcpu_only_with_busy_balancing()
    {
        // 1/1/1/5 is the start-up placement of the stack-2014 ebizzy anomaly: no VCPU is ever idle,
        // so only a busy VCPU's balance can move a thread.
        var on = CpuBound(4, [5, 1, 1, 1], new GuestSettings());
        // 2.6.39 SD_CPU_INIT: balance_interval 1 ms × busy_factor 64 — nothing moves before 64 jiffies.
        on.RunUs(60_000);
        Assert.Equal([5, 1, 1, 1], Counts(on));
        Assert.Equal(0, on.Kernel.Cpus.Sum(c => c.BusyBalancePulls));
        on.RunUs(1_500_000);
        Assert.Equal([2, 2, 2, 2], Counts(on));
        Assert.Equal(0, on.Kernel.Cpus.Sum(c => c.Pulls)); // no idle pulls: every move was a busy balance's

        var off = CpuBound(4, [5, 1, 1, 1], new GuestSettings { BusyBalance = false });
        off.RunUs(1_560_000);
        Assert.Equal([5, 1, 1, 1], Counts(off));
        Assert.Equal(0, off.Kernel.Cpus.Sum(c => c.BusyBalances));
    }

    [Fact]
    public void A_2_6_39_balance_moves_one_of_two_threads_to_a_vcpu_running_one_at_the_first_attempt()
    {
        // VCPU 1 (one thread) balances at jiffy 64: source_load(VCPU 0) 2048, target_load 1024, average
        // 1536 — imbalanced by imbalance_pct 125; calculate_imbalance gives 512, under one thread, so
        // fix_small_imbalance makes it one thread's load and move_tasks pulls the queued one.
        var kit = CpuBound(2, [2, 1], new GuestSettings());
        kit.RunUs(70_000);
        var c1 = kit.Kernel.Cpus[1];
        Assert.Equal(1, c1.BusyBalanceImbalanced);
        Assert.Equal(1, c1.BusyBalancePulls);
        Assert.Equal(2, c1.NrRunning);
    }

    [Fact]
    public void A_5_10_balance_first_fails_the_load_check_then_moves_the_thread_once_nr_balance_failed_halves_its_load()
    {
        // 5.10 sd_init for 2 VCPUs: balance_interval 2 ms × busy_factor 16 = 32 jiffies. migrate_load's
        // imbalance is min(2048 − 1536, 1536 − 1024) = 512; detach_tasks skips a task whose load
        // (1024) >> nr_balance_failed exceeds it: the first attempt fails, the next (32 jiffies
        // later, the interval reset to min_interval) moves it.
        var kit = CpuBound(2, [2, 1], GuestKernelPresets.Apply(new GuestSettings(), "5.10"));
        var c1 = kit.Kernel.Cpus[1];
        kit.RunUs(40_000);
        Assert.Equal(1, c1.BusyBalanceImbalanced);
        Assert.Equal(0, c1.BusyBalancePulls);
        kit.RunUs(30_000);
        Assert.Equal(2, c1.BusyBalanceImbalanced);
        Assert.Equal(1, c1.BusyBalancePulls);
    }

    [Fact]
    public void A_cache_hot_thread_stays_until_the_balance_has_failed_more_than_cache_nice_tries_times()
    {
        // sched_migration_cost of 10 s makes every thread cache hot: the first two imbalanced
        // balances (nr_balance_failed 0 and 1, cache_nice_tries 1) move nothing, the third moves one.
        var kit = CpuBound(2, [2, 1], new GuestSettings { MigrationCost = Engine.SimDuration.FromSeconds(10) });
        var c1 = kit.Kernel.Cpus[1];
        kit.RunUs(70_000);
        Assert.Equal(1, c1.BusyBalanceImbalanced);
        Assert.Equal(0, c1.BusyBalancePulls);
        kit.RunUs(200_000);
        Assert.True(c1.BusyBalanceImbalanced >= 3, $"{c1.BusyBalanceImbalanced} imbalanced balances");
        Assert.Equal(1, c1.BusyBalancePulls);
    }

    [Theory]
    // 1/1/1/5 from a VCPU running one: min(min(5120 − 2048, 4 × 1024), 2048 − 1024) = 1024.
    [InlineData(5 * Load, 2 * Load, 1 * Load, 5 * Load, 5, 1 * Load, 1, 1 * Load)]
    // 2 against 1: 512 is under one task, fix_small_imbalance: 2048 − 1024 + 1024 ≥ 2 × 1024.
    [InlineData(2 * Load, 3 * Load / 2, 1 * Load, 2 * Load, 2, 1 * Load, 1, 1 * Load)]
    // 3 against 2 (average 2.5): 512 under one task, and 3072 − 2048 + 1024 ≥ 2048: one task.
    [InlineData(3 * Load, 5 * Load / 2, 2 * Load, 3 * Load, 3, 2 * Load, 2, 1 * Load)]
    // A decayed cpu_load[2] seen for the busiest (1600 of 2048): 1600 − 1024 + 1024 < 2048, and
    // moving one task gains nothing (pwr_now 2048 ≥ pwr_move 576 + 1024): no pull.
    [InlineData(1600, 1312, 1024, 2 * Load, 2, 1 * Load, 1, 0)]
    public void The_2_6_39_imbalance_of_single_vcpu_groups_matches_hand_worked_cases(
        long maxLoad, long avgLoad, long thisLoad, long busiestWeighted, long busiestNr, long thisWeighted, long thisNr, long expected) =>
        Assert.Equal(expected, GuestCpu.CalculateImbalanceLegacy(maxLoad, avgLoad, thisLoad, busiestWeighted, busiestNr, thisWeighted, thisNr));

    [Theory]
    [InlineData(null, 1, 4, 64, 125, 2, GuestLoadBalancer.Legacy, false)]
    [InlineData("2.6.39", 1, 4, 64, 125, 2, GuestLoadBalancer.Legacy, false)]
    [InlineData("3.12", 1, 4, 64, 125, 2, GuestLoadBalancer.Legacy, false)]
    [InlineData("4.2", 8, 16, 32, 125, 2, GuestLoadBalancer.Legacy, false)]
    [InlineData("4.16", 8, 16, 32, 125, 2, GuestLoadBalancer.Legacy, true)]
    [InlineData("5.3", 8, 16, 32, 125, 0, GuestLoadBalancer.Legacy, true)]
    [InlineData("5.10", 8, 16, 16, 117, 0, GuestLoadBalancer.Reworked, true)]
    [InlineData("6.1", 8, 16, 16, 117, 0, GuestLoadBalancer.Reworked, true)]
    public void The_domain_of_eight_vcpus_as_sockets_has_each_versions_parameters(
        string? version, int min, int max, int busyFactor, int pct, int busyIdx, GuestLoadBalancer balancer, bool mru)
    {
        var d = GuestSchedDomain.For(version, GuestTopology.Sockets, 8);
        Assert.Equal((min, max, busyFactor, pct, busyIdx, balancer, 1, mru), (d.MinIntervalMs, d.MaxIntervalMs, d.BusyFactor, d.ImbalancePct, d.BusyIdx, d.Balancer, d.CacheNiceTries, d.TasksListMru));
    }

    [Fact]
    public void An_mc_domain_of_a_4_x_guest_uses_the_shared_cache_imbalance_pct() =>
        Assert.Equal(117, GuestSchedDomain.For("4.16", GuestTopology.Cores, 8).ImbalancePct);
}

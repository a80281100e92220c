using PleSim.Guest;

namespace PleSim.Guest.Tests;

/// <summary>
/// An idle VCPU's periodic balance and cache-hot threads (decision 0077): load_balance(CPU_IDLE) from an
/// idle tick counts a failed attempt in sd->nr_balance_failed, and can_migrate_task lets a cache-hot
/// thread move once that count exceeds cache_nice_tries (2.6.39 kernel/sched_fair.c; 4.16
/// kernel/sched/fair.c can_migrate_task, load_balance). Hand-worked, with sched_migration_cost made so
/// long that every thread stays cache hot.
/// </summary>
public class IdleBalanceHotTests
{
    private static GuestKit HotPair(GuestSettings guest) => HotThreads(guest, vcpus: 2, threads: 2);

    /// <summary>VCPU 0 runs <paramref name="threads"/> CPU-bound threads (all but one queued); the other VCPUs have nothing and idle.</summary>
    private static GuestKit HotThreads(GuestSettings guest, int vcpus, int threads)
    {
        var kit = new GuestKit(vcpus, vcpus, guest: guest with { MigrationCost = Engine.SimDuration.FromSeconds(10) });
        for (int i = 0; i < threads; i++)
            kit.Kernel.CreateThread($"hog{i}", new ListProgram(GuestAction.Compute(10_000_000_000, userMode: true)), 0);
        kit.Start();
        return kit;
    }

    private static GuestSettings Tickless(string version) =>
        GuestKernelPresets.Apply(new GuestSettings { TicklessIdle = true }, version);

    [Fact]
    public void A_2_6_39_idle_vcpu_takes_a_cache_hot_thread_after_two_failed_idle_tick_balances()
    {
        // 2.6.39 SD_CPU_INIT: balance_interval 1 ms, so every idle tick's balance is due. Ticks at
        // 1 and 2 ms fail (nr_balance_failed 1, then 2 > cache_nice_tries 1); the tick at 3 ms pulls.
        var kit = HotPair(new GuestSettings());
        var c1 = kit.Kernel.Cpus[1];
        kit.RunUs(2_500);
        Assert.Equal(0, c1.Pulls);
        Assert.Equal(2, c1.IdleBalanceFailures);
        Assert.Null(c1.Curr);
        kit.RunUs(2_000);
        Assert.Equal(1, c1.Pulls);
        Assert.Equal(1, c1.IdleHotPulls);
        Assert.Equal(2, c1.IdleBalanceFailures);
        Assert.Equal([1, 1], kit.Kernel.Cpus.Select(c => c.NrRunning).ToArray());
    }

    [Fact]
    public void A_4_16_idle_vcpu_counts_failures_only_at_the_domains_idle_interval()
    {
        // 4.16 sd_init for 2 VCPUs: min_interval 2 ms — the idle tick balances (and may fail) every
        // other jiffy; the pull comes after the second due failure, at the next idle tick.
        var kit = HotPair(GuestKernelPresets.Apply(new GuestSettings(), "4.16"));
        var c1 = kit.Kernel.Cpus[1];
        kit.RunUs(2_500);
        Assert.Equal(1, c1.IdleBalanceFailures);
        Assert.Equal(0, c1.Pulls);
        kit.RunUs(5_000);
        Assert.Equal(2, c1.IdleBalanceFailures);
        Assert.Equal(1, c1.IdleHotPulls);
        Assert.NotNull(c1.Curr);
    }

    [Fact]
    public void Without_the_domain_state_an_idle_vcpu_never_takes_a_cache_hot_thread()
    {
        // guest.busy_balance: false (no sched_domain state): the idle pull skips hot threads for ever.
        var kit = HotPair(new GuestSettings { BusyBalance = false });
        kit.RunUs(50_000);
        Assert.Equal(0, kit.Kernel.Cpus[1].Pulls);
        Assert.Equal(0, kit.Kernel.Cpus[1].IdleBalanceFailures);
        Assert.Null(kit.Kernel.Cpus[1].Curr);
    }

    [Theory]
    [InlineData("2.6.39")]
    [InlineData("4.16")]
    public void A_tickless_kicked_vcpus_own_periodic_balance_counts_failures_and_takes_a_hot_thread(string version)
    {
        // VCPU 1's tick is stopped; VCPU 0's busy tick kicks it, and nohz_idle_balance ends with its
        // own rebalance_domains(CPU_IDLE): when due, a load_balance whose failures count, so the
        // third due attempt may take a cache-hot thread.
        var kit = HotPair(Tickless(version));
        var c1 = kit.Kernel.Cpus[1];
        kit.RunUs(50_000);
        Assert.True(c1.NohzIdleBalances >= 2, $"balances {c1.NohzIdleBalances}");
        Assert.True(c1.IdleBalanceFailures >= 2, $"failures {c1.IdleBalanceFailures}");
        Assert.Equal(1, c1.IdleHotPulls);
        Assert.Equal([1, 1], kit.Kernel.Cpus.Select(c => c.NrRunning).ToArray());
    }

    [Fact]
    public void The_nohz_balancer_counts_each_idle_vcpus_failures_in_that_vcpus_domain()
    {
        // Four VCPUs, four hot threads on VCPU 0: the kicked balancer runs load_balance(CPU_IDLE) on
        // behalf of the other tickless VCPUs too; each failure is counted in the balanced VCPU's own
        // sched_domain, so hot threads reach every VCPU.
        var kit = HotThreads(Tickless("4.16"), vcpus: 4, threads: 4);
        kit.RunUs(200_000);
        var cpus = kit.Kernel.Cpus;
        Assert.Equal([1, 1, 1, 1], cpus.Select(c => c.NrRunning).ToArray());
        Assert.Equal(3, cpus.Sum(c => c.IdleHotPulls));
        Assert.True(cpus.Sum(c => c.NohzIdleBalancePulls) >= 1, "no pull on another VCPU's behalf");
    }
}

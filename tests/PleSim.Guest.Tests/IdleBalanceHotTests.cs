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
    private static GuestKit HotPair(GuestSettings guest)
    {
        // VCPU 0 runs two CPU-bound threads (one queued); VCPU 1 has nothing and idles.
        var kit = new GuestKit(2, 2, guest: guest with { MigrationCost = Engine.SimDuration.FromSeconds(10) });
        kit.Kernel.CreateThread("hog0", new ListProgram(GuestAction.Compute(10_000_000_000, userMode: true)), 0);
        kit.Kernel.CreateThread("hog1", new ListProgram(GuestAction.Compute(10_000_000_000, userMode: true)), 0);
        kit.Start();
        return kit;
    }

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
}

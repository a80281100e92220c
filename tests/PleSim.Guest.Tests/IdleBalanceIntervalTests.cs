using PleSim.Engine;

namespace PleSim.Guest.Tests;

/// <summary>
/// A ticking idle VCPU balances at its domain's interval, not at every tick (decision 0085):
/// <c>trigger_load_balance</c> raises SCHED_SOFTIRQ only once rq->next_balance has come, and
/// <c>rebalance_domains(CPU_IDLE)</c> runs <c>load_balance</c> only when sd->last_balance +
/// sd->balance_interval has come; a balanced pass doubles the interval up to max_interval, a pass that
/// found an overloaded VCPU resets it to min_interval (2.6.32 kernel/sched.c; 2.6.39
/// kernel/sched_fair.c; 4.16, 5.10 kernel/sched/fair.c). The new-idle balance differs by version:
/// 2.6.32's <c>load_balance_newidle</c> leaves the interval alone, 2.6.39–4.16 retune it, 5.3 on only
/// reset it; 2.6.32 and 2.6.39 keep a busy rq->next_balance when going idle, 4.16 on lower it.
/// Hand-worked with two VCPUs on two host CPUs (no host contention), HZ 1000.
/// </summary>
public class IdleBalanceIntervalTests
{
    private static GuestSettings Preset(string version, SimDuration migrationCost) =>
        GuestKernelPresets.Apply(new GuestSettings(), version) with { MigrationCost = migrationCost };

    [Theory]
    // 2.6.32 (SD_CPU_INIT: balance_interval 1, max_interval 4): going idle at 0.5 ms leaves the interval
    // at 1 (load_balance_newidle); balanced passes at 1 ms (→ 2), 3 ms (→ 4), then every 4 ms: 7, 11,
    // 15, 19, 23. The thread queued at 21.3 ms is pulled at 23 ms.
    [InlineData("2.6.32", 23)]
    // 4.16, two VCPUs (sd_init: min_interval = balance_interval 2, max_interval 4): the new-idle
    // pass at 0.5 ms is balanced and doubles the interval to 4; balances at 4, 8, ..., 20, 24.
    [InlineData("4.16", 24)]
    // 5.10: the balanced new-idle pass leaves the interval at 2; balances at 2 (→ 4), 6, 10, 14, 18, 22.
    [InlineData("5.10", 22)]
    public void A_balanced_idle_vcpu_pulls_at_its_domains_next_balance_not_at_the_next_tick(string version, int pullMs)
    {
        // "w" runs first on VCPU 0 and waits; "s" computes there and at 21.3 ms wakes "w" (its previous
        // CPU; no LLC sibling to move to). Nothing is cache hot (migration_cost 0). VCPU 1 runs "z"
        // for 0.5 ms (so its new-idle pass finds nothing to take) and idles from then on; its first
        // tick is at 1 ms, so rq->next_balance is still 0.
        var kit = new GuestKit(2, 2, guest: Preset(version, SimDuration.Zero));
        var q = kit.Kernel.NewWaitQueue("q");
        kit.Kernel.CreateThread("w", new ListProgram(GuestAction.Wait(q), GuestAction.Compute(100_000_000)), 0);
        kit.Kernel.CreateThread("s", new ListProgram(GuestAction.Compute(21_300_000), GuestAction.Signal(q), GuestAction.Compute(100_000_000)), 0);
        kit.Kernel.CreateThread("z", new ListProgram(GuestAction.Compute(500_000)), 1);
        kit.Start();
        var c1 = kit.Kernel.Cpus[1];
        kit.RunUs(pullMs * 1000 - 500);
        Assert.Equal(2, kit.Kernel.Cpus[0].NrRunning);
        Assert.Equal(0, c1.Pulls);
        Assert.Null(c1.Curr);
        kit.RunUs(1000);
        Assert.Equal(1, c1.Pulls);
        Assert.Equal([1, 1], kit.Kernel.Cpus.Select(c => c.NrRunning).ToArray());
    }

    [Theory]
    // 2.6.32: VCPU 1's busy tick at 1 ms sets rq->next_balance = 0 + 64 (balance_interval 1 × busy_factor
    // 64). Going idle at 10 ms, idle_balance pulls nothing (both queued threads cache hot) and leaves
    // next_balance at 64, which has not passed: no periodic balance until 64 ms. Failures at 64 and
    // 65 ms (nr_balance_failed 2 > cache_nice_tries 1), the hot pull at 66 ms.
    [InlineData("2.6.32", 66)]
    // 2.6.39: the new-idle pass found the overloaded VCPU and resets the interval (already 1); next_balance
    // is kept as in 2.6.32.
    [InlineData("2.6.39", 66)]
    // 4.16: the busy next_balance is 0 + 64 (2 × 32); idle_balance resets the interval to 2 and lowers
    // next_balance to last_balance + 2 = 2. Failures at 11 and 13 ms, the hot pull at 15 ms (not at
    // the non-due tick of 14 ms).
    [InlineData("4.16", 15)]
    // 5.10: as 4.16 (busy_factor 16: the busy next_balance is 32).
    [InlineData("5.10", 15)]
    public void Going_idle_keeps_or_lowers_the_busy_next_balance_as_the_version_does(string version, int pullMs)
    {
        // Two CPU-bound threads on VCPU 0, hot for ever (migration_cost 10 s); "b" computes 10 ms on
        // VCPU 1 and exits.
        var kit = new GuestKit(2, 2, guest: Preset(version, SimDuration.FromSeconds(10)));
        kit.Kernel.CreateThread("hog0", new ListProgram(GuestAction.Compute(10_000_000_000, userMode: true)), 0);
        kit.Kernel.CreateThread("hog1", new ListProgram(GuestAction.Compute(10_000_000_000, userMode: true)), 0);
        kit.Kernel.CreateThread("b", new ListProgram(GuestAction.Compute(10_000_000)), 1);
        kit.Start();
        var c1 = kit.Kernel.Cpus[1];
        kit.RunUs(pullMs * 1000 - 500);
        Assert.Equal(0, c1.Pulls);
        Assert.Equal(2, c1.IdleBalanceFailures);
        Assert.Null(c1.Curr);
        kit.RunUs(1000);
        Assert.Equal(1, c1.Pulls);
        Assert.Equal(1, c1.IdleHotPulls);
        Assert.Equal(2, c1.IdleBalanceFailures);
        Assert.Equal([1, 1], kit.Kernel.Cpus.Select(c => c.NrRunning).ToArray());
    }

    [Fact]
    public void The_2_6_32_nohz_balancers_walk_runs_each_due_idle_vcpus_periodic_balance()
    {
        // A tickless 2.6.32 guest of three VCPUs; three CPU-bound threads on VCPU 0, hot for ever. VCPUs 1
        // and 2 go idle at once; one of them becomes the idle load balancer and keeps its tick, the
        // other's tick stops. At each due tick the balancer's run_rebalance_domains balances itself and
        // then, for the other, rebalance_domains(CPU_IDLE): the load_balance of that VCPU, whose failure
        // is counted in that VCPU's own domain. Both fail at 1 and 2 ms and take a hot thread at 3 ms
        // (nr_balance_failed 2 > cache_nice_tries 1): the balancer itself, the other kicked to pull.
        var guest = GuestKernelPresets.Apply(new GuestSettings { TicklessIdle = true }, "2.6.32") with { MigrationCost = SimDuration.FromSeconds(10) };
        var kit = new GuestKit(3, 3, guest: guest);
        for (int i = 0; i < 3; i++)
            kit.Kernel.CreateThread($"hog{i}", new ListProgram(GuestAction.Compute(10_000_000_000, userMode: true)), 0);
        kit.Start();
        var cpus = kit.Kernel.Cpus;
        kit.RunUs(2_500);
        Assert.Equal([2, 2], new[] { cpus[1].IdleBalanceFailures, cpus[2].IdleBalanceFailures });
        Assert.Equal(0, cpus[1].Pulls + cpus[2].Pulls);
        kit.RunUs(1_000);
        Assert.Equal([1, 1, 1], cpus.Select(c => c.NrRunning).ToArray());
        Assert.Equal(2, cpus[1].IdleHotPulls + cpus[2].IdleHotPulls);
    }

    [Fact]
    public void Without_the_domain_state_every_idle_tick_still_pulls()
    {
        // guest.busy_balance: false keeps the model without sched_domain state: the idle tick after
        // the wake-up (22 ms) pulls.
        var kit = new GuestKit(2, 2, guest: new GuestSettings { BusyBalance = false, MigrationCost = SimDuration.Zero });
        var q = kit.Kernel.NewWaitQueue("q");
        kit.Kernel.CreateThread("w", new ListProgram(GuestAction.Wait(q), GuestAction.Compute(100_000_000)), 0);
        kit.Kernel.CreateThread("s", new ListProgram(GuestAction.Compute(21_300_000), GuestAction.Signal(q), GuestAction.Compute(100_000_000)), 0);
        kit.Kernel.CreateThread("z", new ListProgram(GuestAction.Compute(500_000)), 1);
        kit.Start();
        kit.RunUs(21_500);
        Assert.Equal(0, kit.Kernel.Cpus[1].Pulls);
        kit.RunUs(1000);
        Assert.Equal(1, kit.Kernel.Cpus[1].Pulls);
    }
}

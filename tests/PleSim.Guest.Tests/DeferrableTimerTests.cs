using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Guest.Tests;

/// <summary>
/// Deferrable guest timers (decision 0078): a tickless idle CPU programs its stopped tick for the
/// next timer that is not deferrable (2.6.39 kernel/timer.c __next_timer_interrupt skips
/// TIMER_DEFERRABLE timers; mm/vmstat.c arms vmstat_update with INIT_DELAYED_WORK_DEFERRABLE), so a
/// deferrable timer never wakes an idle VCPU and runs at the first tick after something else woke it.
/// </summary>
public class DeferrableTimerTests
{
    private static GuestKit IdleGuest(params GuestTimer[] timers)
    {
        var kit = new GuestKit(2, 2, guest: new GuestSettings { TicklessIdle = true, Timers = timers });
        kit.Start();
        return kit;
    }

    private static readonly SimDuration Cost = SimDuration.FromMicroseconds(2);

    [Fact]
    public void A_deferrable_timer_alone_never_wakes_a_tickless_idle_vcpu()
    {
        var kit = IdleGuest(new GuestTimer("vmstat_update", SimDuration.FromMilliseconds(10), Cost, Deferrable: true));
        kit.RunUs(20_000);
        long ticks = kit.Kernel.Cpus.Sum(c => c.TicksHandled);
        kit.RunUs(100_000);
        Assert.All(kit.Kernel.Cpus, c => Assert.Equal(0, c.TimerExpiries));
        Assert.Equal(ticks, kit.Kernel.Cpus.Sum(c => c.TicksHandled));
        Assert.All(kit.Kernel.Cpus, c => Assert.Null(c.Curr));
    }

    [Fact]
    public void The_same_timer_not_deferrable_wakes_the_vcpu_at_every_expiry()
    {
        var kit = IdleGuest(new GuestTimer("watchdog", SimDuration.FromMilliseconds(10), Cost));
        kit.RunUs(20_000);
        long before = kit.Kernel.Cpus[0].TimerExpiries;
        kit.RunUs(100_000);
        Assert.InRange(kit.Kernel.Cpus[0].TimerExpiries - before, 9, 11);
    }

    [Fact]
    public void A_deferrable_timer_runs_when_another_timer_wakes_the_vcpu()
    {
        // A 50 ms wake-up source and a 10 ms deferrable timer: the deferrable one runs only at the
        // wake-ups, once each (it is re-armed a period after the late run), so both count alike.
        var kit = IdleGuest(
            new GuestTimer("vmstat_update", SimDuration.FromMilliseconds(10), Cost, Deferrable: true),
            new GuestTimer("wake", SimDuration.FromMilliseconds(50), Cost));
        kit.RunUs(30_000);
        long before = kit.Kernel.Cpus[0].TimerExpiries;
        kit.RunUs(200_000);
        long expiries = kit.Kernel.Cpus[0].TimerExpiries - before;
        Assert.InRange(expiries, 7, 9); // 4 wakes in 200 ms, each running both timers (not 4 + 20)
        Assert.Equal(0, expiries % 2);
    }
}

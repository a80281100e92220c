using PleSim.Guest;

namespace PleSim.Guest.Tests;

/// <summary>
/// The idle loop never halts with need_resched set (do_idle's <c>while (!need_resched())</c>, 6.1
/// kernel/sched/idle.c; cpu_idle in 2.6.39 arch/x86/kernel/process_64.c): a flag left set on a halted
/// CPU makes resched_curr skip the IPI of the next wake-up there, which a tickless idle CPU then never sees.
/// </summary>
public class StaleNeedReschedTests
{
    /// <summary>
    /// Four VCPUs on four CPUs, tickless idle. <c>w</c> sleeps on VCPU 1 (which halts); at 1 ms the
    /// waker on VCPU 0 wakes it: it is queued on the idle VCPU 1, which gets need_resched and a
    /// reschedule IPI. <c>y</c> on VCPU 2 ends just then, so VCPU 2's new-idle pull takes <c>w</c>
    /// before VCPU 1 has scheduled: VCPU 1 wakes to an empty queue with the flag still set. At 3 ms the
    /// waker wakes <c>z</c>, pinned to VCPU 1 (VCPU 3 is the NOHZ balancer, so VCPU 1 has no tick).
    /// </summary>
    private static (GuestKit Kit, GuestThread W) PulledAwayCase(long yRunsNs)
    {
        var kit = new GuestKit(4, 4, guest: new GuestSettings { TicklessIdle = true });
        var q = kit.Kernel.NewWaitQueue("q");
        var q2 = kit.Kernel.NewWaitQueue("q2");
        var w = kit.Kernel.CreateThread("w", new ListProgram(GuestAction.Wait(q), kit.Mark(1), GuestAction.Compute(100_000)), 1);
        kit.Kernel.CreateThread("z", new ListProgram(GuestAction.Wait(q2), kit.Mark(2)), 1, pinned: true);
        kit.Kernel.CreateThread("waker", new ListProgram(
            GuestAction.Compute(1_000_000), GuestAction.Signal(q),
            GuestAction.Compute(2_000_000), GuestAction.Signal(q2), GuestAction.Compute(10_000_000)), 0, pinned: true);
        kit.Kernel.CreateThread("y", new ListProgram(GuestAction.Compute(yRunsNs)), 2, pinned: true);
        kit.Start();
        kit.RunUs(6_000);
        return (kit, w);
    }

    [Theory]
    [InlineData(999_000)]
    [InlineData(1_002_000)]
    [InlineData(1_005_000)]
    public void A_wakeup_after_the_woken_thread_was_pulled_away_from_an_idle_vcpu_still_reaches_it(long yRunsNs)
    {
        var (kit, w) = PulledAwayCase(yRunsNs);
        // The race happened: w was queued on VCPU 1 and pulled to VCPU 2 before VCPU 1 scheduled.
        Assert.Equal(1, kit.Kernel.Cpus[2].Pulls);
        Assert.Equal(2, w.Cpu);
        Assert.Contains(kit.Marker.Hits, h => h.Code == 1);
        Assert.Equal(3, kit.Kernel.NohzBalancer);
        // VCPU 1 went through schedule_idle (flag cleared) before halting, so z's wake-up sent the
        // IPI and z ran at once, not at some later tick (VCPU 1 has none).
        var z = Assert.Single(kit.Marker.Hits, h => h.Code == 2);
        Assert.InRange(z.At, 3_000_000, 3_300_000);
        Assert.False(kit.Kernel.Cpus[1].NeedResched);
    }
}

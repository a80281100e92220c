using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>The run-queue lock bookings of yield_to callers (<see cref="HostScheduler.DoubleRqLock"/>).</summary>
public class RqLockTests
{
    private const long A = 100, H = 200; // acquire per lock, hold

    [Fact]
    public void A_free_pair_of_locks_costs_two_acquisitions_and_the_hold()
    {
        var kit = new HostKit(4);
        Assert.Equal(1000 + 2 * A + H, kit.Host.DoubleRqLock(0, 1, 1000, A, H));
        // The same CPU's queue is one lock.
        Assert.Equal(5000 + A + H, kit.Host.DoubleRqLock(2, 2, 5000, A, H));
    }

    [Fact]
    public void A_caller_sharing_a_lock_waits_until_the_holder_releases_it_and_disjoint_pairs_do_not_wait()
    {
        var kit = new HostKit(4);
        long first = kit.Host.DoubleRqLock(0, 1, 1000, A, H);
        // cpu 2 -> cpu 1 at the same time: cpu 1's lock is held until `first`.
        Assert.Equal(first + 2 * A + H, kit.Host.DoubleRqLock(2, 1, 1000, A, H));
        // cpu 3 -> cpu 3 needs neither: no wait.
        Assert.Equal(1000 + A + H, kit.Host.DoubleRqLock(3, 3, 1000, A, H));
    }

    [Fact]
    public void A_gap_between_bookings_is_used_when_the_section_fits_in_it()
    {
        var kit = new HostKit(4);
        long len = 2 * A + H;
        kit.Host.DoubleRqLock(0, 1, 1000, A, H);            // [1000, 1000+len)
        kit.Host.DoubleRqLock(0, 1, 1000 + 3 * len, A, H);  // [1000+3len, 1000+4len)
        // A caller from cpu 2 -> cpu 1 arriving at 1000 fits between them.
        Assert.Equal(1000 + 2 * len, kit.Host.DoubleRqLock(2, 1, 1000, A, H));
        // The next one takes the rest of the gap exactly; the one after must go behind the second booking.
        Assert.Equal(1000 + 3 * len, kit.Host.DoubleRqLock(3, 1, 1000, A, H));
        Assert.Equal(1000 + 5 * len, kit.Host.DoubleRqLock(2, 1, 1000, A, H));
        // cpu 0's own gap is still free: a caller on cpu 0 -> cpu 3 at 1000+len fits there.
        Assert.Equal(1000 + 2 * len, kit.Host.DoubleRqLock(0, 3, 1000 + len, A, H));
    }

    [Fact]
    public void Bookings_that_ended_are_forgotten()
    {
        var kit = new HostKit(2);
        kit.Host.DoubleRqLock(0, 1, 0, A, H);
        Assert.Equal(1, kit.Host.Rqs[0].Lock.Count);
        kit.RunFor(SimDuration.FromMicroseconds(10));
        long t = kit.Sim.Now.Ns;
        Assert.Equal(t + 2 * A + H, kit.Host.DoubleRqLock(0, 1, t, A, H));
        Assert.Equal(1, kit.Host.Rqs[0].Lock.Count);
    }
}

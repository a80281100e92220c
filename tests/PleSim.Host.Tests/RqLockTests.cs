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

    [Fact]
    public void Back_to_back_bookings_merge_into_one_interval_and_callers_still_queue_behind_all_of_them()
    {
        var kit = new HostKit(4);
        long len = 2 * A + H;
        // Three callers on the same pair at once: each goes behind the previous one.
        long t1 = kit.Host.DoubleRqLock(0, 1, 1000, A, H);
        long t2 = kit.Host.DoubleRqLock(0, 1, 1000, A, H);
        long t3 = kit.Host.DoubleRqLock(0, 1, 1000, A, H);
        Assert.Equal(new[] { 1000 + len, 1000 + 2 * len, 1000 + 3 * len }, new[] { t1, t2, t3 });
        Assert.Equal(1, kit.Host.Rqs[0].Lock.Count);
        Assert.Equal(1000 + 3 * len, kit.Host.Rqs[0].Lock.LastEnd);
        // A booking that exactly fills a gap joins its two neighbours.
        var kit2 = new HostKit(4);
        kit2.Host.DoubleRqLock(0, 1, 1000, A, H);           // [1000, 1000+len)
        kit2.Host.DoubleRqLock(0, 1, 1000 + 2 * len, A, H); // [1000+2len, 1000+3len)
        Assert.Equal(2, kit2.Host.Rqs[0].Lock.Count);
        Assert.Equal(1000 + 2 * len, kit2.Host.DoubleRqLock(0, 1, 1000, A, H));
        Assert.Equal(1, kit2.Host.Rqs[0].Lock.Count);
        Assert.Equal(1000 + 4 * len, kit2.Host.DoubleRqLock(2, 1, 1000, A, H));
    }

    [Fact]
    public void Bookings_merge_across_gaps_no_section_fits_in_and_every_outcome_is_as_without_merging()
    {
        long len = 2 * A + H, sameCpu = A + H;
        // The same requests on a host that merges (floor = the shortest section) and one that does not.
        var merged = new HostKit(4);
        merged.Host.RqLockSectionFloorNs = sameCpu;
        var plain = new HostKit(4);
        var starts = new long[] { 1000, 1000 + len + 50, 1000 + 2 * len + 100, 1000, 1000 + 10 * len, 1000 + 9 * len - 20, 1000 };
        var pairs = new (int, int)[] { (0, 1), (0, 1), (0, 2), (3, 1), (0, 0), (2, 1), (1, 1) };
        for (int k = 0; k < starts.Length; k++)
            Assert.Equal(plain.Host.DoubleRqLock(pairs[k].Item1, pairs[k].Item2, starts[k], A, H),
                merged.Host.DoubleRqLock(pairs[k].Item1, pairs[k].Item2, starts[k], A, H));
        // cpu 0's first three bookings are 50 and 50 ns apart (less than any section): one interval.
        Assert.True(merged.Host.Rqs[0].Lock.Count < plain.Host.Rqs[0].Lock.Count);
        // A section shorter than the declared floor is a programming error.
        Assert.Throws<InvalidOperationException>(() => merged.Host.DoubleRqLock(0, 0, 1000, A / 2, H / 2));
    }

    [Fact]
    public void Merged_and_unmerged_bookings_give_the_same_release_times_on_random_requests()
    {
        var merged = new HostKit(8);
        merged.Host.RqLockSectionFloorNs = A + H;
        var plain = new HostKit(8);
        var rng = new Random(12345);
        for (int k = 0; k < 3000; k++)
        {
            if (k % 100 == 99)
            {
                merged.RunFor(SimDuration.FromMicroseconds(5));
                plain.RunFor(SimDuration.FromMicroseconds(5));
            }
            int cpu = rng.Next(8), pCpu = rng.Next(8);
            long start = merged.Sim.Now.Ns + rng.Next(0, 20_000);
            Assert.Equal(plain.Host.DoubleRqLock(cpu, pCpu, start, A, H), merged.Host.DoubleRqLock(cpu, pCpu, start, A, H));
        }
    }

    [Fact]
    public void A_full_array_is_compacted_once_older_bookings_end()
    {
        var kit = new HostKit(2);
        long len = A + H, step = 1000;
        for (int k = 0; k < RqLock.Capacity; k++)
            Assert.Equal(k * step + len, kit.Host.DoubleRqLock(0, 0, k * step, A, H));
        Assert.Equal(RqLock.Capacity, kit.Host.Rqs[0].Lock.Count);
        // Half of them end; the next bookings go behind the array's end and force a compaction.
        kit.RunFor(SimDuration.FromNanoseconds(RqLock.Capacity / 2 * step));
        long now = kit.Sim.Now.Ns;
        for (int k = 0; k < 100; k++)
        {
            long start = (RqLock.Capacity + k) * step;
            Assert.Equal(start + len, kit.Host.DoubleRqLock(0, 0, start, A, H));
        }
        Assert.True(now > 0);
        Assert.Equal(RqLock.Capacity / 2 + 100, kit.Host.Rqs[0].Lock.Count);
        // A booking that fits between old ones still lands in its gap after the move.
        long mid = (RqLock.Capacity - 10) * step + len + 100;
        Assert.Equal(mid + len, kit.Host.DoubleRqLock(0, 0, mid, A, H));
    }
}

using PleSim.Guest;

namespace PleSim.Guest.Tests;

public class SpinlockTests
{
    /// <summary>Four threads, one per VCPU, ask for <paramref name="lk"/> 20 us apart, mark when they get it and hold it 100 us.</summary>
    private static void FourContenders(GuestKit kit, GuestSpinLock lk)
    {
        for (int i = 0; i < 4; i++)
        {
            kit.Kernel.CreateThread($"t{i}", new ListProgram(
                GuestAction.Compute(1 + (i * 20_000)),
                GuestAction.Acquire(lk),
                kit.Mark(i),
                GuestAction.Compute(100_000),
                GuestAction.Release(lk)), i, pinned: true);
        }
    }

    [Theory]
    [InlineData(SpinlockKind.Ticket)]
    [InlineData(SpinlockKind.TestAndSet)]
    public void A_spinner_waits_on_the_holder_and_with_a_ticket_lock_on_the_waiters_ahead(SpinlockKind kind)
    {
        var kit = new GuestKit(4, 4, handler: "none", guest: new GuestSettings { Spinlock = kind });
        var lk = kit.Kernel.NewLock("L");
        FourContenders(kit, lk);
        kit.Start();
        kit.RunUs(50); // t0 holds; t1 (asked at 20 us) and t2 (40 us) spin; t3 asks at 60 us
        var v = kit.Vm.Vcpus;
        Assert.True(v[1].SpinWaitsOn(v[0]));
        Assert.True(v[2].SpinWaitsOn(v[0]));
        Assert.Equal(kind == SpinlockKind.Ticket, v[2].SpinWaitsOn(v[1])); // ahead in line
        Assert.False(v[1].SpinWaitsOn(v[2]));                               // behind
        Assert.False(v[3].SpinWaitsOn(v[0]));                               // not spinning
        Assert.False(v[0].SpinWaitsOn(v[1]));                               // the holder waits on nobody
    }

    [Fact]
    public void A_ticket_lock_is_granted_in_ticket_order()
    {
        // Four VCPUs on four CPUs; threads ask for the lock 1 us apart while the first holds it.
        var kit = new GuestKit(4, 4);
        var lk = kit.Kernel.NewLock("L");
        FourContenders(kit, lk);
        kit.Start();
        kit.RunUs(1_000);
        Assert.Equal([0, 1, 2, 3], kit.Marker.Hits.Select(h => h.Code));
        Assert.Equal(4, lk.Acquisitions);
        Assert.Equal(3, lk.Contended);
        Assert.True(lk.SpinNs > 0);
    }

    [Fact]
    public void A_ticket_waiter_whose_vcpu_is_preempted_holds_up_the_waiters_behind_it()
    {
        // Three VCPUs on two CPUs, PLE off. "next" takes its ticket before "last"; when the
        // holder releases, the lock is reserved for "next" even while its VCPU is preempted.
        var kit = new GuestKit(2, 3, handler: "none");
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(3_000_000), GuestAction.Release(lk)), 0, pinned: true);
        for (int i = 1; i <= 2; i++)
        {
            kit.Kernel.CreateThread($"w{i}", new ListProgram(
                GuestAction.Compute(i * 100_000), kit.Mark(10 + i), GuestAction.Acquire(lk), kit.Mark(i), GuestAction.Compute(5_000), GuestAction.Release(lk)), i, pinned: true);
        }
        kit.Start();
        kit.RunUs(200_000);
        var asked = kit.Marker.Hits.Where(h => h.Code >= 10).OrderBy(h => h.At).Select(h => h.Code - 10).ToList();
        var got = kit.Marker.Hits.Where(h => h.Code < 10).OrderBy(h => h.At).Select(h => h.Code).ToList();
        Assert.Equal(2, got.Count);
        Assert.Equal(asked, got); // FIFO: the first to take a ticket gets the lock first
        Assert.Equal(3, lk.Acquisitions);
    }

    [Fact]
    public void A_test_and_set_lock_goes_to_whoever_sees_it_free_first()
    {
        var kit = new GuestKit(4, 4, guest: new GuestSettings { Spinlock = SpinlockKind.TestAndSet });
        var lk = kit.Kernel.NewLock("L");
        Assert.Equal(SpinlockKind.TestAndSet, lk.Kind);
        FourContenders(kit, lk);
        kit.Start();
        kit.RunUs(500);
        Assert.Equal(4, kit.Marker.Hits.Count);
        Assert.Equal(0, kit.Marker.Hits[0].Code);
        Assert.Equal(4, lk.Acquisitions);
    }

    [Fact]
    public void A_spinning_waiter_acquires_a_cache_line_transfer_after_the_release()
    {
        // PLE off: the waiter is in its guest spin loop when the lock is released (with PLE the
        // release may fall into one of its PAUSE exits, and it takes the lock after re-entry).
        var kit = new GuestKit(2, 2, "none");
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("a", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(50_000), kit.Mark(0), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("b", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.RunUs(200);
        var h = kit.Marker.Hits;
        long released = h.First(x => x.Code == 0).At + kit.Kernel.Settings.Costs.LockRelease.Ns;
        long acquired = h.First(x => x.Code == 1).At;
        Assert.InRange(acquired - released, kit.Kernel.Settings.Costs.LockHandover.Ns - 30, kit.Kernel.Settings.Costs.LockHandover.Ns + 100);
    }
}

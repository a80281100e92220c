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

    [Fact]
    public void A_hand_off_to_a_waiter_whose_vcpu_is_off_its_cpu_is_counted_and_the_lock_stalls_until_it_runs()
    {
        // One CPU, two VCPUs, PLE off: only one VCPU runs at a time, so when the holder releases,
        // the waiter (which took its ticket in an earlier slice) is preempted. The lock stands
        // free, reserved for it, until the host runs its VCPU again.
        var kit = new GuestKit(1, 2, handler: "none");
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(
            GuestAction.Acquire(lk), GuestAction.Compute(10_000_000), kit.Mark(0), GuestAction.Release(lk), GuestAction.Compute(20_000_000)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(
            GuestAction.Compute(4_000_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.RunUs(60_000);
        long released = kit.Marker.Hits.Single(h => h.Code == 0).At;
        long acquired = kit.Marker.Hits.Single(h => h.Code == 1).At;
        Assert.True(acquired - released > 100_000, $"the waiter got the lock {acquired - released} ns after the release: it should wait for a host slice");
        Assert.Equal(1, lk.HandoffsToDescheduledWaiter);
        long stall = lk.StalledOnDescheduledWaiterNs;
        Assert.InRange(stall, acquired - released - 50_000, acquired - released);
    }

    [Fact]
    public void A_waiter_in_its_own_pause_exit_is_not_counted_as_a_descheduled_waiter()
    {
        // Two VCPUs on two CPUs with the directed yield: nothing is ever preempted, but the waiter
        // spends much of its wait in PAUSE exits (host mode, on its CPU), so many releases find
        // it out of guest mode. It re-enters and takes the lock within the exit: no stall.
        var kit = new GuestKit(2, 2);
        var lk = kit.Kernel.NewLock("L");
        for (int t = 0; t < 2; t++)
        {
            var actions = new List<GuestAction>();
            for (int k = 0; k < 200; k++)
            {
                actions.Add(GuestAction.Acquire(lk));
                actions.Add(GuestAction.Compute(20_000 + (t * 3_000) + (k % 7 * 1_000)));
                actions.Add(GuestAction.Release(lk));
                actions.Add(GuestAction.Compute(1_000));
            }
            kit.Kernel.CreateThread($"t{t}", new ListProgram([.. actions]), t, pinned: true);
        }
        kit.Start();
        kit.RunUs(20_000);
        Assert.True(lk.Contended > 100, $"only {lk.Contended} contended acquisitions");
        Assert.True(kit.Vm.Vcpus.Sum(v => v.Stats.PauseExits) > 1000, "the waiters should PAUSE-exit while they wait");
        Assert.Equal(0, lk.HandoffsToDescheduledWaiter);
        Assert.Equal(0, lk.StalledOnDescheduledWaiterNs);
    }

    [Fact]
    public void The_waiters_behind_a_descheduled_next_waiter_spin_through_the_stall()
    {
        // Two CPUs, PLE off. The holder (vcpu0) and the next waiter (vcpu1) share CPU 0; the last
        // waiter (vcpu2) has CPU 1 to itself. When the holder releases, vcpu1 is preempted, so
        // vcpu2 spins on CPU 1 for the whole stall, though the lock is free. The computes are
        // longer than a host slice (6 ms here), so the order of the tickets does not depend on
        // which VCPU of CPU 0 runs first.
        var kit = new GuestKit(2, 3, handler: "none");
        var v = kit.Vm.Vcpus;
        kit.Host.SetAffinity(v[0].Task, 0b01, 0);
        kit.Host.SetAffinity(v[1].Task, 0b01, 0);
        kit.Host.SetAffinity(v[2].Task, 0b10, 0);
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(
            GuestAction.Acquire(lk), GuestAction.Compute(20_000_000), kit.Mark(0), GuestAction.Release(lk), GuestAction.Compute(20_000_000)), 0, pinned: true);
        kit.Kernel.CreateThread("next", new ListProgram(
            GuestAction.Compute(7_000_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Compute(1_000), GuestAction.Release(lk)), 1, pinned: true);
        kit.Kernel.CreateThread("last", new ListProgram(
            GuestAction.Compute(25_000_000), GuestAction.Acquire(lk), kit.Mark(2), GuestAction.Release(lk)), 2, pinned: true);
        kit.Start();
        kit.RunUs(120_000);
        Assert.Equal([0, 1, 2], kit.Marker.Hits.OrderBy(h => h.At).Select(h => h.Code));
        Assert.Equal(1, lk.HandoffsToDescheduledWaiter);
        long stall = lk.StalledOnDescheduledWaiterNs;
        Assert.True(stall > 100_000, $"stall {stall} ns");
        Assert.InRange(lk.SpinBehindDescheduledWaiterNs, stall - 50_000, stall);
    }
}

using PleSim.Engine;
using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>Hand-worked cases of the guest kernel mutex (2.6.39 kernel/mutex.c) and futex (kernel/futex.c).</summary>
public class MutexFutexTests
{

    [Fact]
    public void A_waiter_spins_while_the_owner_runs_and_takes_the_mutex_without_sleeping()
    {
        // Owner holds 200 µs of computation on VCPU 0; the waiter arrives at 50 µs on VCPU 1. Both
        // VCPUs have a CPU each: the owner runs all along, so the waiter spins (owner_running) and
        // takes the mutex by cmpxchg right after the unlock's fast path; nobody sleeps.
        var kit = new GuestKit(2, 2, handler: "none");
        var m = kit.Kernel.NewMutex("M");
        kit.Kernel.CreateThread("owner", new ListProgram(GuestAction.MutexLock(m), GuestAction.Compute(200_000), GuestAction.MutexUnlock(m), kit.Mark(1)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(50_000), GuestAction.MutexLock(m), kit.Mark(2), GuestAction.MutexUnlock(m)), 1, pinned: true);
        kit.Start();
        kit.Pin([0, 1]);
        kit.RunUs(400);
        Assert.Equal(2, m.Acquisitions);
        Assert.Equal(1, m.FastAcquisitions);
        Assert.Equal(1, m.SpinAcquisitions);
        Assert.Equal(0, m.Sleeps);
        Assert.Equal(1, m.Count); // free again
        var w = kit.Vm.Vcpus[1];
        long spin = w.TimeIn(VcpuTime.GuestSpin);
        Assert.InRange(spin, 140_000, 160_000); // from ~50 µs to ~200 µs
        Assert.Equal(spin, GuestKit.SpinSum(w));
        Assert.True(w.SpinTimeIn(SpinCause.MutexOwnerRunning) > 140_000);
        // The waiter passed its mark after the owner released.
        var marks = kit.Marker.Hits;
        Assert.Equal(2, marks.Count);
        Assert.True(marks.Single(h => h.Code == 2).At >= marks.Single(h => h.Code == 1).At - 1_000);
    }

    [Fact]
    public void A_waiter_sleeps_when_the_owner_blocks_and_the_unlock_wakes_it()
    {
        // The owner sleeps on a wait queue while holding the mutex: owner->on_cpu drops, the
        // spinner stops and sleeps on the wait list; the owner, signalled at 300 µs by a third
        // thread, unlocks and wakes it (the first waiter).
        var kit = new GuestKit(3, 3, handler: "none");
        var m = kit.Kernel.NewMutex("M");
        var q = kit.Kernel.NewWaitQueue("Q");
        kit.Kernel.CreateThread("owner", new ListProgram(GuestAction.MutexLock(m), GuestAction.Wait(q), GuestAction.MutexUnlock(m)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(50_000), GuestAction.MutexLock(m), kit.Mark(2), GuestAction.MutexUnlock(m)), 1, pinned: true);
        kit.Kernel.CreateThread("signaller", new ListProgram(GuestAction.Compute(300_000), GuestAction.Signal(q)), 2, pinned: true);
        kit.Start();
        kit.Pin([0, 1, 2]);
        kit.RunUs(200);
        Assert.Equal(1, m.Waiters);
        Assert.Equal(1, m.Sleeps);
        Assert.Equal(ThreadState.Blocked, kit.Kernel.Threads[1].State);
        Assert.Equal(0, kit.Vm.Vcpus[1].TimeIn(VcpuTime.GuestSpin)); // the owner was already off CPU: no spin at all
        kit.RunUs(300);
        Assert.Equal(2, m.Acquisitions);
        Assert.Equal(1, m.SlowAcquisitions);
        Assert.Equal(0, m.Waiters);
        Assert.Equal(1, m.Count);
        Assert.True(kit.Marker.Hits.Single().At > 300_000);
    }

    [Fact]
    public void Unlock_wakes_only_the_first_waiter_in_arrival_order()
    {
        // Three sleepers queue in the order they arrive (owner off CPU, so none spins); each
        // unlock wakes the first one only, so they get the mutex in arrival order.
        var kit = new GuestKit(4, 4, handler: "none", guest: new GuestSettings { MutexSpinOnOwner = false });
        var m = kit.Kernel.NewMutex("M");
        var q = kit.Kernel.NewWaitQueue("Q");
        kit.Kernel.CreateThread("owner", new ListProgram(GuestAction.MutexLock(m), GuestAction.Wait(q), GuestAction.MutexUnlock(m)), 0, pinned: true);
        for (int i = 1; i <= 3; i++)
            kit.Kernel.CreateThread($"w{i}", new ListProgram(GuestAction.Compute(i * 20_000), GuestAction.MutexLock(m), kit.Mark(i), GuestAction.Compute(10_000), GuestAction.MutexUnlock(m)), i, pinned: true);
        kit.Kernel.CreateThread("signaller", new ListProgram(GuestAction.Compute(200_000), GuestAction.Signal(q)), 0, pinned: true);
        kit.Start();
        kit.Pin([0, 1, 2, 3]);
        kit.RunUs(150);
        Assert.Equal(3, m.Waiters);
        kit.RunUs(400);
        Assert.Equal([1, 2, 3], kit.Marker.Hits.Select(h => h.Code).ToArray());
        Assert.Equal(4, m.Acquisitions);
        Assert.Equal(0, m.Spins);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_preempted_owner_keeps_a_2_6_39_waiter_spinning_and_stops_a_4_10_waiter(bool vcpuIsPreemptedCheck)
    {
        // The owner's VCPU shares CPU 0 with a hog: the host preempts it during its 20 ms hold.
        // The guest still sees the owner on its CPU. 2.6.39 (on_cpu only) keeps spinning through
        // the preemption; with vcpu_is_preempted the spinner leaves for the wait list and sleeps.
        var kit = new GuestKit(2, 2, handler: "none", guest: new GuestSettings { VcpuIsPreemptedCheck = vcpuIsPreemptedCheck });
        var m = kit.Kernel.NewMutex("M");
        kit.Kernel.CreateThread("owner", new ListProgram(GuestAction.MutexLock(m), GuestAction.Compute(20_000_000), GuestAction.MutexUnlock(m)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(100_000), GuestAction.MutexLock(m), GuestAction.MutexUnlock(m)), 1, pinned: true);
        kit.Start();
        kit.Pin([0, 1], 0);
        for (int step = 0; step < 10000 && m.Acquisitions < 2; step++)
            kit.RunUs(10);
        Assert.Equal(2, m.Acquisitions);
        var w = kit.Vm.Vcpus[1];
        Assert.Equal(w.TimeIn(VcpuTime.GuestSpin), GuestKit.SpinSum(w));
        long preemptedSpin = w.SpinTimeIn(SpinCause.MutexOwnerPreempted);
        if (vcpuIsPreemptedCheck)
        {
            Assert.Equal(1, m.SpinGiveUpsVcpuPreempted);
            Assert.Equal(1, m.SlowAcquisitions);
            Assert.Equal(1, m.Sleeps);
            Assert.Equal(0, preemptedSpin); // the flag is read as soon as KVM sets it
        }
        else
        {
            Assert.Equal(0, m.SpinGiveUpsVcpuPreempted);
            Assert.Equal(0, m.Sleeps);
            Assert.Equal(1, m.SpinAcquisitions);
            Assert.True(preemptedSpin > 1_000_000, $"mutex_owner_preempted {preemptedSpin} ns");
        }
    }

    [Fact]
    public void The_kernel_version_preset_turns_the_vcpu_is_preempted_check_on_from_4_16()
    {
        Assert.False(GuestKernelPresets.Apply(new GuestSettings(), "2.6.39").VcpuIsPreemptedCheck);
        Assert.False(GuestKernelPresets.Apply(new GuestSettings(), "4.2").VcpuIsPreemptedCheck);
        Assert.True(GuestKernelPresets.Apply(new GuestSettings(), "4.16").VcpuIsPreemptedCheck);
        Assert.True(GuestKernelPresets.Apply(new GuestSettings(), "6.1").VcpuIsPreemptedCheck);
    }

    [Fact]
    public void A_mutex_spin_can_take_a_pause_exit()
    {
        // With PLE on (2011 directed yield), a spinner on a mutex whose owner is preempted exits
        // on PAUSE like a spinlock spinner, and the exits are filed under the mutex cause.
        var kit = new GuestKit(2, 2);
        var m = kit.Kernel.NewMutex("M");
        kit.Kernel.CreateThread("owner", new ListProgram(GuestAction.MutexLock(m), GuestAction.Compute(20_000_000), GuestAction.MutexUnlock(m)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(100_000), GuestAction.MutexLock(m), GuestAction.MutexUnlock(m)), 1, pinned: true);
        kit.Start();
        kit.Pin([0, 1], 0);
        for (int step = 0; step < 10000 && m.Acquisitions < 2; step++)
            kit.RunUs(10);
        Assert.Equal(2, m.Acquisitions);
        Assert.True(kit.Vm.Vcpus[1].Stats.PauseExits > 0);
        long byCause = kit.Vm.Stats.PauseExitsByCause[(int)SpinCause.MutexOwnerPreempted] + kit.Vm.Stats.PauseExitsByCause[(int)SpinCause.MutexOwnerRunning];
        Assert.Equal(kit.Vm.Vcpus.Sum(v => v.Stats.PauseExits), byCause);
    }

    [Fact]
    public void Futex_wake_wakes_exactly_one_waiter_of_the_same_key()
    {
        // Two sleepers on futex A, one on futex B; FUTEX_WAKE(A, 1) wakes the first of A only.
        var kit = new GuestKit(4, 4, handler: "none");
        var a = kit.Kernel.NewFutex("A", 0, 0x1000);
        var b = kit.Kernel.NewFutex("B", 0, 0x2000);
        kit.Kernel.CreateThread("a1", new ListProgram(GuestAction.FutexWait(a, 0), kit.Mark(1)), 0, pinned: true);
        kit.Kernel.CreateThread("a2", new ListProgram(GuestAction.Compute(10_000), GuestAction.FutexWait(a, 0), kit.Mark(2)), 1, pinned: true);
        kit.Kernel.CreateThread("b1", new ListProgram(GuestAction.FutexWait(b, 0), kit.Mark(3)), 2, pinned: true);
        kit.Kernel.CreateThread("waker", new ListProgram(GuestAction.Compute(100_000), GuestAction.FutexWake(a, 1)), 3, pinned: true);
        kit.Start();
        kit.Pin([0, 1, 2, 3]);
        kit.RunUs(300);
        Assert.Equal([1], kit.Marker.Hits.Select(h => h.Code).ToArray());
        Assert.Equal(1, a.Sleepers);
        Assert.Equal(1, b.Sleepers);
        Assert.Equal(1, a.Woken);
        Assert.Equal(0, b.Woken);
    }

    [Fact]
    public void Futex_wait_returns_at_once_when_the_word_changed()
    {
        var kit = new GuestKit(1, 1, handler: "none");
        var f = kit.Kernel.NewFutex("F", 0, 0x1000);
        f.Value = 1;
        kit.Kernel.CreateThread("t", new ListProgram(GuestAction.FutexWait(f, 2), kit.Mark(1)), 0);
        kit.Start();
        kit.RunUs(50);
        Assert.Single(kit.Marker.Hits);
        Assert.Equal(1, f.WouldBlock);
        Assert.Equal(0, f.Sleepers);
    }

    [Fact]
    public void Futexes_of_one_key_share_a_bucket_and_buckets_are_reused()
    {
        var kit = new GuestKit(1, 1, handler: "none");
        var f1 = kit.Kernel.NewFutex("F1", 0, 0x1000);
        var f2 = kit.Kernel.NewFutex("F2", 0, 0x1000);
        Assert.Same(f1.BucketLock, f2.BucketLock);
        var many = Enumerable.Range(0, 1000).Select(i => kit.Kernel.NewFutex($"x{i}", 0, 0x10000 + (i * 296))).ToList();
        Assert.All(many, f => Assert.InRange(f.Bucket, 0, GuestKernel.FutexHashBuckets - 1));
        Assert.True(many.Select(f => f.BucketLock).Distinct().Count() <= GuestKernel.FutexHashBuckets);
    }

    /// <summary>Cycles through its actions forever.</summary>
    private sealed class LoopProgram(params GuestAction[] actions) : IThreadProgram
    {
        private int _i;

        public GuestAction Next(GuestThread thread) => actions[_i++ % actions.Length];
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Mutex_and_futex_paths_allocate_nothing_per_event_in_steady_state(bool vcpuIsPreemptedCheck)
    {
        // Four threads on three VCPUs, one of which shares its CPU with a hog: owner spinning,
        // give-ups, wait-list sleeps and wake-ups, and futex calls (a wait that finds the word
        // changed, a wake with nobody queued: the sysbench scenario test covers futex sleeps).
        var kit = new GuestKit(2, 3, guest: new GuestSettings { VcpuIsPreemptedCheck = vcpuIsPreemptedCheck });
        var m = kit.Kernel.NewMutex("M");
        var f = kit.Kernel.NewFutex("F", 0, 0x1000);
        for (int i = 0; i < 4; i++)
            kit.Kernel.CreateThread($"t{i}", new LoopProgram(GuestAction.MutexLock(m), GuestAction.Compute(20_000), GuestAction.MutexUnlock(m), GuestAction.Compute(5_000, userMode: true),
                GuestAction.FutexWake(f, 1), GuestAction.FutexWait(f, 1)), i % 3);
        kit.Start();
        kit.Pin([0, 1, 1], 0);
        kit.RunUs(200_000);
        kit.Sim.Invariants.Disable(); // the invariant checks themselves allocate; they ran during the warm-up
        long e0 = kit.Sim.EventsFired;
        long a0 = m.Acquisitions, s0 = m.Sleeps, sp0 = m.Spins;
        long bytes = kit.RunUsAllocatedBytes(200_000);
        Assert.True(kit.Sim.EventsFired - e0 > 5_000);
        Assert.True(m.Acquisitions > a0 && m.Sleeps > s0 && m.Spins > sp0, $"acq {m.Acquisitions - a0}, sleeps {m.Sleeps - s0}, spins {m.Spins - sp0}");
        Assert.True(f.WaitCalls > 0 && f.WouldBlock == f.WaitCalls);
        Assert.Equal(0, bytes);
    }
}

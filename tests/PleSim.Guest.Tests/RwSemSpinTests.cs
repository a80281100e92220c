using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>Hand-worked cases of the 4.19 rw_semaphore (rwsem-xadd.c, guest.rwsem: "4.19"): writer optimistic spinning, the OSQ, lock stealing.</summary>
public class RwSemSpinTests
{
    private static GuestSettings V419(bool check = true) => new() { RwSem = RwSemAlgorithm.Xadd419, VcpuIsPreemptedCheck = check };

    private static GuestThread Thread(GuestKit kit, string name, int cpu, params GuestAction[] a) =>
        kit.Kernel.CreateThread(name, new SinkProgram(kit.Kernel, name, a), cpu, pinned: true);

    private static long At(GuestKit kit, int code) => kit.Marker.Hits.Single(h => h.Code == code).At;

    [Fact]
    public void A_writer_spins_while_the_writer_owner_runs_and_takes_the_lock_when_it_is_released()
    {
        // w0 holds it for writing 0..200 µs on VCPU 0; w1 arrives at 50 µs on VCPU 1. The owner runs
        // all along: w1 spins (rwsem_spin_on_owner) and takes it by rwsem_try_write_lock_unqueued
        // right after up_write cleared the owner; it never queues or sleeps.
        var kit = new GuestKit(2, 2, handler: "none", guest: V419());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "w0", 0, sem.DownWrite, GuestAction.Compute(200_000), kit.Mark(1), sem.UpWrite);
        Thread(kit, "w1", 1, GuestAction.Compute(50_000), sem.DownWrite, kit.Mark(2), sem.UpWrite);
        kit.Start();
        kit.Pin([0, 1]);
        kit.RunUs(120);
        Assert.Equal(1, sem.Spinners);
        Assert.Equal(0, sem.Waiting);
        kit.RunUs(300);
        Assert.Equal(1, sem.Spins);
        Assert.Equal(1, sem.SpinAcquisitions);
        Assert.Equal(0, sem.SpinSteals); // nobody was queued
        Assert.Equal(0, sem.WriterSleeps);
        Assert.Equal(0, sem.WaitLock.Acquisitions); // never queued, and up_write had nobody to wake
        Assert.Null(sem.Writer);
        Assert.Equal(0, sem.Spinners);
        var w = kit.Vm.Vcpus[1];
        long spin = w.TimeIn(VcpuTime.GuestSpin);
        Assert.InRange(spin, 140_000, 160_000);
        Assert.True(w.SpinTimeIn(SpinCause.MutexOwnerRunning) > 140_000);
        Assert.True(At(kit, 2) >= At(kit, 1));
    }

    [Fact]
    public void A_head_writer_woken_twice_keeps_one_wake_up_and_its_next_slow_path_sleeps_at_once()
    {
        // Decision 0089. r0 reads 0..100 µs; w queues behind it at 10 µs and sleeps. r0's up_read wakes
        // the head writer (ANY), and r1, arriving 2 µs later while w is on its way back, finds nothing
        // active and wakes it again from its own slow path: two wake-ups for one sleep. w takes the
        // lock (the readers queued behind it wait), releases it — which grants r1 — and at once wants
        // it again: r1 reads, so w queues and sleeps. The second wake-up of its first wait must not end
        // this wait early (before 0089 it did, and w came back only to find the reader and sleep again).
        var kit = new GuestKit(3, 3, handler: "none", guest: V419());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "r0", 0, sem.DownRead, GuestAction.Compute(100_000), sem.UpRead);
        var w = new SinkProgram(kit.Kernel, "w", GuestAction.Compute(10_000), sem.DownWrite, GuestAction.Compute(20_000), sem.UpWrite,
            GuestAction.Compute(2_000), sem.DownWrite, kit.Mark(1), sem.UpWrite);
        kit.Kernel.CreateThread("w", w, 1, pinned: true);
        Thread(kit, "r1", 2, GuestAction.Compute(102_000), sem.DownRead, GuestAction.Compute(50_000), kit.Mark(2), sem.UpRead);
        kit.Start();
        kit.Pin([0, 1, 2]);
        kit.RunUs(1_000);
        var q = w.RwSemWaiter!.Queue;
        Assert.True(q.Signals >= q.Sleeps + 1, $"w was woken {q.Signals} times for {q.Sleeps} sleeps"); // a wake-up found it awake
        Assert.Equal(2, sem.WriteSlow);
        Assert.Equal(0, sem.WriterRetriesLost);
        Assert.Equal(2, q.Sleeps); // one per contended down_write, none spurious
        Assert.True(At(kit, 1) > At(kit, 2), "w got the lock again only after r1's read");
    }

    [Fact]
    public void The_2_6_39_semaphore_never_spins_the_same_writer_sleeps()
    {
        var kit = new GuestKit(2, 2, handler: "none", guest: new GuestSettings { VcpuIsPreemptedCheck = true });
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "w0", 0, sem.DownWrite, GuestAction.Compute(200_000), sem.UpWrite);
        Thread(kit, "w1", 1, GuestAction.Compute(50_000), sem.DownWrite, kit.Mark(2), sem.UpWrite);
        kit.Start();
        kit.Pin([0, 1]);
        kit.RunUs(400);
        Assert.False(sem.Xadd419);
        Assert.Equal(0, sem.Spins);
        Assert.Equal(1, sem.WriteSlow);
        Assert.Equal(0, kit.Vm.Vcpus[1].TimeIn(VcpuTime.GuestSpin));
        Assert.Empty(kit.Kernel.RwSems);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_preempted_owner_stops_the_spinner_with_vcpu_is_preempted_and_not_without(bool check)
    {
        // The owner's VCPU shares CPU 0 with a hog: the host preempts it during its 20 ms hold while
        // the guest still sees the owner on its CPU. With the 4.10 check (owner_on_cpu reads
        // vcpu_is_preempted) the spinner stops, queues and sleeps; without it, it spins through.
        var kit = new GuestKit(2, 2, handler: "none", guest: V419(check));
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "w0", 0, sem.DownWrite, GuestAction.Compute(20_000_000), sem.UpWrite);
        Thread(kit, "w1", 1, GuestAction.Compute(100_000), sem.DownWrite, kit.Mark(2), sem.UpWrite);
        kit.Start();
        kit.Pin([0, 1], 0);
        for (int step = 0; step < 10000 && kit.Marker.Hits.Count == 0; step++)
            kit.RunUs(10);
        Assert.Single(kit.Marker.Hits);
        var w = kit.Vm.Vcpus[1];
        long preemptedSpin = w.SpinTimeIn(SpinCause.MutexOwnerPreempted);
        if (check)
        {
            Assert.Equal(1, sem.SpinGiveUpsVcpuPreempted);
            Assert.Equal(0, sem.SpinAcquisitions);
            Assert.True(sem.WriterSleeps >= 1);
            Assert.Equal(0, preemptedSpin); // the flag is read as soon as KVM sets it
        }
        else
        {
            Assert.Equal(0, sem.SpinGiveUpsVcpuPreempted);
            Assert.Equal(0, sem.WriterSleeps);
            Assert.Equal(1, sem.SpinAcquisitions);
            Assert.True(preemptedSpin > 1_000_000, $"owner_preempted spin {preemptedSpin} ns");
        }
    }

    [Fact]
    public void A_writer_does_not_spin_when_readers_own_the_semaphore()
    {
        // r0 reads 0..100 µs; w arrives at 10 µs: the owner field says RWSEM_READER_OWNED, so
        // rwsem_can_spin_on_owner is false; it queues, sleeps, and gets it after up_read's wake-up.
        var kit = new GuestKit(2, 2, handler: "none", guest: V419());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "r0", 0, sem.DownRead, GuestAction.Compute(100_000), kit.Mark(1), sem.UpRead);
        Thread(kit, "w", 1, GuestAction.Compute(10_000), sem.DownWrite, kit.Mark(2), sem.UpWrite);
        kit.Start();
        kit.Pin([0, 1]);
        kit.RunUs(50);
        Assert.True(sem.ReaderOwned);
        Assert.Equal(1, sem.Waiting);
        Assert.Equal(0, sem.Spinners);
        kit.RunUs(300);
        Assert.Equal(0, sem.Spins);
        Assert.Equal(1, sem.SpinSkippedReaderOwned);
        Assert.Equal(1, sem.WriterSleeps);
        Assert.Equal(0, kit.Vm.Vcpus[1].TimeIn(VcpuTime.GuestSpin));
        Assert.True(At(kit, 2) > At(kit, 1));
        Assert.Equal(0, sem.Waiting);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_spinning_writer_steals_the_lock_from_a_woken_writer_in_4_19_but_not_in_2_6_39(bool v419)
    {
        // w0 takes it and sleeps on Q while holding it (owner off CPU): w1 (10 µs) cannot spin and
        // queues. A signaller wakes w0 at 100 µs; w2 arrives at 150 µs while w0 runs, and spins.
        // w0 releases at ~300 µs. 4.19: w2's spin takes the lock at once (a steal: w1 is queued);
        // up_write's rwsem_wake only wakes w1, which finds it taken and sleeps again. 2.6.39: the
        // release hands it to w1, the queue head; w2 (no spinning there) queues behind.
        var kit = new GuestKit(4, 4, handler: "none", guest: v419 ? V419() : new GuestSettings());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        var q = kit.Kernel.NewWaitQueue("Q");
        Thread(kit, "w0", 0, sem.DownWrite, GuestAction.Wait(q), GuestAction.Compute(150_000), sem.UpWrite);
        Thread(kit, "w1", 1, GuestAction.Compute(10_000), sem.DownWrite, kit.Mark(1), GuestAction.Compute(20_000), sem.UpWrite);
        Thread(kit, "w2", 2, GuestAction.Compute(150_000), sem.DownWrite, kit.Mark(2), GuestAction.Compute(20_000), sem.UpWrite);
        Thread(kit, "s", 3, GuestAction.Compute(100_000), GuestAction.Signal(q));
        kit.Start();
        kit.Pin([0, 1, 2, 3]);
        kit.RunUs(60);
        Assert.Equal(1, sem.Waiting);
        Assert.Equal("w1", sem.WaiterAt(0)!.Name);
        kit.RunUs(1_000);
        Assert.Equal(2, kit.Marker.Hits.Count);
        if (v419)
        {
            Assert.True(At(kit, 2) < At(kit, 1), "the spinner got it before the woken writer");
            Assert.Equal(1, sem.SpinAcquisitions);
            Assert.Equal(1, sem.SpinSteals);
            Assert.True(sem.WriterRetriesLost >= 1);
        }
        else
        {
            Assert.True(At(kit, 1) < At(kit, 2), "the queue head was handed the lock");
            Assert.Equal(0, sem.SpinAcquisitions);
        }
        Assert.Null(sem.Writer);
        Assert.Equal(0, sem.Waiting);
    }

    [Fact]
    public void Spinners_queue_on_the_osq_and_take_the_lock_in_their_order()
    {
        // w0 holds it 0..200 µs; w1 (20 µs) and w2 (40 µs) both spin: w1 at the OSQ head on the
        // owner, w2 on its own node behind w1. w1 takes it at the release; w2 becomes the head,
        // spins on w1 (running) and takes it at w1's release. Nobody sleeps.
        var kit = new GuestKit(3, 3, handler: "none", guest: V419());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "w0", 0, sem.DownWrite, GuestAction.Compute(200_000), sem.UpWrite);
        Thread(kit, "w1", 1, GuestAction.Compute(20_000), sem.DownWrite, kit.Mark(1), GuestAction.Compute(50_000), sem.UpWrite);
        Thread(kit, "w2", 2, GuestAction.Compute(40_000), sem.DownWrite, kit.Mark(2), sem.UpWrite);
        kit.Start();
        kit.Pin([0, 1, 2]);
        kit.RunUs(100);
        Assert.Equal(2, sem.Spinners);
        kit.RunUs(500);
        Assert.Equal(2, sem.Spins);
        Assert.Equal(2, sem.SpinAcquisitions);
        Assert.Equal(0, sem.WriterSleeps);
        Assert.True(At(kit, 1) < At(kit, 2));
        Assert.True(At(kit, 2) - At(kit, 1) >= 50_000, "w2 waited for w1's hold");
    }
}

/// <summary>Which guest kernel preset runs which rw_semaphore (decisions 0050, 0057).</summary>
public class RwSemPresetTests
{
    [Theory]
    [InlineData("2.6.32", RwSemAlgorithm.Lib2639)]
    [InlineData("2.6.39", RwSemAlgorithm.Lib2639)]
    [InlineData("3.12", RwSemAlgorithm.Lib2639)]
    [InlineData("4.2", RwSemAlgorithm.Xadd419)]
    [InlineData("4.16", RwSemAlgorithm.Xadd419)]
    [InlineData("5.3", RwSemAlgorithm.Rwsem53)]
    [InlineData("5.10", RwSemAlgorithm.Rwsem53)]
    [InlineData("6.1", RwSemAlgorithm.Rwsem61)]
    public void The_kernel_preset_selects_the_rwsem_its_version_ran(string version, RwSemAlgorithm expected) =>
        Assert.Equal(expected, GuestKernelPresets.Apply(new GuestSettings(), version).RwSem);
}

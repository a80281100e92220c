using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>Hand-worked cases of the 5.3 rw_semaphore (kernel/locking/rwsem.c, guest.rwsem: "5.3", decision 0057).</summary>
public class RwSem53Tests
{
    private static GuestSettings V53(bool check = true) => new() { RwSem = RwSemAlgorithm.Rwsem53, VcpuIsPreemptedCheck = check };

    private static GuestSettings V61() => new() { RwSem = RwSemAlgorithm.Rwsem61, VcpuIsPreemptedCheck = true };

    private static GuestThread Thread(GuestKit kit, string name, int cpu, params GuestAction[] a) =>
        kit.Kernel.CreateThread(name, new SinkProgram(kit.Kernel, name, a), cpu, pinned: true);

    private static long At(GuestKit kit, int code) => kit.Marker.Hits.Single(h => h.Code == code).At;

    [Fact]
    public void A_reader_spins_on_a_running_writer_owner_and_takes_the_read_lock_at_its_release()
    {
        // w holds it 0..200 µs on VCPU 0; r arrives at 50 µs on VCPU 1. rwsem_can_spin_on_owner
        // (RD_NONSPINNABLE clear, owner on its CPU): r backs its bias out and spins in the OSQ;
        // after up_write, rwsem_try_read_lock_unqueued gives it the lock. It never queues.
        var kit = new GuestKit(2, 2, handler: "none", guest: V53());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "w", 0, sem.DownWrite, GuestAction.Compute(200_000), kit.Mark(1), sem.UpWrite);
        Thread(kit, "r", 1, GuestAction.Compute(50_000), sem.DownRead, kit.Mark(2), sem.UpRead);
        kit.Start();
        kit.Pin([0, 1]);
        kit.RunUs(120);
        Assert.Equal(1, sem.Spinners);
        Assert.Equal(0, sem.Waiting);
        Assert.Equal(0, sem.ReaderCount); // the spinner's bias was backed out
        kit.RunUs(300);
        Assert.True(sem.Rwsem53);
        Assert.Equal(1, sem.ReaderSpins);
        Assert.Equal(1, sem.ReaderSpinAcquisitions);
        Assert.Equal(0, sem.Spins); // no writer spun
        Assert.Equal(0, sem.WaitLock.Acquisitions);
        Assert.Equal(0, sem.Readers);
        long spin = kit.Vm.Vcpus[1].TimeIn(VcpuTime.GuestSpin);
        Assert.InRange(spin, 140_000, 160_000);
        Assert.True(At(kit, 2) >= At(kit, 1));
    }

    [Fact]
    public void A_writer_spins_on_a_reader_owned_lock_for_the_rspin_threshold_then_sets_the_nonspinnable_bits_and_sleeps()
    {
        // r reads 0..100 µs; w arrives at 10 µs. 4.19 would not spin (RWSEM_READER_OWNED); 5.3 spins,
        // with rwsem_rspin_threshold = (20 + 1 reader) / 2 µs = 10.5 µs. Past it: both nonspinnable
        // bits, queue, sleep. up_read wakes it; having seen the bits it sets RD_NONSPINNABLE once it
        // owns the lock (rwsem_disable_reader_optspin).
        var kit = new GuestKit(2, 2, handler: "none", guest: V53());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "r", 0, sem.DownRead, GuestAction.Compute(100_000), kit.Mark(1), sem.UpRead);
        Thread(kit, "w", 1, GuestAction.Compute(10_000), sem.DownWrite, kit.Mark(2), GuestAction.Compute(200_000), sem.UpWrite);
        kit.Start();
        kit.Pin([0, 1]);
        kit.RunUs(60);
        Assert.Equal(1, sem.Spins);
        Assert.Equal(1, sem.SpinReaderOwnedTimeouts);
        Assert.True(sem.ReaderNonspinnable && sem.WriterNonspinnable);
        Assert.Equal(1, sem.Waiting);
        Assert.Equal(0, sem.Spinners);
        long spin = kit.Vm.Vcpus[1].TimeIn(VcpuTime.GuestSpin);
        Assert.InRange(spin, 10_000, 12_000);
        kit.RunUs(100);
        Assert.Same(sem.Writer, kit.Kernel.Threads.Single(t => t.Name == "w"));
        Assert.True(sem.ReaderNonspinnable, "rwsem_disable_reader_optspin after the slow-path acquisition");
        Assert.False(sem.WriterNonspinnable);
        Assert.Equal(1, sem.WriterSleeps);
        kit.RunUs(300);
        Assert.Null(sem.Writer);
        Assert.False(sem.ReaderNonspinnable); // up_write cleared the whole owner field
        Assert.True(At(kit, 2) > At(kit, 1));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_preempted_writer_owner_stops_reader_spinning_with_vcpu_is_preempted_and_not_without(bool check)
    {
        // The owner's VCPU shares CPU 0 with a hog: the host preempts it during its 20 ms hold. With
        // vcpu_is_preempted (owner_on_cpu) the reader stops, queues and sleeps until the grant;
        // without, it spins through the preemption.
        var kit = new GuestKit(2, 2, handler: "none", guest: V53(check));
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "w", 0, sem.DownWrite, GuestAction.Compute(20_000_000), sem.UpWrite);
        Thread(kit, "r", 1, GuestAction.Compute(100_000), sem.DownRead, kit.Mark(2), sem.UpRead);
        kit.Start();
        kit.Pin([0, 1], 0);
        for (int step = 0; step < 10000 && kit.Marker.Hits.Count == 0; step++)
            kit.RunUs(10);
        Assert.Single(kit.Marker.Hits);
        long preemptedSpin = kit.Vm.Vcpus[1].SpinTimeIn(SpinCause.MutexOwnerPreempted);
        Assert.Equal(1, sem.ReaderSpins);
        if (check)
        {
            Assert.Equal(1, sem.SpinGiveUpsVcpuPreempted);
            Assert.Equal(0, sem.ReaderSpinAcquisitions);
            Assert.Equal(1, sem.Grants); // queued, granted by up_write's rwsem_mark_wake
            Assert.Equal(0, preemptedSpin);
        }
        else
        {
            Assert.Equal(0, sem.SpinGiveUpsVcpuPreempted);
            Assert.Equal(1, sem.ReaderSpinAcquisitions);
            Assert.True(preemptedSpin > 1_000_000, $"owner_preempted spin {preemptedSpin} ns");
        }
    }

    [Fact]
    public void No_spin_starts_while_the_writer_owner_is_off_its_cpu()
    {
        // w takes it and sleeps on Q holding it: owner_on_cpu is false, so rwsem_can_spin_on_owner
        // refuses; the reader queues at once and spends no time spinning.
        var kit = new GuestKit(3, 3, handler: "none", guest: V53());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        var q = kit.Kernel.NewWaitQueue("Q");
        Thread(kit, "w", 0, sem.DownWrite, GuestAction.Wait(q), GuestAction.Compute(10_000), sem.UpWrite);
        Thread(kit, "r", 1, GuestAction.Compute(10_000), sem.DownRead, kit.Mark(1), sem.UpRead);
        Thread(kit, "s", 2, GuestAction.Compute(100_000), GuestAction.Signal(q));
        kit.Start();
        kit.Pin([0, 1, 2]);
        kit.RunUs(50);
        Assert.Equal(1, sem.SpinSkippedOwnerNotRunning);
        Assert.Equal(0, sem.ReaderSpins);
        Assert.Equal(1, sem.Waiting);
        kit.RunUs(300);
        Assert.Single(kit.Marker.Hits);
        Assert.Equal(0, kit.Vm.Vcpus[1].TimeIn(VcpuTime.GuestSpin));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_wake_up_grants_every_queued_reader_past_a_queued_writer_in_5_3_and_stops_at_it_in_4_19(bool v53)
    {
        // w0 holds it asleep on Q (nobody can spin). Queue: r1, r2, w3, r4. At w0's release,
        // 5.3's rwsem_mark_wake grants r1, r2 and r4 together (phase-fair, up to
        // MAX_READERS_WAKEUP) and leaves w3 queued; 4.19's stops at the first writer.
        var kit = new GuestKit(6, 6, handler: "none", guest: v53 ? V53() : new GuestSettings { RwSem = RwSemAlgorithm.Xadd419, VcpuIsPreemptedCheck = true });
        var sem = new GuestRwSem(kit.Kernel, "sem");
        var q = kit.Kernel.NewWaitQueue("Q");
        Thread(kit, "w0", 0, sem.DownWrite, GuestAction.Wait(q), GuestAction.Compute(10_000), sem.UpWrite);
        Thread(kit, "r1", 1, GuestAction.Compute(10_000), sem.DownRead, kit.Mark(1), GuestAction.Compute(50_000), sem.UpRead);
        Thread(kit, "r2", 2, GuestAction.Compute(20_000), sem.DownRead, kit.Mark(2), GuestAction.Compute(50_000), sem.UpRead);
        Thread(kit, "w3", 3, GuestAction.Compute(30_000), sem.DownWrite, kit.Mark(3), GuestAction.Compute(10_000), sem.UpWrite);
        Thread(kit, "r4", 4, GuestAction.Compute(40_000), sem.DownRead, kit.Mark(4), GuestAction.Compute(50_000), sem.UpRead);
        Thread(kit, "s", 5, GuestAction.Compute(100_000), GuestAction.Signal(q));
        kit.Start();
        kit.Pin([0, 1, 2, 3, 4, 5]);
        kit.RunUs(90);
        Assert.Equal(4, sem.Waiting);
        Assert.Equal(["r1", "r2", "w3", "r4"], Enumerable.Range(0, 4).Select(i => sem.WaiterAt(i)!.Name));
        kit.RunUs(600);
        Assert.Equal(4, kit.Marker.Hits.Count);
        if (v53)
        {
            Assert.True(At(kit, 4) < At(kit, 3), "r4 was granted with r1 and r2, before w3");
            Assert.True(At(kit, 4) - At(kit, 1) < 10_000, "one batch");
        }
        else
            Assert.True(At(kit, 3) < At(kit, 4), "4.19 grants only the readers ahead of the first writer");
        Assert.Equal(0, sem.Waiting);
        Assert.Null(sem.Writer);
        Assert.Equal(0, sem.Readers);
    }

    [Fact]
    public void A_reader_that_waited_past_the_timeout_sets_the_handoff_bit_and_a_spinning_writer_can_no_longer_steal()
    {
        // w0 takes it and sleeps on Q holding it; r1 (10 µs) cannot spin and queues (timeout =
        // jiffies + RWSEM_WAIT_TIMEOUT, 4 jiffies at HZ=1000). At 6 ms s wakes w0; w2 arrives while
        // w0 runs, spins and steals the lock at up_write. w0's rwsem_wake then finds a writer:
        // the reader grant fails and, r1 having waited past its timeout, sets RWSEM_FLAG_HANDOFF.
        // w3 spins on w2; at w2's release the hand-off bit stops rwsem_try_write_lock_unqueued, and
        // w2's wake-up grants r1 (clearing the bit). w3 gets it only after r1.
        var kit = new GuestKit(5, 5, handler: "none", guest: V53());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        var q = kit.Kernel.NewWaitQueue("Q");
        Thread(kit, "w0", 0, sem.DownWrite, GuestAction.Wait(q), GuestAction.Compute(50_000), sem.UpWrite);
        Thread(kit, "r1", 1, GuestAction.Compute(10_000), sem.DownRead, kit.Mark(1), GuestAction.Compute(10_000), sem.UpRead);
        Thread(kit, "w2", 2, GuestAction.Compute(6_020_000), sem.DownWrite, kit.Mark(2), GuestAction.Compute(100_000), sem.UpWrite);
        Thread(kit, "s", 3, GuestAction.Compute(6_000_000), GuestAction.Signal(q));
        Thread(kit, "w3", 4, GuestAction.Compute(6_100_000), sem.DownWrite, kit.Mark(3), sem.UpWrite);
        kit.Start();
        kit.Pin([0, 1, 2, 3, 4]);
        kit.RunUs(6_120);
        Assert.True(sem.Handoff);
        Assert.Equal(1, sem.HandoffsSetByReader);
        Assert.Equal(1, sem.SpinSteals); // w2 took it with r1 queued
        kit.RunUs(1_000);
        Assert.Equal(3, kit.Marker.Hits.Count);
        Assert.True(At(kit, 2) < At(kit, 1) && At(kit, 1) < At(kit, 3), "w2 stole it; then the hand-off gave it to r1 before w3");
        Assert.False(sem.Handoff);
        Assert.Equal(1, sem.SpinSteals); // w3 took it with nobody queued
        Assert.Equal(0, sem.Waiting);
    }

    [Fact]
    public void In_6_1_the_same_reader_does_not_spin_it_queues_and_is_granted_at_up_write()
    {
        // As the first case, with 6.1: reader optimistic spinning is gone (5.11). The fast path
        // fails (writer); a writer holds it, so no stealing either: the reader queues and sleeps.
        var kit = new GuestKit(2, 2, handler: "none", guest: V61());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "w", 0, sem.DownWrite, GuestAction.Compute(200_000), kit.Mark(1), sem.UpWrite);
        Thread(kit, "r", 1, GuestAction.Compute(50_000), sem.DownRead, kit.Mark(2), sem.UpRead);
        kit.Start();
        kit.Pin([0, 1]);
        kit.RunUs(120);
        Assert.True(sem.Rwsem61);
        Assert.Equal(0, sem.Spinners);
        Assert.Equal(1, sem.Waiting);
        kit.RunUs(300);
        Assert.Equal(0, sem.ReaderSpins);
        Assert.Equal(0, sem.ReaderSteals);
        Assert.Equal(1, sem.Grants);
        Assert.Equal(0, kit.Vm.Vcpus[1].TimeIn(VcpuTime.GuestSpin));
        Assert.True(At(kit, 2) > At(kit, 1));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_first_writer_past_its_timeout_sets_the_handoff_bit_spins_on_the_owner_and_gets_the_lock_before_a_spinner(bool v61)
    {
        // w0 takes it and sleeps on Q holding it; w1 (10 µs) cannot spin (owner off its CPU), queues
        // first and sleeps. s wakes w0 at 6 ms; w2 spins on the running w0 and steals the lock at
        // up_write. w1, woken by that up_write, finds it taken and, past RWSEM_WAIT_TIMEOUT,
        // becomes the hand-off writer (5.3 WRITER_HANDOFF; 6.1 handoff_set as the first waiter):
        // rwsem_try_write_lock sets RWSEM_FLAG_HANDOFF and w1 spins on w2. w3 spins on w2 too; at
        // w2's release the bit stops w3's rwsem_try_write_lock_unqueued and w1 takes the lock.
        var kit = new GuestKit(5, 5, handler: "none", guest: v61 ? V61() : V53());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        var q = kit.Kernel.NewWaitQueue("Q");
        Thread(kit, "w0", 0, sem.DownWrite, GuestAction.Wait(q), GuestAction.Compute(50_000), sem.UpWrite);
        Thread(kit, "w1", 1, GuestAction.Compute(10_000), sem.DownWrite, kit.Mark(1), GuestAction.Compute(10_000), sem.UpWrite);
        Thread(kit, "w2", 2, GuestAction.Compute(6_020_000), sem.DownWrite, kit.Mark(2), GuestAction.Compute(100_000), sem.UpWrite);
        Thread(kit, "s", 3, GuestAction.Compute(6_000_000), GuestAction.Signal(q));
        Thread(kit, "w3", 4, GuestAction.Compute(6_090_000), sem.DownWrite, kit.Mark(3), sem.UpWrite);
        kit.Start();
        kit.Pin([0, 1, 2, 3, 4]);
        kit.RunUs(6_120);
        Assert.True(sem.Handoff);
        Assert.Equal(1, sem.HandoffsSetByWriter);
        Assert.Equal(1, sem.HandoffSpins);
        Assert.Equal(2, sem.Spinners); // w1 on the owner (outside the OSQ), w3 in the OSQ
        kit.RunUs(1_000);
        Assert.Equal(3, kit.Marker.Hits.Count);
        Assert.True(At(kit, 2) < At(kit, 1) && At(kit, 1) < At(kit, 3), "w2 stole it; the hand-off writer w1 came before the spinner w3");
        Assert.Equal(1, sem.SpinSteals); // w2's; w3 took it with nobody queued
        Assert.False(sem.Handoff);
        Assert.Equal(0, sem.Waiting);
        Assert.Equal(0, sem.Spinners);
    }

    [Fact]
    public void Reader_and_writer_spinners_share_the_osq_in_arrival_order()
    {
        // w0 holds it 0..200 µs; w1 (20 µs) heads the OSQ, r2 (40 µs) spins on its own node. w1 takes
        // it at the release; r2 becomes the head, spins on w1 (running) and reads after w1's release.
        var kit = new GuestKit(3, 3, handler: "none", guest: V53());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "w0", 0, sem.DownWrite, GuestAction.Compute(200_000), sem.UpWrite);
        Thread(kit, "w1", 1, GuestAction.Compute(20_000), sem.DownWrite, kit.Mark(1), GuestAction.Compute(50_000), sem.UpWrite);
        Thread(kit, "r2", 2, GuestAction.Compute(40_000), sem.DownRead, kit.Mark(2), sem.UpRead);
        kit.Start();
        kit.Pin([0, 1, 2]);
        kit.RunUs(100);
        Assert.Equal(2, sem.Spinners);
        kit.RunUs(500);
        Assert.Equal(1, sem.SpinAcquisitions);
        Assert.Equal(1, sem.ReaderSpinAcquisitions);
        Assert.Equal(0, sem.WriterSleeps);
        Assert.Equal(0, sem.Waiting);
        Assert.True(At(kit, 2) - At(kit, 1) >= 50_000, "r2 waited for w1's hold");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Under_contention_and_host_preemption_the_count_never_shows_a_writer_and_readers_and_everyone_finishes(bool v61)
    {
        // Four threads on 4 VCPUs of 3 CPUs (one shared with a hog) take the semaphore 200 times each,
        // mixing reads and writes. Sampled every 2 µs: never a writer together with readers. 5.3's
        // readers spin and never steal in the slow path; 6.1's steal and never spin.
        var kit = new GuestKit(3, 4, handler: "none", guest: v61 ? V61() : V53());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        for (int t = 0; t < 4; t++)
        {
            var a = new List<GuestAction>();
            for (int i = 0; i < 200; i++)
            {
                bool write = (i + t) % 3 == 0;
                a.Add(GuestAction.Compute(1_000 + 500 * t));
                a.Add(write ? sem.DownWrite : sem.DownRead);
                a.Add(GuestAction.Compute(write ? 3_000 : 5_000));
                a.Add(write ? sem.UpWrite : sem.UpRead);
            }
            a.Add(kit.Mark(t));
            Thread(kit, $"t{t}", t, [.. a]);
        }
        kit.Start();
        kit.Pin([0, 1, 2, 0], 2);
        for (int step = 0; step < 200_000 && kit.Marker.Hits.Count < 4; step++)
        {
            kit.RunUs(2);
            Assert.False(sem.Writer is not null && sem.Readers > 0, $"writer {sem.Writer} with {sem.Readers} readers");
            Assert.True(sem.Readers >= 0 && sem.ReaderCount >= sem.Readers);
            Assert.False(sem.Writer is not null && sem.ReaderOwned);
        }
        Assert.Equal(4, kit.Marker.Hits.Count);
        Assert.Null(sem.Writer);
        Assert.Equal(0, sem.ReaderCount);
        Assert.Equal(0, sem.Waiting);
        Assert.Equal(0, sem.Spinners);
        Assert.True(sem.Spins > 0, "writers spun");
        if (v61)
        {
            Assert.Equal(0, sem.ReaderSpins);
            Assert.True(sem.ReaderSteals > 0, "readers stole in the slow path");
            Assert.Equal(sem.ReaderNonspinnable, sem.WriterNonspinnable); // one RWSEM_NONSPINNABLE bit
        }
        else
        {
            Assert.True(sem.ReaderSpins > 0, "readers spun");
            Assert.Equal(0, sem.ReaderSteals);
        }
    }
}

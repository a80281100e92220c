using PleSim.Engine;
using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>
/// The ground-truth cause of a spin on a free 5.3 rw_semaphore that RWSEM_FLAG_HANDOFF reserves for
/// its first waiter (<c>handoff_reserved</c>), on the hand-worked lost wake-up of
/// docs/anomalies/rwsem-5-3-reader-spin-lost-wakeup.md, and the agreement of the recorded cause with
/// <see cref="GuestRwSem.Cause"/> at every event.
/// </summary>
public class RwSemHandoffCauseTests
{
    private static GuestSettings V53() => new() { RwSem = RwSemAlgorithm.Rwsem53, VcpuIsPreemptedCheck = true };

    private static GuestThread Thread(GuestKit kit, string name, int cpu, params GuestAction[] a) =>
        kit.Kernel.CreateThread(name, new SinkProgram(kit.Kernel, name, a), cpu, pinned: true);

    /// <summary>Every VCPU spinning on <paramref name="sem"/> has the cause <see cref="GuestRwSem.Cause"/> gives now.</summary>
    private sealed class Agreement(Vm vm, GuestRwSem sem) : IInvariant
    {
        public long Checks { get; private set; }

        public long Reserved { get; private set; }

        public string Name => "rwsem spin cause agreement";

        public string? Check()
        {
            foreach (var v in vm.Vcpus)
            {
                // Spins on sem (with its recorded cause, which the VM's copy mirrors).
                if (!v.Spinning || !vm.SpinsOn(v.Index, sem, v.SpinCause))
                    continue;
                Checks++;
                var expected = sem.Cause(v, 0);
                if (expected == SpinCause.HandoffReserved)
                    Reserved++;
                if (v.SpinCause != expected)
                    return $"{v} spins on {sem.Name} with cause {v.SpinCause}, but Cause says {expected}";
            }
            return null;
        }
    }

    /// <summary>
    /// The anomaly note's sequence on six VCPUs (one thread each, pinned), with <paramref name="r4DownReadAt"/>
    /// the guest time of r4's <c>down_read</c> (the time r3 reaches <c>up_read</c> is <c>Marker</c> code 4):
    /// <list type="number">
    /// <item>w0 takes it for write and sleeps on Q; w1 (10 µs) cannot spin on an owner off its CPU,
    /// queues first (WRITER_FIRST) and sleeps. s wakes w0 at 6 ms; r2 and r3 (6.01 ms) spin on the
    /// running w0 and take the read lock at its <c>up_write</c>, which wakes w1. w1, past
    /// RWSEM_WAIT_TIMEOUT, retries as WRITER_HANDOFF: readers hold it, so <c>rwsem_try_write_lock</c>
    /// sets RWSEM_FLAG_HANDOFF, and on a reader-owned lock w1 sleeps.</item>
    /// <item>r2 leaves (20 µs hold); r3 holds it 100 µs.</item>
    /// <item>r4's <c>down_read</c> adds its bias and fails (waiters, hand-off).</item>
    /// <item>r3, the last real reader, calls <c>up_read</c> while r4's bias is in the count: no <c>rwsem_wake</c>.</item>
    /// <item>r4 backs its bias out (no wake-up check) and spins: nobody holds the lock.</item>
    /// <item><c>rwsem_try_read_lock_unqueued</c> refuses (hand-off), nothing sets need_resched: r4 spins on.</item>
    /// </list>
    /// r5 (<paramref name="r5DownReadAt"/>, on a seventh VCPU) is a reader that started spinning
    /// while r3 still held it: its cause changes at r3's <c>up_read</c>, which wakes no spinner.
    /// </summary>
    private static (GuestKit Kit, GuestRwSem Sem, Agreement Check) LostWakeup(long r4DownReadAt, long r5DownReadAt = 9_000_000)
    {
        var kit = new GuestKit(7, 7, handler: "none", guest: V53());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        var q = kit.Kernel.NewWaitQueue("Q");
        Thread(kit, "w0", 0, sem.DownWrite, GuestAction.Wait(q), GuestAction.Compute(50_000), sem.UpWrite);
        Thread(kit, "w1", 1, GuestAction.Compute(10_000), sem.DownWrite, kit.Mark(1), GuestAction.Compute(10_000), sem.UpWrite);
        Thread(kit, "r2", 2, GuestAction.Compute(6_010_000), sem.DownRead, kit.Mark(2), GuestAction.Compute(20_000), sem.UpRead);
        Thread(kit, "r3", 3, GuestAction.Compute(6_011_000), sem.DownRead, kit.Mark(3), GuestAction.Compute(100_000), kit.Mark(4), sem.UpRead);
        Thread(kit, "s", 4, GuestAction.Compute(6_000_000), GuestAction.Signal(q));
        Thread(kit, "r4", 5, GuestAction.Compute(r4DownReadAt), kit.Mark(6), sem.DownRead, kit.Mark(5), sem.UpRead);
        Thread(kit, "r5", 6, GuestAction.Compute(r5DownReadAt), sem.DownRead, kit.Mark(7), sem.UpRead);
        var check = new Agreement(kit.Vm, sem);
        kit.Sim.Invariants.Register(check);
        kit.Start();
        kit.Pin([0, 1, 2, 3, 4, 5, 6]);
        return (kit, sem, check);
    }

    private static long At(GuestKit kit, int code) => kit.Marker.Hits.Single(h => h.Code == code).At;

    [Fact]
    public void A_reader_spinning_on_a_free_lock_reserved_by_the_handoff_bit_for_a_sleeping_writer_is_charged_to_handoff_reserved()
    {
        // Probe: r4 comes late (after everything); it tells when r3 reaches up_read.
        var (probe, _, _) = LostWakeup(7_000_000);
        probe.RunUs(8_000);
        long upRead = At(probe, 4);
        Assert.InRange(upRead, 6_100_000, 6_300_000);

        // r4's down_read 10 ns before r3's up_read: inside the window of r4's fast-path atomic
        // (guest.costs.lock_acquire, 30 ns), as in steps 3-4 of the note. r4's compute is stretched
        // by the ticks it takes, so its start is adjusted until its down_read falls there.
        long want = upRead - 10;
        Assert.True(new GuestSettings().Costs.LockAcquire.Ns > 10);
        long start = want;
        GuestKit kit = null!;
        GuestRwSem sem = null!;
        Agreement check = null!;
        for (int attempt = 0; attempt < 5; attempt++)
        {
            (kit, sem, check) = LostWakeup(start, upRead - 50_000);
            kit.RunUs(upRead / 1000 + 3_000);
            long at = At(kit, 6);
            if (at == want)
                break;
            start += want - at;
        }
        Assert.Equal(want, At(kit, 6));
        Assert.Equal(upRead, At(kit, 4)); // the same run up to r4's arrival

        // The state of the note: free, hand-off set, the hand-off writer asleep, r4 spinning.
        Assert.Null(sem.Writer);
        Assert.Equal(0, sem.Readers);
        Assert.Equal(0, sem.ReaderCount);
        Assert.True(sem.Handoff);
        Assert.Equal(1, sem.HandoffsSetByWriter);
        Assert.Equal(1, sem.Waiting);
        Assert.Equal("w1", sem.WaiterAt(0)!.Name);
        Assert.Equal(2, sem.Spinners); // r5 heads the OSQ, r4 queues behind it
        Assert.DoesNotContain(kit.Marker.Hits, h => h.Code is 1 or 5 or 7); // neither w1, r4 nor r5 got it

        // r4 has spun about 3 ms, all of it on the free, reserved lock.
        var v = kit.Vm.Vcpus[5];
        Assert.True(v.Spinning);
        Assert.Equal(SpinCause.HandoffReserved, v.SpinCause);
        long spin = v.TimeIn(VcpuTime.GuestSpin);
        Assert.InRange(spin, 2_900_000, 3_100_000);
        Assert.Equal(spin, GuestKit.SpinSum(v));
        Assert.Equal(0, v.SpinTimeIn(SpinCause.Contention));
        Assert.Equal(spin, v.SpinTimeIn(SpinCause.HandoffReserved));
        // r2 and r3 spun on the running writer w0 before: the intended spin.
        Assert.True(kit.Vm.Vcpus[2].SpinTimeIn(SpinCause.MutexOwnerRunning) > 0);
        Assert.Equal(0, kit.Vm.Vcpus[2].SpinTimeIn(SpinCause.HandoffReserved));
        // r5 spun 50 µs while r3 held it (contention: a reader holder runs), then on the free,
        // reserved lock from r3's up_read on.
        var v5 = kit.Vm.Vcpus[6];
        Assert.Equal(SpinCause.HandoffReserved, v5.SpinCause);
        Assert.InRange(v5.SpinTimeIn(SpinCause.Contention), 10_000, 50_000); // less what its compute was stretched by ticks
        Assert.InRange(v5.SpinTimeIn(SpinCause.HandoffReserved), 2_900_000, kit.Sim.Now.Ns - upRead); // less the ticks' handlers
        Assert.Equal(v5.TimeIn(VcpuTime.GuestSpin), v5.SpinTimeIn(SpinCause.Contention) + v5.SpinTimeIn(SpinCause.HandoffReserved));
        Assert.True(check.Checks > 0 && check.Reserved > 0);
    }

    [Fact]
    public void Without_the_race_the_handoff_writer_is_woken_and_nothing_is_charged_to_handoff_reserved()
    {
        // The probe run itself: r3's up_read finds no other bias, wakes w1, which takes the lock.
        var (kit, sem, check) = LostWakeup(7_000_000);
        kit.RunUs(8_000);
        Assert.Contains(kit.Marker.Hits, h => h.Code == 1);
        Assert.Contains(kit.Marker.Hits, h => h.Code == 5);
        Assert.False(sem.Handoff);
        Assert.Equal(0, sem.Spinners);
        foreach (var v in kit.Vm.Vcpus)
            Assert.Equal(0, v.SpinTimeIn(SpinCause.HandoffReserved));
        Assert.Equal(0, check.Reserved);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Under_contention_and_host_preemption_the_recorded_cause_is_what_Cause_says_at_every_event(bool v61)
    {
        // Eight threads, two per VCPU, on 4 VCPUs of 3 CPUs (one shared with a hog), mixing reads
        // and writes with holds long enough that waiters pass RWSEM_WAIT_TIMEOUT and set the
        // hand-off bit; the agreement is checked at every event: the hand-off bit, the reader count
        // and the owner each change a spinner's cause, and each change reclassifies.
        var kit = new GuestKit(3, 4, handler: "none", guest: v61 ? new GuestSettings { RwSem = RwSemAlgorithm.Rwsem61, VcpuIsPreemptedCheck = true } : V53());
        var sem = new GuestRwSem(kit.Kernel, "sem");
        for (int t = 0; t < 8; t++)
        {
            var a = new List<GuestAction>();
            for (int i = 0; i < 100; i++)
            {
                bool write = (i + t) % 3 == 0;
                a.Add(GuestAction.Compute(5_000 + 2_000 * t));
                a.Add(write ? sem.DownWrite : sem.DownRead);
                a.Add(GuestAction.Compute(write ? 60_000 : 150_000));
                a.Add(write ? sem.UpWrite : sem.UpRead);
            }
            a.Add(kit.Mark(t));
            Thread(kit, $"t{t}", t % 4, [.. a]);
        }
        var check = new Agreement(kit.Vm, sem);
        kit.Sim.Invariants.Register(check);
        kit.Start();
        kit.Pin([0, 1, 2, 0], 2);
        for (int step = 0; step < 2_000 && kit.Marker.Hits.Count < 8; step++)
            kit.RunUs(1_000);
        Assert.Equal(8, kit.Marker.Hits.Count);
        Assert.True(check.Checks > 200, $"{check.Checks} checks of a spinner");
        Assert.True(sem.HandoffsSetByReader + sem.HandoffsSetByWriter > 0, "the hand-off bit was set");
        Assert.True(check.Reserved > 0, "some checks found a spinner on a free lock reserved by the hand-off bit");
        foreach (var v in kit.Vm.Vcpus)
            Assert.Equal(v.TimeIn(VcpuTime.GuestSpin), GuestKit.SpinSum(v));
    }
}

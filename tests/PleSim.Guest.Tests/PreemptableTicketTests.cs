using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Guest.Tests;

/// <summary>
/// The preemptable ticket lock (pmtlock v1.0, Ouyang and Lange VEE 2013; decision 0046) and the
/// per-acquisition spin-iteration histogram.
/// </summary>
public class PreemptableTicketTests
{
    private static GuestSettings Pmt(int unit = 1 << 14) => new() { Spinlock = SpinlockKind.PreemptableTicket, PmtlockTimeoutUnit = unit };

    // ------------------------------------------------------------------ the preemptable loop, by hand

    [Theory]
    // ticket, head now, head the timeout was computed from, last pass (timeout ran out) -> step
    [InlineData(5, 3, 3, false, GuestSpinLock.PmtStep.KeepLooping)] // two ahead, nothing moved: loop on
    [InlineData(5, 4, 3, false, GuestSpinLock.PmtStep.NewTimeout)]  // the head moved: timeout = 1 x unit from now
    [InlineData(5, 5, 4, false, GuestSpinLock.PmtStep.Spin)]        // the head reached the ticket: its turn (in order)
    [InlineData(5, 7, 3, false, GuestSpinLock.PmtStep.Spin)]        // the head passed it (others went out of order): v1.0's tail <= head
    [InlineData(5, 3, 3, true, GuestSpinLock.PmtStep.Spin)]         // timeout ran out with the head still short: out of turn
    [InlineData(5, 4, 3, true, GuestSpinLock.PmtStep.NewTimeout)]   // the head moved on the last pass: the check comes before the decrement
    [InlineData(5, 5, 5, true, GuestSpinLock.PmtStep.Spin)]
    public void One_pass_of_the_preemptable_loop(long ticket, long head, long headSeen, bool lastPass, GuestSpinLock.PmtStep expected) =>
        Assert.Equal(expected, GuestSpinLock.PreemptableLook(ticket, head, headSeen, lastPass));

    [Fact]
    public void The_timeout_is_proportional_to_the_position_in_the_queue()
    {
        Assert.Equal(16384, GuestSpinLock.PreemptableTimeoutLoops(1, 1 << 14));
        Assert.Equal(3 * 16384, GuestSpinLock.PreemptableTimeoutLoops(3, 1 << 14));
        Assert.Equal(0, GuestSpinLock.PreemptableTimeoutLoops(0, 1 << 14));
        Assert.Equal(1L << 32, GuestSpinLock.PreemptableTimeoutLoops(1L << 20, 1 << 24)); // clamped
    }

    // ------------------------------------------------------------------ in a guest

    /// <summary>Four threads, one per VCPU, ask 20 us apart, mark when they get the lock, hold it 100 us.</summary>
    private static void FourContenders(GuestKit kit, GuestSpinLock lk)
    {
        for (int i = 0; i < 4; i++)
        {
            kit.Kernel.CreateThread($"t{i}", new ListProgram(
                GuestAction.Compute(1 + (i * 20_000)), GuestAction.Acquire(lk), kit.Mark(i), GuestAction.Compute(100_000), GuestAction.Release(lk)), i, pinned: true);
        }
    }

    [Fact]
    public void Running_waiters_get_the_lock_in_ticket_order_before_any_timeout()
    {
        // Every VCPU has its own CPU: the head reaches each ticket long before (ticket - head) x
        // 2^14 loops (about 226 us per position at 40 cycles a loop and 2.9 GHz) have passed.
        var kit = new GuestKit(4, 4, handler: "none", guest: Pmt());
        var lk = kit.Kernel.NewLock("L");
        Assert.Equal(SpinlockKind.PreemptableTicket, lk.Kind);
        FourContenders(kit, lk);
        kit.Start();
        kit.RunUs(1_000);
        Assert.Equal([0, 1, 2, 3], kit.Marker.Hits.Select(h => h.Code));
        Assert.Equal((4L, 3L), (lk.Acquisitions, lk.Contended));
        Assert.Equal((0L, 0L), (lk.PreemptableTimeouts, lk.OutOfOrderAcquisitions));
    }

    [Fact]
    public void A_timeout_shorter_than_the_wait_sends_waiters_to_the_lock_word_but_a_running_queue_stays_in_order()
    {
        // With a 64-loop unit (about 0.9 us per position) t2 and t3 time out while t0 holds the lock
        // and then spin on the lock word with t1. At each release the first of them to look, in
        // ticket order, takes it: the order stays 0, 1, 2, 3, but t2 and t3 got there by timeout.
        var kit = new GuestKit(4, 4, handler: "none", guest: Pmt(64));
        var lk = kit.Kernel.NewLock("L");
        FourContenders(kit, lk);
        kit.Start();
        kit.RunUs(1_000);
        Assert.Equal([0, 1, 2, 3], kit.Marker.Hits.Select(h => h.Code));
        Assert.True(lk.PreemptableTimeouts >= 2, $"{lk.PreemptableTimeouts} timeouts");
    }

    /// <summary>
    /// One CPU, three VCPUs, PLE off: the holder (vcpu0) holds the lock across its slices; A (vcpu1)
    /// takes its ticket before B (vcpu2). Only one VCPU runs at a time, so whoever of A and B runs
    /// after the release finds the other preempted.
    /// </summary>
    private static (GuestKit Kit, GuestSpinLock Lock) PreemptedWaiter(GuestSettings guest)
    {
        var kit = new GuestKit(1, 3, handler: "none", guest: guest);
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(
            GuestAction.Acquire(lk), GuestAction.Compute(30_000_000), kit.Mark(0), GuestAction.Release(lk), GuestAction.Compute(100_000_000)), 0, pinned: true);
        kit.Kernel.CreateThread("A", new ListProgram(
            GuestAction.Compute(5_000_000), kit.Mark(11), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Compute(5_000), GuestAction.Release(lk)), 1, pinned: true);
        kit.Kernel.CreateThread("B", new ListProgram(
            GuestAction.Compute(8_000_000), kit.Mark(12), GuestAction.Acquire(lk), kit.Mark(2), GuestAction.Compute(5_000), GuestAction.Release(lk)), 2, pinned: true);
        kit.Start();
        kit.RunUs(400_000);
        return (kit, lk);
    }

    [Fact]
    public void A_waiter_behind_a_preempted_one_takes_the_free_lock_out_of_order_after_its_timeout()
    {
        var (tk, tl) = PreemptedWaiter(new GuestSettings { Spinlock = SpinlockKind.Ticket });
        var (pk, pl) = PreemptedWaiter(Pmt());
        long Asked(GuestKit k, int code) => k.Marker.Hits.Single(h => h.Code == code).At;
        long Got(GuestKit k, int code) => k.Marker.Hits.Single(h => h.Code == code).At;
        Assert.True(Asked(tk, 11) < Asked(tk, 12) && Asked(pk, 11) < Asked(pk, 12)); // A's ticket is ahead of B's

        // Ticket lock: strictly FIFO, and the lock stood free for a descheduled A.
        Assert.True(Got(tk, 1) < Got(tk, 2));
        Assert.True(tl.HandoffsToDescheduledWaiter >= 1);
        Assert.Equal(0, tl.OutOfOrderAcquisitions);

        // Preemptable ticket lock: B, running while A is preempted, times out and goes first.
        Assert.True(Got(pk, 2) < Got(pk, 1));
        Assert.Equal(1, pl.OutOfOrderAcquisitions); // B's; A, served after B, had been overtaken, not out of order
        Assert.True(pl.PreemptableTimeouts >= 1);
        Assert.Equal(3, pl.Acquisitions); // A still gets it afterwards: the head passed its ticket
        Assert.True(pl.StalledOnDescheduledWaiterNs < tl.StalledOnDescheduledWaiterNs);
        Assert.Null(pl.Owner);
    }

    [Fact]
    public void Unlock_moves_the_head_and_frees_the_word_so_the_next_ticket_is_taken_on_the_fast_path()
    {
        var kit = new GuestKit(1, 1, handler: "none", guest: Pmt());
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("t", new ListProgram(
            GuestAction.Acquire(lk), GuestAction.Release(lk), GuestAction.Acquire(lk), GuestAction.Release(lk), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 0, pinned: true);
        kit.Start();
        kit.RunUs(100);
        Assert.Single(kit.Marker.Hits);
        Assert.Equal((3L, 0L), (lk.Acquisitions, lk.Contended));
        Assert.Null(lk.Owner);
    }

    // ------------------------------------------------------------------ spin iterations per acquisition

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(65_535, 16)]
    [InlineData(65_536, 17)]
    [InlineData(long.MaxValue, 63)]
    public void Iteration_counts_fall_in_log2_buckets(long iterations, int bucket) =>
        Assert.Equal(bucket, GuestSpinLock.SpinIterationBucket(iterations));

    [Theory]
    [InlineData(SpinlockKind.Ticket)]
    [InlineData(SpinlockKind.TestAndSet)]
    [InlineData(SpinlockKind.PreemptableTicket)]
    public void A_contended_acquisition_counts_the_loops_its_waiter_ran(SpinlockKind kind)
    {
        // Two VCPUs on two CPUs, PLE off: b spins from 20 us until a releases at 100 us, about
        // 80 us of loop = 80 000 ns x 2.9 cycles/ns / 40 cycles = 5 800 iterations: bucket 13 ([4096, 8192)).
        var kit = new GuestKit(2, 2, handler: "none", guest: Pmt() with { Spinlock = kind });
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("a", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(100_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("b", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.RunUs(500);
        Assert.Equal(1, lk.Contended);
        Assert.Equal(1, lk.SpinIterationsLog2.Sum());
        Assert.Equal(1, lk.SpinIterationsLog2[13]);
    }

    [Fact]
    public void A_waiter_runs_no_iterations_while_its_vcpu_is_off_its_cpu()
    {
        // One CPU, two VCPUs: the waiter waits milliseconds of wall time, but loops only in its own slices.
        var kit = new GuestKit(1, 2, handler: "none");
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(
            GuestAction.Acquire(lk), GuestAction.Compute(10_000_000), GuestAction.Release(lk), GuestAction.Compute(20_000_000)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(
            GuestAction.Compute(4_000_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.RunUs(100_000);
        Assert.Equal(1, lk.Contended);
        int bucket = Array.FindIndex(lk.SpinIterationsLog2, c => c > 0);
        long wallLoops = kit.Kvm.Tsc.ToCycles(new SimDuration(lk.SpinNs)).Value / kit.Kvm.Settings.PauseLoopCycles;
        long loopNs = kit.Vm.Vcpus[1].TimeIn(Hypervisor.VcpuTime.GuestSpin);
        long ranLoops = kit.Kvm.Tsc.ToCycles(new SimDuration(loopNs)).Value / kit.Kvm.Settings.PauseLoopCycles;
        Assert.Equal(GuestSpinLock.SpinIterationBucket(ranLoops), bucket);
        Assert.True(ranLoops < wallLoops / 2, $"{ranLoops} loops run of {wallLoops} in the wait");
    }
}

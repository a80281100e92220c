using PleSim.Engine;
using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>Hand-worked cases of the ground-truth classification (docs/ground-truth.md).</summary>
public class GroundTruthTests
{

    [Fact]
    public void A_spinner_whose_holder_is_preempted_accrues_holder_preempted_time()
    {
        // PLE off. The holder's VCPU shares CPU 0 with a hog, so the host preempts it during its
        // 20 ms hold; the waiter has CPU 1 to itself and spins all along.
        var kit = new GuestKit(2, 2, handler: "none");
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(20_000_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(100_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.Pin([0, 1], 0);
        var holder = kit.Vm.Vcpus[0];
        var waiter = kit.Vm.Vcpus[1];
        long checkedPreempted = 0;
        for (int step = 0; step < 10000 && lk.Acquisitions < 2; step++)
        {
            kit.RunUs(10);
            if (!waiter.Spinning)
                continue;
            // The instantaneous cause follows the holder's VCPU.
            var expected = holder.Presence switch
            {
                VcpuPresence.InGuest => SpinCause.Contention,
                VcpuPresence.InExit => SpinCause.HolderInExit,
                _ => SpinCause.HolderPreempted,
            };
            Assert.Equal(expected, waiter.SpinCause);
            if (expected == SpinCause.HolderPreempted)
                checkedPreempted++;
        }
        Assert.Equal(2, lk.Acquisitions);
        Assert.True(checkedPreempted > 0, "the holder was never seen preempted");
        long preempted = waiter.SpinTimeIn(SpinCause.HolderPreempted);
        Assert.True(preempted > 1_000_000, $"holder_preempted {preempted} ns");
        Assert.True(waiter.SpinTimeIn(SpinCause.Contention) > 1_000_000);
        Assert.Equal(0, waiter.SpinTimeIn(SpinCause.NextWaiterPreempted));
        Assert.Equal(waiter.TimeIn(VcpuTime.GuestSpin), GuestKit.SpinSum(waiter));
        // The holder itself never spun.
        Assert.Equal(0, holder.TimeIn(VcpuTime.GuestSpin));
    }

    [Fact]
    public void A_spinner_behind_a_preempted_next_waiter_accrues_next_waiter_preempted_time()
    {
        // PLE off, ticket lock, three VCPUs on their own CPUs; VCPU 1 shares CPU 1 with a hog.
        // VCPU 0 holds the lock ~1.7 ms at a time; VCPUs 1 and 2 take tickets behind it. Whenever
        // the lock is free while VCPU 2 still spins, it is reserved for the only VCPU that is not
        // running — VCPU 1, preempted — and VCPU 2's spin is charged to the next waiter.
        var kit = new GuestKit(3, 3, handler: "none");
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", GuestKit.LockRounds(lk, 40, 1_700_000, 20_000, 1), 0, pinned: true);
        kit.Kernel.CreateThread("next", GuestKit.LockRounds(lk, 40, 1_000, 30_000, 100_000), 1, pinned: true);
        kit.Kernel.CreateThread("last", GuestKit.LockRounds(lk, 40, 1_000, 30_000, 200_000), 2, pinned: true);
        kit.Start();
        kit.Pin([0, 1, 2], 1);
        var next = kit.Vm.Vcpus[1];
        var last = kit.Vm.Vcpus[2];
        long seen = 0;
        for (int step = 0; step < 15_000; step++)
        {
            kit.RunUs(10);
            if (last.Spinning && lk.Owner is null)
            {
                Assert.Equal(VcpuPresence.OffCpu, next.Presence);
                Assert.Equal(SpinCause.NextWaiterPreempted, last.SpinCause);
                seen++;
            }
        }
        long behind = last.SpinTimeIn(SpinCause.NextWaiterPreempted);
        Assert.True(seen > 0 && behind > 100_000, $"seen {seen} times, {behind} ns behind a preempted next waiter");
        Assert.Equal(last.TimeIn(VcpuTime.GuestSpin), GuestKit.SpinSum(last));
        Assert.Equal(next.TimeIn(VcpuTime.GuestSpin), GuestKit.SpinSum(next));
        Assert.Equal(0, next.SpinTimeIn(SpinCause.NextWaiterPreempted)); // its own CPU is the hogged one: nobody ahead of it is preempted
        Assert.True(next.SpinTimeIn(SpinCause.Contention) > 0);
    }

    [Fact]
    public void A_successful_yield_to_the_preempted_holder_is_labelled_holder()
    {
        // Directed yield. The holder's VCPU shares CPU 0 with a hog; the waiter on CPU 1 exits on
        // PAUSE, and its walk finds the holder runnable but not running: yield_to boosts it.
        var kit = new GuestKit(2, 2);
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(20_000_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(100_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.Pin([0, 1], 0);
        kit.RunUs(60_000);
        var st = kit.Vm.Stats;
        Assert.True(st.YieldToLabels[(int)YieldLabel.Holder] > 0, "no yield_to to the holder succeeded");
        Assert.Equal(st.YieldToCalls, st.YieldToLabels.Sum());
        Assert.Equal(st.YieldToResults[(int)PleSim.Host.YieldToResult.Success], st.YieldToLabels[(int)YieldLabel.Holder]);
        Assert.Equal(0, st.YieldToLabels[(int)YieldLabel.Unrelated]);
        Assert.Equal(st.YieldToLabels[(int)YieldLabel.Holder], st.YieldToHits);
        Assert.Equal(st.PauseExits, st.PauseExitsByCause.Sum());
    }

    [Fact]
    public void Relations_name_the_holder_the_next_waiter_a_waiter_ahead_and_spinners_behind()
    {
        // Four VCPUs on four CPUs, PLE off: t0 holds; t1, t2, t3 take tickets in that order.
        var kit = new GuestKit(4, 4, handler: "none");
        var lk = kit.Kernel.NewLock("L");
        for (int i = 0; i < 4; i++)
        {
            kit.Kernel.CreateThread($"t{i}", new ListProgram(
                GuestAction.Compute(1 + (i * 20_000)), GuestAction.Acquire(lk), GuestAction.Compute(200_000), GuestAction.Release(lk)), i, pinned: true);
        }
        kit.Start();
        kit.RunUs(90);
        var v = kit.Vm.Vcpus;
        Assert.Equal(SpinRelation.Holder, v[3].SpinRelationTo(v[0]));
        Assert.Equal(SpinRelation.NextWaiter, v[3].SpinRelationTo(v[1]));
        Assert.Equal(SpinRelation.WaiterAhead, v[3].SpinRelationTo(v[2]));
        Assert.Equal(SpinRelation.OtherSpinner, v[1].SpinRelationTo(v[3]));
        Assert.Equal(SpinRelation.Unrelated, v[0].SpinRelationTo(v[1])); // the holder does not spin
        Assert.Equal(SpinCause.Contention, v[3].SpinCause);                 // everyone runs
    }

    /// <summary>Records spin segments (as a trace does) and checks they tile the spin time.</summary>
    private sealed class Segments : IKvmObserver
    {
        public readonly Dictionary<Vcpu, long> Ns = [];

        public void SpinSegment(Vcpu vcpu, SpinCause cause, long startNs, long endNs) =>
            Ns[vcpu] = Ns.GetValueOrDefault(vcpu) + (endNs - startNs);
    }

    [Fact]
    public void Observing_the_ground_truth_changes_nothing_and_its_segments_tile_the_spin_time()
    {
        (ulong Digest, long Events, Segments? Seen, long[] Spin) Run(bool observe)
        {
            var kit = new GuestKit(3, 3);
            var lk = kit.Kernel.NewLock("L");
            for (int i = 0; i < 3; i++)
                kit.Kernel.CreateThread($"t{i}", GuestKit.LockRounds(lk, 30, 500_000, 20_000, 1 + (i * 30_000)), i, pinned: true);
            var seg = observe ? new Segments() : null;
            kit.Kvm.Observer = seg;
            kit.Start();
            kit.Pin([0, 1, 2], 0, 1);
            kit.RunUs(30_000);
            foreach (var v in kit.Vm.Vcpus)
                v.CloseSpinTrace();
            return (kit.Sim.Digest, kit.Sim.EventsFired, seg, kit.Vm.Vcpus.Select(v => v.TimeIn(VcpuTime.GuestSpin)).ToArray());
        }
        var plain = Run(false);
        var seen = Run(true);
        Assert.Equal(plain.Digest, seen.Digest);
        Assert.Equal(plain.Events, seen.Events);
        Assert.Equal(plain.Spin, seen.Spin);
        Assert.True(seen.Spin.Sum() > 0, string.Join(",", seen.Spin) + " events " + seen.Events);
        for (int i = 0; i < seen.Spin.Length; i++)
            Assert.Equal(seen.Spin[i], seen.Seen!.Ns.Where(kv => kv.Key.Index == i).Sum(kv => kv.Value));
    }
}

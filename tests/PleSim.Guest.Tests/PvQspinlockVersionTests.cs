using PleSim.Engine;
using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>
/// The PV queued spinlock per version (decision 0058): 4.2-4.4 without lock stealing or
/// <c>pv_wait_early</c>; 4.5's steal gated by the pending bit the spinning queue head sets; the
/// queue-node adaptive spinning that halts a node whose predecessor is not running, read on every
/// 256th loop; and the <c>virt_spin_lock</c> fallback of a 4.2+ guest on a host without PV_UNHALT.
/// Hand-worked on tiny set-ups with PLE off.
/// </summary>
public class PvQspinlockVersionTests
{
    private const int Loops = 1000; // SPIN_THRESHOLD: 1000 & 0xff = 232, so the checks fall after 232, 488 and 744 loops

    private static GuestSettings Pv(bool steal, PvWaitEarly waitEarly, int loops = Loops) =>
        new() { Spinlock = SpinlockKind.PvQueued, SpinThresholdLoops = loops, PvQspinlockSteal = steal, PvQspinlockWaitEarly = waitEarly };

    private static long LoopsNs(GuestKit kit, long loops) => kit.Kvm.Tsc.ToDuration(new TscCycles(loops * kit.Kvm.Settings.PauseLoopCycles)).Ns;

    [Theory]
    [InlineData(false, new[] { 1, 2 }, 0)]
    [InlineData(true, new[] { 2, 1 }, 1)]
    public void A_newcomer_takes_the_free_lock_ahead_of_a_halted_head_only_with_4_5_stealing(bool steal, int[] order, int steals)
    {
        // The holder releases at ~700.5 us and kicks the halted head, which needs the hypercall and a
        // wake-up to run again; a newcomer asks at ~700.6 us. 4.4: the tail is set, so its fast path
        // fails and it queues behind the head. 4.5: locked and pending are clear (the head is halted),
        // so pv_queued_spin_steal_lock takes it.
        var kit = new GuestKit(4, 4, handler: "none", guest: Pv(steal, PvWaitEarly.Off));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("head", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Kernel.CreateThread("newcomer", new ListProgram(GuestAction.Compute(700_600), GuestAction.Acquire(lk), kit.Mark(2), GuestAction.Compute(10_000), GuestAction.Release(lk)), 2, pinned: true);
        kit.Start();
        kit.RunUs(3_000);
        Assert.Equal(1, lk.PvHalts); // the head halted before the release in both
        Assert.Equal(order, kit.Marker.Hits.Select(h => h.Code));
        Assert.Equal(steals, lk.Steals);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_4_4_lock_never_goes_to_a_newcomer_while_waiters_are_queued(bool waitEarly)
    {
        // Four VCPUs on two CPUs hammer the lock: holders and queued waiters are preempted and halt,
        // newcomers arrive at free locks with waiters queued. Without stealing nobody overtakes.
        var kit = new GuestKit(2, 4, handler: "none", guest: Pv(false, waitEarly ? PvWaitEarly.Halted : PvWaitEarly.Off));
        var lk = kit.Kernel.NewLock("L");
        kit.RunLockRoundsTwoPerCpu(lk, 60_000);
        Assert.True(lk.Contended > 100);
        Assert.True(lk.PvHalts > 0);
        Assert.Equal(0, lk.Steals);
    }

    [Fact]
    public void With_4_5_stealing_the_same_run_has_steals()
    {
        // The counterpart of the test above: the same run lets newcomers past halted heads.
        var kit = new GuestKit(2, 4, handler: "none", guest: Pv(true, PvWaitEarly.Halted));
        var lk = kit.Kernel.NewLock("L");
        kit.RunLockRoundsTwoPerCpu(lk, 60_000);
        Assert.True(lk.Steals > 0);
    }

    [Fact]
    public void No_steal_while_the_spinning_head_keeps_the_pending_bit_set_even_with_its_vcpu_preempted()
    {
        // The head spins (a SPIN_THRESHOLD far longer than the run: it never halts, so its pending
        // bit stays set) on a CPU a host hog joins at 100 us, which preempts the head's VCPU for a
        // CFS slice some milliseconds later. Of a few hold times, the first whose release finds the
        // head's VCPU off its CPU is used (checked): a newcomer 100 us later finds the lock free but
        // the pending bit set and queues behind the head.
        bool seen = false;
        for (long hold = 5_000_000; hold <= 12_000_000 && !seen; hold += 500_000)
        {
            var kit = new GuestKit(3, 3, handler: "none", guest: Pv(true, PvWaitEarly.Halted, loops: 1 << 24));
            var lk = kit.Kernel.NewLock("L");
            kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(hold), GuestAction.Release(lk)), 0, pinned: true);
            kit.Kernel.CreateThread("head", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
            kit.Kernel.CreateThread("newcomer", new ListProgram(GuestAction.Compute(hold + 100_000), GuestAction.Acquire(lk), kit.Mark(2), GuestAction.Release(lk)), 2, pinned: true);
            kit.Start();
            kit.Pin([0, 1, 2]);
            kit.RunUs(100);
            Assert.Equal(1, lk.Waiting); // the head is queued (and spinning) before the hog comes
            kit.Pin([0, 1, 2], 1);
            kit.RunUs(hold / 1000 + 50);
            if (lk.HandoffsToDescheduledWaiter != 1 || kit.Vm.Vcpus[1].Task.OnCpu)
                continue; // the head's VCPU was on its CPU at the release: no window for a newcomer
            seen = true;
            Assert.Null(lk.Owner);
            kit.RunUs(100);
            if (!kit.Vm.Vcpus[1].Task.OnCpu)
            {
                Assert.Null(lk.Owner);
                Assert.Equal(2, lk.Waiting); // the newcomer queued behind the preempted head
            }
            kit.RunUs(30_000);
            Assert.Equal([1, 2], kit.Marker.Hits.Select(h => h.Code));
            Assert.Equal(0, lk.Steals);
            Assert.Equal(0, lk.PvHalts);
        }
        Assert.True(seen);
    }


    [Fact]
    public void A_node_made_head_while_its_vcpu_is_preempted_has_not_set_pending_so_a_newcomer_steals()
    {
        // Decision 0080 (4.5 pv_wait_head_or_lock: set_pending only in the head's own loop, which a
        // node enters after it saw node->locked, i.e. by running). "head" waits behind the holder, w2
        // behind "head"; a host hog on w2's CPU preempts w2's VCPU for a CFS slice some 18 ms later. Of a few
        // hold times, the first where w2's VCPU is off its CPU from before "head" takes the lock until
        // after the newcomer's one steal attempt is used (checked): w2 became the queue head without
        // running, so locked and pending are both clear once "head" releases, and the newcomer steals.
        // Nobody halts (a huge SPIN_THRESHOLD): before 0080 only a halted head opened the window.
        bool seen = false;
        for (long hold = 15_000_000; hold <= 40_000_000 && !seen; hold += 500_000)
        {
            var kit = new GuestKit(4, 4, handler: "none", guest: Pv(true, PvWaitEarly.Off, loops: 1 << 24));
            var lk = kit.Kernel.NewLock("L");
            kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(hold), GuestAction.Release(lk)), 0, pinned: true);
            kit.Kernel.CreateThread("head", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Compute(200_000), GuestAction.Release(lk)), 1, pinned: true);
            kit.Kernel.CreateThread("w2", new ListProgram(GuestAction.Compute(40_000), GuestAction.Acquire(lk), kit.Mark(2), GuestAction.Release(lk)), 2, pinned: true);
            kit.Kernel.CreateThread("newcomer", new ListProgram(GuestAction.Compute(hold + 300_000), GuestAction.Acquire(lk), kit.Mark(3), GuestAction.Release(lk)), 3, pinned: true);
            kit.Start();
            kit.Pin([0, 1, 2, 3]);
            kit.RunUs(100);
            Assert.Equal(2, lk.Waiting); // "head" and w2 queued, both spinning, before the hog comes
            kit.Pin([0, 1, 2, 3], 2);
            kit.RunUs(hold / 1000 - 100);
            if (kit.Vm.Vcpus[2].Task.OnCpu)
                continue; // w2's VCPU runs just before the hand-off: it would see node->locked and set pending
            long w2Spin = kit.Vm.Vcpus[2].TimeIn(VcpuTime.GuestSpin);
            kit.RunUs(120);
            if (kit.Marker.Hits.Count != 1 || kit.Vm.Vcpus[2].Task.OnCpu)
                continue;
            kit.RunUs(260); // "head" released at about hold + 200 us; the newcomer asks at hold + 300 us
            if (kit.Vm.Vcpus[2].Task.OnCpu || kit.Vm.Vcpus[2].TimeIn(VcpuTime.GuestSpin) != w2Spin || lk.Owner is not null)
                continue; // w2's loop ran meanwhile (it would have set pending), or the lock is not free
            kit.RunUs(30);
            if (kit.Vm.Vcpus[2].TimeIn(VcpuTime.GuestSpin) != w2Spin)
                continue;
            seen = true;
            Assert.Equal(1, lk.Steals); // pv_queued_spin_steal_lock: neither locked nor pending set
            kit.RunUs(30_000);
            Assert.Equal([1, 3, 2], kit.Marker.Hits.Select(h => h.Code));
            Assert.Equal(0, lk.PvHalts);
        }
        Assert.True(seen);
    }

    [Fact]
    public void Wait_early_halts_a_node_behind_a_halted_predecessor_on_a_check_iteration()
    {
        // w1 (the head) spins its 1000 loops and halts at about 20 us + threshold; w2, queued behind
        // it from 25 us, reads w1's state after 232 loops and then every 256: the first check after
        // w1 halted stops it. w3 arrives with w2 already halted and still spins to its first check
        // (232 loops): the check is made on those iterations only.
        var kit = new GuestKit(4, 4, handler: "none", guest: Pv(true, PvWaitEarly.Halted));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), GuestAction.Release(lk)), 0, pinned: true);
        for (int i = 1; i <= 3; i++)
        {
            long start = i == 3 ? 200_000 : 20_000 + (i - 1) * 5_000;
            kit.Kernel.CreateThread($"w{i}", new ListProgram(GuestAction.Compute(start), GuestAction.Acquire(lk), kit.Mark(i), GuestAction.Release(lk)), i, pinned: true);
        }
        kit.Start();
        kit.RunUs(400);
        Assert.All(kit.Vm.Vcpus.Skip(1), v => Assert.Equal(VcpuMode.Halted, v.Mode));
        Assert.Equal(3, lk.PvHalts);
        Assert.Equal(2, lk.PvWaitEarlies);
        long th = LoopsNs(kit, Loops);
        long w1Spin = kit.Vm.Vcpus[1].TimeIn(VcpuTime.GuestSpin);
        long w2Spin = kit.Vm.Vcpus[2].TimeIn(VcpuTime.GuestSpin);
        long w3Spin = kit.Vm.Vcpus[3].TimeIn(VcpuTime.GuestSpin);
        Assert.InRange(w1Spin, th - 5, th + 100); // the head has no early wait
        // w2 joined 5 us after w1, so w1 halted while w2 had spun about th - 5 us: the next check is
        // the one after 744 loops (232 + 2 x 256), the last before the threshold.
        Assert.InRange(w2Spin, LoopsNs(kit, 744) - 5, LoopsNs(kit, 744) + 100);
        Assert.InRange(w3Spin, LoopsNs(kit, 232) - 5, LoopsNs(kit, 232) + 100);
        kit.RunUs(2_000);
        Assert.Equal([1, 2, 3], kit.Marker.Hits.Select(h => h.Code));
    }

    [Fact]
    public void Without_wait_early_the_same_nodes_spin_the_whole_threshold()
    {
        var kit = new GuestKit(4, 4, handler: "none", guest: Pv(true, PvWaitEarly.Off));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("w1", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 1, pinned: true);
        kit.Kernel.CreateThread("w2", new ListProgram(GuestAction.Compute(200_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 2, pinned: true);
        kit.Start();
        kit.RunUs(400);
        long th = LoopsNs(kit, Loops);
        Assert.Equal(0, lk.PvWaitEarlies);
        Assert.InRange(kit.Vm.Vcpus[2].TimeIn(VcpuTime.GuestSpin), th - 5, th + 100);
    }

    [Fact]
    public void A_threshold_of_whole_check_periods_makes_the_first_loop_a_check()
    {
        // SPIN_THRESHOLD 1024: the count starts on a multiple of 256, so pv_wait_early is read on the
        // very first iteration; a node joining behind a halted predecessor halts after one loop.
        var kit = new GuestKit(4, 4, handler: "none", guest: Pv(true, PvWaitEarly.Halted, loops: 1024));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("w1", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 1, pinned: true);
        kit.Kernel.CreateThread("w2", new ListProgram(GuestAction.Compute(200_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 2, pinned: true);
        kit.Start();
        kit.RunUs(400);
        Assert.Equal(1, lk.PvWaitEarlies);
        Assert.InRange(kit.Vm.Vcpus[2].TimeIn(VcpuTime.GuestSpin), 1, LoopsNs(kit, 1) + 100);
    }

    [Theory]
    [InlineData(PvWaitEarly.HaltedOrPreempted, true)]
    [InlineData(PvWaitEarly.Halted, false)]
    public void Wait_early_of_4_11_to_5_3_also_halts_behind_a_preempted_predecessor(PvWaitEarly mode, bool halts)
    {
        // w1 (head) never halts (a huge threshold) and shares its CPU with a host hog, so its VCPU is
        // preempted part of the time; w2 is queued behind it. 4.11-5.3 read vcpu_is_preempted(prev):
        // w2 halts at a check while w1's VCPU is off; 4.5-4.10 and 5.4+ read only the node state: w2 spins on.
        var kit = new GuestKit(3, 3, handler: "none", guest: Pv(true, mode, loops: 1 << 24));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(30_000_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("w1", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 1, pinned: true);
        kit.Kernel.CreateThread("w2", new ListProgram(GuestAction.Compute(40_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 2, pinned: true);
        kit.Start();
        kit.Pin([0, 1, 2]);
        kit.RunUs(100); // w1 queued as head, w2 behind it
        Assert.Equal(2, lk.Waiting);
        kit.Pin([0, 1, 2], 1); // the hog joins w1's CPU and takes it for a slice some ms later
        kit.RunUs(25_000);
        Assert.True(kit.Vm.Vcpus[1].TimeIn(VcpuTime.Preempted) > 0); // w1's VCPU was preempted meanwhile
        Assert.Equal(halts, lk.PvWaitEarlies > 0); // (a guest tick may wake it, and it may halt early again)
        Assert.Equal(halts, kit.Vm.Vcpus[2].TimeIn(VcpuTime.Halted) > 0);
    }

    [Theory]
    [InlineData(false, PvWaitEarly.Off)]
    [InlineData(true, PvWaitEarly.Halted)]
    [InlineData(true, PvWaitEarly.HaltedOrPreempted)]
    public void One_holder_at_a_time(bool steal, PvWaitEarly waitEarly)
    {
        var kit = new GuestKit(2, 4, handler: "none", guest: Pv(steal, waitEarly));
        var lk = kit.Kernel.NewLock("L");
        for (int i = 0; i < 4; i++)
        {
            var acts = Enumerable.Range(0, 500).SelectMany(_ => new[]
            {
                GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Compute(40_000), kit.Mark(2), GuestAction.Release(lk), GuestAction.Compute(10_000),
            }).ToArray();
            kit.Kernel.CreateThread($"t{i}", new ListProgram(acts), i, pinned: true);
        }
        kit.Start();
        kit.Pin([0, 1, 0, 1]);
        kit.RunUs(40_000);
        var hits = kit.Marker.Hits;
        Assert.True(hits.Count > 100);
        for (int k = 0; k + 1 < hits.Count; k += 2)
        {
            Assert.Equal(1, hits[k].Code);       // in the critical section...
            Assert.Equal(2, hits[k + 1].Code);   // ...and out of it, by the same thread, before anyone else gets in
            Assert.Equal(hits[k].Thread, hits[k + 1].Thread);
        }
    }

    [Theory]
    [InlineData("4.2", SpinlockKind.TestAndSet)]
    [InlineData("4.16", SpinlockKind.TestAndSet)]
    [InlineData("6.1", SpinlockKind.TestAndSet)]
    [InlineData("3.12", SpinlockKind.Ticket)]
    [InlineData("2.6.39", SpinlockKind.Ticket)]
    public void Without_pv_unhalt_a_queued_lock_guest_falls_back_to_virt_spin_lock(string version, SpinlockKind expected)
    {
        var guest = GuestKernelPresets.Apply(new GuestSettings(), version);
        var kit = new GuestKit(2, 2, guest: guest, kvm: new KvmSettings { PleHandler = "none", PvUnhalt = false });
        Assert.Equal(expected, kit.Kernel.NewLock("L").Kind);
        var on = new GuestKit(2, 2, guest: guest, kvm: new KvmSettings { PleHandler = "none", PvUnhalt = true });
        Assert.Equal(guest.Spinlock, on.Kernel.NewLock("L").Kind); // with the feature, the preset's lock
    }

    [Fact]
    public void The_presets_set_steal_and_wait_early_per_version()
    {
        var d = new GuestSettings();
        Assert.Equal((false, PvWaitEarly.Off), Row(GuestKernelPresets.Apply(d, "4.2")));
        Assert.Equal((true, PvWaitEarly.HaltedOrPreempted), Row(GuestKernelPresets.Apply(d, "4.16")));
        Assert.Equal((true, PvWaitEarly.HaltedOrPreempted), Row(GuestKernelPresets.Apply(d, "5.3")));
        Assert.Equal((true, PvWaitEarly.Halted), Row(GuestKernelPresets.Apply(d, "5.10")));
        Assert.Equal((true, PvWaitEarly.Halted), Row(GuestKernelPresets.Apply(d, "6.1")));
        static (bool, PvWaitEarly) Row(GuestSettings s) => (s.PvQspinlockSteal, s.PvQspinlockWaitEarly);
    }
}

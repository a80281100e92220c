using PleSim.Engine;
using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>
/// The paravirtual guest mechanisms (decision 0023): PV ticket and PV queued spinlocks, the
/// steal-time preempted flag, PV TLB flush and PV sched yield. All hand-worked on tiny setups with
/// PLE off, so every spin, halt and kick is the lock's own doing.
/// </summary>
public class ParavirtTests
{
    private const int Loops = 1000; // a small SPIN_THRESHOLD so the tests stay short

    /// <summary>SPIN_THRESHOLD loops in ns on the kit's 2.9 GHz TSC with KVM's 40-cycle PAUSE loop.</summary>
    private static long ThresholdNs(GuestKit kit) => kit.Kvm.Tsc.ToDuration(new TscCycles(Loops * kit.Kvm.Settings.PauseLoopCycles)).Ns;

    private static GuestSettings Pv(SpinlockKind kind) => new() { Spinlock = kind, SpinThresholdLoops = Loops };

    [Theory]
    [InlineData(SpinlockKind.PvTicket)]
    [InlineData(SpinlockKind.PvQueued)]
    public void A_pv_waiter_spins_spin_threshold_loops_then_halts_and_the_unlocker_kicks_it(SpinlockKind kind)
    {
        var kit = new GuestKit(2, 2, handler: "none", guest: Pv(kind));
        var lk = kit.Kernel.NewLock("L");
        // Held 700 us: the release falls between two guest ticks (a tick would wake a safe_halt).
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), kit.Mark(0), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.RunUs(300);
        var w = kit.Vm.Vcpus[1];
        long th = ThresholdNs(kit);
        Assert.Equal(VcpuMode.Halted, w.Mode);       // kvm_lock_spinning / pv_wait: halted, not spinning
        Assert.Equal(1, lk.PvHalts);
        Assert.InRange(w.TimeIn(VcpuTime.GuestSpin), th, th + 100); // exactly the threshold's loops
        Assert.False(w.Spinning);
        kit.RunUs(2_000);
        var released = kit.Marker.Hits.Single(h => h.Code == 0).At;
        var got = kit.Marker.Hits.Single(h => h.Code == 1).At;
        Assert.True(got > released);
        Assert.Equal(1, kit.Kernel.Cpus[0].PvKicksSent);   // the unlocker of its turn kicked it
        Assert.Equal(1, w.Stats.PvKicks);
        Assert.Equal(1, lk.PvHalts);                        // woken once, by the kick, and took the lock
        Assert.InRange(w.TimeIn(VcpuTime.GuestSpin), th, th + 1_000);
        Assert.True(w.TimeIn(VcpuTime.Halted) > 600_000);
        Assert.False(w.PvUnhalted);                         // consumed when it left the halted state
    }

    [Fact]
    public void Without_pv_the_same_waiter_spins_all_along()
    {
        var kit = new GuestKit(2, 2, handler: "none", guest: Pv(SpinlockKind.Ticket));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(1_000_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.RunUs(2_000);
        Assert.Equal(0, lk.PvHalts);
        Assert.True(kit.Vm.Vcpus[1].TimeIn(VcpuTime.GuestSpin) > 900_000);
        Assert.Equal(0, kit.Kernel.Cpus[0].PvKicksSent);
    }

    [Theory]
    [InlineData(LockIrq.IrqSave)]
    [InlineData(LockIrq.Plain)]
    public void The_pv_ticket_halt_keeps_the_waiters_interrupt_flag(LockIrq irq)
    {
        // kvm_lock_spinning: halt() when the saved flags had IF clear (an irqsave lock), safe_halt()
        // otherwise. The guest tick (1000 Hz) wakes only a safe_halt: the waiter then spins the
        // threshold again and halts again, once per tick.
        var kit = new GuestKit(2, 2, handler: "none", guest: Pv(SpinlockKind.PvTicket));
        var lk = kit.Kernel.NewLock("L", irq);
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(5_000_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.RunUs(4_000);
        var wc = kit.Kernel.Cpus[1];
        Assert.Equal(VcpuMode.Halted, wc.Vcpu.Mode);
        if (irq == LockIrq.IrqSave)
        {
            Assert.False(wc.InterruptsEnabled);
            Assert.Equal(1, lk.PvHalts);
            Assert.True(wc.Vcpu.HasPendingInterrupt); // the ticks wait in the IRR
        }
        else
        {
            Assert.True(wc.InterruptsEnabled);
            Assert.InRange(lk.PvHalts, 3, 5);          // one halt, then one more after each tick
        }
        kit.RunUs(2_000);
        Assert.Single(kit.Marker.Hits);
    }

    [Fact]
    public void Pv_queued_waiters_halt_in_the_queue_and_each_unlock_kicks_the_new_head()
    {
        var kit = new GuestKit(4, 4, handler: "none", guest: Pv(SpinlockKind.PvQueued));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), GuestAction.Release(lk)), 0, pinned: true);
        for (int i = 1; i <= 3; i++)
        {
            kit.Kernel.CreateThread($"w{i}", new ListProgram(
                GuestAction.Compute(i * 20_000), GuestAction.Acquire(lk), kit.Mark(i), GuestAction.Compute(50_000), GuestAction.Release(lk)), i, pinned: true);
        }
        kit.Start();
        kit.RunUs(500);
        Assert.Equal(3, lk.PvHalts); // head and queued nodes: all halted (pv_wait_head / pv_wait_node)
        Assert.All(kit.Vm.Vcpus.Skip(1), v => Assert.Equal(VcpuMode.Halted, v.Mode));
        kit.RunUs(2_000);
        Assert.Equal([1, 2, 3], kit.Marker.Hits.Select(h => h.Code));
        Assert.Equal(3, kit.Kernel.Cpus.Sum(c => c.PvKicksSent)); // holder → w1 → w2 → w3
        Assert.Equal(0, lk.Steals);
    }

    [Theory]
    [InlineData(SpinlockKind.PvQueued)]
    [InlineData(SpinlockKind.Queued)]
    public void A_newcomer_steals_a_free_pv_queued_lock_while_the_kicked_head_wakes_up(SpinlockKind kind)
    {
        // The holder releases at ~700.5 us; the halted head needs the kick hypercall and a
        // wake-up (> 1.5 us) to run again. A newcomer asks at ~701 us: the PV lock lets it take
        // the free lock (stealing); the native queued lock puts it behind the head.
        var kit = new GuestKit(4, 4, handler: "none", guest: Pv(kind));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("head", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Kernel.CreateThread("newcomer", new ListProgram(GuestAction.Compute(700_600), GuestAction.Acquire(lk), kit.Mark(2), GuestAction.Compute(10_000), GuestAction.Release(lk)), 2, pinned: true);
        kit.Start();
        kit.RunUs(3_000);
        var order = kit.Marker.Hits.Select(h => h.Code).ToList();
        if (kind == SpinlockKind.PvQueued)
        {
            Assert.Equal([2, 1], order);
            Assert.Equal(1, lk.Steals);
        }
        else
        {
            Assert.Equal([1, 2], order);
            Assert.Equal(0, lk.Steals);
        }
    }

    [Fact]
    public void Vcpu_is_preempted_reads_the_host_preemption_and_not_a_halt()
    {
        // Two busy VCPUs on one CPU: the one off the CPU is preempted. A halted VCPU is not.
        var kit = new GuestKit(1, 3, handler: "none");
        kit.Kernel.CreateThread("a", new ListProgram(GuestAction.Compute(100_000_000)), 0, pinned: true);
        kit.Kernel.CreateThread("b", new ListProgram(GuestAction.Compute(100_000_000)), 1, pinned: true);
        kit.Start();
        kit.RunUs(20_000); // both busy VCPUs have run (the flag is clear until a VCPU is first put)
        var cpus = kit.Kernel.Cpus;
        int flips = 0;
        bool? last = null;
        for (int step = 0; step < 80; step++)
        {
            kit.RunUs(730); // off the host's tick grid
            foreach (var c in cpus.Take(2))
                Assert.Equal(!c.Vcpu.Task.OnCpu, GuestCpu.VcpuIsPreempted(c));
            Assert.False(GuestCpu.VcpuIsPreempted(cpus[2])); // idle: halted (blocked), not preempted
            bool now = GuestCpu.VcpuIsPreempted(cpus[0]);
            if (last is { } l && l != now)
                flips++;
            last = now;
        }
        Assert.True(flips >= 2, $"{flips} flips; {cpus[0].Vcpu.TimeIn(VcpuTime.GuestRun)} {cpus[1].Vcpu.TimeIn(VcpuTime.GuestRun)} {cpus[0].Vcpu.Mode} {cpus[1].Vcpu.Mode} {cpus[0].Vcpu.TimeIn(VcpuTime.Preempted)}");
        Assert.Equal(VcpuMode.Halted, cpus[2].Vcpu.Mode);
    }

    /// <summary>
    /// Two VCPUs on two CPUs: VCPU 1 runs a 20 µs thread of mm 0 and idles (HLT: its thread blocks),
    /// holding the mm lazily; at 100 µs VCPU 0 shoots down mm 0's TLB with the PV flush. Returns the
    /// halted VCPU's steal-time flag just before the flush, and the kit after the flush.
    /// </summary>
    private static (bool HaltedMarked, GuestKit Kit) FlushToHaltedVcpu(bool preemptedOnBlock)
    {
        var kvm = new KvmSettings { PleHandler = "none", StealTimePreemptedOnBlock = preemptedOnBlock };
        var kit = new GuestKit(2, 2, guest: new GuestSettings { PvTlbFlush = true }, kvm: kvm);
        kit.Kernel.CreateThread("same-mm", new ListProgram(GuestAction.Compute(20_000)), 1, pinned: true, mm: 0);
        kit.Kernel.CreateThread("initiator", new ListProgram(
            GuestAction.Compute(100_000), GuestAction.Shootdown(freedTables: false), kit.Mark(0), GuestAction.Compute(1_000_000)), 0, pinned: true, mm: 0);
        kit.Start();
        kit.RunUs(90);
        Assert.Equal(VcpuMode.Halted, kit.Vm.Vcpus[1].Mode);
        Assert.False(kit.Vm.Vcpus[1].Task.OnCpu);
        bool marked = GuestCpu.VcpuIsPreempted(kit.Kernel.Cpus[1]);
        kit.RunUs(400);
        Assert.Single(kit.Marker.Hits);
        return (marked, kit);
    }

    [Fact]
    public void Before_5_19_kvm_marks_a_vcpu_that_blocks_on_hlt_preempted_and_a_pv_flush_defers_to_its_entry()
    {
        // 5.19+ (kvm_arch_vcpu_put writes the byte only under vcpu->preempted): the halted VCPU is not
        // preempted, so the PV flush sends it the IPI, which wakes it from HLT.
        var (marked, kit) = FlushToHaltedVcpu(preemptedOnBlock: false);
        Assert.False(marked);
        Assert.Equal(0, kit.Vm.Vcpus[1].Stats.BlocksMarkedPreempted);
        Assert.Equal(0, kit.Kernel.Cpus[0].PvTlbFlushSkips);
        Assert.Equal(1, kit.Vm.Vcpus[0].Stats.IpiExits);
        Assert.Equal(1, kit.Vm.Vcpus[1].Stats.WakeFromHalt);

        // 4.10–5.18 (the byte written at every put): the halted VCPU reads as preempted, the flush
        // swaps in KVM_VCPU_FLUSH_TLB instead of an IPI and the VCPU sleeps on.
        (marked, kit) = FlushToHaltedVcpu(preemptedOnBlock: true);
        Assert.True(marked);
        Assert.True(kit.Vm.Vcpus[1].Stats.BlocksMarkedPreempted >= 1);
        Assert.Equal(1, kit.Kernel.Cpus[0].PvTlbFlushSkips);
        Assert.Equal(0, kit.Vm.Vcpus[0].Stats.IpiExits);
        Assert.Equal(0, kit.Vm.Vcpus[1].Stats.WakeFromHalt);
        Assert.True(kit.Vm.Vcpus[1].FlushTlbAtEntryPending);
        Assert.Equal(VcpuMode.Halted, kit.Vm.Vcpus[1].Mode);
    }

    [Fact]
    public void A_vcpu_marked_preempted_at_its_halt_is_unmarked_at_its_next_entry()
    {
        // The flag set at the block is cleared by record_steal_time when the VCPU is next run, and
        // the deferred flush is done then.
        var kvm = new KvmSettings { PleHandler = "none", StealTimePreemptedOnBlock = true };
        var kit = new GuestKit(2, 2, guest: new GuestSettings { PvTlbFlush = true }, kvm: kvm);
        var q = kit.Kernel.NewWaitQueue("q");
        kit.Kernel.CreateThread("same-mm", new ListProgram(GuestAction.Compute(20_000), GuestAction.Wait(q), GuestAction.Compute(1_000_000)), 1, pinned: true, mm: 0);
        kit.Kernel.CreateThread("initiator", new ListProgram(
            GuestAction.Compute(100_000), GuestAction.Shootdown(freedTables: false), GuestAction.Compute(50_000), GuestAction.Signal(q), kit.Mark(0), GuestAction.Compute(1_000_000)), 0, pinned: true, mm: 0);
        kit.Start();
        kit.RunUs(120);
        var b = kit.Vm.Vcpus[1];
        Assert.True(GuestCpu.VcpuIsPreempted(kit.Kernel.Cpus[1]));
        Assert.True(b.FlushTlbAtEntryPending);
        kit.RunUs(200); // the wake-up IPI at ~150 µs runs VCPU 1 again
        Assert.Single(kit.Marker.Hits);
        Assert.True(b.Task.OnCpu);
        Assert.False(GuestCpu.VcpuIsPreempted(kit.Kernel.Cpus[1]));
        Assert.False(b.FlushTlbAtEntryPending);
        Assert.Equal(1, b.Stats.PvTlbFlushesAtEntry);
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void Available_idle_cpu_passes_over_a_halted_vcpu_only_when_kvm_marked_it_preempted_at_the_block(bool preemptedOnBlock, bool available)
    {
        var kvm = new KvmSettings { PleHandler = "none", StealTimePreemptedOnBlock = preemptedOnBlock };
        var kit = new GuestKit(2, 2, guest: new GuestSettings { AvailableIdleCpu = true }, kvm: kvm);
        kit.Kernel.CreateThread("short", new ListProgram(GuestAction.Compute(20_000)), 1, pinned: true);
        kit.Kernel.CreateThread("busy", new ListProgram(GuestAction.Compute(1_000_000)), 0, pinned: true);
        kit.Start();
        kit.RunUs(100);
        var c1 = kit.Kernel.Cpus[1];
        Assert.True(c1.IsIdle);
        Assert.Equal(VcpuMode.Halted, c1.Vcpu.Mode);
        Assert.Equal(available, kit.Kernel.AvailableIdleCpu(c1));
    }

    [Theory]
    [InlineData("4.3", false)]  // no steal-time preempted byte before 4.10
    [InlineData("4.14", true)]
    [InlineData("4.19", true)]
    [InlineData("5.13", true)]
    [InlineData("6.1", false)]  // 54aa83c90198 (5.19-rc2): only under vcpu->preempted
    [InlineData("6.13", false)]
    public void The_kvm_presets_mark_a_blocking_vcpu_preempted_from_4_10_until_5_19(string version, bool marks) =>
        Assert.Equal(marks, KvmVersions.Apply(version, new KvmSettings()).StealTimePreemptedOnBlock);

    /// <summary>One CPU, two VCPUs of one address space: "b" computes; "a" shoots down the TLB while b's VCPU is preempted.</summary>
    private static (GuestKit Kit, long Gap) Shootdown(GuestSettings g, Func<GuestKit, bool>? afterMark = null)
    {
        var kit = new GuestKit(1, 2, handler: "none", guest: g);
        kit.Kernel.CreateThread("a", new ListProgram(GuestAction.Compute(5_000_000), kit.Mark(0), GuestAction.Shootdown(freedTables: false), kit.Mark(1), GuestAction.Compute(100_000_000)), 0, pinned: true, mm: 1);
        kit.Kernel.CreateThread("b", new ListProgram(GuestAction.Compute(100_000_000)), 1, pinned: true, mm: 1);
        kit.Start();
        for (int i = 0; i < 100_000 && kit.Marker.Hits.Count == 0; i++)
            kit.RunUs(1);
        Assert.False(kit.Vm.Vcpus[1].Task.OnCpu); // b's VCPU is preempted when a shoots down
        afterMark?.Invoke(kit);
        kit.RunUs(60_000);
        var h = kit.Marker.Hits;
        return (kit, h.Single(x => x.Code == 1).At - h.Single(x => x.Code == 0).At);
    }

    [Fact]
    public void A_pv_tlb_flush_to_a_preempted_vcpu_does_not_wait_and_the_flush_happens_at_its_next_entry()
    {
        bool pendingAtMark = false;
        var (kit, gap) = Shootdown(new GuestSettings { PvTlbFlush = true }, k =>
        {
            k.RunUs(5);
            pendingAtMark = k.Vm.Vcpus[1].FlushTlbAtEntryPending;
            return true;
        });
        Assert.True(pendingAtMark);
        Assert.InRange(gap, 0, 2_000); // no IPI, no acknowledgement to wait for
        Assert.Equal(1, kit.Kernel.Cpus[0].PvTlbFlushSkips);
        var b = kit.Vm.Vcpus[1];
        Assert.Equal(1, b.Stats.PvTlbFlushesAtEntry);
        Assert.False(b.FlushTlbAtEntryPending);
        Assert.Equal(0, kit.Vm.Vcpus[0].Stats.IpiExits);

        var (_, nativeGap) = Shootdown(new GuestSettings());
        Assert.True(nativeGap > 100_000, $"native shootdown waited {nativeGap} ns"); // until the host runs b's VCPU
    }

    [Fact]
    public void Pv_sched_yield_hands_the_cpu_to_the_preempted_ipi_target()
    {
        bool targetRunsSoon = false;
        var (kit, _) = Shootdown(new GuestSettings { PvSchedYield = true }, k =>
        {
            k.RunUs(10); // the IPI's exit, the hypercall exit and yield_to take a few us
            targetRunsSoon = k.Vm.Vcpus[1].Task.OnCpu;
            return true;
        });
        Assert.True(targetRunsSoon);
        Assert.Equal(1, kit.Kernel.Cpus[0].PvSchedYieldsSent);
        Assert.Equal(1, kit.Vm.Stats.PvSchedYieldSuccesses);

        bool withoutYield = true;
        Shootdown(new GuestSettings(), k =>
        {
            k.RunUs(10);
            withoutYield = k.Vm.Vcpus[1].Task.OnCpu;
            return true;
        });
        Assert.False(withoutYield);
    }

    [Fact]
    public void The_kernel_presets_pick_consistent_feature_sets()
    {
        var d = new GuestSettings();
        Assert.Equal(SpinlockKind.Ticket, GuestKernelPresets.Apply(d, "2.6.39").Spinlock);
        Assert.Equal(SpinlockKind.PvTicket, GuestKernelPresets.Apply(d, "3.12").Spinlock);
        var k416 = GuestKernelPresets.Apply(d, "4.16");
        Assert.Equal((SpinlockKind.PvQueued, true, false), (k416.Spinlock, k416.PvTlbFlush, k416.PvSchedYield));
        var k510 = GuestKernelPresets.Apply(d, "5.10");
        Assert.Equal((SpinlockKind.PvQueued, true, true), (k510.Spinlock, k510.PvTlbFlush, k510.PvSchedYield));
        Assert.Equal(d.Hz, k510.Hz); // nothing else changes
        Assert.Throws<ArgumentOutOfRangeException>(() => GuestKernelPresets.Apply(d, "3.0"));
    }
}

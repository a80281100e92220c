using PleSim.Engine;
using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>Records the interrupt flag and the pending state of the caller's CPU at a point of its program.</summary>
internal sealed class IrqProbe : IGuestCallback
{
    public GuestKernel Kernel { get; set; } = null!;
    public List<(int Code, long At, bool If, bool Pending)> Hits { get; } = [];

    public void Run(GuestThread thread, int code)
    {
        var c = Kernel.Cpus[thread.Cpu];
        Hits.Add((code, Kernel.Kvm.Sim.Now.Ns, c.InterruptsEnabled, c.Vcpu.HasPendingInterrupt));
    }

    public (int Code, long At, bool If, bool Pending) this[int code] => Hits.Single(h => h.Code == code);
}

public class IrqTests
{
    private const int Got = 1, Released = 2, ShootStart = 3, Acked = 4, HolderReleased = 5;

    /// <summary>
    /// Three VCPUs on three CPUs. "holder" (another address space, so no flush target) holds L for
    /// 200 us; "spinner" asks for L at 10 us and holds it 50 us; at 50 us "sender" (the spinner's
    /// address space) shoots down the TLBs, which IPIs the spinner's VCPU only.
    /// </summary>
    private static (GuestKit Kit, IrqProbe Probe, GuestSpinLock Lock) SpinnerGetsAFlushIpi(LockIrq irq, string handler = "none")
    {
        var kit = new GuestKit(3, 3, handler);
        var probe = new IrqProbe { Kernel = kit.Kernel };
        var lk = kit.Kernel.NewLock("L", irq);
        kit.Kernel.CreateThread("holder", new ListProgram(
            GuestAction.Acquire(lk), GuestAction.Compute(200_000), GuestAction.Release(lk), GuestAction.Call(probe, HolderReleased), GuestAction.Compute(1_000_000)), 0, pinned: true, mm: 1);
        kit.Kernel.CreateThread("spinner", new ListProgram(
            GuestAction.Compute(10_000), GuestAction.Acquire(lk), GuestAction.Call(probe, Got), GuestAction.Compute(50_000),
            GuestAction.Release(lk), GuestAction.Call(probe, Released), GuestAction.Compute(1_000_000)), 1, pinned: true);
        kit.Kernel.CreateThread("sender", new ListProgram(
            GuestAction.Compute(50_000), GuestAction.Call(probe, ShootStart), GuestAction.Shootdown(freedTables: false), GuestAction.Call(probe, Acked), GuestAction.Compute(1_000_000)), 2, pinned: true);
        kit.Start();
        return (kit, probe, lk);
    }

    [Fact]
    public void An_ipi_to_a_vcpu_spinning_on_an_irq_disabled_lock_waits_until_it_has_the_lock_and_re_enables()
    {
        var (kit, probe, _) = SpinnerGetsAFlushIpi(LockIrq.IrqSave);
        kit.RunUs(120);
        var cpu1 = kit.Kernel.Cpus[1];
        Assert.False(cpu1.InterruptsEnabled);             // spin_lock_irqsave spins with IF = 0
        Assert.True(cpu1.Vcpu.HasPendingInterrupt);       // the flush IPI is held back
        Assert.Equal(GuestOp.Spin, cpu1.Vcpu.Op);
        kit.RunUs(1_000);
        var got = probe[Got];
        var released = probe[Released];
        var acked = probe[Acked];
        Assert.False(got.If);                              // it has the lock, interrupts still off ...
        Assert.True(got.Pending);                          // ... so the IPI still waits
        Assert.True(released.If);
        Assert.False(released.Pending);                    // taken on re-enabling, before the next instruction
        Assert.True(acked.At > released.At - 1_000, $"acked at {acked.At}, spinner re-enabled at {released.At}");
        Assert.True(acked.At > probe[HolderReleased].At);
        // The kick forced an exit while IF = 0, so KVM armed interrupt-window exiting and the
        // re-enable cost one window exit.
        Assert.Equal(1, cpu1.Vcpu.Stats.IrqWindowExits);
        Assert.True(kit.Vm.Stats.IrqsDeferred >= 1);
        Assert.True(kit.Vm.Stats.IrqDeferredNs >= released.At - probe[ShootStart].At - 60_000,
            $"deferred {kit.Vm.Stats.IrqDeferredNs} ns");
    }

    [Theory]
    [InlineData(LockIrq.Plain)]
    [InlineData(LockIrq.Bh)]
    public void An_ipi_to_a_vcpu_spinning_on_a_plain_or_bh_lock_is_taken_at_once(LockIrq irq)
    {
        var (kit, probe, _) = SpinnerGetsAFlushIpi(irq);
        kit.RunUs(1_000);
        var start = probe[ShootStart];
        var acked = probe[Acked];
        Assert.True(acked.At - start.At < 20_000, $"the flush took {acked.At - start.At} ns");
        Assert.True(acked.At < probe[Got].At);             // acknowledged while still spinning
        Assert.Equal(0, kit.Kernel.Cpus[1].Vcpu.Stats.IrqWindowExits);
        Assert.Equal(0, kit.Vm.Stats.IrqsDeferred);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("directed-yield-2011")]
    public void A_shootdown_sender_waits_for_a_target_spinning_with_interrupts_off_a_chain(string handler)
    {
        var (kit, probe, _) = SpinnerGetsAFlushIpi(LockIrq.IrqSave, handler);
        kit.RunUs(150);
        var v = kit.Vm.Vcpus;
        // sender → (owes an ack) spinner → (holds the lock) holder
        Assert.Equal(GuestOp.Spin, v[2].Op);
        Assert.True(v[2].SpinWaitsOn(v[1]));
        Assert.False(v[2].SpinWaitsOn(v[0]));
        Assert.True(v[1].SpinWaitsOn(v[0]));
        Assert.True(kit.Kernel.Cpus[2].InterruptsEnabled);        // the sender waits with IF = 1
        kit.RunUs(1_000);
        Assert.True(probe[Acked].At > probe[HolderReleased].At);
    }

    [Fact]
    public void Irqsave_nests_the_inner_restore_keeps_interrupts_off_and_the_outer_one_delivers()
    {
        var kit = new GuestKit(2, 2, "none");
        var probe = new IrqProbe { Kernel = kit.Kernel };
        var a = kit.Kernel.NewLock("A", LockIrq.IrqSave);
        var b = kit.Kernel.NewLock("B", LockIrq.IrqSave);
        var p = kit.Kernel.NewLock("P");
        kit.Kernel.CreateThread("t", new ListProgram(
            GuestAction.Call(probe, 0),
            GuestAction.Acquire(a), GuestAction.Call(probe, 1),
            GuestAction.Compute(100_000),
            GuestAction.Acquire(p), GuestAction.Acquire(b), GuestAction.Call(probe, 2), GuestAction.Compute(10_000),
            GuestAction.Release(b), GuestAction.Call(probe, 3),
            GuestAction.Release(p), GuestAction.Call(probe, 4),
            GuestAction.Compute(10_000),
            GuestAction.Release(a), GuestAction.Call(probe, 5),
            // A plain lock held around an irqsave section: the restore turns interrupts back on.
            GuestAction.Acquire(p), GuestAction.Acquire(b), GuestAction.Call(probe, 6), GuestAction.Release(b), GuestAction.Call(probe, 7), GuestAction.Release(p),
            GuestAction.Compute(1_000_000)), 0, pinned: true);
        kit.Kernel.CreateThread("sender", new ListProgram(GuestAction.Compute(50_000), GuestAction.Shootdown(freedTables: false), GuestAction.Compute(1_000_000)), 1, pinned: true);
        kit.Start();
        kit.RunUs(1_000);
        Assert.True(probe[0].If);
        Assert.False(probe[1].If);
        Assert.False(probe[2].If);
        Assert.True(probe[2].Pending);                      // the flush IPI arrived at ~50 us
        Assert.False(probe[3].If);                          // inner restore: back to the saved "off"
        Assert.True(probe[3].Pending);
        Assert.False(probe[4].If);                          // a plain unlock does not touch IF
        Assert.True(probe[5].If);                           // outer restore: on, and the IPI was taken
        Assert.False(probe[5].Pending);
        Assert.False(probe[6].If);
        Assert.True(probe[7].If);
        Assert.Equal(1, kit.Vm.Stats.IrqsDeferred);
    }

    private static (long Deferred, long DeferredNs, long Window, string Hits) RunChain()
    {
        var (kit, probe, lk) = SpinnerGetsAFlushIpi(LockIrq.IrqSave, "directed-yield-2011");
        kit.RunUs(2_000);
        return (kit.Vm.Stats.IrqsDeferred, kit.Vm.Stats.IrqDeferredNs, kit.Vm.Vcpus.Sum(v => v.Stats.IrqWindowExits),
            string.Join(",", probe.Hits.Select(h => $"{h.Code}@{h.At}")) + $";{lk.SpinNs}");
    }

    [Fact]
    public void Deferred_delivery_is_deterministic()
    {
        var first = RunChain();
        Assert.Equal(first, RunChain());
        Assert.True(first.Deferred > 0);
    }

    /// <summary>Loops forever: take L (irqsave), hold, release, think; every fourth round a TLB shootdown.</summary>
    private sealed class IrqLoop(GuestSpinLock lk, bool shoot) : IThreadProgram
    {
        private int _step;

        public GuestAction Next(GuestThread thread)
        {
            int s = _step++ % 5;
            return s switch
            {
                0 => GuestAction.Acquire(lk),
                1 => GuestAction.Compute(3_000),
                2 => GuestAction.Release(lk),
                3 => GuestAction.Compute(2_000, userMode: true),
                _ => shoot && (_step % 20 == 0) ? GuestAction.Shootdown(freedTables: false) : GuestAction.Compute(500),
            };
        }
    }

    [Fact]
    public void Deferred_delivery_allocates_nothing_per_event_in_steady_state()
    {
        var kit = new GuestKit(2, 4);
        kit.Sim.Invariants.Disable();
        var lk = kit.Kernel.NewLock("L", LockIrq.IrqSave);
        for (int i = 0; i < 4; i++)
            kit.Kernel.CreateThread($"t{i}", new IrqLoop(lk, i == 0), i, pinned: true);
        kit.Start();
        kit.RunUs(200_000);
        long deferredBefore = kit.Vm.Stats.IrqsDeferred;
        long e0 = kit.Sim.EventsFired;
        long bytes = kit.RunUsAllocatedBytes(300_000);
        Assert.True(kit.Sim.EventsFired - e0 > 10_000, $"{kit.Sim.EventsFired - e0} events");
        Assert.True(kit.Vm.Stats.IrqsDeferred > deferredBefore, "no interrupt was deferred in the measured window");
        Assert.Equal(0, bytes);
    }
}

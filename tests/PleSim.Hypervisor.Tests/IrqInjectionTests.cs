using PleSim.Engine;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>
/// Interrupt injection at VM entry without APICv (decision 0062), worked by hand from 2.6.39
/// arch/x86/kvm/x86.c: <c>__apic_accept_irq</c> only sets the IRR and kicks; <c>kvm_vcpu_kick</c> sends a
/// host IPI to a VCPU in guest mode, which takes an external-interrupt exit; <c>vcpu_enter_guest</c> →
/// <c>inject_pending_event</c> injects at the next entry, or arms the interrupt window
/// (<c>enable_irq_window</c>) when the guest has RFLAGS.IF clear. The guest never sees an IRR bit set
/// while it stays in guest mode. The target here runs 100 ns operations, so a delivery at a
/// guest-operation boundary (the model before this record) would come within 100 ns of the send.
/// </summary>
public class IrqInjectionTests
{
    private const long Chunk = 100;

    /// <summary>Has the guest compute <see cref="Chunk"/> ns, then run <paramref name="next"/> (a loop when it re-queues itself).</summary>
    private static void Step(ScriptGuest g, Vcpu v, Action<Vcpu> next)
    {
        g.Then(next);
        v.Compute(Chunk);
    }

    /// <summary>vcpu0 computes 100 µs and sends a reschedule IPI to vcpu1 on the other CPU; vcpu1 runs <paramref name="target"/>.</summary>
    private static (KvmKit Kit, Vm Vm, ScriptGuest[] G) Setup(bool apicv, Action<Vm, ScriptGuest> target)
    {
        var kit = new KvmKit(2, settings: new KvmSettings { Apicv = apicv });
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Compute(100_000)).Then(v => v.SendIpi(vm.Vcpus[1], Vectors.Reschedule));
        target(vm, g[1]);
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        return (kit, vm, g);
    }

    /// <summary>vcpu1 loops over 100 ns operations for 300 µs.</summary>
    private static void ShortOps(Vm vm, ScriptGuest g)
    {
        for (int i = 0; i < 3000; i++)
            g.Then(v => v.Compute(Chunk));
    }

    /// <summary>When KVM delivered vcpu0's IPI: the end of its ICR-write handler, one entry before its next operation.</summary>
    private static long Delivered(KvmKit kit, ScriptGuest[] g) => g[0].OpsDoneAt[2] - kit.Kvm.Settings.Costs.Entry.Ns;

    [Fact]
    public void Without_apicv_an_ipi_to_a_vcpu_in_guest_mode_is_taken_only_after_the_kicks_exit_and_the_next_entry()
    {
        var (kit, vm, g) = Setup(apicv: false, ShortOps);
        var t = vm.Vcpus[1];
        for (int k = 0; k < 10_000 && !t.HasPendingInterrupt; k++)
            kit.Sim.RunUntil(kit.Sim.Now + new SimDuration(50));
        // In the IRR, not visible to the guest, which keeps running its operations in guest mode.
        Assert.True(t.HasPendingInterrupt);
        Assert.False(t.HasInjectableInterrupt);
        Assert.True(t.InGuestMode);
        kit.Sim.RunUntil(kit.Sim.Now + new SimDuration(500)); // well past the next operation boundary
        Assert.Empty(g[1].Interrupts);
        Assert.True(t.InGuestMode);
        kit.RunUs(200);

        var c = kit.Kvm.Settings.Costs;
        long delivered = Delivered(kit, g);
        var irq = Assert.Single(g[1].Interrupts, i => i.Vector == Vectors.Reschedule);
        Assert.Equal(delivered + c.KickIpiLatency.Ns + c.Exit.Ns + c.Entry.Ns, irq.At);
        Assert.Equal(1, t.Stats.ExternalExits);
        Assert.Equal(0, t.Stats.IrqWindowExits);
        Assert.Equal((1L, c.KickIpiLatency.Ns + c.Exit.Ns + c.Entry.Ns), (t.PiStats.IpisTaken, t.PiStats.IpiLatencyNs));
        Assert.Equal((1L, t.PiStats.IpiLatencyNs), (t.PiStats.IpisTakenFromGuestMode, t.PiStats.IpiLatencyFromGuestModeNs));
    }

    [Fact]
    public void Re_enabling_interrupts_while_the_kick_is_in_flight_does_not_deliver_and_costs_no_window_exit()
    {
        // vcpu1 runs with IF clear; as soon as the IPI is in its IRR (the model's view, not the
        // guest's) it sets IF again, before the host IPI has arrived: nothing is visible to take.
        var cli = new CliSection(sinceSeenNs => true);
        var (kit, vm, g) = Setup(apicv: false, cli.Run);
        kit.RunUs(300);

        var c = kit.Kvm.Settings.Costs;
        long delivered = Delivered(kit, g);
        var t = vm.Vcpus[1];
        Assert.False(cli.Delivering);
        Assert.True(cli.StiAt >= delivered && cli.StiAt < delivered + c.KickIpiLatency.Ns, $"sti at {cli.StiAt}, delivered at {delivered}");
        var irq = Assert.Single(g[1].Interrupts, i => i.Vector == Vectors.Reschedule);
        // IF is set at the re-entry after the kick's exit: injected there, no window.
        Assert.Equal(delivered + c.KickIpiLatency.Ns + c.Exit.Ns + c.Entry.Ns, irq.At);
        Assert.Equal(1, t.Stats.ExternalExits);
        Assert.Equal(0, t.Stats.IrqWindowExits);
        Assert.Equal(0, vm.Stats.IrqsDeferred);
    }

    [Fact]
    public void With_if_clear_at_the_reentry_the_ipi_waits_for_the_interrupt_window_exit()
    {
        // vcpu1 keeps IF clear for 20 µs after the IPI reached its IRR, past the kick's exit and entry.
        var cli = new CliSection(sinceSeenNs => sinceSeenNs >= 20_000);
        var (kit, vm, g) = Setup(apicv: false, cli.Run);
        kit.RunUs(300);

        var c = kit.Kvm.Settings.Costs;
        var t = vm.Vcpus[1];
        Assert.True(cli.Delivering);
        Assert.True(cli.StiAt > Delivered(kit, g) + c.KickIpiLatency.Ns + c.Exit.Ns + c.Entry.Ns);
        var irq = Assert.Single(g[1].Interrupts, i => i.Vector == Vectors.Reschedule);
        // handle_interrupt_window: one exit, then the injecting entry.
        Assert.Equal(cli.StiAt + c.Exit.Ns + c.Entry.Ns, irq.At);
        Assert.Equal(1, t.Stats.ExternalExits);
        Assert.Equal(1, t.Stats.IrqWindowExits);
        Assert.Equal(1, vm.Stats.IrqsDeferred);
    }

    [Fact]
    public void With_apicv_the_posted_ipi_is_still_taken_in_guest_mode_after_the_notification()
    {
        var (kit, vm, g) = Setup(apicv: true, ShortOps);
        kit.RunUs(300);
        var c = kit.Kvm.Settings.Costs;
        var t = vm.Vcpus[1];
        var irq = Assert.Single(g[1].Interrupts, i => i.Vector == Vectors.Reschedule);
        Assert.Equal(Delivered(kit, g) + c.KickIpiLatency.Ns, irq.At);
        Assert.Equal(0, t.Stats.ExternalExits);
        Assert.Equal(1, t.PiStats.DeliveredWithoutExit);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_lapic_timer_exits_at_its_expiry_and_is_injected_at_the_next_entry(bool apicv)
    {
        var kit = new KvmKit(1, settings: new KvmSettings { Apicv = apicv });
        var (vm, g) = kit.Vm("vm", 1);
        const long expiry = 50_000;
        g[0].Then(v =>
        {
            v.SetGuestTimerOneShot(new SimTime(expiry));
            v.Compute(Chunk);
        });
        ShortOps(vm, g[0]);
        kit.Kvm.Start(vm);
        kit.RunUs(100);
        var c = kit.Kvm.Settings.Costs;
        var irq = Assert.Single(g[0].Interrupts, i => i.Vector == Vectors.Timer);
        Assert.Equal(expiry + c.Exit.Ns + c.Entry.Ns, irq.At);
        Assert.Equal(1, vm.Vcpus[0].Stats.ExternalExits);
    }

    /// <summary>
    /// vcpu1's part in the two IF tests: <c>cli</c>, then 100 ns operations until the IPI has been in its
    /// IRR (the model's view, never the guest's) for as long as <paramref name="stiAfter"/> wants, then
    /// <c>sti</c> and the guest's check for a deliverable interrupt.
    /// </summary>
    private sealed class CliSection(Func<long, bool> stiAfter)
    {
        public bool Delivering;
        public long StiAt = -1;
        private long _seenAt = -1;

        public void Run(Vm vm, ScriptGuest g1)
        {
            Action<Vcpu>? loop = null;
            loop = v =>
            {
                long now = SimOf(vm).Now.Ns;
                if (_seenAt < 0 && vm.Vcpus[1].HasPendingInterrupt)
                    _seenAt = now;
                if (_seenAt < 0 || !stiAfter(now - _seenAt))
                {
                    Step(g1, v, loop!);
                    return;
                }
                g1.IrqEnabled = true; // sti
                StiAt = now;
                Delivering = v.OnInterruptsEnabled();
                if (!Delivering)
                    Step(g1, v, w => w.Compute(Chunk));
            };
            g1.Then(v =>
            {
                g1.IrqEnabled = false; // cli
                Step(g1, v, loop);
            });
        }
    }

    /// <summary>The simulator, as the scripted guests hold it (for the guest programs built before the kit returns).</summary>
    private static Simulator SimOf(Vm vm) => ((ScriptGuest)vm.Vcpus[0].Guest).Sim;
}

using PleSim.Engine;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>
/// APICv posted interrupts (decision 0060), worked by hand from arch/x86/kvm/vmx/vmx.c (5.13):
/// <c>vmx_deliver_posted_interrupt</c> sets the PIR bit and ON; <c>kvm_vcpu_trigger_posted_interrupt</c>
/// notifies a VCPU in guest mode (no VM exit on the receiver); otherwise <c>kvm_vcpu_kick</c>, and the
/// PIR is synced at the next VM entry (<c>vmx_sync_pir_to_irr</c>). And the 5.13 candidate rule of
/// <c>kvm_vcpu_on_spin</c> (commit 52acd22faa1a): a preempted user-mode candidate is kept when
/// <c>kvm_arch_dy_has_pending_interrupt</c> (APICv and <c>pi_test_on</c>).
/// </summary>
public class ApicvTests
{
    /// <summary>vcpu0 computes 100 µs and sends a reschedule IPI to vcpu1, which computes on the other CPU.</summary>
    private static (Vm Vm, ScriptGuest[] G, KvmKit Kit) IpiToARunningVcpu(bool apicv)
    {
        var kit = new KvmKit(2, settings: new KvmSettings { Apicv = apicv });
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Compute(100_000)).Then(v => v.SendIpi(vm.Vcpus[1], Vectors.Reschedule));
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        kit.RunUs(300);
        return (vm, g, kit);
    }

    [Fact]
    public void An_ipi_to_a_running_apicv_target_is_taken_in_guest_mode_after_the_notification_without_an_exit()
    {
        var (vm, g, kit) = IpiToARunningVcpu(apicv: true);
        var c = kit.Kvm.Settings.Costs;
        // OnOpDone: [0] first op, [1] compute done, [2] back in the guest after the ICR write: the
        // delivery ran at the end of the ICR handler, one entry before that.
        long delivered = g[0].OpsDoneAt[2] - c.Entry.Ns;
        var irq = Assert.Single(g[1].Interrupts, i => i.Vector == Vectors.Reschedule);
        Assert.Equal(delivered + c.KickIpiLatency.Ns, irq.At);
        var t = vm.Vcpus[1];
        Assert.Equal(0, t.Stats.ExternalExits);
        Assert.Equal((1L, 1L, 1L, 0L), (t.PiStats.Posted, t.PiStats.Notifications, t.PiStats.DeliveredWithoutExit, t.PiStats.Kicks));
        Assert.False(t.PiDesc.On);
        Assert.Equal(0, t.PiDesc.Pir);
        Assert.Equal(1, vm.Vcpus[0].Stats.IpiExits); // the sender's ICR write still exits (no IPIv)
        Assert.Equal(c.KickIpiLatency.Ns, t.PiStats.IpiLatencyNs);
    }

    [Fact]
    public void Without_apicv_the_same_ipi_forces_an_exit_and_is_injected_at_the_reentry()
    {
        var (vm, g, kit) = IpiToARunningVcpu(apicv: false);
        var c = kit.Kvm.Settings.Costs;
        long delivered = g[0].OpsDoneAt[2] - c.Entry.Ns;
        var irq = Assert.Single(g[1].Interrupts, i => i.Vector == Vectors.Reschedule);
        Assert.Equal(delivered + c.KickIpiLatency.Ns + c.Exit.Ns + c.Entry.Ns, irq.At);
        Assert.Equal(1, vm.Vcpus[1].Stats.ExternalExits);
        Assert.Equal(0, vm.Vcpus[1].PiStats.Posted);
        Assert.Equal(c.KickIpiLatency.Ns + c.Exit.Ns + c.Entry.Ns, vm.Vcpus[1].PiStats.IpiLatencyNs);
    }

    [Fact]
    public void With_interrupts_disabled_the_posted_ipi_is_taken_at_the_sti_without_a_window_exit()
    {
        var (kit, vm, g, reenabledAt, delivering) = KvmKit.IpiDuringIrqsOff(new KvmSettings { Apicv = true });
        Assert.True(delivering);
        var t = vm.Vcpus[1];
        Assert.Equal(0, t.Stats.ExternalExits);
        Assert.Equal(0, t.Stats.IrqWindowExits);
        // Virtual-interrupt delivery: the CPU delivers the moment RFLAGS.IF is set.
        var irq = Assert.Single(g[1].Interrupts, i => i.Vector == Vectors.Reschedule);
        Assert.Equal(reenabledAt, irq.At);
        Assert.Equal(1, vm.Stats.IrqsDeferred);
        Assert.Equal(1, t.PiStats.DeliveredWithoutExit); // into the virtual IRR in guest mode; taken at the sti
    }

    private static (KvmKit Kit, Vm Vm, ScriptGuest[] G) PreemptedVcpu1(KvmSettings settings, string handler, bool kernel) =>
        KvmKit.PreemptedVcpu1(handler, settings, kernel);

    [Fact]
    public void An_ipi_to_a_preempted_apicv_target_stays_posted_and_is_synced_at_its_next_entry()
    {
        var (kit, vm, g) = PreemptedVcpu1(new KvmSettings { Apicv = true }, "directed-yield-2011", kernel: true);
        var t = vm.Vcpus[1];
        long sent = kit.Sim.Now.Ns;
        kit.Kvm.Kick(t, Vectors.CallFunction, vm.Vcpus[0]);
        kit.Kvm.Kick(t, Vectors.CallFunction, vm.Vcpus[0]); // the same vector again: already in the PIR
        Assert.True(t.PiDesc.On);
        Assert.Equal(1 << Vectors.CallFunction, t.PiDesc.Pir);
        Assert.False(t.HasPendingInterrupt); // not in the virtual IRR yet
        Assert.True(t.ArchDyHasPendingInterrupt());
        Assert.Equal((1L, 1L, 0L, 1L), (t.PiStats.Posted, t.PiStats.Coalesced, t.PiStats.Notifications, t.PiStats.Kicks));
        kit.RunUs(1_000);
        Assert.DoesNotContain(g[1].Interrupts, i => i.Vector == Vectors.CallFunction); // still preempted by the hog
        Assert.True(t.Preempted && t.PiDesc.On);
        // Let it run again: take the hog away by moving vcpu1 to CPU 0 (vcpu0 is halted there).
        kit.Host.SetAffinity(t.Task, KvmKit.Cpu(0), 0);
        for (int k = 0; k < 1000 && !g[1].Interrupts.Exists(i => i.Vector == Vectors.CallFunction); k++)
            kit.RunUs(100);
        var irq = Assert.Single(g[1].Interrupts, i => i.Vector == Vectors.CallFunction);
        Assert.True(irq.At > sent + 1_000_000);
        Assert.False(t.PiDesc.On);
        Assert.Equal(0, t.PiDesc.Pir);
        Assert.True(t.PiStats.PirSyncs >= 1);
        Assert.False(t.ArchDyHasPendingInterrupt());
        Assert.Equal(0, t.PiStats.Notifications);
    }

    [Fact]
    public void An_ipi_to_a_halted_apicv_target_wakes_it_through_kvm_vcpu_kick()
    {
        var kit = new KvmKit(2, settings: new KvmSettings { Apicv = true });
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Compute(100_000)).Then(v => v.SendIpi(vm.Vcpus[1], Vectors.Reschedule));
        g[1].Then(v => v.Halt());
        kit.Kvm.Start(vm);
        kit.RunUs(50);
        Assert.Equal(VcpuMode.Halted, vm.Vcpus[1].Mode);
        kit.RunUs(200);
        var t = vm.Vcpus[1];
        Assert.Contains(g[1].Interrupts, i => i.Vector == Vectors.Reschedule);
        Assert.Equal(1, t.Stats.WakeFromHalt);
        Assert.Equal((1L, 0L, 1L), (t.PiStats.Posted, t.PiStats.Notifications, t.PiStats.Kicks));
        Assert.False(t.PiDesc.On);
    }

    [Fact]
    public void The_guest_timer_keeps_its_exit_with_apicv()
    {
        var kit = new KvmKit(1, settings: new KvmSettings { Apicv = true });
        var (vm, g) = kit.Vm("vm", 1);
        g[0].Then(v =>
        {
            v.SetGuestTimer(SimDuration.FromMilliseconds(1));
            v.Compute(10_000_000);
        });
        kit.Kvm.Start(vm);
        kit.RunUs(1_500);
        Assert.Single(g[0].Interrupts, i => i.Vector == Vectors.Timer);
        Assert.Equal(1, vm.Vcpus[0].Stats.ExternalExits);
        Assert.Equal(0, vm.Vcpus[0].PiStats.Posted);
    }

    [Fact]
    public void Dy_has_pending_interrupt_needs_apicv()
    {
        var (kit, vm, _) = PreemptedVcpu1(new KvmSettings(), "directed-yield-2011", kernel: true);
        kit.Kvm.Kick(vm.Vcpus[1], Vectors.CallFunction, vm.Vcpus[0]);
        Assert.True(vm.Vcpus[1].HasPendingInterrupt); // the IRR, as in 2.6.39
        Assert.False(vm.Vcpus[1].PiDesc.On);
        Assert.False(vm.Vcpus[1].ArchDyHasPendingInterrupt());
        Assert.False(IpiAwareYield.DyHasPendingInterrupt(vm.Vcpus[1]));
    }

    /// <summary>
    /// vcpu1 is preempted in guest user mode (optionally with a call-function IPI posted to it); vcpu0
    /// is kicked out of its halt into a kernel spin and makes one walk. The walk's only candidate is vcpu1.
    /// </summary>
    private static Vm Walk(KvmSettings settings, bool postIpi)
    {
        var (kit, vm, _) = PreemptedVcpu1(settings, settings.PleHandler, kernel: false);
        if (postIpi)
            kit.Kvm.Kick(vm.Vcpus[1], Vectors.CallFunction, vm.Vcpus[0]);
        Assert.Equal(postIpi && settings.Apicv, vm.Vcpus[1].ArchDyHasPendingInterrupt());
        kit.KickAndRunOneWalk(vm);
        return vm;
    }

    [Theory]
    // version, apicv, IPI posted, explicit override (null: the preset) → candidate taken
    [InlineData("5.13", true, true, null, true)]
    [InlineData("6.1", true, true, null, true)]
    [InlineData("6.13", true, true, null, true)]
    [InlineData("5.10", true, true, null, false)]    // before the patch: skipped in user mode
    [InlineData("5.10", true, true, true, true)]     // the switch on its own
    [InlineData("5.13", true, true, false, false)]   // ... and off
    [InlineData("5.13", false, true, null, false)]   // no APICv: pi_test_on never passes
    [InlineData("5.13", true, false, null, false)]   // nothing posted
    public void The_5_13_walk_keeps_a_user_mode_candidate_that_has_a_posted_interrupt(string version, bool apicv, bool postIpi, bool? boost, bool taken)
    {
        var s = KvmVersions.Apply(version, new KvmSettings { Apicv = apicv });
        s = s with { DirectedYield = new DirectedYieldOverrides { BoostPendingInterruptUserMode = boost }.Over(s.DirectedYield) };
        var vm = Walk(s, postIpi);
        Assert.Equal(taken ? 0 : 1, vm.Stats.SkippedUserMode);
        Assert.Equal(taken ? 1 : 0, vm.Stats.UserModePendingInterruptCandidates);
        Assert.Equal(taken ? 1 : 0, vm.Stats.YieldToCalls);
    }

    [Fact]
    public void The_presets_switch_the_boost_on_from_5_13()
    {
        int i513 = Array.FindIndex(KvmVersions.All, v => v.Version == "5.13");
        Assert.Equal("5.10", KvmVersions.All[i513 - 1].Version);
        for (int i = 0; i < KvmVersions.All.Length; i++)
        {
            var s = KvmVersions.Apply(KvmVersions.All[i].Version, new KvmSettings());
            var h = PleHandlers.Create(s.PleHandler, s.DirectedYield);
            bool on = h is DirectedYield dy && dy.Options.BoostPendingInterruptUserMode;
            Assert.True(on == (i >= i513), KvmVersions.All[i].Version);
        }
    }

    [Fact]
    public void Posting_and_walking_are_deterministic()
    {
        string Run()
        {
            var kit = new KvmKit(2, "directed-yield-5.3", new KvmSettings { Apicv = true });
            var (vm, g) = kit.Vm("vm", 3);
            for (int k = 0; k < 20; k++)
            {
                int to = 1 + k % 2;
                g[0].Then(v => v.Compute(30_000)).Then(v => v.SendIpi(vm.Vcpus[to], Vectors.CallFunction));
            }
            g[1].Then(v => v.Halt()).Then(v => v.Compute(50_000)).Then(v => v.Halt());
            kit.Kvm.Start(vm);
            kit.Hog("hog", KvmKit.Cpu(1));
            kit.RunUs(5_000);
            return string.Join(";", vm.Vcpus.Select(v => $"{v.PiStats.Posted},{v.PiStats.Notifications},{v.PiStats.Kicks},{v.PiStats.IpiLatencyNs},{v.Stats.Interrupts}"))
                + "|" + kit.Sim.EventsFired;
        }
        var a = Run();
        Assert.Equal(a, Run());
        Assert.Contains(",", a);
    }
}

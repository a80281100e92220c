using PleSim.Engine;
using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>
/// s390 guests' SIGP external calls and TLB flushes (decision 0055 addendum; arch/s390/kernel/smp.c,
/// arch/s390/kvm/sigp.c and interrupt.c, arch/s390/include/asm/tlbflush.h, Linux 6.17), worked by hand
/// on tiny set-ups with PLE off: a flush sends no IPI and waits for nobody; a wake-up IPI is a SIGP
/// that the machine runs without an exit unless the target waits (partial-execution intercept) or
/// interpretation is off (instruction intercept); a second external call to a target that has one
/// pending ends with condition code 1 and no new interrupt.
/// </summary>
public class S390SmpTests
{
    private static GuestSettings S390() => new() { Spinlock = SpinlockKind.S390, Hz = 100 };

    /// <summary>"a" on VCPU 0 flushes its mm after 1 ms; "b" threads of the same mm on VCPUs 1..targets.</summary>
    private static (GuestKit Kit, long FlushNs) Flush(GuestSettings g, int targets, int cpus = 4)
    {
        var kit = new GuestKit(cpus, 4, handler: "none", guest: g);
        kit.Kernel.CreateThread("a", new ListProgram(GuestAction.Compute(1_000_000), kit.Mark(0), GuestAction.Shootdown(freedTables: false), kit.Mark(1), GuestAction.Compute(100_000_000)), 0, pinned: true, mm: 1);
        for (int i = 1; i <= targets; i++)
            kit.Kernel.CreateThread($"b{i}", new ListProgram(GuestAction.Compute(100_000_000)), i, pinned: true, mm: 1);
        kit.Start();
        kit.RunUs(cpus < 4 ? 60_000 : 5_000);
        Assert.Equal(2, kit.Marker.Hits.Count);
        return (kit, kit.Marker.Hits[1].At - kit.Marker.Hits[0].At);
    }

    [Fact]
    public void A_flush_with_other_cpus_attached_sends_no_ipi_and_takes_only_the_broadcast_instruction()
    {
        var (kit, ns) = Flush(S390(), targets: 3);
        var c0 = kit.Kernel.Cpus[0];
        Assert.Equal(1, c0.S390TlbFlushesGlobal);
        Assert.Equal(0, c0.S390TlbFlushesLazy);
        Assert.Equal(0, c0.ShootdownIpis);
        Assert.Equal(0, kit.Vm.Vcpus[0].Stats.IpiExits);
        Assert.Equal(0, kit.Vm.Vcpus[0].Stats.SigpExternalCalls);
        for (int i = 1; i <= 3; i++)
            Assert.Equal(0, kit.Kernel.Cpus[i].CallFunctionsHandled);
        Assert.Equal(new GuestSettings().S390TlbFlushCost.Ns, ns); // the instruction, nothing else: no ack wait

        // The same flush in an x86 guest sends three flush IPIs and waits for their acknowledgements.
        var (x86, xns) = Flush(new GuestSettings { Hz = 100 }, targets: 3);
        Assert.Equal(3, x86.Vm.Vcpus[0].Stats.IpiExits);
        Assert.True(xns > ns, $"x86 shootdown {xns} ns");
    }

    [Fact]
    public void A_flush_does_not_wait_for_a_preempted_vcpu_that_has_the_mm_attached()
    {
        // Two host CPUs, four VCPUs: VCPUs 1..3 share CPUs with others, so at the flush one of them is
        // preempted; x86 would wait for it to be scheduled and acknowledge.
        var (kit, ns) = Flush(S390(), targets: 3, cpus: 2);
        Assert.Equal(1, kit.Kernel.Cpus[0].S390TlbFlushesGlobal);
        // It may itself be preempted within the instruction, never longer than for the instruction to run.
        Assert.True(ns >= new GuestSettings().S390TlbFlushCost.Ns);
        Assert.Equal(0, kit.Kernel.Cpus[0].ShootdownIpis);
        // x86 in the same set-up waits for every attached VCPU to run and acknowledge.
        var (x86, xns) = Flush(new GuestSettings { Hz = 100 }, targets: 3, cpus: 2);
        Assert.Equal(3, x86.Kernel.Cpus[0].ShootdownIpis);
        Assert.True(xns > ns, $"x86 {xns} ns, s390 {ns} ns");
    }

    [Fact]
    public void A_flush_with_no_other_cpu_attached_is_the_lazy_kind()
    {
        var (kit, ns) = Flush(S390(), targets: 0);
        Assert.Equal(1, kit.Kernel.Cpus[0].S390TlbFlushesLazy);
        Assert.Equal(0, kit.Kernel.Cpus[0].S390TlbFlushesGlobal);
        Assert.Equal(new GuestSettings().S390TlbFlushCost.Ns, ns);
    }

    /// <summary>"w" on VCPU 1 waits; "s" on VCPU 0 signals after 100 µs: VCPU 1 is idle and halted then.</summary>
    private static GuestKit WakeIdle(GuestKit kit)
    {
        var q = kit.Kernel.NewWaitQueue("q");
        kit.Kernel.CreateThread("w", new ListProgram(GuestAction.Wait(q), kit.Mark(1), GuestAction.Compute(50_000_000)), 1, pinned: true);
        kit.Kernel.CreateThread("s", new ListProgram(GuestAction.Compute(100_000), GuestAction.Signal(q), GuestAction.Compute(50_000_000)), 0, pinned: true);
        kit.Start();
        kit.RunUs(1_000);
        Assert.Single(kit.Marker.Hits);
        return kit;
    }

    [Fact]
    public void Waking_a_waiting_vcpu_is_an_interpreted_sigp_with_a_partial_execution_intercept()
    {
        var kit = WakeIdle(new GuestKit(2, 2, handler: "none", guest: S390()));
        var s0 = kit.Vm.Vcpus[0].Stats;
        Assert.Equal(1, kit.Kernel.Cpus[0].SigpExternalCallsSent);
        Assert.Equal(1, s0.SigpExternalCalls);
        Assert.Equal(1, s0.SigpPeiIntercepts);
        Assert.Equal(0, s0.SigpInstIntercepts);
        Assert.Equal(0, s0.SigpInterpreted);
        Assert.Equal(0, s0.IpiExits); // no APIC ICR write
        Assert.Equal(1, kit.Vm.Vcpus[1].Stats.WakeFromHalt);
    }

    [Fact]
    public void Without_sigp_interpretation_the_wakeup_is_an_instruction_intercept()
    {
        var kit = WakeIdle(new GuestKit(2, 2, guest: S390(), kvm: new KvmSettings { PleHandler = "none", SigpInterpretation = false }));
        var s0 = kit.Vm.Vcpus[0].Stats;
        Assert.Equal(1, s0.SigpInstIntercepts);
        Assert.Equal(0, s0.SigpPeiIntercepts);
        Assert.Equal(0, s0.IpiExits);
        Assert.Equal(1, kit.Vm.Vcpus[1].Stats.WakeFromHalt);
    }

    [Fact]
    public void An_interpreted_sigp_to_a_running_vcpu_is_taken_in_sie_without_an_exit_on_either_side()
    {
        // VCPU 1 runs "c" (a long computation) when "s" on VCPU 0 makes it runnable again... the target
        // is in guest mode; the external call is presented to it there.
        var kit = new GuestKit(2, 2, handler: "none", guest: S390());
        kit.Kernel.CreateThread("c", new ListProgram(GuestAction.Compute(50_000_000)), 1, pinned: true);
        kit.Start();
        kit.RunUs(100);
        var v0 = kit.Vm.Vcpus[0];
        var v1 = kit.Vm.Vcpus[1];
        Assert.True(v1.InGuestMode);
        long exits = v1.Stats.ExternalExits, irqs = v1.Stats.Interrupts;
        Assert.Equal(SigpPath.Interpreted, kit.Kvm.SigpExternalCall(v0, v1));
        Assert.Equal(1, v0.Stats.SigpInterpreted);
        kit.RunUs(10);
        Assert.Equal(exits, v1.Stats.ExternalExits);
        Assert.Equal(irqs + 1, v1.Stats.Interrupts);
        Assert.True(v1.InGuestMode || v1.Mode == VcpuMode.Guest);
    }

    [Fact]
    public void Without_interpretation_an_external_call_to_a_running_vcpu_is_delivered_at_the_entry_after_the_intercept()
    {
        // Decision 0062: __inject_extcall sets the pending bit and CPUSTAT_EXT_INT; the SIE is left
        // (modelled as the kick's exit) and kvm_s390_deliver_pending_interrupts delivers before the next
        // SIE entry. The guest does not see the call while it stays in SIE.
        var kit = new GuestKit(2, 2, handler: "none", guest: S390(), kvm: new KvmSettings { PleHandler = "none", SigpInterpretation = false });
        kit.Kernel.CreateThread("c", new ListProgram(GuestAction.Compute(50_000_000)), 1, pinned: true);
        kit.Start();
        kit.RunUs(100);
        var (v0, v1) = (kit.Vm.Vcpus[0], kit.Vm.Vcpus[1]);
        Assert.True(v1.InGuestMode);
        long exits = v1.Stats.ExternalExits, irqs = v1.Stats.Interrupts;
        var sim = kit.Kvm.Sim;
        long t0 = sim.Now.Ns;
        kit.Kvm.SigpIntercepted(v0, v1);
        Assert.True(v1.HasPendingInterrupt);
        Assert.False(v1.HasInjectableInterrupt);
        var c = kit.Kvm.Settings.Costs;
        long expected = t0 + c.KickIpiLatency.Ns + c.Exit.Ns + c.Entry.Ns;
        sim.RunUntil(new SimTime(expected - 1));
        Assert.Equal(irqs, v1.Stats.Interrupts);
        sim.RunUntil(new SimTime(expected));
        Assert.Equal(irqs + 1, v1.Stats.Interrupts);
        Assert.Equal(exits + 1, v1.Stats.ExternalExits);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_second_external_call_before_the_first_is_taken_gets_condition_code_1_and_no_interrupt(bool sigpif)
    {
        // Three VCPUs on three CPUs; VCPU 2 computes. VCPUs 0 and 1 send it an external call at the
        // same instant: the first makes one pending, the second finds it pending ("busy", cc 1).
        var kvm = new KvmSettings { PleHandler = "none", SigpInterpretation = sigpif };
        var kit = new GuestKit(3, 3, guest: S390(), kvm: kvm);
        kit.Kernel.CreateThread("c", new ListProgram(GuestAction.Compute(50_000_000)), 2, pinned: true);
        kit.Start();
        kit.RunUs(100);
        var (v0, v1, v2) = (kit.Vm.Vcpus[0], kit.Vm.Vcpus[1], kit.Vm.Vcpus[2]);
        long irqs = v2.Stats.Interrupts, kicks = v2.Stats.Kicks;
        var p0 = kit.Kvm.SigpExternalCall(v0, v2);
        var p1 = kit.Kvm.SigpExternalCall(v1, v2);
        if (sigpif)
        {
            Assert.Equal(SigpPath.Interpreted, p0);
            Assert.Equal(SigpPath.Interpreted, p1);
        }
        else
        {
            // Intercepted: the handlers (here called at once, in order) decide.
            Assert.Equal(SigpPath.Intercept, p0);
            Assert.Equal(SigpPath.Intercept, p1);
            kit.Kvm.SigpIntercepted(v0, v2);
            kit.Kvm.SigpIntercepted(v1, v2);
        }
        Assert.Equal(0, v0.Stats.SigpBusy);
        Assert.Equal(1, v1.Stats.SigpBusy);
        Assert.Equal(kicks + 1, v2.Stats.Kicks);
        kit.RunUs(20);
        Assert.Equal(irqs + 1, v2.Stats.Interrupts); // one external interruption for both
        // Taken: the next one is accepted again.
        kit.Kvm.SigpExternalCall(v1, v2);
        if (!sigpif)
            kit.Kvm.SigpIntercepted(v1, v2);
        Assert.Equal(1, v1.Stats.SigpBusy);
    }

    [Fact]
    public void A_request_whose_ec_mask_bit_is_still_set_sends_no_sigp_until_the_handler_takes_the_bits()
    {
        // pcpu_ec_call: test_and_set_bit(ec_bit, &pcpu->ec_mask) — set: return; smp_handle_ext_call
        // swaps the mask to 0 on entry, so a request after that needs a new SIGP.
        var kit = new GuestKit(3, 3, handler: "none", guest: S390());
        var (c0, c1, c2) = (kit.Kernel.Cpus[0], kit.Kernel.Cpus[1], kit.Kernel.Cpus[2]);
        Assert.True(c0.S390PostEc(c2, Vectors.Reschedule));
        Assert.False(c1.S390PostEc(c2, Vectors.Reschedule)); // the same request pending: coalesced
        Assert.True(c1.S390PostEc(c2, Vectors.CallFunction)); // another kind: its own bit, its own SIGP
        Assert.Equal(1, c1.EcCallsCoalesced);
        Assert.Equal(0, c0.EcCallsCoalesced);
        long handler = c2.S390ExtCallEnter(); // one interrupt takes both requests
        Assert.Equal(c2.Kernel.Settings.Costs.ReschedIpiHandler.Ns + c2.Kernel.Settings.Costs.CallFunctionHandler.Ns, handler);
        Assert.True(c0.S390PostEc(c2, Vectors.Reschedule)); // after the swap: a new SIGP
    }
}

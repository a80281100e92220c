using PleSim.Engine;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

public class HaltIpiTests
{
    [Fact]
    public void A_halted_vcpu_blocks_its_thread_until_an_ipi_wakes_it_and_the_interrupt_is_injected()
    {
        var kit = new KvmKit(2);
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Compute(100_000)).Then(v => v.SendIpi(vm.Vcpus[1], Vectors.Reschedule));
        g[1].Then(v => v.Halt());
        kit.Kvm.Start(vm);
        kit.RunUs(50);
        Assert.Equal(VcpuMode.Halted, vm.Vcpus[1].Mode);
        Assert.False(vm.Vcpus[1].Task.OnCpu);
        Assert.Equal(PleSim.Host.TaskState.Interruptible, vm.Vcpus[1].Task.State);
        kit.RunUs(200);
        Assert.Contains(g[1].Interrupts, i => i.Vector == Vectors.Reschedule);
        Assert.Equal(1, vm.Vcpus[1].Stats.WakeFromHalt);
        Assert.Equal(1, vm.Vcpus[0].Stats.IpiExits);
        // The halt ended by the interrupt counts as time halted.
        Assert.True(vm.Vcpus[1].TimeIn(VcpuTime.Halted) > 90_000);
    }

    [Fact]
    public void An_ipi_to_a_running_vcpu_forces_an_exit_after_the_kick_latency()
    {
        var kit = new KvmKit(2);
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Compute(100_000)).Then(v => v.SendIpi(vm.Vcpus[1], Vectors.Reschedule));
        kit.Kvm.Start(vm);
        kit.RunUs(300);
        Assert.Equal(1, vm.Vcpus[1].Stats.ExternalExits);
        Assert.Contains(g[1].Interrupts, i => i.Vector == Vectors.Reschedule);
    }

    [Fact]
    public void An_ipi_to_a_vcpu_with_interrupts_disabled_waits_for_the_re_enable_and_costs_an_interrupt_window_exit()
    {
        var (kit, vm, g, reenabledAt, delivering) = KvmKit.IpiDuringIrqsOff(null);
        var costs = kit.Kvm.Settings.Costs;
        Assert.True(delivering);
        Assert.Equal(1, vm.Vcpus[1].Stats.ExternalExits);  // the kick still forces an exit ...
        Assert.Equal(1, vm.Vcpus[1].Stats.IrqWindowExits); // ... and the entry arms the window
        var irq = Assert.Single(g[1].Interrupts, i => i.Vector == Vectors.Reschedule);
        Assert.Equal(reenabledAt + costs.Exit.Ns + costs.Entry.Ns, irq.At);
        Assert.Equal(1, vm.Stats.IrqsDeferred);
        Assert.True(vm.Stats.IrqDeferredNs > 80_000 && vm.Stats.IrqDeferredNs <= reenabledAt + costs.Exit.Ns + costs.Entry.Ns, $"{vm.Stats.IrqDeferredNs} ns");
    }

    [Fact]
    public void An_ipi_to_a_preempted_vcpu_waits_until_it_runs_again()
    {
        var kit = new KvmKit(2);
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Compute(2_000_000)).Then(v => v.SendIpi(vm.Vcpus[1], Vectors.Reschedule));
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        kit.Hog("hog", KvmKit.Cpu(1));
        kit.RunUs(20_000);
        var first = g[1].Interrupts.First(i => i.Vector == Vectors.Reschedule);
        Assert.True(vm.Vcpus[1].Stats.Kicks >= 1);
        // It was delivered at a VM entry, not while the VCPU was preempted.
        Assert.True(first.At >= 2_000_000);
    }

    [Fact]
    public void The_guest_timer_ticks_a_halted_vcpu_awake_every_period_and_keeps_the_host_tick_running()
    {
        var kit = new KvmKit(2);
        var (vm, g) = kit.Vm("vm", 1);
        g[0].Then(v =>
        {
            v.SetGuestTimer(SimDuration.FromMilliseconds(1));
            v.Halt();
        }).Then(v => v.Halt()).Then(v => v.Halt()).Then(v => v.Halt()).Then(v => v.Halt());
        kit.Kvm.Start(vm);
        kit.RunUs(4_500);
        Assert.InRange(g[0].Interrupts.Count(i => i.Vector == Vectors.Timer), 4, 5);
        int cpu = vm.Vcpus[0].Task.Cpu;
        Assert.False(kit.Host.Rqs[cpu].TickStopped);
    }
}

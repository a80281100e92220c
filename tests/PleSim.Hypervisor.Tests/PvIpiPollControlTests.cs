using PleSim.Engine;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>
/// KVM_HC_SEND_IPI (4.19 <c>kvm_pv_send_ipi</c>) and MSR_KVM_POLL_CONTROL (5.4
/// <c>kvm_arch_no_poll</c>), hand-worked with scripted guests (decision 0027).
/// </summary>
public class PvIpiPollControlTests
{
    [Fact]
    public void One_send_ipi_hypercall_delivers_the_vector_to_every_vcpu_of_the_mask_with_one_exit()
    {
        var kit = new KvmKit(4, "none");
        var (vm, g) = kit.Vm("vm", 4);
        g[0].Then(v => v.Compute(10_000)).Then(v => v.SendIpiMany(0b1110, Vectors.CallFunction));
        kit.Kvm.Start(vm);
        kit.RunUs(100);
        var s = vm.Vcpus[0].Stats;
        Assert.Equal(1, s.Hypercalls);   // one VMCALL ...
        Assert.Equal(0, s.IpiExits);     // ... and no ICR write
        Assert.Equal(1, s.PvSendIpis);
        Assert.Equal(3, s.PvSendIpiTargets);
        for (int i = 1; i < 4; i++)
            Assert.Contains(g[i].Interrupts, x => x.Vector == Vectors.CallFunction);
        Assert.DoesNotContain(g[0].Interrupts, x => x.Vector == Vectors.CallFunction); // not in the mask
    }

    [Fact]
    public void The_same_ipis_by_icr_write_cost_one_exit_each()
    {
        var kit = new KvmKit(4, "none");
        var (vm, g) = kit.Vm("vm", 4);
        g[0].Then(v => v.Compute(10_000))
            .Then(v => v.SendIpi(vm.Vcpus[1], Vectors.CallFunction))
            .Then(v => v.SendIpi(vm.Vcpus[2], Vectors.CallFunction))
            .Then(v => v.SendIpi(vm.Vcpus[3], Vectors.CallFunction));
        kit.Kvm.Start(vm);
        kit.RunUs(100);
        Assert.Equal(3, vm.Vcpus[0].Stats.IpiExits);
        Assert.Equal(0, vm.Vcpus[0].Stats.Hypercalls);
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 0)]
    public void Kvm_halt_polls_only_while_the_guest_leaves_poll_control_set(bool pollControl, long attempts)
    {
        var kit = new KvmKit(2, "directed-yield-3.17", new KvmSettings { HaltPoll = new HaltPollSettings { HaltPollNs = 100_000 } });
        var (vm, g) = kit.Vm("vm", 1);
        vm.Vcpus[0].PollControl = pollControl; // a haltpoll guest writes MSR_KVM_POLL_CONTROL = 0
        g[0].Then(v => v.Halt()).Then(v => v.Compute(1_000_000_000));
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.RunUs(50);
        var v = vm.Vcpus[0];
        Assert.Equal(attempts, v.Stats.HaltPollAttempts);
        Assert.Equal(pollControl, v.HaltPolling);
        Assert.Equal(pollControl ? VcpuMode.Exit : VcpuMode.Halted, v.Mode);
    }
}

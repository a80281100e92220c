using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Hypervisor.Tests;

/// <summary>
/// Ground truth of where a VM's runnable VCPU threads are queued (<see cref="Vm.StackedNs"/>): time
/// counts while two or more of them are on one host CPU's queue, and stops when one blocks or moves
/// away. KvmKit checks the placement invariant after every event.
/// </summary>
public class VcpuPlacementTests
{
    [Fact]
    public void Two_vcpus_allowed_only_one_cpu_are_stacked_from_their_start()
    {
        var kit = new KvmKit(2);
        var (vm, _) = kit.Vm("vm", 2, CpuMask.Of(0));
        kit.Kvm.Start(vm);
        kit.RunUs(5_000);
        Assert.Equal(5_000_000, vm.StackedNs(kit.Sim.Now.Ns));
        Assert.Equal(0, vm.Vcpus[0].QueuedOnCpu);
        Assert.Equal(0, vm.Vcpus[1].QueuedOnCpu);
    }

    [Fact]
    public void Vcpus_on_their_own_cpus_are_not_stacked_until_one_is_moved_onto_the_other()
    {
        var kit = new KvmKit(2);
        var (vm, _) = kit.Vm("vm", 2);
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        kit.RunUs(1_000);
        long before = vm.StackedNs(kit.Sim.Now.Ns);
        kit.RunUs(4_000);
        Assert.Equal(before, vm.StackedNs(kit.Sim.Now.Ns));

        // Moving VCPU 1 onto CPU 0 (set_cpus_allowed: a migration of a runnable task) stacks them.
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(0), 0);
        long movedAt = kit.Sim.Now.Ns;
        kit.RunUs(3_000);
        Assert.Equal(0, vm.Vcpus[1].QueuedOnCpu);
        Assert.Equal(before + (kit.Sim.Now.Ns - movedAt), vm.StackedNs(kit.Sim.Now.Ns));
    }

    [Fact]
    public void A_halted_vcpu_leaves_its_cpu_queue_and_a_wake_up_brings_it_back()
    {
        var kit = new KvmKit(1);
        var (vm, g) = kit.Vm("vm", 2);
        g[1].Then(v => v.Halt());
        kit.Kvm.Start(vm);
        for (int k = 0; k < 1000 && vm.Vcpus[1].QueuedOnCpu >= 0; k++)
            kit.RunUs(10);
        Assert.Equal(-1, vm.Vcpus[1].QueuedOnCpu);
        long halted = vm.StackedNs(kit.Sim.Now.Ns);
        kit.RunUs(2_000);
        Assert.Equal(halted, vm.StackedNs(kit.Sim.Now.Ns));

        kit.Kvm.Kick(vm.Vcpus[1], Vectors.Reschedule, null);
        long wokenAt = kit.Sim.Now.Ns;
        kit.RunUs(2_000);
        Assert.Equal(0, vm.Vcpus[1].QueuedOnCpu);
        Assert.Equal(halted + (kit.Sim.Now.Ns - wokenAt), vm.StackedNs(kit.Sim.Now.Ns));
    }

    [Fact]
    public void Vcpus_of_different_vms_on_one_cpu_stack_neither()
    {
        var kit = new KvmKit(1);
        var (a, _) = kit.Vm("a", 1);
        var (b, _) = kit.Vm("b", 1);
        kit.Kvm.Start(a);
        kit.Kvm.Start(b);
        kit.RunUs(3_000);
        Assert.Equal(0, a.StackedNs(kit.Sim.Now.Ns));
        Assert.Equal(0, b.StackedNs(kit.Sim.Now.Ns));
    }
}

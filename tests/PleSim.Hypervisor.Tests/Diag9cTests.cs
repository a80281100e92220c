using PleSim.Engine;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>
/// KVM's handler of the s390 DIAGNOSE 0x9c, <c>__diag_time_slice_end_directed</c>
/// (arch/s390/kvm/diag.c, Linux 6.17; decision 0055), case by case from the source: yield to self,
/// to an id that names no VCPU, to a VCPU loaded on a host CPU (with and without
/// <c>diag9c_forwarding_hz</c> and its per-jiffy budget), and <c>kvm_vcpu_yield_to</c>.
/// </summary>
public class Diag9cTests
{
    private static long Outcome(Vm vm, Diag9cOutcome o) => vm.Stats.Diag9cOutcomes[(int)o];

    [Fact]
    public void A_diag_to_itself_or_to_no_vcpu_is_ignored()
    {
        var kit = new KvmKit(2, "none");
        var (vm, g) = kit.Vm("vm", 2);
        var (other, _) = kit.Vm("other", 1);
        g[0].Then(v => v.Compute(1_000)).Then(v => v.Hypercall(Hypercall.Diag9c, vm.Vcpus[0]))
            .Then(v => v.Hypercall(Hypercall.Diag9c, null))
            .Then(v => v.Hypercall(Hypercall.Diag9c, other.Vcpus[0])); // kvm_get_vcpu_by_id looks in the caller's VM only
        kit.Kvm.Start(vm);
        kit.RunUs(200);
        Assert.Equal(3, vm.Stats.Diag9cCalls);
        Assert.Equal(1, Outcome(vm, Diag9cOutcome.Self));
        Assert.Equal(2, Outcome(vm, Diag9cOutcome.NoTarget));
        Assert.Equal(0, vm.Vcpus[0].Task.NrYieldTo);
        Assert.Equal(0, other.Stats.Diag9cCalls);
    }

    [Fact]
    public void A_diag_to_a_loaded_vcpu_is_ignored_without_forwarding()
    {
        // Two CPUs, two computing VCPUs: the target is loaded (tcpu->cpu >= 0) and
        // diag9c_forwarding_hz is 0 (the default): no_yield.
        var kit = new KvmKit(2, "none");
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Compute(5_000)).Then(v => v.Hypercall(Hypercall.Diag9c, vm.Vcpus[1]));
        kit.Kvm.Start(vm);
        kit.RunUs(200);
        Assert.True(vm.Vcpus[1].Loaded);
        Assert.Equal(1, Outcome(vm, Diag9cOutcome.TargetRunning));
        Assert.Equal(0, vm.Vcpus[0].Task.NrYieldTo);
    }

    [Fact]
    public void Forwarding_takes_one_of_hz_over_HZ_forwards_a_jiffy_and_a_bare_host_cpu_is_never_preempted()
    {
        // diag9c_forwarding_hz 2000 at host HZ 1000: two forwards per jiffy. Each of the first two
        // diags of a jiffy passes diag9c_forwarding_overrun and then finds the target's host CPU not
        // preempted (PleSim's host runs on bare hardware); the third of the jiffy is over budget.
        // The fourth, a jiffy later, gets a new budget.
        var kit = new KvmKit(2, "none", new KvmSettings { Diag9cForwardingHz = 2000 });
        var (vm, g) = kit.Vm("vm", 2);
        var t = vm.Vcpus[1];
        g[0].Then(v => v.Compute(1_000)).Then(v => v.Hypercall(Hypercall.Diag9c, t))
            .Then(v => v.Hypercall(Hypercall.Diag9c, t)).Then(v => v.Hypercall(Hypercall.Diag9c, t))
            .Then(v => v.Compute(1_000_000)).Then(v => v.Hypercall(Hypercall.Diag9c, t));
        kit.Kvm.Start(vm);
        kit.RunUs(200);
        Assert.Equal(0, kit.Host.Jiffies);
        Assert.Equal(2, Outcome(vm, Diag9cOutcome.HostCpuRunning));
        Assert.Equal(1, Outcome(vm, Diag9cOutcome.TargetRunning));
        kit.RunUs(2_000);
        Assert.Equal(3, Outcome(vm, Diag9cOutcome.HostCpuRunning));
        Assert.Equal(0, Outcome(vm, Diag9cOutcome.Forwarded));
        Assert.Equal(4, vm.Stats.Diag9cCalls);
    }

    [Fact]
    public void A_diag_to_a_preempted_vcpu_yields_to_it_through_yield_to()
    {
        // One CPU, two computing VCPUs: after 10 ms both have run (each has a pid), and while vcpu0
        // runs vcpu1 is runnable but not loaded. kvm_vcpu_yield_to → yield_to(task, 1) succeeds and
        // vcpu0 is scheduled out for it. No vcpu->ready test, unlike x86's kvm_sched_yield.
        var kit = new KvmKit(1, "none");
        var (vm, g) = kit.Vm("vm", 2);
        bool loadedAtDiag = true;
        g[0].Then(v => v.Compute(10_000_000)).Then(v =>
        {
            loadedAtDiag = vm.Vcpus[1].Loaded;
            v.Hypercall(Hypercall.Diag9c, vm.Vcpus[1]);
        });
        kit.Kvm.Start(vm);
        kit.RunUs(60_000);
        Assert.False(loadedAtDiag);
        Assert.Equal(1, vm.Stats.Diag9cCalls);
        Assert.Equal(1, Outcome(vm, Diag9cOutcome.Yielded));
        Assert.Equal(1, vm.Vcpus[0].Task.NrYieldTo);
        Assert.Equal(0, vm.Stats.PvSchedYields); // not a KVM_HC_SCHED_YIELD
    }
}

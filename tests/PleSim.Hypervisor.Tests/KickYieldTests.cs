using PleSim.Engine;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>
/// The kick yield (5.3, commit 266e85a5ec91; decision 0043): KVM_HC_KICK_CPU runs
/// <c>kvm_pv_kick_cpu_op</c> and then <c>kvm_sched_yield</c> on the same APIC id. Each case is
/// worked by hand from arch/x86/kvm/x86.c: the APIC-map lookup, the <c>vcpu->ready</c> test,
/// (5.13) self, (5.14) <c>single_task_running()</c>, then <c>kvm_vcpu_yield_to</c> → <c>yield_to</c>.
/// </summary>
public class KickYieldTests
{
    private static long Outcome(Vm vm, SchedYieldOutcome o) => vm.Stats.KickYieldOutcomes[(int)o];

    private static long TotalOutcomes(Vm vm) => vm.Stats.KickYieldOutcomes.Sum();

    /// <summary>
    /// One CPU: vcpu1 halts (blocked on its wait queue), vcpu0 computes 200 µs and then kicks it.
    /// The kick wakes vcpu1 onto the same run queue (kvm_vcpu_wake_up: ready), so kvm_sched_yield
    /// finds it ready, not running, runnable, queued: yield_to succeeds and vcpu0 is scheduled out.
    /// </summary>
    private static (KvmKit Kit, Vm Vm) KickHaltedWaiterOnTheSameCpu(bool kickYield)
    {
        var kit = new KvmKit(1, "directed-yield-2011", new KvmSettings { KickYield = kickYield });
        var (vm, g) = kit.Vm("vm", 2);
        g[1].Then(v => v.Halt());
        g[0].Then(v => v.Compute(200_000)).Then(v => v.Hypercall(Hypercall.KickCpu, vm.Vcpus[1]));
        kit.Kvm.Start(vm);
        kit.RunUs(1000);
        return (kit, vm);
    }

    [Fact]
    public void A_kick_that_wakes_a_halted_waiter_yields_to_it_and_yield_to_succeeds()
    {
        var (_, vm) = KickHaltedWaiterOnTheSameCpu(kickYield: true);
        Assert.Equal(1, vm.Vcpus[1].Stats.PvKicks);
        Assert.Equal(1, vm.Stats.KickYields);
        Assert.Equal(1, Outcome(vm, SchedYieldOutcome.Yielded));
        Assert.Equal(1, TotalOutcomes(vm));
        Assert.Equal(1, vm.Vcpus[0].Task.NrYieldTo);
        Assert.Equal(0, vm.Stats.PvSchedYields); // not a KVM_HC_SCHED_YIELD
    }

    [Fact]
    public void Without_the_option_the_same_kick_only_wakes_the_waiter()
    {
        var (_, vm) = KickHaltedWaiterOnTheSameCpu(kickYield: false);
        Assert.Equal(1, vm.Vcpus[1].Stats.PvKicks);
        Assert.Equal(0, vm.Stats.KickYields);
        Assert.Equal(0, TotalOutcomes(vm));
        Assert.Equal(0, vm.Vcpus[0].Task.NrYieldTo);
    }

    /// <summary>
    /// vcpu1 shares CPU 1 with a hog and computes; vcpu0 (alone on CPU 0) kicks it at a moment the
    /// host has it preempted. Returns the VM, whether vcpu1 was preempted when the guest issued the
    /// hypercall, and when the hypercall operation completed (vcpu0 back in guest mode).
    /// </summary>
    private static (Vm Vm, bool PreemptedAtKick, long KickDoneNs) KickPreemptedVcpu(bool kickYield, Hypercall nr = Hypercall.KickCpu)
    {
        var kit = new KvmKit(2, "directed-yield-2011", new KvmSettings { KickYield = kickYield });
        var (vm, g) = kit.Vm("vm", 2);
        bool preemptedAtKick = false;
        int kickOp = -1;
        void KickWhenPreempted(Vcpu v)
        {
            var t = vm.Vcpus[1];
            if (t.Task.OnCpu || !t.Preempted)
            {
                v.Compute(20_000);
                g[0].Then(KickWhenPreempted);
                return;
            }
            preemptedAtKick = true;
            kickOp = g[0].OpsDoneAt.Count; // the index its completion will have
            v.Hypercall(nr, t);
        }
        g[0].Then(v => v.Compute(1_000)).Then(KickWhenPreempted);
        g[1].Then(v => v.Compute(1_000_000_000));
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        kit.Hog("hog", KvmKit.Cpu(1));
        kit.RunUs(30_000);
        return (vm, preemptedAtKick, kickOp >= 0 && kickOp < g[0].OpsDoneAt.Count ? g[0].OpsDoneAt[kickOp] : -1);
    }

    [Fact]
    public void A_kick_to_a_preempted_vcpu_yields_to_it()
    {
        // kvm_sched_out set ready, so yield_to runs and succeeds (the target is runnable and queued
        // on CPU 1; CPU 0 holds only vcpu0, CPU 1 two tasks: no -ESRCH).
        var (vm, preemptedAtKick, _) = KickPreemptedVcpu(kickYield: true);
        Assert.True(preemptedAtKick);
        Assert.Equal(1, vm.Stats.KickYields);
        Assert.Equal(1, Outcome(vm, SchedYieldOutcome.Yielded));
        Assert.Equal(1, vm.Vcpus[0].Task.NrYieldTo);
    }

    [Fact]
    public void The_kick_yield_pays_get_pid_task_and_both_run_queue_locks_before_the_reentry()
    {
        // The two runs are identical up to the hypercall; with the option the handler adds
        // get_pid_task, two run-queue lock acquisitions (CPU 0 and CPU 1) and the yield_to hold
        // before the re-entry (vcpu0 is the only task on CPU 0, so it is picked again at once).
        var (_, _, on) = KickPreemptedVcpu(kickYield: true);
        var (_, _, off) = KickPreemptedVcpu(kickYield: false);
        Assert.True(on > 0 && off > 0);
        var c = new ExitCosts();
        Assert.Equal(c.GetPidTask.Ns + 2 * c.RqLockAcquire.Ns + c.YieldTo.Ns, on - off);
    }

    [Fact]
    public void Sched_yield_goes_through_the_same_kvm_sched_yield_with_its_cost()
    {
        // KVM_HC_SCHED_YIELD at the same moment: the same tests, the same yield_to and the same
        // time before the re-entry as the kick yield; it is counted as a sched yield, not a kick yield.
        var (vm, preempted, done) = KickPreemptedVcpu(kickYield: false, Hypercall.SchedYield);
        var (_, _, kickDone) = KickPreemptedVcpu(kickYield: true);
        Assert.True(preempted);
        Assert.Equal((1L, 1L, 0L), (vm.Stats.PvSchedYields, vm.Stats.PvSchedYieldSuccesses, vm.Stats.KickYields));
        Assert.Equal(1, vm.Vcpus[0].Task.NrYieldTo);
        Assert.Equal(0, vm.Vcpus[1].Stats.PvKicks);
        Assert.Equal(kickDone, done);
    }

    [Fact]
    public void Sched_yield_to_a_halted_vcpu_that_nobody_woke_does_not_yield()
    {
        // A halted VCPU was put blocked: kvm_sched_out left ready clear, and no wake-up set it.
        var kit = new KvmKit(1, "directed-yield-2011", new KvmSettings());
        var (vm, g) = kit.Vm("vm", 2);
        g[1].Then(v => v.Halt());
        g[0].Then(v => v.Compute(200_000)).Then(v => v.Hypercall(Hypercall.SchedYield, vm.Vcpus[1]));
        kit.Kvm.Start(vm);
        kit.RunUs(1000);
        Assert.True(vm.Vcpus[1].WaitQueueActive);
        Assert.Equal((1L, 0L), (vm.Stats.PvSchedYields, vm.Stats.PvSchedYieldSuccesses));
        Assert.Equal(0, vm.Vcpus[0].Task.NrYieldTo);
    }

    [Fact]
    public void A_kick_to_a_vcpu_running_in_guest_mode_does_not_yield()
    {
        // vcpu1 runs alone on CPU 1: the kick forces it out of guest mode, but it was scheduled in
        // (kvm_sched_in cleared ready), so kvm_sched_yield stops at the ready test: no yield_to.
        var kit = new KvmKit(2, "directed-yield-2011", new KvmSettings { KickYield = true });
        var (vm, g) = kit.Vm("vm", 2);
        bool inGuestAtKick = false;
        g[1].Then(v => v.Compute(1_000_000_000));
        g[0].Then(v => v.Compute(100_000)).Then(v =>
        {
            inGuestAtKick = vm.Vcpus[1].InGuestMode;
            v.Hypercall(Hypercall.KickCpu, vm.Vcpus[1]);
        });
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        kit.RunUs(1000);
        Assert.True(inGuestAtKick);
        Assert.Equal(1, vm.Vcpus[1].Stats.PvKicks);
        Assert.Equal(1, Outcome(vm, SchedYieldOutcome.NotReady));
        Assert.Equal(1, TotalOutcomes(vm));
        Assert.Equal(0, vm.Vcpus[0].Task.NrYieldTo);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_kick_to_itself_or_to_an_apic_id_without_a_vcpu_does_nothing(bool sixOne)
    {
        var settings = new KvmSettings { KickYield = true, SchedYieldSingleTaskBail = sixOne };
        var kit = new KvmKit(1, "directed-yield-2011", settings);
        var (vm, g) = kit.Vm("vm", 1);
        g[0].Then(v => v.Compute(10_000))
            .Then(v => v.Hypercall(Hypercall.KickCpu, vm.Vcpus[0]))
            .Then(v => v.Hypercall(Hypercall.KickCpu, null));
        kit.Kvm.Start(vm);
        kit.RunUs(200);
        Assert.Equal(2, vm.Stats.KickYields);
        Assert.Equal(0, vm.Vcpus[0].Task.NrYieldTo);
        Assert.Equal(0, Outcome(vm, SchedYieldOutcome.Yielded));
        if (sixOne)
        {
            // 5.14: the caller is alone on its run queue, so both bail out before the lookup.
            Assert.Equal(2, Outcome(vm, SchedYieldOutcome.SingleTaskRunning));
        }
        else
        {
            // 5.3: the running caller is never ready; the unknown APIC id finds no VCPU.
            Assert.Equal(1, Outcome(vm, SchedYieldOutcome.NotReady));
            Assert.Equal(1, Outcome(vm, SchedYieldOutcome.NoTarget));
        }
        Assert.Equal(1, vm.Vcpus[0].Stats.PvKicks); // the self-kick still set pv_unhalted; the null one reached nobody
    }

    [Theory]
    [InlineData(false, SchedYieldOutcome.YieldToFailed, 1)]
    [InlineData(true, SchedYieldOutcome.SingleTaskRunning, 0)]
    public void A_kicker_alone_on_its_cpu_whose_waiter_wakes_on_an_idle_cpu_does_not_yield(bool bail, SchedYieldOutcome expected, long yieldToCalls)
    {
        // vcpu1 halts on CPU 1, vcpu0 is alone on CPU 0. The kick wakes vcpu1 onto idle CPU 1
        // (ready). 5.3: yield_to is called and returns -ESRCH (both run queues hold one task).
        // 5.14+: single_task_running() on CPU 0 stops it before the lookup.
        var kit = new KvmKit(2, "directed-yield-2011", new KvmSettings { KickYield = true, SchedYieldSingleTaskBail = bail });
        var (vm, g) = kit.Vm("vm", 2);
        g[1].Then(v => v.Halt());
        g[0].Then(v => v.Compute(100_000)).Then(v => v.Hypercall(Hypercall.KickCpu, vm.Vcpus[1]));
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        kit.RunUs(1000);
        Assert.Equal(1, vm.Vcpus[1].Stats.PvKicks);
        Assert.Equal(1, Outcome(vm, expected));
        Assert.Equal(1, TotalOutcomes(vm));
        Assert.Equal(yieldToCalls, vm.Vcpus[0].Task.NrYieldTo);
    }

    [Fact]
    public void Kvm_version_switches_the_kick_yield_on_from_5_3_and_the_single_task_bail_out_from_6_1()
    {
        var d = new KvmSettings();
        Assert.False(d.KickYield);
        Assert.False(KvmVersions.Apply("4.19", d).KickYield);
        Assert.True(KvmVersions.Apply("5.3", d).KickYield);
        Assert.True(KvmVersions.Apply("5.10", d).KickYield);
        Assert.False(KvmVersions.Apply("5.10", d).SchedYieldSingleTaskBail);
        foreach (var v in new[] { "6.1", "6.12", "6.13" })
            Assert.True(KvmVersions.Apply(v, d) is { KickYield: true, SchedYieldSingleTaskBail: true }, v);
        // The list is oldest first: everything before 5.3 is off (4.19 is the entry below it), everything from it on.
        int i53 = Array.FindIndex(KvmVersions.All, v => v.Version == "5.3");
        Assert.Equal("4.19", KvmVersions.All[i53 - 1].Version);
        for (int i = 0; i < KvmVersions.All.Length; i++)
            Assert.Equal(i >= i53, KvmVersions.All[i].KickYield);
    }
}

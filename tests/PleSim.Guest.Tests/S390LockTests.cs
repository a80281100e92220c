using PleSim.Engine;
using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>
/// The s390 spinlock of a KVM guest (arch/s390/lib/spinlock.c, Linux 6.17,
/// <c>arch_spin_lock_classic</c>) and its DIAGNOSE 0x9c directed yield (decision 0055). Cases are
/// worked by hand from the source: the owner's CPU + 1 in the lock word, the diag 9c on entry when
/// <c>arch_vcpu_is_preempted</c> says the owner is not running, and one every spin_retry + 2 passes
/// over a held lock whatever the owner does (a KVM guest is not in an LPAR).
/// </summary>
public class S390LockTests
{
    private static GuestSettings S390(int spinRetry = 1000) => new() { Spinlock = SpinlockKind.S390, SpinRetry = spinRetry };

    private static long Outcome(Vm vm, Diag9cOutcome o) => vm.Stats.Diag9cOutcomes[(int)o];

    [Fact]
    public void The_retry_count_yields_on_the_pass_after_spin_retry_plus_one_passes()
    {
        // count = spin_retry; "if (count-- >= 0) continue;" goes on for count = spin_retry .. 0, and the
        // next pass (count = -1) yields and resets it.
        Assert.Equal(1002, GuestCpu.S390RetryLoops(1000));
        Assert.Equal(2, GuestCpu.S390RetryLoops(0));
        Assert.Equal(0, GuestSpinLock.S390YieldTarget(0));
        Assert.Equal(3, GuestSpinLock.S390YieldTarget(0x0003_0003)); // steal bits above the CPU field are not the owner
    }

    [Fact]
    public void The_lock_word_holds_the_owner_cpu_plus_one()
    {
        var kit = new GuestKit(4, 4, handler: "none", guest: S390());
        var lk = kit.Kernel.NewLock("L");
        Assert.Equal(SpinlockKind.S390, lk.Kind);
        Assert.False(lk.IsFifo);
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Compute(1_000), GuestAction.Acquire(lk), GuestAction.Compute(50_000_000)), 2, pinned: true);
        Assert.Equal(0, lk.S390LockValue);
        kit.Start();
        kit.RunUs(100);
        Assert.Equal(2, lk.Owner!.Index);
        Assert.Equal(3, lk.S390LockValue);
        Assert.Equal(3, GuestSpinLock.S390YieldTarget(lk.S390LockValue));
    }

    [Fact]
    public void An_s390_guest_under_a_ple_handler_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => new GuestKit(2, 2, handler: "directed-yield-2011", guest: S390()));
        Assert.Contains("ple_handler", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_waiter_on_a_running_owner_yields_every_spin_retry_plus_two_passes_and_kvm_ignores_each()
    {
        // Four VCPUs, four CPUs: the owner (vcpu0) is loaded throughout its 100 us hold. The waiter
        // (vcpu1) finds it running on entry (no diag), then issues one diag 9c per 1002 passes of
        // 10 cycles at 2.9 GHz (3455 ns of loop) plus the intercept; KVM finds the target loaded
        // (tcpu->cpu >= 0, forwarding off) and ignores every one.
        var kit = new GuestKit(4, 4, handler: "none", guest: S390());
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(100_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(10_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.RunUs(1_000);
        var waiter = kit.Kernel.Cpus[1];
        Assert.Single(kit.Marker.Hits);
        Assert.Equal(0, waiter.Diag9cAtEntry);
        long loopNs = kit.Kvm.Tsc.ToDuration(new TscCycles(1002 * 10)).Ns;
        var c = kit.Kvm.Settings.Costs;
        long diagNs = c.Exit.Ns + c.HypercallHandler.Ns + c.Entry.Ns;
        long waited = lk.SpinNs;
        Assert.InRange(waiter.Diag9cSent, waited / (loopNs + diagNs) - 1, waited / loopNs + 1);
        Assert.True(waiter.Diag9cSent >= 10, $"{waiter.Diag9cSent} diag 9c");
        Assert.Equal(waiter.Diag9cSent, kit.Vm.Stats.Diag9cCalls);
        Assert.Equal(waiter.Diag9cSent, Outcome(kit.Vm, Diag9cOutcome.TargetRunning));
        Assert.Equal(0, kit.Vm.Vcpus[1].Task.NrYieldTo);
        Assert.Equal(0, kit.Vm.Stats.PauseExits); // no PAUSE, no pause-loop exits
    }

    [Fact]
    public void A_waiter_whose_owner_is_preempted_yields_to_it_on_entry_and_kvm_yields_to_the_owner()
    {
        // One CPU, two VCPUs: the owner (vcpu0) holds the lock for 30 ms of its own run time; the
        // waiter (vcpu1) asks for it after 5 ms of its own (longer than a host slice, so vcpu0 has run
        // and taken the lock by then), and only while vcpu0 is off the CPU, so arch_vcpu_is_preempted(0)
        // is true on entry (not in enabled wait, not loaded): diag 9c at once, and KVM's
        // kvm_vcpu_yield_to hands the CPU to the owner.
        var kit = new GuestKit(1, 2, handler: "none", guest: S390());
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(30_000_000), kit.Mark(0), GuestAction.Release(lk), GuestAction.Compute(100_000_000)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(5_000_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.RunUs(200_000);
        var waiter = kit.Kernel.Cpus[1];
        Assert.True(waiter.Diag9cAtEntry >= 1, $"{waiter.Diag9cAtEntry} diag 9c on entry; {waiter.Diag9cSent} in all; hits {string.Join(",", kit.Marker.Hits)}; outcomes {string.Join(",", kit.Vm.Stats.Diag9cOutcomes)} contended {lk.Contended}");
        Assert.True(Outcome(kit.Vm, Diag9cOutcome.Yielded) >= 1);
        Assert.True(kit.Vm.Vcpus[1].Task.NrYieldTo >= 1);
        Assert.Equal(kit.Vm.Stats.Diag9cCalls, kit.Kernel.Cpus.Sum(g => g.Diag9cSent));
        Assert.Equal(kit.Vm.Stats.Diag9cCalls, kit.Vm.Stats.Diag9cOutcomes.Sum());
        Assert.Equal([0, 1], kit.Marker.Hits.Select(h => h.Code)); // the waiter gets the lock after the release
    }

    [Fact]
    public void An_idle_vcpu_in_enabled_wait_is_not_preempted_but_a_runnable_one_off_its_cpu_is()
    {
        // arch_vcpu_is_preempted: CIF_ENABLED_WAIT first (an idle VCPU, halted and so not loaded, is not
        // preempted), then SIGP SENSE RUNNING (loaded on a host CPU).
        var idle = new GuestKit(2, 2, handler: "none", guest: S390());
        idle.Kernel.CreateThread("busy", new ListProgram(GuestAction.Compute(50_000_000)), 0, pinned: true);
        idle.Start();
        idle.RunUs(5_000);
        Assert.False(idle.Vm.Vcpus[1].Loaded);
        Assert.False(GuestCpu.ArchVcpuIsPreempted(idle.Kernel.Cpus[1]));
        Assert.True(idle.Vm.Vcpus[0].Loaded);
        Assert.False(GuestCpu.ArchVcpuIsPreempted(idle.Kernel.Cpus[0]));

        var shared = new GuestKit(1, 2, handler: "none", guest: S390());
        shared.Kernel.CreateThread("a", new ListProgram(GuestAction.Compute(50_000_000)), 0, pinned: true);
        shared.Kernel.CreateThread("b", new ListProgram(GuestAction.Compute(50_000_000)), 1, pinned: true);
        shared.Start();
        shared.RunUs(5_000);
        // One CPU: exactly one of the two busy VCPUs is loaded; the other is preempted.
        Assert.Equal(1, shared.Kernel.Cpus.Count(GuestCpu.ArchVcpuIsPreempted));
        Assert.Equal(1, shared.Vm.Vcpus.Count(v => v.Loaded));
        Assert.True(shared.Kernel.Cpus.All(c => GuestCpu.ArchVcpuIsPreempted(c) == GuestCpu.VcpuIsPreempted(c))); // vcpu_is_preempted is the s390 one
    }

    [Fact]
    public void A_smaller_spin_retry_yields_more_often()
    {
        static long Diags(int retry)
        {
            var kit = new GuestKit(4, 4, handler: "none", guest: S390(retry));
            var lk = kit.Kernel.NewLock("L");
            kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(100_000), GuestAction.Release(lk)), 0, pinned: true);
            kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(10_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 1, pinned: true);
            kit.Start();
            kit.RunUs(1_000);
            return kit.Kernel.Cpus[1].Diag9cSent;
        }

        long many = Diags(100), few = Diags(1000), none = Diags(1 << 24);
        Assert.True(many > few && few > none, $"{many} {few} {none}");
        Assert.Equal(0, none); // 2^24 passes (58 ms) never run out in a 90 us wait
    }
}

using PleSim.Engine;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

public class PleTests
{
    /// <summary>VCPU 0 spins on CPU 0; VCPU 1 is in a long QEMU userspace exit (PF_VCPU clear), pinned to CPU 1.</summary>
    private static (KvmKit Kit, Vm Vm) SpinnerAndVcpuInUserspace()
    {
        var kit = new KvmKit(2);
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Spin(new TestLock(), 0));
        g[1].Then(v => v.ExitToUserspace(500_000_000));
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        return (kit, vm);
    }

    [Fact]
    public void A_kernel_mode_spin_exits_after_ple_window_cycles_and_then_again_with_a_fresh_window()
    {
        var kit = new KvmKit(1, "directed-yield-2011");
        var (vm, g) = kit.Vm("vm", 1);
        var lk = new TestLock();
        g[0].Then(v => v.Spin(lk, 0));
        kit.Kvm.Start(vm);
        kit.RunUs(20);
        // ple_window 4096 cycles at 2.9 GHz = 1413 ns; each exit costs exit + handler + entry.
        Assert.Equal(1413, kit.Kvm.PleWindowNs(userMode: false));
        long exits = vm.Vcpus[0].Stats.PauseExits;
        Assert.InRange(exits, 5, 12);
        lk.Free = true;
        vm.Vcpus[0].NotifySpinRelease();
        kit.RunUs(20);
        Assert.Same(vm.Vcpus[0], lk.TakenBy);
        Assert.Equal(exits, vm.Vcpus[0].Stats.PauseExits); // no exits once it has the lock
    }

    [Fact]
    public void With_ple_off_a_spin_never_exits()
    {
        var kit = new KvmKit(1, "none");
        var (vm, g) = kit.Vm("vm", 1);
        g[0].Then(v => v.Spin(new TestLock(), 0));
        kit.Kvm.Start(vm);
        kit.RunUs(1000);
        Assert.Equal(0, vm.Vcpus[0].Stats.PauseExits);
        Assert.True(vm.Vcpus[0].TimeIn(VcpuTime.GuestSpin) > 990_000);
    }

    [Fact]
    public void Intel_ple_ignores_user_mode_spins_and_amd_pause_filter_counts_them()
    {
        var intel = new KvmKit(1);
        var (vmI, gI) = intel.Vm("vm", 1);
        gI[0].Then(v => v.Spin(new TestLock(), 0, userMode: true));
        intel.Kvm.Start(vmI);
        intel.RunUs(200);
        Assert.Equal(0, vmI.Vcpus[0].Stats.PauseExits);

        var amd = new KvmKit(1, settings: new KvmSettings { Vendor = CpuVendor.Amd, PauseFilterCount = 3000, PauseLoopCycles = 40 });
        var (vmA, gA) = amd.Vm("vm", 1);
        gA[0].Then(v => v.Spin(new TestLock(), 0, userMode: true));
        amd.Kvm.Start(vmA);
        amd.RunUs(200);
        // 3000 PAUSEs x 40 cycles at 2.9 GHz = 41.4 us per window.
        Assert.Equal(41_380, amd.Kvm.PleWindowNs(userMode: true));
        Assert.InRange(vmA.Vcpus[0].Stats.PauseExits, 3, 5);
    }

    [Fact]
    public void A_loop_whose_pauses_are_further_apart_than_ple_gap_never_exits()
    {
        var kit = new KvmKit(1, settings: new KvmSettings { PleGap = 41, SpinLoopGapCycles = 60 });
        Assert.Equal(0, kit.Kvm.PleWindowNs(false));
        var zero = new KvmKit(1, settings: new KvmSettings { PleGap = 0 });
        Assert.Equal(0, zero.Kvm.PleWindowNs(false));
    }

    [Theory]
    [InlineData(4, 2, false, new[] { 3, 0, 1, 2 })]
    [InlineData(4, 0, false, new[] { 0, 1, 2, 3, 0 })]
    [InlineData(4, 3, false, new[] { 0, 1, 2, 3 })]
    [InlineData(4, 2, true, new[] { 3, 0, 1, 2 })]
    [InlineData(4, 0, true, new[] { 1, 2, 3, 0 })]
    [InlineData(4, 3, true, new[] { 0, 1, 2, 3 })]
    public void The_last_boosted_vcpu_walk_follows_the_kernel_loop(int n, int last, bool inclusive, int[] expected)
    {
        // 2.6.39 (`i < L`) starts after L except for L = 0, where it starts AT 0 and visits it
        // twice; 3.6 (`i <= L`) always starts at L + 1. Pass 1 ends at L.
        Span<int> order = stackalloc int[2 * n + 1];
        int count = DirectedYield.WalkOrder(n, last, inclusive, order);
        Assert.Equal(expected, order[..count].ToArray());
    }

    [Fact]
    public void Directed_yield_boosts_a_preempted_vcpu_and_records_it_as_last_boosted()
    {
        // CPU 0: vcpu0 spins (lock never released); CPU 1: vcpu1 is preempted by a hog.
        var kit = new KvmKit(2);
        var (vm, g) = kit.Vm("vm", 2);
        var lk = new TestLock();
        g[0].Then(v => v.Spin(lk, 0));
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        kit.Hog("hog", KvmKit.Cpu(1));
        kit.RunUs(200_000);
        Assert.True(vm.Stats.YieldToResults[(int)PleSim.Host.YieldToResult.Success] > 0);
        Assert.Equal(1, vm.LastBoostedVcpu);
    }

    [Fact]
    public void Directed_yield_skips_halted_vcpus_and_yields_to_nobody()
    {
        var kit = new KvmKit(2);
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Spin(new TestLock(), 0));
        g[1].Then(v => v.Halt());
        kit.Kvm.Start(vm);
        kit.RunUs(2000);
        Assert.True(vm.Stats.SkippedWaitQueue > 0);
        Assert.Equal(0, vm.Stats.YieldToCalls);
        Assert.Equal(vm.Stats.DirectedYieldWalks, vm.Stats.WalksWithoutYield);
    }

    [Fact]
    public void A_vcpu_preempted_while_in_qemu_userspace_is_found_through_its_pid_and_boosted()
    {
        // vcpu1 exits to userspace for a long I/O emulation and is preempted there: PF_VCPU is
        // clear and it is runnable, so the walk reaches yield_to and succeeds.
        var (kit, vm) = SpinnerAndVcpuInUserspace();
        kit.Hog("hog", KvmKit.Cpu(1));
        kit.RunUs(100_000);
        Assert.Equal(VcpuMode.Userspace, vm.Vcpus[1].Mode);
        Assert.NotNull(vm.Vcpus[1].Pid);
        Assert.True(vm.Stats.YieldToResults[(int)PleSim.Host.YieldToResult.Success] > 0);
    }

    [Fact]
    public void A_running_target_in_host_mode_makes_yield_to_fail_and_the_walk_go_on()
    {
        // vcpu1 runs on its own CPU but in QEMU userspace (PF_VCPU clear): KVM does not test
        // "running", so the walk calls yield_to, which fails because the target is running.
        var (kit, vm) = SpinnerAndVcpuInUserspace();
        kit.RunUs(1_000);
        Assert.True(vm.Vcpus[1].Task.OnCpu);
        long failed = vm.Stats.YieldToResults[(int)PleSim.Host.YieldToResult.TargetRunning];
        Assert.True(failed > 100, $"{failed} failed yield_to calls");
        Assert.Equal(failed, vm.Stats.YieldToCalls);
        Assert.Equal(vm.Stats.DirectedYieldWalks, vm.Stats.WalksWithoutYield);
    }

    [Fact]
    public void The_pre_2011_handler_sleeps_about_100us_per_exit_and_a_kick_ends_the_sleep_early()
    {
        var kit = new KvmKit(1, "sleep");
        var (vm, g) = kit.Vm("vm", 1);
        g[0].Then(v => v.Spin(new TestLock(), 0));
        kit.Kvm.Start(vm);
        kit.RunUs(1_000);
        // Each cycle: ~1.4 us window + exit + ~100 us asleep: about 9-10 exits per ms.
        Assert.InRange(vm.Vcpus[0].Stats.PauseExits, 8, 11);
        Assert.True(vm.Vcpus[0].TimeIn(VcpuTime.PleSleep) > 850_000);
        // Now kick it while it sleeps: it wakes before the timeout.
        while (vm.Vcpus[0].Mode != VcpuMode.PleSleep)
            kit.RunUs(1);
        long sleptAt = kit.Sim.Now.Ns;
        kit.Kvm.Kick(vm.Vcpus[0], Vectors.Reschedule, null);
        kit.RunUs(10);
        // It ran again within microseconds (then spun, exited and slept again), not after 100 us.
        Assert.Contains(g[0].Interrupts, i => i.Vector == Vectors.Reschedule && i.At - sleptAt < 20_000);
    }

    [Fact]
    public void Plain_yield_calls_sched_yield_on_every_pause_exit()
    {
        var kit = new KvmKit(1, "yield");
        var (vm, g) = kit.Vm("vm", 1);
        g[0].Then(v => v.Spin(new TestLock(), 0));
        kit.Kvm.Start(vm);
        kit.RunUs(100);
        Assert.Equal(vm.Stats.PauseExits, vm.Stats.PlainYields);
        Assert.True(vm.Stats.PlainYields > 10);
    }
}

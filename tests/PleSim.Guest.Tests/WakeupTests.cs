using PleSim.Engine;
using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

public class WakeupTests
{
    [Fact]
    public void A_signal_before_the_wait_is_not_lost()
    {
        var kit = new GuestKit(2, 2);
        var q = kit.Kernel.NewWaitQueue("q");
        kit.Kernel.CreateThread("signaller", new ListProgram(GuestAction.Signal(q)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(50_000), GuestAction.Wait(q), kit.Mark(1)), 1, pinned: true);
        kit.Start();
        kit.RunUs(1_000);
        Assert.Single(kit.Marker.Hits);
        Assert.Equal(0, q.Pending);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_shared_queue_keeps_every_early_wake_up_but_a_tasks_own_sleep_keeps_one(bool taskState)
    {
        // Decision 0089: two wake-ups before the waiter sleeps. A shared queue (futex, epoll) banks
        // both, so both waits return; a task woken by wake_up_process is only made TASK_RUNNING once.
        var kit = new GuestKit(2, 2);
        var q = taskState ? new RwSemWaiter(kit.Kernel, "t").Queue : kit.Kernel.NewWaitQueue("q");
        Assert.Equal(taskState, q.TaskState);
        kit.Kernel.CreateThread("signaller", new ListProgram(GuestAction.Signal(q), GuestAction.Signal(q)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(
            GuestAction.Compute(50_000), GuestAction.Wait(q), kit.Mark(1), GuestAction.Wait(q), kit.Mark(2)), 1, pinned: true);
        kit.Start();
        kit.RunUs(1_000);
        Assert.Equal(taskState ? [1] : [1, 2], kit.Marker.Hits.Select(h => h.Code).ToArray());
        Assert.Equal(taskState ? 1 : 0, q.Sleepers);
        Assert.Equal(0, q.Pending);
    }

    [Fact]
    public void Waking_a_thread_on_a_halted_vcpu_sends_a_reschedule_ipi_inside_the_locks_and_wakes_the_vcpu()
    {
        var kit = new GuestKit(2, 2);
        var q = kit.Kernel.NewWaitQueue("q");
        var outer = kit.Kernel.NewLock("outer");
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Wait(q), kit.Mark(1)), 1, pinned: true);
        kit.Kernel.CreateThread("waker", new ListProgram(
            GuestAction.Compute(100_000),
            GuestAction.Acquire(outer),
            GuestAction.Signal(q),
            kit.Mark(0),
            GuestAction.Release(outer)), 0, pinned: true);
        kit.Start();
        kit.RunUs(50);
        Assert.Equal(VcpuMode.Halted, kit.Vm.Vcpus[1].Mode);
        kit.RunUs(500);
        var hits = kit.Marker.Hits.ToDictionary(h => h.Code, h => h.At);
        Assert.True(hits.ContainsKey(1), "the waiter ran");
        Assert.Equal(1, kit.Kernel.Cpus[0].ReschedIpisSent);
        Assert.Equal(1, kit.Vm.Vcpus[0].Stats.IpiExits);
        Assert.Equal(1, kit.Vm.Vcpus[1].Stats.WakeFromHalt);
        // The IPI exit happened while the waker held both its own lock and the wait-queue lock.
        Assert.True(outer.HoldNs > kit.Kvm.Settings.Costs.Exit.Ns + kit.Kvm.Settings.Costs.IcrWriteHandler.Ns);
    }

    [Fact]
    public void An_idle_vcpu_halts_and_a_thread_woken_on_the_wakers_own_busy_vcpu_needs_no_ipi()
    {
        var kit = new GuestKit(1, 1);
        var q = kit.Kernel.NewWaitQueue("q");
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Wait(q), kit.Mark(1)), 0);
        kit.Kernel.CreateThread("waker", new ListProgram(GuestAction.Compute(10_000), GuestAction.Signal(q), GuestAction.Compute(10_000)), 0);
        kit.Start();
        kit.RunUs(2_000);
        Assert.Single(kit.Marker.Hits);
        Assert.Equal(0, kit.Kernel.Cpus[0].ReschedIpisSent);
        Assert.True(kit.Kernel.Cpus[0].IdleHalts >= 1);
    }

    [Fact]
    public void A_tlb_shootdown_waits_until_every_busy_vcpu_acknowledged()
    {
        var kit = new GuestKit(3, 3);
        kit.Kernel.CreateThread("busy1", new ListProgram(GuestAction.Compute(2_000_000, userMode: true)), 1, pinned: true);
        kit.Kernel.CreateThread("busy2", new ListProgram(GuestAction.Compute(2_000_000, userMode: true)), 2, pinned: true);
        kit.Kernel.CreateThread("initiator", new ListProgram(GuestAction.Compute(50_000), GuestAction.Shootdown(freedTables: false), kit.Mark(0)), 0, pinned: true);
        kit.Start();
        kit.RunUs(300);
        Assert.Single(kit.Marker.Hits);
        Assert.Equal(2, kit.Vm.Vcpus[0].Stats.IpiExits);
        Assert.All(new[] { 1, 2 }, i => Assert.True(kit.Vm.Vcpus[i].Stats.Interrupts >= 1));
    }

    [Fact]
    public void A_tlb_shootdown_also_wakes_an_idle_vcpu_holding_the_mm_lazily_and_only_once()
    {
        var kit = new GuestKit(3, 3);
        kit.Kernel.CreateThread("other-mm", new ListProgram(GuestAction.Compute(20_000)), 2, pinned: true, mm: 1);
        IdleLazyVcpuThenTwoFlushes(kit, firstFreedTables: false);
        // VCPU 1 went idle still holding mm 0 (lazy TLB): the first flush had to wake it from HLT.
        Assert.Equal(1, kit.Kernel.Cpus[1].LazyTlbFlushes);
        Assert.Equal(-1, kit.Kernel.Cpus[1].ActiveMm);
        Assert.True(kit.Vm.Vcpus[1].Stats.WakeFromHalt >= 1);
        // VCPU 2 holds another mm: never a target. After leave_mm, the second flush has no target.
        Assert.Equal(0, kit.Kernel.Cpus[2].LazyTlbFlushes);
        Assert.Equal(1, kit.Kernel.Cpus[2].ActiveMm);
        Assert.Equal(1, kit.Vm.Vcpus[0].Stats.IpiExits);
    }

    [Fact]
    public void With_the_4_20_lazy_tlb_skip_a_flush_that_freed_no_page_tables_leaves_an_idle_lazy_vcpu_alone()
    {
        // The same set-up as above with guest.lazy_tlb_skip (4.20 native_flush_tlb_others:
        // tlb_is_not_lazy): VCPU 1 idles holding mm 0 and gets neither flush's IPI; it stays in the
        // mm's cpumask, so each flush skips it again. The busy VCPU of the same mm is still a target.
        var kit = new GuestKit(4, 4, guest: new GuestSettings { LazyTlbSkip = true });
        kit.Kernel.CreateThread("other-mm", new ListProgram(GuestAction.Compute(20_000)), 2, pinned: true, mm: 1);
        kit.Kernel.CreateThread("busy", new ListProgram(GuestAction.Compute(2_000_000, userMode: true)), 3, pinned: true, mm: 0);
        IdleLazyVcpuThenTwoFlushes(kit, firstFreedTables: false);
        Assert.Equal(VcpuMode.Halted, kit.Vm.Vcpus[1].Mode);
        Assert.Equal(0, kit.Kernel.Cpus[1].LazyTlbFlushes);
        Assert.Equal(0, kit.Kernel.Cpus[1].ActiveMm);
        Assert.Equal(2, kit.Kernel.Cpus[0].LazyTlbSkips);
        // Two flush IPIs in all, both to the busy VCPU 3.
        Assert.Equal(2, kit.Kernel.Cpus[0].ShootdownIpis);
        Assert.Equal(2, kit.Vm.Vcpus[0].Stats.IpiExits);
        Assert.Equal(2, kit.Kernel.Cpus[3].CallFunctionsHandled);
    }

    [Fact]
    public void With_the_4_20_lazy_tlb_skip_a_flush_that_freed_page_tables_still_reaches_the_lazy_vcpu_which_leaves_the_mm()
    {
        var kit = new GuestKit(3, 3, guest: new GuestSettings { LazyTlbSkip = true });
        IdleLazyVcpuThenTwoFlushes(kit, firstFreedTables: true);
        Assert.Equal(1, kit.Kernel.Cpus[1].LazyTlbFlushes);
        Assert.Equal(-1, kit.Kernel.Cpus[1].ActiveMm);
        Assert.True(kit.Vm.Vcpus[1].Stats.WakeFromHalt >= 1);
        // After leave_mm it is out of the cpumask: the second flush neither IPIs nor skips it.
        Assert.Equal(0, kit.Kernel.Cpus[0].LazyTlbSkips);
        Assert.Equal(1, kit.Kernel.Cpus[0].ShootdownIpis);
    }

    /// <summary>
    /// VCPU 1 runs a thread of mm 0 for 20 µs and goes idle still holding the mm (lazy TLB); at
    /// 100 µs VCPU 0, in mm 0, shoots down twice (the first flush freeing page tables or not),
    /// marking 0 and 1 after each; both flushes complete within the 400 µs run.
    /// </summary>
    private static void IdleLazyVcpuThenTwoFlushes(GuestKit kit, bool firstFreedTables)
    {
        kit.Kernel.CreateThread("same-mm", new ListProgram(GuestAction.Compute(20_000)), 1, pinned: true, mm: 0);
        kit.Kernel.CreateThread("initiator", new ListProgram(
            GuestAction.Compute(100_000), GuestAction.Shootdown(firstFreedTables), kit.Mark(0), GuestAction.Shootdown(freedTables: false), kit.Mark(1)), 0, pinned: true, mm: 0);
        kit.Start();
        kit.RunUs(400);
        Assert.Equal([0, 1], kit.Marker.Hits.Select(h => h.Code));
    }

    [Fact]
    public void A_tlb_flush_ipi_wakes_an_idle_vcpu_that_halts_again_and_pulls_only_at_its_next_tick()
    {
        // VCPU 1 runs a thread of mm 0 for 20 µs and idles holding the mm (lazy TLB). On VCPU 0 a
        // second thread waits behind the pinned initiator; it turns cache-cold at 500 µs. At 600 µs
        // the initiator's flush IPI wakes VCPU 1: its idle loop handles the flush and halts again
        // (no schedule(), so no balancing, decision 0070); the pull comes with VCPU 1's next tick.
        var kit = new GuestKit(2, 2);
        kit.Kernel.CreateThread("same-mm", new ListProgram(GuestAction.Compute(20_000)), 1, pinned: true, mm: 0);
        kit.Kernel.CreateThread("initiator", new ListProgram(
            GuestAction.Compute(600_000), GuestAction.Shootdown(freedTables: false), kit.Mark(0), GuestAction.Compute(5_000_000)), 0, pinned: true, mm: 0);
        kit.Kernel.CreateThread("queued", new ListProgram(GuestAction.Compute(5_000_000, userMode: true)), 0, mm: 0);
        kit.Start();
        kit.RunUs(700);
        Assert.Single(kit.Marker.Hits);
        Assert.Equal(1, kit.Kernel.Cpus[1].CallFunctionsHandled);
        Assert.Equal(0, kit.Kernel.Cpus[1].Pulls);
        Assert.Null(kit.Kernel.Cpus[1].Curr);
        Assert.Equal(VcpuMode.Halted, kit.Vm.Vcpus[1].Mode);
        long ticksAtFlush = kit.Kernel.Cpus[1].TicksHandled;
        kit.RunUs(1_800);
        Assert.Equal(1, kit.Kernel.Cpus[1].Pulls);
        Assert.Equal("queued", kit.Kernel.Cpus[1].Curr?.Name);
        Assert.True(kit.Kernel.Cpus[1].TicksHandled > ticksAtFlush, "the pull followed an idle tick");
    }

    [Theory]
    [InlineData("2.6.39", false)]
    [InlineData("4.16", false)]
    [InlineData("5.3", true)]
    [InlineData("5.10", true)]
    [InlineData("6.1", true)]
    public void The_lazy_tlb_skip_comes_with_the_guest_kernels_after_4_19(string version, bool skip) =>
        Assert.Equal(skip, GuestKernelPresets.Apply(new GuestSettings(), version).LazyTlbSkip);

    [Theory]
    [InlineData(128, false)]
    [InlineData(511, false)]
    [InlineData(512, true)]
    [InlineData(32_768, true)]
    public void A_munmap_frees_page_tables_only_when_it_spans_a_whole_page_table(long pages, bool freed) =>
        Assert.Equal(freed, GuestMm.UnmapFreesPageTables(pages));

    [Fact]
    public void In_a_tickless_guest_the_nohz_balancer_keeps_ticking_and_spreads_queued_threads_to_idle_vcpus()
    {
        // Three CPU-bound threads start queued on VCPU 0; VCPUs 1 and 2 find them cache-hot, halt
        // and stop their ticks — except the first, which becomes nohz.load_balancer, keeps
        // ticking, pulls one thread and kicks the other idle VCPU to pull the last.
        var kit = new GuestKit(3, 3, guest: new GuestSettings { TicklessIdle = true });
        for (int i = 0; i < 3; i++)
            kit.Kernel.CreateThread($"hog{i}", new ListProgram(GuestAction.Compute(50_000_000, userMode: true)), 0);
        kit.Start();
        kit.RunUs(10_000);
        Assert.All(kit.Kernel.Cpus, c => Assert.NotNull(c.Curr));
        Assert.Equal(3, kit.Kernel.Cpus.Select(c => c.Curr!.Name).Distinct().Count());
        Assert.Equal(-1, kit.Kernel.NohzBalancer);
        Assert.Equal(0UL, kit.Kernel.NohzMask);
        Assert.True(kit.Kernel.Cpus.Sum(c => c.NohzKicks) + kit.Kernel.Cpus.Sum(c => c.Pulls) >= 2);
    }

    [Fact]
    public void When_every_vcpu_of_a_tickless_guest_is_idle_no_vcpu_keeps_its_tick()
    {
        var kit = new GuestKit(2, 2, guest: new GuestSettings { TicklessIdle = true });
        kit.Kernel.CreateThread("short", new ListProgram(GuestAction.Compute(100_000)), 0);
        kit.Start();
        kit.RunUs(20_000);
        Assert.Equal(-1, kit.Kernel.NohzBalancer);
        Assert.Equal(3UL, kit.Kernel.NohzMask);
        // A few ticks while the thread ran, none for the ~19 ms everything was idle.
        Assert.InRange(kit.Kernel.Cpus.Sum(c => c.TicksHandled), 0, 4);
    }

    [Fact]
    public void When_the_nohz_balancer_goes_busy_a_busy_vcpu_kicks_an_idle_one_to_take_over()
    {
        var kit = new GuestKit(3, 3, guest: new GuestSettings { TicklessIdle = true });
        var q = kit.Kernel.NewWaitQueue("q");
        kit.Kernel.CreateThread("waker", new ListProgram(GuestAction.Compute(3_000_000), GuestAction.Signal(q), GuestAction.Compute(50_000_000)), 0, pinned: true);
        kit.Kernel.CreateThread("late", new ListProgram(GuestAction.Wait(q), GuestAction.Compute(50_000_000)), 1, pinned: true);
        kit.Kernel.CreateThread("short", new ListProgram(GuestAction.Compute(20_000)), 2, pinned: true);
        kit.Start();
        kit.RunUs(2_000);
        Assert.Equal(1, kit.Kernel.NohzBalancer); // VCPU 1 went idle first and kept its tick
        long ticks2 = kit.Kernel.Cpus[2].TicksHandled;
        kit.RunUs(5_000);
        // VCPU 1 got work at 3 ms and left the balancer role; at its next tick it kicked VCPU 2.
        Assert.NotNull(kit.Kernel.Cpus[1].Curr);
        Assert.Equal(2, kit.Kernel.NohzBalancer);
        Assert.Equal(4UL, kit.Kernel.NohzMask);
        Assert.True(kit.Kernel.Cpus[2].TicksHandled >= ticks2 + 2, "the new balancer ticks");
    }

    [Fact]
    public void The_guest_tick_grid_is_offset_by_its_phase_and_a_stopped_tick_restarts_on_it()
    {
        var kit = new GuestKit(3, 3, guest: new GuestSettings { TicklessIdle = true });
        var q = kit.Kernel.NewWaitQueue("q");
        kit.Kernel.CreateThread("t0", new ListProgram(GuestAction.Compute(2_600_000), GuestAction.Wait(q), GuestAction.Compute(1_000_000)), 0, pinned: true);
        kit.Kernel.CreateThread("t1", new ListProgram(GuestAction.Compute(4_050_000), GuestAction.Signal(q), GuestAction.Compute(5_000_000)), 1, pinned: true);
        kit.Kernel.CreateThread("t2", new ListProgram(GuestAction.Compute(20_000)), 2, pinned: true);
        kit.Start(SimDuration.FromMicroseconds(300));
        Assert.Equal(300_000, kit.Vm.Vcpus[0].GuestTimerExpires.Ns);
        kit.RunUs(2_700);
        // Ticks at 0.3, 1.3 and 2.3 ms while busy; then idle with its tick stopped (VCPU 2 balances).
        Assert.Equal(3, kit.Kernel.Cpus[0].TicksHandled);
        Assert.Equal(2, kit.Kernel.NohzBalancer);
        Assert.False(kit.Vm.Vcpus[0].GuestTimerArmed);
        kit.RunUs(1_500);
        // Woken at ~4.05 ms by t1's wake-up IPI: the tick restarted on the 0.3 ms grid.
        Assert.NotNull(kit.Kernel.Cpus[0].Curr);
        Assert.True(kit.Vm.Vcpus[0].GuestTimerArmed);
        Assert.Equal(4_300_000, kit.Vm.Vcpus[0].GuestTimerExpires.Ns);
    }

    /// <summary>
    /// Three VCPUs on three host CPUs (one guest package, so select_idle_sibling searches it); a host
    /// hog shares CPU 1 with VCPU 1, which idles in guest haltpoll (its poll limit grown to 1 s after
    /// the first short halt), so the host preempts VCPU 1 while its guest CPU is idle. Runs until
    /// that state, with "w" (last on VCPU 1, allowed anywhere) asleep, and asks where a wake-up from
    /// VCPU 0 would put "w".
    /// </summary>
    private static (bool Available, int Target, long Counted) WakeWhileIdleVcpuPreempted(bool availableIdleCpu)
    {
        var hp = new GuestSettings().HaltPoll with { HaltPollNs = 2_000_000_000, GrowStart = 1_000_000_000 };
        var g = new GuestSettings { Hz = 100, Topology = GuestTopology.Cores, Haltpoll = true, HaltPoll = hp, AvailableIdleCpu = availableIdleCpu };
        var kit = new GuestKit(3, 3, handler: "none", guest: g);
        var q = kit.Kernel.NewWaitQueue("q");
        var w = kit.Kernel.CreateThread("w", new ListProgram(GuestAction.Wait(q), GuestAction.Compute(30_000), GuestAction.Wait(q)), 1);
        kit.Kernel.CreateThread("s", new ListProgram(GuestAction.Compute(200_000), GuestAction.Signal(q), GuestAction.Compute(100_000_000)), 0, pinned: true);
        kit.Start();
        kit.RunUs(1);
        kit.Pin([0, 1, 2], 1);
        var c1 = kit.Kernel.Cpus[1];
        for (int i = 0; i < 100_000 && !(c1.HaltPolls > 0 && c1.IsIdle && kit.Vm.Vcpus[1].StealTimePreempted && w.Cpu == 1 && w.State == ThreadState.Blocked); i++)
            kit.RunUs(1);
        Assert.True(c1.IsIdle && kit.Vm.Vcpus[1].StealTimePreempted && w.Cpu == 1, "VCPU 1 never was idle and preempted with w asleep on it");
        Assert.True(kit.Kernel.Cpus[2].IsIdle && !kit.Vm.Vcpus[2].StealTimePreempted);
        var target = kit.Kernel.SelectWakeTarget(w, kit.Kernel.Cpus[0]);
        return (kit.Kernel.AvailableIdleCpu(c1), target.Index, kit.Kernel.WakeupsToPreemptedIdleVcpu);
    }

    [Fact]
    public void With_available_idle_cpu_a_woken_thread_skips_an_idle_vcpu_the_host_preempted()
    {
        // idle_cpu only (before 4.18): w's previous VCPU is idle, so w would be queued there while
        // the host runs the hog instead of it.
        var old = WakeWhileIdleVcpuPreempted(false);
        Assert.Equal((true, 1, 1L), old);
        // available_idle_cpu: vcpu_is_preempted rules VCPU 1 out; VCPU 2 (halted: its thread sleeps,
        // so KVM never set its preempted flag) is the first available idle VCPU of the package.
        var now = WakeWhileIdleVcpuPreempted(true);
        Assert.Equal((false, 2, 0L), now);
    }
}

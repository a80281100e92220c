using PleSim.Engine;
using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>
/// The guest's PV send-IPI (4.19) and haltpoll cpuidle (5.4), decision 0027: hand-worked on tiny
/// setups with PLE off.
/// </summary>
public class GuestIpiHaltpollTests
{
    /// <summary>Four VCPUs on four CPUs; threads of one mm on VCPUs 1..targets; "a" on VCPU 0 shoots down after 1 ms.</summary>
    private static GuestKit Shootdown(bool pv, int targets)
    {
        var kit = new GuestKit(4, 4, handler: "none", guest: new GuestSettings { PvSendIpi = pv });
        kit.Kernel.CreateThread("a", new ListProgram(GuestAction.Compute(1_000_000), kit.Mark(0), GuestAction.Shootdown(freedTables: false), kit.Mark(1), GuestAction.Compute(100_000_000)), 0, pinned: true, mm: 1);
        for (int i = 1; i <= targets; i++)
            kit.Kernel.CreateThread($"b{i}", new ListProgram(GuestAction.Compute(100_000_000)), i, pinned: true, mm: 1);
        kit.Start();
        kit.RunUs(3_000);
        Assert.Equal(2, kit.Marker.Hits.Count); // the shootdown completed: every target acknowledged
        return kit;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void A_pv_send_ipi_to_k_vcpus_costs_one_exit_instead_of_k(int k)
    {
        var native = Shootdown(pv: false, k);
        var pv = Shootdown(pv: true, k);
        var n0 = native.Vm.Vcpus[0].Stats;
        var p0 = pv.Vm.Vcpus[0].Stats;
        Assert.Equal(k, n0.IpiExits);
        Assert.Equal(0, n0.Hypercalls);
        Assert.Equal(0, p0.IpiExits);
        Assert.Equal(1, p0.Hypercalls);
        Assert.Equal(1, pv.Kernel.Cpus[0].PvSendIpisSent);
        Assert.Equal(k - 1, pv.Kernel.Cpus[0].PvSendIpiExitsSaved);
        for (int i = 1; i <= k; i++)
            Assert.Equal(native.Vm.Vcpus[i].Stats.Interrupts, pv.Vm.Vcpus[i].Stats.Interrupts); // each target still gets its IPI
    }

    [Fact]
    public void One_target_takes_the_single_cpu_path_an_icr_write_even_with_pv_send_ipi()
    {
        var pv = Shootdown(pv: true, 1);
        Assert.Equal(1, pv.Vm.Vcpus[0].Stats.IpiExits);
        Assert.Equal(0, pv.Vm.Vcpus[0].Stats.Hypercalls);
        Assert.Equal(0, pv.Kernel.Cpus[0].PvSendIpisSent);
    }

    /// <summary>
    /// "w" on VCPU 1 waits three times; "s" on VCPU 0 signals after 100 µs, 30 µs and 1000 µs. HZ
    /// 100 keeps the first guest tick (10 ms) out of the way.
    /// </summary>
    private static GuestKit Haltpoll(bool haltpoll)
    {
        var g = new GuestSettings { Hz = 100, Haltpoll = haltpoll };
        var kit = new GuestKit(2, 2, handler: "none", guest: g);
        var q = kit.Kernel.NewWaitQueue("q");
        kit.Kernel.CreateThread("w", new ListProgram(
            GuestAction.Wait(q), kit.Mark(1), GuestAction.Wait(q), kit.Mark(2), GuestAction.Wait(q), kit.Mark(3), GuestAction.Compute(50_000_000)), 1, pinned: true);
        kit.Kernel.CreateThread("s", new ListProgram(
            GuestAction.Compute(100_000), GuestAction.Signal(q), GuestAction.Compute(30_000), GuestAction.Signal(q),
            GuestAction.Compute(1_000_000), GuestAction.Signal(q), GuestAction.Compute(50_000_000)), 0, pinned: true);
        kit.Start();
        return kit;
    }

    private static void RunUntilMark(GuestKit kit, int code)
    {
        for (int i = 0; i < 100_000 && !kit.Marker.Hits.Exists(h => h.Code == code); i++)
            kit.RunUs(1);
        Assert.Contains(kit.Marker.Hits, h => h.Code == code);
    }

    [Fact]
    public void Haltpoll_halts_first_grows_after_a_short_halt_polls_catches_a_wakeup_without_an_ipi_then_halts_and_shrinks()
    {
        var kit = Haltpoll(true);
        var c1 = kit.Kernel.Cpus[1];
        var c0 = kit.Kernel.Cpus[0];
        Assert.False(c1.Vcpu.PollControl); // MSR_KVM_POLL_CONTROL = 0: no host polling for it

        // 1. poll_limit_ns starts at 0: the first idle period halts; woken ~100 µs later (≤ 200 µs,
        //    above the limit) the limit grows from 0 to guest_halt_poll_grow_start.
        RunUntilMark(kit, 1);
        Assert.Equal(1, c1.IdleHalts);
        Assert.Equal(0, c1.HaltPolls);
        Assert.Equal(50_000, c1.PollLimitNs);
        Assert.Equal(1, c0.ReschedIpisSent);

        // 2. Last state was HLT: poll. The signal 30 µs later finds it polling: need_resched is set,
        //    no IPI is sent, and the poll ends without HLT.
        RunUntilMark(kit, 2);
        Assert.Equal(1, c1.HaltPolls);
        Assert.Equal(1, c1.HaltPollHits);
        Assert.Equal(1, c1.PollingWakeups);
        Assert.Equal(1, c0.ReschedIpisSent);
        Assert.Equal(1, c1.IdleHalts);
        Assert.Equal(50_000, c1.PollLimitNs); // a poll does not adjust the limit

        // 3. The last poll caught its wake-up: poll again; nothing comes within 50 µs, so the
        //    governor halts; the halt lasts ~950 µs > guest_halt_poll_ns: shrink by 2.
        RunUntilMark(kit, 3);
        Assert.Equal(2, c1.HaltPolls);
        Assert.Equal(1, c1.HaltPollHits);
        Assert.Equal(2, c1.IdleHalts);
        Assert.Equal(2, c0.ReschedIpisSent);
        Assert.Equal(25_000, c1.PollLimitNs);
        Assert.Equal((1L, 1L), (c1.PollLimitGrows, c1.PollLimitShrinks));

        // The polling is guest time on a runnable VCPU: a PAUSE loop, at most 30 + 50 µs of it. The
        // VCPU's other spin time is the run-queue lock its waker still holds when the poll ends.
        Assert.InRange(c1.HaltPollNs, 50_000 + 20_000, 50_000 + 35_000);
        Assert.InRange(c1.Vcpu.TimeIn(VcpuTime.GuestSpin), c1.HaltPollNs, c1.HaltPollNs + 1_000);
    }

    [Fact]
    public void Without_haltpoll_every_idle_period_halts_and_every_wakeup_is_an_ipi()
    {
        var kit = Haltpoll(false);
        RunUntilMark(kit, 3);
        var c1 = kit.Kernel.Cpus[1];
        Assert.Equal(3, c1.IdleHalts);
        Assert.Equal(0, c1.HaltPolls);
        Assert.Equal(3, kit.Kernel.Cpus[0].ReschedIpisSent);
        Assert.True(c1.Vcpu.PollControl);
        Assert.Equal(0, c1.Vcpu.TimeIn(VcpuTime.GuestSpin));
    }

    [Fact]
    public void A_zero_shrink_factor_resets_the_limit_and_allow_shrink_false_keeps_it()
    {
        var hp = new GuestSettings().HaltPoll;
        foreach (var (shrink, allow, expect) in new[] { (0L, true, 0L), (2L, false, 50_000L) })
        {
            var g = new GuestSettings { Hz = 100, Haltpoll = true, HaltPoll = hp with { Shrink = shrink }, HaltPollAllowShrink = allow };
            var kit = new GuestKit(2, 2, handler: "none", guest: g);
            var q = kit.Kernel.NewWaitQueue("q");
            kit.Kernel.CreateThread("w", new ListProgram(GuestAction.Wait(q), kit.Mark(1), GuestAction.Wait(q), kit.Mark(2), GuestAction.Compute(50_000_000)), 1, pinned: true);
            kit.Kernel.CreateThread("s", new ListProgram(GuestAction.Compute(100_000), GuestAction.Signal(q), GuestAction.Compute(1_000_000), GuestAction.Signal(q), GuestAction.Compute(50_000_000)), 0, pinned: true);
            kit.Start();
            RunUntilMark(kit, 2);
            Assert.Equal(expect, kit.Kernel.Cpus[1].PollLimitNs);
        }
    }

    /// <summary>A program that repeats its actions forever.</summary>
    private sealed class Loop(params GuestAction[] actions) : IThreadProgram
    {
        private int _i;

        public GuestAction Next(GuestThread thread) => actions[_i++ % actions.Length];
    }

    [Fact]
    public void Pv_send_ipi_and_haltpoll_allocate_nothing_per_event_in_steady_state()
    {
        var kit = new GuestKit(4, 4, handler: "directed-yield-2011", guest: new GuestSettings { PvSendIpi = true, Haltpoll = true });
        var q = kit.Kernel.NewWaitQueue("q");
        kit.Kernel.CreateThread("a", new Loop(GuestAction.Compute(50_000), GuestAction.Shootdown(freedTables: false)), 0, pinned: true, mm: 1);
        kit.Kernel.CreateThread("b", new Loop(GuestAction.Compute(100_000)), 1, pinned: true, mm: 1);
        kit.Kernel.CreateThread("c", new Loop(GuestAction.Compute(30_000), GuestAction.Signal(q)), 2, pinned: true, mm: 1);
        kit.Kernel.CreateThread("w", new Loop(GuestAction.Wait(q), GuestAction.Compute(5_000)), 3, pinned: true, mm: 2);
        kit.Start();
        kit.Sim.Invariants.Disable(); // the checks themselves allocate
        kit.RunUs(20_000);
        long pv0 = kit.Kernel.Cpus[0].PvSendIpisSent, polls0 = kit.Kernel.Cpus[3].HaltPolls;
        long bytes = kit.RunUsAllocatedBytes(40_000);
        Assert.True(kit.Kernel.Cpus[0].PvSendIpisSent > pv0);
        Assert.True(kit.Kernel.Cpus[3].HaltPolls > polls0);
        Assert.Equal(0, bytes);
    }
}

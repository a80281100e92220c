using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>Records the VCPU's PLE window at each PAUSE exit (before the handler grows it).</summary>
internal sealed class WindowLog(Vcpu v) : IKvmObserver
{
    public List<long> Windows { get; } = [];

    public void PauseExit(Vcpu vcpu)
    {
        if (vcpu == v)
            Windows.Add(vcpu.PleWindow);
    }
}

/// <summary>
/// The later KVM mechanisms, hand-worked from the sources: the dynamic PLE window (3.18), halt
/// polling (4.0) and its adaptive poll time (4.3), yield_to_kernel_mode (4.14), vcpu->ready
/// (5.3), the single wrapping walk (6.13), and the kvm.version presets.
/// </summary>
public class KvmLaterVersionTests
{
    // ------------------------------------------------------------------ dynamic PLE window

    [Fact]
    public void The_ple_window_arithmetic_doubles_up_to_the_max_and_a_zero_shrink_resets_to_the_base()
    {
        // __grow_ple_window(val, base 4096, modifier 2, max): 2 < base, so multiply.
        Assert.Equal(8192, PleWindowPolicy.GrowWindow(4096, 4096, 2, int.MaxValue));
        Assert.Equal(10_000, PleWindowPolicy.GrowWindow(8192, 4096, 2, 10_000));
        // A modifier at least the base adds; below 1 resets.
        Assert.Equal(4096 + 5000, PleWindowPolicy.GrowWindow(4096, 4096, 5000, int.MaxValue));
        Assert.Equal(4096, PleWindowPolicy.GrowWindow(65536, 4096, 0, int.MaxValue));
        // __shrink_ple_window: shrink 0 (the default) resets to the base; 2 halves, floored at the base.
        Assert.Equal(4096, PleWindowPolicy.ShrinkWindow(65536, 4096, 0));
        Assert.Equal(32768, PleWindowPolicy.ShrinkWindow(65536, 4096, 2));
        Assert.Equal(4096, PleWindowPolicy.ShrinkWindow(6000, 4096, 2));
    }

    [Fact]
    public void The_3_18_window_is_clamped_before_it_grows_and_tops_out_below_2_to_the_30_cycles()
    {
        // 3.18–4.17 vmx.c: ple_window_max = INT_MAX / 2 = 1,073,741,823; ple_window_actual_max =
        // that / 2 = 536,870,911; each grow takes min(window, actual max) and doubles it, with no
        // clamp after: 4096 · 2^18 = 2^30 is never reached, the ceiling is 1,073,741,822.
        var p = KvmVersions.Get("3.18").IntelWindow;
        Assert.True(p.ClampBeforeGrow);
        Assert.Equal(int.MaxValue / 2, p.Max);
        long w = 4096;
        for (int i = 0; i < 40; i++)
            w = p.Grown(w, 4096);
        Assert.Equal(1_073_741_822, w);
        Assert.Equal(536_870_912, p.Grown(268_435_456, 4096)); // below the clamp: a plain doubling
        // 4.18's helper clamps after the grow, at UINT_MAX.
        var q = KvmVersions.Get("4.19").IntelWindow;
        Assert.False(q.ClampBeforeGrow);
        long u = 4096;
        for (int i = 0; i < 40; i++)
            u = q.Grown(u, 4096);
        Assert.Equal(uint.MaxValue, u);
    }

    [Fact]
    public void The_dynamic_window_doubles_on_each_pause_exit_up_to_the_max_and_resets_when_the_vcpu_is_scheduled_in()
    {
        var settings = new KvmSettings { PleWindowPolicy = new PleWindowPolicy { Dynamic = true, Grow = 2, Shrink = 0, Max = 4096 * 8 } };
        var kit = new KvmKit(1, "directed-yield-3.17", settings);
        var (vm, g) = kit.Vm("vm", 1);
        g[0].Then(v => v.Spin(new TestLock(), 0));
        var log = new WindowLog(vm.Vcpus[0]);
        kit.Kvm.Observer = log;
        kit.Kvm.Start(vm);
        kit.RunUs(200);
        Assert.True(log.Windows.Count >= 5);
        Assert.Equal([4096L, 8192, 16384, 32768, 32768], log.Windows.Take(5));
        // The pause loop now lasts 32768 cycles: 11.3 us at 2.9 GHz.
        Assert.Equal(TscFrequency.FromMegahertz(2900).ToDuration(new TscCycles(32768)).Ns, kit.Kvm.PleWindowNs(vm.Vcpus[0], false));
        // A hog on the same CPU: the VCPU is switched out and in again; at each sched-in the window is back at 4096.
        var hog = kit.Host.CreateTask("hog", new HogBody(), 0, KvmKit.Cpu(0));
        kit.Host.WakeUpNewTask(hog, 0);
        int before = log.Windows.Count;
        kit.RunUs(100_000);
        var after = log.Windows.Skip(before).ToList();
        Assert.Contains(4096L, after);
        for (int i = 1; i < after.Count; i++)
            Assert.True(after[i] == 4096 || after[i] == Math.Min(2 * after[i - 1], 32768), $"window {after[i]} after {after[i - 1]}");
    }

    [Fact]
    public void A_static_window_never_changes()
    {
        var kit = new KvmKit(1, "directed-yield-2011");
        var (vm, g) = kit.Vm("vm", 1);
        g[0].Then(v => v.Spin(new TestLock(), 0));
        var log = new WindowLog(vm.Vcpus[0]);
        kit.Kvm.Observer = log;
        kit.Kvm.Start(vm);
        kit.RunUs(100);
        Assert.True(log.Windows.Count > 3);
        Assert.All(log.Windows, w => Assert.Equal(4096, w));
    }

    // ------------------------------------------------------------------ halt polling

    private static (KvmKit Kit, Vm Vm, ScriptGuest[] G) Halter(HaltPollSettings poll, int halts = 1)
    {
        var kit = new KvmKit(2, "directed-yield-3.17", new KvmSettings { HaltPoll = poll });
        var (vm, g) = kit.Vm("vm", 1);
        for (int i = 0; i < halts; i++)
            g[0].Then(v => v.Halt()).Then(v => v.Compute(1000));
        g[0].Then(v => v.Compute(1_000_000_000));
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        return (kit, vm, g);
    }

    /// <summary>Steps until the VCPU is in kvm_vcpu_block (polling or blocked); returns that instant.</summary>
    private static long UntilHalting(KvmKit kit, Vcpu v)
    {
        for (int k = 0; k < 1_000_000; k++)
        {
            if (v.HaltPolling || v.Mode == VcpuMode.Halted)
                return kit.Sim.Now.Ns;
            kit.Sim.RunUntil(kit.Sim.Now + new SimDuration(10));
        }
        throw new InvalidOperationException("the VCPU never halted");
    }

    [Fact]
    public void A_pv_kick_within_the_poll_ends_the_poll_so_it_is_not_lost_when_the_poll_would_run_out()
    {
        var (kit, vm, _) = Halter(new HaltPollSettings { HaltPollNs = 100_000 });
        var v = vm.Vcpus[0];
        long t0 = UntilHalting(kit, v);
        Assert.True(v.HaltPolling);
        kit.Sim.RunUntil(new SimTime(t0 + 50_000));
        // KVM_HC_KICK_CPU (a PV lock's unlocker): kvm_vcpu_check_block sees pv_unhalted in the poll.
        kit.Kvm.PvKickCpu(v, vm.Vcpus[0]);
        Assert.False(v.HaltPolling);
        Assert.False(v.PvUnhalted);
        kit.RunUs(200); // past where the poll would have run out
        Assert.Equal(1, v.Stats.HaltPollSuccessful);
        Assert.Equal(0, v.Stats.Halts);
        Assert.NotEqual(VcpuMode.Halted, v.Mode);
    }

    [Fact]
    public void A_kick_within_the_poll_ends_the_poll_without_a_block_or_a_wake_up_and_the_poll_time_is_charged()
    {
        var (kit, vm, g) = Halter(new HaltPollSettings { HaltPollNs = 100_000 });
        var v = vm.Vcpus[0];
        long t0 = UntilHalting(kit, v);
        Assert.True(v.HaltPolling);
        Assert.True(v.Task.OnCpu); // polling keeps the thread on its CPU: the host sees it busy
        kit.Sim.RunUntil(new SimTime(t0 + 50_000));
        Assert.True(v.HaltPolling);
        kit.Kvm.Kick(v, Vectors.Reschedule, null);
        Assert.False(v.HaltPolling);
        kit.RunUs(20);
        Assert.Equal(1, v.Stats.HaltPollAttempts);
        Assert.Equal(1, v.Stats.HaltPollSuccessful);
        Assert.Equal(0, v.Stats.Halts);
        Assert.Equal(0, v.Stats.WakeFromHalt);
        Assert.InRange(v.Stats.HaltPollNs, 49_990, 50_000);
        Assert.Single(g[0].Interrupts);
        Assert.Equal(0, v.TimeIn(VcpuTime.Halted));
    }

    [Fact]
    public void A_kick_after_the_poll_finds_the_vcpu_blocked_and_wakes_it()
    {
        var (kit, vm, _) = Halter(new HaltPollSettings { HaltPollNs = 100_000 });
        var v = vm.Vcpus[0];
        long t0 = UntilHalting(kit, v);
        kit.Sim.RunUntil(new SimTime(t0 + 150_000));
        Assert.Equal(VcpuMode.Halted, v.Mode);
        Assert.False(v.Task.OnCpu);
        kit.Kvm.Kick(v, Vectors.Reschedule, null);
        kit.RunUs(20);
        Assert.Equal(1, v.Stats.HaltPollAttempts);
        Assert.Equal(0, v.Stats.HaltPollSuccessful);
        Assert.Equal(1, v.Stats.Halts);
        Assert.Equal(1, v.Stats.WakeFromHalt);
        Assert.Equal(100_000, v.Stats.HaltPollNs);
    }

    [Fact]
    public void No_poll_while_another_task_is_runnable_on_the_cpu()
    {
        var kit = new KvmKit(1, "directed-yield-3.17", new KvmSettings { HaltPoll = new HaltPollSettings { HaltPollNs = 100_000 } });
        var (vm, g) = kit.Vm("vm", 1);
        g[0].Then(v => v.Compute(5_000_000)).Then(v => v.Halt());
        kit.Kvm.Start(vm);
        kit.Hog("hog", KvmKit.Cpu(0));
        kit.RunUs(50_000);
        var s = vm.Vcpus[0].Stats;
        Assert.True(s.Halts >= 1);
        Assert.Equal(0, s.HaltPollAttempts); // single_task_running() is false
    }

    [Fact]
    public void The_adaptive_poll_time_grows_after_short_halts_and_shrinks_after_long_ones()
    {
        var hp = new HaltPollSettings { HaltPollNs = 200_000, Adaptive = true, Grow = 2, Shrink = 0, GrowStart = 10_000 };
        Assert.Equal(10_000, hp.Adjust(0, 5_000));          // short halt, poll 0: grow from the start value
        Assert.Equal(20_000, hp.Adjust(10_000, 15_000));    // longer than the poll but short: double
        Assert.Equal(20_000, hp.Adjust(20_000, 15_000));    // within the poll: unchanged
        Assert.Equal(200_000, hp.Adjust(160_000, 170_000)); // capped at halt_poll_ns
        Assert.Equal(0, hp.Adjust(40_000, 300_000));        // a long block: shrink 0 resets
        Assert.Equal(20_000, (hp with { Shrink = 2 }).Adjust(40_000, 300_000)); // 6.x: halve
        Assert.Equal(0, hp.Adjust(0, 300_000));             // long block, nothing to shrink
        Assert.Equal(200_000, (hp with { Adaptive = false }).Adjust(0, 5_000)); // 4.0: always the module value
    }

    [Fact]
    public void From_5_15_a_shrink_below_the_grow_start_resets_the_poll_to_zero()
    {
        var hp = new HaltPollSettings { HaltPollNs = 200_000, Adaptive = true, Grow = 2, Shrink = 2, GrowStart = 10_000 };
        // Before: 10 us halves to 5 us, a poll grow_halt_poll_ns could never have made.
        Assert.Equal(5_000, hp.ShrinkPoll(10_000));
        Assert.Equal(5_000, hp.Adjust(10_000, 300_000));
        var floored = hp with { ShrinkFloor = true };
        Assert.Equal(0, floored.ShrinkPoll(10_000));
        Assert.Equal(0, floored.Adjust(10_000, 300_000));
        Assert.Equal(10_000, floored.ShrinkPoll(20_000)); // the start value itself stays
        Assert.Equal(20_000, floored.Adjust(40_000, 300_000));
        Assert.Equal(0, (floored with { Shrink = 0 }).ShrinkPoll(40_000)); // shrink 0 resets either way
    }

    [Fact]
    public void The_presets_poll_as_their_release_did()
    {
        var d = new KvmSettings();
        HaltPollSettings P(string version) => KvmVersions.Apply(version, d).HaltPoll;
        Assert.Equal(0, P("4.2").HaltPollNs);
        Assert.Equal(400_000, P("4.3").HaltPollNs);   // an assumption (not read at a 4.3 tag)
        Assert.Equal(400_000, P("4.14").HaltPollNs);  // the same assumption
        foreach (var v in new[] { "4.15", "4.19", "5.3", "5.10", "5.13", "6.1", "6.12", "6.13" })
            Assert.Equal(200_000, P(v).HaltPollNs);     // x86 KVM_HALT_POLL_NS_DEFAULT
        foreach (var v in new[] { "4.19", "5.10", "6.1" })
            Assert.Equal(0, P(v).Shrink);              // reset until 6.11
        Assert.Equal(2, P("6.12").Shrink);
        Assert.Equal(2, P("6.13").Shrink);
        Assert.False(P("5.10").ShrinkFloor);
        Assert.True(P("6.1").ShrinkFloor);
        Assert.True(P("6.12").ShrinkFloor);
    }

    [Fact]
    public void With_the_adaptive_poll_repeated_30us_halts_grow_the_poll_until_it_catches_the_kick()
    {
        var (kit, vm, _) = Halter(new HaltPollSettings { HaltPollNs = 200_000, Adaptive = true, Grow = 2, Shrink = 0, GrowStart = 10_000 }, halts: 4);
        var v = vm.Vcpus[0];
        var polls = new List<long>();
        for (int round = 0; round < 4; round++)
        {
            long t0 = UntilHalting(kit, v);
            kit.Sim.RunUntil(new SimTime(t0 + 30_000));
            kit.Kvm.Kick(v, Vectors.Reschedule, null);
            for (int k = 0; k < 100_000 && (v.HaltPolling || v.Mode == VcpuMode.Halted); k++)
                kit.Sim.RunUntil(kit.Sim.Now + new SimDuration(10));
            polls.Add(v.HaltPollNs);
        }
        // Block 30 us (+ the wake-up) each time: 0 → 10 us → 20 us → 40 us; the 4th halt polls 40 us and the kick lands inside.
        Assert.Equal([10_000L, 20_000, 40_000, 40_000], polls);
        Assert.Equal(3, v.Stats.Halts);
        Assert.Equal(1, v.Stats.HaltPollSuccessful);
        Assert.Equal(3, v.Stats.HaltPollAttempts); // no poll while vcpu->halt_poll_ns was 0
    }

    // ------------------------------------------------------------------ candidates: kernel mode, ready

    /// <summary>
    /// vcpu0 (CPU 0) halts, then spins on a lock nobody frees; vcpu1 (CPU 1) computes and is
    /// preempted by a nice −20 hog; its guest was in the mode <paramref name="vcpu1Kernel"/> says.
    /// </summary>
    private static Vm PreemptedCandidate(string handler, bool vcpu1Kernel)
    {
        var (kit, vm, _) = KvmKit.PreemptedVcpu1(handler, null, vcpu1Kernel);
        kit.KickAndRunOneWalk(vm);
        return vm;
    }

    [Fact]
    public void From_4_14_a_candidate_preempted_in_guest_user_mode_is_skipped_by_a_kernel_mode_spinner()
    {
        var user414 = PreemptedCandidate("directed-yield-4.14", vcpu1Kernel: false);
        Assert.Equal(1, user414.Stats.SkippedUserMode);
        Assert.Equal(0, user414.Stats.YieldToCalls);
        var kernel414 = PreemptedCandidate("directed-yield-4.14", vcpu1Kernel: true);
        Assert.Equal(0, kernel414.Stats.SkippedUserMode);
        Assert.Equal(1, kernel414.Stats.YieldToCalls);
        var user317 = PreemptedCandidate("directed-yield-3.17", vcpu1Kernel: false);
        Assert.Equal(0, user317.Stats.SkippedUserMode);
        Assert.Equal(1, user317.Stats.YieldToCalls);
    }

    /// <summary>
    /// vcpu1 is halted on CPU 1 next to a running hog, and wakeup preemption is off, so a kick
    /// wakes it (ready) but it waits on the run queue without being "preempted". vcpu0 then spins.
    /// </summary>
    private static Vm WokenCandidate(string handler)
    {
        var kit = new KvmKit(2, handler, features: new SchedFeatures { WakeupPreempt = false });
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Halt()).Then(v => v.Spin(new TestLock(), 0));
        g[1].Then(v => v.Halt());
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        kit.RunUs(100);
        Assert.True(vm.Vcpus[1].WaitQueueActive);
        kit.Hog("hog", KvmKit.Cpu(1));
        kit.RunUs(10);
        kit.Kvm.Kick(vm.Vcpus[1], Vectors.Reschedule, null);
        Assert.True(vm.Vcpus[1].Ready);
        Assert.False(vm.Vcpus[1].Preempted);
        Assert.False(vm.Vcpus[1].Task.OnCpu);
        kit.KickAndRunOneWalk(vm);
        return vm;
    }

    [Fact]
    public void From_5_3_a_vcpu_woken_but_not_yet_running_is_a_candidate_and_before_it_is_not()
    {
        var v53 = WokenCandidate("directed-yield-5.3");
        Assert.Equal(1, v53.Stats.YieldToCalls);
        var v414 = WokenCandidate("directed-yield-4.14");
        Assert.Equal(0, v414.Stats.YieldToCalls);
        Assert.True(v414.Stats.SkippedNotPreempted >= 1);
    }

    // ------------------------------------------------------------------ the 6.13 walk

    [Fact]
    public void The_single_walk_visits_last_boosted_plus_one_around_to_last_boosted_as_the_3_6_passes_do()
    {
        Span<int> a = stackalloc int[9], b = stackalloc int[9];
        Assert.Equal(4, DirectedYield.SingleWalkOrder(4, 1, a));
        Assert.Equal([2, 3, 0, 1], a[..4].ToArray());
        for (int n = 1; n <= 4; n++)
        {
            for (int last = 0; last < n; last++)
            {
                int cs = DirectedYield.SingleWalkOrder(n, last, a);
                int cp = DirectedYield.WalkOrder(n, last, inclusiveSkip: true, b);
                Assert.Equal(b[..cp].ToArray(), a[..cs].ToArray());
            }
        }
        // 6.13 stored the loop counter: from last 1, idx 3 is reached at i = 1.
        Assert.Equal(1, DirectedYield.SingleWalkCounter(4, 1, 3));
        Assert.Equal(3, DirectedYield.SingleWalkCounter(4, 1, 1));
    }

    // ------------------------------------------------------------------ presets

    [Fact]
    public void A_version_preset_switches_on_exactly_what_that_release_had()
    {
        var intel = new KvmSettings();
        var v2639 = KvmVersions.Apply("2.6.39", intel);
        Assert.Equal("directed-yield-2011", v2639.PleHandler);
        Assert.False(v2639.PleWindowPolicy.Dynamic);
        Assert.Equal(0, v2639.HaltPoll.HaltPollNs);

        var v318 = KvmVersions.Apply("3.18", intel);
        Assert.True(v318.PleWindowPolicy.Dynamic);
        Assert.Equal(int.MaxValue / 2, v318.PleWindowPolicy.Max); // KVM_VMX_DEFAULT_PLE_WINDOW_MAX = INT_MAX / 2 (decision 0069)
        Assert.Equal(0, v318.HaltPoll.HaltPollNs);
        Assert.Equal(DirectedYieldOptions.Linux310 with { EsrchReadsAsSuccess = false }, Options(v318));

        var v419 = KvmVersions.Apply("4.19", intel);
        Assert.Equal(DirectedYieldOptions.Linux414, Options(v419));
        Assert.Equal(uint.MaxValue, v419.PleWindowPolicy.Max);
        Assert.True(v419.HaltPoll.Adaptive);
        var amd419 = KvmVersions.Apply("4.19", new KvmSettings { Vendor = CpuVendor.Amd });
        Assert.Equal(ushort.MaxValue, amd419.PleWindowPolicy.Max);
        Assert.Equal(128, amd419.PauseFilterThresh);
        Assert.Equal(0, KvmVersions.Apply("4.15", new KvmSettings { Vendor = CpuVendor.Amd }).PauseFilterThresh);
        Assert.False(KvmVersions.Apply("4.15", new KvmSettings { Vendor = CpuVendor.Amd }).PleWindowPolicy.Dynamic);

        Assert.True(Options(KvmVersions.Apply("5.3", intel)).ReadyCandidates);
        Assert.False(Options(KvmVersions.Apply("6.12", intel)).SingleWalk);
        Assert.True(Options(KvmVersions.Apply("6.13", intel)).SingleWalk);
        Assert.Equal(2, KvmVersions.Apply("6.12", intel).HaltPoll.Shrink);
        // Explicit directed-yield overrides survive the preset.
        var o = KvmVersions.Apply("5.3", intel with { DirectedYield = new DirectedYieldOverrides { ReadyCandidates = false } });
        Assert.False(Options(o).ReadyCandidates);
        Assert.Throws<ArgumentException>(() => KvmVersions.Apply("4.1", intel));

        static DirectedYieldOptions Options(KvmSettings s) => ((DirectedYield)PleHandlers.Create(s.PleHandler, s.DirectedYield)).Options;
    }

    [Fact]
    public void Amd_pause_filter_threshold_keeps_a_slow_loop_from_exiting()
    {
        var slow = new KvmKit(1, settings: new KvmSettings { Vendor = CpuVendor.Amd, PauseFilterThresh = 128, SpinLoopGapCycles = 200 });
        Assert.Equal(0, slow.Kvm.PleWindowNs(false));
        var fast = new KvmKit(1, settings: new KvmSettings { Vendor = CpuVendor.Amd, PauseFilterThresh = 128, SpinLoopGapCycles = 40 });
        Assert.True(fast.Kvm.PleWindowNs(false) > 0);
    }
}

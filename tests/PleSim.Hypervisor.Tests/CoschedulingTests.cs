using PleSim.Engine;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>
/// The co-scheduling comparators (decision 0040): the decision logic (<see cref="CoschedGroup"/>)
/// on cases worked by hand, then the co-stopped VCPU state with real VCPU threads on a host.
/// </summary>
public class CoschedulingTests
{
    private const long Ms = 1_000_000;
    private const long Us = 1_000;

    private static CoschedGroup Relaxed(int vcpus, long threshold = 3 * Ms) => new(CoschedulingMode.Relaxed, threshold, vcpus);

    [Fact]
    public void Skew_grows_only_while_one_vcpu_makes_progress_and_a_sibling_waits_for_a_cpu()
    {
        var g = Relaxed(2, 100 * Ms);
        g.SetState(0, CoschedState.Running, 0);
        g.SetState(1, CoschedState.Running, 0);
        Assert.Equal(0, g.Skew(0, 1 * Ms)); // both run: no skew
        g.SetState(1, CoschedState.Waiting, 1 * Ms); // vcpu1 preempted, vcpu0 runs on
        Assert.Equal(1 * Ms, g.Skew(0, 2 * Ms));
        Assert.Equal(0, g.Skew(1, 2 * Ms));
        g.SetState(0, CoschedState.Waiting, 2 * Ms); // both wait: skew stays
        Assert.Equal(1 * Ms, g.Skew(0, 5 * Ms));
        g.SetState(0, CoschedState.Idle, 5 * Ms); // idle counts as progress (treated as running)
        Assert.Equal(2 * Ms, g.Skew(0, 6 * Ms));
        g.SetState(1, CoschedState.Running, 6 * Ms); // both progress: skew stays
        Assert.Equal(2 * Ms, g.Skew(0, 9 * Ms));
        Assert.Equal(9 * Ms - 3 * Ms, g.Progress(0, 9 * Ms)); // ran 0-2 ms, idle 5-9 ms
        Assert.Equal(1 * Ms + 3 * Ms, g.Progress(1, 9 * Ms)); // ran 0-1 ms, 6-9 ms
    }

    [Fact]
    public void An_idle_sibling_accrues_no_skew_against_a_busy_one()
    {
        var g = Relaxed(2);
        g.SetState(0, CoschedState.Running, 0);
        g.SetState(1, CoschedState.Idle, 0);
        Assert.Equal(-1, g.Decide(0)); // nothing can change while states hold
        Assert.Equal(-1, g.Decide(50 * Ms));
        Assert.False(g.StopNow[0] || g.StopNow[1]);
        Assert.Equal(0, g.Skew(0, 50 * Ms));
    }

    [Fact]
    public void A_leading_vcpu_is_co_stopped_when_its_skew_reaches_the_threshold_and_co_started_when_the_laggard_catches_up()
    {
        var g = Relaxed(2);
        g.SetState(0, CoschedState.Running, 0);
        // vcpu1 waits for a CPU from the start: vcpu0's lead reaches 3 ms at t = 3 ms.
        Assert.Equal(3 * Ms, g.Decide(0));
        Assert.False(g.StopNow[0]);
        Assert.Equal(3 * Ms, g.Decide(3 * Ms - 1)); // one ns early: still running, same deadline
        Assert.False(g.StopNow[0]);
        g.Decide(3 * Ms);
        Assert.True(g.StopNow[0]);
        Assert.False(g.StopNow[1]);
        Assert.True(g.StopDecided(0));
        // The stop takes effect at vcpu0's next entry, 10 µs later (progress 3.01 ms); vcpu1 gets the CPU.
        g.SetState(0, CoschedState.CoStopped, 3 * Ms + 10 * Us);
        g.SetState(1, CoschedState.Running, 3 * Ms + 10 * Us);
        // vcpu1 (progress 0) reaches vcpu0's 3.01 ms after running 3.01 ms: at 6.02 ms.
        long next = g.Decide(3 * Ms + 10 * Us);
        Assert.Equal(6 * Ms + 20 * Us, next);
        Assert.False(g.StartNow[0]);
        g.Decide(next - 1);
        Assert.False(g.StartNow[0]);
        g.Decide(next);
        Assert.True(g.StartNow[0]);
        Assert.False(g.StopDecided(0));
        Assert.Equal(0, g.Skew(0, next));
    }

    [Fact]
    public void Only_the_vcpus_that_lead_by_the_threshold_are_co_stopped()
    {
        var g = Relaxed(3);
        g.SetState(0, CoschedState.Running, 0);
        g.SetState(1, CoschedState.Running, 1 * Ms); // starts 1 ms later: leads by 2 ms when vcpu0 leads by 3
        g.Decide(3 * Ms);
        Assert.True(g.StopNow[0]);
        Assert.False(g.StopNow[1]);
        Assert.False(g.StopNow[2]);
        // vcpu1 reaches 3 ms of lead one ms later (vcpu2 still has made no progress).
        Assert.Equal(4 * Ms, g.Decide(3 * Ms + 1));
    }

    [Fact]
    public void A_co_stop_not_yet_in_effect_is_withdrawn_when_the_skew_is_gone()
    {
        var g = Relaxed(2);
        g.SetState(0, CoschedState.Running, 0);
        g.Decide(3 * Ms);
        Assert.True(g.StopNow[0]);
        // vcpu0 has not reached its entry yet; vcpu1 runs and catches up while vcpu0 waits preempted.
        g.SetState(0, CoschedState.Waiting, 3 * Ms);
        g.SetState(1, CoschedState.Running, 3 * Ms);
        Assert.Equal(6 * Ms, g.Decide(3 * Ms));
        g.Decide(6 * Ms);
        Assert.True(g.StartNow[0]);
        Assert.False(g.StopDecided(0));
    }

    [Fact]
    public void Gang_stops_every_running_and_waiting_sibling_when_one_is_descheduled_and_starts_them_together()
    {
        var g = new CoschedGroup(CoschedulingMode.Gang, 3 * Ms, 4);
        for (int i = 0; i < 3; i++)
            g.SetState(i, CoschedState.Running, 0);
        g.SetState(3, CoschedState.Idle, 0);
        Assert.Equal(-1, g.Decide(0));
        Assert.DoesNotContain(true, g.StopNow);
        g.SetState(2, CoschedState.Waiting, 1 * Ms); // the host descheduled vcpu2
        g.Decide(1 * Ms);
        Assert.True(g.GangStopping);
        Assert.Equal([true, true, true, false], g.StopNow); // the idle vcpu3 is not stopped
        // vcpu0 stops; vcpu3 wakes while the VM is being stopped: it is stopped too.
        g.SetState(0, CoschedState.CoStopped, 1 * Ms + 5 * Us);
        g.SetState(3, CoschedState.Running, 1 * Ms + 6 * Us);
        g.Decide(1 * Ms + 6 * Us);
        Assert.Equal([false, false, false, true], g.StopNow);
        g.SetState(1, CoschedState.CoStopped, 1 * Ms + 7 * Us);
        g.SetState(3, CoschedState.CoStopped, 1 * Ms + 8 * Us);
        g.Decide(1 * Ms + 8 * Us);
        Assert.DoesNotContain(true, g.StartNow); // vcpu2 still waits for a CPU (to stop at its entry)
        g.SetState(2, CoschedState.Running, 2 * Ms);
        g.SetState(2, CoschedState.CoStopped, 2 * Ms + 1 * Us);
        g.Decide(2 * Ms + 1 * Us);
        Assert.Equal([true, true, true, true], g.StartNow); // all together
        Assert.False(g.GangStopping);
        // Woken and not yet placed is not descheduled: no new stop while the host places them.
        for (int i = 0; i < 4; i++)
            g.SetState(i, CoschedState.Waiting, 2 * Ms + 1 * Us);
        g.SetState(0, CoschedState.Running, 2 * Ms + 2 * Us);
        g.Decide(2 * Ms + 2 * Us);
        Assert.DoesNotContain(true, g.StopNow);
    }

    [Fact]
    public void Gang_holds_a_vcpu_at_its_entry_while_a_busy_sibling_is_off_its_cpu_but_not_for_an_idle_one()
    {
        var g = new CoschedGroup(CoschedulingMode.Gang, 3 * Ms, 3);
        g.SetState(0, CoschedState.Running, 0);
        g.SetState(1, CoschedState.Idle, 0);
        g.SetState(2, CoschedState.Waiting, 0);
        Assert.True(g.HoldAtEntry(0)); // vcpu2 waits for a CPU
        Assert.True(g.AnyOffCpu);
        g.SetState(2, CoschedState.Running, 1 * Us);
        Assert.False(g.HoldAtEntry(0)); // the idle vcpu1 does not count
        Assert.False(g.AnyOffCpu);
        g.SetState(1, CoschedState.CoStopped, 2 * Us);
        Assert.True(g.HoldAtEntry(2));
        Assert.False(Relaxed(2).HoldAtEntry(0)); // relaxed never holds
    }

    // ---------------------------------------------------------------- with VCPU threads on a host

    /// <summary>
    /// A 2-VCPU VM on 2 host CPUs, vcpu0 pinned alone on CPU 0, vcpu1 sharing CPU 1 with a hog:
    /// without co-scheduling vcpu0 runs all the time and vcpu1 half of it.
    /// </summary>
    private static (KvmKit Kit, Vm Vm) Skewed(CoschedulingMode mode)
    {
        var kit = new KvmKit(2);
        if (mode != CoschedulingMode.None)
            kit.Kvm.EnableCoscheduling(new CoschedSettings { Mode = mode });
        var (vm, _) = kit.Vm("vm", 2);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, KvmKit.Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, KvmKit.Cpu(1), 0);
        kit.Hog("hog", KvmKit.Cpu(1));
        kit.Kvm.Start(vm);
        return (kit, vm);
    }

    [Fact]
    public void Relaxed_keeps_the_progress_skew_of_real_vcpus_within_the_threshold_plus_the_way_out()
    {
        var (kit, vm) = Skewed(CoschedulingMode.Relaxed);
        var g = kit.Kvm.Coscheduler!.GroupOf(vm);
        long maxSkew = 0;
        for (int step = 0; step < 5_000; step++)
        {
            kit.RunUs(10);
            long now = kit.Sim.Now.Ns;
            maxSkew = Math.Max(maxSkew, Math.Max(g.Skew(0, now), g.Skew(1, now)));
            foreach (var v in vm.Vcpus)
            {
                if (v.CoStopped)
                {
                    Assert.False(v.Task.OnCpu);
                    Assert.NotEqual(TaskState.Running, v.Task.State);
                }
            }
        }
        var v0 = vm.Vcpus[0];
        Assert.True(v0.Stats.CoStops > 0);
        Assert.True(v0.Stats.CoStarts > 0);
        Assert.True(v0.TimeIn(VcpuTime.CoStopped) > 0);
        // The leader leaves within a kick, an exit and an entry (a few µs) of reaching 3 ms.
        Assert.InRange(maxSkew, 3 * Ms, 3 * Ms + 50 * Us);
        // Every nanosecond of each VCPU is in exactly one category.
        foreach (var v in vm.Vcpus)
            Assert.Equal(kit.Sim.Now.Ns, Enum.GetValues<VcpuTime>().Sum(c => v.TimeIn(c)));
    }

    [Fact]
    public void Without_co_scheduling_the_lone_vcpu_runs_ahead()
    {
        var (kit, vm) = Skewed(CoschedulingMode.None);
        kit.RunUs(50_000);
        Assert.Null(kit.Kvm.Coscheduler);
        long run0 = vm.Vcpus[0].TimeIn(VcpuTime.GuestRun), run1 = vm.Vcpus[1].TimeIn(VcpuTime.GuestRun);
        Assert.True(run0 > 1.6 * run1, $"{run0} vs {run1}");
        Assert.Equal(0, vm.Vcpus[0].TimeIn(VcpuTime.CoStopped));
    }

    [Fact]
    public void Gang_runs_the_lone_vcpu_only_while_its_sibling_runs()
    {
        var (kit, vm) = Skewed(CoschedulingMode.Gang);
        kit.RunUs(50_000);
        long run0 = vm.Vcpus[0].TimeIn(VcpuTime.GuestRun), run1 = vm.Vcpus[1].TimeIn(VcpuTime.GuestRun);
        Assert.True(vm.Vcpus[0].Stats.CoStops > 2, $"{vm.Vcpus[0].Stats.CoStops} co-stops, {vm.Vcpus[1].Stats.CoStops}");
        Assert.True(vm.Vcpus[0].TimeIn(VcpuTime.CoStopped) > 10 * Ms, $"{vm.Vcpus[0].TimeIn(VcpuTime.CoStopped)} ns co-stopped");
        // vcpu0 runs only in the windows vcpu1 has CPU 1, up to the way out of each (kick, exit).
        Assert.True(run0 < 1.1 * run1, $"{run0} vs {run1}");
    }

    [Fact]
    public void Co_scheduling_is_deterministic()
    {
        static (ulong, long) Once(CoschedulingMode mode)
        {
            var (kit, vm) = Skewed(mode);
            kit.RunUs(20_000);
            return (kit.Sim.Digest, vm.Vcpus[0].Stats.CoStops);
        }
        Assert.Equal(Once(CoschedulingMode.Relaxed), Once(CoschedulingMode.Relaxed));
        Assert.Equal(Once(CoschedulingMode.Gang), Once(CoschedulingMode.Gang));
        Assert.NotEqual(Once(CoschedulingMode.Relaxed).Item1, Once(CoschedulingMode.None).Item1);
    }
}

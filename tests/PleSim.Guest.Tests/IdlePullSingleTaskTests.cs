using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>
/// An idle VCPU's pull and a thread woken onto another idle VCPU that has not run it yet (decision
/// 0082). From the 5.5 rework of <c>load_balance</c> (5.10 and 6.1 kernel/sched/fair.c
/// <c>find_busiest_group</c>), a busiest group that is not overloaded and has one runnable task is
/// out_balanced ("busiest doesn't have any tasks waiting to run"): an idle CPU does not take the
/// only task of a CPU whose idle task still runs, whatever the idle type. Hand-worked.
/// </summary>
public class IdlePullSingleTaskTests
{
    /// <summary>
    /// Three VCPUs on three host CPUs, a host hog sharing CPU 1 with VCPU 1 from 0.2 ms. "w" (free
    /// to run anywhere) sleeps on VCPU 1 from the start; "a", pinned to VCPU 1, computes 20 ms (about
    /// 32 ms of host time beside the hog) and then wakes "s" on VCPU 0 and sleeps; "s" wakes "w".
    /// VCPU 1 is idle then and "w"'s previous VCPU, so "w" is queued there, and VCPU 1's host thread,
    /// whose vruntime is level with the hog's, waits for the hog's slice (about 3 ms): VCPU 1's run
    /// queue holds one task while its guest CPU is idle. VCPU 2 is idle throughout and ticks every
    /// millisecond; "w" has not run for about 32 ms, so it is cache cold. With
    /// <paramref name="alsoWakeVcpu2"/>, "s" also wakes "z" (pinned to VCPU 2, waiting from the start),
    /// which computes 100 µs, passes mark 2 and exits, so VCPU 2 goes idle through schedule() while "w"
    /// waits (NewIdleAvgIdleTests, decision 0087).
    /// </summary>
    internal static (GuestKit Kit, GuestThread W) WokenOntoIdleVcpuWaitingForTheHost(GuestSettings guest, bool alsoWakeVcpu2 = false)
    {
        var kit = new GuestKit(3, 3, handler: "none", guest: guest);
        var q = kit.Kernel.NewWaitQueue("q");
        var qs = kit.Kernel.NewWaitQueue("qs");
        var qa = kit.Kernel.NewWaitQueue("qa");
        var qz = alsoWakeVcpu2 ? kit.Kernel.NewWaitQueue("qz") : null;
        var w = kit.Kernel.CreateThread("w", new ListProgram(GuestAction.Wait(q), kit.Mark(1), GuestAction.Compute(5_000_000)), 1);
        kit.Kernel.CreateThread("a", new ListProgram(GuestAction.Compute(20_000_000), GuestAction.Signal(qs), GuestAction.Wait(qa)), 1, pinned: true);
        GuestAction[] wakeZ = qz is null ? [] : [GuestAction.Signal(qz)];
        kit.Kernel.CreateThread("s", new ListProgram([GuestAction.Wait(qs), GuestAction.Signal(q), .. wakeZ, kit.Mark(0), GuestAction.Compute(50_000_000)]), 0, pinned: true);
        if (qz is not null)
            kit.Kernel.CreateThread("z", new ListProgram(GuestAction.Wait(qz), GuestAction.Compute(100_000), kit.Mark(2)), 2, pinned: true);
        kit.Start();
        kit.RunUs(1);
        kit.Pin([0, 1, 2]);
        kit.RunUs(200);
        Assert.Equal((1, ThreadState.Blocked), (w.Cpu, w.State)); // "w" ran first on VCPU 1 and sleeps
        kit.Pin([0, 1, 2], 1);
        return (kit, w);
    }

    /// <summary>Runs until "s" has woken "w"; asserts the set-up's state: "w" queued alone on idle VCPU 1.</summary>
    private static void RunToTheWakeUp(GuestKit kit, GuestThread w)
    {
        for (int i = 0; i < 100_000 && kit.Marker.Hits.Count == 0; i++)
            kit.RunUs(1);
        var c1 = kit.Kernel.Cpus[1];
        Assert.Equal(1, w.Cpu);
        Assert.Equal(ThreadState.Runnable, w.State);
        Assert.Null(c1.Curr);
        Assert.Equal(1, c1.NrRunning);
        Assert.Null(kit.Kernel.Cpus[2].Curr);
    }

    [Theory]
    [InlineData("5.10")]
    [InlineData("6.1")]
    public void After_the_5_5_rework_an_idle_vcpu_leaves_a_thread_queued_alone_on_another_idle_vcpu(string version)
    {
        var (kit, w) = WokenOntoIdleVcpuWaitingForTheHost(GuestKernelPresets.Apply(new GuestSettings(), version));
        RunToTheWakeUp(kit, w);
        long pulls = kit.Kernel.Cpus[2].Pulls;
        long ticks = kit.Kernel.Cpus[2].TicksHandled;
        // Two idle ticks of VCPU 2 while "w" waits for VCPU 1's host thread: out_balanced at both.
        kit.RunUs(2_000);
        Assert.True(kit.Kernel.Cpus[2].TicksHandled >= ticks + 2, "VCPU 2 did not tick");
        Assert.Equal(pulls, kit.Kernel.Cpus[2].Pulls);
        Assert.Null(kit.Kernel.Cpus[2].Curr);
        // "w" runs where it was woken, once the host runs VCPU 1.
        kit.RunUs(20_000);
        Assert.Equal(2, kit.Marker.Hits.Count);
        Assert.Equal(1, w.Cpu);
        Assert.Equal(0, w.Migrations);
    }

    [Theory]
    [InlineData("4.16")]
    [InlineData("5.3")]
    public void Before_the_rework_the_model_still_lets_an_idle_vcpu_take_it(string version)
    {
        // Not changed by decision 0082 (the legacy balancer's answer for this case was not worked
        // out from its sources): VCPU 2's next idle tick takes "w".
        var (kit, w) = WokenOntoIdleVcpuWaitingForTheHost(GuestKernelPresets.Apply(new GuestSettings(), version));
        RunToTheWakeUp(kit, w);
        kit.RunUs(2_000);
        Assert.Equal(2, w.Cpu);
        Assert.Equal(1, kit.Kernel.Cpus[2].Pulls);
    }
}

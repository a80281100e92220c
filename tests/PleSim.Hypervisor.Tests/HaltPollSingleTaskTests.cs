using PleSim.Engine;
using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>
/// Decision 0097: the halt-poll loop tests <c>single_task_running()</c> on every iteration (4.0+
/// <c>kvm_vcpu_block</c>, 5.16+ <c>kvm_vcpu_can_poll</c>), so a task queued on the poller's CPU ends
/// the poll at that moment and the VCPU blocks; with nothing else queued the poll runs its full time.
/// </summary>
public class HaltPollSingleTaskTests
{
    private const long PollNs = 200_000;

    /// <summary>
    /// One CPU, one VCPU that halts at once with a fixed 200 µs poll (the 4.0 form: no adaptation).
    /// Returns the kit, the VCPU and the time its poll started: the guest's first operation is the
    /// HLT, issued at its first entry (<see cref="ScriptGuest.OpsDoneAt"/>), and the poll starts once
    /// the HLT exit and its handler are paid.
    /// </summary>
    private static (KvmKit Kit, Vcpu V, long PollStart) PollingVcpu(bool recheck)
    {
        var settings = new KvmSettings { HaltPoll = new HaltPollSettings { HaltPollNs = PollNs, Adaptive = false, RecheckSingleTask = recheck } };
        var kit = new KvmKit(1, "directed-yield-2011", settings);
        var (vm, g) = kit.Vm("vm", 1);
        g[0].Then(v => v.Halt());
        kit.Kvm.Start(vm);
        var v = vm.Vcpus[0];
        for (int k = 0; k < 1000 && !v.HaltPolling; k++)
            kit.RunUs(1);
        Assert.True(v.HaltPolling);
        var costs = settings.Costs;
        long start = g[0].OpsDoneAt[0] + costs.Exit.Ns + costs.HltHandler.Ns;
        Assert.Equal(1, v.Stats.HaltPollAttempts);
        return (kit, v, start);
    }

    [Fact]
    public void A_task_woken_on_the_pollers_cpu_mid_poll_ends_the_poll_then_and_the_vcpu_blocks()
    {
        var (kit, v, start) = PollingVcpu(recheck: true);
        // 50 µs into the poll a new task is queued on CPU 0. START_DEBIT places it behind the running
        // VCPU thread, so it does not preempt it: only the poll loop's single_task_running() sees it.
        kit.Sim.RunUntil(new SimTime(start + 50_000));
        Assert.True(v.HaltPolling);
        var hog = kit.Host.CreateTask("hog", new HogBody(), 0, KvmKit.Cpu(0));
        kit.Host.WakeUpNewTask(hog, 0);
        Assert.True(v.Task.OnCpu, "the new task must not preempt the poller (the case under test)");
        kit.RunUs(1);
        Assert.Equal(VcpuMode.Halted, v.Mode);
        Assert.Equal(1, v.Stats.Halts);
        Assert.Equal(50_000, v.Stats.HaltPollNs);      // polled from start to the wake-up, not 200 µs
        Assert.Equal(1, v.Stats.HaltPollEndedByTask);
        Assert.Equal(0, v.Stats.HaltPollSuccessful);   // an unsuccessful poll
        Assert.True(hog.OnCpu, "the woken task runs once the VCPU blocked");
        Assert.True(v.WaitQueueActive);
    }

    [Fact]
    public void With_nothing_else_queued_the_poll_runs_its_full_time_then_blocks()
    {
        var (kit, v, start) = PollingVcpu(recheck: true);
        kit.Sim.RunUntil(new SimTime(start + PollNs - 1));
        Assert.True(v.HaltPolling);
        kit.Sim.RunUntil(new SimTime(start + PollNs));
        Assert.Equal(VcpuMode.Halted, v.Mode);
        Assert.Equal(PollNs, v.Stats.HaltPollNs);
        Assert.Equal(0, v.Stats.HaltPollEndedByTask);
        Assert.Equal(0, v.Stats.HaltPollSuccessful);
        Assert.Equal(1, v.Stats.Halts);
    }

    [Fact]
    public void Without_the_recheck_the_queued_task_waits_until_the_poll_runs_out()
    {
        // kvm.halt_poll_recheck_single_task: false, the model before decision 0097.
        var (kit, v, start) = PollingVcpu(recheck: false);
        kit.Sim.RunUntil(new SimTime(start + 50_000));
        var hog = kit.Host.CreateTask("hog", new HogBody(), 0, KvmKit.Cpu(0));
        kit.Host.WakeUpNewTask(hog, 0);
        kit.RunUs(1);
        Assert.True(v.HaltPolling);
        Assert.False(hog.OnCpu);
        kit.Sim.RunUntil(new SimTime(start + PollNs));
        Assert.Equal(VcpuMode.Halted, v.Mode);
        Assert.Equal(PollNs, v.Stats.HaltPollNs);
        Assert.Equal(0, v.Stats.HaltPollEndedByTask);
    }

    [Fact]
    public void An_interrupt_in_the_same_instant_as_the_queued_task_still_ends_the_poll_successfully()
    {
        // The task's enqueue ends the poll in a zero-delay step; a kick before that step finds the VCPU
        // still polling, so kvm_vcpu_check_block wins: the VCPU re-enters without blocking.
        var (kit, v, start) = PollingVcpu(recheck: true);
        kit.Sim.RunUntil(new SimTime(start + 50_000));
        var hog = kit.Host.CreateTask("hog", new HogBody(), 0, KvmKit.Cpu(0));
        kit.Host.WakeUpNewTask(hog, 0);
        kit.Kvm.Kick(v, Vectors.Reschedule, null);
        kit.RunUs(1);
        Assert.Equal(1, v.Stats.HaltPollSuccessful);
        Assert.Equal(0, v.Stats.HaltPollEndedByTask);
        Assert.Equal(0, v.Stats.Halts);
        Assert.Equal(50_000, v.Stats.HaltPollNs);
    }
}

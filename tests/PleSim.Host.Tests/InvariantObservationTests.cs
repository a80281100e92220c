using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Host.Tests;

/// <summary>
/// Checking the invariants only observes: a run with the checker on after every event is the same
/// event sequence as without it. Under EEVDF this needs care, because update_curr tests the deadline
/// and may reschedule, so an update_curr between ticks (what the checker used to do to bring the
/// CPU times up to date) moves preemptions off the ticks (decision 0044).
/// </summary>
public class InvariantObservationTests
{
    [Theory]
    [InlineData(FairClass.Cfs2639)]
    [InlineData(FairClass.Cfs419)]
    [InlineData(FairClass.Eevdf66)]
    [InlineData(FairClass.Eevdf614)]
    public void A_checked_run_is_the_same_run(FairClass cls)
    {
        Assert.Equal(Run(cls, check: false), Run(cls, check: true));
    }

    /// <summary>
    /// CPU 0: two hogs (one nice 3, so vruntime charges round) whose deadlines fall between ticks;
    /// CPU 1: a periodic task (0.13 ms on, 0.29 ms off) whose events land between the ticks, so a
    /// checker runs at times when a CPU 0 deadline has passed and the next tick is still ahead.
    /// </summary>
    private static (ulong Digest, long Events, long CpuA) Run(FairClass cls, bool check)
    {
        var sim = new Simulator();
        var host = new HostScheduler(sim, new HostTopology(2, 1), new SchedTunables { TickJitter = SimDuration.Zero },
            new SchedFeatures { Class = cls }, new RandomStreams(1));
        if (check)
            sim.Invariants.Enable(1);
        var a = host.CreateTask("A", new HogBody(), 0, HostKit.Cpu(0));
        var b = host.CreateTask("B", new HogBody(), 3, HostKit.Cpu(0));
        var body = new PeriodicBody(host, SimDuration.FromMicroseconds(130), SimDuration.FromMicroseconds(290));
        var p = host.CreateTask("P", body, 0, HostKit.Cpu(1));
        body.Attach(p);
        host.WakeUpNewTask(a, 0);
        host.WakeUpNewTask(b, 0);
        host.WakeUpNewTask(p, 1);
        sim.RunUntil(new SimTime(40_000_000));
        Assert.True(body.Periods > 50);
        return (sim.Digest, sim.EventsFired, a.CpuTimeNs);
    }
}

using PleSim.Engine;

namespace PleSim.Host;

/// <summary>
/// The tick (Linux 2.6.39 kernel/sched.c and kernel/time/tick-sched.c): <c>scheduler_tick</c> with
/// its return-from-interrupt preemption point, and arming or restarting a CPU's tick.
/// </summary>
public sealed partial class HostScheduler
{
    // ---------------------------------------------------------------- the tick

    private sealed class TickHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg) => s.SchedulerTick((int)arg);
    }

    /// <summary><c>scheduler_tick</c> + the tick's return-from-interrupt preemption point.</summary>
    private void SchedulerTick(int cpu)
    {
        if (_xen)
        {
            CschedTick(cpu); // decision 0063
            return;
        }
        var rq = Rqs[cpu];
        UpdateCpuLoad(rq);
        if (!rq.IsIdle)
        {
            if (_eevdf)
                TaskTickEevdf(rq, rq.Curr);
            else
                TaskTickFair(rq, rq.Curr);
        }
        rq.IdleAtTick = IdleCpu(cpu); // rq->idle_at_tick (2.6.39) / rq->idle_balance (4.19) = idle_cpu(cpu)
        Observer?.Tick(cpu);
        TriggerLoadBalance(rq, cpu);
        // The tick re-arms unless this CPU is idle and may go tickless now (irq_exit re-evaluates NOHZ).
        ArmTick(cpu, Jiffies + 1);
        if (rq.IsIdle)
            EnterIdle(rq);
        if (rq.NeedResched && !_reschedTimers[cpu].IsArmed)
            _reschedTimers[cpu].Start(_sim.Now);
    }

    /// <summary>Restarts a stopped tick at the next jiffy boundary (tick_nohz_restart_sched_tick).</summary>
    private void RestartTick(RunQueue rq)
    {
        if (!rq.TickStopped)
            return;
        rq.TickStopped = false;
        ArmTick(rq.Cpu, Jiffies + 1);
    }

    /// <summary>
    /// Arms the tick of <paramref name="cpu"/> for jiffy <paramref name="jiffy"/>: at the jiffy
    /// boundary, plus the interrupt-delivery jitter (<see cref="SchedTunables.TickJitter"/>) that
    /// makes simultaneous ticks of different CPUs run in a varying order, as they do on hardware.
    /// </summary>
    private void ArmTick(int cpu, long jiffy)
    {
        long at = jiffy * _tunables.TickPeriod.Ns;
        if (_tickJitter[cpu] is { } rng)
            at += (long)(rng.NextDouble() * _tunables.TickJitter.Ns);
        _tickTimers[cpu].Start(new SimTime(at));
    }
}

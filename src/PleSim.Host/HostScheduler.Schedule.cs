using PleSim.Engine;

namespace PleSim.Host;

/// <summary>
/// The host scheduler's core (Linux 2.6.39 kernel/sched.c): a resched request
/// (<c>resched_task</c>, <c>resched_cpu</c>, the reschedule IPI), <c>schedule()</c> with the context
/// switch and the picked task's resumption, and a task going to sleep (<c>schedule()</c> in
/// TASK_INTERRUPTIBLE).
/// </summary>
public sealed partial class HostScheduler
{
    // ---------------------------------------------------------------- resched

    /// <summary>
    /// <c>resched_task(rq->curr)</c>: set TIF_NEED_RESCHED; the CPU reschedules at once when
    /// <paramref name="thisCpu"/> is that CPU (at the end of the current operation), else after an
    /// IPI (or idle-exit) latency.
    /// </summary>
    internal void ReschedTask(RunQueue rq, int thisCpu)
    {
        if (rq.NeedResched)
            return;
        rq.NeedResched = true;
        var delay = rq.Cpu == thisCpu ? SimDuration.Zero
            : rq.IsIdle ? _tunables.IdleExitLatency
            : _tunables.ReschedIpiLatency;
        var when = _sim.Now + delay;
        var timer = _reschedTimers[rq.Cpu];
        if (!timer.IsArmed || timer.Expires > when)
            timer.Start(when);
    }

    /// <summary><c>resched_cpu</c> for the balancer's kicks.</summary>
    internal void ReschedCpu(int cpu, int thisCpu) => ReschedTask(Rqs[cpu], thisCpu);

    private sealed class ReschedHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg)
        {
            var rq = s.Rqs[arg];
            if (rq.NeedResched)
                s.Schedule((int)arg, voluntary: false);
        }
    }

    // ---------------------------------------------------------------- schedule()

    /// <summary>
    /// <c>schedule()</c> on <paramref name="cpu"/>: dequeue the previous task if it is going to
    /// sleep, new-idle balance if nothing is left, put the previous task back, pick the next, and
    /// switch. <paramref name="voluntary"/>: the current task asked (block, yield), so it needs a
    /// continuation even if it is picked again.
    /// </summary>
    internal void Schedule(int cpu, bool voluntary)
    {
        var rq = Rqs[cpu];
        var prev = rq.Curr;
        bool prevStarted = !rq.SwitchInProgress;
        if (rq.SwitchInProgress)
        {
            _switchTimers[cpu].Cancel();
            rq.SwitchInProgress = false;
        }
        _reschedTimers[cpu].Cancel();

        HostTask next;
        HostTask? xenMigrate = null;
        if (_xen)
        {
            next = CschedSchedule(rq, prev, out xenMigrate) ?? rq.Idle; // decision 0063
        }
        else
        {
            if (!prev.IsIdle && prev.State != TaskState.Running)
                DeactivateTask(rq, prev, DequeueFlags.Sleep);

            bool newIdleBalanced = rq.NrRunning == 0;
            if (newIdleBalanced)
                IdleBalance(cpu, rq);

            if (!prev.IsIdle)
                PutPrevTask(rq, prev);
            var prevTask = prev.IsIdle ? null : prev;
            var picked = _eevdf ? PickNextTaskEevdf(rq, prevTask) : PickNextTaskFair(rq, prevTask);
            if (picked is null && _delayDequeue && !newIdleBalanced)
            {
                // 6.12 pick_next_task_fair: the pick dequeued the delayed tasks and found nothing,
                // so the CPU goes idle through sched_balance_newidle, and picks again if it pulled.
                IdleBalance(cpu, rq);
                picked = PickNextTaskEevdf(rq, prevTask);
            }
            next = picked ?? rq.Idle;
        }
        rq.NeedResched = false;

        if (!ReferenceEquals(prev, next))
        {
            AccountCpu(rq);
            rq.NrSwitches++;
            var reason = prev.State != TaskState.Running ? StopReason.Blocked
                : voluntary ? StopReason.Yielded
                : StopReason.Preempted;
            if (prev.State != TaskState.Running)
                prev.NrVoluntarySwitches++;
            else
                prev.NrInvoluntarySwitches++;
            if (prevStarted && !prev.IsIdle)
            {
                long stint = _sim.Now.Ns - prev.LastRunStart;
                prev.NrStints++;
                prev.StintNs += stint;
                prev.StintNsSquared += (double)stint * stint;
            }
            prev.OnCpu = false;
            next.OnCpu = true;
            rq.Curr = next;
            if (prevStarted && !prev.IsIdle)
                prev.Body.OnStop(prev, cpu, reason);
            Observer?.Switch(cpu, prev, next, reason);
            if (next.IsIdle)
            {
                if (_wake66 || _sis419)
                    UpdateIdleCore(rq.Cpu); // set_next_task_idle (6.x); pick_next_task_idle (4.19)
                EnterIdle(rq);
            }
            else
            {
                if (prev.IsIdle)
                    ExitIdle(rq);
                rq.SwitchInProgress = true;
                _switchTimers[cpu].Start(_sim.Now + _tunables.ContextSwitchCost);
            }
        }
        else if (!prev.IsIdle)
        {
            if (!prevStarted)
            {
                // The pending switch to this task resumes.
                rq.SwitchInProgress = true;
                _switchTimers[cpu].Start(_sim.Now + _tunables.ContextSwitchCost);
            }
            else if (voluntary)
            {
                // sched_yield/yield_to returned without a switch: the caller continues.
                prev.NrYieldsKeptCpu++;
                _sim.Schedule(_sim.Now, _resumeId, cpu);
            }
        }
        if (xenMigrate is not null)
            XenVcpuMigrate(xenMigrate, cpu);
        // A vcpu that context_saved → vcpu_migrate puts back on this pCPU (csched_cpu_pick may choose
        // the pCPU it just left idle) is queued with SCHEDULE_SOFTIRQ raised here: the idle vcpu runs
        // only until that softirq, as in Xen. Any other idle pCPU with runnable work is a model bug.
        bool migratedHere = xenMigrate is not null && xenMigrate.Cpu == cpu && rq.NeedResched;
        if (rq.IsIdle && rq.NrRunning > 0 && !migratedHere)
            throw new InvalidOperationException($"cpu{cpu} went idle with {rq.NrRunning} runnable tasks (prev {prev.Name}, {prev.State}; migrated {xenMigrate?.Name ?? "none"} to cpu{xenMigrate?.Cpu ?? -1}; need_resched {rq.NeedResched})");
    }

    private sealed class SwitchDoneHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg)
        {
            int cpu = (int)arg;
            var rq = s.Rqs[cpu];
            rq.SwitchInProgress = false;
            if (rq.NeedResched)
            {
                // Preempted before it started (e.g. a wake-up during the switch).
                rq.SwitchInProgress = true; // mark "not started" for Schedule
                s.Schedule(cpu, voluntary: false);
                return;
            }
            var t = rq.Curr;
            t.LastRunStart = sim.Now.Ns;
            t.Body.OnRun(t, cpu, true);
        }
    }

    private sealed class ResumeHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg)
        {
            int cpu = (int)arg;
            var rq = s.Rqs[cpu];
            if (rq.NeedResched)
            {
                s.Schedule(cpu, voluntary: true);
                return;
            }
            var t = rq.Curr;
            if (!t.IsIdle && !rq.SwitchInProgress)
                t.Body.OnRun(t, cpu, false);
        }
    }

    // ---------------------------------------------------------------- task actions (called by bodies)

    /// <summary>The running task goes to sleep (TASK_INTERRUPTIBLE + schedule()). Its continuation is a wake-up.</summary>
    public void Block(HostTask task)
    {
        RequireCurrent(task);
        task.State = TaskState.Interruptible;
        Schedule(task.Cpu, voluntary: true);
    }

    private void RequireCurrent(HostTask task)
    {
        if (task.Cpu < 0 || !ReferenceEquals(Rqs[task.Cpu].Curr, task))
            throw new InvalidOperationException($"{task} is not running: only the current task of a CPU can do this");
    }
}

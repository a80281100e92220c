using PleSim.Engine;

namespace PleSim.Host;

/// <summary>
/// Load balancing, active balancing (Linux 2.6.39 kernel/sched_fair.c and kernel/stop_machine.c):
/// when <c>load_balance</c> keeps failing because the only movable task is running, the busiest
/// CPU's stopper pushes one task (<c>stop_one_cpu_nowait</c>, <c>active_load_balance_cpu_stop</c>,
/// <c>move_one_task</c>).
/// </summary>
public sealed partial class HostScheduler
{
    // ---------------------------------------------------------------- active balancing

    /// <summary><c>stop_one_cpu_nowait(active_load_balance_cpu_stop)</c>: the busiest CPU's stopper runs after an IPI.</summary>
    private void StopOneCpuNowait(int cpu, int fromCpu)
    {
        var when = _sim.Now + (cpu == fromCpu ? SimDuration.Zero : _tunables.ReschedIpiLatency);
        var t = _activeBalanceTimers[cpu];
        if (!t.IsArmed)
            t.Start(when);
    }

    private sealed class ActiveBalanceHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg) => s.ActiveLoadBalanceCpuStop((int)arg);
    }

    /// <summary>
    /// <c>active_load_balance_cpu_stop</c>: the stopper preempts the running task, pushes one
    /// movable task (the preempted one is now movable) to the requesting CPU, and the CPU reschedules.
    /// </summary>
    private void ActiveLoadBalanceCpuStop(int busiestCpu)
    {
        var busiestRq = Rqs[busiestCpu];
        if (!busiestRq.ActiveBalance)
            return;
        busiestRq.ActiveBalance = false;
        int targetCpu = busiestRq.PushCpu;
        var targetRq = Rqs[targetCpu];
        if (busiestRq.NrRunning <= 1)
            return;
        // The stopper thread (a higher class) takes the CPU: the current task is put back.
        PreemptForStopper(busiestRq);
        SchedDomain? sd = null;
        foreach (var d in targetRq.Domains)
        {
            if (d.Has(SdFlags.LoadBalance) && d.SpanContains(busiestCpu))
            {
                sd = d;
                break;
            }
        }
        if (sd is not null && (_lb66 ? DetachOneTask66(targetRq, busiestRq, sd, busiestCpu) : _lb419 ? DetachOneTask419(targetRq, busiestRq, sd, busiestCpu) : MoveOneTask(targetRq, busiestRq, sd, busiestCpu)))
            sd.AlbPushed++;
        // The stopper finishes; the CPU picks its next task.
        Schedule(busiestCpu, voluntary: false);
    }

    /// <summary>Takes the current task off the CPU as the stop class would (it stays runnable).</summary>
    private void PreemptForStopper(RunQueue rq)
    {
        var prev = rq.Curr;
        if (prev.IsIdle)
            return;
        bool started = !rq.SwitchInProgress;
        if (rq.SwitchInProgress)
        {
            _switchTimers[rq.Cpu].Cancel();
            rq.SwitchInProgress = false;
        }
        AccountCpu(rq);
        PutPrevTask(rq, prev);
        prev.NrInvoluntarySwitches++;
        prev.OnCpu = false;
        rq.Curr = rq.Idle;
        rq.Idle.OnCpu = true;
        rq.NrSwitches++;
        if (started)
            prev.Body.OnStop(prev, rq.Cpu, StopReason.Preempted);
        Observer?.Switch(rq.Cpu, prev, rq.Idle, StopReason.Preempted);
    }

    /// <summary><c>move_one_task</c>: the first movable task of the busiest CPU's leaf queues.</summary>
    private bool MoveOneTask(RunQueue thisRq, RunQueue busiest, SchedDomain sd, int balancingCpu)
    {
        bool pinned = false;
        var leaves = busiest.LeafCfsRqs;
        for (int l = 0; l < leaves.Count; l++)
        {
            var tasks = leaves[l].Tasks;
            for (int i = 0; i < tasks.Count; i++)
            {
                var p = tasks[i];
                if (!CanMigrateTask(p, busiest, thisRq.Cpu, sd, balancingCpu, ref pinned))
                    continue;
                PullTask(busiest, p, thisRq, balancingCpu, MigrationCause.ActiveBalance);
                if (thisRq.Cpu != balancingCpu)
                    ReschedCpu(thisRq.Cpu, balancingCpu);
                return true;
            }
        }
        return false;
    }
}

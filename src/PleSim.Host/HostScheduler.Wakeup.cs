namespace PleSim.Host;

/// <summary>
/// Wake-ups (Linux 2.6.39 kernel/sched.c): <c>try_to_wake_up</c> (with the rq's <c>avg_idle</c>),
/// <c>wake_up_new_task</c> (fork balancing) and <c>check_preempt_curr</c>.
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary>
    /// <c>try_to_wake_up(p, TASK_NORMAL, wake_flags)</c> executed on <paramref name="wakerCpu"/>:
    /// choose a CPU (select_task_rq_fair), enqueue as a waking sleeper (place_entity), and check
    /// wake-up preemption of the task running there. Returns false if it was not sleeping.
    /// </summary>
    public bool TryToWakeUp(HostTask p, int wakerCpu, bool sync = false)
    {
        if (p.State == TaskState.Running || !p.Started)
            return false;
        if (p.Se.SchedDelayed)
        {
            TtwuRunnable(p, wakerCpu);
            return true;
        }
        var rq = Rqs[p.Cpu];
        int origCpu = p.Cpu;
        p.State = TaskState.Waking;
        // 2.6.39's task_waking_fair: normalise against the old queue; enqueue adds the new queue's
        // min_vruntime. (4.19: only a wake-up that migrates is normalised, by migrate_task_rq_fair
        // below; 6.6+: no normalisation, the lag saved at dequeue places the task on any queue.)
        var wakeFlags = EnqueueFlags.Wakeup;
        if (!_eevdf && !_xen && !_renorm419)
        {
            p.Se.Vruntime -= p.Se.CfsRq.MinVruntime;
            wakeFlags |= EnqueueFlags.Waking;
        }
        // Xen's vcpu_wake queues the vcpu on its processor: no placement choice (decision 0063).
        int cpu = _xen ? origCpu : SelectTaskRq(p, SdFlags.BalanceWake, sync, wakerCpu);
        if (cpu != origCpu)
        {
            if (_renorm419)
            {
                p.Se.Vruntime -= p.Se.CfsRq.MinVruntime; // migrate_task_rq_fair, TASK_WAKING (4.19)
                wakeFlags |= EnqueueFlags.Migrated;
            }
            SetTaskCpu(p, cpu, MigrationCause.Wakeup);
            p.NrWakeupsMigrate++;
        }
        rq = Rqs[cpu];
        p.NrWakeups++;
        ActivateTask(rq, p, wakeFlags);
        bool wasResched = rq.NeedResched;
        CheckPreemptCurr(rq, p, wakerCpu);
        p.State = TaskState.Running;
        if (rq.IdleStamp != 0)
        {
            // try_to_wake_up (2.6.39) / ttwu_do_wakeup (4.19; average then cap, decision 0064): the
            // cap stays 2 × sysctl_sched_migration_cost as balancing costs no time here.
            AvgIdle.OnWakeup(ref rq.AvgIdle, _sim.Now.Ns - rq.IdleStamp, 2 * _tunables.MigrationCostNs.Ns, capAfterAverage: _sis419);
            rq.IdleStamp = 0;
        }
        Observer?.Wakeup(p, cpu, wakerCpu, !wasResched && rq.NeedResched);
        return true;
    }

    /// <summary>
    /// <c>ttwu_runnable</c> (6.12) for a task whose sleep was delayed (DELAY_DEQUEUE; decision 0083):
    /// still queued, it wakes where it is — no CPU selection — requeued in place
    /// (<c>enqueue_task(ENQUEUE_DELAYED)</c>), then wake-up preemption as for a preempted task.
    /// </summary>
    private void TtwuRunnable(HostTask p, int wakerCpu)
    {
        var rq = Rqs[p.Cpu];
        EnqueueTaskEevdf(rq, p, EnqueueFlags.Delayed);
        p.NrWakeups++;
        p.NrDelayedWakeups++;
        bool wasResched = rq.NeedResched;
        if (!p.OnCpu)
            CheckPreemptCurr(rq, p, wakerCpu);
        p.State = TaskState.Running;
        Observer?.Wakeup(p, p.Cpu, wakerCpu, !wasResched && rq.NeedResched);
    }

    /// <summary><c>wake_up_new_task</c>: a new task's first placement (fork balancing) and enqueue with START_DEBIT.</summary>
    public void WakeUpNewTask(HostTask p, int parentCpu = 0)
    {
        if (p.Started)
            throw new InvalidOperationException($"{p} was already started");
        p.Started = true;
        if (_xen)
        {
            XenWakeUpNewTask(p, parentCpu);
            return;
        }
        if (_pelt419)
            InitEntityRunnableAverage419(p.Se); // sched_fork (4.19)
        else if (_pelt)
            InitEntityRunnableAverage(p.Se); // sched_fork (6.x)
        // sched_fork: the child starts on the parent's CPU with the parent queue's placement.
        int startCpu = p.AllowedOn(parentCpu) ? parentCpu : FirstAllowed(p);
        SetTaskCpu(p, startCpu, MigrationCause.Fork);
        p.RecentUsedCpu = startCpu; // wake_up_new_task (6.x)
        // task_fork_fair: start from the running entity's vruntime, place_entity(initial), then
        // normalise. PleSim forks from a parent in the child's own group on parentCpu.
        var forkRq = p.Se.CfsRq;
        UpdateCurr(forkRq);
        if (_eevdf)
        {
            // task_fork_fair (6.6): place_entity(ENQUEUE_INITIAL); enqueue places it again.
            PlaceEntityEevdf(forkRq, p.Se, initial: true);
        }
        else
        {
            p.Se.Vruntime = forkRq.Curr?.Vruntime ?? 0;
            PlaceEntity(forkRq, p.Se, initial: true);
            p.Se.Vruntime -= p.Se.CfsRq.MinVruntime;
        }
        int cpu = SelectTaskRq(p, SdFlags.BalanceFork, false, parentCpu);
        if (cpu != startCpu)
            SetTaskCpu(p, cpu, MigrationCause.Fork);
        p.State = TaskState.Running;
        var rq = Rqs[cpu];
        if (_pelt419)
            PostInitEntityUtilAvg419(p.Se);
        else if (_pelt)
            PostInitEntityUtilAvg(p.Se);
        ActivateTask(rq, p, _eevdf ? EnqueueFlags.Initial : EnqueueFlags.None);
        Observer?.NewTask(p, cpu);
        CheckPreemptCurr(rq, p, parentCpu, fork: true); // wake_up_new_task passes WF_FORK
    }

    private int FirstAllowed(HostTask p)
    {
        for (int c = 0; c < NrCpus; c++)
        {
            if (p.AllowedOn(c))
                return c;
        }
        throw new InvalidOperationException($"{p} may run nowhere");
    }

    /// <summary>
    /// <c>check_preempt_curr</c>: the idle task is always preempted; otherwise CFS decides.
    /// <paramref name="fork"/> is the WF_FORK wake flag, which only <c>wake_up_new_task</c> passes
    /// (every other caller passes 0 or WF_SYNC, which the class's test does not read); Xen's tickle
    /// has no use for it.
    /// </summary>
    private void CheckPreemptCurr(RunQueue rq, HostTask p, int thisCpu, bool fork = false)
    {
        if (_xen)
            XenTickle(rq, p, thisCpu);
        else if (rq.Curr.IsIdle)
            ReschedTask(rq, thisCpu);
        else if (_eevdf)
            CheckPreemptWakeupFair(rq, p, thisCpu, fork);
        else
            CheckPreemptWakeup(rq, p, thisCpu, fork);
    }
}

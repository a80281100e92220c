namespace PleSim.Host;

/// <summary>
/// The fair class, picking the next entity (Linux 2.6.39 kernel/sched_fair.c): <c>set_next_entity</c>,
/// <c>wakeup_preempt_entity</c>, <c>pick_next_entity</c> with its buddy rules, <c>put_prev_entity</c>,
/// and <c>pick_next_task_fair</c> / <c>put_prev_task_fair</c> down the hierarchy.
/// </summary>
public sealed partial class HostScheduler
{
    // ---------------------------------------------------------------- picking

    /// <summary>
    /// <c>set_next_entity</c>. <paramref name="newSlice"/> false: <paramref name="se"/> was
    /// <c>cfs_rq->curr</c> before PleSim put it back and stays so, where the kernel calls no
    /// <c>set_next_entity</c> (<see cref="StaysCurrent"/>): it goes back out of the tree but keeps
    /// its slice start.
    /// </summary>
    private void SetNextEntity(CfsRq cfsRq, SchedEntity se, bool newSlice = true)
    {
        if (se.OnRq)
        {
            WaitEnd(se);
            cfsRq.Remove(se);
            if (_pelt419)
                UpdateLoadAvg419(cfsRq, se, UpdateLoadFlags.UpdateTg);
        }
        se.ExecStart = ClockTask(cfsRq.Rq);
        cfsRq.Curr = se;
        if (newSlice)
            se.PrevSumExecRuntime = se.SumExecRuntime;
    }

    /// <summary><c>wakeup_gran</c>: the wake-up granularity in <paramref name="se"/>'s virtual time.</summary>
    private long WakeupGran(SchedEntity se)
    {
        long gran = Tun.WakeupGranularityNs;
        if (se.Load.Weight != Weights.Nice0Load)
            gran = CalcDeltaFair(gran, ref se.Load);
        return gran;
    }

    /// <summary>
    /// <c>wakeup_preempt_entity(curr, se)</c>: -1 if <paramref name="curr"/> is not ahead of
    /// <paramref name="se"/> in vruntime, 1 if ahead by more than a wake-up granularity, else 0.
    /// </summary>
    public int WakeupPreemptEntity(SchedEntity curr, SchedEntity se)
    {
        long vdiff = curr.Vruntime - se.Vruntime;
        if (vdiff <= 0)
            return -1;
        long gran = WakeupGran(se);
        return vdiff > gran ? 1 : 0;
    }

    /// <summary>
    /// <c>pick_next_entity</c>: the leftmost, except: avoid the skip buddy if the second is within a
    /// wake-up granularity; prefer the last buddy, then (winning) the next buddy, each only if within
    /// a wake-up granularity of the leftmost. Buddies pointing at the choice are cleared.
    /// </summary>
    private SchedEntity PickNextEntity(CfsRq cfsRq)
    {
        var se = cfsRq.First!;
        var left = se;
        if (cfsRq.Skip == se)
        {
            var second = cfsRq.After(se);
            if (second is not null && WakeupPreemptEntity(second, left) < 1)
                se = second;
        }
        if (cfsRq.Last is not null && WakeupPreemptEntity(cfsRq.Last, left) < 1)
            se = cfsRq.Last;
        if (cfsRq.Next is not null && WakeupPreemptEntity(cfsRq.Next, left) < 1)
            se = cfsRq.Next;
        ClearBuddies(cfsRq, se);
        return se;
    }

    private void PutPrevEntity(CfsRq cfsRq, SchedEntity prev)
    {
        if (prev.OnRq)
        {
            UpdateCurr(cfsRq);
            prev.WaitStart = _sim.Now.Ns;
            cfsRq.Insert(prev);
            if (_pelt419)
                UpdateLoadAvg419(cfsRq, prev, UpdateLoadFlags.None); // put_prev_entity (4.19)
        }
        cfsRq.Curr = null;
    }

    /// <summary>
    /// <c>pick_next_task_fair</c>: pick down the hierarchy. <paramref name="prev"/> is the task that
    /// was running (null if the idle task was). 2.6.39 puts the previous task back and calls
    /// <c>set_next_entity</c> at every level, which starts a new slice
    /// (<c>prev_sum_exec_runtime</c>) even for an entity picked again. 4.19 with
    /// CONFIG_FAIR_GROUP_SCHED (kernel/sched/fair.c, the <c>prev != p</c> block, since 3.15's
    /// 678d5718d8d0) leaves an entity that stays current at its level alone: only the levels below
    /// where the old and new hierarchies meet get <c>put_prev_entity</c> / <c>set_next_entity</c>,
    /// and a task picked again keeps its slice — a <c>yield_to</c> whose buddy was refused does not
    /// hand the yielder a fresh slice (decision 0073).
    /// </summary>
    private HostTask? PickNextTaskFair(RunQueue rq, HostTask? prev)
    {
        var cfsRq = rq.Cfs;
        if (cfsRq.NrRunning == 0)
            return null;
        bool keepCurrent = _features.Class == FairClass.Cfs419;
        SchedEntity se;
        do
        {
            se = PickNextEntity(cfsRq);
            SetNextEntity(cfsRq, se, newSlice: !(keepCurrent && StaysCurrent(se, prev)));
            cfsRq = se.MyQ!;
        }
        while (cfsRq is not null);
        if (_lb419 && se.Task is { } p)
        {
            // pick_next_task_fair (4.19): "move the next running task to the front of the list,
            // so our cfs_tasks list becomes MRU one".
            rq.CfsTasks.Remove(p);
            rq.CfsTasks.Insert(0, p);
        }
        return se.Task;
    }

    /// <summary>
    /// Whether the entity a pick chose was <c>cfs_rq->curr</c> before <c>schedule()</c> and stays
    /// so: <paramref name="se"/> is on the path of <paramref name="prev"/> (the task that was
    /// running; null if the idle task was). For such an entity 4.19 with CONFIG_FAIR_GROUP_SCHED
    /// (decision 0073) and every EEVDF version (decision 0074) call no <c>set_next_entity</c>, so
    /// whatever that function starts — the slice (<c>prev_sum_exec_runtime</c>) and, in EEVDF,
    /// the RUN_TO_PARITY protection — carries on. PleSim puts the previous task back and picks
    /// down the whole hierarchy, so the classes that keep it pass newSlice: false to set_next_entity for these entities.
    /// </summary>
    private static bool StaysCurrent(SchedEntity se, HostTask? prev) => prev is not null && IsOnPath(se, prev);

    /// <summary>Whether <paramref name="se"/> is <paramref name="task"/>'s entity or one of its group ancestors.</summary>
    private static bool IsOnPath(SchedEntity se, HostTask task)
    {
        for (SchedEntity? e = task.Se; e is not null; e = e.Parent)
        {
            if (ReferenceEquals(e, se))
                return true;
        }
        return false;
    }

    /// <summary><c>put_prev_task_fair</c>.</summary>
    private void PutPrevTaskFair(RunQueue rq, HostTask prev)
    {
        for (SchedEntity? se = prev.Se; se is not null; se = se.Parent)
            PutPrevEntity(se.CfsRq, se);
    }
}

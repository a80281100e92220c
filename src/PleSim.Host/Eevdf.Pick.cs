namespace PleSim.Host;

/// <summary>
/// EEVDF (kernel/sched/fair.c, v6.6; 6.12+ where named): the next buddy, <c>pick_eevdf</c> (the eligible entity with the earliest virtual deadline, slice protection), <c>set_next_entity</c>, <c>put_prev_entity</c>, and picking a task down the hierarchy.
/// </summary>
public sealed partial class HostScheduler
{
    // ---------------------------------------------------------------- buddies

    /// <summary><c>clear_buddies</c> (6.6): only the next buddy is left.</summary>
    private void ClearBuddiesEevdf(CfsRq cfsRq, SchedEntity se)
    {
        if (cfsRq.Next == se)
            ClearBuddiesNext(se);
    }

    // ---------------------------------------------------------------- picking

    /// <summary>
    /// <c>pick_eevdf</c> (<c>__pick_eevdf(cfs_rq, protect)</c> in 6.17+): the eligible entity with
    /// the earliest virtual deadline, the running one included while it is queued and eligible;
    /// with <paramref name="protect"/> the running entity stays while it is eligible and still
    /// protected (<see cref="SliceProtected"/>: 6.6–6.14 RUN_TO_PARITY and vlag == deadline, 6.17+
    /// <c>protect_slice</c>). The kernel searches an augmented red-black tree; PleSim scans its
    /// sorted array (queues hold a handful of entities). Ties go to the smaller vruntime, and the
    /// running entity wins only with a strictly earlier deadline, as in 6.6.
    /// </summary>
    internal SchedEntity? PickEevdf(CfsRq cfsRq, bool protect = true)
    {
        var curr = cfsRq.Curr;
        if (curr is not null && (!curr.OnRq || !EntityEligible(cfsRq, curr)))
            curr = null;
        if (protect && curr is not null && SliceProtected(curr))
            return curr;

        long avg = cfsRq.AvgVruntime;
        long load = cfsRq.AvgLoad;
        if (cfsRq.Curr is { OnRq: true } c)
        {
            avg += EntityKey(cfsRq, c) * c.Load.Weight;
            load += c.Load.Weight;
        }
        SchedEntity? best = null;
        int n = cfsRq.TreeCount;
        for (int i = 0; i < n; i++)
        {
            var se = cfsRq.TreeAt(i);
            if (avg < EntityKey(cfsRq, se) * load)
                break; // the tree is in vruntime order: every later entity is ineligible too
            if (best is null || se.Deadline - best.Deadline < 0)
                best = se;
        }
        if (best is null || (curr is not null && curr.Deadline - best.Deadline < 0))
            best = curr;
        // "EEVDF scheduling fail, picking leftmost"
        return best ?? cfsRq.First;
    }

    /// <summary>
    /// <c>pick_next_entity</c>: an eligible next buddy if the version honours it (see
    /// <see cref="PickNextBuddy"/>), else <c>pick_eevdf</c>. At <c>schedule()</c> the kernel picks
    /// with the previous task's entities still <c>cfs_rq->curr</c> (6.6 <c>pick_next_task_fair</c>'s
    /// group-scheduling loop; 6.12+ <c>pick_task_fair</c>, "might not have done put_prev_entity()"),
    /// so <c>pick_eevdf</c>'s protection test applies to the entity of <paramref name="prev"/>'s
    /// path queued here: if it is still queued, eligible and protected, it is picked again. PleSim
    /// has already put it back into the tree, so it makes that test here (decision 0075).
    /// </summary>
    private SchedEntity PickNextEntityEevdf(CfsRq cfsRq, HostTask? prev)
    {
        if (PickNextBuddy && cfsRq.Next is { } next && EntityEligible(cfsRq, next))
            return next;
        if (prev is not null && cfsRq.NrRunning > 1)
        {
            for (SchedEntity? e = prev.Se; e is not null; e = e.Parent)
            {
                if (!ReferenceEquals(e.CfsRq, cfsRq))
                    continue;
                if (e.OnRq && EntityEligible(cfsRq, e) && SliceProtected(e))
                    return e;
                break;
            }
        }
        return PickEevdf(cfsRq)!;
    }

    /// <summary>
    /// <c>set_next_entity</c>: out of the tree, and the protection armed for a queued entity —
    /// 6.6–6.14: the deadline stashed in vlag for RUN_TO_PARITY; 6.17+: <c>set_protect_slice</c>.
    /// <paramref name="newSlice"/> false: <paramref name="se"/> stays <c>cfs_rq->curr</c>
    /// (<see cref="StaysCurrent"/>), so neither the protection nor the slice start is renewed.
    /// </summary>
    private void SetNextEntityEevdf(CfsRq cfsRq, SchedEntity se, bool newSlice = true)
    {
        if (se.OnRq)
        {
            WaitEnd(se);
            DequeueTreeEevdf(cfsRq, se);
            if (_pelt)
                UpdateLoadAvg(cfsRq, se, UpdateLoadFlags.UpdateTg);
            if (newSlice)
            {
                if (_features.Class >= FairClass.Eevdf617)
                    SetProtectSlice(cfsRq, se);
                else
                    se.Vlag = se.Deadline;
            }
        }
        se.ExecStart = ClockTask(cfsRq.Rq);
        cfsRq.Curr = se;
        if (newSlice)
            se.PrevSumExecRuntime = se.SumExecRuntime;
    }

    /// <summary><c>put_prev_entity</c> (6.6).</summary>
    private void PutPrevEntityEevdf(CfsRq cfsRq, SchedEntity prev)
    {
        if (prev.OnRq)
        {
            UpdateCurr(cfsRq);
            prev.WaitStart = _sim.Now.Ns;
            EnqueueTreeEevdf(cfsRq, prev);
            if (_pelt)
                UpdateLoadAvg(cfsRq, prev, UpdateLoadFlags.None);
        }
        cfsRq.Curr = null;
    }

    /// <summary>
    /// <c>pick_next_task_fair</c>: pick down the hierarchy. PleSim has put <paramref name="prev"/>
    /// back first (null if the idle task was running) and calls <c>set_next_entity</c> at every
    /// level, but an entity on <paramref name="prev"/>'s path that is picked again keeps the
    /// RUN_TO_PARITY stash (vlag, equal to the deadline it was picked with) and its slice start,
    /// because no EEVDF kernel calls <c>set_next_entity</c> for it: 6.6 kernel/sched/fair.c
    /// <c>pick_next_task_fair</c> with CONFIG_FAIR_GROUP_SCHED touches only the levels below where
    /// the old and new hierarchies meet, and only <c>if (prev != p)</c>; from 6.12 the pick
    /// (<c>pick_task_fair</c>) is apart from the switch, and <c>put_prev_set_next_task</c> returns
    /// at once when next == prev (decision 0074). So a task whose request was renewed
    /// (<c>update_deadline</c>) or pushed (<c>yield_task_fair</c>) and which is picked again is
    /// not protected: an eligible waking entity with an earlier deadline preempts it.
    /// </summary>
    private HostTask? PickNextTaskEevdf(RunQueue rq, HostTask? prev)
    {
        var cfsRq = rq.Cfs;
        if (cfsRq.NrRunning == 0)
            return null;
        SchedEntity se;
        if (_delayDequeue)
        {
            if (PickPathSkippingDelayed(rq, prev) is not { } picked)
                return null;
            se = picked;
        }
        else
        {
            do
            {
                se = PickNextEntityEevdf(cfsRq, prev);
                SetNextEntityEevdf(cfsRq, se, newSlice: !StaysCurrent(se, prev));
                cfsRq = se.MyQ!;
            }
            while (cfsRq is not null);
        }
        if (_lb66 && se.Task is { } p)
        {
            // "Move the next running task to the front of the list, so our cfs_tasks list becomes MRU one."
            rq.CfsTasks.Remove(p);
            rq.CfsTasks.Insert(0, p);
        }
        return se.Task;
    }

    private readonly List<SchedEntity> _pickPath = [];

    /// <summary>
    /// 6.12 <c>pick_task_fair</c> with DELAY_DEQUEUE (decision 0083): pick down the hierarchy, and
    /// when the entity picked at some level is delayed, finish its dequeue
    /// (<c>pick_next_entity</c> → <c>dequeue_entities(DEQUEUE_SLEEP | DEQUEUE_DELAYED)</c>) and start
    /// again from the top; null when the queue runs empty that way. The levels are then set as
    /// running, top down, as <see cref="PickNextTaskEevdf"/> does without the feature (picking a
    /// level does not read the levels above it, so the picks are the same).
    /// </summary>
    private SchedEntity? PickPathSkippingDelayed(RunQueue rq, HostTask? prev)
    {
    again:
        _pickPath.Clear();
        var cfsRq = rq.Cfs;
        if (cfsRq.NrRunning == 0)
            return null;
        SchedEntity se;
        do
        {
            se = PickNextEntityEevdf(cfsRq, prev);
            if (se.SchedDelayed)
            {
                DequeueDelayedEntity(rq, se);
                DelayedPickDequeues++;
                goto again;
            }
            _pickPath.Add(se);
            cfsRq = se.MyQ!;
        }
        while (cfsRq is not null);
        foreach (var e in _pickPath)
            SetNextEntityEevdf(e.CfsRq, e, newSlice: !StaysCurrent(e, prev));
        return se;
    }

    /// <summary><c>put_prev_task_fair</c> of the class in use.</summary>
    private void PutPrevTask(RunQueue rq, HostTask prev)
    {
        if (!_eevdf)
        {
            PutPrevTaskFair(rq, prev);
            return;
        }
        for (SchedEntity? se = prev.Se; se is not null; se = se.Parent)
            PutPrevEntityEevdf(se.CfsRq, se);
    }
}

namespace PleSim.Host;

/// <summary>
/// The fair class, enqueue and dequeue (Linux 2.6.39 kernel/sched_fair.c): vruntime placement of
/// a new or waking entity (<c>place_entity</c>), <c>enqueue_entity</c> / <c>dequeue_entity</c> with
/// <c>clear_buddies</c>, and <c>enqueue_task_fair</c> / <c>dequeue_task_fair</c> up the hierarchy.
/// </summary>
public sealed partial class HostScheduler
{
    // ---------------------------------------------------------------- placement, enqueue, dequeue

    /// <summary>
    /// <c>place_entity</c>: a new task starts one vslice after min_vruntime (START_DEBIT); a waking
    /// task gets at most sched_latency of sleeper credit (half with GENTLE_FAIR_SLEEPERS), and never
    /// gains time by being placed backwards.
    /// </summary>
    internal void PlaceEntity(CfsRq cfsRq, SchedEntity se, bool initial)
    {
        long vruntime = cfsRq.MinVruntime;
        if (initial && _features.StartDebit)
            vruntime += SchedVslice(cfsRq, se);
        if (!initial)
        {
            long thresh = SleeperCredit;
            vruntime -= thresh;
        }
        se.Vruntime = MaxVruntime(se.Vruntime, vruntime);
    }

    /// <summary>The sleeper credit of place_entity: sched_latency, halved with GENTLE_FAIR_SLEEPERS.</summary>
    public long SleeperCredit => _features.GentleFairSleepers ? Tun.LatencyNs >> 1 : Tun.LatencyNs;

    private void EnqueueEntity(CfsRq cfsRq, SchedEntity se, EnqueueFlags flags)
    {
        if (_renorm419)
        {
            // 4.19 (from "sched/fair: Fix fairness issue on migration", 4.6): a wake-up is made
            // relative only when it migrated; the current entity is renormalised before update_curr,
            // any other after it, so it is placed against the queue's min_vruntime of now.
            bool renorm = (flags & EnqueueFlags.Wakeup) == 0 || (flags & EnqueueFlags.Migrated) != 0;
            bool curr = se == cfsRq.Curr;
            if (renorm && curr)
                se.Vruntime += cfsRq.MinVruntime;
            UpdateCurr(cfsRq);
            if (renorm && !curr)
                se.Vruntime += cfsRq.MinVruntime;
        }
        else
        {
            // 2.6.39: renormalise before update_curr() moves min_vruntime.
            if ((flags & EnqueueFlags.Wakeup) == 0 || (flags & EnqueueFlags.Waking) != 0)
                se.Vruntime += cfsRq.MinVruntime;
            UpdateCurr(cfsRq);
        }
        if (_pelt419)
        {
            // 4.19: sync and attach the load averages, reweight a group entity from its queue's
            // share, add the runnable load, then the weight (decision 0053).
            UpdateLoadAvg419(cfsRq, se, UpdateLoadFlags.UpdateTg | UpdateLoadFlags.DoAttach);
            UpdateCfsGroup419(se);
            EnqueueRunnableLoadAvg419(cfsRq, se);
            AccountEntityEnqueue(cfsRq, se);
        }
        else
        {
            UpdateCfsLoad(cfsRq, false);
            AccountEntityEnqueue(cfsRq, se);
            UpdateCfsShares(cfsRq);
        }

        if ((flags & EnqueueFlags.Wakeup) != 0)
            PlaceEntity(cfsRq, se, false);

        // Only a wake-up is placed (place_entity), so only a wake-up is bounded by the sleeper credit.
        // A task moved while queued keeps the vruntime it had relative to its old queue, and 2.6.39's
        // dequeue_entity makes it relative after update_min_vruntime, which may already have moved
        // min_vruntime up to the running task: such a task can land further behind than the credit
        // on its new queue, in the kernel as here (4.19 normalises first; decision 0099).
        if ((_checkPlacement || _sim.Invariants.Enabled) && (flags & EnqueueFlags.Wakeup) != 0 && se.Vruntime - (cfsRq.MinVruntime - SleeperCredit) < 0)
            throw new InvalidOperationException($"{se} enqueued {cfsRq.MinVruntime - se.Vruntime} ns behind min_vruntime on {cfsRq}, more than the sleeper credit");

        if (se != cfsRq.Curr)
        {
            se.WaitStart = _sim.Now.Ns;
            cfsRq.Insert(se);
        }
        se.OnRq = true;

        if (cfsRq.NrRunning == 1)
        {
            if (_pelt419)
                ListAddLeafCfsRqPelt(cfsRq); // 4.10+ tmp_alone_branch order, as 6.6
            else
                ListAddLeafCfsRq(cfsRq);
        }
    }

    private void ClearBuddiesLast(SchedEntity se)
    {
        for (var e = se; e is not null; e = e.Parent)
        {
            if (e.CfsRq.Last == e)
                e.CfsRq.Last = null;
            else
                break;
        }
    }

    private void ClearBuddiesNext(SchedEntity se)
    {
        for (var e = se; e is not null; e = e.Parent)
        {
            if (e.CfsRq.Next == e)
                e.CfsRq.Next = null;
            else
                break;
        }
    }

    private void ClearBuddiesSkip(SchedEntity se)
    {
        for (var e = se; e is not null; e = e.Parent)
        {
            if (e.CfsRq.Skip == e)
                e.CfsRq.Skip = null;
            else
                break;
        }
    }

    /// <summary><c>clear_buddies</c>: forget every buddy hint that points at <paramref name="se"/> (and up while they point at its ancestors).</summary>
    internal void ClearBuddies(CfsRq cfsRq, SchedEntity se)
    {
        if (cfsRq.Last == se)
            ClearBuddiesLast(se);
        if (cfsRq.Next == se)
            ClearBuddiesNext(se);
        if (cfsRq.Skip == se)
            ClearBuddiesSkip(se);
    }

    private void DequeueEntity(CfsRq cfsRq, SchedEntity se, DequeueFlags flags)
    {
        UpdateCurr(cfsRq);
        if (_pelt419)
        {
            UpdateLoadAvg419(cfsRq, se, UpdateLoadFlags.UpdateTg);
            DequeueRunnableLoadAvg419(cfsRq, se);
        }
        if (se != cfsRq.Curr)
            WaitEnd(se);
        ClearBuddies(cfsRq, se);
        if (se != cfsRq.Curr)
            cfsRq.Remove(se);
        se.OnRq = false;
        if (_pelt419)
        {
            // 4.19 order: account, then update_cfs_group.
            AccountEntityDequeue(cfsRq, se);
            UpdateCfsGroup419(se);
        }
        else
        {
            // 2.6.39 order (update_min_vruntime between the account and the shares).
            UpdateCfsLoad(cfsRq, false);
            AccountEntityDequeue(cfsRq, se);
            if (!_renorm419)
                UpdateMinVruntime(cfsRq);
            UpdateCfsShares(cfsRq);
        }
        if (_renorm419)
        {
            // 4.19 ("sched/fair: Fix min_vruntime tracking"): normalise against the min_vruntime
            // update_curr left, then advance it past the leaving entity (decision 0099).
            if ((flags & DequeueFlags.Sleep) == 0)
                se.Vruntime -= cfsRq.MinVruntime;
            UpdateMinVruntime(cfsRq);
        }
        else if ((flags & DequeueFlags.Sleep) == 0)
        {
            // 2.6.39: normalise after min_vruntime was updated (it may follow ->curr).
            se.Vruntime -= cfsRq.MinVruntime;
        }
    }

    private void WaitEnd(SchedEntity se)
    {
        if (se.WaitStart == 0)
            return;
        se.WaitSum += _sim.Now.Ns - se.WaitStart;
        se.WaitCount++;
        se.WaitStart = 0;
    }

    /// <summary><c>enqueue_task_fair</c>.</summary>
    private void EnqueueTaskFair(RunQueue rq, HostTask p, EnqueueFlags flags)
    {
        SchedEntity? se = p.Se;
        for (; se is not null; se = se.Parent)
        {
            if (se.OnRq)
                break;
            EnqueueEntity(se.CfsRq, se, flags);
            flags = EnqueueFlags.Wakeup;
        }
        for (; se is not null; se = se.Parent)
        {
            if (_pelt419)
            {
                UpdateLoadAvg419(se.CfsRq, se, UpdateLoadFlags.UpdateTg);
                UpdateCfsGroup419(se);
            }
            else
            {
                UpdateCfsLoad(se.CfsRq, false);
                UpdateCfsShares(se.CfsRq);
            }
        }
    }

    /// <summary>
    /// <c>dequeue_task_fair</c>. From 4.19's (<see cref="FairClass.Cfs419"/>): when a sleeping task
    /// leaves a group queue that still holds others, the group's entity one level up becomes the
    /// next buddy, so the CPU prefers another task of the same group if that is not unfair. The
    /// load updates stay 2.6.39's.
    /// </summary>
    private void DequeueTaskFair(RunQueue rq, HostTask p, DequeueFlags flags)
    {
        bool taskSleep = (flags & DequeueFlags.Sleep) != 0;
        SchedEntity? se = p.Se;
        for (; se is not null; se = se.Parent)
        {
            var cfsRq = se.CfsRq;
            DequeueEntity(cfsRq, se, flags);
            // Don't dequeue the parent if it has other entities besides us.
            if (cfsRq.Load.Weight != 0)
            {
                if (taskSleep && se.Parent is { } parent && _features.Class == FairClass.Cfs419)
                    SetNextBuddy(parent);
                break;
            }
            flags |= DequeueFlags.Sleep;
        }
        if (_pelt419)
        {
            // 4.19: "avoid re-evaluating load for this entity" — carry on from the parent.
            for (se = se?.Parent; se is not null; se = se.Parent)
            {
                UpdateLoadAvg419(se.CfsRq, se, UpdateLoadFlags.UpdateTg);
                UpdateCfsGroup419(se);
            }
            // A queued task moved to another CPU: migrate_task_rq_fair (4.19), which follows the
            // dequeue, detaches it from its old queue (detach_entity_cfs_rq).
            if ((flags & DequeueFlags.Migrating) != 0)
            {
                DetachEntityCfsRq419(p.Se);
                p.Se.Avg.LastUpdateTime = 0;
            }
            return;
        }
        for (; se is not null; se = se.Parent)
        {
            UpdateCfsLoad(se.CfsRq, false);
            UpdateCfsShares(se.CfsRq);
        }
    }
}

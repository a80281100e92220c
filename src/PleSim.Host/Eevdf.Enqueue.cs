namespace PleSim.Host;

/// <summary>
/// EEVDF (kernel/sched/fair.c, v6.6; 6.12+ where named): <c>enqueue_entity</c> (placing through <c>place_entity</c>, Eevdf.cs), <c>dequeue_entity</c> with the lag it saves, DELAY_DEQUEUE's delayed sleep and requeue (6.12+), and the task-level enqueue and dequeue down the hierarchy.
/// </summary>
public sealed partial class HostScheduler
{
    // ---------------------------------------------------------------- enqueue, dequeue

    /// <summary><c>enqueue_entity</c> (6.6): place (the running entity before update_curr, others after), account, insert.</summary>
    private void EnqueueEntityEevdf(CfsRq cfsRq, SchedEntity se, EnqueueFlags flags)
    {
        bool curr = cfsRq.Curr == se;
        bool initial = (flags & EnqueueFlags.Initial) != 0;
        if (curr)
            PlaceEntityEevdf(cfsRq, se, initial);
        UpdateCurr(cfsRq);
        if (_pelt)
        {
            // 6.6: sync and attach the load averages, refresh the runnable weight, reweight a group
            // entity from its queue's share — all before placing it (decision 0056).
            UpdateLoadAvg(cfsRq, se, UpdateLoadFlags.UpdateTg | UpdateLoadFlags.DoAttach);
            SeUpdateRunnable(se);
            UpdateCfsGroup(se);
        }
        else
        {
            UpdateCfsLoad(cfsRq, false);
        }
        if (!curr)
            PlaceEntityEevdf(cfsRq, se, initial);
        AccountEntityEnqueue(cfsRq, se);
        if (!_pelt)
            UpdateCfsShares(cfsRq);
        if (!curr)
        {
            se.WaitStart = _sim.Now.Ns;
            EnqueueTreeEevdf(cfsRq, se);
        }
        se.OnRq = true;
        if (cfsRq.NrRunning == 1)
        {
            if (_pelt)
                ListAddLeafCfsRqPelt(cfsRq);
            else
                ListAddLeafCfsRq(cfsRq);
        }
    }

    /// <summary>
    /// <c>dequeue_entity</c> (6.6): save the lag, leave the tree and the average, then min_vruntime may
    /// advance. 6.12+ with DELAY_DEQUEUE (decision 0083): an entity going to sleep that is not eligible
    /// is not dequeued but marked <c>sched_delayed</c> (its next-buddy mark cleared) and false is
    /// returned; <see cref="DequeueFlags.Delayed"/> finishes the dequeue of such an entity
    /// (<c>finish_delayed_dequeue_entity</c>: DELAY_ZERO clips a positive lag to 0).
    /// </summary>
    private bool DequeueEntityEevdf(CfsRq cfsRq, SchedEntity se, DequeueFlags flags)
    {
        UpdateCurr(cfsRq);
        if (_delayDequeue && (flags & (DequeueFlags.Delayed | DequeueFlags.Sleep)) == DequeueFlags.Sleep && !EntityEligible(cfsRq, se))
        {
            if (cfsRq.Next == se)
                cfsRq.Next = null;
            if (_pelt)
                UpdateLoadAvg(cfsRq, se, UpdateLoadFlags.None);
            se.SchedDelayed = true;
            DelayedDequeues++;
            return false;
        }
        if (_pelt)
        {
            // 6.6: a queued task moving to another CPU leaves the queue's averages (DO_DETACH).
            var action = UpdateLoadFlags.UpdateTg;
            if (se.IsTask && (flags & DequeueFlags.Migrating) != 0)
                action |= UpdateLoadFlags.DoDetach;
            UpdateLoadAvg(cfsRq, se, action);
            if ((action & UpdateLoadFlags.DoDetach) != 0)
                se.Avg.LastUpdateTime = 0; // migrate_task_rq_fair, which follows at once: "tell new CPU we are migrated"
            SeUpdateRunnable(se);
        }
        if (se != cfsRq.Curr)
            WaitEnd(se);
        ClearBuddiesEevdf(cfsRq, se);
        UpdateEntityLag(cfsRq, se);
        if (se != cfsRq.Curr)
            DequeueTreeEevdf(cfsRq, se);
        se.OnRq = false;
        if (_pelt)
        {
            AccountEntityDequeue(cfsRq, se);
            UpdateCfsGroup(se);
        }
        else
        {
            UpdateCfsLoad(cfsRq, false);
            AccountEntityDequeue(cfsRq, se);
            UpdateCfsShares(cfsRq);
        }
        UpdateMinVruntimeEevdf(cfsRq);
        if ((flags & DequeueFlags.Delayed) != 0)
        {
            se.SchedDelayed = false;
            if (_features.DelayZero && se.Vlag > 0)
                se.Vlag = 0;
        }
        return true;
    }

    /// <summary>
    /// <c>requeue_delayed_entity</c> (6.12): a delayed entity (still queued) is wanted again — its
    /// task woke (<c>ttwu_runnable</c>), or a task below a delayed group entity was enqueued. With
    /// DELAY_ZERO a positive lag is dropped and the entity placed again at V; a negative lag is kept.
    /// </summary>
    private void RequeueDelayedEntity(SchedEntity se)
    {
        var cfsRq = se.CfsRq;
        if (!se.SchedDelayed || !se.OnRq)
            throw new InvalidOperationException("requeue of an entity that is not delayed");
        if (_features.DelayZero)
        {
            UpdateEntityLag(cfsRq, se);
            if (se.Vlag > 0)
            {
                bool queued = se != cfsRq.Curr;
                if (queued)
                    DequeueTreeEevdf(cfsRq, se);
                se.Vlag = 0;
                PlaceEntityEevdf(cfsRq, se, initial: false);
                if (queued)
                    EnqueueTreeEevdf(cfsRq, se);
            }
        }
        if (_pelt)
            UpdateLoadAvg(cfsRq, se, UpdateLoadFlags.None);
        se.SchedDelayed = false;
        DelayedRequeues++;
    }

    /// <summary>
    /// <c>enqueue_task_fair</c> (6.6). 6.12+ (decision 0083): <see cref="EnqueueFlags.Delayed"/>
    /// requeues the task's delayed entity in place and stops; a delayed group entity met on the way
    /// up is requeued.
    /// </summary>
    private void EnqueueTaskEevdf(RunQueue rq, HostTask p, EnqueueFlags flags)
    {
        if ((flags & EnqueueFlags.Delayed) != 0)
        {
            RequeueDelayedEntity(p.Se);
            for (var e = p.Se; e is not null; e = e.Parent)
                e.CfsRq.HNrDelayed--; // clear_delayed (6.14+): runnable again at every level
            return;
        }
        int delayed = p.Se.SchedDelayed ? 1 : 0; // a delayed task moved by the balancer arrives delayed (6.14: h_nr_runnable = 0)
        SchedEntity? se = p.Se;
        for (; se is not null; se = se.Parent)
        {
            if (se.OnRq)
            {
                if (se.SchedDelayed)
                    RequeueDelayedEntity(se);
                break;
            }
            EnqueueEntityEevdf(se.CfsRq, se, flags);
            se.CfsRq.HNrRunning++;
            se.CfsRq.HNrDelayed += delayed;
            flags = EnqueueFlags.Wakeup;
        }
        for (; se is not null; se = se.Parent)
        {
            UpdateQueuedEntityLoad(se);
            se.CfsRq.HNrRunning++;
            se.CfsRq.HNrDelayed += delayed;
        }
    }

    /// <summary>
    /// A level above the one that changed, still queued: 6.6's <c>update_load_avg(UPDATE_TG)</c>,
    /// <c>se_update_runnable</c>, <c>update_cfs_group</c>, or 2.6.39's load and shares updates.
    /// </summary>
    private void UpdateQueuedEntityLoad(SchedEntity se)
    {
        if (_pelt)
        {
            UpdateLoadAvg(se.CfsRq, se, UpdateLoadFlags.UpdateTg);
            SeUpdateRunnable(se);
            UpdateCfsGroup(se);
        }
        else
        {
            UpdateCfsLoad(se.CfsRq, false);
            UpdateCfsShares(se.CfsRq);
        }
    }

    /// <summary>
    /// <c>dequeue_task_fair</c> (6.6; <c>dequeue_entities</c> 6.12): up the hierarchy while queues
    /// empty; when a sleeping task's group still has others queued, the group becomes the next buddy
    /// one level up ("bias pick_next to pick a task from this cfs_rq"). Returns false when the
    /// task's own entity was delayed (DELAY_DEQUEUE, decision 0083): it stays queued. A group entity
    /// that is delayed stays queued too, and the walk goes on from it (h_nr_running above it drops).
    /// </summary>
    private bool DequeueTaskEevdf(RunQueue rq, HostTask p, DequeueFlags flags)
    {
        bool taskSleep = (flags & DequeueFlags.Sleep) != 0;
        int delayed = p.Se.SchedDelayed ? 1 : 0; // finishing (or migrating) a delayed task
        SchedEntity? se = p.Se;
        bool groupDelayed = false;
        for (; se is not null; se = se.Parent)
        {
            var cfsRq = se.CfsRq;
            if (!DequeueEntityEevdf(cfsRq, se, flags))
            {
                if (se == p.Se)
                {
                    for (var e = p.Se; e is not null; e = e.Parent)
                        e.CfsRq.HNrDelayed++; // set_delayed (6.14+): no longer runnable at any level
                    return false;
                }
                groupDelayed = true; // dequeue_entities: the second loop starts at the delayed group entity
                break;
            }
            cfsRq.HNrRunning--;
            cfsRq.HNrDelayed -= delayed;
            if (cfsRq.Load.Weight != 0)
            {
                if (taskSleep && se.Parent is not null)
                    SetNextBuddy(se.Parent);
                break;
            }
            flags &= ~(DequeueFlags.Migrating | DequeueFlags.Delayed); // only the task's own entity is detached
            if (_delayDequeue)
                flags |= DequeueFlags.Sleep; // 6.12 dequeue_entities: every level above goes to sleep
        }
        if (_pelt)
        {
            // 6.6: "avoid re-evaluating load for this entity" — carry on from the parent.
            for (se = groupDelayed ? se : se?.Parent; se is not null; se = se.Parent)
            {
                UpdateLoadAvg(se.CfsRq, se, UpdateLoadFlags.UpdateTg);
                SeUpdateRunnable(se);
                UpdateCfsGroup(se);
                se.CfsRq.HNrRunning--;
                se.CfsRq.HNrDelayed -= delayed;
            }
            return true;
        }
        for (var a = groupDelayed ? se : se?.Parent; a is not null; a = a.Parent)
        {
            a.CfsRq.HNrRunning--;
            a.CfsRq.HNrDelayed -= delayed;
        }
        for (; se is not null; se = se.Parent)
        {
            UpdateCfsLoad(se.CfsRq, false);
            UpdateCfsShares(se.CfsRq);
        }
        return true;
    }

    /// <summary>
    /// <c>dequeue_entities(rq, se, DEQUEUE_SLEEP | DEQUEUE_DELAYED)</c> (6.12): the pick met a delayed
    /// entity — finish its dequeue and go on up the hierarchy as a sleeping dequeue does. For a
    /// task's entity the task leaves the run queue (<c>__block_task</c>). Decision 0083.
    /// </summary>
    private void DequeueDelayedEntity(RunQueue rq, SchedEntity se)
    {
        if (se.Task is { } p)
        {
            DeactivateTask(rq, p, DequeueFlags.Sleep | DequeueFlags.Delayed);
            return;
        }
        // A delayed group entity has no task queued below it: nothing below to take off h_nr_running.
        var flags = DequeueFlags.Sleep | DequeueFlags.Delayed;
        SchedEntity? e = se;
        for (; e is not null; e = e.Parent)
        {
            var cfsRq = e.CfsRq;
            if (!DequeueEntityEevdf(cfsRq, e, flags))
                break; // an ancestor going idle was delayed in its turn
            if (cfsRq.Load.Weight != 0)
            {
                if (e.Parent is not null)
                    SetNextBuddy(e.Parent);
                e = e.Parent;
                break;
            }
            flags = DequeueFlags.Sleep;
        }
        for (; e is not null; e = e.Parent)
            UpdateQueuedEntityLoad(e);
    }
}

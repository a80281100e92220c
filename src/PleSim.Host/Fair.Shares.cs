namespace PleSim.Host;

/// <summary>
/// The fair class, load accounting and task-group shares (Linux 2.6.39 kernel/sched_fair.c,
/// CONFIG_FAIR_GROUP_SCHED): a queue's load on enqueue and dequeue, its decaying average
/// (<c>update_cfs_load</c>), a group entity's weight from its share of the group's load
/// (<c>calc_cfs_shares</c>, <c>update_cfs_shares</c>, <c>reweight_entity</c>) and the leaf queue list.
/// </summary>
public sealed partial class HostScheduler
{
    // ---------------------------------------------------------------- load accounting

    private void AccountEntityEnqueue(CfsRq cfsRq, SchedEntity se)
    {
        cfsRq.Load.Add(se.Load.Weight);
        if (se.Parent is null)
            cfsRq.Rq.Load.Add(se.Load.Weight); // inc_cpu_load
        if (se.Task is { } t)
        {
            cfsRq.Tasks.Insert(0, t); // list_add at the head
            if (_lb66 || _lb419)
                cfsRq.Rq.CfsTasks.Insert(0, t); // 4.19/6.x: rq->cfs_tasks
        }
        cfsRq.NrRunning++;
    }

    private void AccountEntityDequeue(CfsRq cfsRq, SchedEntity se)
    {
        cfsRq.Load.Sub(se.Load.Weight);
        if (se.Parent is null)
            cfsRq.Rq.Load.Sub(se.Load.Weight); // dec_cpu_load
        if (se.Task is { } t)
        {
            cfsRq.Tasks.Remove(t);
            if (_lb66 || _lb419)
                cfsRq.Rq.CfsTasks.Remove(t);
        }
        cfsRq.NrRunning--;
    }

    /// <summary><c>update_cfs_rq_load_contribution</c>.</summary>
    private static void UpdateCfsRqLoadContribution(CfsRq cfsRq, bool globalUpdate)
    {
        var tg = cfsRq.Tg;
        long loadAvg = cfsRq.LoadAvg / (cfsRq.LoadPeriod + 1);
        loadAvg -= cfsRq.LoadContribution;
        if (globalUpdate || Math.Abs(loadAvg) > cfsRq.LoadContribution / 8)
        {
            tg.LoadWeight += loadAvg;
            cfsRq.LoadContribution += loadAvg;
        }
    }

    /// <summary>
    /// <c>update_cfs_load</c>: fold this queue's load into a decaying average over the shares
    /// window (10 ms), and publish its contribution to the group's total when it moved by more
    /// than an eighth.
    /// </summary>
    internal void UpdateCfsLoad(CfsRq cfsRq, bool globalUpdate)
    {
        if (cfsRq.Tg.IsRoot)
            return;
        long period = _tunables.SharesWindowNs.Ns;
        long now = ClockTask(cfsRq.Rq);
        long delta = now - cfsRq.LoadStamp;
        long load = cfsRq.Load.Weight;

        // Truncate load history at 4 idle periods.
        if (cfsRq.LoadStamp > cfsRq.LoadLast && now - cfsRq.LoadLast > 4 * period)
        {
            cfsRq.LoadPeriod = 0;
            cfsRq.LoadAvg = 0;
            delta = period - 1;
        }

        cfsRq.LoadStamp = now;
        cfsRq.LoadUnaccExecTime = 0;
        cfsRq.LoadPeriod += delta;
        if (load != 0)
        {
            cfsRq.LoadLast = now;
            cfsRq.LoadAvg += delta * load;
        }

        if (globalUpdate || cfsRq.LoadPeriod > period || cfsRq.LoadPeriod == 0)
            UpdateCfsRqLoadContribution(cfsRq, globalUpdate);

        while (cfsRq.LoadPeriod > period)
        {
            cfsRq.LoadPeriod /= 2;
            cfsRq.LoadAvg /= 2;
        }

        if (cfsRq.Curr is null && cfsRq.NrRunning == 0 && cfsRq.LoadAvg == 0)
            ListDelLeafCfsRq(cfsRq);
    }

    /// <summary><c>calc_cfs_shares</c>: tg.shares × (this queue's load) / (the group's load on all CPUs), clamped to [2, shares].</summary>
    public static long CalcCfsShares(CfsRq cfsRq, TaskGroup tg)
    {
        long load = cfsRq.Load.Weight;
        long loadWeight = tg.LoadWeight + load - cfsRq.LoadContribution;
        long shares = tg.Shares * load;
        if (loadWeight != 0)
            shares /= loadWeight;
        if (shares < Weights.MinShares)
            shares = Weights.MinShares;
        if (shares > tg.Shares)
            shares = tg.Shares;
        return shares;
    }

    /// <summary><c>reweight_entity</c>.</summary>
    private void ReweightEntity(CfsRq cfsRq, SchedEntity se, long weight)
    {
        if (_eevdf)
        {
            ReweightEntityEevdf(cfsRq, se, weight);
            return;
        }
        if (se.OnRq)
        {
            if (cfsRq.Curr == se)
                UpdateCurr(cfsRq);
            AccountEntityDequeue(cfsRq, se);
        }
        se.Load.Set(weight);
        if (se.OnRq)
            AccountEntityEnqueue(cfsRq, se);
    }

    /// <summary><c>update_cfs_shares</c>: set this CPU's group entity weight from the group's load distribution.</summary>
    internal void UpdateCfsShares(CfsRq cfsRq)
    {
        var tg = cfsRq.Tg;
        if (tg.IsRoot)
            return;
        var se = tg.Se[cfsRq.Rq.Cpu];
        long shares = CalcCfsShares(cfsRq, tg);
        ReweightEntity(se.CfsRq, se, shares);
    }

    /// <summary><c>update_entity_shares_tick</c>: long-running entities refresh their shares once a window of runtime went unaccounted.</summary>
    private void UpdateEntitySharesTick(CfsRq cfsRq)
    {
        if (cfsRq.LoadUnaccExecTime > _tunables.SharesWindowNs.Ns)
        {
            UpdateCfsLoad(cfsRq, false);
            UpdateCfsShares(cfsRq);
        }
    }

    private static void ListAddLeafCfsRq(CfsRq cfsRq)
    {
        if (cfsRq.OnList)
            return;
        // 2.6.39 keeps children before parents: a child queue is added at the head when its
        // parent is not listed yet, otherwise at the tail (list_add_leaf_cfs_rq). Walking the
        // list then visits leaves first, which update_shares relies on.
        var list = cfsRq.Rq.LeafCfsRqs;
        var parent = cfsRq.Tg.Parent;
        if (parent is not null && parent.CfsRq[cfsRq.Rq.Cpu].OnList)
            list.Add(cfsRq);
        else
            list.Insert(0, cfsRq);
        cfsRq.OnList = true;
    }

    private static void ListDelLeafCfsRq(CfsRq cfsRq)
    {
        if (!cfsRq.OnList)
            return;
        cfsRq.Rq.LeafCfsRqs.Remove(cfsRq);
        cfsRq.OnList = false;
    }
}

namespace PleSim.Host;

/// <summary>Flags of enqueue_entity / dequeue_entity (kernel/sched.c, 2.6.39).</summary>
[Flags]
public enum EnqueueFlags
{
    None = 0,
    Wakeup = 1,   // ENQUEUE_WAKEUP
    Waking = 4,   // ENQUEUE_WAKING
    Initial = 0x80, // ENQUEUE_INITIAL (6.6+: a new task; EEVDF only)
}

[Flags]
public enum DequeueFlags
{
    None = 0,
    Sleep = 1,    // DEQUEUE_SLEEP
}

/// <summary>
/// The fair scheduling class: kernel/sched_fair.c of 2.6.39, function by function. Method names
/// are the kernel's in C# casing; docs/kernel-map.md lists the pairs.
/// </summary>
public sealed partial class HostScheduler
{
    // ---------------------------------------------------------------- helpers

    private long ClockTask(RunQueue rq) => _sim.Now.Ns;

    /// <summary><c>__sched_period</c>: sched_latency, stretched to nr × min_granularity above sched_nr_latency.</summary>
    public long SchedPeriod(long nrRunning) => SchedPeriod(nrRunning, Tun.LatencyNs, Tun.MinGranularityNs, Tun.NrLatency);

    /// <summary>
    /// <c>__sched_period</c> on given tunables — the one formula the host and the guest scheduler
    /// (whose tunables are the guest kernel's) both use.
    /// </summary>
    public static long SchedPeriod(long nrRunning, long latencyNs, long minGranularityNs, int nrLatency) =>
        nrRunning > nrLatency ? minGranularityNs * nrRunning : latencyNs;

    /// <summary><c>sched_slice</c>: the wall-time share of the period for <paramref name="se"/>, through every level.</summary>
    public long SchedSlice(CfsRq cfsRq, SchedEntity se)
    {
        long slice = SchedPeriod(cfsRq.NrRunning + (se.OnRq ? 0 : 1));
        for (var e = se; e is not null; e = e.Parent)
        {
            var q = e.CfsRq;
            if (e.OnRq)
            {
                slice = Weights.CalcDeltaMine(slice, e.Load.Weight, ref q.Load);
            }
            else
            {
                var lw = q.Load;
                lw.Add(e.Load.Weight);
                slice = Weights.CalcDeltaMine(slice, e.Load.Weight, ref lw);
            }
        }
        return slice;
    }

    /// <summary><c>sched_vslice</c>: the slice in the entity's virtual time.</summary>
    public long SchedVslice(CfsRq cfsRq, SchedEntity se) => Weights.CalcDeltaFair(SchedSlice(cfsRq, se), ref se.Load);

    private static long MaxVruntime(long minVruntime, long vruntime) => vruntime - minVruntime > 0 ? vruntime : minVruntime;
    private static long MinVruntimeOf(long minVruntime, long vruntime) => vruntime - minVruntime < 0 ? vruntime : minVruntime;

    /// <summary><c>update_min_vruntime</c>: monotonic, follows min(curr, leftmost).</summary>
    private static void UpdateMinVruntime(CfsRq cfsRq)
    {
        long vruntime = cfsRq.MinVruntime;
        if (cfsRq.Curr is not null)
            vruntime = cfsRq.Curr.Vruntime;
        var left = cfsRq.First;
        if (left is not null)
            vruntime = cfsRq.Curr is null ? left.Vruntime : MinVruntimeOf(vruntime, left.Vruntime);
        cfsRq.MinVruntime = MaxVruntime(cfsRq.MinVruntime, vruntime);
    }

    /// <summary><c>update_curr</c>: charge the running entity of this queue for the time since exec_start.</summary>
    internal void UpdateCurr(CfsRq cfsRq)
    {
        if (_eevdf)
        {
            UpdateCurrEevdf(cfsRq);
            return;
        }
        var curr = cfsRq.Curr;
        if (curr is null)
            return;
        long now = ClockTask(cfsRq.Rq);
        long delta = now - curr.ExecStart;
        if (delta == 0)
            return;
        curr.SumExecRuntime += delta;
        curr.Vruntime += Weights.CalcDeltaFair(delta, ref curr.Load);
        UpdateMinVruntime(cfsRq);
        cfsRq.LoadUnaccExecTime += delta;
        curr.ExecStart = now;
        if (curr.Task is { } t)
        {
            // cpuacct_charge: the task's group and its ancestors.
            for (var g = t.Group; g is not null; g = g.Parent)
                g.CpuTimeNs += delta;
        }
    }

    // ---------------------------------------------------------------- load accounting

    private void AccountEntityEnqueue(CfsRq cfsRq, SchedEntity se)
    {
        cfsRq.Load.Add(se.Load.Weight);
        if (se.Parent is null)
            cfsRq.Rq.Load.Add(se.Load.Weight); // inc_cpu_load
        if (se.Task is { } t)
            cfsRq.Tasks.Insert(0, t); // list_add at the head
        cfsRq.NrRunning++;
    }

    private void AccountEntityDequeue(CfsRq cfsRq, SchedEntity se)
    {
        cfsRq.Load.Sub(se.Load.Weight);
        if (se.Parent is null)
            cfsRq.Rq.Load.Sub(se.Load.Weight); // dec_cpu_load
        if (se.Task is { } t)
            cfsRq.Tasks.Remove(t);
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
        // Renormalise before update_curr() moves min_vruntime.
        if ((flags & EnqueueFlags.Wakeup) == 0 || (flags & EnqueueFlags.Waking) != 0)
            se.Vruntime += cfsRq.MinVruntime;

        UpdateCurr(cfsRq);
        UpdateCfsLoad(cfsRq, false);
        AccountEntityEnqueue(cfsRq, se);
        UpdateCfsShares(cfsRq);

        if ((flags & EnqueueFlags.Wakeup) != 0)
            PlaceEntity(cfsRq, se, false);

        if ((_checkPlacement || _sim.Invariants.Enabled) && se.Vruntime - (cfsRq.MinVruntime - SleeperCredit) < 0)
            throw new InvalidOperationException($"{se} enqueued {cfsRq.MinVruntime - se.Vruntime} ns behind min_vruntime on {cfsRq}, more than the sleeper credit");

        if (se != cfsRq.Curr)
        {
            se.WaitStart = _sim.Now.Ns;
            cfsRq.Insert(se);
        }
        se.OnRq = true;

        if (cfsRq.NrRunning == 1)
            ListAddLeafCfsRq(cfsRq);
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
        if (se != cfsRq.Curr)
            WaitEnd(se);
        ClearBuddies(cfsRq, se);
        if (se != cfsRq.Curr)
            cfsRq.Remove(se);
        se.OnRq = false;
        UpdateCfsLoad(cfsRq, false);
        AccountEntityDequeue(cfsRq, se);
        UpdateMinVruntime(cfsRq);
        UpdateCfsShares(cfsRq);

        // Normalise after min_vruntime was updated (it may follow ->curr).
        if ((flags & DequeueFlags.Sleep) == 0)
            se.Vruntime -= cfsRq.MinVruntime;
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
            UpdateCfsLoad(se.CfsRq, false);
            UpdateCfsShares(se.CfsRq);
        }
    }

    /// <summary><c>dequeue_task_fair</c>.</summary>
    private void DequeueTaskFair(RunQueue rq, HostTask p, DequeueFlags flags)
    {
        SchedEntity? se = p.Se;
        for (; se is not null; se = se.Parent)
        {
            var cfsRq = se.CfsRq;
            DequeueEntity(cfsRq, se, flags);
            // Don't dequeue the parent if it has other entities besides us.
            if (cfsRq.Load.Weight != 0)
                break;
            flags |= DequeueFlags.Sleep;
        }
        for (; se is not null; se = se.Parent)
        {
            UpdateCfsLoad(se.CfsRq, false);
            UpdateCfsShares(se.CfsRq);
        }
    }

    // ---------------------------------------------------------------- tick preemption

    /// <summary>
    /// <c>check_preempt_tick</c>: resched when the running entity used its ideal slice (and drop
    /// its buddy favours), or when, after min_granularity, it leads the leftmost by more than a slice.
    /// </summary>
    private void CheckPreemptTick(CfsRq cfsRq, SchedEntity curr)
    {
        long idealRuntime = SchedSlice(cfsRq, curr);
        long deltaExec = curr.SumExecRuntime - curr.PrevSumExecRuntime;
        if (deltaExec > idealRuntime)
        {
            ReschedTask(cfsRq.Rq, cfsRq.Rq.Cpu);
            ClearBuddies(cfsRq, curr);
            return;
        }
        if (!_features.WakeupPreempt)
            return;
        if (deltaExec < Tun.MinGranularityNs)
            return;
        if (cfsRq.NrRunning > 1)
        {
            var se = cfsRq.First!;
            long delta = curr.Vruntime - se.Vruntime;
            if (delta < 0)
                return;
            if (delta > idealRuntime)
                ReschedTask(cfsRq.Rq, cfsRq.Rq.Cpu);
        }
    }

    private void EntityTick(CfsRq cfsRq, SchedEntity curr)
    {
        UpdateCurr(cfsRq);
        UpdateEntitySharesTick(cfsRq);
        if (cfsRq.NrRunning > 1 || !_features.WakeupPreempt)
            CheckPreemptTick(cfsRq, curr);
    }

    /// <summary><c>task_tick_fair</c>.</summary>
    private void TaskTickFair(RunQueue rq, HostTask curr)
    {
        for (SchedEntity? se = curr.Se; se is not null; se = se.Parent)
            EntityTick(se.CfsRq, se);
    }

    // ---------------------------------------------------------------- picking

    /// <summary><c>set_next_entity</c>.</summary>
    private void SetNextEntity(CfsRq cfsRq, SchedEntity se)
    {
        if (se.OnRq)
        {
            WaitEnd(se);
            cfsRq.Remove(se);
        }
        se.ExecStart = ClockTask(cfsRq.Rq);
        cfsRq.Curr = se;
        se.PrevSumExecRuntime = se.SumExecRuntime;
    }

    /// <summary><c>wakeup_gran</c>: the wake-up granularity in <paramref name="se"/>'s virtual time.</summary>
    private long WakeupGran(SchedEntity se)
    {
        long gran = Tun.WakeupGranularityNs;
        if (se.Load.Weight != Weights.Nice0Load)
            gran = Weights.CalcDeltaFair(gran, ref se.Load);
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
        }
        cfsRq.Curr = null;
    }

    /// <summary><c>pick_next_task_fair</c>: pick down the hierarchy.</summary>
    private HostTask? PickNextTaskFair(RunQueue rq)
    {
        var cfsRq = rq.Cfs;
        if (cfsRq.NrRunning == 0)
            return null;
        SchedEntity se;
        do
        {
            se = PickNextEntity(cfsRq);
            SetNextEntity(cfsRq, se);
            cfsRq = se.MyQ!;
        }
        while (cfsRq is not null);
        return se.Task;
    }

    /// <summary><c>put_prev_task_fair</c>.</summary>
    private void PutPrevTaskFair(RunQueue rq, HostTask prev)
    {
        for (SchedEntity? se = prev.Se; se is not null; se = se.Parent)
            PutPrevEntity(se.CfsRq, se);
    }

    // ---------------------------------------------------------------- buddies and wake-up preemption

    private void SetLastBuddy(SchedEntity se)
    {
        for (SchedEntity? e = se; e is not null; e = _features.HierarchicalBuddies ? e.Parent : null)
            e.CfsRq.Last = e;
        Observer?.Buddy(se.CfsRq.Rq.Cpu, "last", se);
    }

    private void SetNextBuddy(SchedEntity se)
    {
        for (SchedEntity? e = se; e is not null; e = _features.HierarchicalBuddies ? e.Parent : null)
            e.CfsRq.Next = e;
        Observer?.Buddy(se.CfsRq.Rq.Cpu, "next", se);
    }

    private void SetSkipBuddy(SchedEntity se)
    {
        for (SchedEntity? e = se; e is not null; e = _features.HierarchicalBuddies ? e.Parent : null)
            e.CfsRq.Skip = e;
        Observer?.Buddy(se.CfsRq.Rq.Cpu, "skip", se);
    }

    /// <summary><c>find_matching_se</c>: walk both entities up until they share a queue.</summary>
    private static void FindMatchingSe(ref SchedEntity se, ref SchedEntity pse)
    {
        int seDepth = se.Depth;
        int pseDepth = pse.Depth;
        while (seDepth > pseDepth)
        {
            seDepth--;
            se = se.Parent!;
        }
        while (pseDepth > seDepth)
        {
            pseDepth--;
            pse = pse.Parent!;
        }
        while (se.CfsRq != pse.CfsRq)
        {
            se = se.Parent!;
            pse = pse.Parent!;
        }
    }

    /// <summary><c>check_preempt_wakeup</c>: preempt the running task for a woken one that is ahead by more than a wake-up granularity.</summary>
    private void CheckPreemptWakeup(RunQueue rq, HostTask p, int thisCpu)
    {
        var curr = rq.Curr;
        var se = curr.Se;
        var pse = p.Se;
        var cfsRq = curr.Se.CfsRq;
        bool scale = cfsRq.NrRunning >= Tun.NrLatency;
        if (se == pse)
            return;
        if (_features.NextBuddy && scale)
            SetNextBuddy(pse);
        if (rq.NeedResched)
            return;
        if (!_features.WakeupPreempt)
            return;
        UpdateCurr(cfsRq);
        FindMatchingSe(ref se, ref pse);
        if (WakeupPreemptEntity(se, pse) != 1)
            return;
        ReschedTask(rq, thisCpu);
        if (!se.OnRq)
            return;
        if (_features.LastBuddy && scale && se.IsTask)
            SetLastBuddy(se);
    }

    // ---------------------------------------------------------------- yield

    /// <summary><c>yield_task_fair</c>: mark the current task as the skip buddy (nothing if it is alone on the CPU).</summary>
    private void YieldTaskFair(RunQueue rq)
    {
        var curr = rq.Curr;
        var cfsRq = curr.Se.CfsRq;
        var se = curr.Se;
        if (rq.NrRunning == 1)
            return;
        ClearBuddies(cfsRq, se);
        UpdateCurr(cfsRq);
        SetSkipBuddy(se);
    }

    /// <summary><c>yield_to_task_fair</c>: next buddy on the target (up its hierarchy), then yield.</summary>
    private bool YieldToTaskFair(RunQueue rq, HostTask p)
    {
        if (!p.Se.OnRq)
            return false;
        SetNextBuddy(p.Se);
        YieldTaskFair(rq);
        return true;
    }
}

namespace PleSim.Host;

/// <summary>The fair class the host runs (<c>host.scheduler</c>; decision 0024).</summary>
public enum FairClass
{
    /// <summary>CFS of kernel/sched_fair.c, 2.6.39 (Fair*.cs).</summary>
    Cfs2639,

    /// <summary>
    /// CFS as kernel/sched/fair.c has it at v4.19, for what changed since 2.6.39 in wake-up
    /// preemption, buddies and yield: a wake-up preemption makes the wakee the next buddy and
    /// updates the entity where the two hierarchies meet, and a task going to sleep makes its
    /// parent group entity the next buddy. Load tracking (PELT), group shares, domains and the load
    /// balancer stay 2.6.39's (decision 0049).
    /// </summary>
    Cfs419,

    /// <summary>
    /// Not a Linux class: Xen's credit scheduler (xen/common/sched_credit.c, Xen 3.4/4.0-unstable at
    /// commit b67758cda13b, 2009) runs the host's pCPUs instead of CFS (XenCredit.cs,
    /// HostScheduler.XenCredit.cs; decision 0063). <c>host.scheduler: xen-credit-3.4</c>.
    /// </summary>
    XenCredit34,

    /// <summary>EEVDF, kernel/sched/fair.c at v6.6: NEXT_BUDDY (off) gates picking the next buddy.</summary>
    Eevdf66,

    /// <summary>
    /// EEVDF at v6.12 run with NO_DELAY_DEQUEUE (delayed dequeue is not modelled): for what PleSim
    /// models it picks, places, yields and preempts like 6.6 (the next buddy still needs NEXT_BUDDY).
    /// </summary>
    Eevdf612,

    /// <summary>EEVDF at v6.14 with NO_DELAY_DEQUEUE: PICK_BUDDY (on) — an eligible next buddy is picked, so yield_to steers the pick.</summary>
    Eevdf614,

    /// <summary>
    /// EEVDF at v6.17 with NO_DELAY_DEQUEUE: as 6.14, and <c>yield_task_fair</c> forfeits an
    /// eligible yielder's remaining request (commit 79104becf42b, "sched/fair: Forfeit vruntime on
    /// yield", merged for 6.17 and taken into 6.12.y stable).
    /// </summary>
    Eevdf617,
}

/// <summary>
/// The fair class as EEVDF (kernel/sched/fair.c, v6.6; the 6.12/6.14 differences are named where
/// they apply): virtual lag, eligibility against the load-weighted average vruntime, virtual
/// deadlines one base slice of virtual time ahead, placement that keeps lag, deadline-based
/// wake-up preemption, and yield as a deadline push. Method names are the kernel's in C# casing
/// with an <c>Eevdf</c> suffix where CFS 2.6.39 has a function of the same name (Fair*.cs);
/// docs/kernel-map.md lists them. Group entity weights come from PELT and 6.6's
/// <c>calc_group_shares</c>, and the load balancer is 6.6's (Fair.Pelt.cs, LoadBalance66.cs;
/// decision 0056), unless <c>host.load_tracking</c>/<c>host.load_balance</c> ask for 2.6.39's.
/// </summary>
public static class FairClasses
{
    /// <summary>Whether the class is one of the EEVDF versions (6.6 and later).</summary>
    public static bool IsEevdf(this FairClass c) => c >= FairClass.Eevdf66;
}

public sealed partial class HostScheduler
{
    /// <summary><c>sysctl_sched_base_slice</c>: 0.75 ms normalized, scaled like min_granularity was (it replaced it in 6.6).</summary>
    public long BaseSliceNs => Tun.MinGranularityNs;

    /// <summary>Whether <c>pick_next_entity</c> takes an eligible next buddy: NEXT_BUDDY up to 6.13, PICK_BUDDY from 6.14.</summary>
    private bool PickNextBuddy => _features.Class >= FairClass.Eevdf614 ? _features.PickBuddy : _features.NextBuddy;

    // ---------------------------------------------------------------- the average and eligibility

    /// <summary><c>entity_key</c>: vruntime relative to min_vruntime.</summary>
    private static long EntityKey(CfsRq cfsRq, SchedEntity se) => se.Vruntime - cfsRq.MinVruntime;

    /// <summary><c>avg_vruntime_add</c>.</summary>
    private static void AvgVruntimeAdd(CfsRq cfsRq, SchedEntity se)
    {
        long weight = se.Load.Weight;
        cfsRq.AvgVruntime += EntityKey(cfsRq, se) * weight;
        cfsRq.AvgLoad += weight;
    }

    /// <summary><c>avg_vruntime_sub</c>.</summary>
    private static void AvgVruntimeSub(CfsRq cfsRq, SchedEntity se)
    {
        long weight = se.Load.Weight;
        cfsRq.AvgVruntime -= EntityKey(cfsRq, se) * weight;
        cfsRq.AvgLoad -= weight;
    }

    /// <summary>
    /// <c>avg_vruntime</c>: V, the load-weighted mean vruntime of the queued entities and the
    /// running one (while it is on the queue), rounded towards −∞.
    /// </summary>
    public static long AvgVruntimeOf(CfsRq cfsRq)
    {
        var curr = cfsRq.Curr;
        long avg = cfsRq.AvgVruntime;
        long load = cfsRq.AvgLoad;
        if (curr is { OnRq: true })
        {
            long weight = curr.Load.Weight;
            avg += EntityKey(cfsRq, curr) * weight;
            load += weight;
        }
        if (load != 0)
        {
            if (avg < 0)
                avg -= load - 1;
            avg /= load;
        }
        return cfsRq.MinVruntime + avg;
    }

    /// <summary>
    /// <c>entity_eligible</c>: lag ≥ 0, i.e. vruntime ≤ V, tested without the division
    /// (Σ key·w ≥ key(se)·Σ w).
    /// </summary>
    public static bool EntityEligible(CfsRq cfsRq, SchedEntity se)
    {
        var curr = cfsRq.Curr;
        long avg = cfsRq.AvgVruntime;
        long load = cfsRq.AvgLoad;
        if (curr is { OnRq: true })
        {
            long weight = curr.Load.Weight;
            avg += EntityKey(cfsRq, curr) * weight;
            load += weight;
        }
        return avg >= EntityKey(cfsRq, se) * load;
    }

    /// <summary><c>update_min_vruntime</c> (6.6): as before, and the sum is rebased when min_vruntime moves (<c>avg_vruntime_update</c>).</summary>
    private static void UpdateMinVruntimeEevdf(CfsRq cfsRq)
    {
        var se = cfsRq.First;
        var curr = cfsRq.Curr;
        long vruntime = cfsRq.MinVruntime;
        if (curr is not null)
        {
            if (curr.OnRq)
                vruntime = curr.Vruntime;
            else
                curr = null;
        }
        if (se is not null)
            vruntime = curr is null ? se.Vruntime : MinVruntimeOf(vruntime, se.Vruntime);
        long delta = vruntime - cfsRq.MinVruntime;
        if (delta > 0)
        {
            cfsRq.AvgVruntime -= cfsRq.AvgLoad * delta;
            cfsRq.MinVruntime = vruntime;
        }
    }

    /// <summary><c>__enqueue_entity</c> (6.6): into the vruntime-ordered tree and the average.</summary>
    private static void EnqueueTreeEevdf(CfsRq cfsRq, SchedEntity se)
    {
        AvgVruntimeAdd(cfsRq, se);
        cfsRq.Insert(se);
    }

    /// <summary><c>__dequeue_entity</c> (6.6).</summary>
    private static void DequeueTreeEevdf(CfsRq cfsRq, SchedEntity se)
    {
        cfsRq.Remove(se);
        AvgVruntimeSub(cfsRq, se);
    }

    // ---------------------------------------------------------------- update_curr, deadlines, lag

    /// <summary><c>update_deadline</c>: once vruntime reaches the deadline, a new request of one base slice; reschedule if anyone else is queued.</summary>
    private void UpdateDeadline(CfsRq cfsRq, SchedEntity se)
    {
        if (se.Vruntime - se.Deadline < 0)
            return;
        se.Slice = BaseSliceNs;
        se.Deadline = se.Vruntime + Weights.CalcDeltaFair(se.Slice, ref se.Load);
        if (cfsRq.NrRunning > 1)
        {
            // resched_curr: the tick (the usual caller) runs on this CPU; a remote caller's IPI
            // latency is not modelled here (decision 0024).
            ReschedTask(cfsRq.Rq, cfsRq.Rq.Cpu);
            ClearBuddiesEevdf(cfsRq, se);
        }
    }

    /// <summary><c>update_curr</c> (6.6): charge the running entity, then <c>update_deadline</c> and <c>update_min_vruntime</c>.</summary>
    private void UpdateCurrEevdf(CfsRq cfsRq)
    {
        var curr = cfsRq.Curr;
        if (curr is null)
            return;
        long now = ClockTask(cfsRq.Rq);
        long delta = now - curr.ExecStart;
        if (delta <= 0)
            return;
        curr.ExecStart = now;
        curr.SumExecRuntime += delta;
        curr.Vruntime += Weights.CalcDeltaFair(delta, ref curr.Load);
        UpdateDeadline(cfsRq, curr);
        UpdateMinVruntimeEevdf(cfsRq);
        cfsRq.LoadUnaccExecTime += delta;
        if (curr.Task is { } t)
        {
            for (var g = t.Group; g is not null; g = g.Parent)
                g.CpuTimeNs += delta;
        }
    }

    /// <summary><c>update_entity_lag</c>: vlag = V − vruntime, clamped to the virtual time of max(2 slices, a tick).</summary>
    private void UpdateEntityLag(CfsRq cfsRq, SchedEntity se)
    {
        long lag = AvgVruntimeOf(cfsRq) - se.Vruntime;
        long limit = Weights.CalcDeltaFair(Math.Max(2 * se.Slice, _tunables.TickPeriod.Ns), ref se.Load);
        se.Vlag = Math.Clamp(lag, -limit, limit);
    }

    /// <summary>
    /// <c>place_entity</c> (6.6): vruntime = V − lag, where the saved lag is inflated by
    /// (W + w)/W so that it survives the entity's own effect on V (PLACE_LAG); deadline one slice
    /// (half for a new task, PLACE_DEADLINE_INITIAL) of virtual time later.
    /// </summary>
    internal void PlaceEntityEevdf(CfsRq cfsRq, SchedEntity se, bool initial)
    {
        long vruntime = AvgVruntimeOf(cfsRq);
        long lag = 0;
        se.Slice = BaseSliceNs;
        long vslice = Weights.CalcDeltaFair(se.Slice, ref se.Load);
        if (_features.PlaceLag && cfsRq.NrRunning != 0)
        {
            lag = se.Vlag;
            long load = cfsRq.AvgLoad;
            if (cfsRq.Curr is { OnRq: true } curr)
                load += curr.Load.Weight;
            lag *= load + se.Load.Weight;
            if (load == 0)
                load = 1;
            lag /= load; // div_s64: truncates towards zero
        }
        se.Vruntime = vruntime - lag;
        if (_features.PlaceDeadlineInitial && initial)
            vslice /= 2;
        se.Deadline = se.Vruntime + vslice;
    }

    /// <summary>
    /// <c>reweight_entity</c> (6.6.0): a queued entity keeps its vruntime and its deadline keeps
    /// its wall-time distance (scaled by old/new weight); a dequeued one's vlag is rescaled.
    /// </summary>
    private void ReweightEntityEevdf(CfsRq cfsRq, SchedEntity se, long weight)
    {
        long oldWeight = se.Load.Weight;
        if (se.OnRq)
        {
            if (cfsRq.Curr == se)
                UpdateCurr(cfsRq);
            else
                AvgVruntimeSub(cfsRq, se);
            AccountEntityDequeue(cfsRq, se);
        }
        if (_pelt)
            ReweightDequeueLoadAvg(cfsRq, se);
        if (weight != 0 && oldWeight != weight)
        {
            if (!se.OnRq)
            {
                se.Vlag = se.Vlag * oldWeight / weight;
            }
            else
            {
                long deadline = se.Deadline - se.Vruntime;
                deadline = deadline * oldWeight / weight;
                se.Deadline = se.Vruntime + deadline;
            }
        }
        se.Load.Set(weight);
        if (_pelt)
            ReweightEnqueueLoadAvg(cfsRq, se);
        if (se.OnRq)
        {
            AccountEntityEnqueue(cfsRq, se);
            if (cfsRq.Curr != se)
                AvgVruntimeAdd(cfsRq, se);
        }
    }

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

    /// <summary><c>dequeue_entity</c> (6.6): save the lag, leave the tree and the average, then min_vruntime may advance.</summary>
    private void DequeueEntityEevdf(CfsRq cfsRq, SchedEntity se, DequeueFlags flags)
    {
        UpdateCurr(cfsRq);
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
    }

    /// <summary><c>enqueue_task_fair</c> (6.6).</summary>
    private void EnqueueTaskEevdf(RunQueue rq, HostTask p, EnqueueFlags flags)
    {
        SchedEntity? se = p.Se;
        for (; se is not null; se = se.Parent)
        {
            if (se.OnRq)
                break;
            EnqueueEntityEevdf(se.CfsRq, se, flags);
            se.CfsRq.HNrRunning++;
            flags = EnqueueFlags.Wakeup;
        }
        for (; se is not null; se = se.Parent)
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
            se.CfsRq.HNrRunning++;
        }
    }

    /// <summary>
    /// <c>dequeue_task_fair</c> (6.6): up the hierarchy while queues empty; when a sleeping task's
    /// group still has others queued, the group becomes the next buddy one level up ("bias
    /// pick_next to pick a task from this cfs_rq").
    /// </summary>
    private void DequeueTaskEevdf(RunQueue rq, HostTask p, DequeueFlags flags)
    {
        bool taskSleep = (flags & DequeueFlags.Sleep) != 0;
        SchedEntity? se = p.Se;
        for (; se is not null; se = se.Parent)
        {
            var cfsRq = se.CfsRq;
            DequeueEntityEevdf(cfsRq, se, flags);
            cfsRq.HNrRunning--;
            if (cfsRq.Load.Weight != 0)
            {
                if (taskSleep && se.Parent is not null)
                    SetNextBuddy(se.Parent);
                break;
            }
            flags &= ~DequeueFlags.Migrating; // only the task's own entity is detached
        }
        if (_pelt)
        {
            // 6.6: "avoid re-evaluating load for this entity" — carry on from the parent.
            for (se = se?.Parent; se is not null; se = se.Parent)
            {
                UpdateLoadAvg(se.CfsRq, se, UpdateLoadFlags.UpdateTg);
                SeUpdateRunnable(se);
                UpdateCfsGroup(se);
                se.CfsRq.HNrRunning--;
            }
            return;
        }
        for (var a = se?.Parent; a is not null; a = a.Parent)
            a.CfsRq.HNrRunning--;
        for (; se is not null; se = se.Parent)
        {
            UpdateCfsLoad(se.CfsRq, false);
            UpdateCfsShares(se.CfsRq);
        }
    }

    // ---------------------------------------------------------------- buddies

    /// <summary><c>clear_buddies</c> (6.6): only the next buddy is left.</summary>
    private void ClearBuddiesEevdf(CfsRq cfsRq, SchedEntity se)
    {
        if (cfsRq.Next == se)
            ClearBuddiesNext(se);
    }

    // ---------------------------------------------------------------- picking

    /// <summary>
    /// <c>pick_eevdf</c>: the eligible entity with the earliest virtual deadline, the running one
    /// included while it is queued and eligible; with RUN_TO_PARITY the running entity stays
    /// while it is eligible and still on the request it was picked with (vlag == deadline).
    /// The kernel searches an augmented red-black tree; PleSim scans its sorted array (queues
    /// hold a handful of entities). Ties go to the smaller vruntime, and the running entity wins
    /// only with a strictly earlier deadline, as in 6.6.
    /// </summary>
    internal SchedEntity? PickEevdf(CfsRq cfsRq)
    {
        var curr = cfsRq.Curr;
        if (curr is not null && (!curr.OnRq || !EntityEligible(cfsRq, curr)))
            curr = null;
        if (_features.RunToParity && curr is not null && curr.Vlag == curr.Deadline)
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

    /// <summary><c>pick_next_entity</c> (6.6): an eligible next buddy if the version honours it (see <see cref="PickNextBuddy"/>), else <c>pick_eevdf</c>.</summary>
    private SchedEntity PickNextEntityEevdf(CfsRq cfsRq)
    {
        if (PickNextBuddy && cfsRq.Next is { } next && EntityEligible(cfsRq, next))
            return next;
        return PickEevdf(cfsRq)!;
    }

    /// <summary>
    /// <c>set_next_entity</c> (6.6): out of the tree; the deadline is stashed in vlag for
    /// RUN_TO_PARITY. <paramref name="newSlice"/> false: <paramref name="se"/> stays
    /// <c>cfs_rq->curr</c> (<see cref="StaysCurrent"/>), so neither the stash nor the slice start is renewed.
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
                se.Vlag = se.Deadline;
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
        do
        {
            se = PickNextEntityEevdf(cfsRq);
            SetNextEntityEevdf(cfsRq, se, newSlice: !StaysCurrent(se, prev));
            cfsRq = se.MyQ!;
        }
        while (cfsRq is not null);
        if (_lb66 && se.Task is { } p)
        {
            // "Move the next running task to the front of the list, so our cfs_tasks list becomes MRU one."
            rq.CfsTasks.Remove(p);
            rq.CfsTasks.Insert(0, p);
        }
        return se.Task;
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

    // ---------------------------------------------------------------- tick and wake-up preemption

    /// <summary><c>task_tick_fair</c> / <c>entity_tick</c> (6.6): update_curr at every level — the deadline check in it is the tick preemption.</summary>
    private void TaskTickEevdf(RunQueue rq, HostTask curr)
    {
        for (SchedEntity? se = curr.Se; se is not null; se = se.Parent)
        {
            UpdateCurr(se.CfsRq);
            if (_pelt)
            {
                UpdateLoadAvg(se.CfsRq, se, UpdateLoadFlags.UpdateTg);
                UpdateCfsGroup(se);
            }
            else
            {
                UpdateEntitySharesTick(se.CfsRq);
            }
        }
    }

    /// <summary>
    /// <c>check_preempt_wakeup</c> (6.6; <c>check_preempt_wakeup_fair</c> from 6.7): at the level
    /// where the two hierarchies meet, preempt when <c>pick_eevdf</c> would now choose the woken
    /// side. NEXT_BUDDY (off by default) marks it as the next buddy first.
    /// </summary>
    private void CheckPreemptWakeupFair(RunQueue rq, HostTask p, int thisCpu)
    {
        var curr = rq.Curr;
        var se = curr.Se;
        var pse = p.Se;
        if (se == pse)
            return;
        if (_features.NextBuddy)
            SetNextBuddy(pse);
        if (rq.NeedResched)
            return;
        if (!_features.WakeupPreempt)
            return;
        FindMatchingSe(ref se, ref pse);
        var cfsRq = se.CfsRq;
        UpdateCurr(cfsRq);
        if (PickEevdf(cfsRq) == pse)
            ReschedTask(rq, thisCpu);
    }

    // ---------------------------------------------------------------- yield

    /// <summary>
    /// <c>yield_task_fair</c>: clear buddies, update_curr, then (6.6–6.14) push the deadline one
    /// request further (no skip buddy any more), or (6.17) forfeit the rest of the request if the
    /// yielder is eligible — its vruntime jumps to its deadline, the deadline moves one request on
    /// and min_vruntime follows; an ineligible yielder keeps both (the other entity is picked anyway).
    /// </summary>
    private void YieldTaskEevdf(RunQueue rq)
    {
        var curr = rq.Curr;
        var cfsRq = curr.Se.CfsRq;
        var se = curr.Se;
        if (rq.NrRunning == 1)
            return;
        ClearBuddiesEevdf(cfsRq, se);
        UpdateCurr(cfsRq);
        if (_features.Class < FairClass.Eevdf617)
        {
            se.Deadline += Weights.CalcDeltaFair(se.Slice, ref se.Load);
            return;
        }
        if (EntityEligible(cfsRq, se))
        {
            se.Vruntime = se.Deadline;
            se.Deadline += Weights.CalcDeltaFair(se.Slice, ref se.Load);
            UpdateMinVruntimeEevdf(cfsRq);
        }
    }

    /// <summary><c>yield_to_task_fair</c> (6.6–6.17): next buddy up the target's hierarchy, then yield. Whether the pick honours the buddy depends on the version.</summary>
    private bool YieldToTaskEevdf(RunQueue rq, HostTask p)
    {
        if (!p.Se.OnRq)
            return false;
        SetNextBuddy(p.Se);
        // The vCPU debooster (unmerged series, v2 patch 5; decision 0052): before yield_task_fair.
        if (_features.VcpuDebooster)
            YieldToDeboost(rq, p);
        YieldTaskEevdf(rq);
        return true;
    }
}

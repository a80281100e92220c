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
    /// EEVDF at v6.17 with NO_DELAY_DEQUEUE: as 6.14 for picking the next buddy and for yield (the
    /// deadline is pushed, the vruntime kept), with the slice protection of Vincent Guittot's 2025
    /// series (052c3d87c82e, 0b9ca2dcabc3 and others, merged for 6.17): <c>set_next_entity</c> sets
    /// <c>se->vprot</c> (<c>set_protect_slice</c>), <c>pick_eevdf</c> keeps an eligible current entity
    /// while its vruntime is below it (<c>protect_slice</c>), and <c>update_curr</c> reschedules
    /// whenever the current entity has others queued beside it and is no longer protected
    /// (decision 0075).
    /// </summary>
    Eevdf617,

    /// <summary>
    /// EEVDF at v6.18 as the 6.18.y stable series has it from 6.18.2 (the tree read; decision 0075):
    /// 6.17's protection and reschedule rules, and <c>yield_task_fair</c> forfeits an eligible
    /// yielder's remaining request (commit 79104becf42b, "sched/fair: Forfeit vruntime on yield",
    /// merged for 6.19-rc1 and taken into 6.18.2, 6.12.63 and 6.6.y stable; 6.18.0 does not have it).
    /// </summary>
    Eevdf618,
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
    /// <summary>
    /// <c>sysctl_sched_base_slice</c>: <c>host.sched.min_granularity_ns</c> scaled like min_granularity
    /// was (it replaced it in 6.6); by default 0.75 ms normalized up to 6.14 and 0.70 ms for 6.17/6.18
    /// (<see cref="SchedTunables.BaseSlice615"/>, decision 0088).
    /// </summary>
    public long BaseSliceNs => Tun.MinGranularityNs;

    /// <summary>
    /// The runnable count PELT and the balancer read: 6.12's <c>h_nr_running</c> counts delayed tasks;
    /// 6.14+ read <c>h_nr_runnable</c>, which does not (commit "sched/fair: Introduce cfs_rq->h_nr_runnable"
    /// and its users in <c>se_update_runnable</c>, <c>__update_load_avg_cfs_rq</c>,
    /// <c>update_sg_lb_stats</c>, <c>sched_balance_find_src_rq</c>; decision 0083). Equal without DELAY_DEQUEUE.
    /// </summary>
    internal int HNrRunnable(CfsRq q) => _features.Class >= FairClass.Eevdf614 ? q.HNrRunning - q.HNrDelayed : q.HNrRunning;

    /// <summary>DELAY_DEQUEUE is on (6.12+ EEVDF, <c>host.sched.features.DELAY_DEQUEUE</c>; decision 0083).</summary>
    public bool UsesDelayDequeue => _delayDequeue;

    /// <summary>
    /// DELAY_DEQUEUE's counters (decision 0083): entities (tasks and groups) whose sleep was delayed;
    /// delayed entities whose dequeue a pick finished; delayed entities requeued (a delayed task woken
    /// by <c>ttwu_runnable</c>, or a delayed group entity a task below it was enqueued under).
    /// </summary>
    public long DelayedDequeues, DelayedPickDequeues, DelayedRequeues;

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

    /// <summary>
    /// <c>update_deadline</c>: once vruntime reaches the deadline, a new request of one base slice;
    /// returns whether it did ("the task has consumed its request, reschedule"). The caller,
    /// <see cref="UpdateCurrEevdf"/>, decides the reschedule (6.6 inside this function, 6.12+ in
    /// <c>update_curr</c>; the order is immaterial to PleSim).
    /// </summary>
    private bool UpdateDeadline(SchedEntity se)
    {
        if (se.Vruntime - se.Deadline < 0)
            return false;
        se.Slice = BaseSliceNs;
        se.Deadline = se.Vruntime + Weights.CalcDeltaFair(se.Slice, ref se.Load);
        return true;
    }

    /// <summary>
    /// <c>update_curr</c>: charge the running entity, then <c>update_deadline</c> and
    /// <c>update_min_vruntime</c>, then the reschedule rule of the version, all only when others are
    /// queued beside the running entity (<c>nr_running</c>/<c>nr_queued</c> &gt; 1):
    /// 6.6 kernel/sched/fair.c <c>update_deadline</c>: when the request was renewed;
    /// 6.12 and 6.14 <c>update_curr</c>: also when PREEMPT_SHORT's <c>did_preempt_short</c> holds —
    /// the running entity is not protected (vlag ≠ deadline) and not eligible;
    /// 6.17 and 6.18 <c>update_curr</c>: also whenever it is not protected (<c>!protect_slice</c>;
    /// commit 0b9ca2dcabc3, "Always trigger resched at the end of a protected period").
    /// The reschedule also clears the running entity's next-buddy mark (<c>clear_buddies</c>).
    /// </summary>
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
        bool resched = UpdateDeadline(curr);
        UpdateMinVruntimeEevdf(cfsRq);
        cfsRq.LoadUnaccExecTime += delta;
        if (curr.Task is { } t)
        {
            for (var g = t.Group; g is not null; g = g.Parent)
                g.CpuTimeNs += delta;
        }
        if (cfsRq.NrRunning <= 1)
            return;
        var cls = _features.Class;
        if (cls >= FairClass.Eevdf617)
            resched |= !ProtectSlice(curr);
        else if (cls >= FairClass.Eevdf612)
            resched |= DidPreemptShort(cfsRq, curr);
        if (resched)
        {
            // resched_curr(_lazy): the tick (the usual caller) runs on this CPU; a remote caller's IPI
            // latency is not modelled here (decision 0024).
            ReschedTask(cfsRq.Rq, cfsRq.Rq.Cpu);
            ClearBuddiesEevdf(cfsRq, curr);
        }
    }

    /// <summary>
    /// <c>did_preempt_short</c> (6.12 and 6.14 kernel/sched/fair.c; removed in 6.17 by 9de74a9850b9,
    /// "Remove spurious shorter slice preemption"): with PREEMPT_SHORT, a running entity that lost
    /// its protection (vlag no longer equals the deadline stashed at pick) and is not eligible is
    /// rescheduled by <c>update_curr</c>. Despite the name it does not look at slices: the
    /// protection is lost when a shorter-slice wakee cancelled it, and — what matters in PleSim,
    /// where every entity has the base slice — when the entity was picked again after its request
    /// was renewed or pushed (decision 0074).
    /// </summary>
    private bool DidPreemptShort(CfsRq cfsRq, SchedEntity curr)
    {
        if (!_features.PreemptShort)
            return false;
        if (curr.Vlag == curr.Deadline)
            return false;
        return !EntityEligible(cfsRq, curr);
    }

    // ---------------------------------------------------------------- slice protection

    /// <summary>
    /// Whether <paramref name="se"/>, as the running entity, is protected from being replaced by the
    /// pick: 6.6–6.14 RUN_TO_PARITY and vlag still equal to the deadline stashed by
    /// <c>set_next_entity</c>; 6.17+ <c>protect_slice</c>.
    /// </summary>
    private bool SliceProtected(SchedEntity se) =>
        _features.Class >= FairClass.Eevdf617 ? ProtectSlice(se) : _features.RunToParity && se.Vlag == se.Deadline;

    /// <summary><c>protect_slice</c> (6.17 and 6.18 kernel/sched/fair.c): vruntime has not reached vprot.</summary>
    private static bool ProtectSlice(SchedEntity se) => se.Vprot - se.Vruntime > 0;

    /// <summary>
    /// <c>cfs_rq_min_slice</c> (6.12+): the smallest slice among the running entity (if queued) and
    /// the tree (the kernel keeps it in the augmented tree; PleSim scans its array).
    /// </summary>
    private static long CfsRqMinSlice(CfsRq cfsRq)
    {
        long min = long.MaxValue;
        if (cfsRq.Curr is { OnRq: true } curr)
            min = curr.Slice;
        int n = cfsRq.TreeCount;
        for (int i = 0; i < n; i++)
            min = Math.Min(min, cfsRq.TreeAt(i).Slice);
        return min;
    }

    /// <summary>
    /// <c>set_protect_slice</c> (6.17 and 6.18 kernel/sched/fair.c, called by <c>set_next_entity</c>
    /// for a queued entity): vprot is the deadline, cut to vruntime + the virtual time of a shorter
    /// slice when one applies — with RUN_TO_PARITY the smallest slice queued here
    /// (<c>cfs_rq_min_slice</c>), without it the normalized base slice, either only when smaller
    /// than the entity's own. PleSim gives every entity the base slice, so with RUN_TO_PARITY
    /// vprot is the deadline.
    /// </summary>
    private void SetProtectSlice(CfsRq cfsRq, SchedEntity se)
    {
        long slice = _features.RunToParity ? CfsRqMinSlice(cfsRq) : _tunables.MinGranularityNs.Ns;
        slice = Math.Min(slice, se.Slice);
        long vprot = se.Deadline;
        if (slice != se.Slice)
            vprot = MinVruntimeOf(vprot, se.Vruntime + Weights.CalcDeltaFair(slice, ref se.Load));
        se.Vprot = vprot;
    }

    /// <summary><c>update_protect_slice</c> (6.17+): cut vprot to vruntime + the virtual time of the smallest queued slice.</summary>
    private static void UpdateProtectSlice(CfsRq cfsRq, SchedEntity se)
    {
        long slice = CfsRqMinSlice(cfsRq);
        se.Vprot = MinVruntimeOf(se.Vprot, se.Vruntime + Weights.CalcDeltaFair(slice, ref se.Load));
    }

    /// <summary><c>cancel_protect_slice</c> (6.17+): a protected entity's vprot drops to its vruntime.</summary>
    private static void CancelProtectSlice(SchedEntity se)
    {
        if (ProtectSlice(se))
            se.Vprot = se.Vruntime;
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
    /// side. NEXT_BUDDY (off by default) marks it as the next buddy first. PREEMPT_SHORT (6.12+)
    /// acts only for a wakee with a shorter slice than the running entity, which PleSim never has
    /// (every entity runs the base slice): 6.12/6.14 <c>do_preempt_short</c> then drops the running
    /// entity's protection (vlag = deadline + 1); 6.17+ picks without the protection, and cancels it
    /// (<c>cancel_protect_slice</c>) on preemption or shortens it (<c>update_protect_slice</c>) otherwise.
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
        var cls = _features.Class;
        if (cls >= FairClass.Eevdf617)
        {
            bool preemptShort = _features.PreemptShort && pse.Slice < se.Slice;
            if (PickEevdf(cfsRq, protect: !preemptShort) == pse)
            {
                if (preemptShort)
                    CancelProtectSlice(se);
                ReschedTask(rq, thisCpu);
            }
            else if (_features.RunToParity && preemptShort)
            {
                UpdateProtectSlice(cfsRq, se);
            }
            return;
        }
        if (cls >= FairClass.Eevdf612 && DoPreemptShort(cfsRq, pse, se) && se.Vlag == se.Deadline)
            se.Vlag = se.Deadline + 1;
        if (PickEevdf(cfsRq) == pse)
            ReschedTask(rq, thisCpu);
    }

    /// <summary><c>do_preempt_short</c> (6.12 and 6.14): the wakee has a shorter slice, is eligible, and has an earlier deadline or the running entity is not eligible.</summary>
    private bool DoPreemptShort(CfsRq cfsRq, SchedEntity pse, SchedEntity se)
    {
        if (!_features.PreemptShort || pse.Slice >= se.Slice)
            return false;
        if (!EntityEligible(cfsRq, pse))
            return false;
        return pse.Deadline - se.Deadline < 0 || !EntityEligible(cfsRq, se);
    }

    // ---------------------------------------------------------------- yield

    /// <summary>
    /// <c>yield_task_fair</c>: clear buddies, update_curr, then (6.6–6.17) push the deadline one
    /// request further (no skip buddy any more; vprot and the vlag stash are not touched), or
    /// (6.18 from 6.18.2, commit 79104becf42b) forfeit the rest of the request if the yielder is
    /// eligible — its vruntime jumps to its deadline, the deadline moves one request on and
    /// min_vruntime follows; an ineligible yielder keeps both (the other entity is picked anyway).
    /// With 6.17's protection a pushed, eligible yielder is still protected (vruntime below vprot)
    /// and <c>pick_eevdf</c> keeps it unless a next buddy is picked; in 6.18 the forfeit takes
    /// vruntime to the old deadline, which is where vprot stands, so it is no longer protected.
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
        if (_features.Class < FairClass.Eevdf618)
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

    /// <summary><c>yield_to_task_fair</c> (6.6–6.18): next buddy up the target's hierarchy, then yield. Whether the pick honours the buddy depends on the version.</summary>
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

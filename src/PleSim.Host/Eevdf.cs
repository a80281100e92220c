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
    /// parent group entity the next buddy (decision 0049); 3.16's <c>__calc_delta</c> arithmetic and
    /// 4.19's min_vruntime tracking and re-normalisation order (decision 0099). Load tracking,
    /// balancing and wake-up placement are 4.19's by default and 2.6.39's on request (decisions
    /// 0053, 0064).
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
        se.Deadline = se.Vruntime + CalcDeltaFair(se.Slice, ref se.Load);
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
        curr.Vruntime += CalcDeltaFair(delta, ref curr.Load);
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
            vprot = MinVruntimeOf(vprot, se.Vruntime + CalcDeltaFair(slice, ref se.Load));
        se.Vprot = vprot;
    }

    /// <summary><c>update_protect_slice</c> (6.17+): cut vprot to vruntime + the virtual time of the smallest queued slice.</summary>
    private void UpdateProtectSlice(CfsRq cfsRq, SchedEntity se)
    {
        long slice = CfsRqMinSlice(cfsRq);
        se.Vprot = MinVruntimeOf(se.Vprot, se.Vruntime + CalcDeltaFair(slice, ref se.Load));
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
        long limit = CalcDeltaFair(Math.Max(2 * se.Slice, _tunables.TickPeriod.Ns), ref se.Load);
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
        long vslice = CalcDeltaFair(se.Slice, ref se.Load);
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
}

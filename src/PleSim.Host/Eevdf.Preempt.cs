namespace PleSim.Host;

/// <summary>
/// EEVDF (kernel/sched/fair.c, v6.6; 6.12+ where named): tick and deadline-based wake-up preemption, <c>yield_task_fair</c> as a deadline push (6.18.2: a forfeit) and <c>yield_to_task_fair</c>.
/// </summary>
public sealed partial class HostScheduler
{
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
    /// side. NEXT_BUDDY (off by default) marks it as the next buddy first, unless it is a new task
    /// (<paramref name="fork"/>, WF_FORK). 6.12+ also skip a delayed entity there; that test is
    /// not modelled (a woken entity is requeued before it gets here). PREEMPT_SHORT (6.12+)
    /// acts only for a wakee with a shorter slice than the running entity, which PleSim never has
    /// (every entity runs the base slice): 6.12/6.14 <c>do_preempt_short</c> then drops the running
    /// entity's protection (vlag = deadline + 1); 6.17+ picks without the protection, and cancels it
    /// (<c>cancel_protect_slice</c>) on preemption or shortens it (<c>update_protect_slice</c>) otherwise.
    /// </summary>
    private void CheckPreemptWakeupFair(RunQueue rq, HostTask p, int thisCpu, bool fork)
    {
        var curr = rq.Curr;
        var se = curr.Se;
        var pse = p.Se;
        if (se == pse)
            return;
        if (_features.NextBuddy && !fork)
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
            se.Deadline += CalcDeltaFair(se.Slice, ref se.Load);
            return;
        }
        if (EntityEligible(cfsRq, se))
        {
            se.Vruntime = se.Deadline;
            se.Deadline += CalcDeltaFair(se.Slice, ref se.Load);
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

namespace PleSim.Host;

/// <summary>
/// The fair class, buddies and what sets them (Linux 2.6.39 kernel/sched_fair.c): the last, next
/// and skip buddies, wake-up preemption (<c>check_preempt_wakeup</c>), and yielding
/// (<c>yield_task_fair</c>, <c>yield_to_task_fair</c>).
/// </summary>
public sealed partial class HostScheduler
{
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

    /// <summary>
    /// <c>check_preempt_wakeup</c>: preempt the running task for a woken one that is ahead by more
    /// than a wake-up granularity. 2.6.39 updates the running task's own queue, then compares where
    /// the two hierarchies meet. 4.19 (<see cref="FairClass.Cfs419"/>) updates the queue where they
    /// meet, so a group entity is compared with its current vruntime, and a preempting wakee becomes
    /// the next buddy ("bias pick_next to pick the sched entity that is triggering this preemption").
    /// NEXT_BUDDY marks the wakee first unless it is a new task (<paramref name="fork"/>, WF_FORK):
    /// 2.6.39 and 4.19 both leave a forked child unmarked there. 4.19's marking of a preempting
    /// wakee has no such test, so a child that preempts is still marked on that path.
    /// </summary>
    private void CheckPreemptWakeup(RunQueue rq, HostTask p, int thisCpu, bool fork)
    {
        var curr = rq.Curr;
        var se = curr.Se;
        var pse = p.Se;
        var cfsRq = curr.Se.CfsRq;
        bool scale = cfsRq.NrRunning >= Tun.NrLatency;
        if (se == pse)
            return;
        bool nextBuddyMarked = false;
        if (_features.NextBuddy && scale && !fork)
        {
            SetNextBuddy(pse);
            nextBuddyMarked = true;
        }
        if (rq.NeedResched)
            return;
        if (!_features.WakeupPreempt)
            return;
        bool v419 = _features.Class == FairClass.Cfs419;
        if (!v419)
            UpdateCurr(cfsRq);
        FindMatchingSe(ref se, ref pse);
        if (v419)
            UpdateCurr(se.CfsRq);
        if (WakeupPreemptEntity(se, pse) != 1)
            return;
        if (v419 && !nextBuddyMarked)
            SetNextBuddy(pse);
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

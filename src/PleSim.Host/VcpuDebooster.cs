namespace PleSim.Host;

/// <summary>
/// The arithmetic of the "vCPU debooster" of Wanpeng Li's series "sched/kvm: Semantics-aware vCPU
/// scheduling for oversubscribed KVM" (v2, posted 2025-12-19 against v6.19-rc1; not merged;
/// decision 0052), patches 2 and 4 (kernel/sched/fair.c), written as pure functions so that the
/// hand-worked cases of the patch text can be tested. Times are nanoseconds of
/// <c>rq_clock</c>; granularities and penalties are nanoseconds of virtual time.
/// </summary>
public static class VcpuDebooster
{
    /// <summary>Patch 2, <c>yield_deboost_rate_limit</c>: at most one deboost per run queue per 6 ms (a hard-coded threshold, no knob).</summary>
    public const long RateLimitNs = 6_000_000;

    /// <summary>Patch 4, <c>yield_deboost_apply_debounce</c>: a reverse pair (B→A after A→B) within 600 µs is debounced.</summary>
    public const long DebounceWindowNs = 600_000;

    /// <summary>
    /// Patch 4, the queue-size cap of <c>yield_deboost_calculate_penalty</c>, as a multiple of the
    /// granularity: 2 tasks 6×, 3 tasks 4×, 4–6 2.5×, 7–8 2×, 9–12 1.5×, more 1× (integer arithmetic
    /// as the patch writes it: 5·g/2, 3·g/2). <paramref name="hNrQueued"/> is the LCA queue's
    /// <c>h_nr_queued</c> (≥ 2: the LCA finder gives up below).
    /// </summary>
    public static long PenaltyCap(long gran, int hNrQueued) => hNrQueued switch
    {
        2 => gran * 6,
        3 => gran * 4,
        <= 6 => gran * 5 / 2,
        <= 8 => gran * 2,
        <= 12 => gran * 3 / 2,
        _ => gran,
    };

    /// <summary>
    /// Patch 4, the "baseline push when no fairness gap exists": 3 tasks 15/16 g, 4–6 5/8 g, 7–8 g/2,
    /// 9–12 3/8 g, more g/4, otherwise (2 tasks) g. The penalty is raised to it when the gap is 0 —
    /// which never changes anything, because the clamp before it already put the penalty at ≥ g and
    /// every baseline is ≤ g. Kept, as in the patch; a test pins that it is inert.
    /// </summary>
    public static long BaselinePush(long gran, int hNrQueued) => hNrQueued switch
    {
        3 => gran * 15 / 16,
        >= 4 and <= 6 => gran * 5 / 8,
        >= 7 and <= 8 => gran / 2,
        >= 9 and <= 12 => gran * 3 / 8,
        > 12 => gran / 4,
        _ => gran,
    };

    /// <summary>
    /// Patch 4, <c>yield_deboost_calculate_penalty</c>: the fairness gap
    /// <c>need = max(0, vruntime(target) − vruntime(yielder))</c> at the LCA; the penalty is
    /// <c>gran + need + need/10</c> (the "110 % of the gap"); a reverse pair within the debounce
    /// window (<paramref name="reversePair"/>) lowers it to <c>max(need, gran)</c> if larger; then
    /// it is clamped to [gran, cap] and finally raised to the baseline push when need is 0.
    /// </summary>
    public static long CalculatePenalty(long gran, long yielderVruntime, long targetVruntime, int hNrQueued, bool reversePair)
    {
        long need = targetVruntime > yielderVruntime ? targetVruntime - yielderVruntime : 0;
        long penalty = gran;
        if (need != 0)
        {
            long weighted = need + need / 10;
            penalty = weighted > long.MaxValue - penalty ? long.MaxValue : penalty + weighted;
        }
        if (reversePair)
        {
            long alt = Math.Max(need, gran);
            if (penalty > alt)
                penalty = alt;
        }
        long maxp = PenaltyCap(gran, hNrQueued);
        // clamp(penalty, gran, maxp): the kernel's clamp() takes the lower bound first.
        penalty = Math.Min(Math.Max(penalty, gran), maxp);
        if (need == 0)
            penalty = Math.Max(penalty, BaselinePush(gran, hNrQueued));
        return penalty;
    }
}

/// <summary>
/// Per-run-queue state of the debooster (patch 1: <c>rq->yield_deboost_last_time_ns</c>,
/// <c>_last_src_pid</c>, <c>_last_dst_pid</c>, <c>_last_pair_time_ns</c>, initialised in
/// <c>sched_init</c> to 0, −1, −1, 0).
/// </summary>
public sealed class DeboostRqState
{
    public long LastTimeNs;
    public int LastSrcPid = -1;
    public int LastDstPid = -1;
    public long LastPairTimeNs;

    /// <summary>
    /// Patch 2, <c>yield_deboost_rate_limit</c> (v2): limited when a previous deboost attempt passed
    /// the limiter at most <see cref="VcpuDebooster.RateLimitNs"/> ago (a stored 0 means "never");
    /// otherwise the attempt's time is stored. A limited attempt does not refresh the time.
    /// </summary>
    public bool RateLimited(long now)
    {
        if (LastTimeNs != 0 && now - LastTimeNs <= VcpuDebooster.RateLimitNs)
            return true;
        LastTimeNs = now;
        return false;
    }

    /// <summary>
    /// Patch 4, <c>yield_deboost_apply_debounce</c>: whether the previous recorded pair was
    /// <paramref name="dstPid"/>→<paramref name="srcPid"/> within <see cref="VcpuDebooster.DebounceWindowNs"/>;
    /// the pair src→dst is recorded either way.
    /// </summary>
    public bool ReversePair(int srcPid, int dstPid, long now)
    {
        bool reverse = LastSrcPid == dstPid && LastDstPid == srcPid && now - LastPairTimeNs <= VcpuDebooster.DebounceWindowNs;
        LastSrcPid = srcPid;
        LastDstPid = dstPid;
        LastPairTimeNs = now;
        return reverse;
    }
}

/// <summary>Ground-truth counters of the debooster (whole host; <c>host.yield_deboost_*</c> metrics).</summary>
public sealed class DeboostStats
{
    /// <summary><c>yield_to_deboost</c> calls (every successful yield_to_task_fair with the series on).</summary>
    public long Attempts;

    /// <summary>Stopped by the 6 ms per-run-queue rate limit.</summary>
    public long RateLimited;

    /// <summary>Stopped by the validation after the limiter: the target is on another run queue (yield_to across CPUs), or not queued.</summary>
    public long OtherRq;

    /// <summary>Stopped by the LCA finder: the common queue holds a single task (<c>h_nr_queued ≤ 1</c>).</summary>
    public long NoContention;

    /// <summary>Penalties applied, those lowered by the reverse-pair debounce, and the virtual time added (ns).</summary>
    public long Applied, Debounced, PenaltyNs;
}

public sealed partial class HostScheduler
{
    // Allocated by the constructor when SchedFeatures.VcpuDebooster is on.
    private readonly DeboostRqState[]? _deboost;

    /// <summary>The debooster's counters (all zero unless <see cref="SchedFeatures.VcpuDebooster"/>).</summary>
    public DeboostStats Deboost { get; } = new();

    /// <summary>
    /// <c>yield_to_deboost</c> (series v2 patch 5, called from <c>yield_to_task_fair</c> after
    /// <c>set_next_buddy</c> and before <c>yield_task_fair</c>, so that 6.17+'s forfeit has not yet
    /// moved the yielder's vruntime): validate (patch 2: the rate limit first — it is consumed even
    /// when a later check fails —, then yielder ≠ target, the target on this run queue, both
    /// queued), find the LCA (patch 3: <c>find_matching_se</c>; give up when its queue has at most
    /// one task), update the queue's accounting only when the yielder's LCA entity is not its
    /// current one (the patch's condition: never true here, the yielder runs), compute the
    /// penalty (patch 4) and add it to the LCA entity's vruntime, its deadline one slice beyond
    /// (vlag and min_vruntime untouched, as v2 has it).
    /// </summary>
    private void YieldToDeboost(RunQueue rq, HostTask target)
    {
        var stats = Deboost;
        stats.Attempts++;
        long now = ClockTask(rq); // update_rq_clock(rq); rq_clock(rq)
        var state = _deboost![rq.Cpu];
        if (state.RateLimited(now))
        {
            stats.RateLimited++;
            return;
        }
        var yielder = rq.Curr; // rq->donor (no proxy execution here: the running task)
        if (yielder == target || yielder.IsIdle || target.Cpu != rq.Cpu || !target.Se.OnRq || !yielder.Se.OnRq)
        {
            stats.OtherRq++;
            return;
        }
        var seY = yielder.Se;
        var seT = target.Se;
        FindMatchingSe(ref seY, ref seT);
        var cfsRq = seY.CfsRq;
        int hNrQueued = HNrQueued(cfsRq);
        if (hNrQueued <= 1)
        {
            stats.NoContention++;
            return;
        }
        if (seY != cfsRq.Curr)
        {
            // Unreachable (the yielder runs, so its ancestors are current at every level); the patch
            // would update_curr() and shift an entity in the tree, which this model cannot do in place.
            return;
        }
        long gran = CalcDeltaFair(BaseSliceNs, ref seY.Load);
        bool reverse = state.ReversePair(yielder.Id, target.Id, now);
        long penalty = VcpuDebooster.CalculatePenalty(gran, seY.Vruntime, seT.Vruntime, hNrQueued, reverse);
        if (reverse && penalty < VcpuDebooster.CalculatePenalty(gran, seY.Vruntime, seT.Vruntime, hNrQueued, false))
            stats.Debounced++;
        // yield_deboost_apply_penalty: overflow guard, then vruntime and deadline.
        if (seY.Vruntime > long.MaxValue - penalty)
            return;
        seY.Vruntime += penalty;
        seY.Deadline = seY.Vruntime + CalcDeltaFair(seY.Slice, ref seY.Load);
        stats.Applied++;
        stats.PenaltyNs += penalty;
    }

    private static DeboostRqState[] NewDeboostState(int n)
    {
        var a = new DeboostRqState[n];
        for (int i = 0; i < n; i++)
            a[i] = new DeboostRqState();
        return a;
    }

    /// <summary>
    /// <c>cfs_rq->h_nr_queued</c>: the tasks queued in this queue's hierarchy (the running one
    /// included). Without throttling or delayed dequeue it is the task count of the queue and of its
    /// groups' queues on the same CPU.
    /// </summary>
    internal static int HNrQueued(CfsRq cfsRq)
    {
        int n = cfsRq.Tasks.Count;
        int cpu = cfsRq.Rq.Cpu;
        foreach (var child in cfsRq.Tg.Children)
            n += HNrQueued(child.CfsRq[cpu]);
        return n;
    }
}

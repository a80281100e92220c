namespace PleSim.Host;

/// <summary>
/// PELT and group shares as kernel/sched/fair.c and pelt.c have them at v4.19 (decision 0053), for
/// <c>host.scheduler: cfs-4.19</c> with <c>host.load_tracking: "4.19"</c>. The decay/accumulate
/// arithmetic is Pelt.cs's (unchanged from 4.19 to 6.6 apart from the runnable sum); what differs
/// from 6.6 (Fair.Pelt.cs) is written here:
/// <list type="bullet">
/// <item>4.19 tracks <c>runnable_load_sum/avg</c> — the load of an entity while it is queued,
/// weighted by its <c>runnable_weight</c> (a task: its weight; a group entity: <c>calc_group_runnable</c>)
/// — where 5.7+ tracks <c>runnable_avg</c> (h_nr_running scaled by the capacity). The queue keeps
/// <c>runnable_weight</c> and adds/removes its entities' runnable load at enqueue/dequeue
/// (<c>enqueue_runnable_load_avg</c>, <c>dequeue_runnable_load_avg</c>), so a blocked task's load
/// stays in load_avg but leaves runnable_load_avg at once. The balancer reads the latter
/// (<c>weighted_cpuload</c>).</item>
/// <item>No DO_DETACH: a queued task moved by the balancer is detached by <c>migrate_task_rq_fair</c>
/// (<c>detach_entity_cfs_rq</c>) after the dequeue; a sleeping task that migrates is synced to its old
/// queue's last update (<c>remove_entity_load_avg</c>; no 6.x <c>migrate_se_pelt_lag</c>).</item>
/// <item><c>update_tg_cfs_util</c> and <c>update_tg_cfs_runnable</c> rebuild sums with LOAD_AVG_MAX
/// (5.13+ uses the divider); the removed account propagates the removed tasks' load_sum.</item>
/// <item><c>update_cfs_group</c> always reweights (with the runnable weight); no "unchanged" check.</item>
/// <item><c>cfs_rq_is_decayed</c> checks weight and the three sums only (no child check, 5.x).</item>
/// </list>
/// The leaf list (<c>list_add_leaf_cfs_rq</c> with <c>tmp_alone_branch</c>, 4.10+) and
/// <c>calc_group_shares</c> (4.15+) are the same functions in 4.19 and 6.6 and are shared, as are
/// post_init_entity_util_avg's utilisation part, the skeleton of <c>propagate_entity_load_avg</c>
/// and the loop of <c>update_blocked_averages</c> (Fair.Pelt.cs, with a 4.19 switch).
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary>Whether 4.19's PELT runs (host.load_tracking "4.19" on cfs-4.19).</summary>
    public bool UsesPelt419 => _pelt419;

    /// <summary>v4.19 <c>se_runnable</c>: the entity's runnable weight.</summary>
    private static long SeRunnable419(SchedEntity se) => se.RunnableWeight;

    /// <summary>v4.19 <c>init_entity_runnable_average</c>: a task starts with its weight as load and runnable load.</summary>
    private static void InitEntityRunnableAverage419(SchedEntity se)
    {
        se.Avg = default;
        if (se.IsTask)
            se.Avg.RunnableAvg = se.Avg.LoadAvg = se.Load.Weight;
        se.RunnableWeight = se.Load.Weight;
    }

    /// <summary>
    /// v4.19 <c>post_init_entity_util_avg</c>: the utilisation part as 6.6 (the caller attaches at
    /// enqueue, which is the same instant); runnable_load_avg keeps the weight.
    /// </summary>
    private static void PostInitEntityUtilAvg419(SchedEntity se) => PostInitEntityUtil(se);

    /// <summary>
    /// v4.19 <c>init_tg_cfs_entry</c> + <c>online_fair_sched_group</c>: a group entity weighs
    /// NICE_0_LOAD (runnable weight too) and is attached, empty, to its parent queue
    /// (<c>attach_entity_cfs_rq</c>).
    /// </summary>
    private void InitGroupEntityPelt419(SchedEntity se)
    {
        se.Load.Set(Weights.Nice0Load);
        InitEntityRunnableAverage419(se);
        AttachEntityCfsRq419(se);
    }

    // ---------------------------------------------------------------- pelt.c (v4.19)

    /// <summary>v4.19 <c>__update_load_avg_se</c>: load and runnable = on_rq, running = curr.</summary>
    private static void UpdateLoadAvgSe419(long now, CfsRq cfsRq, SchedEntity se)
    {
        long onRq = se.OnRq ? 1 : 0;
        if (Pelt.UpdateLoadSum(now, ref se.Avg, onRq, onRq, cfsRq.Curr == se, runnableShift: 0))
            Pelt.UpdateLoadAvg419(ref se.Avg, se.Load.Weight, SeRunnable419(se));
    }

    /// <summary>v4.19 <c>__update_load_avg_blocked_se</c>.</summary>
    private static void UpdateLoadAvgBlockedSe419(long now, SchedEntity se)
    {
        if (Pelt.UpdateLoadSum(now, ref se.Avg, 0, 0, false, runnableShift: 0))
            Pelt.UpdateLoadAvg419(ref se.Avg, se.Load.Weight, SeRunnable419(se));
    }

    /// <summary>v4.19 <c>__update_load_avg_cfs_rq</c>: load = the queue's weight, runnable = its runnable_weight.</summary>
    private static bool UpdateLoadAvgCfsRq419(long now, CfsRq cfsRq)
    {
        if (!Pelt.UpdateLoadSum(now, ref cfsRq.Avg, cfsRq.Load.Weight, cfsRq.RunnableWeight, cfsRq.Curr is not null, runnableShift: 0))
            return false;
        Pelt.UpdateLoadAvg419(ref cfsRq.Avg, 1, 1);
        return true;
    }

    // ---------------------------------------------------------------- fair.c (v4.19)

    /// <summary>
    /// v4.19 <c>update_cfs_rq_load_avg</c>: fold out the load and utilisation of tasks that left
    /// while asleep (the removed runnable sum — their load_sum — is propagated up), then decay.
    /// </summary>
    // Kept apart from UpdateCfsRqLoadAvg: 4.19 removes no runnable average, clamps no sum at PELT_MIN_DIVIDER (5.13+) and propagates the removed load_sum as is.
    private static bool UpdateCfsRqLoadAvg419(long now, CfsRq cfsRq)
    {
        bool decayed = false;
        ref var sa = ref cfsRq.Avg;
        if (cfsRq.RemovedNr != 0)
        {
            long divider = Pelt.GetPeltDivider(sa);
            long removedLoad = cfsRq.RemovedLoadAvg, removedUtil = cfsRq.RemovedUtilAvg, removedRunnableSum = cfsRq.RemovedRunnableAvg;
            cfsRq.RemovedLoadAvg = cfsRq.RemovedUtilAvg = cfsRq.RemovedRunnableAvg = 0;
            cfsRq.RemovedNr = 0;
            SubPositive(ref sa.LoadAvg, removedLoad);
            SubPositive(ref sa.LoadSum, removedLoad * divider);
            SubPositive(ref sa.UtilAvg, removedUtil);
            SubPositive(ref sa.UtilSum, removedUtil * divider);
            AddTgCfsPropagate(cfsRq, -removedRunnableSum);
            decayed = true;
        }
        decayed |= UpdateLoadAvgCfsRq419(now, cfsRq);
        return decayed;
    }

    /// <summary>v4.19 <c>enqueue_runnable_load_avg</c>.</summary>
    private static void EnqueueRunnableLoadAvg419(CfsRq cfsRq, SchedEntity se)
    {
        cfsRq.RunnableWeight += se.RunnableWeight;
        cfsRq.Avg.RunnableAvg += se.Avg.RunnableAvg;
        cfsRq.Avg.RunnableSum += SeRunnable419(se) * se.Avg.RunnableSum;
    }

    /// <summary>v4.19 <c>dequeue_runnable_load_avg</c>.</summary>
    private static void DequeueRunnableLoadAvg419(CfsRq cfsRq, SchedEntity se)
    {
        cfsRq.RunnableWeight -= se.RunnableWeight;
        SubPositive(ref cfsRq.Avg.RunnableAvg, se.Avg.RunnableAvg);
        SubPositive(ref cfsRq.Avg.RunnableSum, SeRunnable419(se) * se.Avg.RunnableSum);
    }

    /// <summary>v4.19 <c>enqueue_load_avg</c>.</summary>
    private static void EnqueueLoadAvg419(CfsRq cfsRq, SchedEntity se)
    {
        cfsRq.Avg.LoadAvg += se.Avg.LoadAvg;
        cfsRq.Avg.LoadSum += se.Load.Weight * se.Avg.LoadSum;
    }

    /// <summary>v4.19 <c>dequeue_load_avg</c> (no lower clamp of the sum: that is 5.13+).</summary>
    private static void DequeueLoadAvg419(CfsRq cfsRq, SchedEntity se)
    {
        SubPositive(ref cfsRq.Avg.LoadAvg, se.Avg.LoadAvg);
        SubPositive(ref cfsRq.Avg.LoadSum, se.Load.Weight * se.Avg.LoadSum);
    }

    /// <summary>
    /// v4.19 <c>attach_entity_load_avg</c>: align on the queue's period; util_sum = util_avg ·
    /// divider; load_sum = divider · load_avg / weight (the unweighted runnable time), and the
    /// runnable_load_sum the same; add load and util to the queue; propagate load_sum up.
    /// </summary>
    // Kept apart from AttachEntityLoadAvg: 4.19 rebuilds load_sum as divider·load_avg/weight and sets runnable_load_sum from it, where 6.6 attaches a runnable_avg.
    private static void AttachEntityLoadAvg419(CfsRq cfsRq, SchedEntity se)
    {
        long divider = Pelt.GetPeltDivider(cfsRq.Avg);
        ref var sa = ref se.Avg;
        sa.LastUpdateTime = cfsRq.Avg.LastUpdateTime;
        sa.PeriodContrib = cfsRq.Avg.PeriodContrib;
        sa.UtilSum = sa.UtilAvg * divider;
        sa.LoadSum = divider;
        if (se.Load.Weight != 0)
            sa.LoadSum = sa.LoadAvg * sa.LoadSum / se.Load.Weight;
        sa.RunnableSum = sa.LoadSum;
        EnqueueLoadAvg419(cfsRq, se);
        cfsRq.Avg.UtilAvg += sa.UtilAvg;
        cfsRq.Avg.UtilSum += sa.UtilSum;
        AddTgCfsPropagate(cfsRq, sa.LoadSum);
    }

    /// <summary>v4.19 <c>detach_entity_load_avg</c>.</summary>
    private static void DetachEntityLoadAvg419(CfsRq cfsRq, SchedEntity se)
    {
        DequeueLoadAvg419(cfsRq, se);
        SubPositive(ref cfsRq.Avg.UtilAvg, se.Avg.UtilAvg);
        SubPositive(ref cfsRq.Avg.UtilSum, se.Avg.UtilSum);
        AddTgCfsPropagate(cfsRq, -se.Avg.LoadSum);
    }

    /// <summary>v4.19 <c>update_tg_cfs_util</c>: copy the group queue's util_avg; sums rebuilt with LOAD_AVG_MAX.</summary>
    private static void UpdateTgCfsUtil419(CfsRq cfsRq, SchedEntity se, CfsRq gcfsRq)
    {
        long delta = gcfsRq.Avg.UtilAvg - se.Avg.UtilAvg;
        if (delta == 0)
            return;
        se.Avg.UtilAvg = gcfsRq.Avg.UtilAvg;
        se.Avg.UtilSum = se.Avg.UtilAvg * Pelt.LoadAvgMax;
        AddPositive(ref cfsRq.Avg.UtilAvg, delta);
        cfsRq.Avg.UtilSum = cfsRq.Avg.UtilAvg * Pelt.LoadAvgMax;
    }

    /// <summary>
    /// v4.19 <c>update_tg_cfs_runnable</c>: apply the runnable sum attached to or removed from the
    /// group queue to the group entity's unweighted sum (added: clipped at LOAD_AVG_MAX; removed:
    /// estimated from the queue's load_sum per unit of weight; never below its running sum), then
    /// its load and — when queued — its runnable load, in the parent queue too.
    /// </summary>
    // Kept apart from UpdateTgCfsLoad (5.7+ split): 4.19 clips at LOAD_AVG_MAX, divides by it, and also moves the runnable load when queued.
    private static void UpdateTgCfsRunnable419(CfsRq cfsRq, SchedEntity se, CfsRq gcfsRq)
    {
        long runnableSum = gcfsRq.PropRunnableSum;
        if (runnableSum == 0)
            return;
        gcfsRq.PropRunnableSum = 0;
        long loadSum = 0;
        if (runnableSum >= 0)
        {
            runnableSum += se.Avg.LoadSum;
            runnableSum = Math.Min(runnableSum, Pelt.LoadAvgMax);
        }
        else
        {
            if (gcfsRq.Load.Weight != 0)
                loadSum = gcfsRq.Avg.LoadSum / gcfsRq.Load.Weight;
            runnableSum = Math.Min(se.Avg.LoadSum, loadSum);
        }
        long runningSum = se.Avg.UtilSum / Pelt.SchedCapacityScale; // arch_scale_cpu_capacity = 1024
        runnableSum = Math.Max(runnableSum, runningSum);
        long weight = se.Load.Weight;
        loadSum = weight * runnableSum;
        long loadAvg = loadSum / Pelt.LoadAvgMax;
        long deltaSum = loadSum - weight * se.Avg.LoadSum;
        long deltaAvg = loadAvg - se.Avg.LoadAvg;
        se.Avg.LoadSum = runnableSum;
        se.Avg.LoadAvg = loadAvg;
        AddPositive(ref cfsRq.Avg.LoadAvg, deltaAvg);
        AddPositive(ref cfsRq.Avg.LoadSum, deltaSum);
        long runnableLoadSum = SeRunnable419(se) * runnableSum;
        long runnableLoadAvg = runnableLoadSum / Pelt.LoadAvgMax;
        deltaSum = runnableLoadSum - weight * se.Avg.RunnableSum;
        deltaAvg = runnableLoadAvg - se.Avg.RunnableAvg;
        se.Avg.RunnableSum = runnableSum;
        se.Avg.RunnableAvg = runnableLoadAvg;
        if (se.OnRq)
        {
            AddPositive(ref cfsRq.Avg.RunnableAvg, deltaAvg);
            AddPositive(ref cfsRq.Avg.RunnableSum, deltaSum);
        }
    }

    /// <summary>v4.19 <c>update_load_avg</c> (UPDATE_TG, SKIP_AGE_LOAD, DO_ATTACH; no DO_DETACH).</summary>
    // Kept apart from UpdateLoadAvg: each step is the version's own (4.19's sums and runnable load), and 4.19 has no DO_DETACH branch.
    private void UpdateLoadAvg419(CfsRq cfsRq, SchedEntity se, UpdateLoadFlags flags)
    {
        long now = ClockPelt(cfsRq.Rq);
        if (se.Avg.LastUpdateTime != 0 && (flags & UpdateLoadFlags.SkipAgeLoad) == 0)
            UpdateLoadAvgSe419(now, cfsRq, se);
        bool decayed = UpdateCfsRqLoadAvg419(now, cfsRq);
        decayed |= PropagateEntityLoadAvg(se, pelt419: true);
        if (se.Avg.LastUpdateTime == 0 && (flags & UpdateLoadFlags.DoAttach) != 0)
        {
            AttachEntityLoadAvg419(cfsRq, se);
            UpdateTgLoadAvg(cfsRq);
        }
        else if (decayed && (flags & UpdateLoadFlags.UpdateTg) != 0)
        {
            UpdateTgLoadAvg(cfsRq);
        }
    }

    /// <summary>v4.19 <c>propagate_entity_cfs_rq</c>: update the ancestors (UPDATE_TG), starting at the parent.</summary>
    private void PropagateEntityCfsRq419(SchedEntity se)
    {
        for (var e = se.Parent; e is not null; e = e.Parent)
            UpdateLoadAvg419(e.CfsRq, e, UpdateLoadFlags.UpdateTg);
    }

    /// <summary>v4.19 <c>detach_entity_cfs_rq</c>: catch up with the queue and leave it; the ancestors learn at once.</summary>
    private void DetachEntityCfsRq419(SchedEntity se)
    {
        var cfsRq = se.CfsRq;
        UpdateLoadAvg419(cfsRq, se, UpdateLoadFlags.None);
        DetachEntityLoadAvg419(cfsRq, se);
        UpdateTgLoadAvg(cfsRq);
        PropagateEntityCfsRq419(se);
    }

    /// <summary>v4.19 <c>attach_entity_cfs_rq</c> (ATTACH_AGE_LOAD on, its default).</summary>
    private void AttachEntityCfsRq419(SchedEntity se)
    {
        var cfsRq = se.CfsRq;
        UpdateLoadAvg419(cfsRq, se, UpdateLoadFlags.None);
        AttachEntityLoadAvg419(cfsRq, se);
        UpdateTgLoadAvg(cfsRq);
        PropagateEntityCfsRq419(se);
    }

    /// <summary>
    /// v4.19 <c>migrate_task_rq_fair</c>, PELT part: a sleeping task is synced to its old queue's
    /// last update and left in that queue's <c>removed</c> account (<c>remove_entity_load_avg</c>,
    /// whose runnable_sum is the task's load_sum); a queued task moved by the balancer was detached
    /// after its dequeue (<see cref="DequeueTaskFair"/>). Then "tell new CPU we are migrated"
    /// (last_update_time = 0) and "no longer consider this task hot" (exec_start = 0).
    /// </summary>
    // Kept apart from MigrateTaskRqPelt: 4.19 syncs to the old queue's last update (no migrate_se_pelt_lag), and removes its load_sum as the runnable_sum.
    private void MigrateTaskRqPelt419(HostTask p)
    {
        var se = p.Se;
        if (se.Avg.LastUpdateTime != 0)
        {
            var cfsRq = se.CfsRq;
            UpdateLoadAvgBlockedSe419(cfsRq.Avg.LastUpdateTime, se); // sync_entity_load_avg
            cfsRq.RemovedNr++;
            cfsRq.RemovedUtilAvg += se.Avg.UtilAvg;
            cfsRq.RemovedLoadAvg += se.Avg.LoadAvg;
            cfsRq.RemovedRunnableAvg += se.Avg.LoadSum; // removed.runnable_sum
        }
        se.Avg.LastUpdateTime = 0;
        se.ExecStart = 0;
    }

    // ---------------------------------------------------------------- group shares (v4.19)

    /// <summary>
    /// v4.19 <c>calc_group_runnable</c>: the group entity's runnable weight is its weight scaled by
    /// max(runnable_load_avg, runnable_weight) / max(load_avg, weight) of its queue, clamped to
    /// [MIN_SHARES, shares].
    /// </summary>
    public static long CalcGroupRunnable(CfsRq cfsRq, long shares)
    {
        long loadAvg = Math.Max(cfsRq.Avg.LoadAvg, cfsRq.Load.Weight);
        long runnable = Math.Max(cfsRq.Avg.RunnableAvg, cfsRq.RunnableWeight);
        runnable *= shares;
        if (loadAvg != 0)
            runnable /= loadAvg;
        return Math.Clamp(runnable, Weights.MinShares, shares);
    }

    /// <summary>v4.19 <c>update_cfs_group</c>: reweight the group entity from calc_group_shares and calc_group_runnable (always).</summary>
    private void UpdateCfsGroup419(SchedEntity se)
    {
        if (se.MyQ is not { } gcfsRq)
            return;
        long shares = CalcGroupShares(gcfsRq);
        long runnable = CalcGroupRunnable(gcfsRq, shares);
        ReweightEntity419(se.CfsRq, se, shares, runnable);
    }

    /// <summary>
    /// v4.19 <c>reweight_entity</c>: out of the queue's weight, runnable load and load, new weight
    /// and runnable weight, averages recomputed from the sums at the new weights, back in.
    /// </summary>
    private void ReweightEntity419(CfsRq cfsRq, SchedEntity se, long weight, long runnable)
    {
        if (se.OnRq)
        {
            if (cfsRq.Curr == se)
                UpdateCurr(cfsRq);
            AccountEntityDequeue(cfsRq, se);
            DequeueRunnableLoadAvg419(cfsRq, se);
        }
        DequeueLoadAvg419(cfsRq, se);
        se.RunnableWeight = runnable;
        se.Load.Set(weight);
        long divider = Pelt.GetPeltDivider(se.Avg);
        se.Avg.LoadAvg = se.Load.Weight * se.Avg.LoadSum / divider;
        se.Avg.RunnableAvg = SeRunnable419(se) * se.Avg.RunnableSum / divider;
        EnqueueLoadAvg419(cfsRq, se);
        if (se.OnRq)
        {
            AccountEntityEnqueue(cfsRq, se);
            EnqueueRunnableLoadAvg419(cfsRq, se);
        }
    }

    // ---------------------------------------------------------------- blocked load (v4.19)

    /// <summary>v4.19 <c>cfs_rq_is_decayed</c>: no weight and the load, util and runnable load sums all zero.</summary>
    private static bool CfsRqIsDecayed419(CfsRq cfsRq) =>
        cfsRq.Load.Weight == 0 && cfsRq.Avg.LoadSum == 0 && cfsRq.Avg.UtilSum == 0 && cfsRq.Avg.RunnableSum == 0;

    /// <summary>v4.19 <c>weighted_cpuload</c> / <c>cfs_rq_runnable_load_avg</c>: the root queue's runnable_load_avg.</summary>
    public long WeightedCpuload419(int cpu) => Rqs[cpu].Cfs.Avg.RunnableAvg;

    /// <summary>v4.19 <c>cpu_util</c> without UTIL_EST (not modelled): the root queue's util_avg capped at the capacity.</summary>
    public long CpuUtil419(int cpu) => Math.Min(Rqs[cpu].Cfs.Avg.UtilAvg, CpuPower(cpu));
}

namespace PleSim.Host;

/// <summary>Flags of <c>update_load_avg</c> (kernel/sched/fair.c, v6.6).</summary>
[Flags]
internal enum UpdateLoadFlags
{
    None = 0,
    UpdateTg = 1,     // UPDATE_TG
    SkipAgeLoad = 2,  // SKIP_AGE_LOAD
    DoAttach = 4,     // DO_ATTACH
    DoDetach = 8,     // DO_DETACH
}

/// <summary>
/// PELT in the fair class (kernel/sched/fair.c at v6.6; decision 0056), for the EEVDF hosts with
/// <c>host.load_tracking: pelt-6.6</c>: <c>update_load_avg</c> at enqueue, dequeue, the tick,
/// set_next/put_prev; attach/detach on migration and the <c>removed</c> load of a task that
/// migrated while asleep; propagation through the group hierarchy
/// (<c>propagate_entity_load_avg</c>, <c>update_tg_cfs_util/runnable/load</c>); <c>tg->load_avg</c>
/// (<c>update_tg_load_avg</c>); group entity weights from <c>calc_group_shares</c>
/// (<c>update_cfs_group</c>); <c>update_blocked_averages</c> from the balancer; the 6.x leaf list;
/// and <c>cpu_load</c>/<c>cpu_runnable</c>/<c>cpu_util_cfs</c>.
/// Weights stay unscaled (scale_load() is the identity, as on 32-bit kernels); the PELT clock is
/// the task clock (no frequency or capacity invariance on the modelled hosts, no lost idle time).
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary>
    /// The PELT clock at the start of a run: one period after 0, so that an attached entity's
    /// last_update_time is never 0 (0 means "not attached", as in the kernel, whose clock never
    /// reads 0 after boot). Assumption: the host has been up for at least that long.
    /// </summary>
    private const long PeltClockOffset = 1L << 20;

    /// <summary>Whether PELT load tracking and 6.x group shares run (<c>host.load_tracking</c>).</summary>
    public bool UsesPelt => _pelt;

    /// <summary><c>cfs_rq_clock_pelt</c> / <c>rq_clock_pelt</c>: the task clock here (no throttling, no invariance).</summary>
    private long ClockPelt(RunQueue rq) => _sim.Now.Ns + PeltClockOffset;

    // ---------------------------------------------------------------- helpers

    /// <summary><c>sub_positive</c>: subtract, clamping at 0 (the kernel's unsigned underflow guard).</summary>
    private static void SubPositive(ref long v, long d) => v = v - d < 0 ? 0 : v - d;

    /// <summary><c>add_positive</c>: add a signed delta, clamping at 0.</summary>
    private static void AddPositive(ref long v, long d) => v = v + d < 0 ? 0 : v + d;

    /// <summary><c>se_runnable</c>: 1 for a queued task, the group queue's h_nr_running for a group entity.</summary>
    private static long SeRunnable(SchedEntity se) => se.IsTask ? (se.OnRq ? 1 : 0) : se.RunnableWeight;

    /// <summary><c>se_update_runnable</c>: the group queue's h_nr_running (6.12) / h_nr_runnable (6.14+, decision 0083).</summary>
    private void SeUpdateRunnable(SchedEntity se)
    {
        if (se.MyQ is { } q)
            se.RunnableWeight = HNrRunnable(q);
    }

    // ---------------------------------------------------------------- initialisation

    /// <summary><c>init_entity_runnable_average</c>: a task starts with its full weight as load (a heavy task until it settles); a group with nothing.</summary>
    private static void InitEntityRunnableAverage(SchedEntity se)
    {
        se.Avg = default;
        if (se.IsTask)
            se.Avg.LoadAvg = se.Load.Weight;
    }

    /// <summary>
    /// <c>post_init_entity_util_avg</c>: a new task's utilisation is its weight's share of the
    /// queue's utilisation, capped at half the capacity left (all of that when the queue is idle).
    /// The kernel multiplies by the scaled weight (×1024 on 64-bit kernels), so is that done here.
    /// </summary>
    private static void PostInitEntityUtilAvg(SchedEntity se)
    {
        PostInitEntityUtil(se);
        se.Avg.RunnableAvg = se.Avg.UtilAvg;
    }

    /// <summary>The utilisation part of <c>post_init_entity_util_avg</c>, the same in 4.19 and 6.6.</summary>
    private static void PostInitEntityUtil(SchedEntity se)
    {
        var cfsRq = se.CfsRq;
        long cap = (Pelt.SchedCapacityScale - cfsRq.Avg.UtilAvg) / 2;
        if (cap > 0)
        {
            if (cfsRq.Avg.UtilAvg != 0)
            {
                se.Avg.UtilAvg = cfsRq.Avg.UtilAvg * (se.Load.Weight << 10) / (cfsRq.Avg.LoadAvg + 1);
                if (se.Avg.UtilAvg > cap)
                    se.Avg.UtilAvg = cap;
            }
            else
            {
                se.Avg.UtilAvg = cap;
            }
        }
    }

    /// <summary>
    /// <c>init_tg_cfs_entry</c> + <c>online_fair_sched_group</c> (6.x): a group entity weighs
    /// NICE_0_LOAD from the start and is attached, empty, to its parent queue.
    /// </summary>
    private void InitGroupEntityPelt(SchedEntity se)
    {
        se.Load.Set(Weights.Nice0Load);
        InitEntityRunnableAverage(se);
        UpdateLoadAvg(se.CfsRq, se, UpdateLoadFlags.None);
        AttachEntityLoadAvg(se.CfsRq, se);
        UpdateTgLoadAvg(se.CfsRq);
    }

    // ---------------------------------------------------------------- pelt.c entry points

    /// <summary><c>__update_load_avg_se</c>.</summary>
    private static void UpdateLoadAvgSe(long now, CfsRq cfsRq, SchedEntity se)
    {
        if (Pelt.UpdateLoadSum(now, ref se.Avg, se.OnRq ? 1 : 0, SeRunnable(se), cfsRq.Curr == se))
            Pelt.UpdateLoadAvg(ref se.Avg, se.Load.Weight);
    }

    /// <summary><c>__update_load_avg_blocked_se</c>.</summary>
    private static void UpdateLoadAvgBlockedSe(long now, SchedEntity se)
    {
        if (Pelt.UpdateLoadSum(now, ref se.Avg, 0, 0, false))
            Pelt.UpdateLoadAvg(ref se.Avg, se.Load.Weight);
    }

    /// <summary><c>__update_load_avg_cfs_rq</c>: load = the queue's weight, runnable = h_nr_running (6.14+: h_nr_runnable), running = curr set.</summary>
    private bool UpdateLoadAvgCfsRq(long now, CfsRq cfsRq)
    {
        if (!Pelt.UpdateLoadSum(now, ref cfsRq.Avg, cfsRq.Load.Weight, HNrRunnable(cfsRq), cfsRq.Curr is not null))
            return false;
        Pelt.UpdateLoadAvg(ref cfsRq.Avg, 1);
        return true;
    }

    // ---------------------------------------------------------------- fair.c

    /// <summary><c>update_cfs_rq_load_avg</c>: fold in the load of tasks that left while asleep, then decay/accumulate.</summary>
    private bool UpdateCfsRqLoadAvg(long now, CfsRq cfsRq)
    {
        bool decayed = false;
        ref var sa = ref cfsRq.Avg;
        if (cfsRq.RemovedNr != 0)
        {
            long divider = Pelt.GetPeltDivider(sa);
            long removedLoad = cfsRq.RemovedLoadAvg, removedUtil = cfsRq.RemovedUtilAvg, removedRunnable = cfsRq.RemovedRunnableAvg;
            cfsRq.RemovedLoadAvg = cfsRq.RemovedUtilAvg = cfsRq.RemovedRunnableAvg = 0;
            cfsRq.RemovedNr = 0;
            SubPositive(ref sa.LoadAvg, removedLoad);
            SubPositive(ref sa.LoadSum, removedLoad * divider);
            sa.LoadSum = Math.Max(sa.LoadSum, sa.LoadAvg * Pelt.PeltMinDivider);
            SubPositive(ref sa.UtilAvg, removedUtil);
            SubPositive(ref sa.UtilSum, removedUtil * divider);
            sa.UtilSum = Math.Max(sa.UtilSum, sa.UtilAvg * Pelt.PeltMinDivider);
            SubPositive(ref sa.RunnableAvg, removedRunnable);
            SubPositive(ref sa.RunnableSum, removedRunnable * divider);
            sa.RunnableSum = Math.Max(sa.RunnableSum, sa.RunnableAvg * Pelt.PeltMinDivider);
            AddTgCfsPropagate(cfsRq, -(removedRunnable * divider) >> Pelt.SchedCapacityShift);
            decayed = true;
        }
        decayed |= UpdateLoadAvgCfsRq(now, cfsRq);
        return decayed;
    }

    /// <summary><c>add_tg_cfs_propagate</c>.</summary>
    private static void AddTgCfsPropagate(CfsRq cfsRq, long runnableSum)
    {
        cfsRq.Propagate = true;
        cfsRq.PropRunnableSum += runnableSum;
    }

    /// <summary><c>enqueue_load_avg</c>.</summary>
    private static void EnqueueLoadAvg(CfsRq cfsRq, SchedEntity se)
    {
        cfsRq.Avg.LoadAvg += se.Avg.LoadAvg;
        cfsRq.Avg.LoadSum += se.Load.Weight * se.Avg.LoadSum;
    }

    /// <summary><c>dequeue_load_avg</c>.</summary>
    private static void DequeueLoadAvg(CfsRq cfsRq, SchedEntity se)
    {
        SubPositive(ref cfsRq.Avg.LoadAvg, se.Avg.LoadAvg);
        SubPositive(ref cfsRq.Avg.LoadSum, se.Load.Weight * se.Avg.LoadSum);
        cfsRq.Avg.LoadSum = Math.Max(cfsRq.Avg.LoadSum, cfsRq.Avg.LoadAvg * Pelt.PeltMinDivider);
    }

    /// <summary>
    /// <c>attach_entity_load_avg</c>: align the entity on the queue's period, rebuild its sums
    /// from its averages with the queue's divider, add it, and mark the change for propagation.
    /// </summary>
    private static void AttachEntityLoadAvg(CfsRq cfsRq, SchedEntity se)
    {
        long divider = Pelt.GetPeltDivider(cfsRq.Avg);
        ref var sa = ref se.Avg;
        sa.LastUpdateTime = cfsRq.Avg.LastUpdateTime;
        sa.PeriodContrib = cfsRq.Avg.PeriodContrib;
        sa.UtilSum = sa.UtilAvg * divider;
        sa.RunnableSum = sa.RunnableAvg * divider;
        sa.LoadSum = sa.LoadAvg * divider;
        long weight = se.Load.Weight;
        sa.LoadSum = weight < sa.LoadSum ? sa.LoadSum / weight : 1;
        EnqueueLoadAvg(cfsRq, se);
        cfsRq.Avg.UtilAvg += sa.UtilAvg;
        cfsRq.Avg.UtilSum += sa.UtilSum;
        cfsRq.Avg.RunnableAvg += sa.RunnableAvg;
        cfsRq.Avg.RunnableSum += sa.RunnableSum;
        AddTgCfsPropagate(cfsRq, sa.LoadSum);
    }

    /// <summary><c>detach_entity_load_avg</c>.</summary>
    private static void DetachEntityLoadAvg(CfsRq cfsRq, SchedEntity se)
    {
        DequeueLoadAvg(cfsRq, se);
        ref var a = ref cfsRq.Avg;
        SubPositive(ref a.UtilAvg, se.Avg.UtilAvg);
        SubPositive(ref a.UtilSum, se.Avg.UtilSum);
        a.UtilSum = Math.Max(a.UtilSum, a.UtilAvg * Pelt.PeltMinDivider);
        SubPositive(ref a.RunnableAvg, se.Avg.RunnableAvg);
        SubPositive(ref a.RunnableSum, se.Avg.RunnableSum);
        a.RunnableSum = Math.Max(a.RunnableSum, a.RunnableAvg * Pelt.PeltMinDivider);
        AddTgCfsPropagate(cfsRq, -se.Avg.LoadSum);
    }

    /// <summary><c>update_tg_cfs_util</c>: the group entity's utilisation follows its queue's.</summary>
    private static void UpdateTgCfsUtil(CfsRq cfsRq, SchedEntity se, CfsRq gcfsRq)
    {
        long deltaAvg = gcfsRq.Avg.UtilAvg - se.Avg.UtilAvg;
        if (deltaAvg == 0)
            return;
        long divider = Pelt.GetPeltDivider(cfsRq.Avg);
        se.Avg.UtilAvg = gcfsRq.Avg.UtilAvg;
        long newSum = se.Avg.UtilAvg * divider;
        long deltaSum = newSum - se.Avg.UtilSum;
        se.Avg.UtilSum = newSum;
        AddPositive(ref cfsRq.Avg.UtilAvg, deltaAvg);
        AddPositive(ref cfsRq.Avg.UtilSum, deltaSum);
        cfsRq.Avg.UtilSum = Math.Max(cfsRq.Avg.UtilSum, cfsRq.Avg.UtilAvg * Pelt.PeltMinDivider);
    }

    /// <summary><c>update_tg_cfs_runnable</c>: the group entity's runnable average follows its queue's.</summary>
    private static void UpdateTgCfsRunnable(CfsRq cfsRq, SchedEntity se, CfsRq gcfsRq)
    {
        long deltaAvg = gcfsRq.Avg.RunnableAvg - se.Avg.RunnableAvg;
        if (deltaAvg == 0)
            return;
        long divider = Pelt.GetPeltDivider(cfsRq.Avg);
        se.Avg.RunnableAvg = gcfsRq.Avg.RunnableAvg;
        long newSum = se.Avg.RunnableAvg * divider;
        long deltaSum = newSum - se.Avg.RunnableSum;
        se.Avg.RunnableSum = newSum;
        AddPositive(ref cfsRq.Avg.RunnableAvg, deltaAvg);
        AddPositive(ref cfsRq.Avg.RunnableSum, deltaSum);
        cfsRq.Avg.RunnableSum = Math.Max(cfsRq.Avg.RunnableSum, cfsRq.Avg.RunnableAvg * Pelt.PeltMinDivider);
    }

    /// <summary>
    /// <c>update_tg_cfs_load</c>: apply the runnable sum attached to (or detached from) the group
    /// queue to the group entity's unweighted load sum — clipped at the divider when adding;
    /// when removing, estimated from the queue's load sum per unit of weight — then reweight.
    /// </summary>
    private static void UpdateTgCfsLoad(CfsRq cfsRq, SchedEntity se, CfsRq gcfsRq)
    {
        long runnableSum = gcfsRq.PropRunnableSum;
        if (runnableSum == 0)
            return;
        gcfsRq.PropRunnableSum = 0;
        long divider = Pelt.GetPeltDivider(cfsRq.Avg);
        long loadSum = 0;
        if (runnableSum >= 0)
        {
            runnableSum += se.Avg.LoadSum;
            runnableSum = Math.Min(runnableSum, divider);
        }
        else
        {
            if (gcfsRq.Load.Weight != 0)
                loadSum = gcfsRq.Avg.LoadSum / gcfsRq.Load.Weight;
            runnableSum = Math.Min(se.Avg.LoadSum, loadSum);
        }
        long runningSum = se.Avg.UtilSum >> Pelt.SchedCapacityShift;
        runnableSum = Math.Max(runnableSum, runningSum);
        long weight = se.Load.Weight;
        loadSum = weight * runnableSum;
        long loadAvg = loadSum / divider;
        long deltaAvg = loadAvg - se.Avg.LoadAvg;
        if (deltaAvg == 0)
            return;
        long deltaSum = loadSum - (weight * se.Avg.LoadSum);
        se.Avg.LoadSum = runnableSum;
        se.Avg.LoadAvg = loadAvg;
        AddPositive(ref cfsRq.Avg.LoadAvg, deltaAvg);
        AddPositive(ref cfsRq.Avg.LoadSum, deltaSum);
        cfsRq.Avg.LoadSum = Math.Max(cfsRq.Avg.LoadSum, cfsRq.Avg.LoadAvg * Pelt.PeltMinDivider);
    }

    /// <summary>
    /// <c>propagate_entity_load_avg</c> (4.19 and 6.6): carry a group queue's pending attach/detach
    /// to its entity and one level up. The update_tg_cfs_* steps are the version's: 4.19's
    /// update_tg_cfs_runnable moves load and runnable load; 6.6 has runnable and load steps.
    /// </summary>
    private static bool PropagateEntityLoadAvg(SchedEntity se, bool pelt419)
    {
        if (se.MyQ is not { } gcfsRq || !gcfsRq.Propagate)
            return false;
        gcfsRq.Propagate = false;
        var cfsRq = se.CfsRq;
        AddTgCfsPropagate(cfsRq, gcfsRq.PropRunnableSum);
        if (pelt419)
        {
            UpdateTgCfsUtil419(cfsRq, se, gcfsRq);
            UpdateTgCfsRunnable419(cfsRq, se, gcfsRq);
            return true;
        }
        UpdateTgCfsUtil(cfsRq, se, gcfsRq);
        UpdateTgCfsRunnable(cfsRq, se, gcfsRq);
        UpdateTgCfsLoad(cfsRq, se, gcfsRq);
        return true;
    }

    /// <summary>
    /// <c>update_tg_load_avg</c> (v6.6, before the 6.7 rate limit): publish this queue's load_avg
    /// to <c>tg->load_avg</c> when it moved by more than 1/64 of the last published value.
    /// </summary>
    private static void UpdateTgLoadAvg(CfsRq cfsRq)
    {
        if (cfsRq.Tg.IsRoot)
            return;
        long delta = cfsRq.Avg.LoadAvg - cfsRq.TgLoadAvgContrib;
        if (Math.Abs(delta) > cfsRq.TgLoadAvgContrib / 64)
        {
            cfsRq.Tg.LoadAvg += delta;
            cfsRq.TgLoadAvgContrib = cfsRq.Avg.LoadAvg;
        }
    }

    /// <summary><c>update_load_avg</c>: age the entity and its queue to now, propagate, attach/detach, publish to the group.</summary>
    private void UpdateLoadAvg(CfsRq cfsRq, SchedEntity se, UpdateLoadFlags flags)
    {
        long now = ClockPelt(cfsRq.Rq);
        if (se.Avg.LastUpdateTime != 0 && (flags & UpdateLoadFlags.SkipAgeLoad) == 0)
            UpdateLoadAvgSe(now, cfsRq, se);
        bool decayed = UpdateCfsRqLoadAvg(now, cfsRq);
        decayed |= PropagateEntityLoadAvg(se, pelt419: false);
        if (se.Avg.LastUpdateTime == 0 && (flags & UpdateLoadFlags.DoAttach) != 0)
        {
            AttachEntityLoadAvg(cfsRq, se);
            UpdateTgLoadAvg(cfsRq);
        }
        else if ((flags & UpdateLoadFlags.DoDetach) != 0)
        {
            DetachEntityLoadAvg(cfsRq, se);
            UpdateTgLoadAvg(cfsRq);
        }
        else if (decayed && (flags & UpdateLoadFlags.UpdateTg) != 0)
        {
            UpdateTgLoadAvg(cfsRq);
        }
    }

    /// <summary>
    /// <c>migrate_task_rq_fair</c> for a task that is not queued (a wake-up migration):
    /// <c>remove_entity_load_avg</c> — sync the task to its old queue's last update (to now when
    /// that CPU is idle: what <c>migrate_se_pelt_lag</c> estimates) and leave its averages in the
    /// queue's <c>removed</c> account — and mark it unattached. A queued task moved by the
    /// balancer was detached at dequeue (DO_DETACH) and is only marked.
    /// </summary>
    private void MigrateTaskRqPelt(HostTask p)
    {
        var se = p.Se;
        if (se.Avg.LastUpdateTime != 0)
        {
            var cfsRq = se.CfsRq;
            long lut = cfsRq.Rq.IsIdle ? ClockPelt(cfsRq.Rq) : cfsRq.Avg.LastUpdateTime;
            UpdateLoadAvgBlockedSe(lut, se);
            cfsRq.RemovedNr++;
            cfsRq.RemovedUtilAvg += se.Avg.UtilAvg;
            cfsRq.RemovedLoadAvg += se.Avg.LoadAvg;
            cfsRq.RemovedRunnableAvg += se.Avg.RunnableAvg;
        }
        se.Avg.LastUpdateTime = 0;
    }

    // ---------------------------------------------------------------- group shares

    /// <summary>
    /// <c>calc_group_shares</c> (6.x): tg.shares × load / (tg.load_avg − this queue's published
    /// contribution + load), load = max(queue weight, queue load_avg); clamped to [MIN_SHARES, shares].
    /// </summary>
    public static long CalcGroupShares(CfsRq cfsRq)
    {
        var tg = cfsRq.Tg;
        long tgShares = tg.Shares;
        long load = Math.Max(cfsRq.Load.Weight, cfsRq.Avg.LoadAvg);
        long tgWeight = tg.LoadAvg;
        tgWeight -= cfsRq.TgLoadAvgContrib;
        tgWeight += load;
        long shares = tgShares * load;
        if (tgWeight != 0)
            shares /= tgWeight;
        return Math.Clamp(shares, Weights.MinShares, tgShares);
    }

    /// <summary><c>update_cfs_group</c>: reweight a group entity from its queue's share.</summary>
    private void UpdateCfsGroup(SchedEntity se)
    {
        if (se.MyQ is not { } gcfsRq)
            return;
        long shares = CalcGroupShares(gcfsRq);
        if (se.Load.Weight != shares)
            ReweightEntityEevdf(se.CfsRq, se, shares);
    }

    /// <summary>The PELT half of <c>reweight_entity</c>: the entity leaves the queue's load average at its old weight…</summary>
    private static void ReweightDequeueLoadAvg(CfsRq cfsRq, SchedEntity se) => DequeueLoadAvg(cfsRq, se);

    /// <summary>…and rejoins it with load_avg recomputed for the new weight.</summary>
    private static void ReweightEnqueueLoadAvg(CfsRq cfsRq, SchedEntity se)
    {
        se.Avg.LoadAvg = se.Load.Weight * se.Avg.LoadSum / Pelt.GetPeltDivider(se.Avg);
        EnqueueLoadAvg(cfsRq, se);
    }

    // ---------------------------------------------------------------- blocked load and the leaf list

    /// <summary>
    /// <c>update_blocked_averages</c> / <c>__update_blocked_fair</c>: bottom-up over the leaf list,
    /// decay each queue (publishing to tg->load_avg), propagate to the group entity above, and drop
    /// fully decayed queues from the list. Called where 2.6.39 calls update_shares. The same loop in
    /// 4.19 (with 4.19's PELT steps, and update_load_avg without UPDATE_TG: 4.19 passes 0).
    /// </summary>
    private void UpdateBlockedAverages(int cpu)
    {
        bool pelt419 = _pelt419;
        var rq = Rqs[cpu];
        var list = rq.LeafCfsRqs;
        long now = ClockPelt(rq);
        for (int i = 0; i < list.Count; i++)
        {
            var cfsRq = list[i];
            if (pelt419 ? UpdateCfsRqLoadAvg419(now, cfsRq) : UpdateCfsRqLoadAvg(now, cfsRq))
                UpdateTgLoadAvg(cfsRq);
            if (!cfsRq.Tg.IsRoot)
            {
                var se = cfsRq.Tg.Se[cpu];
                if (!SkipBlockedUpdate(se))
                {
                    if (pelt419)
                        UpdateLoadAvg419(se.CfsRq, se, UpdateLoadFlags.None);
                    else
                        UpdateLoadAvg(se.CfsRq, se, UpdateLoadFlags.UpdateTg);
                }
            }
            if (pelt419 ? CfsRqIsDecayed419(cfsRq) : CfsRqIsDecayed(cfsRq))
            {
                ListDelLeafCfsRqPelt(cfsRq);
                i--;
            }
        }
    }

    /// <summary><c>skip_blocked_update</c>: nothing to propagate and nothing left to decay.</summary>
    private static bool SkipBlockedUpdate(SchedEntity se) =>
        se.Avg.LoadAvg == 0 && se.Avg.UtilAvg == 0 && !se.MyQ!.Propagate;

    /// <summary><c>cfs_rq_is_decayed</c>: no weight, all sums zero, and no child queue still listed.</summary>
    private static bool CfsRqIsDecayed(CfsRq cfsRq)
    {
        if (cfsRq.Load.Weight != 0)
            return false;
        if (cfsRq.Avg.LoadSum != 0 || cfsRq.Avg.UtilSum != 0 || cfsRq.Avg.RunnableSum != 0)
            return false;
        // child_cfs_rq_on_list: a listed child sits right before its parent.
        var list = cfsRq.Rq.LeafCfsRqs;
        int i = list.IndexOf(cfsRq);
        return i <= 0 || list[i - 1].Tg.Parent != cfsRq.Tg;
    }

    /// <summary>
    /// <c>list_add_leaf_cfs_rq</c> (6.x): children before parents — next to a listed parent, the
    /// root at the tail, a queue whose parent is not listed yet at the start of the branch being
    /// built (<c>tmp_alone_branch</c>), its parent to follow it.
    /// </summary>
    private static void ListAddLeafCfsRqPelt(CfsRq cfsRq)
    {
        if (cfsRq.OnList)
            return;
        var rq = cfsRq.Rq;
        var list = rq.LeafCfsRqs;
        cfsRq.OnList = true;
        var parent = cfsRq.Tg.Parent;
        if (parent is not null && parent.CfsRq[rq.Cpu].OnList)
        {
            list.Insert(list.IndexOf(parent.CfsRq[rq.Cpu]), cfsRq);
            rq.TmpAloneBranch = 0;
            return;
        }
        if (parent is null)
        {
            list.Add(cfsRq);
            rq.TmpAloneBranch = 0;
            return;
        }
        list.Insert(rq.TmpAloneBranch, cfsRq);
        rq.TmpAloneBranch++;
    }

    /// <summary><c>list_del_leaf_cfs_rq</c> (6.x).</summary>
    private static void ListDelLeafCfsRqPelt(CfsRq cfsRq)
    {
        if (!cfsRq.OnList)
            return;
        var rq = cfsRq.Rq;
        int i = rq.LeafCfsRqs.IndexOf(cfsRq);
        if (i < rq.TmpAloneBranch)
            rq.TmpAloneBranch--;
        rq.LeafCfsRqs.RemoveAt(i);
        cfsRq.OnList = false;
    }

    // ---------------------------------------------------------------- what the 6.x balancer reads

    /// <summary><c>cpu_load</c> (6.x): the root queue's PELT load_avg.</summary>
    public long CpuLoadPelt(int cpu) => Rqs[cpu].Cfs.Avg.LoadAvg;

    /// <summary><c>cpu_runnable</c> (6.x): the root queue's runnable_avg.</summary>
    public long CpuRunnable(int cpu) => Rqs[cpu].Cfs.Avg.RunnableAvg;

    /// <summary>
    /// <c>cpu_util_cfs</c> (6.x) without UTIL_EST (not modelled): the root queue's util_avg,
    /// capped at the CPU's capacity.
    /// </summary>
    public long CpuUtilCfs(int cpu) => Math.Min(Rqs[cpu].Cfs.Avg.UtilAvg, CpuPower(cpu));
}

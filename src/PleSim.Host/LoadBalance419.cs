namespace PleSim.Host;

/// <summary><c>enum group_type</c> (kernel/sched/fair.c, v4.19): no misfit type yet (that is 4.20).</summary>
public enum GroupType419
{
    Other = 0,       // group_other
    Imbalanced = 1,  // group_imbalanced
    Overloaded = 2,  // group_overloaded
}

/// <summary>
/// The load balancer of Linux 4.19 (kernel/sched/fair.c at v4.19, before the 5.5 rework; decision
/// 0053), for <c>host.scheduler: cfs-4.19</c> with <c>host.load_balance: "4.19"</c>: per-group
/// statistics on 4.19's PELT loads (<c>weighted_cpuload</c> = the root queue's runnable_load_avg,
/// through the <c>cpu_load[]</c> indexes of <c>source_load</c>/<c>target_load</c>), <c>group_type</c>,
/// <c>find_busiest_group</c>'s checks, <c>calculate_imbalance</c> with avg_load, load_per_task and
/// <c>fix_small_imbalance</c>, <c>find_busiest_queue</c>, <c>detach_tasks</c> over <c>rq->cfs_tasks</c>
/// with <c>task_h_load</c>, and <c>load_balance</c>'s failure, pinned and active-balance rules.
/// The domains are those PleSim builds for cfs-4.19 (2.6.39's levels and parameters; decision 0049).
/// </summary>
public sealed partial class HostScheduler
{
    // LBF_DST_PINNED (v4.19) is not modelled: a task pinned away from this CPU is not retried on another CPU of the local group.
    // The loop break is SchedNrMigrateBreak (LoadBalance66.cs): v4.19's sched_nr_migrate_break is the same 32.

    /// <summary>Whether the 4.19 load balancer runs (<c>host.load_balance</c>).</summary>
    public bool UsesLoadBalance419 => _lb419;

    internal struct SgLbStats419
    {
        public long AvgLoad, GroupLoad, SumWeightedLoad, LoadPerTask, GroupCapacity, GroupUtil;
        public long SumNrRunning, IdleCpus, GroupWeight;
        public GroupType419 GroupType;
        public bool GroupNoCapacity;
    }

    internal struct SdLbStats419
    {
        public SchedGroup? Busiest, Local;
        public long TotalRunning, TotalLoad, TotalCapacity, AvgLoad;
        public SgLbStats419 BusiestStat, LocalStat;
    }

    internal struct LbEnv419
    {
        public SchedDomain Sd;
        public int DstCpu, SrcCpu, BalancingCpu;
        public CpuIdleType Idle;
        public long Imbalance;
        public CpuMask Cpus;
        public int Flags, Loop, LoopMax, LoopBreak;
    }

    // ---------------------------------------------------------------- classification

    /// <summary><c>group_has_capacity</c> (v4.19): fewer tasks than CPUs, or utilisation leaves room by imbalance_pct.</summary>
    internal static bool GroupHasCapacity419(int imbalancePct, in SgLbStats419 sgs)
    {
        if (sgs.SumNrRunning < sgs.GroupWeight)
            return true;
        return sgs.GroupCapacity * 100 > sgs.GroupUtil * imbalancePct;
    }

    /// <summary><c>group_is_overloaded</c> (v4.19): more tasks than CPUs and utilisation above capacity by imbalance_pct.</summary>
    internal static bool GroupIsOverloaded419(int imbalancePct, in SgLbStats419 sgs)
    {
        if (sgs.SumNrRunning <= sgs.GroupWeight)
            return false;
        return sgs.GroupCapacity * 100 < sgs.GroupUtil * imbalancePct;
    }

    /// <summary><c>group_classify</c> (v4.19): overloaded (no capacity) &gt; imbalanced (sgc->imbalance) &gt; other.</summary>
    internal static GroupType419 GroupClassify419(SchedGroup group, in SgLbStats419 sgs)
    {
        if (sgs.GroupNoCapacity)
            return GroupType419.Overloaded;
        if (group.Imbalance)
            return GroupType419.Imbalanced;
        return GroupType419.Other;
    }

    /// <summary><c>update_sg_lb_stats</c> (v4.19): loads through the cpu_load[] index (biased up for the local group, down for others), util, tasks, idle CPUs.</summary>
    internal void UpdateSgLbStats419(ref LbEnv419 env, SchedGroup group, int loadIdx, bool localGroup, ref SgLbStats419 sgs, ref bool overload)
    {
        sgs = default;
        ref readonly var cpus = ref group.Cpus;
        for (int i = cpus.First; i >= 0; i = cpus.Next(i + 1))
        {
            if (!env.Cpus.Contains(i))
                continue;
            var rq = Rqs[i];
            long load = localGroup ? TargetLoad(i, loadIdx) : SourceLoad(i, loadIdx);
            sgs.GroupLoad += load;
            sgs.GroupUtil += CpuUtil419(i);
            sgs.SumNrRunning += rq.NrRunning; // rq->cfs.h_nr_running: the host runs fair tasks only
            if (rq.NrRunning > 1)
                overload = true;
            sgs.SumWeightedLoad += WeightedCpuload419(i);
            if (rq.NrRunning == 0 && IdleCpu(i))
                sgs.IdleCpus++;
        }
        sgs.GroupCapacity = group.CpuPower;
        sgs.AvgLoad = sgs.GroupLoad * Pelt.SchedCapacityScale / sgs.GroupCapacity;
        if (sgs.SumNrRunning != 0)
            sgs.LoadPerTask = sgs.SumWeightedLoad / sgs.SumNrRunning;
        sgs.GroupWeight = group.GroupWeight;
        sgs.GroupNoCapacity = GroupIsOverloaded419(env.Sd.ImbalancePct, sgs);
        sgs.GroupType = GroupClassify419(group, sgs);
    }

    /// <summary><c>update_sd_pick_busiest</c> (v4.19, symmetric CPUs, no asym packing): a higher type wins; within a type, a higher avg_load.</summary>
    internal static bool UpdateSdPickBusiest419(in SdLbStats419 sds, in SgLbStats419 sgs)
    {
        ref readonly var busiest = ref sds.BusiestStat;
        if (sgs.GroupType > busiest.GroupType)
            return true;
        if (sgs.GroupType < busiest.GroupType)
            return false;
        return sgs.AvgLoad > busiest.AvgLoad;
    }

    /// <summary>
    /// <c>update_sd_lb_stats</c> (v4.19): the local group's and the busiest group's statistics and
    /// the domain totals; with a SD_PREFER_SIBLING child, a group with two or more tasks more than a
    /// local group that has capacity counts as having none.
    /// </summary>
    internal void UpdateSdLbStats419(ref LbEnv419 env, ref SdLbStats419 sds)
    {
        bool preferSibling = env.Sd.Child is { } child && child.Has(SdFlags.PreferSibling);
        int loadIdx = GetSdLoadIdx(env.Sd, env.Idle);
        bool overload = false;
        var tmp = default(SgLbStats419);
        foreach (var sg in env.Sd.Groups)
        {
            bool local = sg.Contains(env.DstCpu);
            if (local)
            {
                sds.Local = sg;
                UpdateSgLbStats419(ref env, sg, loadIdx, true, ref sds.LocalStat, ref overload);
                sds.TotalRunning += sds.LocalStat.SumNrRunning;
                sds.TotalLoad += sds.LocalStat.GroupLoad;
                sds.TotalCapacity += sds.LocalStat.GroupCapacity;
                continue;
            }
            UpdateSgLbStats419(ref env, sg, loadIdx, false, ref tmp, ref overload);
            if (preferSibling && sds.Local is not null && GroupHasCapacity419(env.Sd.ImbalancePct, sds.LocalStat)
                && tmp.SumNrRunning > sds.LocalStat.SumNrRunning + 1)
            {
                tmp.GroupNoCapacity = true;
                tmp.GroupType = GroupClassify419(sg, tmp);
            }
            if (UpdateSdPickBusiest419(sds, tmp))
            {
                sds.Busiest = sg;
                sds.BusiestStat = tmp;
            }
            sds.TotalRunning += tmp.SumNrRunning;
            sds.TotalLoad += tmp.GroupLoad;
            sds.TotalCapacity += tmp.GroupCapacity;
        }
    }

    // ---------------------------------------------------------------- how much to pull

    /// <summary>
    /// <c>fix_small_imbalance</c> (v4.19): move one busiest task's worth of load when the two
    /// groups differ by at least that much (by imbn task loads: 2, or 1 when the busiest group's
    /// tasks are heavier), or when moving it gains used capacity.
    /// <paramref name="dstCpuAvgLoadPerTask"/> is <c>cpu_avg_load_per_task(dst_cpu)</c>, used when
    /// the local group runs nothing.
    /// </summary>
    internal static long FixSmallImbalance419(ref SdLbStats419 sds, long dstCpuAvgLoadPerTask)
    {
        const long scale = Pelt.SchedCapacityScale;
        ref var local = ref sds.LocalStat;
        ref var busiest = ref sds.BusiestStat;
        long imbn = 2;
        if (local.SumNrRunning == 0)
            local.LoadPerTask = dstCpuAvgLoadPerTask;
        else if (busiest.LoadPerTask > local.LoadPerTask)
            imbn = 1;
        long scaledBusyLoadPerTask = busiest.LoadPerTask * scale / busiest.GroupCapacity;
        if (busiest.AvgLoad + scaledBusyLoadPerTask >= local.AvgLoad + scaledBusyLoadPerTask * imbn)
            return busiest.LoadPerTask;

        long capaNow = 0, capaMove = 0;
        capaNow += busiest.GroupCapacity * Math.Min(busiest.LoadPerTask, busiest.AvgLoad);
        capaNow += local.GroupCapacity * Math.Min(local.LoadPerTask, local.AvgLoad);
        capaNow /= scale;
        if (busiest.AvgLoad > scaledBusyLoadPerTask)
            capaMove += busiest.GroupCapacity * Math.Min(busiest.LoadPerTask, busiest.AvgLoad - scaledBusyLoadPerTask);
        long tmp = busiest.AvgLoad * busiest.GroupCapacity < busiest.LoadPerTask * scale
            ? busiest.AvgLoad * busiest.GroupCapacity / local.GroupCapacity
            : busiest.LoadPerTask * scale / local.GroupCapacity;
        capaMove += local.GroupCapacity * Math.Min(local.LoadPerTask, local.AvgLoad + tmp);
        capaMove /= scale;
        return capaMove > capaNow ? busiest.LoadPerTask : 0;
    }

    /// <summary>
    /// <c>calculate_imbalance</c> (v4.19): the load to pull — the smaller of the busiest group's
    /// excess over the domain average (capped, when both groups are overloaded, at its load above
    /// capacity) and the local group's room under it — or fix_small_imbalance's one task when that
    /// is less than a busiest task's load or the averages are the wrong way round.
    /// </summary>
    private static long SatMul(long a, long b) => a > long.MaxValue / Math.Max(b, 1) ? long.MaxValue : a * b;

    internal static long CalculateImbalance419(ref SdLbStats419 sds, long dstCpuAvgLoadPerTask)
    {
        const long scale = Pelt.SchedCapacityScale;
        ref var local = ref sds.LocalStat;
        ref var busiest = ref sds.BusiestStat;
        if (busiest.GroupType == GroupType419.Imbalanced)
            busiest.LoadPerTask = Math.Min(busiest.LoadPerTask, sds.AvgLoad);
        if (busiest.AvgLoad <= sds.AvgLoad || local.AvgLoad >= sds.AvgLoad)
            return FixSmallImbalance419(ref sds, dstCpuAvgLoadPerTask);
        long loadAboveCapacity = long.MaxValue; // ~0UL
        if (busiest.GroupType == GroupType419.Overloaded && local.GroupType == GroupType419.Overloaded)
        {
            loadAboveCapacity = busiest.SumNrRunning * scale;
            if (loadAboveCapacity > busiest.GroupCapacity)
            {
                loadAboveCapacity -= busiest.GroupCapacity;
                loadAboveCapacity *= Weights.Nice0Load; // scale_load_down(NICE_0_LOAD)
                loadAboveCapacity /= busiest.GroupCapacity;
            }
            else
            {
                loadAboveCapacity = long.MaxValue;
            }
        }
        long maxPull = Math.Min(busiest.AvgLoad - sds.AvgLoad, loadAboveCapacity);
        long imbalance = Math.Min(SatMul(maxPull, busiest.GroupCapacity), (sds.AvgLoad - local.AvgLoad) * local.GroupCapacity) / scale;
        if (imbalance < busiest.LoadPerTask)
            return FixSmallImbalance419(ref sds, dstCpuAvgLoadPerTask);
        return imbalance;
    }

    /// <summary>
    /// <c>find_busiest_group</c> (v4.19). Null when balanced (env.Imbalance 0); otherwise the
    /// busiest group, with env.Imbalance set.
    /// </summary>
    internal SchedGroup? FindBusiestGroup419(ref LbEnv419 env)
    {
        var sds = default(SdLbStats419);
        UpdateSdLbStats419(ref env, ref sds);
        env.Imbalance = 0;
        if (FindBusiestGroupDecision419(env.Idle, env.Sd.ImbalancePct, ref sds, CpuAvgLoadPerTask(env.DstCpu), out long imbalance))
        {
            env.Imbalance = imbalance;
            return imbalance != 0 ? sds.Busiest : null;
        }
        return null;
    }

    /// <summary>
    /// The checks of <c>find_busiest_group</c> (v4.19) on gathered statistics: false when balanced;
    /// true with the imbalance from calculate_imbalance (which may be 0) otherwise.
    /// </summary>
    internal static bool FindBusiestGroupDecision419(CpuIdleType idle, int imbalancePct, ref SdLbStats419 sds, long dstCpuAvgLoadPerTask, out long imbalance)
    {
        imbalance = 0;
        ref var local = ref sds.LocalStat;
        ref var busiest = ref sds.BusiestStat;
        if (sds.Busiest is null || busiest.SumNrRunning == 0)
            return false;
        sds.AvgLoad = Pelt.SchedCapacityScale * sds.TotalLoad / sds.TotalCapacity;
        bool force = busiest.GroupType == GroupType419.Imbalanced
            || (idle != CpuIdleType.NotIdle && GroupHasCapacity419(imbalancePct, local) && busiest.GroupNoCapacity);
        if (!force)
        {
            if (local.AvgLoad >= busiest.AvgLoad)
                return false;
            if (local.AvgLoad >= sds.AvgLoad)
                return false;
            if (idle == CpuIdleType.Idle)
            {
                if (busiest.GroupType != GroupType419.Overloaded && local.IdleCpus <= busiest.IdleCpus + 1)
                    return false;
            }
            else if (100 * busiest.AvgLoad <= imbalancePct * local.AvgLoad)
            {
                return false;
            }
        }
        imbalance = CalculateImbalance419(ref sds, dstCpuAvgLoadPerTask);
        return true;
    }

    /// <summary>
    /// <c>find_busiest_queue</c> (v4.19): the CPU of the group with the highest weighted_cpuload per
    /// capacity; a CPU with one task heavier than the imbalance is left alone (its capacity is never
    /// reduced here: no RT, DL or IRQ load on the modelled hosts).
    /// </summary>
    internal RunQueue? FindBusiestQueue419(ref LbEnv419 env, SchedGroup group)
    {
        RunQueue? busiest = null;
        long busiestLoad = 0, busiestCapacity = 1;
        ref readonly var cpus = ref group.Cpus;
        for (int i = cpus.First; i >= 0; i = cpus.Next(i + 1))
        {
            if (!env.Cpus.Contains(i))
                continue;
            var rq = Rqs[i];
            long capacity = CpuPower(i);
            long wl = WeightedCpuload419(i);
            if (rq.NrRunning == 1 && wl > env.Imbalance)
                continue;
            if (wl * busiestCapacity > busiestLoad * capacity)
            {
                busiestLoad = wl;
                busiestCapacity = capacity;
                busiest = rq;
            }
        }
        return busiest;
    }

    // ---------------------------------------------------------------- moving tasks

    /// <summary>
    /// <c>can_migrate_task</c> (v4.19, without the LBF_DST_PINNED retry on another CPU of the local
    /// group); its <c>task_hot</c> is 2.6.39's (next or last buddy when the destination is busy,
    /// else ran within sched_migration_cost).
    /// </summary>
    private bool CanMigrateTask419(HostTask p, ref LbEnv419 env)
    {
        if (!CanMigrateTaskAffinity(p, env.DstCpu, ref env.Flags))
            return false;
        return !TaskHot(p, _sim.Now.Ns, env.DstCpu) || env.Sd.NrBalanceFailed > env.Sd.CacheNiceTries;
    }

    /// <summary>
    /// <c>detach_tasks</c> + <c>attach_tasks</c> (v4.19): from the tail of the busiest CPU's
    /// cfs_tasks (least recently picked first), move tasks whose task_h_load is at most twice the
    /// remaining imbalance, until it is used up. Built without CONFIG_PREEMPT (distribution 4.19
    /// kernels use PREEMPT_VOLUNTARY; assumption), so a new-idle pass does not stop after one task.
    /// </summary>
    // Kept apart from DetachTasks66: 4.19 has one migration type (load, never relaxed by nr_balance_failed), stops at loop_max even when all pinned, and no PREEMPTION new-idle stop.
    private int DetachTasks419(ref LbEnv419 env, RunQueue src)
    {
        var tasks = src.CfsTasks;
        var dst = Rqs[env.DstCpu];
        int detached = 0;
        if (env.Imbalance <= 0)
            return 0;
        var cause = BalanceMigrationCause(env.Idle);
        while (tasks.Count != 0)
        {
            if (env.Idle != CpuIdleType.NotIdle && src.NrRunning <= 1)
                break;
            var p = tasks[^1];
            env.Loop++;
            if (env.Loop > env.LoopMax)
                break;
            if (env.Loop > env.LoopBreak)
            {
                env.LoopBreak += SchedNrMigrateBreak;
                env.Flags |= LbfNeedBreak;
                break;
            }
            if (!CanMigrateTask419(p, ref env))
                goto next;
            long load = TaskHLoad(p);
            if (load / 2 > env.Imbalance)
                goto next;
            PullTask(src, p, dst, env.BalancingCpu, cause);
            detached++;
            env.Imbalance -= load;
            if (env.Imbalance <= 0)
                break;
            continue;
        next:
            tasks.RemoveAt(tasks.Count - 1);
            tasks.Insert(0, p);
        }
        return detached;
    }

    /// <summary><c>need_active_balance</c> (v4.19, full-capacity CPUs): balancing failed cache_nice_tries + 2 times.</summary>
    private static bool NeedActiveBalance419(in LbEnv419 env) => env.Sd.NrBalanceFailed > env.Sd.CacheNiceTries + 2;

    /// <summary><c>should_we_balance</c> (v4.19): every CPU in new-idle balancing; otherwise the first idle CPU of the local group, else its first CPU.</summary>
    private bool ShouldWeBalance419(in LbEnv419 env)
    {
        if (env.Idle == CpuIdleType.NewlyIdle)
            return true;
        var local = env.Sd.Groups[0];
        ref readonly var cpus = ref local.Cpus;
        for (int i = cpus.First; i >= 0; i = cpus.Next(i + 1))
        {
            if (env.Cpus.Contains(i) && IdleCpu(i))
                return i == env.DstCpu;
        }
        return local.FirstCpu == env.DstCpu;
    }

    /// <summary><c>load_balance</c> (v4.19) of <paramref name="thisCpu"/> at <paramref name="sd"/>, run on <paramref name="balancingCpu"/>.</summary>
    // Kept apart from LoadBalance66 (5.5+ rework): 4.19 marks all-pinned only for a busy source, always redoes on need_break, forces nr_balance_failed and backs off the interval after a kick.
    private bool LoadBalance419(int thisCpu, SchedDomain sd, CpuIdleType idle, out bool continueBalancing, int balancingCpu)
    {
        var thisRq = Rqs[thisCpu];
        var env = new LbEnv419
        {
            Sd = sd,
            DstCpu = thisCpu,
            BalancingCpu = balancingCpu,
            Idle = idle,
            Cpus = sd.Span,
            LoopBreak = SchedNrMigrateBreak,
        };
        continueBalancing = true;
        int ldMoved = 0;
        bool activeBalance = false;
        var sdParent = sd.Parent;
        sd.LbCount++;
    redo:
        if (!ShouldWeBalance419(env))
        {
            continueBalancing = false;
            goto outBalanced;
        }
        var group = FindBusiestGroup419(ref env);
        if (group is null)
            goto outBalanced;
        var busiest = FindBusiestQueue419(ref env, group);
        if (busiest is null)
            goto outBalanced;
        if (busiest == thisRq)
            throw new InvalidOperationException("find_busiest_queue returned this CPU");
        env.SrcCpu = busiest.Cpu;
        ldMoved = 0;
        if (busiest.NrRunning > 1)
        {
            env.Flags |= LbfAllPinned;
            env.LoopMax = Math.Min(_tunables.NrMigrate, busiest.NrRunning);
        moreBalance:
            int moved = DetachTasks419(ref env, busiest);
            ldMoved += moved;
            if (moved > 0 && thisCpu != balancingCpu)
                ReschedCpu(thisCpu, balancingCpu);
            if ((env.Flags & LbfNeedBreak) != 0)
            {
                env.Flags &= ~LbfNeedBreak;
                goto moreBalance;
            }
            if (sdParent is not null && (env.Flags & LbfSomePinned) != 0 && env.Imbalance > 0)
                sdParent.Groups[0].Imbalance = true; // "we failed to reach balance because of affinity"
            if ((env.Flags & LbfAllPinned) != 0)
            {
                env.Cpus.Clear(busiest.Cpu);
                if (!LocalGroupCovers(sd, env.Cpus))
                {
                    env.Loop = 0;
                    env.LoopBreak = SchedNrMigrateBreak;
                    goto redo;
                }
                goto outAllPinned;
            }
        }
        if (ldMoved == 0)
        {
            sd.LbFailed++;
            if (idle != CpuIdleType.NewlyIdle)
                sd.NrBalanceFailed++;
            if (NeedActiveBalance419(env))
            {
                if (!busiest.Curr.AllowedOn(thisCpu) || busiest.Curr.IsIdle)
                {
                    env.Flags |= LbfAllPinned;
                    goto outOnePinned;
                }
                activeBalance = KickActiveBalance(busiest, thisCpu, balancingCpu);
                sd.NrBalanceFailed = sd.CacheNiceTries + 1; // "we've kicked active balancing, force task migration"
            }
        }
        else
        {
            sd.NrBalanceFailed = 0;
        }
        UpdateBalanceIntervalAfterPass(sd, activeBalance);
        return ldMoved > 0;

    outBalanced:
        if (sdParent is not null)
            sdParent.Groups[0].Imbalance = false;
    outAllPinned:
        sd.LbBalanced++;
        sd.NrBalanceFailed = 0;
    outOnePinned:
        BackOffBalanceInterval(sd, (env.Flags & LbfAllPinned) != 0);
        return false;
    }

    /// <summary>
    /// <c>detach_one_task</c> for <c>active_load_balance_cpu_stop</c> (v4.19): the least recently run
    /// task can_migrate_task accepts (hotness is ignored because load_balance set nr_balance_failed
    /// above cache_nice_tries); on success the failure count is reset.
    /// </summary>
    // Kept apart from DetachOneTask66: 4.19 has no LBF_ACTIVE_LB (hotness passes through the forced nr_balance_failed) and resets nr_balance_failed on success.
    private bool DetachOneTask419(RunQueue target, RunQueue busiest, SchedDomain sd, int balancingCpu)
    {
        var env = new LbEnv419 { Sd = sd, DstCpu = target.Cpu, SrcCpu = busiest.Cpu, BalancingCpu = balancingCpu, Idle = CpuIdleType.Idle, Cpus = sd.Span };
        var tasks = busiest.CfsTasks;
        for (int i = tasks.Count - 1; i >= 0; i--)
        {
            var p = tasks[i];
            if (!CanMigrateTask419(p, ref env))
                continue;
            PullTask(busiest, p, target, balancingCpu, MigrationCause.ActiveBalance);
            if (target.Cpu != balancingCpu)
                ReschedCpu(target.Cpu, balancingCpu);
            sd.NrBalanceFailed = 0;
            return true;
        }
        return false;
    }
}

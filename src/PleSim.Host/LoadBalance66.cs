namespace PleSim.Host;

/// <summary><c>enum group_type</c> (kernel/sched/fair.c, v6.6): how busy a group is, in increasing order of balancing urgency.</summary>
public enum GroupType
{
    HasSpare,
    FullyBusy,
    MisfitTask,
    SmtBalance,
    AsymPacking,
    Imbalanced,
    Overloaded,
}

/// <summary><c>enum migration_type</c> (v6.6): what the imbalance counts.</summary>
public enum MigrationType
{
    Load,
    Util,
    Task,
    Misfit,
}

/// <summary>
/// The load balancer of Linux 6.x (Vincent Guittot's 5.5 rework, as kernel/sched/fair.c has it at
/// v6.6; decision 0056), for the EEVDF hosts with <c>host.load_balance: "6.6"</c>: per-group
/// statistics on PELT loads (<c>update_sg_lb_stats</c>), <c>group_classify</c>,
/// <c>update_sd_pick_busiest</c>, <c>find_busiest_group</c>, <c>calculate_imbalance</c> with a
/// migration type, <c>find_busiest_queue</c>, <c>detach_tasks</c> over the run queue's
/// <c>cfs_tasks</c> list (least recently run first), <c>can_migrate_task</c>/<c>task_hot</c> of 6.6,
/// <c>nr_balance_failed</c> and active balancing. The hosts are symmetric: no misfit tasks, no
/// asym packing, no energy-aware placement, no NUMA-balancing queue classes.
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary>SCHED_NR_MIGRATE_BREAK (v6.6; 8 on PREEMPT_RT); v4.19's sched_nr_migrate_break, the same 32, for the 4.19 balancer too.</summary>
    private const int SchedNrMigrateBreak = 32;

    // lb_env flags (v6.6).
    private const int LbfAllPinned = 0x01;
    private const int LbfNeedBreak = 0x02;
    private const int LbfSomePinned = 0x08;
    internal const int LbfActiveLb = 0x20;

    /// <summary>Per-run counts of 6.6 balancing passes that found an imbalance, by migration type (index = <see cref="MigrationType"/>).</summary>
    public readonly long[] Lb66ImbalanceByType = new long[4];

    /// <summary>Tasks the 6.6 balancer moved (detach_tasks), by migration type of the pass.</summary>
    public readonly long[] Lb66TasksMovedByType = new long[4];

    /// <summary>Whether the 6.6 load balancer runs (<c>host.load_balance</c>).</summary>
    public bool UsesLoadBalance66 => _lb66;

    internal struct SgLbStats66
    {
        public long AvgLoad, GroupLoad, GroupCapacity, GroupUtil, GroupRunnable;
        public long SumNrRunning, SumHNrRunning, IdleCpus, GroupWeight;
        public GroupType GroupType;
        public bool GroupSmtBalance;
    }

    internal struct SdLbStats66
    {
        public SchedGroup? Busiest, Local;
        public long TotalLoad, TotalCapacity, AvgLoad;
        public bool PreferSibling;
        public SgLbStats66 BusiestStat, LocalStat;
    }

    internal struct LbEnv66
    {
        public SchedDomain Sd;
        public int DstCpu, SrcCpu, BalancingCpu;
        public CpuIdleType Idle;
        public long Imbalance;
        public MigrationType MigrationType;
        public CpuMask Cpus;
        public int Flags, Loop, LoopMax, LoopBreak;
    }

    // ---------------------------------------------------------------- statistics

    /// <summary><c>group_is_overloaded</c>: more tasks than CPUs, and util or runnable above capacity by imbalance_pct.</summary>
    internal static bool GroupIsOverloaded(int imbalancePct, in SgLbStats66 sgs)
    {
        if (sgs.SumNrRunning <= sgs.GroupWeight)
            return false;
        if (sgs.GroupCapacity * 100 < sgs.GroupUtil * imbalancePct)
            return true;
        return sgs.GroupCapacity * imbalancePct < sgs.GroupRunnable * 100;
    }

    /// <summary><c>group_has_capacity</c>: fewer tasks than CPUs, or runnable and util leave room.</summary>
    internal static bool GroupHasCapacity(int imbalancePct, in SgLbStats66 sgs)
    {
        if (sgs.SumNrRunning < sgs.GroupWeight)
            return true;
        if (sgs.GroupCapacity * imbalancePct < sgs.GroupRunnable * 100)
            return false;
        return sgs.GroupCapacity * 100 > sgs.GroupUtil * imbalancePct;
    }

    /// <summary><c>group_classify</c> (v6.6). Misfit and asym packing need asymmetric CPUs, which the modelled hosts do not have.</summary>
    internal static GroupType GroupClassify(int imbalancePct, SchedGroup group, in SgLbStats66 sgs)
    {
        if (GroupIsOverloaded(imbalancePct, sgs))
            return GroupType.Overloaded;
        if (group.Imbalance)
            return GroupType.Imbalanced;
        if (sgs.GroupSmtBalance)
            return GroupType.SmtBalance;
        if (!GroupHasCapacity(imbalancePct, sgs))
            return GroupType.FullyBusy;
        return GroupType.HasSpare;
    }

    /// <summary>The group is one SMT core: its flags (the child level's) include SD_SHARE_CPUCAPACITY.</summary>
    private static bool GroupSharesCpuCapacity(SchedDomain sd) => sd.Child is { } c && c.Has(SdFlags.ShareCpupower);

    /// <summary><c>update_sg_lb_stats</c> (v6.6) on PELT loads.</summary>
    internal void UpdateSgLbStats66(ref LbEnv66 env, SchedGroup group, ref SgLbStats66 sgs, bool localGroup)
    {
        ref readonly var groupCpus = ref group.Cpus;
        for (int i = groupCpus.First; i >= 0; i = groupCpus.Next(i + 1))
        {
            if (!env.Cpus.Contains(i))
                continue;
            AddCpuStats(ref sgs, i);
        }
        sgs.GroupCapacity = group.CpuPower;
        sgs.GroupWeight = group.GroupWeight;
        // smt_balance: an SMT core running more than one task, seen from an idle destination.
        if (!localGroup && env.Idle != CpuIdleType.NotIdle && GroupSharesCpuCapacity(env.Sd) && sgs.SumHNrRunning > 1)
            sgs.GroupSmtBalance = true;
        sgs.GroupType = GroupClassify(env.Sd.ImbalancePct, group, sgs);
        if (sgs.GroupType == GroupType.Overloaded)
            sgs.AvgLoad = sgs.GroupLoad * Pelt.SchedCapacityScale / sgs.GroupCapacity;
    }

    /// <summary>
    /// <c>update_sd_pick_busiest</c> (v6.6, symmetric capacities). <paramref name="smtGroups"/>:
    /// the level's groups are SMT cores (SD_SHARE_CPUCAPACITY in their flags).
    /// </summary>
    internal static bool UpdateSdPickBusiest66(in SdLbStats66 sds, in SgLbStats66 sgs, bool smtGroups = false)
    {
        ref readonly var busiest = ref sds.BusiestStat;
        if (sgs.SumHNrRunning == 0)
            return false;
        if (sds.Busiest is null)
            return true;
        if (sgs.GroupType > busiest.GroupType)
            return true;
        if (sgs.GroupType < busiest.GroupType)
            return false;
        switch (sgs.GroupType)
        {
            case GroupType.Overloaded:
                if (sgs.AvgLoad <= busiest.AvgLoad)
                    return false;
                break;
            case GroupType.Imbalanced:
                return false; // the first imbalanced group wins
            case GroupType.SmtBalance:
                if (sgs.IdleCpus != 0 || busiest.IdleCpus != 0)
                    goto case GroupType.HasSpare;
                goto case GroupType.FullyBusy;
            case GroupType.FullyBusy:
                // avg_load is only computed for overloaded groups (0 here): on a tie the later
                // group wins, except that a busiest SMT group is kept.
                if (sgs.AvgLoad < busiest.AvgLoad)
                    return false;
                if (sgs.AvgLoad == busiest.AvgLoad && smtGroups)
                    return false;
                break;
            case GroupType.HasSpare:
                // Fewest idle CPUs, then most running tasks.
                if (sgs.IdleCpus > busiest.IdleCpus)
                    return false;
                if (sgs.IdleCpus == busiest.IdleCpus && sgs.SumNrRunning <= busiest.SumNrRunning)
                    return false;
                break;
        }
        return true;
    }

    /// <summary><c>update_sd_lb_stats</c> (v6.6): the local group's and the busiest group's statistics, and the domain totals.</summary>
    internal void UpdateSdLbStats66(ref LbEnv66 env, ref SdLbStats66 sds)
    {
        long sumUtil = 0;
        foreach (var sg in env.Sd.Groups)
        {
            bool local = sg.Contains(env.DstCpu);
            var sgs = default(SgLbStats66);
            UpdateSgLbStats66(ref env, sg, ref sgs, local);
            sumUtil += sgs.GroupUtil;
            if (local)
            {
                sds.Local = sg;
                sds.LocalStat = sgs;
            }
            else if (UpdateSdPickBusiest66(sds, sgs, GroupSharesCpuCapacity(env.Sd)))
            {
                sds.Busiest = sg;
                sds.BusiestStat = sgs;
            }
            sds.TotalLoad += sgs.GroupLoad;
            sds.TotalCapacity += sgs.GroupCapacity;
        }
        // The busiest group's flags are its child level's: SD_PREFER_SIBLING spreads tasks across siblings.
        if (sds.Busiest is not null)
            sds.PreferSibling = env.Sd.Child is { } c && c.Has(SdFlags.PreferSibling);
        UpdateIdleCpuScan(env, sumUtil);
    }

    // ---------------------------------------------------------------- the imbalance

    /// <summary>
    /// <c>sibling_imbalance</c> (v6.6): with equal core counts, the difference in running tasks;
    /// otherwise the difference of tasks per core, rounded, at least 2 to fill an empty group.
    /// </summary>
    internal static long SiblingImbalance(in LbEnv66 env, in SdLbStats66 sds)
    {
        ref readonly var busiest = ref sds.BusiestStat;
        ref readonly var local = ref sds.LocalStat;
        if (env.Idle == CpuIdleType.NotIdle || busiest.SumNrRunning == 0)
            return 0;
        int threads = Math.Max(1, CoreThreads(env.Sd));
        long ncoresBusiest = Math.Max(1, sds.Busiest!.GroupWeight / threads);
        long ncoresLocal = Math.Max(1, sds.Local!.GroupWeight / threads);
        if (ncoresBusiest == ncoresLocal)
            return Math.Max(0, busiest.SumNrRunning - local.SumNrRunning);
        long imbalance = Math.Max(0, (ncoresLocal * busiest.SumNrRunning) - (ncoresBusiest * local.SumNrRunning));
        imbalance = ((2 * imbalance) + ncoresLocal + ncoresBusiest) / (ncoresLocal + ncoresBusiest);
        if (imbalance <= 1 && local.SumNrRunning == 0 && busiest.SumNrRunning > 1)
            imbalance = 2;
        return imbalance;
    }

    private static int CoreThreads(SchedDomain sd)
    {
        // The SMT level is the bottom one with SD_SHARE_CPUCAPACITY: its span is one core.
        var d = sd;
        while (d.Child is not null)
            d = d.Child;
        return d.Has(SdFlags.ShareCpupower) ? d.SpanWeight : 1;
    }

    /// <summary><c>calculate_imbalance</c> (v6.6): what to migrate and how much.</summary>
    /// <summary>One CPU's share of a group's statistics, as both update_sg_lb_stats and update_sg_wakeup_stats (v6.6) add it.</summary>
    private void AddCpuStats(ref SgLbStats66 sgs, int cpu)
    {
        var rq = Rqs[cpu];
        sgs.GroupLoad += CpuLoadPelt(cpu);
        sgs.GroupUtil += CpuUtilCfs(cpu);
        sgs.GroupRunnable += CpuRunnable(cpu);
        sgs.SumHNrRunning += HNrRunnable(rq.Cfs); // 6.14+: h_nr_runnable (decision 0083)
        sgs.SumNrRunning += rq.NrRunning;
        if (rq.NrRunning == 0 && IdleCpu(cpu))
            sgs.IdleCpus++;
    }

    internal static void CalculateImbalance66(ref LbEnv66 env, ref SdLbStats66 sds)
    {
        ref var local = ref sds.LocalStat;
        ref var busiest = ref sds.BusiestStat;
        if (busiest.GroupType is GroupType.SmtBalance or GroupType.Imbalanced)
        {
            env.MigrationType = MigrationType.Task;
            env.Imbalance = 1;
            return;
        }
        if (local.GroupType == GroupType.HasSpare)
        {
            if (busiest.GroupType > GroupType.FullyBusy && !env.Sd.Has(SdFlags.SharePkgResources))
            {
                // Fill the local group's spare capacity.
                env.MigrationType = MigrationType.Util;
                env.Imbalance = Math.Max(local.GroupCapacity, local.GroupUtil) - local.GroupUtil;
                if (env.Idle != CpuIdleType.NotIdle && env.Imbalance == 0)
                {
                    env.MigrationType = MigrationType.Task;
                    env.Imbalance = 1;
                }
                return;
            }
            if (busiest.GroupWeight == 1 || sds.PreferSibling)
            {
                env.MigrationType = MigrationType.Task;
                env.Imbalance = SiblingImbalance(env, sds);
            }
            else
            {
                // Even out the idle CPUs.
                env.MigrationType = MigrationType.Task;
                env.Imbalance = Math.Max(0, local.IdleCpus - busiest.IdleCpus);
            }
            if (env.Sd.Has(SdFlags.Numa))
                env.Imbalance = AdjustNumaImbalance66(env.Imbalance, local.SumNrRunning + 1, env.Sd.ImbNumaNr);
            env.Imbalance >>= 1;
            return;
        }
        if (local.GroupType < GroupType.Overloaded)
        {
            local.AvgLoad = local.GroupLoad * Pelt.SchedCapacityScale / local.GroupCapacity;
            if (local.AvgLoad >= busiest.AvgLoad)
            {
                env.Imbalance = 0;
                return;
            }
            sds.AvgLoad = sds.TotalLoad * Pelt.SchedCapacityScale / sds.TotalCapacity;
            if (local.AvgLoad >= sds.AvgLoad)
            {
                env.Imbalance = 0;
                return;
            }
        }
        env.MigrationType = MigrationType.Load;
        env.Imbalance = Math.Min((busiest.AvgLoad - sds.AvgLoad) * busiest.GroupCapacity, (sds.AvgLoad - local.AvgLoad) * local.GroupCapacity) / Pelt.SchedCapacityScale;
    }

    /// <summary><c>adjust_numa_imbalance</c> (v6.6): allow a small imbalance while the destination runs few tasks.</summary>
    private static long AdjustNumaImbalance66(long imbalance, long dstRunning, int imbNumaNr)
    {
        if (dstRunning > imbNumaNr)
            return imbalance;
        return imbalance <= 2 ? 0 : imbalance; // NUMA_IMBALANCE_MIN
    }

    /// <summary><c>find_busiest_group</c> (v6.6). Null when balanced; otherwise env carries the imbalance and its type.</summary>
    internal SchedGroup? FindBusiestGroup66(ref LbEnv66 env)
    {
        var sds = default(SdLbStats66);
        UpdateSdLbStats66(ref env, ref sds);
        if (sds.Busiest is null)
            goto outBalanced;
        ref var busiest = ref sds.BusiestStat;
        ref var local = ref sds.LocalStat;
        if (busiest.GroupType == GroupType.Imbalanced)
            goto forceBalance;
        if (local.GroupType > busiest.GroupType)
            goto outBalanced;
        if (local.GroupType == GroupType.Overloaded)
        {
            if (local.AvgLoad >= busiest.AvgLoad)
                goto outBalanced;
            sds.AvgLoad = sds.TotalLoad * Pelt.SchedCapacityScale / sds.TotalCapacity;
            if (local.AvgLoad >= sds.AvgLoad)
                goto outBalanced;
            if (100 * busiest.AvgLoad <= env.Sd.ImbalancePct * local.AvgLoad)
                goto outBalanced;
        }
        if (sds.PreferSibling && local.GroupType == GroupType.HasSpare && SiblingImbalance(env, sds) > 1)
            goto forceBalance;
        if (busiest.GroupType != GroupType.Overloaded)
        {
            if (env.Idle == CpuIdleType.NotIdle)
                goto outBalanced; // let an idle CPU pull
            if (busiest.GroupWeight > 1 && local.IdleCpus <= busiest.IdleCpus + 1)
                goto outBalanced;
            if (busiest.SumHNrRunning == 1)
                goto outBalanced;
        }
    forceBalance:
        CalculateImbalance66(ref env, ref sds);
        return env.Imbalance != 0 ? sds.Busiest : null;
    outBalanced:
        env.Imbalance = 0;
        return null;
    }

    /// <summary><c>find_busiest_queue</c> (v6.6): by the migration type — highest load per capacity, highest util with 2+ tasks, or most tasks.</summary>
    internal RunQueue? FindBusiestQueue66(ref LbEnv66 env, SchedGroup group)
    {
        RunQueue? busiest = null;
        long busiestLoad = 0, busiestCapacity = 1, busiestUtil = 0, busiestNr = 0;
        ref readonly var groupCpus = ref group.Cpus;
        for (int i = groupCpus.First; i >= 0; i = groupCpus.Next(i + 1))
        {
            if (!env.Cpus.Contains(i))
                continue;
            var rq = Rqs[i];
            long nrRunning = HNrRunnable(rq.Cfs); // 6.14+: h_nr_runnable (decision 0083)
            if (nrRunning == 0)
                continue;
            long capacity = CpuPower(i);
            switch (env.MigrationType)
            {
                case MigrationType.Load:
                    long load = CpuLoadPelt(i);
                    // A single task heavier than the imbalance stays (check_cpu_capacity: full capacity here).
                    if (nrRunning == 1 && load > env.Imbalance)
                        break;
                    if (load * busiestCapacity > busiestLoad * capacity)
                    {
                        busiestLoad = load;
                        busiestCapacity = capacity;
                        busiest = rq;
                    }
                    break;
                case MigrationType.Util:
                    long util = CpuUtilCfs(i);
                    if (nrRunning <= 1)
                        continue;
                    if (busiestUtil < util)
                    {
                        busiestUtil = util;
                        busiest = rq;
                    }
                    break;
                case MigrationType.Task:
                    if (busiestNr < nrRunning)
                    {
                        busiestNr = nrRunning;
                        busiest = rq;
                    }
                    break;
            }
        }
        return busiest;
    }

    // ---------------------------------------------------------------- moving tasks

    /// <summary>
    /// <c>task_h_load</c> (4.19 and 6.x): the task's load_avg scaled by its queue's share of the
    /// root's load, with the queue's h_load as <c>update_cfs_rq_h_load</c> last set it — at most
    /// once a jiffy (decisions 0102, 0103) — over the queue's load_avg of now.
    /// </summary>
    public long TaskHLoad(HostTask p)
    {
        var cfsRq = p.Se.CfsRq;
        UpdateCfsRqPeltHLoad(cfsRq);
        return p.Se.Avg.LoadAvg * cfsRq.PeltHLoad / (cfsRq.Avg.LoadAvg + 1);
    }

    /// <summary>
    /// <c>update_cfs_rq_h_load</c> (v4.19; the same at v6.6 and 6.18.2): at most once a jiffy per
    /// queue. Walk up from the queue's group entity, noting the way down, until a queue already
    /// updated this jiffy (or past the root, whose h_load is its load_avg); then down again, each
    /// queue's h_load = its parent's × the group entity's load_avg / (the parent's load_avg + 1). A
    /// queue updated earlier in the jiffy keeps its h_load although the loads have moved since.
    /// </summary>
    private void UpdateCfsRqPeltHLoad(CfsRq cfsRq)
    {
        long now = Jiffies;
        if (cfsRq.LastHLoadUpdate == now)
            return;
        cfsRq.HLoadNext = null;
        var q = cfsRq;
        SchedEntity? se = q.Tg.IsRoot ? null : q.Tg.Se[q.Rq.Cpu];
        for (; se is not null; se = se.Parent)
        {
            q = se.CfsRq;
            q.HLoadNext = se;
            if (q.LastHLoadUpdate == now)
                break;
        }
        if (se is null)
        {
            q.PeltHLoad = q.Avg.LoadAvg;
            q.LastHLoadUpdate = now;
        }
        while ((se = q.HLoadNext) is not null)
        {
            long load = q.PeltHLoad * se.Avg.LoadAvg / (q.Avg.LoadAvg + 1);
            q = se.MyQ!;
            q.PeltHLoad = load;
            q.LastHLoadUpdate = now;
        }
    }

    /// <summary>
    /// <c>task_hot</c> (v6.6): never across SMT siblings (they share caches); the next buddy (with a
    /// busy destination) is hot; otherwise a task that ran within sched_migration_cost.
    /// </summary>
    private bool TaskHot66(HostTask p, in LbEnv66 env)
    {
        if (env.Sd.Has(SdFlags.ShareCpupower))
            return false;
        if (_features.CacheHotBuddy && Rqs[env.DstCpu].NrRunning != 0 && p.Se == p.Se.CfsRq.Next)
            return true;
        return RanWithinMigrationCost(p, _sim.Now.Ns);
    }

    /// <summary><c>can_migrate_task</c> (v6.6, without the LBF_DST_PINNED retry on another destination CPU).</summary>
    internal bool CanMigrateTask66(HostTask p, ref LbEnv66 env)
    {
        // 6.14+ can_migrate_task: "delayed dequeued unless we migrate load" (decision 0083); 6.12 moves them.
        if (p.Se.SchedDelayed && _features.Class >= FairClass.Eevdf614 && env.MigrationType != MigrationType.Load)
            return false;
        if (!CanMigrateTaskAffinity(p, env.DstCpu, ref env.Flags))
            return false;
        if ((env.Flags & LbfActiveLb) != 0)
            return true;
        return !TaskHot66(p, env) || env.Sd.NrBalanceFailed > env.Sd.CacheNiceTries;
    }

    /// <summary>
    /// <c>detach_tasks</c> + <c>attach_tasks</c> (v6.6): from the tail of the busiest CPU's
    /// cfs_tasks (least recently picked first), move tasks until the imbalance — load (task_h_load,
    /// relaxed by nr_balance_failed), util, or a task count — is used up. A preemptible kernel's
    /// new-idle pass stops after one task (CONFIG_PREEMPTION, as PREEMPT_DYNAMIC distribution
    /// kernels have it). Returns the number moved.
    /// </summary>
    private int DetachTasks66(ref LbEnv66 env, RunQueue src)
    {
        var tasks = src.CfsTasks;
        var dst = Rqs[env.DstCpu];
        int detached = 0;
        if (src.NrRunning <= 1)
        {
            env.Flags &= ~LbfAllPinned;
            return 0;
        }
        if (env.Imbalance <= 0)
            return 0;
        var cause = BalanceMigrationCause(env.Idle);
        while (tasks.Count != 0)
        {
            if (env.Idle != CpuIdleType.NotIdle && src.NrRunning <= 1)
                break;
            env.Loop++;
            if (env.Loop > env.LoopMax && (env.Flags & LbfAllPinned) == 0)
                break;
            if (env.Loop > env.LoopBreak)
            {
                env.LoopBreak += SchedNrMigrateBreak;
                env.Flags |= LbfNeedBreak;
                break;
            }
            var p = tasks[^1];
            if (!CanMigrateTask66(p, ref env))
                goto next;
            switch (env.MigrationType)
            {
                case MigrationType.Load:
                    long load = Math.Max(TaskHLoad(p), 1);
                    if ((load >> Math.Min(env.Sd.NrBalanceFailed, 63)) > env.Imbalance)
                        goto next;
                    env.Imbalance -= load;
                    break;
                case MigrationType.Util:
                    long util = p.Se.Avg.UtilAvg; // task_util_est without UTIL_EST
                    if (util > env.Imbalance)
                        goto next;
                    env.Imbalance -= util;
                    break;
                default:
                    env.Imbalance--;
                    break;
            }
            PullTask(src, p, dst, env.BalancingCpu, cause);
            detached++;
            Lb66TasksMovedByType[(int)env.MigrationType]++;
            if (env.Idle == CpuIdleType.NewlyIdle)
                break;
            if (env.Imbalance <= 0)
                break;
            continue;
        next:
            // list_move to the head: the walk goes on with the next least recently run task.
            tasks.RemoveAt(tasks.Count - 1);
            tasks.Insert(0, p);
        }
        return detached;
    }

    /// <summary><c>need_active_balance</c> (v6.6, symmetric capacities): a task-count imbalance that failed cache_nice_tries + 2 times.</summary>
    private static bool NeedActiveBalance66(in LbEnv66 env) =>
        env.MigrationType == MigrationType.Task && env.Sd.NrBalanceFailed > env.Sd.CacheNiceTries + 2;

    /// <summary>
    /// <c>should_we_balance</c> (v6.6): a new-idle pass balances if nothing arrived; otherwise the
    /// first idle CPU of the local group on an idle core, else the first idle SMT CPU of a busy
    /// core, else the group's first CPU.
    /// </summary>
    private bool ShouldWeBalance66(in LbEnv66 env)
    {
        if (env.Idle == CpuIdleType.NewlyIdle)
            return Rqs[env.DstCpu].NrRunning == 0;
        var local = env.Sd.Groups[0];
        ref readonly var cpus = ref local.Cpus;
        int idleSmt = -1;
        for (int i = cpus.First; i >= 0; i = cpus.Next(i + 1))
        {
            if (!env.Cpus.Contains(i) || !IdleCpu(i))
                continue;
            // Above the SMT level, an idle CPU of a busy core only if no whole core is idle.
            if (!env.Sd.Has(SdFlags.ShareCpupower) && !IsCoreIdle(i))
            {
                if (idleSmt == -1)
                    idleSmt = i;
                continue;
            }
            return i == env.DstCpu;
        }
        if (idleSmt != -1)
            return idleSmt == env.DstCpu;
        return local.FirstCpu == env.DstCpu;
    }

    /// <summary><c>load_balance</c> (v6.6) of <paramref name="thisCpu"/> at <paramref name="sd"/>, run on <paramref name="balancingCpu"/>.</summary>
    private bool LoadBalance66(int thisCpu, SchedDomain sd, CpuIdleType idle, out bool continueBalancing, int balancingCpu)
    {
        var thisRq = Rqs[thisCpu];
        var env = new LbEnv66
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
        if (!ShouldWeBalance66(env))
        {
            continueBalancing = false;
            goto outBalanced;
        }
        var group = FindBusiestGroup66(ref env);
        if (group is null)
            goto outBalanced;
        var busiest = FindBusiestQueue66(ref env, group);
        if (busiest is null)
            goto outBalanced;
        if (busiest == thisRq)
            throw new InvalidOperationException("find_busiest_queue returned this CPU");
        Lb66ImbalanceByType[(int)env.MigrationType]++;
        env.SrcCpu = busiest.Cpu;
        ldMoved = 0;
        env.Flags |= LbfAllPinned;
        if (busiest.NrRunning > 1)
        {
            env.LoopMax = Math.Min(_tunables.NrMigrate, busiest.NrRunning);
        moreBalance:
            int moved = DetachTasks66(ref env, busiest);
            ldMoved += moved;
            if (moved > 0 && thisCpu != balancingCpu)
                ReschedCpu(thisCpu, balancingCpu);
            if ((env.Flags & LbfNeedBreak) != 0)
            {
                env.Flags &= ~LbfNeedBreak;
                if (env.Loop < busiest.NrRunning)
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
            if (NeedActiveBalance66(env))
            {
                if (!busiest.Curr.AllowedOn(thisCpu) || busiest.Curr.IsIdle)
                    goto outOnePinned;
                env.Flags &= ~LbfAllPinned;
                activeBalance = KickActiveBalance(busiest, thisCpu, balancingCpu);
            }
        }
        else
        {
            sd.NrBalanceFailed = 0;
        }
        if (!activeBalance || NeedActiveBalance66(env))
            sd.BalanceInterval = sd.MinInterval;
        return ldMoved > 0;

    outBalanced:
        if (sdParent is not null && (env.Flags & LbfAllPinned) == 0)
            sdParent.Groups[0].Imbalance = false;
    outAllPinned:
        sd.LbBalanced++;
        sd.NrBalanceFailed = 0;
    outOnePinned:
        if (idle == CpuIdleType.NewlyIdle)
            return false;
        BackOffBalanceInterval(sd, (env.Flags & LbfAllPinned) != 0);
        return false;
    }

    /// <summary><c>rd-&gt;overload</c>: some CPU has more than one runnable task.</summary>
    private bool RootDomainOverloaded()
    {
        foreach (var rq in Rqs)
        {
            if (rq.NrRunning > 1)
                return true;
        }
        return false;
    }

    /// <summary><c>is_core_idle</c>: every SMT sibling of <paramref name="cpu"/> is idle.</summary>
    private bool IsCoreIdle(int cpu)
    {
        var doms = Rqs[cpu].Domains;
        if (doms.Length == 0 || !doms[0].Has(SdFlags.ShareCpupower))
            return true;
        ref readonly var smt = ref doms[0].SpanRef;
        for (int i = smt.First; i >= 0; i = smt.Next(i + 1))
        {
            if (i != cpu && !IdleCpu(i))
                return false;
        }
        return true;
    }

    /// <summary><c>cpumask_subset(cpus, dst_grpmask)</c>: only the local group's CPUs are left.</summary>
    private static bool LocalGroupCovers(SchedDomain sd, in CpuMask cpus)
    {
        var rest = cpus;
        var local = sd.Groups[0].Cpus;
        for (int i = rest.First; i >= 0; i = rest.Next(i + 1))
        {
            if (!local.Contains(i))
                return false;
        }
        return true;
    }

    /// <summary><c>detach_one_task</c> for <c>active_load_balance_cpu_stop</c> (v6.6): the least recently run movable task, hotness ignored (LBF_ACTIVE_LB).</summary>
    private bool DetachOneTask66(RunQueue target, RunQueue busiest, SchedDomain sd, int balancingCpu)
    {
        var env = new LbEnv66 { Sd = sd, DstCpu = target.Cpu, SrcCpu = busiest.Cpu, BalancingCpu = balancingCpu, Idle = CpuIdleType.Idle, Flags = LbfActiveLb, Cpus = sd.Span };
        var tasks = busiest.CfsTasks;
        for (int i = tasks.Count - 1; i >= 0; i--)
        {
            var p = tasks[i];
            if (!CanMigrateTask66(p, ref env))
                continue;
            PullTask(busiest, p, target, balancingCpu, MigrationCause.ActiveBalance);
            if (target.Cpu != balancingCpu)
                ReschedCpu(target.Cpu, balancingCpu);
            return true;
        }
        return false;
    }
}

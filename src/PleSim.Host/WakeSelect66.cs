namespace PleSim.Host;

/// <summary>
/// Wake-up CPU selection of Linux 6.x (kernel/sched/fair.c at v6.6; decision 0056) for the EEVDF
/// hosts with the 6.6 balancer: <c>select_task_rq_fair</c>'s wake path — <c>record_wakee</c> /
/// <c>wake_wide</c>, <c>wake_affine</c> (<c>wake_affine_idle</c>, <c>wake_affine_weight</c> on PELT
/// loads), <c>select_idle_sibling</c> with <c>recent_used_cpu</c>, <c>select_idle_smt</c>,
/// <c>select_idle_cpu</c>/<c>select_idle_core</c> and SIS_UTIL's scan depth
/// (<c>update_idle_cpu_scan</c>), and the LLC's <c>has_idle_cores</c> hint; and the fork slow path
/// (<c>find_idlest_cpu</c>, <c>find_idlest_group</c> with <c>update_sg_wakeup_stats</c> and
/// <c>update_pick_idlest</c>, <c>find_idlest_group_cpu</c>).
/// </summary>
public sealed partial class HostScheduler
{
    // sd_llc_shared, indexed by the first CPU of the LLC domain's span.
    private readonly bool[] _llcHasIdleCores = [];
    private readonly int[] _llcNrIdleScan = [];

    /// <summary><c>sd_llc</c>: the highest domain of <paramref name="cpu"/> sharing the last-level cache, or null.</summary>
    private SchedDomain? SdLlc(int cpu)
    {
        SchedDomain? llc = null;
        foreach (var sd in Rqs[cpu].Domains)
        {
            if (!sd.Has(SdFlags.SharePkgResources))
                break;
            llc = sd;
        }
        return llc;
    }

    private int LlcId(int cpu) => SdLlc(cpu) is { } sd ? sd.SpanRef.First : cpu;

    /// <summary><c>cpus_share_cache</c>.</summary>
    private bool CpusShareCache(int a, int b) => a == b || LlcId(a) == LlcId(b);

    /// <summary><c>cpu_smt_mask</c>: the SMT siblings of <paramref name="cpu"/> (itself alone without SMT).</summary>
    private CpuMask SmtMask(int cpu)
    {
        var doms = Rqs[cpu].Domains;
        return doms.Length > 0 && doms[0].Has(SdFlags.ShareCpupower) ? doms[0].Span : CpuMask.Of(cpu);
    }

    private bool SmtActive => Topology.ThreadsPerCore > 1;

    /// <summary><c>record_wakee</c>: the waker's flips (different wakees in a row), halved once a second.</summary>
    private void RecordWakee(HostTask waker, HostTask p)
    {
        if (Jiffies - (waker.WakeeFlipDecayTs + _tunables.Hz) > 0)
        {
            waker.WakeeFlips >>= 1;
            waker.WakeeFlipDecayTs = Jiffies;
        }
        if (waker.LastWakee != p)
        {
            waker.LastWakee = p;
            waker.WakeeFlips++;
        }
    }

    /// <summary><c>wake_wide</c>: a waker and wakee that both flip among more partners than the LLC has CPUs are spread, not pulled together.</summary>
    private bool WakeWide(HostTask waker, HostTask p, int thisCpu)
    {
        long master = waker.WakeeFlips, slave = p.WakeeFlips;
        long factor = SdLlc(thisCpu)?.SpanWeight ?? 1;
        if (master < slave)
            (master, slave) = (slave, master);
        return slave >= factor && master >= slave * factor;
    }

    /// <summary>
    /// <c>wake_affine_idle</c> (4.19 and 6.6): -1 when it has no opinion. <paramref name="idlePrev"/>:
    /// the last test, an idle previous CPU keeps the wakee (5.x+; 4.19 has no such test).
    /// </summary>
    private int WakeAffineIdle(int thisCpu, int prevCpu, bool sync, bool idlePrev)
    {
        if (IdleCpu(thisCpu) && CpusShareCache(thisCpu, prevCpu))
            return IdleCpu(prevCpu) ? prevCpu : thisCpu;
        if (sync && Rqs[thisCpu].NrRunning == 1)
            return thisCpu;
        if (idlePrev && IdleCpu(prevCpu))
            return prevCpu;
        return -1;
    }

    /// <summary>
    /// <c>wake_affine_weight</c> (WA_BIAS on; 4.19 and 6.6): this CPU if its load with the wakee
    /// stays below the previous CPU's without it, biased by half of imbalance_pct. The loads are the
    /// version's: <paramref name="thisLoad"/>/<paramref name="prevLoad"/> are 6.6's cpu_load, 4.19's
    /// target_load/source_load at the domain's wake_idx.
    /// </summary>
    private int WakeAffineWeight(SchedDomain sd, HostTask p, int thisCpu, int prevCpu, bool sync, long thisLoad, long prevLoad)
    {
        long thisEffLoad = thisLoad;
        if (sync)
        {
            var current = Rqs[thisCpu].Curr;
            long currentLoad = current.IsIdle ? 0 : TaskHLoad(current);
            if (currentLoad > thisEffLoad)
                return thisCpu;
            thisEffLoad -= currentLoad;
        }
        long taskLoad = TaskHLoad(p);
        thisEffLoad += taskLoad;
        thisEffLoad *= 100;
        thisEffLoad *= CpuPower(prevCpu);
        long prevEffLoad = prevLoad;
        prevEffLoad -= taskLoad;
        prevEffLoad *= 100 + ((sd.ImbalancePct - 100) / 2);
        prevEffLoad *= CpuPower(thisCpu);
        if (sync)
            prevEffLoad += 1;
        return thisEffLoad < prevEffLoad ? thisCpu : -1;
    }

    /// <summary><c>wake_affine</c> (WA_IDLE, WA_WEIGHT on): this CPU or the previous one.</summary>
    private int WakeAffine66(SchedDomain sd, HostTask p, int thisCpu, int prevCpu, bool sync)
    {
        int target = WakeAffineIdle(thisCpu, prevCpu, sync, idlePrev: true);
        if (target == -1)
            target = WakeAffineWeight(sd, p, thisCpu, prevCpu, sync, CpuLoadPelt(thisCpu), CpuLoadPelt(prevCpu));
        return target != thisCpu ? prevCpu : target;
    }

    /// <summary><c>select_idle_smt</c>: an idle allowed SMT sibling of <paramref name="target"/>.</summary>
    private int SelectIdleSmt(HostTask p, int target)
    {
        var smt = SmtMask(target);
        for (int c = smt.First; c >= 0; c = smt.Next(c + 1))
        {
            if (c != target && p.AllowedOn(c) && IdleCpu(c))
                return c;
        }
        return -1;
    }

    /// <summary><c>select_idle_core</c>: <paramref name="core"/> if all its siblings are idle; remembers an idle allowed CPU; drops the core's siblings from the scan.</summary>
    private int SelectIdleCore(HostTask p, int core, ref CpuMask cpus, ref int idleCpu)
    {
        bool idle = true;
        var smt = SmtMask(core);
        for (int c = smt.First; c >= 0; c = smt.Next(c + 1))
        {
            if (!IdleCpu(c))
            {
                idle = false;
                if (idleCpu == -1)
                    continue;
                break;
            }
            if (idleCpu == -1 && p.AllowedOn(c))
                idleCpu = c;
        }
        if (idle)
            return core;
        for (int c = smt.First; c >= 0; c = smt.Next(c + 1))
            cpus.Clear(c);
        return -1;
    }

    /// <summary>
    /// <c>select_idle_cpu</c> (SIS_UTIL): scan the LLC from target + 1 (wrapping) for an idle core
    /// when one is known to exist, else for an idle CPU, at most nr_idle_scan CPUs; 0 means the LLC
    /// looked overloaded at the last balance and nothing is scanned.
    /// </summary>
    private int SelectIdleCpu(HostTask p, SchedDomain llc, bool hasIdleCore, int target)
    {
        int idleCpu = -1;
        var cpus = llc.Span & p.AffinityRef;
        int nr = _llcNrIdleScan[llc.SpanRef.First] + 1;
        if (nr == 1)
            return -1;
        int n = NrCpus;
        for (int k = 1; k <= n; k++)
        {
            int cpu = (target + k) % n;
            if (!cpus.Contains(cpu))
                continue;
            if (hasIdleCore)
            {
                int i = SelectIdleCore(p, cpu, ref cpus, ref idleCpu);
                if (i >= 0)
                    return i;
            }
            else
            {
                if (--nr == 0)
                    return -1;
                if (IdleCpu(cpu))
                {
                    idleCpu = cpu;
                    break;
                }
            }
        }
        if (hasIdleCore)
            _llcHasIdleCores[llc.SpanRef.First] = false;
        return idleCpu;
    }

    /// <summary><c>select_idle_sibling</c> (v6.6, symmetric capacities).</summary>
    private int SelectIdleSibling66(HostTask p, int prev, int target)
    {
        if (IdleCpu(target))
            return target;
        if (prev != target && CpusShareCache(prev, target) && IdleCpu(prev))
            return prev;
        int recentUsedCpu = p.RecentUsedCpu;
        p.RecentUsedCpu = prev;
        if (recentUsedCpu >= 0 && recentUsedCpu != prev && recentUsedCpu != target
            && CpusShareCache(recentUsedCpu, target) && IdleCpu(recentUsedCpu) && p.AllowedOn(recentUsedCpu))
        {
            return recentUsedCpu;
        }
        var llc = SdLlc(target);
        if (llc is null)
            return target;
        bool hasIdleCore = false;
        if (SmtActive)
        {
            hasIdleCore = _llcHasIdleCores[llc.SpanRef.First];
            if (!hasIdleCore && CpusShareCache(prev, target))
            {
                int s = SelectIdleSmt(p, prev);
                if (s >= 0)
                    return s;
            }
        }
        int i = SelectIdleCpu(p, llc, hasIdleCore, target);
        return i >= 0 ? i : target;
    }

    /// <summary><c>select_task_rq_fair</c> (v6.6) for a wake-up (the fast path: 6.x domains have no SD_BALANCE_WAKE).</summary>
    private int SelectTaskRqWake66(HostTask p, bool sync, int thisCpu)
    {
        int prevCpu = p.Cpu;
        int newCpu = prevCpu;
        bool wantAffine = RecordWakeeNotWide(p, thisCpu) && p.AllowedOn(thisCpu);
        foreach (var tmp in Rqs[thisCpu].Domains)
        {
            if (wantAffine && tmp.Has(SdFlags.WakeAffine) && tmp.SpanContains(prevCpu))
            {
                if (thisCpu != prevCpu)
                    newCpu = WakeAffine66(tmp, p, thisCpu, prevCpu, sync);
                break;
            }
            // SD_BALANCE_WAKE is not set on 6.x domains: a wake-up never takes the slow path.
            if (!wantAffine)
                break;
        }
        return SelectIdleSibling66(p, prevCpu, newCpu);
    }

    // ---------------------------------------------------------------- the slow path (fork)

    /// <summary>
    /// <c>update_sg_wakeup_stats</c> (v6.6) for a new task: it is attached nowhere yet, so
    /// <c>cpu_load_without</c>/<c>cpu_util_without</c>/<c>cpu_runnable_without</c> are the plain
    /// values; avg_load for fully busy and overloaded groups.
    /// </summary>
    private void UpdateSgWakeupStats(SchedDomain sd, SchedGroup group, ref SgLbStats66 sgs)
    {
        ref readonly var cpus = ref group.Cpus;
        for (int i = cpus.First; i >= 0; i = cpus.Next(i + 1))
            AddCpuStats(ref sgs, i);
        sgs.GroupCapacity = group.CpuPower;
        sgs.GroupWeight = group.GroupWeight;
        sgs.GroupType = GroupClassify(sd.ImbalancePct, group, sgs);
        if (sgs.GroupType is GroupType.FullyBusy or GroupType.Overloaded)
            sgs.AvgLoad = sgs.GroupLoad * Pelt.SchedCapacityScale / sgs.GroupCapacity;
    }

    /// <summary><c>update_pick_idlest</c> (v6.6): the less busy type; then lower avg_load, or more idle CPUs then lower util.</summary>
    internal static bool UpdatePickIdlest(in SgLbStats66 idlest, in SgLbStats66 sgs)
    {
        if (sgs.GroupType < idlest.GroupType)
            return true;
        if (sgs.GroupType > idlest.GroupType)
            return false;
        switch (sgs.GroupType)
        {
            case GroupType.Overloaded:
            case GroupType.FullyBusy:
                return idlest.AvgLoad > sgs.AvgLoad;
            case GroupType.HasSpare:
                if (idlest.IdleCpus > sgs.IdleCpus)
                    return false;
                return !(idlest.IdleCpus == sgs.IdleCpus && idlest.GroupUtil <= sgs.GroupUtil);
            default:
                return false; // imbalanced, smt_balance: not used on the slow path
        }
    }

    /// <summary><c>find_idlest_group</c> (v6.6): the idlest allowed remote group, if it beats the local one.</summary>
    private SchedGroup? FindIdlestGroup66(SchedDomain sd, HostTask p, int thisCpu)
    {
        SchedGroup? idlest = null, local = null;
        var idlestSgs = new SgLbStats66 { AvgLoad = uint.MaxValue, GroupType = GroupType.Overloaded };
        var localSgs = default(SgLbStats66);
        foreach (var group in sd.Groups)
        {
            if (!group.Cpus.Intersects(p.AffinityRef))
                continue;
            var sgs = default(SgLbStats66);
            UpdateSgWakeupStats(sd, group, ref sgs);
            if (group.Contains(thisCpu))
            {
                local = group;
                localSgs = sgs;
            }
            else if (UpdatePickIdlest(idlestSgs, sgs))
            {
                idlest = group;
                idlestSgs = sgs;
            }
        }
        if (idlest is null)
            return null;
        if (local is null)
            return idlest;
        if (localSgs.GroupType < idlestSgs.GroupType)
            return null;
        if (localSgs.GroupType > idlestSgs.GroupType)
            return idlest;
        switch (localSgs.GroupType)
        {
            case GroupType.Overloaded:
            case GroupType.FullyBusy:
                long imbalance = Weights.Nice0Load * (sd.ImbalancePct - 100) / 100;
                if (sd.Has(SdFlags.Numa) && idlestSgs.AvgLoad + imbalance >= localSgs.AvgLoad)
                    return null;
                if (idlestSgs.AvgLoad >= localSgs.AvgLoad + imbalance)
                    return null;
                if (100 * localSgs.AvgLoad <= sd.ImbalancePct * idlestSgs.AvgLoad)
                    return null;
                break;
            case GroupType.HasSpare:
                if (sd.Has(SdFlags.Numa))
                {
                    // Keep a task near its parent while the destination stays under imb_numa_nr
                    // (no NUMA balancing preferred node is modelled).
                    var allowedLocal = local.Cpus & p.AffinityRef;
                    int imbNumaNr = p.AffinityRef.Count < NrCpus ? Math.Min(allowedLocal.Count, sd.ImbNumaNr) : sd.ImbNumaNr;
                    long imb = Math.Abs(localSgs.IdleCpus - idlestSgs.IdleCpus);
                    if (AdjustNumaImbalance66(imb, localSgs.SumNrRunning + 1, imbNumaNr) == 0)
                        return null;
                }
                if (localSgs.IdleCpus >= idlestSgs.IdleCpus)
                    return null;
                break;
            default:
                return null;
        }
        return idlest;
    }

    /// <summary>
    /// <c>find_idlest_group_cpu</c> (v6.6, and v4.19 with <paramref name="v419"/>; no cpuidle
    /// states): the most recently idled allowed CPU, else the least loaded one — by cpu_load (6.6)
    /// or weighted_cpuload, the runnable_load_avg (4.19). A CPU idle since before the run counts as
    /// idled at boot (idle stamp 1, the oldest).
    /// </summary>
    private int FindIdlestGroupCpu(SchedGroup group, HostTask p, int thisCpu, bool v419 = false)
    {
        if (group.GroupWeight == 1)
            return group.FirstCpu;
        long minLoad = long.MaxValue, latestIdle = 0;
        int leastLoaded = thisCpu, shallowestIdle = -1;
        ref readonly var cpus = ref group.Cpus;
        for (int i = cpus.First; i >= 0; i = cpus.Next(i + 1))
        {
            if (!p.AllowedOn(i))
                continue;
            var rq = Rqs[i];
            if (IdleCpu(i) && rq.NrRunning == 0)
            {
                long stamp = rq.IdleStamp != 0 ? rq.IdleStamp : 1;
                if (stamp > latestIdle)
                {
                    latestIdle = stamp;
                    shallowestIdle = i;
                }
            }
            else if (shallowestIdle == -1)
            {
                long load = v419 ? WeightedCpuload419(i) : CpuLoadPelt(i);
                if (load < minLoad)
                {
                    minLoad = load;
                    leastLoaded = i;
                }
            }
        }
        return shallowestIdle != -1 ? shallowestIdle : leastLoaded;
    }

    /// <summary><c>find_idlest_cpu</c> (v6.6): down the SD_BALANCE_FORK domains, idlest group then its idlest CPU.</summary>
    private int FindIdlestCpu66(SchedDomain? sd, HostTask p, int cpu, int prevCpu)
    {
        if (sd is null)
            return prevCpu;
        if (!sd.Span.Intersects(p.AffinityRef))
            return prevCpu;
        int newCpu = cpu;
        while (sd is not null)
        {
            if (!sd.Has(SdFlags.BalanceFork))
            {
                sd = sd.Child;
                continue;
            }
            var group = FindIdlestGroup66(sd, p, cpu);
            if (group is null)
            {
                sd = sd.Child;
                continue;
            }
            newCpu = FindIdlestGroupCpu(group, p, cpu);
            if (newCpu == cpu)
            {
                sd = sd.Child;
                continue;
            }
            cpu = newCpu;
            sd = HighestDomainBelow(cpu, sd.SpanWeight, SdFlags.BalanceFork);
        }
        return newCpu;
    }

    /// <summary><c>select_task_rq_fair</c> (v6.6) for a fork: the highest SD_BALANCE_FORK domain from the bottom, then the slow path.</summary>
    private int SelectTaskRqFork66(HostTask p, int thisCpu)
    {
        SchedDomain? sd = null;
        foreach (var tmp in Rqs[thisCpu].Domains)
        {
            if (tmp.Has(SdFlags.BalanceFork))
                sd = tmp;
            else
                break;
        }
        return sd is null ? p.Cpu : FindIdlestCpu66(sd, p, thisCpu, p.Cpu);
    }

    /// <summary><c>update_idle_core</c> / <c>__update_idle_core</c>: a CPU going idle on a now fully idle core sets its LLC's has_idle_cores.</summary>
    private void UpdateIdleCore(int cpu)
    {
        if (!SmtActive)
            return;
        var smt = SmtMask(cpu);
        for (int c = smt.First; c >= 0; c = smt.Next(c + 1))
        {
            if (c != cpu && !IdleCpu(c))
                return;
        }
        _llcHasIdleCores[LlcId(cpu)] = true;
    }

    /// <summary>
    /// <c>update_idle_cpu_scan</c> (SIS_UTIL): at the LLC level of a periodic balance, the number of
    /// CPUs a wake-up may scan falls with the LLC's summed utilisation x (per CPU) as
    /// 1024 − x²·pct²/(10000·1024), reaching 0 at 100/imbalance_pct.
    /// </summary>
    private void UpdateIdleCpuScan(in LbEnv66 env, long sumUtil)
    {
        if (!_wake66 || env.Idle == CpuIdleType.NewlyIdle)
            return;
        var llc = SdLlc(env.DstCpu);
        if (llc is null || env.Sd.SpanWeight != llc.SpanWeight)
            return;
        _llcNrIdleScan[llc.SpanRef.First] = SisUtilNrIdleScan(sumUtil, llc.SpanWeight, env.Sd.ImbalancePct);
    }

    /// <summary>The SIS_UTIL formula of <c>update_idle_cpu_scan</c>: how many of the LLC's CPUs a wake-up scans.</summary>
    public static int SisUtilNrIdleScan(long sumUtil, long llcWeight, long imbalancePct)
    {
        long x = sumUtil / llcWeight;
        long tmp = x * x * imbalancePct * imbalancePct / (10000 * Pelt.SchedCapacityScale);
        tmp = Math.Min(tmp, Pelt.SchedCapacityScale);
        long y = Pelt.SchedCapacityScale - tmp;
        y *= llcWeight;
        y /= Pelt.SchedCapacityScale;
        return (int)y;
    }

    /// <summary>Test hook: the LLC's SIS_UTIL scan depth and idle-core hint of <paramref name="cpu"/>.</summary>
    internal (int NrIdleScan, bool HasIdleCores) LlcSharedForTest(int cpu) => (_llcNrIdleScan[LlcId(cpu)], _llcHasIdleCores[LlcId(cpu)]);

    /// <summary>Test hook: sets the LLC's SIS_UTIL scan depth of <paramref name="cpu"/> (the periodic balance would).</summary>
    internal void SetNrIdleScanForTest(int cpu, int nr) => _llcNrIdleScan[LlcId(cpu)] = nr;

    /// <summary>Test hook: 6.6's <c>select_idle_sibling</c>.</summary>
    internal int SelectIdleSibling66ForTest(HostTask p, int prev, int target) => SelectIdleSibling66(p, prev, target);
}

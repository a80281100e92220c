namespace PleSim.Host;

/// <summary>
/// Wake-up CPU selection of Linux 6.x (kernel/sched/fair.c at v6.6; decision 0056) for the EEVDF
/// hosts with the 6.6 balancer: <c>select_task_rq_fair</c>'s wake path — <c>record_wakee</c> /
/// <c>wake_wide</c>, <c>wake_affine</c> (<c>wake_affine_idle</c>, <c>wake_affine_weight</c> on PELT
/// loads), <c>select_idle_sibling</c> with <c>recent_used_cpu</c>, <c>select_idle_smt</c>,
/// <c>select_idle_cpu</c>/<c>select_idle_core</c> and SIS_UTIL's scan depth
/// (<c>update_idle_cpu_scan</c>), and the LLC's <c>has_idle_cores</c> hint. Fork and exec still
/// take 2.6.39's <c>find_idlest_group</c>/<c>find_idlest_cpu</c> slow path.
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

    /// <summary><c>wake_affine_idle</c>: -1 when it has no opinion.</summary>
    private int WakeAffineIdle(int thisCpu, int prevCpu, bool sync)
    {
        if (IdleCpu(thisCpu) && CpusShareCache(thisCpu, prevCpu))
            return IdleCpu(prevCpu) ? prevCpu : thisCpu;
        if (sync && Rqs[thisCpu].NrRunning == 1)
            return thisCpu;
        if (IdleCpu(prevCpu))
            return prevCpu;
        return -1;
    }

    /// <summary><c>wake_affine_weight</c> (WA_BIAS on): this CPU if its load with the wakee stays below the previous CPU's without it, biased by half of imbalance_pct.</summary>
    private int WakeAffineWeight(SchedDomain sd, HostTask p, int thisCpu, int prevCpu, bool sync)
    {
        long thisEffLoad = CpuLoadPelt(thisCpu);
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
        long prevEffLoad = CpuLoadPelt(prevCpu);
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
        int target = WakeAffineIdle(thisCpu, prevCpu, sync);
        if (target == -1)
            target = WakeAffineWeight(sd, p, thisCpu, prevCpu, sync);
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

    /// <summary><c>select_task_rq_fair</c> (v6.6) for a wake-up; fork keeps 2.6.39's slow path.</summary>
    private int SelectTaskRqWake66(HostTask p, bool sync, int thisCpu)
    {
        int prevCpu = p.Cpu;
        int newCpu = prevCpu;
        var waker = Rqs[thisCpu].Curr;
        bool wantAffine = false;
        if (!waker.IsIdle)
        {
            RecordWakee(waker, p);
            wantAffine = !WakeWide(waker, p, thisCpu) && p.AllowedOn(thisCpu);
        }
        else
        {
            // Woken from an interrupt on an idle CPU: "current" is the idle task, whose flips stay 0.
            wantAffine = p.AllowedOn(thisCpu);
        }
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
}

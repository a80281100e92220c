namespace PleSim.Host;

/// <summary>
/// The idle-CPU search and fork slow path of Linux 4.19 (kernel/sched/fair.c at v4.19; decision
/// 0064), for cfs-4.19 with <c>host.idle_search: "4.19"</c>: <c>select_task_rq_fair</c>'s domain
/// walk, then on a wake-up <c>select_idle_sibling</c> — the target and previous-CPU idle tests,
/// <c>recent_used_cpu</c>, <c>select_idle_core</c> (behind the LLC's has_idle_cores hint),
/// <c>select_idle_cpu</c> with SIS_PROP's scan depth from <c>avg_idle</c> and <c>avg_scan_cost</c>
/// (SIS_AVG_CPU off), <c>select_idle_smt</c> — and on a fork <c>find_idlest_cpu</c> with 4.19's
/// <c>find_idlest_group</c> (runnable and blocked load) and <c>find_idlest_group_cpu</c>.
/// The LLC helpers (sd_llc, cpus_share_cache, cpu_smt_mask, has_idle_cores, select_idle_smt) are
/// shared with 6.6 (WakeSelect66.cs), where the two kernels agree.
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary>
    /// What <c>select_idle_cpu</c>'s scan costs per CPU it inspects, ns. The kernel measures the
    /// scan with local_clock() and feeds the wall time into sd-&gt;avg_scan_cost; PleSim charges no
    /// CPU time for scheduler code, so the model takes this constant per CPU visited. Assumption:
    /// one LLC-remote cache-line read of the CPU's run queue (curr, nr_running, wake_list) per
    /// CPU, of the order of 50 ns on the Xeons of the 4.19 era.
    /// </summary>
    public const long SisScanCostPerCpuNs = 50;

    /// <summary>
    /// v4.19 <c>select_task_rq</c> (core.c) and <c>select_task_rq_fair</c>: a task allowed on one
    /// CPU goes there without asking the class; otherwise the class's choice (the caller falls back
    /// when it is not allowed).
    /// </summary>
    private int SelectTaskRqFair419(HostTask p, SdFlags sdFlag, bool sync, int thisCpu)
    {
        ref readonly var allowed = ref p.AffinityRef;
        if (allowed.Count == 1)
            return allowed.First; // p->nr_cpus_allowed == 1: cpumask_any(&p->cpus_allowed)
        int cpu = thisCpu;
        int prevCpu = p.Cpu;
        int newCpu = prevCpu;
        bool wantAffine = false;
        bool wake = (sdFlag & SdFlags.BalanceWake) != 0;
        if (wake)
        {
            // record_wakee, then !wake_wide (wake_cap is 0 on symmetric CPUs) and this CPU allowed.
            wantAffine = RecordWakeeNotWide(p, thisCpu) && p.AllowedOn(cpu) && _features.AffineWakeups;
        }
        SchedDomain? sd = null;
        foreach (var tmp in Rqs[cpu].Domains)
        {
            if (!tmp.Has(SdFlags.LoadBalance))
                break;
            if (wantAffine && tmp.Has(SdFlags.WakeAffine) && tmp.SpanContains(prevCpu))
            {
                if (cpu != prevCpu)
                    newCpu = WakeAffine419(tmp, p, cpu, prevCpu, sync);
                sd = null; // wake_affine wins over the balance flags
                break;
            }
            if ((tmp.Flags & sdFlag) != 0)
                sd = tmp;
            else if (!wantAffine)
                break;
        }
        if (sd is not null)
            return FindIdlestCpu419(sd, p, cpu, prevCpu, sdFlag); // slow path
        if (wake)
        {
            newCpu = SelectIdleSibling419(p, prevCpu, newCpu, cpu); // fast path
            if (wantAffine)
                Rqs[cpu].Curr.RecentUsedCpu = cpu; // current->recent_used_cpu
        }
        return newCpu;
    }

    /// <summary>v4.19 <c>select_idle_sibling</c>: an idle CPU sharing the target's last-level cache, else the target. <paramref name="thisCpu"/>: the waking CPU (this_rq()).</summary>
    private int SelectIdleSibling419(HostTask p, int prev, int target, int thisCpu)
    {
        if (IdleCpu(target))
            return target;
        if (prev != target && CpusShareCache(prev, target) && IdleCpu(prev))
            return prev;
        int recentUsedCpu = p.RecentUsedCpu;
        if (recentUsedCpu >= 0 && recentUsedCpu != prev && recentUsedCpu != target
            && CpusShareCache(recentUsedCpu, target) && IdleCpu(recentUsedCpu) && p.AllowedOn(recentUsedCpu))
        {
            p.RecentUsedCpu = prev; // prev is a candidate for the next wake-up
            return recentUsedCpu;
        }
        var llc = SdLlc(target);
        if (llc is null)
            return target;
        int i = SelectIdleCore419(p, llc, target);
        if (i >= 0)
            return i;
        i = SelectIdleCpu419(p, llc, target, thisCpu);
        if (i >= 0)
            return i;
        if (SmtActive)
        {
            // select_idle_smt(target): target itself is busy (tested above), so a sibling or nothing.
            i = SelectIdleSmt(p, target);
            if (i >= 0)
                return i;
        }
        return target;
    }

    /// <summary>
    /// v4.19 <c>select_idle_core</c>: while the LLC's has_idle_cores hint is set, the first allowed
    /// CPU (from the target, wrapping) whose whole core is idle; a fruitless scan clears the hint.
    /// </summary>
    private int SelectIdleCore419(HostTask p, SchedDomain llc, int target)
    {
        if (!SmtActive)
            return -1; // sched_smt_present
        int llcId = LlcId(target);
        if (!_llcHasIdleCores[llcId])
            return -1;
        var cpus = llc.Span & p.AffinityRef;
        int n = NrCpus;
        for (int k = 0; k < n; k++)
        {
            int core = (target + k) % n;
            if (!cpus.Contains(core))
                continue;
            bool idle = true;
            var smt = SmtMask(core);
            for (int c = smt.First; c >= 0; c = smt.Next(c + 1))
            {
                cpus.Clear(c);
                if (!IdleCpu(c))
                    idle = false;
            }
            if (idle)
                return core;
        }
        _llcHasIdleCores[llcId] = false;
        return -1;
    }

    /// <summary>
    /// v4.19 <c>select_idle_cpu</c> with SIS_PROP (SIS_AVG_CPU is off in 4.19's features.h): scan
    /// the LLC from the target (wrapping) for an idle allowed CPU, at most nr CPUs, where nr is the
    /// LLC's weight × (this CPU's avg_idle / 512) / (this CPU's LLC avg_scan_cost + 1), at least 4.
    /// A completed scan (found or not) feeds its cost into avg_scan_cost (update by 1/8); a scan cut
    /// short by the depth returns at once, as in the kernel, without updating it.
    /// </summary>
    private int SelectIdleCpu419(HostTask p, SchedDomain llc, int target, int thisCpu)
    {
        var thisSd = SdLlc(thisCpu);
        if (thisSd is null)
            return -1;
        int nr = SisPropScanDepth(Rqs[thisCpu].AvgIdle, thisSd.AvgScanCost, llc.SpanWeight);
        int n = NrCpus;
        int found = -1;
        long visited = 0;
        ref readonly var span = ref llc.SpanRef;
        for (int k = 0; k < n; k++)
        {
            int cpu = (target + k) % n;
            if (!span.Contains(cpu))
                continue;
            if (--nr == 0)
                return -1;
            visited++;
            if (!p.AllowedOn(cpu))
                continue;
            if (IdleCpu(cpu))
            {
                found = cpu;
                break;
            }
        }
        long time = visited * SisScanCostPerCpuNs;
        thisSd.AvgScanCost += (time - thisSd.AvgScanCost) / 8;
        return found;
    }

    /// <summary>
    /// SIS_PROP's scan depth of v4.19 <c>select_idle_cpu</c>: with avg_idle' = avg_idle / 512 and
    /// avg_cost = avg_scan_cost + 1, the LLC's weight × avg_idle' / avg_cost when that exceeds
    /// 4 × avg_cost's share, else 4. The loop pre-decrements it, so nr − 1 CPUs are inspected.
    /// </summary>
    public static int SisPropScanDepth(long avgIdleNs, long avgScanCostNs, int llcWeight)
    {
        ulong avgIdle = (ulong)avgIdleNs / 512;
        ulong avgCost = (ulong)avgScanCostNs + 1;
        ulong spanAvg = (ulong)llcWeight * avgIdle;
        if (spanAvg > 4 * avgCost)
            return (int)Math.Min(spanAvg / avgCost, int.MaxValue);
        return 4;
    }

    // ---------------------------------------------------------------- the slow path (fork)

    /// <summary>
    /// v4.19 <c>find_idlest_group</c> for a fork: per group, the runnable load (source_load for the
    /// local group's CPUs, target_load for the others, at forkexec_idx) and the load_avg including
    /// blocked load, both per capacity; the remote group with clearly less runnable load (by
    /// imbalance = NICE_0_LOAD × (imbalance_pct − 100) / 100), or close runnable load and less
    /// avg_load by imbalance_scale, beats the local one unless the local group is as good. The
    /// spare-capacity test is skipped for forks (the new task has no utilisation yet). Kept in the
    /// kernel's unsigned arithmetic, with its ULONG_MAX starting values.
    /// </summary>
    private SchedGroup? FindIdlestGroup419(SchedDomain sd, HostTask p, int thisCpu, SdFlags sdFlag)
    {
        SchedGroup? idlest = null;
        ulong minRunnableLoad = ulong.MaxValue, thisRunnableLoad = ulong.MaxValue;
        ulong minAvgLoad = ulong.MaxValue, thisAvgLoad = ulong.MaxValue;
        int loadIdx = (sdFlag & SdFlags.BalanceWake) != 0 ? sd.WakeIdx : sd.ForkexecIdx;
        ulong imbalanceScale = (ulong)(100 + (sd.ImbalancePct - 100) / 2);
        ulong imbalance = (ulong)(Weights.Nice0Load * (sd.ImbalancePct - 100) / 100);
        foreach (var group in sd.Groups)
        {
            if (!group.Cpus.Intersects(p.AffinityRef))
                continue;
            bool local = group.Contains(thisCpu);
            ulong avgLoad = 0, runnableLoad = 0;
            ref readonly var cpus = ref group.Cpus;
            for (int i = cpus.First; i >= 0; i = cpus.Next(i + 1))
            {
                runnableLoad += (ulong)(local ? SourceLoad(i, loadIdx) : TargetLoad(i, loadIdx));
                avgLoad += (ulong)Rqs[i].Cfs.Avg.LoadAvg; // cfs_rq_load_avg(&cpu_rq(i)->cfs)
            }
            ulong capacity = (ulong)group.CpuPower;
            avgLoad = avgLoad * (ulong)Pelt.SchedCapacityScale / capacity;
            runnableLoad = runnableLoad * (ulong)Pelt.SchedCapacityScale / capacity;
            if (local)
            {
                thisRunnableLoad = runnableLoad;
                thisAvgLoad = avgLoad;
            }
            else if (minRunnableLoad > runnableLoad + imbalance)
            {
                minRunnableLoad = runnableLoad;
                minAvgLoad = avgLoad;
                idlest = group;
            }
            else if (runnableLoad < minRunnableLoad + imbalance && 100 * minAvgLoad > imbalanceScale * avgLoad)
            {
                minAvgLoad = avgLoad;
                idlest = group;
            }
        }
        // Only forks reach here: no 4.19 domain of a symmetric host has SD_BALANCE_WAKE, and exec is
        // not modelled; the spare-capacity choice (capacity_spare_wake) is for those only.
        if (idlest is null)
            return null;
        if (sd.Has(SdFlags.Numa) && minRunnableLoad + imbalance >= thisRunnableLoad)
            return null;
        if (minRunnableLoad > thisRunnableLoad + imbalance)
            return null;
        if (thisRunnableLoad < minRunnableLoad + imbalance && 100 * thisAvgLoad < imbalanceScale * minAvgLoad)
            return null;
        return idlest;
    }

    /// <summary>v4.19 <c>find_idlest_cpu</c>: down the domains with the flag, idlest group then its idlest CPU (find_idlest_group_cpu on weighted_cpuload).</summary>
    private int FindIdlestCpu419(SchedDomain? sd, HostTask p, int cpu, int prevCpu, SdFlags sdFlag)
    {
        int newCpu = cpu;
        if (sd is null || !sd.Span.Intersects(p.AffinityRef))
            return prevCpu;
        while (sd is not null)
        {
            if ((sd.Flags & sdFlag) == 0)
            {
                sd = sd.Child;
                continue;
            }
            var group = FindIdlestGroup419(sd, p, cpu, sdFlag);
            if (group is null)
            {
                sd = sd.Child;
                continue;
            }
            newCpu = FindIdlestGroupCpu(group, p, cpu, v419: true);
            if (newCpu == cpu)
            {
                sd = sd.Child;
                continue;
            }
            cpu = newCpu;
            sd = HighestDomainBelow(cpu, sd.SpanWeight, sdFlag);
        }
        return newCpu;
    }

    /// <summary>Test hook: the avg_scan_cost of <paramref name="cpu"/>'s LLC domain.</summary>
    internal long AvgScanCostForTest(int cpu) => SdLlc(cpu)?.AvgScanCost ?? -1;

    /// <summary>Test hook: set <paramref name="cpu"/>'s LLC avg_scan_cost and its run queue's avg_idle.</summary>
    internal void SetScanStateForTest(int cpu, long avgScanCost, long avgIdle)
    {
        if (SdLlc(cpu) is { } llc)
            llc.AvgScanCost = avgScanCost;
        Rqs[cpu].AvgIdle = avgIdle;
    }

    /// <summary>Test hook: the LLC has_idle_cores hint of <paramref name="cpu"/>.</summary>
    internal void SetHasIdleCoresForTest(int cpu, bool value) => _llcHasIdleCores[LlcId(cpu)] = value;

    /// <summary>Test hook: 4.19's select_idle_sibling as the waking CPU <paramref name="thisCpu"/> runs it.</summary>
    internal int SelectIdleSibling419ForTest(HostTask p, int prev, int target, int thisCpu) => SelectIdleSibling419(p, prev, target, thisCpu);
}

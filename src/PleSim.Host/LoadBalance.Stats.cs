namespace PleSim.Host;

/// <summary>
/// Load balancing, what the balancer sees (Linux 2.6.39 kernel/sched_fair.c, the helpers of
/// find_busiest_group): per-group statistics (<c>update_sg_lb_stats</c>) and per-domain statistics
/// (<c>update_sd_lb_stats</c>, <c>update_sd_pick_busiest</c>), with the load index to use at each level.
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary>Statistics of one domain level gathered by <c>update_sd_lb_stats</c>.</summary>
    internal struct SdLbStats
    {
        public SchedGroup? Busiest, This;
        public long TotalLoad, TotalPwr, AvgLoad;
        public long ThisLoad, ThisLoadPerTask, ThisNrRunning, ThisIdleCpus;
        public bool ThisHasCapacity;
        public long BusiestIdleCpus, MaxLoad, BusiestLoadPerTask, BusiestNrRunning, BusiestGroupCapacity, BusiestGroupWeight;
        public bool BusiestHasCapacity;
        public bool GroupImb;
    }

    private struct SgLbStats
    {
        public long AvgLoad, GroupLoad, SumNrRunning, SumWeightedLoad, GroupCapacity, IdleCpus, GroupWeight;
        public bool GroupImb, GroupHasCapacity;
    }

    private static int GetSdLoadIdx(SchedDomain sd, CpuIdleType idle) => idle switch
    {
        CpuIdleType.NotIdle => sd.BusyIdx,
        CpuIdleType.NewlyIdle => sd.NewidleIdx,
        _ => sd.IdleIdx,
    };

    private static long DivRoundClosest(long x, long d) => (x + (d / 2)) / d;

    /// <summary><c>update_sg_lb_stats</c>. Returns false when this CPU is not the one to balance at this level.</summary>
    private bool UpdateSgLbStats(SchedDomain sd, SchedGroup group, int thisCpu, CpuIdleType idle, int loadIdx, bool localGroup, in CpuMask cpus, ref SgLbStats sgs)
    {
        long maxCpuLoad = 0, minCpuLoad = long.MaxValue, maxNrRunning = 0;
        int balanceCpu = -1;
        bool firstIdle = false;
        if (localGroup)
            balanceCpu = group.FirstCpu;
        ref readonly var groupCpus = ref group.Cpus;
        for (int i = groupCpus.First; i >= 0; i = groupCpus.Next(i + 1))
        {
            if (!cpus.Contains(i))
                continue;
            var rq = Rqs[i];
            long load;
            if (localGroup)
            {
                if (IdleCpu(i) && !firstIdle)
                {
                    firstIdle = true;
                    balanceCpu = i;
                }
                load = TargetLoad(i, loadIdx);
            }
            else
            {
                load = SourceLoad(i, loadIdx);
                if (load > maxCpuLoad)
                {
                    maxCpuLoad = load;
                    maxNrRunning = rq.NrRunning;
                }
                if (minCpuLoad > load)
                    minCpuLoad = load;
            }
            sgs.GroupLoad += load;
            sgs.SumNrRunning += rq.NrRunning;
            sgs.SumWeightedLoad += WeightedCpuload(i);
            if (IdleCpu(i))
                sgs.IdleCpus++;
        }

        // Only the first idle CPU of the local group (or its first CPU if none is idle) balances
        // at this level, except in new-idle balancing.
        if (idle != CpuIdleType.NewlyIdle && localGroup && balanceCpu != thisCpu)
            return false;

        sgs.AvgLoad = sgs.GroupLoad * Weights.Nice0Load / group.CpuPower;
        long avgLoadPerTask = sgs.SumNrRunning != 0 ? sgs.SumWeightedLoad / sgs.SumNrRunning : 0;
        if (maxCpuLoad - minCpuLoad >= avgLoadPerTask && maxNrRunning > 1)
            sgs.GroupImb = true;
        sgs.GroupCapacity = DivRoundClosest(group.CpuPower, Weights.Nice0Load);
        if (sgs.GroupCapacity == 0)
            sgs.GroupCapacity = FixSmallCapacity(sd, group);
        sgs.GroupWeight = group.GroupWeight;
        if (sgs.GroupCapacity > sgs.SumNrRunning)
            sgs.GroupHasCapacity = true;
        return true;
    }

    private static long FixSmallCapacity(SchedDomain sd, SchedGroup group) =>
        sd.Has(SdFlags.ShareCpupower) && group.CpuPower * 32 > group.CpuPowerOrig * 29 ? 1 : 0;

    private static bool UpdateSdPickBusiest(ref SdLbStats sds, in SgLbStats sgs)
    {
        if (sgs.AvgLoad <= sds.MaxLoad)
            return false;
        if (sgs.SumNrRunning > sgs.GroupCapacity)
            return true;
        return sgs.GroupImb;
    }

    /// <summary><c>update_sd_lb_stats</c>. Returns false when this CPU should not balance at this level.</summary>
    private bool UpdateSdLbStats(SchedDomain sd, int thisCpu, CpuIdleType idle, in CpuMask cpus, ref SdLbStats sds)
    {
        bool preferSibling = sd.Child is { } child && child.Has(SdFlags.PreferSibling);
        int loadIdx = GetSdLoadIdx(sd, idle);
        foreach (var sg in sd.Groups)
        {
            bool local = sg.Contains(thisCpu);
            var sgs = default(SgLbStats);
            if (!UpdateSgLbStats(sd, sg, thisCpu, idle, loadIdx, local, cpus, ref sgs) && local)
                return false;
            sds.TotalLoad += sgs.GroupLoad;
            sds.TotalPwr += sg.CpuPower;
            if (preferSibling && !local && sds.ThisHasCapacity)
                sgs.GroupCapacity = Math.Min(sgs.GroupCapacity, 1);
            if (local)
            {
                sds.ThisLoad = sgs.AvgLoad;
                sds.This = sg;
                sds.ThisNrRunning = sgs.SumNrRunning;
                sds.ThisLoadPerTask = sgs.SumWeightedLoad;
                sds.ThisHasCapacity = sgs.GroupHasCapacity;
                sds.ThisIdleCpus = sgs.IdleCpus;
            }
            else if (UpdateSdPickBusiest(ref sds, sgs))
            {
                sds.MaxLoad = sgs.AvgLoad;
                sds.Busiest = sg;
                sds.BusiestNrRunning = sgs.SumNrRunning;
                sds.BusiestIdleCpus = sgs.IdleCpus;
                sds.BusiestGroupCapacity = sgs.GroupCapacity;
                sds.BusiestLoadPerTask = sgs.SumWeightedLoad;
                sds.BusiestHasCapacity = sgs.GroupHasCapacity;
                sds.BusiestGroupWeight = sgs.GroupWeight;
                sds.GroupImb = sgs.GroupImb;
            }
        }
        return true;
    }
}

namespace PleSim.Host;

/// <summary>
/// Load balancing, what the balancer decides (Linux 2.6.39 kernel/sched_fair.c): how much load to
/// pull (<c>calculate_imbalance</c>, <c>fix_small_imbalance</c>), from which group
/// (<c>find_busiest_group</c>) and from which CPU of it (<c>find_busiest_queue</c>).
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary><c>fix_small_imbalance</c>: move one task's worth of load when that gains throughput.</summary>
    internal long FixSmallImbalance(ref SdLbStats sds, int thisCpu)
    {
        long imbn = 2;
        if (sds.ThisNrRunning != 0)
        {
            sds.ThisLoadPerTask /= sds.ThisNrRunning;
            if (sds.BusiestLoadPerTask > sds.ThisLoadPerTask)
                imbn = 1;
        }
        else
        {
            sds.ThisLoadPerTask = CpuAvgLoadPerTask(thisCpu);
        }
        long busiestPower = sds.Busiest!.CpuPower;
        long thisPower = sds.This!.CpuPower;
        long scaledBusyLoadPerTask = sds.BusiestLoadPerTask * Weights.Nice0Load / busiestPower;
        // unsigned long in the kernel: when this group is the busier one (reachable through group_imb
        // or the new-idle capacity test, which skip find_busiest_group's "this_load >= max_load" exit)
        // max_load − this_load wraps, the sum is huge and one task's load is pulled (decision 0100).
        if (unchecked((ulong)(sds.MaxLoad - sds.ThisLoad + scaledBusyLoadPerTask)) >= (ulong)(scaledBusyLoadPerTask * imbn))
            return sds.BusiestLoadPerTask;

        long pwrNow = 0, pwrMove = 0;
        pwrNow += busiestPower * Math.Min(sds.BusiestLoadPerTask, sds.MaxLoad);
        pwrNow += thisPower * Math.Min(sds.ThisLoadPerTask, sds.ThisLoad);
        pwrNow /= Weights.Nice0Load;

        long tmp = sds.BusiestLoadPerTask * Weights.Nice0Load / busiestPower;
        if (sds.MaxLoad > tmp)
            pwrMove += busiestPower * Math.Min(sds.BusiestLoadPerTask, sds.MaxLoad - tmp);

        if (sds.MaxLoad * busiestPower < sds.BusiestLoadPerTask * Weights.Nice0Load)
            tmp = sds.MaxLoad * busiestPower / thisPower;
        else
            tmp = sds.BusiestLoadPerTask * Weights.Nice0Load / thisPower;
        pwrMove += thisPower * Math.Min(sds.ThisLoadPerTask, sds.ThisLoad + tmp);
        pwrMove /= Weights.Nice0Load;

        return pwrMove > pwrNow ? sds.BusiestLoadPerTask : 0;
    }

    /// <summary><c>calculate_imbalance</c>: how much weighted load to pull (kernel arithmetic, unsigned semantics kept where it matters).</summary>
    internal long CalculateImbalance(ref SdLbStats sds, int thisCpu)
    {
        long loadAboveCapacity = long.MaxValue;
        sds.BusiestLoadPerTask /= sds.BusiestNrRunning;
        if (sds.GroupImb)
            sds.BusiestLoadPerTask = Math.Min(sds.BusiestLoadPerTask, sds.AvgLoad);
        if (sds.MaxLoad < sds.AvgLoad)
            return FixSmallImbalance(ref sds, thisCpu);
        if (!sds.GroupImb)
        {
            // Unsigned in the kernel: a busiest group under capacity yields a huge value, i.e. no cap.
            long above = sds.BusiestNrRunning - sds.BusiestGroupCapacity;
            loadAboveCapacity = above <= 0
                ? long.MaxValue
                : above * (Weights.Nice0Load * Weights.Nice0Load) / sds.Busiest!.CpuPower;
        }
        long maxPull = Math.Min(sds.MaxLoad - sds.AvgLoad, loadAboveCapacity); // ≥ 0: max_load ≥ avg_load here
        // unsigned long in the kernel: a local group above the domain average (reachable through group_imb
        // or the new-idle capacity test, which skip the "this_load >= avg_load" exit) wraps
        // avg_load − this_load to a huge value, and max_pull alone sets the pull (decision 0100).
        ulong pull = unchecked((ulong)maxPull * (ulong)sds.Busiest!.CpuPower);
        ulong toAverage = unchecked((ulong)(sds.AvgLoad - sds.ThisLoad) * (ulong)sds.This!.CpuPower);
        long imbalance = (long)(Math.Min(pull, toAverage) / (ulong)Weights.Nice0Load);
        if (imbalance < sds.BusiestLoadPerTask)
            return FixSmallImbalance(ref sds, thisCpu);
        return imbalance;
    }

    /// <summary><c>find_busiest_group</c>: the busiest group of the domain if pulling from it is worth it, and the imbalance.</summary>
    private SchedGroup? FindBusiestGroup(SchedDomain sd, int thisCpu, out long imbalance, CpuIdleType idle, in CpuMask cpus, out bool balance)
    {
        var sds = default(SdLbStats);
        imbalance = 0;
        balance = UpdateSdLbStats(sd, thisCpu, idle, cpus, ref sds);
        if (!balance)
            return null;
        if (sds.Busiest is null || sds.BusiestNrRunning == 0)
            return null;
        sds.AvgLoad = Weights.Nice0Load * sds.TotalLoad / sds.TotalPwr;
        bool force = sds.GroupImb
            || (idle == CpuIdleType.NewlyIdle && sds.ThisHasCapacity && !sds.BusiestHasCapacity);
        if (!force)
        {
            if (sds.ThisLoad >= sds.MaxLoad)
                return null;
            if (sds.ThisLoad >= sds.AvgLoad)
                return null;
            if (idle == CpuIdleType.Idle)
            {
                if (sds.ThisIdleCpus <= sds.BusiestIdleCpus + 1 && sds.BusiestNrRunning <= sds.BusiestGroupWeight)
                    return null;
            }
            else if (100 * sds.MaxLoad <= sd.ImbalancePct * sds.ThisLoad)
            {
                return null;
            }
        }
        if (NumaImbalanceAllowed(sd, sds))
            return null; // 6.x's allowed NUMA imbalance (LoadBalanceNuma.cs)
        imbalance = CalculateImbalance(ref sds, thisCpu);
        return sds.Busiest;
    }

    /// <summary><c>find_busiest_queue</c>: the CPU of the group with the most power-scaled load (a lone task heavier than the imbalance is left alone).</summary>
    private RunQueue? FindBusiestQueue(SchedDomain sd, SchedGroup group, long imbalance, in CpuMask cpus)
    {
        RunQueue? busiest = null;
        long maxLoad = 0;
        ref readonly var mask = ref group.Cpus;
        for (int i = mask.First; i >= 0; i = mask.Next(i + 1))
        {
            long power = _cpuPower[i];
            long capacity = DivRoundClosest(power, Weights.Nice0Load);
            if (capacity == 0)
                capacity = FixSmallCapacity(sd, group);
            if (!cpus.Contains(i))
                continue;
            var rq = Rqs[i];
            long wl = WeightedCpuload(i);
            if (capacity != 0 && rq.NrRunning == 1 && wl > imbalance)
                continue;
            wl = wl * Weights.Nice0Load / power;
            if (wl > maxLoad)
            {
                maxLoad = wl;
                busiest = rq;
            }
        }
        return busiest;
    }
}

namespace PleSim.Host;

/// <summary>
/// Wake-up placement of Linux 4.19 (kernel/sched/fair.c at v4.19; decision 0053), for cfs-4.19 with
/// <c>host.wake_placement: "4.19"</c>: <c>want_affine</c> with <c>record_wakee</c>/<c>wake_wide</c>
/// (shared with 6.6), and <c>wake_affine</c> = <c>wake_affine_idle</c> then <c>wake_affine_weight</c>
/// (WA_IDLE, WA_WEIGHT, WA_BIAS on) on 4.19's loads — target_load/source_load at the domain's
/// wake_idx over runnable_load_avg, and task_h_load — instead of 2.6.39's effective_load. The
/// idle-CPU search after it stays 2.6.39's <c>select_idle_sibling</c>: 4.19's (recent_used_cpu,
/// select_idle_core/cpu/smt with SIS_PROP's measured scan cost) is not modelled.
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary>v4.19 <c>want_affine</c> = !wake_wide(p) (wake_cap is 0 on symmetric CPUs): the waker records its wakee first.</summary>
    private bool WantAffine419(HostTask p, int thisCpu)
    {
        var waker = Rqs[thisCpu].Curr;
        if (waker.IsIdle)
            return true; // woken from an interrupt on an idle CPU: "current" is the idle task, whose flips stay 0
        RecordWakee(waker, p);
        return !WakeWide(waker, p, thisCpu);
    }

    /// <summary>v4.19 <c>wake_affine_idle</c>: an idle waking CPU sharing the cache takes the wakee unless the previous CPU is idle; a sync waker alone on its CPU takes it.</summary>
    private int WakeAffineIdle419(int thisCpu, int prevCpu, bool sync)
    {
        if (IdleCpu(thisCpu) && CpusShareCache(thisCpu, prevCpu))
            return IdleCpu(prevCpu) ? prevCpu : thisCpu;
        if (sync && Rqs[thisCpu].NrRunning == 1)
            return thisCpu;
        return -1;
    }

    /// <summary>
    /// v4.19 <c>wake_affine_weight</c>: this CPU's target_load (wake_idx) plus the wakee's
    /// task_h_load (minus a sync waker's), ×100 × prev's capacity, against prev's source_load minus
    /// the wakee's, × (100 + (imbalance_pct − 100)/2) × this CPU's capacity.
    /// </summary>
    private int WakeAffineWeight419(SchedDomain sd, HostTask p, int thisCpu, int prevCpu, bool sync)
    {
        long thisEffLoad = TargetLoad(thisCpu, sd.WakeIdx);
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
        long prevEffLoad = SourceLoad(prevCpu, sd.WakeIdx);
        prevEffLoad -= taskLoad;
        prevEffLoad *= 100 + ((sd.ImbalancePct - 100) / 2);
        prevEffLoad *= CpuPower(thisCpu);
        if (sync)
            prevEffLoad += 1;
        return thisEffLoad < prevEffLoad ? thisCpu : -1;
    }

    /// <summary>v4.19 <c>wake_affine</c>: the waking CPU when wake_affine_idle or wake_affine_weight says so, else the previous CPU.</summary>
    private int WakeAffine419(SchedDomain sd, HostTask p, int thisCpu, int prevCpu, bool sync)
    {
        int target = WakeAffineIdle419(thisCpu, prevCpu, sync);
        if (target < 0)
            target = WakeAffineWeight419(sd, p, thisCpu, prevCpu, sync);
        return target < 0 ? prevCpu : target;
    }
}

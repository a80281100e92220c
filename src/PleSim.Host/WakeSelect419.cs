namespace PleSim.Host;

/// <summary>
/// Wake-up placement of Linux 4.19 (kernel/sched/fair.c at v4.19; decision 0053), for cfs-4.19 with
/// <c>host.wake_placement: "4.19"</c>: <c>want_affine</c> with <c>record_wakee</c>/<c>wake_wide</c>
/// (shared with 6.6), and <c>wake_affine</c> = <c>wake_affine_idle</c> then <c>wake_affine_weight</c>
/// (WA_IDLE, WA_WEIGHT, WA_BIAS on) on 4.19's loads — target_load/source_load at the domain's
/// wake_idx over runnable_load_avg, and task_h_load — instead of 2.6.39's effective_load. The
/// idle-CPU search after it is 2.6.39's <c>select_idle_sibling</c> unless <c>host.idle_search:
/// "4.19"</c> (cfs-4.19's default) asks for 4.19's (IdleSearch419.cs, decision 0064).
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary>
    /// The wake-up half of <c>want_affine</c> in <c>select_task_rq_fair</c> (v4.19, v6.6, 6.18.2):
    /// the waker records its wakee, then !wake_wide(p) (4.19's wake_cap is 0 on symmetric CPUs; the
    /// callers add "this CPU allowed"). The waker is <c>current</c> on the waking CPU, so a wake-up
    /// from an interrupt on an idle CPU is recorded on that CPU's idle task (swapper/N), whose flips
    /// count like any task's: there is no idle test (decisions 0102, 0103).
    /// </summary>
    private bool RecordWakeeNotWide(HostTask p, int thisCpu)
    {
        var waker = Rqs[thisCpu].Curr;
        RecordWakee(waker, p);
        return !WakeWide(waker, p, thisCpu);
    }

    /// <summary>
    /// v4.19 <c>wake_affine</c>: the waking CPU when wake_affine_idle or wake_affine_weight says so,
    /// else the previous CPU. Both are shared with 6.6 (WakeSelect66.cs): wake_affine_idle without
    /// 5.x's idle-previous-CPU test, wake_affine_weight on target_load/source_load at wake_idx.
    /// </summary>
    // Kept apart from WakeAffine66: 4.19 returns whatever CPU the checks chose (prev_cpu when none did); 6.6 returns prev_cpu unless the choice is this CPU.
    private int WakeAffine419(SchedDomain sd, HostTask p, int thisCpu, int prevCpu, bool sync)
    {
        int target = WakeAffineIdle(thisCpu, prevCpu, sync, idlePrev: false);
        if (target < 0)
            target = WakeAffineWeight(sd, p, thisCpu, prevCpu, sync, TargetLoad(thisCpu, sd.WakeIdx), SourceLoad(prevCpu, sd.WakeIdx));
        return target < 0 ? prevCpu : target;
    }
}

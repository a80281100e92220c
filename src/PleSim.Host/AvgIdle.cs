namespace PleSim.Host;

/// <summary>
/// <c>rq->avg_idle</c>: the average length of a CPU's idle periods, as <c>try_to_wake_up</c> keeps it
/// for the run queue a task is woken onto. The period runs from <c>rq->idle_stamp</c>, which
/// <c>idle_balance</c> sets when the CPU goes idle, to the wake-up. Shared by the host's run queues
/// and the guest kernel's VCPUs (decisions 0064 and 0086).
/// </summary>
public static class AvgIdle
{
    /// <summary><c>update_avg</c>: the average moves an eighth of the way to the sample.</summary>
    public static void UpdateAvg(ref long avg, long sample)
    {
        long diff = sample - avg;
        avg += diff >> 3;
    }

    /// <summary>
    /// The wake-up's update for an idle period of <paramref name="delta"/> ns, bounded by
    /// <paramref name="max"/> (2 × <c>sysctl_sched_migration_cost</c>; 2 × <c>max_idle_balance_cost</c>
    /// from 3.13, which stays the migration cost where balancing costs no time).
    /// 2.6.32–3.12 (<c>try_to_wake_up</c>'s out_running, kernel/sched.c) set the bound outright after a
    /// longer period; from 4.x (<c>ttwu_do_wakeup</c>, kernel/sched/core.c) the period is averaged in
    /// first and the result capped (<paramref name="capAfterAverage"/>).
    /// </summary>
    public static void OnWakeup(ref long avgIdle, long delta, long max, bool capAfterAverage)
    {
        if (capAfterAverage)
        {
            UpdateAvg(ref avgIdle, delta);
            if (avgIdle > max)
                avgIdle = max;
        }
        else if (delta > max)
            avgIdle = max;
        else
            UpdateAvg(ref avgIdle, delta);
    }
}

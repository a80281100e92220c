namespace PleSim.Guest;

/// <summary>
/// How a tickless guest balances load onto its idle VCPUs (decision 0076), by kernel version.
/// </summary>
public enum GuestNohzBalance
{
    /// <summary>
    /// 2.6.32 (and a guest with no <c>guest.kernel</c>): one idle CPU, <c>nohz.load_balancer</c>,
    /// keeps its tick and balances for the others (kernel/sched.c <c>select_nohz_load_balancer</c>,
    /// <c>trigger_load_balance</c>).
    /// </summary>
    Owner,

    /// <summary>
    /// 2.6.39 kernel/sched_fair.c, the push model of 2.6.36 (commit 83cd4fe27ad8, Venkatesh
    /// Pallipadi): every idle CPU stops its tick; a busy CPU's tick kicks one idle CPU when
    /// <c>nohz_kick_needed</c> says so — only when its own <c>rq->next_balance</c> has not come
    /// (<c>trigger_load_balance</c>'s <c>else if</c>), after <c>nohz.next_balance</c>, and by the
    /// first/second busy-CPU picks: the first busy CPU kicks with two or more runnable threads,
    /// the second with any. The kicked CPU is <c>nohz.load_balancer</c> (the first CPU whose tick
    /// stopped) or else the first tickless one; it balances itself, then for each other tickless
    /// CPU (<c>nohz_idle_balance</c>). A CPU leaves <c>nohz.idle_cpus_mask</c> when it leaves idle.
    /// </summary>
    Push2639,

    /// <summary>
    /// 4.16 kernel/sched/fair.c (3.12 and 4.2 taken as the same, not read at their tags):
    /// <c>nohz_kick_needed</c> from every busy tick — a CPU leaves <c>nohz.idle_cpus_mask</c> and
    /// counts as busy again only at its first busy tick (<c>nohz_balance_exit_idle</c>,
    /// <c>set_cpu_sd_state_busy</c>); after <c>nohz.next_balance</c> it kicks with two or more
    /// runnable threads, or when more than one CPU of its last-level-cache domain is busy
    /// (<c>sd_llc_shared->nr_busy_cpus</c>; only with <see cref="GuestTopology.Cores"/>).
    /// <c>nohz_balancer_kick</c>: <c>nohz.next_balance++</c>, the first CPU of the mask if it is
    /// idle (<c>find_new_ilb</c>), a reschedule IPI. The kicked CPU balances for the other idle
    /// tickless CPUs whose <c>rq->next_balance</c> has come, then for itself.
    /// </summary>
    PushFirstInMask,

    /// <summary>5.3 kernel/sched/fair.c: as <see cref="PushFirstInMask"/>, but <c>find_new_ilb</c> takes the first idle CPU of the mask.</summary>
    PushFirstIdle,

    /// <summary>
    /// 5.10 and 6.1 kernel/sched/fair.c: as <see cref="PushFirstIdle"/>, with <c>kick_ilb</c> setting
    /// <c>nohz.next_balance = jiffies + 1</c> (the kick itself is an async call-function IPI,
    /// <c>nohz_csd_func</c>).
    /// </summary>
    PushNextJiffy,
}

/// <summary>The NOHZ idle-balancing model of a guest kernel version.</summary>
public static class GuestNohz
{
    /// <summary>The model for <paramref name="kernelVersion"/> (null: no <c>guest.kernel</c>, the 2.6.32 default).</summary>
    public static GuestNohzBalance For(string? kernelVersion) => kernelVersion switch
    {
        null or "2.6.32" => GuestNohzBalance.Owner,
        "2.6.39" => GuestNohzBalance.Push2639,
        "3.12" or "4.2" or "4.16" => GuestNohzBalance.PushFirstInMask,
        "5.3" => GuestNohzBalance.PushFirstIdle,
        _ => GuestNohzBalance.PushNextJiffy,
    };
}

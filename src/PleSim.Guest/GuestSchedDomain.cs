namespace PleSim.Guest;

/// <summary>Which <c>load_balance</c> a guest kernel runs on a busy VCPU.</summary>
public enum GuestLoadBalancer
{
    /// <summary>
    /// Load-based, before the 5.5 rework: <c>find_busiest_group</c> compares loads against
    /// imbalance_pct and <c>calculate_imbalance</c> / <c>fix_small_imbalance</c> decide how much to
    /// pull (2.6.39 kernel/sched_fair.c; 4.19 kernel/sched/fair.c gives the same answers for
    /// single-VCPU groups of equal-weight threads). A task is skipped when half its weight exceeds
    /// what is left to move.
    /// </summary>
    Legacy,

    /// <summary>
    /// The 5.5 rework (Vincent Guittot): groups classified by type (has_spare, fully_busy,
    /// overloaded); a fully busy or overloaded local group pulls load (<c>migrate_load</c>) only from
    /// an overloaded one; <c>detach_tasks</c> skips a task whose load, shifted right by
    /// nr_balance_failed, exceeds the imbalance (5.10 and 6.1 kernel/sched/fair.c).
    /// </summary>
    Reworked,
}

/// <summary>
/// The one scheduling domain a guest's VCPUs share, as the guest kernel builds it for the topology
/// QEMU shows (<see cref="GuestTopology"/>): its periodic-balancing parameters (decision 0072).
/// With <c>-smp N</c> as N sockets the domain is the package level (2.6.39 SD_CPU_INIT; the "else"
/// branch of sd_init from 3.16); as one socket of N cores it is MC (SD_SHARE_PKG_RESOURCES).
/// </summary>
public sealed record GuestSchedDomain
{
    /// <summary>sd->min_interval (ms): the balance interval after a balance that found an imbalance.</summary>
    public int MinIntervalMs { get; init; } = 1;

    /// <summary>sd->max_interval (ms): the interval doubles up to this while the domain stays balanced.</summary>
    public int MaxIntervalMs { get; init; } = 4;

    /// <summary>sd->busy_factor: a busy CPU balances this many times less often.</summary>
    public int BusyFactor { get; init; } = 64;

    /// <summary>sd->imbalance_pct: the busiest load must exceed this CPU's by this percentage.</summary>
    public int ImbalancePct { get; init; } = 125;

    /// <summary>sd->cache_nice_tries: failed balances after which cache-hot threads may move too.</summary>
    public int CacheNiceTries { get; init; } = 1;

    /// <summary>sd->busy_idx: the rq->cpu_load[] index a busy balance reads (0: the instantaneous load; cpu_load[] went in 5.3).</summary>
    public int BusyIdx { get; init; } = 2;

    public GuestLoadBalancer Balancer { get; init; } = GuestLoadBalancer.Legacy;

    /// <summary>
    /// The new-idle balance (<c>idle_balance</c> from <c>schedule()</c> going idle) retunes
    /// sd->balance_interval as a periodic balance does: back to min_interval when it found a busiest
    /// VCPU (decision 0085). False for 2.6.32, whose <c>load_balance_newidle</c> (kernel/sched.c) leaves the
    /// interval alone; true from 2.6.39, where <c>idle_balance</c> calls <c>load_balance(CPU_NEWLY_IDLE)</c>.
    /// </summary>
    public bool NewIdleTunesInterval { get; init; } = true;

    /// <summary>
    /// With <see cref="NewIdleTunesInterval"/>: a balanced new-idle pass (out_balanced) also doubles
    /// sd->balance_interval (2.6.39, 4.16). False from 5.2 (5.3, 5.10, 6.x kernel/sched/fair.c
    /// <c>load_balance</c> skips the increase for CPU_NEWLY_IDLE).
    /// </summary>
    public bool NewIdleDoublesInterval { get; init; } = true;

    /// <summary>
    /// The new-idle balance always lowers rq->next_balance to the domain's idle interval (4.16, 5.x, 6.x
    /// <c>idle_balance</c> / <c>newidle_balance</c>: "if (time_after(this_rq->next_balance,
    /// next_balance))"). False for 2.6.32 and 2.6.39, whose <c>idle_balance</c> sets it only when a task
    /// was pulled or rq->next_balance has already passed — so a VCPU going idle keeps the next balance
    /// its last busy balance set, busy_factor times the idle interval (decision 0085).
    /// </summary>
    public bool NewIdleAlwaysLowersNextBalance { get; init; } = true;

    /// <summary>
    /// The new-idle balance is skipped while this VCPU's average idle period (<c>rq->avg_idle</c>) is
    /// shorter than sysctl_sched_migration_cost: 2.6.32 and 2.6.39 <c>idle_balance</c> return at once
    /// (rq->next_balance untouched); 4.16, 5.3 and 5.10 only lower rq->next_balance to the domain's
    /// idle interval (decision 0086). False for 6.1, whose <c>newidle_balance</c> compares avg_idle
    /// with sd->max_newidle_lb_cost, the longest new-idle balance measured — zero here, as the model
    /// charges the search no time.
    /// </summary>
    public bool NewIdleAvgIdleGate { get; init; } = true;

    /// <summary>
    /// <c>try_to_wake_up</c> averages the idle period in and then caps avg_idle at twice the migration
    /// cost (4.x <c>ttwu_do_wakeup</c>); false: 2.6.32–3.12 set the cap outright after a longer period
    /// (<see cref="PleSim.Host.AvgIdle.OnWakeup"/>).
    /// </summary>
    public bool AvgIdleCapAfterAverage { get; init; }

    /// <summary>
    /// The new-idle balance is also skipped while the root domain is not overloaded
    /// (<c>!rq->rd->overload</c>: no VCPU had a second runnable thread since the last balance pass
    /// that looked), as 4.16 <c>idle_balance</c> and 5.3–6.1 <c>newidle_balance</c> test beside avg_idle
    /// (from 3.16, commit 4486edd12b5a). The flag is set when a VCPU's run queue goes from one to two
    /// threads (<c>add_nr_running</c>) and rewritten by every <c>load_balance</c>
    /// (<c>update_sd_lb_stats</c> at the root domain). False for 2.6.32–3.12. Decision 0087.
    /// </summary>
    public bool NewIdleRdOverloadGate { get; init; }

    /// <summary>
    /// The run queue's task list is kept most-recently-run first (<c>pick_next_task_fair</c> moves
    /// the picked task to its head) and the balancer walks it from the tail, least recently run
    /// first (<c>detach_tasks</c>' <c>list_last_entry</c>; read in 4.16, 5.3, 5.10 and 6.1
    /// kernel/sched/fair.c). False: 2.6.39's order, the most recently enqueued first
    /// (<c>balance_tasks</c> walks <c>cfs_rq->tasks</c> from the head, where
    /// <c>account_entity_enqueue</c> adds).
    /// </summary>
    public bool TasksListMru { get; init; }

    /// <summary>
    /// The domain of <paramref name="vcpus"/> VCPUs for a guest kernel version (null: the 2.6.3x
    /// default) and topology.
    /// <list type="bullet">
    /// <item>2.6.32–3.12 (include/linux/topology.h SD_CPU_INIT; x86's SD_MC_INIT has the same
    /// numbers): intervals 1–4 ms, busy_factor 64, imbalance_pct 125, cache_nice_tries 1, busy_idx 2.
    /// 3.12's task-list order is taken as 2.6.39's (not read at the tag).</item>
    /// <item>4.2–5.3 (kernel/sched/topology.c sd_init, from 3.16): intervals = the span's weight and
    /// twice it (ms), busy_factor 32, imbalance_pct 125 (117 for MC), cache_nice_tries 1,
    /// busy_idx 2; 5.3 has no cpu_load[] (commit 55627e3cd22c).</item>
    /// <item>The new-idle balance and the domain's interval (decision 0085): 2.6.32's
    /// <c>load_balance_newidle</c> leaves sd->balance_interval alone; 2.6.39–4.16 retune it as a
    /// periodic pass does; 5.3 on reset it but never double it. 2.6.32 and 2.6.39 lower
    /// rq->next_balance at new-idle only when a task was pulled or it has passed; 4.16 on always.
    /// 3.12 is taken as 2.6.39 and 4.2 as 4.16 (not read at those tags).</item>
    /// <item>The avg_idle gate of the new-idle balance (decision 0086): against
    /// sysctl_sched_migration_cost up to 5.10; 6.1's test against max_newidle_lb_cost never holds here.
    /// From 4.2 the root domain's overload flag gates it too (decision 0087).</item>
    /// <item>5.10 and 6.1: busy_factor 16 and imbalance_pct 117 at every non-SMT level (Vincent
    /// Guittot's September 2020 series), the reworked balancer of 5.5.</item>
    /// </list>
    /// </summary>
    public static GuestSchedDomain For(string? kernelVersion, GuestTopology topology, int vcpus)
    {
        bool mc = topology == GuestTopology.Cores;
        return kernelVersion switch
        {
            null or "2.6.32" => new GuestSchedDomain { NewIdleTunesInterval = false, NewIdleDoublesInterval = false, NewIdleAlwaysLowersNextBalance = false },
            "2.6.39" or "3.12" => new GuestSchedDomain { NewIdleAlwaysLowersNextBalance = false },
            "4.2" or "4.16" or "5.3" => new GuestSchedDomain
            {
                MinIntervalMs = vcpus,
                MaxIntervalMs = 2 * vcpus,
                BusyFactor = 32,
                ImbalancePct = mc ? 117 : 125,
                BusyIdx = kernelVersion == "5.3" ? 0 : 2,
                TasksListMru = kernelVersion != "4.2",
                NewIdleDoublesInterval = kernelVersion != "5.3",
                AvgIdleCapAfterAverage = true,
                NewIdleRdOverloadGate = true,
            },
            _ => new GuestSchedDomain
            {
                MinIntervalMs = vcpus,
                MaxIntervalMs = 2 * vcpus,
                BusyFactor = 16,
                ImbalancePct = 117,
                BusyIdx = 0,
                Balancer = GuestLoadBalancer.Reworked,
                TasksListMru = true,
                NewIdleDoublesInterval = false,
                NewIdleAvgIdleGate = kernelVersion == "5.10",
                AvgIdleCapAfterAverage = true,
                NewIdleRdOverloadGate = true,
            },
        };
    }
}

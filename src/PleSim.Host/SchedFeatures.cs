namespace PleSim.Host;

/// <summary>
/// Scheduler behaviour switches, in one place like <c>kernel/sched_features.h</c>. Defaults are
/// 2.6.39's. Names are the kernel's; the few that are PleSim's own say so.
/// </summary>
public sealed record SchedFeatures
{
    /// <summary>Halve the sleeper credit in <c>place_entity</c> (sched_latency/2 instead of sched_latency).</summary>
    public bool GentleFairSleepers { get; init; } = true;

    /// <summary>Place a new task one vslice after min_vruntime (<c>place_entity(initial)</c>).</summary>
    public bool StartDebit { get; init; } = true;

    /// <summary>Wake-up preemption and the tick's "leads the leftmost by a slice" check.</summary>
    public bool WakeupPreempt { get; init; } = true;

    /// <summary>
    /// Use <c>wake_affine</c> in wake-up CPU selection. A what-if switch: 2.6.39 declares the
    /// AFFINE_WAKEUPS feature but no longer reads it (and 4.19 has none), so turning it off gives a
    /// behaviour no kernel of those versions has (docs/kernel-map.md, the wake-up placement audit).
    /// </summary>
    public bool AffineWakeups { get; init; } = true;

    /// <summary>Set the next buddy on wake-up (off in 2.6.39; <c>yield_to</c> sets it regardless).</summary>
    public bool NextBuddy { get; init; }

    /// <summary>Set the last buddy on wake-up preemption when nr_running ≥ sched_nr_latency.</summary>
    public bool LastBuddy { get; init; } = true;

    /// <summary>A next/last buddy is cache hot for the load balancer.</summary>
    public bool CacheHotBuddy { get; init; } = true;

    /// <summary>Busy balancing uses the biased (min/max of decayed and current) load indexes.</summary>
    public bool LbBias { get; init; } = true;

    /// <summary>
    /// PleSim's own switch for the seed's point: buddies (next and skip) are set on every group
    /// entity up the hierarchy, as 2.6.39 does. Off: only on the task's own entity, as in the
    /// series' earlier versions, so a yield_to across groups cannot steer the top-level pick.
    /// </summary>
    public bool HierarchicalBuddies { get; init; } = true;

    /// <summary>
    /// Which fair class runs (<c>host.scheduler</c>): CFS of 2.6.39 (the default) or EEVDF as
    /// kernel/sched/fair.c has it at 6.6, 6.12 or 6.14 (Eevdf.cs; decision 0024).
    /// </summary>
    public FairClass Class { get; init; } = FairClass.Cfs2639;

    /// <summary>EEVDF: keep a sleeper's or migrating task's lag across dequeue/enqueue (<c>place_entity</c>); 6.6 default on.</summary>
    public bool PlaceLag { get; init; } = true;

    /// <summary>EEVDF: a new task's first deadline is half a slice away; 6.6 default on.</summary>
    public bool PlaceDeadlineInitial { get; init; } = true;

    /// <summary>EEVDF: the running entity keeps the CPU until it is ineligible or got a new slice; 6.6 default on.</summary>
    public bool RunToParity { get; init; } = true;

    /// <summary>
    /// EEVDF 6.12+: PREEMPT_SHORT (features.h, default on; decision 0075). 6.12–6.14: a waking
    /// entity with a shorter slice cancels the running entity's protection, and <c>update_curr</c>
    /// reschedules a running entity that is neither protected nor eligible (<c>did_preempt_short</c>).
    /// 6.17+: only the shorter-slice wake-up part is left. Not used by 6.6.
    /// </summary>
    public bool PreemptShort { get; init; } = true;

    /// <summary>
    /// EEVDF 6.14+: pick the next buddy (set by yield_to, wake-up with NEXT_BUDDY, a group's
    /// dequeue) when it is eligible (commit 2a77e4be12cb, "Untangle NEXT_BUDDY and
    /// pick_next_task()"). Before 6.14 the NEXT_BUDDY feature (off) decided it.
    /// </summary>
    public bool PickBuddy { get; init; } = true;

    /// <summary>
    /// EEVDF 6.12+: DELAY_DEQUEUE (features.h, on by default in the kernel since 6.12; decision 0083).
    /// A task going to sleep while not eligible stays queued as <c>sched_delayed</c> until it is
    /// picked or woken. Off in this record (a bare <see cref="HostScheduler"/>); scenarios turn it on
    /// for <c>eevdf-6.12</c> … <c>eevdf-6.18</c> unless <c>host.sched.features</c> says otherwise.
    /// </summary>
    public bool DelayDequeue { get; init; }

    /// <summary>EEVDF 6.12+: DELAY_ZERO (default on): a delayed entity's positive lag is clipped to 0 when its dequeue finishes or it is requeued.</summary>
    public bool DelayZero { get; init; } = true;

    /// <summary>
    /// The vCPU debooster of Wanpeng Li's unmerged series "sched/kvm: Semantics-aware vCPU
    /// scheduling for oversubscribed KVM" (v2, 2025-12-19, patches 1-5; decision 0052): with the
    /// patches applied (and their sysctl <c>vcpu_debooster_enabled</c> at its default 1),
    /// <c>yield_to_task_fair</c> adds a bounded vruntime penalty to the yielder. EEVDF only; off = the
    /// kernel without the series (<c>host.yield_to_debooster</c>; not a sched_feat flag).
    /// </summary>
    public bool VcpuDebooster { get; init; }

    /// <summary>
    /// Load tracking and group shares of 6.x (<c>host.load_tracking: pelt-6.6</c>; decision 0056):
    /// PELT (kernel/sched/pelt.c and fair.c at v6.6) with <c>calc_group_shares</c> and
    /// <c>update_blocked_averages</c>, instead of 2.6.39's <c>update_cfs_load</c>/<c>update_cfs_shares</c>.
    /// EEVDF only; PleSim's own switch, not a sched_feat flag.
    /// </summary>
    public bool Pelt { get; init; }

    /// <summary>
    /// The load balancer of 6.x (<c>host.load_balance: "6.6"</c>; decision 0056): group types and
    /// migration types on PELT loads, kernel/sched/fair.c v6.6. Needs <see cref="Pelt"/>. PleSim's own switch.
    /// </summary>
    public bool LoadBalance66 { get; init; }

    /// <summary>
    /// Wake-up CPU selection of 6.x (<c>host.wake_placement: "6.6"</c>; decision 0056):
    /// wake_affine on PELT loads, select_idle_sibling with recent_used_cpu and SIS_UTIL. Needs
    /// <see cref="LoadBalance66"/> (the balancer updates the scan depth). PleSim's own switch.
    /// </summary>
    public bool WakeSelect66 { get; init; }

    /// <summary>
    /// Load tracking and group shares of 4.19 (<c>host.load_tracking: "4.19"</c>; decision 0053):
    /// PELT with runnable_load_avg, calc_group_shares/calc_group_runnable, kernel/sched/fair.c at
    /// v4.19. <see cref="FairClass.Cfs419"/> only; PleSim's own switch, not a sched_feat flag.
    /// </summary>
    public bool Pelt419 { get; init; }

    /// <summary>
    /// The load balancer of 4.19 (<c>host.load_balance: "4.19"</c>; decision 0053): group_type,
    /// avg_load/load_per_task, fix_small_imbalance, on 4.19's PELT loads. Needs <see cref="Pelt419"/>.
    /// </summary>
    public bool LoadBalance419 { get; init; }

    /// <summary>
    /// Wake-up placement of 4.19 (<c>host.wake_placement: "4.19"</c>; decision 0053): want_affine
    /// with wake_wide, wake_affine_idle/wake_affine_weight on 4.19 loads (2.6.39's
    /// select_idle_sibling after it). Needs <see cref="LoadBalance419"/>.
    /// </summary>
    public bool WakeSelect419 { get; init; }

    /// <summary>
    /// The scheduling domains of 4.19 (<c>host.sched_domains: "4.19"</c>; decision 0064): SMT, MC,
    /// DIE, NODE and the NUMA levels of <c>sched_init_numa</c>, parameterised by 4.19's
    /// <c>sd_init</c> (kernel/sched/topology.c at v4.19). <see cref="FairClass.Cfs419"/> only.
    /// </summary>
    public bool Domains419 { get; init; }

    /// <summary>
    /// The idle-CPU search and fork slow path of 4.19 (<c>host.idle_search: "4.19"</c>; decision
    /// 0064): select_idle_sibling with recent_used_cpu, select_idle_core/cpu/smt (SIS_PROP), and
    /// find_idlest_group/find_idlest_group_cpu. Needs <see cref="WakeSelect419"/>.
    /// </summary>
    public bool IdleSearch419 { get; init; }

    /// <summary>The names accepted in scenario files (kernel spelling).</summary>
    public static readonly string[] Names =
    [
        "GENTLE_FAIR_SLEEPERS", "START_DEBIT", "WAKEUP_PREEMPT", "AFFINE_WAKEUPS", "NEXT_BUDDY",
        "LAST_BUDDY", "CACHE_HOT_BUDDY", "LB_BIAS", "HIERARCHICAL_BUDDIES",
        "PLACE_LAG", "PLACE_DEADLINE_INITIAL", "RUN_TO_PARITY", "PICK_BUDDY", "DELAY_DEQUEUE", "DELAY_ZERO",
    ];

    public SchedFeatures With(string name, bool on) => name switch
    {
        "GENTLE_FAIR_SLEEPERS" => this with { GentleFairSleepers = on },
        "START_DEBIT" => this with { StartDebit = on },
        "WAKEUP_PREEMPT" => this with { WakeupPreempt = on },
        "AFFINE_WAKEUPS" => this with { AffineWakeups = on },
        "NEXT_BUDDY" => this with { NextBuddy = on },
        "LAST_BUDDY" => this with { LastBuddy = on },
        "CACHE_HOT_BUDDY" => this with { CacheHotBuddy = on },
        "LB_BIAS" => this with { LbBias = on },
        "HIERARCHICAL_BUDDIES" => this with { HierarchicalBuddies = on },
        "PLACE_LAG" => this with { PlaceLag = on },
        "PLACE_DEADLINE_INITIAL" => this with { PlaceDeadlineInitial = on },
        "RUN_TO_PARITY" => this with { RunToParity = on },
        "PICK_BUDDY" => this with { PickBuddy = on },
        "DELAY_DEQUEUE" => this with { DelayDequeue = on },
        "DELAY_ZERO" => this with { DelayZero = on },
        _ => throw new ArgumentException($"unknown scheduler feature '{name}'", nameof(name)),
    };
}

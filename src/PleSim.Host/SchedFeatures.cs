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

    /// <summary>Use <c>wake_affine</c> in wake-up CPU selection.</summary>
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

    /// <summary>The names accepted in scenario files (kernel spelling).</summary>
    public static readonly string[] Names =
    [
        "GENTLE_FAIR_SLEEPERS", "START_DEBIT", "WAKEUP_PREEMPT", "AFFINE_WAKEUPS", "NEXT_BUDDY",
        "LAST_BUDDY", "CACHE_HOT_BUDDY", "LB_BIAS", "HIERARCHICAL_BUDDIES",
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
        _ => throw new ArgumentException($"unknown scheduler feature '{name}'", nameof(name)),
    };
}

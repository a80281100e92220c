using PleSim.Engine;

namespace PleSim.Host;

/// <summary>How the granularity sysctls scale with the CPU count (<c>sysctl_sched_tunable_scaling</c>).</summary>
public enum TunableScaling
{
    None,
    Log,
    Linear,
}

/// <summary>
/// Scheduler tunables, as the <c>kernel.sched_*</c> sysctls name them. The three granularities
/// are the <em>normalized</em> (per-CPU) values; the effective ones are scaled by
/// <c>get_update_sysctl_factor()</c>: 1 + ilog2(min(ncpus, 8)) by default, so 6 ms / 0.75 ms /
/// 1 ms become 18 ms / 2.25 ms / 3 ms on 4 CPUs.
/// </summary>
public sealed record SchedTunables
{
    public SimDuration LatencyNs { get; init; } = SimDuration.FromMilliseconds(6);
    public SimDuration MinGranularityNs { get; init; } = SimDuration.FromMicroseconds(750);

    /// <summary>
    /// <c>normalized_sysctl_sched_base_slice</c> from Linux 6.15 (kernel/sched/fair.c; commit
    /// 2ae891b82695, "sched: Reduce the default slice to avoid tasks getting an extra tick"; absent from
    /// the 6.14 tree read, present in the 6.17 and 6.18 trees): 0.70 ms,
    /// so that at HZ 1000 a task's slice ends before, not just after, its last tick. The default of
    /// <see cref="MinGranularityNs"/> for the 6.17 and 6.18 EEVDF hosts (decision 0088); 2.6.39's
    /// min_granularity, 4.19's and the 6.6–6.14 base slice are 0.75 ms.
    /// </summary>
    public static readonly SimDuration BaseSlice615 = SimDuration.FromMicroseconds(700);
    public SimDuration WakeupGranularityNs { get; init; } = SimDuration.FromMilliseconds(1);
    public TunableScaling TunableScaling { get; init; } = TunableScaling.Log;

    /// <summary><c>sched_nr_latency</c>: above this many tasks the period stretches. Not rescaled by the factor (2.6.39).</summary>
    public int NrLatency { get; init; } = DefaultNrLatency;

    /// <summary><c>sched_nr_latency</c>'s default, 8 (kernel/sched_fair.c, 2.6.39); the guest scheduler uses it too.</summary>
    public const int DefaultNrLatency = 8;

    /// <summary><c>sysctl_sched_migration_cost</c>: a task that ran this recently is cache hot; also the new-idle gate.</summary>
    public SimDuration MigrationCostNs { get; init; } = SimDuration.FromMicroseconds(500);

    /// <summary><c>sysctl_sched_nr_migrate</c>: tasks moved per balancing pass at most.</summary>
    public int NrMigrate { get; init; } = 32;

    /// <summary><c>sysctl_sched_shares_window</c>: the averaging window of group load (10 ms).</summary>
    public SimDuration SharesWindowNs { get; init; } = SimDuration.FromMilliseconds(10);

    /// <summary>CONFIG_HZ: the scheduler tick frequency.</summary>
    public int Hz { get; init; } = 1000;

    /// <summary>Stop the tick on idle CPUs (CONFIG_NO_HZ).</summary>
    public bool NoHz { get; init; } = true;

    /// <summary>CPU time a context switch costs (not part of the kernel; a model parameter).</summary>
    public SimDuration ContextSwitchCost { get; init; } = SimDuration.FromMicroseconds(2);

    /// <summary>Delay from resched_task on another CPU to that CPU entering schedule() (IPI delivery; a model parameter).</summary>
    public SimDuration ReschedIpiLatency { get; init; } = SimDuration.FromMicroseconds(2);

    /// <summary>Delay for an idle CPU to start running a task it was woken for (idle exit; a model parameter).</summary>
    public SimDuration IdleExitLatency { get; init; } = SimDuration.FromMicroseconds(2);

    /// <summary>
    /// Each tick interrupt arrives up to this long after the jiffy boundary, uniformly at random
    /// (per CPU, from the run's seed): ticks are aligned in 2.6.39, but interrupt delivery and
    /// entry differ by a few hundred ns to microseconds, which decides which CPU's tick work
    /// (rebalancing, preemption) happens first. A model parameter; 0 = perfectly simultaneous.
    /// </summary>
    public SimDuration TickJitter { get; init; } = SimDuration.FromMicroseconds(2);

    /// <summary>
    /// How long a load_balance pass at an SD_SERIALIZE level holds the global <c>balancing</c>
    /// lock of rebalance_domains (2.6.39 kernel/sched_fair.c; 6.x the same lock): another CPU
    /// whose tick reaches a serialised level meanwhile fails the trylock and skips the level.
    /// The pass itself takes no simulated time; this is its duration for the lock only.
    /// A model parameter (assumption: a few microseconds for find_busiest_group over two nodes).
    /// </summary>
    public SimDuration SerializedBalanceHold { get; init; } = SimDuration.FromMicroseconds(2);

    public SimDuration TickPeriod => new(1_000_000_000L / Hz);

    /// <summary><c>get_update_sysctl_factor()</c> for <paramref name="cpus"/> online CPUs.</summary>
    /// <remarks>The guest kernels scale their own granularities by it, with the VM's VCPU count (decision 0090).</remarks>
    public long Factor(int cpus)
    {
        int c = Math.Min(cpus, 8);
        return TunableScaling switch
        {
            TunableScaling.None => 1,
            TunableScaling.Linear => c,
            _ => 1 + Weights.Ilog2(c),
        };
    }
}

/// <summary>The effective (scaled) values the scheduler uses at run time.</summary>
public readonly record struct EffectiveTunables(long LatencyNs, long MinGranularityNs, long WakeupGranularityNs, int NrLatency)
{
    public static EffectiveTunables For(SchedTunables t, int cpus)
    {
        long f = t.Factor(cpus);
        return new EffectiveTunables(t.LatencyNs.Ns * f, t.MinGranularityNs.Ns * f, t.WakeupGranularityNs.Ns * f, t.NrLatency);
    }
}

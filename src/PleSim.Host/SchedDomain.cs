namespace PleSim.Host;

/// <summary>SD_* flags of a scheduling domain (include/linux/sched.h, 2.6.39).</summary>
[Flags]
public enum SdFlags
{
    None = 0,
    LoadBalance = 0x0001,
    BalanceNewidle = 0x0002,
    BalanceExec = 0x0004,
    BalanceFork = 0x0008,
    BalanceWake = 0x0010,
    WakeAffine = 0x0020,
    PreferLocal = 0x0040,
    ShareCpupower = 0x0080,
    PowersavingsBalance = 0x0100,
    SharePkgResources = 0x0200,
    Serialize = 0x0400,
    AsymPacking = 0x0800,
    PreferSibling = 0x1000,

    /// <summary>SD_NUMA of 6.x (include/linux/sched/sd_flags.h): a level built from the node distance table. 2.6.39 has no such flag.</summary>
    Numa = 0x2000,

    /// <summary>SD_OVERLAP of 6.x: the level's groups may overlap (NUMA levels, build_overlap_sched_groups).</summary>
    Overlap = 0x4000,
}

/// <summary>The idle state a balancing pass runs in (<c>enum cpu_idle_type</c>).</summary>
public enum CpuIdleType
{
    Idle,
    NotIdle,
    NewlyIdle,
}

/// <summary><c>struct sched_group</c>: a set of CPUs balanced as one unit at a domain level. Shared by the domains of its CPUs.</summary>
public sealed class SchedGroup(CpuMask cpus, long cpuPower)
{
    private readonly CpuMask _cpus = cpus;
    public ref readonly CpuMask Cpus => ref _cpus;
    public long CpuPower { get; set; } = cpuPower;
    public long CpuPowerOrig { get; set; } = cpuPower;
    public int GroupWeight => _cpus.Count;
    public int FirstCpu => _cpus.First;

    /// <summary><c>sgc-&gt;imbalance</c> (6.x balancer): tasks pinned by affinity kept a child level from balancing.</summary>
    public bool Imbalance;
    public bool Contains(int cpu) => _cpus.Contains(cpu);
    public override string ToString() => $"group{{{_cpus}}}";
}

/// <summary>
/// <c>struct sched_domain</c> of one CPU at one level: its span, its groups (a circular list that
/// starts at this CPU's group, as the kernel links them), the SD_*_INIT parameters of
/// include/linux/topology.h, and the per-domain balancing state.
/// </summary>
public sealed class SchedDomain
{
    public required string Name { get; init; }
    private readonly CpuMask _span;
    public required CpuMask Span { get => _span; init => _span = value; }
    /// <summary>The span without a copy.</summary>
    public ref readonly CpuMask SpanRef => ref _span;
    public required SchedGroup[] Groups { get; init; }
    public required SdFlags Flags { get; init; }
    public int MinInterval { get; init; } = 1;
    public int MaxInterval { get; init; } = 4;
    public int BusyFactor { get; init; } = 64;
    public int ImbalancePct { get; init; } = 125;
    public int CacheNiceTries { get; init; }
    public int BusyIdx { get; init; }
    public int IdleIdx { get; init; }
    public int NewidleIdx { get; init; }
    public int WakeIdx { get; init; }
    public int ForkexecIdx { get; init; }
    public long SmtGain { get; init; } = 1178;

    /// <summary>
    /// 6.x's <c>sd-&gt;imb_numa_nr</c> (build_sched_domains): how many running tasks a NUMA level
    /// tolerates on the destination before <c>adjust_numa_imbalance</c> stops allowing an
    /// imbalance. 0 on 2.6.39 domains (no such field).
    /// </summary>
    public int ImbNumaNr { get; set; }

    public SchedDomain? Parent { get; set; }
    public SchedDomain? Child { get; set; }

    /// <summary>Jiffy of the last balancing pass at this level.</summary>
    public long LastBalance;

    /// <summary>Current balance interval in ms (doubles on balanced passes up to <see cref="MaxInterval"/>).</summary>
    public long BalanceInterval = 1;

    /// <summary><c>sd-&gt;avg_scan_cost</c> (4.19, SIS_PROP): the decaying average cost of select_idle_cpu's scans through this (LLC) domain, ns.</summary>
    public long AvgScanCost;

    public int NrBalanceFailed;

    // Statistics.
    public long LbCount, LbFailed, LbBalanced, LbGained, AlbPushed;

    /// <summary>Passes skipped at this (SD_SERIALIZE) level because another CPU held the <c>balancing</c> lock.</summary>
    public long SerializeSkipped;

    public int SpanWeight => _span.Count;
    public bool SpanContains(int cpu) => _span.Contains(cpu);
    public bool Has(SdFlags f) => (Flags & f) != 0;

    public override string ToString() => $"{Name}{{{_span}}}";
}

using PleSim.Engine;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Experiments.Scenarios;

/// <summary>The <c>host:</c> section: physical CPUs, scheduler tunables and features, cgroups, host-only tasks.</summary>
public sealed record HostSettings
{
    public int Cpus { get; init; } = 4;
    public int ThreadsPerCore { get; init; } = 1;
    public long TscMhz { get; init; } = 2900;
    public string Scheduler { get; init; } = "cfs-2.6.39";

    /// <summary>
    /// <c>host.load_tracking</c> (decision 0056): 2.6.39's update_cfs_load/update_cfs_shares, or
    /// PELT with calc_group_shares as fair.c has them at v6.6 (EEVDF hosts only; their default), or
    /// 4.19's PELT with runnable_load_avg and calc_group_shares/calc_group_runnable (cfs-4.19 only;
    /// its default; decision 0053).
    /// </summary>
    public string LoadTracking { get; init; } = "2.6.39";

    /// <summary>
    /// <c>host.load_balance</c> (decision 0056): 2.6.39's load balancer, or 6.6's (group and
    /// migration types on PELT loads; needs pelt-6.6; the EEVDF hosts' default), or 4.19's (group_type,
    /// avg_load/load_per_task, fix_small_imbalance on 4.19 PELT loads; needs load_tracking 4.19;
    /// cfs-4.19's default; decision 0053).
    /// </summary>
    public string LoadBalance { get; init; } = "2.6.39";

    /// <summary>
    /// <c>host.wake_placement</c> (decision 0056): 2.6.39's select_task_rq_fair for wake-ups, or
    /// 6.6's (wake_affine on PELT loads, select_idle_sibling with SIS_UTIL; needs load_balance 6.6,
    /// whose default it follows), or 4.19's wake_affine (wake_affine_idle/wake_affine_weight on 4.19
    /// loads; needs load_balance 4.19, whose default it follows; decision 0053).
    /// </summary>
    public string WakePlacement { get; init; } = "2.6.39";

    /// <summary>
    /// <c>host.sched_domains</c> (decision 0064): the scheduling-domain set-up — 2.6.39's (SIBLING,
    /// MC, CPU, NODE, ALLNODES with SD_*_INIT), 4.19's (SMT, MC, DIE, NODE, NUMA from sd_init and
    /// sched_init_numa; cfs-4.19's default and only there), or 6.x's (the EEVDF hosts', fixed).
    /// </summary>
    public string SchedDomains { get; init; } = "2.6.39";

    /// <summary>
    /// <c>host.idle_search</c> (decision 0064): the idle-CPU search after wake_affine and the fork
    /// slow path — 2.6.39's select_idle_sibling and find_idlest_group/cpu, 4.19's
    /// (select_idle_sibling with recent_used_cpu, select_idle_core/cpu/smt with SIS_PROP;
    /// find_idlest_group/find_idlest_group_cpu; needs wake_placement 4.19, whose default it
    /// follows), or 6.6's (part of wake_placement 6.6, fixed).
    /// </summary>
    public string IdleSearch { get; init; } = "2.6.39";

    /// <summary>The values of <c>host.sched_domains</c>.</summary>
    public static readonly string[] SchedDomainSets = ["2.6.39", "4.19", "6.x"];

    /// <summary>The values of <c>host.idle_search</c>.</summary>
    public static readonly string[] IdleSearches = ["2.6.39", "4.19", "6.6"];

    /// <summary>The values of <c>host.wake_placement</c>.</summary>
    public static readonly string[] WakePlacements = ["2.6.39", "4.19", "6.6"];

    /// <summary>The values of <c>host.load_balance</c>.</summary>
    public static readonly string[] LoadBalancers = ["2.6.39", "4.19", "6.6"];

    /// <summary>The values of <c>host.load_tracking</c>.</summary>
    public static readonly string[] LoadTrackings = ["2.6.39", "4.19", "pelt-6.6"];
    public SchedTunables Sched { get; init; } = new();
    public SchedFeatures Features { get; init; } = new();
    public IReadOnlyList<CgroupSettings> Cgroups { get; init; } = [];
    public IReadOnlyList<HostTaskSettings> Tasks { get; init; } = [];
    public BackgroundSettings Background { get; init; } = new();

    /// <summary><c>host.coscheduling</c> and <c>host.coscheduling_skew_threshold</c>: the co-scheduling comparator (decision 0040).</summary>
    public CoschedSettings Coscheduling { get; init; } = new();

    /// <summary>The <c>host.numa</c> section: NUMA nodes, which CPUs each holds, the SLIT (decision 0039).</summary>
    public NumaSettings Numa { get; init; } = new();

    public HostTopology Topology
    {
        get
        {
            var t = new HostTopology(Cpus / ThreadsPerCore, ThreadsPerCore);
            if (Numa.Nodes == 1)
                return t;
            int[]? cpuNode = null;
            if (Numa.NodeCpus is { } lists)
            {
                cpuNode = new int[Cpus];
                for (int k = 0; k < lists.Count; k++)
                {
                    for (int c = 0; c < Cpus; c++)
                    {
                        if (lists[k].Contains(c))
                            cpuNode[c] = k;
                    }
                }
            }
            return t.WithNodes(Numa.Nodes, cpuNode, Numa.Distance);
        }
    }

    /// <summary>The values of <c>host.scheduler</c>: CFS of 2.6.39 and 4.19 (decision 0049), or EEVDF as fair.c has it at 6.6, 6.12, 6.14, 6.17 and 6.18 (decisions 0024, 0075).</summary>
    public static readonly string[] Schedulers = ["cfs-2.6.39", "cfs-4.19", "eevdf-6.6", "eevdf-6.12", "eevdf-6.14", "eevdf-6.17", "eevdf-6.18", XenCredit];

    /// <summary>Xen 3.4's credit scheduler as the host (decision 0063).</summary>
    public const string XenCredit = "xen-credit-3.4";

    public static FairClass ClassOf(string scheduler) => scheduler switch
    {
        "cfs-4.19" => FairClass.Cfs419,
        "eevdf-6.6" => FairClass.Eevdf66,
        "eevdf-6.12" => FairClass.Eevdf612,
        "eevdf-6.14" => FairClass.Eevdf614,
        "eevdf-6.17" => FairClass.Eevdf617,
        "eevdf-6.18" => FairClass.Eevdf618,
        XenCredit => FairClass.XenCredit34,
        _ => FairClass.Cfs2639,
    };
}

/// <summary>
/// <c>host.numa</c>: <c>nodes</c> (NUMA nodes = sockets, each one package with its own
/// last-level cache; default 1), <c>cpus</c> (each node's CPU list, separated by ';'; default
/// equal blocks of consecutive cores) and <c>distance</c> (the SLIT rows separated by ';';
/// default 10 local, 20 remote).
/// </summary>
public sealed record NumaSettings
{
    public int Nodes { get; init; } = 1;
    public IReadOnlyList<CpuSet>? NodeCpus { get; init; }
    public int[][]? Distance { get; init; }
}

/// <summary>A cpu cgroup: <c>{path: /vm1, shares: 1024}</c>; nesting follows the path.</summary>
public sealed record CgroupSettings(string Path, long Shares);

/// <summary>A host-only task (or <see cref="Count"/> identical ones): a hog, a periodic sleeper, or a ping-pong pair.</summary>
public sealed record HostTaskSettings
{
    public required string Name { get; init; }
    public string Kind { get; init; } = "hog";
    public int Count { get; init; } = 1;
    public int Nice { get; init; }
    public string Cgroup { get; init; } = "/";
    public CpuSet? Affinity { get; init; }
    public int StartCpu { get; init; }
    public SimDuration Run { get; init; } = SimDuration.FromMilliseconds(1);
    public SimDuration Sleep { get; init; } = SimDuration.FromMilliseconds(1);
    public bool Jitter { get; init; }
    public SimDuration Work { get; init; } = SimDuration.FromMicroseconds(50);
    public SimDuration StartAt { get; init; } = SimDuration.Zero;

    /// <summary>A later <c>sched_setaffinity</c>: at this time the affinity becomes <see cref="LaterAffinity"/>.</summary>
    public SimDuration? SetAffinityAt { get; init; }
    public CpuSet? LaterAffinity { get; init; }

    /// <summary>For <c>yielder</c>: the task to yield_to (none: sched_yield).</summary>
    public string? YieldTo { get; init; }

    public static readonly string[] Kinds = ["hog", "periodic", "pingpong", "yielder"];
}

/// <summary>
/// <c>host.background</c>: the host's own periodic work next to the VCPU threads (kernel worker
/// threads, QEMU's I/O thread, kthreads such as khugepaged). Absent: none (host-only test
/// scenarios keep their meaning). <see cref="Threads"/> is the effective list: the preset's
/// threads with the file's <c>threads:</c> entries applied, disabled ones removed, and nothing
/// at all when <c>enabled: false</c>.
/// </summary>
public sealed record BackgroundSettings
{
    public string Preset { get; init; } = "none";
    public bool Enabled { get; init; } = true;
    public IReadOnlyList<BackgroundThreadSettings> Threads { get; init; } = [];
}

/// <summary>
/// One background thread: <c>scope: cpu</c> (one per host CPU, bound to it, root group: a
/// per-CPU kernel thread such as <c>events/N</c>), <c>vm</c> (one per VM, in the VM's group with
/// the VM's affinity: a QEMU thread) or <c>host</c> (one, root group, any CPU: a kthread).
/// </summary>
public sealed record BackgroundThreadSettings
{
    public required string Name { get; init; }
    public string Scope { get; init; } = "host";
    public int Nice { get; init; }
    public bool Enabled { get; init; } = true;
    public IReadOnlyList<BackgroundTimerSettings> Timers { get; init; } = [];

    public static readonly string[] Scopes = ["cpu", "vm", "host"];
}

/// <summary>
/// One timer of a background thread: every <see cref="Period"/> a work item costing
/// <see cref="Cost"/> of CPU time. <see cref="Rearm"/>: <c>on_grid</c> or <c>after_run</c>
/// (PleSim.Host.Workloads.TimerRearm). <see cref="Phase"/>: <c>random</c> (first expiry uniform
/// in one period, per run) or <c>round_jiffies</c> (the kernel's <c>round_jiffies_relative</c>:
/// whole seconds of a per-run host second grid, less 3 jiffies per CPU number).
/// </summary>
public sealed record BackgroundTimerSettings
{
    public required string Name { get; init; }
    public SimDuration Period { get; init; }
    public SimDuration Cost { get; init; }
    public string Rearm { get; init; } = "after_run";
    public string Phase { get; init; } = "random";

    public static readonly string[] Rearms = ["on_grid", "after_run"];
    public static readonly string[] Phases = ["random", "round_jiffies"];
}

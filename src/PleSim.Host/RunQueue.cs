namespace PleSim.Host;

/// <summary>
/// <c>struct rq</c>: one physical CPU's run queue and per-CPU scheduler state (load indexes,
/// idle statistics, balancing bookkeeping) plus its busy/idle accounting.
/// </summary>
public sealed class RunQueue
{
    /// <summary>CPU_LOAD_IDX_MAX.</summary>
    public const int CpuLoadIdxMax = 5;

    public RunQueue(int cpu, HostTask idle)
    {
        Cpu = cpu;
        Idle = idle;
        Curr = idle;
    }

    public int Cpu { get; }

    /// <summary>The root CFS queue (<c>rq->cfs</c>), the root group's queue on this CPU.</summary>
    public CfsRq Cfs { get; internal set; } = null!;

    /// <summary>Runnable tasks on this CPU, the running one included (<c>rq->nr_running</c>).</summary>
    public int NrRunning;

    /// <summary>Sum of the weights of the top-level entities (<c>rq->load</c>).</summary>
    public LoadWeight Load;

    /// <summary><c>rq->cpu_load[]</c>: decayed load averages, updated on the tick.</summary>
    public readonly long[] CpuLoad = new long[CpuLoadIdxMax];

    public long LastLoadUpdateTick;

    public HostTask Curr { get; internal set; }
    public HostTask Idle { get; }

    /// <summary>TIF_NEED_RESCHED of the current task.</summary>
    public bool NeedResched;

    /// <summary>When the CPU last went idle (<c>idle_stamp</c>, 0 = not idle-stamped).</summary>
    public long IdleStamp;

    /// <summary>Average idle period (<c>avg_idle</c>), starts at 2 × migration cost.</summary>
    public long AvgIdle;

    /// <summary>Jiffy at which the next periodic balance is due (<c>next_balance</c>).</summary>
    public long NextBalance;

    /// <summary>Leaf CFS queues with load (<c>leaf_cfs_rq_list</c>), most recently added first.</summary>
    public readonly List<CfsRq> LeafCfsRqs = [];

    /// <summary>
    /// <c>rq-&gt;cfs_tasks</c> (6.x balancer): the CFS tasks queued here, most recently picked first;
    /// <c>detach_tasks</c> walks it from the tail. Maintained only with host.load_balance 6.6.
    /// </summary>
    public readonly List<HostTask> CfsTasks = [];

    /// <summary>PELT (6.x): <c>tmp_alone_branch</c> as an index into <see cref="LeafCfsRqs"/>: where a queue whose parent is not listed yet goes.</summary>
    public int TmpAloneBranch;

    /// <summary>The scheduling domains of this CPU, lowest level first (<c>rq->sd</c> and its parents).</summary>
    public SchedDomain[] Domains = [];

    /// <summary>Active balancing pending (<c>active_balance</c>) and its target.</summary>
    public bool ActiveBalance;
    public int PushCpu;

    /// <summary>The tick is stopped (NOHZ idle).</summary>
    public bool TickStopped;
    public bool IdleAtTick;

    /// <summary>
    /// <c>rq->lock</c> as booked by <c>yield_to</c> callers (<see cref="HostScheduler.DoubleRqLock"/>);
    /// only they book it (decision 0010).
    /// </summary>
    public RqLock Lock { get; } = new();

    /// <summary>A context switch is in progress: <see cref="Curr"/> was picked but has not started running yet.</summary>
    internal bool SwitchInProgress;

    // Accounting.
    public long BusyNs;
    public long IdleNs;
    public long NrSwitches;
    public long LastAccountStamp;

    public bool IsIdle => ReferenceEquals(Curr, Idle);

    public override string ToString() => $"cpu{Cpu}";
}

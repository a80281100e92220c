namespace PleSim.Host;

/// <summary>
/// <c>struct cfs_rq</c>: one CFS queue — a CPU's root queue, or a task group's queue on one CPU.
/// Runnable entities other than <see cref="Curr"/> are kept ordered by vruntime (the kernel's
/// red-black tree). Entities with equal vruntime keep their insertion order, as in
/// <c>__enqueue_entity</c> ("nodes with the same key stay together", new ones to the right).
/// The queues hold a handful of entities, so a sorted array beats a tree here.
/// </summary>
public sealed class CfsRq
{
    private SchedEntity[] _tree = new SchedEntity[8];
    private int _count;

    public CfsRq(RunQueue rq, TaskGroup tg)
    {
        Rq = rq;
        Tg = tg;
        // init_cfs_rq: min_vruntime starts just below zero (the kernel uses -(1 << 20) so that
        // wrap-around bugs show early); we use signed 64-bit vruntimes, which cannot wrap.
        MinVruntime = -(1L << 20);
        LoadStamp = 1; // allow the first update_cfs_load() to truncate
    }

    public RunQueue Rq { get; }
    public TaskGroup Tg { get; }

    public LoadWeight Load;
    public int NrRunning;
    public long MinVruntime;

    /// <summary>EEVDF (6.6+): Σ (vruntime − min_vruntime) × weight and Σ weight over the tree (not curr): <c>avg_vruntime</c>, <c>avg_load</c>.</summary>
    public long AvgVruntime;
    public long AvgLoad;

    /// <summary>The running entity at this level (not in the tree while it runs).</summary>
    public SchedEntity? Curr;

    /// <summary>Buddies: hints to <c>pick_next_entity</c>.</summary>
    public SchedEntity? Next, Last, Skip;

    /// <summary>Tasks queued here, newest first (<c>cfs_rq->tasks</c>, list_add at the head); the balancer walks it.</summary>
    public readonly List<HostTask> Tasks = [];

    // Group load tracking for update_cfs_shares (CONFIG_FAIR_GROUP_SCHED && CONFIG_SMP, 2.6.38/39).
    public long LoadAvg;
    public long LoadPeriod;
    public long LoadStamp;
    public long LoadLast;
    public long LoadUnaccExecTime;
    public long LoadContribution;

    // PELT (6.x; decision 0056): the queue's sched_avg, its last contribution to tg->load_avg,
    // pending propagation to the group entity above (propagate, prop_runnable_sum), load of tasks
    // that migrated away while asleep (cfs_rq->removed), and h_nr_running (tasks queued here
    // and below).
    public SchedAvg Avg;
    public long TgLoadAvgContrib;
    public bool Propagate;
    public long PropRunnableSum;
    public int RemovedNr;
    public long RemovedLoadAvg, RemovedUtilAvg, RemovedRunnableAvg;
    public int HNrRunning;

    /// <summary>
    /// Tasks queued here and below whose sleep was delayed (DELAY_DEQUEUE, decision 0083): counted in
    /// <see cref="HNrRunning"/> (6.12's h_nr_running; 6.14's h_nr_queued) but not in 6.14+'s
    /// h_nr_runnable = <see cref="HNrRunning"/> − this.
    /// </summary>
    public int HNrDelayed;

    /// <summary>v4.19 <c>cfs_rq->runnable_weight</c>: Σ runnable_weight of the queued entities (decision 0053).</summary>
    public long RunnableWeight;

    /// <summary>Hierarchical load (<c>h_load</c>), computed by <c>update_h_load</c> for balancing.</summary>
    public long HLoad;

    /// <summary>
    /// 4.19's and 6.x's <c>cfs_rq->h_load</c> (from PELT loads), <c>->last_h_load_update</c>
    /// (jiffies; −1: never) and <c>->h_load_next</c>: <c>update_cfs_rq_h_load</c>'s once-a-jiffy
    /// cache (decisions 0102, 0103). 2.6.39's h_load is <see cref="HLoad"/>.
    /// </summary>
    public long PeltHLoad;
    public long LastHLoadUpdate = -1;
    public SchedEntity? HLoadNext;

    /// <summary>On the rq's leaf list (<c>on_list</c>, list_add_leaf_cfs_rq).</summary>
    public bool OnList;

    public int TreeCount => _count;

    /// <summary>The leftmost (smallest vruntime) queued entity, or null (<c>__pick_first_entity</c>).</summary>
    public SchedEntity? First => _count > 0 ? _tree[0] : null;

    /// <summary>The entity after <paramref name="se"/> in vruntime order (<c>__pick_next_entity</c>).</summary>
    public SchedEntity? After(SchedEntity se)
    {
        int i = IndexOf(se);
        return i >= 0 && i + 1 < _count ? _tree[i + 1] : null;
    }

    public SchedEntity TreeAt(int i) => _tree[i];

    /// <summary>Makes room for <paramref name="entities"/> queued entities (set up only: the event loop never allocates).</summary>
    internal void Reserve(int entities)
    {
        if (_tree.Length < entities)
            Array.Resize(ref _tree, entities);
        Tasks.EnsureCapacity(entities);
    }

    /// <summary><c>__enqueue_entity</c>.</summary>
    public void Insert(SchedEntity se)
    {
        if (_count == _tree.Length)
            Array.Resize(ref _tree, _tree.Length * 2);
        // Position after every entity whose key is <= se's (equal keys: FIFO).
        int i = _count;
        while (i > 0 && se.Vruntime - _tree[i - 1].Vruntime < 0)
        {
            _tree[i] = _tree[i - 1];
            i--;
        }
        _tree[i] = se;
        _count++;
    }

    /// <summary><c>__dequeue_entity</c>.</summary>
    public void Remove(SchedEntity se)
    {
        int i = IndexOf(se);
        if (i < 0)
            throw new InvalidOperationException($"{se} is not in the tree of {this}");
        _count--;
        Array.Copy(_tree, i + 1, _tree, i, _count - i);
        _tree[_count] = null!;
    }

    public bool Contains(SchedEntity se) => IndexOf(se) >= 0;

    private int IndexOf(SchedEntity se)
    {
        for (int i = 0; i < _count; i++)
        {
            if (ReferenceEquals(_tree[i], se))
                return i;
        }
        return -1;
    }

    public override string ToString() => $"cfs_rq({Tg.Path}@cpu{Rq.Cpu})";
}

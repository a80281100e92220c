namespace PleSim.Host;

/// <summary>
/// <c>struct task_group</c> (a cpu cgroup): per CPU, a queue for its members and an entity that
/// represents the group on the parent's queue. The root group has no entities: its queue on a
/// CPU is that CPU's root queue.
/// </summary>
public sealed class TaskGroup
{
    public TaskGroup(string path, TaskGroup? parent, long shares, int cpus)
    {
        Path = path;
        Parent = parent;
        Shares = shares;
        CfsRq = new CfsRq[cpus];
        Se = parent is null ? [] : new SchedEntity[cpus];
        parent?.Children.Add(this);
    }

    /// <summary>The cgroup path, e.g. <c>/</c> or <c>/vm1</c>.</summary>
    public string Path { get; }

    public TaskGroup? Parent { get; }
    public List<TaskGroup> Children { get; } = [];
    public bool IsRoot => Parent is null;

    /// <summary><c>cpu.shares</c> (default 1024).</summary>
    public long Shares { get; set; }

    /// <summary><c>tg->load_weight</c>: the sum of the per-CPU load contributions.</summary>
    public long LoadWeight;

    /// <summary>PELT (6.x, decision 0056): <c>tg->load_avg</c>, the sum of the queues' published load_avg contributions.</summary>
    public long LoadAvg;

    public CfsRq[] CfsRq { get; }
    public SchedEntity[] Se { get; }

    // Accounting (cpuacct-like): CPU time used by tasks in this group and its children.
    public long CpuTimeNs;

    public int Depth => Parent is null ? 0 : Parent.Depth + 1;

    /// <summary>The weight of this group's entity on <paramref name="cpu"/> (set by update_cfs_shares), or 0 while the group has nothing runnable there.</summary>
    public long RunnableWeight(int cpu) => CfsRq[cpu].NrRunning == 0 ? 0 : Se[cpu].Load.Weight;

    public override string ToString() => Path;
}

namespace PleSim.Host;

/// <summary>
/// <c>struct sched_entity</c>: what CFS queues — a task's own entity, or a task group's entity on
/// one CPU (then <see cref="MyQ"/> is the group's queue there). Times are nanoseconds.
/// </summary>
public sealed class SchedEntity
{
    public LoadWeight Load;
    public bool OnRq;
    public long ExecStart;
    public long SumExecRuntime;
    public long Vruntime;
    public long PrevSumExecRuntime;
    public long NrMigrations;

    // EEVDF (6.6+; unused by CFS 2.6.39): the virtual deadline, the request size (sysctl_sched_base_slice)
    // and the virtual lag saved at dequeue (while running: the deadline stashed at pick, RUN_TO_PARITY).
    public long Deadline;
    public long Slice;
    public long Vlag;

    // EEVDF 6.17+ (se->vprot, set_protect_slice): the vruntime up to which the entity, once picked,
    // is protected from being replaced by the pick (decision 0075). Unused before 6.17.
    public long Vprot;

    /// <summary>
    /// EEVDF 6.12+ with DELAY_DEQUEUE (<c>se->sched_delayed</c>; decision 0083): the entity went to
    /// sleep while not eligible and stays queued, competing, until it is picked (then it is
    /// dequeued) or its task wakes (then it is requeued in place). Never set otherwise.
    /// </summary>
    public bool SchedDelayed;

    // PELT (6.x; host.load_tracking pelt-6.6, decision 0056): the entity's load tracking
    // (<c>se->avg</c>) and, for a group entity, its runnable weight (<c>runnable_weight</c> =
    // the group queue's h_nr_running, se_update_runnable).
    public SchedAvg Avg;
    public long RunnableWeight;

    /// <summary>The group entity one level up (<c>se->parent</c>), null at the top.</summary>
    public SchedEntity? Parent;

    /// <summary>The queue this entity is (to be) queued on (<c>se->cfs_rq</c>).</summary>
    public CfsRq CfsRq = null!;

    /// <summary>The queue this group entity owns (<c>se->my_q</c>); null for a task.</summary>
    public CfsRq? MyQ;

    /// <summary>The task, for a task's entity; null for a group entity.</summary>
    public HostTask? Task;

    /// <summary>For group entities: the group and CPU it stands for.</summary>
    public TaskGroup? Group;
    public int GroupCpu;

    // schedstats: time spent runnable but waiting (update_stats_wait_start/_end).
    public long WaitStart;
    public long WaitSum;
    public long WaitCount;

    /// <summary>Time spent runnable but waiting up to <paramref name="nowNs"/>, a wait in progress included (schedstats' <c>wait_sum</c>; for a task, <c>sched_info.run_delay</c>).</summary>
    public long WaitSumAt(long nowNs) => WaitSum + (WaitStart != 0 ? nowNs - WaitStart : 0);

    public bool IsTask => MyQ is null;

    /// <summary>Depth in the group hierarchy (<c>depth_se</c>): 0 for an entity on a CPU's root queue.</summary>
    public int Depth
    {
        get
        {
            int d = 0;
            for (var p = Parent; p is not null; p = p.Parent)
                d++;
            return d;
        }
    }

    public override string ToString() => Task is not null ? Task.Name : $"group {Group?.Path}@cpu{GroupCpu}";
}

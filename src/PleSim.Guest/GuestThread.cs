using PleSim.Host;

namespace PleSim.Guest;

/// <summary>Scheduling state of a guest thread.</summary>
public enum ThreadState
{
    Runnable,
    Running,

    /// <summary>It put itself on a wait queue and is about to schedule() (a wake-up now cancels the sleep).</summary>
    Sleeping,

    /// <summary>Off the run queue, waiting for a wake-up.</summary>
    Blocked,
    Done,
}

/// <summary>A guest kernel thread or process (task_struct in the guest).</summary>
public sealed class GuestThread
{
    internal GuestThread(int id, string name, IThreadProgram program, int cpu, CpuMask affinity, int mm)
    {
        Id = id;
        Mm = mm;
        Name = name;
        Program = program;
        Cpu = cpu;
        _affinity = affinity;
    }

    public int Id { get; }
    public string Name { get; }
    public IThreadProgram Program { get; }

    /// <summary>The address space (<c>mm_struct</c>) it runs in: threads of one process share it; a TLB shootdown targets the VCPUs that have it loaded.</summary>
    public int Mm { get; internal set; }
    public ThreadState State { get; internal set; } = ThreadState.Runnable;

    /// <summary>The VCPU it runs on or last ran on.</summary>
    public int Cpu { get; internal set; }

    /// <summary>VCPUs it may run on (a bit per VCPU).</summary>
    private readonly CpuMask _affinity;
    public ref readonly CpuMask Affinity => ref _affinity;

    /// <summary>The guest CFS virtual runtime (ns).</summary>
    public long Vruntime { get; internal set; }

    /// <summary>Guest (wall) time it was the current thread of a VCPU.</summary>
    public long RuntimeNs { get; internal set; }
    internal long ExecStart;
    internal long SliceStart;

    /// <summary>
    /// Its place in its run queue's task list (<c>cfs_rq->tasks</c> in 2.6.39, <c>rq->cfs_tasks</c>
    /// later), larger = nearer the head: set when it is enqueued (<c>account_entity_enqueue</c>'s
    /// list_add) and, where <see cref="GuestSchedDomain.TasksListMru"/> (4.16 on), when it is picked
    /// (<c>pick_next_task_fair</c>'s list_move to the head). The busy balancer walks the list.
    /// </summary>
    internal long ListSeq;

    /// <summary>Spinlocks held now (a guest kernel does not preempt a lock holder).</summary>
    public int LocksHeld { get; internal set; }

    /// <summary>Kernel mutexes (<see cref="GuestMutex"/>) it owns now (it may sleep or be preempted holding them).</summary>
    public int MutexesHeld { get; internal set; }

    /// <summary>
    /// The mutex whose slow path it is in (on its <c>wait_list</c>, asleep or just woken): when it
    /// runs next, it retakes <c>wait_lock</c> and retries before its program continues.
    /// </summary>
    internal GuestMutex? MutexWait;

    public long Wakeups { get; internal set; }
    public long Migrations { get; internal set; }

    public bool AllowedOn(int cpu) => _affinity.Contains(cpu);

    public override string ToString() => Name;
}

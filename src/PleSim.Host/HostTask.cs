namespace PleSim.Host;

/// <summary><c>p->state</c> values that matter here. <see cref="Running"/> (0) covers running and runnable.</summary>
public enum TaskState
{
    Running = 0,
    Interruptible = 1,
    Waking = 256,
    Dead = 64,
}

/// <summary>Why a task stopped executing on its CPU.</summary>
public enum StopReason
{
    /// <summary>Preempted while still runnable (tick, wake-up preemption, remote resched, balancing).</summary>
    Preempted,

    /// <summary>It blocked (went to sleep) by its own request.</summary>
    Blocked,

    /// <summary>It called sched_yield or yield_to and another task was picked.</summary>
    Yielded,
}

/// <summary>
/// What a host task does while it runs: the host calls these like the kernel's preempt notifiers
/// (<c>sched_in</c> / <c>sched_out</c>). A body never continues synchronously after asking the
/// host to block or yield: its continuation is the next <see cref="OnRun"/>.
/// </summary>
public interface ITaskBody
{
    /// <summary>The task starts or resumes executing on <paramref name="cpu"/>. <paramref name="switched"/> is
    /// false when it continues after a yield that picked it again.</summary>
    void OnRun(HostTask task, int cpu, bool switched);

    /// <summary>The task stops executing. Called synchronously from inside the scheduler.</summary>
    void OnStop(HostTask task, int cpu, StopReason reason);
}

/// <summary>
/// A host thread (<c>struct task_struct</c>, SCHED_NORMAL): its scheduling entity, weight, CPU
/// affinity, group, and the body that says what it does.
/// </summary>
public sealed class HostTask
{
    internal HostTask(int id, string name, int nice, CpuMask affinity, TaskGroup group, ITaskBody body)
    {
        Id = id;
        Name = name;
        Nice = nice;
        Affinity = affinity;
        Group = group;
        Body = body;
        Se = new SchedEntity { Task = this, Load = Weights.ForNice(nice) };
    }

    public int Id { get; }
    public string Name { get; }
    public int Nice { get; }

    /// <summary><c>cpus_allowed</c> as a bit mask.</summary>
    private CpuMask _affinity;
    public CpuMask Affinity { get => _affinity; internal set => _affinity = value; }
    /// <summary>The affinity mask without a copy.</summary>
    public ref readonly CpuMask AffinityRef => ref _affinity;

    public TaskGroup Group { get; }
    public ITaskBody Body { get; }
    public SchedEntity Se { get; }
    public TaskState State { get; internal set; } = TaskState.Interruptible;

    /// <summary><c>task_cpu(p)</c>: the CPU whose queue the task is on or was last on.</summary>
    public int Cpu { get; internal set; } = -1;

    /// <summary>True while it is the current task of its CPU (<c>task_running</c>).</summary>
    public bool OnCpu { get; internal set; }

    /// <summary>True once the task was started (woken as a new task).</summary>
    public bool Started { get; internal set; }

    public bool IsIdle { get; init; }

    /// <summary>Free for the layer that owns the body (e.g. the hypervisor's VCPU).</summary>
    public object? Owner { get; set; }

    // Accounting.
    public long NrVoluntarySwitches;
    public long NrInvoluntarySwitches;
    public long NrWakeups;
    public long NrWakeupsMigrate;

    /// <summary>Wake-ups of a task whose sleep was delayed (DELAY_DEQUEUE, decision 0083): requeued where it was, by <c>ttwu_runnable</c>.</summary>
    public long NrDelayedWakeups;

    // 6.x wake-up placement (decision 0056): record_wakee's flips and select_idle_sibling's hint.
    public long WakeeFlips;
    public long WakeeFlipDecayTs;
    public HostTask? LastWakee;
    public int RecentUsedCpu = -1;
    public long NrYields;
    public long NrYieldTo;
    public long LastRunStart;

    /// <summary>
    /// Yields (<c>sched_yield</c>, or a <c>yield_to</c> that reached schedule()) after which
    /// schedule() picked this task again, so it kept its CPU. Under 2.6.39 the skip buddy is passed
    /// over only when the next entity is within the wake-up granularity of it (pick_next_entity),
    /// and the yield costs no vruntime; under EEVDF (6.6–6.14) the yielder keeps the CPU whenever it
    /// is the only eligible entity, and each such yield pushes its deadline a slice further
    /// (yield_task_fair), so it runs that much longer (decision 0044).
    /// </summary>
    public long NrYieldsKeptCpu;

    /// <summary>Yields that reached schedule(): every <c>sched_yield</c> and every successful <c>yield_to</c>.</summary>
    public long NrYieldSchedules;

    /// <summary>Uninterrupted stints on a CPU (from the end of the switch to it until it was switched out) that ended, their total and the sum of their squares (ns²).</summary>
    public long NrStints, StintNs;

    /// <summary>Σ stint² in ns² (a double: one 1 s stint is 1e18 ns²); Σ stint² / Σ stint is the time-weighted mean stint.</summary>
    public double StintNsSquared;

    /// <summary>CPU time used (ns): <c>se.sum_exec_runtime</c>, context-switch time included.</summary>
    public long CpuTimeNs => Se.SumExecRuntime;

    public bool AllowedOn(int cpu) => _affinity.Contains(cpu);

    public override string ToString() => Name;
}

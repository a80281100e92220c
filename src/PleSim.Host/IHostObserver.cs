namespace PleSim.Host;

/// <summary>The outcome of <c>yield_to</c>, with the reason when it failed.</summary>
public enum YieldToResult
{
    /// <summary>The target got the next-buddy boost and the caller rescheduled.</summary>
    Success,

    /// <summary>The target is running on a CPU (<c>task_running</c>).</summary>
    TargetRunning,

    /// <summary>The target is not runnable (<c>p->state != TASK_RUNNING</c>, e.g. halted).</summary>
    TargetNotRunnable,

    /// <summary>The target's entity is not on its run queue (<c>!se->on_rq</c>).</summary>
    TargetNotQueued,

    /// <summary>The target is in another scheduling class.</summary>
    OtherClass,

    /// <summary>3.9's undercommit exit: both run queues have a single task (-ESRCH).</summary>
    BothQueuesSingle,
}

/// <summary>Why a task moved between CPUs.</summary>
public enum MigrationCause
{
    Wakeup,
    Fork,
    PeriodicBalance,
    IdleBalance,
    NewIdleBalance,
    ActiveBalance,
    Affinity,
}

/// <summary>
/// Listens to scheduler events (for traces and explanations). Every method has a default that
/// does nothing; the scheduler calls them only when an observer is attached.
/// </summary>
public interface IHostObserver
{
    void Switch(int cpu, HostTask prev, HostTask next, StopReason prevReason) { }
    void Wakeup(HostTask task, int targetCpu, int wakerCpu, bool preemptsCurrent) { }

    /// <summary>A new task was queued on <paramref name="cpu"/> for the first time (<c>wake_up_new_task</c>).</summary>
    void NewTask(HostTask task, int cpu) { }
    void Migrate(HostTask task, int from, int to, MigrationCause cause) { }
    void Yield(HostTask task, int cpu) { }
    void YieldTo(HostTask yielder, HostTask target, YieldToResult result) { }
    void Buddy(int cpu, string kind, SchedEntity entity) { }
    void Tick(int cpu) { }
}

/// <summary>Calls several observers in turn.</summary>
internal sealed class FanOutObserver(IHostObserver[] observers) : IHostObserver
{
    public FanOutObserver With(IHostObserver o) => new([.. observers, o]);

    public void Switch(int cpu, HostTask prev, HostTask next, StopReason prevReason)
    {
        foreach (var o in observers)
            o.Switch(cpu, prev, next, prevReason);
    }

    public void Wakeup(HostTask task, int targetCpu, int wakerCpu, bool preemptsCurrent)
    {
        foreach (var o in observers)
            o.Wakeup(task, targetCpu, wakerCpu, preemptsCurrent);
    }

    public void NewTask(HostTask task, int cpu)
    {
        foreach (var o in observers)
            o.NewTask(task, cpu);
    }

    public void Migrate(HostTask task, int from, int to, MigrationCause cause)
    {
        foreach (var o in observers)
            o.Migrate(task, from, to, cause);
    }

    public void Yield(HostTask task, int cpu)
    {
        foreach (var o in observers)
            o.Yield(task, cpu);
    }

    public void YieldTo(HostTask yielder, HostTask target, YieldToResult result)
    {
        foreach (var o in observers)
            o.YieldTo(yielder, target, result);
    }

    public void Buddy(int cpu, string kind, SchedEntity entity)
    {
        foreach (var o in observers)
            o.Buddy(cpu, kind, entity);
    }

    public void Tick(int cpu)
    {
        foreach (var o in observers)
            o.Tick(cpu);
    }
}

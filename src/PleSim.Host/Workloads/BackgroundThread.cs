using PleSim.Engine;

namespace PleSim.Host.Workloads;

/// <summary>How a background timer is re-armed after it fires.</summary>
public enum TimerRearm
{
    /// <summary>
    /// On a fixed grid: the next expiry is the previous expiry plus the period, whenever the work
    /// ran (the kernel's <c>round_jiffies</c> delayed work, QEMU's RTC <c>next_second_time += 1s</c>).
    /// </summary>
    OnGrid,

    /// <summary>
    /// From when the work item finished: the handler re-arms itself at "now + period" when it runs
    /// (QEMU's <c>nographic_update</c>, a kthread's <c>schedule_timeout</c> after its scan).
    /// </summary>
    AfterRun,
}

/// <summary>
/// One timer of a background thread: every <see cref="Period"/> it queues a work item of
/// <see cref="Cost"/> CPU time on its thread. <see cref="Phase"/> is the first expiry.
/// </summary>
public readonly record struct BackgroundTimer(string Name, SimDuration Period, SimDuration Cost, TimerRearm Rearm, SimDuration Phase);

/// <summary>
/// A host thread that sleeps until one of its timers fires, then runs the queued work items one
/// after another (each costs its timer's CPU time, paid only while the thread is on a CPU) and
/// sleeps again: a kworker running its per-CPU delayed works (<c>vmstat_update</c>,
/// <c>cache_reap</c>), QEMU's I/O thread running expired timers from <c>qemu_run_all_timers</c>,
/// a kthread such as khugepaged between scans. The timer wakes the thread from the CPU it last
/// ran on (a timer fires on the CPU that armed it), through <c>try_to_wake_up</c>.
/// A timer whose previous item is still queued or running does not queue a second one (a
/// pending delayed work is not queued twice; QEMU runs an expired timer once; the kernel would
/// accept a re-queue while the work runs, which matters only when a cost nears its period):
/// that is counted as coalesced. Allocation-free once built.
/// </summary>
public sealed class BackgroundThreadBody : ITaskBody, IWorkDone, IEventHandler
{
    private readonly HostScheduler _host;
    private readonly BackgroundTimer[] _timers;
    private readonly HrTimer[] _hrtimers;
    private readonly bool[] _queued;
    private readonly int[] _fifo;
    private int _head, _count;
    private CpuWork _work = null!;
    private HostTask _task = null!;
    private bool _busy;

    public BackgroundThreadBody(HostScheduler host, IReadOnlyList<BackgroundTimer> timers)
    {
        if (timers.Count == 0)
            throw new ArgumentException("a background thread needs at least one timer", nameof(timers));
        _host = host;
        _timers = [.. timers];
        foreach (var t in _timers)
        {
            if (t.Period.Ns <= 0)
                throw new ArgumentException($"timer '{t.Name}' has a period of {t.Period}", nameof(timers));
            if (t.Cost.Ns <= 0)
                throw new ArgumentException($"timer '{t.Name}' has a cost of {t.Cost}", nameof(timers));
        }
        _hrtimers = new HrTimer[_timers.Length];
        _queued = new bool[_timers.Length];
        _fifo = new int[_timers.Length];
        Fires = new long[_timers.Length];
        Done = new long[_timers.Length];
        Coalesced = new long[_timers.Length];
    }

    public IReadOnlyList<BackgroundTimer> Timers => _timers;
    public HostTask Task => _task;

    /// <summary>Per timer: expiries, work items completed, expiries dropped because an item was still queued.</summary>
    public long[] Fires { get; }
    public long[] Done { get; }
    public long[] Coalesced { get; }

    /// <summary>Creates the timers and arms each at its phase; start the task (asleep) with <c>WakeUpNewTask</c>.</summary>
    public void Attach(HostTask task)
    {
        _task = task;
        _work = new CpuWork(_host.Sim, task, this);
        for (int i = 0; i < _timers.Length; i++)
        {
            _hrtimers[i] = new HrTimer(_host.Sim, this, i);
            _hrtimers[i].Start(SimTime.Zero + _timers[i].Phase);
        }
    }

    public void ResetCounts()
    {
        Array.Clear(Fires);
        Array.Clear(Done);
        Array.Clear(Coalesced);
    }

    public void OnRun(HostTask task, int cpu, bool switched)
    {
        if (!_busy)
        {
            if (_count == 0)
            {
                // Woken with nothing to do (its first run after creation): back to sleep.
                _host.Block(task);
                return;
            }
            StartNext();
        }
        _work.Resume();
    }

    public void OnStop(HostTask task, int cpu, StopReason reason) => _work.Pause();

    public void OnWorkDone(HostTask task)
    {
        int i = _fifo[_head];
        _head = (_head + 1) % _fifo.Length;
        _count--;
        _queued[i] = false;
        _busy = false;
        Done[i]++;
        if (_timers[i].Rearm == TimerRearm.AfterRun)
            _hrtimers[i].StartAfter(_timers[i].Period);
        if (_count > 0)
        {
            StartNext();
            return;
        }
        _host.Block(task);
    }

    private void StartNext()
    {
        _busy = true;
        _work.Start(_timers[_fifo[_head]].Cost.Ns);
    }

    /// <summary>Timer <paramref name="arg"/> expired.</summary>
    public void OnEvent(Simulator sim, long arg)
    {
        int i = (int)arg;
        Fires[i]++;
        var t = _timers[i];
        if (t.Rearm == TimerRearm.OnGrid)
            _hrtimers[i].Start(_hrtimers[i].Expires + t.Period);
        if (_queued[i])
        {
            Coalesced[i]++;
            return;
        }
        _queued[i] = true;
        _fifo[(_head + _count) % _fifo.Length] = i;
        _count++;
        // Asleep: the timer's CPU (the one the thread last ran on) wakes it. A thread that is
        // running or runnable picks the item up after the ones before it.
        if (_task.State == TaskState.Interruptible && _task.Started)
            _host.TryToWakeUp(_task, _task.Cpu);
    }
}

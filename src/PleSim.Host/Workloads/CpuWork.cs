using PleSim.Engine;

namespace PleSim.Host.Workloads;

/// <summary>Called when a task has consumed the CPU time it asked for.</summary>
public interface IWorkDone
{
    void OnWorkDone(HostTask task);
}

/// <summary>
/// Tracks "this task needs N more ns of CPU": the countdown runs only while the task is on a
/// CPU, pauses when it is switched out, and calls <see cref="IWorkDone.OnWorkDone"/> at the end.
/// </summary>
public sealed class CpuWork : IEventHandler
{
    private readonly Simulator _sim;
    private readonly HostTask _task;
    private readonly IWorkDone _done;
    private readonly HrTimer _timer;
    private long _remaining;
    private long _runningSince = -1;

    public CpuWork(Simulator sim, HostTask task, IWorkDone done)
    {
        _sim = sim;
        _task = task;
        _done = done;
        _timer = new HrTimer(sim, this);
    }

    public bool Pending => _remaining > 0 || _timer.IsArmed;

    /// <summary>Asks for <paramref name="ns"/> of CPU time (the task may be running or not).</summary>
    public void Start(long ns)
    {
        _remaining = ns;
        if (_runningSince >= 0)
        {
            _runningSince = _sim.Now.Ns;
            _timer.Start(_sim.Now + new SimDuration(ns));
        }
    }

    /// <summary>Call from <see cref="ITaskBody.OnRun"/>.</summary>
    public void Resume()
    {
        _runningSince = _sim.Now.Ns;
        if (_remaining > 0)
            _timer.Start(_sim.Now + new SimDuration(_remaining));
    }

    /// <summary>Call from <see cref="ITaskBody.OnStop"/>.</summary>
    public void Pause()
    {
        if (_runningSince >= 0 && _timer.IsArmed)
        {
            _remaining -= _sim.Now.Ns - _runningSince;
            _timer.Cancel();
        }
        _runningSince = -1;
    }

    public void OnEvent(Simulator sim, long arg)
    {
        _remaining = 0;
        _done.OnWorkDone(_task);
    }
}

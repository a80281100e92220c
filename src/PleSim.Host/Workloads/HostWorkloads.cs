using PleSim.Engine;

namespace PleSim.Host.Workloads;

/// <summary>A CPU hog: always runnable, never blocks (an infinite loop).</summary>
public sealed class HogBody : ITaskBody
{
    public void OnRun(HostTask task, int cpu, bool switched) { }
    public void OnStop(HostTask task, int cpu, StopReason reason) { }
}

/// <summary>Runs <c>run</c> of CPU time, sleeps <c>sleep</c> (a timer wakes it on the CPU it slept on), forever.</summary>
public sealed class PeriodicBody : ITaskBody, IWorkDone, IEventHandler
{
    private readonly HostScheduler _host;
    private readonly SimDuration _run;
    private readonly SimDuration _sleep;
    private readonly RandomStream? _jitter;
    private CpuWork _work = null!;
    private HrTimer _wake = null!;
    private HostTask _task = null!;

    public PeriodicBody(HostScheduler host, SimDuration run, SimDuration sleep, RandomStream? jitter = null)
    {
        _host = host;
        _run = run;
        _sleep = sleep;
        _jitter = jitter;
    }

    public long Periods { get; private set; }

    /// <summary>Wake-up latencies (wake-up to running), for tests of wake-up preemption.</summary>
    public List<long> WakeLatencies { get; } = [];
    private long _wokenAt = -1;

    public void Attach(HostTask task)
    {
        _task = task;
        _work = new CpuWork(_host.Sim, task, this);
        _wake = new HrTimer(_host.Sim, this);
        _work.Start(Draw(_run));
    }

    private long Draw(SimDuration mean) => _jitter is null ? mean.Ns : _jitter.Exponential(mean).Ns;

    public void OnRun(HostTask task, int cpu, bool switched)
    {
        if (_wokenAt >= 0)
        {
            WakeLatencies.Add(_host.Sim.Now.Ns - _wokenAt);
            _wokenAt = -1;
        }
        _work.Resume();
    }

    public void OnStop(HostTask task, int cpu, StopReason reason) => _work.Pause();

    public void OnWorkDone(HostTask task)
    {
        Periods++;
        _work.Start(Draw(_run));
        _wake.StartAfter(new SimDuration(Draw(_sleep)));
        _host.Block(task);
    }

    public void OnEvent(Simulator sim, long arg)
    {
        _wokenAt = sim.Now.Ns;
        _host.TryToWakeUp(_task, _task.Cpu);
    }
}

/// <summary>
/// One side of a ping-pong pair: runs <c>work</c>, wakes its partner, and sleeps until the
/// partner wakes it back. Records wake-up latencies (from the partner's wake to running).
/// </summary>
public sealed class PingPongBody : ITaskBody, IWorkDone
{
    private readonly HostScheduler _host;
    private readonly SimDuration _work;
    private CpuWork _cpu = null!;
    private HostTask _task = null!;
    private long _wokenAt = -1;

    public PingPongBody(HostScheduler host, SimDuration work)
    {
        _host = host;
        _work = work;
    }

    public PingPongBody Partner { get; set; } = null!;
    public HostTask Task => _task;
    public long Rounds { get; private set; }
    public List<long> WakeLatencies { get; } = [];

    public void Attach(HostTask task, bool startsWithBall)
    {
        _task = task;
        _cpu = new CpuWork(_host.Sim, task, this);
        if (startsWithBall)
            _cpu.Start(_work.Ns);
    }

    public void OnRun(HostTask task, int cpu, bool switched)
    {
        if (_wokenAt >= 0)
        {
            WakeLatencies.Add(_host.Sim.Now.Ns - _wokenAt);
            _wokenAt = -1;
        }
        if (!_cpu.Pending)
        {
            // First run without the ball: wait for it.
            _host.Block(task);
            return;
        }
        _cpu.Resume();
    }

    public void OnStop(HostTask task, int cpu, StopReason reason) => _cpu.Pause();

    public void OnWorkDone(HostTask task)
    {
        Rounds++;
        Partner.Receive(task.Cpu);
        _host.Block(task);
    }

    private void Receive(int wakerCpu)
    {
        _cpu.Start(_work.Ns);
        _wokenAt = _host.Sim.Now.Ns;
        if (!_host.TryToWakeUp(_task, wakerCpu, sync: true))
            _wokenAt = -1; // it was still running (about to block): it will pick the ball up itself
    }
}

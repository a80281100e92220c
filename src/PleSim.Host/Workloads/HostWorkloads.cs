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

/// <summary>
/// Runs <c>run</c> of CPU time, then yields: <c>sched_yield()</c>, or <c>yield_to(target, preempt)</c>
/// when a target is set. Records each yield_to result and which task the CPU picked next.
/// </summary>
public sealed class YielderBody : ITaskBody, IWorkDone
{
    private readonly HostScheduler _host;
    private readonly SimDuration _run;
    private CpuWork _work = null!;

    public YielderBody(HostScheduler host, SimDuration run)
    {
        _host = host;
        _run = run;
    }

    public HostTask? Target { get; set; }
    public long Yields { get; private set; }
    public Dictionary<YieldToResult, long> Results { get; } = [];

    /// <summary>After successful yield_to calls: how often the target ran next, and how often another task did.</summary>
    public long TargetRanNext { get; private set; }
    public long OtherRanNext { get; private set; }
    public long SelfRanNext { get; private set; }

    public void Attach(HostTask task)
    {
        _work = new CpuWork(_host.Sim, task, this);
        _work.Start(_run.Ns);
    }

    public void ResetCounts()
    {
        Yields = 0;
        Results.Clear();
        TargetRanNext = OtherRanNext = SelfRanNext = 0;
    }

    public void OnRun(HostTask task, int cpu, bool switched)
    {
        if (!_work.Pending)
            _work.Start(_run.Ns);
        _work.Resume();
    }

    public void OnStop(HostTask task, int cpu, StopReason reason) => _work.Pause();

    public void OnWorkDone(HostTask task)
    {
        Yields++;
        int cpu = task.Cpu;
        if (Target is null)
        {
            _host.Yield(task);
            return;
        }
        var r = _host.YieldTo(task, Target, preempt: true);
        Results[r] = Results.GetValueOrDefault(r) + 1;
        if (r == YieldToResult.Success)
        {
            var next = _host.Rqs[cpu].Curr;
            if (next == Target)
                TargetRanNext++;
            else if (next == task)
                SelfRanNext++;
            else
                OtherRanNext++;
        }
        else
        {
            // A failed yield_to returns at once: keep running.
            _work.Start(_run.Ns);
            _work.Resume();
        }
    }
}

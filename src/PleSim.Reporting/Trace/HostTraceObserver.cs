using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Reporting.Trace;

/// <summary>
/// Records the host scheduler into a <see cref="ChromeTrace"/>: one track per physical CPU with
/// the task that ran (and context switches), instant events for wake-ups, migrations, yields,
/// yield_to (with result and target) and buddy settings; with task groups, a "&lt;group&gt; weight"
/// counter per CPU with the group entity's weight (<c>update_cfs_shares</c>), sampled at host ticks
/// (0 while the group has nothing runnable on that CPU).
/// </summary>
public sealed class HostTraceObserver : IHostObserver
{
    public const int HostPid = 1;
    private readonly HostScheduler _host;
    private readonly ChromeTrace _trace;
    private readonly long[] _runningSince;
    private readonly HostTask?[] _running;
    private readonly TaskGroup[] _groups;
    private readonly long[,] _lastWeight;

    public HostTraceObserver(HostScheduler host, ChromeTrace trace)
    {
        _host = host;
        _trace = trace;
        _runningSince = new long[host.NrCpus];
        _running = new HostTask?[host.NrCpus];
        _groups = host.Groups.Where(g => !g.IsRoot).ToArray();
        _lastWeight = new long[_groups.Length, host.NrCpus];
        for (int g = 0; g < _groups.Length; g++)
            for (int c = 0; c < host.NrCpus; c++)
                _lastWeight[g, c] = -1;
        trace.NameProcess(HostPid, "host CPUs", 0);
        for (int c = 0; c < host.NrCpus; c++)
            trace.NameThread(HostPid, c, $"CPU {c}");
    }

    private long Now => _host.Sim.Now.Ns;

    /// <summary>Closes the open slices (call at the end of the run).</summary>
    public void Finish()
    {
        for (int c = 0; c < _running.Length; c++)
        {
            if (_running[c] is { } t)
                _trace.Slice(HostPid, c, t.Name, "sched", _runningSince[c], Now, ChromeTrace.Args(("group", t.Group.Path)));
            _running[c] = null;
        }
    }

    public void Switch(int cpu, HostTask prev, HostTask next, StopReason prevReason)
    {
        if (_running[cpu] is { } t)
        {
            _trace.Slice(HostPid, cpu, t.Name, "sched", _runningSince[cpu], Now,
                ChromeTrace.Args(("group", t.Group.Path), ("stopped", prevReason.ToString())));
        }
        _running[cpu] = next.IsIdle ? null : next;
        _runningSince[cpu] = Now;
    }

    public void Wakeup(HostTask task, int targetCpu, int wakerCpu, bool preemptsCurrent) =>
        _trace.Instant(HostPid, targetCpu, "wakeup " + task.Name, "wakeup", Now,
            ChromeTrace.Args(("task", task.Name), ("waker_cpu", wakerCpu), ("preempts", preemptsCurrent)));

    public void Migrate(HostTask task, int from, int to, MigrationCause cause) =>
        _trace.Instant(HostPid, to, $"migrate {task.Name} {from}->{to}", "migrate", Now,
            ChromeTrace.Args(("task", task.Name), ("from", from), ("to", to), ("cause", cause.ToString())));

    public void Yield(HostTask task, int cpu) =>
        _trace.Instant(HostPid, cpu, "yield " + task.Name, "yield", Now, ChromeTrace.Args(("task", task.Name)));

    public void YieldTo(HostTask yielder, HostTask target, YieldToResult result) =>
        _trace.Instant(HostPid, yielder.Cpu, $"yield_to {target.Name}: {result}", "yield_to", Now,
            ChromeTrace.Args(("yielder", yielder.Name), ("target", target.Name), ("target_cpu", target.Cpu), ("result", result.ToString())));

    public void Tick(int cpu)
    {
        for (int g = 0; g < _groups.Length; g++)
        {
            long w = _groups[g].RunnableWeight(cpu);
            if (w == _lastWeight[g, cpu])
                continue;
            _lastWeight[g, cpu] = w;
            _trace.Counter(HostPid, _groups[g].Path + " weight", Now, $"cpu{cpu}", w);
        }
    }

    public void Buddy(int cpu, string kind, SchedEntity entity) =>
        _trace.Instant(HostPid, cpu, $"{kind} buddy {entity}", "buddy", Now, ChromeTrace.Args(("kind", kind), ("entity", entity.ToString())));
}

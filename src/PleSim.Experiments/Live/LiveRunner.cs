using System.Runtime.InteropServices;
using PleSim.Engine;

namespace PleSim.Experiments.Live;

/// <summary>One live task's measurement over the window.</summary>
public sealed record LiveTaskResult
{
    public required LiveTaskSpec Spec { get; init; }
    public required int Tid { get; init; }

    /// <summary>Counters over the measured window (end minus start).</summary>
    public required ThreadCounters Window { get; init; }

    /// <summary>Wake-up latencies (ns) of wake-ups in the window, sorted; empty for tasks that never sleep.</summary>
    public required long[] Latencies { get; init; }

    /// <summary>Wake-ups that did not fit the preallocated buffer (not in <see cref="Latencies"/>).</summary>
    public long LatenciesDropped { get; init; }
}

/// <summary>What a live run measured, and the state of the machine around it.</summary>
public sealed record LiveRun
{
    public required IReadOnlyList<LiveTaskResult> Tasks { get; init; }

    /// <summary>Length of the measured window (between the two /proc snapshots), in seconds of wall-clock time.</summary>
    public required double WindowSeconds { get; init; }

    public required (double One, double Five, double Fifteen) LoadBefore { get; init; }
    public required (double One, double Five, double Fifteen) LoadAfter { get; init; }

    /// <summary>Steal time over the window, summed over all CPUs, in CPU-seconds (/proc/stat, USER_HZ ticks).</summary>
    public required double StealSeconds { get; init; }

    /// <summary>Busy time of the whole machine over the window (every process), in CPU-seconds.</summary>
    public required double MachineBusySeconds { get; init; }

    public required int MachineCpus { get; init; }
    public required string Kernel { get; init; }
    public string? Autogroup { get; init; }
    public string? CpuCgroup { get; init; }
}

/// <summary>
/// Runs a <see cref="LivePlan"/> as real threads of this process: each thread sets its nice
/// level and affinity, then does its task's work; /proc is read at the start and the end of the
/// measured window. Wall-clock and shared with whatever else runs on the machine: not
/// deterministic (decision 0030). Linux only.
/// </summary>
public static class LiveRunner
{
    /// <summary>Linux's USER_HZ, the unit of /proc/stat and /proc/PID/stat times (fixed at 100 by the ABI).</summary>
    public const int UserHz = 100;

    /// <summary>Why live runs cannot happen here, or null on Linux.</summary>
    public static string? Unsupported() =>
        OperatingSystem.IsLinux() ? null : $"plesim live needs Linux (it reads /proc and calls sched_setaffinity); this is {RuntimeInformation.OSDescription}";

    public static LiveRun Run(LivePlan plan, long warmupNs, long durationNs, ulong seed)
    {
        if (Unsupported() is { } why)
            throw new LiveException(why);
        if (durationNs <= 0)
            throw new LiveException("the measured window must be longer than 0");
        var control = new LiveControl();
        var workers = new LiveWorker[plan.Tasks.Count];
        for (int i = 0; i < workers.Length; i++)
            workers[i] = new LiveWorker(plan.Tasks[i], control, durationNs, new RandomStream(seed, "live." + plan.Tasks[i].Name));
        var pipes = new List<int>();
        for (int i = 0; i < workers.Length; i++)
        {
            var spec = plan.Tasks[i];
            if (spec.Kind == LiveKind.PingPong && spec.StartsWithBall)
            {
                var ab = LiveNative.Pipe();
                var ba = LiveNative.Pipe();
                pipes.AddRange([ab.Read, ab.Write, ba.Read, ba.Write]);
                var a = workers[i];
                var b = workers[spec.Partner];
                a.Pair(b, inFd: ba.Read, outFd: ab.Write);
                b.Pair(a, inFd: ab.Read, outFd: ba.Write);
            }
        }
        var threads = new Thread[workers.Length];
        for (int i = 0; i < workers.Length; i++)
        {
            threads[i] = new Thread(workers[i].Main, 256 * 1024) { IsBackground = true, Name = "live:" + plan.Tasks[i].Name };
            threads[i].Start();
        }
        try
        {
            foreach (var w in workers)
                w.Ready.Wait();
            var failed = workers.FirstOrDefault(w => w.Error is not null);
            if (failed is not null)
                throw new LiveException($"live task '{failed.Spec.Name}': {failed.Error}");
            var loadBefore = ProcParsers.LoadAverage(File.ReadAllText("/proc/loadavg"));
            long t0 = LiveNative.MonotonicNs() + 20_000_000; // 20 ms for every thread to reach its start line
            control.StartNs = t0;
            control.WindowStartNs = t0 + warmupNs;
            control.WindowEndNs = t0 + warmupNs + durationNs;
            control.Go.Set();
            LiveNative.SleepUntil(control.WindowStartNs);
            var (startAt, start, statStart) = Snapshot(workers);
            LiveNative.SleepUntil(control.WindowEndNs);
            var (endAt, end, statEnd) = Snapshot(workers);
            control.Stop = true;
            foreach (var t in threads)
            {
                if (!t.Join(TimeSpan.FromSeconds(10)))
                    throw new LiveException($"live thread '{t.Name}' did not stop within 10 s of the end of the window");
            }
            var loadAfter = ProcParsers.LoadAverage(File.ReadAllText("/proc/loadavg"));
            var tasks = new LiveTaskResult[workers.Length];
            for (int i = 0; i < workers.Length; i++)
            {
                var lat = workers[i].Latencies[..workers[i].LatencyCount];
                Array.Sort(lat);
                tasks[i] = new LiveTaskResult
                {
                    Spec = workers[i].Spec,
                    Tid = workers[i].Tid,
                    Window = end[i].Minus(start[i]),
                    Latencies = lat,
                    LatenciesDropped = workers[i].LatenciesDropped,
                };
            }
            return new LiveRun
            {
                Tasks = tasks,
                WindowSeconds = (endAt - startAt) / 1e9,
                LoadBefore = loadBefore,
                LoadAfter = loadAfter,
                StealSeconds = (ProcParsers.StealTicks(statEnd) - ProcParsers.StealTicks(statStart)) / (double)UserHz,
                MachineBusySeconds = (ProcParsers.BusyTicks(statEnd) - ProcParsers.BusyTicks(statStart)) / (double)UserHz,
                MachineCpus = Environment.ProcessorCount,
                Kernel = TryRead("/proc/sys/kernel/osrelease") is { } rel ? "Linux " + rel.Trim() : RuntimeInformation.OSDescription,
                Autogroup = TryRead("/proc/self/autogroup") is { } ag ? ProcParsers.Autogroup(ag) : null,
                CpuCgroup = TryRead("/proc/self/cgroup") is { } cg ? ProcParsers.CpuCgroup(cg) : null,
            };
        }
        finally
        {
            control.Stop = true;
            control.Go.Set();
            foreach (var t in threads)
                t.Join(TimeSpan.FromSeconds(5));
            foreach (int fd in pipes)
                LiveNative.Close(fd);
        }
    }

    private static (long At, ThreadCounters[] Counters, string Stat) Snapshot(LiveWorker[] workers)
    {
        long at = LiveNative.MonotonicNs();
        var stat = File.ReadAllText("/proc/stat");
        var counters = new ThreadCounters[workers.Length];
        for (int i = 0; i < workers.Length; i++)
            counters[i] = Read(workers[i].Tid);
        return (at, counters, stat);
    }

    /// <summary>One thread's counters from /proc/self/task/TID.</summary>
    public static ThreadCounters Read(int tid)
    {
        string dir = $"/proc/self/task/{tid}/";
        var (cpu, delay, slices) = ProcParsers.Schedstat(File.ReadAllText(dir + "schedstat"));
        var (vol, invol) = ProcParsers.StatusSwitches(File.ReadAllText(dir + "status"));
        var (ut, st, last) = ProcParsers.Stat(File.ReadAllText(dir + "stat"));
        return new ThreadCounters(cpu, delay, slices, vol, invol, ut, st, last);
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>Shared by the runner and its threads: the start line, the window, the stop flag.</summary>
internal sealed class LiveControl
{
    public readonly ManualResetEventSlim Go = new(false);
    public long StartNs;
    public long WindowStartNs;
    public long WindowEndNs;
    private volatile bool _stop;

    public bool Stop
    {
        get => _stop;
        set => _stop = value;
    }
}

/// <summary>
/// The body of one live thread. Nothing is allocated once it runs: latencies go into a buffer
/// sized before the start, so the garbage collector has no reason to stop the threads.
/// </summary>
internal sealed class LiveWorker
{
    private readonly LiveControl _control;
    private readonly RandomStream _rng;
    private LiveWorker? _partner;
    private int _inFd = -1;
    private int _outFd = -1;
    private long _wokenAt;
    private long _affinityAt = -1;

    public LiveWorker(LiveTaskSpec spec, LiveControl control, long durationNs, RandomStream rng)
    {
        Spec = spec;
        _control = control;
        _rng = rng;
        long period = spec.Kind switch
        {
            LiveKind.Periodic => Math.Max(1, spec.RunNs + spec.SleepNs),
            LiveKind.PingPong => Math.Max(1, spec.WorkNs),
            _ => 0,
        };
        // Wake-ups in the window are at most one per period (twice as many with jitter, for margin).
        long capacity = period == 0 ? 0 : Math.Min(4_000_000, (2 * durationNs / period) + 1024);
        Latencies = new long[capacity];
    }

    public LiveTaskSpec Spec { get; }
    public ManualResetEventSlim Ready { get; } = new(false);
    public string? Error { get; private set; }
    public int Tid { get; private set; }
    public long[] Latencies { get; }
    public int LatencyCount { get; private set; }
    public long LatenciesDropped { get; private set; }

    public void Pair(LiveWorker partner, int inFd, int outFd)
    {
        _partner = partner;
        _inFd = inFd;
        _outFd = outFd;
    }

    public void Main()
    {
        Tid = LiveNative.ThreadId();
        Error = LiveNative.SetMinimalTimerSlack() ?? LiveNative.SetAffinity(Spec.AffinityMask) ?? LiveNative.SetNice(Tid, Spec.Nice);
        Ready.Set();
        _control.Go.Wait();
        if (Error is not null || _control.Stop)
            return;
        if (Spec.SetAffinityAtNs >= 0)
            _affinityAt = _control.StartNs + Spec.SetAffinityAtNs;
        LiveNative.SleepUntil(_control.StartNs + Spec.StartAtNs);
        switch (Spec.Kind)
        {
            case LiveKind.Hog:
                Hog();
                break;
            case LiveKind.Periodic:
                Periodic();
                break;
            case LiveKind.PingPong:
                PingPong();
                break;
            case LiveKind.Yielder:
                Yielder();
                break;
        }
    }

    private void Hog()
    {
        while (!_control.Stop)
        {
            if (_affinityAt >= 0)
                CheckAffinity();
        }
    }

    private void CheckAffinity()
    {
        if (LiveNative.MonotonicNs() < _affinityAt)
            return;
        _affinityAt = -1;
        LiveNative.SetAffinity(Spec.LaterAffinityMask);
    }

    /// <summary>Burns <paramref name="ns"/> of this thread's CPU time (time on a CPU only, as the model's CpuWork counts it).</summary>
    private void Burn(long ns)
    {
        long end = LiveNative.ThreadCpuNs() + ns;
        while (LiveNative.ThreadCpuNs() < end && !_control.Stop)
        {
            if (_affinityAt >= 0)
                CheckAffinity();
        }
    }

    private long Draw(long mean) => Spec.Jitter ? _rng.Exponential(new SimDuration(mean)).Ns : mean;

    private void Record(long wokenAt, long now)
    {
        if (wokenAt < _control.WindowStartNs || wokenAt >= _control.WindowEndNs)
            return;
        if (LatencyCount < Latencies.Length)
            Latencies[LatencyCount++] = now - wokenAt;
        else
            LatenciesDropped++;
    }

    private void Periodic()
    {
        while (!_control.Stop)
        {
            Burn(Draw(Spec.RunNs));
            if (_control.Stop)
                return;
            // The model's timer wakes the task `sleep` after it blocks; the latency is from the
            // timer's expiry to the task running, here: from the intended expiry to the return of
            // clock_nanosleep (hrtimer interrupt, wake-up and the wait for the CPU).
            long intended = LiveNative.MonotonicNs() + Draw(Spec.SleepNs);
            LiveNative.SleepUntil(intended);
            Record(intended, LiveNative.MonotonicNs());
        }
    }

    private void PingPong()
    {
        if (Spec.StartsWithBall)
            Burn(Spec.WorkNs);
        else if (!Receive())
            return;
        while (true)
        {
            Pass();
            if (_control.Stop || !Receive())
                return;
            Burn(Spec.WorkNs);
        }
    }

    /// <summary>Wakes the partner: stamps the wake-up time it will measure from, then writes the ball.</summary>
    private void Pass()
    {
        Volatile.Write(ref _partner!._wokenAt, LiveNative.MonotonicNs());
        LiveNative.WriteByte(_outFd);
    }

    /// <summary>Blocks until the partner passes the ball; false when the run is over.</summary>
    private bool Receive()
    {
        if (!LiveNative.ReadByte(_inFd))
            return false;
        Record(Volatile.Read(ref _wokenAt), LiveNative.MonotonicNs());
        if (_control.Stop)
        {
            Pass(); // the partner may be blocked waiting for the ball
            return false;
        }
        return true;
    }

    private void Yielder()
    {
        while (!_control.Stop)
        {
            Burn(Spec.RunNs);
            LiveNative.SchedYield();
        }
    }
}

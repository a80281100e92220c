using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Host.Tests;

/// <summary>A small host for tests: invariants on after every event, no tick jitter unless asked.</summary>
internal sealed class HostKit
{
    public HostKit(int cpus, SchedTunables? tunables = null, SchedFeatures? features = null, int threadsPerCore = 1)
        : this(new HostTopology(cpus / threadsPerCore, threadsPerCore), tunables, features)
    {
    }

    public HostKit(HostTopology topology, SchedTunables? tunables = null, SchedFeatures? features = null)
    {
        Sim = new Simulator();
        Host = new HostScheduler(Sim, topology, tunables ?? new SchedTunables { TickJitter = SimDuration.Zero }, features, new RandomStreams(1))
        {
            CheckPlacement = true,
        };
        Sim.Invariants.Enable(1);
    }

    public Simulator Sim { get; }
    public HostScheduler Host { get; }

    public HostTask Hog(string name, CpuMask? affinity = null, int nice = 0, TaskGroup? group = null, int startCpu = 0)
    {
        var t = Host.CreateTask(name, new HogBody(), nice, affinity, group);
        Host.WakeUpNewTask(t, startCpu);
        return t;
    }

    /// <summary>
    /// A hog and a task "s": s runs (after <paramref name="runFirstMs"/>, or at once for 0), then
    /// blocks, and the hog runs alone for <paramref name="sleepMs"/> (0: only until things settle).
    /// </summary>
    public (HostTask Hog, HostTask Sleeper) HogAndBlockedSleeper(long runFirstMs, long sleepMs)
    {
        var hog = Hog("hog");
        var s = Host.CreateTask("s", new HogBody());
        Host.WakeUpNewTask(s);
        if (runFirstMs > 0)
            RunMs(runFirstMs);
        else
            Settle();
        while (!s.OnCpu)
            RunMs(1);
        Host.Block(s);
        if (sleepMs > 0)
            RunMs(sleepMs);
        else
            Settle();
        return (hog, s);
    }

    public void RunFor(SimDuration d) => Sim.RunUntil(Sim.Now + d);

    public void RunMs(long ms) => RunFor(SimDuration.FromMilliseconds(ms));

    /// <summary>Runs until nothing happens at the current instant (pending switches complete).</summary>
    public void Settle() => RunFor(SimDuration.FromMicroseconds(50));

    public static CpuMask Cpu(params int[] cpus)
    {
        var m = default(CpuMask);
        foreach (int c in cpus)
            m.Set(c);
        return m;
    }
}

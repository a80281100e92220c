using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Experiments.Scenarios;

/// <summary>The <c>host:</c> section: physical CPUs, scheduler tunables and features, cgroups, host-only tasks.</summary>
public sealed record HostSettings
{
    public int Cpus { get; init; } = 4;
    public int ThreadsPerCore { get; init; } = 1;
    public long TscMhz { get; init; } = 2900;
    public string Scheduler { get; init; } = "cfs-2.6.39";
    public SchedTunables Sched { get; init; } = new();
    public SchedFeatures Features { get; init; } = new();
    public IReadOnlyList<CgroupSettings> Cgroups { get; init; } = [];
    public IReadOnlyList<HostTaskSettings> Tasks { get; init; } = [];

    public HostTopology Topology => new(Cpus / ThreadsPerCore, ThreadsPerCore);
}

/// <summary>A cpu cgroup: <c>{path: /vm1, shares: 1024}</c>; nesting follows the path.</summary>
public sealed record CgroupSettings(string Path, long Shares);

/// <summary>A host-only task (or <see cref="Count"/> identical ones): a hog, a periodic sleeper, or a ping-pong pair.</summary>
public sealed record HostTaskSettings
{
    public required string Name { get; init; }
    public string Kind { get; init; } = "hog";
    public int Count { get; init; } = 1;
    public int Nice { get; init; }
    public string Cgroup { get; init; } = "/";
    public CpuSet? Affinity { get; init; }
    public int StartCpu { get; init; }
    public SimDuration Run { get; init; } = SimDuration.FromMilliseconds(1);
    public SimDuration Sleep { get; init; } = SimDuration.FromMilliseconds(1);
    public bool Jitter { get; init; }
    public SimDuration Work { get; init; } = SimDuration.FromMicroseconds(50);
    public SimDuration StartAt { get; init; } = SimDuration.Zero;

    /// <summary>A later <c>sched_setaffinity</c>: at this time the affinity becomes <see cref="LaterAffinity"/>.</summary>
    public SimDuration? SetAffinityAt { get; init; }
    public CpuSet? LaterAffinity { get; init; }

    /// <summary>For <c>yielder</c>: the task to yield_to (none: sched_yield).</summary>
    public string? YieldTo { get; init; }

    public static readonly string[] Kinds = ["hog", "periodic", "pingpong", "yielder"];
}

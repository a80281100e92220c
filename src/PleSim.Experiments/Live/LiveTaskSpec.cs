namespace PleSim.Experiments.Live;

/// <summary>What a live task does: the real-thread counterpart of a modelled host task body (PleSim.Host.Workloads).</summary>
public enum LiveKind
{
    /// <summary><c>HogBody</c>: a busy loop that never blocks.</summary>
    Hog,

    /// <summary><c>PeriodicBody</c>: burn <c>run</c> of CPU time, sleep <c>sleep</c> on a timer, repeat.</summary>
    Periodic,

    /// <summary><c>PingPongBody</c>: burn <c>work</c>, wake the partner through a pipe, block until it writes back.</summary>
    PingPong,

    /// <summary><c>YielderBody</c> without a target: burn <c>run</c>, then <c>sched_yield()</c>.</summary>
    Yielder,
}

/// <summary>
/// One live task: a thread of <c>plesim live</c> that does what the scenario task of the same
/// name does in the model. Names follow the model's expansion (<c>hog0</c>, <c>hog1</c>;
/// a ping-pong pair <c>ppa</c>/<c>ppb</c>), so the comparison table matches rows by name.
/// </summary>
public sealed record LiveTaskSpec
{
    public required string Name { get; init; }
    public required LiveKind Kind { get; init; }
    public int Nice { get; init; }

    /// <summary>The CPUs it may run on (<c>sched_setaffinity</c>): the scenario's affinity, or all of the scenario's CPUs.</summary>
    public required ulong AffinityMask { get; init; }

    /// <summary>CPU time per period (periodic, yielder), in ns.</summary>
    public long RunNs { get; init; }

    /// <summary>Sleep per period (periodic), in ns.</summary>
    public long SleepNs { get; init; }

    /// <summary>Draw run and sleep from exponentials with these means (the model's <c>jitter: true</c>).</summary>
    public bool Jitter { get; init; }

    /// <summary>CPU time per ping-pong turn, in ns.</summary>
    public long WorkNs { get; init; }

    /// <summary>For a ping-pong side: the index of its partner in the plan's task list (−1 otherwise).</summary>
    public int Partner { get; init; } = -1;

    /// <summary>For a ping-pong side: whether it holds the ball at the start (side <c>a</c>).</summary>
    public bool StartsWithBall { get; init; }

    /// <summary>When the task starts, after the run's start (the scenario's <c>start_at</c>), in ns.</summary>
    public long StartAtNs { get; init; }

    /// <summary>A later <c>sched_setaffinity</c> (the scenario's <c>set_affinity</c>): when, in ns after the start, or −1.</summary>
    public long SetAffinityAtNs { get; init; } = -1;

    public ulong LaterAffinityMask { get; init; }

    /// <summary>Whether the task records wake-up latencies (periodic sleepers and ping-pong sides, as in the model).</summary>
    public bool RecordsLatency => Kind is LiveKind.Periodic or LiveKind.PingPong;
}

using PleSim.Host;

namespace PleSim.Experiments.Running;

/// <summary>Counts migrations by cause (and the spacing of periodic-balance pulls per destination CPU).</summary>
internal sealed class MigrationCounter : IHostObserver
{
    // Per destination CPU: the time of its last periodic-balance pull (-1: none). An array grown
    // only when a higher CPU index first appears, so steady-state counting never allocates.
    private long[] _lastPeriodicByCpu = [];

    public long[] ByCause { get; } = new long[Enum.GetValues<MigrationCause>().Length];
    public long[] FirstByCauseNs { get; } = Enumerable.Repeat(-1L, Enum.GetValues<MigrationCause>().Length).ToArray();
    public long MinPeriodicGapNs { get; private set; } = long.MaxValue;

    public static string Name(MigrationCause c) => c switch
    {
        MigrationCause.Wakeup => "wakeup",
        MigrationCause.Fork => "fork",
        MigrationCause.PeriodicBalance => "periodic_balance",
        MigrationCause.IdleBalance => "idle_balance",
        MigrationCause.NewIdleBalance => "newidle_balance",
        MigrationCause.ActiveBalance => "active_balance",
        _ => "affinity",
    };

    public Func<long>? Clock { get; set; }

    /// <summary>Each CPU's NUMA node (null: one node, nothing counted as cross-node).</summary>
    public int[]? CpuNode { get; set; }

    /// <summary>Migrations whose source and destination CPUs are on different NUMA nodes.</summary>
    public long CrossNode { get; private set; }

    public void Reset()
    {
        Array.Clear(ByCause);
        Array.Fill(FirstByCauseNs, -1L);
        MinPeriodicGapNs = long.MaxValue;
        CrossNode = 0;
        Array.Fill(_lastPeriodicByCpu, -1L);
    }

    public void Migrate(HostTask task, int from, int to, MigrationCause cause)
    {
        ByCause[(int)cause]++;
        if (CpuNode is { } nodes && (uint)from < (uint)nodes.Length && nodes[from] != nodes[to])
            CrossNode++;
        long now = Clock?.Invoke() ?? 0;
        if (FirstByCauseNs[(int)cause] < 0)
            FirstByCauseNs[(int)cause] = now;
        if (cause == MigrationCause.PeriodicBalance)
        {
            // Several tasks moved in one pass count once.
            if (to >= _lastPeriodicByCpu.Length)
            {
                int old = _lastPeriodicByCpu.Length;
                Array.Resize(ref _lastPeriodicByCpu, Math.Max(to + 1, 2 * old));
                Array.Fill(_lastPeriodicByCpu, -1L, old, _lastPeriodicByCpu.Length - old);
            }
            long last = _lastPeriodicByCpu[to];
            if (last >= 0 && now != last)
                MinPeriodicGapNs = Math.Min(MinPeriodicGapNs, now - last);
            _lastPeriodicByCpu[to] = now;
        }
    }
}

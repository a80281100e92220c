namespace PleSim.Host;

/// <summary>
/// The physical CPUs: <see cref="Cores"/> cores with <see cref="ThreadsPerCore"/> hardware
/// threads each, in one package per NUMA node. CPU numbers are consecutive within a core (core c
/// holds CPUs c·t … c·t+t−1). By default there is one node holding every CPU (the model before
/// decision 0039); <see cref="WithNodes"/> splits the cores over several nodes, each one package
/// with its own last-level cache, and gives the node distance table (the ACPI SLIT the kernel
/// reads as <c>node_distance</c>).
/// </summary>
public sealed record HostTopology(int Cores, int ThreadsPerCore = 1)
{
    /// <summary>LOCAL_DISTANCE / REMOTE_DISTANCE of include/linux/topology.h (2.6.39 and 6.x): the SLIT defaults.</summary>
    public const int LocalDistance = 10, RemoteDistance = 20;

    /// <summary>RECLAIM_DISTANCE (include/linux/topology.h): beyond it 6.x's sd_init clears SD_BALANCE_EXEC/FORK and SD_WAKE_AFFINE.</summary>
    public const int ReclaimDistance = 30;

    private int[]? _cpuNode;
    private int[][]? _distance;

    public int NrCpus => Cores * ThreadsPerCore;

    /// <summary>Number of NUMA nodes (1 unless <see cref="WithNodes"/> said otherwise).</summary>
    public int NrNodes => _distance?.Length ?? 1;

    public int CoreOf(int cpu) => cpu / ThreadsPerCore;

    /// <summary><c>cpu_to_node</c>.</summary>
    public int NodeOf(int cpu) => _cpuNode is null ? 0 : _cpuNode[cpu];

    /// <summary><c>node_distance(a, b)</c>: the SLIT entry.</summary>
    public int Distance(int a, int b) => _distance is null ? LocalDistance : _distance[a][b];

    /// <summary><c>cpumask_of_node</c>.</summary>
    public CpuMask NodeMask(int node)
    {
        if (_cpuNode is null)
            return AllMask;
        var mask = default(CpuMask);
        for (int c = 0; c < _cpuNode.Length; c++)
        {
            if (_cpuNode[c] == node)
                mask.Set(c);
        }
        return mask;
    }

    /// <summary>The CPUs sharing <paramref name="cpu"/>'s core (its SMT siblings, itself included).</summary>
    public CpuMask SiblingMask(int cpu)
    {
        int first = CoreOf(cpu) * ThreadsPerCore;
        var mask = default(CpuMask);
        for (int i = 0; i < ThreadsPerCore; i++)
            mask.Set(first + i);
        return mask;
    }

    public CpuMask AllMask => CpuMask.All(NrCpus);

    public static HostTopology Cpus(int cpus) => new(cpus, 1);

    /// <summary>
    /// The same CPUs spread over NUMA nodes. <paramref name="cpuNode"/> gives each CPU's node
    /// (null: <paramref name="nodes"/> equal blocks of consecutive cores); <paramref name="distance"/>
    /// is the nodes × nodes SLIT (null: 10 on the diagonal, 20 elsewhere). Throws on a table the
    /// kernel would reject or a node that splits a core.
    /// </summary>
    public HostTopology WithNodes(int nodes, int[]? cpuNode = null, int[][]? distance = null)
    {
        if (nodes < 1)
            throw new ArgumentOutOfRangeException(nameof(nodes), nodes, "at least one node");
        int n = NrCpus;
        if (cpuNode is null)
        {
            if (Cores % nodes != 0)
                throw new ArgumentException($"{Cores} cores do not divide into {nodes} nodes", nameof(nodes));
            cpuNode = new int[n];
            int perNode = n / nodes;
            for (int c = 0; c < n; c++)
                cpuNode[c] = c / perNode;
        }
        if (cpuNode.Length != n)
            throw new ArgumentException($"{cpuNode.Length} node numbers for {n} CPUs", nameof(cpuNode));
        var seen = new bool[nodes];
        for (int c = 0; c < n; c++)
        {
            if (cpuNode[c] < 0 || cpuNode[c] >= nodes)
                throw new ArgumentException($"CPU {c} is on node {cpuNode[c]}, not one of 0-{nodes - 1}", nameof(cpuNode));
            if (cpuNode[c] != cpuNode[CoreOf(c) * ThreadsPerCore])
                throw new ArgumentException($"CPU {c} is on node {cpuNode[c]} but its core's first thread is not", nameof(cpuNode));
            seen[cpuNode[c]] = true;
        }
        for (int k = 0; k < nodes; k++)
        {
            if (!seen[k])
                throw new ArgumentException($"node {k} has no CPU", nameof(cpuNode));
        }
        distance ??= DefaultDistances(nodes);
        if (ValidateDistances(distance) is { } problem)
            throw new ArgumentException(problem, nameof(distance));
        return this with { _cpuNode = (int[])cpuNode.Clone(), _distance = distance.Select(r => (int[])r.Clone()).ToArray() };
    }

    /// <summary>10 local, 20 remote: what the kernel assumes without a SLIT.</summary>
    public static int[][] DefaultDistances(int nodes)
    {
        var d = new int[nodes][];
        for (int i = 0; i < nodes; i++)
        {
            d[i] = new int[nodes];
            for (int j = 0; j < nodes; j++)
                d[i][j] = i == j ? LocalDistance : RemoteDistance;
        }
        return d;
    }

    /// <summary>
    /// Null when <paramref name="d"/> is a square table with 10 on the diagonal, entries above 10
    /// elsewhere and below 256 (6.x's sched_init_numa rejects values outside [LOCAL_DISTANCE,
    /// 1 &lt;&lt; DISTANCE_BITS)), symmetric (both kernels assume it; 6.x warns otherwise); else the problem.
    /// </summary>
    public static string? ValidateDistances(int[][] d)
    {
        int k = d.Length;
        for (int i = 0; i < k; i++)
        {
            if (d[i].Length != k)
                return $"row {i} has {d[i].Length} entries, expected {k}";
        }
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++)
            {
                if (i == j && d[i][j] != LocalDistance)
                    return $"distance({i},{i}) is {d[i][j]}, expected {LocalDistance} (a node's distance to itself)";
                if (i != j && (d[i][j] <= LocalDistance || d[i][j] > 255))
                    return $"distance({i},{j}) is {d[i][j]}, expected 11-255 between different nodes";
                if (d[i][j] != d[j][i])
                    return $"distance({i},{j}) = {d[i][j]} but distance({j},{i}) = {d[j][i]}: the table must be symmetric";
            }
        }
        return null;
    }

    public bool Equals(HostTopology? other) =>
        other is not null && Cores == other.Cores && ThreadsPerCore == other.ThreadsPerCore && NrNodes == other.NrNodes
        && Enumerable.Range(0, NrCpus).All(c => NodeOf(c) == other.NodeOf(c))
        && Enumerable.Range(0, NrNodes).All(a => Enumerable.Range(0, NrNodes).All(b => Distance(a, b) == other.Distance(a, b)));

    public override int GetHashCode() => HashCode.Combine(Cores, ThreadsPerCore, NrNodes);
}

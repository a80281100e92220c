namespace PleSim.Host;

/// <summary>
/// The physical CPUs: one package of <see cref="Cores"/> cores with <see cref="ThreadsPerCore"/>
/// hardware threads each. CPU numbers are consecutive within a core (core c holds CPUs
/// c·t … c·t+t−1).
/// </summary>
public sealed record HostTopology(int Cores, int ThreadsPerCore = 1)
{
    public int NrCpus => Cores * ThreadsPerCore;

    public int CoreOf(int cpu) => cpu / ThreadsPerCore;

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
}

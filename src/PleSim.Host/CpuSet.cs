using System.Globalization;

namespace PleSim.Host;

/// <summary>A set of up to <see cref="CpuMask.NrCpus"/> CPUs, written in the kernel's cpulist format (<c>0-3,6</c>).</summary>
public readonly record struct CpuSet(CpuMask Mask)
{
    public static CpuSet All(int cpus) => new(CpuMask.All(cpus));

    public int Count => Mask.Count;

    public bool Contains(int cpu) => Mask.Contains(cpu);

    public static bool TryParse(string text, int cpuCount, out CpuSet set, out string? problem)
    {
        set = default;
        problem = null;
        var t = text.Trim();
        if (t == "all")
        {
            set = All(cpuCount);
            return true;
        }
        var mask = default(CpuMask);
        foreach (var part in t.Split(',', StringSplitOptions.TrimEntries))
        {
            var range = part.Split('-', StringSplitOptions.TrimEntries);
            if (range.Length is < 1 or > 2
                || !int.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out int lo)
                || !int.TryParse(range[^1], NumberStyles.None, CultureInfo.InvariantCulture, out int hi)
                || hi < lo)
            {
                problem = $"'{text}' is not a CPU list: expected e.g. 0-3 or 0,2,4-5 or 'all'";
                return false;
            }
            if (hi >= cpuCount || hi >= CpuMask.NrCpus)
            {
                problem = $"CPU {hi} does not exist: the host has CPUs 0-{cpuCount - 1}";
                return false;
            }
            for (int c = lo; c <= hi; c++)
                mask.Set(c);
        }
        if (mask.IsEmpty)
        {
            problem = "a CPU list must name at least one CPU";
            return false;
        }
        set = new CpuSet(mask);
        return true;
    }

    public override string ToString() => Mask.ToString();
}

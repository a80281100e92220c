using System.Globalization;
using System.Numerics;
using System.Text;

namespace PleSim.Host;

/// <summary>A set of up to 64 CPUs, written in the kernel's cpulist format (<c>0-3,6</c>).</summary>
public readonly record struct CpuSet(ulong Mask)
{
    public static CpuSet All(int cpus) => new(cpus >= 64 ? ulong.MaxValue : (1UL << cpus) - 1);

    public int Count => BitOperations.PopCount(Mask);

    public bool Contains(int cpu) => (Mask & (1UL << cpu)) != 0;

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
        ulong mask = 0;
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
            if (hi >= cpuCount || hi >= 64)
            {
                problem = $"CPU {hi} does not exist: the host has CPUs 0-{cpuCount - 1}";
                return false;
            }
            for (int c = lo; c <= hi; c++)
                mask |= 1UL << c;
        }
        if (mask == 0)
        {
            problem = "a CPU list must name at least one CPU";
            return false;
        }
        set = new CpuSet(mask);
        return true;
    }

    public override string ToString()
    {
        var sb = new StringBuilder();
        int c = 0;
        while (c < 64)
        {
            if (!Contains(c))
            {
                c++;
                continue;
            }
            int start = c;
            while (c + 1 < 64 && Contains(c + 1))
                c++;
            if (sb.Length > 0)
                sb.Append(',');
            sb.Append(start == c ? $"{start}" : $"{start}-{c}");
            c++;
        }
        return sb.ToString();
    }
}

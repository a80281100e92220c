using System.Globalization;

namespace PleSim.Experiments.Live;

/// <summary>One thread's counters as <c>/proc/PID/task/TID/{schedstat,status,stat}</c> show them.</summary>
public readonly record struct ThreadCounters(
    long CpuNs, long RunDelayNs, long Timeslices, long VoluntarySwitches, long InvoluntarySwitches, long UtimeTicks, long StimeTicks, int LastCpu)
{
    public ThreadCounters Minus(ThreadCounters start) => new(
        CpuNs - start.CpuNs, RunDelayNs - start.RunDelayNs, Timeslices - start.Timeslices,
        VoluntarySwitches - start.VoluntarySwitches, InvoluntarySwitches - start.InvoluntarySwitches,
        UtimeTicks - start.UtimeTicks, StimeTicks - start.StimeTicks, LastCpu);
}

/// <summary>
/// Parsers for the /proc files <c>plesim live</c> reads (formats of Documentation/filesystems/proc.rst
/// and Documentation/scheduler/sched-stats.rst). Each takes the file's text, so tests run them on
/// captured samples; each throws <see cref="FormatException"/> naming the file on text it does not understand.
/// </summary>
public static class ProcParsers
{
    /// <summary>
    /// <c>/proc/PID/schedstat</c>: time on the CPU (sum_exec_runtime, ns), time waiting on a run
    /// queue (run_delay, ns), and the number of timeslices run (pcount).
    /// </summary>
    public static (long CpuNs, long RunDelayNs, long Timeslices) Schedstat(string text)
    {
        var f = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (f.Length < 3)
            throw new FormatException($"schedstat: expected three numbers, got '{text.Trim()}'");
        return (Long(f[0], "schedstat"), Long(f[1], "schedstat"), Long(f[2], "schedstat"));
    }

    /// <summary><c>/proc/PID/status</c>: <c>voluntary_ctxt_switches</c> and <c>nonvoluntary_ctxt_switches</c>.</summary>
    public static (long Voluntary, long Involuntary) StatusSwitches(string text)
    {
        long? vol = null, invol = null;
        foreach (var line in text.Split('\n'))
        {
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
                continue;
            var key = line[..colon];
            if (key == "voluntary_ctxt_switches")
                vol = Long(line[(colon + 1)..].Trim(), "status");
            else if (key == "nonvoluntary_ctxt_switches")
                invol = Long(line[(colon + 1)..].Trim(), "status");
        }
        if (vol is null || invol is null)
            throw new FormatException("status: no voluntary_ctxt_switches/nonvoluntary_ctxt_switches lines");
        return (vol.Value, invol.Value);
    }

    /// <summary>
    /// <c>/proc/PID/stat</c>: utime and stime (fields 14 and 15, in clock ticks) and the CPU it
    /// last ran on (field 39). The command name (field 2) is in parentheses and may itself hold
    /// spaces and parentheses, so fields are counted from the last ')'.
    /// </summary>
    public static (long Utime, long Stime, int Processor) Stat(string text)
    {
        int close = text.LastIndexOf(')');
        if (close < 0)
            throw new FormatException("stat: no ')' closing the command name");
        // After ")": field 3 (state) is rest[0], so field n is rest[n - 3].
        var rest = text[(close + 1)..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length < 39 - 3 + 1)
            throw new FormatException($"stat: expected at least 39 fields, got {rest.Length + 2}");
        return (Long(rest[14 - 3], "stat"), Long(rest[15 - 3], "stat"), (int)Long(rest[39 - 3], "stat"));
    }

    /// <summary><c>/proc/stat</c>: the <c>cpu</c> line's steal time (8th value), in clock ticks, summed over all CPUs.</summary>
    public static long StealTicks(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("cpu ", StringComparison.Ordinal))
                continue;
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // cpu user nice system idle iowait irq softirq steal ...
            return f.Length > 8 ? Long(f[8], "/proc/stat") : 0;
        }
        throw new FormatException("/proc/stat: no 'cpu ' line");
    }

    /// <summary><c>/proc/stat</c>: the <c>cpu</c> line's busy time (user+nice+system+irq+softirq) in clock ticks, summed over all CPUs.</summary>
    public static long BusyTicks(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith("cpu ", StringComparison.Ordinal))
                continue;
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 8)
                throw new FormatException("/proc/stat: the 'cpu' line has fewer than 7 values");
            return Long(f[1], "/proc/stat") + Long(f[2], "/proc/stat") + Long(f[3], "/proc/stat") + Long(f[6], "/proc/stat") + Long(f[7], "/proc/stat");
        }
        throw new FormatException("/proc/stat: no 'cpu ' line");
    }

    /// <summary><c>/proc/loadavg</c>: the 1-, 5- and 15-minute load averages.</summary>
    public static (double One, double Five, double Fifteen) LoadAverage(string text)
    {
        var f = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (f.Length < 3)
            throw new FormatException($"loadavg: expected three load averages, got '{text.Trim()}'");
        return (Double(f[0]), Double(f[1]), Double(f[2]));
    }

    /// <summary><c>/proc/PID/autogroup</c> (<c>/autogroup-379 nice 0</c>): the autogroup's name, or null when the file is empty.</summary>
    public static string? Autogroup(string text)
    {
        var f = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return f.Length == 0 ? null : f[0];
    }

    /// <summary><c>/proc/PID/cgroup</c>: the cpu controller's path (v1 <c>N:cpu,cpuacct:/x</c> or v2 <c>0::/x</c>), or null.</summary>
    public static string? CpuCgroup(string text)
    {
        string? v2 = null;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(':', 3);
            if (f.Length < 3)
                continue;
            if (f[1].Split(',').Contains("cpu"))
                return f[2];
            if (f[1].Length == 0)
                v2 = f[2];
        }
        return v2;
    }

    private static long Long(string s, string file) =>
        long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)
            ? v
            : throw new FormatException($"{file}: '{s}' is not a whole number");

    private static double Double(string s) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            ? v
            : throw new FormatException($"loadavg: '{s}' is not a number");
}

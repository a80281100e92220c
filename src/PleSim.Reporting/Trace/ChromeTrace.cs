using System.Globalization;
using System.Text;
using System.Text.Json;
using PleSim.Engine;

namespace PleSim.Reporting.Trace;

/// <summary>
/// Builds a trace in the Chrome trace-event JSON format (opens in ui.perfetto.dev and
/// chrome://tracing): "X" complete slices on tracks (pid/tid), "i" instant events, "M" metadata
/// naming processes and threads. Only events overlapping [<see cref="From"/>, <see cref="To"/>]
/// are kept, so files stay small.
/// </summary>
public sealed class ChromeTrace
{
    private readonly StringBuilder _events = new();
    private readonly HashSet<(int Pid, int Tid)> _namedThreads = [];
    private readonly HashSet<int> _namedProcesses = [];
    private int _count;

    public ChromeTrace(SimTime from, SimTime to)
    {
        From = from;
        To = to;
    }

    public SimTime From { get; }
    public SimTime To { get; }
    public int EventCount => _count;

    private static string Us(long ns) => (ns / 1000.0).ToString("0.###", CultureInfo.InvariantCulture);

    public bool InWindow(long startNs, long endNs) => endNs >= From.Ns && startNs <= To.Ns;

    public void NameProcess(int pid, string name, int sortIndex)
    {
        if (!_namedProcesses.Add(pid))
            return;
        Append($"{{\"name\":\"process_name\",\"ph\":\"M\",\"ts\":0,\"pid\":{pid},\"tid\":0,\"args\":{{\"name\":{Json(name)}}}}}");
        Append($"{{\"name\":\"process_sort_index\",\"ph\":\"M\",\"ts\":0,\"pid\":{pid},\"tid\":0,\"args\":{{\"sort_index\":{sortIndex}}}}}");
    }

    public void NameThread(int pid, int tid, string name)
    {
        if (!_namedThreads.Add((pid, tid)))
            return;
        Append($"{{\"name\":\"thread_name\",\"ph\":\"M\",\"ts\":0,\"pid\":{pid},\"tid\":{tid},\"args\":{{\"name\":{Json(name)}}}}}");
        Append($"{{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"ts\":0,\"pid\":{pid},\"tid\":{tid},\"args\":{{\"sort_index\":{tid}}}}}");
    }

    /// <summary>A slice [start, end) on track (pid, tid), clipped to the window.</summary>
    public void Slice(int pid, int tid, string name, string category, long startNs, long endNs, string? argsJson = null)
    {
        if (endNs < startNs || !InWindow(startNs, endNs))
            return;
        long s = Math.Max(startNs, From.Ns);
        long e = Math.Min(endNs, To.Ns);
        var args = argsJson is null ? "" : $",\"args\":{argsJson}";
        Append($"{{\"name\":{Json(name)},\"cat\":\"{category}\",\"ph\":\"X\",\"ts\":{Us(s)},\"dur\":{Us(e - s)},\"pid\":{pid},\"tid\":{tid}{args}}}");
    }

    /// <summary>An instant event on a thread track.</summary>
    public void Instant(int pid, int tid, string name, string category, long atNs, string? argsJson = null)
    {
        if (!InWindow(atNs, atNs))
            return;
        var args = argsJson is null ? "" : $",\"args\":{argsJson}";
        Append($"{{\"name\":{Json(name)},\"cat\":\"{category}\",\"ph\":\"i\",\"s\":\"t\",\"ts\":{Us(atNs)},\"pid\":{pid},\"tid\":{tid}{args}}}");
    }

    /// <summary>A counter track value ("C" event).</summary>
    public void Counter(int pid, string name, long atNs, string series, double value)
    {
        if (!InWindow(atNs, atNs))
            return;
        Append($"{{\"name\":{Json(name)},\"ph\":\"C\",\"ts\":{Us(atNs)},\"pid\":{pid},\"tid\":0,\"args\":{{{Json(series)}:{value.ToString("R", CultureInfo.InvariantCulture)}}}}}");
    }

    public static string Json(string s) => JsonSerializer.Serialize(s);

    /// <summary>JSON of an args object from name/value pairs.</summary>
    public static string Args(params (string Name, object Value)[] pairs)
    {
        var sb = new StringBuilder("{");
        for (int i = 0; i < pairs.Length; i++)
        {
            if (i > 0)
                sb.Append(',');
            sb.Append(Json(pairs[i].Name)).Append(':');
            sb.Append(pairs[i].Value switch
            {
                string str => Json(str),
                bool b => b ? "true" : "false",
                double d => d.ToString("R", CultureInfo.InvariantCulture),
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                var o => Json(o.ToString() ?? ""),
            });
        }
        return sb.Append('}').ToString();
    }

    private void Append(string ev)
    {
        if (_events.Length > 0)
            _events.Append(",\n");
        _events.Append(ev);
        _count++;
    }

    public string ToJson() =>
        "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"generator\":\"PleSim\"},\"traceEvents\":[\n" + _events + "\n]}\n";
}

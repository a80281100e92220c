using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using PleSim.Engine;

namespace PleSim.Reporting.Trace;

/// <summary>
/// Streams a trace in the Chrome trace-event JSON format (opens in ui.perfetto.dev and
/// chrome://tracing): "X" complete slices on tracks (pid/tid), "i" instant events, "M" metadata
/// naming processes and threads (written when a track is first named; the format allows metadata
/// anywhere). Only events overlapping [<see cref="From"/>, <see cref="To"/>] are written. Events
/// go to <see cref="Utf8JsonWriter"/> over a small buffer that is copied to the output stream
/// every <see cref="FlushBytes"/> bytes, so memory stays flat however long the window is: the
/// only state kept is the buffer and the set of named tracks (decision 0021).
/// </summary>
public sealed class ChromeTrace : IDisposable
{
    /// <summary>The buffer is written out when it holds this many bytes.</summary>
    public const int FlushBytes = 1 << 16;

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonSerializerOptions StringOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly byte[] Header = Encoding.UTF8.GetBytes("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"generator\":\"PleSim\"},\"traceEvents\":[\n");
    private static readonly byte[] Footer = Encoding.UTF8.GetBytes("\n]}\n");
    private static readonly byte[] Separator = Encoding.UTF8.GetBytes(",\n");

    private readonly Stream _out;
    private readonly ArrayBufferWriter<byte> _buf = new(FlushBytes * 2);
    private readonly Utf8JsonWriter _w;
    private readonly HashSet<(int Pid, int Tid)> _namedThreads = [];
    private readonly HashSet<int> _namedProcesses = [];
    private long _count;
    private long _dataCount;
    private long _bytesWritten;
    private bool _completed;

    /// <summary>A trace streamed to <paramref name="output"/> (not closed by this class).</summary>
    public ChromeTrace(SimTime from, SimTime to, Stream output)
    {
        From = from;
        To = to;
        _out = output;
        _w = new Utf8JsonWriter(_buf, WriterOptions);
        Raw(Header);
    }

    public SimTime From { get; }
    public SimTime To { get; }

    /// <summary>Events written, metadata included.</summary>
    public long EventCount => _count;

    /// <summary>Slices, instants and counters written (metadata excluded): 0 means the window caught nothing.</summary>
    public long DataEventCount => _dataCount;

    /// <summary>Bytes handed to the output stream so far.</summary>
    public long BytesWritten => _bytesWritten;

    /// <summary>Bytes this object holds on to (its buffer and track sets): bounded, independent of the window's length.</summary>
    public long RetainedBytes => _buf.Capacity + 16L * (_namedThreads.Count + _namedProcesses.Count);

    public bool InWindow(long startNs, long endNs) => endNs >= From.Ns && startNs <= To.Ns;

    public void NameProcess(int pid, string name, int sortIndex)
    {
        if (!_namedProcesses.Add(pid))
            return;
        Metadata("process_name", pid, 0, "name", name, 0);
        Metadata("process_sort_index", pid, 0, "sort_index", null, sortIndex);
    }

    public void NameThread(int pid, int tid, string name)
    {
        if (!_namedThreads.Add((pid, tid)))
            return;
        Metadata("thread_name", pid, tid, "name", name, 0);
        Metadata("thread_sort_index", pid, tid, "sort_index", null, tid);
    }

    private void Metadata(string name, int pid, int tid, string arg, string? text, int number)
    {
        Start(name, null, "M");
        _w.WriteNumber("ts", 0);
        _w.WriteNumber("pid", pid);
        _w.WriteNumber("tid", tid);
        _w.WriteStartObject("args");
        if (text is null)
            _w.WriteNumber(arg, number);
        else
            _w.WriteString(arg, text);
        _w.WriteEndObject();
        End(null, data: false);
    }

    /// <summary>A slice [start, end) on track (pid, tid), clipped to the window.</summary>
    public void Slice(int pid, int tid, string name, string category, long startNs, long endNs, string? argsJson = null)
    {
        if (endNs < startNs || !InWindow(startNs, endNs))
            return;
        long s = Math.Max(startNs, From.Ns);
        long e = Math.Min(endNs, To.Ns);
        Start(name, category, "X");
        Us("ts", s);
        Us("dur", e - s);
        _w.WriteNumber("pid", pid);
        _w.WriteNumber("tid", tid);
        End(argsJson, data: true);
    }

    /// <summary>An instant event on a thread track.</summary>
    public void Instant(int pid, int tid, string name, string category, long atNs, string? argsJson = null)
    {
        if (!InWindow(atNs, atNs))
            return;
        Start(name, category, "i");
        _w.WriteString("s", "t");
        Us("ts", atNs);
        _w.WriteNumber("pid", pid);
        _w.WriteNumber("tid", tid);
        End(argsJson, data: true);
    }

    /// <summary>A counter track value ("C" event).</summary>
    public void Counter(int pid, string name, long atNs, string series, double value)
    {
        if (!InWindow(atNs, atNs))
            return;
        Start(name, null, "C");
        Us("ts", atNs);
        _w.WriteNumber("pid", pid);
        _w.WriteNumber("tid", 0);
        _w.WriteStartObject("args");
        _w.WriteNumber(series, value);
        _w.WriteEndObject();
        End(null, data: true);
    }

    public static string Json(string s) => JsonSerializer.Serialize(s, StringOptions);

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

    /// <summary>Writes the closing bracket and flushes everything to the stream; no event may follow.</summary>
    public void Complete()
    {
        if (_completed)
            return;
        Raw(Footer);
        FlushToStream();
        _out.Flush();
        _completed = true;
    }

    public void Dispose() => _w.Dispose();

    private void Start(string name, string? category, string ph)
    {
        if (_completed)
            throw new InvalidOperationException("the trace is complete");
        if (_count > 0)
            Raw(Separator);
        _w.WriteStartObject();
        _w.WriteString("name", name);
        if (category is not null)
            _w.WriteString("cat", category);
        _w.WriteString("ph", ph);
    }

    private void End(string? argsJson, bool data)
    {
        if (argsJson is not null)
        {
            _w.WritePropertyName("args");
            _w.WriteRawValue(argsJson, skipInputValidation: true);
        }
        _w.WriteEndObject();
        _w.Flush();
        _w.Reset();
        _count++;
        if (data)
            _dataCount++;
        if (_buf.WrittenCount >= FlushBytes)
            FlushToStream();
    }

    /// <summary>Microseconds with up to three decimals (exact: time is integer nanoseconds).</summary>
    private void Us(string property, long ns)
    {
        Span<byte> text = stackalloc byte[32];
        int n = 0;
        if (ns < 0)
        {
            text[n++] = (byte)'-';
            ns = -ns;
        }
        Utf8Formatter.TryFormat(ns / 1000, text[n..], out int w);
        n += w;
        long frac = ns % 1000;
        if (frac != 0)
        {
            text[n++] = (byte)'.';
            text[n++] = (byte)('0' + frac / 100);
            text[n++] = (byte)('0' + frac / 10 % 10);
            text[n++] = (byte)('0' + frac % 10);
            while (text[n - 1] == (byte)'0')
                n--;
        }
        _w.WritePropertyName(property);
        _w.WriteRawValue(text[..n], skipInputValidation: true);
    }

    private void Raw(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_buf.GetSpan(bytes.Length));
        _buf.Advance(bytes.Length);
    }

    private void FlushToStream()
    {
        _out.Write(_buf.WrittenSpan);
        _bytesWritten += _buf.WrittenCount;
        _buf.ResetWrittenCount();
    }
}

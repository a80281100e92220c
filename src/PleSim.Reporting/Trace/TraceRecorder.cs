using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Reporting.Trace;

/// <summary>
/// Attaches trace observers to one run (the first seed) and writes the Chrome/Perfetto JSON
/// file when it ends. Layers register what they can trace through <see cref="Attachers"/>.
/// </summary>
public sealed class TraceRecorder
{
    private readonly string _path;
    private readonly ulong _seed;
    private ChromeTrace? _trace;
    private readonly List<Action> _finishers = [];

    /// <summary>Functions that attach observers for a model kind; each returns a finisher or null if it does not apply.</summary>
    public static readonly List<Func<IModelRun, ChromeTrace, Action?>> Attachers =
    [
        (model, trace) =>
        {
            if (model is not SystemRun sr)
                return null;
            var o = new HostTraceObserver(sr.Host, trace);
            sr.Host.AddObserver(o);
            return o.Finish;
        },
    ];

    public TraceRecorder(string path, ulong seed, SimTime from, SimTime to)
    {
        _path = path;
        _seed = seed;
        From = from;
        To = to;
    }

    public SimTime From { get; }
    public SimTime To { get; }
    public int Events => _trace?.EventCount ?? 0;

    public RunOptions Apply(RunOptions options) => options with { Attach = Attach, AfterRun = AfterRun };

    private void Attach(IModelRun model, Scenario scenario, ulong seed)
    {
        if (seed != _seed)
            return;
        _trace = new ChromeTrace(From, To);
        foreach (var a in Attachers)
        {
            if (a(model, _trace) is { } finish)
                _finishers.Add(finish);
        }
    }

    private void AfterRun(IModelRun model, ulong seed)
    {
        if (seed != _seed || _trace is null)
            return;
        foreach (var f in _finishers)
            f();
        var dir = Path.GetDirectoryName(Path.GetFullPath(_path))!;
        Directory.CreateDirectory(dir);
        var tmp = _path + ".tmp";
        File.WriteAllText(tmp, _trace.ToJson());
        File.Move(tmp, _path, overwrite: true);
    }
}

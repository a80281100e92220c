using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Reporting.Trace;

/// <summary>
/// Attaches trace observers to one run (the first seed) and streams the Chrome/Perfetto JSON
/// file while it runs: events go to "&lt;path&gt;.tmp", which is renamed to the path when the run
/// ends, so a failed write never leaves a half-written file under the final name (decision
/// 0021). Layers register what they can trace through <see cref="Attachers"/>.
/// </summary>
public sealed class TraceRecorder
{
    private readonly string _path;
    private readonly ulong _seed;
    private ChromeTrace? _trace;
    private FileStream? _file;
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
        (model, trace) =>
        {
            if (model is not SystemRun sr || sr.Kvm is null || sr.Vms.Count == 0)
                return null;
            var observers = sr.Vms.Select(v => new GuestTraceObserver(v.Kernel, trace)).ToList();
            for (int i = 0; i < observers.Count; i++)
                sr.Vms[i].Kernel.Observer = observers[i];
            sr.Kvm.Observer = new FanOutKvm(observers);
            sr.Host.AddObserver(new StackingCounter(sr.Kvm.Vms, trace, () => sr.Sim.Now.Ns));
            return () => observers.ForEach(o => o.Finish());
        },
    ];

    /// <summary>
    /// A "VCPUs stacked" counter per guest (ground truth, decision 0093): how many host CPUs hold two
    /// or more of its runnable VCPU threads, written whenever it changes and at the first scheduler
    /// event inside the window. Attached after KVM's own observer, so it reads the updated counts.
    /// </summary>
    private sealed class StackingCounter(IReadOnlyList<PleSim.Hypervisor.Vm> vms, ChromeTrace trace, Func<long> now) : PleSim.Host.IHostObserver
    {
        private readonly int[] _last = Enumerable.Repeat(-1, vms.Count).ToArray();

        private void Update()
        {
            long t = now();
            if (!trace.InWindow(t, t))
                return;
            for (int i = 0; i < vms.Count; i++)
            {
                int v = vms[i].CpusStacked;
                if (v == _last[i])
                    continue;
                _last[i] = v;
                trace.Counter(GuestTraceObserver.Pid(vms[i]), "VCPUs stacked", t, "host CPUs with two or more", v);
            }
        }

        public void Switch(int cpu, PleSim.Host.HostTask prev, PleSim.Host.HostTask next, PleSim.Host.StopReason prevReason) => Update();
        public void Wakeup(PleSim.Host.HostTask task, int targetCpu, int wakerCpu, bool preemptsCurrent) => Update();
        public void NewTask(PleSim.Host.HostTask task, int cpu) => Update();
        public void Migrate(PleSim.Host.HostTask task, int from, int to, PleSim.Host.MigrationCause cause) => Update();
    }

    private sealed class FanOutKvm(List<GuestTraceObserver> all) : PleSim.Hypervisor.IKvmObserver
    {
        public void PauseExit(PleSim.Hypervisor.Vcpu vcpu) => all.ForEach(o => o.PauseExit(vcpu));
        public void Kick(PleSim.Hypervisor.Vcpu? from, PleSim.Hypervisor.Vcpu target, int vector) => all.ForEach(o => o.Kick(from, target, vector));
        public void SpinSegment(PleSim.Hypervisor.Vcpu vcpu, PleSim.Hypervisor.SpinCause cause, long startNs, long endNs) => all.ForEach(o => o.SpinSegment(vcpu, cause, startNs, endNs));
        public void YieldTo(PleSim.Hypervisor.Vcpu me, PleSim.Hypervisor.Vcpu target, PleSim.Host.YieldToResult result, PleSim.Hypervisor.YieldLabel label) => all.ForEach(o => o.YieldTo(me, target, result, label));
    }

    public TraceRecorder(string path, ulong seed, SimTime from, SimTime to)
    {
        _path = path;
        _seed = seed;
        From = from;
        To = to;
    }

    public SimTime From { get; }
    public SimTime To { get; }

    /// <summary>Slices, instants and counters written (metadata excluded); 0 when the window caught nothing.</summary>
    public long Events => _trace?.DataEventCount ?? 0;

    /// <summary>Size of the written file in bytes.</summary>
    public long Bytes => _trace?.BytesWritten ?? 0;

    /// <summary>Bytes the trace holds in memory now (bounded; for tests).</summary>
    public long RetainedBytes => _trace?.RetainedBytes ?? 0;

    private string TempPath => _path + ".tmp";

    public RunOptions Apply(RunOptions options) => options with { Attach = Attach, AfterRun = AfterRun };

    private void Attach(IModelRun model, Scenario scenario, ulong seed)
    {
        if (seed != _seed)
            return;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_path))!);
        _file = new FileStream(TempPath, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1);
        _trace = new ChromeTrace(From, To, _file);
        foreach (var a in Attachers)
        {
            if (a(model, _trace) is { } finish)
                _finishers.Add(finish);
        }
    }

    private void AfterRun(IModelRun model, ulong seed)
    {
        if (seed != _seed || _trace is null || _file is null)
            return;
        try
        {
            foreach (var f in _finishers)
                f();
            // The finishers hold the observers and through them the whole model: let it go once
            // the trace is written (a recorder kept for its counters must not keep a run alive).
            _finishers.Clear();
            _trace.Complete();
            _trace.Dispose();
            _file.Dispose();
            _file = null;
            File.Move(TempPath, _path, overwrite: true);
        }
        catch
        {
            Abort();
            throw;
        }
    }

    /// <summary>Drops an unfinished trace: closes and deletes the temporary file (the final path is untouched).</summary>
    public void Abort()
    {
        if (_file is null)
            return;
        _trace?.Dispose();
        _file.Dispose();
        _file = null;
        File.Delete(TempPath);
    }
}

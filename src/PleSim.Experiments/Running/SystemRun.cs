using PleSim.Engine;
using PleSim.Experiments.Scenarios;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Experiments.Running;

/// <summary>The <c>system</c> kind: a host (and, later, VMs) built from the scenario.</summary>
public sealed class SystemRun : IModelRun, IEventHandler
{
    private readonly List<(HostTask Task, SimDuration At, int Cpu)> _starts = [];
    private readonly List<PeriodicBody> _periodic = [];
    private readonly List<PingPongBody> _pingpong = [];
    private HostStats? _atReset;

    public SystemRun(Scenario scenario, ulong seed)
    {
        Scenario = scenario;
        Sim = new Simulator();
        Streams = new RandomStreams(seed);
        var h = scenario.Host;
        Host = new HostScheduler(Sim, h.Topology, h.Sched, h.Features);
        var groups = new Dictionary<string, TaskGroup> { ["/"] = Host.RootGroup };
        foreach (var c in h.Cgroups)
            groups[c.Path] = Host.CreateGroup(c.Path, c.Shares, groups[SystemSections.ParentPath(c.Path)]);
        foreach (var ts in h.Tasks)
            AddHostTasks(ts, groups);
        var id = Sim.Register(this);
        for (int i = 0; i < _starts.Count; i++)
            Sim.Schedule(SimTime.Zero + _starts[i].At, id, i);
    }

    public Scenario Scenario { get; }
    public Simulator Sim { get; }
    public RandomStreams Streams { get; }
    public HostScheduler Host { get; }

    private void AddHostTasks(HostTaskSettings ts, Dictionary<string, TaskGroup> groups)
    {
        ulong affinity = ts.Affinity?.Mask ?? Host.Topology.AllMask;
        var group = groups[ts.Cgroup];
        for (int i = 0; i < ts.Count; i++)
        {
            string name = ts.Count == 1 ? ts.Name : $"{ts.Name}{i}";
            switch (ts.Kind)
            {
                case "periodic":
                {
                    var body = new PeriodicBody(Host, ts.Run, ts.Sleep, ts.Jitter ? Streams.Get("task." + name) : null);
                    var t = Host.CreateTask(name, body, ts.Nice, affinity, group);
                    body.Attach(t);
                    _periodic.Add(body);
                    _starts.Add((t, ts.StartAt, ts.StartCpu));
                    break;
                }
                case "pingpong":
                {
                    var a = new PingPongBody(Host, ts.Work);
                    var b = new PingPongBody(Host, ts.Work);
                    a.Partner = b;
                    b.Partner = a;
                    var ta = Host.CreateTask(name + "a", a, ts.Nice, affinity, group);
                    var tb = Host.CreateTask(name + "b", b, ts.Nice, affinity, group);
                    a.Attach(ta, startsWithBall: true);
                    b.Attach(tb, startsWithBall: false);
                    _pingpong.Add(a);
                    _pingpong.Add(b);
                    _starts.Add((ta, ts.StartAt, ts.StartCpu));
                    _starts.Add((tb, ts.StartAt, ts.StartCpu));
                    break;
                }
                default:
                {
                    var t = Host.CreateTask(name, new HogBody(), ts.Nice, affinity, group);
                    _starts.Add((t, ts.StartAt, ts.StartCpu));
                    break;
                }
            }
        }
    }

    /// <summary>Starts task number <paramref name="arg"/> (forked from its start CPU).</summary>
    public void OnEvent(Simulator sim, long arg)
    {
        var (task, _, cpu) = _starts[(int)arg];
        Host.WakeUpNewTask(task, cpu);
    }

    public void ResetStatistics()
    {
        _atReset = HostStats.Take(Host);
        foreach (var p in _pingpong)
            p.WakeLatencies.Clear();
        foreach (var p in _periodic)
            p.WakeLatencies.Clear();
    }

    public void Collect(RunResult result, SimDuration measured)
    {
        var end = HostStats.Take(Host);
        var start = _atReset ?? new HostStats
        {
            TaskCpu = new long[end.TaskCpu.Length], TaskWait = new long[end.TaskCpu.Length], TaskVolSw = new long[end.TaskCpu.Length],
            TaskInvolSw = new long[end.TaskCpu.Length], TaskMigr = new long[end.TaskCpu.Length], TaskWakeups = new long[end.TaskCpu.Length],
            TaskYields = new long[end.TaskCpu.Length], TaskYieldTo = new long[end.TaskCpu.Length],
            CpuBusy = new long[Host.NrCpus], CpuIdle = new long[Host.NrCpus], CpuSwitches = new long[Host.NrCpus], GroupCpu = new long[Host.Groups.Count],
        };
        HostStats.Report(Host, start, end, measured.TotalSeconds, result);
        foreach (var rec in result.Tasks)
            result.AddMetric($"cpu_share.{rec["task"]}", (double)rec["cpu_share"]!);
        foreach (var rec in result.Groups.Where(g => (string)g["group"]! != "/"))
            result.AddMetric($"group_share.{rec["group"]}", (double)rec["cpu_share"]!);
        var lat = _pingpong.SelectMany(p => p.WakeLatencies).Concat(_periodic.SelectMany(p => p.WakeLatencies)).ToArray();
        if (lat.Length > 0)
        {
            Array.Sort(lat);
            result.AddMetric("wakeup_latency_mean_us", lat.Average() / 1e3);
            result.AddMetric("wakeup_latency_p99_us", lat[(int)Math.Min(lat.Length - 1, Math.Ceiling(lat.Length * 0.99) - 1)] / 1e3);
            result.AddMetric("wakeup_latency_max_us", lat[^1] / 1e3);
        }
    }
}

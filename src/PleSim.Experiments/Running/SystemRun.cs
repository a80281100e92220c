using PleSim.Engine;
using PleSim.Experiments.Scenarios;
using PleSim.Host;
using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Experiments.Running;

/// <summary>The <c>system</c> kind: a host (and, later, VMs) built from the scenario.</summary>
public sealed class SystemRun : IModelRun, IEventHandler, IDisposable
{
    private readonly List<(HostTask Task, SimDuration At, int Cpu)> _starts = [];
    private readonly List<(HostTask Task, CpuMask Mask)> _affinityChanges = [];
    private readonly HandlerId _affinityId;
    private readonly List<PeriodicBody> _periodic = [];
    private readonly List<PingPongBody> _pingpong = [];
    private readonly List<(YielderBody Body, string? Target)> _yielders = [];
    private readonly List<BackgroundThreadBody> _background = [];
    private readonly List<(string Task, List<long> Latencies)> _wakeLatencies = [];
    private long _backgroundCpuAtReset;
    private readonly MigrationCounter _migrations = new();
    private long _serializeSkipsAtReset;
    private readonly GroupWeightSampler? _groupWeights;
    private HostStats? _atReset;

    public SystemRun(Scenario scenario, ulong seed)
    {
        Scenario = scenario;
        Sim = new Simulator();
        Streams = new RandomStreams(seed);
        var h = scenario.Host;
        Host = new HostScheduler(Sim, h.Topology, h.Sched, h.Features, Streams);
        var groups = new Dictionary<string, TaskGroup> { ["/"] = Host.RootGroup };
        foreach (var c in h.Cgroups)
            groups[c.Path] = Host.CreateGroup(c.Path, c.Shares, groups[SystemSections.ParentPath(c.Path)]);
        var created = new List<(HostTaskSettings Settings, HostTask Task)>();
        foreach (var ts in h.Tasks)
        {
            int before = Host.Tasks.Count;
            AddHostTasks(ts, groups);
            for (int i = before; i < Host.Tasks.Count; i++)
                created.Add((ts, Host.Tasks[i]));
        }
        foreach (var (body, target) in _yielders)
            body.Target = target is null ? null : Host.Tasks.First(t => t.Name == target);
        _migrations.Clock = () => Sim.Now.Ns;
        if (Host.Topology.NrNodes > 1)
            _migrations.CpuNode = Enumerable.Range(0, Host.NrCpus).Select(Host.Topology.NodeOf).ToArray();
        Host.AddObserver(_migrations);
        if (scenario.Vms.Count > 0)
        {
            Kvm = new Kvm(Host, scenario.Kvm, TscFrequency.FromMegahertz(h.TscMhz), Streams);
            Kvm.EnableCoscheduling(h.Coscheduling);
            foreach (var vs in scenario.Vms)
            {
                TaskGroup group;
                if (vs.Cgroup == "own")
                    group = Host.CreateGroup("/" + vs.Name, vs.CgroupShares);
                else
                    group = groups[vs.Cgroup];
                Vms.Add(new VmRuntime(this, vs, Kvm, group));
            }
            foreach (var vm in Vms)
            {
                var spread = vm.Settings.VcpuStartSpread.Ns;
                var startAt = vm.Settings.StartAt;
                if (spread == 0 && startAt.Ns == 0)
                {
                    Kvm.Start(vm.Vm, vm.Settings.StartCpu);
                    continue;
                }
                // start_at, vcpu_start_spread (decision 0051): the VM's VCPU threads forked later, each
                // at its own instant under a spread, from the VM's start CPU, through the same start
                // events as host tasks.
                var rng = spread == 0 ? null : Streams.Get($"vm.{vm.Settings.Name}.vcpu_start");
                foreach (var v in vm.Vm.Vcpus)
                {
                    var at = rng is null ? startAt : startAt + SimDuration.FromNanoseconds((long)(rng.NextUInt64() % (ulong)spread));
                    _starts.Add((v.Task, at, vm.Settings.StartCpu));
                }
            }
        }
        AddBackground(h);
        if (Host.Groups.Count > 1)
        {
            _groupWeights = new GroupWeightSampler(Host.Groups);
            Host.AddObserver(_groupWeights);
        }
        var id = Sim.Register(this);
        for (int i = 0; i < _starts.Count; i++)
            Sim.Schedule(SimTime.Zero + _starts[i].At, id, i);
        _affinityId = Sim.Register(new AffinityChange(this));
        foreach (var (ts, task) in created.Where(c => c.Settings.SetAffinityAt is not null))
        {
            _affinityChanges.Add((task, ts.LaterAffinity!.Value.Mask));
            Sim.Schedule(SimTime.Zero + ts.SetAffinityAt!.Value, _affinityId, _affinityChanges.Count - 1);
        }
    }

    public Scenario Scenario { get; }
    public Simulator Sim { get; }
    public RandomStreams Streams { get; }
    public HostScheduler Host { get; }
    public Kvm? Kvm { get; }
    public List<VmRuntime> Vms { get; } = [];

    /// <summary>
    /// Ends the model's life: the large per-run arrays go back to the thread for the next run
    /// (<see cref="PleSim.Engine.RunArrays{T}"/>). The runner calls it after the results were
    /// collected; a model that is not disposed just leaves them to the garbage collector.
    /// </summary>
    public void Dispose()
    {
        foreach (var vm in Vms)
            vm.Dispose();
    }
    private Dictionary<string, double>[] _vmAtReset = [];
    private long _resetAt;
    private double[]? _vmCpuAtMid; // each VM's VCPU CPU time halfway through the window (MarkMidWindow)
    private long _midAt;

    /// <summary>
    /// A VM's workload finished its fixed amount of work (boot storm, kernbench, hackbench, a
    /// limited sysbench, ebizzy's -S): the run ends once every VM with a fixed amount of work has
    /// finished (VMs of hogs or idle VMs never do), so each benchmark VM reports its own time.
    /// </summary>
    internal void OnVmFinished(VmRuntime vm)
    {
        if (vm.Finished)
            return;
        vm.Finished = true;
        int pending = 0;
        foreach (var v in Vms)
        {
            if (v.HasFixedWork && !v.Finished)
                pending++;
        }
        if (pending == 0)
            Sim.Stop();
    }

    private void AddHostTasks(HostTaskSettings ts, Dictionary<string, TaskGroup> groups)
    {
        var affinity = ts.Affinity?.Mask ?? Host.Topology.AllMask;
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
                    _wakeLatencies.Add((name, body.WakeLatencies));
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
                    _wakeLatencies.Add((ta.Name, a.WakeLatencies));
                    _wakeLatencies.Add((tb.Name, b.WakeLatencies));
                    _starts.Add((ta, ts.StartAt, ts.StartCpu));
                    _starts.Add((tb, ts.StartAt, ts.StartCpu));
                    break;
                }
                case "yielder":
                {
                    var body = new YielderBody(Host, ts.Run);
                    var t = Host.CreateTask(name, body, ts.Nice, affinity, group);
                    body.Attach(t);
                    _yielders.Add((body, ts.YieldTo));
                    _starts.Add((t, ts.StartAt, ts.StartCpu));
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

    /// <summary>
    /// The host's background threads (<c>host.background</c>), created after every VCPU so task
    /// numbers and random streams of the rest are the same with them or without. A per-CPU thread
    /// is bound to its CPU in the root group (a kernel thread); a per-VM one is a thread of the
    /// VM's QEMU process, so it has the VM's group and affinity; a host one may run anywhere.
    /// Each starts asleep (created at time 0 on its CPU) and wakes at its timers' expiries.
    /// </summary>
    private void AddBackground(HostSettings h)
    {
        var threads = h.Background.Threads;
        if (threads.Count == 0)
            return;
        // The host's jiffies count whole seconds from boot, at an arbitrary offset from the run's start.
        long second = SimDuration.FromSeconds(1).Ns;
        long secondPhase = (long)(Streams.Get("background.jiffies").NextUInt64() % (ulong)second);
        long jiffy = second / h.Sched.Hz;
        foreach (var ts in threads)
        {
            switch (ts.Scope)
            {
                case "cpu":
                    for (int cpu = 0; cpu < Host.NrCpus; cpu++)
                        AddBackgroundThread($"{ts.Name}/{cpu}", ts, CpuMask.Of(cpu), Host.RootGroup, cpu, cpu, secondPhase, jiffy);
                    break;
                case "vm":
                    foreach (var vm in Vms)
                        AddBackgroundThread($"{ts.Name}:{vm.Name}", ts, vm.Settings.Affinity?.Mask ?? Host.Topology.AllMask, vm.Vm.Group, vm.Settings.StartCpu, 0, secondPhase, jiffy);
                    break;
                default:
                    AddBackgroundThread(ts.Name, ts, Host.Topology.AllMask, Host.RootGroup, 0, 0, secondPhase, jiffy);
                    break;
            }
        }
    }

    private void AddBackgroundThread(string name, BackgroundThreadSettings ts, CpuMask affinity, TaskGroup group, int startCpu, int cpuNumber, long secondPhase, long jiffy)
    {
        var timers = new BackgroundTimer[ts.Timers.Count];
        for (int i = 0; i < timers.Length; i++)
        {
            var t = ts.Timers[i];
            long period = t.Period.Ns;
            var rng = Streams.Get($"background.{name}.{t.Name}");
            long phase;
            if (t.Phase == "round_jiffies")
            {
                // __round_jiffies: expiries on whole seconds, shifted 3 jiffies earlier per CPU
                // number so the CPUs do not all fire in the same jiffy; which second of a
                // multi-second period is drawn per run.
                long seconds = period / SimDuration.FromSeconds(1).Ns;
                phase = secondPhase + (rng.NextInt((int)seconds) * SimDuration.FromSeconds(1).Ns) - (3 * jiffy * cpuNumber);
                phase = ((phase % period) + period) % period;
            }
            else
            {
                phase = (long)(rng.NextUInt64() % (ulong)period);
            }
            timers[i] = new BackgroundTimer(t.Name, t.Period, t.Cost, t.Rearm == "on_grid" ? TimerRearm.OnGrid : TimerRearm.AfterRun, new SimDuration(phase));
        }
        var body = new BackgroundThreadBody(Host, timers);
        var task = Host.CreateTask(name, body, ts.Nice, affinity, group);
        body.Attach(task);
        _background.Add(body);
        _starts.Add((task, SimDuration.Zero, startCpu));
    }

    /// <summary>
    /// The wake-up latencies (ns) of each periodic and ping-pong task since the statistics were
    /// reset, by task name, in the order they happened (<c>plesim live</c> compares them per task).
    /// </summary>
    public IReadOnlyList<(string Task, List<long> Latencies)> WakeLatenciesByTask => _wakeLatencies;

    /// <summary>The background threads (empty without <c>host.background</c>).</summary>
    public IReadOnlyList<BackgroundThreadBody> Background => _background;

    /// <summary>Starts task number <paramref name="arg"/> (forked from its start CPU).</summary>
    public void OnEvent(Simulator sim, long arg)
    {
        var (task, _, cpu) = _starts[(int)arg];
        Host.WakeUpNewTask(task, cpu);
    }

    private sealed class AffinityChange(SystemRun run) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg)
        {
            var (task, mask) = run._affinityChanges[(int)arg];
            run.Host.SetAffinity(task, mask, task.Cpu < 0 ? 0 : task.Cpu);
        }
    }

    public void ResetStatistics()
    {
        _atReset = HostStats.Take(Host);
        _resetAt = Sim.Now.Ns;
        _vmAtReset = Vms.Select(v => v.Counters()).ToArray();
        _migrations.Reset();
        _serializeSkipsAtReset = Host.SerializeSkips;
        _groupWeights?.Reset();
        foreach (var p in _pingpong)
            p.WakeLatencies.Clear();
        foreach (var p in _periodic)
            p.WakeLatencies.Clear();
        foreach (var (b, _) in _yielders)
            b.ResetCounts();
        _backgroundCpuAtReset = 0;
        foreach (var b in _background)
        {
            b.ResetCounts();
            _backgroundCpuAtReset += b.Task.CpuTimeNs;
        }
    }

    /// <summary>Each VM's VCPU threads' CPU time now, read without charging the running ones.</summary>
    private double[] VmCpuNow() => Vms.Select(v => (double)v.Vm.Vcpus.Sum(c => Host.CpuTimeNow(c.Task))).ToArray();

    public void MarkMidWindow()
    {
        _vmCpuAtMid = VmCpuNow();
        _midAt = Sim.Now.Ns;
    }

    /// <summary>
    /// <c>VM.host_share_drift</c>: the VM's share of the host's CPUs in the window's second half minus
    /// its share in the first. Far from zero, the window is not steady (a start-up still under way, a
    /// placement that changed): docs/anomalies/wanpeng-2017-halt-poll-after-0097.md.
    /// </summary>
    private void ReportDrift(RunResult result)
    {
        if (_vmCpuAtMid is null || _midAt <= _resetAt || Sim.Now.Ns <= _midAt)
            return;
        var end = VmCpuNow();
        double first = (_midAt - _resetAt) * (double)Host.NrCpus, second = (Sim.Now.Ns - _midAt) * (double)Host.NrCpus;
        for (int i = 0; i < Vms.Count; i++)
        {
            double atReset = i < _vmAtReset.Length ? _vmAtReset[i].GetValueOrDefault("cpu_ns") : 0;
            result.AddMetric(Vms[i].Name + "." + MetricDefinitions.HostShareDrift,
                (end[i] - _vmCpuAtMid[i]) / second - (_vmCpuAtMid[i] - atReset) / first);
        }
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
        // A run that stopped early (a boot storm that finished) is measured up to that point.
        double seconds = Math.Min(measured.TotalSeconds, (Sim.Now.Ns - _resetAt) / 1e9);
        if (seconds <= 0)
            seconds = measured.TotalSeconds;
        HostStats.Report(Host, start, end, seconds, result);
        VmReport.Report(this, _vmAtReset, seconds, result);
        ReportDrift(result);
        foreach (var rec in result.Tasks.Where(t => Host.Tasks.First(x => x.Name == (string)t["task"]!).Owner is null))
            result.AddMetric($"cpu_share.{rec["task"]}", (double)rec["cpu_share"]!);
        foreach (var rec in result.Groups.Where(g => (string)g["group"]! != "/"))
            result.AddMetric($"group_share.{rec["group"]}", (double)rec["cpu_share"]!);
        _groupWeights?.Report(result);
        foreach (var cause in Enum.GetValues<MigrationCause>())
            result.AddMetric($"migrations_per_second.{MigrationCounter.Name(cause)}", _migrations.ByCause[(int)cause] / seconds);
        if (Host.Topology.NrNodes > 1)
        {
            // NUMA hosts only (decision 0039): one-node runs keep their metric set unchanged.
            result.AddMetric("host_node_migrations_per_second", _migrations.CrossNode / seconds);
            result.AddMetric("serialized_balance_skips_per_second", (Host.SerializeSkips - _serializeSkipsAtReset) / seconds);
        }
        if (_migrations.MinPeriodicGapNs < long.MaxValue)
            result.AddMetric("min_periodic_balance_gap_ms", _migrations.MinPeriodicGapNs / 1e6);
        if (_migrations.FirstByCauseNs[(int)MigrationCause.PeriodicBalance] >= 0)
            result.AddMetric("first_periodic_migration_ms", (_migrations.FirstByCauseNs[(int)MigrationCause.PeriodicBalance] - Scenario.Warmup.Ns) / 1e6);
        long yOk = 0, yTarget = 0, yOther = 0, ySelf = 0, yFail = 0;
        foreach (var (b, _) in _yielders)
        {
            foreach (var (r, n) in b.Results)
            {
                if (r == YieldToResult.Success)
                    yOk += n;
                else
                    yFail += n;
            }
            yTarget += b.TargetRanNext;
            yOther += b.OtherRanNext;
            ySelf += b.SelfRanNext;
        }
        if (_yielders.Count > 0)
        {
            result.AddMetric("yield_to_success", yOk);
            result.AddMetric("yield_to_failed", yFail);
            result.AddMetric("yield_to_target_ran_next", yOk == 0 ? double.NaN : (double)yTarget / yOk);
            result.AddMetric("yield_to_other_ran_next", yOk == 0 ? double.NaN : (double)yOther / yOk);
            result.AddMetric("yield_to_self_ran_next", yOk == 0 ? double.NaN : (double)ySelf / yOk);
        }
        if (_background.Count > 0)
        {
            // CPUs' worth of time the background threads took, and their work items (timer expiries run) per second.
            long cpu = 0, items = 0, coalesced = 0;
            foreach (var b in _background)
            {
                cpu += b.Task.CpuTimeNs;
                for (int i = 0; i < b.Done.Length; i++)
                {
                    items += b.Done[i];
                    coalesced += b.Coalesced[i];
                }
            }
            result.AddMetric("host.background_cpus", (cpu - _backgroundCpuAtReset) / 1e9 / seconds);
            result.AddMetric("host.background_items_per_second", items / seconds);
            result.AddMetric("host.background_coalesced_per_second", coalesced / seconds);
        }
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

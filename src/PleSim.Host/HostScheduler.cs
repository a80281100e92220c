using PleSim.Engine;

namespace PleSim.Host;

/// <summary>
/// The host's scheduler: CPUs with CFS run queues, task groups, load balancing and yield_to, as
/// Linux 2.6.39 has them (kernel/sched.c, kernel/sched_fair.c), driven by simulated time.
/// </summary>
/// <remarks>
/// Execution model: the current task of a CPU runs continuously; its <see cref="ITaskBody"/>
/// schedules its own events and calls <see cref="Block"/>, <see cref="Yield"/>,
/// <see cref="YieldTo(HostTask, HostTask, bool, bool)"/> and <see cref="TryToWakeUp"/>. <c>schedule()</c> runs synchronously;
/// the picked task starts running after <see cref="SchedTunables.ContextSwitchCost"/>.
/// A resched request (TIF_NEED_RESCHED) reaches the target CPU's <c>schedule()</c> at once when it
/// is local, after an IPI latency when remote.
/// The class is spread over partial files along the kernel's seams: this one (state, set-up, run
/// queue operations, affinity, accounting), HostScheduler.Schedule.cs (resched, <c>schedule()</c>),
/// HostScheduler.Wakeup.cs, HostScheduler.Yield.cs, HostScheduler.Tick.cs, CpuLoad.cs, the Fair*.cs
/// files (CFS), Eevdf.cs and the LoadBalance*.cs files.
/// </remarks>
public sealed partial class HostScheduler
{
    private readonly Simulator _sim;
    private readonly SchedTunables _tunables;
    private readonly SchedFeatures _features;
    private readonly List<HostTask> _tasks = [];
    private readonly List<TaskGroup> _groups = [];
    private readonly HrTimer[] _tickTimers;
    private readonly HrTimer[] _reschedTimers;
    private readonly HrTimer[] _switchTimers;
    private readonly HandlerId _resumeId;
    private readonly RandomStream?[] _tickJitter;
    private bool _checkPlacement;
    private readonly bool _eevdf;
    private readonly bool _pelt;
    private readonly bool _lb66;
    private readonly bool _wake66;
    private readonly bool _pelt419;
    private readonly bool _lb419;
    private readonly bool _wake419;
    private readonly bool _sis419;
    private readonly bool _delayDequeue;
    private readonly bool _calcDelta316; // __calc_delta's arithmetic (decision 0099): every class but cfs-2.6.39
    private readonly bool _renorm419;    // 4.19's min_vruntime tracking and re-normalisation order (decision 0099): cfs-4.19
    private readonly bool _idleCpuNrRunning; // idle_cpu also wants an empty run queue (4.19+; decisions 0102, 0103): cfs-4.19 and the EEVDF hosts

    /// <summary>The effective (CPU-scaled) granularities.</summary>
    public EffectiveTunables Tun { get; }

    public HostScheduler(Simulator sim, HostTopology topology, SchedTunables? tunables = null, SchedFeatures? features = null, RandomStreams? streams = null)
    {
        _sim = sim;
        Topology = topology;
        _tunables = tunables ?? new SchedTunables();
        _features = features ?? new SchedFeatures();
        _eevdf = _features.Class.IsEevdf();
        _xen = _features.Class == FairClass.XenCredit34;
        _calcDelta316 = _features.Class != FairClass.Cfs2639;
        _renorm419 = _features.Class == FairClass.Cfs419;
        _idleCpuNrRunning = _features.Class == FairClass.Cfs419 || _eevdf;
        if (_xen && (_features.Pelt || _features.Pelt419 || _features.VcpuDebooster))
            throw new ArgumentException("Xen's credit scheduler (decision 0063) has no Linux load tracking or debooster", nameof(features));
        _pelt419 = _features.Pelt419;
        if (_pelt419 && (_features.Class != FairClass.Cfs419 || _features.Pelt))
            throw new ArgumentException("4.19 PELT load tracking (decision 0053) is modelled for cfs-4.19 only", nameof(features));
        _pelt = _features.Pelt || _pelt419; // the PELT hooks shared by 6.6 and 4.19 branch on _pelt419 where they differ
        if (_features.Pelt && !_eevdf)
            throw new ArgumentException("PELT load tracking (decision 0056) is modelled for the EEVDF hosts only", nameof(features));
        _lb419 = _features.LoadBalance419;
        if (_lb419 && !_pelt419)
            throw new ArgumentException("the 4.19 load balancer (decision 0053) needs 4.19 PELT load tracking", nameof(features));
        _wake419 = _features.WakeSelect419;
        if (_wake419 && !_lb419)
            throw new ArgumentException("4.19 wake-up placement (decision 0053) reads the 4.19 balancer's loads: it needs the 4.19 load balancer", nameof(features));
        if (_features.Domains419 && _features.Class != FairClass.Cfs419)
            throw new ArgumentException("4.19's scheduling domains (decision 0064) are built for cfs-4.19 only", nameof(features));
        _sis419 = _features.IdleSearch419;
        if (_sis419 && !_wake419)
            throw new ArgumentException("4.19's select_idle_sibling and fork slow path (decision 0064) follow 4.19's wake_affine and read its loads: they need 4.19 wake-up placement", nameof(features));
        _delayDequeue = _features.DelayDequeue;
        if (_delayDequeue && _features.Class < FairClass.Eevdf612)
            throw new ArgumentException("DELAY_DEQUEUE (decision 0083) is an EEVDF feature of 6.12 and later", nameof(features));
        _lb66 = _features.LoadBalance66;
        if (_lb66 && !_features.Pelt)
            throw new ArgumentException("the 6.6 load balancer (decision 0056) needs PELT load tracking", nameof(features));
        _wake66 = _features.WakeSelect66;
        if (_wake66 && !_lb66)
            throw new ArgumentException("6.6 wake-up placement (decision 0056) needs the 6.6 load balancer", nameof(features));
        if (_wake66 || _sis419)
        {
            _llcHasIdleCores = new bool[topology.NrCpus];
            _llcNrIdleScan = new int[topology.NrCpus];
        }
        int n = topology.NrCpus;
        Tun = EffectiveTunables.For(_tunables, n);
        Rqs = new RunQueue[n];
        _rqLocks = new RqLock[n];
        RootGroup = new TaskGroup("/", null, Weights.Nice0Load, n);
        _groups.Add(RootGroup);
        _tickTimers = new HrTimer[n];
        _reschedTimers = new HrTimer[n];
        _switchTimers = new HrTimer[n];
        _tickJitter = new RandomStream?[n];
        _deboost = _features.VcpuDebooster ? NewDeboostState(n) : null; // decision 0052
        var tick = new TickHandler(this);
        var resched = new ReschedHandler(this);
        var switchDone = new SwitchDoneHandler(this);
        _resumeId = sim.Register(new ResumeHandler(this));
        for (int cpu = 0; cpu < n; cpu++)
        {
            var idle = new HostTask(-1 - cpu, $"swapper/{cpu}", 0, CpuMask.Of(cpu), RootGroup, IdleBody.Instance) { IsIdle = true };
            idle.Cpu = cpu;
            idle.State = TaskState.Running;
            idle.OnCpu = true;
            var rq = new RunQueue(cpu, idle) { AvgIdle = 2 * _tunables.MigrationCostNs.Ns };
            Rqs[cpu] = rq;
            _rqLocks[cpu] = rq.Lock;
            rq.Cfs = new CfsRq(rq, RootGroup);
            RootGroup.CfsRq[cpu] = rq.Cfs;
            _tickTimers[cpu] = new HrTimer(sim, tick, cpu);
            _tickJitter[cpu] = _tunables.TickJitter.Ns > 0 && streams is not null ? streams.Get($"host.tick.cpu{cpu}") : null;
            _reschedTimers[cpu] = new HrTimer(sim, resched, cpu);
            _switchTimers[cpu] = new HrTimer(sim, switchDone, cpu);
        }
        BuildSchedDomains();
        if (_xen)
        {
            _xc = new XenCredit(topology);
            _xenSliceTimers = new HrTimer[n];
            _xenAcctTimer = new HrTimer(sim, new XenAcctHandler(this), 0);
            InitXenCredit(n);
        }
        else
        {
            for (int cpu = 0; cpu < n; cpu++)
            {
                // Ticks of all CPUs are aligned on jiffies, as in 2.6.39 (no sched_skew_tick yet).
                ArmTick(cpu, 1);
            }
        }
        sim.Invariants.Register(new SchedulerInvariants(this));
    }

    public HostTopology Topology { get; }
    public SchedTunables Tunables => _tunables;
    public SchedFeatures Features => _features;
    public RunQueue[] Rqs { get; }
    public TaskGroup RootGroup { get; }
    public IReadOnlyList<HostTask> Tasks => _tasks;
    public IReadOnlyList<TaskGroup> Groups => _groups;
    public Simulator Sim => _sim;
    public int NrCpus => Rqs.Length;

    /// <summary>Receives scheduler events (traces, counters); null when nobody listens.</summary>
    public IHostObserver? Observer { get; private set; }

    /// <summary>Adds a listener; several are fanned out in the order they were added.</summary>
    public void AddObserver(IHostObserver observer) =>
        Observer = Observer switch
        {
            null => observer,
            FanOutObserver f => f.With(observer),
            var single => new FanOutObserver([single, observer]),
        };

    /// <summary>Check at every enqueue that placement never leaves an entity behind min_vruntime by more than the sleeper credit.</summary>
    public bool CheckPlacement
    {
        get => _checkPlacement;
        set => _checkPlacement = value;
    }

    /// <summary>Jiffies since boot.</summary>
    public long Jiffies => _sim.Now.Ns / _tunables.TickPeriod.Ns;

    /// <summary>The host's <c>HZ</c> (ticks per second).</summary>
    public int Hz => _tunables.Hz;

    // ---------------------------------------------------------------- setup API

    /// <summary>Creates a cpu cgroup under <paramref name="parent"/> (the root when null).</summary>
    public TaskGroup CreateGroup(string path, long shares = Weights.Nice0Load, TaskGroup? parent = null)
    {
        if (shares < Weights.MinShares || shares > Weights.MaxShares)
            throw new ArgumentOutOfRangeException(nameof(shares), shares, $"cpu.shares must be in [{Weights.MinShares}, {Weights.MaxShares}]");
        parent ??= RootGroup;
        var tg = new TaskGroup(path, parent, shares, NrCpus);
        for (int cpu = 0; cpu < NrCpus; cpu++)
        {
            var rq = Rqs[cpu];
            var cfsRq = new CfsRq(rq, tg);
            tg.CfsRq[cpu] = cfsRq;
            // init_tg_cfs_entry: the group's entity on this CPU, queued on the parent's queue, weight 0 until shares are computed.
            var parentSe = parent.IsRoot ? null : parent.Se[cpu];
            var se = new SchedEntity
            {
                Group = tg,
                GroupCpu = cpu,
                MyQ = cfsRq,
                Parent = parentSe,
                CfsRq = parentSe?.MyQ ?? rq.Cfs,
            };
            se.Load.Set(0);
            if (_pelt419)
                InitGroupEntityPelt419(se); // 4.19: weight NICE_0_LOAD, attached with empty sums
            else if (_pelt)
                InitGroupEntityPelt(se); // 6.x: weight NICE_0_LOAD, attached with empty sums
            tg.Se[cpu] = se;
        }
        _groups.Add(tg);
        if (_pelt)
        {
            for (int cpu = 0; cpu < NrCpus; cpu++)
                Rqs[cpu].LeafCfsRqs.EnsureCapacity(_groups.Count);
        }
        return tg;
    }

    /// <summary>Creates a task (not yet runnable: call <see cref="WakeUpNewTask"/>).</summary>
    /// <remarks><paramref name="xenDomain"/>: under Xen's credit scheduler, the domain (VM) the vcpu belongs to (decision 0063); ignored otherwise.</remarks>
    public HostTask CreateTask(string name, ITaskBody body, int nice = 0, CpuMask? affinity = null, TaskGroup? group = null, object? xenDomain = null)
    {
        var mask = Topology.AllMask;
        if (affinity is { } a)
            mask.And(a);
        if (mask.IsEmpty)
            throw new ArgumentException($"task '{name}' has an empty CPU affinity on a {NrCpus}-CPU host", nameof(affinity));
        var t = new HostTask(_tasks.Count, name, nice, mask, group ?? RootGroup, body);
        _tasks.Add(t);
        if (_xen)
            XenVcpuInit(t, xenDomain);
        // Every queue the task can be on (its group's and each ancestor's, on every CPU) gets room
        // for all tasks at once, so a burst of wake-ups in a run never grows an array mid-run.
        for (var g = t.Group; g is not null; g = g.Parent)
        {
            foreach (var q in g.CfsRq)
                q?.Reserve(_tasks.Count);
        }
        if (_lb66 || _lb419)
        {
            foreach (var rq in Rqs)
                rq.CfsTasks.EnsureCapacity(_tasks.Count);
        }
        return t;
    }

    // ---------------------------------------------------------------- core: run queue operations

    private void ActivateTask(RunQueue rq, HostTask p, EnqueueFlags flags)
    {
        if (_xen)
            XenEnqueue(rq, p);
        else if (_eevdf)
            EnqueueTaskEevdf(rq, p, flags);
        else
            EnqueueTaskFair(rq, p, flags);
        p.Se.OnRq = true;
        rq.NrRunning++;
    }

    private void DeactivateTask(RunQueue rq, HostTask p, DequeueFlags flags)
    {
        if (_xen)
            XenDequeue(p);
        else if (_eevdf)
        {
            // 6.12+ DELAY_DEQUEUE: a sleeping task that is not eligible stays queued (block_task is
            // skipped: it stays on_rq and counted in nr_running until picked or woken; decision 0083).
            if (!DequeueTaskEevdf(rq, p, flags))
                return;
        }
        else
            DequeueTaskFair(rq, p, flags);
        p.Se.OnRq = false;
        rq.NrRunning--;
    }

    /// <summary><c>set_task_rq</c>: point the task's entity at its group's queue and entity on <paramref name="cpu"/>.</summary>
    private static void SetTaskRq(HostTask p, int cpu)
    {
        var tg = p.Group;
        p.Se.CfsRq = tg.CfsRq[cpu];
        p.Se.Parent = tg.IsRoot ? null : tg.Se[cpu];
    }

    /// <summary><c>set_task_cpu</c>.</summary>
    internal void SetTaskCpu(HostTask p, int newCpu, MigrationCause cause)
    {
        if (!p.AllowedOn(newCpu))
            throw new InvalidOperationException($"{p} moved to CPU {newCpu} outside its affinity");
        if (p.Cpu != newCpu)
        {
            if (p.Cpu >= 0)
            {
                p.Se.NrMigrations++;
                Observer?.Migrate(p, p.Cpu, newCpu, cause);
                // migrate_task_rq_fair (6.6); wake_up_new_task places with __set_task_cpu, which does not call it.
                if (_pelt419 && cause != MigrationCause.Fork)
                    MigrateTaskRqPelt419(p); // migrate_task_rq_fair (4.19)
                else if (_pelt && cause != MigrationCause.Fork)
                    MigrateTaskRqPelt(p);
            }
        }
        SetTaskRq(p, newCpu);
        p.Cpu = newCpu;
    }

    // ---------------------------------------------------------------- affinity

    /// <summary>
    /// <c>sched_setaffinity</c> / <c>set_cpus_allowed_ptr</c>: a task on a CPU it may no longer use
    /// is moved to the first allowed CPU (a queued task at once, a running one by the stopper).
    /// </summary>
    public void SetAffinity(HostTask p, CpuMask mask, int callerCpu)
    {
        mask.And(Topology.AllMask);
        if (mask.IsEmpty)
            throw new ArgumentException($"empty affinity for {p}", nameof(mask));
        p.Affinity = mask;
        if (!p.Started || p.AllowedOn(p.Cpu))
            return;
        if (_xen)
        {
            XenSetAffinity(p, callerCpu); // decision 0063
            return;
        }
        int dest = mask.First;
        var rq = Rqs[p.Cpu];
        if (p.OnCpu)
        {
            // migration_cpu_stop: the stopper preempts it, then it is moved like a queued task.
            PreemptForStopper(rq);
            MoveQueuedTask(p, rq, dest, callerCpu);
            Schedule(rq.Cpu, voluntary: false);
        }
        else if (p.Se.OnRq)
        {
            MoveQueuedTask(p, rq, dest, callerCpu);
        }
    }

    private void MoveQueuedTask(HostTask p, RunQueue src, int dest, int callerCpu)
    {
        DeactivateTask(src, p, DequeueFlags.Migrating);
        SetTaskCpu(p, dest, MigrationCause.Affinity);
        var rq = Rqs[dest];
        ActivateTask(rq, p, EnqueueFlags.None);
        CheckPreemptCurr(rq, p, callerCpu);
    }

    // ---------------------------------------------------------------- accounting

    /// <summary>Busy/idle time of a CPU up to now, charged to what it was doing.</summary>
    private void AccountCpu(RunQueue rq)
    {
        long now = _sim.Now.Ns;
        long d = now - rq.LastAccountStamp;
        if (rq.IsIdle)
            rq.IdleNs += d;
        else
            rq.BusyNs += d;
        rq.LastAccountStamp = now;
    }

    /// <summary>
    /// Brings the CPUs' busy/idle time up to now and nothing else: for observers that must not
    /// change the run. (<see cref="SyncAccounting"/> calls update_curr, which under EEVDF checks
    /// the deadline and may reschedule, and under either class splits a vruntime charge in two,
    /// which rounds differently for weights other than NICE_0_LOAD.)
    /// </summary>
    internal void AccountCpus()
    {
        foreach (var rq in Rqs)
            AccountCpu(rq);
    }

    /// <summary>A task's sum_exec_runtime as update_curr would make it now, without calling update_curr.</summary>
    internal long CpuTimeNowNs(HostTask t)
    {
        var se = t.Se;
        long pending = (_xen ? t.OnCpu : ReferenceEquals(se.CfsRq?.Curr, se)) ? _sim.Now.Ns - se.ExecStart : 0;
        return se.SumExecRuntime + Math.Max(0, pending);
    }

    /// <summary>Brings every counter up to the current time (call before reading statistics).</summary>
    /// <summary>
    /// A task's CPU time up to now without charging it (no <c>update_curr</c>): its
    /// <c>sum_exec_runtime</c> plus, while it is its CPU's current task, the time since
    /// <c>exec_start</c>. For observers that must not change the run (decision-free reads).
    /// </summary>
    public long CpuTimeNow(HostTask t)
    {
        long ns = t.Se.SumExecRuntime;
        if (t.Cpu >= 0 && ReferenceEquals(Rqs[t.Cpu].Curr, t))
            ns += _sim.Now.Ns - t.Se.ExecStart;
        return ns;
    }

    public void SyncAccounting()
    {
        foreach (var rq in Rqs)
        {
            AccountCpu(rq);
            if (_xen)
            {
                if (!rq.IsIdle)
                    XenUpdateCurr(rq.Curr);
            }
            else if (!rq.IsIdle)
            {
                for (SchedEntity? se = rq.Curr.Se; se is not null; se = se.Parent)
                    UpdateCurr(se.CfsRq);
            }
        }
    }

    private sealed class IdleBody : ITaskBody
    {
        public static readonly IdleBody Instance = new();
        public void OnRun(HostTask task, int cpu, bool switched) { }
        public void OnStop(HostTask task, int cpu, StopReason reason) { }
    }
}

public sealed partial class HostScheduler
{
    /// <summary>Test hook: give a queued (or running) entity a new vruntime, keeping its queue ordered.</summary>
    internal static void SetVruntimeForTest(SchedEntity se, long vruntime)
    {
        bool inTree = se.OnRq && se.CfsRq.Curr != se;
        if (inTree)
            se.CfsRq.Remove(se);
        se.Vruntime = vruntime;
        if (inTree)
            se.CfsRq.Insert(se);
    }
}

public sealed partial class HostScheduler
{
    /// <summary>Test hook: one <c>load_balance</c> pass of <paramref name="cpu"/> at <paramref name="sd"/>, run by that CPU.</summary>
    internal bool LoadBalanceForTest(int cpu, SchedDomain sd, CpuIdleType idle) => LoadBalance(cpu, sd, idle, out _, cpu);
}

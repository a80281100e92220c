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

    /// <summary>The effective (CPU-scaled) granularities.</summary>
    public EffectiveTunables Tun { get; }

    public HostScheduler(Simulator sim, HostTopology topology, SchedTunables? tunables = null, SchedFeatures? features = null, RandomStreams? streams = null)
    {
        _sim = sim;
        Topology = topology;
        _tunables = tunables ?? new SchedTunables();
        _features = features ?? new SchedFeatures();
        _eevdf = _features.Class != FairClass.Cfs2639;
        int n = topology.NrCpus;
        Tun = EffectiveTunables.For(_tunables, n);
        Rqs = new RunQueue[n];
        RootGroup = new TaskGroup("/", null, Weights.Nice0Load, n);
        _groups.Add(RootGroup);
        _tickTimers = new HrTimer[n];
        _reschedTimers = new HrTimer[n];
        _switchTimers = new HrTimer[n];
        _tickJitter = new RandomStream?[n];
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
            rq.Cfs = new CfsRq(rq, RootGroup);
            RootGroup.CfsRq[cpu] = rq.Cfs;
            _tickTimers[cpu] = new HrTimer(sim, tick, cpu);
            _tickJitter[cpu] = _tunables.TickJitter.Ns > 0 && streams is not null ? streams.Get($"host.tick.cpu{cpu}") : null;
            _reschedTimers[cpu] = new HrTimer(sim, resched, cpu);
            _switchTimers[cpu] = new HrTimer(sim, switchDone, cpu);
        }
        BuildSchedDomains();
        for (int cpu = 0; cpu < n; cpu++)
        {
            // Ticks of all CPUs are aligned on jiffies, as in 2.6.39 (no sched_skew_tick yet).
            ArmTick(cpu, 1);
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
            tg.Se[cpu] = se;
        }
        _groups.Add(tg);
        return tg;
    }

    /// <summary>Creates a task (not yet runnable: call <see cref="WakeUpNewTask"/>).</summary>
    public HostTask CreateTask(string name, ITaskBody body, int nice = 0, CpuMask? affinity = null, TaskGroup? group = null)
    {
        var mask = Topology.AllMask;
        if (affinity is { } a)
            mask.And(a);
        if (mask.IsEmpty)
            throw new ArgumentException($"task '{name}' has an empty CPU affinity on a {NrCpus}-CPU host", nameof(affinity));
        var t = new HostTask(_tasks.Count, name, nice, mask, group ?? RootGroup, body);
        _tasks.Add(t);
        // Every queue the task can be on (its group's and each ancestor's, on every CPU) gets room
        // for all tasks at once, so a burst of wake-ups in a run never grows an array mid-run.
        for (var g = t.Group; g is not null; g = g.Parent)
        {
            foreach (var q in g.CfsRq)
                q?.Reserve(_tasks.Count);
        }
        return t;
    }

    // ---------------------------------------------------------------- core: run queue operations

    private void ActivateTask(RunQueue rq, HostTask p, EnqueueFlags flags)
    {
        if (_eevdf)
            EnqueueTaskEevdf(rq, p, flags);
        else
            EnqueueTaskFair(rq, p, flags);
        p.Se.OnRq = true;
        rq.NrRunning++;
    }

    private void DeactivateTask(RunQueue rq, HostTask p, DequeueFlags flags)
    {
        if (_eevdf)
            DequeueTaskEevdf(rq, p, flags);
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
            }
        }
        SetTaskRq(p, newCpu);
        p.Cpu = newCpu;
    }

    // ---------------------------------------------------------------- resched

    /// <summary>
    /// <c>resched_task(rq->curr)</c>: set TIF_NEED_RESCHED; the CPU reschedules at once when
    /// <paramref name="thisCpu"/> is that CPU (at the end of the current operation), else after an
    /// IPI (or idle-exit) latency.
    /// </summary>
    internal void ReschedTask(RunQueue rq, int thisCpu)
    {
        if (rq.NeedResched)
            return;
        rq.NeedResched = true;
        var delay = rq.Cpu == thisCpu ? SimDuration.Zero
            : rq.IsIdle ? _tunables.IdleExitLatency
            : _tunables.ReschedIpiLatency;
        var when = _sim.Now + delay;
        var timer = _reschedTimers[rq.Cpu];
        if (!timer.IsArmed || timer.Expires > when)
            timer.Start(when);
    }

    /// <summary><c>resched_cpu</c> for the balancer's kicks.</summary>
    internal void ReschedCpu(int cpu, int thisCpu) => ReschedTask(Rqs[cpu], thisCpu);

    private sealed class ReschedHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg)
        {
            var rq = s.Rqs[arg];
            if (rq.NeedResched)
                s.Schedule((int)arg, voluntary: false);
        }
    }

    // ---------------------------------------------------------------- schedule()

    /// <summary>
    /// <c>schedule()</c> on <paramref name="cpu"/>: dequeue the previous task if it is going to
    /// sleep, new-idle balance if nothing is left, put the previous task back, pick the next, and
    /// switch. <paramref name="voluntary"/>: the current task asked (block, yield), so it needs a
    /// continuation even if it is picked again.
    /// </summary>
    internal void Schedule(int cpu, bool voluntary)
    {
        var rq = Rqs[cpu];
        var prev = rq.Curr;
        bool prevStarted = !rq.SwitchInProgress;
        if (rq.SwitchInProgress)
        {
            _switchTimers[cpu].Cancel();
            rq.SwitchInProgress = false;
        }
        _reschedTimers[cpu].Cancel();

        if (!prev.IsIdle && prev.State != TaskState.Running)
            DeactivateTask(rq, prev, DequeueFlags.Sleep);

        if (rq.NrRunning == 0)
            IdleBalance(cpu, rq);

        if (!prev.IsIdle)
            PutPrevTask(rq, prev);
        var next = (_eevdf ? PickNextTaskEevdf(rq) : PickNextTaskFair(rq)) ?? rq.Idle;
        rq.NeedResched = false;

        if (!ReferenceEquals(prev, next))
        {
            AccountCpu(rq);
            rq.NrSwitches++;
            var reason = prev.State != TaskState.Running ? StopReason.Blocked
                : voluntary ? StopReason.Yielded
                : StopReason.Preempted;
            if (prev.State != TaskState.Running)
                prev.NrVoluntarySwitches++;
            else
                prev.NrInvoluntarySwitches++;
            prev.OnCpu = false;
            next.OnCpu = true;
            rq.Curr = next;
            if (prevStarted && !prev.IsIdle)
                prev.Body.OnStop(prev, cpu, reason);
            Observer?.Switch(cpu, prev, next, reason);
            if (next.IsIdle)
            {
                EnterIdle(rq);
            }
            else
            {
                if (prev.IsIdle)
                    ExitIdle(rq);
                rq.SwitchInProgress = true;
                _switchTimers[cpu].Start(_sim.Now + _tunables.ContextSwitchCost);
            }
        }
        else if (!prev.IsIdle)
        {
            if (!prevStarted)
            {
                // The pending switch to this task resumes.
                rq.SwitchInProgress = true;
                _switchTimers[cpu].Start(_sim.Now + _tunables.ContextSwitchCost);
            }
            else if (voluntary)
            {
                // sched_yield/yield_to returned without a switch: the caller continues.
                _sim.Schedule(_sim.Now, _resumeId, cpu);
            }
        }
        if (rq.IsIdle && rq.NrRunning > 0)
            throw new InvalidOperationException($"cpu{cpu} went idle with {rq.NrRunning} runnable tasks");
    }

    private sealed class SwitchDoneHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg)
        {
            int cpu = (int)arg;
            var rq = s.Rqs[cpu];
            rq.SwitchInProgress = false;
            if (rq.NeedResched)
            {
                // Preempted before it started (e.g. a wake-up during the switch).
                rq.SwitchInProgress = true; // mark "not started" for Schedule
                s.Schedule(cpu, voluntary: false);
                return;
            }
            var t = rq.Curr;
            t.LastRunStart = sim.Now.Ns;
            t.Body.OnRun(t, cpu, true);
        }
    }

    private sealed class ResumeHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg)
        {
            int cpu = (int)arg;
            var rq = s.Rqs[cpu];
            if (rq.NeedResched)
            {
                s.Schedule(cpu, voluntary: true);
                return;
            }
            var t = rq.Curr;
            if (!t.IsIdle && !rq.SwitchInProgress)
                t.Body.OnRun(t, cpu, false);
        }
    }

    // ---------------------------------------------------------------- task actions (called by bodies)

    /// <summary>The running task goes to sleep (TASK_INTERRUPTIBLE + schedule()). Its continuation is a wake-up.</summary>
    public void Block(HostTask task)
    {
        RequireCurrent(task);
        task.State = TaskState.Interruptible;
        Schedule(task.Cpu, voluntary: true);
    }

    /// <summary><c>sched_yield()</c>: skip buddy, then schedule(). The task continues in its next <see cref="ITaskBody.OnRun"/>.</summary>
    public void Yield(HostTask task)
    {
        RequireCurrent(task);
        var rq = Rqs[task.Cpu];
        task.NrYields++;
        if (_eevdf)
            YieldTaskEevdf(rq);
        else
            YieldTaskFair(rq);
        Observer?.Yield(task, task.Cpu);
        Schedule(task.Cpu, voluntary: true);
    }

    /// <summary>
    /// <c>yield_to(p, preempt)</c> (kernel/sched.c, 2.6.39): fails if the target is running, not
    /// runnable, or not queued; otherwise sets next buddies up the target's hierarchy and skip
    /// buddies up the yielder's (none when the yielder's CPU has one task — still a success),
    /// reschedules the target's CPU when <paramref name="preempt"/> and it is another CPU, and
    /// the yielder calls schedule(). With <paramref name="undercommitCheck"/> (3.9) it first
    /// returns <see cref="YieldToResult.BothQueuesSingle"/> when both queues hold one task.
    /// On success the yielder continues in its next <see cref="ITaskBody.OnRun"/>; on failure it
    /// continues at once (the call returns).
    /// </summary>
    public YieldToResult YieldTo(HostTask curr, HostTask p, bool preempt, bool undercommitCheck = false)
    {
        RequireCurrent(curr);
        var rq = Rqs[curr.Cpu];
        var pRq = Rqs[p.Cpu < 0 ? curr.Cpu : p.Cpu];
        YieldToResult result;
        if (undercommitCheck && rq.NrRunning == 1 && pRq.NrRunning == 1)
            result = YieldToResult.BothQueuesSingle;
        else if (p.IsIdle)
            result = YieldToResult.OtherClass;
        else if (p.OnCpu)
            result = YieldToResult.TargetRunning;
        else if (p.State != TaskState.Running)
            result = YieldToResult.TargetNotRunnable;
        else if (!(_eevdf ? YieldToTaskEevdf(rq, p) : YieldToTaskFair(rq, p)))
            result = YieldToResult.TargetNotQueued;
        else
            result = YieldToResult.Success;
        curr.NrYieldTo++;
        Observer?.YieldTo(curr, p, result);
        if (result != YieldToResult.Success)
            return result;
        if (preempt && rq != pRq)
            ReschedTask(pRq, curr.Cpu);
        Schedule(curr.Cpu, voluntary: true);
        return result;
    }

    private long _rqLockSectionFloorNs;

    /// <summary>
    /// The shortest section any <see cref="DoubleRqLock"/> caller books (one acquisition plus the
    /// hold: a same-CPU yield_to). Declared once by the hypervisor; gaps between bookings shorter
    /// than this can never be used, so the bookings merge across them (<see cref="RqLock"/>),
    /// which keeps a busy lock's booking list short without changing any outcome. A call booking
    /// less throws. 0 (the default) merges only back-to-back bookings.
    /// </summary>
    public long RqLockSectionFloorNs
    {
        get => _rqLockSectionFloorNs;
        set
        {
            if (value < 0)
                throw new ArgumentOutOfRangeException(nameof(value));
            _rqLockSectionFloorNs = value;
            foreach (var rq in Rqs)
                rq.Lock.MergeGapBelowNs = Math.Max(1, value);
        }
    }

    /// <summary>
    /// <c>double_rq_lock(rq, p_rq)</c> … <c>double_rq_unlock</c> as a time booking: the caller
    /// starts at <paramref name="startNs"/> (≥ now: the PAUSE handler's walk runs ahead of the
    /// event clock), takes the earliest time at which both locks are free for the whole section,
    /// pays <paramref name="acquireNs"/> per distinct lock (the lock's cache line moves to this CPU)
    /// and holds both for <paramref name="holdNs"/>. Returns the release time. Simplifications
    /// (decision 0010): the caller waits for both locks together instead of holding the first while
    /// spinning on the second; bookings are served in the order the walks run, not strictly by
    /// request time; only yield_to callers book the locks (schedule(), wake-ups and the tick take
    /// them without waiting or delaying anyone).
    /// </summary>
    public long DoubleRqLock(int cpu, int pCpu, long startNs, long acquireNs, long holdNs)
    {
        long now = _sim.Now.Ns;
        var a = Rqs[cpu].Lock;
        var b = Rqs[pCpu].Lock;
        a.Prune(now);
        b.Prune(now);
        long len = (cpu == pCpu ? 1 : 2) * acquireNs + holdNs;
        if (len < _rqLockSectionFloorNs)
            throw new InvalidOperationException($"a yield_to section of {len} ns is shorter than the declared floor {_rqLockSectionFloorNs} ns");
        long t = Math.Max(startNs, now);
        if (a.Full || b.Full)
        {
            t = Math.Max(t, Math.Max(a.LastEnd, b.LastEnd));
            return t + len; // not booked: too many bookings ahead (never seen; keeps the loop allocation-free)
        }
        bool moved = true;
        while (moved)
        {
            moved = a.Push(ref t, len);
            if (b != a)
                moved |= b.Push(ref t, len);
        }
        a.Book(t, len);
        if (b != a)
            b.Book(t, len);
        return t + len;
    }

    /// <summary>
    /// <see cref="YieldTo(HostTask, HostTask, bool, bool)"/> with the run-queue locks timed: the
    /// call starts at <paramref name="startNs"/> and <paramref name="doneNs"/> is when it has
    /// released both locks (<see cref="DoubleRqLock"/>). The 3.9 undercommit test runs before the
    /// locks are taken, so an <c>-ESRCH</c> result costs no lock time. The outcome is decided with
    /// the queues as they are now (the walk does not advance the event clock).
    /// </summary>
    public YieldToResult YieldTo(HostTask curr, HostTask p, bool preempt, bool undercommitCheck, long startNs, long acquireNs, long holdNs, out long doneNs)
    {
        RequireCurrent(curr);
        var rq = Rqs[curr.Cpu];
        var pRq = Rqs[p.Cpu < 0 ? curr.Cpu : p.Cpu];
        doneNs = undercommitCheck && rq.NrRunning == 1 && pRq.NrRunning == 1
            ? startNs
            : DoubleRqLock(rq.Cpu, pRq.Cpu, startNs, acquireNs, holdNs);
        return YieldTo(curr, p, preempt, undercommitCheck);
    }

    /// <summary>
    /// <c>try_to_wake_up(p, TASK_NORMAL, wake_flags)</c> executed on <paramref name="wakerCpu"/>:
    /// choose a CPU (select_task_rq_fair), enqueue as a waking sleeper (place_entity), and check
    /// wake-up preemption of the task running there. Returns false if it was not sleeping.
    /// </summary>
    public bool TryToWakeUp(HostTask p, int wakerCpu, bool sync = false)
    {
        if (p.State == TaskState.Running || !p.Started)
            return false;
        var rq = Rqs[p.Cpu];
        int origCpu = p.Cpu;
        p.State = TaskState.Waking;
        // task_waking_fair: normalise against the old queue; enqueue adds the new queue's min_vruntime.
        // (6.6+: no normalisation; the lag saved at dequeue places the task on any queue.)
        if (!_eevdf)
            p.Se.Vruntime -= p.Se.CfsRq.MinVruntime;
        int cpu = SelectTaskRq(p, SdFlags.BalanceWake, sync, wakerCpu);
        if (cpu != origCpu)
        {
            SetTaskCpu(p, cpu, MigrationCause.Wakeup);
            p.NrWakeupsMigrate++;
        }
        rq = Rqs[cpu];
        p.NrWakeups++;
        ActivateTask(rq, p, EnqueueFlags.Wakeup | EnqueueFlags.Waking);
        bool wasResched = rq.NeedResched;
        CheckPreemptCurr(rq, p, wakerCpu);
        p.State = TaskState.Running;
        if (rq.IdleStamp != 0)
        {
            long delta = _sim.Now.Ns - rq.IdleStamp;
            long max = 2 * _tunables.MigrationCostNs.Ns;
            if (delta > max)
                rq.AvgIdle = max;
            else
                UpdateAvg(ref rq.AvgIdle, delta);
            rq.IdleStamp = 0;
        }
        Observer?.Wakeup(p, cpu, wakerCpu, !wasResched && rq.NeedResched);
        return true;
    }

    /// <summary><c>update_avg</c>: avg += (sample − avg) / 8.</summary>
    private static void UpdateAvg(ref long avg, long sample)
    {
        long diff = sample - avg;
        avg += diff >> 3;
    }

    /// <summary><c>wake_up_new_task</c>: a new task's first placement (fork balancing) and enqueue with START_DEBIT.</summary>
    public void WakeUpNewTask(HostTask p, int parentCpu = 0)
    {
        if (p.Started)
            throw new InvalidOperationException($"{p} was already started");
        p.Started = true;
        // sched_fork: the child starts on the parent's CPU with the parent queue's placement.
        int startCpu = p.AllowedOn(parentCpu) ? parentCpu : FirstAllowed(p);
        SetTaskCpu(p, startCpu, MigrationCause.Fork);
        // task_fork_fair: start from the running entity's vruntime, place_entity(initial), then
        // normalise. PleSim forks from a parent in the child's own group on parentCpu.
        var forkRq = p.Se.CfsRq;
        UpdateCurr(forkRq);
        if (_eevdf)
        {
            // task_fork_fair (6.6): place_entity(ENQUEUE_INITIAL); enqueue places it again.
            PlaceEntityEevdf(forkRq, p.Se, initial: true);
        }
        else
        {
            p.Se.Vruntime = forkRq.Curr?.Vruntime ?? 0;
            PlaceEntity(forkRq, p.Se, initial: true);
            p.Se.Vruntime -= p.Se.CfsRq.MinVruntime;
        }
        int cpu = SelectTaskRq(p, SdFlags.BalanceFork, false, parentCpu);
        if (cpu != startCpu)
            SetTaskCpu(p, cpu, MigrationCause.Fork);
        p.State = TaskState.Running;
        var rq = Rqs[cpu];
        ActivateTask(rq, p, _eevdf ? EnqueueFlags.Initial : EnqueueFlags.None);
        CheckPreemptCurr(rq, p, parentCpu);
    }

    private int FirstAllowed(HostTask p)
    {
        for (int c = 0; c < NrCpus; c++)
        {
            if (p.AllowedOn(c))
                return c;
        }
        throw new InvalidOperationException($"{p} may run nowhere");
    }

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
        DeactivateTask(src, p, DequeueFlags.None);
        SetTaskCpu(p, dest, MigrationCause.Affinity);
        var rq = Rqs[dest];
        ActivateTask(rq, p, EnqueueFlags.None);
        CheckPreemptCurr(rq, p, callerCpu);
    }

    /// <summary><c>check_preempt_curr</c>: the idle task is always preempted; otherwise CFS decides.</summary>
    private void CheckPreemptCurr(RunQueue rq, HostTask p, int thisCpu)
    {
        if (rq.Curr.IsIdle)
            ReschedTask(rq, thisCpu);
        else if (_eevdf)
            CheckPreemptWakeupFair(rq, p, thisCpu);
        else
            CheckPreemptWakeup(rq, p, thisCpu);
    }

    private void RequireCurrent(HostTask task)
    {
        if (task.Cpu < 0 || !ReferenceEquals(Rqs[task.Cpu].Curr, task))
            throw new InvalidOperationException($"{task} is not running: only the current task of a CPU can do this");
    }

    // ---------------------------------------------------------------- the tick

    private sealed class TickHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg) => s.SchedulerTick((int)arg);
    }

    /// <summary><c>scheduler_tick</c> + the tick's return-from-interrupt preemption point.</summary>
    private void SchedulerTick(int cpu)
    {
        var rq = Rqs[cpu];
        UpdateCpuLoad(rq);
        if (!rq.IsIdle)
        {
            if (_eevdf)
                TaskTickEevdf(rq, rq.Curr);
            else
                TaskTickFair(rq, rq.Curr);
        }
        rq.IdleAtTick = rq.IsIdle;
        Observer?.Tick(cpu);
        TriggerLoadBalance(rq, cpu);
        // The tick re-arms unless this CPU is idle and may go tickless now (irq_exit re-evaluates NOHZ).
        ArmTick(cpu, Jiffies + 1);
        if (rq.IsIdle)
            EnterIdle(rq);
        if (rq.NeedResched && !_reschedTimers[cpu].IsArmed)
            _reschedTimers[cpu].Start(_sim.Now);
    }

    /// <summary>Restarts a stopped tick at the next jiffy boundary (tick_nohz_restart_sched_tick).</summary>
    private void RestartTick(RunQueue rq)
    {
        if (!rq.TickStopped)
            return;
        rq.TickStopped = false;
        ArmTick(rq.Cpu, Jiffies + 1);
    }

    /// <summary>
    /// Arms the tick of <paramref name="cpu"/> for jiffy <paramref name="jiffy"/>: at the jiffy
    /// boundary, plus the interrupt-delivery jitter (<see cref="SchedTunables.TickJitter"/>) that
    /// makes simultaneous ticks of different CPUs run in a varying order, as they do on hardware.
    /// </summary>
    private void ArmTick(int cpu, long jiffy)
    {
        long at = jiffy * _tunables.TickPeriod.Ns;
        if (_tickJitter[cpu] is { } rng)
            at += (long)(rng.NextDouble() * _tunables.TickJitter.Ns);
        _tickTimers[cpu].Start(new SimTime(at));
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

    /// <summary>Brings every counter up to the current time (call before reading statistics).</summary>
    public void SyncAccounting()
    {
        foreach (var rq in Rqs)
        {
            AccountCpu(rq);
            if (!rq.IsIdle)
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

using PleSim.Engine;

namespace PleSim.Host;

/// <summary>
/// The host as Xen 3.4's credit scheduler runs it (<c>host.scheduler: xen-credit-3.4</c>; decision
/// 0063): the glue between <see cref="XenCredit"/> (sched_credit.c's decisions) and the host's
/// timers, context switches and resched IPIs, following xen/common/schedule.c at commit
/// b67758cda13b: <c>schedule()</c> arms the 30 ms slice timer (<c>s_timer</c>) for a vcpu it
/// picks, <c>csched_tick</c> runs every 10 ms on every pCPU, <c>csched_acct</c> every 30 ms on the
/// master's timer, <c>vcpu_wake</c> queues and tickles, <c>do_yield</c> (SCHEDOP_yield) only raises
/// SCHEDULE_SOFTIRQ, and a running vcpu that <c>csched_cpu_pick</c> would place elsewhere is
/// migrated after its context is saved (<c>vcpu_migrate</c>). CFS state (vruntime, trees, group
/// shares, domains and the Linux balancer) is not used on this host.
/// </summary>
public sealed partial class HostScheduler
{
    private readonly bool _xen;
    private readonly XenCredit? _xc;
    private readonly HrTimer[]? _xenSliceTimers;
    private readonly HrTimer? _xenAcctTimer;
    private bool[] _xenMigrating = [];

    private static readonly SimDuration XenTick = SimDuration.FromMilliseconds(XenCredit.MsecsPerTick);
    private static readonly SimDuration XenSlice = SimDuration.FromMilliseconds(XenCredit.MsecsPerTslice);
    private static readonly SimDuration XenAcctPeriod = SimDuration.FromMilliseconds(XenCredit.MsecsPerTick * XenCredit.TicksPerAcct);

    /// <summary>The credit scheduler's state when the host runs Xen's credit scheduler, else null.</summary>
    public XenCredit? Credit => _xc;

    /// <summary>Whether this host runs Xen's credit scheduler.</summary>
    public bool IsXenCredit => _xen;

    private void InitXenCredit(int n)
    {
        var slice = new XenSliceHandler(this);
        for (int cpu = 0; cpu < n; cpu++)
        {
            _xenSliceTimers![cpu] = new HrTimer(_sim, slice, cpu);
            // csched_start_tickers: every pCPU's ticker 10 ms from boot.
            _tickTimers[cpu].Start(new SimTime(XenTick.Ns));
        }
        // ... and the master's accounting timer 30 ms from boot.
        _xenAcctTimer!.Start(new SimTime(XenAcctPeriod.Ns));
    }

    private void XenVcpuInit(HostTask t, object? domain)
    {
        _xc!.VcpuInit(t, domain);
        if (_xenMigrating.Length <= t.Id)
            Array.Resize(ref _xenMigrating, Math.Max(t.Id + 1, _xenMigrating.Length * 2));
    }

    /// <summary><c>csched_tick</c> (10 ms, every pCPU): debit the running vcpu, maybe mark it for migration, sort the runq after an accounting pass.</summary>
    private void CschedTick(int cpu)
    {
        var rq = Rqs[cpu];
        if (!rq.Curr.IsIdle && _xc!.VcpuAcct(cpu))
        {
            // set_bit(_VPF_migrating) + cpu_raise_softirq(SCHEDULE_SOFTIRQ)
            _xenMigrating[rq.Curr.Id] = true;
            ReschedTask(rq, cpu);
        }
        _xc!.RunqSort(cpu);
        Observer?.Tick(cpu);
        _tickTimers[cpu].Start(_sim.Now + XenTick);
    }

    private sealed class XenAcctHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg)
        {
            s._xc!.Acct();
            s._xenAcctTimer!.Start(sim.Now + XenAcctPeriod);
        }
    }

    /// <summary><c>s_timer_fn</c>: the slice is over; raise SCHEDULE_SOFTIRQ on this pCPU.</summary>
    private sealed class XenSliceHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg) => s.ReschedTask(s.Rqs[arg], (int)arg);
    }

    /// <summary>Charges the running vcpu's CPU time up to now (what update_curr does for CFS tasks).</summary>
    private void XenUpdateCurr(HostTask t)
    {
        var se = t.Se;
        long now = _sim.Now.Ns;
        long delta = now - se.ExecStart;
        if (delta <= 0)
            return;
        se.SumExecRuntime += delta;
        se.ExecStart = now;
        for (var g = t.Group; g is not null; g = g.Parent)
            g.CpuTimeNs += delta;
    }

    /// <summary>
    /// The scheduler-dependent part of Xen's <c>schedule()</c>: <c>csched_schedule</c> with the
    /// previous vcpu's state (sleeping, migrating or runnable), the steal's move of the vcpu's
    /// processor, and the slice timer. Returns the vcpu to run (null: idle) and, in
    /// <paramref name="migrate"/>, a vcpu to move after the switch (<c>context_saved</c> →
    /// <c>vcpu_migrate</c>).
    /// </summary>
    private HostTask? CschedSchedule(RunQueue rq, HostTask prev, out HostTask? migrate)
    {
        int cpu = rq.Cpu;
        migrate = null;
        _xenSliceTimers![cpu].Cancel(); // stop_timer(&sd->s_timer)
        HostTask? p = prev.IsIdle ? null : prev;
        bool runnable = false;
        if (p is not null)
        {
            XenUpdateCurr(p);
            bool migrating = _xenMigrating[p.Id];
            runnable = p.State == TaskState.Running && !migrating;
            if (!runnable)
            {
                // Blocked (csched_vcpu_sleep: the running vcpu is on no runq) or paused for migration.
                p.Se.OnRq = false;
                rq.NrRunning--;
                if (migrating)
                    migrate = p;
            }
        }
        var next = _xc!.Schedule(cpu, p, runnable, out int from);
        if (next is not null)
        {
            if (from >= 0)
            {
                // csched_runq_steal: vc->processor = cpu
                Rqs[from].NrRunning--;
                SetTaskCpu(next, cpu, MigrationCause.IdleBalance);
                rq.NrRunning++;
            }
            next.Se.ExecStart = _sim.Now.Ns;
            _xenSliceTimers[cpu].Start(_sim.Now + XenSlice);
        }
        return next;
    }

    /// <summary>
    /// <c>vcpu_migrate</c> after the context is saved: clear _VPF_migrating, move the vcpu to
    /// <c>csched_cpu_pick</c>'s choice and wake it there (<c>vcpu_wake</c>: a runnable vcpu is
    /// queued, UNDER boosted, CPUs tickled; a blocked one only changes processor).
    /// </summary>
    private void XenVcpuMigrate(HostTask v, int oldCpu)
    {
        _xenMigrating[v.Id] = false;
        int cpu = _xc!.CpuPick(v, oldCpu);
        if (cpu != v.Cpu)
            SetTaskCpu(v, cpu, MigrationCause.ActiveBalance);
        if (v.State != TaskState.Running)
            return;
        var rq = Rqs[cpu];
        v.Se.OnRq = true;
        rq.NrRunning++;
        var tickle = _xc.VcpuWake(v, cpu);
        XenRaiseSoftirq(tickle, oldCpu);
    }

    /// <summary>
    /// schedule.c <c>__vcpu_set_affinity</c> for a vcpu whose processor left its affinity: mark it
    /// _VPF_migrating, then <c>vcpu_sleep_nosync</c> (a running vcpu's pCPU reschedules, and
    /// <c>context_saved</c> migrates it; a queued one leaves its runq) and <c>vcpu_migrate</c>.
    /// </summary>
    private void XenSetAffinity(HostTask p, int callerCpu)
    {
        _xenMigrating[p.Id] = true;
        var rq = Rqs[p.Cpu];
        if (p.OnCpu)
        {
            ReschedTask(rq, callerCpu);
            return;
        }
        if (p.Se.OnRq)
        {
            DeactivateTask(rq, p, DequeueFlags.Migrating);
        }
        XenVcpuMigrate(p, p.Cpu);
    }

    /// <summary><c>cpumask_raise_softirq(mask, SCHEDULE_SOFTIRQ)</c> from <paramref name="thisCpu"/>.</summary>
    private void XenRaiseSoftirq(in CpuMask mask, int thisCpu)
    {
        for (int c = mask.First; c >= 0; c = mask.Next(c + 1))
            ReschedTask(Rqs[c], thisCpu);
    }

    /// <summary>The queueing half of <c>csched_vcpu_wake</c> (BOOST + <c>__runq_insert</c>); <see cref="CheckPreemptCurr"/> does <c>__runq_tickle</c>.</summary>
    private void XenEnqueue(RunQueue rq, HostTask p) => _xc!.VcpuWakeInsert(p, rq.Cpu);

    /// <summary>Removes a queued vcpu from its runq (<c>csched_vcpu_sleep</c> for a vcpu not running; affinity moves).</summary>
    private void XenDequeue(HostTask p) => _xc!.VcpuSleep(p);

    /// <summary><c>__runq_tickle</c> for a vcpu just queued on <paramref name="rq"/>.</summary>
    private void XenTickle(RunQueue rq, HostTask p, int thisCpu)
    {
        var mask = _xc!.RunqTickle(rq.Cpu, p);
        XenRaiseSoftirq(mask, thisCpu);
    }

    /// <summary>
    /// A new vcpu starts on the processor XEN_DOMCTL_max_vcpus gave it (<see cref="XenCredit.Placed"/>;
    /// outside its affinity: <c>csched_cpu_pick</c>'s choice, as <c>vcpu_set_affinity</c> would migrate
    /// it), then the domain's unpause is a <c>vcpu_wake</c>.
    /// </summary>
    private void XenWakeUpNewTask(HostTask p, int parentCpu)
    {
        int cpu = _xc!.Placed(p);
        if (!p.AllowedOn(cpu))
            cpu = _xc.CpuPick(p, cpu);
        SetTaskCpu(p, cpu, MigrationCause.Fork);
        p.State = TaskState.Running;
        var rq = Rqs[cpu];
        ActivateTask(rq, p, EnqueueFlags.None);
        Observer?.NewTask(p, cpu);
        CheckPreemptCurr(rq, p, parentCpu);
    }
}

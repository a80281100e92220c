namespace PleSim.Host;

/// <summary>Flags of enqueue_entity / dequeue_entity (kernel/sched.c, 2.6.39).</summary>
[Flags]
public enum EnqueueFlags
{
    None = 0,
    Wakeup = 1,   // ENQUEUE_WAKEUP
    Waking = 4,   // ENQUEUE_WAKING (2.6.39: task_waking_fair made the vruntime relative)
    Migrated = 0x40, // ENQUEUE_MIGRATED (4.19: a wake-up that changed CPU, made relative by migrate_task_rq_fair)
    Initial = 0x80, // ENQUEUE_INITIAL (6.6+: a new task; EEVDF only)
    Delayed = 0x200, // ENQUEUE_DELAYED (6.12+): ttwu_runnable's requeue of a delayed task (decision 0083)
}

[Flags]
public enum DequeueFlags
{
    None = 0,
    Sleep = 1,    // DEQUEUE_SLEEP
    Migrating = 0x100, // PleSim's stand-in for task_on_rq_migrating(): a queued task moved to another CPU (PELT detaches it)
    Delayed = 0x200, // DEQUEUE_DELAYED (6.12+): finish the dequeue of a delayed entity (decision 0083)
}

/// <summary>
/// The fair scheduling class: kernel/sched_fair.c of 2.6.39, function by function. Method names
/// are the kernel's in C# casing; docs/kernel-map.md lists the pairs. This file holds the period
/// and slice, <c>update_curr</c> and tick preemption; the rest is in Fair.Shares.cs (load and
/// group shares), Fair.Enqueue.cs (placement, enqueue, dequeue), Fair.Pick.cs (picking) and
/// Fair.Buddies.cs (buddies, wake-up preemption, yield).
/// </summary>
public sealed partial class HostScheduler
{
    // ---------------------------------------------------------------- helpers

    private long ClockTask(RunQueue rq) => _sim.Now.Ns;

    /// <summary><c>__sched_period</c>: sched_latency, stretched to nr × min_granularity above sched_nr_latency.</summary>
    public long SchedPeriod(long nrRunning) => SchedPeriod(nrRunning, Tun.LatencyNs, Tun.MinGranularityNs, Tun.NrLatency);

    /// <summary>
    /// <c>__sched_period</c> on given tunables — the one formula the host and the guest scheduler
    /// (whose tunables are the guest kernel's) both use.
    /// </summary>
    public static long SchedPeriod(long nrRunning, long latencyNs, long minGranularityNs, int nrLatency) =>
        nrRunning > nrLatency ? minGranularityNs * nrRunning : latencyNs;

    /// <summary><c>sched_slice</c>: the wall-time share of the period for <paramref name="se"/>, through every level.</summary>
    public long SchedSlice(CfsRq cfsRq, SchedEntity se)
    {
        long slice = SchedPeriod(cfsRq.NrRunning + (se.OnRq ? 0 : 1));
        for (var e = se; e is not null; e = e.Parent)
        {
            var q = e.CfsRq;
            if (e.OnRq)
            {
                slice = CalcDelta(slice, e.Load.Weight, ref q.Load);
            }
            else
            {
                var lw = q.Load;
                lw.Add(e.Load.Weight);
                slice = CalcDelta(slice, e.Load.Weight, ref lw);
            }
        }
        return slice;
    }

    /// <summary><c>sched_vslice</c>: the slice in the entity's virtual time.</summary>
    public long SchedVslice(CfsRq cfsRq, SchedEntity se) => CalcDeltaFair(SchedSlice(cfsRq, se), ref se.Load);

    /// <summary>
    /// delta × weight / lw.weight in the kernel's fixed point of this host's version: 2.6.39's
    /// <c>calc_delta_mine</c> (rounded) on cfs-2.6.39, 3.16's <c>__calc_delta</c> (truncated) on
    /// every later class (decision 0099).
    /// </summary>
    internal long CalcDelta(long delta, long weight, ref LoadWeight lw) =>
        _calcDelta316 ? Weights.CalcDelta316(delta, weight, ref lw) : Weights.CalcDeltaMine(delta, weight, ref lw);

    /// <summary><c>calc_delta_fair</c>: delta in the virtual time of an entity of load <paramref name="lw"/>.</summary>
    internal long CalcDeltaFair(long delta, ref LoadWeight lw) =>
        lw.Weight != Weights.Nice0Load ? CalcDelta(delta, Weights.Nice0Load, ref lw) : delta;

    private static long MaxVruntime(long minVruntime, long vruntime) => vruntime - minVruntime > 0 ? vruntime : minVruntime;
    private static long MinVruntimeOf(long minVruntime, long vruntime) => vruntime - minVruntime < 0 ? vruntime : minVruntime;

    /// <summary><c>update_min_vruntime</c>: monotonic, follows min(curr, leftmost).</summary>
    private void UpdateMinVruntime(CfsRq cfsRq)
    {
        long vruntime = cfsRq.MinVruntime;
        var curr = cfsRq.Curr;
        // 4.19 leaves out a current entity that is being dequeued (decision 0099); 2.6.39 counts it.
        if (curr is not null && _renorm419 && !curr.OnRq)
            curr = null;
        if (curr is not null)
            vruntime = curr.Vruntime;
        var left = cfsRq.First;
        if (left is not null)
            vruntime = curr is null ? left.Vruntime : MinVruntimeOf(vruntime, left.Vruntime);
        cfsRq.MinVruntime = MaxVruntime(cfsRq.MinVruntime, vruntime);
    }

    /// <summary><c>update_curr</c>: charge the running entity of this queue for the time since exec_start.</summary>
    internal void UpdateCurr(CfsRq cfsRq)
    {
        if (_eevdf)
        {
            UpdateCurrEevdf(cfsRq);
            return;
        }
        var curr = cfsRq.Curr;
        if (curr is null)
            return;
        long now = ClockTask(cfsRq.Rq);
        long delta = now - curr.ExecStart;
        if (delta == 0)
            return;
        curr.SumExecRuntime += delta;
        curr.Vruntime += CalcDeltaFair(delta, ref curr.Load);
        UpdateMinVruntime(cfsRq);
        cfsRq.LoadUnaccExecTime += delta;
        curr.ExecStart = now;
        if (curr.Task is { } t)
        {
            // cpuacct_charge: the task's group and its ancestors.
            for (var g = t.Group; g is not null; g = g.Parent)
                g.CpuTimeNs += delta;
        }
    }

    // ---------------------------------------------------------------- tick preemption

    /// <summary>
    /// <c>check_preempt_tick</c>: resched when the running entity used its ideal slice (and drop
    /// its buddy favours), or when, after min_granularity, it leads the leftmost by more than a slice.
    /// </summary>
    private void CheckPreemptTick(CfsRq cfsRq, SchedEntity curr)
    {
        long idealRuntime = SchedSlice(cfsRq, curr);
        long deltaExec = curr.SumExecRuntime - curr.PrevSumExecRuntime;
        if (deltaExec > idealRuntime)
        {
            ReschedTask(cfsRq.Rq, cfsRq.Rq.Cpu);
            ClearBuddies(cfsRq, curr);
            return;
        }
        if (!_features.WakeupPreempt)
            return;
        if (deltaExec < Tun.MinGranularityNs)
            return;
        if (cfsRq.NrRunning > 1)
        {
            var se = cfsRq.First!;
            long delta = curr.Vruntime - se.Vruntime;
            if (delta < 0)
                return;
            if (delta > idealRuntime)
                ReschedTask(cfsRq.Rq, cfsRq.Rq.Cpu);
        }
    }

    private void EntityTick(CfsRq cfsRq, SchedEntity curr)
    {
        UpdateCurr(cfsRq);
        if (_pelt419)
        {
            UpdateLoadAvg419(cfsRq, curr, UpdateLoadFlags.UpdateTg); // entity_tick (4.19)
            UpdateCfsGroup419(curr);
        }
        else
        {
            UpdateEntitySharesTick(cfsRq);
        }
        if (cfsRq.NrRunning > 1 || !_features.WakeupPreempt)
            CheckPreemptTick(cfsRq, curr);
    }

    /// <summary><c>task_tick_fair</c>.</summary>
    private void TaskTickFair(RunQueue rq, HostTask curr)
    {
        for (SchedEntity? se = curr.Se; se is not null; se = se.Parent)
            EntityTick(se.CfsRq, se);
    }
}

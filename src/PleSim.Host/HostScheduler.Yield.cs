namespace PleSim.Host;

/// <summary>
/// Yielding (Linux 2.6.39 kernel/sched.c): <c>sys_sched_yield</c>, <c>yield_to</c> (the call KVM's
/// directed yield makes) and the <c>double_rq_lock</c> it takes, timed.
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary><c>sched_yield()</c>: skip buddy, then schedule(). The task continues in its next <see cref="ITaskBody.OnRun"/>.</summary>
    public void Yield(HostTask task)
    {
        RequireCurrent(task);
        var rq = Rqs[task.Cpu];
        task.NrYields++;
        if (_xen)
        {
            // Xen 3.4 do_yield (SCHEDOP_yield): only raise SCHEDULE_SOFTIRQ; csched_schedule puts the
            // yielder back behind the vcpus of its own priority (decision 0063).
        }
        else if (_eevdf)
            YieldTaskEevdf(rq);
        else
            YieldTaskFair(rq);
        Observer?.Yield(task, task.Cpu);
        task.NrYieldSchedules++;
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
        if (_xen)
            ThrowXenYieldTo();
        RequireCurrent(curr);
        return YieldToCurrent(curr, p, preempt, undercommitCheck);
    }

    private static void ThrowXenYieldTo() =>
        throw new InvalidOperationException("yield_to is a Linux call: Xen 3.4's credit scheduler has no directed yield (decision 0063)");

    // YieldTo with curr already checked to be its CPU's current task (and the host not Xen).
    private YieldToResult YieldToCurrent(HostTask curr, HostTask p, bool preempt, bool undercommitCheck)
    {
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
        curr.NrYieldSchedules++;
        Schedule(curr.Cpu, voluntary: true);
        return result;
    }

    private long _rqLockSectionFloorNs;

    // Rqs[cpu].Lock for every CPU, one load away (DoubleRqLock reaches a different CPU's lock per call).
    private readonly RqLock[] _rqLocks;

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
        var a = _rqLocks[cpu];
        var b = _rqLocks[pCpu];
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
        // After a Push, [t, t + len) is free in that lock; alternate until one call leaves t where
        // it was (then it is free in both). The same t as repeating both until neither moves.
        // The last Push on each lock was made at the final t or moved t to it, so the place it
        // found for a booking there is current: book without searching again.
        a.Push(ref t, len, out int atA);
        int atB = 0;
        if (b != a)
        {
            while (b.Push(ref t, len, out atB) && a.Push(ref t, len, out atA))
            {
            }
        }
        a.BookAt(t, len, atA);
        if (b != a)
            b.BookAt(t, len, atB);
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
        if (_xen)
            ThrowXenYieldTo();
        RequireCurrent(curr);
        // Rqs[c].Cpu is c: the CPU numbers are taken from the tasks, so the call reaches the target's
        // run queue object only when the 3.9 test needs it (a walk's yield_to touches a different,
        // usually cold, run queue per call).
        int cpu = curr.Cpu;
        int pCpu = p.Cpu < 0 ? cpu : p.Cpu;
        doneNs = undercommitCheck && Rqs[cpu].NrRunning == 1 && Rqs[pCpu].NrRunning == 1
            ? startNs
            : DoubleRqLock(cpu, pCpu, startNs, acquireNs, holdNs);
        return YieldToCurrent(curr, p, preempt, undercommitCheck);
    }
}

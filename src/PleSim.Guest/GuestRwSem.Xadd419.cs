using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary><c>guest.rwsem</c>: which kernel's <c>rw_semaphore</c> slow paths the guest runs (decision 0050).</summary>
public enum RwSemAlgorithm
{
    /// <summary>2.6.39 lib/rwsem.c: no optimistic spinning; the releaser hands the lock to the queue head.</summary>
    Lib2639,

    /// <summary>
    /// 4.19 kernel/locking/rwsem-xadd.c: writers spin on the owner (OSQ, <c>rwsem_optimistic_spin</c>,
    /// 3.16+ with the 4.10 <c>vcpu_is_preempted</c> check), a woken writer is not handed the lock
    /// and may lose it to a spinner (3.10+ lock stealing); readers do not spin (that came with 5.3).
    /// </summary>
    Xadd419,

    /// <summary>
    /// 5.3 kernel/locking/rwsem.c (the rework, kept through 5.10): the writer bit, waiters and
    /// hand-off flags and the reader count share one word; readers spin too (<c>rwsem_optimistic_spin</c>
    /// with <c>wlock</c> false), writers spin on reader-owned locks for a bounded time
    /// (<c>rwsem_rspin_threshold</c>), and a waiter that waited past <c>RWSEM_WAIT_TIMEOUT</c> sets
    /// RWSEM_FLAG_HANDOFF, which forbids stealing (decision 0057, GuestRwSem.Rwsem53.cs).
    /// </summary>
    Rwsem53,

    /// <summary>
    /// 6.1 kernel/locking/rwsem.c: readers no longer spin (5.11, "Remove reader optimistic spinning")
    /// but steal the lock once in the slow path when no writer holds it and no hand-off is pending;
    /// one nonspinnable bit; any waiter past its timeout may set the hand-off bit, which only the
    /// first waiter's <c>handoff_set</c> makes binding, and that waiter spins on the owner
    /// (5.16–6.1 hand-off rework); the slow paths wake waiters only when no writer holds the lock
    /// (<c>rwsem_cond_wake_waiter</c>). Decision 0057.
    /// </summary>
    Rwsem61,
}

/// <summary>
/// A sleeping lock whose waiters spin on the owner as a PAUSE loop of their VCPU (the
/// <see cref="ActionKind.OwnerSpin"/> action): the guest CPU asks it whether to spin, and tells it
/// when the spin ended so it can queue what the thread does next.
/// </summary>
internal interface IOwnerSpin : ISpinTarget
{
    /// <summary>The thread of <paramref name="cpu"/> reached the spin: true to start spinning (<see cref="ISpinTarget.TryAcquire"/> ends it); false when it was decided at once (the next actions are queued).</summary>
    bool BeginSpin(GuestCpu cpu);

    /// <summary>The spin of <paramref name="cpu"/> ended (its <see cref="ISpinTarget.TryAcquire"/> returned true): queue what follows.</summary>
    void SpinEnded(GuestCpu cpu);
}

/// <summary>
/// The 4.19 x86 <c>rw_semaphore</c> (kernel/locking/rwsem-xadd.c, rwsem.c, rwsem.h, osq_lock.c), chosen
/// with <c>guest.rwsem: "4.19"</c>. Function by function:
/// <list type="bullet">
/// <item><c>down_read</c> (<c>__down_read</c>): succeeds when no writer is active and nobody waits,
/// then <c>rwsem_set_reader_owned</c>; else <c>rwsem_down_read_failed</c>: under <c>wait_lock</c> queue
/// at the tail; with no active locker, or with only readers active and the list empty before,
/// <c>__rwsem_mark_wake(ANY)</c>; sleep until <c>waiter.task</c> is cleared (the grant). Readers never spin.</item>
/// <item><c>down_write</c>: succeeds when the count was 0 (no active locker, nobody queued) and sets
/// <c>sem->owner</c>; else <c>rwsem_down_write_failed</c>: first <c>rwsem_optimistic_spin</c> —
/// <c>rwsem_can_spin_on_owner</c> (no need_resched; owner NULL, or a writer that is on its CPU and,
/// 4.10+, whose VCPU <c>vcpu_is_preempted</c> does not report; never when the owner field says
/// RWSEM_READER_OWNED, which up_read leaves behind), <c>osq_lock</c> (an MCS queue: only its head spins on
/// the owner; the others spin on their own node and leave on need_resched or when the VCPU of the
/// node ahead is preempted), then <c>rwsem_spin_on_owner</c> while the owner is a running writer and
/// <c>rwsem_try_write_lock_unqueued</c> (take it when no one is active, waiters or not: lock stealing)
/// when the owner field is NULL; stop when readers own it, the owner is off its CPU or its VCPU is
/// preempted, or need_resched. Failing that, under <c>wait_lock</c>: queue at the tail, wake
/// readers at the head if readers own the lock, and loop: <c>rwsem_try_write_lock</c> (no active
/// locker) or sleep until no locker is active and retry.</item>
/// <item><c>up_read</c>: the last active reader with waiters queued calls <c>rwsem_wake</c>; the
/// owner field stays RWSEM_READER_OWNED. <c>up_write</c>: <c>rwsem_clear_owner</c>, release, and
/// <c>rwsem_wake</c> if anyone is queued. <c>rwsem_wake</c>: with a spinner in the OSQ only a
/// <c>spin_trylock</c> of <c>wait_lock</c> (no wake-up if it is held); <c>__rwsem_mark_wake(ANY)</c>
/// wakes a writer at the head without granting it anything (it retries and may lose to a
/// spinner), or grants the lock to the readers at the head up to the first writer unless a writer
/// took it meanwhile.</item>
/// </list>
/// Not modelled: downgrade_write, the killable variants, RT tasks, the cache-line timing of the
/// owner field (the owner is set in the same instant as the count).
/// </summary>
public sealed partial class GuestRwSem : IOwnerSpin
{
    private const int OpReadQueue = 10, OpReadWoken = 11, OpWriteQueue = 12, OpWriteWoken = 13, OpWriteRetry = 14, OpWakeTry = 15, OpWakeLocked = 16;

    private readonly bool _xadd419;
    private readonly List<GuestCpu>? _osq;      // sem->osq: the spinners, head first (the head spins on the owner)
    private bool[]? _spinAcquired;              // per guest CPU: its last spin ended with the lock
    private GuestThread? _owner;                // sem->owner when a writer task
    private bool _readerOwned;                  // sem->owner == RWSEM_READER_OWNED

    /// <summary>4.19: writers that entered <c>rwsem_optimistic_spin</c> and found <c>rwsem_can_spin_on_owner</c> true.</summary>
    public long Spins;

    /// <summary>4.19: writers that could not start spinning because the owner field said readers (RWSEM_READER_OWNED).</summary>
    public long SpinSkippedReaderOwned;

    /// <summary>4.19: writers that took the lock in the spin; of those, with waiters queued (a steal from the queue).</summary>
    public long SpinAcquisitions, SpinSteals;

    /// <summary>4.19: spins abandoned because readers took the lock, the owner left its CPU, or need_resched (head and OSQ nodes).</summary>
    public long SpinGiveUps;

    /// <summary>4.19: spins abandoned because <c>vcpu_is_preempted</c> reported the owner's VCPU (head) or the VCPU of the node ahead (OSQ).</summary>
    public long SpinGiveUpsVcpuPreempted;

    /// <summary>4.19: writer sleeps in <c>rwsem_down_write_failed</c>, and wake-ups after which the writer found the lock taken again (lost it) and slept on.</summary>
    public long WriterSleeps, WriterRetriesLost;

    /// <summary>4.19: <c>rwsem_wake</c> calls that did nothing because a spinner was present and <c>wait_lock</c> was held.</summary>
    public long WakesSkipped;

    /// <summary>This semaphore runs the 4.19 algorithm.</summary>
    public bool Xadd419 => _xadd419;

    /// <summary>VCPUs in the OSQ / owner-spin loop now.</summary>
    public int Spinners => (_osq?.Count ?? 0) + (_hspin?.Count ?? 0);

    /// <summary><c>sem->owner</c> is a writer task: that task (4.19), else null.</summary>
    public GuestThread? OwnerTask => _owner;

    /// <summary><c>sem->owner</c> == RWSEM_READER_OWNED (4.19).</summary>
    public bool ReaderOwned => _readerOwned;

    private GuestSettings S => _k.Settings;

    private bool OnCpu(GuestThread t) => _k.Cpus[t.Cpu].Curr == t;

    private bool Preempted(int cpu) => S.VcpuIsPreemptedCheck && GuestCpu.VcpuIsPreempted(_k.Cpus[cpu]);

    /// <summary>
    /// A woken reader's wait loop (4.19, 5.3 and 6.1 alike): sleep again on the queue until the grant
    /// cleared waiter.task, then leave the loop; <paramref name="again"/> is the step that comes back here.
    /// </summary>
    private void ReaderWaitStep(IActionSink sink, int again)
    {
        var w = sink.RwSemWaiter!;
        if (!w.Granted)
            sink.EmitNow(GuestAction.Wait(w.Queue), GuestAction.Call(this, again));
        else
            w.Thread = null;
    }

    /// <summary>
    /// <c>osq_lock</c>'s loop for a spinner queued behind the OSQ head (4.19, 5.3 and 6.1 alike): it
    /// leaves on need_resched or when its predecessor's VCPU is preempted (4.10), else keeps waiting.
    /// Null for the head, which spins on the owner instead.
    /// </summary>
    private SpinStep? OsqWaiterStep(GuestCpu cpu)
    {
        int pos = _osq!.IndexOf(cpu);
        if (pos <= 0)
            return null;
        if (cpu.NeedResched)
        {
            SpinGiveUps++;
            return SpinStep.GiveUp;
        }
        if (Preempted(_osq[pos - 1].Index))
        {
            SpinGiveUpsVcpuPreempted++;
            return SpinStep.GiveUp;
        }
        return SpinStep.KeepSpinning;
    }

    private void Run419(GuestThread thread, IActionSink sink, int code, long atomic)
    {
        switch (code)
        {
            case OpDownRead:
                ReadAcquisitions++;
                if (Writer is null && _count == 0)
                {
                    Readers++;
                    SetReaderOwned();
                    sink.EmitNow(GuestAction.Compute(atomic));
                }
                else
                {
                    ReadSlow++;
                    var w = Waiter(thread, sink, writer: false);
                    w.Granted = false;
                    sink.EmitNow(GuestAction.Compute(atomic), GuestAction.Acquire(WaitLock), GuestAction.Call(this, OpReadQueue), GuestAction.Release(WaitLock),
                        GuestAction.Wait(w.Queue), GuestAction.Call(this, OpReadWoken));
                }
                break;
            case OpReadQueue:
            {
                // __rwsem_down_read_failed_common under wait_lock.
                bool wasEmpty = _count == 0;
                Enqueue(sink.RwSemWaiter!);
                if ((Readers == 0 && Writer is null) || (Writer is null && wasEmpty))
                    MarkWake(sink, any: true);
                break;
            }
            case OpReadWoken:
                ReaderWaitStep(sink, OpReadWoken);
                break;
            case OpDownWrite:
                WriteAcquisitions++;
                if (Writer is null && Readers == 0 && _count == 0)
                {
                    TakeWrite(thread, notify: true);
                    sink.EmitNow(GuestAction.Compute(atomic));
                }
                else
                {
                    WriteSlow++;
                    Waiter(thread, sink, writer: true);
                    // The failed xadd (and its undo), then rwsem_optimistic_spin on this VCPU.
                    sink.EmitNow(GuestAction.Compute(atomic), GuestAction.OwnerSpin(this));
                }
                break;
            case OpWriteQueue:
            {
                // rwsem_down_write_failed after the spin, under wait_lock.
                bool waiting = _count > 0;
                Enqueue(sink.RwSemWaiter!);
                if (waiting && Writer is null && Readers > 0)
                    MarkWake(sink, any: false); // RWSEM_WAKE_READERS: readers queued ahead join the owning readers
                TryWriteLockOrSleep(thread, sink);
                break;
            }
            case OpWriteWoken:
                // Back from schedule(): sleep again while any locker is active, else retake wait_lock.
                if (Readers > 0 || Writer is not null)
                {
                    WriterRetriesLost++; // woken, but a spinner (or a reader grant) got there first
                    sink.EmitNow(GuestAction.Wait(sink.RwSemWaiter!.Queue), GuestAction.Call(this, OpWriteWoken));
                }
                else
                    sink.EmitNow(GuestAction.Acquire(WaitLock), GuestAction.Call(this, OpWriteRetry));
                break;
            case OpWriteRetry:
                if (Readers > 0 || Writer is not null)
                    WriterRetriesLost++; // a spinner (or a reader grant) got there first
                TryWriteLockOrSleep(thread, sink);
                break;
            case OpUpRead:
                if (Readers <= 0)
                    throw new InvalidOperationException($"{thread}: up_read on {Name} without a reader");
                Readers--;
                // __up_read: the owner field stays RWSEM_READER_OWNED; the last active reader with waiters wakes.
                if (Readers == 0 && _count > 0)
                    sink.EmitNow(GuestAction.Compute(atomic), GuestAction.Call(this, OpWakeTry));
                else
                    sink.EmitNow(GuestAction.Compute(atomic));
                break;
            case OpUpWrite:
                if (Writer != thread)
                    throw new InvalidOperationException($"{thread}: up_write on {Name} held by {Writer}");
                // rwsem_clear_owner, then __up_write: a spinner may take it from here on.
                Writer = null;
                _owner = null;
                OwnerChanged();
                if (_count > 0)
                    sink.EmitNow(GuestAction.Compute(atomic), GuestAction.Call(this, OpWakeTry));
                else
                    sink.EmitNow(GuestAction.Compute(atomic));
                break;
            case OpWakeTry:
                // rwsem_wake: with a spinner present only a trylock of wait_lock (the spinner will try the lock itself).
                if (_osq!.Count > 0 && WaitLock.Owner is not null)
                {
                    WakesSkipped++;
                    break;
                }
                sink.EmitNow(GuestAction.Acquire(WaitLock), GuestAction.Call(this, OpWakeLocked), GuestAction.Release(WaitLock));
                break;
            case OpWakeLocked:
                if (_count > 0)
                    MarkWake(sink, any: true);
                break;
            default:
                throw new InvalidOperationException($"{Name}: operation {code} is not one of 4.19's");
        }
    }

    private RwSemWaiter Waiter(GuestThread thread, IActionSink sink, bool writer)
    {
        var w = sink.RwSemWaiter ?? throw new InvalidOperationException($"{thread}: {Name}'s slow path needs an RwSemWaiter");
        w.Begin(thread, writer);
        return w;
    }

    /// <summary>The loop of <c>rwsem_down_write_failed</c> under <c>wait_lock</c>: <c>rwsem_try_write_lock</c> (nobody active) or drop the lock and sleep.</summary>
    private void TryWriteLockOrSleep(GuestThread thread, IActionSink sink)
    {
        var w = sink.RwSemWaiter!;
        if (Readers == 0 && Writer is null)
        {
            Remove(w);
            w.Thread = null;
            TakeWrite(thread, notify: true);
            sink.EmitNow(GuestAction.Release(WaitLock));
            return;
        }
        WriterSleeps++;
        sink.EmitNow(GuestAction.Release(WaitLock), GuestAction.Wait(w.Queue), GuestAction.Call(this, OpWriteWoken));
    }

    private void TakeWrite(GuestThread t, bool notify)
    {
        Writer = t;
        _owner = t; // rwsem_set_owner
        _readerOwned = false;
        if (notify)
            OwnerChanged();
        else
            ReclassifySpinners();
    }

    /// <summary><c>rwsem_set_reader_owned</c>.</summary>
    private void SetReaderOwned()
    {
        if (_readerOwned)
            return;
        _readerOwned = true;
        _owner = null;
        OwnerChanged();
    }

    /// <summary>
    /// <c>__rwsem_mark_wake</c> (4.19) under <c>wait_lock</c>, the list not empty. A writer at the head
    /// is woken (ANY only) and left queued, owning nothing. Readers at the head are granted the lock
    /// — unless a writer holds it (stolen) — up to the first writer, dequeued and woken.
    /// </summary>
    private void MarkWake(IActionSink waker, bool any)
    {
        var head = _wait[_head];
        if (head.Writer)
        {
            if (any)
            {
                Grants++;
                waker.EmitNow(GuestAction.Signal(head.Queue));
            }
            return;
        }
        if (Writer is not null)
            return; // the reader grant failed: a writer stole the lock
        int n = 0;
        while (_count > 0 && !_wait[_head].Writer)
        {
            var w = Dequeue();
            Readers++;
            w.Granted = true;
            if (n == _woken.Length)
                Array.Resize(ref _woken, n * 2);
            _woken[n++] = w;
        }
        Grants += n;
        SetReaderOwned();
        for (int i = n - 1; i >= 0; i--)
        {
            waker.EmitNow(GuestAction.Signal(_woken[i].Queue));
            _woken[i] = null!;
        }
    }

    /// <summary>list_del of a waiter anywhere in the queue (a writer that got the lock while others were ahead of it).</summary>
    private void Remove(RwSemWaiter w)
    {
        int at = -1;
        for (int i = 0; i < _count; i++)
        {
            if (_wait[(_head + i) % _wait.Length] == w)
            {
                at = i;
                break;
            }
        }
        if (at < 0)
            throw new InvalidOperationException($"{Name}: {w.Thread} is not queued");
        for (int i = at; i < _count - 1; i++)
            _wait[(_head + i) % _wait.Length] = _wait[(_head + i + 1) % _wait.Length];
        _wait[(_head + _count - 1) % _wait.Length] = null!;
        _count--;
    }

    // ------------------------------------------------------------------ rwsem_optimistic_spin

    /// <summary><c>rwsem_can_spin_on_owner</c>.</summary>
    private bool CanSpinOnOwner(GuestCpu cpu)
    {
        if (cpu.NeedResched)
            return false;
        if (_readerOwned)
        {
            SpinSkippedReaderOwned++;
            return false;
        }
        return _owner is not { } o || (OnCpu(o) && !Preempted(o.Cpu));
    }

    bool IOwnerSpin.BeginSpin(GuestCpu cpu)
    {
        if (_v53)
            return BeginSpin53(cpu);
        if (!CanSpinOnOwner(cpu))
        {
            QueueWriter(cpu);
            return false;
        }
        Spins++;
        _spinAcquired ??= new bool[_k.Cpus.Length];
        _k.EnsureStealPoll();
        _osq!.Add(cpu); // osq_lock: xchg the tail; the head is the lock's spinner
        if (Step(cpu) == SpinStep.KeepSpinning)
        {
            TraceSpinStart(cpu, OwnerSpinKind.RwsemWriter);
            return true;
        }
        Leave(cpu);
        ((IOwnerSpin)this).SpinEnded(cpu);
        return false;
    }

    void IOwnerSpin.SpinEnded(GuestCpu cpu)
    {
        if (_v53)
        {
            SpinEnded53(cpu);
            return;
        }
        _k.Observer?.OwnerSpinEnd(cpu.Curr, cpu, _spinAcquired![cpu.Index]);
        if (_spinAcquired![cpu.Index])
        {
            // The cmpxchg that took it pulled the count's cache line over.
            _spinAcquired[cpu.Index] = false;
            Sink(cpu).EmitNow(GuestAction.Compute(S.Costs.LockHandover.Ns));
            return;
        }
        QueueWriter(cpu);
    }

    private void QueueWriter(GuestCpu cpu) =>
        Sink(cpu).EmitNow(GuestAction.Acquire(WaitLock), GuestAction.Call(this, OpWriteQueue));

    private static IActionSink Sink(GuestCpu cpu) => (IActionSink)cpu.Curr!.Program;

    /// <summary>How one look of a spinner ends.</summary>
    private enum SpinStep
    {
        KeepSpinning,
        Acquired,
        GiveUp,
    }

    /// <summary>
    /// One look of <paramref name="cpu"/>'s spinner at the lock as it is now: an OSQ node behind the
    /// head waits for its turn (<c>osq_lock</c>'s loop); the head runs <c>rwsem_spin_on_owner</c> and
    /// <c>rwsem_try_write_lock_unqueued</c>.
    /// </summary>
    private SpinStep Step(GuestCpu cpu)
    {
        if (OsqWaiterStep(cpu) is SpinStep waiting)
            return waiting;
        if (_readerOwned)
        {
            SpinGiveUps++; // !is_rwsem_owner_spinnable: readers own it
            return SpinStep.GiveUp;
        }
        if (_owner is { } o)
        {
            if (cpu.NeedResched || !OnCpu(o))
            {
                SpinGiveUps++;
                return SpinStep.GiveUp;
            }
            if (Preempted(o.Cpu))
            {
                SpinGiveUpsVcpuPreempted++;
                return SpinStep.GiveUp;
            }
            return SpinStep.KeepSpinning;
        }
        if (Readers == 0 && Writer is null)
        {
            // rwsem_try_write_lock_unqueued: the count is 0 or RWSEM_WAITING_BIAS.
            SpinAcquisitions++;
            if (_count > 0)
                SpinSteals++;
            TakeWrite(cpu.Curr!, notify: false);
            _spinAcquired![cpu.Index] = true;
            return SpinStep.Acquired;
        }
        if (cpu.NeedResched)
        {
            SpinGiveUps++;
            return SpinStep.GiveUp;
        }
        return SpinStep.KeepSpinning;
    }

    /// <summary><c>osq_unlock</c> / the unqueue of <c>osq_lock</c>: the node after this one (the new head, or a node with a new predecessor) looks again.</summary>
    private void Leave(GuestCpu cpu)
    {
        int pos = _osq!.IndexOf(cpu);
        _osq.RemoveAt(pos);
        if (pos == 0 && _osq.Count > 0)
            _k.Observer?.OsqHead(_osq[0]); // osq_unlock handed the queue to the next node (traces)
        if (pos < _osq.Count)
            _osq[pos].Vcpu.NotifySpinRelease();
    }

    /// <summary>Traces: the spin of <paramref name="cpu"/> started (and was not decided at once); queued when it is not the OSQ's head.</summary>
    private void TraceSpinStart(GuestCpu cpu, OwnerSpinKind kind) =>
        _k.Observer?.OwnerSpinStart(cpu.Curr!, cpu, Name, kind, queued: kind != OwnerSpinKind.RwsemHandoff && _osq!.IndexOf(cpu) > 0);

    /// <summary>The owner field or the count changed: spinners re-classify (ground truth) and look again.</summary>
    private void OwnerChanged()
    {
        ReclassifySpinners();
        NotifySpinners();
    }

    /// <summary>Spinners look again (at once if executing, else when they next do).</summary>
    internal void NotifySpinners()
    {
        var osq = _osq!;
        for (int i = osq.Count - 1; i >= 0; i--)
        {
            if (i < osq.Count)
                osq[i].Vcpu.NotifySpinRelease();
        }
        if (_hspin is { } h)
        {
            for (int i = h.Count - 1; i >= 0; i--)
            {
                if (i < h.Count)
                    h[i].Vcpu.NotifySpinRelease();
            }
        }
    }

    private void ReclassifySpinners()
    {
        var osq = _osq!;
        for (int i = 0; i < osq.Count; i++)
            osq[i].Vcpu.ReclassifySpin();
        if (_hspin is { } h)
        {
            for (int i = 0; i < h.Count; i++)
                h[i].Vcpu.ReclassifySpin();
        }
    }

    /// <summary>A spinner reads the steal-time flag of <paramref name="cpu"/>: the owner's, or an OSQ predecessor's.</summary>
    internal bool SpinnersWatch(int cpu)
    {
        var osq = _osq!;
        if (osq.Count == 0 && _hspin is not { Count: > 0 })
            return false;
        if (_owner is { } o && o.Cpu == cpu)
            return true;
        for (int i = 0; i < osq.Count - 1; i++)
        {
            if (osq[i].Index == cpu)
                return true;
        }
        return false;
    }

    /// <summary>The writer owning it left its CPU (guest context switch): its spinners see <c>on_cpu</c> drop.</summary>
    internal void TaskSwitchedOut(GuestThread t)
    {
        if (_owner == t && (_osq!.Count > 0 || _hspin is { Count: > 0 }))
            NotifySpinners();
    }

    // ------------------------------------------------------------------ ISpinTarget

    public bool TryAcquire(Vcpu vcpu, long token)
    {
        var cpu = (GuestCpu)vcpu.Guest;
        if (_v53)
            return TryAcquire53(cpu);
        if (Step(cpu) == SpinStep.KeepSpinning)
            return false;
        Leave(cpu);
        return true;
    }

    public bool WaitsOn(Vcpu spinner, long token, Vcpu candidate) => _k.IsOwnerVcpu(_owner, candidate);

    /// <summary>
    /// Ground truth (oracle, read-only): the writer owner, as for the mutex (<see cref="GuestKernel.OwnerSpinCause"/>);
    /// 5.3 family: a spinner in <c>rwsem_optimistic_spin</c> on a lock nobody holds while RWSEM_FLAG_HANDOFF
    /// reserves it for the first waiter gets <see cref="SpinCause.HandoffReserved"/> (the hand-off writer's
    /// own spin on the owner keeps the owner's cause).
    /// </summary>
    public SpinCause Cause(Vcpu spinner, long token) =>
        HandoffReservedFor(spinner) ? SpinCause.HandoffReserved : _k.OwnerSpinCause(_owner);

    /// <summary>5.3 family: the lock is free (no writer, no reader holding it), the hand-off bit is set, and <paramref name="spinner"/> is not the hand-off writer spinning on the owner.</summary>
    private bool HandoffReservedFor(Vcpu spinner) =>
        _v53 && _handoff && Writer is null && Readers == 0 && _spinMode is { } mode && mode[((GuestCpu)spinner.Guest).Index] != ModeHandoff;

    public SpinRelation Relation(Vcpu spinner, long token, Vcpu candidate)
    {
        if (_k.IsOwnerVcpu(_owner, candidate))
            return SpinRelation.Holder;
        var osq = _osq!;
        for (int i = 0; i < osq.Count; i++)
        {
            if (osq[i].Vcpu == candidate)
                return SpinRelation.OtherSpinner;
        }
        return SpinRelation.Unrelated;
    }
}

using PleSim.Engine;

namespace PleSim.Guest;

/// <summary>
/// The 5.3 x86 <c>rw_semaphore</c> (kernel/locking/rwsem.c after the rework that merged
/// rwsem-xadd.c into it; the same algorithm through 5.10), chosen with <c>guest.rwsem: "5.3"</c>
/// (decision 0057). Function by function:
/// <list type="bullet">
/// <item>The count holds RWSEM_WRITER_LOCKED, RWSEM_FLAG_WAITERS (the wait list is not empty),
/// RWSEM_FLAG_HANDOFF and the reader count (holders plus readers whose failed fast-path bias is
/// still in it). The owner field holds the writer task, or a reader task with RWSEM_READER_OWNED,
/// plus RWSEM_RD_NONSPINNABLE / RWSEM_WR_NONSPINNABLE.</item>
/// <item><c>__down_read</c>: adds a reader bias; it holds the lock unless a writer, a waiter or the
/// hand-off bit is there. <c>rwsem_down_read_slowpath</c>: records <c>last_rowner</c>; if
/// <c>rwsem_can_spin_on_owner(RD_NONSPINNABLE)</c>, backs its bias out and spins
/// (<c>rwsem_optimistic_spin(sem, false)</c>: the lock is taken by <c>rwsem_try_read_lock_unqueued</c>
/// whenever no writer holds it and no hand-off is pending — even with waiters queued; then readers
/// queued ahead are woken with <c>RWSEM_WAKE_READ_OWNED</c>); else, or after a failed spin and a
/// failed <c>rwsem_reader_phase_trylock</c>, under <c>wait_lock</c>: with an empty list, a reader whose bias
/// is still in the count and that sees no writer and no hand-off owns the lock; otherwise it queues,
/// and wakes the queue when nobody holds the lock or when it is first and no writer holds it; it
/// sleeps until granted.</item>
/// <item><c>__down_write</c>: cmpxchg of the whole count from 0. <c>rwsem_down_write_slowpath</c>:
/// <c>rwsem_can_spin_on_owner(WR_NONSPINNABLE)</c> and <c>rwsem_optimistic_spin(sem, true)</c>: the OSQ
/// head follows <c>rwsem_spin_on_owner</c> (OWNER_WRITER while the owner runs on a VCPU that
/// <c>vcpu_is_preempted</c> does not report; OWNER_READER; OWNER_NULL; OWNER_NONSPINNABLE) and
/// tries <c>rwsem_try_write_lock_unqueued</c> (no holder, no hand-off); on a reader-owned lock it
/// spins at most <c>rwsem_rspin_threshold</c> ((20 + readers) / 2 µs, readers capped at 30) and then
/// sets both nonspinnable bits. Failing that, under <c>wait_lock</c>: queue (<c>wstate</c> FIRST or
/// NOT_FIRST), wake readers ahead when readers hold it, and loop on <c>rwsem_try_write_lock</c>: the
/// first waiter past its timeout sets RWSEM_FLAG_HANDOFF (WRITER_HANDOFF), then spins on a running
/// writer owner and retries when the owner field clears; otherwise it sleeps until woken with no
/// holder. The writer that took the lock after seeing a nonspinnable bit sets RD_NONSPINNABLE.</item>
/// <item><c>rwsem_mark_wake</c>: a writer at the head is woken (ANY) without the lock; for readers, a
/// writer holding the lock makes the grant fail (and sets the hand-off bit if the head waited past
/// its timeout); otherwise every reader in the queue, up to MAX_READERS_WAKEUP, is granted
/// (phase-fair: writers in between stay queued), and the hand-off bit is cleared.</item>
/// <item><c>__up_read</c>: the last reader with waiters clears WR_NONSPINNABLE and calls
/// <c>rwsem_wake</c>; <c>__up_write</c>: clears the owner field, and wakes if waiters. <c>rwsem_wake</c> takes
/// <c>wait_lock</c> unconditionally (4.19's trylock when spinners are present is gone).</item>
/// </list>
/// Not modelled: RT tasks, the killable variants and their out_nolock paths, downgrade_write, the
/// reader-count overflow guard.
/// </summary>
public sealed partial class GuestRwSem : IEventHandler
{
    private const int Op53ReadQueue = 20, Op53ReadWoken = 21, Op53WriteQueue = 22, Op53WriteWoken = 23, Op53WriteRetry = 24,
        Op53Wake = 25, Op53WakeReadOwned = 26;

    private const byte ModeWriter = 0, ModeReader = 1, ModeHandoff = 2;              // SpinMode
    private const byte WriterNotFirst = 0, WriterFirst = 1, WriterHandoff = 2;        // enum writer_wait_state
    private const byte OwnerNull = 1, OwnerWriter = 2, OwnerReader = 4, OwnerNonspinnable = 8; // enum owner_state
    private const byte ResultGiveUp = 0, ResultAcquired = 1;

    /// <summary>MAX_READERS_WAKEUP (5.3): readers granted per <c>rwsem_mark_wake</c>.</summary>
    public const int MaxReadersWakeup = 0x100;

    private readonly bool _v53;     // the 5.3 family: 5.3 or 6.1
    private readonly bool _v61;     // 6.1's variant
    private int _readBias;          // readers whose RWSEM_READER_BIAS is in the count without being a hold
    private bool _handoff;          // RWSEM_FLAG_HANDOFF
    private bool _rdNonspinnable;   // RWSEM_RD_NONSPINNABLE in sem->owner
    private bool _wrNonspinnable;   // RWSEM_WR_NONSPINNABLE in sem->owner
    private GuestThread? _rowner;   // the reader task in a reader-owned owner field
    private List<GuestCpu>? _hspin; // hand-off writers spinning on the owner outside the OSQ
    private byte[]? _spinMode, _spinPrev, _spinResult;
    private long[]? _spinThreshold;
    private GuestThread?[]? _hspinOwner;
    private HrTimer? _rspinTimer;

    /// <summary>5.3: readers that entered <c>rwsem_optimistic_spin</c>; of those, read locks taken in the spin (<c>rwsem_try_read_lock_unqueued</c>).</summary>
    public long ReaderSpins, ReaderSpinAcquisitions;

    /// <summary>5.3: read locks taken by <c>rwsem_reader_phase_trylock</c> after a failed reader spin.</summary>
    public long ReaderPhaseTrylocks;

    /// <summary>5.3: spins not started because the owner field's nonspinnable bit for this side was set.</summary>
    public long SpinSkippedNonspinnable;

    /// <summary>5.3: spins not started because the writer owner was off its CPU or its VCPU was preempted (<c>owner_on_cpu</c> false).</summary>
    public long SpinSkippedOwnerNotRunning;

    /// <summary>5.3: writer spins on a reader-owned lock that passed <c>rwsem_rspin_threshold</c> (and set the nonspinnable bits).</summary>
    public long SpinReaderOwnedTimeouts;

    /// <summary>5.3: RWSEM_FLAG_HANDOFF set by a reader grant that failed (<c>rwsem_mark_wake</c>) or by a writer (<c>rwsem_try_write_lock</c>).</summary>
    public long HandoffsSetByReader, HandoffsSetByWriter;

    /// <summary>5.3: hand-off writers that spun on the owner (<c>rwsem_spin_on_owner</c> in the slow-path loop).</summary>
    public long HandoffSpins;

    /// <summary>6.1: read locks taken by the slow path's reader optimistic lock stealing (no spin).</summary>
    public long ReaderSteals;

    /// <summary>This semaphore runs 6.1's variant.</summary>
    public bool Rwsem61 => _v61;

    /// <summary>This semaphore runs the 5.3 algorithm.</summary>
    public bool Rwsem53 => _v53;

    /// <summary>RWSEM_FLAG_HANDOFF (5.3).</summary>
    public bool Handoff => _handoff;

    /// <summary>RWSEM_RD_NONSPINNABLE / RWSEM_WR_NONSPINNABLE in the owner field (5.3).</summary>
    public bool ReaderNonspinnable => _rdNonspinnable;
    public bool WriterNonspinnable => _wrNonspinnable;

    /// <summary>The count's reader field (holders and readers still carrying a fast-path bias), 5.3.</summary>
    public int ReaderCount => Readers + _readBias;

    /// <summary>RWSEM_LOCK_MASK: a writer or any reader bias.</summary>
    private bool Locked53 => Writer is not null || Readers + _readBias > 0;

    private long Jiffies => _k.Kvm.Sim.Now.Ns / S.TickPeriod.Ns;

    /// <summary>RWSEM_WAIT_TIMEOUT: DIV_ROUND_UP(HZ, 250) jiffies (4 ms, or one jiffy when HZ is below 250).</summary>
    private long WaitTimeoutJiffies => (S.Hz + 249) / 250;

    private void Run53(GuestThread thread, IActionSink sink, int code, long atomic)
    {
        switch (code)
        {
            case OpDownRead:
            {
                ReadAcquisitions++;
                if (Writer is null && _count == 0 && !_handoff)
                {
                    Readers++; // rwsem_read_trylock: none of RWSEM_READ_FAILED_MASK
                    SetReaderOwned53(thread);
                    sink.EmitNow(GuestAction.Compute(atomic));
                    break;
                }
                ReadSlow++;
                var w = Waiter(thread, sink, writer: false);
                _readBias++; // the bias stays in the count until backed out
                w.BiasHeld = true;
                w.Granted = false;
                w.HandoffSet = false;
                if (_v61)
                {
                    ReadSlowPath61(thread, sink, w, atomic);
                    break;
                }
                // rwsem_down_read_slowpath: waiter.last_rowner.
                w.LastRowner = _readerOwned ? _rowner : null;
                w.LastRdNonspinnable = _rdNonspinnable;
                w.SpinMode = ModeReader;
                sink.EmitNow(GuestAction.Compute(atomic), GuestAction.OwnerSpin(this));
                break;
            }
            case Op53ReadQueue:
                ReadQueue53(thread, sink);
                break;
            case Op53ReadWoken:
                ReaderWaitStep(sink, Op53ReadWoken);
                break;
            case Op53WakeReadOwned:
                // The spinning reader took the lock with waiters queued: wake readers (RWSEM_WAKE_READ_OWNED).
                if (_count > 0)
                    MarkWake53(sink, RwSemWake.ReadOwned);
                sink.EmitNow(GuestAction.Release(WaitLock));
                break;
            case OpDownWrite:
            {
                WriteAcquisitions++;
                if (!Locked53 && _count == 0 && !_handoff)
                {
                    TakeWrite53(thread, disableReaderSpin: false);
                    sink.EmitNow(GuestAction.Compute(atomic));
                    break;
                }
                WriteSlow++;
                var w = Waiter(thread, sink, writer: true);
                w.SpinMode = ModeWriter;
                w.HandoffSet = false;
                sink.EmitNow(GuestAction.Compute(atomic), GuestAction.OwnerSpin(this));
                break;
            }
            case Op53WriteQueue:
            {
                // rwsem_down_write_slowpath after the spin, under wait_lock.
                var w = sink.RwSemWaiter!;
                w.WState = _count == 0 ? WriterFirst : WriterNotFirst;
                Enqueue(w);
                if (w.WState == WriterNotFirst && Writer is null)
                {
                    // 5.3: wake readers ahead (or the head, nobody holding it); 6.1: rwsem_cond_wake_waiter.
                    sink.EmitNow(GuestAction.Call(this, Op53WriteRetry));
                    CondWakeWaiter(sink);
                    break;
                }
                WriteLoop53(thread, sink);
                break;
            }
            case Op53WriteRetry:
                WriteLoop53(thread, sink);
                break;
            case Op53WriteWoken:
            {
                // The block loop after schedule().
                var w = sink.RwSemWaiter!;
                if (_v61)
                {
                    // 6.1: every wake-up retries rwsem_try_write_lock.
                    if (Locked53)
                        WriterRetriesLost++;
                    sink.EmitNow(GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53WriteRetry));
                    break;
                }
                if (w.WState == WriterHandoff)
                {
                    sink.EmitNow(GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53WriteRetry));
                    break;
                }
                if (w.WState == WriterNotFirst && _count > 0 && _wait[_head] == w)
                    w.WState = WriterFirst;
                if (!Locked53)
                {
                    sink.EmitNow(GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53WriteRetry));
                    break;
                }
                if (w.WState == WriterFirst && Jiffies > w.Timeout)
                {
                    w.WState = WriterHandoff; // the hand-off bit is set by rwsem_try_write_lock
                    sink.EmitNow(GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53WriteRetry));
                    break;
                }
                WriterRetriesLost++;
                sink.EmitNow(GuestAction.Wait(w.Queue), GuestAction.Call(this, Op53WriteWoken));
                break;
            }
            case OpUpRead:
                if (Readers <= 0)
                    throw new InvalidOperationException($"{thread}: up_read on {Name} without a reader");
                Readers--;
                if (Readers == 0 && _handoff)
                    ReclassifySpinners(); // ground truth: the lock is free and reserved by the hand-off bit
                if (!Locked53 && _count > 0)
                {
                    ClearNonspinnable();
                    sink.EmitNow(GuestAction.Compute(atomic), GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53Wake));
                }
                else
                    sink.EmitNow(GuestAction.Compute(atomic));
                if (!Locked53)
                    NotifySpinners(); // spinners on a reader-owned lock see the count drop to 0
                break;
            case OpUpWrite:
                if (Writer != thread)
                    throw new InvalidOperationException($"{thread}: up_write on {Name} held by {Writer}");
                // rwsem_clear_owner (the whole owner field, flags too), then the release.
                Writer = null;
                _owner = null;
                _readerOwned = false;
                _rowner = null;
                _rdNonspinnable = _wrNonspinnable = false;
                OwnerChanged();
                if (_count > 0)
                    sink.EmitNow(GuestAction.Compute(atomic), GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53Wake));
                else
                    sink.EmitNow(GuestAction.Compute(atomic));
                break;
            case Op53Wake:
                // rwsem_wake under wait_lock: mark, unlock, then wake_up_q.
                if (_count > 0)
                    MarkWake53(sink, RwSemWake.Any);
                sink.EmitNow(GuestAction.Release(WaitLock));
                break;
            default:
                throw new InvalidOperationException($"{Name}: operation {code} is not one of 5.3's");
        }
    }

    /// <summary>The queue part of <c>rwsem_down_read_slowpath</c>, under <c>wait_lock</c>.</summary>
    private void ReadQueue53(GuestThread thread, IActionSink sink)
    {
        var w = sink.RwSemWaiter!;
        bool wasEmpty = _count == 0;
        // 6.1 no longer looks at the hand-off bit here (an empty list has none).
        if (wasEmpty && w.BiasHeld && Writer is null && (_v61 || !_handoff))
        {
            // The list is empty and nobody excludes it: the bias already in the count is the read lock.
            w.BiasHeld = false;
            _readBias--;
            Readers++;
            w.Thread = null;
            if (!SetReaderOwned53(thread) && _handoff)
                ReclassifySpinners(); // ground truth: held again, no longer free and reserved
            sink.EmitNow(GuestAction.Release(WaitLock));
            return;
        }
        w.Timeout = Jiffies + WaitTimeoutJiffies;
        Enqueue(w);
        if (w.BiasHeld)
        {
            w.BiasHeld = false;
            _readBias--; // "no longer actively locking"
            if (!Locked53)
                NotifySpinners();
        }
        // Sleep until granted (queued first, so that the wake-ups and the unlock come before it).
        sink.EmitNow(GuestAction.Wait(w.Queue), GuestAction.Call(this, Op53ReadWoken));
        if (_v61)
        {
            CondWakeWaiter(sink);
            sink.EmitNow(GuestAction.Release(WaitLock));
            return;
        }
        bool wake = false;
        if (!Locked53)
        {
            _wrNonspinnable = false; // clear_wr_nonspinnable
            wake = true;
        }
        if (wake || (Writer is null && wasEmpty))
            MarkWake53(sink, RwSemWake.Any);
        sink.EmitNow(GuestAction.Release(WaitLock));
    }

    /// <summary>The <c>rwsem_try_write_lock</c> loop of <c>rwsem_down_write_slowpath</c>, under <c>wait_lock</c>.</summary>
    private void WriteLoop53(GuestThread thread, IActionSink sink)
    {
        var w = sink.RwSemWaiter!;
        if (TryWriteLock53(w))
        {
            Remove(w);
            w.Thread = null;
            TakeWrite53(thread, w.DisableRspin);
            sink.EmitNow(GuestAction.Release(WaitLock));
            return;
        }
        if (_v61 ? w.HandoffSet : w.WState == WriterHandoff)
        {
            // After setting the hand-off bit: spin on a running writer owner; OWNER_NULL → trylock again.
            w.SpinMode = ModeHandoff;
            sink.EmitNow(GuestAction.Release(WaitLock), GuestAction.OwnerSpin(this));
            return;
        }
        WriterSleeps++;
        sink.EmitNow(GuestAction.Release(WaitLock), GuestAction.Wait(w.Queue), GuestAction.Call(this, Op53WriteWoken));
    }

    /// <summary><c>rwsem_try_write_lock(sem, wstate)</c> (5.3).</summary>
    private bool TryWriteLock53(RwSemWaiter w)
    {
        if (_v61)
            return TryWriteLock61(w);
        if (_handoff && w.WState == WriterNotFirst)
            return false;
        if (Locked53)
        {
            if (_handoff || w.WState != WriterHandoff)
                return false;
            _handoff = true;
            HandoffsSetByWriter++;
            ReclassifySpinners(); // ground truth: a free lock (only biases in the count) is now reserved
            return false;
        }
        _handoff = false; // took it: the hand-off bit (if any) is cleared with the same cmpxchg
        return true;
    }

    /// <summary><c>rwsem_set_owner</c> (the owner field becomes the task: nonspinnable bits cleared), then <c>rwsem_disable_reader_optspin</c>.</summary>
    private void TakeWrite53(GuestThread t, bool disableReaderSpin, bool notify = true)
    {
        Writer = t;
        _owner = t;
        _readerOwned = false;
        _rowner = null;
        _wrNonspinnable = false;
        _rdNonspinnable = disableReaderSpin;
        if (notify)
            OwnerChanged();
        else
            ReclassifySpinners(); // a spinner took it: Leave tells the next OSQ node
    }

    /// <summary><c>__rwsem_set_reader_owned</c>: the reader task with RWSEM_READER_OWNED; RD_NONSPINNABLE is kept, WR_NONSPINNABLE is not.</summary>
    private bool SetReaderOwned53(GuestThread? t, bool notify = true)
    {
        // 6.1 keeps its single RWSEM_NONSPINNABLE bit.
        bool changed = !_readerOwned || (_wrNonspinnable && !_v61);
        _readerOwned = true;
        _owner = null;
        _rowner = t;
        if (!_v61)
            _wrNonspinnable = false;
        if (!changed)
            return false;
        if (notify)
            OwnerChanged();
        else
            ReclassifySpinners();
        return true;
    }

    private enum RwSemWake
    {
        Any,
        Readers,
        ReadOwned,
    }

    /// <summary><c>rwsem_mark_wake</c> (5.3) under <c>wait_lock</c>, the list not empty.</summary>
    private void MarkWake53(IActionSink waker, RwSemWake type)
    {
        var head = _wait[_head];
        if (head.Writer)
        {
            if (type == RwSemWake.Any)
            {
                Grants++;
                waker.EmitNow(GuestAction.Signal(head.Queue));
            }
            return;
        }
        if (type != RwSemWake.ReadOwned)
        {
            if (Writer is not null)
            {
                // The first grant failed: a writer stole it. Past the head's timeout, ask for a hand-off.
                if (Jiffies > head.Timeout)
                {
                    if (!_handoff)
                    {
                        _handoff = true;
                        HandoffsSetByReader++;
                    }
                    if (_v61)
                        head.HandoffSet = true;
                }
                return;
            }
            if (head.LastRdNonspinnable)
                _rdNonspinnable = true;
            // Spinners are told once the readers are counted (the kernel's first grant is in the count before the owner field).
            SetReaderOwned53(head.Thread, notify: false);
        }
        // Every reader in the queue, up to MAX_READERS_WAKEUP; writers keep their places.
        int n = 0, kept = 0, total = _count;
        for (int i = 0; i < total; i++)
        {
            int at = (_head + i) % _wait.Length;
            var w = _wait[at];
            _wait[at] = null!;
            if (!w.Writer && n < MaxReadersWakeup)
            {
                Readers++;
                w.Granted = true;
                if (n == _woken.Length)
                    Array.Resize(ref _woken, n * 2);
                _woken[n++] = w;
            }
            else
            {
                _wait[(_head + kept) % _wait.Length] = w;
                kept++;
            }
        }
        _count = kept;
        if (n > 0 && _handoff)
        {
            _handoff = false;
            ReclassifySpinners(); // ground truth: readers hold it now, no longer reserved
        }
        Grants += n;
        NotifySpinners();
        for (int i = n - 1; i >= 0; i--)
        {
            waker.EmitNow(GuestAction.Signal(_woken[i].Queue));
            _woken[i] = null!;
        }
    }

    // ------------------------------------------------------------------ rwsem_optimistic_spin (5.3)

    /// <summary><c>rwsem_owner_state</c> with the given nonspinnable bits.</summary>
    private byte OwnerState53(bool rd, bool wr)
    {
        if ((rd && _rdNonspinnable) || (wr && _wrNonspinnable))
            return OwnerNonspinnable;
        if (_readerOwned)
            return OwnerReader;
        return _owner is not null ? OwnerWriter : OwnerNull;
    }

    /// <summary><c>rwsem_can_spin_on_owner(sem, nonspinnable)</c>.</summary>
    private bool CanSpin53(GuestCpu cpu, bool writer)
    {
        if (cpu.NeedResched)
            return false;
        if (writer ? _wrNonspinnable : _rdNonspinnable)
        {
            SpinSkippedNonspinnable++;
            return false;
        }
        // A reader owner is not checked (the entry may be stale).
        if (_owner is { } o && !_readerOwned && !(OnCpu(o) && !Preempted(o.Cpu)))
        {
            SpinSkippedOwnerNotRunning++;
            return false;
        }
        return true;
    }

    private void EnsureSpinState()
    {
        if (_spinMode is not null)
            return;
        int n = _k.Cpus.Length;
        _spinMode = new byte[n];
        _spinPrev = new byte[n];
        _spinResult = new byte[n];
        _spinThreshold = new long[n];
        _hspinOwner = new GuestThread?[n];
        _hspin = new List<GuestCpu>(n);
        _rspinTimer = new HrTimer(_k.Kvm.Sim, this);
    }

    private bool BeginSpin53(GuestCpu cpu)
    {
        var w = Sink(cpu).RwSemWaiter!;
        EnsureSpinState();
        int c = cpu.Index;
        _spinMode![c] = w.SpinMode;
        if (w.SpinMode == ModeHandoff)
        {
            byte state = OwnerState53(true, true);
            if (state == OwnerNull)
            {
                Sink(cpu).EmitNow(GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53WriteRetry));
                return false;
            }
            if (state != OwnerWriter)
            {
                WriterSleeps++;
                Sink(cpu).EmitNow(GuestAction.Wait(w.Queue), GuestAction.Call(this, Op53WriteWoken));
                return false;
            }
            HandoffSpins++;
            _hspinOwner![c] = _owner;
            _k.EnsureStealPoll();
            _hspin!.Add(cpu);
        }
        else
        {
            bool writer = w.SpinMode == ModeWriter;
            if (!CanSpin53(cpu, writer))
            {
                SpinFailed53(cpu, w);
                return false;
            }
            if (writer)
                Spins++;
            else
            {
                ReaderSpins++;
                // Undo the read bias from down_read before spinning.
                w.BiasHeld = false;
                _readBias--;
                if (!Locked53)
                    NotifySpinners(); // the count's lock bits just cleared
            }
            _spinPrev![c] = OwnerNull;
            _k.EnsureStealPoll();
            _osq!.Add(cpu);
        }
        if (!TryAcquire53(cpu))
        {
            TraceSpinStart(cpu, w.SpinMode switch { ModeHandoff => OwnerSpinKind.RwsemHandoff, ModeReader => OwnerSpinKind.RwsemReader, _ => OwnerSpinKind.RwsemWriter });
            return true;
        }
        SpinEnded53(cpu);
        return false;
    }

    private bool TryAcquire53(GuestCpu cpu)
    {
        var r = Step53(cpu);
        if (r == SpinStep.KeepSpinning)
            return false;
        _spinResult![cpu.Index] = r == SpinStep.Acquired ? ResultAcquired : ResultGiveUp;
        if (_spinMode![cpu.Index] == ModeHandoff)
        {
            _hspin!.Remove(cpu);
            _hspinOwner![cpu.Index] = null;
        }
        else
        {
            Leave(cpu);
            if (_osq!.Count == 0)
                _rspinTimer!.Cancel();
        }
        return true;
    }

    /// <summary>One look of a spinner (5.3): an OSQ node waits its turn; the head runs the <c>rwsem_optimistic_spin</c> loop; a hand-off writer runs <c>rwsem_spin_on_owner</c>.</summary>
    private SpinStep Step53(GuestCpu cpu)
    {
        int c = cpu.Index;
        byte mode = _spinMode![c];
        if (mode == ModeHandoff)
        {
            // rwsem_spin_on_owner(sem, RWSEM_NONSPINNABLE): go on while the same writer owns it and runs.
            byte hs = OwnerState53(true, true);
            if (hs == OwnerWriter && _owner == _hspinOwner![c])
            {
                var ho = _owner!;
                if (cpu.NeedResched || !OnCpu(ho))
                {
                    SpinGiveUps++;
                    return SpinStep.GiveUp;
                }
                if (Preempted(ho.Cpu))
                {
                    SpinGiveUpsVcpuPreempted++;
                    return SpinStep.GiveUp;
                }
                return SpinStep.KeepSpinning;
            }
            return hs == OwnerNull ? SpinStep.Acquired : SpinStep.GiveUp; // OWNER_NULL: trylock again
        }
        if (OsqWaiterStep(cpu) is SpinStep waiting)
            return waiting;
        bool writer = mode == ModeWriter;
        byte state = OwnerState53(!writer, writer);
        if (state == OwnerNonspinnable)
        {
            SpinGiveUps++;
            return SpinStep.GiveUp;
        }
        if (state == OwnerWriter)
        {
            var o = _owner!;
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
            _spinPrev![c] = OwnerWriter;
            return SpinStep.KeepSpinning;
        }
        // OWNER_READER or OWNER_NULL: try the lock.
        if (writer)
        {
            if (!Locked53 && !_handoff)
            {
                // rwsem_try_write_lock_unqueued
                SpinAcquisitions++;
                if (_count > 0)
                    SpinSteals++;
                TakeWrite53(cpu.Curr!, disableReaderSpin: false, notify: false);
                return SpinStep.Acquired;
            }
        }
        else if (Writer is null && !_handoff)
        {
            // rwsem_try_read_lock_unqueued: waiters or not.
            ReaderSpinAcquisitions++;
            Readers++;
            SetReaderOwned53(cpu.Curr, notify: false);
            return SpinStep.Acquired;
        }
        if (writer && state == OwnerReader)
        {
            long now = _k.Kvm.Sim.Now.Ns;
            if (_spinPrev![c] != OwnerReader)
            {
                // rwsem_rspin_threshold: (20 + readers) / 2 µs, readers capped at 30.
                int readers = Math.Min(Readers + _readBias, 30);
                _spinThreshold![c] = now + (20 + readers) * 1000L / 2;
                _rspinTimer!.Start(new SimTime(_spinThreshold[c] + 1));
            }
            else if (now > _spinThreshold![c])
            {
                // rwsem_set_nonspinnable: both bits, while it is reader-owned.
                SpinReaderOwnedTimeouts++;
                _rdNonspinnable = _wrNonspinnable = true;
                _spinPrev[c] = OwnerReader;
                return SpinStep.GiveUp;
            }
        }
        if (cpu.NeedResched)
        {
            SpinGiveUps++;
            return SpinStep.GiveUp;
        }
        _spinPrev![c] = state;
        return SpinStep.KeepSpinning;
    }

    private void SpinEnded53(GuestCpu cpu)
    {
        var sink = Sink(cpu);
        var w = sink.RwSemWaiter!;
        int c = cpu.Index;
        bool acquired = _spinResult![c] == ResultAcquired;
        _spinResult[c] = ResultGiveUp;
        _k.Observer?.OwnerSpinEnd(cpu.Curr, cpu, acquired);
        switch (_spinMode![c])
        {
            case ModeHandoff:
                if (acquired)
                    sink.EmitNow(GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53WriteRetry));
                else
                {
                    WriterSleeps++;
                    sink.EmitNow(GuestAction.Wait(w.Queue), GuestAction.Call(this, Op53WriteWoken));
                }
                return;
            case ModeWriter:
                if (acquired)
                {
                    w.Thread = null;
                    sink.EmitNow(GuestAction.Compute(S.Costs.LockHandover.Ns));
                }
                else
                    SpinFailed53(cpu, w);
                return;
            default:
                if (acquired)
                {
                    w.Thread = null;
                    // Readers queued behind: wake them (RWSEM_WAKE_READ_OWNED) under wait_lock.
                    if (_count > 0)
                        sink.EmitNow(GuestAction.Compute(S.Costs.LockHandover.Ns), GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53WakeReadOwned));
                    else
                        sink.EmitNow(GuestAction.Compute(S.Costs.LockHandover.Ns));
                    return;
                }
                // rwsem_reader_phase_trylock: readers own it now, and not the reader seen at entry.
                if (_readerOwned && _rowner != w.LastRowner && Writer is null && !_handoff)
                {
                    ReaderPhaseTrylocks++;
                    Readers++;
                    w.Thread = null;
                    SetReaderOwned53(cpu.Curr);
                    sink.EmitNow(GuestAction.Compute(S.Costs.LockAcquire.Ns));
                    return;
                }
                SpinFailed53(cpu, w);
                return;
        }
    }

    /// <summary>No spin, or a failed one: to the queue under <c>wait_lock</c>.</summary>
    private void SpinFailed53(GuestCpu cpu, RwSemWaiter w)
    {
        if (w.Writer)
        {
            w.DisableRspin = !_v61 && (_rdNonspinnable || _wrNonspinnable); // rwsem_disable_reader_optspin is 5.3's
            w.Timeout = Jiffies + WaitTimeoutJiffies;
            Sink(cpu).EmitNow(GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53WriteQueue));
        }
        else
            Sink(cpu).EmitNow(GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53ReadQueue));
    }

    /// <summary>
    /// 6.1 <c>rwsem_down_read_slowpath</c> up to the queue: no spinning; reader optimistic lock
    /// stealing unless readers own it with others (so that a stream of readers cannot starve a
    /// sleeping waiter) — it takes the lock when no writer holds it and no hand-off is pending, and
    /// if it is the only reader, wakes the readers queued (RWSEM_WAKE_READ_OWNED).
    /// </summary>
    private void ReadSlowPath61(GuestThread thread, IActionSink sink, RwSemWaiter w, long atomic)
    {
        int rcnt = Readers + _readBias; // count >> RWSEM_READER_SHIFT, this reader's bias included
        if (!(_readerOwned && rcnt > 1 && Writer is null) && Writer is null && !_handoff)
        {
            ReaderSteals++;
            w.BiasHeld = false;
            _readBias--;
            Readers++; // the bias is the lock
            w.Thread = null;
            SetReaderOwned53(thread);
            if (rcnt == 1 && _count > 0)
                sink.EmitNow(GuestAction.Compute(atomic), GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53WakeReadOwned));
            else
                sink.EmitNow(GuestAction.Compute(atomic));
            return;
        }
        sink.EmitNow(GuestAction.Compute(atomic), GuestAction.Acquire(WaitLock), GuestAction.Call(this, Op53ReadQueue));
    }

    /// <summary>
    /// The slow paths' wake-up of the waiters queued ahead, under <c>wait_lock</c>. 5.3 (writer, not
    /// first): unless a writer holds it, readers if readers hold it, else whatever heads the queue.
    /// 6.1 <c>rwsem_cond_wake_waiter</c>: the same, and with nobody holding it, clear_nonspinnable.
    /// </summary>
    private void CondWakeWaiter(IActionSink sink)
    {
        if (Writer is not null)
            return;
        if (Readers + _readBias > 0)
            MarkWake53(sink, RwSemWake.Readers);
        else
        {
            if (_v61)
                ClearNonspinnable();
            MarkWake53(sink, RwSemWake.Any);
        }
    }

    /// <summary>5.3 <c>clear_wr_nonspinnable</c>; 6.1 <c>clear_nonspinnable</c> (its one bit).</summary>
    private void ClearNonspinnable()
    {
        _wrNonspinnable = false;
        if (_v61)
            _rdNonspinnable = false;
    }

    /// <summary>
    /// 6.1 <c>rwsem_try_write_lock(sem, waiter)</c>: a hand-off bit binds only when the first waiter
    /// set it (<c>handoff_set</c>) and this is not that waiter; any waiter past its timeout may set
    /// the bit, and it is the first waiter that gets <c>handoff_set</c>.
    /// </summary>
    private bool TryWriteLock61(RwSemWaiter w)
    {
        var first = _wait[_head];
        if (_handoff && first.HandoffSet && w != first)
            return false;
        if (Locked53)
        {
            if (_handoff || Jiffies <= w.Timeout)
                return false;
            _handoff = true;
            first.HandoffSet = true;
            HandoffsSetByWriter++;
            ReclassifySpinners(); // ground truth, as in TryWriteLock53
            return false;
        }
        _handoff = false;
        return true;
    }

    /// <summary>The reader-owned spin threshold passed: the spinner looks again.</summary>
    void IEventHandler.OnEvent(Simulator sim, long arg)
    {
        if (_osq!.Count > 0)
            NotifySpinners();
    }
}

namespace PleSim.Guest;

/// <summary>
/// A thread program that lets kernel primitives insert actions to run next (before anything it
/// already planned): a sleeping lock's slow path decides, when it runs, whether the thread takes
/// the wait lock, queues and sleeps, or wakes others.
/// </summary>
public interface IActionSink
{
    /// <summary>Inserts <paramref name="actions"/> to run before anything already planned (in the given order).</summary>
    void EmitNow(params ReadOnlySpan<GuestAction> actions);

    /// <summary>This task's rw_semaphore waiter (its own wait queue to sleep on), or null if it never sleeps on one.</summary>
    RwSemWaiter? RwSemWaiter { get; }
}

/// <summary>
/// The <c>struct rwsem_waiter</c> a task puts on a semaphore's wait list (on its stack in the
/// kernel; preallocated here, one per task): whether it wants to write, and the task to wake.
/// The sleep is a <see cref="WaitQueue"/> of its own, so a grant that comes before the task went
/// to sleep leaves a pending wake-up it consumes (2.6.39 lib/rwsem.c: the waker clears
/// <c>waiter->task</c>; the sleeper loops until it is NULL).
/// </summary>
public sealed class RwSemWaiter
{
    public RwSemWaiter(GuestKernel kernel, string name)
    {
        Queue = kernel.NewWaitQueue(name + ".rwsem_wait");
        Queue.TaskState = true;
    }

    /// <summary>
    /// The slow path's start: the task fills in its waiter and sets its state for the wait
    /// (<c>set_current_state(TASK_UNINTERRUPTIBLE)</c> in every version's slow path), which drops any
    /// wake-up left over from an earlier wait (decision 0089). Nobody can grant this wait before
    /// the waiter is queued, which comes after this.
    /// </summary>
    internal void Begin(GuestThread thread, bool writer)
    {
        Writer = writer;
        Thread = thread;
        Queue.Pending = 0;
    }

    public WaitQueue Queue { get; }
    internal bool Writer;
    internal GuestThread? Thread;

    /// <summary>4.19: a reader's <c>waiter.task</c> was cleared by <c>__rwsem_mark_wake</c> (the read lock is its own).</summary>
    internal bool Granted;

    /// <summary>5.3: <c>waiter.timeout</c>, in jiffies (<c>jiffies + RWSEM_WAIT_TIMEOUT</c> when it queued).</summary>
    internal long Timeout;

    /// <summary>5.3: a reader's RWSEM_READER_BIAS from the failed fast path is still in the count (it did not spin).</summary>
    internal bool BiasHeld;

    /// <summary>5.3: <c>waiter.last_rowner</c>: the reader task in the owner field at slowpath entry (null if not reader-owned), and its RWSEM_RD_NONSPINNABLE bit.</summary>
    internal GuestThread? LastRowner;
    internal bool LastRdNonspinnable;

    /// <summary>5.3: the writer's <c>disable_rspin</c> (nonspinnable bits seen after its spin failed) and <c>wstate</c>.</summary>
    internal bool DisableRspin;
    internal byte WState;

    /// <summary>6.1: <c>waiter.handoff_set</c> (this waiter, first in the list, is the one the hand-off bit is for).</summary>
    internal bool HandoffSet;

    /// <summary>5.3: what the next owner spin of this task is (writer or reader <c>rwsem_optimistic_spin</c>, or the hand-off writer's <c>rwsem_spin_on_owner</c>).</summary>
    internal byte SpinMode;
}

/// <summary>
/// <c>struct rw_semaphore</c> of a 2.6.39 x86 guest (lib/rwsem.c, the XADD algorithm, with the
/// semantics rwsem-spinlock.c spells out): readers share, a writer excludes everyone; the fast
/// paths are one atomic on the count and succeed only when nobody is active against them and no
/// one waits; otherwise the task takes <c>wait_lock</c> (spin_lock_irq), queues FIFO and sleeps.
/// A queued writer therefore blocks later readers. The last releaser takes <c>wait_lock</c>
/// (spin_lock_irqsave, <c>rwsem_wake</c>) and <c>__rwsem_do_wake</c> grants the lock to the run of
/// readers at the head of the queue or to the single writer there, and wakes them with the lock
/// already theirs (hand-off: nobody can steal it in between). No optimistic spinning: 2.6.39 has
/// none (it came with 3.16's rwsem-xadd.c <c>rwsem_optimistic_spin</c>); <c>guest.rwsem: "4.19"</c>
/// runs 4.19's algorithm instead (GuestRwSem.Xadd419.cs, decision 0050).
/// Operations are <see cref="GuestAction.Call"/>s of this object (see <see cref="DownRead"/> etc.):
/// the decision is taken when the thread reaches that point in guest time, and the slow path's
/// actions are inserted into the thread's program (<see cref="IActionSink"/>).
/// </summary>
public sealed partial class GuestRwSem : IGuestCallback
{
    private const int OpDownRead = 0, OpUpRead = 1, OpDownWrite = 2, OpUpWrite = 3, OpSlow = 4, OpWake = 5;

    private readonly GuestKernel _k;
    private RwSemWaiter[] _wait = new RwSemWaiter[16]; // FIFO ring (sem->wait_list)
    private int _head;
    private int _count;

    public GuestRwSem(GuestKernel kernel, string name)
    {
        _k = kernel;
        Name = name;
        // 2.6.39: rwsem_down_failed_common takes it with spin_lock_irq, rwsem_wake with spin_lock_irqsave.
        WaitLock = kernel.NewLock(name + ".wait_lock", LockIrq.IrqSave);
        if (kernel.Settings.RwSem is RwSemAlgorithm.Xadd419 or RwSemAlgorithm.Rwsem53 or RwSemAlgorithm.Rwsem61)
        {
            _xadd419 = kernel.Settings.RwSem == RwSemAlgorithm.Xadd419;
            _v53 = !_xadd419;
            _v61 = kernel.Settings.RwSem == RwSemAlgorithm.Rwsem61;
            _osq = new List<GuestCpu>(kernel.Cpus.Length);
            kernel.RegisterRwSem(this);
        }
    }

    public string Name { get; }

    /// <summary><c>sem->wait_lock</c>.</summary>
    public GuestSpinLock WaitLock { get; }

    /// <summary>Readers holding it now.</summary>
    public int Readers { get; private set; }

    /// <summary>The writer holding it, or null.</summary>
    public GuestThread? Writer { get; private set; }

    public int Waiting => _count;

    /// <summary>Acquisitions, those that had to queue (slow path), and wake-ups granted.</summary>
    public long ReadAcquisitions, WriteAcquisitions, ReadSlow, WriteSlow, Grants;

    public GuestAction DownRead => GuestAction.Call(this, OpDownRead);
    public GuestAction UpRead => GuestAction.Call(this, OpUpRead);
    public GuestAction DownWrite => GuestAction.Call(this, OpDownWrite);
    public GuestAction UpWrite => GuestAction.Call(this, OpUpWrite);

    /// <summary>The waiting tasks, head first (for tests).</summary>
    public GuestThread? WaiterAt(int i) => i < _count ? _wait[(_head + i) % _wait.Length].Thread : null;

    public override string ToString() => Name;

    public void Run(GuestThread thread, int code)
    {
        var sink = thread.Program as IActionSink
            ?? throw new InvalidOperationException($"{thread}: {Name} needs a program that is an IActionSink");
        long atomic = _k.Settings.Costs.LockAcquire.Ns; // the locked xadd/cmpxchg on sem->count
        if (_xadd419)
        {
            Run419(thread, sink, code, atomic);
            return;
        }
        if (_v53)
        {
            Run53(thread, sink, code, atomic);
            return;
        }
        switch (code)
        {
            case OpDownRead:
                ReadAcquisitions++;
                if (Writer is null && _count == 0)
                {
                    Readers++; // __down_read: count was >= 0 after the increment
                    sink.EmitNow(GuestAction.Compute(atomic));
                }
                else
                {
                    ReadSlow++;
                    SlowPath(thread, sink, writer: false, atomic);
                }
                break;
            case OpDownWrite:
                WriteAcquisitions++;
                if (Writer is null && Readers == 0 && _count == 0)
                {
                    Writer = thread; // __down_write: the count was 0 (unlocked, no waiters)
                    sink.EmitNow(GuestAction.Compute(atomic));
                }
                else
                {
                    WriteSlow++;
                    SlowPath(thread, sink, writer: true, atomic);
                }
                break;
            case OpUpRead:
                if (Readers <= 0)
                    throw new InvalidOperationException($"{thread}: up_read on {Name} without a reader");
                Readers--;
                // __up_read: the last active locker with waiters queued calls rwsem_wake.
                if (Readers == 0 && _count > 0)
                    sink.EmitNow(GuestAction.Compute(atomic), GuestAction.Acquire(WaitLock), GuestAction.Call(this, OpWake), GuestAction.Release(WaitLock));
                else
                    sink.EmitNow(GuestAction.Compute(atomic));
                break;
            case OpUpWrite:
                if (Writer != thread)
                    throw new InvalidOperationException($"{thread}: up_write on {Name} held by {Writer}");
                Writer = null;
                if (_count > 0)
                    sink.EmitNow(GuestAction.Compute(atomic), GuestAction.Acquire(WaitLock), GuestAction.Call(this, OpWake), GuestAction.Release(WaitLock));
                else
                    sink.EmitNow(GuestAction.Compute(atomic));
                break;
            case OpSlow:
            {
                // rwsem_down_failed_common under wait_lock: queue at the tail; if nobody is active
                // any more (the holder left between the failed fast path and here), wake the head.
                var w = sink.RwSemWaiter ?? throw new InvalidOperationException($"{thread}: no rwsem waiter");
                Enqueue(w);
                if (Readers == 0 && Writer is null)
                    DoWake(sink);
                break;
            }
            case OpWake:
                if (Readers == 0 && Writer is null && _count > 0)
                    DoWake(sink);
                break;
        }
    }

    /// <summary>The slow path: wait_lock, queue (and maybe wake the head), unlock, sleep until granted.</summary>
    private void SlowPath(GuestThread thread, IActionSink sink, bool writer, long atomic)
    {
        var w = sink.RwSemWaiter ?? throw new InvalidOperationException($"{thread}: {Name}'s slow path needs an RwSemWaiter");
        w.Begin(thread, writer);
        sink.EmitNow(GuestAction.Compute(atomic), GuestAction.Acquire(WaitLock), GuestAction.Call(this, OpSlow), GuestAction.Release(WaitLock), GuestAction.Wait(w.Queue));
    }

    /// <summary>
    /// <c>__rwsem_do_wake</c> (2.6.39) with nobody active: a writer at the head gets the lock alone;
    /// otherwise every reader at the head up to the first writer gets it. Each is dequeued and woken
    /// (wake_up_process under wait_lock: the waker's program signals their queues next).
    /// </summary>
    private void DoWake(IActionSink waker)
    {
        int n = 0;
        if (_wait[_head].Writer)
        {
            var w = Dequeue();
            Writer = w.Thread;
            _woken[n++] = w;
        }
        else
        {
            while (_count > 0 && !_wait[_head].Writer)
            {
                var w = Dequeue();
                Readers++;
                if (n == _woken.Length)
                    Array.Resize(ref _woken, n * 2);
                _woken[n++] = w;
            }
        }
        Grants += n;
        // Insert the wake-ups in queue order (EmitNow puts each in front, so go backwards).
        for (int i = n - 1; i >= 0; i--)
        {
            waker.EmitNow(GuestAction.Signal(_woken[i].Queue));
            _woken[i] = null!;
        }
    }

    private RwSemWaiter[] _woken = new RwSemWaiter[16];

    private void Enqueue(RwSemWaiter w)
    {
        if (_count == _wait.Length)
        {
            var b = new RwSemWaiter[_wait.Length * 2];
            for (int i = 0; i < _count; i++)
                b[i] = _wait[(_head + i) % _wait.Length];
            _wait = b;
            _head = 0;
        }
        _wait[(_head + _count) % _wait.Length] = w;
        _count++;
    }

    private RwSemWaiter Dequeue()
    {
        var w = _wait[_head];
        _wait[_head] = null!;
        _head = (_head + 1) % _wait.Length;
        _count--;
        return w;
    }
}

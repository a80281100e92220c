using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>hackbench's IPC: AF_UNIX stream socket pairs (the default) or pipes (<c>-p</c>).</summary>
public enum HackbenchIpc
{
    Socket,
    Pipe,
}

/// <summary>
/// Parameters of hackbench (rt-tests hackbench.c; the same program as perf's
/// tools/perf/bench/sched-messaging.c). The first block is hackbench's command line; the second the
/// guest kernel's constants (2.6.39) and the per-message costs, which are assumptions (guest CPU time).
/// </summary>
public sealed record HackbenchSettings
{
    /// <summary><c>-g</c>: groups (hackbench's default 10).</summary>
    public int Groups { get; init; } = 10;

    /// <summary><c>-f</c>: senders and receivers per group (default 20).</summary>
    public int Fds { get; init; } = 20;

    /// <summary><c>-l</c>: messages each sender writes to each receiver of its group (default 100).</summary>
    public long Loops { get; init; } = 100;

    /// <summary><c>-s</c>: bytes per message (default 100). At most a page here (see <see cref="PageSize"/>).</summary>
    public int DataSize { get; init; } = 100;

    /// <summary><c>-T</c> / <c>-P</c>: threads of one process, or a process each (the default).</summary>
    public bool Threads { get; init; }

    public HackbenchIpc Ipc { get; init; } = HackbenchIpc.Socket;

    /// <summary>
    /// <c>sk_sndbuf</c> of the sending socket: <c>sysctl_wmem_default</c> = SK_WMEM_MAX =
    /// (sizeof(struct sk_buff) + 256) × 256 (include/net/sock.h, 2.6.39) = 124928 on x86-64.
    /// </summary>
    public int SndBuf { get; init; } = 124_928;

    /// <summary>sizeof(struct sk_buff) on x86-64 2.6.39 (232; what SK_WMEM_MAX = 124928 implies): charged to sk_wmem_alloc with each skb's data (skb->truesize).</summary>
    public int SkbOverhead { get; init; } = 232;

    /// <summary>PAGE_SIZE and PIPE_BUFFERS (16 page buffers per pipe, include/linux/pipe_fs_i.h 2.6.39).</summary>
    public int PageSize { get; init; } = 4096;
    public int PipeBuffers { get; init; } = 16;

    /// <summary>write(): syscall entry/exit and the sending path outside the locks (unix_stream_sendmsg: sock_alloc_send_skb, scm; pipe_write: the page buffer bookkeeping). Assumption.</summary>
    public long WriteFixedNs { get; init; } = 1200;

    /// <summary>read(): syscall entry/exit and the receiving path outside the locks (unix_stream_recvmsg, consume_skb; pipe_read). Assumption.</summary>
    public long ReadFixedNs { get; init; } = 900;

    /// <summary>Copying from/to user space per byte (memcpy_fromiovec / skb_copy_datagram_iovec; pipe_iov_copy_*). Assumption.</summary>
    public double CopyNsPerByte { get; init; } = 0.1;

    /// <summary>The list operation under <c>sk_receive_queue.lock</c> (skb_queue_tail / skb_dequeue). Assumption.</summary>
    public long QueueOpNs { get; init; } = 30;

    /// <summary>An uncontended mutex_lock + mutex_unlock pair (u->readlock, the pipe's i_mutex fast path). Assumption.</summary>
    public long MutexFastNs { get; init; } = 40;

    /// <summary>hackbench's own loop around each write/read, in user mode. Assumption.</summary>
    public long UserPerMessageNs { get; init; } = 50;

    /// <summary>skb->truesize of one message: SKB_DATA_ALIGN(size) (64-byte cache lines) + sizeof(struct sk_buff).</summary>
    public int TrueSize => ((DataSize + 63) & ~63) + SkbOverhead;

    /// <summary>Messages each receiver reads: every sender of its group writes it <see cref="Loops"/>.</summary>
    public long PacketsPerReceiver => Fds * Loops;

    public long TotalMessages => (long)Groups * Fds * PacketsPerReceiver;
}

/// <summary>
/// hackbench in one guest: <c>groups</c> × (<c>fds</c> receivers + <c>fds</c> senders). Receiver j
/// of a group owns one socket pair (or pipe); all senders of the group write into its sending end,
/// each <c>loops</c> times in the order "for each loop, for each receiver" (hackbench.c sender());
/// receivers read one message per read() until they have <c>fds × loops</c> (receiver()). The run
/// ends when every receiver has all its messages.
/// <para>
/// Sockets follow 2.6.39 net/unix/af_unix.c: <c>unix_stream_sendmsg</c> allocates an skb charged to
/// the sending socket (<c>sock_alloc_send_skb</c>: the sender sleeps in <c>sock_wait_for_wmem</c> on
/// its socket's wait queue while <c>sk_wmem_alloc ≥ sk_sndbuf</c>), queues it on the receiver's
/// <c>sk_receive_queue</c> (its lock taken with interrupts off) under <c>unix_state_lock(other)</c>,
/// then <c>sk_data_ready</c> = <c>sock_def_readable</c> wakes a sleeping reader
/// (<c>wake_up_interruptible_sync_poll</c>: wait-queue lock, try_to_wake_up, maybe a reschedule IPI
/// to another VCPU). <c>unix_stream_recvmsg</c> holds <c>u->readlock</c> (one reader per socket: the
/// fast path only), dequeues under <c>unix_state_lock</c>, and when the queue is empty sleeps in
/// <c>unix_stream_data_wait</c>; freeing the skb (<c>sock_wfree</c>) calls <c>unix_write_space</c>,
/// which wakes every sleeping sender once <c>sk_wmem_alloc × 4 ≤ sk_sndbuf</c>.
/// </para>
/// <para>
/// Pipes follow 2.6.39 fs/pipe.c: <c>pipe_write</c> under the inode mutex appends to the last page
/// buffer when the message fits (no wake-up), else takes a new one of the 16 (and wakes the
/// readers after unlocking) or, all full, sleeps on <c>pipe->wait</c> (<c>pipe_wait</c>);
/// <c>pipe_read</c> empties buffers and, when one is released, wakes <c>pipe->wait</c> — everyone on
/// it (readers and writers wait on the same queue, non-exclusively). The mutex is modelled as its
/// fast path plus, when taken, a FIFO sleep until the owner's unlock wakes one waiter (2.6.39's
/// optimistic spinning on a running owner is not modelled).
/// </para>
/// </summary>
public sealed class Hackbench
{
    private readonly GuestKernel _k;
    private readonly Action? _onAllDone;
    internal readonly Receiver[] Receivers;
    private int _receiversDone;

    public Hackbench(GuestKernel kernel, HackbenchSettings settings, Action? onAllDone = null)
    {
        _k = kernel;
        Settings = settings;
        _onAllDone = onAllDone;
        int cpus = kernel.Cpus.Length;
        int n = settings.Groups * settings.Fds;
        Receivers = new Receiver[n];
        int next = 0;
        int mm = 1;
        for (int g = 0; g < settings.Groups; g++)
        {
            // group(): the receivers first (each with its socket pair), then the senders.
            for (int j = 0; j < settings.Fds; j++)
            {
                int r = g * settings.Fds + j;
                var rx = new Receiver(this, r, kernel, settings);
                Receivers[r] = rx;
                kernel.CreateThread($"hb-recv{r}", rx.Program, next++ % cpus, mm: settings.Threads ? 1 : mm++);
            }
            for (int j = 0; j < settings.Fds; j++)
            {
                int s = g * settings.Fds + j;
                kernel.CreateThread($"hb-send{s}", new Sender(this, g), next++ % cpus, mm: settings.Threads ? 1 : mm++);
            }
        }
    }

    public HackbenchSettings Settings { get; }

    internal long Now => _k.Kvm.Sim.Now.Ns;

    /// <summary>Messages written / read so far.</summary>
    public long Sent { get; internal set; }
    public long Received { get; internal set; }

    /// <summary>Times a sender found the socket buffer (or the pipe) full and slept.</summary>
    public long SenderSleeps { get; internal set; }

    /// <summary>Times a receiver found nothing to read and slept.</summary>
    public long ReceiverSleeps { get; internal set; }

    /// <summary>Pipe mode: times the pipe mutex was found taken.</summary>
    public long MutexContended { get; internal set; }

    /// <summary>When the last receiver got its last message (ns since the start), or -1.</summary>
    public long CompletedAt { get; private set; } = -1;

    /// <summary>The most messages queued on any one receiver at once.</summary>
    public long MaxQueued { get; internal set; }

    internal void ReceiverDone()
    {
        if (++_receiversDone == Receivers.Length)
        {
            CompletedAt = Now;
            _onAllDone?.Invoke();
        }
    }

    internal long CopyNs => (long)(Settings.DataSize * Settings.CopyNsPerByte);

    /// <summary>One receiver's socket pair (or pipe) and its state.</summary>
    internal sealed class Receiver
    {
        public Receiver(Hackbench hb, int index, GuestKernel k, HackbenchSettings s)
        {
            Index = index;
            Program = new ReceiverProgram(hb, this);
            // unix_state_lock: spin_lock(&unix_sk(sk)->lock), plain. sk_receive_queue.lock:
            // skb_queue_tail / skb_dequeue take it with spin_lock_irqsave. Socket wait queues are
            // wait_queue_head_t (irqsave). The pipe's mutex wait_lock is a plain spinlock
            // (kernel/mutex.c spin_lock_mutex without debugging).
            if (s.Ipc == HackbenchIpc.Socket)
            {
                StateLock = k.NewLock($"hb{index}.unix_state", LockIrq.Plain);
                QueueLock = k.NewLock($"hb{index}.sk_receive_queue", LockIrq.IrqSave);
                ReadWq = k.NewWaitQueue($"hb{index}.rx.wait");
                WriteWq = k.NewWaitQueue($"hb{index}.tx.wait");
                WriteWq.Reserve(s.Fds);
            }
            else
            {
                ReadWq = k.NewWaitQueue($"hb{index}.pipe.wait");
                WriteWq = ReadWq; // pipe->wait: one queue for both sides
                MutexWq = k.NewWaitQueue($"hb{index}.i_mutex.wait", irq: LockIrq.Plain);
                ReadWq.Reserve(s.Fds + 1);
                MutexWq.Reserve(s.Fds + 1);
                Lens = new int[s.PipeBuffers];
            }
        }

        public int Index { get; }
        public ReceiverProgram Program { get; }
        public GuestSpinLock? StateLock;
        public GuestSpinLock? QueueLock;
        public readonly WaitQueue ReadWq;
        public readonly WaitQueue WriteWq;

        // Socket: skbs on sk_receive_queue, bytes charged to the sending socket, sleepers.
        public long Queued;
        public long WmemAlloc;
        public bool ReaderSleeping;
        public int WritersSleeping;

        // Pipe: page buffers (a ring of lengths), the i_mutex and pipe->wait's sleepers.
        public readonly int[]? Lens;
        public int CurBuf;
        public int NrBufs;
        public GuestThread? MutexOwner;
        public int MutexWaiters;
        public readonly WaitQueue? MutexWq;
        public int PipeSleepers;
    }
}

/// <summary>
/// __wake_up of every thread registered on a queue (non-exclusive waiters): the queue lock, one
/// try_to_wake_up per sleeper, unlock. Planned one wake-up at a time so that a program's plan
/// stays a few actions long however many sleep.
/// </summary>
internal sealed class WakeAll(IFrontEmitter p) : IGuestCallback
{
    private WaitQueue? _q;
    private int _left;

    public void Start(WaitQueue q, int sleepers)
    {
        _q = q;
        _left = sleepers;
        p.Now(GuestAction.Call(this, 0));
        p.Now(GuestAction.Acquire(q.Lock));
    }

    public void Run(GuestThread thread, int code)
    {
        if (_left == 0)
        {
            p.Now(GuestAction.Release(_q!.Lock));
            return;
        }
        _left--;
        p.Now(GuestAction.Call(this, 0));
        p.Now(GuestAction.SignalLocked(_q!));
    }
}

/// <summary>Lets the hackbench helpers insert actions at the front of a program's plan.</summary>
internal interface IFrontEmitter
{
    void Now(in GuestAction a);
}

/// <summary>The steps of <see cref="Sender"/>.</summary>
internal enum SenderStep
{
    /// <summary>Socket: charge an skb to the sending socket, or sleep until there is room (sock_alloc_send_pskb).</summary>
    Alloc,

    /// <summary>Socket, under the receive-queue lock: the skb is on the receiver's queue.</summary>
    Enqueue,

    /// <summary>Socket: sk_data_ready, waking the reader if it sleeps; the message is sent.</summary>
    DataReady,

    /// <summary>Pipe: take the pipe's mutex, or sleep on it and retry.</summary>
    MutexTry,

    /// <summary>Pipe, under the mutex: write into a page buffer, or sleep on pipe->wait while all are full.</summary>
    PipeWrite,

    /// <summary>Pipe: the write is done (or the writer goes to sleep): wake pipe->wait if a buffer was added, unlock.</summary>
    PipeDone,
}

/// <summary>hackbench.c sender(): for each loop, write one message to each receiver of the group.</summary>
internal sealed class Sender : ScriptedProgram<SenderStep>, IFrontEmitter
{
    private readonly Hackbench hb;
    private readonly int group;
    private readonly WakeAll _wakeAll;

    public Sender(Hackbench hb, int group)
    {
        this.hb = hb;
        this.group = group;
        _wakeAll = new WakeAll(this);
    }

    private long _loop;
    private int _j;
    private bool _doWakeup;
    private bool _sleeping;

    void IFrontEmitter.Now(in GuestAction a) => EmitNow(a);

    private Hackbench.Receiver Target => hb.Receivers[(group * hb.Settings.Fds) + _j];

    protected override void Plan(GuestThread thread)
    {
        if (_loop >= hb.Settings.Loops)
        {
            Emit(GuestAction.Exit);
            return;
        }
        Emit(GuestAction.Compute(hb.Settings.UserPerMessageNs, userMode: true));
        if (hb.Settings.Ipc == HackbenchIpc.Socket)
        {
            Emit(SenderStep.Alloc);
        }
        else
        {
            Emit(SenderStep.MutexTry);
            Emit(SenderStep.PipeWrite);
        }
    }

    private void Advance()
    {
        hb.Sent++;
        if (++_j == hb.Settings.Fds)
        {
            _j = 0;
            _loop++;
        }
    }

    protected override void Run(GuestThread thread, SenderStep step)
    {
        var s = hb.Settings;
        var r = Target;
        switch (step)
        {
            case SenderStep.Alloc:
                // sock_alloc_send_pskb: room while sk_wmem_alloc < sk_sndbuf; else sock_wait_for_wmem.
                if (r.WmemAlloc >= s.SndBuf)
                {
                    hb.SenderSleeps++;
                    r.WritersSleeping++;
                    EmitNow(GuestAction.Wait(r.WriteWq), Call(SenderStep.Alloc));
                    return;
                }
                r.WmemAlloc += s.TrueSize; // skb_set_owner_w
                EmitNow(
                    GuestAction.Compute(s.WriteFixedNs + hb.CopyNs),
                    GuestAction.Acquire(r.StateLock!),
                    GuestAction.Acquire(r.QueueLock!),
                    GuestAction.Compute(s.QueueOpNs),
                    Call(SenderStep.Enqueue),
                    GuestAction.Release(r.QueueLock!),
                    GuestAction.Release(r.StateLock!),
                    Call(SenderStep.DataReady));
                break;
            case SenderStep.Enqueue:
                r.Queued++;
                if (r.Queued > hb.MaxQueued)
                    hb.MaxQueued = r.Queued;
                break;
            case SenderStep.DataReady:
                // sock_def_readable: wq_has_sleeper → wake_up_interruptible_sync_poll. The woken
                // reader leaves the queue at once (autoremove_wake_function).
                bool wake = r.ReaderSleeping;
                r.ReaderSleeping = false;
                Advance();
                if (wake)
                    EmitNow(GuestAction.Signal(r.ReadWq));
                break;
            case SenderStep.MutexTry:
                PipeMutex.Lock(hb, this, r, thread, Call(SenderStep.MutexTry));
                break;
            case SenderStep.PipeWrite:
            {
                int last = (r.CurBuf + r.NrBufs - 1) % s.PipeBuffers;
                if (r.NrBufs > 0 && r.Lens![last] + s.DataSize <= s.PageSize)
                {
                    // pipe_write: merge into the last page buffer (anon_pipe_buf_ops can_merge); no wake-up.
                    r.Lens[last] += s.DataSize;
                    _doWakeup = false;
                }
                else if (r.NrBufs < s.PipeBuffers)
                {
                    // A new page buffer: do_wakeup.
                    r.Lens![(r.CurBuf + r.NrBufs) % s.PipeBuffers] = s.DataSize;
                    r.NrBufs++;
                    _doWakeup = true;
                }
                else
                {
                    // Full: pipe_wait — on pipe->wait (registered under the mutex), unlock, sleep, relock, retry.
                    hb.SenderSleeps++;
                    r.PipeSleepers++;
                    EmitNow(Call(SenderStep.PipeDone), GuestAction.Wait(r.WriteWq), Call(SenderStep.MutexTry), Call(SenderStep.PipeWrite));
                    _doWakeup = false;
                    _sleeping = true;
                    return;
                }
                r.Queued++;
                if (r.Queued > hb.MaxQueued)
                    hb.MaxQueued = r.Queued;
                EmitNow(GuestAction.Compute(s.WriteFixedNs + hb.CopyNs), Call(SenderStep.PipeDone));
                break;
            }
            case SenderStep.PipeDone:
            {
                bool sleeping = _sleeping;
                _sleeping = false;
                if (!sleeping)
                    Advance();
                // mutex_unlock, then (if a buffer was added) wake_up_interruptible_sync_poll(&pipe->wait).
                int n = _doWakeup ? r.PipeSleepers : 0;
                if (n > 0)
                {
                    r.PipeSleepers = 0;
                    _wakeAll.Start(r.ReadWq, n);
                }
                PipeMutex.Unlock(hb, this, r);
                break;
            }
        }
    }
}

/// <summary>The steps of <see cref="ReceiverProgram"/>.</summary>
internal enum ReceiverStep
{
    /// <summary>Socket, under unix_state_lock: dequeue an skb, or sleep until one is queued.</summary>
    Check,

    /// <summary>Socket, under the receive-queue lock: the skb is taken off the queue; the message is read.</summary>
    Dequeue,

    /// <summary>Socket: the skb is freed (sock_wfree), waking the sleeping senders once the socket is writable.</summary>
    Free,

    /// <summary>Pipe: take the pipe's mutex, or sleep on it and retry.</summary>
    MutexTry,

    /// <summary>Pipe, under the mutex: read from the first page buffer, or sleep on pipe->wait while the pipe is empty.</summary>
    PipeRead,

    /// <summary>Pipe: the read is done (or the reader goes to sleep): wake pipe->wait if a buffer was released, unlock.</summary>
    PipeDone,
}

/// <summary>hackbench.c receiver(): read one message at a time until it has <c>fds × loops</c>.</summary>
internal sealed class ReceiverProgram : ScriptedProgram<ReceiverStep>, IFrontEmitter
{
    private readonly Hackbench hb;
    private readonly Hackbench.Receiver r;
    private readonly WakeAll _wakeAll;

    public ReceiverProgram(Hackbench hb, Hackbench.Receiver r)
    {
        this.hb = hb;
        this.r = r;
        _wakeAll = new WakeAll(this);
    }

    private long _got;
    private bool _done;
    private bool _doWakeup;

    void IFrontEmitter.Now(in GuestAction a) => EmitNow(a);

    public long Got => _got;

    protected override void Plan(GuestThread thread)
    {
        if (_got >= hb.Settings.PacketsPerReceiver)
        {
            if (!_done)
            {
                _done = true;
                hb.ReceiverDone();
            }
            Emit(GuestAction.Exit);
            return;
        }
        Emit(GuestAction.Compute(hb.Settings.UserPerMessageNs, userMode: true));
        if (hb.Settings.Ipc == HackbenchIpc.Socket)
        {
            // mutex_lock(&u->readlock): one reader per socket, the fast path.
            Emit(GuestAction.Compute(hb.Settings.MutexFastNs));
            Emit(GuestAction.Acquire(r.StateLock!));
            Emit(ReceiverStep.Check);
        }
        else
        {
            Emit(ReceiverStep.MutexTry);
            Emit(ReceiverStep.PipeRead);
        }
    }

    protected override void Run(GuestThread thread, ReceiverStep step)
    {
        var s = hb.Settings;
        switch (step)
        {
            case ReceiverStep.Check:
                // Under unix_state_lock(sk): an skb, or unix_stream_data_wait (prepare_to_wait under
                // the same lock the sender queues under, so no wake-up is lost).
                if (r.Queued == 0)
                {
                    hb.ReceiverSleeps++;
                    r.ReaderSleeping = true;
                    EmitNow(GuestAction.Release(r.StateLock!), GuestAction.Wait(r.ReadWq), GuestAction.Acquire(r.StateLock!), Call(ReceiverStep.Check));
                    return;
                }
                EmitNow(
                    GuestAction.Acquire(r.QueueLock!),
                    GuestAction.Compute(s.QueueOpNs),
                    Call(ReceiverStep.Dequeue),
                    GuestAction.Release(r.QueueLock!),
                    GuestAction.Release(r.StateLock!),
                    GuestAction.Compute(s.ReadFixedNs + hb.CopyNs),
                    Call(ReceiverStep.Free));
                break;
            case ReceiverStep.Dequeue:
                r.Queued--;
                _got++;
                hb.Received++;
                break;
            case ReceiverStep.Free:
            {
                // consume_skb → sock_wfree → unix_write_space: wake the senders once writable.
                r.WmemAlloc -= s.TrueSize;
                if (r.WritersSleeping > 0 && r.WmemAlloc * 4 <= s.SndBuf)
                {
                    int n = r.WritersSleeping;
                    r.WritersSleeping = 0;
                    _wakeAll.Start(r.WriteWq, n);
                }
                break;
            }
            case ReceiverStep.MutexTry:
                PipeMutex.Lock(hb, this, r, thread, Call(ReceiverStep.MutexTry));
                break;
            case ReceiverStep.PipeRead:
                if (r.NrBufs == 0)
                {
                    // Empty (writers remain): pipe_wait.
                    hb.ReceiverSleeps++;
                    r.PipeSleepers++;
                    _doWakeup = false;
                    EmitNow(Call(ReceiverStep.PipeDone), GuestAction.Wait(r.ReadWq), Call(ReceiverStep.MutexTry), Call(ReceiverStep.PipeRead));
                    return;
                }
                r.Lens![r.CurBuf] -= s.DataSize;
                _doWakeup = false;
                if (r.Lens[r.CurBuf] <= 0)
                {
                    // The buffer is empty: released, curbuf advances, do_wakeup.
                    r.Lens[r.CurBuf] = 0;
                    r.CurBuf = (r.CurBuf + 1) % s.PipeBuffers;
                    r.NrBufs--;
                    _doWakeup = true;
                }
                r.Queued--;
                _got++;
                hb.Received++;
                EmitNow(GuestAction.Compute(s.ReadFixedNs + hb.CopyNs), Call(ReceiverStep.PipeDone));
                break;
            case ReceiverStep.PipeDone:
            {
                int n = _doWakeup ? r.PipeSleepers : 0;
                if (n > 0)
                {
                    r.PipeSleepers = 0;
                    _wakeAll.Start(r.WriteWq, n);
                }
                PipeMutex.Unlock(hb, this, r);
                break;
            }
        }
    }
}

/// <summary>
/// The pipe's inode mutex, reduced to what hackbench needs: the fast path's cost when free; when
/// taken, sleep FIFO on the mutex's wait list until an unlock wakes one waiter, which then retries
/// (2.6.39 kernel/mutex.c without the owner-spinning phase). Stands in until a general guest mutex
/// exists.
/// </summary>
internal static class PipeMutex
{
    /// <summary>Takes the mutex for <paramref name="me"/>, or plans a sleep on its wait list followed by <paramref name="retry"/> (the caller's own lock step).</summary>
    public static void Lock(Hackbench hb, IFrontEmitter access, Hackbench.Receiver r, GuestThread me, in GuestAction retry)
    {
        if (r.MutexOwner is null)
        {
            r.MutexOwner = me;
            access.Now(GuestAction.Compute(hb.Settings.MutexFastNs / 2));
            return;
        }
        hb.MutexContended++;
        r.MutexWaiters++;
        // Wait, then retry the lock: the retry is inserted in front of the caller's next step.
        access.Now(retry);
        access.Now(GuestAction.Wait(r.MutexWq!));
    }

    public static void Unlock(Hackbench hb, IFrontEmitter access, Hackbench.Receiver r)
    {
        r.MutexOwner = null;
        if (r.MutexWaiters > 0)
        {
            // __mutex_unlock_slowpath: wake the first waiter on the wait list.
            r.MutexWaiters--;
            access.Now(GuestAction.Signal(r.MutexWq!));
        }
        access.Now(GuestAction.Compute(hb.Settings.MutexFastNs / 2));
    }
}

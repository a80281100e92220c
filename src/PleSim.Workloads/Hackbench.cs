using PleSim.Guest;

namespace PleSim.Workloads;

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
/// <para>
/// This file holds the shared state (each receiver's socket pair or pipe); the programs are in
/// Hackbench.Sender.cs and Hackbench.ReceiverProgram.cs, the wake-all and pipe mutex helpers in
/// Hackbench.Kernel.cs, the parameters in Hackbench.Settings.cs.
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


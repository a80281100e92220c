using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// Parameters of the AMQP perftest model (qpidd 0.8 broker + qpid-perftest client in one guest,
/// over loopback). Per-message costs are guest CPU time; see docs/amqp-model.md for the structure
/// and scenarios/riel-2011/amqp.yaml for each value's provenance.
/// </summary>
public sealed record AmqpSettings
{
    public int PayloadBytes { get; init; } = 8;

    /// <summary>Per-message wire overhead: 3 AMQP frames with 12-byte headers plus method and header bodies.</summary>
    public int FrameOverheadBytes { get; init; } = 80;

    /// <summary>Write and read buffer size (qpid's 64 KB I/O buffers).</summary>
    public int BufferBytes { get; init; } = 65536;

    /// <summary>Client I/O threads sharing one epoll set (min(connections, CPUs)).</summary>
    public int ClientIoThreads { get; init; } = 3;

    /// <summary>Broker worker threads sharing one epoll set (CPUs + 1).</summary>
    public int BrokerWorkers { get; init; } = 5;

    /// <summary>The publisher blocks when more than this many bytes await writing (2 × 65535).</summary>
    public int PublisherLimitBytes { get; init; } = 2 * 65535;

    /// <summary>Stage A: publisher encodes one message (3 frames, 2 mutexes per frame).</summary>
    public SimDuration PublishPerMessage { get; init; } = SimDuration.FromNanoseconds(1500);

    /// <summary>Stage B: client I/O thread encodes one message into the write buffer.</summary>
    public SimDuration ClientEncodePerMessage { get; init; } = SimDuration.FromNanoseconds(500);

    /// <summary>Stage C: broker decodes, routes and enqueues one message.</summary>
    public SimDuration BrokerInPerMessage { get; init; } = SimDuration.FromNanoseconds(3000);

    /// <summary>Stage D: broker dequeues and encodes one message for the subscriber.</summary>
    public SimDuration BrokerOutPerMessage { get; init; } = SimDuration.FromNanoseconds(2200);

    /// <summary>Stage E: client I/O thread decodes one message and queues a frameset for the subscriber.</summary>
    public SimDuration ClientDecodePerMessage { get; init; } = SimDuration.FromNanoseconds(1500);

    /// <summary>Stage F: subscriber pops and accounts one message.</summary>
    public SimDuration SubscribePerMessage { get; init; } = SimDuration.FromNanoseconds(600);

    /// <summary>write() system call fixed part, and per byte copied (loopback: send + receive copy).</summary>
    public SimDuration WriteFixed { get; init; } = SimDuration.FromNanoseconds(2000);
    public double WriteNsPerByte { get; init; } = 0.12;

    /// <summary>read() system call fixed part, and per byte copied.</summary>
    public SimDuration ReadFixed { get; init; } = SimDuration.FromNanoseconds(1200);
    public double ReadNsPerByte { get; init; } = 0.06;

    /// <summary>tcp_v4_rcv under the receiver's socket spinlock (bh_lock_sock).</summary>
    public SimDuration TcpReceive { get; init; } = SimDuration.FromNanoseconds(1500);

    /// <summary>epoll_ctl(EPOLL_CTL_MOD) under ep->lock.</summary>
    public SimDuration EpollCtl { get; init; } = SimDuration.FromNanoseconds(400);

    /// <summary>Socket spinlock hold on the read side (lock_sock / release_sock).</summary>
    public SimDuration SocketLockHold { get; init; } = SimDuration.FromNanoseconds(200);

    /// <summary>The broker stops reading one connection after this long (qpid's 2 ms read budget).</summary>
    public SimDuration BrokerReadBudget { get; init; } = SimDuration.FromMilliseconds(2);

    /// <summary>TCP receive buffer of a loopback socket: a writer blocks (sk_stream_wait_memory) when the peer's is full.</summary>
    public int SocketBufferBytes { get; init; } = 1 << 20;

    /// <summary>
    /// How the broker's heap reaches the kernel. <see cref="BrokerAllocator.Glibc212"/> runs every
    /// message's allocations and frees through a model of glibc 2.12's per-thread arenas
    /// (<see cref="GlibcArena"/>): a shrink happens only when a free coalesces to ≥ 64 KiB and the
    /// top chunk then exceeds top_pad + MINSIZE + a page (malloc.c <c>_int_free</c>, arena.c
    /// <c>heap_trim</c>), and each shrink is a <c>madvise(MADV_DONTNEED)</c> that shoots down the
    /// TLBs of every VCPU holding qpidd's mm. <see cref="BrokerAllocator.SummingWhatIf"/> is the
    /// earlier rule (one trim per <see cref="TrimFreeBytes"/> freed, summed across writes), kept
    /// as a what-if; it is not glibc's (docs/decisions/0014).
    /// </summary>
    public BrokerAllocator Allocator { get; init; } = BrokerAllocator.None;

    /// <summary>What-if rule only: broker heap per message, summed across writes.</summary>
    public int HeapBytesPerMessage { get; init; }

    /// <summary>What-if rule only: one trim per this many bytes freed.</summary>
    public int TrimFreeBytes { get; init; } = 65536;

    /// <summary>
    /// glibc model: the malloc() request sizes of one message's objects in the broker, in
    /// allocation order; the first is the owning object and is freed last. The content string
    /// (libstdc++ COW rep: 24 + payload + 1 bytes) is added from <see cref="PayloadBytes"/>.
    /// </summary>
    public int[] MessageAllocations { get; init; } = [440, 72, 264, 40, 24];

    /// <summary>glibc model: the broker queue's std::deque node (libstdc++: 512 bytes) and the size of one QueuedMessage in it.</summary>
    public int QueueNodeBytes { get; init; } = 512;
    public int QueuedMessageBytes { get; init; } = 24;

    /// <summary>
    /// glibc model, what-if: a scratch block a broker worker mallocs and frees in its own arena
    /// once per read batch and once per write batch (0: none). Whether qpidd 0.8 makes such a
    /// request of ≥ 1 KiB per batch is not known; one would consolidate the arena's fastbins.
    /// </summary>
    public int BatchScratchBytes { get; init; }

    /// <summary>glibc model: the arena tunables.</summary>
    public GlibcArenaSettings Arena { get; init; } = new();

    /// <summary>The request sizes the glibc model allocates per message (the listed objects plus the content string).</summary>
    public int[] MessageRequests()
    {
        var r = new int[MessageAllocations.Length + 1];
        MessageAllocations.CopyTo(r, 0);
        r[^1] = 24 + PayloadBytes + 1;
        return r;
    }

    /// <summary><c>madvise</c> + <c>zap_page_range</c> before the flush IPIs.</summary>
    public SimDuration Madvise { get; init; } = SimDuration.FromNanoseconds(2000);

    /// <summary>Simulation granularity: the publisher encodes up to this many messages per step.</summary>
    public int PublisherChunk { get; init; } = 16;
}

/// <summary>How broker frees turn into arena trims (see <see cref="AmqpSettings.Allocator"/>).</summary>
public enum BrokerAllocator
{
    None,
    Glibc212,
    SummingWhatIf,
}

/// <summary>
/// The qpid-perftest pipeline inside one guest: publisher P → client I/O threads (shared epoll) →
/// loopback write → broker workers (shared epoll, EPOLLONESHOT, one worker per connection) →
/// queue → broker write → client I/O → subscriber S. Messages are counted, not objects; batches
/// form from what each stage finds waiting when it runs. Every hand-off is a guest kernel path
/// with the locks of 2.6.3x: socket lock → socket wait-queue lock → ep->lock → run-queue lock,
/// and the reschedule IPI to an idle VCPU is sent inside them.
/// </summary>
public sealed class AmqpPerftest
{
    internal enum EndpointKind
    {
        PubOut,   // client side of the publisher connection: writable with data
        PubIn,    // broker side of the publisher connection: readable
        SubOut,   // broker side of the subscriber connection: writable with queued messages
        SubIn,    // client side of the subscriber connection: readable
    }

    internal sealed class Endpoint(EndpointKind kind, Epoll ep, GuestSpinLock slock, GuestSpinLock wqLock)
    {
        public EndpointKind Kind { get; } = kind;
        public Epoll Ep { get; } = ep;
        public GuestSpinLock Slock { get; } = slock;
        public GuestSpinLock WqLock { get; } = wqLock;
        public bool Armed;
        public bool Ready;
    }

    internal sealed class Epoll(WaitQueue wq)
    {
        public WaitQueue Wq { get; } = wq;
        public readonly Queue<Endpoint> ReadyList = new();
        public GuestSpinLock Lock => Wq.Lock;
    }

    private readonly GuestKernel _k;
    internal readonly Epoll ClientEp;
    internal readonly Epoll BrokerEp;
    internal readonly Endpoint PubOut, PubIn, SubOut, SubIn;
    internal readonly WaitQueue PubSpace;   // futex the publisher blocks on
    internal readonly WaitQueue SubQueue;   // the subscriber's BlockingQueue condition
    internal readonly WaitQueue PubSockSpace; // a client writer waits for room in the broker's receive buffer
    internal readonly WaitQueue SubSockSpace; // a broker writer waits for room in the client's receive buffer
    internal bool PubWriterWaiting;
    internal bool SubWriterWaiting;

    // Pipeline state (message counts).
    internal long PubPending;    // encoded by P, not yet written
    internal bool PubWatch;      // the client watches the publisher connection for writing
    internal bool PubWaiting;    // P sleeps for buffer space
    internal long BrokerRx;      // bytes received by the broker, in messages
    internal long QueueDepth;    // the broker queue
    internal bool ConsumerParked = true;
    internal long ClientRx;      // received by the client on the subscriber connection
    internal long SubQueued;     // framesets waiting for S
    internal bool SubWaiting;

    public AmqpPerftest(GuestKernel kernel, AmqpSettings settings)
    {
        _k = kernel;
        Settings = settings;
        // How 2.6.32 takes each lock (docs/kernel-map.md): ep->lock with interrupts off
        // (fs/eventpoll.c ep_poll / ep_poll_callback: spin_lock_irqsave, ep_modify: spin_lock_irq);
        // the socket lock's spinlock with softirqs off (net/core/sock.c lock_sock_nested:
        // spin_lock_bh; net/ipv4/tcp_ipv4.c tcp_v4_rcv: bh_lock_sock in softirq context);
        // the socket's wait-queue lock with interrupts off (sock_def_readable →
        // wake_up_interruptible_sync_poll → __wake_up_sync_key: spin_lock_irqsave, and
        // sk_stream_wait_memory → prepare_to_wait); a futex's hash-bucket lock plain
        // (kernel/futex.c futex_wake / queue_lock: spin_lock(&hb->lock)).
        ClientEp = new Epoll(kernel.NewWaitQueue("client.ep", irq: LockIrq.IrqSave));
        BrokerEp = new Epoll(kernel.NewWaitQueue("broker.ep", irq: LockIrq.IrqSave));
        PubOut = new Endpoint(EndpointKind.PubOut, ClientEp, kernel.NewLock("client.pubsock.slock", LockIrq.Bh), kernel.NewLock("client.pubsock.wq", LockIrq.IrqSave));
        PubIn = new Endpoint(EndpointKind.PubIn, BrokerEp, kernel.NewLock("broker.pubsock.slock", LockIrq.Bh), kernel.NewLock("broker.pubsock.wq", LockIrq.IrqSave)) { Armed = true };
        SubOut = new Endpoint(EndpointKind.SubOut, BrokerEp, kernel.NewLock("broker.subsock.slock", LockIrq.Bh), kernel.NewLock("broker.subsock.wq", LockIrq.IrqSave));
        SubIn = new Endpoint(EndpointKind.SubIn, ClientEp, kernel.NewLock("client.subsock.slock", LockIrq.Bh), kernel.NewLock("client.subsock.wq", LockIrq.IrqSave)) { Armed = true };
        PubSpace = kernel.NewWaitQueue("futex.pubspace", irq: LockIrq.Plain);
        SubQueue = kernel.NewWaitQueue("futex.subqueue", irq: LockIrq.Plain);
        PubSockSpace = kernel.NewWaitQueue("broker.pubsock.space", PubIn.WqLock);
        SubSockSpace = kernel.NewWaitQueue("client.subsock.space", SubIn.WqLock);

        int cpus = kernel.Cpus.Length;
        int next = 0;
        kernel.CreateThread("perftest-pub", new Publisher(this), next++ % cpus, mm: PerftestMm);
        kernel.CreateThread("perftest-sub", new Subscriber(this), next++ % cpus, mm: PerftestMm);
        for (int i = 0; i < settings.ClientIoThreads; i++)
            kernel.CreateThread($"client-io{i}", new ClientIo(this), next++ % cpus, mm: PerftestMm);
        if (settings.Allocator == BrokerAllocator.Glibc212)
            Heap = new QpiddHeap(settings.BrokerWorkers, settings.Arena, settings.MessageRequests(), settings.QueueNodeBytes, settings.QueuedMessageBytes);
        for (int i = 0; i < settings.BrokerWorkers; i++)
            kernel.CreateThread($"qpidd-worker{i}", new BrokerWorker(this, i), next++ % cpus, mm: QpiddMm);
    }

    /// <summary>The two processes' address spaces.</summary>
    public const int PerftestMm = 1, QpiddMm = 2;

    public AmqpSettings Settings { get; }

    /// <summary>What-if rule: heap bytes the broker freed since it last trimmed an arena.</summary>
    internal long FreedSinceTrim;

    /// <summary>The broker's glibc arenas (one per worker thread), when <see cref="AmqpSettings.Allocator"/> is glibc-2.12.</summary>
    public QpiddHeap? Heap { get; }

    /// <summary>Arena trims (TLB shootdowns) the broker did.</summary>
    public long BrokerTrims { get; internal set; }

    internal long Now => _k.Kvm.Sim.Now.Ns;

    public long Published { get; internal set; }
    public long Received { get; internal set; }
    public long Enqueued { get; internal set; }
    public long Batches { get; internal set; }
    public long BatchedMessages { get; internal set; }

    internal int WireBytes => Settings.PayloadBytes + Settings.FrameOverheadBytes;
    internal long MessagesPerBuffer => Math.Max(1, Settings.BufferBytes / WireBytes);
    internal long WriteNs(long messages) => Settings.WriteFixed.Ns + (long)(messages * WireBytes * Settings.WriteNsPerByte);
    internal long ReadNs(long messages) => Settings.ReadFixed.Ns + (long)(messages * WireBytes * Settings.ReadNsPerByte);
    internal bool PublisherOverLimit => PubPending * WireBytes > Settings.PublisherLimitBytes;
    internal long SocketLimitMessages => Math.Max(1, Settings.SocketBufferBytes / WireBytes);

    /// <summary>sk_write_space: wake a blocked writer once a third of the buffer is free.</summary>
    internal bool WriterMayResume(long buffered) => buffered * 3 <= SocketLimitMessages * 2;

    /// <summary>Data or space appeared on <paramref name="e"/>: if armed and not yet ready, it becomes ready and a waiter is woken.</summary>
    internal bool MakeReady(Endpoint e)
    {
        if (!e.Armed || e.Ready)
            return false;
        e.Ready = true;
        e.Ep.ReadyList.Enqueue(e);
        return true;
    }

    /// <summary>epoll_wait returned: take one ready endpoint (EPOLLONESHOT disarms it).</summary>
    internal Endpoint? Take(Epoll ep)
    {
        if (ep.ReadyList.Count == 0)
            return null;
        var e = ep.ReadyList.Dequeue();
        e.Ready = false;
        e.Armed = false;
        return e;
    }

    internal bool HasWork(Endpoint e) => e.Kind switch
    {
        EndpointKind.PubOut => PubPending > 0,
        EndpointKind.PubIn => BrokerRx > 0,
        EndpointKind.SubOut => QueueDepth > 0,
        _ => ClientRx > 0,
    };

    internal void CountBatch(long n)
    {
        Batches++;
        BatchedMessages += n;
    }

    public void ResetCounters()
    {
        Published = Received = Enqueued = Batches = BatchedMessages = 0;
    }
}

/// <summary>The steps of <see cref="Publisher"/>.</summary>
internal enum PublisherStep
{
    /// <summary>Below the buffer limit: encode a chunk of messages; else wait for space.</summary>
    CheckSpace,

    /// <summary>The chunk is encoded: count it and arm the write watch if it is off.</summary>
    Published,

    /// <summary>Under the epoll lock: arm the publisher connection's write watch (epoll_ctl MOD).</summary>
    ArmPubOut,
}

/// <summary>Stage A: the publisher encodes a message; when the write watch is off it arms it (epoll_ctl MOD), waking an I/O thread.</summary>
internal sealed class Publisher(AmqpPerftest m) : ScriptedProgram<PublisherStep>
{
    private long _k;

    protected override void Plan(GuestThread thread) => Emit(PublisherStep.CheckSpace);

    protected override void Run(GuestThread thread, PublisherStep step)
    {
        switch (step)
        {
            case PublisherStep.CheckSpace:
                if (m.PublisherOverLimit)
                {
                    m.PubWaiting = true;
                    EmitNow(GuestAction.Wait(m.PubSpace));
                }
                else
                {
                    // Encode up to a chunk of messages, stopping where the buffer limit is reached.
                    long room = Math.Max(1, (m.Settings.PublisherLimitBytes / m.WireBytes) - m.PubPending + 1);
                    _k = Math.Min(m.Settings.PublisherChunk, room);
                    EmitNow(GuestAction.Compute(m.Settings.PublishPerMessage.Ns * _k, userMode: true), Call(PublisherStep.Published));
                }
                break;
            case PublisherStep.Published:
                m.PubPending += _k;
                m.Published += _k;
                if (!m.PubWatch)
                {
                    m.PubWatch = true;
                    EmitNow(
                        GuestAction.Acquire(m.ClientEp.Lock),
                        GuestAction.Compute(m.Settings.EpollCtl.Ns),
                        Call(PublisherStep.ArmPubOut),
                        GuestAction.Release(m.ClientEp.Lock));
                }
                break;
            case PublisherStep.ArmPubOut:
                m.PubOut.Armed = true;
                if (m.HasWork(m.PubOut) && m.MakeReady(m.PubOut))
                    EmitNow(GuestAction.SignalLocked(m.ClientEp.Wq));
                break;
        }
    }
}

/// <summary>The steps of <see cref="ClientIo"/>.</summary>
internal enum ClientIoStep
{
    /// <summary>Woken by epoll: take a ready connection and serve it.</summary>
    Pick,

    /// <summary>Written to the broker: the bytes arrive on the broker's publisher connection.</summary>
    DeliverPubIn,

    /// <summary>After a write: wake the publisher if it waits for buffer space; write again while messages are pending, else drop the write watch.</summary>
    AfterPubWrite,

    /// <summary>Read from the broker: hand the messages to the subscriber.</summary>
    PushToSubscriber,

    /// <summary>Under the epoll lock: re-arm the subscriber connection's read watch.</summary>
    RearmSubIn,

    /// <summary>The socket had no space: try the write again.</summary>
    RetryWrite,
}

/// <summary>Stages B and E: a client I/O thread serving whichever connection epoll reports.</summary>
internal sealed class ClientIo(AmqpPerftest m) : ScriptedProgram<ClientIoStep>
{
    private long _n;

    protected override void Plan(GuestThread thread)
    {
        Emit(GuestAction.Wait(m.ClientEp.Wq));
        Emit(ClientIoStep.Pick);
    }

    protected override void Run(GuestThread thread, ClientIoStep step)
    {
        var s = m.Settings;
        switch (step)
        {
            case ClientIoStep.Pick:
                var e = m.Take(m.ClientEp);
                if (e == m.PubOut)
                    WriteToBroker();
                else if (e == m.SubIn)
                    ReadFromBroker();
                break;
            case ClientIoStep.DeliverPubIn:
                m.BrokerRx += _n;
                if (m.MakeReady(m.PubIn))
                    EmitNow(GuestAction.Signal(m.BrokerEp.Wq));
                break;
            case ClientIoStep.AfterPubWrite:
                if (m.PubWaiting && !m.PublisherOverLimit)
                {
                    m.PubWaiting = false;
                    EmitNow(GuestAction.Signal(m.PubSpace));
                }
                if (m.PubPending > 0)
                    WriteToBroker();
                else
                    m.PubWatch = false;
                break;
            case ClientIoStep.RetryWrite:
                WriteToBroker();
                break;
            case ClientIoStep.PushToSubscriber:
                m.SubQueued += _n;
                if (m.SubWaiting)
                {
                    m.SubWaiting = false;
                    EmitNow(GuestAction.Signal(m.SubQueue));
                }
                break;
            case ClientIoStep.RearmSubIn:
                m.SubIn.Armed = true;
                if (m.HasWork(m.SubIn) && m.MakeReady(m.SubIn))
                    EmitNow(GuestAction.SignalLocked(m.ClientEp.Wq));
                break;
        }
    }

    /// <summary>Encode up to a buffer of pending messages and write() it; the loopback delivers it to the broker under its socket locks.</summary>
    private void WriteToBroker()
    {
        var s = m.Settings;
        long n = Math.Min(Math.Min(m.PubPending, m.MessagesPerBuffer), m.SocketLimitMessages - m.BrokerRx);
        if (n <= 0)
        {
            // The broker's receive buffer is full: sk_stream_wait_memory until it reads.
            m.PubWriterWaiting = true;
            EmitNow(GuestAction.Wait(m.PubSockSpace), Call(ClientIoStep.RetryWrite));
            return;
        }
        m.PubPending -= n;
        _n = n;
        m.CountBatch(n);
        var rx = m.PubIn;
        EmitNow(
            GuestAction.Compute(s.ClientEncodePerMessage.Ns * n, userMode: true),
            GuestAction.Compute(m.WriteNs(n)),
            GuestAction.Acquire(rx.Slock),
            GuestAction.Compute(s.TcpReceive.Ns),
            GuestAction.Acquire(rx.WqLock),
            Call(ClientIoStep.DeliverPubIn),
            GuestAction.Release(rx.WqLock),
            GuestAction.Release(rx.Slock),
            Call(ClientIoStep.AfterPubWrite));
    }

    /// <summary>read() what the broker sent, decode it, and hand framesets to the subscriber; then re-arm.</summary>
    private void ReadFromBroker()
    {
        var s = m.Settings;
        long n = m.ClientRx;
        m.ClientRx = 0;
        _n = n;
        var sock = m.SubIn;
        if (m.SubWriterWaiting)
        {
            m.SubWriterWaiting = false;
            EmitNow(GuestAction.Signal(m.SubSockSpace));
        }
        EmitNow(
            GuestAction.Acquire(sock.Slock),
            GuestAction.Compute(s.SocketLockHold.Ns),
            GuestAction.Release(sock.Slock),
            GuestAction.Compute(m.ReadNs(n)),
            GuestAction.Compute(Math.Max(1, s.ClientDecodePerMessage.Ns * n), userMode: true),
            Call(ClientIoStep.PushToSubscriber),
            GuestAction.Acquire(m.ClientEp.Lock),
            GuestAction.Compute(s.EpollCtl.Ns),
            Call(ClientIoStep.RearmSubIn),
            GuestAction.Release(m.ClientEp.Lock));
    }
}

/// <summary>The steps of <see cref="BrokerWorker"/>.</summary>
internal enum BrokerStep
{
    /// <summary>Woken by epoll: take a ready connection and serve it.</summary>
    Pick,

    /// <summary>Messages read from the publisher connection: put them on the queue; arm the subscriber's write watch if the consumer is parked.</summary>
    Enqueue,

    /// <summary>After a read: read again while bytes wait and the read budget lasts, else re-arm the read watch.</summary>
    ReadMore,

    /// <summary>Under the epoll lock: arm the subscriber connection's write watch.</summary>
    ArmSubOut,

    /// <summary>Under the epoll lock: re-arm the publisher connection's read watch.</summary>
    RearmPubIn,

    /// <summary>Written to the client: the bytes arrive on the client's subscriber connection.</summary>
    DeliverSubIn,

    /// <summary>After a write: write again while messages are queued, else park the consumer (stop watching for writability).</summary>
    WriteMore,

    /// <summary>The socket had no space: try the write again.</summary>
    RetryWrite,
}

/// <summary>Stages C and D: a qpidd worker serving the connection epoll hands it (EPOLLONESHOT: one worker per connection).</summary>
internal sealed class BrokerWorker(AmqpPerftest m, int index) : ScriptedProgram<BrokerStep>
{
    private long _n;
    private long _readStarted;

    protected override void Plan(GuestThread thread)
    {
        Emit(GuestAction.Wait(m.BrokerEp.Wq));
        Emit(BrokerStep.Pick);
    }

    protected override void Run(GuestThread thread, BrokerStep step)
    {
        var s = m.Settings;
        switch (step)
        {
            case BrokerStep.Pick:
                var e = m.Take(m.BrokerEp);
                if (e == m.PubIn)
                {
                    _readStarted = m.Now;
                    ReadFromClient();
                }
                else if (e == m.SubOut)
                {
                    WriteToClient();
                }
                break;
            case BrokerStep.Enqueue:
                // Decoding allocated the messages in this worker's arena (malloc never trims).
                if (m.Heap is { } heap)
                {
                    heap.Enqueue(index, _n);
                    if (s.BatchScratchBytes > 0)
                        Trim(heap.Scratch(index, s.BatchScratchBytes));
                }
                m.QueueDepth += _n;
                m.Enqueued += _n;
                if (m.ConsumerParked)
                {
                    m.ConsumerParked = false;
                    EmitNow(
                        GuestAction.Acquire(m.BrokerEp.Lock),
                        GuestAction.Compute(s.EpollCtl.Ns),
                        Call(BrokerStep.ArmSubOut),
                        GuestAction.Release(m.BrokerEp.Lock));
                }
                break;
            case BrokerStep.ArmSubOut:
                m.SubOut.Armed = true;
                if (m.HasWork(m.SubOut) && m.MakeReady(m.SubOut))
                    EmitNow(GuestAction.SignalLocked(m.BrokerEp.Wq));
                break;
            case BrokerStep.ReadMore:
                if (m.BrokerRx > 0 && m.Now - _readStarted < s.BrokerReadBudget.Ns)
                {
                    ReadFromClient();
                }
                else
                {
                    EmitNow(
                        GuestAction.Acquire(m.BrokerEp.Lock),
                        GuestAction.Compute(s.EpollCtl.Ns),
                        Call(BrokerStep.RearmPubIn),
                        GuestAction.Release(m.BrokerEp.Lock));
                }
                break;
            case BrokerStep.RearmPubIn:
                m.PubIn.Armed = true;
                if (m.HasWork(m.PubIn) && m.MakeReady(m.PubIn))
                    EmitNow(GuestAction.SignalLocked(m.BrokerEp.Wq));
                break;
            case BrokerStep.DeliverSubIn:
                m.ClientRx += _n;
                if (m.MakeReady(m.SubIn))
                    EmitNow(GuestAction.Signal(m.ClientEp.Wq));
                break;
            case BrokerStep.RetryWrite:
                WriteToClient();
                break;
            case BrokerStep.WriteMore:
                if (m.QueueDepth > 0)
                    WriteToClient();
                else
                    m.ConsumerParked = true; // park the consumer, stop watching for writability
                break;
        }
    }

    /// <summary>Each heap_trim that shrank a heap: this thread's madvise, then the TLB shootdown, before what is planned.</summary>
    private void Trim(int trims)
    {
        for (int i = 0; i < trims; i++)
        {
            m.BrokerTrims++;
            EmitNow(GuestAction.Compute(m.Settings.Madvise.Ns), GuestAction.Shootdown());
        }
    }

    private void ReadFromClient()
    {
        var s = m.Settings;
        long n = Math.Min(m.BrokerRx, m.MessagesPerBuffer);
        m.BrokerRx -= n;
        _n = n;
        var sock = m.PubIn;
        if (m.PubWriterWaiting && m.WriterMayResume(m.BrokerRx))
        {
            m.PubWriterWaiting = false;
            EmitNow(GuestAction.Signal(m.PubSockSpace));
        }
        EmitNow(
            GuestAction.Acquire(sock.Slock),
            GuestAction.Compute(s.SocketLockHold.Ns),
            GuestAction.Release(sock.Slock),
            GuestAction.Compute(m.ReadNs(n)),
            GuestAction.Compute(Math.Max(1, s.BrokerInPerMessage.Ns * n), userMode: true),
            Call(BrokerStep.Enqueue),
            Call(BrokerStep.ReadMore));
    }

    private void WriteToClient()
    {
        var s = m.Settings;
        if (m.QueueDepth == 0)
        {
            m.ConsumerParked = true;
            return;
        }
        long n = Math.Min(Math.Min(m.QueueDepth, m.MessagesPerBuffer), m.SocketLimitMessages - m.ClientRx);
        if (n <= 0)
        {
            m.SubWriterWaiting = true;
            EmitNow(GuestAction.Wait(m.SubSockSpace), Call(BrokerStep.RetryWrite));
            return;
        }
        m.QueueDepth -= n;
        _n = n;
        m.CountBatch(n);
        var rx = m.SubIn;
        EmitNow(
            GuestAction.Compute(s.BrokerOutPerMessage.Ns * n, userMode: true),
            GuestAction.Compute(m.WriteNs(n)),
            GuestAction.Acquire(rx.Slock),
            GuestAction.Compute(s.TcpReceive.Ns),
            GuestAction.Acquire(rx.WqLock),
            Call(BrokerStep.DeliverSubIn),
            GuestAction.Release(rx.WqLock),
            GuestAction.Release(rx.Slock),
            Call(BrokerStep.WriteMore));
        // The dequeued messages are released as they are encoded, before the write: each chunk
        // goes back to the arena that allocated it, and every heap_trim that shrinks a heap is a
        // madvise by this thread → TLB shootdown (EmitNow puts them in front of the batch).
        if (m.Heap is { } heap)
        {
            Trim(heap.Dequeue(n) + (s.BatchScratchBytes > 0 ? heap.Scratch(index, s.BatchScratchBytes) : 0));
        }
        else if (s.Allocator == BrokerAllocator.SummingWhatIf && s.HeapBytesPerMessage > 0)
        {
            // What-if (not glibc's rule): bytes freed are summed across writes, one trim per 64 KiB.
            m.FreedSinceTrim += n * s.HeapBytesPerMessage;
            if (m.FreedSinceTrim >= s.TrimFreeBytes)
            {
                m.FreedSinceTrim %= s.TrimFreeBytes;
                m.BrokerTrims++;
                EmitNow(GuestAction.Compute(s.Madvise.Ns), GuestAction.Shootdown());
            }
        }
    }
}

/// <summary>The steps of <see cref="Subscriber"/>.</summary>
internal enum SubscriberStep
{
    /// <summary>Take the queued messages and process them, or wait for some.</summary>
    Take,

    /// <summary>The messages are processed: count them.</summary>
    Received,
}

/// <summary>Stage F: the subscriber pops framesets and accounts messages; it sleeps on the queue's condition when empty.</summary>
internal sealed class Subscriber(AmqpPerftest m) : ScriptedProgram<SubscriberStep>
{
    private long _n;

    protected override void Plan(GuestThread thread) => Emit(SubscriberStep.Take);

    protected override void Run(GuestThread thread, SubscriberStep step)
    {
        if (step == SubscriberStep.Take)
        {
            if (m.SubQueued > 0)
            {
                _n = m.SubQueued;
                m.SubQueued = 0;
                EmitNow(GuestAction.Compute(m.Settings.SubscribePerMessage.Ns * _n, userMode: true), Call(SubscriberStep.Received));
            }
            else
            {
                m.SubWaiting = true;
                EmitNow(GuestAction.Wait(m.SubQueue));
            }
        }
        else
        {
            m.Received += _n;
        }
    }
}

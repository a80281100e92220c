using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// The qpid-perftest pipeline inside one guest: publisher P → client I/O threads (shared epoll) →
/// loopback write → broker workers (shared epoll, EPOLLONESHOT, one worker per connection) →
/// queue → broker write → client I/O → subscriber S. Messages are counted, not objects; batches
/// form from what each stage finds waiting when it runs. Every hand-off is a guest kernel path
/// with the locks of 2.6.3x: socket lock → socket wait-queue lock → ep->lock → run-queue lock,
/// and the reschedule IPI to an idle VCPU is sent inside them.
/// This file holds the state the two processes share (connections, epoll sets, wait queues,
/// counters); the threads' programs are in AmqpPerftest.Client.cs (publisher, client I/O,
/// subscriber) and AmqpPerftest.Broker.cs (qpidd workers), the parameters in AmqpPerftest.Settings.cs.
/// </summary>
public sealed class AmqpPerftest : IDisposable
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

    /// <summary>Gives the heap model's large arrays back for the next run on this thread (after the run's results were collected).</summary>
    public void Dispose() => Heap?.Dispose();

    /// <summary>Arena trims (TLB shootdowns) the broker did.</summary>
    public long BrokerTrims { get; internal set; }

    internal long Now => _k.Kvm.Sim.Now.Ns;

    public long Published { get; internal set; }
    public long Received { get; internal set; }
    public long Enqueued { get; internal set; }
    public long Batches { get; internal set; }
    public long BatchedMessages { get; internal set; }

    internal int WireBytes => Settings.WireBytes;
    internal long MessagesPerBuffer => Settings.MessagesPerBuffer;
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


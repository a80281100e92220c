using PleSim.Engine;

// The AMQP perftest model's parameters: per-message CPU costs of each pipeline stage, the
// write()/read() and loopback TCP costs, buffer and socket limits, and how the broker's frees
// turn into glibc arena trims. Values and their provenance: scenarios/riel-2011/amqp.yaml.

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

    /// <summary>Bytes of one message on the wire: payload and frame overhead.</summary>
    public int WireBytes => PayloadBytes + FrameOverheadBytes;

    /// <summary>Messages in one full I/O buffer: the batch the broker and the clients move at once (at least one).</summary>
    public long MessagesPerBuffer => Math.Max(1, BufferBytes / Math.Max(1, WireBytes));

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

using PleSim.Engine;

namespace PleSim.Workloads;

/// <summary>
/// The broker's per-message heap traffic through glibc 2.12 per-thread arenas. Each qpidd worker
/// thread has its own arena (PER_THREAD build: arena_get2 gives each new thread a fresh arena while
/// there are fewer than 8 × cores). The worker that reads a message off the publisher connection
/// allocates it (stage C) in its arena; the worker that writes it to the subscriber frees it
/// (stage D), and free() returns every chunk to the arena that allocated it (arena_for_chunk →
/// heap_for_ptr), whichever thread frees it. The queue is FIFO, so messages are freed in the
/// order they were allocated. The queue's std::deque allocates one node per
/// <see cref="QueueNodeMessages"/> messages on push_back and frees it on the pop_front that empties
/// it. Allocation-free per event: messages are kept in a preallocated ring (it grows only when the
/// queue reaches a new maximum depth).
/// </summary>
public sealed class QpiddHeap : IDisposable
{
    private readonly GlibcArena[] _arenas;
    private readonly int[] _requests;
    private readonly int[] _chunkSizes;  // request2size of each request, or -1 for one the arena does not model (Malloc throws then)
    private readonly int _nodeChunkSize;
    private readonly int _perMessage; // ints per ring entry: arena, then one chunk offset per request
    private int[] _ring;              // per message: arena, then one chunk handle (GlibcArena.Alloc) per request
    private long _head, _count;       // message ring (oldest at _head)
    private readonly int _nodeBytes;
    private readonly int _nodeMessages;
    private int[] _nodeRing;          // per deque node: arena, chunk handle
    private long _nodeHead, _nodeCount;
    private long _popped;
    private long _pushesToNextNode, _popsToNodeEnd; // countdowns to the next node boundary (no division per message)

    public QpiddHeap(int threads, GlibcArenaSettings arena, int[] messageRequests, int queueNodeBytes, int queuedMessageBytes)
    {
        if (threads < 1)
            throw new ArgumentOutOfRangeException(nameof(threads));
        _arenas = new GlibcArena[threads];
        for (int i = 0; i < threads; i++)
            _arenas[i] = new GlibcArena(arena);
        _requests = (int[])messageRequests.Clone();
        _chunkSizes = new int[_requests.Length];
        for (int r = 0; r < _requests.Length; r++)
            _chunkSizes[r] = _arenas[0].Models(_requests[r]) ? GlibcArena.Request2Size(_requests[r]) : -1;
        _perMessage = 1 + _requests.Length;
        _ring = RunArrays<int>.Rent(_perMessage * 16384);
        _nodeBytes = queueNodeBytes;
        _nodeChunkSize = _arenas[0].Models(queueNodeBytes) ? GlibcArena.Request2Size(queueNodeBytes) : -1;
        // libstdc++ __deque_buf_size: 512 / sizeof(T) elements per node when sizeof(T) < 512.
        _nodeMessages = queueNodeBytes > 0 && queuedMessageBytes > 0 ? Math.Max(1, queueNodeBytes / queuedMessageBytes) : 0;
        _nodeRing = new int[2 * 1024];
        _pushesToNextNode = _popsToNodeEnd = _nodeMessages;
    }

    public IReadOnlyList<GlibcArena> Arenas => _arenas;

    /// <summary>Returns the arenas' chunk tables and the message ring to the thread's spares (see <see cref="RunArrays{T}"/>); the counters stay readable.</summary>
    public void Dispose()
    {
        foreach (var a in _arenas)
            a.Dispose();
        if (_ring.Length > 0)
            RunArrays<int>.Return(_ring, _ring.Length);
        _ring = [];
    }
    public int QueueNodeMessages => _nodeMessages;
    public long Outstanding => _count;

    /// <summary>heap_trim shrinks (madvise calls) over all arenas, and the bytes they gave back.</summary>
    public long Trims { get; private set; }
    public long TrimmedBytes { get; private set; }

    /// <summary>heap_trim calls over all arenas (frees that coalesced to ≥ the consolidation threshold), shrinking or not.</summary>
    public long TrimAttempts
    {
        get
        {
            long n = 0;
            foreach (var a in _arenas)
                n += a.TrimAttempts;
            return n;
        }
    }

    /// <summary>malloc_consolidate runs over all arenas.</summary>
    public long Consolidations
    {
        get
        {
            long n = 0;
            foreach (var a in _arenas)
                n += a.Consolidations;
            return n;
        }
    }

    /// <summary>The largest sub-heap any arena reached (bytes).</summary>
    public long MaxHeapSize
    {
        get
        {
            long n = 0;
            foreach (var a in _arenas)
                n = Math.Max(n, a.MaxHeapSize);
            return n;
        }
    }

    /// <summary>The deepest the broker queue got (messages).</summary>
    public long MaxOutstanding { get; private set; }

    /// <summary>Thread <paramref name="thread"/> decodes and enqueues <paramref name="n"/> messages (malloc never trims).</summary>
    public void Enqueue(int thread, long n)
    {
        var a = _arenas[thread];
        long capacity = _ring.Length / _perMessage;
        for (long i = 0; i < n; i++)
        {
            if (_count == capacity)
            {
                _ring = GrowRing(_ring, capacity * _perMessage, _head * _perMessage, _count * _perMessage);
                _head = 0;
                capacity = _ring.Length / _perMessage;
            }
            long index = _head + _count;
            if (index >= capacity)
                index -= capacity;
            long slot = index * _perMessage;
            _ring[slot] = thread;
            var sizes = _chunkSizes;
            for (int r = 0; r < sizes.Length; r++)
                _ring[slot + 1 + r] = sizes[r] >= 0 ? a.Alloc(sizes[r]) : Unmodelled(a, _requests[r]);
            _count++;
            if (_count > MaxOutstanding)
                MaxOutstanding = _count;
            if (_nodeMessages > 0 && --_pushesToNextNode == 0)
            {
                // push_back into the last slot of the back node: _M_push_back_aux allocates the next node.
                _pushesToNextNode = _nodeMessages;
                long nodeCapacity = _nodeRing.Length / 2;
                if (_nodeCount == nodeCapacity)
                {
                    _nodeRing = GrowRing(_nodeRing, nodeCapacity * 2, _nodeHead * 2, _nodeCount * 2);
                    _nodeHead = 0;
                    nodeCapacity = _nodeRing.Length / 2;
                }
                long node = _nodeHead + _nodeCount;
                if (node >= nodeCapacity)
                    node -= nodeCapacity;
                _nodeRing[node * 2] = thread;
                _nodeRing[node * 2 + 1] = _nodeChunkSize >= 0 ? a.Alloc(_nodeChunkSize) : Unmodelled(a, _nodeBytes);
                _nodeCount++;
            }
        }
    }

    /// <summary>
    /// A worker dequeues and writes the <paramref name="n"/> oldest messages, freeing them (each chunk
    /// into its own arena). Returns how many heap_trim calls shrank a heap: each is one
    /// madvise(MADV_DONTNEED) the freeing thread makes.
    /// </summary>
    public int Dequeue(long n)
    {
        int trims = 0;
        long capacity = _ring.Length / _perMessage;
        for (long i = 0; i < n && _count > 0; i++)
        {
            long slot = _head * _perMessage;
            var a = _arenas[_ring[slot]];
            for (int r = 0; r < _requests.Length; r++)
                trims += Count(a.FreeHandle(_ring[slot + 1 + r], 0));
            if (++_head == capacity)
                _head = 0;
            _count--;
            _popped++;
            // pop_front of a node's last element: _M_pop_front_aux deallocates the node (the
            // deque's first node predates the model and is left out: the first pop that ends a
            // node is the (2 × per-node)-th).
            if (_nodeMessages > 0 && --_popsToNodeEnd == 0)
            {
                _popsToNodeEnd = _nodeMessages;
                if (_popped >= 2 * _nodeMessages && _nodeCount > 0)
                {
                    long ns = _nodeHead * 2;
                    trims += Count(_arenas[_nodeRing[ns]].FreeHandle(_nodeRing[ns + 1], 0));
                    if (++_nodeHead == _nodeRing.Length / 2)
                        _nodeHead = 0;
                    _nodeCount--;
                }
            }
        }
        return trims;
    }

    /// <summary>
    /// What-if: thread <paramref name="thread"/> mallocs and frees a scratch block of
    /// <paramref name="bytes"/> in its own arena (a request of ≥ 1 KiB consolidates that arena's
    /// fastbins first). Returns the heap_trim shrinks the free caused.
    /// </summary>
    public int Scratch(int thread, int bytes)
    {
        var a = _arenas[thread];
        return Count(a.Free(a.Malloc(bytes)));
    }

    /// <summary>A request the arena does not model (of mmap size): <see cref="GlibcArena.Malloc"/> throws for it, as before.</summary>
    private static int Unmodelled(GlibcArena a, int bytes)
    {
        a.Malloc(bytes);
        throw new InvalidOperationException($"a {bytes}-byte request is not modelled");
    }

    private int Count(int bytes)
    {
        if (bytes == 0)
            return 0;
        Trims++;
        TrimmedBytes += bytes;
        return 1;
    }

    /// <summary>
    /// A ring twice as long holding the <paramref name="count"/> ints that start at
    /// <paramref name="head"/> of a ring whose entries fill its first <paramref name="used"/> ints,
    /// in order. <paramref name="used"/> can be less than the array's length: a ring rented from
    /// <see cref="RunArrays{T}"/> may be longer than asked for and not a multiple of the entry size
    /// (a run of another message shape returned it), and the tail past the last whole entry is never
    /// part of the ring.
    /// </summary>
    private static int[] GrowRing(int[] ring, long used, long head, long count)
    {
        var b = new int[used * 2];
        for (long i = 0; i < count; i++)
            b[i] = ring[(head + i) % used];
        return b;
    }
}

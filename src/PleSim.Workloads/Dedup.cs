using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// PARSEC 3.0 dedup's options and constants (pkgs/kernels/dedup/src: dedupdef.h, config.h, rabin.h,
/// mbuffer.c, encoder.c), the input stream's shape and the model's per-byte and per-call costs (guest
/// time). The constants carry the symbol they come from; every cost and the input's shape are
/// assumptions unless the scenario names a source (docs/dedup.md lists them).
/// </summary>
public sealed record DedupSettings
{
    /// <summary><c>-t</c>: threads per parallel stage (dedup.c <c>conf->nthreads</c>); 0: one per VCPU, as <c>parsecmgmt -n</c> = VCPUs.</summary>
    public int Threads { get; init; }

    /// <summary>Bytes of the input stream (simlarge's <c>media.dat</c>; assumption, docs/dedup.md).</summary>
    public long InputBytes { get; init; } = 184L << 20;

    /// <summary>Probability that a fine chunk repeats the content of an earlier one (assumption: the input's duplication).</summary>
    public double DuplicateFraction { get; init; } = 0.25;

    /// <summary>Compressed size over uncompressed size of a unique chunk (zlib on media data; assumption).</summary>
    public double CompressedFraction { get; init; } = 0.9;

    /// <summary>dedupdef.h <c>MAXBUF</c>: the Fragment stage reads the (preloaded) input in buffers of 128 MiB.</summary>
    public int MaxBuf { get; init; } = 128 << 20;

    /// <summary>dedupdef.h <c>ANCHOR_JUMP</c>: a coarse chunk is at least 2 MiB; its end is the next Rabin anchor.</summary>
    public int AnchorJump { get; init; } = 2 << 20;

    /// <summary>rabin.h <c>RabinMask</c> = 0xfff: an anchor where the fingerprint's low 12 bits are zero (one in 4096 positions of random-like data).</summary>
    public int RabinMaskBits { get; init; } = 12;

    /// <summary>rabin.h <c>NWINDOW</c>: the rolling window; <c>rabinseg</c> never cuts before it.</summary>
    public int NWindow { get; init; } = 32;

    /// <summary>dedupdef.h <c>QUEUE_SIZE</c> (1024 × 1024): items a stage queue holds before <c>queue_enqueue</c> waits on notFull.</summary>
    public int QueueSize { get; init; } = 1024 * 1024;

    /// <summary>config.h <c>MAX_THREADS_PER_QUEUE</c>: a queue per four threads of a stage (encoder.c <c>Encode</c>).</summary>
    public int MaxThreadsPerQueue { get; init; } = 4;

    /// <summary>dedupdef.h <c>MAX_PER_FETCH</c>: FragmentRefine's dequeue limit (coarse chunks).</summary>
    public int MaxPerFetch { get; init; } = 10000;

    /// <summary>dedupdef.h <c>CHUNK_ANCHOR_PER_INSERT</c> / <c>CHUNK_ANCHOR_PER_FETCH</c>: FragmentRefine → Deduplicate batches.</summary>
    public int ChunkAnchorPerInsert { get; init; } = 20;
    public int ChunkAnchorPerFetch { get; init; } = 20;

    /// <summary>dedupdef.h <c>ITEM_PER_INSERT</c> / <c>ITEM_PER_FETCH</c>: Deduplicate → Compress → Reorder batches.</summary>
    public int ItemPerInsert { get; init; } = 20;
    public int ItemPerFetch { get; init; } = 20;

    /// <summary>dedupdef.h <c>ANCHOR_DATA_PER_INSERT</c>: Fragment hands coarse chunks on one at a time.</summary>
    public int AnchorDataPerInsert { get; init; } = 1;

    /// <summary>encoder.c <c>hashtable_create(65536, …)</c>: the table takes the first prime above it (hashtable.c <c>primes</c>), one mutex per bucket.</summary>
    public int HashTableMinSize { get; init; } = 65536;

    /// <summary>mbuffer.c <c>NUMBER_OF_LOCKS</c>: the buffer reference counts' spinlocks, picked by the control block's address.</summary>
    public int MbufferLocks { get; init; } = 1021;

    // ---- costs (guest time; assumptions, docs/dedup.md) ----

    /// <summary><c>rabinseg</c>'s rolling loop per byte (two table look-ups, shifts, xors, the mask test).</summary>
    public double RabinNsPerByte { get; init; } = 1.3;

    /// <summary><c>rabininit</c> per coarse chunk in FragmentRefine (256 entries × 32 reduction steps).</summary>
    public SimDuration RabinInit { get; init; } = SimDuration.FromMicroseconds(5);

    /// <summary><c>SHA1_Digest</c> per byte (dedup's own C SHA-1, sha.c).</summary>
    public double Sha1NsPerByte { get; init; } = 2.5;

    /// <summary>zlib <c>compress()</c> (level 6) per input byte.</summary>
    public double DeflateNsPerByte { get; init; } = 25;

    /// <summary>One <c>compress()</c> call besides its bytes: deflateInit's ~270 KB of state (malloc, the hash head cleared), deflateEnd.</summary>
    public SimDuration DeflateCall { get; init; } = SimDuration.FromMicroseconds(8);

    /// <summary>memcpy per byte (the preloaded input into a MAXBUF buffer; the page-cache copy of a write).</summary>
    public double CopyNsPerByte { get; init; } = 0.1;

    /// <summary>First touch of a new MAXBUF buffer, per 4 KiB page (fault, page allocation and clearing).</summary>
    public SimDuration PageFirstTouch { get; init; } = SimDuration.FromNanoseconds(800);

    /// <summary>munmap of a MAXBUF buffer when its last chunk is freed, per 4 KiB page (zap, page free), before the TLB shootdown.</summary>
    public SimDuration MunmapPerPage { get; init; } = SimDuration.FromNanoseconds(60);

    /// <summary>malloc of a <c>chunk_t</c> and <c>mbuffer_split</c>'s bookkeeping besides its lock.</summary>
    public SimDuration ChunkAlloc { get; init; } = SimDuration.FromNanoseconds(100);

    /// <summary><c>hashtable_search</c> under the bucket lock (hash, chain walk, <c>memcmp</c> of SHA-1 keys).</summary>
    public SimDuration HashLookup { get; init; } = SimDuration.FromNanoseconds(100);

    /// <summary><c>hashtable_insert</c> of a new chunk under the bucket lock (malloc of the entry, mutex and condvar init).</summary>
    public SimDuration HashInsert { get; init; } = SimDuration.FromNanoseconds(150);

    /// <summary>Moving one item between a queue's ring and a thread's ring buffer (under the queue mutex).</summary>
    public SimDuration QueueItem { get; init; } = SimDuration.FromNanoseconds(5);

    /// <summary>Reorder's per-chunk bookkeeping (<c>chunks_per_anchor</c>, the sequence test).</summary>
    public SimDuration ReorderPerChunk { get; init; } = SimDuration.FromNanoseconds(50);

    /// <summary>Reorder caching an out-of-order chunk (<c>TreeFind</c>/<c>TreeInsert</c>, binheap <c>Insert</c>).</summary>
    public SimDuration ReorderCacheInsert { get; init; } = SimDuration.FromNanoseconds(300);

    /// <summary>Reorder taking the next chunk from its cache (<c>FindMin</c>, <c>DeleteMin</c>).</summary>
    public SimDuration ReorderCacheRemove { get; init; } = SimDuration.FromNanoseconds(200);

    /// <summary>One <c>write()</c> system call to the output file besides its bytes (<c>write_file</c> makes three per chunk).</summary>
    public SimDuration WriteCall { get; init; } = SimDuration.FromNanoseconds(800);

    /// <summary>Hold of an mbuffer reference-count spinlock (increment or decrement of <c>mcb->i</c>).</summary>
    public SimDuration MbufferLockHold { get; init; } = SimDuration.FromNanoseconds(20);

    // ---- glibc malloc (decision 0054 addendum): which thread allocates and frees what ----

    /// <summary>Whether the threads' mallocs and frees go through the glibc allocator model (<see cref="GlibcMalloc"/>); false: the allocator is left out, as before.</summary>
    public bool ModelMalloc { get; init; } = true;

    /// <summary>The allocator's tunables (glibc 2.35 defaults; the guest's C library is an assumption, docs/dedup.md).</summary>
    public GlibcMallocSettings Malloc { get; init; } = new();

    /// <summary>A malloc or free that needs no arena lock: a tcache hit or put, an atomic fastbin push (user mode; assumption).</summary>
    public SimDuration MallocFast { get; init; } = SimDuration.FromNanoseconds(20);

    /// <summary>_int_malloc / _int_free / _int_realloc's work under the arena mutex (bins, boundary tags; user mode; assumption).</summary>
    public SimDuration MallocArena { get; init; } = SimDuration.FromNanoseconds(80);

    /// <summary>System-call entry and exit around mmap, munmap, madvise and mprotect (assumption, as ebizzy's).</summary>
    public SimDuration Syscall { get; init; } = SimDuration.FromNanoseconds(200);

    /// <summary>The guest mm paths' costs (page fault, madvise, munmap; <c>ZapPerPage</c> is <see cref="MunmapPerPage"/>).</summary>
    public MmCosts Mm { get; init; } = new();

    /// <summary>sizeof(chunk_t) on x86_64 for the pthreads build (dedupdef.h: header with mutex and condvar, SHA-1, two mbuffer_t, the reference, sequence, isLastL2Chunk): 200 bytes.</summary>
    public int ChunkStructBytes { get; init; } = 200;

    /// <summary>sizeof(mcb_t) (mbuffer.h: reference count and pointer): 16 bytes.</summary>
    public int McbBytes { get; init; } = 16;

    /// <summary>sizeof(struct hash_entry) (hashtable_private.h: key, value, hash, next): 32 bytes.</summary>
    public int HashEntryBytes { get; init; } = 32;

    /// <summary>
    /// zlib's deflateInit2_ allocations for compress() (level 6: windowBits 15, memLevel 8; deflate.c): the
    /// deflate_state (about 5.9 KB on 64-bit: assumption), window 2 × 32 KiB, prev 32 Ki × 2, head 32 Ki × 2,
    /// pending_buf 16 Ki × 4 bytes — each a malloc through zcalloc, freed by deflateEnd in the order
    /// pending_buf, head, prev, window, state.
    /// </summary>
    public int ZlibStateBytes { get; init; } = 5936;
    public int ZlibWindowBytes { get; init; } = 65536;

    /// <summary>The hash table's length: the first prime of hashtable.c's table above <see cref="HashTableMinSize"/> (98317 for 65536).</summary>
    public int HashTableLength
    {
        get
        {
            foreach (int p in Primes)
            {
                if (p > HashTableMinSize)
                    return p;
            }
            return Primes[0];
        }
    }

    // hashtable.c's prime sizes (their first entries; the model never needs the larger ones).
    private static readonly int[] Primes = [53, 97, 193, 389, 769, 1543, 3079, 6151, 12289, 24593, 49157, 98317, 196613, 393241, 786433, 1572869, 3145739, 6291469, 12582917, 25165843];
}

/// <summary>
/// A glibc <c>pthread_cond_t</c> as the 2.25+ condition variable behaves for the model: waiters register
/// under the caller's mutex, sleep in FUTEX_WAIT on a sequence word, and re-take the mutex with
/// <c>lll_cond_lock</c> (the word set to 2) when woken; <c>pthread_cond_signal</c> with a registered waiter
/// advances the word and FUTEX_WAKEs one, <c>pthread_cond_broadcast</c> wakes all; with no waiter both
/// return without a system call. A waiter that finds the word already advanced (a signal between its
/// mutex unlock and FUTEX_WAIT) returns at once (EWOULDBLOCK); the caller's loop re-tests its condition.
/// </summary>
public sealed class PthreadCond
{
    public PthreadCond(Futex word) => Word = word;

    public Futex Word { get; }

    /// <summary>Registered waiters not yet consumed by a signal or broadcast.</summary>
    public int Waiters { get; internal set; }

    /// <summary><c>pthread_cond_wait</c> calls, and signals / broadcasts that found a waiter.</summary>
    public long Waits, Signals, Broadcasts;

    public override string ToString() => Word.Name;
}

/// <summary>Which inter-stage queue (encoder.c's four queue arrays).</summary>
public enum DedupQueueKind
{
    /// <summary><c>refine_que</c>: Fragment → FragmentRefine (coarse chunks).</summary>
    Refine,

    /// <summary><c>deduplicate_que</c>: FragmentRefine → Deduplicate.</summary>
    Deduplicate,

    /// <summary><c>compress_que</c>: Deduplicate → Compress (unique chunks).</summary>
    Compress,

    /// <summary><c>reorder_que</c>: Deduplicate (duplicates) and Compress → Reorder.</summary>
    Reorder,
}

/// <summary>
/// queue.c's <c>queue_t</c>: a ring of chunk ids under a pthread mutex with notEmpty/notFull condition
/// variables, <c>nProducers</c> producers that each call <c>queue_terminate</c> once.
/// </summary>
public sealed class DedupQueue
{
    private readonly int[] _ring;
    private int _head;

    internal DedupQueue(DedupQueueKind kind, int index, int capacity, int ringLength, int producers, int mutex, int notEmpty, int notFull)
    {
        Kind = kind;
        Index = index;
        Capacity = capacity;
        _ring = new int[Math.Max(1, ringLength)];
        Producers = producers;
        Mutex = mutex;
        NotEmpty = notEmpty;
        NotFull = notFull;
    }

    public DedupQueueKind Kind { get; }
    public int Index { get; }

    /// <summary><c>QUEUE_SIZE</c>: items the queue holds at most.</summary>
    public int Capacity { get; }

    public int Count { get; private set; }
    public int Producers { get; }
    public int Terminated { get; internal set; }

    /// <summary><c>queue_isTerminated</c>: every producer has called <c>queue_terminate</c>.</summary>
    public bool IsTerminated => Terminated == Producers;

    public bool IsFull => Count >= Capacity;

    /// <summary>Indexes of the queue's mutex and condition variables in <see cref="Dedup.Mutexes"/> / <see cref="Dedup.Conds"/>.</summary>
    internal int Mutex { get; }
    internal int NotEmpty { get; }
    internal int NotFull { get; }

    /// <summary>Items ever put in; consumer waits on notEmpty; producer waits on notFull; dequeues that returned items.</summary>
    public long Enqueued, EmptyWaits, FullWaits, Dequeues;

    internal void Put(int item)
    {
        int i = _head + Count;
        if (i >= _ring.Length)
            i -= _ring.Length;
        _ring[i] = item;
        Count++;
        Enqueued++;
    }

    internal int Take()
    {
        int item = _ring[_head];
        if (++_head == _ring.Length)
            _head = 0;
        Count--;
        return item;
    }
}

/// <summary>
/// A thread's <c>ringbuffer_t</c> (queue.h): the receive and send batches a stage thread keeps between
/// queue operations.
/// </summary>
internal sealed class DedupRing(int size)
{
    private readonly int[] _a = new int[Math.Max(1, size)];
    private int _head;

    public int Size => _a.Length;
    public int Count { get; private set; }
    public bool IsFull => Count == _a.Length;
    public int Space => _a.Length - Count;

    public void Add(int item)
    {
        int i = _head + Count;
        if (i >= _a.Length)
            i -= _a.Length;
        _a[i] = item;
        Count++;
    }

    public int Take()
    {
        int item = _a[_head];
        if (++_head == _a.Length)
            _head = 0;
        Count--;
        return item;
    }
}

/// <summary>
/// The pthread mutexes (and the condition variables) of objects the model has too many of to give each
/// its own futex: the hash table's 98317 bucket locks, and each unique chunk's <c>header.lock</c> /
/// <c>header.update</c>. A key (bucket, chunk) is bound to a slot while some thread holds, waits for or is
/// about to take its lock; an unreferenced slot holds no state (its words are 0), so binding keys to
/// slots on demand gives the same contention as one lock per key. At most one reference per thread.
/// </summary>
internal sealed class DedupSyncPool
{
    private readonly int[] _slotOf;
    private readonly int[] _key;
    private readonly int[] _refs;
    private readonly int[] _free;
    private int _freeCount;

    public DedupSyncPool(int keys, int slots)
    {
        _slotOf = new int[keys];
        Array.Fill(_slotOf, -1);
        _key = new int[slots];
        _refs = new int[slots];
        _free = new int[slots];
        for (int i = 0; i < slots; i++)
            _free[i] = slots - 1 - i;
        _freeCount = slots;
    }

    public int Slots => _refs.Length;
    public int InUse => _refs.Length - _freeCount;

    /// <summary>The slot of <paramref name="key"/>, bound now if it has none; one more reference.</summary>
    public int Acquire(int key)
    {
        int s = _slotOf[key];
        if (s < 0)
        {
            if (_freeCount == 0)
                throw new InvalidOperationException("dedup: more lock slots in use than threads");
            s = _free[--_freeCount];
            _slotOf[key] = s;
            _key[s] = key;
        }
        _refs[s]++;
        return s;
    }

    /// <summary>Drops a reference; the last one unbinds the key.</summary>
    public void Release(int s)
    {
        if (--_refs[s] > 0)
            return;
        _slotOf[_key[s]] = -1;
        _free[_freeCount++] = s;
    }

    public int Refs(int s) => _refs[s];
}

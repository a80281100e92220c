using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>What happened to a unique chunk's data (dedupdef.h <c>chunk_state_t</c>).</summary>
public enum DedupChunkState : byte
{
    Uncompressed,
    Compressed,
    Flushed,
}

/// <summary>
/// PARSEC 3.0 dedup (<c>dedup -c -p -t N</c>, the pthreads build) in a guest: encoder.c <c>Encode</c>'s
/// pipeline of one Fragment thread, N FragmentRefine, N Deduplicate and N Compress threads and one Reorder
/// thread (3N + 2 threads), joined by queue.c's bounded queues (one per MAX_THREADS_PER_QUEUE threads of a
/// stage, each a pthread mutex with notEmpty/notFull condition variables), the global hash table with a
/// pthread mutex per bucket, each unique chunk's mutex and condition variable (Compress holds it while it
/// compresses; Reorder waits on it for data not yet compressed), and mbuffer.c's reference-count
/// spinlocks (<c>pthread_spin_lock</c>) on the MAXBUF buffers every chunk is a piece of. Threads do their
/// CPU work as guest compute; every wait is a futex wait of the guest kernel, so sleeps, wake-ups, IPIs
/// and halts come out of the guest model. The run ends when Reorder has written the last chunk.
/// </summary>
public sealed class Dedup
{
    private readonly Action? _onDone;
    private readonly List<DedupThread> _threads = [];

    public Dedup(GuestKernel kernel, DedupSettings settings, RandomStream rng, Action? onDone = null)
    {
        Kernel = kernel;
        Settings = settings;
        _onDone = onDone;
        Input = new DedupInput(settings, rng);
        int n = settings.Threads > 0 ? settings.Threads : kernel.Cpus.Length;
        Threads = n;
        int perQ = Math.Max(1, settings.MaxThreadsPerQueue);
        // encoder.c Encode: nqueues = ceil(nthreads / MAX_THREADS_PER_QUEUE); the last queue gets the remainder.
        NQueues = (n / perQ) + (n % perQ != 0 ? 1 : 0);
        int threadsTotal = (3 * n) + 2;
        int q4 = 4 * NQueues;
        int slots = threadsTotal;
        const int mm = 1;
        if (settings.ModelMalloc)
        {
            // Every pipeline thread mallocs, so each makes its arena on its first malloc (Reorder's own
            // allocations are not modelled, so it never does). Heaps live at HEAP_MAX_SIZE-aligned addresses.
            Malloc = new GlibcMalloc(kernel, settings.Malloc, "dedup.malloc", mm, 0x7f40_0000_0000, threadsTotal - 1, threadsTotal);
            Zone = new GuestZone(kernel, "dedup.zone.normal", settings.Mm with { ZapPerPage = settings.MunmapPerPage });
            Mm = new GuestMm(kernel, mm, Zone);
        }
        int arenaMutexes = Malloc?.Mutexes.Length ?? 0;
        Mutexes = new PthreadMutex[q4 + (2 * slots) + arenaMutexes];
        Conds = new PthreadCond[(2 * q4) + slots];
        // User addresses of the futex words (only their futex hash buckets depend on them).
        const long queueBase = 0x0060_0000, bucketBase = 0x7f10_0000_0000, chunkBase = 0x7f20_0000_0000;
        Queues = new DedupQueue[q4];
        for (int k = 0; k < 4; k++)
        {
            var kind = (DedupQueueKind)k;
            for (int i = 0; i < NQueues; i++)
            {
                int idx = (k * NQueues) + i;
                int perThisQueue = (i < NQueues - 1 || n % perQ == 0) ? perQ : n % perQ;
                // queue_init: refine_que has one producer (Fragment); the others one per thread of the producing stage's share.
                int producers = kind == DedupQueueKind.Refine ? 1 : perThisQueue;
                int ring = kind == DedupQueueKind.Refine ? Input.CoarseChunks : Input.Chunks;
                string name = $"dedup.{QueueName(kind)}[{i}]";
                long a = queueBase + (idx * 128L); // sizeof(queue_t) with its mutex and two condvars
                Mutexes[idx] = new PthreadMutex(kernel.NewFutex(name + ".mutex", mm, a, threadsTotal));
                Conds[idx] = new PthreadCond(kernel.NewFutex(name + ".notEmpty", mm, a + 48, threadsTotal));
                Conds[q4 + idx] = new PthreadCond(kernel.NewFutex(name + ".notFull", mm, a + 96, threadsTotal));
                Queues[idx] = new DedupQueue(kind, i, Math.Max(1, settings.QueueSize), Math.Min(Math.Max(1, settings.QueueSize), Math.Max(1, ring)), producers, idx, idx, q4 + idx);
            }
        }
        BucketBase = q4;
        ChunkMutexBase = q4 + slots;
        ChunkCondBase = 2 * q4;
        for (int sIdx = 0; sIdx < slots; sIdx++)
        {
            Mutexes[BucketBase + sIdx] = new PthreadMutex(kernel.NewFutex($"dedup.ht.lock_slot{sIdx}", mm, bucketBase + (sIdx * 40L), threadsTotal));
            Mutexes[ChunkMutexBase + sIdx] = new PthreadMutex(kernel.NewFutex($"dedup.chunk.lock_slot{sIdx}", mm, chunkBase + (sIdx * 128L), threadsTotal));
            Conds[ChunkCondBase + sIdx] = new PthreadCond(kernel.NewFutex($"dedup.chunk.update_slot{sIdx}", mm, chunkBase + (sIdx * 128L) + 48, threadsTotal));
        }
        ArenaMutexBase = q4 + (2 * slots);
        for (int a = 0; a < arenaMutexes; a++)
            Mutexes[ArenaMutexBase + a] = Malloc!.Mutexes[a];
        TableLength = settings.HashTableLength;
        BucketPool = new DedupSyncPool(TableLength, slots);
        ChunkPool = new DedupSyncPool(Math.Max(1, Input.Chunks), slots);
        // mbuffer.c: a buffer's reference count is guarded by locks[address % NUMBER_OF_LOCKS], a
        // pthread_spin_lock; every piece of one MAXBUF buffer shares its control block, so its lock.
        BlockLocks = new GuestSpinLock[Input.Blocks];
        for (int b = 0; b < BlockLocks.Length; b++)
            BlockLocks[b] = kernel.NewLock($"dedup.mbuffer.locks[buf{b}]", SpinlockKind.TestAndSet, userSpace: true);
        _blockRefs = (int[])Input.BlockRefs.Clone();
        BlockPtl = new GuestSpinLock[Malloc is null ? 0 : Input.Blocks];
        for (int b = 0; b < BlockPtl.Length; b++)
            BlockPtl[b] = kernel.NewLock($"dedup.maxbuf[buf{b}].ptl");
        int allocs = Math.Max(1, Input.Chunks);
        ChunkArena = new int[allocs];
        ChunkOffset = new int[allocs];
        BufArena = new int[allocs];
        BufOffset = new int[allocs];
        McbArena = new int[allocs];
        McbOffset = new int[allocs];
        _contentOriginal = new int[Math.Max(1, Input.ContentCount)];
        Array.Fill(_contentOriginal, -1);
        Original = new int[Input.Chunks];
        State = new DedupChunkState[Input.Chunks];
        Arrived = new bool[Input.Chunks];

        // Encode's pthread_create order: Fragment, the refine, deduplicate and compress pools, Reorder.
        int cpus = kernel.Cpus.Length;
        int created = 0;
        void Create(DedupStage stage, int tid)
        {
            var t = new DedupThread(this, stage, tid);
            _threads.Add(t);
            kernel.CreateThread($"dedup.{stage}{(stage is DedupStage.Fragment or DedupStage.Reorder ? "" : tid.ToString(System.Globalization.CultureInfo.InvariantCulture))}", t, created++ % cpus, mm: mm);
        }
        Create(DedupStage.Fragment, 0);
        for (int i = 0; i < n; i++)
            Create(DedupStage.Refine, i);
        for (int i = 0; i < n; i++)
            Create(DedupStage.Deduplicate, i);
        for (int i = 0; i < n; i++)
            Create(DedupStage.Compress, i);
        Create(DedupStage.Reorder, 0);
    }

    public static string QueueName(DedupQueueKind k) => k switch
    {
        DedupQueueKind.Refine => "refine_que",
        DedupQueueKind.Deduplicate => "deduplicate_que",
        DedupQueueKind.Compress => "compress_que",
        _ => "reorder_que",
    };

    public GuestKernel Kernel { get; }
    public DedupSettings Settings { get; }
    public DedupInput Input { get; }

    /// <summary><c>-t</c>: threads per parallel stage.</summary>
    public int Threads { get; }

    /// <summary>Queues per stage boundary (<c>nqueues</c>).</summary>
    public int NQueues { get; }

    /// <summary>The hash table's buckets (one pthread mutex each).</summary>
    public int TableLength { get; }

    /// <summary>Every pthread mutex (queues, bucket-lock slots, chunk-lock slots) and condition variable (notEmpty, notFull, chunk update slots).</summary>
    public PthreadMutex[] Mutexes { get; }
    public PthreadCond[] Conds { get; }

    /// <summary>The four queue arrays, <c>kind × nqueues + qid</c>.</summary>
    public DedupQueue[] Queues { get; }

    public DedupQueue Queue(DedupQueueKind kind, int qid) => Queues[((int)kind * NQueues) + qid];

    /// <summary>The mbuffer spinlock of each MAXBUF buffer.</summary>
    public GuestSpinLock[] BlockLocks { get; }

    public IReadOnlyList<DedupThread> ThreadPrograms => _threads;

    /// <summary>The process's glibc malloc (null when <see cref="DedupSettings.ModelMalloc"/> is off), and the guest mm it maps through.</summary>
    public GlibcMalloc? Malloc { get; }
    public GuestZone? Zone { get; }
    public GuestMm? Mm { get; }

    /// <summary>Index of the first arena mutex in <see cref="Mutexes"/>.</summary>
    internal int ArenaMutexBase { get; }

    /// <summary>Each MAXBUF buffer's mapping's page-table lock.</summary>
    internal GuestSpinLock[] BlockPtl { get; }

    /// <summary>Per fine chunk: where its chunk_t, its compressed buffer and that buffer's mcb_t were allocated (arena, offset; arena −1: mmapped, offset the mapping's pages).</summary>
    internal readonly int[] ChunkArena, ChunkOffset, BufArena, BufOffset, McbArena, McbOffset;

    /// <summary>Frees of a chunk another thread allocated: all, and those that took the owner's arena mutex; arena mutex acquisitions that found it taken.</summary>
    public long CrossThreadFrees, CrossThreadLockedFrees, ArenaContended;

    /// <summary>heap_trim calls that gave pages back with madvise(MADV_DONTNEED) (each a TLB shootdown).</summary>
    public long HeapTrims;

    internal int BucketBase { get; }
    internal int ChunkMutexBase { get; }
    internal int ChunkCondBase { get; }
    internal DedupSyncPool BucketPool { get; }
    internal DedupSyncPool ChunkPool { get; }

    private readonly int[] _blockRefs;
    private readonly int[] _contentOriginal;

    /// <summary>Per chunk: the original it duplicates (−1: it is unique), its data's state, and whether Reorder holds it out of order.</summary>
    internal readonly int[] Original;
    internal readonly DedupChunkState[] State;
    internal readonly bool[] Arrived;

    public int OriginalOf(int chunk) => Original[chunk];
    public DedupChunkState StateOf(int chunk) => State[chunk];

    /// <summary>The hash-table bucket of a chunk: <c>hash_from_key_fn</c> takes the SHA-1's first word, <c>indexFor</c> reduces it modulo the table length. The model's digest of the content id stands in for SHA-1.</summary>
    public int BucketOf(int chunk)
    {
        ulong x = (ulong)Input.Content[chunk] + 0x9E3779B97F4A7C15UL;
        uint h = (uint)(RandomStream.SplitMix64(ref x) >> 32);
        return (int)(h % (uint)TableLength);
    }

    // ---- counters ----

    /// <summary>Coarse chunks Fragment handed on; fine chunks FragmentRefine cut; hash-table look-ups; unique and duplicate chunks; chunks compressed; chunks and input bytes Reorder wrote.</summary>
    public long CoarseChunks, Refined, Lookups, Unique, Duplicates, Compressed, Written, WrittenBytes;

    /// <summary>Bucket locks that were contended (went to <c>__lll_lock_wait</c>).</summary>
    public long BucketContended;

    /// <summary>Reorder on a chunk's lock: contended (Compress held it), and waits on its <c>update</c> condition (not yet compressed).</summary>
    public long ChunkLockContended, ChunkCondWaits;

    /// <summary>Chunks Reorder received out of order (cached), and the most it held at once.</summary>
    public long ReorderCached, ReorderCachedMax;

    /// <summary>MAXBUF buffers unmapped when their last piece was freed (a TLB shootdown each).</summary>
    public long BufferUnmaps;

    /// <summary>Simulated time Reorder finished (ns), or −1.</summary>
    public long CompletedAt { get; private set; } = -1;

    public bool Done => CompletedAt >= 0;

    /// <summary>Contended pthread mutex acquisitions over the queue mutexes of one kind.</summary>
    public long QueueMutexContended(DedupQueueKind kind)
    {
        long c = 0;
        for (int i = 0; i < NQueues; i++)
            c += Mutexes[Queue(kind, i).Mutex].Contended;
        return c;
    }

    public long QueueEmptyWaits(DedupQueueKind kind)
    {
        long c = 0;
        for (int i = 0; i < NQueues; i++)
            c += Queue(kind, i).EmptyWaits;
        return c;
    }

    public long QueueFullWaits()
    {
        long c = 0;
        foreach (var q in Queues)
            c += q.FullWaits;
        return c;
    }

    /// <summary>sub_Deduplicate's hash-table step under the bucket lock: true when the chunk is the first of its content (it becomes the original).</summary>
    internal bool LookupAndInsert(int chunk)
    {
        Lookups++;
        int c = Input.Content[chunk];
        int o = _contentOriginal[c];
        if (o < 0)
        {
            _contentOriginal[c] = chunk;
            Original[chunk] = -1;
            State[chunk] = DedupChunkState.Uncompressed;
            Unique++;
            return true;
        }
        Original[chunk] = o;
        Duplicates++;
        return false;
    }

    /// <summary><c>mbuffer_free</c> of one piece of buffer <paramref name="block"/>: true when it was the last (the buffer is freed: munmap).</summary>
    internal bool FreePiece(int block)
    {
        if (--_blockRefs[block] > 0)
            return false;
        if (_blockRefs[block] < 0)
            throw new InvalidOperationException($"dedup: buffer {block} freed more often than it was split");
        BufferUnmaps++;
        return true;
    }

    public int BlockRefsLeft(int block) => _blockRefs[block];

    internal void Finished()
    {
        CompletedAt = Kernel.Kvm.Sim.Now.Ns;
        _onDone?.Invoke();
    }
}

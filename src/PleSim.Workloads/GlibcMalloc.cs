using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// The process-wide part of a multi-threaded glibc malloc (2.26+; defaults are glibc 2.35's, x86_64):
/// the per-thread caches, the arena list and the (dynamic) mmap and trim thresholds. Each arena is a
/// <see cref="GlibcArena"/>; see docs/decisions/0054 (addendum) and docs/kernel-map.md.
/// </summary>
public sealed record GlibcMallocSettings
{
    /// <summary>mp_.tcache_count: TCACHE_FILL_COUNT = 7 chunks per size class and thread (malloc.c, 2.26–2.35).</summary>
    public int TcacheCount { get; init; } = 7;

    /// <summary>mp_.tcache_bins: TCACHE_MAX_BINS = 64, so chunks up to 1040 bytes (requests up to MAX_TCACHE_SIZE = 1032) are cached.</summary>
    public int TcacheBins { get; init; } = 64;

    /// <summary>mp_.mmap_threshold at start: DEFAULT_MMAP_THRESHOLD = DEFAULT_MMAP_THRESHOLD_MIN = 128 KiB.</summary>
    public int MmapThreshold { get; init; } = 128 * 1024;

    /// <summary>mp_.trim_threshold at start: DEFAULT_TRIM_THRESHOLD = 128 KiB.</summary>
    public int TrimThreshold { get; init; } = 128 * 1024;

    /// <summary>DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: 4 MiB × sizeof(long) = 32 MiB; a freed mmapped chunk above it does not move the thresholds.</summary>
    public int MmapThresholdMax { get; init; } = 32 << 20;

    /// <summary>Whether free of an mmapped chunk raises the thresholds (mp_.no_dyn_threshold is 0 unless mallopt / the tunables set one).</summary>
    public bool DynamicThreshold { get; init; } = true;

    /// <summary>M_ARENA_MAX; 0: narenas_limit = NARENAS_FROM_NCORES(online CPUs) = 8 × CPUs on 64-bit (arena.c arena_get2).</summary>
    public int ArenaMax { get; init; }

    /// <summary>
    /// One non-main arena: glibc 2.35's top pad (DEFAULT_TOP_PAD, 128 KiB from sysdeps/generic/malloc-machine.h),
    /// max_fast 128, the 64 KiB consolidation threshold, 64 MiB heaps, and heap_trim's trim-threshold test.
    /// The chunk tables start at 512 KiB of heap (simulation only).
    /// </summary>
    public GlibcArenaSettings Arena { get; init; } = new() { HeapTrimThresholdTest = true, PreallocatedHeapBytes = 512 << 10 };
}

/// <summary>
/// A thread's tcache (glibc 2.26+ malloc.c <c>tcache_perthread_struct</c>): per size class up to
/// <see cref="GlibcMallocSettings.TcacheCount"/> free chunks, taken last-in first-out without any lock.
/// A cached chunk stays "in use" for its arena; it is named by its arena and offset.
/// </summary>
public sealed class GlibcTcache
{
    private readonly int _count;
    private readonly int[] _n;
    private readonly int[] _arena;
    private readonly int[] _offset;

    public GlibcTcache(GlibcMallocSettings s)
    {
        _count = s.TcacheCount;
        _n = new int[s.TcacheBins];
        _arena = new int[s.TcacheBins * Math.Max(1, s.TcacheCount)];
        _offset = new int[_arena.Length];
    }

    /// <summary>The arena this thread allocates from (thread_arena), −1 before its first malloc.</summary>
    public int Arena { get; internal set; } = -1;

    /// <summary>Frees the cache took, and mallocs it served.</summary>
    public long Puts, Gets;

    /// <summary>csize2tidx: the bin of a chunk size, or −1 when it is beyond the cache.</summary>
    public int Bin(int chunkSize)
    {
        int b = (chunkSize - 32) / 16;
        return b < _n.Length ? b : -1;
    }

    public int Count(int bin) => _n[bin];

    /// <summary>tcache_put, when the bin holds fewer than tcache_count chunks (the test of _int_free).</summary>
    public bool TryPut(int chunkSize, int arena, int offset)
    {
        int b = Bin(chunkSize);
        if (b < 0 || _n[b] >= _count)
            return false;
        int i = (b * _count) + _n[b]++;
        _arena[i] = arena;
        _offset[i] = offset;
        Puts++;
        return true;
    }

    /// <summary>tcache_get, when the bin is not empty (the test of __libc_malloc).</summary>
    public bool TryGet(int chunkSize, out int arena, out int offset)
    {
        int b = Bin(chunkSize);
        if (b < 0 || _n[b] == 0)
        {
            arena = offset = -1;
            return false;
        }
        int i = (b * _count) + --_n[b];
        arena = _arena[i];
        offset = _offset[i];
        Gets++;
        return true;
    }
}

/// <summary>
/// glibc malloc's process-wide state for a multi-threaded program (2.26+, read at glibc-2.35 malloc.c and
/// arena.c): the non-main arenas, each a <see cref="GlibcArena"/> with its mutex (a low-level lock on a
/// guest futex, <see cref="PthreadMutex"/>) and its pages' presence; <c>arena_get2</c> (a thread's first
/// malloc creates an arena while fewer than <c>narenas_limit</c> exist, else <c>reused_arena</c> hands
/// them out round robin); and mp_.mmap_threshold / mp_.trim_threshold, which <c>__libc_free</c> raises
/// when it frees an mmapped chunk larger than the threshold and at most DEFAULT_MMAP_THRESHOLD_MAX.
/// The guest actions (lock, madvise, munmap, faults) are the calling program's; this class holds the
/// state and decides. Allocation-free after construction (arena tables grow only at a new high-water mark).
/// </summary>
public sealed class GlibcMalloc
{
    public const int PageSize = 4096;

    private readonly bool[][] _present;
    private int _next;

    /// <param name="arenas">The most arenas the program's threads can create (min(threads, limit − 1)): their mutexes are made now, each arena on the first malloc that needs it.</param>
    public GlibcMalloc(GuestKernel kernel, GlibcMallocSettings settings, string name, int mm, long futexBase, int arenas, int waiters)
    {
        Settings = settings;
        int cpus = kernel.Cpus.Length;
        // arena_get2: narenas counts the main arena; a new one is made while narenas <= narenas_limit - 1.
        Limit = settings.ArenaMax > 0 ? settings.ArenaMax : 8 * cpus;
        int n = Math.Max(1, Math.Min(arenas, Limit - 1));
        Arenas = new GlibcArena[n];
        Mutexes = new PthreadMutex[n];
        Ptl = new GuestSpinLock[n];
        _present = new bool[n][];
        for (int i = 0; i < n; i++)
        {
            // The arena's mutex is the first word of its malloc_state, just after the heap_info at the heap's start.
            Mutexes[i] = new PthreadMutex(kernel.NewFutex($"{name}.arena{i + 1}.mutex", mm, futexBase + ((long)i * settings.Arena.HeapMaxSize) + 32, waiters));
            Ptl[i] = kernel.NewLock($"{name}.arena{i + 1}.ptl");
            _present[i] = new bool[(settings.Arena.HeapMaxSize / PageSize) + 1];
        }
        MmapThreshold = settings.MmapThreshold;
        TrimThreshold = settings.TrimThreshold;
    }

    public GlibcMallocSettings Settings { get; }

    /// <summary>narenas_limit (M_ARENA_MAX or 8 × CPUs).</summary>
    public int Limit { get; }

    /// <summary>The arenas (an entry stays null until a thread's first malloc makes it).</summary>
    public GlibcArena[] Arenas { get; }
    public PthreadMutex[] Mutexes { get; }

    /// <summary>Each arena heap's page-table lock (its mappings' split PTE lock).</summary>
    public GuestSpinLock[] Ptl { get; }

    /// <summary>mp_.mmap_threshold and mp_.trim_threshold now.</summary>
    public int MmapThreshold { get; private set; }
    public int TrimThreshold { get; private set; }

    /// <summary>Arenas handed out (created, or reused once all exist).</summary>
    public int Created { get; private set; }

    /// <summary>heap_trim calls that gave memory back (each a madvise(MADV_DONTNEED)) over all arenas, and frees that took an arena's mutex from a thread that does not allocate from it.</summary>
    public long Trims, CrossThreadLockedFrees, LockedFrees, FastbinFrees, MmappedFrees;

    /// <summary>
    /// arena_get2 for a thread's first malloc: a new arena while fewer than the limit exist; afterwards
    /// reused_arena's round robin (glibc's also visits the main arena and prefers one whose mutex it can
    /// take at once: the model's threads never use the main arena, and the round robin ignores the try-lock).
    /// </summary>
    /// <param name="preallocatedHeapBytes">Simulation only: heap bytes the new arena's chunk table is sized for up front (0: the settings').</param>
    public int AttachArena(GlibcTcache t, int preallocatedHeapBytes = 0)
    {
        int a;
        if (Created < Arenas.Length)
        {
            a = Created++;
            // _int_new_arena: made once per arena, on the thread's first malloc (not per event).
            var st = Settings.Arena;
            if (preallocatedHeapBytes > 0)
                st = st with { PreallocatedHeapBytes = preallocatedHeapBytes };
            Arenas[a] = new GlibcArena(st);
        }
        else
        {
            a = _next;
            _next = (_next + 1) % Arenas.Length;
        }
        t.Arena = a;
        return a;
    }

    /// <summary>Whether a request is served by mmap (sysmalloc: chunk size at or above mp_.mmap_threshold).</summary>
    public bool IsMmapped(int bytes) => GlibcArena.Request2Size(bytes) >= MmapThreshold;

    /// <summary>Bytes of the mapping of an mmapped chunk of <paramref name="bytes"/>: size + SIZE_SZ rounded up to pages.</summary>
    public static long MmappedSize(long bytes) => (bytes + 8 + PageSize - 1) & ~(long)(PageSize - 1);

    /// <summary>__libc_free of an mmapped chunk: the dynamic threshold update, before munmap_chunk.</summary>
    public void FreeMmapped(long mappedBytes)
    {
        MmappedFrees++;
        if (Settings.DynamicThreshold && mappedBytes > MmapThreshold && mappedBytes <= Settings.MmapThresholdMax)
        {
            MmapThreshold = (int)mappedBytes;
            TrimThreshold = 2 * MmapThreshold;
        }
    }

    /// <summary>Marks the pages of [offset, offset + bytes) of an arena's heap present; returns how many were not (first-touch faults).</summary>
    public int Touch(int arena, int offset, int bytes)
    {
        if (bytes <= 0)
            return 0;
        var p = _present[arena];
        int first = offset / PageSize, last = (offset + bytes - 1) / PageSize;
        int faults = 0;
        for (int i = first; i <= last; i++)
        {
            if (!p[i])
            {
                p[i] = true;
                faults++;
            }
        }
        return faults;
    }

    /// <summary>After heap_trim shrank a heap from <paramref name="heapBefore"/>: the pages given back that were present (madvise zaps them).</summary>
    public int Untouch(int arena, int heapBefore)
    {
        var p = _present[arena];
        int present = 0;
        for (int i = Arenas[arena].HeapSize / PageSize; i < heapBefore / PageSize; i++)
        {
            if (p[i])
            {
                p[i] = false;
                present++;
            }
        }
        return present;
    }

    /// <summary>_int_free under the arena's mutex: returns the pages heap_trim madvised away that were present, or −1 when it did not trim.</summary>
    public int FreeLocked(int arena, int offset)
    {
        var a = Arenas[arena];
        int before = a.HeapSize;
        int trimmed = a.Free(offset, TrimThreshold);
        if (trimmed <= 0)
            return -1;
        Trims++;
        return Untouch(arena, before);
    }
}

using System.Runtime.CompilerServices;
using PleSim.Engine;

namespace PleSim.Workloads;

/// <summary>
/// The tunables of one glibc 2.12 non-main arena on x86_64 (SIZE_SZ 8, MALLOC_ALIGNMENT 16).
/// Defaults are the library's; see docs/decisions/0014-glibc-arena-model.md.
/// </summary>
public sealed record GlibcArenaSettings
{
    /// <summary>mp_.top_pad: DEFAULT_TOP_PAD, defined to 131072 in sysdeps/generic/malloc-machine.h (2.12), overriding malloc.c's 0.</summary>
    public int TopPad { get; init; } = 131072;

    /// <summary>malloc_getpagesize on x86_64.</summary>
    public int PageSize { get; init; } = 4096;

    /// <summary>global_max_fast: set_max_fast(DEFAULT_MXFAST = 64 * SIZE_SZ / 4 = 128) = (128 + SIZE_SZ) &amp; ~MALLOC_ALIGN_MASK = 128 (chunk bytes).</summary>
    public int MaxFast { get; init; } = 128;

    /// <summary>FASTBIN_CONSOLIDATION_THRESHOLD (malloc.c 2.12): a free that coalesces to this size consolidates fastbins and calls heap_trim.</summary>
    public int ConsolidationThreshold { get; init; } = 65536;

    /// <summary>HEAP_MAX_SIZE = 2 * DEFAULT_MMAP_THRESHOLD_MAX = 2 * 4 * 1024 * 1024 * sizeof(long) = 64 MiB (arena.c 2.12, 64-bit).</summary>
    public int HeapMaxSize { get; init; } = 64 << 20;

    /// <summary>Bytes before the first chunk of a new arena's heap: sizeof(heap_info) 32 + sizeof(struct malloc_state) 2184 (PER_THREAD build), then aligned so chunk2mem is 16-aligned.</summary>
    public int HeaderBytes { get; init; } = 32 + 2184;

    /// <summary>The request that created the arena (the thread's first malloc), passed to _int_new_arena.</summary>
    public int FirstRequest { get; init; }

    /// <summary>Simulation only: heap size the chunk tables are allocated for up front (they grow past it, allocating).</summary>
    public int PreallocatedHeapBytes { get; init; } = 4 << 20;

    /// <summary>
    /// heap_trim's test of the top chunk against mp_.trim_threshold. false: glibc 2.12's heap_trim (no
    /// test; extra = ((top − pad − MINSIZE + page − 1) / page − 1) pages). true: the heap_trim of later
    /// glibc (the test is there at 2.22 and 2.35, absent at 2.17: arena.c): nothing unless the top
    /// chunk is at least the trim threshold, then extra = ALIGN_DOWN(top − MINSIZE − 1 − pad, page).
    /// The threshold itself is process-wide and moves (mp_.trim_threshold): it is passed to
    /// <see cref="GlibcArena.Free(int, int)"/>.
    /// </summary>
    public bool HeapTrimThresholdTest { get; init; }
}

/// <summary>
/// One glibc 2.12 non-main malloc arena (a per-thread arena of a PER_THREAD/ATOMIC_FASTBINS build,
/// as Fedora 13–14 and RHEL 6 ship it), on a single sub-heap: chunks with boundary tags, a top
/// chunk, fastbins, the unsorted bin, small bins and the large chunks, following
/// <c>_int_malloc</c>, <c>_int_free</c>, <c>malloc_consolidate</c>, <c>sYSMALLOc</c> (non-main
/// arena branch → <c>grow_heap</c>) and <c>heap_trim</c> → <c>shrink_heap</c> of malloc/malloc.c and
/// malloc/arena.c at glibc-2.12. Callers name chunks by their offset in the heap (a multiple of 16).
/// Simplifications (documented in docs/decisions/0014): one sub-heap (a request beyond
/// HEAP_MAX_SIZE throws instead of creating a second heap, so heap_trim's "heap goes away" loop
/// never applies); the large bins are one set searched best-fit (smallest chunk that fits, which is
/// what glibc's sorted large bins and binmap scan pick, up to ties); no mmap()ed chunks.
/// <para>
/// Representation (a simulation choice; the decisions and their order are glibc's): each chunk and
/// the top chunk is a 24-byte record in a dense table — its header (size and state), its offset, its
/// physical neighbours (what glibc finds from the boundary tags: chunk + size and prev_size) and, while
/// free, its list links (glibc's fd/bk in the chunk's user data). A chunk keeps its record until it is
/// split or merged; dead records are reused last-freed first. Records sit close together whatever the
/// heap's size, so the broker's six chunks of a message take under two cache lines instead of the five
/// to seven of a table with one entry per 16 heap bytes (bench/RESULTS.md, 2026-11-27, seventeenth
/// session). A second table maps a chunk's offset (in 16-byte units) to its record, for callers that
/// name chunks by offset; <see cref="QpiddHeap"/> keeps the record numbers (handles) instead.
/// </para>
/// Allocation-free after construction except when the heap or the number of chunks reaches a new
/// high-water mark. The tables are rented from the thread's <see cref="RunArrays{T}"/> and go back on
/// <see cref="Dispose"/> (the arena is unusable afterwards; its counters stay readable).
/// </summary>
public sealed class GlibcArena : IDisposable
{
    private const int SizeSz = 8;
    private const int Align = 16;
    private const int MinSize = 32;
    private const int MinLargeSize = 1024; // NSMALLBINS 64 * SMALLBIN_WIDTH 16
    private const int NFastBins = 10;      // fastbin_index(request2size(MAX_FAST_SIZE = 160)) + 1
    private const int LargeList = 64;      // list id of the (simplified) large bins
    private const int UnsortedList = 0;    // list id of the unsorted bin (smallbin index 0 is unused in glibc too)
    private const int MaxIters = 10000;    // MAX_ITERS of the unsorted scan

    private const int InUse = 0, Fast = 1, Binned = 2;

    private readonly GlibcArenaSettings _s;
    private readonly int _maxFast, _consolidationThreshold, _topPad; // the settings read on every call, kept next to the bins

    /// <summary>
    /// One chunk (or the top chunk, record <see cref="Top"/>). <see cref="Head"/> packs the chunk size
    /// in bytes (a multiple of 16) with the state in bits 0–1 and, in bit 2, whether the chunk sits in
    /// the unsorted bin (a binned chunk's list is otherwise its size's: the small bin size / 16, or the
    /// large list, and a binned chunk's size does not change until it is unlinked). A dead record has
    /// Head 0 and is linked through <see cref="Fd"/> on the spare stack.
    /// </summary>
    private struct Rec
    {
        public int Head;  // size | unsorted bit | state
        public int Unit;  // offset in the heap / 16
        public int Prev;  // record of the physically preceding chunk (-1 for the first)
        public int Next;  // record of the physically following chunk (Top for the last)
        public int Fd;    // list links while free (glibc's fd/bk)
        public int Bk;
    }

    private const int StateMask = 3, UnsortedBit = 4, FlagMask = Align - 1;
    private const int Top = 0; // the top chunk's record; its Head is unused, its size is HeapSize − its offset

    private Rec[] _r;
    private int _recs = 1;       // records ever used (the high-water mark; record 0 is top)
    private int _spareRec = -1;  // dead records, linked through Fd
    private int[] _map;          // offset / 16 → record of the chunk that starts there (stale entries are checked against Rec.Unit)
    private readonly int[] _headFd = new int[LargeList + 1];
    private readonly int[] _headBk = new int[LargeList + 1];
    private readonly int[] _fast = new int[NFastBins];
    private readonly int _firstUnit;
    private int _lastRemainder = -1; // av->last_remainder: an address (unit), not a record, since records are reused
    private bool _haveFastChunks;
    private ulong _binmap;       // bit b: small bin b holds a chunk (glibc's binmap, exact here)

    public GlibcArena(GlibcArenaSettings settings)
    {
        _s = settings;
        _maxFast = settings.MaxFast;
        _consolidationThreshold = settings.ConsolidationThreshold;
        _topPad = settings.TopPad;
        if (settings.MaxFast > 160 || settings.MaxFast % Align != 0)
            throw new ArgumentException("max_fast must be a multiple of 16 up to MAX_FAST_SIZE's chunk (160)", nameof(settings));
        if (settings.PageSize < 4096 || (settings.PageSize & (settings.PageSize - 1)) != 0)
            throw new ArgumentException("page size must be a power of two ≥ 4096", nameof(settings));
        Array.Fill(_headFd, -1);
        Array.Fill(_headBk, -1);
        Array.Fill(_fast, -1);

        // _int_new_arena → new_heap(size + sizeof(heap_info) + sizeof(malloc_state) + MALLOC_ALIGNMENT, top_pad).
        long size = (long)settings.FirstRequest + settings.HeaderBytes + Align;
        const long heapMinSize = 32 * 1024; // HEAP_MIN_SIZE
        if (size + settings.TopPad < heapMinSize)
            size = heapMinSize;
        else if (size + settings.TopPad <= settings.HeapMaxSize)
            size += settings.TopPad;
        else if (size > settings.HeapMaxSize)
            throw new ArgumentException("first request larger than a heap", nameof(settings));
        else
            size = settings.HeapMaxSize;
        HeapSize = PageUp(size);
        MprotectSize = HeapSize;
        MaxHeapSize = HeapSize;

        // The top chunk starts after the headers, placed so that chunk2mem (chunk + 16) is aligned.
        int first = settings.HeaderBytes;
        int misalign = (first + 2 * SizeSz) & (Align - 1);
        if (misalign > 0)
            first += Align - misalign;
        _firstUnit = first / Align;
        int units = Math.Max(HeapSize, settings.PreallocatedHeapBytes) / Align + 2;
        _map = RunArrays<int>.Rent(units);
        // Records: one per chunk; a heap of broker-sized chunks (≥ 32 bytes, most ≥ 48) needs well under units / 4.
        _r = RunArrays<Rec>.Rent(Math.Max(64, units / 8));
        _r[Top].Unit = _firstUnit;
        _r[Top].Prev = -1;
    }

    public GlibcArenaSettings Settings => _s;

    /// <summary>
    /// Returns the tables to the thread's spares. Every map entry the arena wrote lies below the
    /// highest heap end it reached (<see cref="MprotectSize"/>) plus one unit, and every record it
    /// wrote below its high-water mark, so those prefixes are what gets cleared.
    /// </summary>
    public void Dispose()
    {
        if (_r is null)
            return;
        RunArrays<Rec>.Return(_r, _recs);
        RunArrays<int>.Return(_map, MprotectSize / Align + 2);
        _r = null!;
        _map = null!;
    }

    /// <summary>For tests: the calling thread's spare tables (records and offset maps) are all zero (the dirty bounds above held).</summary>
    internal static bool SpareTablesAreClear() => RunArrays<Rec>.SparesAreClear() && RunArrays<int>.SparesAreClear();

    /// <summary>For tests: how many spare record tables the calling thread holds.</summary>
    internal static int SpareTables => RunArrays<Rec>.SpareCount;

    /// <summary>h->size: bytes of the sub-heap that are mapped read-write and not trimmed.</summary>
    public int HeapSize { get; private set; }

    /// <summary>h->mprotect_size: the high-water mark made accessible (madvise does not lower it).</summary>
    public int MprotectSize { get; private set; }

    public int MaxHeapSize { get; private set; }

    /// <summary>Offset of the top chunk in the heap, and its size.</summary>
    public int TopOffset => _r[Top].Unit * Align;
    public int TopSize => HeapSize - _r[Top].Unit * Align;

    /// <summary>heap_trim calls that shrank the heap (each is one madvise(MADV_DONTNEED)), and the bytes given back.</summary>
    public long Trims { get; private set; }
    public long TrimmedBytes { get; private set; }

    /// <summary>heap_trim calls (from frees that coalesced to ≥ FASTBIN_CONSOLIDATION_THRESHOLD), shrinking or not.</summary>
    public long TrimAttempts { get; private set; }

    public long Consolidations { get; private set; }
    public long Grows { get; private set; }
    public long Mallocs { get; private set; }
    public long Frees { get; private set; }

    /// <summary>request2size: the chunk size glibc uses for a malloc(<paramref name="bytes"/>).</summary>
    public static int Request2Size(int bytes)
    {
        int n = bytes + SizeSz + Align - 1;
        return n < MinSize ? MinSize : n & ~(Align - 1);
    }

    /// <summary>Whether <paramref name="offset"/> is an allocated chunk (in use, not in a fastbin or bin).</summary>
    public bool IsInUse(int offset) => Lookup(offset) >= 0;

    /// <summary>Chunk size of the chunk at <paramref name="offset"/> (allocated or free).</summary>
    public int ChunkSize(int offset)
    {
        int h = LookupAny(offset);
        if (h < 0)
            throw new InvalidOperationException($"{offset}: no chunk starts there");
        return SizeOf(h);
    }

    public bool HaveFastChunks => _haveFastChunks;

    /// <summary>_int_malloc: returns the chunk's offset in the heap.</summary>
    public int Malloc(int bytes)
    {
        if (!Models(bytes))
            throw new ArgumentOutOfRangeException(nameof(bytes), "requests of mmap size are not modelled");
        return OffsetOf(Alloc(Request2Size(bytes)));
    }

    /// <summary>Whether <see cref="Malloc"/> models a request of <paramref name="bytes"/> (not an mmap()ed chunk).</summary>
    public bool Models(int bytes) => bytes >= 0 && bytes < _s.HeapMaxSize / 2;

    /// <summary>
    /// <see cref="Malloc"/> of a request <see cref="Models"/> accepts, given as its chunk size
    /// <paramref name="nb"/> = <see cref="Request2Size"/>(bytes), what _int_malloc computes first
    /// (checked_request2size). Returns the chunk's offset.
    /// </summary>
    internal int MallocChunk(int nb) => OffsetOf(Alloc(nb));

    /// <summary>The offset of the allocated chunk whose handle <see cref="Alloc"/> returned (the handle stays valid until the chunk is freed).</summary>
    internal int OffsetOf(int handle) => _r[handle].Unit * Align;

    /// <summary>
    /// _int_malloc of a chunk of <paramref name="nb"/> = <see cref="Request2Size"/>(bytes) bytes, as
    /// <see cref="MallocChunk"/>, returning the chunk's record (a handle for <see cref="FreeHandle"/>)
    /// instead of its offset. The broker's requests are the same for every message, so their chunk
    /// sizes are computed once, and it keeps handles (<see cref="QpiddHeap"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int Alloc(int nb)
    {
        if (nb <= _maxFast)
        {
            int fi = FastIndex(nb);
            int victim = _fast[fi];
            if (victim >= 0)
            {
                Mallocs++;
                ref Rec v = ref _r[victim];
                _fast[fi] = v.Fd;
                v.Head &= ~StateMask; // InUse
                return victim;
            }
        }
        return AllocPastFastbin(nb);
    }

    /// <summary>The rest of _int_malloc once the fastbin (if <paramref name="nb"/> is a fastbin size) is empty.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int AllocPastFastbin(int nb)
    {
        Mallocs++;
        int victim;

        bool small = nb < MinLargeSize;
        if (small)
        {
            int bin = nb / Align;
            victim = _headBk[bin]; // last(bin)
            if (victim >= 0)
            {
                Unlink(victim);
                return victim;
            }
        }
        else if (_haveFastChunks)
        {
            Consolidate();
        }

        for (; ; )
        {
            // The unsorted chunks, oldest first: an exact fit is taken, the last remainder is split
            // for a small request when it is the only one, everything else goes into its bin.
            int iters = 0;
            while ((victim = _headBk[UnsortedList]) >= 0)
            {
                int size = SizeOf(victim);
                if (small && _r[victim].Bk < 0 && _r[victim].Unit == _lastRemainder && size > nb + MinSize)
                {
                    Unlink(victim);
                    int rem = Split(victim, nb);
                    InsertFront(UnsortedList, rem);
                    _lastRemainder = _r[rem].Unit;
                    return victim;
                }
                Unlink(victim);
                if (size == nb)
                    return victim;
                InsertFront(size < MinLargeSize ? size / Align : LargeList, victim);
                if (++iters >= MaxIters)
                    break;
            }

            // Best fit among the bins above nb's (binmap scan): the next non-empty small bin's
            // last chunk, else the smallest large chunk that fits.
            victim = -1;
            if (small)
            {
                // The binmap: one bit per non-empty small bin.
                // (a 1008-byte request is the last small bin: no small bin above it; C#'s 64-bit shift would wrap to 0)
                int firstAbove = (nb / Align) + 1;
                ulong above = firstAbove >= 64 ? 0 : _binmap & (~0UL << firstAbove);
                if (above != 0)
                    victim = _headBk[System.Numerics.BitOperations.TrailingZeroCount(above)];
            }
            if (victim < 0)
                victim = SmallestLargeFit(nb);
            if (victim >= 0)
            {
                Unlink(victim);
                if (SizeOf(victim) - nb >= MinSize)
                {
                    int rem = Split(victim, nb);
                    InsertFront(UnsortedList, rem);
                    if (small)
                        _lastRemainder = _r[rem].Unit;
                }
                return victim;
            }

            // use_top
            if (TopSize >= nb + MinSize)
                return SplitTop(nb);
            if (_haveFastChunks)
            {
                Consolidate(); // ATOMIC_FASTBINS: for any request size, then retry
                continue;
            }
            // sYSMALLOc, non-main arena: grow_heap by MINSIZE + nb - old top size, page-rounded.
            GrowHeap(MinSize + nb - TopSize);
            return SplitTop(nb);
        }
    }

    /// <summary>
    /// _int_free of the chunk at <paramref name="offset"/>. Returns the bytes heap_trim gave back to
    /// the kernel with madvise(MADV_DONTNEED) (0 if it did not shrink the heap).
    /// </summary>
    public int Free(int offset) => Free(offset, 0);

    /// <summary>
    /// <see cref="Free(int)"/> with the process's current mp_.trim_threshold, which heap_trim tests when
    /// <see cref="GlibcArenaSettings.HeapTrimThresholdTest"/> is set (later glibc).
    /// </summary>
    public int Free(int offset, int trimThreshold)
    {
        int h = Lookup(offset);
        if (h < 0)
            throw new InvalidOperationException($"free of {offset}: not an allocated chunk (double free or corruption)");
        return FreeHandle(h, trimThreshold);
    }

    /// <summary><see cref="Free(int, int)"/> of the chunk whose handle <see cref="Alloc"/> returned.</summary>
    internal int FreeHandle(int h, int trimThreshold)
    {
        int head = _r[h].Head;
        if ((head & StateMask) != InUse || (head & ~FlagMask) == 0 || h == Top)
            ThrowNotAllocated(h);
        Frees++;
        int size = head & ~FlagMask;

        if (size <= _maxFast)
        {
            // TRIM_FASTBINS is 0: even a chunk bordering top goes to its fastbin.
            int fi = FastIndex(size);
            ref Rec p = ref _r[h];
            p.Fd = _fast[fi];
            p.Head = head | Fast;
            _fast[fi] = h;
            _haveFastChunks = true;
            return 0;
        }

        size = Coalesce(h, size);
        if (size >= _consolidationThreshold)
        {
            if (_haveFastChunks)
                Consolidate();
            // Non-main arena: always try heap_trim (no trim threshold in 2.12), pad = mp_.top_pad.
            return HeapTrim(_topPad, trimThreshold);
        }
        return 0;
    }

    /// <summary>Kept out of <see cref="FreeHandle"/>, which is inlined into the broker's dequeue loop (the message's formatting state would be set up on every call).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNotAllocated(int h)
        => throw new InvalidOperationException($"free of {_r[h].Unit * Align}: not an allocated chunk (double free or corruption)");

    /// <summary>
    /// realloc to a smaller size in place (_int_realloc, glibc 2.35 malloc.c: the new size fits the old
    /// chunk): when the rest is at least MINSIZE it is split off as a chunk marked in use, whose offset is
    /// returned for the caller to free (_int_realloc calls _int_free on it, which in 2.26+ first tries the
    /// thread's tcache); −1 when nothing was split off.
    /// </summary>
    public int ShrinkInPlace(int offset, int bytes)
    {
        int p = Lookup(offset);
        if (p < 0)
            throw new InvalidOperationException($"realloc of {offset}: not an allocated chunk");
        int nb = Request2Size(bytes);
        int size = SizeOf(p);
        if (nb > size)
            throw new InvalidOperationException($"realloc of {offset} (a {size}-byte chunk) to {bytes} bytes: only shrinking is modelled");
        if (size - nb < MinSize)
            return -1;
        int rem = Split(p, nb);
        SetState(rem, InUse);
        return OffsetOf(rem);
    }

    /// <summary>malloc_consolidate: every fastbin chunk is coalesced with its free neighbours (or into top) and put in the unsorted bin.</summary>
    public void Consolidate()
    {
        Consolidations++;
        _haveFastChunks = false;
        for (int fi = 0; fi < NFastBins; fi++)
        {
            int p = _fast[fi];
            _fast[fi] = -1;
            while (p >= 0)
            {
                int next = _r[p].Fd;
                Coalesce(p, SizeOf(p));
                p = next;
            }
        }
    }

    /// <summary>heap_trim (arena.c 2.12) for a single heap: keep pad + MINSIZE and round to pages; shrink_heap madvises the rest away.</summary>
    private int HeapTrim(int pad, int trimThreshold)
    {
        TrimAttempts++;
        long page = _s.PageSize;
        long topSize = TopSize;
        long extra;
        if (_s.HeapTrimThresholdTest)
        {
            // Later glibc (2.22 … 2.35 arena.c heap_trim): the same logic as systrim for the main arena.
            if (topSize < trimThreshold)
                return 0;
            long topArea = topSize - MinSize - 1;
            if (topArea <= pad)
                return 0;
            extra = (topArea - pad) & ~(page - 1);
            if (extra == 0)
                return 0;
        }
        else
        {
            extra = ((topSize - pad - MinSize + (page - 1)) / page - 1) * page; // C division truncates toward zero, as here
            if (extra < page)
                return 0;
        }
        // shrink_heap: not __libc_enable_secure → madvise(MADV_DONTNEED); h->size shrinks, mprotect_size stays.
        HeapSize -= (int)extra;
        Trims++;
        TrimmedBytes += extra;
        return (int)extra;
    }

    private void GrowHeap(long diff)
    {
        long newSize = HeapSize + PageUp(diff);
        if (newSize > _s.HeapMaxSize)
            throw new InvalidOperationException("the arena's heap is full: a second heap (new_heap) is not modelled");
        if (newSize > MprotectSize)
            MprotectSize = (int)newSize; // mprotect(PROT_READ|PROT_WRITE): no TLB flush needed
        HeapSize = (int)newSize;
        MaxHeapSize = Math.Max(MaxHeapSize, HeapSize);
        EnsureMap(HeapSize / Align + 2);
        Grows++;
    }

    /// <summary>Coalesces a chunk being freed with free neighbours (in bins, not fastbins) or into top; returns the resulting size.</summary>
    private int Coalesce(int p, int size)
    {
        int next = _r[p].Next;
        int prev = _r[p].Prev;
        if (prev >= 0 && StateOf(prev) == Binned)
        {
            Unlink(prev);
            size += SizeOf(prev);
            Kill(p);
            p = prev;
        }
        if (next == Top)
        {
            // The chunk (with a free predecessor) becomes the start of top.
            ref Rec top = ref _r[Top];
            int topUnit = top.Unit;
            top.Unit = _r[p].Unit;
            int before = _r[p].Prev;
            top.Prev = before;
            if (before >= 0)
                _r[before].Next = Top;
            Kill(p);
            return size + (HeapSize - topUnit * Align);
        }
        if (StateOf(next) == Binned)
        {
            Unlink(next);
            size += SizeOf(next);
            int after = _r[next].Next;
            Kill(next);
            next = after;
        }
        ref Rec c = ref _r[p];
        c.Head = size | Binned;
        c.Next = next;
        _r[next].Prev = p;
        InsertFront(UnsortedList, p);
        return size;
    }

    private int SplitTop(int nb)
    {
        int victim = NewRec();
        ref Rec top = ref _r[Top];
        int unit = top.Unit;
        int before = top.Prev;
        top.Unit = unit + nb / Align;
        top.Prev = victim;
        ref Rec v = ref _r[victim];
        v.Head = nb | InUse;
        v.Unit = unit;
        v.Prev = before;
        v.Next = Top;
        if (before >= 0)
            _r[before].Next = victim;
        EnsureMap(unit + nb / Align + 2);
        _map[unit] = victim;
        return victim;
    }

    /// <summary>Cuts <paramref name="victim"/> to <paramref name="nb"/> bytes; returns the remainder chunk (free, not linked).</summary>
    private int Split(int victim, int nb)
    {
        int rem = NewRec();
        ref Rec v = ref _r[victim];
        int size = v.Head & ~FlagMask;
        v.Head = (v.Head & FlagMask) | nb;
        int after = v.Next;
        v.Next = rem;
        ref Rec r = ref _r[rem];
        r.Head = (size - nb) | Binned;
        r.Unit = v.Unit + nb / Align;
        r.Prev = victim;
        r.Next = after;
        _r[after].Prev = rem;
        _map[r.Unit] = rem;
        return rem;
    }

    private int SmallestLargeFit(int nb)
    {
        int best = -1;
        for (int c = _headFd[LargeList]; c >= 0; c = _r[c].Fd)
        {
            if (SizeOf(c) >= nb && (best < 0 || SizeOf(c) < SizeOf(best)))
                best = c;
        }
        return best;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void InsertFront(int list, int c)
    {
        ref Rec r = ref _r[c];
        r.Head = (r.Head & ~FlagMask) | Binned | (list == UnsortedList ? UnsortedBit : 0);
        if (list != UnsortedList && list != LargeList)
            _binmap |= 1UL << list;
        int first = _headFd[list];
        r.Fd = first;
        r.Bk = -1;
        if (first >= 0)
            _r[first].Bk = c;
        else
            _headBk[list] = c;
        _headFd[list] = c;
    }

    /// <summary>Takes a binned chunk off its list; it is then in use (state InUse, out of the unsorted bin).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Unlink(int c)
    {
        ref Rec r = ref _r[c];
        int list = ListOf(r.Head);
        int f = r.Fd, b = r.Bk;
        if (b >= 0) _r[b].Fd = f; else _headFd[list] = f;
        if (f >= 0) _r[f].Bk = b; else _headBk[list] = b;
        if (_headFd[list] < 0 && list != UnsortedList && list != LargeList)
            _binmap &= ~(1UL << list);
        r.Head &= ~FlagMask; // InUse, out of the unsorted bin
    }

    /// <summary>A record for a new chunk: the last one that died, else the next never used (the table grows, allocating, past its size).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int NewRec()
    {
        int h = _spareRec;
        if (h >= 0)
        {
            _spareRec = _r[h].Fd;
            return h;
        }
        h = _recs++;
        if (h >= _r.Length)
            Array.Resize(ref _r, _r.Length * 2);
        return h;
    }

    /// <summary>A chunk merged into a neighbour or top: its record dies (Head 0, so a stale offset map entry or handle is no chunk).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Kill(int h)
    {
        ref Rec r = ref _r[h];
        r.Head = 0;
        r.Fd = _spareRec;
        _spareRec = h;
    }

    /// <summary>The record of the allocated chunk at <paramref name="offset"/>, or −1 if none starts there.</summary>
    private int Lookup(int offset)
    {
        int h = LookupAny(offset);
        return h >= 0 && StateOf(h) == InUse ? h : -1;
    }

    /// <summary>The record of the chunk (allocated or free, not top) at <paramref name="offset"/>, or −1 if none starts there.</summary>
    private int LookupAny(int offset)
    {
        int p = offset / Align;
        if (offset % Align != 0 || p < _firstUnit || p >= _r[Top].Unit || p >= _map.Length)
            return -1;
        int h = _map[p];
        if (h <= Top || h >= _recs)
            return -1;
        return _r[h].Unit == p && (_r[h].Head & ~FlagMask) != 0 ? h : -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SizeOf(int c) => _r[c].Head & ~FlagMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int StateOf(int c) => _r[c].Head & StateMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetState(int c, int state) => _r[c].Head = (_r[c].Head & ~StateMask) | state;

    /// <summary>The list a binned chunk with header <paramref name="head"/> is in: the unsorted bin, or its size's small bin or the large list.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ListOf(int head)
    {
        if ((head & UnsortedBit) != 0)
            return UnsortedList;
        int size = head & ~FlagMask;
        return size < MinLargeSize ? size / Align : LargeList;
    }

    private static int FastIndex(int size) => (size >> 4) - 2;

    private int PageUp(long bytes) => (int)((bytes + _s.PageSize - 1) & ~(long)(_s.PageSize - 1));

    private void EnsureMap(int units)
    {
        if (units < _map.Length)
            return;
        Array.Resize(ref _map, Math.Max(units + 1, _map.Length * 2));
    }

    /// <summary>Free bytes held in fastbins, bins and top (for tests and invariants).</summary>
    public long FreeBytes()
    {
        long sum = TopSize;
        for (int fi = 0; fi < NFastBins; fi++)
            for (int c = _fast[fi]; c >= 0; c = _r[c].Fd)
                sum += SizeOf(c);
        for (int l = 0; l <= LargeList; l++)
            for (int c = _headFd[l]; c >= 0; c = _r[c].Fd)
                sum += SizeOf(c);
        return sum;
    }

    /// <summary>Walks the heap from the first chunk to top; throws if the boundary tags disagree. Returns the bytes in use.</summary>
    public long CheckHeap()
    {
        long inUse = 0;
        int unit = _firstUnit, prev = -1;
        int c = _r[Top].Unit == _firstUnit ? Top : _map[_firstUnit];
        bool prevFree = false;
        while (c != Top)
        {
            if (c <= Top || c >= _recs || _r[c].Unit != unit)
                throw new InvalidOperationException($"chunk at {unit * Align}: no record starts there");
            int size = SizeOf(c);
            if (size < MinSize || size % Align != 0)
                throw new InvalidOperationException($"chunk at {unit * Align}: bad size {size}");
            if (_r[c].Prev != prev)
                throw new InvalidOperationException($"chunk at {unit * Align}: prev link {_r[c].Prev} ≠ {prev}");
            if (_map[unit] != c)
                throw new InvalidOperationException($"chunk at {unit * Align}: the offset map names record {_map[unit]}, not {c}");
            bool free = StateOf(c) == Binned;
            if (free && prevFree)
                throw new InvalidOperationException($"chunk at {unit * Align}: two adjacent free chunks were not coalesced");
            if (StateOf(c) == InUse)
                inUse += size;
            prevFree = free;
            prev = c;
            unit += size / Align;
            c = _r[c].Next;
        }
        if (unit != _r[Top].Unit || _r[Top].Prev != prev)
            throw new InvalidOperationException("the last chunk does not end at top");
        if (prevFree)
            throw new InvalidOperationException("a free chunk borders top");
        if (TopSize < MinSize)
            throw new InvalidOperationException("top smaller than MINSIZE");
        return inUse;
    }
}

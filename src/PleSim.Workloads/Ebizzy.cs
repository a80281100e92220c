using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>ebizzy's options (ebizzy 0.3, ebizzy.c <c>read_options</c>; defaults are the tool's) and the model's costs.</summary>
public sealed record EbizzySettings
{
    /// <summary>-t: threads (the tool's default is 2 × online CPUs; 0 here means that).</summary>
    public int Threads { get; init; }

    /// <summary>-n: memory chunks (default 10).</summary>
    public int Chunks { get; init; } = 10;

    /// <summary>-s: chunk size in bytes (default record_size × 64 Ki = 512 KiB).</summary>
    public int ChunkSize { get; init; } = 8 * 64 * 1024;

    /// <summary>-S: seconds to run (default 10): threads_go drops then and the run ends.</summary>
    public int Seconds { get; init; } = 10;

    /// <summary>-m: always mmap/munmap the copy buffer instead of malloc/free.</summary>
    public bool AlwaysMmap { get; init; }

    /// <summary>-M: never mmap (mallopt(M_MMAP_MAX, 0)): every malloc comes from the thread's arena.</summary>
    public bool NeverMmap { get; init; }

    /// <summary>-R: random copy size (rand_num(chunk_size / record_size) + 1 records).</summary>
    public bool RandomSize { get; init; }

    /// <summary>-T: only touch one byte per page of the buffer (no copy, no search).</summary>
    public bool TouchPages { get; init; }

    /// <summary>-l: copy with ebizzy's byte loop (my_memcpy) instead of the library memcpy.</summary>
    public bool NoLibMemcpy { get; init; }

    /// <summary>-z: linear search instead of bsearch.</summary>
    public bool Linear { get; init; }

    /// <summary>Library memcpy cost per byte (user mode; assumption).</summary>
    public double MemcpyNsPerByte { get; init; } = 0.1;

    /// <summary>my_memcpy's byte loop cost per byte (assumption).</summary>
    public double ByteCopyNsPerByte { get; init; } = 0.5;

    /// <summary>One bsearch comparison (assumption).</summary>
    public SimDuration Compare { get; init; } = SimDuration.FromNanoseconds(5);

    /// <summary>One record looked at by the linear search (assumption).</summary>
    public double LinearNsPerRecord { get; init; } = 1.0;

    /// <summary>Touching one byte of a present page (-T; assumption).</summary>
    public SimDuration Touch { get; init; } = SimDuration.FromNanoseconds(10);

    /// <summary>The system-call entry/exit around mmap/munmap/madvise (assumption).</summary>
    public SimDuration Syscall { get; init; } = SimDuration.FromNanoseconds(200);

    public GlibcArenaSettings Arena { get; init; } = new();
    public MmCosts Mm { get; init; } = new();
}

/// <summary>
/// ebizzy 0.3 (ebizzy.c): <c>threads</c> threads of one process run <c>search_mem</c> until
/// <c>threads_go</c> drops: pick a chunk (<c>rand_num</c>), <c>alloc_mem</c> a buffer, memcpy the
/// chunk into it (faulting its fresh pages in), pick a key and bsearch it, <c>free_mem</c> the
/// buffer; the iterations are the records. With malloc (the default) glibc serves the 512 KiB
/// buffer by mmap until the first free raises the dynamic mmap threshold above it, then from the
/// thread's arena, whose <c>heap_trim</c> gives the top back with madvise(MADV_DONTNEED) on each
/// free — so every record is page faults (mmap_sem read) and a madvise (mmap_sem read) ending in a
/// TLB shootdown of the process's other CPUs. With -m it is mmap + munmap (mmap_sem write).
/// </summary>
public sealed class Ebizzy
{
    /// <summary>DEFAULT_MMAP_THRESHOLD (128 KiB) and DEFAULT_MMAP_THRESHOLD_MAX on 64-bit (4 MiB × sizeof(long)), glibc 2.12 malloc.c.</summary>
    internal const int DefaultMmapThreshold = 128 * 1024, MmapThresholdMax = 4 * 1024 * 1024 * 8;

    private readonly List<EbizzyThread> _threads = [];
    private readonly Action? _onAllDone;
    private int _finished;

    public Ebizzy(GuestKernel kernel, EbizzySettings settings, int mmId = 1, Action? onAllDone = null)
    {
        Settings = settings;
        _onAllDone = onAllDone;
        Zone = new GuestZone(kernel, "zone.normal", settings.Mm);
        Mm = new GuestMm(kernel, mmId, Zone);
        StopAtNs = SimDuration.FromSeconds(settings.Seconds).Ns;
        int n = settings.Threads > 0 ? settings.Threads : 2 * kernel.Cpus.Length;
        for (int i = 0; i < n; i++)
        {
            var p = new EbizzyThread(this, kernel, i);
            _threads.Add(p);
            kernel.CreateThread($"ebizzy{i}", p, i % kernel.Cpus.Length, mm: mmId);
        }
        Kernel = kernel;
    }

    public EbizzySettings Settings { get; }
    public GuestKernel Kernel { get; }
    public GuestZone Zone { get; }
    public GuestMm Mm { get; }
    public long StopAtNs { get; }

    /// <summary>glibc's mp_.mmap_threshold (shared by the process's threads).</summary>
    public int MmapThreshold { get; internal set; } = DefaultMmapThreshold;

    /// <summary>Records read (search_mem iterations completed, all threads).</summary>
    public long Records { get; internal set; }

    public IReadOnlyList<EbizzyThread> Threads => _threads;

    /// <summary>When the last thread stopped (ns), or -1.</summary>
    public long CompletedAt { get; private set; } = -1;

    internal void ThreadDone()
    {
        if (++_finished == _threads.Count)
        {
            CompletedAt = Kernel.Kvm.Sim.Now.Ns;
            _onAllDone?.Invoke();
        }
    }

    /// <summary>ebizzy's <c>rand_num</c>: "*state *= 1103515245 + 12345; return (*state / 65536) % max" (unsigned int arithmetic, as written).</summary>
    public static uint RandNum(uint max, ref uint state)
    {
        unchecked
        {
            state *= 1103515245u + 12345u;
        }
        return state / 65536 % max;
    }
}

/// <summary>The steps of <see cref="EbizzyThread"/>.</summary>
public enum EbizzyStep
{
    /// <summary>A record is searched and its buffer freed: count it.</summary>
    Record,
}

/// <summary>One ebizzy thread: the <c>search_mem</c> loop as a state machine.</summary>
public sealed class EbizzyThread : MmProgram<EbizzyStep>
{
    private const int PageSize = 4096;

    private readonly Ebizzy _e;
    private readonly EbizzySettings _s;
    private readonly GuestSpinLock _pte;
    private readonly GlibcArena? _arena;
    private readonly bool[] _present;  // arena pages currently mapped (faulted in and not given back)
    private bool _arenaCreated;
    private uint _state;               // search_mem's "unsigned int state = 0"
    private int _step;                 // 0: start a record, 1: faulting/copying pages, 2: search + free
    private int _copySize, _pages, _page, _offset;
    private bool _mmapped;             // the buffer is an mmap()ed chunk (or -m)

    internal EbizzyThread(Ebizzy e, GuestKernel kernel, int index)
    {
        _e = e;
        _s = e.Settings;
        // Each thread's buffer lies in its own arena heap (or mapping): its own page-table page, so its own split PTE lock.
        _pte = kernel.NewLock($"ebizzy{index}.ptl");
        RwSemWaiter = new RwSemWaiter(kernel, $"ebizzy{index}");
        if (!_s.AlwaysMmap)
        {
            _arena = new GlibcArena(_s.Arena with { FirstRequest = _s.ChunkSize });
            _present = new bool[(_s.Arena.HeapMaxSize / PageSize) + 1];
        }
        else
        {
            _present = [];
        }
    }

    public long Records { get; private set; }
    public bool Finished { get; private set; }

    /// <summary>madvise(MADV_DONTNEED) calls from heap_trim, munmaps, mmaps.</summary>
    public long Trims, Munmaps, Mmaps;

    protected override void Plan(GuestThread thread)
    {
        switch (_step)
        {
            case 0:
                if (_e.Kernel.Kvm.Sim.Now.Ns >= _e.StopAtNs)
                {
                    // threads_go == 0: search_mem returns; thread_run adds to records_read and ends.
                    if (!Finished)
                    {
                        Finished = true;
                        _e.ThreadDone();
                    }
                    Emit(GuestAction.Exit);
                    return;
                }
                StartRecord();
                return;
            case 1:
                CopyPage();
                return;
            default:
                SearchAndFree();
                return;
        }
    }

    /// <summary>rand_num for the chunk (and size with -R), then alloc_mem.</summary>
    private void StartRecord()
    {
        Ebizzy.RandNum((uint)_s.Chunks, ref _state); // the chunk: all chunks hold the same pattern, so only the draw matters
        _copySize = _s.ChunkSize;
        if (_s.RandomSize)
            _copySize = (int)((Ebizzy.RandNum((uint)(_s.ChunkSize / 8), ref _state) + 1) * 8);
        _page = 0;
        _step = 1;
        if (_s.AlwaysMmap)
        {
            _mmapped = true;
            _offset = 0;
            _pages = (_copySize + PageSize - 1) / PageSize;
            EmitSyscallMmap();
            return;
        }
        // glibc malloc: sYSMALLOc mmaps requests at or above mp_.mmap_threshold unless M_MMAP_MAX is 0.
        int nb = GlibcArena.Request2Size(_copySize);
        if (!_s.NeverMmap && nb >= _e.MmapThreshold)
        {
            _mmapped = true;
            _offset = 0;
            _pages = (nb + 8 + PageSize - 1) / PageSize; // size + SIZE_SZ rounded up to pages
            EmitSyscallMmap();
            return;
        }
        _mmapped = false;
        if (!_arenaCreated)
        {
            // _int_new_arena → new_heap: the thread's first malloc maps its arena's heap.
            _arenaCreated = true;
            EmitSyscallMmap();
        }
        int mprotectBefore = _arena!.MprotectSize;
        _offset = _arena.Malloc(_copySize);
        if (_arena.MprotectSize > mprotectBefore)
        {
            // grow_heap past h->mprotect_size: mprotect(PROT_READ|PROT_WRITE) under mmap_sem for write.
            EmitSyscallMmap();
        }
        _pages = (_copySize + PageSize - 1) / PageSize;
        if (_pages == 0)
            _step = 2;
        Emit(GuestAction.Compute(100, userMode: true)); // malloc's own bookkeeping (assumption)
    }

    private void EmitSyscallMmap()
    {
        Mmaps++;
        Emit(GuestAction.Compute(_s.Syscall.Ns));
        EmitMmap(_e.Mm);
    }

    /// <summary>The memcpy (or -T touch) reaches the next page: fault it in if it is not present, then copy it.</summary>
    private void CopyPage()
    {
        int bytes = Math.Min(PageSize, _copySize - (_page * PageSize));
        bool fault;
        if (_mmapped)
        {
            fault = true;
        }
        else
        {
            int pg = (_offset / PageSize) + _page;
            fault = !_present[pg];
            _present[pg] = true;
        }
        if (fault)
            EmitPageFault(_e.Mm, _pte);
        if (_s.TouchPages)
            Emit(GuestAction.Compute(_s.Touch.Ns, userMode: true));
        else
            Emit(GuestAction.Compute(Math.Max(1, (long)(bytes * (_s.NoLibMemcpy ? _s.ByteCopyNsPerByte : _s.MemcpyNsPerByte))), userMode: true));
        if (++_page >= _pages)
            _step = 2;
    }

    /// <summary>The key, the search, free_mem, and the record counted.</summary>
    private void SearchAndFree()
    {
        _step = 0;
        if (!_s.TouchPages)
        {
            uint records = (uint)Math.Max(1, _copySize / 8);
            uint key = Ebizzy.RandNum(records, ref _state);
            long ns = _s.Linear
                ? (long)((key + 1) * _s.LinearNsPerRecord)
                : _s.Compare.Ns * (1 + System.Numerics.BitOperations.Log2(records));
            Emit(GuestAction.Compute(Math.Max(1, ns), userMode: true));
        }
        if (_mmapped)
        {
            // munmap (-m), or glibc's munmap_chunk — whose free first raises the dynamic threshold:
            // public_fREe sets mp_.mmap_threshold to a freed mmapped chunk's size when it is above
            // the threshold and at most DEFAULT_MMAP_THRESHOLD_MAX.
            if (!_s.AlwaysMmap)
            {
                int size = _pages * PageSize;
                if (size > _e.MmapThreshold && size <= Ebizzy.MmapThresholdMax)
                    _e.MmapThreshold = size;
            }
            Munmaps++;
            Emit(GuestAction.Compute(_s.Syscall.Ns));
            EmitMunmap(_e.Mm, _pages, _pte);
        }
        else
        {
            int heapBefore = _arena!.HeapSize;
            int trimmed = _arena.Free(_offset);
            Emit(GuestAction.Compute(100, userMode: true)); // free's bookkeeping (assumption)
            if (trimmed > 0)
            {
                // heap_trim → shrink_heap: madvise(MADV_DONTNEED) of the heap's tail.
                int first = _arena.HeapSize / PageSize, last = heapBefore / PageSize;
                int present = 0;
                for (int p = first; p < last; p++)
                {
                    if (_present[p])
                    {
                        present++;
                        _present[p] = false;
                    }
                }
                Trims++;
                Emit(GuestAction.Compute(_s.Syscall.Ns));
                EmitMadviseDontneed(_e.Mm, present, _pte);
            }
        }
        Emit(EbizzyStep.Record);
    }

    protected override void Run(GuestThread thread, EbizzyStep step)
    {
        if (step == EbizzyStep.Record)
        {
            Records++;
            _e.Records++;
        }
    }
}

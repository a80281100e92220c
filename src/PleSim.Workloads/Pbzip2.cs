using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// pbzip2 1.1.x's options and constants (pbzip2.cpp, pbzip2.h; bzip2 1.0.x bzlib.c) and the model's costs
/// (guest time). Constants carry the symbol they come from; costs and the input's size are assumptions
/// unless a source is named (decision 0061 lists every one).
/// </summary>
public sealed record Pbzip2Settings
{
    /// <summary><c>-p</c>: consumer (compressor) threads; 0: <c>detectCPUs()</c> = the guest's online CPUs, pbzip2's default.</summary>
    public int Threads { get; init; }

    /// <summary>Bytes of the input file (assumption: about a Linux 5.x source tarball, ~1 GB).</summary>
    public long InputBytes { get; init; } = 1_000_000_000;

    /// <summary><c>-b9</c> (default): the producer reads the file in blocks of 9 × 100,000 bytes.</summary>
    public int BlockSize { get; init; } = 900_000;

    /// <summary><c>-9</c> (default <c>BWTblockSize</c>): BZ2_bzBuffToBuffCompress's blockSize100k, which sizes libbzip2's work arrays.</summary>
    public int Bwt100k { get; init; } = 9;

    /// <summary><c>-m</c> default <c>maxMemory</c> = 100,000,000 bytes: <c>NumBufferedBlocksMax</c> = maxMemory / blockSize − 2 × numCPU, at least numCPU without -m.</summary>
    public long MaxMemory { get; init; } = 100_000_000;

    /// <summary>
    /// bzip2 -9 compression speed of one core, MB (10^6 bytes) of input per second: lzbench 1.8's README gives
    /// bzip2 1.0.8 -9 at 15 MB/s on one i7-8700K core (silesia.tar); scaled by ~3.1 / 4.7 GHz for a loaded
    /// Cascade Lake server core (assumption).
    /// </summary>
    public double CompressMBPerS { get; init; } = 10;

    /// <summary>Compressed bytes over input bytes (bzip2 on a source tarball; assumption: only the output buffers' touched pages and the write sizes depend on it).</summary>
    public double CompressedFraction { get; init; } = 0.2;

    /// <summary>Kernel copy per byte between the page cache and user memory (read and write; the input is in the page cache: assumption, as dedup's).</summary>
    public double CopyNsPerByte { get; init; } = 0.1;

    /// <summary>System-call entry and exit (read, write, mmap, munmap, madvise, brk; assumption, as dedup's).</summary>
    public SimDuration Syscall { get; init; } = SimDuration.FromNanoseconds(200);

    /// <summary>A malloc or free without the arena lock (tcache, fastbin push; assumption, as dedup's).</summary>
    public SimDuration MallocFast { get; init; } = SimDuration.FromNanoseconds(20);

    /// <summary>_int_malloc / _int_free under the arena mutex (assumption, as dedup's).</summary>
    public SimDuration MallocArena { get; init; } = SimDuration.FromNanoseconds(80);

    /// <summary>Moving one queue element or output-buffer slot under its mutex (assumption).</summary>
    public SimDuration QueueItem { get; init; } = SimDuration.FromNanoseconds(20);

    /// <summary>glibc malloc's tunables (glibc 2.35 defaults; the guest's C library is an assumption).</summary>
    public GlibcMallocSettings Malloc { get; init; } = new();

    /// <summary>The guest mm paths' costs (page fault, munmap, madvise, zap).</summary>
    public MmCosts Mm { get; init; } = new();

    /// <summary>sizeof(EState) of bzip2 1.0.x on x86_64 (bzlib_private.h: the selector arrays, the coding tables, mtfFreq, inUse…): about 55,800 bytes.</summary>
    public int EStateBytes { get; init; } = 55_800;

    /// <summary>sizeof(outBuff) on x86_64 (pbzip2.h: buf, bufSize, blockNumber, sequenceNumber, inSize, isLastInSequence, next): 40 bytes.</summary>
    public int OutBuffBytes { get; init; } = 40;

    /// <summary>bzlib.c BZ_N_OVERSHOOT (BZ_N_RADIX + BZ_N_QSORT + BZ_N_SHELL + 2 = 34): arr2 has n + 34 words.</summary>
    public int NOvershoot { get; init; } = 34;
}

/// <summary>
/// pbzip2 1.1.x compressing one file in a guest (<c>pbzip2 -k file</c>, read at 1.1.13's pbzip2.cpp): the
/// main thread runs <c>producer()</c> (read a block with read(2), queue it), <c>numCPU</c> <c>consumer</c>
/// threads take blocks from the FIFO <c>queue</c> (a pthread mutex with notFull / notEmpty condition
/// variables, <c>numCPU</c> entries), compress each with BZ2_bzBuffToBuffCompress in user mode and put the
/// result in the circular <c>OutputBuffer</c> (under <c>OutMutex</c>, waiting on
/// <c>notTooMuchNumBuffered</c> when the block is too far ahead), and the <c>fileWriter</c> thread writes the
/// blocks in order with write(2) and frees them. Every malloc and free (the producer's block buffers, the
/// queue elements, the consumers' output buffers and libbzip2's EState, arr1, arr2, ftab) goes through
/// glibc's allocator (<see cref="GlibcMalloc"/>: mmap threshold, its dynamic rise, arenas, heap_trim) and the
/// guest mm paths (mmap/munmap/madvise/brk, page faults, TLB shootdowns). The run ends when the writer has
/// written the last block. The producer's main arena is modelled as one more arena (decision 0061).
/// </summary>
public sealed class Pbzip2
{
    internal const int FifoMut = 0, OutMut = 1, ProducerDoneMut = 2, TerminateFlagMut = 3, ProgressMut = 4, ArenaMutexBase = 5;
    internal const int NotEmpty = 0, NotFull = 1, OutBufferHeadNotEmpty = 2, NotTooMuchNumBuffered = 3;

    private readonly Action? _onDone;
    private readonly List<Pbzip2Thread> _threads = [];
    private readonly int[] _queue;
    private int _qHead;
    private readonly int[] _outputBuffer;

    public Pbzip2(GuestKernel kernel, Pbzip2Settings settings, Action? onDone = null)
    {
        if (settings.BlockSize < 1 || settings.InputBytes < 1)
            throw new ArgumentException("pbzip2: block size and input must be positive", nameof(settings));
        Kernel = kernel;
        Settings = settings;
        _onDone = onDone;
        int n = settings.Threads > 0 ? settings.Threads : kernel.Cpus.Length;
        NumCpu = n;
        Blocks = (int)((settings.InputBytes + settings.BlockSize - 1) / settings.BlockSize);
        // main: NumBufferedBlocksMax = maxMemory / blockSize, less 2 × numCPU (at least 1); raised to numCPU without -m.
        long max = settings.MaxMemory / settings.BlockSize;
        max = max - (2L * n) < 1 ? 1 : max - (2L * n);
        if (max < n)
            max = n;
        NumBufferedBlocksMax = (int)Math.Min(max, int.MaxValue / 2);
        _queue = new int[n]; // queueInit(numCPU)
        _outputBuffer = new int[NumBufferedBlocksMax];
        Array.Fill(_outputBuffer, -1);

        const int mm = 1;
        int threads = n + 2;
        // The main arena (the producer's, brk-grown) has no HEAP_MAX_SIZE: every arena of the model may
        // grow to 1 GiB, which the consumers' arenas never approach (decision 0061).
        var ms = settings.Malloc with { Arena = settings.Malloc.Arena with { HeapMaxSize = 1 << 30 } };
        Malloc = new GlibcMalloc(kernel, ms, "pbzip2.malloc", mm, 0x7f40_0000_0000, n + 1, threads);
        Zone = new GuestZone(kernel, "pbzip2.zone.normal", settings.Mm);
        Mm = new GuestMm(kernel, mm, Zone);
        Mutexes = new PthreadMutex[ArenaMutexBase + Malloc.Mutexes.Length];
        const long globals = 0x0062_0000;
        string[] names = ["fifo.mut", "OutMutex", "ProducerDoneMutex", "TerminateFlagMutex", "ProgressIndicatorsMutex"];
        for (int i = 0; i < ArenaMutexBase; i++)
            Mutexes[i] = new PthreadMutex(kernel.NewFutex("pbzip2." + names[i], mm, globals + (i * 64L), threads));
        for (int a = 0; a < Malloc.Mutexes.Length; a++)
            Mutexes[ArenaMutexBase + a] = Malloc.Mutexes[a];
        string[] conds = ["fifo.notEmpty", "fifo.notFull", "OutBufferHeadNotEmpty", "notTooMuchNumBuffered"];
        Conds = new PthreadCond[conds.Length];
        for (int i = 0; i < conds.Length; i++)
            Conds[i] = new PthreadCond(kernel.NewFutex("pbzip2." + conds[i], mm, globals + 0x400 + (i * 64L), threads));

        DataArena = new int[Blocks];
        DataOffset = new int[Blocks];
        ElemArena = new int[Blocks];
        ElemOffset = new int[Blocks];
        OutArena = new int[Blocks];
        OutOffset = new int[Blocks];
        Read = new bool[Blocks];
        Compressed = new bool[Blocks];
        Written = new bool[Blocks];

        // main() creates the consumers, then the fileWriter, and runs producer() itself. The main thread
        // allocates from main_arena, made before any thread: the model's arena 0, sized for the blocks
        // that can be in flight (the queue's numCPU, one per consumer, the one being read).
        int cpus = kernel.Cpus.Length;
        var producer = new Pbzip2Thread(this, Pbzip2Role.Producer, 0);
        Malloc.AttachArena(producer.Tcache!, (int)Math.Min(1L << 30, ((2L * n) + 4) * (settings.BlockSize + 4096L) + (1L << 20)));
        int created = 0;
        void Create(Pbzip2Thread t, string name)
        {
            _threads.Add(t);
            kernel.CreateThread(name, t, created++ % cpus, mm: mm);
        }
        Create(producer, "pbzip2.main");
        for (int i = 0; i < n; i++)
            Create(new Pbzip2Thread(this, Pbzip2Role.Consumer, i), "pbzip2.consumer" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Create(new Pbzip2Thread(this, Pbzip2Role.Writer, 0), "pbzip2.fileWriter");
    }

    public GuestKernel Kernel { get; }
    public Pbzip2Settings Settings { get; }

    /// <summary><c>numCPU</c>: consumer threads, and the FIFO queue's size.</summary>
    public int NumCpu { get; }

    /// <summary>Blocks of the input (the last one may be short).</summary>
    public int Blocks { get; }

    /// <summary><c>NumBufferedBlocksMax</c>: the OutputBuffer's slots.</summary>
    public int NumBufferedBlocksMax { get; }

    public PthreadMutex[] Mutexes { get; }
    public PthreadCond[] Conds { get; }
    public GlibcMalloc Malloc { get; }
    public GuestZone Zone { get; }
    public GuestMm Mm { get; }
    public IReadOnlyList<Pbzip2Thread> ThreadPrograms => _threads;

    /// <summary>Where each block's input buffer, queue element and output buffer were allocated (arena, offset; arena −1: mmapped, offset its pages).</summary>
    internal readonly int[] DataArena, DataOffset, ElemArena, ElemOffset, OutArena, OutOffset;

    /// <summary>Per block: read by the producer, compressed by a consumer, written by the writer.</summary>
    internal readonly bool[] Read, Compressed, Written;

    /// <summary>The FIFO queue's element count now, and the most it held.</summary>
    public int QueueCount { get; private set; }
    public int QueueMax { get; private set; }

    /// <summary><c>producerDone</c> (under ProducerDoneMutex).</summary>
    internal bool ProducerDone;

    /// <summary><c>NumBlocks</c>: blocks the producer queued.</summary>
    public int NumBlocks { get; internal set; }

    /// <summary><c>NextBlockToWrite</c> and <c>OutBufferPosToWrite</c> (under OutMutex); blocks in the OutputBuffer now and at most.</summary>
    public int NextBlockToWrite { get; private set; }
    internal int OutBufferPosToWrite;
    public int Buffered { get; private set; }
    public int BufferedMax { get; private set; }

    // ---- counters ----

    /// <summary>Blocks read, compressed, written; input bytes of the written blocks (<c>bytesProcessed</c>); compressed bytes written.</summary>
    public long BlocksRead, BlocksCompressed, BlocksWritten, BytesProcessed, CompressedBytes;

    /// <summary>Producer waits on notFull; consumer waits on notEmpty; writer waits on OutBufferHeadNotEmpty; consumer waits on notTooMuchNumBuffered.</summary>
    public long ProducerFullWaits, ConsumerEmptyWaits, WriterWaits, ThrottleWaits;

    /// <summary>Frees of a chunk another thread allocated, those that took the owner arena's mutex, arena mutexes found taken, heap_trims that gave pages back (TLB shootdowns).</summary>
    public long CrossThreadFrees, CrossThreadLockedFrees, ArenaContended, HeapTrims;

    /// <summary>mmapped chunks allocated and freed (each free a munmap: TLB shootdown).</summary>
    public long MmappedMallocs, MmappedFrees;

    /// <summary>Simulated time the writer finished (ns), or −1.</summary>
    public long CompletedAt { get; private set; } = -1;

    public bool Done => CompletedAt >= 0;

    /// <summary>Input bytes of block <paramref name="b"/>.</summary>
    public int BlockBytes(int b) => (int)Math.Min(Settings.BlockSize, Settings.InputBytes - ((long)b * Settings.BlockSize));

    /// <summary>Compressed bytes of block <paramref name="b"/> (at least 1).</summary>
    public int OutBytes(int b) => Math.Max(1, (int)(BlockBytes(b) * Settings.CompressedFraction));

    /// <summary>Contended acquisitions over pbzip2's own mutexes (not the arenas').</summary>
    public long MutexContended
    {
        get
        {
            long c = 0;
            for (int i = 0; i < ArenaMutexBase; i++)
                c += Mutexes[i].Contended;
            return c;
        }
    }

    // ---- the FIFO queue (pbzip2.h queue::add / remove) ----

    internal bool QueueFull => QueueCount == _queue.Length;
    internal bool QueueEmpty => QueueCount == 0;

    internal void QueueAdd(int b)
    {
        if (QueueFull)
            throw new InvalidOperationException("pbzip2: add to a full queue");
        int i = _qHead + QueueCount;
        if (i >= _queue.Length)
            i -= _queue.Length;
        _queue[i] = b;
        if (++QueueCount > QueueMax)
            QueueMax = QueueCount;
    }

    internal int QueueRemove()
    {
        int b = _queue[_qHead];
        if (++_qHead == _queue.Length)
            _qHead = 0;
        QueueCount--;
        return b;
    }

    // ---- the OutputBuffer (outputBufferAdd, fileWriter) ----

    /// <summary>outputBufferAdd's wait test: the block lies beyond [NextBlockToWrite, NextBlockToWrite + NumBufferedBlocksMax).</summary>
    internal bool TooFarAhead(int b) => b - NumBufferedBlocksMax >= NextBlockToWrite;

    /// <summary>Stores block <paramref name="b"/> at getOutputBufferPos(b); true when it is the next one to write (signal the writer).</summary>
    internal bool OutputAdd(int b)
    {
        int pos = OutBufferPosToWrite + b - NextBlockToWrite;
        if (pos >= NumBufferedBlocksMax)
            pos -= NumBufferedBlocksMax;
        if (_outputBuffer[pos] >= 0)
            throw new InvalidOperationException($"pbzip2: output slot {pos} taken by block {_outputBuffer[pos]} when block {b} arrives");
        _outputBuffer[pos] = b;
        if (++Buffered > BufferedMax)
            BufferedMax = Buffered;
        return NextBlockToWrite == b;
    }

    /// <summary>The block at the writer's position, or −1 (OutputBuffer[outBufferPos].buf == NULL).</summary>
    internal int OutputAt(int pos) => _outputBuffer[pos];

    /// <summary>The writer took the block at <paramref name="pos"/> (buf = NULL after delete[]).</summary>
    internal void OutputClear(int pos)
    {
        _outputBuffer[pos] = -1;
        Buffered--;
    }

    /// <summary>Under OutMutex after a write: ++NextBlockToWrite, OutBufferPosToWrite = the writer's next position.</summary>
    internal void Advance(int nextPos)
    {
        NextBlockToWrite++;
        OutBufferPosToWrite = nextPos;
    }

    internal void Finished()
    {
        CompletedAt = Kernel.Kvm.Sim.Now.Ns;
        _onDone?.Invoke();
    }
}

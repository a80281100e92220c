using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>Which pbzip2 thread (pbzip2.cpp: main's <c>producer()</c>, <c>consumer</c>, <c>fileWriter</c>).</summary>
public enum Pbzip2Role
{
    Producer,
    Consumer,
    Writer,
}

/// <summary>The own steps of a pbzip2 thread (malloc, the thread bodies); glibc's mutex and condition-variable steps are the <see cref="PthreadStep"/>s before them.</summary>
public enum Pbzip2Step
{
    // 0..6: the pthread steps (PthreadStep), run by GlibcPthreadProgram.
    MemStart = (int)PthreadStep.CondBroadcast + 1,
    MemLocked,
    Fault,
    ProducerRead,
    ProducerEnqueue,
    ProducerAdd,
    ProducerDone,
    ConsumerDequeue,
    ConsumerEmpty,
    ConsumerCompressed,
    OutputAddCheck,
    WriterCheckDone,
    WriterCheck,
    WriterWritten,
    WriterAdvance,
    WriterFinish,
}

/// <summary>
/// One pbzip2 thread. Its body follows pbzip2.cpp 1.1.13 (<c>producer</c>, <c>consumer</c>,
/// <c>outputBufferAdd</c>, <c>fileWriter</c>), including the small mutexes it takes on every pass
/// (<c>syncGetTerminateFlag</c>, <c>syncGetProducerDone</c>, ProgressIndicatorsMutex); pthread mutexes are
/// glibc's low-level lock on a futex word (<see cref="PthreadMutex"/>), condition variables
/// <see cref="PthreadCond"/> (their steps run by <see cref="GlibcPthreadProgram{TStep}"/>), and every malloc / free
/// goes through <see cref="GlibcMalloc"/> as in dedup.
/// </summary>
public sealed class Pbzip2Thread : GlibcPthreadProgram<Pbzip2Step>
{
    private enum MemKind : byte
    {
        Malloc,
        Free,
    }

    private struct MemOp
    {
        public MemKind Kind;
        public int Bytes;
        public int Touch;
        public int[] Arena;
        public int[] Offset;
        public int Index;
    }

    private readonly Pbzip2 _p;
    private readonly GlibcMalloc _m;
    private readonly GlibcTcache _tc;
    private readonly MemOp[] _ops = new MemOp[32];
    private int _opHead, _opCount;
    private MemOp _op;
    private int _opArena, _opOffset, _opNb;
    private int _faultArena;
    private readonly int[] _zArena = new int[4], _zOff = new int[4]; // libbzip2's EState, arr1, arr2, ftab
    private readonly int[] _eofArena = new int[1], _eofOff = new int[1]; // the producer's last buffer (read() returned 0)
    private bool _exit;
    private int _b = -1;        // the block in hand
    private int _next;          // producer: the next block to read
    private bool _eof;          // producer: read() returned 0
    private int _currBlock;     // writer: currBlock
    private int _outPos;        // writer: outBufferPos

    internal Pbzip2Thread(Pbzip2 p, Pbzip2Role role, int tid)
        : base(p.Mutexes, p.Conds, p.Kernel.Settings.Costs, bufferSize: 64)
    {
        _p = p;
        _m = p.Malloc;
        _tc = new GlibcTcache(_m.Settings);
        Role = role;
        Tid = tid;
        RwSemWaiter = new RwSemWaiter(p.Kernel, $"pbzip2.{role}{tid}");
    }

    public Pbzip2Role Role { get; }
    public int Tid { get; }
    public GlibcTcache Tcache => _tc;

    /// <summary>Arena mutex acquisitions of this thread.</summary>
    public long ArenaLocks;

    /// <summary>Simulation only: heap bytes a consumer arena's chunk table is made for (libbzip2's arrays and a few output buffers), so the run does not grow it.</summary>
    private int ArenaTableHint
    {
        get
        {
            var s = _p.Settings;
            long n = s.Bwt100k * 100_000L;
            long outSize = (long)(s.BlockSize * 1.01) + 600;
            return (int)Math.Min(1L << 30, (8 * n) + (4 * s.NOvershoot) + (65537 * 4) + s.EStateBytes + (4 * outSize) + (1 << 20));
        }
    }

    // ---- planning helpers (as dedup's: collected, then inserted before anything already planned) ----

    /// <summary>A mutex taken and given back at once (syncGetTerminateFlag and friends).</summary>
    private void PutLockUnlock(int m)
    {
        PutLock(m);
        PutUnlock(m);
    }

    /// <summary>A system call with <paramref name="bytes"/> copied between the page cache and user memory (read, write).</summary>
    private void PutCopySyscall(long bytes) => PutCompute(_p.Settings.Syscall.Ns + (_p.Settings.CopyNsPerByte * bytes), user: false);

    protected override void Contended(int m)
    {
        if (m >= Pbzip2.ArenaMutexBase)
            _p.ArenaContended++;
    }

    // ---- glibc malloc (as DedupThread: operations queued in program order, run as steps) ----

    private void PutMem(MemKind kind, int bytes, int touch, int[] arena, int[] offset, int index)
    {
        if (_opCount == _ops.Length)
            throw new InvalidOperationException("pbzip2: too many allocator operations queued");
        int i = _opHead + _opCount;
        if (i >= _ops.Length)
            i -= _ops.Length;
        _ops[i] = new MemOp { Kind = kind, Bytes = bytes, Touch = touch, Arena = arena, Offset = offset, Index = index };
        _opCount++;
        Put(Call(Pbzip2Step.MemStart));
    }

    private void PutMalloc(int bytes, int touch, int[] arena, int[] offset, int index) => PutMem(MemKind.Malloc, bytes, touch, arena, offset, index);

    private void PutFree(int[] arena, int[] offset, int index) => PutMem(MemKind.Free, 0, 0, arena, offset, index);

    private void PutSyscallMmap()
    {
        PutCompute(_p.Settings.Syscall.Ns, user: false);
        EmitMmap(_p.Mm);
    }

    /// <summary>__libc_malloc / __libc_free up to the arena mutex (glibc 2.35), as <see cref="DedupThread"/>'s.</summary>
    private void MemStart()
    {
        var s = _p.Settings;
        _op = _ops[_opHead];
        _ops[_opHead] = default;
        if (++_opHead == _ops.Length)
            _opHead = 0;
        _opCount--;
        var m = _m;
        if (_op.Kind == MemKind.Malloc)
        {
            _opNb = GlibcArena.Request2Size(_op.Bytes);
            if (m.IsMmapped(_op.Bytes))
            {
                // sysmalloc: a chunk at or above mp_.mmap_threshold is mmapped on its own.
                long map = GlibcMalloc.MmappedSize(_op.Bytes);
                _op.Arena[_op.Index] = -1;
                _op.Offset[_op.Index] = (int)(map / GlibcMalloc.PageSize);
                _p.MmappedMallocs++;
                PutSyscallMmap();
                PutFaults(-1, (int)((Math.Min(_op.Touch, map) + GlibcMalloc.PageSize - 1) / GlibcMalloc.PageSize));
                return;
            }
            if (_tc.TryGet(_opNb, out int a, out int off))
            {
                _op.Arena[_op.Index] = a;
                _op.Offset[_op.Index] = off;
                PutCompute(s.MallocFast.Ns);
                return;
            }
            if (_tc.Arena < 0)
            {
                // arena_get2 → _int_new_arena → new_heap: mmap of HEAP_MAX_SIZE, mprotect of its start.
                m.AttachArena(_tc, ArenaTableHint);
                PutSyscallMmap();
            }
            _opArena = _tc.Arena;
            ArenaLocks++;
            PutLock(Pbzip2.ArenaMutexBase + _opArena);
            Put(Call(Pbzip2Step.MemLocked));
            return;
        }
        int fa = _op.Arena[_op.Index];
        int fo = _op.Offset[_op.Index];
        bool cross = _tc.Arena != fa;
        if (cross)
            _p.CrossThreadFrees++;
        if (fa < 0)
        {
            // munmap_chunk: the dynamic threshold update, then munmap (mmap_sem for write, zap, TLB shootdown).
            m.FreeMmapped((long)fo * GlibcMalloc.PageSize);
            _p.MmappedFrees++;
            PutCompute(s.Syscall.Ns, user: false);
            EmitMunmap(_p.Mm, fo, m.Ptl[0]);
            return;
        }
        var arena = m.Arenas[fa];
        if (!arena.IsInUse(fo))
            throw new InvalidOperationException($"pbzip2: {Role}{Tid} frees {fo} of arena {fa}, not an allocated chunk (slot {_op.Index})");
        int size = arena.ChunkSize(fo);
        if (_tc.TryPut(size, fa, fo))
        {
            PutCompute(s.MallocFast.Ns);
            return;
        }
        if (size <= arena.Settings.MaxFast)
        {
            arena.Free(fo, m.TrimThreshold); // a fastbin push: never coalesces, never trims
            m.FastbinFrees++;
            PutCompute(s.MallocFast.Ns);
            return;
        }
        if (cross)
        {
            _p.CrossThreadLockedFrees++;
            m.CrossThreadLockedFrees++;
        }
        _opArena = fa;
        _opOffset = fo;
        ArenaLocks++;
        PutLock(Pbzip2.ArenaMutexBase + fa);
        Put(Call(Pbzip2Step.MemLocked));
    }

    /// <summary>Under the arena mutex: _int_malloc (and the heap's growth), or _int_free (and a trim).</summary>
    private void MemLocked()
    {
        var m = _m;
        int a = _opArena;
        var arena = m.Arenas[a];
        int mutex = Pbzip2.ArenaMutexBase + a;
        PutCompute(_p.Settings.MallocArena.Ns);
        if (_op.Kind == MemKind.Malloc)
        {
            int before = arena.MprotectSize;
            int off = arena.MallocChunk(_opNb);
            _op.Arena[_op.Index] = a;
            _op.Offset[_op.Index] = off;
            if (arena.MprotectSize > before)
                PutSyscallMmap(); // grow_heap's mprotect (or, for the main arena, brk): mmap_sem for write
            PutUnlock(mutex);
            PutFaults(a, m.Touch(a, off + 16, _op.Touch));
            return;
        }
        m.LockedFrees++;
        int pages = m.FreeLocked(a, _opOffset);
        if (pages >= 0)
        {
            _p.HeapTrims++;
            PutCompute(_p.Settings.Syscall.Ns, user: false);
            if (a == 0)
                EmitMunmap(_p.Mm, pages, m.Ptl[0]); // main arena: systrim → brk(−extra) → do_munmap (mmap_sem for write)
            else
                EmitMadviseDontneed(_p.Mm, pages, m.Ptl[a]); // heap_trim → shrink_heap → madvise(MADV_DONTNEED)
        }
        PutUnlock(mutex);
    }

    private void PutFaults(int arena, int pages)
    {
        if (pages <= 0)
            return;
        _faultArena = arena;
        Put(Call(Pbzip2Step.Fault, Math.Min(pages, MaxArg)));
    }

    // ---- the thread bodies ----

    protected override void Plan(GuestThread thread)
    {
        if (_exit)
        {
            Emit(GuestAction.Exit);
            return;
        }
        switch (Role)
        {
            case Pbzip2Role.Producer:
                PlanProducer();
                break;
            case Pbzip2Role.Consumer:
                // for (;;): syncGetTerminateFlag(), then fifo->mut and the dequeue loop.
                PutLockUnlock(Pbzip2.TerminateFlagMut);
                PutLock(Pbzip2.FifoMut);
                Put(Call(Pbzip2Step.ConsumerDequeue));
                break;
            default:
                // while (true): syncGetProducerDone() && currBlock >= NumBlocks → done.
                PutLock(Pbzip2.ProducerDoneMut);
                Put(Call(Pbzip2Step.WriterCheckDone));
                break;
        }
        Flush();
    }

    /// <summary>producer(): per block a new char[blockSize], bufread's read(2) calls, then the queue under fifo->mut.</summary>
    private void PlanProducer()
    {
        var s = _p.Settings;
        if (_eof)
        {
            // close(hInfile); syncSetProducerDone(1); broadcast notEmpty "just in case"; main then joins the writer.
            PutCompute(s.Syscall.Ns, user: false);
            PutLock(Pbzip2.ProducerDoneMut);
            Put(Call(Pbzip2Step.ProducerDone));
            PutUnlock(Pbzip2.ProducerDoneMut);
            PutLock(Pbzip2.FifoMut);
            PutCondBroadcast(Pbzip2.NotEmpty);
            PutUnlock(Pbzip2.FifoMut);
            _exit = true;
            return;
        }
        PutLockUnlock(Pbzip2.TerminateFlagMut);
        if (_next >= _p.Blocks)
        {
            // The last pass: the buffer is allocated, read() returns 0, the buffer is deleted.
            PutMalloc(s.BlockSize, 0, _eofArena, _eofOff, 0);
            PutCopySyscall(0);
            PutFree(_eofArena, _eofOff, 0);
            _eof = true;
            return;
        }
        _b = _next++;
        int bytes = _p.BlockBytes(_b);
        PutMalloc(s.BlockSize, bytes, _p.DataArena, _p.DataOffset, _b);
        // bufread: read(2) until the block is full; a short (last) block needs a second read that returns 0.
        PutCopySyscall(bytes);
        if (bytes < s.BlockSize)
            PutCopySyscall(0);
        Put(Call(Pbzip2Step.ProducerRead));
        PutLock(Pbzip2.FifoMut);
        Put(Call(Pbzip2Step.ProducerEnqueue));
    }

    /// <summary>The consumer's work on a block once it has left the queue: compress, free the input, hand the output on.</summary>
    private void PutCompress()
    {
        var s = _p.Settings;
        int bytes = _p.BlockBytes(_b);
        // outSize = bufSize × 1.01 + 600: new char[outSize]; the compressed bytes are what gets written into it.
        PutMalloc((int)((bytes * 1.01) + 600), _p.OutBytes(_b), _p.OutArena, _p.OutOffset, _b);
        // BZ2_bzBuffToBuffCompress → BZ2_bzCompressInit: EState, arr1 (n words), arr2 (n + BZ_N_OVERSHOOT words),
        // ftab (65537 words), n = 100000 × blockSize100k. The sort touches arr1 in full, arr2 as the block
        // (bytes) and the quadrant (2 × (bytes + overshoot)), ftab in full.
        int n = s.Bwt100k * 100_000;
        PutMalloc(s.EStateBytes, s.EStateBytes, _zArena, _zOff, 0);
        PutMalloc(4 * n, 4 * Math.Min(n, bytes), _zArena, _zOff, 1); // a block beyond n is sorted in several BWT blocks of n
        PutMalloc(4 * (n + s.NOvershoot), Math.Min(n, bytes) + (2 * (Math.Min(n, bytes) + s.NOvershoot)), _zArena, _zOff, 2);
        PutMalloc(65537 * 4, 65537 * 4, _zArena, _zOff, 3);
        PutCompute(bytes * (1000.0 / s.CompressMBPerS));
        Put(Call(Pbzip2Step.ConsumerCompressed));
        // BZ2_bzCompressEnd: arr1, arr2, ftab, then the EState; then disposeMemory(fileData->buf).
        PutFree(_zArena, _zOff, 1);
        PutFree(_zArena, _zOff, 2);
        PutFree(_zArena, _zOff, 3);
        PutFree(_zArena, _zOff, 0);
        PutFree(_p.DataArena, _p.DataOffset, _b);
        // outputBufferAdd under OutMutex.
        PutLock(Pbzip2.OutMut);
        Put(Call(Pbzip2Step.OutputAddCheck));
    }

    // ---- steps ----

    protected override void Run(GuestThread thread, Pbzip2Step step) => Run(thread, step, 0);

    protected override void Run(GuestThread thread, Pbzip2Step step, int arg)
    {
        if (RunPthread(step, arg))
        {
            Flush();
            return;
        }
        var s = _p.Settings;
        switch (step)
        {
            case Pbzip2Step.MemStart:
                MemStart();
                break;
            case Pbzip2Step.MemLocked:
                MemLocked();
                break;
            case Pbzip2Step.Fault:
                EmitPageFault(_p.Mm, _m.Ptl[Math.Max(0, _faultArena)]);
                if (arg > 1)
                    Put(Call(Pbzip2Step.Fault, arg - 1));
                break;
            case Pbzip2Step.ProducerRead:
                if (_p.Read[_b])
                    throw new InvalidOperationException($"pbzip2: block {_b} read twice");
                _p.Read[_b] = true;
                _p.BlocksRead++;
                break;
            case Pbzip2Step.ProducerEnqueue:
                // while (fifo->full) { cond_wait(notFull); syncGetTerminateFlag(); }
                if (_p.QueueFull)
                {
                    _p.ProducerFullWaits++;
                    PutCondWait(Pbzip2.NotFull, Pbzip2.FifoMut);
                    PutLockUnlock(Pbzip2.TerminateFlagMut);
                    Put(Call(Pbzip2Step.ProducerEnqueue));
                    break;
                }
                // new outBuff(FileData, inSize, NumBlocks, 0), still under fifo->mut.
                PutMalloc(s.OutBuffBytes, s.OutBuffBytes, _p.ElemArena, _p.ElemOffset, _b);
                Put(Call(Pbzip2Step.ProducerAdd));
                break;
            case Pbzip2Step.ProducerAdd:
                // fifo->add; signal notEmpty; ++NumBlocks under ProgressIndicatorsMutex; unlock fifo->mut.
                _p.QueueAdd(_b);
                _p.NumBlocks++;
                PutCompute(s.QueueItem.Ns);
                PutCondSignal(Pbzip2.NotEmpty);
                PutLockUnlock(Pbzip2.ProgressMut);
                PutUnlock(Pbzip2.FifoMut);
                break;
            case Pbzip2Step.ProducerDone:
                _p.ProducerDone = true;
                break;
            case Pbzip2Step.ConsumerDequeue:
                if (!_p.QueueEmpty)
                {
                    _b = _p.QueueRemove();
                    PutCompute(s.QueueItem.Ns);
                    PutCondSignal(Pbzip2.NotFull);
                    PutUnlock(Pbzip2.FifoMut);
                    PutCompress();
                    break;
                }
                // fifo->empty: syncGetProducerDone() under fifo->mut.
                PutLock(Pbzip2.ProducerDoneMut);
                Put(Call(Pbzip2Step.ConsumerEmpty));
                break;
            case Pbzip2Step.ConsumerEmpty:
            {
                bool done = _p.ProducerDone;
                PutUnlock(Pbzip2.ProducerDoneMut);
                if (done)
                {
                    PutUnlock(Pbzip2.FifoMut);
                    _exit = true;
                    break;
                }
                _p.ConsumerEmptyWaits++;
                PutCondWait(Pbzip2.NotEmpty, Pbzip2.FifoMut);
                Put(Call(Pbzip2Step.ConsumerDequeue));
                break;
            }
            case Pbzip2Step.ConsumerCompressed:
                if (!_p.Read[_b] || _p.Compressed[_b])
                    throw new InvalidOperationException($"pbzip2: block {_b} compressed twice or before it was read");
                _p.Compressed[_b] = true;
                _p.BlocksCompressed++;
                break;
            case Pbzip2Step.OutputAddCheck:
                // while (blockNumber − NumBufferedBlocksMax >= NextBlockToWrite) { syncGetTerminateFlag(); cond_wait(notTooMuchNumBuffered); }
                if (_p.TooFarAhead(_b))
                {
                    _p.ThrottleWaits++;
                    PutLockUnlock(Pbzip2.TerminateFlagMut);
                    PutCondWait(Pbzip2.NotTooMuchNumBuffered, Pbzip2.OutMut);
                    Put(Call(Pbzip2Step.OutputAddCheck));
                    break;
                }
                PutCompute(s.QueueItem.Ns);
                if (_p.OutputAdd(_b))
                    PutCondSignal(Pbzip2.OutBufferHeadNotEmpty);
                PutUnlock(Pbzip2.OutMut);
                // delete fileData (the queue element the producer allocated).
                PutFree(_p.ElemArena, _p.ElemOffset, _b);
                break;
            case Pbzip2Step.WriterCheckDone:
            {
                bool done = _p.ProducerDone;
                PutUnlock(Pbzip2.ProducerDoneMut);
                if (done && _currBlock >= _p.NumBlocks)
                {
                    PutWriterExit();
                    break;
                }
                PutLockUnlock(Pbzip2.TerminateFlagMut);
                PutLock(Pbzip2.OutMut);
                Put(Call(Pbzip2Step.WriterCheck));
                break;
            }
            case Pbzip2Step.WriterCheck:
            {
                int b = _p.OutputAt(_outPos);
                if (b < 0)
                {
                    // safe_cond_timed_wait(&OutBufferHeadNotEmpty, OutMutex, 1 s), unlock, loop (the 1 s timeout is not modelled).
                    _p.WriterWaits++;
                    PutCondWait(Pbzip2.OutBufferHeadNotEmpty, Pbzip2.OutMut);
                    PutUnlock(Pbzip2.OutMut);
                    break;
                }
                PutUnlock(Pbzip2.OutMut);
                _b = b;
                PutCopySyscall(_p.OutBytes(b)); // do_write of the compressed block
                Put(Call(Pbzip2Step.WriterWritten));
                break;
            }
            case Pbzip2Step.WriterWritten:
            {
                int b = _b;
                if (b != _currBlock || _p.Written[b] || !_p.Compressed[b])
                    throw new InvalidOperationException($"pbzip2: writer at block {_currBlock} wrote block {b} (written before: {_p.Written[b]})");
                _p.Written[b] = true;
                _p.BlocksWritten++;
                _p.BytesProcessed += _p.BlockBytes(b);
                _p.CompressedBytes += _p.OutBytes(b);
                // delete [] outBlock->buf; buf = NULL; ++outBufferPos; ++currBlock; then OutMutex.
                PutFree(_p.OutArena, _p.OutOffset, b);
                _p.OutputClear(_outPos);
                if (++_outPos == _p.NumBufferedBlocksMax)
                    _outPos = 0;
                _currBlock++;
                PutLock(Pbzip2.OutMut);
                Put(Call(Pbzip2Step.WriterAdvance));
                break;
            }
            case Pbzip2Step.WriterAdvance:
                // ++NextBlockToWrite; broadcast notTooMuchNumBuffered (and ErrStateChangeCond, which nobody waits on when compressing).
                _p.Advance(_outPos);
                PutCondBroadcast(Pbzip2.NotTooMuchNumBuffered);
                PutUnlock(Pbzip2.OutMut);
                break;
            case Pbzip2Step.WriterFinish:
                _p.Finished();
                break;
        }
        Flush();
    }

    /// <summary>fileWriter's end: close the output, wake whoever still waits on the queue or the buffer, exit.</summary>
    private void PutWriterExit()
    {
        PutCompute(_p.Settings.Syscall.Ns, user: false);
        PutLock(Pbzip2.FifoMut);
        PutCondBroadcast(Pbzip2.NotEmpty);
        PutCondBroadcast(Pbzip2.NotFull);
        PutUnlock(Pbzip2.FifoMut);
        PutLock(Pbzip2.OutMut);
        PutCondBroadcast(Pbzip2.NotTooMuchNumBuffered);
        PutUnlock(Pbzip2.OutMut);
        Put(Call(Pbzip2Step.WriterFinish));
        _exit = true;
    }
}

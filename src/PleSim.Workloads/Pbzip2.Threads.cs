using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>Which pbzip2 thread (pbzip2.cpp: main's <c>producer()</c>, <c>consumer</c>, <c>fileWriter</c>).</summary>
public enum Pbzip2Role
{
    Producer,
    Consumer,
    Writer,
}

/// <summary>The own steps of a pbzip2 thread (the thread bodies); glibc's mutex and condition-variable steps are the <see cref="PthreadStep"/>s before them, its malloc steps the <see cref="MallocStep"/>s.</summary>
public enum Pbzip2Step
{
    // 0..6: the pthread steps (PthreadStep), run by GlibcPthreadProgram; 7..9: the malloc steps (MallocStep), run by GlibcMallocProgram.
    ProducerRead = (int)MallocStep.Fault + 1,
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
/// goes through <see cref="GlibcMalloc"/> as in dedup (the steps run by <see cref="GlibcMallocProgram{TStep}"/>).
/// </summary>
public sealed class Pbzip2Thread : GlibcMallocProgram<Pbzip2Step>
{
    private readonly Pbzip2 _p;
    private readonly int[] _zArena = new int[4], _zOff = new int[4]; // libbzip2's EState, arr1, arr2, ftab
    private readonly int[] _eofArena = new int[1], _eofOff = new int[1]; // the producer's last buffer (read() returned 0)
    private bool _exit;
    private int _b = -1;        // the block in hand
    private int _next;          // producer: the next block to read
    private bool _eof;          // producer: read() returned 0
    private int _currBlock;     // writer: currBlock
    private int _outPos;        // writer: outBufferPos

    internal Pbzip2Thread(Pbzip2 p, Pbzip2Role role, int tid)
        : base(p.Mutexes, p.Conds, p.Kernel.Settings.Costs, bufferSize: 64,
            p.Malloc, p.Mm, Pbzip2.ArenaMutexBase, mainArena: 0, // the producer is main(): its arena, arena 0, is main_arena
            new MallocCosts(p.Settings.Syscall, p.Settings.MallocFast, p.Settings.MallocArena))
    {
        _p = p;
        Role = role;
        Tid = tid;
        RwSemWaiter = new RwSemWaiter(p.Kernel, $"pbzip2.{role}{tid}");
    }

    public Pbzip2Role Role { get; }
    public int Tid { get; }

    protected override string Name => $"pbzip2: {Role}{Tid}";

    /// <summary>Simulation only: heap bytes a consumer arena's chunk table is made for (libbzip2's arrays and a few output buffers), so the run does not grow it.</summary>
    protected override int ArenaTableHint
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

    protected override void Count(MallocEvent e)
    {
        switch (e)
        {
            case MallocEvent.CrossThreadFree:
                _p.CrossThreadFrees++;
                break;
            case MallocEvent.CrossThreadLockedFree:
                _p.CrossThreadLockedFrees++;
                break;
            case MallocEvent.HeapTrim:
                _p.HeapTrims++;
                break;
            case MallocEvent.MmappedMalloc:
                _p.MmappedMallocs++;
                break;
            case MallocEvent.MmappedFree:
                _p.MmappedFrees++;
                break;
        }
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
        if (RunPthread(step, arg) || RunMalloc(step, arg))
        {
            Flush();
            return;
        }
        var s = _p.Settings;
        switch (step)
        {
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

using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>The pipeline stage a dedup thread runs (encoder.c's thread functions).</summary>
public enum DedupStage
{
    Fragment,
    Refine,
    Deduplicate,
    Compress,
    Reorder,
}

/// <summary>The own steps of a dedup thread (queue.c, the stage bodies); glibc's mutex and condition-variable steps are the <see cref="PthreadStep"/>s before them, its malloc steps the <see cref="MallocStep"/>s.</summary>
public enum DedupStep
{
    // 0..6: the pthread steps (PthreadStep), run by GlibcPthreadProgram; 7..9: the malloc steps (MallocStep), run by GlibcMallocProgram.
    DequeueCheck = (int)MallocStep.Fault + 1,
    EnqueueCheck,
    Terminate,
    MbufferFree,
    FragmentInsert,
    RefineInsert,
    LookupLock,
    Lookup,
    Route,
    CompressLock,
    CompressDone,
    CompressRoute,
    WriteLock,
    WriteCheck,
    WriteDone,
    Finish,
}

/// <summary>
/// One dedup thread. Its stage body follows encoder.c (<c>Fragment</c>, <c>FragmentRefine</c>,
/// <c>Deduplicate</c>, <c>Compress</c>, <c>Reorder</c>); queue operations follow queue.c
/// (<c>queue_dequeue</c>: lock, wait on notEmpty while empty and not terminated, move up to the limit into
/// the thread's ring buffer, signal notFull, unlock; <c>queue_enqueue</c> the mirror image;
/// <c>queue_terminate</c>: count the producer, broadcast notEmpty when it was the last); pthread mutexes are
/// glibc's low-level lock on a futex word (<see cref="PthreadMutex"/>) and condition variables
/// <see cref="PthreadCond"/>, their steps run by <see cref="GlibcPthreadProgram{TStep}"/>; mallocs, frees and
/// realloc shrinks go through <see cref="GlibcMalloc"/> (the steps run by <see cref="GlibcMallocProgram{TStep}"/>)
/// unless the allocator model is off.
/// </summary>
public sealed class DedupThread : GlibcMallocProgram<DedupStep>
{
    private readonly GlibcMalloc? _m;
    private readonly int[] _zArena = new int[5], _zOff = new int[5]; // zlib's five deflateInit blocks
    private readonly int[] _sinkArena = new int[1], _sinkOff = new int[1]; // allocations the run never frees

    private readonly Dedup _d;
    private readonly DedupRing _recv;
    private readonly DedupRing _sendA;
    private readonly DedupRing _sendB;
    private int _qid;
    private bool _ended;
    private int _phase;          // 0: working; 1: draining send buffers and terminating; 2: exiting
    private int _cur = -1;       // the chunk in hand
    private int _slot;           // its pool slot (bucket or chunk lock)
    // Fragment
    private int _coarse;
    private int _blockStarted = -1;
    private int _termQ;
    // Refine
    private int _coarseCur = -1;
    private int _fine, _fineEnd;
    // Reorder
    private int _next;
    private int _w = -1;
    private int _o;
    private int _tries;
    private int _cachedNow;

    internal DedupThread(Dedup d, DedupStage stage, int tid)
        : base(d.Mutexes, d.Conds, d.Kernel.Settings.Costs, bufferSize: 96,
            d.Malloc, d.Mm, d.ArenaMutexBase, mainArena: -1, // the model's threads never use main_arena (GlibcMalloc.AttachArena)
            new MallocCosts(d.Settings.Syscall, d.Settings.MallocFast, d.Settings.MallocArena))
    {
        _d = d;
        Stage = stage;
        Tid = tid;
        var s = d.Settings;
        _qid = stage is DedupStage.Fragment or DedupStage.Reorder ? 0 : tid / Math.Max(1, s.MaxThreadsPerQueue);
        int fetch = stage switch
        {
            DedupStage.Refine => s.MaxPerFetch,
            DedupStage.Deduplicate => s.ChunkAnchorPerFetch,
            DedupStage.Compress or DedupStage.Reorder => s.ItemPerFetch,
            _ => 1,
        };
        _recv = new DedupRing(Math.Max(1, fetch));
        _sendA = new DedupRing(Math.Max(1, InsertLimit(SendKind)));
        _sendB = new DedupRing(Math.Max(1, s.ItemPerInsert));
        _m = d.Malloc;
        if (_m is not null)
        {
            RwSemWaiter = new RwSemWaiter(d.Kernel, $"dedup.{stage}{tid}");
        }
    }

    /// <summary>
    /// Simulation only: the heap size this thread's arena's chunk table is made for, so that it does not
    /// grow (allocate) during the run: Compress arenas hold zlib's ~270 KB and the compressed buffers
    /// Reorder has not freed yet (about 4.4 MiB each in the shipped scenario), FragmentRefine arenas the
    /// unique chunks' chunk_t (never freed in the run), the others little.
    /// </summary>
    protected override int ArenaTableHint => Stage switch
    {
        DedupStage.Compress => 8 << 20,
        DedupStage.Refine => 2 << 20,
        _ => 0,
    };

    public DedupStage Stage { get; }
    public int Tid { get; }

    protected override string Name => $"dedup: {Stage}{Tid}";

    /// <summary>The queue kind this thread's main send buffer feeds.</summary>
    private DedupQueueKind SendKind => Stage switch
    {
        DedupStage.Fragment => DedupQueueKind.Refine,
        DedupStage.Refine => DedupQueueKind.Deduplicate,
        DedupStage.Deduplicate => DedupQueueKind.Compress,
        _ => DedupQueueKind.Reorder,
    };

    private int InsertLimit(DedupQueueKind k) => k switch
    {
        DedupQueueKind.Refine => _d.Settings.AnchorDataPerInsert,
        DedupQueueKind.Deduplicate => _d.Settings.ChunkAnchorPerInsert,
        _ => _d.Settings.ItemPerInsert,
    };

    private int QueueIndex(DedupQueueKind k, int qid) => ((int)k * _d.NQueues) + qid;

    private DedupRing SendFor(DedupQueueKind k) => Stage == DedupStage.Deduplicate && k == DedupQueueKind.Reorder ? _sendB : _sendA;

    /// <summary>An mbuffer reference-count update under its <c>pthread_spin_lock</c>.</summary>
    private void PutSpin(GuestSpinLock l)
    {
        Put(GuestAction.Acquire(l));
        PutCompute(_d.Settings.MbufferLockHold.Ns);
        Put(GuestAction.Release(l));
    }

    private void PutQueueOp(DedupQueueKind k, int qid, DedupStep op)
    {
        int q = QueueIndex(k, qid);
        PutLock(_d.Queues[q].Mutex);
        Put(Call(op, q));
    }

    // ---- the stage bodies ----

    protected override void Plan(GuestThread thread)
    {
        if (_phase == 2)
        {
            Emit(GuestAction.Exit);
            return;
        }
        switch (Stage)
        {
            case DedupStage.Fragment:
                PlanFragment();
                break;
            case DedupStage.Refine:
                PlanRefine();
                break;
            case DedupStage.Deduplicate:
                PlanDeduplicate();
                break;
            case DedupStage.Compress:
                PlanCompress();
                break;
            default:
                PlanReorder();
                break;
        }
        Flush();
    }

    private void PlanFragment()
    {
        var s = _d.Settings;
        var inp = _d.Input;
        if (_coarse >= inp.CoarseChunks)
        {
            // Every coarse chunk handed on: queue_terminate on every refine queue, one after the other.
            PutQueueOp(DedupQueueKind.Refine, _termQ, DedupStep.Terminate);
            if (++_termQ >= _d.NQueues)
                _phase = 2;
            return;
        }
        int k = _coarse;
        while (_blockStarted + 1 < inp.Blocks && inp.BlockFirstCoarse[_blockStarted + 1] <= k)
        {
            // A new MAXBUF buffer: the carried tail and the next MAXBUF bytes of the preloaded input
            // copied in (first touch of its pages), then the old buffer's tail piece freed.
            int b = ++_blockStarted;
            long bytes = inp.BlockCopyBytes[b];
            if (_m is not null)
                PutSyscallMmap(); // mbuffer_create: malloc(MAXBUF + bytes_left) is above the mmap threshold: an mmap
            PutCompute((s.CopyNsPerByte * bytes) + (s.PageFirstTouch.Ns * (double)((bytes + 4095) / 4096)));
            if (inp.BlockFreesPrevious[b])
            {
                PutSpin(_d.BlockLocks[b - 1]);
                Put(Call(DedupStep.MbufferFree, b - 1));
            }
        }
        // rabinseg from ANCHOR_JUMP to the anchor, the new chunk_t and mbuffer_split (not for the end-of-file stub).
        bool split = !(k == inp.CoarseChunks - 1 && inp.EndsWithStub);
        PutCompute((s.RabinNsPerByte * inp.CoarseScanBytes[k]) + (split ? s.ChunkAlloc.Ns : 0));
        if (split)
            PutSpin(_d.BlockLocks[inp.CoarseBlock[k]]);
        if (_m is not null && inp.CoarseCount[k] > 0)
        {
            // The coarse chunk's chunk_t (Fragment's arena): the first fine chunk FragmentRefine cuts keeps it.
            int sz = s.ChunkStructBytes;
            PutMalloc(sz, sz, _d.ChunkArena, _d.ChunkOffset, inp.CoarseFirst[k]);
        }
        _cur = k;
        Put(Call(DedupStep.FragmentInsert));
        _coarse++;
    }

    private void PlanRefine()
    {
        var s = _d.Settings;
        var inp = _d.Input;
        if (_phase == 1)
        {
            if (_sendA.Count > 0)
                PutQueueOp(DedupQueueKind.Deduplicate, _qid, DedupStep.EnqueueCheck);
            else
            {
                PutQueueOp(DedupQueueKind.Deduplicate, _qid, DedupStep.Terminate);
                _phase = 2;
            }
            return;
        }
        if (_coarseCur >= 0)
        {
            // rabinseg to the next anchor; every cut but the coarse chunk's last is an mbuffer_split.
            int c = _fine++;
            bool last = _fine == _fineEnd;
            PutCompute((s.RabinNsPerByte * inp.Size[c]) + (last ? 0 : s.ChunkAlloc.Ns));
            if (!last)
            {
                PutSpin(_d.BlockLocks[inp.ChunkBlock[c]]);
                // temp = malloc(sizeof(chunk_t)) takes the rest of the coarse chunk: the next fine chunk's chunk_t.
                if (_m is not null)
                    PutMalloc(s.ChunkStructBytes, s.ChunkStructBytes, _d.ChunkArena, _d.ChunkOffset, c + 1);
            }
            _cur = c;
            Put(Call(DedupStep.RefineInsert));
            if (last)
                _coarseCur = -1;
            return;
        }
        if (_recv.Count > 0)
        {
            int k = _recv.Take();
            _fine = inp.CoarseFirst[k];
            _fineEnd = _fine + inp.CoarseCount[k];
            _coarseCur = inp.CoarseCount[k] > 0 ? k : -1;
            PutCompute(s.RabinInit.Ns);
            return;
        }
        if (_ended)
        {
            _phase = 1;
            PlanRefine();
            return;
        }
        PutQueueOp(DedupQueueKind.Refine, _qid, DedupStep.DequeueCheck);
    }

    private void PlanDeduplicate()
    {
        var s = _d.Settings;
        if (_phase == 1)
        {
            if (_sendA.Count > 0)
                PutQueueOp(DedupQueueKind.Compress, _qid, DedupStep.EnqueueCheck);
            else if (_sendB.Count > 0)
                PutQueueOp(DedupQueueKind.Reorder, _qid, DedupStep.EnqueueCheck);
            else
            {
                PutQueueOp(DedupQueueKind.Compress, _qid, DedupStep.Terminate);
                _phase = 2;
            }
            return;
        }
        if (_recv.Count > 0)
        {
            // sub_Deduplicate: SHA1_Digest of the chunk, then the bucket lock.
            _cur = _recv.Take();
            PutCompute(s.Sha1NsPerByte * _d.Input.Size[_cur]);
            Put(Call(DedupStep.LookupLock));
            return;
        }
        if (_ended)
        {
            _phase = 1;
            PlanDeduplicate();
            return;
        }
        PutQueueOp(DedupQueueKind.Deduplicate, _qid, DedupStep.DequeueCheck);
    }

    private void PlanCompress()
    {
        if (_phase == 1)
        {
            if (_sendA.Count > 0)
                PutQueueOp(DedupQueueKind.Reorder, _qid, DedupStep.EnqueueCheck);
            else
            {
                PutQueueOp(DedupQueueKind.Reorder, _qid, DedupStep.Terminate);
                _phase = 2;
            }
            return;
        }
        if (_recv.Count > 0)
        {
            _cur = _recv.Take();
            Put(Call(DedupStep.CompressLock));
            return;
        }
        if (_ended)
        {
            _phase = 1;
            PlanCompress();
            return;
        }
        PutQueueOp(DedupQueueKind.Compress, _qid, DedupStep.DequeueCheck);
    }

    private void PlanReorder()
    {
        var s = _d.Settings;
        if (_w >= 0)
        {
            Put(Call(DedupStep.WriteLock));
            return;
        }
        if (_recv.Count > 0)
        {
            int c = _recv.Take();
            PutCompute(s.ReorderPerChunk.Ns);
            if (c == _next)
                _w = c;
            else
            {
                // Not next in sequence: into the search tree / binary heap until its predecessors came.
                _d.Arrived[c] = true;
                _d.ReorderCached++;
                if (++_cachedNow > _d.ReorderCachedMax)
                    _d.ReorderCachedMax = _cachedNow;
                PutCompute(s.ReorderCacheInsert.Ns);
            }
            return;
        }
        if (_ended)
        {
            if (_cachedNow > 0 || _next != _d.Input.Chunks)
                throw new InvalidOperationException($"dedup: Reorder ended at chunk {_next} of {_d.Input.Chunks} with {_cachedNow} cached");
            Put(Call(DedupStep.Finish));
            _phase = 2;
            return;
        }
        // The round-robin fetch: queue_dequeue blocks on an empty queue; a terminated one returns −1 and the next is tried.
        PutQueueOp(DedupQueueKind.Reorder, _qid, DedupStep.DequeueCheck);
    }

    // ---- steps ----

    protected override void Run(GuestThread thread, DedupStep step) => Run(thread, step, 0);

    protected override void Run(GuestThread thread, DedupStep step, int arg)
    {
        if (RunPthread(step, arg) || RunMalloc(step, arg))
        {
            Flush();
            return;
        }
        var s = _d.Settings;
        var inp = _d.Input;
        switch (step)
        {
            case DedupStep.DequeueCheck:
                DequeueCheck(arg);
                break;
            case DedupStep.EnqueueCheck:
                EnqueueCheck(arg);
                break;
            case DedupStep.Terminate:
            {
                var q = _d.Queues[arg];
                if (q.IsTerminated)
                    throw new InvalidOperationException($"dedup: {Dedup.QueueName(q.Kind)}[{q.Index}] terminated more often than it has producers");
                q.Terminated++;
                if (q.IsTerminated)
                    PutCondBroadcast(q.NotEmpty);
                PutUnlock(q.Mutex);
                break;
            }
            case DedupStep.MbufferFree:
            {
                bool last = _d.FreePiece(arg);
                if (last && _m is not null)
                {
                    // free() of the MAXBUF buffer: an mmapped chunk (above DEFAULT_MMAP_THRESHOLD_MAX, so the
                    // thresholds stay), munmap_chunk → munmap: mmap_sem for write, zap, TLB shootdown.
                    long map = GlibcMalloc.MmappedSize(inp.BlockCopyBytes[arg]);
                    _m.FreeMmapped(map);
                    PutCompute(s.Syscall.Ns, user: false);
                    EmitMunmap(_d.Mm!, (int)(map / GlibcMalloc.PageSize), _d.BlockPtl[arg]);
                }
                else if (last)
                {
                    // Without the allocator model: the munmap's page cost and a TLB shootdown of the process's CPUs.
                    PutCompute(s.MunmapPerPage.Ns * (double)((inp.BlockCopyBytes[arg] + 4095) / 4096), user: false);
                    Put(GuestAction.Shootdown(GuestMm.UnmapFreesPageTables((inp.BlockCopyBytes[arg] + 4095) / 4096)));
                }
                break;
            }
            case DedupStep.FragmentInsert:
                _sendA.Add(_cur);
                _d.CoarseChunks++;
                if (_sendA.IsFull)
                {
                    // Round robin over the refine queues, one coarse chunk at a time (ANCHOR_DATA_PER_INSERT).
                    PutQueueOp(DedupQueueKind.Refine, _qid, DedupStep.EnqueueCheck);
                    _qid = (_qid + 1) % _d.NQueues;
                }
                break;
            case DedupStep.RefineInsert:
                _sendA.Add(_cur);
                _d.Refined++;
                if (_sendA.IsFull)
                    PutQueueOp(DedupQueueKind.Deduplicate, _qid, DedupStep.EnqueueCheck);
                break;
            case DedupStep.LookupLock:
                _slot = _d.BucketPool.Acquire(_d.BucketOf(_cur));
                PutLock(_d.BucketBase + _slot);
                Put(Call(DedupStep.Lookup));
                break;
            case DedupStep.Lookup:
                if (_d.LookupAndInsert(_cur))
                {
                    PutCompute(s.HashLookup.Ns + s.HashInsert.Ns);
                    if (_m is not null)
                        PutMalloc(s.HashEntryBytes, s.HashEntryBytes, _sinkArena, _sinkOff, 0); // hashtable_insert's entry (never freed in the run)
                }
                else
                {
                    // Cache hit: the chunk's data is freed at once (mbuffer_free), under the bucket lock.
                    PutCompute(s.HashLookup.Ns);
                    int b = inp.ChunkBlock[_cur];
                    PutSpin(_d.BlockLocks[b]);
                    Put(Call(DedupStep.MbufferFree, b));
                }
                PutUnlock(_d.BucketBase + _slot);
                Put(Call(DedupStep.Route));
                break;
            case DedupStep.Route:
                _d.BucketPool.Release(_slot);
                if (_d.Original[_cur] < 0)
                {
                    _sendA.Add(_cur);
                    if (_sendA.IsFull)
                        PutQueueOp(DedupQueueKind.Compress, _qid, DedupStep.EnqueueCheck);
                }
                else
                {
                    _sendB.Add(_cur);
                    if (_sendB.IsFull)
                        PutQueueOp(DedupQueueKind.Reorder, _qid, DedupStep.EnqueueCheck);
                }
                break;
            case DedupStep.CompressLock:
            {
                // sub_Compress: the chunk's lock is held across compress() and the free of its data.
                _slot = _d.ChunkPool.Acquire(_cur);
                PutLock(_d.ChunkMutexBase + _slot);
                int size = inp.Size[_cur];
                int outBytes = Math.Max(1, (int)(size * s.CompressedFraction));
                if (_m is not null)
                {
                    // mbuffer_create(compressed_data, n + (n >> 9) + 12): the buffer and its mcb_t; compress()
                    // → deflateInit2_'s five zcalloc blocks (the head is cleared whole; window, prev and
                    // pending_buf are touched about as far as the chunk's bytes reach: assumption).
                    PutMalloc(size + (size >> 9) + 12, outBytes, _d.BufArena, _d.BufOffset, _cur);
                    PutMalloc(s.McbBytes, s.McbBytes, _d.McbArena, _d.McbOffset, _cur);
                    int w = s.ZlibWindowBytes;
                    PutMalloc(s.ZlibStateBytes, s.ZlibStateBytes, _zArena, _zOff, 0);
                    PutMalloc(w, Math.Min(w, size), _zArena, _zOff, 1);              // window: 2 × w_size bytes
                    PutMalloc(w, Math.Min(w, 2 * size), _zArena, _zOff, 2);          // prev: w_size Pos
                    PutMalloc(w, w, _zArena, _zOff, 3);                              // head: hash_size Pos, zeroed
                    PutMalloc(w, Math.Min(w, 4 * size), _zArena, _zOff, 4);          // pending_buf: lit_bufsize × 4
                }
                PutCompute(s.DeflateCall.Ns + (s.DeflateNsPerByte * size));
                if (_m is not null)
                {
                    // deflateEnd: pending_buf, head, prev, window, then the state; then realloc to the compressed size.
                    for (int z = 4; z >= 0; z--)
                        PutFree(_zArena, _zOff, z);
                    PutReallocShrink(outBytes, _d.BufArena, _d.BufOffset, _cur); // mbuffer_realloc
                }
                int b = inp.ChunkBlock[_cur];
                PutSpin(_d.BlockLocks[b]);
                Put(Call(DedupStep.MbufferFree, b));
                Put(Call(DedupStep.CompressDone));
                break;
            }
            case DedupStep.CompressDone:
                if (_d.State[_cur] != DedupChunkState.Uncompressed)
                    throw new InvalidOperationException($"dedup: chunk {_cur} compressed twice");
                _d.State[_cur] = DedupChunkState.Compressed;
                _d.Compressed++;
                PutCondBroadcast(_d.ChunkCondBase + _slot);
                PutUnlock(_d.ChunkMutexBase + _slot);
                Put(Call(DedupStep.CompressRoute));
                break;
            case DedupStep.CompressRoute:
                _d.ChunkPool.Release(_slot);
                _sendA.Add(_cur);
                if (_sendA.IsFull)
                    PutQueueOp(DedupQueueKind.Reorder, _qid, DedupStep.EnqueueCheck);
                break;
            case DedupStep.WriteLock:
                // write_chunk_to_file: a duplicate is written through its original chunk, under that chunk's lock.
                _o = _d.Original[_w] >= 0 ? _d.Original[_w] : _w;
                _slot = _d.ChunkPool.Acquire(_o);
                PutLock(_d.ChunkMutexBase + _slot);
                Put(Call(DedupStep.WriteCheck));
                break;
            case DedupStep.WriteCheck:
            {
                var st = _d.State[_o];
                if (st == DedupChunkState.Uncompressed)
                {
                    _d.ChunkCondWaits++;
                    PutCondWait(_d.ChunkCondBase + _slot, _d.ChunkMutexBase + _slot);
                    Put(Call(DedupStep.WriteCheck));
                    break;
                }
                // write_file: three write() calls (type, length, content): the compressed data the first
                // time, the SHA-1 afterwards; the compressed buffer is freed (its own control block's lock).
                long body = 1 + 8;
                if (st == DedupChunkState.Compressed)
                {
                    _d.State[_o] = DedupChunkState.Flushed;
                    body += (long)(inp.Size[_o] * s.CompressedFraction);
                }
                else
                    body += 20;
                PutCompute((3.0 * s.WriteCall.Ns) + (s.CopyNsPerByte * body), user: false);
                if (st == DedupChunkState.Compressed && _m is not null)
                {
                    // mbuffer_free(&chunk->compressed_data) under the chunk's lock: the buffer and its mcb_t go
                    // back to the Compress thread's arena that allocated them.
                    PutFree(_d.BufArena, _d.BufOffset, _o);
                    PutFree(_d.McbArena, _d.McbOffset, _o);
                }
                PutUnlock(_d.ChunkMutexBase + _slot);
                Put(Call(DedupStep.WriteDone));
                break;
            }
            case DedupStep.WriteDone:
                _d.ChunkPool.Release(_slot);
                if (_m is not null && _d.Original[_w] >= 0)
                    PutFree(_d.ChunkArena, _d.ChunkOffset, _w); // Reorder: free(chunk) of a written duplicate
                _d.Written++;
                _d.WrittenBytes += inp.Size[_w];
                _next++;
                if (_next < inp.Chunks && _d.Arrived[_next])
                {
                    _d.Arrived[_next] = false;
                    _cachedNow--;
                    _w = _next;
                    PutCompute(s.ReorderCacheRemove.Ns);
                }
                else
                    _w = -1;
                break;
            case DedupStep.Finish:
                _d.Finished();
                break;
        }
        Flush();
    }

    protected override void Contended(int m)
    {
        if (m >= _d.ArenaMutexBase && _m is not null)
            _d.ArenaContended++;
        else if (m >= _d.ChunkMutexBase)
        {
            if (Stage == DedupStage.Reorder)
                _d.ChunkLockContended++;
        }
        else if (m >= _d.BucketBase)
            _d.BucketContended++;
    }

    /// <summary>dedup counts cross-thread frees and trims; its mmapped chunks show in <see cref="GlibcMalloc.MmappedFrees"/> and the mm's counters.</summary>
    protected override void Count(MallocEvent e)
    {
        switch (e)
        {
            case MallocEvent.CrossThreadFree:
                _d.CrossThreadFrees++;
                break;
            case MallocEvent.CrossThreadLockedFree:
                _d.CrossThreadLockedFrees++;
                break;
            case MallocEvent.HeapTrim:
                _d.HeapTrims++;
                break;
        }
    }

    private void DequeueCheck(int qi)
    {
        var q = _d.Queues[qi];
        if (q.Count == 0 && !q.IsTerminated)
        {
            q.EmptyWaits++;
            PutCondWait(q.NotEmpty, q.Mutex);
            Put(Call(DedupStep.DequeueCheck, qi));
            return;
        }
        int moved = -1;
        if (q.Count > 0)
        {
            int limit = _recv.Size;
            moved = 0;
            while (moved < limit && q.Count > 0 && _recv.Space > 0)
            {
                _recv.Add(q.Take());
                moved++;
            }
            q.Dequeues++;
            PutCompute(_d.Settings.QueueItem.Ns * (double)moved);
            PutCondSignal(q.NotFull);
        }
        PutUnlock(q.Mutex);
        if (Stage == DedupStage.Reorder)
        {
            // Reorder's loop: for (i = 0, r = 0; r <= 0 && i < nqueues; i++) { r = queue_dequeue(...); qid++ }
            _qid = (_qid + 1) % _d.NQueues;
            if (moved > 0)
                _tries = 0;
            else if (++_tries >= _d.NQueues)
                _ended = true;
        }
        else if (moved < 0)
            _ended = true;
    }

    private void EnqueueCheck(int qi)
    {
        var q = _d.Queues[qi];
        var send = SendFor(q.Kind);
        if (q.IsFull)
        {
            q.FullWaits++;
            PutCondWait(q.NotFull, q.Mutex);
            Put(Call(DedupStep.EnqueueCheck, qi));
            return;
        }
        int limit = InsertLimit(q.Kind);
        int moved = 0;
        while (moved < limit && !q.IsFull && send.Count > 0)
        {
            q.Put(send.Take());
            moved++;
        }
        PutCompute(_d.Settings.QueueItem.Ns * (double)moved);
        PutCondSignal(q.NotEmpty);
        PutUnlock(q.Mutex);
        if (send.Count > 0)
        {
            // The queue filled up part-way (only with a small queue_size): enqueue the rest.
            PutLock(q.Mutex);
            Put(Call(DedupStep.EnqueueCheck, qi));
        }
    }
}

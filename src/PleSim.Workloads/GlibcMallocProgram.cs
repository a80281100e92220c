using System.Runtime.CompilerServices;
using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// The steps of glibc's malloc path, shared by the programs built on <see cref="GlibcMallocProgram{TStep}"/>:
/// they travel as the values 7..9 of the program's step enum, just after the <see cref="PthreadStep"/>s;
/// the program's own steps start at <c>(int)MallocStep.Fault + 1</c> (checked once per program instance).
/// </summary>
public enum MallocStep
{
    /// <summary><c>__libc_malloc</c> / <c>__libc_free</c> / <c>__libc_realloc</c> up to the arena mutex.</summary>
    MemStart = (int)PthreadStep.CondBroadcast + 1,

    /// <summary>Under the arena mutex: <c>_int_malloc</c>, <c>_int_free</c> or <c>_int_realloc</c>'s split.</summary>
    MemLocked,

    /// <summary>One first-touch page fault of a chain (the argument: how many are left).</summary>
    Fault,
}

/// <summary>What the malloc path of <see cref="GlibcMallocProgram{TStep}"/> reports to its program's counters.</summary>
public enum MallocEvent
{
    /// <summary>A free of a chunk from an arena other than the freeing thread's.</summary>
    CrossThreadFree,

    /// <summary>Such a free that took the chunk's arena mutex (neither tcache nor fastbin took it).</summary>
    CrossThreadLockedFree,

    /// <summary>heap_trim / systrim gave pages back (a madvise or, for the main arena, a brk → munmap).</summary>
    HeapTrim,

    /// <summary>A malloc served by sysmalloc's mmap (at or above mp_.mmap_threshold).</summary>
    MmappedMalloc,

    /// <summary>A free of an mmapped chunk (munmap_chunk).</summary>
    MmappedFree,
}

/// <summary>The CPU costs of the malloc path: a system call's entry and exit, a lock-free (tcache or fastbin) operation, and the work under an arena mutex.</summary>
public readonly record struct MallocCosts(SimDuration Syscall, SimDuration MallocFast, SimDuration MallocArena);

/// <summary>
/// A <see cref="GlibcPthreadProgram{TStep}"/> whose mallocs, frees and realloc shrinks go through glibc 2.35's
/// allocator (<see cref="GlibcMalloc"/>, the thread's <see cref="GlibcTcache"/>): <see cref="PutMalloc"/>,
/// <see cref="PutFree"/> and <see cref="PutReallocShrink"/> queue an operation in program order and plan
/// <see cref="MallocStep.MemStart"/>; <see cref="RunMalloc"/> runs the <see cref="MallocStep"/>s. The path:
/// <list type="bullet">
/// <item><c>MemStart</c> (<c>__libc_malloc</c> / <c>__libc_free</c> / <c>__libc_realloc</c> up to the arena
/// mutex): a malloc at or above mp_.mmap_threshold is sysmalloc's mmap; one the tcache holds is taken
/// without a lock; the rest lock the thread's arena (<c>arena_get</c>; <c>arena_get2</c> →
/// <c>_int_new_arena</c> → <c>new_heap</c>'s mmap on the thread's first malloc). A free of an mmapped chunk is
/// <c>munmap_chunk</c>; otherwise the chunk goes to the freeing thread's tcache, else its arena's fastbin (no
/// lock), else <c>_int_free</c> locks the chunk's arena.</item>
/// <item><c>MemLocked</c> (under the arena mutex): <c>_int_malloc</c> (and grow_heap's mprotect, the first
/// touches' page faults after the unlock), <c>_int_free</c> (and heap_trim's madvise, or for the main arena
/// systrim's brk), or <c>_int_realloc</c>'s in-place split and <c>_int_free</c> of the remainder.</item>
/// </list>
/// What differs between programs is small: where the counters live (<see cref="Count"/>), which arena is
/// glibc's main_arena (<c>mainArena</c>), and how big an arena's chunk table is made (<see cref="ArenaTableHint"/>).
/// Everything here is allocation-free per step (operations are structs in a preallocated ring).
/// </summary>
public abstract class GlibcMallocProgram<TStep> : GlibcPthreadProgram<TStep>
    where TStep : unmanaged, Enum
{
    private enum MemKind : byte
    {
        Malloc,
        Free,
        Shrink,
    }

    /// <summary>One malloc, free or realloc of the thread, queued in program order: where the chunk's (arena, offset) is kept, the request, the bytes the caller then touches.</summary>
    private struct MemOp
    {
        public MemKind Kind;
        public int Bytes;
        public int Touch;
        public int[] Arena;
        public int[] Offset;
        public int Index;
    }

    private readonly GlibcMalloc? _m;
    private readonly GlibcTcache? _tc;
    private readonly GuestMm? _mm;
    private readonly int _arenaMutexBase;
    private readonly int _mainArena;
    private readonly MallocCosts _costs;
    private readonly MemOp[] _ops = new MemOp[32];
    private int _opHead, _opCount;
    private MemOp _op;              // the operation between MemStart and MemLocked
    private int _opArena, _opOffset, _opNb;
    private int _faultArena;        // the arena (or −1: an mmapped chunk) whose pages the Fault chain touches

    /// <param name="malloc">The process's allocator (null: the program leaves the allocator out and plans no malloc).</param>
    /// <param name="mm">The process's guest mm the mmaps, munmaps, madvises and faults go through.</param>
    /// <param name="arenaMutexBase">Index of arena 0's mutex in <paramref name="mutexes"/> (arena a's is base + a).</param>
    /// <param name="mainArena">The arena that is glibc's main_arena (trimmed by systrim → brk), or −1 when the program's threads never use it.</param>
    protected GlibcMallocProgram(PthreadMutex[] mutexes, PthreadCond[] conds, GuestCosts costs, int bufferSize,
        GlibcMalloc? malloc, GuestMm? mm, int arenaMutexBase, int mainArena, MallocCosts mallocCosts)
        : base(mutexes, conds, costs, bufferSize)
    {
        // Checked once per program instance (when the model is built), not per step.
        foreach (var v in Enum.GetValues<TStep>())
        {
            if (Unsafe.As<TStep, int>(ref Unsafe.AsRef(in v)) <= (int)MallocStep.Fault)
                throw new InvalidOperationException($"{typeof(TStep).Name}.{v}: a program's own steps start after the malloc steps ({(int)MallocStep.Fault + 1})");
        }
        _m = malloc;
        _tc = malloc is null ? null : new GlibcTcache(malloc.Settings);
        _mm = mm;
        _arenaMutexBase = arenaMutexBase;
        _mainArena = mainArena;
        _costs = mallocCosts;
    }

    /// <summary>The thread's tcache (null without the allocator model).</summary>
    public GlibcTcache? Tcache => _tc;

    /// <summary>Arena mutex acquisitions of this thread (locked malloc, free and realloc paths).</summary>
    public long ArenaLocks;

    /// <summary>Simulation only: heap bytes the chunk table of the arena this thread makes is sized for (0: the settings'), so the run does not grow it.</summary>
    protected abstract int ArenaTableHint { get; }

    /// <summary>One <see cref="MallocEvent"/> of this thread's malloc path, for the program's own counters.</summary>
    protected abstract void Count(MallocEvent e);

    /// <summary>A thread name for error messages.</summary>
    protected abstract string Name { get; }

    /// <summary>The step that is <paramref name="s"/>.</summary>
    private static TStep Step(MallocStep s)
    {
        int i = (int)s;
        return Unsafe.As<int, TStep>(ref i);
    }

    // ---- planning: operations queued in program order, run as steps ----

    /// <summary><c>malloc(bytes)</c>; the caller then touches <paramref name="touch"/> bytes; the chunk is kept in <c>arena[index]</c>, <c>offset[index]</c>.</summary>
    protected void PutMalloc(int bytes, int touch, int[] arena, int[] offset, int index) => PutMem(MemKind.Malloc, bytes, touch, arena, offset, index);

    /// <summary><c>free</c> of the chunk kept in <c>arena[index]</c>, <c>offset[index]</c>.</summary>
    protected void PutFree(int[] arena, int[] offset, int index) => PutMem(MemKind.Free, 0, 0, arena, offset, index);

    /// <summary><c>realloc</c> of the chunk kept in <c>arena[index]</c>, <c>offset[index]</c> to a smaller <paramref name="bytes"/> (in place).</summary>
    protected void PutReallocShrink(int bytes, int[] arena, int[] offset, int index) => PutMem(MemKind.Shrink, bytes, 0, arena, offset, index);

    private void PutMem(MemKind kind, int bytes, int touch, int[] arena, int[] offset, int index)
    {
        if (_opCount == _ops.Length)
            throw new InvalidOperationException($"{Name}: too many allocator operations queued");
        int i = _opHead + _opCount;
        if (i >= _ops.Length)
            i -= _ops.Length;
        _ops[i] = new MemOp { Kind = kind, Bytes = bytes, Touch = touch, Arena = arena, Offset = offset, Index = index };
        _opCount++;
        Put(Call(Step(MallocStep.MemStart)));
    }

    /// <summary>A system call's entry and exit, then the mmap path (mmap_sem for write).</summary>
    protected void PutSyscallMmap()
    {
        PutCompute(_costs.Syscall.Ns, user: false);
        EmitMmap(_mm!);
    }

    // ---- the steps ----

    /// <summary>
    /// Runs <paramref name="step"/> when it is a <see cref="MallocStep"/> (its actions collected, not yet
    /// flushed) and returns true; false for the program's other steps.
    /// </summary>
    protected bool RunMalloc(TStep step, int arg)
    {
        switch ((MallocStep)Unsafe.As<TStep, int>(ref step))
        {
            case MallocStep.MemStart:
                MemStart();
                return true;
            case MallocStep.MemLocked:
                MemLocked();
                return true;
            case MallocStep.Fault:
                EmitPageFault(_mm!, _m!.Ptl[Math.Max(0, _faultArena)]);
                if (arg > 1)
                    Put(Call(Step(MallocStep.Fault), arg - 1));
                return true;
            default:
                return false;
        }
    }

    /// <summary>__libc_malloc / __libc_free / __libc_realloc up to the arena mutex (glibc 2.35).</summary>
    private void MemStart()
    {
        _op = _ops[_opHead];
        _ops[_opHead] = default;
        if (++_opHead == _ops.Length)
            _opHead = 0;
        _opCount--;
        switch (_op.Kind)
        {
            case MemKind.Malloc:
                StartMalloc();
                break;
            case MemKind.Free:
                StartFree();
                break;
            default:
            {
                int a = _op.Arena[_op.Index];
                if (a < 0)
                    break; // mremap of an mmapped chunk: not modelled (only chunks above the mmap threshold)
                LockArena(a, _op.Offset[_op.Index]);
                break;
            }
        }
    }

    /// <summary>__libc_malloc: sysmalloc's mmap, tcache_get, or arena_get and the arena mutex.</summary>
    private void StartMalloc()
    {
        var m = _m!;
        _opNb = GlibcArena.Request2Size(_op.Bytes);
        if (m.IsMmapped(_op.Bytes))
        {
            // sysmalloc: a chunk at or above mp_.mmap_threshold is mmapped on its own (its offset slot keeps the mapping's pages).
            long map = GlibcMalloc.MmappedSize(_op.Bytes);
            _op.Arena[_op.Index] = -1;
            _op.Offset[_op.Index] = (int)(map / GlibcMalloc.PageSize);
            Count(MallocEvent.MmappedMalloc);
            PutSyscallMmap();
            PutFaults(-1, (int)((Math.Min(_op.Touch, map) + GlibcMalloc.PageSize - 1) / GlibcMalloc.PageSize));
            return;
        }
        if (_tc!.TryGet(_opNb, out int a, out int off))
        {
            _op.Arena[_op.Index] = a;
            _op.Offset[_op.Index] = off;
            PutCompute(_costs.MallocFast.Ns);
            return;
        }
        if (_tc.Arena < 0)
        {
            // arena_get2 → _int_new_arena → new_heap: mmap of HEAP_MAX_SIZE (PROT_NONE), mprotect of the first part.
            m.AttachArena(_tc, ArenaTableHint);
            PutSyscallMmap();
        }
        LockArena(_tc.Arena, 0);
    }

    /// <summary>__libc_free: munmap_chunk, tcache_put, a fastbin push, or _int_free's arena mutex.</summary>
    private void StartFree()
    {
        var m = _m!;
        int a = _op.Arena[_op.Index];
        int off = _op.Offset[_op.Index];
        bool cross = _tc!.Arena != a;
        if (cross)
            Count(MallocEvent.CrossThreadFree);
        if (a < 0)
        {
            // munmap_chunk: the dynamic threshold update, then munmap (mmap_sem for write, zap, TLB shootdown).
            m.FreeMmapped((long)off * GlibcMalloc.PageSize);
            Count(MallocEvent.MmappedFree);
            PutCompute(_costs.Syscall.Ns, user: false);
            EmitMunmap(_mm!, off, m.Ptl[0]);
            return;
        }
        var arena = m.Arenas[a];
        if (!arena.IsInUse(off))
            throw new InvalidOperationException($"{Name} frees {off} of arena {a}, not an allocated chunk (slot {_op.Index})");
        int size = arena.ChunkSize(off);
        if (_tc.TryPut(size, a, off))
        {
            PutCompute(_costs.MallocFast.Ns);
            return;
        }
        if (size <= arena.Settings.MaxFast)
        {
            arena.Free(off, m.TrimThreshold); // a fastbin push: never coalesces, never trims
            m.FastbinFrees++;
            PutCompute(_costs.MallocFast.Ns);
            return;
        }
        if (cross)
        {
            Count(MallocEvent.CrossThreadLockedFree);
            m.CrossThreadLockedFrees++;
        }
        LockArena(a, off);
    }

    /// <summary>__libc_lock_lock(ar_ptr->mutex), then the part under it.</summary>
    private void LockArena(int arena, int offset)
    {
        _opArena = arena;
        _opOffset = offset;
        ArenaLocks++;
        PutLock(_arenaMutexBase + arena);
        Put(Call(Step(MallocStep.MemLocked)));
    }

    /// <summary>The part under the arena mutex: _int_malloc (and grow_heap's mprotect), _int_free (and a trim), or _int_realloc's split.</summary>
    private void MemLocked()
    {
        var m = _m!;
        int a = _opArena;
        var arena = m.Arenas[a];
        int mutex = _arenaMutexBase + a;
        PutCompute(_costs.MallocArena.Ns);
        switch (_op.Kind)
        {
            case MemKind.Malloc:
            {
                int mprotectBefore = arena.MprotectSize;
                int off = arena.MallocChunk(_opNb);
                _op.Arena[_op.Index] = a;
                _op.Offset[_op.Index] = off;
                if (arena.MprotectSize > mprotectBefore)
                    PutSyscallMmap(); // grow_heap past h->mprotect_size (or, for the main arena, brk): mmap_sem for write
                PutUnlock(mutex);
                PutFaults(a, m.Touch(a, off + 16, _op.Touch));
                break;
            }
            case MemKind.Free:
                m.LockedFrees++;
                PutTrim(a, m.FreeLocked(a, _opOffset));
                PutUnlock(mutex);
                break;
            default:
            {
                int rem = arena.ShrinkInPlace(_opOffset, _op.Bytes);
                if (rem >= 0)
                {
                    // _int_free(av, remainder, have_lock = 1): the tcache first, then fastbin or the bins.
                    int size = arena.ChunkSize(rem);
                    if (!_tc!.TryPut(size, a, rem))
                        PutTrim(a, m.FreeLocked(a, rem));
                }
                PutUnlock(mutex);
                break;
            }
        }
    }

    /// <summary>
    /// A trim under the arena mutex when _int_free gave <paramref name="presentPages"/> ≥ 0 back: heap_trim →
    /// shrink_heap → madvise(MADV_DONTNEED) of a heap's tail, or for the main arena systrim → brk(−extra) →
    /// do_munmap (mmap_sem for write); both a TLB shootdown.
    /// </summary>
    private void PutTrim(int arena, int presentPages)
    {
        if (presentPages < 0)
            return;
        Count(MallocEvent.HeapTrim);
        PutCompute(_costs.Syscall.Ns, user: false);
        if (arena == _mainArena)
            EmitMunmap(_mm!, presentPages, _m!.Ptl[arena]);
        else
            EmitMadviseDontneed(_mm!, presentPages, _m!.Ptl[arena]);
    }

    /// <summary>First touches of fresh pages, one anonymous page fault each (a chain of steps).</summary>
    private void PutFaults(int arena, int pages)
    {
        if (pages <= 0)
            return;
        _faultArena = arena;
        Put(Call(Step(MallocStep.Fault), Math.Min(pages, MaxArg)));
    }
}

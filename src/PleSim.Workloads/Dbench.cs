using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// dbench's options (its positional client count) and the model's per-operation costs (guest time).
/// Each cost is an assumption about a 2013 x86-64 guest unless the scenario names a source; the kernel
/// constants name their file. docs/dbench.md lists which kernel path each cost stands for.
/// </summary>
public sealed record DbenchSettings
{
    /// <summary>dbench's <c>NPROCS</c> argument: client processes (0: one per VCPU — the model's default, dbench has none).</summary>
    public int Clients { get; init; }

    /// <summary>Bytes of every ReadX and WriteX: published throughput × time / (ReadX + WriteX) of two client.txt runs (docs/dbench.md).</summary>
    public int IoSize { get; init; } = 15200;

    /// <summary>User-mode work of <c>child_run</c> per load-file line: fgets, the two <c>all_string_sub</c> passes, <c>next_token</c>, the name <c>snprintf</c>s, the op dispatch, the timing calls.</summary>
    public SimDuration UserPerLine { get; init; } = SimDuration.FromNanoseconds(1500);

    /// <summary><c>kill(parent, 0)</c>, the liveness probe <c>child_run</c> makes before every line (a system call, no lock).</summary>
    public SimDuration KillProbe { get; init; } = SimDuration.FromNanoseconds(200);

    /// <summary><c>stat()</c> that finds its file: rcu-walk of the path, <c>complete_walk</c>, <c>vfs_getattr</c>, copy-out.</summary>
    public SimDuration PathLookup { get; init; } = SimDuration.FromNanoseconds(700);

    /// <summary>opendir + readdir of the whole parent directory + closedir (<c>resolve_name</c> after a failed stat, and Find).</summary>
    public SimDuration Readdir { get; init; } = SimDuration.FromNanoseconds(3000);

    /// <summary><c>open()</c> of an existing file after its lookup: <c>do_dentry_open</c>, fd install, the <c>fstat</c> that follows.</summary>
    public SimDuration Open { get; init; } = SimDuration.FromNanoseconds(1000);

    /// <summary><c>open(O_CREAT)</c> / <c>mkdir</c> on tmpfs without the global locks: d_alloc, <c>shmem_get_inode</c>, d_instantiate, the open.</summary>
    public SimDuration Create { get; init; } = SimDuration.FromNanoseconds(2000);

    /// <summary><c>open()</c> of a missing file: the lookup's negative dentry, allocated and killed.</summary>
    public SimDuration OpenMiss { get; init; } = SimDuration.FromNanoseconds(600);

    public SimDuration Close { get; init; } = SimDuration.FromNanoseconds(500);

    /// <summary><c>unlink()</c> without the global locks and the page truncation: lookup, <c>shmem_unlink</c>, d_delete, <c>evict</c>.</summary>
    public SimDuration Unlink { get; init; } = SimDuration.FromNanoseconds(1500);

    /// <summary><c>rename()</c> in one directory without <c>rename_lock</c>: <c>lock_rename</c>, two lookups, <c>shmem_rename</c>.</summary>
    public SimDuration Rename { get; init; } = SimDuration.FromNanoseconds(1500);

    /// <summary><c>fstat()</c> (Qfileinfo).</summary>
    public SimDuration Fstat { get; init; } = SimDuration.FromNanoseconds(200);

    /// <summary>Sfileinfo: <c>fstat</c> + <c>utime(name)</c> (path walk, <c>notify_change</c> → <c>shmem_setattr</c>).</summary>
    public SimDuration Setattr { get; init; } = SimDuration.FromNanoseconds(900);

    /// <summary><c>statvfs()</c> without the per-CPU sum: path walk, <c>shmem_statfs</c>'s fields.</summary>
    public SimDuration Statfs { get; init; } = SimDuration.FromNanoseconds(500);

    /// <summary><c>fcntl(F_SETLKW)</c> without <c>file_lock_lock</c> (LockX, UnlockX).</summary>
    public SimDuration Fcntl { get; init; } = SimDuration.FromNanoseconds(400);

    /// <summary><c>fsync()</c> on tmpfs (<c>noop_fsync</c>): Flush.</summary>
    public SimDuration Fsync { get; init; } = SimDuration.FromNanoseconds(150);

    /// <summary><c>pread()</c> without the copy: fdget, <c>shmem_file_aio_read</c>'s page look-ups, <c>touch_atime</c>.</summary>
    public SimDuration ReadFixed { get; init; } = SimDuration.FromNanoseconds(400);

    /// <summary><c>pwrite()</c> without the pages and the copy: fdget, i_mutex, <c>file_update_time</c>.</summary>
    public SimDuration WriteFixed { get; init; } = SimDuration.FromNanoseconds(600);

    /// <summary><c>copy_to_user</c> / <c>copy_from_user</c> per byte (the page-cache copy is a memcpy; ≈10 GB/s, as ebizzy's default).</summary>
    public double CopyNsPerByte { get; init; } = 0.1;

    /// <summary>A new page of a tmpfs write (<c>shmem_getpage_gfp</c>: radix-tree insert under the file's own tree_lock, accounting) besides the allocator and the LRU.</summary>
    public SimDuration PageCacheAdd { get; init; } = SimDuration.FromNanoseconds(250);

    /// <summary>Per page of a truncation (<c>shmem_truncate_range</c>: radix-tree removal) besides the LRU and the allocator.</summary>
    public SimDuration TruncatePerPage { get; init; } = SimDuration.FromNanoseconds(100);

    /// <summary>Hold of tmpfs's <c>sbinfo->stat_lock</c> in <c>shmem_reserve_inode</c> / <c>shmem_free_inode</c> (a counter update).</summary>
    public SimDuration StatLockHold { get; init; } = SimDuration.FromNanoseconds(40);

    /// <summary>Hold of <c>inode_sb_list_lock</c> in <c>inode_sb_list_add</c> / <c>inode_sb_list_del</c> (a list insert or delete).</summary>
    public SimDuration InodeSbListHold { get; init; } = SimDuration.FromNanoseconds(40);

    /// <summary>Hold of <c>rename_lock</c> in <c>d_move</c> (the dentry locks, unhash/rehash, name switch).</summary>
    public SimDuration RenameLockHold { get; init; } = SimDuration.FromNanoseconds(200);

    /// <summary>Hold of <c>file_lock_lock</c> in <c>__posix_lock_file</c> (the inode's lock list walk, insert or merge).</summary>
    public SimDuration FileLockHold { get; init; } = SimDuration.FromNanoseconds(250);

    /// <summary>Per page moved on or off the LRU under <c>zone->lru_lock</c> (<c>____pagevec_lru_add</c>, <c>release_pages</c>).</summary>
    public SimDuration LruPerPage { get; init; } = SimDuration.FromNanoseconds(60);

    /// <summary>Folding a CPU's delta into <c>used_blocks</c> under its lock (<c>__percpu_counter_add</c>).</summary>
    public SimDuration PercpuFold { get; init; } = SimDuration.FromNanoseconds(30);

    /// <summary>Per online CPU read by <c>__percpu_counter_sum</c> under the counter's lock (statfs).</summary>
    public SimDuration PercpuSumPerCpu { get; init; } = SimDuration.FromNanoseconds(5);

    /// <summary><c>PAGEVEC_SIZE</c> (include/linux/pagevec.h, 2.6.39 and 3.x): pages a CPU gathers before taking lru_lock.</summary>
    public int PagevecSize { get; init; } = 14;

    /// <summary><c>SWAP_CLUSTER_MAX</c> (include/linux/swap.h): <c>release_pages</c> drops lru_lock after this many pages.</summary>
    public int SwapClusterMax { get; init; } = 32;

    /// <summary><c>percpu_counter_batch</c>; 0 for the kernel's rule max(32, 2 × online CPUs) (lib/percpu_counter.c <c>compute_batch_value</c>).</summary>
    public int PercpuBatch { get; init; }

    /// <summary>The zone allocator's per-CPU lists (pcp batch 31 and high 186, as 3.x <c>zone_batchsize</c> / <c>setup_pageset</c> for a large zone).</summary>
    public MmCosts Mm { get; init; } = new();
}

/// <summary>The steps of a <see cref="DbenchClient"/>.</summary>
public enum DbenchStep
{
    /// <summary>The operation (its <see cref="DbenchOp"/> in the argument) returned: counted, its bytes added.</summary>
    OpDone,

    /// <summary>A write gets a new page (argument: pages still to get, this one included).</summary>
    WritePage,

    /// <summary>A truncation gives back pages (argument: pages still to give back).</summary>
    Truncate,

    /// <summary>An inode is created (<c>shmem_get_inode</c>): <c>used_blocks</c> is untouched, the file count grows.</summary>
    InodeCreated,
}

/// <summary>
/// A <c>percpu_counter</c> (lib/percpu_counter.c, 2.6.39 and 3.x): each CPU adds to its own delta and
/// folds it into the shared count under the counter's spinlock when the delta reaches ±batch;
/// <c>__percpu_counter_sum</c> reads every online CPU's delta under that lock.
/// </summary>
public sealed class PercpuCounter
{
    private readonly long[] _delta;

    public PercpuCounter(GuestKernel kernel, string name, int batch)
    {
        Lock = kernel.NewLock(name + ".lock");
        Batch = batch;
        _delta = new long[kernel.Cpus.Length];
    }

    /// <summary><c>fbc->lock</c>.</summary>
    public GuestSpinLock Lock { get; }

    public int Batch { get; }

    /// <summary>The folded count (<c>fbc->count</c>).</summary>
    public long Count { get; private set; }

    public long Folds { get; private set; }

    /// <summary>The count including every CPU's delta (what <c>__percpu_counter_sum</c> returns).</summary>
    public long Sum
    {
        get
        {
            long s = Count;
            foreach (long d in _delta)
                s += d;
            return s;
        }
    }

    public long Delta(int cpu) => _delta[cpu];

    /// <summary><c>__percpu_counter_add(fbc, amount, batch)</c> on <paramref name="cpu"/>: true when the delta was folded (the lock is taken).</summary>
    public bool Add(int cpu, long amount)
    {
        long d = _delta[cpu] + amount;
        if (d >= Batch || d <= -Batch)
        {
            Count += d;
            _delta[cpu] = 0;
            Folds++;
            return true;
        }
        _delta[cpu] = d;
        return false;
    }
}

/// <summary>
/// dbench 4 (Andrew Tridgell's netbench emulator) on tmpfs in a guest: <c>clients</c> processes each
/// replay the load file against their own directory (<c>/clients/clientN</c>). The operations run the
/// guest kernel paths of a 3.10-era tmpfs (docs/dbench.md, docs/kernel-map.md), with the shared locks
/// of that era as spinlocks of the guest: tmpfs's <c>stat_lock</c> (inode reserve and free),
/// <c>inode_sb_list_lock</c> (new and evicted inodes), <c>rename_lock</c> (<c>d_move</c>),
/// <c>file_lock_lock</c> (POSIX locks), the <c>used_blocks</c> per-CPU counter's lock (block
/// accounting, statfs), <c>zone->lru_lock</c> (per-CPU pagevecs of 14 pages going on the LRU,
/// truncation) and the zone allocator's <c>zone->lock</c>. Everything a client touches alone — its
/// directories' i_mutex and d_lock, its files' locks, its file table — is folded into the operation's
/// cost. Throughput is counted as dbench counts it: the size of every ReadX and WriteX.
/// </summary>
public sealed class Dbench
{
    private readonly long[] _opCounts = new long[DbenchLoadCursor.OpKinds];
    private readonly int[] _pagevec;

    public Dbench(GuestKernel kernel, DbenchSettings settings)
    {
        Kernel = kernel;
        Settings = settings;
        int cpus = kernel.Cpus.Length;
        Zone = new GuestZone(kernel, "zone.normal", settings.Mm);
        // zone->lru_lock: spin_lock_irq / irqsave in ____pagevec_lru_add and release_pages (mm/swap.c).
        LruLock = kernel.NewLock("zone.normal.lru_lock", LockIrq.IrqSave);
        StatLock = kernel.NewLock("tmpfs.stat_lock");
        InodeSbListLock = kernel.NewLock("inode_sb_list_lock");
        RenameLock = kernel.NewLock("rename_lock");
        FileLockLock = kernel.NewLock("file_lock_lock");
        int batch = settings.PercpuBatch > 0 ? settings.PercpuBatch : Math.Max(32, 2 * cpus);
        UsedBlocks = new PercpuCounter(kernel, "tmpfs.used_blocks", batch);
        _pagevec = new int[cpus];
        int n = settings.Clients > 0 ? settings.Clients : cpus;
        for (int i = 0; i < n; i++)
        {
            var c = new DbenchClient(this, i);
            _clients.Add(c);
            // Each client is a process of its own (dbench forks them): its own mm.
            kernel.CreateThread($"dbench{i}", c, i % cpus, mm: i + 1);
        }
    }

    private readonly List<DbenchClient> _clients = [];

    public GuestKernel Kernel { get; }
    public DbenchSettings Settings { get; }
    public GuestZone Zone { get; }

    /// <summary><c>zone->lru_lock</c>.</summary>
    public GuestSpinLock LruLock { get; }

    /// <summary>tmpfs <c>sbinfo->stat_lock</c>.</summary>
    public GuestSpinLock StatLock { get; }

    /// <summary>The global <c>inode_sb_list_lock</c> (fs/inode.c, 2.6.39 to 4.x).</summary>
    public GuestSpinLock InodeSbListLock { get; }

    /// <summary>The seqlock <c>rename_lock</c>'s spinlock (fs/dcache.c), taken by writers only.</summary>
    public GuestSpinLock RenameLock { get; }

    /// <summary><c>file_lock_lock</c> (fs/locks.c <c>lock_flocks</c>, 2.6.37 to 3.14).</summary>
    public GuestSpinLock FileLockLock { get; }

    /// <summary>tmpfs <c>sbinfo->used_blocks</c>.</summary>
    public PercpuCounter UsedBlocks { get; }

    public IReadOnlyList<DbenchClient> Clients => _clients;

    /// <summary>Bytes of every completed ReadX and WriteX (dbench's <c>child->bytes</c>, all clients).</summary>
    public long Bytes { get; private set; }

    /// <summary>Load-file lines completed (every operation), all clients.</summary>
    public long Ops { get; private set; }

    /// <summary>Pagevec drains that took lru_lock (adds), and truncation batches that took it.</summary>
    public long LruAdds { get; private set; }
    public long LruReleases { get; private set; }

    /// <summary>Completed operations of <paramref name="op"/> as dbench counts them (the NTCreateX kinds apart).</summary>
    public long Count(DbenchOp op) => _opCounts[(int)op];

    internal void OpDone(DbenchOp op)
    {
        _opCounts[(int)op]++;
        Ops++;
        if (op is DbenchOp.ReadX or DbenchOp.WriteX)
            Bytes += Settings.IoSize;
    }

    /// <summary><c>lru_cache_add</c> of one page on <paramref name="cpu"/>: true when the CPU's pagevec is full and goes to the LRU under lru_lock.</summary>
    internal bool PagevecAdd(int cpu)
    {
        if (++_pagevec[cpu] < Settings.PagevecSize)
            return false;
        _pagevec[cpu] = 0;
        LruAdds++;
        return true;
    }

    internal void LruRelease() => LruReleases++;

    /// <summary>Pages waiting in <paramref name="cpu"/>'s LRU pagevec.</summary>
    public int Pagevec(int cpu) => _pagevec[cpu];
}

/// <summary>
/// One dbench client: replays the load file line by line (<c>child_run</c>): the per-line user work and
/// liveness probe, <c>resolve_name</c>'s stat (and, when it fails, the readdir of the parent), then the
/// operation's system call as the 3.10 tmpfs paths take their locks. Files and pages are kept as counts:
/// a create adds a file, a write adds its pages, an unlink removes a file with its share of the pages,
/// Deltree removes them all.
/// </summary>
public sealed class DbenchClient : ScriptedProgram<DbenchStep>, IActionSink
{
    private readonly Dbench _b;
    private readonly DbenchLoadCursor _load = new();
    private readonly GuestAction[] _buf = new GuestAction[12];
    private readonly int _pagesPerIo;
    private int _deltreeLeft;

    internal DbenchClient(Dbench b, int index)
    {
        _b = b;
        Index = index;
        _pagesPerIo = (int)Math.Max(1, (b.Settings.IoSize + 4095L) / 4096);
    }

    public int Index { get; }

    /// <summary>Files this client's tree holds, and their pages.</summary>
    public long Files { get; private set; }
    public long Pages { get; private set; }

    /// <summary>The client's position in the load file (lines handed out).</summary>
    public long Line => _load.Position;

    RwSemWaiter? IActionSink.RwSemWaiter => null;

    void IActionSink.EmitNow(params ReadOnlySpan<GuestAction> actions) => EmitNow(actions);

    protected override void Plan(GuestThread thread)
    {
        if (_deltreeLeft > 0)
        {
            // fio_deltree: readdir, then stat + unlink of every entry (in the client, no per-line work).
            _deltreeLeft--;
            Emit(GuestAction.Compute(_b.Settings.PathLookup.Ns));
            EmitUnlink();
            if (_deltreeLeft == 0)
                Emit(DbenchStep.OpDone, (int)DbenchOp.Deltree);
            return;
        }
        PlanOp(_load.Next());
    }

    /// <summary>Plans one load-file line: the per-line work, then the operation's kernel path, then its completion.</summary>
    internal void PlanOp(DbenchOp op)
    {
        var s = _b.Settings;
        Emit(GuestAction.Compute(s.UserPerLine.Ns, userMode: true));
        Emit(GuestAction.Compute(s.KillProbe.Ns));
        switch (op)
        {
            case DbenchOp.NTCreateX:
                Emit(GuestAction.Compute(s.PathLookup.Ns + s.Open.Ns));
                break;
            case DbenchOp.NTCreateXCreate:
            case DbenchOp.Mkdir:
                // resolve_name: the stat fails, so the parent is read; then open(O_CREAT) / mkdir:
                // shmem_get_inode → shmem_reserve_inode (stat_lock), new_inode → inode_sb_list_add.
                Emit(GuestAction.Compute(s.PathLookup.Ns + s.Readdir.Ns + s.Create.Ns));
                Locked(_b.StatLock, s.StatLockHold.Ns);
                Locked(_b.InodeSbListLock, s.InodeSbListHold.Ns);
                Emit(DbenchStep.InodeCreated);
                break;
            case DbenchOp.NTCreateXMiss:
                Emit(GuestAction.Compute(s.PathLookup.Ns + s.Readdir.Ns + s.OpenMiss.Ns));
                break;
            case DbenchOp.Close:
                Emit(GuestAction.Compute(s.Close.Ns));
                break;
            case DbenchOp.Rename:
                // resolve_name of both names (the new one is missing: readdir), then rename: d_move
                // under rename_lock's write side.
                Emit(GuestAction.Compute((2 * s.PathLookup.Ns) + s.Readdir.Ns + s.Rename.Ns));
                Locked(_b.RenameLock, s.RenameLockHold.Ns);
                break;
            case DbenchOp.Unlink:
                Emit(GuestAction.Compute(s.PathLookup.Ns));
                EmitUnlink();
                break;
            case DbenchOp.Deltree:
                Emit(GuestAction.Compute(s.Readdir.Ns));
                if (Files > 0)
                {
                    _deltreeLeft = (int)Math.Min(Files, int.MaxValue);
                    return; // counted when the last entry is gone
                }
                break;
            case DbenchOp.Qpathinfo:
                Emit(GuestAction.Compute(s.PathLookup.Ns));
                break;
            case DbenchOp.Qfileinfo:
                Emit(GuestAction.Compute(s.Fstat.Ns));
                break;
            case DbenchOp.Qfsinfo:
                // statvfs → shmem_statfs → percpu_counter_sum(&used_blocks): every online CPU under the lock.
                Emit(GuestAction.Compute(s.PathLookup.Ns + s.Statfs.Ns));
                Locked(_b.UsedBlocks.Lock, s.PercpuSumPerCpu.Ns * _b.Kernel.Cpus.Length);
                break;
            case DbenchOp.Sfileinfo:
                Emit(GuestAction.Compute(s.Setattr.Ns));
                break;
            case DbenchOp.Find:
                // resolve_name of a wildcard fails (readdir), then fio_findfirst's own readdir.
                Emit(GuestAction.Compute(s.PathLookup.Ns + (2 * s.Readdir.Ns)));
                break;
            case DbenchOp.WriteX:
                Emit(GuestAction.Compute(s.WriteFixed.Ns));
                Emit(DbenchStep.WritePage, _pagesPerIo);
                Pages += _pagesPerIo;
                break;
            case DbenchOp.ReadX:
                Emit(GuestAction.Compute(s.ReadFixed.Ns + (long)(s.CopyNsPerByte * s.IoSize)));
                break;
            case DbenchOp.LockX:
            case DbenchOp.UnlockX:
                Emit(GuestAction.Compute(s.Fcntl.Ns));
                Locked(_b.FileLockLock, s.FileLockHold.Ns);
                break;
            case DbenchOp.Flush:
                Emit(GuestAction.Compute(s.Fsync.Ns));
                break;
        }
        Emit(DbenchStep.OpDone, (int)op);
    }

    /// <summary>
    /// unlink of one file on tmpfs: <c>shmem_unlink</c>, then the last <c>iput</c> → <c>evict</c>:
    /// <c>inode_sb_list_del</c> (inode_sb_list_lock), <c>shmem_evict_inode</c> truncating the pages
    /// (LRU removal under lru_lock, the per-CPU lists, <c>used_blocks</c>) and <c>shmem_free_inode</c>
    /// (stat_lock).
    /// </summary>
    private void EmitUnlink()
    {
        var s = _b.Settings;
        int pages = 0;
        if (Files > 0)
        {
            pages = (int)Math.Min(Pages / Files, MaxArg);
            Pages -= pages;
            Files--;
        }
        Emit(GuestAction.Compute(s.Unlink.Ns));
        Locked(_b.InodeSbListLock, s.InodeSbListHold.Ns);
        if (pages > 0)
            Emit(DbenchStep.Truncate, pages);
        Locked(_b.StatLock, s.StatLockHold.Ns);
    }

    private void Locked(GuestSpinLock l, long holdNs)
    {
        Emit(GuestAction.Acquire(l));
        Emit(GuestAction.Compute(holdNs));
        Emit(GuestAction.Release(l));
    }

    protected override void Run(GuestThread thread, DbenchStep step) => Run(thread, step, 0);

    protected override void Run(GuestThread thread, DbenchStep step, int arg)
    {
        var s = _b.Settings;
        int cpu = thread.Cpu;
        int n = 0;
        switch (step)
        {
            case DbenchStep.OpDone:
                _b.OpDone(DbenchLoadCursor.Reported((DbenchOp)arg));
                return;
            case DbenchStep.InodeCreated:
                Files++;
                return;
            case DbenchStep.WritePage:
            {
                // shmem_write_begin → shmem_getpage_gfp: a page from the allocator, used_blocks + 1
                // (percpu_counter_inc), the page cache insert, lru_cache_add into this CPU's pagevec;
                // then copy_from_user of this page's share of the write.
                _buf[n++] = _b.Zone.AllocPage;
                if (_b.UsedBlocks.Add(cpu, 1))
                    n = Put(n, _b.UsedBlocks.Lock, s.PercpuFold.Ns);
                _buf[n++] = GuestAction.Compute(s.PageCacheAdd.Ns + (long)(s.CopyNsPerByte * s.IoSize / _pagesPerIo));
                if (_b.PagevecAdd(cpu))
                    n = Put(n, _b.LruLock, s.LruPerPage.Ns * s.PagevecSize);
                if (arg > 1)
                    _buf[n++] = Call(DbenchStep.WritePage, arg - 1);
                break;
            }
            case DbenchStep.Truncate:
            {
                // shmem_truncate_range → release_pages: up to SWAP_CLUSTER_MAX pages off the LRU under
                // lru_lock, then back to the per-CPU lists; used_blocks − pages (one add).
                int k = Math.Min(arg, Math.Max(1, s.SwapClusterMax));
                _buf[n++] = GuestAction.Compute(s.TruncatePerPage.Ns * k);
                n = Put(n, _b.LruLock, s.LruPerPage.Ns * k);
                _b.LruRelease();
                _buf[n++] = _b.Zone.FreePages(k);
                if (_b.UsedBlocks.Add(cpu, -k))
                    n = Put(n, _b.UsedBlocks.Lock, s.PercpuFold.Ns);
                if (arg > k)
                    _buf[n++] = Call(DbenchStep.Truncate, arg - k);
                break;
            }
        }
        EmitNow(_buf.AsSpan(0, n));
    }

    private int Put(int n, GuestSpinLock l, long holdNs)
    {
        _buf[n++] = GuestAction.Acquire(l);
        _buf[n++] = GuestAction.Compute(holdNs);
        _buf[n++] = GuestAction.Release(l);
        return n;
    }
}

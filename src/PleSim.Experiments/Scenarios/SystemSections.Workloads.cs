using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Experiments.Scenarios;

/// <summary>The <c>vms[].workload</c> section: the workload kind and each benchmark's options and costs.</summary>
internal static partial class SystemSections
{
    private static WorkloadSettings ReadWorkload(MapReader w, int vcpus, int hostCpus)
    {
        var kind = w.Get("kind", Kinds.Choice(WorkloadSettings.Kinds), "idle");
        var d = new WorkloadSettings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(100));
        var settings = new WorkloadSettings { Kind = kind };
        switch (kind)
        {
            case "hog":
                settings = settings with { Loops = w.Get("loops", Kinds.Int(0, vcpus), 0) };
                break;
            case "lock-bench":
            case "boot-storm":
                settings = settings with
                {
                    Threads = kind == "lock-bench" ? w.Get("threads", Kinds.Int(1, 4096), d.Threads) : vcpus,
                    Locks = w.Get("locks", Kinds.Int(1, 1024), d.Locks),
                    Hold = w.Get("hold", small, d.Hold),
                    Think = w.Get("think", small, d.Think),
                    Iterations = w.Get("iterations", Kinds.Integer(1, long.MaxValue), kind == "lock-bench" ? long.MaxValue : d.Iterations),
                };
                if (kind == "lock-bench")
                    settings = settings with { LockType = w.Get("lock_type", Kinds.Choice("spinlock", "mutex"), d.LockType) };
                break;
            case "amqp-perftest":
                settings = settings with { Amqp = ReadAmqp(w) };
                break;
            case "ebizzy":
                settings = settings with { Ebizzy = ReadEbizzy(w) };
                break;
            case "kernbench":
                settings = settings with { Kernbench = ReadKernbench(w) };
                break;
            case "hackbench":
                settings = settings with { Hackbench = ReadHackbench(w) };
                break;
            case "sysbench":
                settings = settings with { Sysbench = ReadSysbench(w) };
                break;
            case "pingpong":
                settings = settings with { PingPong = ReadPingPong(w, vcpus) };
                break;
            case "tcp-rr":
                settings = settings with { TcpRr = ReadTcpRr(w, hostCpus) };
                break;
            case "dbench":
                settings = settings with { Dbench = ReadDbench(w) };
                break;
            case "dedup":
                settings = settings with { Dedup = ReadDedup(w) };
                break;
            case "pbzip2":
                settings = settings with { Pbzip2 = ReadPbzip2(w) };
                break;
        }
        w.Done();
        return settings;
    }

    /// <summary>ebizzy 0.3's options (-t -n -s -S -m -M -R -T -l -z) and the model's costs.</summary>
    private static EbizzySettings ReadEbizzy(MapReader w)
    {
        var d = new EbizzySettings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(100));
        var s = new EbizzySettings
        {
            Threads = w.Get("threads", Kinds.Int(0, 4096), d.Threads),
            Chunks = w.Get("chunks", Kinds.Int(1, 1 << 20), d.Chunks),
            ChunkSize = w.Get("chunk_size", Kinds.Int(8, 16 << 20), d.ChunkSize),
            Seconds = w.Get("seconds", Kinds.Int(1, 1 << 20), d.Seconds),
            AlwaysMmap = w.Get("always_mmap", Kinds.Bool, d.AlwaysMmap),
            NeverMmap = w.Get("never_mmap", Kinds.Bool, d.NeverMmap),
            RandomSize = w.Get("random_size", Kinds.Bool, d.RandomSize),
            TouchPages = w.Get("touch_pages", Kinds.Bool, d.TouchPages),
            NoLibMemcpy = w.Get("no_lib_memcpy", Kinds.Bool, d.NoLibMemcpy),
            Linear = w.Get("linear", Kinds.Bool, d.Linear),
            MemcpyNsPerByte = w.Get("memcpy_ns_per_byte", Kinds.Number(0, 100), d.MemcpyNsPerByte),
            ByteCopyNsPerByte = w.Get("byte_copy_ns_per_byte", Kinds.Number(0, 100), d.ByteCopyNsPerByte),
            Compare = w.Get("compare", small, d.Compare),
            LinearNsPerRecord = w.Get("linear_ns_per_record", Kinds.Number(0, 1000), d.LinearNsPerRecord),
            Touch = w.Get("touch", small, d.Touch),
            Syscall = w.Get("syscall", small, d.Syscall),
            Arena = d.Arena with
            {
                TopPad = w.Get("glibc_top_pad", Kinds.Int(0, 1 << 26), d.Arena.TopPad),
                HeapMaxSize = w.Get("glibc_heap_max_size", Kinds.Int(1 << 20, 1 << 30), d.Arena.HeapMaxSize),
            },
            Mm = ReadMmCosts(w),
        };
        if (s.AlwaysMmap && s.NeverMmap)
            w.Error("always_mmap", "always_mmap (-m) and never_mmap (-M) exclude each other, as in ebizzy");
        if (!s.AlwaysMmap && s.ChunkSize + (1 << 16) > s.Arena.HeapMaxSize)
            w.Error("chunk_size", $"a chunk of {s.ChunkSize} bytes does not fit one arena heap (glibc_heap_max_size {s.Arena.HeapMaxSize}); the model has one heap per arena");
        return s;
    }

    /// <summary>kernbench (make -j) and the per-unit costs.</summary>
    private static KernbenchSettings ReadKernbench(MapReader w)
    {
        var d = new KernbenchSettings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(100));
        return new KernbenchSettings
        {
            Jobs = w.Get("jobs", Kinds.Int(0, 4096), d.Jobs),
            CompileUnits = w.Get("compile_units", Kinds.Int(1, 1 << 24), d.CompileUnits),
            CompileTime = w.Get("compile_time", Kinds.Duration(SimDuration.FromMicroseconds(1), SimDuration.FromSeconds(100)), d.CompileTime),
            CompileTimeCv = w.Get("compile_time_cv", Kinds.Number(0, 10), d.CompileTimeCv),
            PagesPerUnit = w.Get("pages_per_unit", Kinds.Int(0, 1 << 22), d.PagesPerUnit),
            Fork = w.Get("fork", small, d.Fork),
            Exec = w.Get("exec", small, d.Exec),
            Exit = w.Get("exit", small, d.Exit),
            FsLockAcquisitions = w.Get("fs_lock_acquisitions", Kinds.Int(0, 1 << 20), d.FsLockAcquisitions),
            FsLockHold = w.Get("fs_lock_hold", small, d.FsLockHold),
            WriteOutput = w.Get("write_output", small, d.WriteOutput),
            Mm = ReadMmCosts(w),
        };
    }

    /// <summary>dbench 4's client count and the tmpfs paths' costs (decision 0048, docs/dbench.md).</summary>
    private static DbenchSettings ReadDbench(MapReader w)
    {
        var d = new DbenchSettings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1));
        var dm = d.Mm;
        var mm = new MmCosts
        {
            BuddyPerPage = w.Get("buddy_per_page", small, dm.BuddyPerPage),
            PcpBatch = w.Get("pcp_batch", Kinds.Int(1, 4096), dm.PcpBatch),
            PcpHigh = w.Get("pcp_high", Kinds.Int(2, 1 << 16), dm.PcpHigh),
        };
        if (mm.PcpHigh <= mm.PcpBatch)
            w.Error("pcp_high", $"pcp_high ({mm.PcpHigh}) must exceed pcp_batch ({mm.PcpBatch})");
        return new DbenchSettings
        {
            Clients = w.Get("clients", Kinds.Int(0, 4096), d.Clients),
            IoSize = w.Get("io_size", Kinds.Int(1, 1 << 24), d.IoSize),
            UserPerLine = w.Get("user_per_line", small, d.UserPerLine),
            KillProbe = w.Get("kill_probe", small, d.KillProbe),
            PathLookup = w.Get("path_lookup", small, d.PathLookup),
            Readdir = w.Get("readdir", small, d.Readdir),
            Open = w.Get("open", small, d.Open),
            Create = w.Get("create", small, d.Create),
            OpenMiss = w.Get("open_miss", small, d.OpenMiss),
            Close = w.Get("close", small, d.Close),
            Unlink = w.Get("unlink", small, d.Unlink),
            Rename = w.Get("rename", small, d.Rename),
            Fstat = w.Get("fstat", small, d.Fstat),
            Setattr = w.Get("setattr", small, d.Setattr),
            Statfs = w.Get("statfs", small, d.Statfs),
            Fcntl = w.Get("fcntl", small, d.Fcntl),
            Fsync = w.Get("fsync", small, d.Fsync),
            ReadFixed = w.Get("read_fixed", small, d.ReadFixed),
            WriteFixed = w.Get("write_fixed", small, d.WriteFixed),
            CopyNsPerByte = w.Get("copy_ns_per_byte", Kinds.Number(0, 100), d.CopyNsPerByte),
            PageCacheAdd = w.Get("page_cache_add", small, d.PageCacheAdd),
            TruncatePerPage = w.Get("truncate_per_page", small, d.TruncatePerPage),
            StatLockHold = w.Get("stat_lock_hold", small, d.StatLockHold),
            InodeSbListHold = w.Get("inode_sb_list_hold", small, d.InodeSbListHold),
            RenameLockHold = w.Get("rename_lock_hold", small, d.RenameLockHold),
            FileLockHold = w.Get("file_lock_hold", small, d.FileLockHold),
            LruPerPage = w.Get("lru_per_page", small, d.LruPerPage),
            PercpuFold = w.Get("percpu_fold", small, d.PercpuFold),
            PercpuSumPerCpu = w.Get("percpu_sum_per_cpu", small, d.PercpuSumPerCpu),
            PagevecSize = w.Get("pagevec_size", Kinds.Int(1, 1024), d.PagevecSize),
            SwapClusterMax = w.Get("swap_cluster_max", Kinds.Int(1, 1024), d.SwapClusterMax),
            PercpuBatch = w.Get("percpu_batch", Kinds.Int(0, 1 << 20), d.PercpuBatch),
            Mm = mm,
        };
    }

    /// <summary>PARSEC 3.0 dedup: <c>-t</c>, the input's shape, encoder.c / dedupdef.h constants and the costs (decision 0054, docs/dedup.md).</summary>
    private static DedupSettings ReadDedup(MapReader w)
    {
        var d = new DedupSettings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(10));
        var perByte = Kinds.Number(0, 10_000);
        var s = new DedupSettings
        {
            Threads = w.Get("threads", Kinds.Int(0, 4096), d.Threads),
            InputBytes = w.Get("input_bytes", Kinds.Integer(1, 16L << 30), d.InputBytes),
            DuplicateFraction = w.Get("duplicate_fraction", Kinds.Number(0, 1), d.DuplicateFraction),
            CompressedFraction = w.Get("compressed_fraction", Kinds.Number(0, 2), d.CompressedFraction),
            MaxBuf = w.Get("maxbuf", Kinds.Int(4096, 1 << 30), d.MaxBuf),
            AnchorJump = w.Get("anchor_jump", Kinds.Int(1, 1 << 30), d.AnchorJump),
            RabinMaskBits = w.Get("rabin_mask_bits", Kinds.Int(0, 30), d.RabinMaskBits),
            NWindow = w.Get("nwindow", Kinds.Int(1, 4096), d.NWindow),
            QueueSize = w.Get("queue_size", Kinds.Int(1, 1 << 26), d.QueueSize),
            MaxThreadsPerQueue = w.Get("max_threads_per_queue", Kinds.Int(1, 4096), d.MaxThreadsPerQueue),
            MaxPerFetch = w.Get("max_per_fetch", Kinds.Int(1, 1 << 20), d.MaxPerFetch),
            ChunkAnchorPerFetch = w.Get("chunk_anchor_per_fetch", Kinds.Int(1, 1 << 16), d.ChunkAnchorPerFetch),
            ChunkAnchorPerInsert = w.Get("chunk_anchor_per_insert", Kinds.Int(1, 1 << 16), d.ChunkAnchorPerInsert),
            ItemPerFetch = w.Get("item_per_fetch", Kinds.Int(1, 1 << 16), d.ItemPerFetch),
            ItemPerInsert = w.Get("item_per_insert", Kinds.Int(1, 1 << 16), d.ItemPerInsert),
            AnchorDataPerInsert = w.Get("anchor_data_per_insert", Kinds.Int(1, 1 << 16), d.AnchorDataPerInsert),
            HashTableMinSize = w.Get("hashtable_min_size", Kinds.Int(1, 25_000_000), d.HashTableMinSize),
            RabinNsPerByte = w.Get("rabin_ns_per_byte", perByte, d.RabinNsPerByte),
            RabinInit = w.Get("rabin_init", small, d.RabinInit),
            Sha1NsPerByte = w.Get("sha1_ns_per_byte", perByte, d.Sha1NsPerByte),
            DeflateNsPerByte = w.Get("deflate_ns_per_byte", perByte, d.DeflateNsPerByte),
            DeflateCall = w.Get("deflate_call", small, d.DeflateCall),
            CopyNsPerByte = w.Get("copy_ns_per_byte", perByte, d.CopyNsPerByte),
            PageFirstTouch = w.Get("page_first_touch", small, d.PageFirstTouch),
            MunmapPerPage = w.Get("munmap_per_page", small, d.MunmapPerPage),
            ChunkAlloc = w.Get("chunk_alloc", small, d.ChunkAlloc),
            HashLookup = w.Get("hash_lookup", small, d.HashLookup),
            HashInsert = w.Get("hash_insert", small, d.HashInsert),
            QueueItem = w.Get("queue_item", small, d.QueueItem),
            ReorderPerChunk = w.Get("reorder_per_chunk", small, d.ReorderPerChunk),
            ReorderCacheInsert = w.Get("reorder_cache_insert", small, d.ReorderCacheInsert),
            ReorderCacheRemove = w.Get("reorder_cache_remove", small, d.ReorderCacheRemove),
            WriteCall = w.Get("write_call", small, d.WriteCall),
            MbufferLockHold = w.Get("mbuffer_lock_hold", small, d.MbufferLockHold),
            ModelMalloc = w.Get("model_malloc", Kinds.Bool, d.ModelMalloc),
            MallocFast = w.Get("malloc_fast", small, d.MallocFast),
            MallocArena = w.Get("malloc_arena", small, d.MallocArena),
            Syscall = w.Get("syscall", small, d.Syscall),
            Malloc = ReadGlibcMalloc(w, d.Malloc),
        };
        if (s.AnchorJump >= s.MaxBuf)
            w.Error("anchor_jump", $"anchor_jump ({s.AnchorJump}) must be below maxbuf ({s.MaxBuf}): Fragment could never cut a coarse chunk");
        return s;
    }

    /// <summary>The <c>glibc_*</c> tunables of a workload that runs glibc 2.35's malloc (dedup, pbzip2): tcache count, mmap and trim thresholds, the dynamic threshold, arena_max, top_pad.</summary>
    private static GlibcMallocSettings ReadGlibcMalloc(MapReader w, GlibcMallocSettings d) => d with
    {
        TcacheCount = w.Get("glibc_tcache_count", Kinds.Int(0, 65535), d.TcacheCount),
        MmapThreshold = w.Get("glibc_mmap_threshold", Kinds.Int(4096, 32 << 20), d.MmapThreshold),
        TrimThreshold = w.Get("glibc_trim_threshold", Kinds.Int(0, 1 << 30), d.TrimThreshold),
        DynamicThreshold = w.Get("glibc_dynamic_threshold", Kinds.Bool, d.DynamicThreshold),
        ArenaMax = w.Get("glibc_arena_max", Kinds.Int(0, 4096), d.ArenaMax),
        Arena = d.Arena with { TopPad = w.Get("glibc_top_pad", Kinds.Int(0, 1 << 26), d.Arena.TopPad) },
    };

    /// <summary>pbzip2 1.1.x: <c>-p</c>, <c>-b</c>, <c>-m</c>, the BWT block size, the input's size and the costs (decision 0061).</summary>
    private static Pbzip2Settings ReadPbzip2(MapReader w)
    {
        var d = new Pbzip2Settings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(10));
        var s = new Pbzip2Settings
        {
            Threads = w.Get("threads", Kinds.Int(0, 4096), d.Threads),
            InputBytes = w.Get("input_bytes", Kinds.Integer(1, 64L << 30), d.InputBytes),
            BlockSize = w.Get("block_size", Kinds.Int(100_000, 1_000_000_000), d.BlockSize),
            Bwt100k = w.Get("bwt_block_size", Kinds.Int(1, 9), d.Bwt100k),
            MaxMemory = w.Get("max_memory", Kinds.Integer(1_000_000, 16_000_000_000), d.MaxMemory),
            CompressMBPerS = w.Get("compress_mb_per_s", Kinds.Number(0.001, 1e6), d.CompressMBPerS),
            CompressedFraction = w.Get("compressed_fraction", Kinds.Number(0, 2), d.CompressedFraction),
            CopyNsPerByte = w.Get("copy_ns_per_byte", Kinds.Number(0, 10_000), d.CopyNsPerByte),
            Syscall = w.Get("syscall", small, d.Syscall),
            MallocFast = w.Get("malloc_fast", small, d.MallocFast),
            MallocArena = w.Get("malloc_arena", small, d.MallocArena),
            QueueItem = w.Get("queue_item", small, d.QueueItem),
            Malloc = ReadGlibcMalloc(w, d.Malloc),
        };
        // A refused block_size or input_bytes reads as 0 (its error is already recorded): no block count then.
        if (s.BlockSize <= 0 || s.InputBytes <= 0)
            return s;
        long blocks = (s.InputBytes + s.BlockSize - 1) / s.BlockSize;
        if (blocks > 10_000_000)
            w.Error("input_bytes", $"input_bytes ({s.InputBytes}) makes {blocks} blocks of block_size ({s.BlockSize}); at most 10,000,000 are modelled");
        return s;
    }

    /// <summary>The guest mm paths' costs and per-CPU page-list sizes, shared by the mm workloads.</summary>
    private static MmCosts ReadMmCosts(MapReader w)
    {
        var d = new MmCosts();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(100));
        var c = new MmCosts
        {
            PageFault = w.Get("page_fault", small, d.PageFault),
            ClearPage = w.Get("clear_page", small, d.ClearPage),
            SetPte = w.Get("set_pte", small, d.SetPte),
            BuddyPerPage = w.Get("buddy_per_page", small, d.BuddyPerPage),
            ZapPerPage = w.Get("zap_per_page", small, d.ZapPerPage),
            Mmap = w.Get("mmap", small, d.Mmap),
            Munmap = w.Get("munmap", small, d.Munmap),
            Madvise = w.Get("madvise", small, d.Madvise),
            PcpBatch = w.Get("pcp_batch", Kinds.Int(1, 4096), d.PcpBatch),
            PcpHigh = w.Get("pcp_high", Kinds.Int(2, 1 << 16), d.PcpHigh),
        };
        if (c.PcpHigh <= c.PcpBatch)
            w.Error("pcp_high", $"pcp_high ({c.PcpHigh}) must exceed pcp_batch ({c.PcpBatch})");
        return c;
    }

    /// <summary>hackbench's options by their own names (-g groups, -f fds, -l loops, -s datasize, -T/-P mode, -p ipc) and the kernel constants.</summary>
    private static HackbenchSettings ReadHackbench(MapReader w)
    {
        var d = new HackbenchSettings();
        var cost = Kinds.Integer(0, 100_000_000);
        return new HackbenchSettings
        {
            Groups = w.Get("groups", Kinds.Int(1, 1000), d.Groups),
            Fds = w.Get("fds", Kinds.Int(1, 1000), d.Fds),
            Loops = w.Get("loops", Kinds.Integer(1, 1_000_000_000), d.Loops),
            DataSize = w.Get("datasize", Kinds.Int(1, 4096), d.DataSize),
            Threads = w.Get("mode", Kinds.Choice("process", "thread"), "process") == "thread",
            Ipc = w.Get("ipc", Kinds.Choice("socket", "pipe"), "socket") == "pipe" ? HackbenchIpc.Pipe : HackbenchIpc.Socket,
            SndBuf = w.Get("sk_sndbuf", Kinds.Int(1, 1 << 30), d.SndBuf),
            SkbOverhead = w.Get("skb_overhead", Kinds.Int(0, 4096), d.SkbOverhead),
            PipeBuffers = w.Get("pipe_buffers", Kinds.Int(1, 1024), d.PipeBuffers),
            WriteFixedNs = w.Get("write_fixed_ns", cost, d.WriteFixedNs),
            ReadFixedNs = w.Get("read_fixed_ns", cost, d.ReadFixedNs),
            CopyNsPerByte = w.Get("copy_ns_per_byte", Kinds.Number(0, 100), d.CopyNsPerByte),
            QueueOpNs = w.Get("queue_op_ns", cost, d.QueueOpNs),
            MutexFastNs = w.Get("mutex_fast_ns", cost, d.MutexFastNs),
            UserPerMessageNs = w.Get("user_per_message_ns", cost, d.UserPerMessageNs),
        };
    }

    /// <summary>pingpong (perf bench sched pipe and its futex variant; decision 0036).</summary>
    private static PingPongSettings ReadPingPong(MapReader w, int vcpus)
    {
        var d = new PingPongSettings();
        var cost = Kinds.Integer(0, 100_000_000);
        var s = new PingPongSettings
        {
            Transport = w.Get("transport", Kinds.Choice("pipe", "futex"), "pipe") == "futex" ? PingPongTransport.Futex : PingPongTransport.Pipe,
            Pairs = w.Get("pairs", Kinds.Int(1, 1024), d.Pairs),
            Loops = w.Get("loops", Kinds.Integer(0, 1_000_000_000_000), d.Loops),
            SameCpu = w.Get("same_cpu", Kinds.Bool, d.SameCpu),
            UserWorkNs = w.Get("user_work_ns", cost, d.UserWorkNs),
            UserLoopNs = w.Get("user_loop_ns", cost, d.UserLoopNs),
            PipeWriteNs = w.Get("pipe_write_ns", cost, d.PipeWriteNs),
            PipeReadNs = w.Get("pipe_read_ns", cost, d.PipeReadNs),
        };
        if (!s.SameCpu && vcpus < 2)
            w.Error("same_cpu", "same_cpu: false puts a pair's threads on VCPUs 0 and 1; this VM has one VCPU");
        return s;
    }

    /// <summary>tcp-rr (netperf TCP_RR over virtio-net with vhost-net; decision 0045).</summary>
    private static TcpRrSettings ReadTcpRr(MapReader w, int hostCpus)
    {
        var d = new TcpRrSettings();
        var dv = d.Vhost;
        var cost = Kinds.Integer(0, 100_000_000);
        var delay = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(100));
        var v = w.Section("vhost");
        var vhost = new VhostNetSettings
        {
            HandleTx = v.Get("handle_tx", delay, dv.HandleTx),
            HandleRx = v.Get("handle_rx", delay, dv.HandleRx),
            Peer = v.Get("peer", delay, dv.Peer),
            HostRx = v.Get("host_rx", delay, dv.HostRx),
            WorkerCpu = v.Get("worker_cpu", Kinds.Int(-1, hostCpus - 1), dv.WorkerCpu),
            NicIrqCpu = v.Get("nic_irq_cpu", Kinds.Int(-1, hostCpus - 1), dv.NicIrqCpu),
        };
        v.Done();
        return new TcpRrSettings
        {
            Streams = w.Get("streams", Kinds.Int(1, 1024), d.Streams),
            Transactions = w.Get("transactions", Kinds.Integer(0, 1_000_000_000_000), d.Transactions),
            UserLoopNs = w.Get("user_loop_ns", cost, d.UserLoopNs),
            SendPathNs = w.Get("send_path_ns", cost, d.SendPathNs),
            RecvPathNs = w.Get("recv_path_ns", cost, d.RecvPathNs),
            HardIrqNs = w.Get("hardirq_ns", cost, d.HardIrqNs),
            RxPacketNs = w.Get("rx_packet_ns", cost, d.RxPacketNs),
            NapiCompleteNs = w.Get("napi_complete_ns", cost, d.NapiCompleteNs),
            Vhost = vhost,
        };
    }

    /// <summary>sysbench 0.4 options, spelled as on its command line (tests/threads/sb_threads.c, tests/mutex/sb_mutex.c, sysbench.c).</summary>
    private static SysbenchSettings ReadSysbench(MapReader w)
    {
        var d = new SysbenchSettings();
        return new SysbenchSettings
        {
            Test = w.Get("test", Kinds.Choice("threads", "mutex"), "threads") == "mutex" ? SysbenchTest.Mutex : SysbenchTest.Threads,
            NumThreads = w.Get("num-threads", Kinds.Int(1, 4096), d.NumThreads),
            MaxRequests = w.Get("max-requests", Kinds.Integer(0, long.MaxValue), d.MaxRequests),
            ThreadYields = w.Get("thread-yields", Kinds.Int(0, 1 << 30), d.ThreadYields),
            ThreadLocks = w.Get("thread-locks", Kinds.Int(1, 65000), d.ThreadLocks),
            MutexNum = w.Get("mutex-num", Kinds.Int(1, 65000), d.MutexNum),
            MutexLocks = w.Get("mutex-locks", Kinds.Integer(1, long.MaxValue), d.MutexLocks),
            MutexLoops = w.Get("mutex-loops", Kinds.Int(0, 1 << 30), d.MutexLoops),
            LoopIterationNs = w.Get("loop_iteration_ns", Kinds.Number(0, 1000), d.LoopIterationNs),
            RandomR = w.Get("random_r", Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1)), d.RandomR),
        };
    }

    private static AmqpSettings ReadAmqp(MapReader w)
    {
        var d = new AmqpSettings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(100));
        var perByte = Kinds.Number(0, 100);
        var amqp = new AmqpSettings
        {
            PayloadBytes = w.Get("payload", Kinds.Int(0, 1 << 20), d.PayloadBytes),
            FrameOverheadBytes = w.Get("frame_overhead_bytes", Kinds.Int(0, 4096), d.FrameOverheadBytes),
            BufferBytes = w.Get("buffer_bytes", Kinds.Int(512, 1 << 24), d.BufferBytes),
            ClientIoThreads = w.Get("client_io_threads", Kinds.Int(1, 64), d.ClientIoThreads),
            BrokerWorkers = w.Get("broker_workers", Kinds.Int(1, 64), d.BrokerWorkers),
            PublisherLimitBytes = w.Get("publisher_limit_bytes", Kinds.Int(1024, 1 << 30), d.PublisherLimitBytes),
            PublishPerMessage = w.Get("publish_per_message", small, d.PublishPerMessage),
            ClientEncodePerMessage = w.Get("client_encode_per_message", small, d.ClientEncodePerMessage),
            BrokerInPerMessage = w.Get("broker_in_per_message", small, d.BrokerInPerMessage),
            BrokerOutPerMessage = w.Get("broker_out_per_message", small, d.BrokerOutPerMessage),
            ClientDecodePerMessage = w.Get("client_decode_per_message", small, d.ClientDecodePerMessage),
            SubscribePerMessage = w.Get("subscribe_per_message", small, d.SubscribePerMessage),
            WriteFixed = w.Get("write_fixed", small, d.WriteFixed),
            WriteNsPerByte = w.Get("write_ns_per_byte", perByte, d.WriteNsPerByte),
            ReadFixed = w.Get("read_fixed", small, d.ReadFixed),
            ReadNsPerByte = w.Get("read_ns_per_byte", perByte, d.ReadNsPerByte),
            TcpReceive = w.Get("tcp_receive", small, d.TcpReceive),
            EpollCtl = w.Get("epoll_ctl", small, d.EpollCtl),
            SocketLockHold = w.Get("socket_lock_hold", small, d.SocketLockHold),
            BrokerReadBudget = w.Get("broker_read_budget", small, d.BrokerReadBudget),
            Allocator = w.Get("allocator", Kinds.Choice("none", "glibc-2.12", "summing-what-if"), "none") switch
            {
                "glibc-2.12" => BrokerAllocator.Glibc212,
                "summing-what-if" => BrokerAllocator.SummingWhatIf,
                _ => BrokerAllocator.None,
            },
            HeapBytesPerMessage = w.Get("heap_bytes_per_message", Kinds.Int(0, 1 << 20), d.HeapBytesPerMessage),
            TrimFreeBytes = w.Get("trim_free_bytes", Kinds.Int(4096, 1 << 30), d.TrimFreeBytes),
            MessageAllocations = w.Get("message_allocations", AllocationList, d.MessageAllocations),
            QueueNodeBytes = w.Get("queue_node_bytes", Kinds.Int(0, 1 << 20), d.QueueNodeBytes),
            QueuedMessageBytes = w.Get("queued_message_bytes", Kinds.Int(1, 4096), d.QueuedMessageBytes),
            BatchScratchBytes = w.Get("batch_scratch_bytes", Kinds.Int(0, 1 << 20), d.BatchScratchBytes),
            Arena = new GlibcArenaSettings
            {
                TopPad = w.Get("glibc_top_pad", Kinds.Int(0, 1 << 26), d.Arena.TopPad),
                MaxFast = w.Get("glibc_max_fast", MaxFastKind, d.Arena.MaxFast),
                ConsolidationThreshold = w.Get("glibc_consolidation_threshold", Kinds.Int(1024, 1 << 26), d.Arena.ConsolidationThreshold),
                HeapMaxSize = w.Get("glibc_heap_max_size", Kinds.Int(1 << 20, 1 << 30), d.Arena.HeapMaxSize),
                PageSize = w.Get("page_size", PageSizeKind, d.Arena.PageSize),
            },
            Madvise = w.Get("madvise", small, d.Madvise),
        };
        // Buffers, publisher limits and rates are counted in messages of payload + frame overhead bytes.
        if (amqp.WireBytes < 1 && !w.Failed("payload") && !w.Failed("frame_overhead_bytes"))
            w.Error("payload", "payload and frame_overhead_bytes are both 0: a message must take at least one byte on the wire");
        return amqp;
    }
}

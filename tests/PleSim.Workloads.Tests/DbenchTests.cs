using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Workloads.Tests;

/// <summary>dbench: the load-file pass, which shared locks each operation takes, pages and per-CPU state, and the throughput accounting.</summary>
public class DbenchTests
{
    private sealed class Kit
    {
        public Kit(int cpus, int vcpus, DbenchSettings settings)
        {
            Sim = new Simulator();
            var host = new HostScheduler(Sim, HostTopology.Cpus(cpus), new SchedTunables { TickJitter = SimDuration.Zero }, null, new RandomStreams(1));
            Kvm = new Kvm(host, new KvmSettings { PleHandler = "directed-yield-2011" }, TscFrequency.FromMegahertz(2900));
            Vm = Kvm.CreateVm("vm", vcpus, host.Topology.AllMask);
            Kernel = new GuestKernel(Kvm, Vm, new GuestSettings());
            Bench = new Dbench(Kernel, settings);
            Sim.Invariants.Enable(1000);
        }

        public Simulator Sim { get; }
        public Kvm Kvm { get; }
        public Vm Vm { get; }
        public GuestKernel Kernel { get; }
        public Dbench Bench { get; }

        public void Start()
        {
            Kernel.Start();
            Kvm.Start(Vm);
        }

        public void RunMs(long ms) => Sim.RunUntil(Sim.Now + SimDuration.FromMilliseconds(ms));

        /// <summary>
        /// Plans <paramref name="op"/> on client 0 (the kernel not started) and executes its plan by hand up
        /// to its completion step, running every program step (which inserts what it decides); returns the
        /// names of the spinlocks it acquires, in order.
        /// </summary>
        public List<string> LocksOf(DbenchOp op)
        {
            var c = Bench.Clients[0];
            var t = Kernel.Threads[0];
            c.PlanOp(op);
            var locks = new List<string>();
            for (int guard = 0; guard < 10_000; guard++)
            {
                var a = c.Next(t);
                if (a.Kind == ActionKind.Lock)
                    locks.Add(a.Lock!.Name);
                if (a.Kind != ActionKind.Call)
                    continue;
                bool done = ReferenceEquals(a.Callback, c) && (a.Code & 0xFFFF) == (int)DbenchStep.OpDone;
                a.Callback!.Run(t, a.Code);
                if (done)
                    return locks;
            }
            throw new InvalidOperationException("no completion step");
        }
    }

    private static readonly DbenchSettings OneClient = new() { Clients = 1 };

    [Fact]
    public void A_pass_hands_out_each_operation_its_per_pass_count()
    {
        var cur = new DbenchLoadCursor();
        var counts = new long[DbenchLoadCursor.OpKinds];
        for (long i = 0; i < DbenchLoadCursor.PassLength; i++)
            counts[(int)cur.Next()]++;
        long sum = 0;
        foreach (DbenchOp op in Enum.GetValues<DbenchOp>())
        {
            Assert.Equal(DbenchLoadCursor.PerPass(op), counts[(int)op]);
            sum += counts[(int)op];
        }
        Assert.Equal(DbenchLoadCursor.PassLength, sum);
    }

    [Fact]
    public void A_pass_starts_with_Deltree_and_Mkdir_ends_with_Deltree_and_rewinds()
    {
        var cur = new DbenchLoadCursor();
        Assert.Equal(DbenchOp.Deltree, cur.Next());
        Assert.Equal(DbenchOp.Mkdir, cur.Next());
        var firstMiddle = cur.Next();
        for (long i = 3; i < DbenchLoadCursor.PassLength - 1; i++)
            Assert.NotEqual(DbenchOp.Deltree, cur.Next());
        Assert.Equal(DbenchOp.Deltree, cur.Next());
        // The second pass repeats the first (child_run rewinds the file).
        Assert.Equal(DbenchOp.Deltree, cur.Next());
        Assert.Equal(DbenchOp.Mkdir, cur.Next());
        Assert.Equal(firstMiddle, cur.Next());
        Assert.Equal(DbenchLoadCursor.PassLength + 3, cur.Position);
    }

    [Fact]
    public void The_pass_is_the_published_counts_per_pass_with_NTCreateX_split_by_close_and_unlink()
    {
        static long PerPublishedPass(DbenchOp op) =>
            (DbenchLoadCursor.PublishedCounts[(int)op] + (DbenchLoadCursor.PublishedPasses / 2)) / DbenchLoadCursor.PublishedPasses;
        long ntcreatex = DbenchLoadCursor.PerPass(DbenchOp.NTCreateX) + DbenchLoadCursor.PerPass(DbenchOp.NTCreateXCreate) + DbenchLoadCursor.PerPass(DbenchOp.NTCreateXMiss);
        Assert.Equal(PerPublishedPass(DbenchOp.NTCreateX), ntcreatex);
        // As many creates as unlinks (the tree is empty at both ends of a pass) ...
        Assert.Equal(DbenchLoadCursor.PerPass(DbenchOp.Unlink), DbenchLoadCursor.PerPass(DbenchOp.NTCreateXCreate));
        // ... and every open that succeeds is closed.
        Assert.Equal(DbenchLoadCursor.PerPass(DbenchOp.Close), ntcreatex - DbenchLoadCursor.PerPass(DbenchOp.NTCreateXMiss));
        foreach (var op in new[] { DbenchOp.ReadX, DbenchOp.WriteX, DbenchOp.Qpathinfo, DbenchOp.Find, DbenchOp.Rename, DbenchOp.LockX })
            Assert.Equal(PerPublishedPass(op), DbenchLoadCursor.PerPass(op));
    }

    [Fact]
    public void Operations_are_spread_evenly_over_the_pass()
    {
        // Smooth weighted round robin: after any prefix of the middle of the pass, each operation has
        // been handed out its share of that prefix to within one.
        var cur = new DbenchLoadCursor();
        cur.Next();
        cur.Next();
        long total = DbenchLoadCursor.PassLength - 3;
        var ops = new[] { DbenchOp.ReadX, DbenchOp.Rename, DbenchOp.Qfsinfo, DbenchOp.LockX };
        var counts = new long[DbenchLoadCursor.OpKinds];
        for (long k = 1; k <= 50_000; k++)
        {
            counts[(int)cur.Next()]++;
            if (k % 997 != 0)
                continue;
            foreach (var op in ops)
            {
                double share = (double)k * DbenchLoadCursor.PerPass(op) / total;
                Assert.True(Math.Abs(counts[(int)op] - share) <= 1.0, $"{op} after {k}: {counts[(int)op]} vs {share:F2}");
            }
        }
    }

    [Theory]
    [InlineData(DbenchOp.NTCreateX, "")]
    [InlineData(DbenchOp.NTCreateXMiss, "")]
    [InlineData(DbenchOp.Close, "")]
    [InlineData(DbenchOp.Qpathinfo, "")]
    [InlineData(DbenchOp.Qfileinfo, "")]
    [InlineData(DbenchOp.Sfileinfo, "")]
    [InlineData(DbenchOp.Find, "")]
    [InlineData(DbenchOp.ReadX, "")]
    [InlineData(DbenchOp.Flush, "")]
    [InlineData(DbenchOp.NTCreateXCreate, "tmpfs.stat_lock inode_sb_list_lock")]
    [InlineData(DbenchOp.Mkdir, "tmpfs.stat_lock inode_sb_list_lock")]
    [InlineData(DbenchOp.Rename, "rename_lock")]
    [InlineData(DbenchOp.LockX, "file_lock_lock")]
    [InlineData(DbenchOp.UnlockX, "file_lock_lock")]
    [InlineData(DbenchOp.Qfsinfo, "tmpfs.used_blocks.lock")]
    [InlineData(DbenchOp.Unlink, "inode_sb_list_lock tmpfs.stat_lock")]
    public void Each_operation_takes_the_shared_locks_of_its_kernel_path(DbenchOp op, string expected)
    {
        var kit = new Kit(1, 1, OneClient);
        Assert.Equal(expected, string.Join(' ', kit.LocksOf(op)));
    }

    [Fact]
    public void Unlink_truncates_an_average_files_pages_under_lru_lock_and_returns_them_to_the_zone()
    {
        // 4 KiB writes: one page each. Two files, 6 pages written: an unlink gives back 3 pages.
        var kit = new Kit(1, 1, OneClient with { IoSize = 4096 });
        var c = kit.Bench.Clients[0];
        kit.LocksOf(DbenchOp.NTCreateXCreate);
        kit.LocksOf(DbenchOp.NTCreateXCreate);
        for (int i = 0; i < 6; i++)
            kit.LocksOf(DbenchOp.WriteX);
        Assert.Equal(2, c.Files);
        Assert.Equal(6, c.Pages);
        long frees = kit.Bench.Zone.Frees;
        Assert.Equal("inode_sb_list_lock zone.normal.lru_lock tmpfs.stat_lock", string.Join(' ', kit.LocksOf(DbenchOp.Unlink)));
        Assert.Equal(1, c.Files);
        Assert.Equal(3, c.Pages);
        Assert.Equal(frees + 3, kit.Bench.Zone.Frees);
        // Deltree removes the rest: one more unlink path, then it is counted once.
        kit.LocksOf(DbenchOp.Deltree);
        Assert.Equal(0, c.Files);
        Assert.Equal(0, c.Pages);
        Assert.Equal(1, kit.Bench.Count(DbenchOp.Deltree));
        Assert.Equal(2, kit.Bench.Count(DbenchOp.Unlink) + kit.Bench.Count(DbenchOp.Deltree));
    }

    [Fact]
    public void Writes_take_lru_lock_once_per_pagevec_and_fold_used_blocks_once_per_batch()
    {
        // One VCPU: percpu_counter_batch = max(32, 2 x 1) = 32; PAGEVEC_SIZE 14; one page per write.
        var kit = new Kit(1, 1, OneClient with { IoSize = 4096 });
        Assert.Equal(32, kit.Bench.UsedBlocks.Batch);
        var all = new List<string>();
        for (int i = 0; i < 64; i++)
            all.AddRange(kit.LocksOf(DbenchOp.WriteX));
        Assert.Equal(64 / 14, all.Count(n => n == "zone.normal.lru_lock"));
        Assert.Equal(2, all.Count(n => n == "tmpfs.used_blocks.lock"));
        Assert.Equal(64, kit.Bench.UsedBlocks.Sum);
        Assert.Equal(64 % 14, kit.Bench.Pagevec(0));
        // The zone's per-CPU list is refilled a batch (31 pages) at a time under zone->lock.
        Assert.Equal((64 + 30) / 31, all.Count(n => n == "zone.normal.lock"));
    }

    [Fact]
    public void The_per_cpu_counter_batch_follows_the_kernels_rule()
    {
        Assert.Equal(32, new Kit(4, 4, OneClient).Bench.UsedBlocks.Batch);
        Assert.Equal(64, new Kit(32, 32, OneClient).Bench.UsedBlocks.Batch);
        Assert.Equal(7, new Kit(2, 2, OneClient with { PercpuBatch = 7 }).Bench.UsedBlocks.Batch);
    }

    [Fact]
    public void Throughput_counts_io_size_for_every_ReadX_and_WriteX_and_every_line()
    {
        var kit = new Kit(2, 2, new DbenchSettings { Clients = 3 });
        kit.Start();
        kit.RunMs(10);
        var b = kit.Bench;
        long reads = b.Count(DbenchOp.ReadX), writes = b.Count(DbenchOp.WriteX);
        Assert.True(reads > 100 && writes > 10);
        Assert.Equal((reads + writes) * b.Settings.IoSize, b.Bytes);
        long lines = 0;
        foreach (DbenchOp op in Enum.GetValues<DbenchOp>())
            lines += b.Count(op);
        Assert.Equal(lines, b.Ops);
        Assert.Equal(0, b.Count(DbenchOp.NTCreateXCreate) + b.Count(DbenchOp.NTCreateXMiss)); // reported as NTCreateX
        // Every client completed the lines it was handed, but for the one in progress.
        long handed = b.Clients.Sum(c => c.Line);
        Assert.InRange(b.Ops, handed - b.Clients.Count, handed);
    }

    [Fact]
    public void Two_runs_give_the_same_event_sequence()
    {
        ulong Digest()
        {
            var kit = new Kit(2, 2, new DbenchSettings { Clients = 4 });
            kit.Start();
            kit.RunMs(5);
            return kit.Sim.Digest;
        }
        Assert.Equal(Digest(), Digest());
    }
}

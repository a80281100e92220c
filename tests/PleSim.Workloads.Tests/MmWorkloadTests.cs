using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Workloads.Tests;

/// <summary>ebizzy and kernbench on the guest mm paths: hand-worked counts, the end of a run, determinism.</summary>
public class MmWorkloadTests
{
    private sealed class Kit
    {
        public Kit(int cpus, int vcpus)
        {
            Sim = new Simulator();
            var host = new HostScheduler(Sim, HostTopology.Cpus(cpus), new SchedTunables { TickJitter = SimDuration.Zero }, null, new RandomStreams(1));
            Kvm = new Kvm(host, new KvmSettings { PleHandler = "directed-yield-2011" }, TscFrequency.FromMegahertz(2900));
            Vm = Kvm.CreateVm("vm", vcpus, host.Topology.AllMask);
            Kernel = new GuestKernel(Kvm, Vm, new GuestSettings());
            Sim.Invariants.Enable(1000);
        }

        public Simulator Sim { get; }
        public Kvm Kvm { get; }
        public Vm Vm { get; }
        public GuestKernel Kernel { get; }

        public void Start()
        {
            Kernel.Start();
            Kvm.Start(Vm);
        }

        public void RunMs(long ms) => Sim.RunUntil(Sim.Now + SimDuration.FromMilliseconds(ms));
    }

    [Fact]
    public void Rand_num_is_ebizzys_multiply_as_written()
    {
        // "*state *= 1103515245 + 12345": the state is multiplied by 1103527590, so a zero state
        // (search_mem starts with state = 0) stays zero and every draw is 0.
        uint s = 0;
        Assert.Equal(0u, Ebizzy.RandNum(10, ref s));
        Assert.Equal(0u, s);
        // From 1: 1103527590 / 65536 = 16838 (remainder 32422); 16838 % 10 = 8.
        s = 1;
        Assert.Equal(8u, Ebizzy.RandNum(10, ref s));
        Assert.Equal(1103527590u, s);
    }

    [Fact]
    public void With_mmap_every_record_is_one_mmap_its_page_faults_and_one_munmap()
    {
        var kit = new Kit(2, 2);
        // -m, 8 KiB buffers: 2 pages a record.
        var e = new Ebizzy(kit.Kernel, new EbizzySettings { Threads = 2, ChunkSize = 8192, AlwaysMmap = true, Seconds = 100 });
        kit.Start();
        kit.RunMs(20);
        long records = e.Records, munmaps = e.Threads.Sum(t => t.Munmaps);
        Assert.True(records > 10);
        // A thread may be between its munmap's planning and the record's count: at most one each.
        Assert.InRange(munmaps - records, 0, 2);
        Assert.InRange(e.Mm.Faults, 2 * records, 2 * (records + 2));
        Assert.Equal(e.Mm.Mmaps, e.Threads.Sum(t => t.Mmaps));
        Assert.True(e.Mm.MmapSem.WriteAcquisitions >= 2 * records, "mmap and munmap take mmap_sem for write");
    }

    [Fact]
    public void With_malloc_the_first_free_raises_the_mmap_threshold_and_then_heap_trims_madvise()
    {
        var kit = new Kit(2, 2);
        var e = new Ebizzy(kit.Kernel, new EbizzySettings { Threads = 2, Seconds = 100 });
        kit.Start();
        kit.RunMs(30);
        // glibc 2.12: a freed mmapped chunk of 512 KiB + 4 KiB (129 pages) becomes the threshold.
        Assert.Equal(129 * 4096, e.MmapThreshold);
        long trims = e.Threads.Sum(t => t.Trims);
        Assert.True(e.Records > 4);
        Assert.True(trims >= e.Records - 4, "after the first buffers, every free trims the arena (madvise)");
        Assert.Equal(e.Mm.Madvises, trims);
        Assert.True(e.Mm.MmapSem.ReadAcquisitions > e.Mm.MmapSem.WriteAcquisitions);
    }

    [Fact]
    public void Ebizzy_threads_stop_after_its_seconds_and_report_done()
    {
        var kit = new Kit(2, 2);
        bool done = false;
        var e = new Ebizzy(kit.Kernel, new EbizzySettings { Threads = 3, ChunkSize = 4096, Seconds = 1 }, onAllDone: () => done = true);
        kit.Start();
        kit.RunMs(1_100);
        Assert.True(done);
        Assert.True(e.CompletedAt >= 1_000_000_000);
        Assert.All(e.Threads, t => Assert.True(t.Finished));
        Assert.Equal(e.Records, e.Threads.Sum(t => t.Records));
    }

    [Fact]
    public void Kernbench_ends_when_make_reaped_every_unit()
    {
        var kit = new Kit(2, 2);
        bool done = false;
        var kb = new Kernbench(kit.Kernel, new KernbenchSettings { Jobs = 3, CompileUnits = 7, CompileTime = SimDuration.FromMilliseconds(1), PagesPerUnit = 40 },
            new RandomStream(1, "kb"), () => done = true);
        kit.Start();
        kit.RunMs(200);
        Assert.True(done);
        Assert.Equal(7, kb.Completed);
        Assert.Equal(7, kb.Started);
        Assert.Equal(7, kb.Compilers.Sum(c => c.Units));
        Assert.Equal(7 * 40, kb.Compilers.Sum(c => c.Mm.Faults));
        Assert.True(kb.CompletedAt > 0);
        // Every page a unit faulted in went back to the zone at exit.
        Assert.Equal(kb.Zone.Allocs, kb.Zone.Frees);
        Assert.Equal(7, kb.MakeMm.MmapSem.WriteAcquisitions); // one dup_mmap per fork
    }

    [Fact]
    public void Kernbench_never_runs_more_than_jobs_compilers()
    {
        var kit = new Kit(4, 4);
        var kb = new Kernbench(kit.Kernel, new KernbenchSettings { Jobs = 2, CompileUnits = 6, CompileTime = SimDuration.FromMilliseconds(2), PagesPerUnit = 10 },
            new RandomStream(1, "kb"));
        kit.Start();
        kit.RunMs(100);
        Assert.Equal(2, kb.Compilers.Count);
        Assert.Equal(2, kb.MaxRunning);
        Assert.Equal(6, kb.Completed);
    }

    [Fact]
    public void The_same_seed_gives_the_same_runs()
    {
        static (long, long, long) Once()
        {
            var kit = new Kit(2, 4);
            var e = new Ebizzy(kit.Kernel, new EbizzySettings { Threads = 4, ChunkSize = 65536, Seconds = 100 });
            kit.Start();
            kit.RunMs(20);
            return (e.Records, e.Mm.Faults, kit.Sim.EventsFired);
        }
        Assert.Equal(Once(), Once());
    }
}

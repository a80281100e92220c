using PleSim.Guest;
using PleSim.Workloads;

namespace PleSim.Workloads.Tests;

/// <summary>
/// pbzip2 (decision 0061): every block read, compressed and written once and in order; the FIFO queue and
/// the OutputBuffer stay within their bounds; the mutex / condition-variable hand-offs; glibc's mmap
/// threshold rising after the first munmaps, and the frees reaching the guest as munmap / madvise with a TLB
/// shootdown; determinism.
/// </summary>
public class Pbzip2Tests
{
    private static Pbzip2Settings Small(int threads = 0, long input = 9_000_000) => new()
    {
        Threads = threads,
        InputBytes = input,
        CompressMBPerS = 200, // fast compression: a short run
    };

    private static WorkloadKit<Pbzip2> Kit(int vcpus, Pbzip2Settings s) =>
        new(vcpus, (kernel, done) => new Pbzip2(kernel, s, done));

    private static long GuestShootdowns(GuestKernel k)
    {
        long n = 0;
        foreach (var c in k.Cpus)
            n += c.Shootdowns;
        return n;
    }

    [Fact]
    public void Every_block_is_read_compressed_and_written_once_in_order_and_the_queues_stay_bounded()
    {
        var s = Small(input: 9_000_000 + 123_456); // ten full blocks and a short one
        var kit = Kit(4, s);
        kit.RunUntilDone(5_000, afterMs: 5);
        var p = kit.Bench;
        Assert.Equal(11, p.Blocks);
        Assert.Equal(p.Blocks, p.BlocksRead);
        Assert.Equal(p.Blocks, p.BlocksCompressed);
        Assert.Equal(p.Blocks, p.BlocksWritten);
        Assert.Equal(p.Blocks, p.NumBlocks);
        Assert.Equal(s.InputBytes, p.BytesProcessed);
        Assert.Equal(p.Blocks, p.NextBlockToWrite);
        // queueInit(numCPU): the FIFO never holds more than numCPU blocks; the OutputBuffer never more than its slots.
        Assert.Equal(4, p.NumCpu);
        Assert.InRange(p.QueueMax, 1, p.NumCpu);
        Assert.Equal(0, p.QueueCount);
        Assert.InRange(p.BufferedMax, 1, p.NumBufferedBlocksMax);
        Assert.Equal(0, p.Buffered);
        // Every thread exited with every mutex free and no condition waiter left behind.
        foreach (var m in p.Mutexes)
            Assert.Equal(0, m.Word.Value);
        foreach (var c in p.Conds)
            Assert.Equal(0, c.Waiters);
        Assert.All(kit.Kernel.Threads, t => Assert.True(t.State == PleSim.Guest.ThreadState.Done, $"{t} did not exit"));
    }

    [Fact]
    public void The_output_buffer_holds_maxMemory_over_blockSize_less_two_per_CPU_but_at_least_numCPU()
    {
        static Pbzip2 Make(int vcpus, Pbzip2Settings s) => Kit(vcpus, s).Bench;
        // 100,000,000 / 900,000 = 111 blocks, less 2 × 4.
        Assert.Equal(103, Make(4, Small()).NumBufferedBlocksMax);
        // 96 CPUs: 111 − 192 < 1 → 1, raised to numCPU (no -m).
        Assert.Equal(96, Make(96, Small(input: 900_000)).NumBufferedBlocksMax);
        // -m10: 11 − 8 = 3, below numCPU → numCPU.
        Assert.Equal(4, Make(4, Small() with { MaxMemory = 10_000_000 }).NumBufferedBlocksMax);
    }

    [Fact]
    public void A_slow_compressor_fills_the_queue_and_the_producer_waits_on_notFull()
    {
        // Two consumers (-p2) on an 8-VCPU guest: the producer has a CPU of its own.
        var kit = Kit(8, Small(threads: 2, input: 12 * 900_000) with { CompressMBPerS = 50 });
        kit.RunUntilDone(5_000);
        var p = kit.Bench;
        Assert.True(p.ProducerFullWaits > 0, $"the producer never found the queue full (max {p.QueueMax}, empty waits {p.ConsumerEmptyWaits}, at {p.CompletedAt} ns, faults {p.Mm.Faults})");
        Assert.Equal(p.NumCpu, p.QueueMax);
        Assert.True(p.Conds[Pbzip2.NotFull].Signals > 0, "no consumer woke the producer");
        // The writer waits for block 0 while the first blocks are compressed.
        Assert.True(p.WriterWaits > 0);
        Assert.True(p.Conds[Pbzip2.OutBufferHeadNotEmpty].Signals > 0);
    }

    [Fact]
    public void A_slow_reader_leaves_the_consumers_waiting_on_notEmpty()
    {
        // read(2) copying at 0.1 µs per byte of a 900 kB block (90 ms) while compressing takes 4.5 ms.
        var kit = Kit(4, Small(input: 6 * 900_000) with { CopyNsPerByte = 100 });
        kit.RunUntilDone(5_000);
        var p = kit.Bench;
        Assert.True(p.ConsumerEmptyWaits > 0);
        Assert.True(p.Conds[Pbzip2.NotEmpty].Signals > 0, "the producer never woke a consumer");
        Assert.Equal(0, p.ProducerFullWaits);
        Assert.Equal(p.Blocks, p.BlocksWritten);
    }

    [Fact]
    public void The_first_big_frees_raise_the_mmap_threshold_and_every_munmap_or_trim_is_a_shootdown()
    {
        var s = Small(input: 40 * 900_000);
        var kit = Kit(4, s);
        kit.RunUntilDone(5_000);
        var p = kit.Bench;
        var m = p.Malloc;
        // libbzip2's arr1 (3,600,000 bytes) is the largest mmapped chunk freed: the threshold follows it.
        Assert.Equal(GlibcMalloc.MmappedSize(4 * 900_000), m.MmapThreshold);
        Assert.Equal(2 * m.MmapThreshold, m.TrimThreshold);
        // At first every buffer is mmapped; once the threshold rose none is: far fewer mmapped mallocs than buffers.
        Assert.True(p.MmappedMallocs > 0);
        Assert.True(p.MmappedMallocs < 2 * p.Blocks, $"{p.MmappedMallocs} mmapped mallocs for {p.Blocks} blocks");
        Assert.Equal(p.MmappedMallocs, p.MmappedFrees);
        // Each mmapped free is a munmap, each trim a madvise (consumer arenas) or brk shrink (main arena):
        // every one a TLB shootdown of the process's CPUs.
        Assert.Equal(p.MmappedFrees + p.HeapTrims, p.Mm.Munmaps + p.Mm.Madvises);
        Assert.True(GuestShootdowns(kit.Kernel) >= p.Mm.Munmaps + p.Mm.Madvises);
        // The writer frees the output buffers the consumers allocated: their arenas' mutexes.
        Assert.True(p.CrossThreadLockedFrees > 0);
        Assert.True(p.CrossThreadFrees >= p.CrossThreadLockedFrees);
    }

    [Fact]
    public void The_same_settings_give_the_same_run()
    {
        static (long, long, long, long) Run()
        {
            var kit = Kit(4, Small(input: 10 * 900_000));
            kit.RunUntilDone(5_000);
            var p = kit.Bench;
            return (p.CompletedAt, p.Mm.Faults, p.HeapTrims, kit.Sim.EventsFired);
        }
        Assert.Equal(Run(), Run());
    }
}

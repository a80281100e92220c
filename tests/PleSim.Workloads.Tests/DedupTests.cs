using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Workloads.Tests;

/// <summary>The dedup pipeline's mechanisms: the input's cuts, chunk conservation through the stages, batching, bounded-queue blocking, condition-variable wake-ups, the hash table's per-bucket locking and determinism.</summary>
public class DedupTests
{
    /// <summary>A small input with several MAXBUF buffers and coarse chunks: 3 MB in 1 MiB buffers, 128 KiB anchor jumps.</summary>
    private static DedupSettings Small(int threads) => new()
    {
        Threads = threads,
        InputBytes = 3_000_000,
        MaxBuf = 1 << 20,
        AnchorJump = 128 << 10,
        RabinMaskBits = 10,
        DuplicateFraction = 0.3,
    };

    private static WorkloadKit<Dedup> Kit(int vcpus, DedupSettings s, ulong seed = 7) =>
        new(vcpus, (kernel, done) => new Dedup(kernel, s, new RandomStream(seed, "dedup"), done));

    [Fact]
    public void The_input_is_cut_as_Fragment_and_FragmentRefine_cut_it()
    {
        var s = Small(2);
        var inp = new DedupInput(s, new RandomStream(3, "dedup"));
        Assert.Equal(s.InputBytes, inp.CoarseBytes.Sum());
        Assert.Equal(s.InputBytes, inp.Size.Sum(x => (long)x));
        Assert.True(inp.Blocks >= 3, $"{inp.Blocks} buffers");
        for (int k = 0; k < inp.CoarseChunks; k++)
        {
            long fine = 0;
            for (int i = 0; i < inp.CoarseCount[k]; i++)
            {
                int c = inp.CoarseFirst[k] + i;
                fine += inp.Size[c];
                // rabinseg never cuts before NWINDOW bytes; only a coarse chunk's last piece may be shorter.
                if (i < inp.CoarseCount[k] - 1)
                    Assert.True(inp.Size[c] >= s.NWindow);
                Assert.Equal(inp.CoarseBlock[k], inp.ChunkBlock[c]);
            }
            Assert.Equal(inp.CoarseBytes[k], fine);
            // Fragment cuts at an anchor at least ANCHOR_JUMP + NWINDOW bytes in; only the end-of-file stub is shorter.
            if (!(k == inp.CoarseChunks - 1 && inp.EndsWithStub))
                Assert.True(inp.CoarseBytes[k] >= s.AnchorJump + s.NWindow);
        }
        // Content repeats keep the content's size.
        var sizeOf = new Dictionary<int, int>();
        for (int c = 0; c < inp.Chunks; c++)
        {
            if (sizeOf.TryGetValue(inp.Content[c], out int sz))
                Assert.Equal(sz, inp.Size[c]);
            else
                sizeOf[inp.Content[c]] = inp.Size[c];
        }
        Assert.True(sizeOf.Count < inp.Chunks, "no content repeated");
        // Every buffer's pieces: its fine chunks plus the tail Fragment carries into the next one.
        Assert.Equal(inp.Chunks + inp.BlockFreesPrevious.Count(b => b), inp.BlockRefs.Sum());
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(4, 2)]
    [InlineData(4, 6)]
    public void Every_chunk_goes_through_every_stage_once_and_is_written_in_order(int vcpus, int threads)
    {
        var kit = Kit(vcpus, Small(threads));
        kit.RunUntilDone(2000, afterMs: 5);
        var d = kit.Bench;
        var inp = d.Input;
        Assert.Equal(inp.CoarseChunks, d.CoarseChunks);
        Assert.Equal(inp.Chunks, d.Refined);
        Assert.Equal(inp.Chunks, d.Lookups);
        Assert.Equal(d.Lookups, d.Unique + d.Duplicates);
        Assert.Equal(d.Unique, d.Compressed);
        Assert.Equal(inp.Chunks, d.Written);
        Assert.Equal(d.Settings.InputBytes, d.WrittenBytes);
        // Each content has one original (the first to reach the table); duplicates point at an original of their content.
        var originals = new Dictionary<int, int>();
        for (int c = 0; c < inp.Chunks; c++)
        {
            int o = d.OriginalOf(c);
            if (o < 0)
            {
                Assert.True(originals.TryAdd(inp.Content[c], c), $"content {inp.Content[c]} has two originals");
                Assert.Equal(DedupChunkState.Flushed, d.StateOf(c));
            }
        }
        for (int c = 0; c < inp.Chunks; c++)
        {
            int o = d.OriginalOf(c);
            if (o >= 0)
                Assert.Equal(originals[inp.Content[c]], o);
        }
        Assert.Equal(inp.ContentCount, originals.Count);
        // Every buffer freed exactly when its last piece went (munmap), every queue drained and terminated.
        Assert.All(Enumerable.Range(0, inp.Blocks), b => Assert.Equal(0, d.BlockRefsLeft(b)));
        Assert.Equal(inp.Blocks, d.BufferUnmaps);
        Assert.All(d.Queues, q => Assert.True(q.Count == 0 && q.IsTerminated, $"{q.Kind}[{q.Index}]"));
        Assert.All(kit.Kernel.Futexes, f => Assert.Equal(0, f.Sleepers));
        Assert.All(d.Mutexes, m => Assert.Equal(0, m.Word.Value));
        Assert.All(kit.Kernel.Threads, t => Assert.Equal(PleSim.Guest.ThreadState.Done, t.State));
        Assert.Equal((3 * threads) + 2, kit.Kernel.Threads.Count);
        Assert.True(d.CompletedAt > 0);
    }

    [Fact]
    public void Threads_share_queues_four_to_one_and_move_items_in_batches()
    {
        // -t 6: nqueues = ceil(6 / 4) = 2; the last queue has the remaining 2 threads as producers.
        var kit = Kit(4, Small(6));
        var d = kit.Bench;
        Assert.Equal(2, d.NQueues);
        Assert.Equal(1, d.Queue(DedupQueueKind.Refine, 1).Producers);
        Assert.Equal(4, d.Queue(DedupQueueKind.Compress, 0).Producers);
        Assert.Equal(2, d.Queue(DedupQueueKind.Compress, 1).Producers);
        kit.RunUntilDone(2000, afterMs: 5);
        // Fragment hands coarse chunks round robin, one per enqueue.
        long refineIn = d.Queue(DedupQueueKind.Refine, 0).Enqueued + d.Queue(DedupQueueKind.Refine, 1).Enqueued;
        Assert.Equal(d.Input.CoarseChunks, refineIn);
        Assert.True(Math.Abs(d.Queue(DedupQueueKind.Refine, 0).Enqueued - d.Queue(DedupQueueKind.Refine, 1).Enqueued) <= 1);
        // Compress fetches at most ITEM_PER_FETCH (20) per dequeue: at least ⌈items / 20⌉ dequeues.
        for (int q = 0; q < d.NQueues; q++)
        {
            var cq = d.Queue(DedupQueueKind.Compress, q);
            Assert.True(cq.Dequeues >= (cq.Enqueued + 19) / 20, $"compress_que[{q}]: {cq.Dequeues} dequeues for {cq.Enqueued} items");
        }
        long compressed = d.Queue(DedupQueueKind.Compress, 0).Enqueued + d.Queue(DedupQueueKind.Compress, 1).Enqueued;
        Assert.Equal(d.Unique, compressed);
        long reorderIn = d.Queue(DedupQueueKind.Reorder, 0).Enqueued + d.Queue(DedupQueueKind.Reorder, 1).Enqueued;
        Assert.Equal(d.Input.Chunks, reorderIn);
    }

    [Fact]
    public void A_consumer_on_an_empty_queue_sleeps_on_notEmpty_and_the_producers_signal_wakes_it()
    {
        // One thread per stage: FragmentRefine asks for work while Fragment is still copying its first
        // buffer, so it waits on refine_que's notEmpty; Fragment's enqueue signals it awake.
        var kit = Kit(2, Small(1));
        kit.RunUntilDone(2000, afterMs: 5);
        var d = kit.Bench;
        var q = d.Queue(DedupQueueKind.Refine, 0);
        var notEmpty = d.Conds[0]; // refine_que[0].notEmpty
        Assert.Equal("dedup.refine_que[0].notEmpty", notEmpty.Word.Name);
        Assert.True(q.EmptyWaits >= 1);
        Assert.True(notEmpty.Waits >= q.EmptyWaits);
        Assert.True(notEmpty.Signals + notEmpty.Broadcasts >= 1);
        Assert.True(notEmpty.Word.Woken >= 1, "nobody was woken from notEmpty");
        // One consumer: every signal or broadcast wakes at most that one thread.
        Assert.True(notEmpty.Word.Woken <= notEmpty.Signals + notEmpty.Broadcasts);
    }

    [Fact]
    public void A_full_queue_blocks_its_producer_on_notFull_until_the_consumer_takes_items()
    {
        var s = Small(2) with { QueueSize = 3 };
        var kit = Kit(2, s);
        kit.RunUntilDone(4000, afterMs: 5);
        var d = kit.Bench;
        Assert.True(d.QueueFullWaits() > 0, "no producer ever found a queue full");
        Assert.Equal(d.Input.Chunks, d.Written);
        Assert.All(d.Queues, q => Assert.Equal(0, q.Count));
    }

    [Fact]
    public void Bucket_locks_serialise_lookups_of_one_bucket_and_contend_when_few()
    {
        // A 53-bucket table (the first prime above 1) and mostly repeated content: threads meet on bucket mutexes.
        var s = Small(8) with { HashTableMinSize = 1, DuplicateFraction = 0.9, RabinMaskBits = 8, Sha1NsPerByte = 0.01, HashLookup = SimDuration.FromMicroseconds(2) };
        var kit = Kit(8, s);
        Assert.Equal(53, kit.Bench.TableLength);
        kit.RunUntilDone(4000, afterMs: 5);
        var d = kit.Bench;
        Assert.True(d.BucketContended > 0, "no bucket lock was contended");
        long slotContended = 0;
        for (int i = 0; i < d.Mutexes.Length; i++)
        {
            if (d.Mutexes[i].Word.Name.StartsWith("dedup.ht.", StringComparison.Ordinal))
                slotContended += d.Mutexes[i].Contended;
        }
        Assert.Equal(d.BucketContended, slotContended);
        Assert.Equal(d.Input.Chunks, d.Unique + d.Duplicates);
        Assert.Equal(d.Input.ContentCount, d.Unique);
    }

    [Fact]
    public void The_same_seed_gives_the_same_event_sequence()
    {
        ulong Run(ulong seed)
        {
            var kit = Kit(4, Small(3), seed);
            kit.RunUntilDone(2000, afterMs: 5);
            return kit.Sim.Digest;
        }
        Assert.Equal(Run(5), Run(5));
        Assert.NotEqual(Run(5), Run(6));
    }
}

using PleSim.Engine;
using PleSim.Guest;
using PleSim.Workloads;

namespace PleSim.Workloads.Tests;

/// <summary>
/// glibc malloc in dedup (decision 0054 addendum): the tcache, heap_trim's threshold test, cross-thread
/// frees taking the owner arena's mutex, trims reaching the guest as madvise + TLB shootdown, determinism.
/// </summary>
public class DedupMallocTests
{
    private static DedupSettings Small(int threads, bool malloc = true) => new()
    {
        Threads = threads,
        InputBytes = 3_000_000,
        MaxBuf = 1 << 20,
        AnchorJump = 128 << 10,
        RabinMaskBits = 10,
        DuplicateFraction = 0.3,
        ModelMalloc = malloc,
    };

    private static WorkloadKit<Dedup> Kit(int vcpus, DedupSettings s, ulong seed = 7) =>
        new(vcpus, (kernel, done) => new Dedup(kernel, s, new RandomStream(seed, "dedup"), done));

    [Fact]
    public void The_tcache_takes_frees_up_to_its_count_per_size_class_and_gives_them_back_last_in_first_out()
    {
        var t = new GlibcTcache(new GlibcMallocSettings());
        int nb = GlibcArena.Request2Size(200); // a chunk_t: 208 bytes
        for (int i = 0; i < 7; i++)
            Assert.True(t.TryPut(nb, 3, 1000 + (i * 208)));
        Assert.False(t.TryPut(nb, 3, 9999));                     // the eighth goes on to the arena
        Assert.True(t.TryPut(GlibcArena.Request2Size(16), 3, 5)); // another size class has room
        Assert.False(t.TryPut(GlibcArena.Request2Size(4000), 3, 7)); // beyond the 64 bins (1040-byte chunks)
        Assert.True(t.TryPut(1040, 3, 11));
        Assert.True(t.TryGet(nb, out int a, out int off));
        Assert.Equal(3, a);
        Assert.Equal(1000 + (6 * 208), off);
        Assert.True(t.TryPut(nb, 3, 42)); // room again
        Assert.Equal(7, t.Count(t.Bin(nb)));
    }

    [Fact]
    public void Heap_trim_of_later_glibc_gives_back_only_a_top_above_the_trim_threshold_less_the_top_pad()
    {
        // zlib's deflateInit blocks freed in deflateEnd's order, each coalescing into top.
        GlibcArena Arena() => new(new GlibcArenaSettings { HeapTrimThresholdTest = true, FirstRequest = 64 });
        int[] Alloc(GlibcArena a)
        {
            var o = new int[5];
            o[0] = a.Malloc(5936);
            for (int i = 1; i < 5; i++)
                o[i] = a.Malloc(65536);
            return o;
        }
        var arena = Arena();
        var blocks = Alloc(arena);
        int trimmed = 0, trims = 0;
        for (int i = 4; i >= 0; i--)
        {
            int t = arena.Free(blocks[i], 128 * 1024);
            if (t > 0)
            {
                trims++;
                trimmed += t;
                Assert.Equal(0, t % 4096);
                // What stays is at least the top pad (128 KiB) + MINSIZE.
                Assert.True(arena.TopSize >= (128 * 1024) + 32, $"top {arena.TopSize}");
            }
        }
        Assert.True(trims >= 2, $"{trims} trims");
        Assert.Equal(arena.Trims, trims);
        arena.CheckHeap();

        // A threshold above the freed top: heap_trim returns without shrinking.
        var big = Arena();
        blocks = Alloc(big);
        for (int i = 4; i >= 0; i--)
            Assert.Equal(0, big.Free(blocks[i], 64 << 20));
        Assert.Equal(0, big.Trims);
        Assert.True(big.TrimAttempts > 0);
    }

    [Fact]
    public void Realloc_to_a_smaller_size_splits_the_rest_off_as_a_chunk_the_caller_frees()
    {
        var arena = new GlibcArena(new GlibcArenaSettings { HeapTrimThresholdTest = true, FirstRequest = 64 });
        int p = arena.Malloc(4000);
        int guard = arena.Malloc(100);
        int rem = arena.ShrinkInPlace(p, 3000);
        Assert.Equal(GlibcArena.Request2Size(3000), arena.ChunkSize(p));
        Assert.Equal(GlibcArena.Request2Size(4000) - GlibcArena.Request2Size(3000), arena.ChunkSize(rem));
        Assert.Equal(-1, arena.ShrinkInPlace(p, 2995)); // less than MINSIZE to split off
        arena.Free(rem, 128 * 1024);
        arena.Free(guard, 128 * 1024);
        arena.Free(p, 128 * 1024);
        arena.CheckHeap();
    }

    [Fact]
    public void A_cross_thread_free_takes_the_owner_arenas_mutex()
    {
        var kit = Kit(4, Small(2));
        kit.RunUntilDone(4000, afterMs: 5);
        var d = kit.Bench;
        var m = d.Malloc!;
        var reorder = d.ThreadPrograms.Single(t => t.Stage == DedupStage.Reorder);
        // Reorder never mallocs in the model, so it owns no arena: every arena mutex it took belongs to another thread.
        Assert.Equal(-1, reorder.Tcache!.Arena);
        Assert.True(reorder.ArenaLocks > 0, "Reorder's frees of compressed buffers did not lock the Compress arenas");
        Assert.True(d.CrossThreadLockedFrees >= reorder.ArenaLocks);
        // Every arena mutex acquisition is one of the threads' locked malloc / free / realloc paths.
        long locks = 0;
        foreach (var mu in m.Mutexes)
            locks += mu.Locks;
        Assert.Equal(d.ThreadPrograms.Sum(t => t.ArenaLocks), locks);
        // Each compressed buffer Reorder frees is larger than the tcache's chunks here or finds its bin full at most 7 times per bin.
        Assert.True(reorder.Tcache.Puts <= 7L * 64);
    }

    [Fact]
    public void A_heap_trim_is_a_madvise_ending_in_a_tlb_shootdown()
    {
        var kit = Kit(4, Small(2));
        kit.RunUntilDone(4000, afterMs: 5);
        var d = kit.Bench;
        Assert.True(d.HeapTrims > 0, "no heap_trim gave memory back");
        Assert.Equal(d.HeapTrims, d.Mm!.Madvises);
        Assert.Equal(d.HeapTrims, d.Malloc!.Trims);
        long shootdowns = kit.Kernel.Cpus.Sum(c => c.Shootdowns);
        Assert.True(shootdowns >= d.Mm.Madvises + d.Mm.Munmaps, $"{shootdowns} shootdowns for {d.Mm.Madvises} madvises and {d.Mm.Munmaps} munmaps");

        // Without the allocator only the MAXBUF buffers' munmaps shoot down.
        var off = Kit(4, Small(2, malloc: false));
        off.RunUntilDone(4000, afterMs: 5);
        Assert.Null(off.Bench.Malloc);
        Assert.Equal(off.Bench.BufferUnmaps, off.Kernel.Cpus.Sum(c => c.Shootdowns));
    }

    [Fact]
    public void The_same_seed_gives_the_same_event_sequence_with_the_allocator()
    {
        ulong Run(ulong seed)
        {
            var kit = Kit(4, Small(3), seed);
            kit.RunUntilDone(4000, afterMs: 5);
            Assert.NotNull(kit.Bench.Malloc);
            return kit.Sim.Digest;
        }
        Assert.Equal(Run(5), Run(5));
        Assert.NotEqual(Run(5), Run(6));
    }
}

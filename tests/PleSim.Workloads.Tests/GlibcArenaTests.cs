using PleSim.Workloads;

namespace PleSim.Workloads.Tests;

/// <summary>
/// Hand-worked glibc 2.12 arena sequences (x86_64: SIZE_SZ 8, 16-byte alignment, MINSIZE 32,
/// max_fast 128, top_pad 128 KiB, 4 KiB pages). A fresh arena's heap is
/// PAGE_UP(2216 + 16 + 131072) = 135168 bytes; its first chunk is at 2224 (chunk2mem aligned),
/// so the top chunk starts as 135168 - 2224 = 132944 bytes.
/// </summary>
public class GlibcArenaTests
{
    private static GlibcArena NewArena() => new(new GlibcArenaSettings());

    [Theory]
    [InlineData(0, 32)]
    [InlineData(24, 32)]
    [InlineData(25, 48)]
    [InlineData(72, 80)]
    [InlineData(264, 272)]
    [InlineData(440, 448)]
    [InlineData(65528, 65536)]
    public void Request2size_adds_the_size_field_and_aligns_to_16(int request, int chunk)
        => Assert.Equal(chunk, GlibcArena.Request2Size(request));

    [Fact]
    public void A_request_of_the_last_small_bin_never_takes_a_smaller_binned_chunk()
    {
        // 1000 bytes → a 1008-byte chunk, small bin 63: no small bin lies above it, so the binmap scan
        // finds nothing and the chunk comes from top (found by dedup's compressed buffers).
        var a = NewArena();
        int small = a.Malloc(200);
        a.Malloc(100); // keeps the 208-byte chunk off top
        a.Free(small);
        a.Malloc(2000); // the unsorted scan bins the 208-byte chunk
        int p = a.Malloc(1000);
        Assert.Equal(1008, a.ChunkSize(p));
        Assert.NotEqual(small, p);
        a.CheckHeap();
    }

    [Fact]
    public void A_new_arena_has_a_top_pad_heap_and_splits_chunks_off_top_in_address_order()
    {
        var a = NewArena();
        Assert.Equal(135168, a.HeapSize);
        Assert.Equal(2224, a.TopOffset);
        Assert.Equal(132944, a.TopSize);
        Assert.Equal(2224, a.Malloc(440));
        Assert.Equal(2224 + 448, a.Malloc(72));
        Assert.Equal(2224 + 448 + 80, a.TopOffset);
        Assert.Equal(448 + 80, a.CheckHeap());
    }

    [Fact]
    public void A_small_chunk_goes_to_its_fastbin_without_coalescing_even_next_to_top_and_is_reused_lifo()
    {
        var a = NewArena();
        int x = a.Malloc(440);
        int f1 = a.Malloc(72);
        int f2 = a.Malloc(72); // borders top
        int top = a.TopOffset;
        Assert.Equal(0, a.Free(f2));
        Assert.Equal(0, a.Free(f1));
        Assert.True(a.HaveFastChunks);
        Assert.Equal(top, a.TopOffset); // TRIM_FASTBINS 0: not merged into top
        Assert.Equal(448, a.CheckHeap()); // fastbin chunks are neither in use nor coalesced
        Assert.Equal(f1, a.Malloc(72)); // last in, first out
        Assert.Equal(f2, a.Malloc(72));
        Assert.Equal(top, a.Malloc(72)); // fastbin empty: from top
        _ = x;
    }

    [Fact]
    public void A_freed_chunk_coalesces_with_free_neighbours_on_both_sides_and_an_exact_fit_reuses_it()
    {
        var a = NewArena();
        int c1 = a.Malloc(440), c2 = a.Malloc(440), c3 = a.Malloc(440);
        int guard = a.Malloc(440);
        a.Free(c1);
        a.Free(c3);
        a.Free(c2); // joins c1 and c3
        Assert.Equal(448, a.CheckHeap());
        Assert.Equal(a.TopSize + 3 * 448, a.FreeBytes());
        Assert.Equal(c1, a.Malloc(3 * 448 - 8)); // exact fit from the unsorted bin
        Assert.Equal(4 * 448, a.CheckHeap());
        _ = guard;
    }

    [Fact]
    public void Fastbin_chunks_block_coalescing_until_a_large_free_consolidates_them()
    {
        var a = NewArena();
        int x = a.Malloc(440);
        int f = a.Malloc(72);
        int y = a.Malloc(440);
        int big = a.Malloc(65528);
        int guard = a.Malloc(440);
        a.Free(x);
        a.Free(f);
        a.Free(y); // its previous chunk is a fastbin chunk, still "in use": no coalescing
        a.CheckHeap();
        Assert.Equal(0, a.Consolidations);
        Assert.Equal(0, a.Free(big)); // y + big = 65984 ≥ 64 KiB: consolidate, then heap_trim (top too small to shrink)
        Assert.Equal(1, a.Consolidations);
        Assert.Equal(1, a.TrimAttempts);
        Assert.Equal(0, a.Trims);
        Assert.False(a.HaveFastChunks);
        Assert.Equal(448, a.CheckHeap()); // x, f, y, big are one free chunk
        Assert.Equal(x, a.Malloc(448 + 80 + 448 + 65536 - 8));
        _ = guard;
    }

    [Fact]
    public void The_last_remainder_of_a_split_serves_the_next_small_request()
    {
        var a = NewArena();
        int c1 = a.Malloc(440);
        int g1 = a.Malloc(440);
        a.Free(c1);
        int r = a.Malloc(264); // not exact: c1 is binned, then split from its bin: 272 + 176
        Assert.Equal(c1, r);
        int s = a.Malloc(24); // 32-byte request, fastbin empty: the remainder (only unsorted chunk) is split
        Assert.Equal(c1 + 272, s);
        Assert.Equal(448 + 272 + 32, a.CheckHeap());
        _ = g1;
    }

    [Fact]
    public void The_last_remainder_is_known_by_its_address_after_the_chunk_there_was_merged_away()
    {
        // glibc compares the unsorted chunk with av->last_remainder, a pointer. Here the remainder at
        // 2432 is merged back into its neighbour (the model reuses its record for the next chunk, at
        // 3264); a later unsorted chunk at 3264 is not the last remainder, so a small request bins it and
        // takes the 1008-byte chunk the binmap finds (glibc 2.12 malloc.c _int_malloc).
        var a = NewArena();
        int big = a.Malloc(1000);                // 1008 bytes at 2224
        a.Malloc(24);                            // keeps it off top
        a.Free(big);                             // unsorted
        int v = a.Malloc(200);                   // bins it, splits it: 208 at 2224, remainder 800 at 2432
        Assert.Equal(2224, v);
        a.Free(v);                               // merges with the remainder: 1008 at 2224 again
        Assert.False(a.IsInUse(2432));
        int x = a.Malloc(1500);                  // a large request: bins the 1008, splits top at 3264
        Assert.Equal(3264, x);
        a.Malloc(1100);                          // keeps x off top (large: no small bin is touched)
        Assert.False(a.IsInUse(2432));           // the old remainder's offset names no chunk
        Assert.Throws<InvalidOperationException>(() => a.Free(2432));
        a.Free(x);                               // the only unsorted chunk
        Assert.Equal(1520, a.ChunkSize(x));
        Assert.Equal(2224, a.Malloc(200));       // not a split of x
        Assert.Equal(208 + 32 + 1120, a.CheckHeap());
    }

    [Fact]
    public void The_heap_grows_by_whole_pages_and_heap_trim_shrinks_only_what_exceeds_top_pad_plus_minsize_and_a_page()
    {
        var a = NewArena();
        int c1 = a.Malloc(65528); // 65536-byte chunks
        int c2 = a.Malloc(65528);
        Assert.Equal(1872, a.TopSize); // 132944 - 2 × 65536
        int c3 = a.Malloc(65528); // grow_heap(MINSIZE + 65536 - 1872 = 63696 → 65536)
        Assert.Equal(1, a.Grows);
        Assert.Equal(135168 + 65536, a.HeapSize);
        Assert.Equal(1872, a.TopSize);

        Assert.Equal(0, a.Free(c3)); // into top: 67408 ≥ 64 KiB calls heap_trim, but 67408 < pad + MINSIZE + page
        Assert.Equal(1, a.TrimAttempts);
        Assert.Equal(0, a.Free(c2)); // top 132944: ((132944 - 131072 - 32 + 4095) / 4096 - 1) pages = 0
        Assert.Equal(2, a.TrimAttempts);
        // top 198480: ((198480 - 131104 + 4095) / 4096 - 1) × 4096 = 16 pages
        Assert.Equal(65536, a.Free(c1));
        Assert.Equal(1, a.Trims);
        Assert.Equal(135168, a.HeapSize);
        Assert.Equal(132944, a.TopSize); // pad + MINSIZE + less than a page stays
        Assert.Equal(200704, a.MprotectSize); // madvise leaves the mapping accessible
        Assert.Equal(0, a.CheckHeap());
    }

    [Fact]
    public void Freeing_into_a_fastbin_never_trims_however_much_is_freed()
    {
        var a = NewArena();
        var chunks = new int[4000];
        for (int i = 0; i < chunks.Length; i++)
            chunks[i] = a.Malloc(72);
        Assert.True(a.Grows > 0);
        for (int i = chunks.Length - 1; i >= 0; i--)
            Assert.Equal(0, a.Free(chunks[i]));
        Assert.Equal(0, a.TrimAttempts);
        // A request that top cannot serve consolidates them all into top first (ATOMIC_FASTBINS).
        long heap = a.HeapSize;
        a.Malloc(200_000);
        Assert.Equal(1, a.Consolidations);
        Assert.Equal(heap, a.HeapSize);
    }

    [Fact]
    public void A_double_free_is_refused()
    {
        var a = NewArena();
        int c = a.Malloc(440);
        a.Malloc(440);
        a.Free(c);
        Assert.Throws<InvalidOperationException>(() => a.Free(c));
    }

    [Fact]
    public void Random_sequences_keep_the_boundary_tags_consistent_and_account_for_every_byte()
    {
        var rng = new Random(7);
        var a = NewArena();
        var live = new List<int>();
        long firstChunk = 2224;
        for (int step = 0; step < 20_000; step++)
        {
            if (live.Count > 0 && rng.Next(100) < 48)
            {
                int i = rng.Next(live.Count);
                a.Free(live[i]);
                live[i] = live[^1];
                live.RemoveAt(live.Count - 1);
            }
            else
            {
                int req = rng.Next(4) switch { 0 => rng.Next(1, 120), 1 => rng.Next(120, 1000), 2 => rng.Next(1000, 5000), _ => rng.Next(1, 70_000) };
                live.Add(a.Malloc(req));
            }
            if (step % 500 == 0)
            {
                long inUse = a.CheckHeap();
                Assert.Equal(a.HeapSize - firstChunk, inUse + a.FreeBytes());
            }
        }
        Assert.True(a.Trims > 0 && a.Consolidations > 0 && a.Grows > 0);
    }

    [Fact]
    public void MallocChunk_of_request2size_takes_the_same_chunks_as_malloc()
    {
        // The broker's path (chunk sizes computed once) against the public one, on the same random sequence.
        var rng = new Random(11);
        var byRequest = NewArena();
        var byChunk = NewArena();
        var live = new List<int>();
        for (int step = 0; step < 20_000; step++)
        {
            if (live.Count > 0 && rng.Next(100) < 48)
            {
                int i = rng.Next(live.Count);
                Assert.Equal(byRequest.Free(live[i]), byChunk.Free(live[i]));
                live[i] = live[^1];
                live.RemoveAt(live.Count - 1);
            }
            else
            {
                int req = rng.Next(3) switch { 0 => rng.Next(1, 120), 1 => rng.Next(120, 1000), _ => rng.Next(1, 70_000) };
                Assert.True(byChunk.Models(req));
                int c = byRequest.Malloc(req);
                Assert.Equal(c, byChunk.MallocChunk(GlibcArena.Request2Size(req)));
                live.Add(c);
            }
        }
        Assert.Equal(byRequest.CheckHeap(), byChunk.CheckHeap());
        Assert.Equal((byRequest.Mallocs, byRequest.Frees, byRequest.Trims, byRequest.Consolidations, byRequest.HeapSize),
            (byChunk.Mallocs, byChunk.Frees, byChunk.Trims, byChunk.Consolidations, byChunk.HeapSize));
        Assert.False(byChunk.Models(-1));
        Assert.False(byChunk.Models(new GlibcArenaSettings().HeapMaxSize / 2));
    }
}

public class QpiddHeapTests
{
    [Fact]
    public void Chunks_go_back_to_the_arena_that_allocated_them_in_fifo_order()
    {
        var h = new QpiddHeap(2, new GlibcArenaSettings(), [440, 72], 512, 24);
        h.Enqueue(0, 30);
        h.Enqueue(1, 15);
        Assert.Equal(45, h.Outstanding);
        Assert.Equal(30 * 2 + 1, h.Arenas[0].Mallocs); // pushing message 20 (the node's last slot) allocates the next node
        Assert.Equal(15 * 2 + 1, h.Arenas[1].Mallocs); // ... and pushing message 41 the one after
        h.Dequeue(30);
        Assert.Equal(30 * 2, h.Arenas[0].Frees); // popping message 20 frees the first node, which predates the model
        Assert.Equal(0, h.Arenas[1].Frees);
        h.Dequeue(15);
        Assert.Equal(30 * 2 + 1, h.Arenas[0].Frees); // popping message 41 frees the node thread 0 allocated
        Assert.Equal(15 * 2, h.Arenas[1].Frees); // thread 1's node is the deque's back node: still in use
        Assert.Equal(0, h.Outstanding);
    }

    [Fact]
    public void A_request_of_mmap_size_fails_when_a_message_is_enqueued_not_before()
    {
        var h = new QpiddHeap(1, new GlibcArenaSettings(), [440, 40 << 20], 512, 24);
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Enqueue(0, 1));
        Assert.Equal(1, h.Arenas[0].Mallocs); // the first request was taken before the second failed
    }

    [Fact]
    public void A_steady_fifo_of_same_sized_messages_reuses_chunks_and_never_calls_heap_trim()
    {
        // Messages of the qpidd shape (two binned chunks between fastbin chunks), allocated and
        // freed in batches of 700 with up to 1,400 outstanding.
        var h = new QpiddHeap(1, new GlibcArenaSettings(), [440, 72, 264, 40, 24, 33], 512, 24);
        h.Enqueue(0, 1400);
        long heap = h.Arenas[0].HeapSize;
        int trims = 0;
        for (int i = 0; i < 200; i++)
        {
            trims += h.Dequeue(700);
            h.Enqueue(0, 700);
        }
        Assert.Equal(0, trims);
        Assert.Equal(0, h.TrimAttempts);
        Assert.Equal(heap, h.Arenas[0].HeapSize); // no growth after the first fill
        h.Arenas[0].CheckHeap();
    }

    [Fact]
    public void When_the_queue_drains_after_a_consolidation_the_arena_gives_its_top_back()
    {
        // Without deque nodes (a node left in use would pin the top of the heap).
        var h = new QpiddHeap(1, new GlibcArenaSettings(), [440, 72, 264, 40, 24, 33], 0, 24);
        h.Enqueue(0, 2000);
        h.Dequeue(2000);
        Assert.Equal(0, h.Trims); // fastbin chunks keep everything apart
        h.Arenas[0].Consolidate(); // what a large request or a short top would do
        Assert.Equal(0, h.Trims);
        // The next large free touching the consolidated space calls heap_trim: the top now holds
        // the whole drained queue, so all but top_pad (+ less than two pages) goes back.
        var a = h.Arenas[0];
        int c = a.Malloc(70_000);
        Assert.True(a.Free(c) > 0);
        Assert.InRange(a.TopSize, 131072 + 32, 131072 + 32 + 4096);
    }

    [Fact]
    public void A_message_ring_rented_from_a_run_of_another_message_shape_still_wraps_and_grows_in_fifo_order()
    {
        // A run with one request per message (two ints per ring entry) grows its ring twice and
        // returns it; a run with five requests (six ints per entry) on the same thread then rents
        // that 131,072-int ring, whose length is not a multiple of six. Found by the riel-2011
        // uncertainty study (eighth session): the ring's growth copied by the array's length, not by
        // the entries it holds, and freed chunks that were never allocated. A new thread starts
        // with no spare arrays.
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                RentAfterAnotherMessageShape();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        Assert.Null(failure);
    }

    private static void RentAfterAnotherMessageShape()
    {
        var first = new QpiddHeap(1, new GlibcArenaSettings(), [24], 0, 24);
        first.Enqueue(0, 60_000);
        first.Dequeue(60_000);
        first.Dispose();
        var h = new QpiddHeap(1, new GlibcArenaSettings(), [440, 72, 264, 40, 24], 0, 24);
        for (int round = 0; round < 3; round++)
        {
            h.Enqueue(0, 15_000);
            h.Dequeue(10_000);
        }
        h.Enqueue(0, 20_000); // 35,000 outstanding: the ring (21,845 entries) grows while wrapped
        Assert.Equal(35_000, h.Outstanding);
        h.Dequeue(35_000);
        Assert.Equal(h.Arenas[0].Mallocs, h.Arenas[0].Frees);
        h.Arenas[0].CheckHeap();
        h.Dispose();
    }
}

public class GlibcArenaReuseTests
{
    /// <summary>A random malloc/free sequence that grows and trims the heap; returns every offset and the trim count.</summary>
    private static List<long> Exercise(GlibcArena a)
    {
        var rng = new Random(11);
        var live = new List<int>();
        var record = new List<long>();
        for (int step = 0; step < 8000; step++)
        {
            if (live.Count > 0 && rng.Next(100) < 48)
            {
                int i = rng.Next(live.Count);
                record.Add(-1 - a.Free(live[i]));
                live[i] = live[^1];
                live.RemoveAt(live.Count - 1);
            }
            else
            {
                int req = rng.Next(3) switch { 0 => rng.Next(1, 120), 1 => rng.Next(120, 5000), _ => rng.Next(1, 70_000) };
                int c = a.Malloc(req);
                live.Add(c);
                record.Add(c);
            }
        }
        record.Add(a.Trims);
        record.Add(a.Grows);
        return record;
    }

    [Fact]
    public void A_disposed_arena_leaves_a_clear_table_and_the_next_arena_on_the_thread_behaves_as_a_fresh_one()
    {
        List<long>? first = null, second = null;
        bool clear = false;
        int spares = -1;
        var settings = new GlibcArenaSettings { FirstRequest = 440, PreallocatedHeapBytes = 64 << 10 };
        var t = new Thread(() =>
        {
            var a = new GlibcArena(settings);
            first = Exercise(a);
            Assert.True(a.MaxHeapSize > settings.PreallocatedHeapBytes, "the sequence must grow the table past its first size");
            a.Dispose();
            spares = GlibcArena.SpareTables;
            clear = GlibcArena.SpareTablesAreClear();
            var b = new GlibcArena(settings); // gets the returned table
            second = Exercise(b);
            b.CheckHeap();
        });
        t.Start();
        t.Join();
        Assert.Equal(1, spares);
        Assert.True(clear, "Dispose cleared less than the arena wrote");
        Assert.Equal(first, second);
        Assert.Contains(first!, x => x < -1); // some frees trimmed
    }
}

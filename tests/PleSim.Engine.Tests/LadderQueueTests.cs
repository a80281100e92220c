using CsCheck;
using PleSim.Engine;

namespace PleSim.Engine.Tests;

/// <summary>
/// The ladder queue must pop in exactly the (time, key) order of a sorted reference, whatever
/// the schedule: ties, far outliers, interleaved pops and pushes, removals, growth.
/// </summary>
public class LadderQueueTests
{
    /// <summary>Removes entries whose argument is odd.</summary>
    private struct OddArg : IEntryPredicate
    {
        public readonly bool ShouldRemove(in HeapEntry entry) => (entry.Arg & 1) != 0;
    }

    private static int Compare((long Time, long Key, long Arg) a, (long Time, long Key, long Arg) b) =>
        a.Time != b.Time ? a.Time.CompareTo(b.Time) : a.Key.CompareTo(b.Key);

    /// <summary>
    /// Drives a queue with small thresholds (so the ladder, its rungs and the fold all run) and a
    /// sorted reference through the same random operations; returns false at the first difference.
    /// </summary>
    private static bool Agrees(int seed, int ops, long timeRange, int spill, int fold, int bucket, out bool sawLadder, out int maxRungs)
    {
        var rng = new Random(seed);
        var q = new LadderEventQueue(16, spill, fold, bucket);
        var reference = new SortedSet<(long Time, long Key, long Arg)>(Comparer<(long Time, long Key, long Arg)>.Create(Compare));
        long now = 0, key = 0;
        sawLadder = false;
        maxRungs = 0;
        for (int i = 0; i < ops; i++)
        {
            int op = rng.Next(100);
            if (op < 55 || reference.Count == 0)
            {
                // Push at now + delay: many ties (small range), and sometimes a far outlier.
                long t = rng.Next(20) == 0 ? now + rng.NextInt64(timeRange * 1000) : now + rng.NextInt64(timeRange);
                long arg = rng.NextInt64(1 << 20);
                q.Push(t, key, arg);
                reference.Add((t, key, arg));
                key++;
            }
            else if (op < 99)
            {
                var expected = reference.Min;
                reference.Remove(expected);
                var peek = q.PeekMin();
                var got = q.PopMin();
                if (peek.Time != got.Time || peek.Key != got.Key)
                    return false;
                if (got.Time != expected.Time || got.Key != expected.Key || got.Arg != expected.Arg)
                    return false;
                now = got.Time;
            }
            else
            {
                var pred = new OddArg();
                int removed = q.RemoveWhere(ref pred);
                int expectedRemoved = reference.RemoveWhere(e => (e.Arg & 1) != 0);
                if (removed != expectedRemoved)
                    return false;
            }
            if (q.Count != reference.Count)
                return false;
            sawLadder |= q.LadderActive;
            maxRungs = Math.Max(maxRungs, q.RungCount);
        }
        // Drain.
        while (reference.Count > 0)
        {
            var expected = reference.Min;
            reference.Remove(expected);
            var got = q.PopMin();
            if (got.Time != expected.Time || got.Key != expected.Key || got.Arg != expected.Arg)
                return false;
        }
        return q.Count == 0;
    }

    [Theory]
    [InlineData(8L)]          // heavy ties
    [InlineData(1_000L)]
    [InlineData(1_000_000L)]  // sparse
    public void Pop_order_equals_a_sorted_reference_with_ties_outliers_and_removals(long timeRange)
    {
        bool anyLadder = false;
        int deepest = 0;
        for (int seed = 1; seed <= 40; seed++)
        {
            Assert.True(Agrees(seed, 4_000, timeRange, spill: 64, fold: 16, bucket: 4, out bool ladder, out int rungs), $"seed {seed}");
            anyLadder |= ladder;
            deepest = Math.Max(deepest, rungs);
        }
        Assert.True(anyLadder, "the ladder was never switched on");
        Assert.True(deepest >= 2, $"no bucket was ever split into a finer rung (deepest {deepest})");
    }

    [Fact]
    public void Random_schedules_agree_with_the_reference()
    {
        Gen.Select(Gen.Int[1, int.MaxValue], Gen.Long[1, 100_000], Gen.Int[2, 64])
            .Sample((seed, range, bucket) => Agrees(seed, 1_500, range, spill: 40, fold: 10, bucket, out _, out _), iter: 300);
    }

    [Fact]
    public void Growth_to_a_large_population_keeps_the_order_and_switches_the_ladder_on_and_off()
    {
        var q = new LadderEventQueue(16);
        var rng = new Random(7);
        const int n = 100_000;
        var times = new long[n];
        for (int i = 0; i < n; i++)
        {
            times[i] = rng.NextInt64(1_000_000) / 10 * 10;   // many ties
            q.Push(times[i], i, -i);
        }
        Assert.Equal(n, q.Count);
        var order = Enumerable.Range(0, n).OrderBy(i => times[i]).ThenBy(i => i).ToArray();
        var first = q.PopMin();
        Assert.True(q.LadderActive);
        Assert.Equal(order[0], first.Key);
        for (int k = 1; k < n; k++)
        {
            var e = q.PopMin();
            Assert.Equal(times[order[k]], e.Time);
            Assert.Equal(order[k], e.Key);
            Assert.Equal(-order[k], e.Arg);
        }
        Assert.Equal(0, q.Count);
        Assert.False(q.LadderActive);
    }

    [Fact]
    public void Events_at_the_largest_time_are_kept()
    {
        var q = new LadderEventQueue(16, spillThreshold: 8, foldThreshold: 2, bucketThreshold: 2);
        for (int i = 0; i < 20; i++)
            q.Push(i % 2 == 0 ? long.MaxValue : i, i, 0);
        var popped = new List<(long, long)>();
        while (q.Count > 0)
        {
            var e = q.PopMin();
            popped.Add((e.Time, e.Key));
        }
        var expected = Enumerable.Range(0, 20).Select(i => (Time: i % 2 == 0 ? long.MaxValue : i, Key: (long)i))
            .OrderBy(x => x.Time).ThenBy(x => x.Key).Select(x => (x.Time, x.Key)).ToList();
        Assert.Equal(expected, popped);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_event_loop_allocates_nothing_in_steady_state_with_the_ladder_on(bool cancelHalf)
    {
        var sim = new Simulator(1024);
        var model = new HoldModel(sim, LadderEventQueue.SpillThreshold + 24_000, HoldModel.DrawDelays(1, 1 << 12, SimDuration.FromMilliseconds(1)), cancelHalf);
        // Warm up: the pool and rung tables reach their working size.
        sim.RunUntil(sim.Now + SimDuration.FromMilliseconds(30));
        long before = GC.GetAllocatedBytesForCurrentThread();
        long firedBefore = sim.EventsFired;
        sim.RunUntil(sim.Now + SimDuration.FromMilliseconds(20));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long fired = sim.EventsFired - firedBefore;
        Assert.True(fired >= 200_000, $"only {fired} events fired");
        Assert.Equal(0, allocated);
        GC.KeepAlive(model);
    }

    [Fact]
    public void Renumbering_above_the_spill_threshold_keeps_the_order()
    {
        var sim = new Simulator(16);
        var r = new Recorder();
        var id = sim.Register(r);
        var rng = new Random(3);
        int n = LadderEventQueue.SpillThreshold * 2;
        var expected = new List<(long Time, long Seq, long Arg)>();
        long seq = 0;
        for (int i = 0; i < n; i++)
        {
            long t = rng.NextInt64(1_000);
            sim.Schedule(new SimTime(t), id, i);
            expected.Add((t, seq++, i));
        }
        sim.RunUntil(new SimTime(10));   // the heap runs dry at least once with the ladder on
        expected.RemoveAll(e => e.Time <= 10);
        sim.SetNextSequenceForTest((1L << 39) - 2);
        for (int i = n; i < n + 10; i++)
        {
            long t = 20 + rng.NextInt64(1_000);
            sim.Schedule(new SimTime(t), id, i);
            expected.Add((t, seq++, i));
        }
        r.Fired.Clear();
        sim.RunToCompletion();
        var order = expected.OrderBy(x => x.Time).ThenBy(x => x.Seq).Select(x => (x.Time, x.Arg)).ToList();
        Assert.Equal(order, r.Fired);
    }
}

using PleSim.Engine;

namespace PleSim.Engine.Tests;

public class RunArraysTests
{
    /// <summary>Runs <paramref name="body"/> on a thread of its own, so no other test's spares are seen.</summary>
    private static void OnOwnThread(Action body)
    {
        Exception? failure = null;
        var t = new Thread(() => { try { body(); } catch (Exception e) { failure = e; } });
        t.Start();
        t.Join();
        if (failure is not null)
            throw new Xunit.Sdk.XunitException($"on the test thread: {failure}");
    }

    [Fact]
    public void A_returned_array_comes_back_all_zero_and_is_reused()
    {
        OnOwnThread(() =>
        {
            var a = RunArrays<long>.Rent(1000);
            Assert.Equal(1000, a.Length);
            for (int i = 0; i < 600; i++)
                a[i] = i + 1;
            RunArrays<long>.Return(a, 600);
            Assert.Equal(1, RunArrays<long>.SpareCount);
            Assert.True(RunArrays<long>.SparesAreClear());
            var b = RunArrays<long>.Rent(900);
            Assert.Same(a, b);
            Assert.All(b, x => Assert.Equal(0, x));
            Assert.Equal(0, RunArrays<long>.SpareCount);
        });
    }

    [Fact]
    public void Writes_beyond_the_declared_dirty_length_are_visible_to_the_check()
    {
        OnOwnThread(() =>
        {
            var a = RunArrays<int>.Rent(100);
            a[50] = 7;
            RunArrays<int>.Return(a, 40); // a caller that under-declares what it wrote
            Assert.False(RunArrays<int>.SparesAreClear());
        });
    }

    [Fact]
    public void The_smallest_spare_that_fits_is_rented_and_a_too_small_one_is_not()
    {
        OnOwnThread(() =>
        {
            var big = new byte[4096];
            var small = new byte[512];
            RunArrays<byte>.Return(big, 0);
            RunArrays<byte>.Return(small, 0);
            Assert.Same(small, RunArrays<byte>.Rent(300));
            Assert.Same(big, RunArrays<byte>.Rent(300));
            var fresh = RunArrays<byte>.Rent(300);
            Assert.NotSame(small, fresh);
            Assert.NotSame(big, fresh);
            Assert.Equal(300, fresh.Length);
        });
    }

    [Fact]
    public void Spares_are_per_thread_and_bounded()
    {
        OnOwnThread(() =>
        {
            for (int i = 0; i < RunArrays<short>.MaxSparePerThread + 5; i++)
                RunArrays<short>.Return(new short[10], 10);
            Assert.Equal(RunArrays<short>.MaxSparePerThread, RunArrays<short>.SpareCount);
            int seenElsewhere = -1;
            OnOwnThread(() => seenElsewhere = RunArrays<short>.SpareCount);
            Assert.Equal(0, seenElsewhere);
        });
    }
}

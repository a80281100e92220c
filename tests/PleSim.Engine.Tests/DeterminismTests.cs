using PleSim.Engine;

namespace PleSim.Engine.Tests;

public class DeterminismTests
{
    private static ulong HoldDigest(ulong seed, bool cancelHalf)
    {
        var sim = new Simulator();
        var model = new HoldModel(sim, 500, HoldModel.DrawDelays(seed, 1 << 12, SimDuration.FromMicroseconds(100)), cancelHalf);
        sim.RunUntil(new SimTime(20_000_000));
        GC.KeepAlive(model);
        return sim.Digest;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_same_seed_gives_the_same_event_digest(bool cancelHalf) =>
        Assert.Equal(HoldDigest(11, cancelHalf), HoldDigest(11, cancelHalf));

    [Fact]
    public void A_different_seed_gives_a_different_event_digest() =>
        Assert.NotEqual(HoldDigest(11, false), HoldDigest(12, false));

    [Fact]
    public void Runs_on_parallel_threads_give_the_digest_of_a_serial_run()
    {
        ulong serial = HoldDigest(5, true);
        var parallel = new ulong[4];
        Parallel.For(0, 4, i => parallel[i] = HoldDigest(5, true));
        Assert.All(parallel, d => Assert.Equal(serial, d));
    }
}

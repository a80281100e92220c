using PleSim.Engine;

namespace PleSim.Engine.Tests;

public class AllocationTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_event_loop_allocates_nothing_over_100000_events_in_steady_state(bool cancelHalf)
    {
        var sim = new Simulator(4096);
        var model = new HoldModel(sim, 1000, HoldModel.DrawDelays(1, 1 << 12, SimDuration.FromMilliseconds(1)), cancelHalf);
        // Warm up: tables grow to their working size, the JIT settles.
        sim.RunUntil(sim.Now + SimDuration.FromMilliseconds(50));
        long before = GC.GetAllocatedBytesForCurrentThread();
        long firedBefore = sim.EventsFired;
        sim.RunUntil(sim.Now + SimDuration.FromMilliseconds(120));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long fired = sim.EventsFired - firedBefore;
        Assert.True(fired >= 100_000, $"only {fired} events fired");
        Assert.Equal(0, allocated);
        GC.KeepAlive(model);
    }
}

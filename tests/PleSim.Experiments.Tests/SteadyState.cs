using PleSim.Engine;
using PleSim.Experiments.Running;

namespace PleSim.Experiments.Tests;

/// <summary>The allocation probe the steady-state tests share.</summary>
internal static class SteadyState
{
    /// <summary>
    /// Runs <paramref name="model"/> to <paramref name="warmUpToNs"/> (nothing more if it is there
    /// already), then to <paramref name="measureToNs"/>, and returns the bytes this thread
    /// allocated and the events fired in the measured window.
    /// </summary>
    public static (long Bytes, long Events) Measure(SystemRun model, long warmUpToNs, long measureToNs)
    {
        model.Sim.RunUntil(new SimTime(warmUpToNs));
        long before = GC.GetAllocatedBytesForCurrentThread();
        long e0 = model.Sim.EventsFired;
        model.Sim.RunUntil(new SimTime(measureToNs));
        return (GC.GetAllocatedBytesForCurrentThread() - before, model.Sim.EventsFired - e0);
    }
}

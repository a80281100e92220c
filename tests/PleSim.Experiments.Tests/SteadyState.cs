using PleSim.Engine;
using PleSim.Experiments.Running;

namespace PleSim.Experiments.Tests;

/// <summary>The allocation probe the steady-state tests share.</summary>
internal static class SteadyState
{
    /// <summary>
    /// Runs <paramref name="model"/> to <paramref name="warmUpToNs"/> (nothing more if it is there
    /// already), then to <paramref name="measureToNs"/> in two equal halves, and returns the bytes
    /// this thread allocated in the half that allocated less, and the events fired in the whole
    /// window. A per-event allocation shows in both halves; a one-time effect of the process (a
    /// type initialised for the first time, depending on which tests ran before) in one only.
    /// </summary>
    public static (long Bytes, long Events) Measure(SystemRun model, long warmUpToNs, long measureToNs)
    {
        model.Sim.RunUntil(new SimTime(warmUpToNs));
        long e0 = model.Sim.EventsFired;
        long mid = warmUpToNs + (measureToNs - warmUpToNs) / 2;
        long a0 = GC.GetAllocatedBytesForCurrentThread();
        model.Sim.RunUntil(new SimTime(mid));
        long a1 = GC.GetAllocatedBytesForCurrentThread();
        model.Sim.RunUntil(new SimTime(measureToNs));
        long a2 = GC.GetAllocatedBytesForCurrentThread();
        return (Math.Min(a1 - a0, a2 - a1), model.Sim.EventsFired - e0);
    }

    /// <summary>
    /// <see cref="Measure"/> on a new thread that also builds the model. Models that rent their
    /// large arrays from the thread's pool (<c>RunArrays</c>: the glibc arena chunk tables) get a
    /// spare array left by whichever test ran before on a pool thread, of any size, so whether a
    /// table grows inside the window depended on test order; a new thread has no spares.
    /// </summary>
    public static (long Bytes, long Events) MeasureOnNewThread(Func<SystemRun> build, long warmUpToNs, long measureToNs)
    {
        (long, long) result = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = Measure(build(), warmUpToNs, measureToNs);
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
            throw new InvalidOperationException("the measured run failed", failure);
        return result;
    }
}

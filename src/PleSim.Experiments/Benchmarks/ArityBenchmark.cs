using System.Diagnostics;
using PleSim.Engine;

namespace PleSim.Experiments.Benchmarks;

/// <summary>Hold-loop throughput of the bare <see cref="EventHeap{TArity}"/> for arity 2, 4 and 8.</summary>
public sealed record ArityMeasurement(int Population, double Binary, double Quaternary, double Octonary);

public static class ArityBenchmark
{
    public static IReadOnlyList<ArityMeasurement> Run(long events = 3_000_000, int trials = 3)
    {
        var delays = HoldModel.DrawDelays(1, 1 << 20, SimDuration.FromMilliseconds(1));
        var result = new List<ArityMeasurement>();
        foreach (int n in new[] { 1_000, 100_000 })
        {
            Trial<Arity2>(n, delays, Math.Min(events, 300_000));
            Trial<Arity4>(n, delays, Math.Min(events, 300_000));
            Trial<Arity8>(n, delays, Math.Min(events, 300_000));
            var r2 = new List<double>();
            var r4 = new List<double>();
            var r8 = new List<double>();
            for (int t = 0; t < trials; t++)
            {
                r2.Add(Trial<Arity2>(n, delays, events));
                r4.Add(Trial<Arity4>(n, delays, events));
                r8.Add(Trial<Arity8>(n, delays, events));
            }
            result.Add(new ArityMeasurement(n, Median(r2), Median(r4), Median(r8)));
        }
        return result;
    }

    public static double Trial<TArity>(int population, long[] delays, long events) where TArity : struct, IHeapArity
    {
        var heap = new EventHeap<TArity>(population);
        int mask = delays.Length - 1;
        int k = 0;
        long seq = 0;
        for (int i = 0; i < population; i++)
            heap.Push(delays[k++ & mask], seq++, i);
        for (long i = 0; i < 4L * population; i++)
        {
            var e = heap.PopMin();
            heap.Push(e.Time + delays[k++ & mask], seq++, e.Arg);
        }
        long t0 = Stopwatch.GetTimestamp();
        for (long i = 0; i < events; i++)
        {
            var e = heap.PopMin();
            heap.Push(e.Time + delays[k++ & mask], seq++, e.Arg);
        }
        return events / Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private static double Median(List<double> xs)
    {
        xs.Sort();
        return xs[xs.Count / 2];
    }
}

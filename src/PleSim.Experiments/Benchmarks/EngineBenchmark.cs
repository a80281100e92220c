using System.Diagnostics;
using PleSim.Engine;

namespace PleSim.Experiments.Benchmarks;

/// <summary>One measured configuration of the hold model.</summary>
public sealed record HoldMeasurement(
    string Variant,
    int Population,
    long Events,
    double EngineEventsPerSecond,
    double BaselineEventsPerSecond,
    double Ratio,
    double EngineBytesPerEvent,
    double BaselineBytesPerEvent,
    int Trials);

/// <summary>
/// <c>plesim bench engine</c>: the engine's hold model against a bare
/// <see cref="PriorityQueue{TElement, TPriority}"/> hold loop, in one process, on the same
/// sequence of exponential delays. Reports the median of several alternating trials.
/// </summary>
public static class EngineBenchmark
{
    private const int DelayTableSize = 1 << 20;
    private static readonly SimDuration MeanDelay = SimDuration.FromMilliseconds(1);

    /// <summary>Calls of each trial method in <see cref="WarmUp"/>: above tiered compilation's call-count threshold (30).</summary>
    public const int WarmUpCalls = 40;

    public static IReadOnlyList<HoldMeasurement> Run(long eventsPerTrial = 4_000_000, int trials = 5, Action<string>? log = null)
    {
        var delays = HoldModel.DrawDelays(seed: 1, DelayTableSize, MeanDelay);
        log?.Invoke("warming up (JIT) ...");
        WarmUp(delays, Math.Min(eventsPerTrial, 20_000));
        var results = new List<HoldMeasurement>();
        foreach (int n in new[] { 1_000, 100_000 })
        {
            foreach (bool cancelHalf in new[] { false, true })
            {
                string variant = cancelHalf ? "hold+cancel-half" : "hold";
                log?.Invoke($"measuring {variant} N={n:N0} ...");
                results.Add(Measure(n, cancelHalf, delays, eventsPerTrial, trials));
            }
        }
        return results;
    }

    /// <summary>
    /// A pass over every measured configuration before the first measured row, so that no row is
    /// measured on cold code. One call per trial method (as <see cref="Measure"/> makes) leaves a
    /// method in tier 0, its loop in on-stack-replacement code; the first row's baseline then ran
    /// at a fraction of the speed of the second row's at the same N. Here each trial method is
    /// called <see cref="WarmUpCalls"/> times, past the call-count threshold, and the background
    /// tier-1 compilation gets time to finish. Returns the number of trial calls made.
    /// </summary>
    public static int WarmUp(long[] delays, long eventsPerCall)
    {
        int calls = 0;
        // Two rounds: call counting starts only after tiered compilation's delay (100 ms without
        // new tier-0 code), and tier-1 code is compiled on a background thread.
        for (int round = 0; round < 2; round++)
        {
            for (int k = 0; k < WarmUpCalls; k++)
            {
                // A small population keeps the pass short; the code paths are those of every row.
                EngineTrial(1_000, cancelHalf: false, delays, eventsPerCall);
                EngineTrial(1_000, cancelHalf: true, delays, eventsPerCall);
                BaselineTrial(1_000, delays, eventsPerCall);
                calls += 3;
            }
            Thread.Sleep(250);
        }
        return calls;
    }

    public static HoldMeasurement Measure(int population, bool cancelHalf, long[] delays, long eventsPerTrial, int trials)
    {
        // Warm up both loops so tiered JIT has produced optimised code before timing.
        EngineTrial(population, cancelHalf, delays, Math.Min(eventsPerTrial, 500_000));
        BaselineTrial(population, delays, Math.Min(eventsPerTrial, 500_000));
        var engine = new List<(double Rate, double Bytes, long Events)>();
        var baseline = new List<(double Rate, double Bytes)>();
        for (int t = 0; t < trials; t++)
        {
            if (t % 2 == 0)
            {
                engine.Add(EngineTrial(population, cancelHalf, delays, eventsPerTrial));
                baseline.Add(BaselineTrial(population, delays, eventsPerTrial));
            }
            else
            {
                baseline.Add(BaselineTrial(population, delays, eventsPerTrial));
                engine.Add(EngineTrial(population, cancelHalf, delays, eventsPerTrial));
            }
        }
        double e = Median(engine.Select(x => x.Rate));
        double b = Median(baseline.Select(x => x.Rate));
        return new HoldMeasurement(
            cancelHalf ? "hold+cancel-half" : "hold",
            population,
            eventsPerTrial,
            e,
            b,
            e / b,
            engine.Max(x => x.Bytes),
            baseline.Max(x => x.Bytes),
            trials);
    }

    /// <summary>Runs the engine hold model for about <paramref name="events"/> events after setting it up.</summary>
    public static (double Rate, double Bytes, long Events) EngineTrial(int population, bool cancelHalf, long[] delays, long events)
    {
        var sim = new Simulator(population * (cancelHalf ? 4 : 2));
        var model = new HoldModel(sim, population, delays, cancelHalf);
        // Reach steady state (heap and slot tables at working size) before measuring.
        sim.RunUntil(sim.Now + MeanDelay * 4);
        long window = events * MeanDelay.Ns / population;
        long before = GC.GetAllocatedBytesForCurrentThread();
        long t0 = Stopwatch.GetTimestamp();
        long fired = sim.RunUntil(sim.Now + new SimDuration(window));
        long t1 = Stopwatch.GetTimestamp();
        long after = GC.GetAllocatedBytesForCurrentThread();
        GC.KeepAlive(model);
        double seconds = (t1 - t0) / (double)Stopwatch.Frequency;
        return (fired / seconds, (after - before) / (double)fired, fired);
    }

    /// <summary>The baseline: a bare PriorityQueue hold loop replaying the same delays.</summary>
    public static (double Rate, double Bytes) BaselineTrial(int population, long[] delays, long events)
    {
        int mask = delays.Length - 1;
        int next = 0;
        var pq = new PriorityQueue<int, long>(population);
        for (int i = 0; i < population; i++)
            pq.Enqueue(i, delays[next++ & mask]);
        // Same warm-up distance as the engine trial.
        long warm = 4L * population;
        for (long k = 0; k < warm; k++)
        {
            pq.TryDequeue(out int id, out long t);
            pq.Enqueue(id, t + delays[next++ & mask]);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        long t0 = Stopwatch.GetTimestamp();
        for (long k = 0; k < events; k++)
        {
            pq.TryDequeue(out int id, out long t);
            pq.Enqueue(id, t + delays[next++ & mask]);
        }
        long t1 = Stopwatch.GetTimestamp();
        long after = GC.GetAllocatedBytesForCurrentThread();
        double seconds = (t1 - t0) / (double)Stopwatch.Frequency;
        return (events / seconds, (after - before) / (double)events);
    }

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.OrderBy(x => x).ToArray();
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[(a.Length / 2) - 1] + a[a.Length / 2]) / 2;
    }
}

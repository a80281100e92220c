using System.Diagnostics;
using PleSim.Engine;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Running;

/// <summary>Runs scenarios: one seed at a time, or many in parallel with results in seed order.</summary>
public static class Runner
{
    /// <summary>Runs one seed: warm-up, statistics reset, measured window. Never throws for a model failure: the result says so.</summary>
    public static RunResult RunOne(Scenario scenario, ulong seed, RunOptions? options = null)
    {
        options ??= new RunOptions();
        long t0 = Stopwatch.GetTimestamp();
        IModelRun? model = null;
        try
        {
            model = ModelCatalog.Build(scenario, seed);
            options.Attach?.Invoke(model, scenario, seed);
            if (options.CheckInvariantsEvery > 0)
                model.Sim.Invariants.Enable(options.CheckInvariantsEvery);
            var warmEnd = SimTime.Zero + scenario.Warmup;
            Advance(model.Sim, warmEnd, seed, options);
            model.ResetStatistics();
            // Two halves, with a mark between them: the same events in the same order as one advance.
            // A run that stopped in the first half (a benchmark that finished) ends there: a new
            // advance would clear the stop.
            Advance(model.Sim, warmEnd + new SimDuration(scenario.Duration.Ns / 2), seed, options);
            if (!model.Sim.StopRequested)
            {
                model.MarkMidWindow();
                Advance(model.Sim, warmEnd + scenario.Duration, seed, options);
            }
            if (options.CheckInvariantsEvery > 0)
                model.Sim.Invariants.CheckAll();
            options.AfterRun?.Invoke(model, seed);
            var result = new RunResult { Seed = seed, Events = model.Sim.EventsFired, EventDigest = model.Sim.Digest };
            model.Collect(result, scenario.Duration);
            result.WallSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            return result;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (model is not null)
                options.AfterRun?.Invoke(model, seed);
            var at = model is null ? "" : $" (at simulated time {model.Sim.Now})";
            return new RunResult
            {
                Seed = seed,
                Error = $"{e.GetType().Name}: {e.Message}{at}",
                Events = model?.Sim.EventsFired ?? 0,
                EventDigest = model?.Sim.Digest ?? 0,
                WallSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds,
            };
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// Runs <paramref name="seeds"/> on up to <paramref name="parallelism"/> cores (default: all);
    /// returns results in the order of <paramref name="seeds"/>. <paramref name="onDone"/> is
    /// called (from worker threads) as each run finishes.
    /// </summary>
    public static RunResult[] RunMany(
        Scenario scenario,
        IReadOnlyList<ulong> seeds,
        RunOptions? options = null,
        int parallelism = 0,
        Action<RunResult>? onDone = null,
        CancellationToken cancel = default)
    {
        var results = new RunResult[seeds.Count];
        var po = new ParallelOptions
        {
            MaxDegreeOfParallelism = parallelism > 0 ? parallelism : Environment.ProcessorCount,
            CancellationToken = cancel,
        };
        Parallel.For(0, seeds.Count, po, i =>
        {
            results[i] = RunOne(scenario, seeds[i], options);
            onDone?.Invoke(results[i]);
        });
        return results;
    }

    /// <summary>
    /// <c>RunUntil(end)</c>, in slices of <see cref="RunOptions.ProgressEvery"/> when someone
    /// watches progress; a stop (a benchmark finished) ends the phase as it does in one call.
    /// </summary>
    private static void Advance(Simulator sim, SimTime end, ulong seed, RunOptions options)
    {
        if (options.Progress is not { } report || options.ProgressEvery.Ns <= 0)
        {
            sim.RunUntil(end);
            return;
        }
        while (sim.Now < end)
        {
            long next = Math.Min(end.Ns, sim.Now.Ns + options.ProgressEvery.Ns);
            sim.RunUntil(new SimTime(next));
            report(seed, sim.Now);
            if (sim.StopRequested)
                return;
        }
    }

    /// <summary>The seeds of a scenario's runs: <c>seed, seed+1, …</c>, or just <paramref name="seedOverride"/>'s sequence.</summary>
    public static ulong[] Seeds(Scenario scenario, int? runs = null, ulong? seedOverride = null)
    {
        int n = runs ?? scenario.Runs;
        ulong first = seedOverride ?? scenario.Seed;
        return Enumerable.Range(0, n).Select(i => first + (ulong)i).ToArray();
    }
}

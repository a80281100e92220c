using PleSim.Engine;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Running;

/// <summary>The metrics of one slice of a run's measured window, [<see cref="From"/>, <see cref="To"/>).</summary>
public sealed record TimelineWindow(SimTime From, SimTime To, RunResult Result);

/// <summary>
/// A run's measured window cut into consecutive slices, each measured on its own (statistics reset at
/// its start), so a user sees whether the window is steady or still in a start-up transient. The
/// slices come from a separate simulation of the same seed: resetting statistics does not change what
/// the model computes (a test compares the event digests), so the slices are the same trajectory as
/// the run whose whole-window metrics are reported.
/// </summary>
public static class Timeline
{
    /// <summary>At most this many slices per run, so a tiny step cannot flood memory or the screen.</summary>
    public const int MaxWindows = 200;

    /// <summary>The number of slices a step cuts the scenario's window into (the last may be shorter).</summary>
    public static long Windows(Scenario scenario, SimDuration step) =>
        step.Ns <= 0 ? 0 : (scenario.Duration.Ns + step.Ns - 1) / step.Ns;

    /// <summary>Runs one seed and measures every slice of <paramref name="step"/> after the warm-up. Never throws for a model failure: the failing slice carries the error.</summary>
    public static TimelineWindow[] Run(Scenario scenario, ulong seed, SimDuration step, RunOptions? options = null)
    {
        if (step.Ns <= 0)
            throw new ArgumentOutOfRangeException(nameof(step), "the timeline step must be positive");
        options ??= new RunOptions();
        var windows = new List<TimelineWindow>();
        IModelRun? model = null;
        var from = SimTime.Zero + scenario.Warmup;
        try
        {
            model = ModelCatalog.Build(scenario, seed);
            options.Attach?.Invoke(model, scenario, seed);
            model.Sim.RunUntil(from);
            var end = from + scenario.Duration;
            while (from < end && !model.Sim.StopRequested)
            {
                var to = new SimTime(Math.Min(end.Ns, from.Ns + step.Ns));
                model.ResetStatistics();
                model.Sim.RunUntil(to);
                if (model.Sim.StopRequested)
                    to = model.Sim.Now; // the benchmark finished inside this slice
                var r = new RunResult { Seed = seed, Events = model.Sim.EventsFired, EventDigest = model.Sim.Digest };
                model.Collect(r, new SimDuration(to.Ns - from.Ns));
                windows.Add(new TimelineWindow(from, to, r));
                from = to;
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var at = model is null ? "" : $" (at simulated time {model.Sim.Now})";
            windows.Add(new TimelineWindow(from, model?.Sim.Now ?? from, new RunResult
            {
                Seed = seed,
                Error = $"{e.GetType().Name}: {e.Message}{at}",
                Events = model?.Sim.EventsFired ?? 0,
                EventDigest = model?.Sim.Digest ?? 0,
            }));
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
        return [.. windows];
    }
}

using PleSim.Engine;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Running;

/// <summary>A model built for one run: the runner drives its simulator through warm-up and measurement.</summary>
public interface IModelRun
{
    Simulator Sim { get; }

    /// <summary>Called at the end of the warm-up: statistics start from here.</summary>
    void ResetStatistics();

    /// <summary>
    /// Called halfway through the measured window (not when the run stopped before it), so that
    /// <see cref="Collect"/> can say how much the window's two halves differ (<c>VM.host_share_drift</c>).
    /// </summary>
    void MarkMidWindow() { }

    /// <summary>Writes the metrics and tables of the measured window into <paramref name="result"/>.</summary>
    void Collect(RunResult result, SimDuration measured);
}

/// <summary>Options that change how a run is observed, never what it computes.</summary>
public sealed record RunOptions
{
    /// <summary>Check registered invariants every this many events (0 = off).</summary>
    public long CheckInvariantsEvery { get; init; }

    /// <summary>Receives the model (and the run's seed) before it runs, e.g. to attach a trace writer.</summary>
    public Action<IModelRun, Scenario, ulong>? Attach { get; init; }

    /// <summary>Called when the run ended (successfully or not), before its results are collected.</summary>
    public Action<IModelRun, ulong>? AfterRun { get; init; }

    /// <summary>
    /// Called with (seed, simulated time reached) every <see cref="ProgressEvery"/> of simulated
    /// time, for progress bars. The run is then advanced in slices of that length, which fires the
    /// same events in the same order (a test compares the event digests).
    /// </summary>
    public Action<ulong, SimTime>? Progress { get; init; }

    /// <summary>The simulated time between two <see cref="Progress"/> calls.</summary>
    public SimDuration ProgressEvery { get; init; } = SimDuration.FromMilliseconds(50);
}

/// <summary>Builds the model a scenario's kind names.</summary>
public static class ModelCatalog
{
    private static readonly Dictionary<string, Func<Scenario, ulong, IModelRun>> Builders = new(StringComparer.Ordinal)
    {
        ["engine-hold"] = (s, seed) => new EngineHoldRun(s.EngineHold!, seed),
        ["system"] = (s, seed) => new SystemRun(s, seed),
    };

    public static IModelRun Build(Scenario scenario, ulong seed) =>
        Builders.TryGetValue(scenario.Kind, out var build)
            ? build(scenario, seed)
            : throw new InvalidOperationException($"no model for kind '{scenario.Kind}'");

    /// <summary>Lets a higher layer add a kind (the system model registers itself).</summary>
    public static void Register(string kind, Func<Scenario, ulong, IModelRun> build)
    {
        lock (Builders)
            Builders[kind] = build;
    }
}

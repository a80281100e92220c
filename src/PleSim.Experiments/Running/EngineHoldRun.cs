using PleSim.Engine;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Running;

/// <summary>The <c>engine-hold</c> scenario kind: the classic hold model with exponential delays.</summary>
internal sealed class EngineHoldRun : IModelRun
{
    private readonly HoldModel _model;
    private long _eventsAtReset;

    public EngineHoldRun(EngineHoldSettings settings, ulong seed)
    {
        Sim = new Simulator(settings.Population * 2);
        var delays = HoldModel.DrawDelays(seed, 1 << 16, settings.MeanDelay);
        _model = new HoldModel(Sim, settings.Population, delays, settings.CancelHalf);
    }

    public Simulator Sim { get; }

    public void ResetStatistics() => _eventsAtReset = Sim.EventsFired;

    public void Collect(RunResult result, SimDuration measured)
    {
        long events = Sim.EventsFired - _eventsAtReset;
        result.AddMetric("events", events);
        result.AddMetric("events_per_sim_second", events / measured.TotalSeconds);
        result.AddMetric("pending", Sim.PendingCount);
        result.AddMetric("watchdog_fires", _model.WatchdogFires);
    }
}

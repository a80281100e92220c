namespace PleSim.Engine;

/// <summary>
/// Something that reacts to an event: a component (a CPU, a timer, a workload) rather than a
/// capturing lambda, so scheduling an event allocates nothing. Register it once with
/// <see cref="Simulator.Register"/>; the argument is the value passed to
/// <see cref="Simulator.Schedule(SimTime, HandlerId, long)"/>.
/// </summary>
public interface IEventHandler
{
    void OnEvent(Simulator sim, long arg);
}

namespace PleSim.Engine;

/// <summary>
/// The classic "hold" model for measuring event sets: <see cref="Population"/> events are
/// pending; each one that fires schedules one more at now + an exponential delay, so the
/// population stays constant. With <see cref="CancelHalf"/>, each firing also re-arms a
/// watchdog <see cref="HrTimer"/> (cancelling its previous, still-pending expiry), so half of
/// all events scheduled are cancelled before they fire.
/// </summary>
public sealed class HoldModel : IEventHandler
{
    private readonly Simulator _sim;
    private readonly long[] _delaysNs;
    private readonly int _mask;
    private readonly HrTimer? _watchdog;
    private readonly HandlerId _id;
    private int _next;

    /// <param name="sim">The simulator to load.</param>
    /// <param name="population">Events kept pending.</param>
    /// <param name="delaysNs">Delays drawn in order (length a power of two, reused cyclically),
    /// so a baseline can replay exactly the same sequence.</param>
    /// <param name="cancelHalf">Also re-arm a watchdog timer on every firing.</param>
    public HoldModel(Simulator sim, int population, long[] delaysNs, bool cancelHalf)
    {
        if (delaysNs.Length == 0 || (delaysNs.Length & (delaysNs.Length - 1)) != 0)
            throw new ArgumentException("the delay table length must be a power of two", nameof(delaysNs));
        _sim = sim;
        _delaysNs = delaysNs;
        _mask = delaysNs.Length - 1;
        Population = population;
        CancelHalf = cancelHalf;
        _id = sim.Register(this);
        if (cancelHalf)
            _watchdog = new HrTimer(sim, this, WatchdogArg);
        for (int i = 0; i < population; i++)
            sim.Schedule(sim.Now + new SimDuration(NextDelay()), _id, i);
    }

    public int Population { get; }
    public bool CancelHalf { get; }

    /// <summary>Expiries of the watchdog (rare: it is re-armed on every event).</summary>
    public long WatchdogFires { get; private set; }

    private const long WatchdogArg = -1;

    /// <summary>Draws <paramref name="count"/> exponential delays with the given mean from a named stream.</summary>
    public static long[] DrawDelays(ulong seed, int count, SimDuration mean)
    {
        var rng = new RandomStream(seed, "hold.delays");
        var delays = new long[count];
        for (int i = 0; i < count; i++)
            delays[i] = rng.Exponential(mean).Ns;
        return delays;
    }

    public long NextDelay() => _delaysNs[_next++ & _mask];

    public void OnEvent(Simulator sim, long arg)
    {
        if (arg == WatchdogArg)
        {
            WatchdogFires++;
            return;
        }
        sim.Schedule(new SimTime(sim.Now.Ns + _delaysNs[_next++ & _mask]), _id, arg);
        _watchdog?.Start(new SimTime(sim.Now.Ns + _delaysNs[_next++ & _mask]));
    }
}

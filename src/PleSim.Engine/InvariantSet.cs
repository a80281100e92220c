namespace PleSim.Engine;

/// <summary>A check that a component registers, e.g. "no task is on two CPUs".</summary>
public interface IInvariant
{
    /// <summary>Short name shown when the check fails.</summary>
    string Name { get; }

    /// <summary>Returns null when the invariant holds, else a description of the violation.</summary>
    string? Check();
}

/// <summary>Thrown when a registered invariant fails; carries the simulated time and the check's message.</summary>
public sealed class InvariantViolationException : Exception
{
    public InvariantViolationException(string invariant, SimTime at, string message)
        : base($"invariant '{invariant}' violated at {at}: {message}")
    {
        Invariant = invariant;
        At = at;
    }

    public string Invariant { get; }
    public SimTime At { get; }
}

/// <summary>
/// The invariant hook: components register checks at construction; nothing runs until
/// <see cref="Enable"/> is called (tests do; <c>plesim run --check-invariants</c> does).
/// </summary>
public sealed class InvariantSet
{
    private readonly Simulator _sim;
    private readonly List<IInvariant> _checks = [];

    internal InvariantSet(Simulator sim) => _sim = sim;

    public IReadOnlyList<IInvariant> Registered => _checks;

    /// <summary>Events between two checks when enabled (0 = disabled).</summary>
    public long Interval { get; private set; }

    public bool Enabled => Interval > 0;

    /// <summary>Number of times every check ran.</summary>
    public long ChecksRun { get; private set; }

    public void Register(IInvariant check) => _checks.Add(check);

    /// <summary>Checks every <paramref name="everyNEvents"/> fired events (1 = after each event).</summary>
    public void Enable(long everyNEvents = 1)
    {
        if (everyNEvents <= 0)
            throw new ArgumentOutOfRangeException(nameof(everyNEvents), everyNEvents, "must be positive");
        Interval = everyNEvents;
        _sim.SetInvariantInterval(everyNEvents);
    }

    public void Disable()
    {
        Interval = 0;
        _sim.SetInvariantInterval(0);
    }

    /// <summary>Runs every check now; throws <see cref="InvariantViolationException"/> on the first failure.</summary>
    public void CheckAll()
    {
        ChecksRun++;
        foreach (var c in _checks)
        {
            var problem = c.Check();
            if (problem is not null)
                throw new InvariantViolationException(c.Name, _sim.Now, problem);
        }
    }
}

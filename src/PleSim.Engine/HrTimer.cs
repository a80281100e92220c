namespace PleSim.Engine;

/// <summary>
/// A re-armable, cancellable one-shot timer, named after the kernel's <c>struct hrtimer</c>.
/// Owned by one component; arming an armed timer moves it. Cancelling is O(1): the timer
/// bumps its generation, and the old heap entry, which carries the old generation as its
/// argument, is skipped when it reaches the top.
/// </summary>
public sealed class HrTimer : ICancellableHandler
{
    private readonly Simulator _sim;
    private readonly IEventHandler _callback;
    private readonly HandlerId _id;
    private long _generation;

    public HrTimer(Simulator sim, IEventHandler callback, long arg = 0)
    {
        _sim = sim;
        _callback = callback;
        _id = sim.Register(this);
        Arg = arg;
    }

    /// <summary>The value passed to the callback.</summary>
    public long Arg { get; set; }

    /// <summary>True while the timer is armed and has not fired.</summary>
    public bool IsArmed { get; private set; }

    /// <summary>When the armed timer will fire (meaningless when not armed).</summary>
    public SimTime Expires { get; private set; }

    /// <summary>Arms (or re-arms) the timer for an absolute time (<c>hrtimer_start</c>, HRTIMER_MODE_ABS).</summary>
    public void Start(SimTime expires)
    {
        if (IsArmed)
            _sim.NoteCancelled();
        Expires = expires;
        IsArmed = true;
        _sim.Schedule(expires, _id, ++_generation);
    }

    /// <summary>Arms (or re-arms) the timer relative to now (HRTIMER_MODE_REL).</summary>
    public void StartAfter(SimDuration delay) => Start(_sim.Now + delay);

    /// <summary>Disarms the timer (<c>hrtimer_cancel</c>); returns whether it was armed.</summary>
    public bool Cancel()
    {
        if (!IsArmed)
            return false;
        IsArmed = false;
        _generation++;
        _sim.NoteCancelled();
        return true;
    }

    /// <summary>
    /// Moves <see cref="Expires"/> forward by whole <paramref name="interval"/>s until it is after
    /// <paramref name="now"/> and re-arms (<c>hrtimer_forward</c> + restart); returns the number
    /// of intervals skipped. Used by periodic ticks.
    /// </summary>
    public long Forward(SimTime now, SimDuration interval)
    {
        if (interval.Ns <= 0)
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "interval must be positive");
        long overruns = 1;
        var next = Expires + interval;
        if (next <= now)
        {
            long behind = ((now - next).Ns / interval.Ns) + 1;
            next += interval * behind;
            overruns += behind;
        }
        Start(next);
        return overruns;
    }

    public bool IsStale(long arg) => arg != _generation || !IsArmed;

    void IEventHandler.OnEvent(Simulator sim, long arg)
    {
        if (arg != _generation || !IsArmed)
        {
            sim.NoteStaleEvent();
            return;
        }
        IsArmed = false;
        _callback.OnEvent(sim, Arg);
    }
}

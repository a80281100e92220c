namespace PleSim.Engine;

/// <summary>
/// A point in simulated time: nanoseconds since the start of the run (64-bit, so about 292 years).
/// Distinct from <see cref="SimDuration"/> so that a time and a span cannot be confused.
/// </summary>
public readonly record struct SimTime(long Ns) : IComparable<SimTime>
{
    public static readonly SimTime Zero = new(0);
    public static readonly SimTime MaxValue = new(long.MaxValue);

    public static SimTime operator +(SimTime t, SimDuration d) => new(t.Ns + d.Ns);
    public static SimTime operator -(SimTime t, SimDuration d) => new(t.Ns - d.Ns);
    public static SimDuration operator -(SimTime a, SimTime b) => new(a.Ns - b.Ns);
    public static bool operator <(SimTime a, SimTime b) => a.Ns < b.Ns;
    public static bool operator >(SimTime a, SimTime b) => a.Ns > b.Ns;
    public static bool operator <=(SimTime a, SimTime b) => a.Ns <= b.Ns;
    public static bool operator >=(SimTime a, SimTime b) => a.Ns >= b.Ns;

    public static SimTime Min(SimTime a, SimTime b) => a.Ns <= b.Ns ? a : b;
    public static SimTime Max(SimTime a, SimTime b) => a.Ns >= b.Ns ? a : b;

    /// <summary>Time since the start of the run.</summary>
    public SimDuration SinceStart => new(Ns);

    public int CompareTo(SimTime other) => Ns.CompareTo(other.Ns);

    public override string ToString() => "@" + TimeUnits.Format(Ns);

    /// <summary>Parses a time written as a duration since the start (<c>2s</c>, <c>@2s</c>).</summary>
    public static SimTime Parse(string text)
    {
        var t = text.TrimStart('@');
        return new SimTime(SimDuration.Parse(t).Ns);
    }
}

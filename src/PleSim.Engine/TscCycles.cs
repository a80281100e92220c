namespace PleSim.Engine;

/// <summary>
/// A count of time-stamp-counter cycles. PLE's <c>ple_gap</c> and <c>ple_window</c> and VM-exit
/// costs are specified in cycles; they become <see cref="SimDuration"/>s only through a
/// <see cref="TscFrequency"/>.
/// </summary>
public readonly record struct TscCycles(long Value) : IComparable<TscCycles>
{
    public static TscCycles operator +(TscCycles a, TscCycles b) => new(a.Value + b.Value);
    public static TscCycles operator -(TscCycles a, TscCycles b) => new(a.Value - b.Value);
    public static bool operator <(TscCycles a, TscCycles b) => a.Value < b.Value;
    public static bool operator >(TscCycles a, TscCycles b) => a.Value > b.Value;
    public static bool operator <=(TscCycles a, TscCycles b) => a.Value <= b.Value;
    public static bool operator >=(TscCycles a, TscCycles b) => a.Value >= b.Value;
    public int CompareTo(TscCycles other) => Value.CompareTo(other.Value);
    public override string ToString() => $"{Value} cycles";
}

/// <summary>A TSC frequency in Hz: converts between cycles and simulated time (integer arithmetic, rounding up).</summary>
public readonly record struct TscFrequency
{
    public long Hz { get; }

    public TscFrequency(long hz)
    {
        if (hz <= 0)
            throw new ArgumentOutOfRangeException(nameof(hz), hz, "a TSC frequency must be positive");
        Hz = hz;
    }

    public static TscFrequency FromMegahertz(long mhz) => new(checked(mhz * 1_000_000));

    /// <summary>Time that <paramref name="cycles"/> take, rounded up to a whole nanosecond
    /// (so a non-zero cost never becomes free).</summary>
    public SimDuration ToDuration(TscCycles cycles)
    {
        Int128 num = (Int128)cycles.Value * 1_000_000_000;
        Int128 q = Int128.DivRem(num, Hz).Quotient;
        if (q * Hz != num && num > 0)
            q++;
        return new SimDuration((long)q);
    }

    /// <summary>Cycles that elapse in <paramref name="d"/>, rounded down.</summary>
    public TscCycles ToCycles(SimDuration d) => new((long)((Int128)d.Ns * Hz / 1_000_000_000));

    public override string ToString() => $"{Hz / 1e6:0.###} MHz";
}

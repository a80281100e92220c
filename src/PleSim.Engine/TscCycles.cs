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
        // The same integer arithmetic in 64 bits when the product fits (below ~9.2e9 cycles): a
        // 128-bit division is a library call, and spin loops convert on every contended acquisition.
        long high = Math.BigMul(cycles.Value, 1_000_000_000, out long low);
        if (high == 0 && low >= 0)
        {
            long q64 = Math.DivRem(low, Hz, out long rem);
            return new SimDuration(rem != 0 ? q64 + 1 : q64);
        }
        Int128 num = (Int128)cycles.Value * 1_000_000_000;
        Int128 q = Int128.DivRem(num, Hz).Quotient;
        if (q * Hz != num && num > 0)
            q++;
        return new SimDuration((long)q);
    }

    /// <summary>Cycles that elapse in <paramref name="d"/>, rounded down.</summary>
    public TscCycles ToCycles(SimDuration d)
    {
        // 64-bit when the product fits (below ~3.2 s at 2.9 GHz), as in ToDuration.
        long high = Math.BigMul(d.Ns, Hz, out long low);
        if (high == 0 && low >= 0)
            return new(low / 1_000_000_000);
        return new((long)((Int128)d.Ns * Hz / 1_000_000_000));
    }

    public override string ToString() => $"{Hz / 1e6:0.###} MHz";
}

using System.Globalization;

namespace PleSim.Engine;

/// <summary>
/// A span of simulated time, a signed 64-bit count of nanoseconds. Written and read with
/// units (<c>750us</c>, <c>3ms</c>, <c>2s</c>); <see cref="ToString()"/> round-trips through
/// <see cref="Parse(string)"/>.
/// </summary>
public readonly record struct SimDuration(long Ns) : IComparable<SimDuration>
{
    public static readonly SimDuration Zero = new(0);
    public static readonly SimDuration MaxValue = new(long.MaxValue);

    public static SimDuration FromNanoseconds(long ns) => new(ns);
    public static SimDuration FromMicroseconds(long us) => new(checked(us * 1_000));
    public static SimDuration FromMilliseconds(long ms) => new(checked(ms * 1_000_000));
    public static SimDuration FromSeconds(long s) => new(checked(s * 1_000_000_000));

    /// <summary>Nearest nanosecond to a (deterministically computed) number of seconds.</summary>
    public static SimDuration FromSecondsDouble(double seconds) => new((long)Math.Round(seconds * 1e9));

    public double TotalSeconds => Ns / 1e9;
    public double TotalMilliseconds => Ns / 1e6;
    public double TotalMicroseconds => Ns / 1e3;

    public static SimDuration operator +(SimDuration a, SimDuration b) => new(a.Ns + b.Ns);
    public static SimDuration operator -(SimDuration a, SimDuration b) => new(a.Ns - b.Ns);
    public static SimDuration operator -(SimDuration a) => new(-a.Ns);
    public static SimDuration operator *(SimDuration a, long k) => new(a.Ns * k);
    public static SimDuration operator *(long k, SimDuration a) => new(a.Ns * k);
    public static SimDuration operator /(SimDuration a, long k) => new(a.Ns / k);
    public static long operator /(SimDuration a, SimDuration b) => a.Ns / b.Ns;
    public static bool operator <(SimDuration a, SimDuration b) => a.Ns < b.Ns;
    public static bool operator >(SimDuration a, SimDuration b) => a.Ns > b.Ns;
    public static bool operator <=(SimDuration a, SimDuration b) => a.Ns <= b.Ns;
    public static bool operator >=(SimDuration a, SimDuration b) => a.Ns >= b.Ns;

    public static SimDuration Min(SimDuration a, SimDuration b) => a.Ns <= b.Ns ? a : b;
    public static SimDuration Max(SimDuration a, SimDuration b) => a.Ns >= b.Ns ? a : b;

    public int CompareTo(SimDuration other) => Ns.CompareTo(other.Ns);

    /// <summary>Exact text with the largest unit that keeps the value readable, e.g. <c>1.5ms</c>.</summary>
    public override string ToString() => TimeUnits.Format(Ns);

    public static SimDuration Parse(string text) =>
        TryParse(text, out var d, out var error) ? d : throw new FormatException(error);

    /// <summary>
    /// Parses a number with a unit suffix: <c>ns</c>, <c>us</c> (or <c>µs</c>), <c>ms</c>, <c>s</c>,
    /// <c>min</c>. Fractions are allowed when the result is a whole number of nanoseconds
    /// (<c>1.5ms</c>, not <c>0.5ns</c>). A bare <c>0</c> needs no unit.
    /// </summary>
    public static bool TryParse(string? text, out SimDuration value, out string error)
    {
        value = Zero;
        if (!TimeUnits.TryParseNs(text, out var ns, out error))
            return false;
        value = new SimDuration(ns);
        return true;
    }
}

/// <summary>Unit parsing and printing shared by <see cref="SimDuration"/> and <see cref="SimTime"/>.</summary>
public static class TimeUnits
{
    private static readonly (string Suffix, long Ns)[] Units =
    [
        ("min", 60_000_000_000L), ("ms", 1_000_000L), ("us", 1_000L), ("µs", 1_000L), ("ns", 1L), ("s", 1_000_000_000L),
    ];

    /// <summary>The suffixes accepted, for error messages.</summary>
    public const string Accepted = "ns, us, ms, s or min, e.g. 750us, 3ms, 2s";

    public static bool TryParseNs(string? text, out long ns, out string error)
    {
        ns = 0;
        error = "";
        if (string.IsNullOrWhiteSpace(text))
        {
            error = $"expected a duration with a unit ({Accepted}), got an empty value";
            return false;
        }
        var t = text.Trim();
        foreach (var (suffix, scale) in Units)
        {
            if (!t.EndsWith(suffix, StringComparison.Ordinal))
                continue;
            var number = t[..^suffix.Length].Trim();
            // "ms" also ends with "s": make sure the number part is numeric.
            if (!decimal.TryParse(number, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var d))
                continue;
            decimal total;
            try
            {
                total = d * scale;
            }
            catch (OverflowException)
            {
                error = $"'{text}' is too large for a 64-bit nanosecond count";
                return false;
            }
            if (total != decimal.Truncate(total))
            {
                error = $"'{text}' is not a whole number of nanoseconds";
                return false;
            }
            if (total > long.MaxValue || total < long.MinValue)
            {
                error = $"'{text}' is too large for a 64-bit nanosecond count";
                return false;
            }
            ns = (long)total;
            return true;
        }
        if (t == "0")
            return true;
        error = $"expected a duration with a unit ({Accepted}), got '{text}'";
        return false;
    }

    public static string Format(long ns)
    {
        if (ns == 0)
            return "0s";
        if (ns == long.MaxValue)
            return "forever";
        long abs = ns < 0 ? -ns : ns;
        (string suffix, long scale) = abs >= 1_000_000_000 ? ("s", 1_000_000_000L)
            : abs >= 1_000_000 ? ("ms", 1_000_000L)
            : abs >= 1_000 ? ("us", 1_000L)
            : ("ns", 1L);
        decimal v = (decimal)ns / scale;
        return v.ToString("0.#########", CultureInfo.InvariantCulture) + suffix;
    }
}

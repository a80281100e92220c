using CsCheck;
using PleSim.Engine;

namespace PleSim.Engine.Tests;

public class TimeTests
{
    [Theory]
    [InlineData("750us", 750_000)]
    [InlineData("3ms", 3_000_000)]
    [InlineData("2s", 2_000_000_000)]
    [InlineData("1.5ms", 1_500_000)]
    [InlineData("100ns", 100)]
    [InlineData("5µs", 5_000)]
    [InlineData("2min", 120_000_000_000)]
    [InlineData("0", 0)]
    [InlineData(" 4 ms ", 4_000_000)]
    public void Durations_parse_with_units(string text, long ns) =>
        Assert.Equal(ns, SimDuration.Parse(text).Ns);

    [Theory]
    [InlineData("3", "expected a duration with a unit")]
    [InlineData("3 parsecs", "expected a duration with a unit")]
    [InlineData("0.5ns", "not a whole number of nanoseconds")]
    [InlineData("", "empty value")]
    [InlineData("99999999999s", "too large")]
    public void Bad_durations_say_what_was_expected(string text, string fragment)
    {
        Assert.False(SimDuration.TryParse(text, out _, out var error));
        Assert.Contains(fragment, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1_500_000, "1.5ms")]
    [InlineData(750_000, "750us")]
    [InlineData(2_000_000_000, "2s")]
    [InlineData(42, "42ns")]
    [InlineData(0, "0s")]
    [InlineData(-3_000_000, "-3ms")]
    public void Durations_print_with_the_largest_readable_unit(long ns, string text) =>
        Assert.Equal(text, new SimDuration(ns).ToString());

    [Fact]
    public void Printing_a_duration_round_trips_through_parsing() =>
        Gen.Long[-1_000_000_000_000_000, 1_000_000_000_000_000].Sample(ns =>
            SimDuration.Parse(new SimDuration(ns).ToString()).Ns == ns);

    [Fact]
    public void Time_minus_time_is_a_duration_and_time_plus_duration_is_a_time()
    {
        var t = SimTime.Zero + SimDuration.FromMilliseconds(5);
        Assert.Equal(SimDuration.FromMilliseconds(2), t - (SimTime.Zero + SimDuration.FromMilliseconds(3)));
        Assert.Equal(new SimTime(5_000_000), t);
        Assert.Equal("@5ms", t.ToString());
    }

    [Fact]
    public void Cycles_convert_through_the_tsc_frequency()
    {
        var tsc = TscFrequency.FromMegahertz(2900);
        // ple_window 4096 cycles at 2.9 GHz = 1412.4 ns, rounded up.
        Assert.Equal(1413, tsc.ToDuration(new TscCycles(4096)).Ns);
        Assert.Equal(2_900_000, tsc.ToCycles(SimDuration.FromMilliseconds(1)).Value);
        Assert.Equal(1, tsc.ToDuration(new TscCycles(1)).Ns); // a non-zero cost never becomes free
        Assert.Equal(0, tsc.ToDuration(new TscCycles(0)).Ns);
    }

    [Fact]
    public void Cycle_conversions_agree_with_128_bit_arithmetic_on_both_sides_of_the_64_bit_path()
    {
        // ToDuration / ToCycles compute in 64 bits while the product fits and in 128 bits beyond:
        // both must give the 128-bit result (rounded up / down) everywhere, the switch-over included.
        foreach (long hz in new long[] { 1, 999_999_999, 2_900_000_000, 3_000_000_000, 1_000_000_000_000 })
        {
            var tsc = new TscFrequency(hz);
            long cyclesEdge = long.MaxValue / 1_000_000_000;
            long nsEdge = long.MaxValue / hz;
            foreach (long v in new[] { 0L, 1, 2, 4096, 2_899_999_999, cyclesEdge - 1, cyclesEdge, cyclesEdge + 1, nsEdge - 1, nsEdge, nsEdge + 1, long.MaxValue / 4, -1, -4096, -cyclesEdge - 1, long.MinValue / 2 })
            {
                Int128 num = (Int128)v * 1_000_000_000;
                Int128 q = Int128.DivRem(num, hz).Quotient;
                if (q * hz != num && num > 0)
                    q++;
                if (q >= long.MinValue && q <= long.MaxValue)
                    Assert.Equal((long)q, tsc.ToDuration(new TscCycles(v)).Ns);
                Int128 c = (Int128)v * hz / 1_000_000_000;
                if (c >= long.MinValue && c <= long.MaxValue)
                    Assert.Equal((long)c, tsc.ToCycles(new SimDuration(v)).Value);
            }
        }
    }

    [Fact]
    public void A_tsc_frequency_must_be_positive() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TscFrequency(0));
}

using System.Buffers.Binary;

namespace PleSim.Reporting.Tests;

public sealed class PlotTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-plots-{Guid.NewGuid():N}");

    public PlotTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ScottPlot.Plot Lines() => Plots.MetricVsKey(
        "rate vs ple_window", "kvm.ple_window", ["1024", "4096", "16384"], "rate",
        [
            new PlotSeries("handler=none", [100, 110, 120], [95, 104, 118], [105, 116, 122]),
            new PlotSeries("handler=directed-yield-2011", [130, double.NaN, 150], [120, double.NaN, 149], [140, double.NaN, 151]),
        ]);

    private static ScottPlot.Plot Stack() => Plots.StackedShares(
        "Where VM 'amqp' VCPU time went", ["1024\nnone", "1024\ndirected-yield-2011"], "fraction of VCPU time",
        [new StackSegment("guest_run", [0.5, 0.6]), new StackSegment("spin", [0.2, double.NaN]), new StackSegment("halted", [0.3, 0.4])],
        "kvm.ple_window / kvm.ple_handler");

    [Fact]
    public void A_png_has_the_signature_and_the_declared_size()
    {
        foreach (var plot in new[] { Lines(), Stack() })
        {
            var png = Plots.Png(plot);
            Assert.True(png.Length > 5_000, $"only {png.Length} bytes");
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
            Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(png, 12, 4));
            Assert.Equal(Plots.Width, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16, 4)));
            Assert.Equal(Plots.Height, BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20, 4)));
        }
    }

    [Fact]
    public void An_svg_has_the_size_titles_labels_and_legend_and_renders_identically_twice()
    {
        var svg = Plots.Svg(Lines());
        Assert.StartsWith("<svg", svg, StringComparison.Ordinal);
        Assert.Contains($"width=\"{Plots.Width}\"", svg, StringComparison.Ordinal);
        Assert.Contains($"height=\"{Plots.Height}\"", svg, StringComparison.Ordinal);
        foreach (var text in new[] { "rate vs ple_window", "kvm.ple_window", "16384", "handler=none", "handler=directed-yield-2011" })
            Assert.Contains(text, svg, StringComparison.Ordinal);
        Assert.Equal(svg, Plots.Svg(Lines()));
        var stack = Plots.Svg(Stack());
        foreach (var text in new[] { "guest_run", "spin", "halted", "directed-yield-2011" })
            Assert.Contains(text, stack, StringComparison.Ordinal);
        Assert.Equal(stack, Plots.Svg(Stack()));
    }

    [Fact]
    public void The_plots_use_dejavu_sans()
    {
        Assert.Contains("DejaVu Sans", Plots.Svg(Lines()), StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_or_mismatched_input_is_refused_with_a_clear_message()
    {
        Assert.Contains("at least one series", Assert.Throws<ArgumentException>(() => Plots.MetricVsKey("t", "x", ["a"], "y", [])).Message, StringComparison.Ordinal);
        Assert.Contains("has 1 values for 2 x categories", Assert.Throws<ArgumentException>(() =>
            Plots.MetricVsKey("t", "x", ["a", "b"], "y", [new PlotSeries("s", [1], [1], [1])])).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Plots.StackedShares("t", ["a"], "y", []));
    }

    [Fact]
    public void Save_writes_a_png_and_an_svg()
    {
        var stem = Path.Combine(_dir, "sub", "plot");
        Plots.Save(Lines(), stem);
        Assert.True(new FileInfo(stem + ".png").Length > 5_000);
        Assert.StartsWith("<svg", File.ReadAllText(stem + ".svg"), StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "sub"), "*.tmp"));
    }

    [Theory]
    [InlineData(219778.4, "219,778")]
    [InlineData(0.0228, "0.0228")]
    [InlineData(-0.0000123, "-0.0000123")]
    [InlineData(0.000726, "0.000726")]
    [InlineData(1.5e-9, "1.5E-9")]
    [InlineData(16.915, "16.92")]
    [InlineData(-25109.2, "-25,109")]
    [InlineData(0, "0")]
    [InlineData(double.NaN, "–")]
    public void Numbers_for_people_keep_small_values_visible(double v, string expected) =>
        Assert.Equal(expected, Formats.Number(v));

    [Fact]
    public void Percentages_group_thousands_and_a_zero_spread_reads_the_same_everywhere()
    {
        Assert.Equal("+81,329.5%", Formats.SignedPercent(813.295));
        Assert.Equal("3,407.6%", Formats.Percent(34.076));
        Assert.Equal($"220.0 {Formats.AllRunsEqual}", Formats.PlusMinus(220, 0));
        Assert.Equal("220.0 ± 1.5", Formats.PlusMinus(220, 1.5));
        Assert.Equal($"+5.0% {Formats.AllRunsEqual}", Formats.SignedPercentPlusMinus(0.05, 0));
        // No three-decimal value beside comma-grouped ones: "[-25,109, 16.915]" read as 16,915.
        Assert.Equal("[-25,109, 16.92]", Formats.Interval(-25109, 16.915));
    }
}

namespace PleSim.Reporting.Tests;

/// <summary>Every plot axis names its unit; evenly placed values that grow by a constant factor are called a log scale.</summary>
public class AxisLabelTests
{
    [Theory]
    [InlineData(new[] { "1024", "4096", "16384" }, AxisLabels.AxisScale.Log)]
    [InlineData(new[] { "512", "1024", "2048", "4096" }, AxisLabels.AxisScale.Log)]
    [InlineData(new[] { "100", "200", "300" }, AxisLabels.AxisScale.Linear)]
    [InlineData(new[] { "100", "200" }, AxisLabels.AxisScale.Linear)]
    [InlineData(new[] { "0", "4096", "16384" }, AxisLabels.AxisScale.Uneven)]
    [InlineData(new[] { "none", "sleep", "yield" }, AxisLabels.AxisScale.Linear)]
    public void The_scale_of_evenly_placed_values_is_recognised(string[] values, AxisLabels.AxisScale expected) =>
        Assert.Equal(expected, AxisLabels.Scale(values));

    [Fact]
    public void Key_and_metric_titles_carry_units()
    {
        Assert.Equal("kvm.ple_window [cycles], log scale", AxisLabels.Key("kvm.ple_window", ["1024", "4096", "16384"]));
        Assert.Equal("kvm.ple_handler [names]", AxisLabels.Key("kvm.ple_handler", ["none", "directed-yield-2011"]));
        Assert.Equal("vms[0].vcpus [VCPUs]", AxisLabels.Key("vms[0].vcpus", ["2", "4"]));
        Assert.Equal("host.background.mean_delay_ns [ns], not to scale", AxisLabels.Key("host.background.mean_delay_ns", ["1", "5", "6"]));
        Assert.Equal("duration [as given]", AxisLabels.Key("duration", ["5ms", "10ms"]));
        Assert.Equal("amqp.frac_spin [share of VCPU time]", AxisLabels.Metric("amqp.frac_spin"));
        Assert.Equal("events_per_sim_second [1/s (simulated)]", AxisLabels.Metric("events_per_sim_second"));
    }

    [Fact]
    public void A_log_scale_axis_says_so_in_the_svg()
    {
        var plot = Plots.MetricVsKey("r", AxisLabels.Key("kvm.ple_window", ["1024", "4096", "16384"]), ["1024", "4096", "16384"], AxisLabels.Metric("amqp.frac_spin"),
            [new PlotSeries("amqp.frac_spin", [0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3])]);
        var svg = Plots.Svg(plot);
        Assert.Contains("kvm.ple_window [cycles], log scale", svg, StringComparison.Ordinal);
        Assert.Contains("amqp.frac_spin [share of VCPU time]", svg, StringComparison.Ordinal);
    }
}

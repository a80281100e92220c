using PleSim.Cli.Commands;

namespace PleSim.Cli.Tests;

/// <summary><c>plesim status DIR</c> and <c>plesim report DIR</c> on stores with many points: short lines, no table per sample.</summary>
public sealed class StatusCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-status-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, true);
    }

    [Fact]
    public void A_long_axis_is_shown_by_its_first_values_and_its_count()
    {
        var values = Enumerable.Range(0, 300).Select(i => $"0.{i:000}123456789").ToList();
        var line = StatusCommand.ValueList(values);
        Assert.Equal("0.000123456789, 0.001123456789, 0.002123456789, 0.003123456789, 0.004123456789, … (300 values)", line);
        Assert.Equal("a, b, c", StatusCommand.ValueList(["a", "b", "c"]));
        Assert.EndsWith("…", StatusCommand.ValueList([new string('x', 500)]), StringComparison.Ordinal);
    }

    [Fact]
    public void Report_of_an_uncertainty_study_prints_its_analysis_not_a_table_per_point()
    {
        var (code, _, err) = SweepCliTests.Plesim(["sweep", CliTests.Repo("scenarios", "kvm", "lock-bench.yaml"), "--set", "runs=2", "--set", "duration=2ms",
            "--set", "warmup=0", "--set", "kvm.ple_window=1024,2048", "--out", _dir, "--quiet", "-j", "1"]);
        Assert.True(code == 0, err);
        // What reproduce riel-2011 --uncertainty writes beside its store.
        File.WriteAllText(Path.Combine(_dir, "uncertainty.txt"), "the study's bands and effects\n");
        File.WriteAllText(Path.Combine(_dir, "uncertainty.json"), "{}");
        (code, var output, err) = SweepCliTests.Plesim("report", _dir, "--no-plots");
        Assert.True(code == 0, err);
        Assert.Equal("the study's bands and effects\n", output);
        Assert.Contains("holds an uncertainty study (2 sampled points)", err, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_dir, "points.csv")));
    }

    [Fact]
    public void Status_of_a_sweep_with_many_points_prints_each_axis_on_a_short_line()
    {
        var windows = string.Join(",", Enumerable.Range(1, 9).Select(i => (i * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var (code, _, err) = SweepCliTests.Plesim(["sweep", CliTests.Repo("scenarios", "kvm", "lock-bench.yaml"), "--set", "runs=2", "--set", "duration=2ms",
            "--set", "warmup=0", "--set", $"kvm.ple_window={windows}", "--out", _dir, "--quiet", "-j", "1"]);
        Assert.True(code == 0, err);
        (code, var output, err) = SweepCliTests.Plesim("status", _dir);
        Assert.True(code == 0, err);
        Assert.Contains("kvm.ple_window = 1024, 2048, 3072, 4096, 5120, … (9 values)", output, StringComparison.Ordinal);
    }
}

using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Cli.Tests;

/// <summary>
/// Every metric named to <c>run</c> and <c>sweep</c> (the file's <c>metrics:</c> and
/// <c>compare_metric</c>, <c>--metric</c>, <c>--target-ci</c>) must be one the scenario's model
/// reports: an unknown name stops the command before the first run, with the closest names.
/// </summary>
public sealed class MetricNameCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-metricnames-{Guid.NewGuid():N}");

    public MetricNameCliTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string LockBench => CliTests.Repo("scenarios", "kvm", "lock-bench.yaml");

    private string Variant(string from, string to)
    {
        var text = File.ReadAllText(LockBench);
        Assert.Contains(from, text, StringComparison.Ordinal);
        var path = Path.Combine(_dir, "bad.yaml");
        File.WriteAllText(path, text.Replace(from, to, StringComparison.Ordinal));
        return path;
    }

    [Fact]
    public void Run_refuses_a_misspelt_metric_in_the_file_with_its_position_and_near_matches()
    {
        var bad = Variant("bench.cpus_used, loops", "bench.cpus_usd, loops");
        var (code, output, err) = SweepCliTests.Plesim("run", bad, "--set", "duration=5ms");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal("", output);
        Assert.Contains($"{bad}:27:45: error: metrics[1]: 'bench.cpus_usd' is not a metric this scenario reports; did you mean 'bench.cpus_used'", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_refuses_an_unknown_compare_metric()
    {
        var bad = Variant("kvm:\n", "compare_metric: bench.lock_iteration_per_second\nkvm:\n");
        var (code, _, err) = SweepCliTests.Plesim("run", bad, "--set", "duration=5ms");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains($"{bad}:13:17: error: compare_metric: 'bench.lock_iteration_per_second' is not a metric this scenario reports; did you mean 'bench.lock_iterations_per_second'?", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_leaves_out_with_a_warning_a_listed_metric_that_only_a_set_switched_off()
    {
        // dedup.yaml lists the allocator's metrics; without the malloc model nothing reports them.
        var dedup = CliTests.Repo("scenarios", "workloads", "dedup.yaml");
        var (code, output, err) = SweepCliTests.Plesim("run", dedup, "--set", "vms[0].workload.model_malloc=false", "--set", "duration=2ms",
            "--set", "vms[0].workload.input_bytes=1000000");
        Assert.Equal(0, code);
        Assert.Matches(@"dedup\.yaml:\d+:\d+: warning: metrics\[\d+\]: 'dedup\.dedup_heap_trims_per_chunk' is reported with the file's own settings but not with --set vms\[0\]\.workload\.model_malloc=false", err);
        Assert.DoesNotContain("error", err, StringComparison.Ordinal);
        Assert.DoesNotContain("dedup_heap_trims_per_chunk", output, StringComparison.Ordinal);
        Assert.Contains("dedup.dedup_mb_per_s", output, StringComparison.Ordinal);

        // A name no setting reports stays an error, --set or not.
        var bad = Path.Combine(_dir, "dedup-typo.yaml");
        File.WriteAllText(bad, File.ReadAllText(dedup).Replace("dedup.dedup_mb_per_s", "dedup.dedup_mb_per_sec", StringComparison.Ordinal));
        (code, _, err) = SweepCliTests.Plesim("run", bad, "--set", "vms[0].workload.model_malloc=false", "--set", "duration=2ms");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("error: metrics[", err, StringComparison.Ordinal);
        Assert.Contains("'dedup.dedup_mb_per_sec' is not a metric this scenario reports", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Sweep_leaves_out_with_a_warning_a_listed_metric_that_only_a_fixed_set_switched_off()
    {
        var dedup = CliTests.Repo("scenarios", "workloads", "dedup.yaml");
        var outDir = Path.Combine(_dir, "sweep-dedup");
        var (code, _, err) = SweepCliTests.Plesim(["sweep", dedup, "--set", "vms[0].workload.model_malloc=false", "--set", "duration=2ms",
            "--set", "vms[0].workload.input_bytes=1000000,2000000", "--out", outDir, "--quiet"]);
        Assert.True(code == 0, err);
        Assert.Contains("warning: metrics[", err, StringComparison.Ordinal);
        Assert.Contains("'dedup.dedup_heap_trims_per_chunk' is reported with the file's own settings but not with this sweep's fixed --set values", err, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(outDir, "results.sqlite")));
    }

    [Fact]
    public void Sweep_refuses_an_unknown_metric_option_before_the_first_run()
    {
        var outDir = Path.Combine(_dir, "sweep");
        var (code, _, err) = SweepCliTests.Plesim(["sweep", LockBench, "--set", "duration=5ms", "--set", "kvm.ple_window=4096,8192", "--metric", "frac_spin", "--out", outDir, "--quiet"]);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--metric: 'frac_spin' is not a metric this scenario reports; did you mean 'bench.frac_spin' or 'loops.frac_spin'?", err, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(outDir, "results.sqlite")), "the sweep ran before the metric was checked");

        (code, _, err) = SweepCliTests.Plesim(["sweep", LockBench, "--set", "duration=5ms", "--set", "kvm.ple_window=4096,8192", "--target-ci", "bench.lock_iterations_per_secnd=5%", "--out", outDir, "--quiet"]);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--target-ci: 'bench.lock_iterations_per_secnd' is not a metric this scenario reports; did you mean 'bench.lock_iterations_per_second'?", err, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(outDir, "results.sqlite")));
    }

    [Fact]
    public void Near_matches_are_typos_or_names_ending_with_the_given_one_closest_first()
    {
        string[] valid = ["bench.frac_spin", "loops.frac_spin", "bench.frac_halted", "bench.cpus_used", "events"];
        Assert.Equal(["bench.frac_spin", "loops.frac_spin"], MetricNames.NearMatches("frac_spin", valid));
        Assert.Equal(["bench.frac_spin"], MetricNames.NearMatches("bench.frac_spn", valid));
        Assert.Equal(["bench.frac_spin", "loops.frac_spin"], MetricNames.NearMatches("frac_sp", valid));
        Assert.Empty(MetricNames.NearMatches("throughput", valid));
        Assert.Contains("; did you mean 'bench.frac_spin' or 'loops.frac_spin'?", MetricNames.Unknown("frac_spin", valid), StringComparison.Ordinal);
        Assert.DoesNotContain("did you mean", MetricNames.Unknown("throughput", valid), StringComparison.Ordinal);
    }

    [Fact]
    public void Compare_refuses_an_unknown_metric_before_the_first_run_with_the_closest_names()
    {
        var (code, output, err) = SweepCliTests.Plesim(["compare", LockBench, "--policies", "none,sleep", "--runs", "2", "--set", "duration=5ms", "--metric", "bench.lock_iter"]);
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Equal("", output);
        Assert.Contains("--metric: 'bench.lock_iter' is not a metric this scenario reports; did you mean 'bench.lock_iterations_per_second'?", err, StringComparison.Ordinal);
        Assert.DoesNotContain("compare (", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_starting_with_the_given_one_come_first_and_a_long_list_is_not_dumped()
    {
        string[] valid = ["bench.spin_iterations_p50", "bench.spin_iterations_p99", "bench.lock_iterations_per_second", "bench.frac_spin", "events"];
        Assert.Equal(["bench.lock_iterations_per_second"], MetricNames.NearMatches("bench.lock_iterations", valid));
        string[] many = [.. Enumerable.Range(0, 50).Select(i => $"bench.other_metric_{i:00}"), "bench.lock_iterations_per_second"];
        var message = MetricNames.Unknown("bench.lock_iters", many);
        Assert.Contains("the closest: bench.lock_iterations_per_second, ", message, StringComparison.Ordinal);
        Assert.Contains("lists all 51", message, StringComparison.Ordinal);
        Assert.True(many.Count(m => message.Contains(m, StringComparison.Ordinal)) <= 5, message);
    }

    [Fact]
    public void Validate_also_checks_compare_metric()
    {
        var s = ScenarioLoader.LoadText(File.ReadAllText(LockBench).Replace("kvm:\n", "compare_metric: nope\nkvm:\n", StringComparison.Ordinal), "f.yaml");
        var d = Assert.Single(MetricNames.Check(s));
        Assert.Equal(("f.yaml", 13, 17, "compare_metric"), (d.File, d.Line, d.Column, d.KeyPath));
    }
}

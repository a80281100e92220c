using System.Diagnostics;

namespace PleSim.Cli.Tests;

/// <summary>
/// Console tables fit a fixed width when standard output is redirected (decision 0029): no line of
/// <c>run --details</c> is wider than <see cref="CliContext.RedirectedWidth"/> for any shipped
/// scenario, no cell is cut short with "…", and the text does not depend on what COLUMNS says.
/// </summary>
public sealed class TableLayoutTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-tables-{Guid.NewGuid():N}");

    public TableLayoutTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The shipped scenarios that 'run' runs (the sweep example is run the same way).</summary>
    public static TheoryData<string> Scenarios()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(CliTests.Repo("scenarios"), "*.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(CliTests.Repo(), f));
        return data;
    }

    private static int Longest(string text) => text.Split('\n').Max(l => l.TrimEnd('\r').Length);

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Run_details_fit_the_redirected_width_without_cutting_cells(string scenario)
    {
        var (code, output, err) = SweepCliTests.Plesim("run", CliTests.Repo(scenario), "--details", "--runs", "2", "--set", "duration=5ms", "--set", "warmup=0ms");
        Assert.True(code == 0, err);
        Assert.True(Longest(output) <= CliContext.RedirectedWidth, $"{scenario}: a line of {Longest(output)} columns:\n{output}");
        Assert.DoesNotContain("…", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_metric_name_and_field_is_shown_in_full()
    {
        var (code, output, err) = SweepCliTests.Plesim("run", CliTests.Repo("scenarios", "kvm", "lock-bench.yaml"), "--details", "--runs", "2", "--set", "duration=5ms");
        Assert.True(code == 0, err);
        // The longest names of the scenario's metrics list (they were cut to "bench.lock_h…").
        foreach (var m in new[] { "bench.lock_handoffs_to_descheduled_waiter_per_second", "bench.frac_spin_behind_descheduled_waiter", "bench.lock_iterations_per_second" })
            Assert.Contains(m, output, StringComparison.Ordinal);
        // Every field of the VM record is a row of the transposed VM table.
        foreach (var field in new[] { "frac_spin_behind_descheduled_waiter", "handoffs_to_descheduled_waiter_per_s", "yield_to_success_rate", "lhp_per_s.other_vm" })
            Assert.Contains(field, output, StringComparison.Ordinal);
    }

    private static string RunRedirected(string columns)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "plesim.dll"), "run", CliTests.Repo("scenarios", "kvm", "lock-bench.yaml"), "--details", "--runs", "3", "--set", "duration=5ms" })
            psi.ArgumentList.Add(a);
        psi.Environment["COLUMNS"] = columns;
        psi.Environment["LINES"] = "20";
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(120_000), "plesim run did not finish");
        Assert.True(p.ExitCode == 0, err.Result);
        return output;
    }

    [Fact]
    public void Redirected_output_is_the_same_whatever_COLUMNS_says()
    {
        var narrow = RunRedirected("40");
        var wide = RunRedirected("300");
        Assert.Equal(narrow, wide);
        Assert.True(Longest(wide) <= CliContext.RedirectedWidth, $"a line of {Longest(wide)} columns:\n{wide}");
    }

    [Fact]
    public void Run_csv_prints_one_row_per_run_and_details_csv_files_go_to_out()
    {
        var file = CliTests.Repo("scenarios", "kvm", "lock-bench.yaml");
        var (code, output, err) = SweepCliTests.Plesim("run", file, "--runs", "2", "--set", "duration=5ms", "--csv", "--details", "--out", _dir);
        Assert.True(code == 0, err);
        var lines = output.TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("seed,status,error,", lines[0], StringComparison.Ordinal);
        Assert.Contains("bench.lock_iterations_per_second", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("1,ok,,", lines[1], StringComparison.Ordinal);
        foreach (var f in new[] { "cpus.csv", "tasks.csv", "groups.csv", "vms.csv" })
            Assert.True(File.Exists(Path.Combine(_dir, f)), f);
        var vms = File.ReadAllLines(Path.Combine(_dir, "vms.csv"));
        Assert.StartsWith("vm,vcpus,", vms[0], StringComparison.Ordinal);
        Assert.Equal(3, vms.Length); // bench and loops

        (code, _, err) = SweepCliTests.Plesim("run", file, "--csv", "--json");
        Assert.Equal(ExitCodes.BadInput, code);
        Assert.Contains("--json and --csv", err, StringComparison.Ordinal);
    }
}

using System.Diagnostics;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using PleSim.Cli;
using PleSim.Experiments.Sweeps;

namespace PleSim.Cli.Tests;

/// <summary><c>plesim sweep</c>, <c>merge</c> and <c>report</c> end to end, including a sweep killed with SIGKILL and resumed.</summary>
public sealed class SweepCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-sweepcli-{Guid.NewGuid():N}");

    public SweepCliTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static (int Code, string Out, string Err) Plesim(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = PlesimCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string Hold => CliTests.Repo("scenarios", "engine-hold.yaml");

    /// <summary>A small grid on the shipped engine-hold scenario: 4 points × 3 runs of 5 ms.</summary>
    internal static readonly string[] Grid =
        ["--set", "engine_hold.population=100,200", "--set", "engine_hold.cancel_half=false,true", "--set", "duration=5ms", "--runs", "3", "--quiet"];

    private string Out(string name) => Path.Combine(_dir, name);

    internal static List<string> Rows(string store)
    {
        using var s = ResultStore.Open(store, readOnly: true);
        return s.Runs().Select(r => r.ResultText()).ToList();
    }

    [Fact]
    public void Sweep_writes_a_store_and_exports_and_prints_the_points()
    {
        var (code, output, err) = Plesim(["sweep", Hold, .. Grid, "--out", Out("a")]);
        Assert.True(code == 0, err);
        Assert.Equal(12, Rows(Path.Combine(Out("a"), "results.sqlite")).Count);
        foreach (var f in PleSim.Reporting.SweepOutputs.ExportFiles)
            Assert.True(File.Exists(Path.Combine(Out("a"), f)), f);
        Assert.Contains("engine_hold.population", output, StringComparison.Ordinal);
        Assert.Contains("paired comparisons", output, StringComparison.Ordinal);
        Assert.Equal(13, File.ReadAllLines(Path.Combine(Out("a"), "runs.csv")).Length);
    }

    [Fact]
    public void An_existing_store_needs_resume_and_a_changed_scenario_is_refused()
    {
        Assert.Equal(0, Plesim(["sweep", Hold, .. Grid, "--out", Out("b")]).Code);
        var before = File.ReadAllBytes(Path.Combine(Out("b"), "points.json"));

        var (code, _, err) = Plesim(["sweep", Hold, .. Grid, "--out", Out("b")]);
        Assert.Equal(2, code);
        Assert.Contains("already exists: continue that sweep with --resume", err, StringComparison.Ordinal);

        (code, _, err) = Plesim(["sweep", Hold, .. Grid, "--out", Out("b"), "--resume"]);
        Assert.True(code == 0, err);
        Assert.Contains("0 run(s) done now, 12 were already stored", err, StringComparison.Ordinal);

        (code, _, err) = Plesim(["sweep", Hold, .. Grid, "--set", "engine_hold.mean_delay=2ms", "--out", Out("b"), "--resume"]);
        Assert.Equal(2, code);
        Assert.Contains("was started for a different sweep", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
        // Nothing already written was touched.
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(Out("b"), "points.json")));
        Assert.Equal(12, Rows(Path.Combine(Out("b"), "results.sqlite")).Count);
    }

    [Fact]
    public void Two_shards_run_one_after_the_other_and_merged_equal_the_single_sweep()
    {
        Assert.Equal(0, Plesim(["sweep", Hold, .. Grid, "--out", Out("single")]).Code);
        foreach (var s in new[] { "1/2", "2/2" })
        {
            var (c, _, e) = Plesim(["sweep", Hold, .. Grid, "--out", Out("sharded"), "--shard", s]);
            Assert.True(c == 0, e);
            Assert.Contains("plesim merge", e, StringComparison.Ordinal);
        }
        Assert.True(File.Exists(Path.Combine(Out("sharded"), "shard-1-of-2.sqlite")));
        Assert.True(File.Exists(Path.Combine(Out("sharded"), "shard-2-of-2.sqlite")));
        var (code, _, err) = Plesim("merge", Out("sharded"));
        Assert.True(code == 0, err);
        Assert.Contains("merged 12 run(s) of 4 point(s) from 2 store(s)", err, StringComparison.Ordinal);
        Assert.Equal(Rows(Path.Combine(Out("single"), "results.sqlite")), Rows(Path.Combine(Out("sharded"), "results.sqlite")));
        Assert.Equal(0, Plesim("report", Out("sharded"), "--no-plots").Code);
        Assert.Equal(File.ReadAllText(Path.Combine(Out("single"), "points.json")), File.ReadAllText(Path.Combine(Out("sharded"), "points.json")));
        Assert.Equal(File.ReadAllText(Path.Combine(Out("single"), "runs.csv")), File.ReadAllText(Path.Combine(Out("sharded"), "runs.csv")));
    }

    [Fact]
    public void Merge_refuses_shards_of_different_sweeps()
    {
        Assert.Equal(0, Plesim(["sweep", Hold, .. Grid, "--out", Out("m"), "--shard", "1/2"]).Code);
        Assert.Equal(0, Plesim(["sweep", Hold, .. Grid, "--set", "engine_hold.mean_delay=2ms", "--out", Out("m2"), "--shard", "2/2"]).Code);
        File.Copy(Path.Combine(Out("m2"), "shard-2-of-2.sqlite"), Path.Combine(Out("m"), "shard-2-of-2.sqlite"));
        var (code, _, err) = Plesim("merge", Out("m"));
        Assert.Equal(2, code);
        Assert.Contains("is from a different sweep", err, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Out("m"), "results.sqlite")));
    }

    [Fact]
    public void A_bad_sweep_value_exits_2_naming_the_assignment()
    {
        var (code, _, err) = Plesim("sweep", Hold, "--set", "engine_hold.population=100,lots", "--out", Out("bad"));
        Assert.Equal(2, code);
        Assert.Contains("--set engine_hold.population=100,lots (value 2: lots): error: engine_hold.population:", err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Out("bad")));
        (code, _, err) = Plesim("sweep", Hold, "--shard", "4/3", "--out", Out("bad"));
        Assert.Equal(2, code);
        Assert.Contains("shards are counted from 1, so K must be in 1..3", err, StringComparison.Ordinal);
        (code, _, err) = Plesim("sweep", Hold, "--shard", "0/3", "--out", Out("bad"));
        Assert.Equal(2, code);
        Assert.Contains("the shards of 3 are 1/3 .. 3/3", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Report_writes_plots_and_a_single_file_html_report()
    {
        Assert.Equal(0, Plesim(["sweep", Hold, .. Grid, "--out", Out("r")]).Code);
        var html = Path.Combine(Out("r"), "report.html");
        var (code, output, err) = Plesim("report", Out("r"), "--html", html);
        Assert.True(code == 0, err);
        Assert.Contains("engine-hold", output, StringComparison.Ordinal);
        var plots = Directory.GetFiles(Path.Combine(Out("r"), "plots"));
        Assert.Contains(plots, p => p.EndsWith("metric-events.png", StringComparison.Ordinal));
        Assert.Contains(plots, p => p.EndsWith("metric-events.svg", StringComparison.Ordinal));
        var text = File.ReadAllText(html);
        Assert.Contains("<svg", text, StringComparison.Ordinal);
        Assert.DoesNotContain("src=\"http", text, StringComparison.Ordinal);
        Assert.Contains("name: engine-hold", text, StringComparison.Ordinal);
        // Deterministic: the same store gives the same page, byte for byte.
        Assert.Equal(0, Plesim("report", Out("r"), "--html", html + ".again").Code);
        Assert.Equal(text, File.ReadAllText(html + ".again"));
        // Inline plots on one page never share an element id.
        var ids = System.Text.RegularExpressions.Regex.Matches(text, "id=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    /// <summary>
    /// A sweep in a child process is killed with SIGKILL after some runs are stored; resuming
    /// completes it, and the results equal an uninterrupted sweep's.
    /// </summary>
    [Fact]
    public void A_sweep_killed_mid_way_resumes_to_the_same_results()
    {
        // 2 points × 50 runs of about 7 ms each: long enough to be caught mid-way on a loaded machine.
        string[] slow = ["--set", "engine_hold.population=1000,2000", "--set", "duration=60ms", "--runs", "50", "--quiet"];
        var dll = Path.Combine(AppContext.BaseDirectory, "plesim.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        string[] args = [dll, "sweep", Hold, .. slow, "--out", Out("killed"), "-j", "1"];
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var child = Process.Start(psi)!;
        child.StandardOutput.ReadToEndAsync();
        child.StandardError.ReadToEndAsync();
        var store = Path.Combine(Out("killed"), "results.sqlite");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        int stored = 0;
        while (DateTime.UtcNow < deadline && !child.HasExited)
        {
            stored = File.Exists(store) ? HardeningTests.CountRows(store) : 0;
            if (stored >= 2)
                break;
            Thread.Sleep(20);
        }
        Assert.False(child.HasExited, "the sweep finished before it could be killed; make it longer");
        child.Kill(entireProcessTree: true); // SIGKILL: no chance to clean up
        child.WaitForExit();
        int atKill = HardeningTests.CountRows(store);
        Assert.InRange(atKill, 2, 99);

        var (code, _, err) = Plesim(["sweep", Hold, .. slow, "--out", Out("killed"), "--resume"]);
        Assert.True(code == 0, err);
        Assert.Contains($"were already stored", err, StringComparison.Ordinal);
        Assert.Equal(0, Plesim(["sweep", Hold, .. slow, "--out", Out("whole")]).Code);
        Assert.Equal(Rows(Path.Combine(Out("whole"), "results.sqlite")), Rows(store));
        Assert.Equal(File.ReadAllText(Path.Combine(Out("whole"), "points.json")), File.ReadAllText(Path.Combine(Out("killed"), "points.json")));
    }

    /// <summary>Every shipped scenario with a sweep section runs its whole grid (quick variant: 1 run of 20 ms per point).</summary>
    [Fact]
    public void Shipped_sweep_scenarios_run_their_grid()
    {
        var files = Directory.GetFiles(CliTests.Repo("scenarios"), "*.yaml", SearchOption.AllDirectories)
            .Where(f => File.ReadAllLines(f).Any(l => l.StartsWith("sweep:", StringComparison.Ordinal)))
            .ToList();
        Assert.NotEmpty(files);
        foreach (var f in files)
        {
            var dir = Out(Path.GetFileNameWithoutExtension(f));
            var (code, _, err) = Plesim("sweep", f, "--runs", "1", "--set", "duration=20ms", "--set", "warmup=5ms", "--quiet", "--out", dir);
            Assert.True(code == 0, $"{f}: {err}");
            var results = SweepResults.Load([Path.Combine(dir, ResultStore.FileName)]);
            Assert.True(results.Points.Count > 1, $"{f}: the sweep section gave one point");
            Assert.Equal(results.Points.Count, results.Runs.Count(r => r.Ok));
        }
    }

    /// <summary>
    /// The exports of a fixed sweep match the checked-in golden files byte for byte (set
    /// PLESIM_UPDATE_GOLDEN=1 to rewrite them after a deliberate change, and review the diff).
    /// </summary>
    [Fact]
    public void Sweep_exports_match_the_golden_files()
    {
        var (code, _, err) = Plesim(["sweep", Hold, .. Grid, "--out", Out("g")]);
        Assert.True(code == 0, err);
        foreach (var f in new[] { "points.csv", "comparisons.csv", "points.json" })
        {
            var golden = CliTests.Repo("tests", "PleSim.Cli.Tests", "Golden", "sweep-" + f);
            var actual = File.ReadAllText(Path.Combine(Out("g"), f));
            if (Environment.GetEnvironmentVariable("PLESIM_UPDATE_GOLDEN") == "1")
                File.WriteAllText(golden, actual);
            Assert.True(File.Exists(golden), $"{golden} is missing; run with PLESIM_UPDATE_GOLDEN=1 to create it");
            Assert.Equal(File.ReadAllText(golden), actual);
        }
    }
}

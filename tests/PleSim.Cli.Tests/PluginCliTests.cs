using System.Diagnostics;
using System.Text.Json;
using PleSim.Cli;

namespace PleSim.Cli.Tests;

/// <summary>Builds the example plug-in once (dotnet build of examples/plugins/RandomYield) for the tests that load it.</summary>
public sealed class ExamplePluginFixture : IDisposable
{
    public ExamplePluginFixture()
    {
        OutDir = Path.Combine(Path.GetTempPath(), $"plesim-plugin-{Guid.NewGuid():N}");
        var project = CliTests.Repo("examples", "plugins", "RandomYield", "RandomYield.csproj");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = CliTests.Repo() };
        foreach (var a in new[] { "build", project, "-c", "Release", "-o", OutDir, "-nologo", "-v", "q" })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        BuildLog = stdout.Result + stderr;
        Dll = Path.Combine(OutDir, "RandomYield.dll");
        ExitCode = p.ExitCode;
    }

    public string OutDir { get; }
    public string Dll { get; }
    public int ExitCode { get; }
    public string BuildLog { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(OutDir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary><c>--plugin</c>: the example plug-in builds, runs deterministically, and bad plug-ins give clear errors; <c>plesim compare</c> end to end.</summary>
public class PluginCliTests(ExamplePluginFixture plugin) : IClassFixture<ExamplePluginFixture>
{
    private static (int Code, string Out, string Err) Plesim(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = PlesimCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static readonly string[] Short = ["--set", "duration=300ms", "--set", "warmup=100ms", "--set", "vms[1].workload.loops=4"];

    private static string Amqp => CliTests.Repo("scenarios", "riel-2011", "amqp.yaml");

    [Fact]
    public void The_example_plugin_builds_and_runs_the_same_way_twice()
    {
        Assert.True(plugin.ExitCode == 0, plugin.BuildLog);
        // The 2x lock benchmark: its waiters spin long enough for PAUSE exits in every run (the AMQP
        // guest may not spin at all in a short window), so the plug-in handler is called.
        string lockBench = CliTests.Repo("scenarios", "kvm", "lock-bench.yaml");
        string[] args = ["run", lockBench, "--runs", "2", "--set", "duration=100ms", "--set", "warmup=20ms", "--plugin", plugin.Dll, "--set", "kvm.ple_handler=plugin:random-preempted", "--json"];
        var (code, first, err) = Plesim(args);
        Assert.True(code == 0, err);
        var (_, second, _) = Plesim(args);
        Assert.Equal(first, second);
        using var doc = JsonDocument.Parse(first);
        var run = doc.RootElement.GetProperty("runs")[0];
        Assert.True(run.GetProperty("metrics").GetProperty("bench.pause_exits_per_second").GetDouble() > 0, "the benchmark should take PAUSE exits");
        double calls = run.GetProperty("metrics").GetProperty("bench.yield_to_calls").GetDouble();
        Assert.True(calls > 0, "the plug-in handler should call yield_to");
        // A different seed draws a different shuffle stream: the plug-in's randomness follows the run seed.
        var (_, other, _) = Plesim(["run", lockBench, "--runs", "2", "--seed", "99", "--set", "duration=100ms", "--set", "warmup=20ms", "--plugin", plugin.Dll, "--set", "kvm.ple_handler=plugin:random-preempted", "--json"]);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void The_example_filter_plugs_into_the_directed_yield_and_compare_takes_plugin_policies()
    {
        Assert.True(plugin.ExitCode == 0, plugin.BuildLog);
        var (code, output, err) = Plesim(["compare", Amqp, "--policies", "directed-yield-2011,plugin:random-preempted,kvm.candidate_filter=plugin:kernel-mode-only", "--runs", "2",
            .. Short, "--plugin", plugin.Dll, "--json"]);
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(3, doc.RootElement.GetProperty("policies").GetArrayLength());
    }

    [Fact]
    public void Bad_plugin_paths_and_files_give_clear_errors()
    {
        var (code, _, err) = Plesim(["run", Amqp, "--plugin", "/no/such/plugin.dll"]);
        Assert.Equal(2, code);
        Assert.Contains("--plugin: plug-in '/no/such/plugin.dll' does not exist", err, StringComparison.Ordinal);
        var text = Path.Combine(Path.GetTempPath(), $"plesim-notdll-{Guid.NewGuid():N}.dll");
        File.WriteAllText(text, "not an assembly");
        try
        {
            (code, _, err) = Plesim(["run", Amqp, "--plugin", text]);
            Assert.Equal(2, code);
            Assert.Contains("is not a .NET assembly", err, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(text);
        }
        // An assembly without plug-in types.
        var reporting = typeof(PleSim.Reporting.Formats).Assembly.Location;
        (code, _, err) = Plesim(["run", Amqp, "--plugin", reporting]);
        Assert.Equal(2, code);
        Assert.Contains("defines no public class implementing IPauseHandlerPlugin, IYieldCandidateFilter or IGuestSpinlockPlugin", err, StringComparison.Ordinal);
        (code, _, err) = Plesim(["run", Amqp, "--set", "kvm.ple_handler=plugin:nothing-loaded-by-this-name"]);
        Assert.Equal(2, code);
        Assert.Contains("kvm.ple_handler", err, StringComparison.Ordinal);
        Assert.Contains("nothing-loaded-by-this-name", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Compare_writes_a_table_and_an_svg_plot_and_refuses_unknown_policies()
    {
        var svg = Path.Combine(Path.GetTempPath(), $"plesim-compare-{Guid.NewGuid():N}.svg");
        try
        {
            var (code, output, err) = Plesim(["compare", Amqp, "--policies", "none,oracle", "--runs", "2", .. Short, "--plot", svg]);
            Assert.True(code == 0, err);
            Assert.Contains("gain vs none", output, StringComparison.Ordinal);
            Assert.Contains("yield_to", output, StringComparison.Ordinal);
            Assert.StartsWith("<svg", File.ReadAllText(svg), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(svg);
        }
        var (bad, _, e2) = Plesim(["compare", Amqp, "--policies", "none,stack-2099", "--runs", "2"]);
        Assert.Equal(2, bad);
        Assert.Contains("'stack-2099' is not a policy", e2, StringComparison.Ordinal);
    }
}

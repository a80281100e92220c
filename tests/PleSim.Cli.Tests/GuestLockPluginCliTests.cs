using System.Diagnostics;
using System.Text.Json;
using PleSim.Cli;

namespace PleSim.Cli.Tests;

/// <summary>Builds a project with <c>dotnet build</c> into a private directory (the example plug-ins, the template's output).</summary>
internal static class DotnetBuild
{
    public static (int Code, string Log) Run(string workingDir, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDir };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        // No MSBuild worker nodes left behind the test.
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr);
    }

    public static void DeleteQuietly(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>Builds the example guest-lock plug-in (examples/plugins/SpinThenHalt) once for the tests that load it.</summary>
public sealed class SpinThenHaltFixture : IDisposable
{
    public SpinThenHaltFixture()
    {
        OutDir = Path.Combine(Path.GetTempPath(), $"plesim-guestlock-{Guid.NewGuid():N}");
        var project = CliTests.Repo("examples", "plugins", "SpinThenHalt", "SpinThenHalt.csproj");
        (ExitCode, BuildLog) = DotnetBuild.Run(CliTests.Repo(), "build", project, "-c", "Release", "-o", OutDir, "-nologo", "-v", "q");
        Dll = Path.Combine(OutDir, "SpinThenHalt.dll");
    }

    public string OutDir { get; }
    public string Dll { get; }
    public int ExitCode { get; }
    public string BuildLog { get; }

    public void Dispose() => DotnetBuild.DeleteQuietly(OutDir);
}

/// <summary>
/// The example guest-lock plug-in (decision 0041) end to end: it builds, <c>guest.spinlock:
/// plugin:NAME</c> selects it, its waiters halt where a plain ticket lock's spin, and a run is
/// byte-identical when repeated.
/// </summary>
public class GuestLockPluginCliTests(SpinThenHaltFixture plugin) : IClassFixture<SpinThenHaltFixture>
{
    private static (int Code, string Out, string Err) Plesim(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = PlesimCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string LockBench => CliTests.Repo("scenarios", "kvm", "lock-bench.yaml");

    // PLE off, so a waiter behind a preempted holder keeps spinning in guest mode until its lock decides otherwise.
    private string[] Run(string spinlock, params string[] more) =>
        ["run", LockBench, "--runs", "1", "--set", "duration=150ms", "--set", "warmup=50ms", "--set", "kvm.ple_handler=none",
         "--plugin", plugin.Dll, "--set", $"vms[0].guest.spinlock={spinlock}", .. more, "--json"];

    private static double Metric(string json, string name)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("runs")[0].GetProperty("metrics").GetProperty(name).GetDouble();
    }

    [Fact]
    public void The_example_guest_lock_builds_halts_its_waiters_and_runs_the_same_way_twice()
    {
        Assert.True(plugin.ExitCode == 0, plugin.BuildLog);
        var (code, first, err) = Plesim(Run("plugin:spin-then-halt"));
        Assert.True(code == 0, err);
        var (_, second, _) = Plesim(Run("plugin:spin-then-halt"));
        Assert.Equal(first, second);
        Assert.True(Metric(first, "bench.pv_lock_halts_per_second") > 0, "spin-then-halt should halt waiters that spun its budget");
        Assert.True(Metric(first, "bench.pv_kicks_per_second") > 0, "an unlock should kick a halted next waiter");
        // The same scenario with the plain ticket lock: nobody halts, so the halts above are the plug-in's.
        var (_, ticket, _) = Plesim(Run("ticket"));
        Assert.Equal(0, Metric(ticket, "bench.pv_lock_halts_per_second"));
    }

    [Fact]
    public void The_preemption_aware_example_runs_with_vcpu_is_preempted_and_a_bad_name_is_a_clear_error()
    {
        Assert.True(plugin.ExitCode == 0, plugin.BuildLog);
        var (code, output, err) = Plesim(Run("plugin:preempt-aware", "--set", "vms[0].guest.vcpu_is_preempted=true"));
        Assert.True(code == 0, err);
        Assert.True(Metric(output, "bench.pv_lock_halts_per_second") > 0);
        // plesim compare takes a guest-lock plug-in as a policy: every VM's guest.spinlock.
        (code, output, err) = Plesim(["compare", LockBench, "--policies", "pv-ticket,plugin:spin-then-halt", "--runs", "2", "--set", "duration=150ms", "--set", "warmup=50ms",
            "--set", "kvm.ple_handler=none", "--metric", "bench.lock_iterations_per_second", "--plugin", plugin.Dll, "--json"]);
        Assert.True(code == 0, err);
        using (var doc = JsonDocument.Parse(output))
            Assert.Equal(2, doc.RootElement.GetProperty("policies").GetArrayLength());
        (code, _, err) = Plesim(Run("plugin:spin-then-hal"));
        Assert.Equal(2, code);
        Assert.Contains("spinlock", err, StringComparison.Ordinal);
        Assert.Contains("did you mean 'plugin:spin-then-halt'?", err, StringComparison.Ordinal);
    }
}

using System.Diagnostics;
using System.Reflection;
using System.Text.Json;

namespace PleSim.Cli.Tests;

/// <summary>
/// plesim installs and runs outside the repository: as a .NET tool from a locally packed package
/// (always run) and as a self-contained single file (another ~1 min, so only
/// with PLESIM_SLOW_TESTS=1). Both go through scripts/install-plesim.sh, the command users run.
/// </summary>
public sealed class InstallTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("plesim-install-").FullName;

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    private static readonly string BuildConfiguration =
        typeof(InstallTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";

    private static (int Code, string Output) Run(string file, string workDir, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workDir };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        // The pack/publish inside the script must not leave MSBuild worker nodes behind the test.
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        // Pack the configuration this suite was built in (Debug under plain `dotnet test`): the
        // script's pack then reuses that build instead of compiling a Release one (decision 0071).
        psi.Environment["PLESIM_CONFIGURATION"] = BuildConfiguration;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(600_000))
        {
            p.Kill(entireProcessTree: true);
            return (-1, $"{file} timed out\n{stdout.Result}{stderr.Result}");
        }
        return (p.ExitCode, stdout.Result + (stderr.Result.Length > 0 ? "\n[stderr]\n" + stderr.Result : ""));
    }

    /// <summary>A working directory with no repository above it, so nothing can be found by walking up.</summary>
    private string Outside()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_tmp, "elsewhere")).FullName;
        Assert.False(File.Exists(Path.Combine(_tmp, "PleSim.slnx")));
        return dir;
    }

    private static void AssertVersion(string exe, string workDir)
    {
        var (code, output) = Run(exe, workDir, "--version");
        Assert.True(code == 0, output);
        Assert.StartsWith(typeof(PlesimCli).Assembly.GetName().Version!.ToString(3), output.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_packed_tool_installs_into_a_tool_path_and_reproduces_riel_2011_outside_the_repository()
    {
        var toolPath = Path.Combine(_tmp, "tools");
        var (code, output) = Run(CliTests.Repo("scripts", "install-plesim.sh"), _tmp, "--tool", toolPath);
        Assert.True(code == 0, output);
        var exe = Path.Combine(toolPath, "plesim");
        Assert.True(File.Exists(exe), output);

        var outside = Outside();
        AssertVersion(exe, outside);
        // The riel-2011 scenario is embedded: no scenarios/ folder exists here.
        var (rc, json) = Run(exe, outside, "reproduce", "riel-2011", "--quick", "--json");
        Assert.True(rc == 0, json);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal("riel-2011", doc.RootElement.GetProperty("experiment").GetString());
        Assert.NotEqual(0, doc.RootElement.GetProperty("cells").GetArrayLength());
    }

    [SkippableFact]
    public void The_single_file_build_runs_and_validates_a_shipped_scenario_outside_the_repository()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("PLESIM_SLOW_TESTS") == "1",
            "the self-contained single-file publish takes about a minute on 2 cores; set PLESIM_SLOW_TESTS=1 to run it");
        var dest = Path.Combine(_tmp, "single");
        var (code, output) = Run(CliTests.Repo("scripts", "install-plesim.sh"), _tmp, "--single-file", dest);
        Assert.True(code == 0, output);
        var exe = Path.Combine(dest, "plesim");
        Assert.True(File.Exists(exe), output);

        var outside = Outside();
        AssertVersion(exe, outside);
        var scenario = Path.Combine(outside, "lock-bench.yaml");
        File.Copy(CliTests.Repo("scenarios", "kvm", "lock-bench.yaml"), scenario);
        var (rc, report) = Run(exe, outside, "validate", scenario);
        Assert.True(rc == 0, report);
        Assert.Contains("ok", report, StringComparison.Ordinal);
        // A broken copy is refused with exit code 2, so the check above can fail.
        File.WriteAllText(scenario, File.ReadAllText(scenario) + "\nno_such_key: 1\n");
        Assert.Equal(2, Run(exe, outside, "validate", scenario).Code);
    }
}

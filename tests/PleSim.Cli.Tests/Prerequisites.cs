using System.Diagnostics;

namespace PleSim.Cli.Tests;

/// <summary>
/// Machine prerequisites of some tests (Chromium, Slurm): installed by
/// <c>scripts/install-prerequisites.sh</c>, which CI runs first; a test that finds one missing
/// runs the script once itself before giving up.
/// </summary>
internal static class Prerequisites
{
    private static readonly Lazy<(bool Ok, string Output)> Install = new(RunInstaller);

    /// <summary>Runs the install script (once per test run); returns whether it succeeded and what it printed.</summary>
    public static (bool Ok, string Output) EnsureInstalled() => Install.Value;

    private static (bool Ok, string Output) RunInstaller()
    {
        var script = CliTests.Repo("scripts", "install-prerequisites.sh");
        var (code, output) = Shell(script, []);
        return (code == 0, output);
    }

    /// <summary>Runs a program to completion; returns its exit code and its standard output and error together.</summary>
    public static (int Code, string Output) Shell(string file, IEnumerable<string> args, IDictionary<string, string>? env = null, int timeoutSeconds = 600)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
            psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            return (-1, $"{file} timed out after {timeoutSeconds} s\n{stdout.Result}{stderr.Result}");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}

using System.Diagnostics;

namespace PleSim.Experiments.Catalog;

/// <summary>What the check of a case's <c>preregistered_commit</c> found.</summary>
public enum PreregistrationState
{
    /// <summary>The commit exists in the case file's repository and holds the case file at the same path.</summary>
    Verified,

    /// <summary>The commit does not exist, or does not hold the case file: the case must not run.</summary>
    Refused,

    /// <summary>No repository to check against (a built-in case, no git, a file outside a work tree).</summary>
    Unverified,
}

/// <summary>The outcome of <see cref="Preregistration.Check"/>, with a sentence that says it.</summary>
public sealed record PreregistrationResult(PreregistrationState State, string Detail);

/// <summary>
/// Checks a case's pre-registration (decision 0018, decision 0095) where it can be checked: when
/// the case file lies in a git work tree and <c>git</c> runs, the recorded commit must exist and
/// contain the case file at the same path. Otherwise the commit is printed as recorded, not verified.
/// </summary>
public static class Preregistration
{
    /// <summary>The sentence for a built-in case, which has no file to check against a repository.</summary>
    public const string BuiltInDetail = "not verified: a built-in case embedded in the tool has no case file in a git repository to check it against";

    public static PreregistrationResult Check(string caseFile, string commit)
    {
        var full = Path.GetFullPath(caseFile);
        var dir = Path.GetDirectoryName(full) ?? ".";
        if (Git(dir, "rev-parse", "--is-inside-work-tree") is not { Code: 0, Out: "true" })
            return new(PreregistrationState.Unverified, $"not verified: {caseFile} is not inside a git work tree (or git is not available)");
        if (Git(dir, "rev-parse", "--show-prefix") is not { Code: 0 } prefix)
            return new(PreregistrationState.Unverified, "not verified: git could not name the file's path in its repository");
        var inRepo = prefix.Out + Path.GetFileName(full);
        if (Git(dir, "cat-file", "-e", commit + "^{commit}") is not { Code: 0 })
            return new(PreregistrationState.Refused, $"preregistered_commit {commit} is not a commit of the repository that holds {caseFile}");
        if (Git(dir, "cat-file", "-e", $"{commit}:{inRepo}") is not { Code: 0 })
            return new(PreregistrationState.Refused, $"commit {commit} does not contain {inRepo}: commit the case file first, then record that commit in preregistered_commit");
        return new(PreregistrationState.Verified, $"verified: the commit exists and contains {inRepo}");
    }

    private const int GitTimeoutMs = 10_000;

    private static (int Code, string Out)? Git(string dir, params string[] args)
    {
        var psi = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-C");
        psi.ArgumentList.Add(dir);
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi);
            if (p is null)
                return null;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(GitTimeoutMs))
            {
                p.Kill(entireProcessTree: true);
                return null; // a git that does not answer counts as no git: the commit is "not verified"
            }
            stderr.Wait();
            return (p.ExitCode, stdout.Result.Trim());
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // no git on the PATH
        }
    }
}

using System.Diagnostics;
using PleSim.Experiments.Catalog;
using PleSim.Reporting;

namespace PleSim.Cli.Tests;

/// <summary>
/// A case file's <c>preregistered_commit</c> is checked against git where it can be (decision 0095):
/// the commit must exist and hold the case file; outside a repository the commit is printed as not verified.
/// </summary>
public class PreregistrationTests
{
    private const string Case = "tosatti-2019-cpuidle-haltpoll";

    private static string Git(string dir, params string[] args)
    {
        var psi = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-C", dir, "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false" }.Concat(args))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"git {string.Join(" ", args)}: {error}");
        return output.Trim();
    }

    /// <summary>A temporary git repository with a copy of a shipped case committed under cases/, and a second commit that does not touch it.</summary>
    private static (string Dir, string File, string CaseCommit, string Before) Repository()
    {
        var dir = Directory.CreateTempSubdirectory("plesim-prereg").FullName;
        Git(dir, "init", "-q");
        File.WriteAllText(Path.Combine(dir, "README"), "before the case\n");
        Git(dir, "add", "README");
        Git(dir, "commit", "-q", "-m", "before");
        var before = Git(dir, "rev-parse", "HEAD");
        Directory.CreateDirectory(Path.Combine(dir, "cases"));
        var file = Path.Combine(dir, "cases", Case + ".yaml");
        File.WriteAllText(file, File.ReadAllText(CliTests.Repo("cases", Case + ".yaml")));
        Git(dir, "add", "cases");
        Git(dir, "commit", "-q", "-m", "case");
        return (dir, file, Git(dir, "rev-parse", "HEAD"), before);
    }

    [Fact]
    public void A_commit_that_holds_the_case_file_is_verified_one_that_does_not_or_does_not_exist_is_refused()
    {
        var (dir, file, caseCommit, before) = Repository();
        try
        {
            var ok = Preregistration.Check(file, caseCommit);
            Assert.Equal(PreregistrationState.Verified, ok.State);
            Assert.Contains("cases/" + Case + ".yaml", ok.Detail, StringComparison.Ordinal);
            Assert.Equal(PreregistrationState.Verified, Preregistration.Check(file, caseCommit[..12]).State);

            var missing = Preregistration.Check(file, "0123456789abcdef0123456789abcdef01234567");
            Assert.Equal(PreregistrationState.Refused, missing.State);
            Assert.Contains("is not a commit", missing.Detail, StringComparison.Ordinal);

            var earlier = Preregistration.Check(file, before);
            Assert.Equal(PreregistrationState.Refused, earlier.State);
            Assert.Contains("does not contain cases/" + Case + ".yaml", earlier.Detail, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Reproduce_refuses_a_case_file_whose_commit_does_not_exist_with_exit_2()
    {
        var (dir, file, _, _) = Repository();
        try
        {
            File.WriteAllText(file, System.Text.RegularExpressions.Regex.Replace(File.ReadAllText(file),
                "preregistered_commit: [0-9a-f]+", "preregistered_commit: 0123456789abcdef0123456789abcdef01234567"));
            var (code, output, err) = CatalogCliTests.Plesim("reproduce", file, "--quick");
            Assert.Equal(2, code);
            Assert.Contains("is not pre-registered: preregistered_commit 0123456789abcdef0123456789abcdef01234567 is not a commit", err, StringComparison.Ordinal);
            Assert.DoesNotContain("Pre-registered in commit", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Outside_git_and_for_built_in_cases_the_commit_is_printed_as_not_verified()
    {
        var dir = Directory.CreateTempSubdirectory("plesim-nogit").FullName;
        try
        {
            var file = Path.Combine(dir, Case + ".yaml");
            File.WriteAllText(file, File.ReadAllText(CliTests.Repo("cases", Case + ".yaml")));
            var c = CaseLoader.LoadFile(file);
            var outside = Preregistration.Check(file, c.PreregisteredCommit);
            Assert.Equal(PreregistrationState.Unverified, outside.State);
            var line = CatalogReport.PreregistrationLine(c with { PreregistrationCheck = outside });
            Assert.StartsWith($"Pre-registration commit recorded: {c.PreregisteredCommit} (not verified: ", line, StringComparison.Ordinal);
            Assert.Contains("is not inside a git work tree", line, StringComparison.Ordinal);

            var builtIn = CatalogReport.PreregistrationLine(CaseLoader.BuiltIn(Case));
            Assert.Contains("not verified: a built-in case", builtIn, StringComparison.Ordinal);
            Assert.DoesNotContain("Pre-registered in commit", builtIn, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}

/// <summary>Explanations under a catalog table are dated and headed as historical (their figures are of the build they were written on).</summary>
public class ExplanationLinesTests
{
    [Fact]
    public void Each_explanation_is_printed_with_when_it_was_written_under_a_header_that_the_table_is_current()
    {
        var lines = CatalogReport.ExplanationLines([
            new CaseExplanation("old figures", "docs/anomalies/x.md") { Written = "2026-11-26, commit 233bbe3, decisions up to 0066" },
            new CaseExplanation("undated", ""),
        ]);
        Assert.Equal("Explained after the result was seen (not part of the prediction; the verdict stands):", lines[0]);
        Assert.Contains("keeps the figures of the build it was written on", lines[1], StringComparison.Ordinal);
        Assert.Contains("the table above is this run", lines[1], StringComparison.Ordinal);
        Assert.Equal("  - [written 2026-11-26, commit 233bbe3, decisions up to 0066] old figures (docs/anomalies/x.md)", lines[2]);
        Assert.Equal("  - [written: date not recorded] undated", lines[3]);
    }

    [Fact]
    public void Under_a_quick_run_the_explanations_are_said_to_describe_the_full_runs()
    {
        // zhai-2009's explanation says the full 16-VCPU build never ends (no value); --quick runs two 4-VCPU guests, whose builds end.
        var c = CaseLoader.BuiltIn("zhai-2009-intel-ple");
        var e = c.Expression!;
        Assert.DoesNotContain(e.QuickSet, s => s.StartsWith("duration", StringComparison.Ordinal));
        CaseResult Result(bool quick) => new(c, Verdicts.Matches, [], [], 2, quick, 1.0, "");
        var quick = CatalogReport.Verdict(Result(true));
        Assert.Contains("  (This was a --quick run: 2 runs per cell with host.cpus=4 vms[0].vcpus=4", string.Join("\n", quick), StringComparison.Ordinal);
        Assert.EndsWith("the explanations describe the full runs, which --quick does not repeat.)", quick[^1], StringComparison.Ordinal);
        Assert.DoesNotContain(CatalogReport.Verdict(Result(false)), l => l.Contains("--quick run", StringComparison.Ordinal));
    }
}

/// <summary>The catalog's verdict lines state their rule and print gains as percentages, as <c>reproduce riel-2011</c> does.</summary>
public class CatalogVerdictLinesTests
{
    [Fact]
    public void A_gain_is_printed_in_percent_a_difference_of_gains_in_points_and_each_shape_verdict_states_its_rule()
    {
        var c = CaseLoader.BuiltIn("riel-2011");
        var grows = c.Shape.First(p => p.Operands.All(o => o.Kind == Operand.Gain));
        var r = new CaseResult(c, Verdicts.Inconclusive, [], [
            new PredicateResult(grows, Judgement.Holds, [Interval.Exact(0.266), Interval.Exact(0.094)], Judgement.Inconclusive,
                [new Interval(0.1314, 0.05, 0.21), new Interval(0.301, 0.2, 0.4)], new Interval(-0.1696, -0.3, 0.01)),
        ], 3, true, 1.0, "");
        var text = string.Join("\n", CatalogReport.Verdict(r));
        Assert.Contains(CatalogReport.ShapeRule, text, StringComparison.Ordinal);
        Assert.Contains("inconclusive on +13.1% [+5.0%, +21.0%] vs +30.1% [+20.0%, +40.0%], paired difference -17.0 pt [-30.0 pt, +1.0 pt]", text, StringComparison.Ordinal);
        Assert.Contains("holds on +26.6% vs +9.4%", text, StringComparison.Ordinal);
        Assert.DoesNotContain("0.1314", text, StringComparison.Ordinal);
        // The main job's rule names the catalog's, so the two verdicts on the same claims are not read as one rule.
        Assert.Contains("95% CI of per-seed differences", ReproduceReport.ShapeRule, StringComparison.Ordinal);
        Assert.Contains("no CI", ReproduceReport.ShapeRule, StringComparison.Ordinal);
    }
}

using System.Text.Json;
using PleSim.Cli;

namespace PleSim.Cli.Tests;

/// <summary><c>plesim reproduce --list / NAME / all</c>: the catalog of published results on the command line.</summary>
public class CatalogCliTests
{
    private static (int Code, string Out, string Err) Plesim(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = PlesimCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static List<string> CaseFiles() =>
        Directory.GetFiles(CliTests.Repo("cases"), "*.yaml").Select(f => Path.GetFileNameWithoutExtension(f)!).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public void List_prints_every_case_with_source_setup_measured_and_status()
    {
        var (code, output, err) = Plesim("reproduce", "--list");
        Assert.True(code == 0, err);
        foreach (var name in CaseFiles())
            Assert.Contains(name + " (", output, StringComparison.Ordinal);
        int blocks = output.Split("\n\n").Length - 1;
        Assert.Equal(CaseFiles().Count, blocks);
        foreach (var label in new[] { "  source:", "  set-up:", "  measured:", "  status:", "  pre-registered in commit " })
            Assert.Equal(CaseFiles().Count, output.Split('\n').Count(l => l.StartsWith(label, StringComparison.Ordinal)));
        Assert.Contains("cannot express yet: ", output, StringComparison.Ordinal);
        Assert.Contains("expressible: scenarios/riel-2011/amqp.yaml", output, StringComparison.Ordinal);
    }

    [Fact]
    public void List_json_carries_every_field_of_every_case()
    {
        var (code, output, err) = Plesim("reproduce", "--list", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToList();
        Assert.Equal(CaseFiles(), cases.Select(c => c.GetProperty("name").GetString()!).Order(StringComparer.Ordinal).ToList());
        foreach (var c in cases)
        {
            foreach (var key in new[] { "title", "setup", "measured", "preregistered_commit" })
                Assert.False(string.IsNullOrWhiteSpace(c.GetProperty(key).GetString()), $"{c.GetProperty("name")}: {key}");
            var src = c.GetProperty("source");
            foreach (var key in new[] { "authors", "title", "venue", "date" })
                Assert.False(string.IsNullOrWhiteSpace(src.GetProperty(key).GetString()), $"{c.GetProperty("name")}: source.{key}");
            Assert.True(src.GetProperty("url").GetString()!.Length + src.GetProperty("message_id").GetString()!.Length > 0);
            var pub = c.GetProperty("published");
            int columns = pub.GetProperty("columns").GetArrayLength();
            Assert.All(pub.GetProperty("rows").EnumerateArray(), r => Assert.Equal(columns, r.GetProperty("values").GetArrayLength()));
            Assert.True(c.GetProperty("shape").GetArrayLength() > 0);
            bool expressible = c.GetProperty("expressible").GetBoolean();
            Assert.Equal(expressible, c.GetProperty("expression").ValueKind == JsonValueKind.Object);
            Assert.Equal(!expressible, c.GetProperty("cannot_express").ValueKind == JsonValueKind.String);
        }
    }

    [Fact]
    public void A_case_that_cannot_be_expressed_prints_its_numbers_and_the_missing_feature()
    {
        var (code, output, err) = Plesim("reproduce", "raghavendra-2012-dy-eligible");
        Assert.True(code == 0, err);
        Assert.Contains("105", output, StringComparison.Ordinal);
        Assert.Contains("(not simulated)", output, StringComparison.Ordinal);
        Assert.Contains("Verdict: CANNOT EXPRESS YET — missing: workload kinds kernbench", output, StringComparison.Ordinal);
        Assert.Contains("Pre-registered in commit ", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Reproduce_all_quick_json_has_a_scorecard_entry_per_case()
    {
        var (code, output, err) = Plesim("reproduce", "all", "--quick", "--runs", "2", "--json", "-j", "2");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(CaseFiles(), results.Select(r => r.GetProperty("name").GetString()!).Order(StringComparer.Ordinal).ToList());
        var totals = doc.RootElement.GetProperty("totals");
        Assert.Equal(results.Count, totals.EnumerateObject().Sum(t => t.Value.GetInt32()));
        foreach (var r in results)
        {
            var verdict = r.GetProperty("verdict").GetString();
            Assert.Contains(verdict, new[] { "matches", "does not match", "inconclusive", "cannot express yet", "runs failed" });
            Assert.Matches("^[0-9a-f]{40}$", r.GetProperty("preregistered_commit").GetString()!);
            if (verdict == "cannot express yet")
            {
                Assert.False(string.IsNullOrWhiteSpace(r.GetProperty("missing_feature").GetString()));
                Assert.Equal(0, r.GetProperty("cells").GetArrayLength());
            }
            else
            {
                Assert.Equal(JsonValueKind.Null, r.GetProperty("missing_feature").ValueKind);
                Assert.All(r.GetProperty("cells").EnumerateArray(), c => Assert.Equal(2, c.GetProperty("n").GetInt32() + c.GetProperty("failed_runs").GetInt32()));
                Assert.All(r.GetProperty("predicates").EnumerateArray(), p => Assert.Contains(p.GetProperty("on_published").GetString(), new[] { "holds", "no value" }));
            }
        }
        var riel = results.Single(r => r.GetProperty("name").GetString() == "riel-2011");
        Assert.Equal(12, riel.GetProperty("cells").GetArrayLength());
        Assert.Equal("vms[0].workload.broker_in_per_message", riel.GetProperty("case").GetProperty("calibrate").GetProperty("key").GetString());
    }

    [Fact]
    public void Reproduce_all_text_ends_with_the_scorecard_and_totals()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"plesim-cat-{Guid.NewGuid():N}");
        try
        {
            var (code, output, err) = Plesim("reproduce", "all", "--quick", "--runs", "2", "-j", "2", "--out", dir);
            Assert.True(code == 0, err);
            Assert.Contains("catalog scorecard", output, StringComparison.Ordinal);
            Assert.Matches(@"\d+ cases: \d+ match, \d+ do not match, \d+ inconclusive, \d+ cannot express yet\.", output);
            foreach (var name in CaseFiles())
                Assert.Contains(name.Length > 34 ? name[..34] : name, output, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(dir, "catalog.json")));
            Assert.Contains("catalog scorecard", File.ReadAllText(Path.Combine(dir, "catalog.txt")), StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_case_file_being_written_is_checked_with_file_line_column()
    {
        var file = Path.Combine(Path.GetTempPath(), $"plesim-case-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, File.ReadAllText(CliTests.Repo("cases", "zhai-2009-intel-ple.yaml"))
            .Replace("positive: \"kernel build @ 2x\"", "negative: \"kernel build @ 2x\"", StringComparison.Ordinal));
        try
        {
            var (code, _, err) = Plesim("reproduce", file);
            Assert.Equal(2, code);
            Assert.Matches($@"{System.Text.RegularExpressions.Regex.Escape(file)}:\d+:\d+: error: name: the case 'zhai-2009-intel-ple' must be in a file named", err);
            Assert.Matches(@":\d+:\d+: error: shape\[0\]: .* does not hold on the published numbers", err);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void A_case_file_that_is_not_preregistered_is_checked_but_never_run()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"plesim-case-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "riel-2011-boot.yaml");
        var text = File.ReadAllText(CliTests.Repo("cases", "riel-2011-boot.yaml"));
        File.WriteAllText(file, System.Text.RegularExpressions.Regex.Replace(text, "preregistered_commit: [0-9a-f]+", "preregistered_commit: pending"));
        try
        {
            var (code, output, err) = Plesim("reproduce", file, "--json");
            Assert.True(code == 0, err);
            Assert.Contains("is well formed. Not run: it is not pre-registered yet", output, StringComparison.Ordinal);
            Assert.DoesNotContain("\"results\"", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Bad_catalog_invocations_are_refused_with_exit_code_2()
    {
        var (code, _, err) = Plesim("reproduce", "riel-2011-bot");
        Assert.Equal(2, code);
        Assert.Contains("did you mean 'riel-2011-boot'?", err, StringComparison.Ordinal);
        Assert.Equal(2, Plesim("reproduce").Code);
        Assert.Equal(2, Plesim("reproduce", "all", "--cgroups").Code);
        Assert.Equal(2, Plesim("reproduce", "zhai-2009-intel-ple", "--list").Code);
    }
}

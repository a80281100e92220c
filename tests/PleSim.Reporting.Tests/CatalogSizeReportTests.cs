using System.Text.Json;
using PleSim.Experiments.Catalog;
using PleSim.Experiments.Running;

namespace PleSim.Reporting.Tests;

/// <summary>
/// A catalog case's verdict says it is about the pre-registered shape, and the size check is printed
/// under it, apart from it, in the text, the scorecard, the JSON and the HTML page (decision 0098).
/// Synthetic numbers only.
/// </summary>
public class CatalogSizeReportTests
{
    /// <summary>A relative case of two cells (published +10% and +40%), judged "matches", with the simulated changes given.</summary>
    private static CaseResult Result(double first, double second, string verdict = Verdicts.Matches, RunResult[]? secondRuns = null)
    {
        var c = CaseLoader.LoadText(
            "name: demo\n" +
            "title: a demo\n" +
            "source: {authors: A. Author, title: A patch, venue: LKML, date: 2012-07-10, url: https://example.org/x}\n" +
            "setup: two guests\n" +
            "measured: change of throughput (%)\n" +
            "published:\n  unit: \"% change\"\n  columns: [1x, 2x]\n  rows:\n    - {name: gain, values: [10, 40]}\n" +
            "shape:\n  - {claim: gains at 1x, positive: \"gain @ 1x\"}\n  - {claim: gains at 2x, positive: \"gain @ 2x\"}\n" +
            "cannot_express: a workload kind\n" +
            "preregistered_commit: 0123456789abcdef0123456789abcdef01234567\n", "demo.yaml");
        c = c with { Expression = new CaseExpression("s.yaml", "m", 2, 2, [], [], [], "") { Relative = new RelativeCells(["x=1"], false) }, CannotExpress = "" };
        CaseCell Cell(string column, double v, RunResult[]? runs = null) =>
            new("gain", column, [], runs ?? [], MetricSummary.Of("change of m over the base (%)", [v, v]));
        return new CaseResult(c, verdict, [Cell("1x", first), Cell("2x", second, secondRuns)], [], 2, true, 1.0, "");
    }

    [Fact]
    public void The_verdict_line_says_it_is_about_the_shape_and_the_size_line_follows_it()
    {
        var lines = CatalogReport.Verdict(Result(first: 12, second: 400));
        int v = lines.ToList().FindIndex(l => l.StartsWith("Verdict: ", StringComparison.Ordinal));
        Assert.StartsWith("Verdict: MATCHES IN SHAPE (", lines[v], StringComparison.Ordinal);
        Assert.Contains("not the published sizes", lines[v], StringComparison.Ordinal);
        Assert.Equal(
            "Size (apart from the verdict): 1 of 2 quantities within 2× of the published; furthest: gain @ 2x: simulated +400.0% vs published +40% (10×).",
            lines[v + 1]);
        Assert.Equal("  Rule: " + SizeCheck.Rule, lines[v + 2]);
        Assert.Equal("  gain @ 1x: simulated +12.0% vs published +10% (1.2×, within)", lines[v + 3]);
        Assert.Equal("  gain @ 2x: simulated +400.0% vs published +40% (10×)", lines[v + 4]);
    }

    [Fact]
    public void A_cell_whose_window_opened_before_a_vm_had_started_gets_a_start_up_line()
    {
        static RunResult Run(ulong seed, double notStarted)
        {
            var r = new RunResult { Seed = seed };
            r.Metrics.Add(new("guest1.frac_not_started", notStarted));
            r.Metrics.Add(new("guest1.host_share_drift", -notStarted));
            return r;
        }
        var lines = CatalogReport.Verdict(Result(first: 12, second: 40, secondRuns: [Run(1, 0.2), Run(2, 0.4)]));
        Assert.Equal("Start-up in the window, gain @ 2x: guest1's VCPU threads had not yet run for 30% of their time (guest1.frac_not_started, up to 40%; docs/anomalies/multi-vm-start-up.md).",
            Assert.Single(lines, l => l.StartsWith("Start-up", StringComparison.Ordinal)));
        Assert.Equal("Not steady, gain @ 2x: guest1's share of the host's CPUs moved by -30 points between the window's halves (guest1.host_share_drift, mean of 2 runs).",
            Assert.Single(lines, l => l.StartsWith("Not steady", StringComparison.Ordinal)));
        Assert.DoesNotContain(CatalogReport.Verdict(Result(first: 12, second: 40)), l => l.StartsWith("Start-up", StringComparison.Ordinal) || l.StartsWith("Not steady", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(Verdicts.Matches, "MATCHES IN SHAPE")]
    [InlineData(Verdicts.DoesNotMatch, "DOES NOT MATCH IN SHAPE")]
    [InlineData(Verdicts.Inconclusive, "INCONCLUSIVE IN SHAPE")]
    [InlineData(Verdicts.Failed, "RUNS FAILED")]
    public void Each_verdict_is_labelled_with_what_it_checked(string verdict, string label) =>
        Assert.Equal(label, CatalogReport.VerdictLabel(verdict));

    [Fact]
    public void The_size_line_names_opposite_signs_and_published_changes_near_zero()
    {
        var x = new SizeComparison("a @ b", SizeComparison.Change, 10, -5, -0.5, SizeOutcome.OppositeSign);
        Assert.Equal("a @ b: simulated -5.0% vs published +10% (opposite sign)", CatalogReport.Describe(x, "%"));
        var near = new SizeComparison("a @ c", SizeComparison.Change, 0.4, 6, null, SizeOutcome.PublishedNearZero);
        Assert.Equal("a @ c: simulated +6.0% vs published +0.4% (published ≈ 0)", CatalogReport.Describe(near, "%"));
        var none = new SizeComparison("a @ d", SizeComparison.Level, 98, null, null, SizeOutcome.NoSimulatedValue);
        Assert.Equal("a @ d: no simulated value vs published 98 ms (not compared)", CatalogReport.Describe(none, "ms"));
        var summary = CatalogReport.SizeSummary(new SizeCheck([x, near, none]), Result(10, 40).Case);
        Assert.StartsWith("0 of 3 quantities within 2× of the published (1 of opposite sign, 1 where the published change is ≈ 0, 1 without a simulated value); furthest: a @ b:", summary, StringComparison.Ordinal);
    }

    [Fact]
    public void The_json_keeps_the_verdict_values_and_adds_the_size_check_apart_from_the_totals()
    {
        var results = new[] { Result(12, 400), Result(11, 44), Result(30, 5, Verdicts.DoesNotMatch) };
        using var doc = JsonDocument.Parse(CatalogReport.ResultsJson(results));
        var root = doc.RootElement;
        Assert.Equal(["matches", "does not match", "inconclusive", "cannot express yet", "runs failed"], root.GetProperty("totals").EnumerateObject().Select(t => t.Name));
        Assert.Equal(2, root.GetProperty("totals").GetProperty("matches").GetInt32());
        var st = root.GetProperty("size_totals");
        Assert.Equal(1, st.GetProperty("matches_within_size").GetInt32());
        Assert.Equal(1, st.GetProperty("cases_within_size").GetInt32());
        Assert.Equal(3, st.GetProperty("cases_compared").GetInt32());
        var first = root.GetProperty("results")[0];
        Assert.Equal("matches", first.GetProperty("verdict").GetString());
        Assert.Contains("not the published sizes", first.GetProperty("verdict_checks").GetString(), StringComparison.Ordinal);
        var size = first.GetProperty("size");
        Assert.Equal(2, size.GetProperty("quantities").GetInt32());
        Assert.Equal(1, size.GetProperty("within").GetInt32());
        Assert.False(size.GetProperty("all_within").GetBoolean());
        foreach (var x in size.GetProperty("comparisons").EnumerateArray())
        {
            Assert.Equal(x.GetProperty("simulated").GetDouble() / x.GetProperty("published").GetDouble(), x.GetProperty("ratio").GetDouble(), 12);
            Assert.Equal("%", x.GetProperty("unit").GetString());
        }
        Assert.Equal(["within", "outside"], size.GetProperty("comparisons").EnumerateArray().Select(x => x.GetProperty("outcome").GetString()));
        Assert.True(root.GetProperty("results")[1].GetProperty("size").GetProperty("all_within").GetBoolean());
    }

    [Fact]
    public void The_scorecard_totals_count_the_matches_within_size_and_the_html_page_shows_the_size_check()
    {
        var results = new[] { Result(12, 400), Result(11, 44), Result(30, 5, Verdicts.DoesNotMatch) };
        Assert.Equal("3 cases: 2 match in shape (1 of them also within 2× in size), 1 do not match, 0 inconclusive, 0 cannot express yet.",
            CatalogReport.Totals(results));
        var page = CatalogHtml.Render(CatalogReport.ResultsJson(results), "test");
        string H(string text) => System.Net.WebUtility.HtmlEncode(text);
        Assert.Contains(H("<th>size within 2×</th>").Replace("&lt;", "<", StringComparison.Ordinal).Replace("&gt;", ">", StringComparison.Ordinal), page, StringComparison.Ordinal);
        Assert.Contains("<td class=\"num\">1/2</td>", page, StringComparison.Ordinal);
        Assert.Contains("data-size=\"matches-within-size\">1<", page, StringComparison.Ordinal);
        Assert.Contains("<dt>size (apart from the verdict)</dt><dd>" + H("1 of 2 quantities within 2×"), page, StringComparison.Ordinal);
        Assert.Contains("<tr data-outcome=\"outside\">", page, StringComparison.Ordinal);
        // A catalog.json of an older PleSim (no size check) still renders.
        var old = CatalogReport.ResultsJson(results).Replace("\"size\"", "\"size_old\"", StringComparison.Ordinal).Replace("\"size_totals\"", "\"size_totals_old\"", StringComparison.Ordinal);
        Assert.Contains("id=\"scorecard\"", CatalogHtml.Render(old, "old"), StringComparison.Ordinal);
    }
}

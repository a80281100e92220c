using System.Text.Json;
using PleSim.Cli;

namespace PleSim.Cli.Tests;

/// <summary>
/// One quick run of the whole catalog (<c>reproduce all --quick --runs 2 -j 2 --out DIR</c>), shared by
/// the tests that read its scorecard, its files and its JSON: running every case is the slowest thing
/// the suite does, so it is done once.
/// </summary>
public sealed class QuickCatalogFixture : IDisposable
{
    public QuickCatalogFixture() =>
        (Code, Out, Err) = CatalogCliTests.Plesim("reproduce", "all", "--quick", "--runs", "2", "-j", "2", "--out", Dir);

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), $"plesim-cat-{Guid.NewGuid():N}");
    public int Code { get; }
    public string Out { get; }
    public string Err { get; }

    public void Dispose()
    {
        if (Directory.Exists(Dir))
            Directory.Delete(Dir, true);
    }
}

/// <summary><c>plesim reproduce --list / NAME / all</c>: the catalog of published results on the command line.</summary>
public class CatalogCliTests(QuickCatalogFixture quickCatalog) : IClassFixture<QuickCatalogFixture>
{
    internal static (int Code, string Out, string Err) Plesim(params string[] args)
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
        // A case whose scenario declares unknowns says so and names the study (decision 0101).
        Assert.Contains("  unknowns:  5 declared in its scenario (plesim reproduce wanpeng-2019-pv-sched-yield --uncertainty)", output, StringComparison.Ordinal);
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
            Assert.True(c.GetProperty("unknowns").GetInt32() >= 0);
        }
        Assert.Equal(36, cases.Single(c => c.GetProperty("name").GetString() == "riel-2011").GetProperty("unknowns").GetInt32());
        Assert.Equal(0, cases.Single(c => c.GetProperty("name").GetString() == "wanpeng-2026-lag-credit-v3").GetProperty("unknowns").GetInt32());
    }

    [Fact]
    public void A_case_that_cannot_be_expressed_prints_its_numbers_and_the_missing_feature()
    {
        // zhai-2009 was the example until Xen's credit scheduler made it expressible (decision 0063).
        var (code, output, err) = Plesim("reproduce", "ouyang-lange-2013-preemptable-ticket");
        Assert.True(code == 0, err);
        Assert.Contains("mean over the benchmarks", output, StringComparison.Ordinal);
        Assert.Contains("(not simulated)", output, StringComparison.Ordinal);
        Assert.Contains("Verdict: CANNOT EXPRESS YET — missing: the paper's paravirtual preemptable ticket spinlock", output, StringComparison.Ordinal);
        Assert.Contains("Pre-registration commit recorded: ", output, StringComparison.Ordinal);
        Assert.Contains("(not verified: a built-in case", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Reproduce_all_quick_json_has_a_scorecard_entry_per_case()
    {
        // The catalog.json that --out writes is what --json prints (report --json is checked against it below).
        Assert.True(quickCatalog.Code == 0, quickCatalog.Err);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(quickCatalog.Dir, "catalog.json")));
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(CaseFiles(), results.Select(r => r.GetProperty("name").GetString()!).Order(StringComparer.Ordinal).ToList());
        var totals = doc.RootElement.GetProperty("totals");
        Assert.Equal(results.Count, totals.EnumerateObject().Sum(t => t.Value.GetInt32()));
        foreach (var r in results)
        {
            var verdict = r.GetProperty("verdict").GetString();
            // Every shipped case must run: a failed run in a quick round is a broken case or scenario.
            Assert.Contains(verdict, new[] { "matches", "does not match", "inconclusive", "cannot express yet" });
            Assert.All(r.GetProperty("cells").EnumerateArray(), c => Assert.Equal(0, c.GetProperty("failed_runs").GetInt32()));
            Assert.Matches("^[0-9a-f]{40}$", r.GetProperty("preregistered_commit").GetString()!);
            if (verdict == "cannot express yet")
            {
                Assert.False(string.IsNullOrWhiteSpace(r.GetProperty("missing_feature").GetString()));
                Assert.Equal(0, r.GetProperty("cells").GetArrayLength());
            }
            else
            {
                Assert.Equal(JsonValueKind.Null, r.GetProperty("missing_feature").ValueKind);
                Assert.All(r.GetProperty("cells").EnumerateArray(), c => Assert.Equal(2, c.GetProperty("n").GetInt32() + c.GetProperty("failed_runs").GetInt32() + c.GetProperty("no_value_runs").GetInt32()));
                Assert.All(r.GetProperty("predicates").EnumerateArray(), p => Assert.Contains(p.GetProperty("on_published").GetString(), new[] { "holds", "no value" }));
            }
        }
        var riel = results.Single(r => r.GetProperty("name").GetString() == "riel-2011");
        Assert.Equal(12, riel.GetProperty("cells").GetArrayLength());
        Assert.Equal("vms[0].workload.broker_in_per_message", riel.GetProperty("case").GetProperty("calibrate").GetProperty("key").GetString());
        foreach (var r in results)
            AssertCompleteResult(r, runs: 2);
    }

    /// <summary>
    /// Everything the scorecard of one case stands on is in its JSON: the source (authors, title,
    /// venue, date, url or message id), set-up, what was measured, the published table, every
    /// simulated cell with mean, CI, run count, seeds and values, every predicate with its verdict
    /// and intervals, the case's verdict, pre-registration commit, missing feature and calibration.
    /// </summary>
    internal static void AssertCompleteResult(JsonElement r, int runs)
    {
        var name = r.GetProperty("name").GetString()!;
        var c = r.GetProperty("case");
        Assert.Equal(name, c.GetProperty("name").GetString());
        foreach (var key in new[] { "title", "setup", "measured" })
            Assert.False(string.IsNullOrWhiteSpace(c.GetProperty(key).GetString()), $"{name}: case.{key}");
        var src = c.GetProperty("source");
        foreach (var key in new[] { "authors", "title", "venue", "date" })
            Assert.False(string.IsNullOrWhiteSpace(src.GetProperty(key).GetString()), $"{name}: source.{key}");
        Assert.True(src.GetProperty("url").GetString()!.Length + src.GetProperty("message_id").GetString()!.Length > 0, $"{name}: source has neither url nor message_id");
        var pub = c.GetProperty("published");
        Assert.False(string.IsNullOrWhiteSpace(pub.GetProperty("unit").GetString()), $"{name}: published.unit");
        var columns = pub.GetProperty("columns").EnumerateArray().Select(x => x.GetString()!).ToList();
        var rows = pub.GetProperty("rows").EnumerateArray().ToList();
        Assert.NotEmpty(columns);
        Assert.NotEmpty(rows);
        Assert.All(rows, row => Assert.Equal(columns.Count, row.GetProperty("values").GetArrayLength()));
        Assert.Matches("^[0-9a-f]{40}$", r.GetProperty("preregistered_commit").GetString()!);
        Assert.Equal(r.GetProperty("preregistered_commit").GetString(), c.GetProperty("preregistered_commit").GetString());
        Assert.True(c.TryGetProperty("calibrate", out var cal), $"{name}: calibrate");
        if (cal.ValueKind == JsonValueKind.Object)
        {
            foreach (var key in new[] { "column", "key", "value" })
                Assert.False(string.IsNullOrWhiteSpace(cal.GetProperty(key).GetString()), $"{name}: calibrate.{key}");
            Assert.Contains(cal.GetProperty("column").GetString(), columns);
        }
        else
        {
            Assert.Equal(JsonValueKind.Null, cal.ValueKind);
        }
        var verdict = r.GetProperty("verdict").GetString();
        Assert.Contains(verdict, new[] { "matches", "does not match", "inconclusive", "cannot express yet", "runs failed" });
        bool expressible = c.GetProperty("expressible").GetBoolean();
        Assert.Equal(!expressible, verdict == "cannot express yet");
        Assert.Equal(expressible ? JsonValueKind.Null : JsonValueKind.String, c.GetProperty("cannot_express").ValueKind);
        var cells = r.GetProperty("cells").EnumerateArray().ToList();
        if (expressible)
        {
            Assert.Equal(rows.Count * columns.Count, cells.Count);
            foreach (var cell in cells)
            {
                var at = $"{name}: {cell.GetProperty("row").GetString()} @ {cell.GetProperty("column").GetString()}";
                Assert.Contains(cell.GetProperty("column").GetString(), columns);
                Assert.Contains(rows, row => row.GetProperty("name").GetString() == cell.GetProperty("row").GetString());
                Assert.True(cell.TryGetProperty("published", out _), at);
                Assert.Equal(runs, cell.GetProperty("runs").GetInt32());
                // A seed either counts (n), failed, or gave no value (e.g. a change over a base of 0).
                int n = cell.GetProperty("n").GetInt32();
                Assert.Equal(runs, n + cell.GetProperty("failed_runs").GetInt32() + cell.GetProperty("no_value_runs").GetInt32());
                var values = cell.GetProperty("values").EnumerateArray().Where(v => v.ValueKind == JsonValueKind.Number).Select(v => v.GetDouble()).ToList();
                Assert.Equal(n, values.Count);
                Assert.Equal(runs, cell.GetProperty("seeds").GetArrayLength());
                if (n == 0)
                    continue;
                double mean = cell.GetProperty("mean").GetDouble();
                Assert.Equal(values.Average(), mean, 9);
                if (n >= 2)
                    Assert.True(cell.GetProperty("ci95_low").GetDouble() <= mean && mean <= cell.GetProperty("ci95_high").GetDouble(), at);
            }
            // Cells are paired by seed: every cell ran the same seeds.
            Assert.Single(cells.Select(x => string.Join(",", x.GetProperty("seeds").EnumerateArray().Select(v => v.GetUInt64()))).Distinct());
            Assert.Equal(runs, r.GetProperty("runs_per_cell").GetInt32());
        }
        else
        {
            Assert.Empty(cells);
            Assert.False(string.IsNullOrWhiteSpace(r.GetProperty("missing_feature").GetString()));
        }
        // The size check, apart from the verdict (decision 0098): its counts agree with its comparisons.
        var size = r.GetProperty("size");
        if (!expressible)
        {
            Assert.Equal(JsonValueKind.Null, size.ValueKind);
        }
        else
        {
            var comparisons = size.GetProperty("comparisons").EnumerateArray().ToList();
            Assert.Equal(comparisons.Count, size.GetProperty("quantities").GetInt32());
            Assert.Equal(comparisons.Count(x => x.GetProperty("outcome").GetString() == "within"), size.GetProperty("within").GetInt32());
            foreach (var x in comparisons)
            {
                if (x.GetProperty("ratio").ValueKind == JsonValueKind.Number)
                    Assert.Equal(x.GetProperty("simulated").GetDouble() / x.GetProperty("published").GetDouble(), x.GetProperty("ratio").GetDouble(), 9);
                Assert.Contains(x.GetProperty("outcome").GetString(), new[] { "within", "outside", "opposite sign", "published near zero", "no simulated value" });
            }
        }
        var shape = c.GetProperty("shape").EnumerateArray().ToList();
        var predicates = r.GetProperty("predicates").EnumerateArray().ToList();
        Assert.NotEmpty(predicates);
        Assert.Equal(shape.Count, predicates.Count);
        foreach (var p in predicates)
        {
            Assert.False(string.IsNullOrWhiteSpace(p.GetProperty("claim").GetString()), $"{name}: predicate claim");
            Assert.False(string.IsNullOrWhiteSpace(p.GetProperty("predicate").GetString()), $"{name}: predicate");
            Assert.Contains(p.GetProperty("on_published").GetString(), new[] { "holds", "no value" });
            var onSim = p.GetProperty("on_simulated").GetString();
            Assert.Contains(onSim, expressible ? new[] { "holds", "fails", "inconclusive", "no value" } : ["not simulated"]);
            foreach (var key in new[] { "published_values", "simulated_values", "simulated_paired_difference" })
            {
                foreach (var v in p.GetProperty(key).EnumerateArray())
                {
                    foreach (var k in new[] { "mean", "ci95_low", "ci95_high" })
                        Assert.True(v.TryGetProperty(k, out _), $"{name}: {key}.{k}");
                }
            }
            if (expressible && onSim != "no value")
                Assert.NotEqual(0, p.GetProperty("simulated_values").GetArrayLength());
        }
    }

    /// <summary>A case file on the lock benchmark (2 × 2 cells, 20 ms runs with --quick), named like its file.</summary>
    internal static string TinyCaseFile(string dir, string name = "tiny-lock")
    {
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, name + ".yaml");
        File.WriteAllText(file,
            $"name: {name}\n" +
            "title: a small case for tests\n" +
            "source: {authors: A. Author, title: A patch, venue: LKML, date: 2012-07-10, url: https://example.org/x, message_id: <x@example.org>}\n" +
            "setup: one guest on the lock benchmark\n" +
            "measured: lock iterations per second\n" +
            "published:\n  unit: ops/s\n  columns: [c1, c2]\n  rows:\n    - {name: a, values: [10, 12]}\n    - {name: b, values: [8, 9]}\n" +
            "shape:\n  - {claim: a above b, greater: [\"a @ c1\", \"b @ c1\"]}\n  - {claim: a gains, positive: \"gain(a @ c2; b @ c2)\"}\n" +
            "expression:\n  scenario: scenarios/kvm/lock-bench.yaml\n  metric: bench.lock_iterations_per_second\n  runs: 4\n" +
            "  quick: {runs: 3, set: [duration=20ms, warmup=5ms]}\n" +
            "  rows: {a: [\"kvm.ple_handler=none\"], b: [\"kvm.ple_handler=directed-yield-2011\"]}\n" +
            "  columns: {c1: [], c2: [\"kvm.ple_window=1024\"]}\n" +
            "calibrate: {column: c1, key: kvm.ple_window, value: \"4096\", note: a test calibration}\n" +
            "preregistered_commit: 0123456789abcdef0123456789abcdef01234567\n");
        return file;
    }

    /// <summary>JSON output without the wall-time fields (the only part of a result that depends on the machine).</summary>
    internal static string WithoutTimings(string json) =>
        string.Join("\n", json.Split('\n').Where(l => !l.Contains("\"wall_seconds\"", StringComparison.Ordinal)));

    [Fact]
    public void A_case_run_in_shards_merged_and_resumed_prints_the_in_memory_result_without_running_again()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"plesim-catshard-{Guid.NewGuid():N}");
        try
        {
            var file = TinyCaseFile(Path.Combine(dir, "cases"));
            var outDir = Path.Combine(dir, "out");
            var (code, memory, err) = Plesim("reproduce", file, "--quick", "--json", "-j", "1");
            Assert.True(code == 0, err);
            using (var doc = JsonDocument.Parse(memory))
                AssertCompleteResult(doc.RootElement.GetProperty("results")[0], runs: 3);

            (code, var shardOut, err) = Plesim("reproduce", file, "--quick", "--out", outDir, "--shard", "1/2", "-j", "1");
            Assert.True(code == 0, err);
            Assert.Contains("shard 1/2 of tiny-lock complete", err, StringComparison.Ordinal);
            Assert.DoesNotContain("Verdict", shardOut, StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(outDir, "tiny-lock", "shard-1-of-2.sqlite")));

            // status on the catalog output names the case and the shard still missing.
            (code, var status, err) = Plesim("status", outDir);
            Assert.True(code == 0, err);
            Assert.Contains("tiny-lock:", status, StringComparison.Ordinal);
            Assert.Contains("shards without a store yet: 2/2", status, StringComparison.Ordinal);
            Assert.Contains("a @ c1", status, StringComparison.Ordinal);

            // (Shard 2 from SLURM_ARRAY_TASK_ID is what deploy/slurm/catalog.sbatch does; DeployTests runs it. Setting the
            // variables here would leak into tests running in parallel in this process.)
            (code, _, err) = Plesim("reproduce", file, "--quick", "--out", outDir, "--shard", "2/2", "--resume", "-j", "1");
            Assert.True(code == 0, err);
            Assert.Contains("shard 2/2 of tiny-lock complete", err, StringComparison.Ordinal);

            // Before the merge the whole case cannot be read; after it, nothing runs again.
            (code, _, err) = Plesim("reproduce", file, "--quick", "--out", outDir, "--resume");
            Assert.Equal(2, code);
            Assert.Contains("plesim merge", err, StringComparison.Ordinal);
            (code, _, err) = Plesim("merge", outDir);
            Assert.True(code == 0, err);
            Assert.Contains("tiny-lock: merged 12 run(s) of 4 point(s) from 2 store(s)", err, StringComparison.Ordinal);
            (code, var resumed, err) = Plesim("reproduce", file, "--quick", "--out", outDir, "--resume", "--json");
            Assert.True(code == 0, err);
            Assert.Contains("0 run(s) done now, 12 were already stored", err, StringComparison.Ordinal);
            Assert.Equal(WithoutTimings(memory), WithoutTimings(resumed));
            Assert.Equal(WithoutTimings(memory), WithoutTimings(File.ReadAllText(Path.Combine(outDir, "catalog.json"))));

            // An existing store is not overwritten without --resume; a store is not resumed as a plain sweep.
            (code, _, err) = Plesim("reproduce", file, "--quick", "--out", outDir);
            Assert.Equal(2, code);
            Assert.Contains("--resume", err, StringComparison.Ordinal);
            (code, _, err) = Plesim("sweep", "--resume", "--out", Path.Combine(outDir, "tiny-lock"));
            Assert.Equal(2, code);
            Assert.Contains("continue it with: plesim reproduce", err, StringComparison.Ordinal);
            // Without --quick the grid differs: refused, not mixed.
            (code, _, err) = Plesim("reproduce", file, "--out", outDir, "--resume");
            Assert.Equal(2, code);
            Assert.Contains("different sweep", err, StringComparison.Ordinal);
            // Shards need --out.
            Assert.Equal(2, Plesim("reproduce", file, "--quick", "--shard", "1/2").Code);
            Assert.Equal(2, Plesim("reproduce", file, "--quick", "--out", outDir, "--shard", "0/2").Code);
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Reproduce_all_text_ends_with_the_scorecard_and_totals()
    {
        var (code, output, err) = (quickCatalog.Code, quickCatalog.Out, quickCatalog.Err);
        var dir = quickCatalog.Dir;
        Assert.True(code == 0, err);
        Assert.Contains("catalog scorecard", output, StringComparison.Ordinal);
        Assert.Matches(@"\d+ cases: \d+ match in shape \(\d+ of them also within 2× in size\), \d+ do not match, \d+ inconclusive, \d+ cannot express yet\.", output);
        Assert.Contains("size within 2×", output, StringComparison.Ordinal);
        foreach (var name in CaseFiles())
            Assert.Contains(name.Length > 34 ? name[..34] : name, output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir, "catalog.json")));
        Assert.Contains("catalog scorecard", File.ReadAllText(Path.Combine(dir, "catalog.txt")), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir, "riel-2011", "results.sqlite")));
        Assert.True(File.Exists(Path.Combine(dir, "riel-2011-boot", "results.sqlite")));

        // plesim report judges the catalog again from its stores: the same JSON, and an HTML scorecard
        // (written outside the shared output folder, which the other test reads too).
        var html = Path.Combine(Path.GetTempPath(), $"plesim-cat-{Guid.NewGuid():N}.html");
        try
        {
            (code, var report, err) = Plesim("report", dir, "--json", "--html", html);
            Assert.True(code == 0, err);
            Assert.Equal(WithoutTimings(File.ReadAllText(Path.Combine(dir, "catalog.json"))), WithoutTimings(report));
            var page = File.ReadAllText(html);
            Assert.Contains("id=\"scorecard\"", page, StringComparison.Ordinal);
            foreach (var name in CaseFiles())
                Assert.Contains($"data-case=\"{name}\"", page, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(html);
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
    public void A_case_says_its_verdict_is_about_the_shape_and_prints_the_size_check_under_it()
    {
        // Decision 0098: "matches" is the pre-registered shape; the size check is stated apart, right under it.
        var dir = Path.Combine(Path.GetTempPath(), $"plesim-size-{Guid.NewGuid():N}");
        try
        {
            var (code, output, err) = Plesim("reproduce", "wanpeng-2019-pv-sched-yield", "--quick", "--out", dir);
            Assert.True(code == 0, err);
            var text = System.Text.RegularExpressions.Regex.Replace(output, @" *\n *", " ");
            Assert.Matches(@"Verdict: [A-Z ]+ IN SHAPE \(\d+ of \d+ pre-registered predicates hold; they check signs, orderings and stated ranges, not the published sizes, [^)]*\)\. " +
                @"Size \(apart from the verdict\): \d+ of 1 quantities within 2× of the published; ebizzy @ over-subscribed: simulated [+-][0-9,.]+% vs published [+-][0-9.]+% \(", text);
            Assert.Contains("  Rule: " + PleSim.Experiments.Catalog.SizeCheck.Rule.Split(' ')[0], output, StringComparison.Ordinal);

            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "catalog.json")));
            var r = doc.RootElement.GetProperty("results")[0];
            var size = r.GetProperty("size");
            var x = Assert.Single(size.GetProperty("comparisons").EnumerateArray());
            var cell = Assert.Single(r.GetProperty("cells").EnumerateArray());
            // The size compares the cell's simulated mean with its published value, by the stated rule.
            Assert.Equal(cell.GetProperty("mean").GetDouble(), x.GetProperty("simulated").GetDouble());
            Assert.Equal(cell.GetProperty("published").GetDouble(), x.GetProperty("published").GetDouble());
            var (outcome, ratio) = PleSim.Experiments.Catalog.SizeCheck.Judge(x.GetProperty("published").GetDouble(), x.GetProperty("simulated").GetDouble(), percent: true);
            Assert.Equal(PleSim.Reporting.CatalogReport.Outcome(outcome), x.GetProperty("outcome").GetString());
            Assert.Equal(ratio, x.GetProperty("ratio").GetDouble());
            Assert.Equal(outcome == PleSim.Experiments.Catalog.SizeOutcome.Within ? 1 : 0, size.GetProperty("within").GetInt32());
            static string Squeezed(string t) => System.Text.RegularExpressions.Regex.Replace(t, @"\s+", "");
            Assert.Contains(Squeezed(x.GetProperty("text").GetString()!), Squeezed(output), StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_cell_whose_runs_are_all_equal_says_so_instead_of_a_zero_width_interval()
    {
        // wanpeng-2015's cells have fixed costs and no random input: every run of a cell is the same.
        var (code, output, err) = Plesim("reproduce", "wanpeng-2015-dynamic-halt-poll", "--quick");
        Assert.True(code == 0, err);
        Assert.Contains("(all runs equal)", output, StringComparison.Ordinal);
        Assert.Contains("paired difference", output, StringComparison.Ordinal);
        Assert.Contains("(all pairs equal)", output, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"\[(-?[0-9][0-9.,E+-]*), \1\]", output);
    }

    /// <summary>A copy of a shipped case, in a directory of its own, with its pre-registration undone.</summary>
    private static (string Dir, string File) PendingCopy(string caseName)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"plesim-case-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, caseName + ".yaml");
        var text = File.ReadAllText(CliTests.Repo("cases", caseName + ".yaml"));
        File.WriteAllText(file, System.Text.RegularExpressions.Regex.Replace(text, "preregistered_commit: [0-9a-f]+", "preregistered_commit: pending"));
        return (dir, file);
    }

    [Fact]
    public void Pending_cases_are_never_run_even_among_all_and_each_is_named()
    {
        var (dir, file) = PendingCopy("riel-2011-boot");
        try
        {
            var pending = PleSim.Experiments.Catalog.CaseLoader.LoadFile(file);
            var registered = PleSim.Experiments.Catalog.CaseLoader.LoadFile(CliTests.Repo("cases", "tosatti-2019-cpuidle-haltpoll.yaml"));
            var output = new StringWriter();
            var errors = new StringWriter();
            var kept = PleSim.Cli.Commands.CatalogCommand.SkipPending([pending, registered], null, output, errors);
            Assert.Same(registered, Assert.Single(kept));
            Assert.Equal("", output.ToString());
            Assert.Contains("riel-2011-boot: not run: it is not pre-registered yet", errors.ToString(), StringComparison.Ordinal);

            output = new StringWriter();
            Assert.Empty(PleSim.Cli.Commands.CatalogCommand.SkipPending([pending], null, output, new StringWriter()));
            Assert.Contains("riel-2011-boot: not run", output.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_case_file_that_is_not_preregistered_is_checked_but_never_run()
    {
        var (dir, file) = PendingCopy("riel-2011-boot");
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

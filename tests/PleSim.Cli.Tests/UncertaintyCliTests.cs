namespace PleSim.Cli.Tests;

/// <summary><c>plesim reproduce riel-2011 --uncertainty</c> end to end, on a two-unknown copy of the scenario with 40 ms windows.</summary>
public class UncertaintyCliTests
{
    private static string TinyScenario(string dir)
    {
        var text = File.ReadAllText(CliTests.Repo("scenarios", "riel-2011", "amqp.yaml"));
        int at = text.IndexOf("\nunknowns:", StringComparison.Ordinal);
        var path = Path.Combine(dir, "tiny.yaml");
        File.WriteAllText(path, text[..at] + """

            unknowns:
              - name: guest HZ
                keys:
                  - vms[0].guest.hz
                  - vms[1].guest.hz
                values: [100, 1000]
                source: "test"
              - name: write copy cost per byte
                key: vms[0].workload.write_ns_per_byte
                range: [0.06, 0.24]
                source: "test"
            """);
        return path;
    }

    [Fact]
    public void Validate_checks_every_value_an_unknown_can_take()
    {
        var root = Directory.CreateTempSubdirectory("plesim-unv").FullName;
        try
        {
            var good = TinyScenario(root);
            Assert.Contains("2 unknowns", SweepCliTests.Plesim("validate", good).Out, StringComparison.Ordinal);
            var bad = Path.Combine(root, "bad.yaml");
            File.WriteAllText(bad, File.ReadAllText(good).Replace("values: [100, 1000]", "values: [100, 0]", StringComparison.Ordinal));
            var (code, _, err) = SweepCliTests.Plesim("validate", bad);
            Assert.Equal(2, code);
            Assert.Contains("(unknowns[0]) (value 0): error: vms[0].guest.hz:", err, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    private static string[] Args(string scenario, string dir, params string[] extra) =>
        ["reproduce", "riel-2011", "--uncertainty", "--quick", "--scenario", scenario, "--trajectories", "1", "--band-points", "2", "--runs", "2",
         "--set", "duration=40ms", "--set", "warmup=10ms", "--out", dir, "-j", "2", .. extra];

    [Fact]
    public void A_tiny_study_reports_bands_and_rankings_and_resumes_and_shards_to_the_same_result()
    {
        var root = Directory.CreateTempSubdirectory("plesim-unc").FullName;
        try
        {
            var scenario = TinyScenario(root);
            var dir = Path.Combine(root, "a");
            var (code, text, err) = SweepCliTests.Plesim(Args(scenario, dir));
            Assert.True(code == 0, err);
            Assert.Contains("Morris elementary effects: 1 trajectories × (2 unknowns + 1) points on a 4-level grid", text, StringComparison.Ordinal);
            Assert.Contains("2-point Latin hypercube", text, StringComparison.Ordinal);
            Assert.Contains("published inside", text, StringComparison.Ordinal);
            Assert.Contains("12 cells × 2 run(s) = 120 runs", err, StringComparison.Ordinal);
            var json = File.ReadAllText(Path.Combine(dir, "uncertainty.json"));
            using (var doc = System.Text.Json.JsonDocument.Parse(json))
            {
                var r = doc.RootElement;
                Assert.Equal("morris-elementary-effects", r.GetProperty("method").GetProperty("ranking").GetString());
                Assert.Equal("latin-hypercube", r.GetProperty("method").GetProperty("band_sample").GetString());
                Assert.Equal(2, r.GetProperty("unknowns").GetArrayLength());
                Assert.Equal(12, r.GetProperty("cells").GetArrayLength());
                foreach (var c in r.GetProperty("cells").EnumerateArray())
                {
                    var band = c.GetProperty("band");
                    Assert.Equal(2, band.GetProperty("points").GetInt32());
                    Assert.True(band.GetProperty("min").GetDouble() <= band.GetProperty("p5").GetDouble());
                    Assert.True(band.GetProperty("p95").GetDouble() <= band.GetProperty("max").GetDouble());
                    double pub = c.GetProperty("published_value").GetDouble();
                    Assert.Equal(pub >= band.GetProperty("min").GetDouble() && pub <= band.GetProperty("max").GetDouble(), c.GetProperty("published_inside").GetBoolean());
                    var effects = c.GetProperty("effects");
                    Assert.Equal(2, effects.GetArrayLength());
                    Assert.True(effects[0].GetProperty("mu_star").GetDouble() >= effects[1].GetProperty("mu_star").GetDouble());
                    Assert.Equal(1, effects[0].GetProperty("effects").GetInt32()); // one trajectory: one effect per unknown
                }
            }

            // The store is complete: resuming runs nothing and gives the same document; starting over without --resume is refused.
            (code, _, err) = SweepCliTests.Plesim(Args(scenario, dir, "--resume"));
            Assert.True(code == 0, err);
            Assert.Contains("0 run(s) done now", err, StringComparison.Ordinal);
            Assert.Equal(json, File.ReadAllText(Path.Combine(dir, "uncertainty.json")));
            Assert.NotEqual(0, SweepCliTests.Plesim(Args(scenario, dir)).Code);

            // Two shards, merged, then analysed: the same result.
            var sharded = Path.Combine(root, "s");
            foreach (var s in new[] { "1/2", "2/2" })
            {
                (code, _, err) = SweepCliTests.Plesim(Args(scenario, sharded, "--shard", s));
                Assert.True(code == 0, err);
            }
            Assert.Equal(0, SweepCliTests.Plesim("merge", sharded).Code);
            (code, _, err) = SweepCliTests.Plesim(Args(scenario, sharded, "--resume"));
            Assert.True(code == 0, err);
            Assert.Contains("0 run(s) done now", err, StringComparison.Ordinal);
            Assert.Equal(json, File.ReadAllText(Path.Combine(sharded, "uncertainty.json")));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void An_existing_study_store_is_refused_before_the_study_is_planned()
    {
        var root = Directory.CreateTempSubdirectory("plesim-unx").FullName;
        try
        {
            var scenario = TinyScenario(root);
            var dir = Path.Combine(root, "a");
            Directory.CreateDirectory(dir);
            var store = Path.Combine(dir, "results.sqlite");
            File.WriteAllBytes(store, [1, 2, 3]);
            var (code, _, err) = SweepCliTests.Plesim(Args(scenario, dir));
            Assert.Equal(2, code);
            Assert.Contains("already exists: continue that study with --resume", err, StringComparison.Ordinal);
            Assert.Equal([1, 2, 3], File.ReadAllBytes(store));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    /// <summary>A two-row case file on a copy of the lock benchmark with one unknown (the guests' HZ).</summary>
    private static string TinyCaseFile(string dir)
    {
        var scenario = Path.Combine(dir, "bench.yaml");
        File.WriteAllText(scenario, File.ReadAllText(CliTests.Repo("scenarios", "kvm", "lock-bench.yaml")) + """

            unknowns:
              - name: guest HZ
                keys:
                  - vms[0].guest.hz
                  - vms[1].guest.hz
                values: [100, 1000]
                source: "test"
            """);
        var file = Path.Combine(dir, "demo.yaml");
        File.WriteAllText(file,
            "name: demo\ntitle: a demo\n" +
            "source: {authors: A. Author, title: A patch, venue: LKML, date: 2012-07-10, url: https://example.org/x}\n" +
            "setup: two guests\nmeasured: lock iterations\n" +
            "published:\n  unit: ops\n  columns: [c1]\n  rows:\n    - {name: a, values: [100000]}\n    - {name: b, values: [150000]}\n" +
            "shape:\n  - {claim: b beats a, greater: [\"b @ c1\", \"a @ c1\"]}\n" +
            $"expression:\n  scenario: {scenario}\n  metric: bench.lock_iterations_per_second\n  runs: 4\n" +
            "  quick: {runs: 2, set: [duration=20ms, warmup=5ms]}\n" +
            "  rows: {a: [\"kvm.ple_handler=none\"], b: [\"kvm.ple_handler=directed-yield-2011\"]}\n" +
            "  columns: {c1: []}\n" +
            "preregistered_commit: 0123456789abcdef0123456789abcdef01234567\n");
        return file;
    }

    [Fact]
    public void A_study_of_a_claim_without_numbers_whose_runs_give_no_value_says_both()
    {
        var root = Directory.CreateTempSubdirectory("plesim-cunc").FullName;
        try
        {
            // The boot storm in a 1-ms window: no boot completes, so boot.completion_time_ms is missing in every run.
            var scenario = Path.Combine(root, "boot.yaml");
            var text = File.ReadAllText(CliTests.Repo("scenarios", "kvm", "boot-storm.yaml"));
            File.WriteAllText(scenario, text[..text.IndexOf("\nunknowns:", StringComparison.Ordinal)] + """

                unknowns:
                  - name: hold
                    key: vms[0].workload.hold
                    values: [1us, 2us]
                    source: "test"
                """);
            var file = Path.Combine(root, "boot-demo.yaml");
            File.WriteAllText(file,
                "name: boot-demo\ntitle: a demo\n" +
                "source: {authors: A. Author, title: A patch, venue: LKML, date: 2011-01-26, url: https://example.org/x}\n" +
                "setup: one guest\nmeasured: boot time\n" +
                "published:\n  unit: ms\n  columns: [c1]\n  rows:\n    - {name: a, values: [~]}\n    - {name: b, values: [~]}\n  qualitative: true\n" +
                "shape:\n  - {claim: a slower than b, greater: [\"a @ c1\", \"b @ c1\"]}\n" +
                $"expression:\n  scenario: {scenario}\n  metric: boot.completion_time_ms\n  runs: 2\n" +
                "  quick: {runs: 2, set: [duration=1ms]}\n" +
                "  rows: {a: [\"kvm.ple_handler=sleep\"], b: [\"kvm.ple_handler=directed-yield-2011\"]}\n" +
                "  columns: {c1: []}\n" +
                "preregistered_commit: 0123456789abcdef0123456789abcdef01234567\n");
            var dir = Path.Combine(root, "a");
            var (code, output, err) = SweepCliTests.Plesim("reproduce", file, "--uncertainty", "--quick", "--trajectories", "1", "--band-points", "2", "--runs", "2", "--out", dir, "-j", "2");
            Assert.True(code == 0, err);
            Assert.Contains("The publication gives no numbers", output, StringComparison.Ordinal);
            Assert.DoesNotContain("lies inside the band", output, StringComparison.Ordinal);
            // 1 trajectory × 2 draws + 2 band draws = 4 draws × 2 runs, none with a value, in both cells.
            // (whitespace collapsed: the line wraps at the console's width wherever its words fall)
            Assert.Contains("a @ c1 8 of 8, band over 0 of 2 draws, b @ c1 8 of 8, band over 0 of 2 draws",
                System.Text.RegularExpressions.Regex.Replace(output, @"\s+", " "), StringComparison.Ordinal);
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "uncertainty.json")));
            Assert.All(doc.RootElement.GetProperty("cells").EnumerateArray(), c => Assert.Equal(8, c.GetProperty("runs_without_value").GetInt32()));
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }

    [Fact]
    public void A_catalog_case_study_reports_bands_and_statements_and_resumes_to_the_same_document()
    {
        var root = Directory.CreateTempSubdirectory("plesim-cunc").FullName;
        try
        {
            var file = TinyCaseFile(root);
            var dir = Path.Combine(root, "a");
            string[] args = ["reproduce", file, "--uncertainty", "--quick", "--trajectories", "1", "--band-points", "2", "--runs", "2", "--out", dir, "-j", "2"];
            var (code, text, err) = SweepCliTests.Plesim(args);
            Assert.True(code == 0, err);
            Assert.Contains("1 unknowns, 4 draws × 2 cell(s) × 2 run(s) = 16 runs", err, StringComparison.Ordinal);
            Assert.Contains("demo: band over the unknowns", text, StringComparison.Ordinal);
            Assert.Contains("the case's statements over the draws", text, StringComparison.Ordinal);
            Assert.Contains("The case's verdict in each of the band's draws:", text, StringComparison.Ordinal);
            Assert.Contains("does not change the case's verdict", text, StringComparison.Ordinal);
            var json = File.ReadAllText(Path.Combine(dir, "uncertainty.json"));
            using (var doc = System.Text.Json.JsonDocument.Parse(json))
            {
                var r = doc.RootElement;
                Assert.Equal("demo", r.GetProperty("experiment").GetString());
                Assert.Equal(2, r.GetProperty("cells").GetArrayLength());
                var st = r.GetProperty("statements")[0];
                Assert.Equal(2, st.GetProperty("draws").GetInt32());
                Assert.Equal(2, st.GetProperty("holds").GetInt32() + st.GetProperty("fails").GetInt32() + st.GetProperty("unsettled").GetInt32());
                Assert.Equal(2, r.GetProperty("verdicts").EnumerateObject().Sum(v => v.Value.GetInt32()));
            }
            (code, _, err) = SweepCliTests.Plesim([.. args, "--resume"]);
            Assert.True(code == 0, err);
            Assert.Contains("0 run(s) done now", err, StringComparison.Ordinal);
            Assert.Equal(json, File.ReadAllText(Path.Combine(dir, "uncertainty.json")));

            // plesim report shows the analysis and names the command that continues the study.
            (code, text, err) = SweepCliTests.Plesim("report", dir, "--no-plots");
            Assert.True(code == 0, err);
            Assert.Contains("demo: band over the unknowns", text, StringComparison.Ordinal);
            Assert.Contains($"plesim reproduce {file} --uncertainty --quick --runs 2 --trajectories 1 --band-points 2 --out ", err, StringComparison.Ordinal);

            // One case at a time; the study's options need --uncertainty.
            (code, _, err) = SweepCliTests.Plesim("reproduce", "all", "--uncertainty", "--quick");
            Assert.Equal(2, code);
            Assert.Contains("one case at a time", err, StringComparison.Ordinal);
            (code, _, err) = SweepCliTests.Plesim("reproduce", file, "--quick", "--trajectories", "2");
            Assert.Equal(2, code);
            Assert.Contains("belong to --uncertainty", err, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}

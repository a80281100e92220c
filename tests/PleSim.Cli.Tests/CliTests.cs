using System.Text.Json;
using PleSim.Cli;

namespace PleSim.Cli.Tests;

public class CliTests
{
    private static (int Code, string Out, string Err) Plesim(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = PlesimCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    internal static string Repo(params string[] parts)
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "PleSim.slnx")))
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("repository root not found");
        return Path.Combine([dir, .. parts]);
    }

    [Fact]
    public void Help_lists_the_commands()
    {
        var (code, output, _) = Plesim("--help");
        Assert.Equal(0, code);
        foreach (var c in new[] { "validate", "run", "bench" })
            Assert.Contains(c, output, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_agrees_with_the_model_and_the_catalog()
    {
        var (code, output, _) = Plesim("--help");
        Assert.Equal(0, code);
        // The newest host scheduler the model has (eevdf-6.18) is named.
        Assert.Contains("EEVDF of 6.6-6.18", output, StringComparison.Ordinal);
        Assert.DoesNotContain("6.6-6.17", output, StringComparison.Ordinal);
        // The listing writes every argument as <name>; the metrics line says its scenario is optional.
        Assert.Contains("the scenario is optional", output, StringComparison.Ordinal);
        (code, output, _) = Plesim("reproduce", "--help");
        Assert.Equal(0, code);
        // --quick is 3 runs for riel-2011 only; a catalog case has its own quick settings.
        Assert.DoesNotContain("--quick: 3)", output, StringComparison.Ordinal);
        Assert.Contains("its own quick settings", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_timeline_prints_each_metric_per_slice_and_writes_timeline_csv()
    {
        var dir = Directory.CreateTempSubdirectory("plesim-timeline").FullName;
        try
        {
            var (code, output, err) = Plesim("run", Repo("scenarios", "kvm", "lock-bench.yaml"), "--runs", "2", "--set", "duration=30ms",
                "--set", "warmup=5ms", "--timeline", "10ms", "--out", dir);
            Assert.True(code == 0, err);
            Assert.Contains("seed \\ ms", output, StringComparison.Ordinal);
            Assert.Contains("25–35", output, StringComparison.Ordinal);
            var lines = File.ReadAllLines(Path.Combine(dir, "timeline.csv"));
            Assert.StartsWith("seed,from_ms,to_ms,status,error,", lines[0], StringComparison.Ordinal);
            Assert.Equal(1 + 2 * 3, lines.Length); // two seeds, three slices each
            Assert.StartsWith("1,5,15,ok,", lines[1], StringComparison.Ordinal);

            (code, _, err) = Plesim("run", Repo("scenarios", "kvm", "lock-bench.yaml"), "--set", "duration=1s", "--timeline", "1ms");
            Assert.Equal(2, code);
            Assert.Contains("1000 slices; at most 200", err, StringComparison.Ordinal);
            (code, _, err) = Plesim("run", Repo("scenarios", "kvm", "lock-bench.yaml"), "--timeline", "-5ms");
            Assert.Equal(2, code);
            Assert.Contains("--timeline", err, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Version_prints_a_version()
    {
        var (code, output, _) = Plesim("--version");
        Assert.Equal(0, code);
        Assert.Matches(@"^\d+\.\d+\.\d+", output.Trim());
    }

    [Fact]
    public void Validate_reports_file_line_column_and_a_suggestion_with_exit_code_2()
    {
        var bad = Path.Combine(Path.GetTempPath(), $"plesim-bad-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(bad, "name: x\ndescription: y\nkind: engine-hold\nseed: 1\nruns: 1\nduration: 1ms\nwarmup: 0\nengine_hold:\n  mean_dealy: 1ms\n");
        try
        {
            var (code, _, err) = Plesim("validate", bad);
            Assert.Equal(2, code);
            Assert.Contains($"{bad}:9:3: error: engine_hold.mean_dealy: unknown key 'mean_dealy'; did you mean 'mean_delay'?", err, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(bad);
        }
    }

    [Fact]
    public void Validate_accepts_every_shipped_scenario()
    {
        var files = Directory.GetFiles(Repo("scenarios"), "*.yaml", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        var (code, output, err) = Plesim(["validate", .. files]);
        Assert.True(code == 0, err);
        Assert.Equal(files.Length, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void Run_prints_a_table_of_runs_and_a_summary()
    {
        var (code, output, err) = Plesim("run", Repo("scenarios", "engine-hold.yaml"), "--runs", "2");
        Assert.True(code == 0, err);
        Assert.Contains("engine-hold — 2 run(s)", output, StringComparison.Ordinal);
        Assert.Contains("summary", output, StringComparison.Ordinal);
        Assert.Contains("events_per_sim_second", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_json_follows_the_contract()
    {
        var (code, output, err) = Plesim("run", Repo("scenarios", "engine-hold.yaml"), "--runs", "2", "--seed", "100", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal("engine-hold", root.GetProperty("scenario").GetString());
        var runs = root.GetProperty("runs");
        Assert.Equal(2, runs.GetArrayLength());
        Assert.Equal(100UL, runs[0].GetProperty("seed").GetUInt64());
        Assert.Equal(101UL, runs[1].GetProperty("seed").GetUInt64());
        foreach (var r in runs.EnumerateArray())
        {
            Assert.Equal(JsonValueKind.Object, r.GetProperty("metrics").ValueKind);
            foreach (var table in new[] { "cpus", "tasks", "vms" })
                Assert.Equal(JsonValueKind.Array, r.GetProperty(table).ValueKind);
        }
        var summary = root.GetProperty("summary").GetProperty("events");
        foreach (var field in new[] { "mean", "stdev", "ci95_low", "ci95_high", "n" })
            Assert.True(summary.TryGetProperty(field, out _), field);
        Assert.Equal(2, summary.GetProperty("n").GetInt32());
    }

    [Fact]
    public void Run_json_is_byte_identical_for_the_same_seed()
    {
        var a = Plesim("run", Repo("scenarios", "engine-hold.yaml"), "--runs", "2", "--json").Out;
        var b = Plesim("run", Repo("scenarios", "engine-hold.yaml"), "--runs", "2", "--json").Out;
        Assert.Equal(a, b);
    }

    [Fact]
    public void Run_out_writes_json_and_csv_files()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"plesim-out-{Guid.NewGuid():N}");
        try
        {
            var (code, _, err) = Plesim("run", Repo("scenarios", "engine-hold.yaml"), "--runs", "2", "--out", dir);
            Assert.True(code == 0, err);
            Assert.True(File.Exists(Path.Combine(dir, "results.json")));
            var csv = File.ReadAllLines(Path.Combine(dir, "runs.csv"));
            Assert.Equal(3, csv.Length);
            Assert.StartsWith("seed,status,error,events", csv[0], StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(dir, "summary.csv")));
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void A_bad_scenario_given_to_run_exits_2_with_the_problem_on_stderr()
    {
        var (code, output, err) = Plesim("run", "/no/such/file.yaml");
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("/no/such/file.yaml: error: cannot read the file", err, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_option_exits_2_without_a_stack_trace()
    {
        var (code, _, err) = Plesim("run", "x.yaml", "--frobnicate");
        Assert.Equal(2, code);
        Assert.Contains("--frobnicate", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_set_assignment_exits_2()
    {
        var (code, _, err) = Plesim("run", Repo("scenarios", "engine-hold.yaml"), "--set", "nonsense");
        Assert.Equal(2, code);
        Assert.Contains("not key=value", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Bench_quick_json_reports_engine_and_baseline_rates()
    {
        var (code, output, err) = Plesim("bench", "engine", "--quick", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var engine = doc.RootElement.GetProperty("engine");
        Assert.Equal(4, engine.GetArrayLength());
        foreach (var m in engine.EnumerateArray())
        {
            Assert.True(m.GetProperty("engine_events_per_second").GetDouble() > 0);
            Assert.True(m.GetProperty("baseline_events_per_second").GetDouble() > 0);
        }
    }

    [Fact]
    public void Bench_host_measures_the_hogs_and_the_full_riel_2011_system_without_allocating_per_event()
    {
        var (code, output, err) = Plesim("bench", "host", "--quick", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var hosts = doc.RootElement.GetProperty("host").EnumerateArray().ToList();
        Assert.Equal(["bench-8-hogs-4-cpus", "riel-2011-amqp"], hosts.Select(h => h.GetProperty("scenario").GetString()));
        foreach (var h in hosts)
        {
            Assert.True(h.GetProperty("events_per_second").GetDouble() > 0);
            // The event loop, guests and KVM included, allocates nothing once warm (a few bytes of
            // slack for one-off growth of a pooled buffer).
            Assert.True(h.GetProperty("bytes_per_event").GetDouble() < 0.5, h.ToString());
        }
    }
}

public class ReproduceTests
{
    [Fact]
    public void Reproduce_quick_json_has_every_cell_with_published_values_and_basis_and_is_deterministic()
    {
        string Run()
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int code = PlesimCli.Run(["reproduce", "riel-2011", "--quick", "--runs", "2", "--json"], o, e);
            Assert.True(code == 0, e.ToString());
            return o.ToString();
        }
        var a = Run();
        using var doc = System.Text.Json.JsonDocument.Parse(a);
        var cells = doc.RootElement.GetProperty("cells");
        Assert.Equal(24, cells.GetArrayLength());
        int seeded = 0, calibrated = 0, informed = 0;
        foreach (var c in cells.EnumerateArray())
        {
            foreach (var f in new[] { "payload", "handler", "overcommit", "published_value", "mean", "ci95_low", "ci95_high", "rel_error", "basis", "basis_note", "cpu_share_per_vm", "cpu_split", "amqp_vcpu_time", "pause_exits_per_second", "yield_to_success_rate", "lock_holder_preemptions_per_second" })
                Assert.True(c.TryGetProperty(f, out _), f);
            CheckGroundTruth(c);
            bool published = c.GetProperty("published_value").ValueKind == System.Text.Json.JsonValueKind.Number;
            if (published)
                seeded++;
            // Basis is data from the scenario: a published cell has one, a row the publication lacks has none.
            Assert.Equal(published, c.GetProperty("basis").ValueKind == System.Text.Json.JsonValueKind.String);
            if (c.GetProperty("basis").GetString() == "calibrated")
                calibrated++;
            if (c.GetProperty("basis").GetString() == "informed")
            {
                informed++;
                Assert.Contains("0009", c.GetProperty("basis_record").GetString(), StringComparison.Ordinal);
            }
        }
        Assert.Equal(12, seeded);
        Assert.Equal(4, calibrated);
        Assert.Equal(8, informed);
        var counts = doc.RootElement.GetProperty("basis_counts");
        Assert.Equal((4, 8, 0), (counts.GetProperty("calibrated").GetInt32(), counts.GetProperty("informed").GetInt32(), counts.GetProperty("predicted").GetInt32()));
        var shape = doc.RootElement.GetProperty("shape_verdict");
        Assert.Equal(12, shape.GetProperty("cells_compared").GetInt32());
        Assert.Equal(6, shape.GetProperty("checks").GetArrayLength()); // per payload: two gain signs and one growth
        Assert.DoesNotContain("seed_value", a, StringComparison.Ordinal);
        Assert.Equal(a, Run());
    }

    /// <summary>
    /// A cell's ground truth (docs/ground-truth.md) for both guests: spin time by cause adds up to
    /// the measured spin time, yield_to labels to the yield_to calls, PAUSE exits by cause to the
    /// PAUSE exits (means over runs of exact per-run sums, so equal up to rounding).
    /// </summary>
    private static void CheckGroundTruth(System.Text.Json.JsonElement cell)
    {
        static double Sum(System.Text.Json.JsonElement o) => o.EnumerateObject().Sum(p => p.Value.GetDouble());
        foreach (var vm in new[] { "amqp", "loops" })
        {
            var g = cell.GetProperty("ground_truth").GetProperty(vm);
            double spin = g.GetProperty("spin_ns").GetDouble();
            Assert.Equal(spin, Sum(g.GetProperty("spin_ns_by_cause")), 1e-6 * Math.Max(1, spin));
            double calls = g.GetProperty("yield_to_calls").GetDouble();
            Assert.Equal(calls, Sum(g.GetProperty("yield_to_by_label")), 1e-9 * Math.Max(1, calls));
            double exits = g.GetProperty("pause_exits").GetDouble();
            Assert.Equal(exits, Sum(g.GetProperty("pause_exits_by_cause")), 1e-9 * Math.Max(1, exits));
            if (vm == "amqp" && cell.GetProperty("loops").GetInt32() > 0)
                Assert.True(spin > 0, "the AMQP guest spins when overcommitted");
            if (cell.GetProperty("handler").GetString() == "none")
                Assert.Equal(0, calls);
            // Every run is in one placement group (decision 0093), and the stacked share is a share.
            Assert.InRange(g.GetProperty("frac_vcpus_stacked").GetDouble(), 0, 1);
            var placement = g.GetProperty("placement");
            Assert.Equal(cell.GetProperty("n").GetInt32(),
                placement.GetProperty("kept_apart").GetProperty("runs").GetInt32() + placement.GetProperty("stacked").GetProperty("runs").GetInt32());
        }
        // The spin time of the ground truth is the spin time of "where the time went".
        double frac = cell.GetProperty("amqp_vcpu_time").GetProperty("spin").GetDouble();
        double ns = cell.GetProperty("ground_truth").GetProperty("amqp").GetProperty("spin_ns").GetDouble();
        Assert.Equal(frac > 0, ns > 0);
    }

    [Fact]
    public void Reproduce_prints_the_catalog_cases_explanation_when_a_shape_property_differs()
    {
        var dir = Directory.CreateTempSubdirectory("plesim-expl").FullName;
        try
        {
            var e = new StringWriter();
            Assert.True(PlesimCli.Run(["reproduce", "riel-2011", "--quick", "--runs", "2", "--out", dir], new StringWriter(), e) == 0, e.ToString());
            string text = File.ReadAllText(Path.Combine(dir, "reproduce.txt"));
            var explanations = PleSim.Experiments.Catalog.CaseLoader.BuiltIn().Single(c => c.Name == "riel-2011").Explanations;
            Assert.NotEmpty(explanations);
            Assert.Contains(PleSim.Reporting.ReproduceReport.ShapeRule, text, StringComparison.Ordinal);
            if (text.Contains("  differs: ", StringComparison.Ordinal))
            {
                Assert.Contains("Explained after the result was seen (not part of the prediction; the verdict stands):", text, StringComparison.Ordinal);
                Assert.Contains(PleSim.Reporting.CatalogReport.ExplanationsHeader, text, StringComparison.Ordinal);
                foreach (var explanation in explanations)
                    Assert.Contains($"  - [written {explanation.Written.Split(',')[0]}, ", text, StringComparison.Ordinal); // the date (long lines wrap at 120 columns)
                foreach (var explanation in explanations)
                {
                    Assert.Contains($"({explanation.Doc})", text, StringComparison.Ordinal);
                    Assert.True(File.Exists(CliTests.Repo(explanation.Doc)), explanation.Doc);
                }
            }
            else
                Assert.DoesNotContain("Explained after the result was seen", text, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Reproduce_with_cgroups_reports_the_split_the_group_weights_and_a_verdict()
    {
        var dir = Directory.CreateTempSubdirectory("plesim-cg").FullName;
        try
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int code = PlesimCli.Run(["reproduce", "riel-2011", "--quick", "--runs", "2", "--cgroups", "--out", dir], o, e);
            Assert.True(code == 0, e.ToString());
            string text = File.ReadAllText(Path.Combine(dir, "reproduce.txt"));
            // Redirected and saved, the wide tables are split or transposed to the fixed width (decision 0029), never wrapped or cut.
            foreach (var copy in new[] { o.ToString(), text })
            {
                Assert.True(copy.Split('\n').Max(l => l.Length) <= CliContext.RedirectedWidth, copy);
                Assert.DoesNotContain("…", copy, StringComparison.Ordinal);
            }
            Assert.Contains("CPU split between the guests", text, StringComparison.Ordinal);
            Assert.Contains("Published (cgroups)", text, StringComparison.Ordinal);
            Assert.Contains("Published cells by basis: 4 calibrated, 8 informed, 0 predicted (of 12).", text, StringComparison.Ordinal);
            Assert.Contains("Shape verdict", text, StringComparison.Ordinal);
            // The catalog case's explanation is about the shipped set-up: not printed for a cgroups run.
            Assert.DoesNotContain("Explained after the result was seen", text, StringComparison.Ordinal);
            Assert.Contains("informed", text, StringComparison.Ordinal);
            Assert.Matches(@"\d+ of 32 overcommitted runs had a guest at ≤ 25%", text);
            Assert.Matches("the (80/320 )?imbalance (does not appear|appears)", text);
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "reproduce.json")));
            Assert.True(doc.RootElement.GetProperty("cgroups").GetBoolean());
            foreach (var c in doc.RootElement.GetProperty("cells").EnumerateArray())
            {
                var split = c.GetProperty("cpu_split");
                double share = split.GetProperty("amqp_share").GetDouble();
                var cpu = c.GetProperty("cpu_share_per_vm");
                double amqp = cpu.GetProperty("amqp").GetDouble(), loops = cpu.GetProperty("loops").GetDouble();
                Assert.InRange(share, 0, 1);
                Assert.InRange(amqp + loops, 0, 4.0001);
                if (c.GetProperty("loops").GetInt32() == 0)
                    continue;
                if (c.GetProperty("loops").GetInt32() == 4)
                    Assert.InRange(amqp + loops, 3.9, 4.0001); // four hogs: CPUs (almost) never idle
                Assert.InRange(split.GetProperty("amqp_group_weight").GetDouble(), 2, 1024);
                Assert.InRange(split.GetProperty("loops_group_weight").GetDouble(), 2, 1024);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Reproduce_runs_a_what_if_variant_of_the_whole_table_but_not_of_its_grid_keys()
    {
        var e = new StringWriter();
        Assert.Equal(2, PlesimCli.Run(["reproduce", "riel-2011", "--quick", "--set", "loops=3"], new StringWriter(), e));
        Assert.Contains("vms[1].workload.loops: the reproduction sets this key in every cell", e.ToString(), StringComparison.Ordinal);

        string Json(params string[] extra)
        {
            var o = new StringWriter();
            var err = new StringWriter();
            Assert.True(PlesimCli.Run(["reproduce", "riel-2011", "--quick", "--runs", "2", "--json", .. extra], o, err) == 0, err.ToString());
            return o.ToString();
        }
        using var plain = System.Text.Json.JsonDocument.Parse(Json());
        using var variant = System.Text.Json.JsonDocument.Parse(Json("--set", "ple_window=65536"));
        Assert.Equal(0, plain.RootElement.GetProperty("variant").GetArrayLength());
        Assert.Equal("kvm.ple_window=65536", variant.RootElement.GetProperty("variant")[0].GetString());
        Assert.NotEqual(plain.RootElement.GetProperty("scenario_digest").GetString(), variant.RootElement.GetProperty("scenario_digest").GetString());
        // A 16x longer window means far fewer PAUSE exits at 1.5x under the directed yield.
        double Exits(System.Text.Json.JsonDocument d) => d.RootElement.GetProperty("cells").EnumerateArray()
            .Where(c => c.GetProperty("handler").GetString() == "directed-yield-2011" && c.GetProperty("overcommit").GetString() == "1.5x")
            .Sum(c => c.GetProperty("pause_exits_per_second").GetDouble());
        Assert.True(Exits(variant) < Exits(plain) / 2, $"{Exits(variant)} vs {Exits(plain)}");
    }

    [Fact]
    public void Reproduce_rejects_an_unknown_experiment()
    {
        var e = new StringWriter();
        Assert.Equal(2, PlesimCli.Run(["reproduce", "riel-2012"], new StringWriter(), e));
    }
}

public class ShippedScenarioTests
{
    [Fact]
    public void Every_shipped_scenario_runs_a_short_window_without_failures()
    {
        foreach (var f in Directory.GetFiles(CliTests.Repo("scenarios"), "*.yaml", SearchOption.AllDirectories))
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int code = PlesimCli.Run(["run", f, "--runs", "1", "--set", "duration=20ms", "--set", "warmup=0", "--json"], o, e);
            Assert.True(code == 0, $"{f}: {e}");
        }
    }
}

using System.Text.Json;
using PleSim.Cli;

namespace PleSim.Cli.Tests;

/// <summary><c>plesim show</c> and <c>plesim metrics</c>.</summary>
public class ShowCliTests
{
    private static (int Code, string Out, string Err) Plesim(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = PlesimCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string LockBench => CliTests.Repo("scenarios", "kvm", "lock-bench.yaml");

    [Fact]
    public void Show_prints_the_override_and_the_defaults_of_unset_keys()
    {
        var (code, output, err) = Plesim("show", LockBench, "--set", "kvm.ple_window=8192");
        Assert.True(code == 0, err);
        var lines = output.Split('\n');
        // The override, marked as such.
        Assert.Contains(lines, l => l.Trim() == "ple_window: 8192  # --set");
        // A key lock-bench does not set, with the model's default.
        Assert.Contains(lines, l => l.Trim() == $"ple_gap: {new PleSim.Hypervisor.KvmSettings().PleGap}  # default");
        // A key the file sets.
        Assert.Contains(lines, l => l.Trim() == "ple_handler: directed-yield-2011  # file");
    }

    [Fact]
    public void Show_json_has_one_object_per_key_with_its_origin()
    {
        var (code, output, err) = Plesim("show", LockBench, "--json", "--set", "kvm.ple_window=8192");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var settings = doc.RootElement.GetProperty("settings").EnumerateArray().ToDictionary(e => e.GetProperty("key").GetString()!, e => e);
        Assert.Equal("8192", settings["kvm.ple_window"].GetProperty("value").GetString());
        Assert.Equal("--set", settings["kvm.ple_window"].GetProperty("origin").GetString());
        Assert.Equal("default", settings["host.threads_per_core"].GetProperty("origin").GetString());
        Assert.Equal("file", settings["vms[0].vcpus"].GetProperty("origin").GetString());
        Assert.DoesNotContain(settings.Keys, k => k.StartsWith("sweep", StringComparison.Ordinal));
    }

    [Fact]
    public void Show_of_value_source_keys_prints_each_key_once()
    {
        var amqp = CliTests.Repo("scenarios", "riel-2011", "amqp.yaml");
        var (code, output, err) = Plesim("show", amqp);
        Assert.True(code == 0, err);
        Assert.DoesNotContain("source:", output, StringComparison.Ordinal);
        Assert.Contains("cpus: 4  # file: seed: ", output, StringComparison.Ordinal);
        // Parses as YAML: YamlDotNet refuses a duplicate key in a mapping.
        var stream = new YamlDotNet.RepresentationModel.YamlStream();
        stream.Load(new StringReader(output));

        var (jcode, json, jerr) = Plesim("show", amqp, "--json");
        Assert.True(jcode == 0, jerr);
        using var doc = JsonDocument.Parse(json);
        var keys = doc.RootElement.GetProperty("settings").EnumerateArray().Select(e => e.GetProperty("key").GetString()!).ToList();
        Assert.DoesNotContain(keys, k => k.EndsWith(".source", StringComparison.Ordinal) || k.EndsWith(".value", StringComparison.Ordinal));
        Assert.Equal(keys.Count, keys.Distinct(StringComparer.Ordinal).Count());
        var cpus = doc.RootElement.GetProperty("settings").EnumerateArray().Single(e => e.GetProperty("key").GetString() == "host.cpus");
        Assert.Equal("4", cpus.GetProperty("value").GetString());
        Assert.StartsWith("seed: ", cpus.GetProperty("source").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Show_names_the_kvm_version_preset_and_a_file_source()
    {
        var dir = Directory.CreateTempSubdirectory("plesim-show-");
        try
        {
            var f = Path.Combine(dir.FullName, "s.yaml");
            File.WriteAllText(f, """
                name: s
                description: d
                seed: 1
                runs: 1
                duration: 1ms
                warmup: 0
                host:
                  cpus: {value: 2, source: "a two-CPU test box"}
                kvm:
                  version: "3.10"
                vms:
                  - name: a
                    vcpus: 2
                """);
            var (code, output, err) = Plesim("show", f);
            Assert.True(code == 0, err);
            Assert.Contains("cpus: 2  # file: a two-CPU test box", output, StringComparison.Ordinal);
            Assert.Contains("ple_handler: ", output, StringComparison.Ordinal);
            Assert.Matches(@"ple_handler: \S+  # kvm\.version 3\.10", output);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void Show_of_a_bad_file_exits_with_the_located_error()
    {
        var (code, _, err) = Plesim("show", LockBench, "--set", "kvm.ple_window=-1");
        Assert.Equal(2, code);
        Assert.Contains("ple_window", err, StringComparison.Ordinal);
    }
}

public class MetricsCliTests
{
    [Fact]
    public void Metrics_of_lock_bench_lists_its_throughput_with_a_unit_and_nothing_undefined()
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = PlesimCli.Run(["metrics", CliTests.Repo("scenarios", "kvm", "lock-bench.yaml")], o, e);
        Assert.True(code == 0, e.ToString());
        var lines = o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("bench.lock_iterations_per_second ", StringComparison.Ordinal) && l.Contains("[1/s]", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("no definition", StringComparison.Ordinal));
    }

    [Fact]
    public void Metrics_without_a_scenario_lists_every_family()
    {
        var o = new StringWriter();
        int code = PlesimCli.Run(["metrics"], o, new StringWriter());
        Assert.Equal(0, code);
        Assert.Equal(PleSim.Experiments.Running.MetricDefinitions.All.Count, o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }
}

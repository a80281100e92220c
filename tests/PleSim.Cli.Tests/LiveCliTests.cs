using System.Text.Json;

namespace PleSim.Cli.Tests;

/// <summary><c>plesim live</c>: refusals, and one short live run that only checks the thread ran (no timing is asserted).</summary>
public class LiveCliTests
{
    private static (int Code, string Out, string Err) Plesim(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = PlesimCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void A_scenario_with_vms_is_refused_with_a_clear_error()
    {
        var (code, _, err) = Plesim("live", CliTests.Repo("scenarios", "riel-2011", "amqp.yaml"));
        Assert.Equal(2, code);
        Assert.Contains("plesim live runs host-only scenarios, and this one has", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_model_schedulers_bad_durations_and_bad_phase_counts_are_refused()
    {
        var file = CliTests.Repo("scenarios", "live", "nice-0-vs-5.yaml");
        var (code, _, err) = Plesim("live", file, "--model-scheduler", "cfs-9.9");
        Assert.Equal(2, code);
        Assert.Contains("cfs-9.9", err, StringComparison.Ordinal);
        (code, _, err) = Plesim("live", file, "--duration", "0");
        Assert.Equal(2, code);
        Assert.Contains("--duration", err, StringComparison.Ordinal);
        (code, _, err) = Plesim("live", file, "--duration", "ten");
        Assert.Equal(2, code);
        Assert.Contains("--duration", err, StringComparison.Ordinal);
        foreach (var n in new[] { "0", "33", "-1" })
        {
            (code, _, err) = Plesim("live", file, "--model-phases", n);
            Assert.Equal(2, code);
            Assert.Contains("--model-phases", err, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public void A_short_live_run_of_one_hog_consumes_cpu_time()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "plesim live runs real threads and reads /proc: Linux only");
        var dir = Path.Combine(Path.GetTempPath(), "plesim-live-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "one-hog.yaml");
        File.WriteAllText(file, """
            name: one-hog
            description: one hog
            kind: system
            seed: 1
            runs: 1
            duration: 300ms
            warmup: 0
            host:
              cpus: 1
              scheduler: eevdf-6.14
              tasks:
                - {name: hog}
            """);
        try
        {
            var (code, output, err) = Plesim("live", file, "--json");
            Assert.True(code == 0, err);
            using var doc = JsonDocument.Parse(output);
            var task = doc.RootElement.GetProperty("tasks")[0];
            Assert.Equal("hog", task.GetProperty("task").GetString());
            Assert.True(task.GetProperty("live").GetProperty("cpu_share").GetDouble() > 0, output);
            Assert.True(doc.RootElement.GetProperty("live").GetProperty("window_seconds").GetDouble() > 0, output);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}

using PleSim.Cli;

namespace PleSim.Cli.Tests;

/// <summary>Bad scenario input through <c>plesim validate</c> and <c>--set</c>: located errors, never an internal error.</summary>
public class ValidateInputTests
{
    private static (int Code, string Out, string Err) Plesim(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = PlesimCli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void A_broken_file_does_not_stop_a_multi_file_validate_and_is_named()
    {
        var bad = Path.Combine(Path.GetTempPath(), $"plesim-unclosed-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(bad, "a: [b\nc: 1\n");
        try
        {
            var good = CliTests.Repo("scenarios", "engine-hold.yaml");
            var (code, output, err) = Plesim("validate", bad, good);
            Assert.Equal(2, code);
            Assert.Contains($"{bad}:1:4: error: not valid YAML", err, StringComparison.Ordinal);
            Assert.DoesNotContain("internal error", err, StringComparison.Ordinal);
            Assert.Contains($"{good}: ok", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(bad);
        }
    }

    [Fact]
    public void A_huge_list_index_in_set_is_a_located_error()
    {
        var (code, _, err) = Plesim("validate", CliTests.Repo("scenarios", "kvm", "lock-bench.yaml"));
        Assert.Equal(0, code);
        (code, _, err) = Plesim("run", CliTests.Repo("scenarios", "kvm", "lock-bench.yaml"), "--set", "vms[2147483648].vcpus=1");
        Assert.Equal(2, code);
        Assert.Contains("--set vms[2147483648].vcpus=1: error:", err, StringComparison.Ordinal);
        Assert.Contains("is not a key path", err, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_key_made_by_set_is_blamed_on_the_set_argument()
    {
        var lockBench = CliTests.Repo("scenarios", "kvm", "lock-bench.yaml");
        var (code, _, err) = Plesim("validate", lockBench);
        Assert.Equal(0, code);
        (code, _, err) = Plesim("run", lockBench, "--set", "foo.bar=1");
        Assert.Equal(2, code);
        Assert.Contains("--set foo.bar=1: error: foo: unknown key 'foo'", err, StringComparison.Ordinal);
        Assert.DoesNotContain("lock-bench.yaml:1:1", err, StringComparison.Ordinal);
        (code, _, err) = Plesim("show", lockBench, "--set", "hypervisor.ple_window=1");
        Assert.Equal(2, code);
        Assert.Contains("--set hypervisor.ple_window=1: error: hypervisor: unknown key 'hypervisor'; did you mean 'kvm.ple_window'?", err, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_is_named_as_one_not_as_access_denied()
    {
        var dir = CliTests.Repo("scenarios", "kvm");
        var (code, _, err) = Plesim("validate", dir);
        Assert.Equal(2, code);
        Assert.Contains($"{dir}: error: this is a directory, not a scenario file", err, StringComparison.Ordinal);
        Assert.DoesNotContain("denied", err, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_metric_is_refused_with_a_suggestion()
    {
        var file = Path.Combine(Path.GetTempPath(), $"plesim-metric-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, "name: x\ndescription: y\nkind: engine-hold\nseed: 1\nruns: 1\nduration: 1ms\nwarmup: 0\nmetrics: [events, event_per_sim_second]\n");
        try
        {
            var (code, _, err) = Plesim("validate", file);
            Assert.Equal(2, code);
            Assert.Contains($"{file}:8:19: error: metrics[1]: 'event_per_sim_second' is not a metric this scenario reports; did you mean 'events_per_sim_second'?", err, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void An_amqp_message_of_zero_bytes_on_the_wire_is_refused_before_the_first_run()
    {
        // It used to run and fail every seed with a division by zero (buffers are counted in messages).
        var (code, _, err) = Plesim("run", CliTests.Repo("scenarios", "riel-2011", "amqp.yaml"), "--set", "runs=2", "--set", "duration=50ms",
            "--set", "vms[0].workload.payload=0", "--set", "vms[0].workload.frame_overhead_bytes=0");
        Assert.Equal(2, code);
        Assert.Contains("a message must take at least one byte on the wire", err, StringComparison.Ordinal);
        Assert.DoesNotContain("DivideByZero", err, StringComparison.Ordinal);
    }

    [Fact]
    public void The_reproduce_hint_of_a_failed_run_repeats_every_set_quoted()
    {
        var file = CliTests.Repo("scenarios", "riel-2011", "amqp.yaml");
        var s = PleSim.Experiments.Scenarios.ScenarioLoader.LoadFile(file,
            [PleSim.Experiments.Scenarios.Override.Parse("vms[1].workload.loops=4"), PleSim.Experiments.Scenarios.Override.Parse("kvm.ple_handler=none")]);
        var line = PleSim.Cli.Commands.RunCommand.ReproduceCommandLine(s, 2013);
        Assert.Equal($"plesim run {file} --set 'vms[1].workload.loops=4' --set 'kvm.ple_handler=none' --runs 1 --seed 2013", line);
    }
}

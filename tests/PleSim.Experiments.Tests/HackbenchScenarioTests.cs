using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Workloads;

namespace PleSim.Experiments.Tests;

/// <summary>The hackbench scenario, the PV send-IPI and haltpoll keys (decision 0027): parsing, the end of the run, allocation-freedom, determinism.</summary>
public class HackbenchScenarioTests
{
    private static Scenario Hb(params string[] overrides) =>
        HostScenarioTests.Shipped("workloads", "hackbench.yaml", overrides);

    [Fact]
    public void The_keys_are_read_in_hackbenchs_spelling_and_the_presets_set_pv_send_ipi_only()
    {
        var w = Hb("vms[0].workload.ipc=pipe", "vms[0].workload.mode=thread", "vms[0].workload.groups=3").Vms[0].Workload.Hackbench;
        Assert.Equal((3, 20, 100L, 100, true, HackbenchIpc.Pipe), (w.Groups, w.Fds, w.Loops, w.DataSize, w.Threads, w.Ipc));
        Assert.True(Hb("vms[0].guest.kernel=5.10").Vms[0].Guest.PvSendIpi);
        Assert.False(Hb("vms[0].guest.kernel=4.16").Vms[0].Guest.PvSendIpi);
        Assert.False(Hb("vms[0].guest.kernel=6.1").Vms[0].Guest.Haltpoll); // 5.6+: needs KVM_HINTS_REALTIME
        var g = Hb("vms[0].guest.haltpoll=true", "vms[0].guest.halt_poll_ns=100000", "vms[0].guest.halt_poll_shrink=0").Vms[0].Guest;
        Assert.Equal((true, 100_000L, 0L, 2L, 50_000L), (g.Haltpoll, g.HaltPoll.HaltPollNs, g.HaltPoll.Shrink, g.HaltPoll.Grow, g.HaltPoll.GrowStart));
    }

    [Fact]
    public void A_bad_hackbench_value_is_a_located_error()
    {
        var e = Assert.Throws<ScenarioException>(() => Hb("vms[0].workload.ipc=fifo"));
        Assert.Contains("ipc", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e2 = Assert.Throws<ScenarioException>(() => Hb("vms[0].workload.datasize=5000"));
        Assert.Contains("datasize", e2.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void The_run_ends_when_every_message_is_delivered_and_reports_the_elapsed_time()
    {
        var s = Hb("vms[0].workload.groups=1", "vms[0].workload.loops=20");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 1 });
        Assert.True(r.Error is null, r.Error);
        double elapsed = M(r, "hackbench.elapsed_s");
        Assert.True(elapsed > 0 && elapsed < 5, $"elapsed {elapsed}");
        Assert.Equal(20 * 20 * 20 / elapsed, M(r, "hackbench.messages_per_second"), 6);
        Assert.All(MetricNames(r), m => Assert.NotNull(MetricDefinitions.Of(m)));
    }

    [Fact]
    public void A_haltpoll_vcpu_whose_woken_thread_was_pulled_away_schedules_idle_and_goes_on()
    {
        // Seed 3 at 2x overcommit without PLE: a poll ends on need_resched after another VCPU
        // pulled the thread; the idle loop must run schedule() (clearing the flag), not poll again at once.
        var s = Hb("kvm.ple_handler=none", "vms[1].workload.loops=4", "vms[0].guest.haltpoll=true", "duration=30s");
        var r = Runner.RunOne(s, 3, new RunOptions());
        Assert.True(r.Error is null, r.Error);
        Assert.False(double.IsNaN(M(r, "hackbench.elapsed_s")));
    }

    private static IEnumerable<string> MetricNames(RunResult r) => r.Metrics.Select(kv => kv.Key);

    private static double M(RunResult r, string name) => r.Metrics.Single(kv => kv.Key == name).Value;

    [Theory]
    [InlineData("vms[0].workload.ipc=socket", "vms[0].guest.haltpoll=false")]
    [InlineData("vms[0].workload.ipc=pipe", "vms[0].guest.haltpoll=false")]
    [InlineData("vms[0].workload.ipc=socket", "vms[0].guest.haltpoll=true")]
    public void Hackbench_allocates_nothing_per_event_in_steady_state(string ipc, string haltpoll)
    {
        var s = Hb(ipc, haltpoll, "vms[0].workload.loops=100000000", "vms[1].workload.loops=4");
        var model = new SystemRun(s, 1);
        model.Sim.RunUntil(new Engine.SimTime(300_000_000));
        long got = model.Vms[0].Hackbench!.Received;
        var (bytes, events) = SteadyState.Measure(model, 300_000_000, 400_000_000);
        Assert.True(model.Vms[0].Hackbench!.Received > got);
        Assert.True(events > 10_000);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void The_same_seed_gives_byte_identical_json_for_hackbench()
    {
        var s = Hb("vms[0].workload.groups=1", "vms[0].workload.loops=20", "vms[0].guest.haltpoll=true", "vms[1].workload.loops=4");
        var a = ResultJson.Write(s, [Runner.RunOne(s, 3, new RunOptions()), Runner.RunOne(s, 4, new RunOptions())]);
        var b = ResultJson.Write(s, Runner.RunMany(s, [3UL, 4UL], parallelism: 2));
        Assert.Equal(a, b);
    }
}

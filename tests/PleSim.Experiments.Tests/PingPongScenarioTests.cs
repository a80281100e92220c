using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Workloads;

namespace PleSim.Experiments.Tests;

/// <summary>The pingpong workload (decision 0036): parsing, exact round trips and the end of the run, the wake-up per message, allocation-freedom, determinism.</summary>
public class PingPongScenarioTests
{
    private static Scenario Pp(params string[] overrides) =>
        HostScenarioTests.Shipped("workloads", "pingpong.yaml", overrides);

    private static double M(RunResult r, string name) => r.Metrics.Single(kv => kv.Key == name).Value;

    [Fact]
    public void The_keys_are_read_and_a_bad_value_is_a_located_error()
    {
        var w = Pp("vms[0].workload.transport=futex", "vms[0].workload.pairs=3", "vms[0].workload.same_cpu=true", "vms[0].workload.user_work_ns=700", "vms[0].workload.loops=0").Vms[0].Workload;
        Assert.Equal("pingpong", w.Kind);
        Assert.Equal((PingPongTransport.Futex, 3, true, 700L, 0L), (w.PingPong.Transport, w.PingPong.Pairs, w.PingPong.SameCpu, w.PingPong.UserWorkNs, w.PingPong.Loops));
        var e = Assert.Throws<ScenarioException>(() => Pp("vms[0].workload.transport=socket"));
        Assert.Contains("transport", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e2 = Assert.Throws<ScenarioException>(() => Pp("vms[0].vcpus=1", "vms[0].affinity=0"));
        Assert.Contains("same_cpu", e2.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    /// <summary>Runs the model until it stops (every pair done) or <paramref name="limitNs"/>.</summary>
    private static SystemRun RunToEnd(Scenario s, ulong seed, long limitNs = 5_000_000_000)
    {
        var model = new SystemRun(s, seed);
        model.Sim.RunUntil(new SimTime(limitNs));
        return model;
    }

    [Theory]
    [InlineData("pipe", "1")]
    [InlineData("futex", "1")]
    [InlineData("pipe", "2")]
    [InlineData("futex", "2")]
    public void Every_pair_does_exactly_its_loops_and_the_run_ends(string transport, string pairs)
    {
        var s = Pp($"vms[0].workload.transport={transport}", $"vms[0].workload.pairs={pairs}", "vms[0].workload.loops=300", "vms[0].vcpus=4", "vms[0].affinity=0-3", "host.cpus=4");
        var model = RunToEnd(s, 2);
        var vm = model.Vms[0];
        var pp = vm.PingPong!;
        Assert.True(vm.HasFixedWork);
        Assert.True(vm.Finished);
        Assert.True(pp.CompletedAt > 0);
        Assert.Equal(pp.CompletedAt, model.Sim.Now.Ns); // the simulation stopped when the last pair finished
        int n = int.Parse(pairs, System.Globalization.CultureInfo.InvariantCulture);
        for (int p = 0; p < n; p++)
            Assert.Equal(300, pp.RoundTripsOf(p));
        Assert.Equal(300L * n, pp.RoundTrips);
        Assert.Equal(2 * 300L * n, pp.Messages);
    }

    [Fact]
    public void Loops_zero_runs_until_the_duration_and_is_not_fixed_work()
    {
        var s = Pp("vms[0].workload.loops=0", "duration=20ms");
        var r = Runner.RunOne(s, 1, new RunOptions());
        Assert.True(r.Error is null, r.Error);
        Assert.True(double.IsNaN(M(r, "pingpong.elapsed_s")));
        double rate = M(r, "pingpong.round_trips_per_second");
        Assert.True(rate > 0, $"rate {rate}");
        Assert.Equal(1e6 / rate, M(r, "pingpong.usecs_per_op"), 6);
        Assert.Equal(1e9 / rate / 2, M(r, "pingpong.ns_per_switch"), 6);
        Assert.All(r.Metrics, kv => Assert.NotNull(MetricDefinitions.Of(kv.Key)));
    }

    private static (long Ipis, long Hlts, long Polling, long Messages) Exits(SystemRun model)
    {
        long ipis = 0, hlts = 0, polling = 0;
        foreach (var v in model.Vms[0].Vm.Vcpus)
        {
            ipis += v.Stats.IpiExits;
            hlts += v.Stats.HltExits;
        }
        foreach (var c in model.Vms[0].Kernel.Cpus)
            polling += c.PollingWakeups;
        return (ipis, hlts, polling, model.Vms[0].PingPong!.Messages);
    }

    [Theory]
    [InlineData("pipe")]
    [InlineData("futex")]
    public void Each_message_to_a_halted_peer_costs_one_wakeup_ipi_and_none_when_the_peer_polls(string transport)
    {
        // Peer halted (no polling anywhere): every message wakes it with one reschedule IPI (an ICR-write exit) and it halted once.
        var halted = RunToEnd(Pp($"vms[0].workload.transport={transport}", "vms[0].workload.loops=1000"), 1);
        var h = Exits(halted);
        Assert.Equal(2000, h.Messages);
        Assert.InRange(h.Ipis, h.Messages - 2, h.Messages + 2);
        Assert.InRange(h.Hlts, h.Messages - 2, h.Messages + 20); // + the occasional tick-driven halt
        Assert.Equal(0, h.Polling);

        // KVM halt polling: the guest still halts and still sends the IPI (the exits stay); only the host's schedule-out is saved.
        var kvmPoll = RunToEnd(Pp($"vms[0].workload.transport={transport}", "vms[0].workload.loops=1000", "kvm.halt_poll_ns=200000"), 1);
        var k = Exits(kvmPoll);
        Assert.InRange(k.Ipis, k.Messages - 2, k.Messages + 2);
        long successful = kvmPoll.Vms[0].Vm.Vcpus.Sum(v => v.Stats.HaltPollSuccessful);
        Assert.True(successful >= k.Messages - 20, $"{successful} successful polls for {k.Messages} messages");

        // Guest haltpoll: the peer's idle loop polls (TIF_POLLING_NRFLAG), so a wake-up needs no IPI and no HLT exit.
        var guestPoll = RunToEnd(Pp($"vms[0].workload.transport={transport}", "vms[0].workload.loops=1000", "vms[0].guest.haltpoll=true"), 1);
        var g = Exits(guestPoll);
        Assert.True(g.Ipis * 20 < g.Messages, $"{g.Ipis} IPI exits for {g.Messages} messages");
        Assert.True(g.Polling >= g.Messages - 20, $"{g.Polling} polling wake-ups for {g.Messages} messages");

        // Both threads on one VCPU: a context switch, never an IPI.
        var same = RunToEnd(Pp($"vms[0].workload.transport={transport}", "vms[0].workload.loops=1000", "vms[0].workload.same_cpu=true"), 1);
        Assert.Equal(0, Exits(same).Ipis);

        // The wake-up cost is what the pollers save: per-op time is lower with either.
        Assert.True(kvmPoll.Vms[0].PingPong!.CompletedAt < halted.Vms[0].PingPong!.CompletedAt);
        Assert.True(guestPoll.Vms[0].PingPong!.CompletedAt < halted.Vms[0].PingPong!.CompletedAt);
    }

    [Theory]
    [InlineData("pipe", "false", "0")]
    [InlineData("futex", "false", "0")]
    [InlineData("pipe", "true", "0")]
    [InlineData("futex", "false", "200000")]
    public void Pingpong_allocates_nothing_per_event_in_steady_state(string transport, string haltpoll, string kvmPoll)
    {
        var s = Pp($"vms[0].workload.transport={transport}", $"vms[0].guest.haltpoll={haltpoll}", $"kvm.halt_poll_ns={kvmPoll}", "vms[0].workload.loops=0");
        var model = new SystemRun(s, 1);
        model.Sim.RunUntil(new SimTime(50_000_000));
        long got = model.Vms[0].PingPong!.RoundTrips;
        var (bytes, events) = SteadyState.Measure(model, 50_000_000, 100_000_000);
        Assert.True(model.Vms[0].PingPong!.RoundTrips > got);
        Assert.True(events > 10_000, $"{events} events");
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void The_same_seed_gives_byte_identical_json_for_pingpong()
    {
        var s = Pp("vms[0].workload.loops=500", "vms[0].workload.transport=futex", "vms[0].guest.haltpoll=true");
        var a = ResultJson.Write(s, [Runner.RunOne(s, 3, new RunOptions()), Runner.RunOne(s, 4, new RunOptions())]);
        var b = ResultJson.Write(s, Runner.RunMany(s, [3UL, 4UL], parallelism: 2));
        Assert.Equal(a, b);
        Assert.Contains("pingpong.usecs_per_op", a, StringComparison.Ordinal);
    }
}

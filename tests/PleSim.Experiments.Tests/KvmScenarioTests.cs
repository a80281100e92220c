using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>The KVM scenarios (scenarios/kvm, scenarios/riel-2011) run with invariants on and show their mechanisms.</summary>
public class KvmScenarioTests
{
    private static Scenario Load(string dir, string file, params string[] overrides) =>
        HostScenarioTests.Shipped(dir, file, overrides);

    private static RunResult RunOk(Scenario s, ulong seed, long invariantsEvery = 0)
    {
        var r = Runner.RunOne(s, seed, new RunOptions { CheckInvariantsEvery = invariantsEvery });
        Assert.True(r.Error is null, r.Error);
        return r;
    }

    private static double M(RunResult r, string m) => r.Metric(m) ?? throw new Xunit.Sdk.XunitException($"no metric {m}");

    [Fact]
    public void In_the_boot_storm_the_pre_2011_sleep_is_several_times_slower_than_the_directed_yield()
    {
        var small = new[] { "host.cpus=16", "vms[0].vcpus=16", "vms[0].workload.iterations=150" };
        double Time(string h) => M(RunOk(Load("kvm", "boot-storm.yaml", [.. small, $"kvm.ple_handler={h}"]), 1, invariantsEvery: 97), "boot.completion_time_ms");
        double none = Time("none"), dy = Time("directed-yield-2011"), sleep = Time("sleep");
        Assert.True(sleep > 3 * dy, $"sleep {sleep} ms vs directed yield {dy} ms");
        Assert.True(none <= dy, $"no PLE {none} ms vs directed yield {dy} ms: with running holders, PAUSE exits only cost");
    }

    [Fact]
    public void The_directed_yield_options_are_scenario_keys_that_override_the_preset()
    {
        var s = Load("kvm", "boot-storm.yaml", "kvm.ple_handler=directed-yield-3.9", "kvm.directed_yield.esrch_reads_as_success=false", "kvm.directed_yield.undercommit_tries=2", "kvm.directed_yield.dy_eligible=false");
        var dy = Assert.IsType<PleSim.Hypervisor.DirectedYield>(PleSim.Hypervisor.PleHandlers.Create(s.Kvm.PleHandler, s.Kvm.DirectedYield));
        Assert.Equal(PleSim.Hypervisor.DirectedYieldOptions.Linux39 with { EsrchReadsAsSuccess = false, UndercommitTries = 2, DyEligible = false }, dy.Options);
        // Unset keys keep the preset.
        var plain = Load("kvm", "boot-storm.yaml", "kvm.ple_handler=directed-yield-3.10");
        Assert.Equal(PleSim.Hypervisor.DirectedYieldOptions.Linux310, ((PleSim.Hypervisor.DirectedYield)PleSim.Hypervisor.PleHandlers.Create(plain.Kvm.PleHandler, plain.Kvm.DirectedYield)).Options);
        var e = Assert.Throws<ScenarioException>(() => Load("kvm", "boot-storm.yaml", "kvm.directed_yield.undercommit_tries=0"));
        Assert.Contains("undercommit_tries", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void Kvm_version_is_a_preset_that_explicit_keys_override_and_a_bad_version_names_its_place()
    {
        var s = Load("kvm", "boot-storm.yaml", "kvm.version=4.19", "kvm.halt_poll_ns=0", "kvm.directed_yield.yield_to_kernel_mode=false");
        Assert.Equal("4.19", s.Kvm.Version);
        Assert.Equal("directed-yield-4.14", s.Kvm.PleHandler);
        Assert.True(s.Kvm.PleWindowPolicy.Dynamic);
        Assert.Equal(0, s.Kvm.HaltPoll.HaltPollNs);
        Assert.True(s.Kvm.HaltPoll.Adaptive); // unset keys keep the preset
        var dy = (PleSim.Hypervisor.DirectedYield)PleSim.Hypervisor.PleHandlers.Create(s.Kvm.PleHandler, s.Kvm.DirectedYield);
        Assert.Equal(PleSim.Hypervisor.DirectedYieldOptions.Linux414 with { YieldToKernelMode = false }, dy.Options);
        // An explicit handler wins over the version's; the file's own ple_handler does not win over a --set version.
        Assert.Equal("none", Load("kvm", "boot-storm.yaml", "kvm.version=6.13", "kvm.ple_handler=none").Kvm.PleHandler);
        Assert.Equal("directed-yield-2011", Load("kvm", "boot-storm.yaml").Kvm.PleHandler);
        // A version in the file itself: the file's other keys override it.
        var inFile = PleSim.Experiments.Scenarios.ScenarioLoader.LoadText(
            "name: t\ndescription: d\nseed: 1\nruns: 1\nduration: 1ms\nwarmup: 0s\nkind: system\nkvm:\n  version: \"5.3\"\n  halt_poll_ns: 1000\nvms:\n  - name: a\n    vcpus: 2\n    workload: {kind: hog, loops: 2}\n", "t.yaml");
        Assert.Equal("directed-yield-5.3", inFile.Kvm.PleHandler);
        Assert.Equal(1000, inFile.Kvm.HaltPoll.HaltPollNs);
        var e = Assert.Throws<ScenarioException>(() => Load("kvm", "boot-storm.yaml", "kvm.version=4.1"));
        Assert.Contains("version", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e2 = Assert.Throws<ScenarioException>(() => Load("kvm", "boot-storm.yaml", "kvm.halt_poll_ns=-1"));
        Assert.Contains("halt_poll_ns", e2.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void In_the_boot_storm_the_2011_walks_wait_for_run_queue_locks_and_no_ple_beats_every_handler()
    {
        var small = new[] { "host.cpus=16", "vms[0].vcpus=16", "vms[0].workload.iterations=150" };
        RunResult Run(string h) => RunOk(Load("kvm", "boot-storm.yaml", [.. small, $"kvm.ple_handler={h}"]), 1);
        double none = M(Run("none"), "boot.completion_time_ms");
        var dy = Run("directed-yield-2011");
        Assert.True(M(dy, "boot.frac_rq_lock_wait") > 0);
        // 3.10 calls yield_to on nobody here (nobody is preempted): no lock time.
        Assert.Equal(0, M(Run("directed-yield-3.10"), "boot.frac_rq_lock_wait"));
        foreach (var h in new[] { "directed-yield-2011", "directed-yield-3.6", "directed-yield-3.7", "directed-yield-3.9", "directed-yield-3.10" })
            Assert.True(none < M(Run(h), "boot.completion_time_ms"), $"{h} vs no PLE {none} ms");
    }

    [Fact]
    public void The_lock_bench_spins_without_exits_when_ple_is_off_and_exits_with_it_on()
    {
        var off = RunOk(Load("kvm", "lock-bench.yaml", "kvm.ple_handler=none", "duration=100ms", "warmup=20ms"), 1, invariantsEvery: 31);
        var on = RunOk(Load("kvm", "lock-bench.yaml", "duration=100ms", "warmup=20ms"), 1, invariantsEvery: 31);
        Assert.Equal(0, M(off, "bench.pause_exits_per_second"));
        Assert.True(M(off, "bench.frac_spin") > 0.01);
        // Spin behind a descheduled next ticket waiter is part of the spin (PLE off: all in guest mode).
        Assert.InRange(M(off, "bench.frac_spin_behind_descheduled_waiter"), 0, M(off, "bench.frac_spin") + 1e-9);
        Assert.True(M(on, "bench.pause_exits_per_second") > 1000);
        Assert.True(M(on, "bench.lock_iterations_per_second") > 0);
    }

    private static Scenario Amqp(params string[] overrides) =>
        Load("riel-2011", "amqp.yaml", ["duration=300ms", "warmup=100ms", .. overrides]);

    [Fact]
    public void Without_overcommit_the_ple_handlers_are_within_two_percent_of_no_ple()
    {
        // Full-length windows: the subscriber receives whole 64 KB buffers, so short windows are coarse.
        // Twelve seeds: since the guests' idle balancing follows the domain's interval (decision 0085)
        // the 1x rate varies by about ±5% from seed to seed (one seed of six moved the ratio by 3% after
        // decision 0086), so fewer seeds do not bound the ratio. The handlers have almost nothing to
        // do here: fewer than 100 PAUSE exits a second (thousands at 1.5x).
        (double Rate, double Exits) Run(string h)
        {
            var runs = Enumerable.Range(0, 12).Select(i => RunOk(Amqp($"kvm.ple_handler={h}", "duration=1s", "warmup=200ms"), (ulong)(2011 + i))).ToList();
            return (runs.Average(r => M(r, "amqp.subscribe_rate")), runs.Average(r => M(r, "amqp.pause_exits_per_second")));
        }
        double none = Run("none").Rate;
        foreach (var h in new[] { "directed-yield-2011", "sleep" })
        {
            var (rate, exits) = Run(h);
            Assert.InRange(rate / none, 0.98, 1.02);
            Assert.InRange(exits, 0, 100);
        }
    }

    [Fact]
    public void The_amqp_guest_runs_with_every_invariant_checked()
    {
        var r = RunOk(Amqp("vms[1].workload.loops=2", "duration=50ms", "warmup=10ms"), 7, invariantsEvery: 1);
        Assert.True(M(r, "amqp.subscribe_rate") > 0);
    }

    [Fact]
    public void Results_come_from_the_model_changing_ple_window_or_sched_latency_changes_them()
    {
        string[] oc = ["vms[1].workload.loops=2"];
        double Rate(params string[] o) => M(RunOk(Amqp([.. oc, .. o]), 2011), "amqp.publish_rate");
        double baseRate = Rate();
        Assert.NotEqual(baseRate, Rate("kvm.ple_window=65536"));
        Assert.NotEqual(baseRate, Rate("host.sched.latency_ns=24ms"));
        Assert.NotEqual(baseRate, Rate("vms[0].guest.spinlock=test-and-set"));
    }

    [Fact]
    public void The_same_seed_gives_byte_identical_json_for_a_kvm_scenario()
    {
        var s = Amqp("vms[1].workload.loops=4");
        var a = ResultJson.Write(s, [RunOk(s, 3), RunOk(s, 4)]);
        var b = ResultJson.Write(s, Runner.RunMany(s, [3UL, 4UL], parallelism: 2));
        Assert.Equal(a, b);
    }

    [Fact]
    public void Every_vm_reports_its_cpu_and_where_its_vcpu_time_went()
    {
        var r = RunOk(Amqp("vms[1].workload.loops=2"), 2011);
        Assert.Equal(2, r.Vms.Count);
        foreach (var vm in r.Vms)
        {
            double sum = new[] { "guest_run", "spin", "pause_exit", "other_exit", "halted", "ple_sleep", "preempted", "userspace" }
                .Sum(k => (double)vm["frac_" + k]!);
            Assert.InRange(sum, 0.98, 1.001); // all VCPU time is accounted
        }
        double used = M(r, "amqp.cpus_used") + M(r, "loops.cpus_used");
        Assert.InRange(used, 3.6, 4.0); // 6 VCPUs (4 of them halting now and then) on 4 CPUs
    }

    [Fact]
    public void Broker_arena_trims_make_vcpus_spin_on_preempted_flush_targets_at_2x_and_the_directed_yield_boosts_them()
    {
        // The shootdown mechanism, driven by the summing what-if (a TLB shootdown whenever a broker
        // worker has freed 64 KiB, to every VCPU with qpidd's mm loaded, lazily idle ones included).
        // It is not glibc's rule (docs/decisions/0014); it is used here because it trims often.
        string[] at2x = ["vms[1].workload.loops=4", "duration=1s", "warmup=200ms"];
        double Mean(string h, string m, string allocator = "summing-what-if") =>
            Enumerable.Range(0, 3).Average(i => M(RunOk(Amqp([.. at2x, $"kvm.ple_handler={h}", $"vms[0].workload.allocator={allocator}"]), (ulong)(2011 + i)), m));
        Assert.True(Mean("none", "amqp.tlb_shootdowns_per_second") > 50);
        Assert.True(Mean("none", "amqp.lazy_tlb_flushes_per_second") > 5);
        double spinWith = Mean("none", "amqp.frac_spin");
        double spinWithout = Mean("none", "amqp.frac_spin", allocator: "none");
        Assert.True(spinWith > 0.04 && spinWith > spinWithout, $"spin {spinWith:P2} with trims, {spinWithout:P2} without");
        // The added spin is the shootdowns': waiting for acknowledgements owed by preempted flush targets,
        // which without trims (no shootdowns) is none. (Since decision 0085 the 2x guest also spins on
        // preempted ticket waiters without trims, 2-13% of its time, so the totals are no longer 2:1.)
        Assert.True(Mean("none", "amqp.spin_share.ack_owed_preempted") > 0.2);
        Assert.Equal(0, Mean("none", "amqp.spin_share.ack_owed_preempted", allocator: "none"));
        // The boosted VCPU is mostly one the spinner waits on: a flush target that owes its ack.
        Assert.True(Mean("directed-yield-2011", "amqp.yield_to_hit_rate") > 0.5);
        Assert.Null(RunOk(Amqp([.. at2x, "duration=100ms", "warmup=20ms", "vms[0].workload.allocator=summing-what-if"]), 2011, invariantsEvery: 1).Error);
    }

    [Fact]
    public void With_the_glibc_arena_model_every_trim_is_one_shootdown_and_the_arenas_hold_the_queue()
    {
        // The shipped scenario runs the broker's messages through glibc 2.12 arenas; each heap_trim
        // that shrinks a heap is one madvise and one TLB shootdown by the freeing worker.
        var r = RunOk(Amqp("vms[1].workload.loops=4", "duration=300ms", "warmup=50ms"), 2011);
        Assert.Equal(M(r, "amqp.tlb_shootdowns_per_second"), M(r, "amqp.broker_trims_per_message") * M(r, "amqp.subscribe_rate"), 6);
        Assert.True(M(r, "amqp.broker_queue_max_depth") > 0);
        // Every arena holds at least its top pad; the busiest holds the deepest queue it saw.
        Assert.True(M(r, "amqp.broker_arena_max_heap_kib") >= 128);
        Assert.True(M(r, "amqp.broker_heap_trim_calls_per_second") >= M(r, "amqp.tlb_shootdowns_per_second"));
        Assert.Null(RunOk(Amqp("vms[1].workload.loops=4", "duration=50ms", "warmup=10ms"), 2011, invariantsEvery: 1).Error);
    }
}

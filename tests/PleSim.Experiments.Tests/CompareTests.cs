using System.Text.Json;
using PleSim.Experiments.Compare;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Hypervisor;

namespace PleSim.Experiments.Tests;

/// <summary><c>plesim compare</c>: policies as --set bundles, paired seeds, the paired gain and a complete JSON report.</summary>
public class CompareTests
{
    private static string Amqp => HostScenarioTests.Repo("scenarios", "riel-2011", "amqp.yaml");

    private static readonly Override[] Short = [Override.Parse("duration=300ms"), Override.Parse("warmup=100ms"), Override.Parse("vms[1].workload.loops=4")];

    [Fact]
    public void A_stack_preset_sets_the_host_scheduler_the_kvm_release_and_every_guest_kernel_with_its_lock()
    {
        var prepared = PolicyComparison.Prepare(Amqp, ["stack-2011", "stack-2024", "stack-2011+oracle", "stack-2019"], Short);
        var (s2011, s2024, mixed) = (prepared[0].Scenario, prepared[1].Scenario, prepared[2].Scenario);
        Assert.Equal("cfs-4.19", prepared[3].Scenario.Host.Scheduler);
        Assert.Equal("cfs-2.6.39", s2011.Host.Scheduler);
        Assert.Equal("2.6.39", s2011.Kvm.Version);
        Assert.Equal("directed-yield-2011", s2011.Kvm.PleHandler);
        Assert.All(s2011.Vms, v => Assert.Equal(PleSim.Guest.SpinlockKind.Ticket, v.Guest.Spinlock));
        Assert.Equal("eevdf-6.6", s2024.Host.Scheduler);
        Assert.Equal("6.1", s2024.Kvm.Version);
        Assert.All(s2024.Vms, v => Assert.Equal(PleSim.Guest.SpinlockKind.PvQueued, v.Guest.Spinlock));
        Assert.All(s2024.Vms, v => Assert.True(v.Guest.PvTlbFlush && v.Guest.PvSchedYield));
        // Later parts of a '+' policy win over the stack's release.
        Assert.Equal("oracle", mixed.Kvm.PleHandler);
        Assert.Equal("stack+ple_handler", prepared[2].Spec.Kind);
    }

    [Fact]
    public void Each_kind_of_policy_names_its_key()
    {
        Assert.Equal("kvm.ple_handler=oracle", ComparePolicies.Resolve("oracle", 2).Describe());
        Assert.Equal("vms[0].guest.spinlock=pv-qspinlock vms[1].guest.spinlock=pv-qspinlock", ComparePolicies.Resolve("pv-qspinlock", 2).Describe());
        Assert.Equal("host.scheduler=eevdf-6.12", ComparePolicies.Resolve("eevdf-6.12", 2).Describe());
        Assert.Equal("kvm.version=4.19", ComparePolicies.Resolve("kvm-4.19", 2).Describe());
        Assert.Equal("kvm.ple_window=8192", ComparePolicies.Resolve("kvm.ple_window=8192", 2).Describe());
        var e = Assert.Throws<ArgumentException>(() => ComparePolicies.Resolve("orcale", 2));
        Assert.Contains("did you mean 'oracle'?", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => PolicyComparison.Prepare(Amqp, ["none", "none"], Short));
    }

    [Fact]
    public void Two_parts_of_one_policy_that_set_the_same_key_differently_are_refused_but_a_later_narrower_part_may_override_a_stack()
    {
        var e = Assert.Throws<ArgumentException>(() => ComparePolicies.Resolve("sleep+yield", 2));
        Assert.Contains("'sleep+yield' sets kvm.ple_handler twice", e.Message, StringComparison.Ordinal);
        Assert.Contains("kvm.ple_handler=sleep", e.Message, StringComparison.Ordinal);
        Assert.Contains("kvm.ple_handler=yield", e.Message, StringComparison.Ordinal);
        var stacks = Assert.Throws<ArgumentException>(() => ComparePolicies.Resolve("stack-2011+stack-today", 2));
        Assert.Contains("host.scheduler=cfs-2.6.39", stacks.Message, StringComparison.Ordinal);
        Assert.Contains("host.scheduler=eevdf-6.18", stacks.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => ComparePolicies.Resolve("kvm.ple_window=4096+kvm.ple_window=8192", 2));
        Assert.Throws<ArgumentException>(() => ComparePolicies.Resolve("pv-ticket+guest-6.1", 2)); // the guest kernel would silently undo the lock
        Assert.Throws<ArgumentException>(() => ComparePolicies.Resolve("guest-2.6.39+guest-6.1", 2));
        // The same value twice is no contradiction; a narrower later part overrides a stack or a guest kernel.
        Assert.Equal("kvm.ple_handler=oracle kvm.ple_handler=oracle", ComparePolicies.Resolve("oracle+oracle", 2).Describe());
        Assert.EndsWith("host.scheduler=eevdf-6.6", ComparePolicies.Resolve("stack-today+host.scheduler=eevdf-6.6", 2).Describe(), StringComparison.Ordinal);
        Assert.EndsWith("vms[1].guest.spinlock=ticket", ComparePolicies.Resolve("stack-2014+ticket", 2).Describe(), StringComparison.Ordinal);
        Assert.EndsWith("vms[1].guest.spinlock=ticket", ComparePolicies.Resolve("guest-6.1+ticket", 2).Describe(), StringComparison.Ordinal);
        Assert.Contains("vms[0].guest.kernel=6.1", ComparePolicies.Resolve("stack-2011+guest-6.1", 2).Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void Two_policies_whose_runs_are_identical_on_every_seed_are_named_in_a_note()
    {
        static RunResult R(ulong seed, double v, ulong digest) => new RunResult { Seed = seed, Events = 10, EventDigest = digest }.AddMetric("x", v).AddMetric("y", 1);
        static PolicyOutcome O(string name, params RunResult[] runs) => new(new PolicySpec(name, "ple_handler", []), null!, runs);
        var result = new PolicyComparisonResult("f.yaml", "f", "x", [1, 2], [
            O("none", R(1, 100, 7), R(2, 200, 8)),
            O("directed-yield-2011", R(1, 110, 9), R(2, 210, 10)),
            O("pv-ticket", R(1, 110, 11), R(2, 210, 12).AddMetric("pv_kicks", 0)), // other events, an extra metric: the same results
            O("ticket", R(1, 110, 9), R(2, 210.0000001, 10)), // one metric differs in one run: not identical
        ]);
        Assert.Equal([(1, 2)], result.IdenticalPairs());
        var note = Assert.Single(result.IdenticalNotes());
        Assert.StartsWith("Note: pv-ticket and directed-yield-2011 gave identical results on every seed (2 seeds;", note, StringComparison.Ordinal);
    }

    [Fact]
    public void The_gain_is_paired_by_seed()
    {
        // Runs that differ from the baseline by the same amount in every pair: the paired CI has no width,
        // although each policy's own values spread widely.
        static RunResult R(ulong seed, double v) => new RunResult { Seed = seed }.AddMetric("x", v);
        RunResult[] baseline = [R(1, 100), R(2, 200), R(3, 300)];
        RunResult[] other = [R(1, 110), R(2, 210), R(3, 310)];
        var (gain, low, high, pairs) = MetricSummary.PairedGain(other, baseline, "x", 200);
        Assert.Equal(3, pairs);
        Assert.Equal(0.05, gain, 12);
        Assert.Equal(0.05, low, 12);
        Assert.Equal(0.05, high, 12);
        Assert.Throws<ArgumentException>(() => MetricSummary.PairedGain([R(5, 1)], [R(6, 1)], "x", 1));
    }

    [Fact]
    public void Every_policy_runs_the_same_seeds_and_the_json_report_is_complete_and_deterministic()
    {
        var prepared = PolicyComparison.Prepare(Amqp, ["none", "oracle"], Short);
        ulong[] seeds = [7, 8, 9];
        var a = PolicyComparison.Run(Amqp, "amqp.subscribe_rate", prepared, seeds, parallelism: 2);
        Assert.All(a.Outcomes, o => Assert.Equal(seeds, o.Runs.Select(r => r.Seed)));
        var json = a.ToJson();
        Assert.Equal(json, PolicyComparison.Run(Amqp, "amqp.subscribe_rate", prepared, seeds, parallelism: 1).ToJson());
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("amqp.subscribe_rate", root.GetProperty("metric").GetString());
        Assert.Equal(seeds, root.GetProperty("seeds").EnumerateArray().Select(s => s.GetUInt64()));
        var policies = root.GetProperty("policies").EnumerateArray().ToList();
        Assert.Equal(["none", "oracle"], policies.Select(p => p.GetProperty("policy").GetString()));
        Assert.Equal(JsonValueKind.Null, policies[0].GetProperty("gain_over_baseline").ValueKind);
        Assert.Equal(3, policies[1].GetProperty("gain_over_baseline").GetProperty("pairs").GetInt32());
        foreach (var p in policies)
        {
            Assert.Equal(3, p.GetProperty("throughput").GetProperty("n").GetInt32());
            var spin = p.GetProperty("spin_ms_per_s");
            foreach (var c in GroundTruth.Causes)
                Assert.Equal(JsonValueKind.Number, spin.GetProperty(GroundTruth.Name(c)).ValueKind);
            double sum = GroundTruth.Causes.Sum(c => spin.GetProperty(GroundTruth.Name(c)).GetDouble());
            Assert.Equal(spin.GetProperty("total").GetDouble(), sum, 9);
            var labels = p.GetProperty("yield_to_labels");
            Assert.Equal(GroundTruth.Labels.Length, labels.EnumerateObject().Count());
            Assert.Equal(p.GetProperty("yield_to_calls").GetDouble(), labels.EnumerateObject().Sum(l => l.Value.GetDouble()));
            Assert.Equal(seeds, p.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("seed").GetUInt64()));
            Assert.True(p.TryGetProperty("pause_exits_per_s", out _));
            Assert.True(p.TryGetProperty("yield_to_precision", out _));
            // The compared metric is the amqp VM's: its stacking is reported beside it (decision 0093).
            Assert.Equal("amqp", p.GetProperty("stacked_vm").GetString());
            Assert.InRange(p.GetProperty("frac_vcpus_stacked").GetDouble(), 0, 1);
            // Every VM's host CPUs; together at most the host's.
            var cpus = p.GetProperty("cpus_used");
            Assert.Equal(["amqp", "loops"], cpus.EnumerateObject().Select(c => c.Name));
            Assert.InRange(cpus.EnumerateObject().Sum(c => c.Value.GetDouble()), 0.5, 4.0 + 1e-9);
        }
        // PLE off: no PAUSE exits, no yield_to; the oracle exits and boosts.
        Assert.Equal(0, policies[0].GetProperty("yield_to_calls").GetDouble());
        Assert.True(policies[1].GetProperty("pause_exits_per_s").GetDouble() > 0);
        var csv = a.ToCsv().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, csv.Length);
        Assert.EndsWith(",frac_vcpus_stacked,amqp.cpus_used,loops.cpus_used", csv[0], StringComparison.Ordinal);
        Assert.All(csv[1..], row => Assert.Equal(csv[0].Count(ch => ch == ','), row.Count(ch => ch == ',')));
        Assert.StartsWith("oracle,", csv[2], StringComparison.Ordinal);
    }
}

/// <summary>A plug-in handler for the allocation test: every preempted VCPU, in index order.</summary>
public sealed class PreemptedInOrderPlugin : PleSim.Plugins.IPauseHandlerPlugin
{
    public string Name => "test-preempted-in-order";

    public void Initialize(PleSim.Engine.RandomStream random)
    {
    }

    public PleSim.Plugins.PauseDecision OnPauseExit(PleSim.Plugins.IPauseExit exit, Span<int> order)
    {
        int n = 0;
        for (int i = 0; i < exit.VcpuCount; i++)
        {
            if (i != exit.SpinnerIndex && exit.Vcpu(i).Preempted)
                order[n++] = i;
        }
        return new PleSim.Plugins.PauseDecision(n, PleSim.Plugins.PauseFallback.ReEnter);
    }
}

public class PluginAllocationTests
{
    [Fact]
    public void A_plugin_handler_allocates_nothing_per_event_in_steady_state()
    {
        PluginRegistry.RegisterHandler("test-preempted-in-order", typeof(PreemptedInOrderPlugin));
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "kvm", "lock-bench.yaml"), [Override.Parse("kvm.ple_handler=plugin:test-preempted-in-order")]);
        var model = new SystemRun(s, 1);
        var (bytes, events) = SteadyState.Measure(model, 200_000_000, 400_000_000);
        Assert.True(events > 10_000);
        Assert.True(model.Vms[0].Vm.Stats.DirectedYieldWalks > 0);
        Assert.Equal(0, bytes);
    }
}

/// <summary>A guest-lock plug-in for the allocation test: 64-loop budgets, halt after 512 loops or when the owner is preempted, one early kick.</summary>
public sealed class ChunkedHaltingLock : PleSim.Plugins.IGuestSpinlockPlugin
{
    public string Name => "test-chunked-halting";

    public void Initialize(PleSim.Engine.RandomStream random, in PleSim.Plugins.GuestKernelInfo kernel)
    {
    }

    public PleSim.Plugins.GuestSpinDecision OnWait(in PleSim.Plugins.GuestSpinlockState lockState, in PleSim.Plugins.GuestSpinlockWaiter me) =>
        lockState.OwnerPreempted || me.SpinLoops >= 512 * (me.Halts + 1)
            ? PleSim.Plugins.GuestSpinDecision.Halt
            : PleSim.Plugins.GuestSpinDecision.Spin(64);

    public int OnUnlock(in PleSim.Plugins.GuestSpinlockState lockState) => 1;
}

public class GuestLockPluginAllocationTests
{
    [Fact]
    public void A_guest_lock_plugin_allocates_nothing_per_event_in_steady_state()
    {
        PluginRegistry.RegisterGuestLock("test-chunked-halting", typeof(ChunkedHaltingLock));
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "kvm", "lock-bench.yaml"),
            [Override.Parse("vms[0].guest.spinlock=plugin:test-chunked-halting"), Override.Parse("vms[0].guest.vcpu_is_preempted=true")]);
        var model = new SystemRun(s, 1);
        var (bytes, events) = SteadyState.Measure(model, 200_000_000, 400_000_000);
        Assert.True(events > 10_000);
        var locks = model.Vms[0].Kernel.Locks;
        Assert.True(locks.Sum(l => l.PvHalts) > 0, "the plug-in lock should halt waiters");
        Assert.Equal(0, bytes);
    }
}

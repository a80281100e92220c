using System.Text.RegularExpressions;
using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;
using PleSim.Plugins;

namespace PleSim.Hypervisor.Tests;

/// <summary>A lock held by a fixed VCPU, with ground truth (holder relation and cause) like the guest's locks give.</summary>
internal sealed class HeldLock(Vcpu holder) : ISpinTarget
{
    public Vcpu Holder { get; set; } = holder;

    public bool TryAcquire(Vcpu vcpu, long token) => false;

    public bool WaitsOn(Vcpu spinner, long token, Vcpu candidate) => candidate == Holder;

    public SpinCause Cause(Vcpu spinner, long token) => GroundTruth.HolderCause(Holder);

    public SpinRelation Relation(Vcpu spinner, long token, Vcpu candidate) =>
        candidate == Holder ? SpinRelation.Holder : candidate.Spinning ? SpinRelation.OtherSpinner : SpinRelation.Unrelated;
}

/// <summary>A plug-in handler (registered from the test assembly) that boosts the VCPUs it is told to, in order.</summary>
public sealed class FixedOrderPlugin : IPauseHandlerPlugin
{
    public static int[] Order { get; set; } = [];

    public string Name => "test-fixed-order";

    public void Initialize(RandomStream random)
    {
    }

    public PauseDecision OnPauseExit(IPauseExit exit, Span<int> order)
    {
        Order.CopyTo(order);
        return new PauseDecision(Order.Length, PauseFallback.ReEnter);
    }
}

/// <summary>A candidate filter that refuses one VCPU index.</summary>
public sealed class RefuseTwoFilter : IYieldCandidateFilter
{
    public string Name => "test-refuse-2";

    public void Initialize(RandomStream random)
    {
    }

    public bool Accept(IPauseExit exit, in VcpuState candidate) => candidate.Index != 2;
}

/// <summary>
/// The oracle handler boosts the VCPU the spinner truly waits on; no other handler reads ground
/// truth; plug-in handlers and filters act through KVM's view only.
/// </summary>
public class OracleAndPluginTests
{
    /// <summary>
    /// Four CPUs, one VCPU pinned to each. vcpu1 halts; vcpu2 and vcpu3 compute and are preempted by
    /// nice −20 hogs on their CPUs; vcpu0 halts until kicked, then spins on a lock held by
    /// <paramref name="holder"/>. Returns the yield_to calls of the first PAUSE handling.
    /// </summary>
    private static (Vm Vm, YieldToLog Log) Scene(string handler, int holder, KvmSettings? settings = null)
    {
        var kit = new KvmKit(4, handler, settings);
        var (vm, g) = kit.Vm("vm", 4);
        var lck = new HeldLock(null!);
        g[0].Then(v => v.Halt()).Then(v =>
        {
            lck.Holder = v.Vm.Vcpus[holder];
            v.Spin(lck, 0);
        });
        g[1].Then(v => v.Halt());
        kit.Kvm.Start(vm);
        for (int i = 0; i < 4; i++)
            kit.Host.SetAffinity(vm.Vcpus[i].Task, KvmKit.Cpu(i), 0);
        kit.RunUs(100);
        kit.UrgentHogs(2, 3);
        for (int k = 0; k < 1000 && !(vm.Vcpus[2].Preempted && vm.Vcpus[3].Preempted && !vm.Vcpus[2].Task.OnCpu && !vm.Vcpus[3].Task.OnCpu); k++)
            kit.RunUs(100);
        Assert.True(vm.Vcpus[2].Preempted && vm.Vcpus[3].Preempted, "vcpu2 and vcpu3 should be preempted by the hogs");
        var log = new YieldToLog(vm);
        kit.Host.AddObserver(log);
        kit.KickAndRunOneWalk(vm);
        return (vm, log);
    }

    [Fact]
    public void The_oracle_boosts_the_preempted_holder_and_nobody_else()
    {
        var (vm, log) = Scene("oracle", holder: 3);
        Assert.Equal([(3, YieldToResult.Success)], log.Calls);
        Assert.Equal(3, vm.LastBoostedVcpu);
        Assert.Equal(1, vm.Stats.YieldToHits);
    }

    [Fact]
    public void The_oracle_follows_the_holder_when_it_moves()
    {
        var (_, log) = Scene("oracle", holder: 2);
        Assert.Equal([(2, YieldToResult.Success)], log.Calls);
    }

    [Fact]
    public void The_oracle_boosts_nobody_when_the_holder_is_halted()
    {
        // vcpu1 is halted: a yield_to cannot run it, so the oracle re-enters at once.
        var (vm, log) = Scene("oracle", holder: 1);
        Assert.Empty(log.Calls);
        Assert.Equal(1, vm.Stats.WalksWithoutYield);
    }

    [Fact]
    public void The_2011_directed_yield_makes_the_same_calls_whoever_holds_the_lock()
    {
        // The scene discriminates (the walk boosts vcpu2 first), and the walk does not read who holds the lock.
        var (_, a) = Scene("directed-yield-2011", holder: 3);
        var (_, b) = Scene("directed-yield-2011", holder: 2);
        Assert.Equal((2, YieldToResult.Success), a.Calls[^1]);
        Assert.Equal(a.Calls, b.Calls);
    }

    [Fact]
    public void Only_the_oracle_reads_ground_truth_in_the_hypervisor_sources()
    {
        // Ground truth (SpinCause, SpinWaitsOn, Presence, TrueBlocker) may be read only by the files that
        // define or maintain it and by OracleHandler.cs; the handlers read SpinRelationTo only to label
        // their yield_to calls (passed straight to CountYieldTo / PauseYieldTo).
        var dir = Path.Combine(RepoRoot(), "src", "PleSim.Hypervisor");
        string[] maintainers = ["GroundTruth.cs", "Vcpu.cs", "Vm.cs", "Kvm.cs", "IGuestCpu.cs", "OracleHandler.cs"];
        var reads = new Regex(@"\.SpinCause\b|SpinWaitsOn\(|\.Presence\b|TrueBlocker\(");
        foreach (var file in Directory.GetFiles(dir, "*.cs"))
        {
            var name = Path.GetFileName(file);
            // Vcpu is one class over several partial files (Vcpu.cs, Vcpu.Accounting.cs, ...): all maintain it.
            if (maintainers.Contains(name) || name.StartsWith("Vcpu.", StringComparison.Ordinal))
                continue;
            var text = File.ReadAllText(file);
            Assert.False(reads.IsMatch(text), $"{name} reads ground truth");
            foreach (var line in text.Split('\n').Where(l => l.Contains("SpinRelationTo(", StringComparison.Ordinal)))
                Assert.Contains("var relation = me.SpinRelationTo(v);", line, StringComparison.Ordinal);
        }
        Assert.Contains("SpinCause", File.ReadAllText(Path.Combine(dir, "OracleHandler.cs")), StringComparison.Ordinal);
    }

    [Fact]
    public void The_plugin_api_exposes_no_model_types()
    {
        var api = typeof(IPauseHandlerPlugin).Assembly;
        var refs = api.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain("PleSim.Hypervisor", refs);
        Assert.DoesNotContain("PleSim.Host", refs);
        Assert.DoesNotContain("PleSim.Guest", refs);
        Assert.All(typeof(VcpuState).GetProperties(), p => Assert.True(p.PropertyType == typeof(bool) || p.PropertyType == typeof(int), p.Name));
    }

    [Fact]
    public void A_plugin_handler_boosts_the_vcpus_it_names_in_order()
    {
        PluginRegistry.RegisterHandler("test-fixed-order", typeof(FixedOrderPlugin));
        FixedOrderPlugin.Order = [1, 3, 2];
        // vcpu1 is halted (yield_to fails: not runnable), vcpu3 is preempted: boosted.
        var (vm, log) = Scene("plugin:test-fixed-order", holder: 2);
        Assert.Equal([(1, YieldToResult.TargetNotRunnable), (3, YieldToResult.Success)], log.Calls);
        Assert.Equal(3, vm.LastBoostedVcpu);
        Assert.Equal(2, vm.Stats.CandidatesExamined);
    }

    [Fact]
    public void A_candidate_filter_makes_the_directed_yield_skip_what_it_refuses()
    {
        PluginRegistry.RegisterFilter("test-refuse-2", typeof(RefuseTwoFilter));
        var (vm, log) = Scene("directed-yield-2011", holder: 3, new KvmSettings { CandidateFilter = "plugin:test-refuse-2" });
        Assert.Equal([(3, YieldToResult.Success)], log.Calls);
        Assert.Equal(1, vm.Stats.SkippedByFilter);
    }

    [Fact]
    public void An_unknown_plugin_name_is_a_clear_error()
    {
        var e = Assert.Throws<ArgumentException>(() => PleHandlers.Create("plugin:no-such-thing", null, null, null));
        Assert.Contains("no plug-in PAUSE handler called 'no-such-thing'", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => PluginRegistry.RegisterHandler("bad name!", typeof(FixedOrderPlugin)));
    }

    [Fact]
    public void Two_plugins_under_one_name_are_refused_naming_both_and_where_they_came_from()
    {
        PluginRegistry.RegisterHandler("test-duplicate-name", typeof(FixedOrderPlugin));
        PluginRegistry.RegisterHandler("test-duplicate-name", typeof(FixedOrderPlugin)); // the same type again: no error
        var e = Assert.Throws<ArgumentException>(() => PluginRegistry.RegisterHandler("test-duplicate-name", typeof(RefuseTwoFilter)));
        Assert.Contains("two plug-in PAUSE handlers are called 'test-duplicate-name'", e.Message, StringComparison.Ordinal);
        Assert.Contains(typeof(FixedOrderPlugin).FullName!, e.Message, StringComparison.Ordinal);
        Assert.Contains(typeof(RefuseTwoFilter).FullName!, e.Message, StringComparison.Ordinal);
        // Both types live in this test assembly, loaded from a file: its path is the origin.
        Assert.Contains("PleSim.Hypervisor.Tests.dll", e.Message, StringComparison.Ordinal);
    }

    private static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "PleSim.slnx")))
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("repository root not found");
        return dir;
    }
}

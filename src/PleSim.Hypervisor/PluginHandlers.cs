using PleSim.Engine;
using PleSim.Host;
using PleSim.Plugins;

namespace PleSim.Hypervisor;

/// <summary>
/// KVM's view of a PAUSE exit for plug-ins (<see cref="IPauseExit"/>): one preallocated object per
/// handler, re-pointed at each exit, so that asking never allocates. It exposes only what
/// <c>kvm_vcpu_on_spin</c> can read; no ground truth passes through it.
/// </summary>
internal sealed class PauseExitView : IPauseExit
{
    private Kvm _kvm = null!;
    private Vcpu _me = null!;

    public void Set(Kvm kvm, Vcpu me)
    {
        _kvm = kvm;
        _me = me;
    }

    public int VmIndex => _me.Vm.Index;
    public int SpinnerIndex => _me.Index;
    public int VcpuCount => _me.Vm.Vcpus.Count;
    public int LastBoostedVcpu => _me.Vm.LastBoostedVcpu;
    public bool SpinnerInUserMode => _me.SpinningInUserMode;
    public long NowNs => _kvm.Sim.Now.Ns;

    public VcpuState Vcpu(int index) => Of(_me.Vm.Vcpus[index]);

    public static VcpuState Of(Vcpu v) => new(
        v.Index, v.Preempted, v.Ready, v.WaitQueueActive, v.InGuestMode, v.Pid is not null, v.PreemptedInKernel, v.InSpinLoop,
        v.Task is null ? -1 : v.Task.Cpu);
}

/// <summary>
/// One <c>yield_to(task, preempt=1)</c> from a PAUSE handler, with the costs the directed-yield walk
/// pays for it (run-queue locks booked on the host's queues, decision 0010) and its statistics and
/// ground-truth label (statistics only). Shared by the oracle and the plug-in handlers.
/// </summary>
internal static class PauseYieldTo
{
    /// <summary>Calls yield_to on <paramref name="v"/> at <c>now + cost</c>; updates <paramref name="cost"/>; true on success (the spinner is descheduled).</summary>
    public static bool Try(Kvm kvm, Vcpu me, Vcpu v, HostTask task, long now, ref long cost)
    {
        var vm = me.Vm;
        var costs = kvm.Settings.Costs;
        vm.Stats.YieldToCalls++;
        me.ContinueAfterPauseHandler(cost);
        var relation = me.SpinRelationTo(v); // statistics label only
        long lockNs = (task.Cpu == me.Task.Cpu ? 1 : 2) * costs.RqLockAcquire.Ns + costs.YieldTo.Ns;
        var r = kvm.Host.YieldTo(me.Task, task, preempt: true, undercommitCheck: false,
            now + cost, costs.RqLockAcquire.Ns, costs.YieldTo.Ns, out long done);
        if (done > now + cost)
            vm.Stats.RqLockWaitNs += done - now - cost - lockNs;
        cost = done - now;
        me.ContinueAfterPauseHandler(cost);
        kvm.CountYieldTo(me, v, relation, r);
        return r == YieldToResult.Success;
    }
}

/// <summary>
/// A plug-in PAUSE handler (<c>kvm.ple_handler: plugin:NAME</c>, decision 0028): the plug-in picks
/// candidates from KVM's view of the VCPUs; the host charges the walk as the built-in directed
/// yield does (per candidate examined, <c>get_pid_task</c>, the run-queue locks of each
/// <c>yield_to</c>) and applies the plug-in's fallback when no yield_to succeeded.
/// </summary>
public sealed class PluginPleHandler : IPleHandler
{
    private readonly IPauseHandlerPlugin _plugin;
    private readonly PauseExitView _view = new();

    public PluginPleHandler(IPauseHandlerPlugin plugin, RandomStream random)
    {
        _plugin = plugin;
        Name = PluginRegistry.Prefix + plugin.Name;
        plugin.Initialize(random);
    }

    public string Name { get; }
    public bool PleEnabled => true;

    public bool OnPauseExit(Kvm kvm, Vcpu me)
    {
        var vm = me.Vm;
        var costs = kvm.Settings.Costs;
        int n = vm.Vcpus.Count;
        long now = kvm.Sim.Now.Ns;
        long cost = 0;
        vm.Stats.DirectedYieldWalks++;
        _view.Set(kvm, me);
        Span<int> order = stackalloc int[n];
        var decision = _plugin.OnPauseExit(_view, order);
        int count = Math.Clamp(decision.Candidates, 0, n);
        for (int k = 0; k < count; k++)
        {
            int i = order[k];
            cost += costs.YieldCandidate.Ns;
            vm.Stats.CandidatesExamined++;
            if ((uint)i >= (uint)n || i == me.Index)
            {
                vm.Stats.SkippedSelf++;
                continue;
            }
            var v = vm.Vcpus[i];
            if (v.Pid is not { } task)
            {
                vm.Stats.SkippedNoPid++;
                continue;
            }
            cost += costs.GetPidTask.Ns;
            if (PauseYieldTo.Try(kvm, me, v, task, now, ref cost))
            {
                vm.LastBoostedVcpu = i;
                return false;
            }
        }
        vm.Stats.WalksWithoutYield++;
        me.ContinueAfterPauseHandler(cost);
        switch (decision.Fallback)
        {
            case PauseFallback.Yield:
                vm.Stats.PlainYields++;
                kvm.Host.Yield(me.Task);
                return false;
            case PauseFallback.Sleep:
                vm.Stats.PleSleeps++;
                me.SleepOnWaitQueue(kvm.Settings.SleepTimeout);
                return false;
            default:
                return true;
        }
    }
}

/// <summary>A plug-in candidate filter bound to its run (<c>kvm.candidate_filter: plugin:NAME</c>).</summary>
public sealed class PluginCandidateFilter
{
    private readonly IYieldCandidateFilter _filter;
    private readonly PauseExitView _view = new();

    public PluginCandidateFilter(IYieldCandidateFilter filter, RandomStream random)
    {
        _filter = filter;
        filter.Initialize(random);
    }

    public string Name => PluginRegistry.Prefix + _filter.Name;

    /// <summary>True if the plug-in keeps <paramref name="candidate"/> for <paramref name="me"/>'s walk.</summary>
    public bool Accept(Kvm kvm, Vcpu me, Vcpu candidate)
    {
        _view.Set(kvm, me);
        var state = PauseExitView.Of(candidate);
        return _filter.Accept(_view, in state);
    }
}

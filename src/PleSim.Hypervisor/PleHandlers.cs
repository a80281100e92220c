using PleSim.Host;

namespace PleSim.Hypervisor;

/// <summary>A PAUSE-exit handler policy: what KVM does when a VCPU's pause loop exits.</summary>
public interface IPleHandler
{
    string Name { get; }

    /// <summary>False: PLE is off (no PAUSE exits at all).</summary>
    bool PleEnabled { get; }

    /// <summary>
    /// Handles a PAUSE exit of <paramref name="me"/> after the exit and the handler's fixed cost.
    /// Either calls <see cref="Vcpu.ContinueAfterPauseHandler"/> and returns true (re-enter now),
    /// or sets up the continuation and deschedules the VCPU thread and returns false.
    /// </summary>
    bool OnPauseExit(Kvm kvm, Vcpu me);
}

/// <summary>The policies, by name.</summary>
public static class PleHandlers
{
    public static readonly string[] Names =
    [
        "none", "sleep", "yield", "directed-yield-2011", "directed-yield-3.6", "directed-yield-3.10",
    ];

    public static IPleHandler Create(string name) => name switch
    {
        "none" => new NoPle(),
        "sleep" => new SleepHandler(),
        "yield" => new YieldHandler(),
        "directed-yield-2011" => new DirectedYield(name, DirectedYieldOptions.Linux2639),
        "directed-yield-3.6" => new DirectedYield(name, DirectedYieldOptions.Linux36),
        "directed-yield-3.10" => new DirectedYield(name, DirectedYieldOptions.Linux310),
        _ => throw new ArgumentException($"unknown PLE handler '{name}' (valid: {string.Join(", ", Names)})", nameof(name)),
    };
}

/// <summary>PLE off (the seed's "no PLE"): VCPUs spin in the guest until the lock is released.</summary>
public sealed class NoPle : IPleHandler
{
    public string Name => "none";
    public bool PleEnabled => false;
    public bool OnPauseExit(Kvm kvm, Vcpu me) => throw new InvalidOperationException("PLE is off: no PAUSE exits");
}

/// <summary>
/// The handler before the seed (≤ 2.6.38 <c>kvm_vcpu_on_spin</c>): sleep ~100 µs on the VCPU's
/// own wait queue (<c>schedule_hrtimeout</c>); a kick or an interrupt for it ends the sleep early.
/// </summary>
public sealed class SleepHandler : IPleHandler
{
    public string Name => "sleep";
    public bool PleEnabled => true;

    public bool OnPauseExit(Kvm kvm, Vcpu me)
    {
        me.Vm.Stats.PleSleeps++;
        me.SleepOnWaitQueue(kvm.Settings.SleepTimeout);
        return false;
    }
}

/// <summary>A plain <c>sched_yield()</c> on every PAUSE exit (a comparison policy).</summary>
public sealed class YieldHandler : IPleHandler
{
    public string Name => "yield";
    public bool PleEnabled => true;

    public bool OnPauseExit(Kvm kvm, Vcpu me)
    {
        me.Vm.Stats.PlainYields++;
        me.ContinueAfterPauseHandler(0);
        kvm.Host.Yield(me.Task);
        return false;
    }
}

/// <summary>Switches that distinguish the directed-yield versions.</summary>
public sealed record DirectedYieldOptions
{
    /// <summary>3.6: pass 0 skips indexes ≤ last_boosted_vcpu (2.6.39: only &lt;).</summary>
    public bool InclusiveSkip { get; init; }

    /// <summary>3.7: a candidate in a spin loop is eligible every other time it is examined.</summary>
    public bool DyEligible { get; init; }

    /// <summary>3.9: yield_to reports -ESRCH when both run queues hold one task, which (returned as bool until 3.16) ends the walk.</summary>
    public bool UndercommitExit { get; init; }

    /// <summary>3.10: only VCPUs marked preempted are candidates.</summary>
    public bool PreemptedOnly { get; init; }

    public static readonly DirectedYieldOptions Linux2639 = new();
    public static readonly DirectedYieldOptions Linux36 = new() { InclusiveSkip = true };
    public static readonly DirectedYieldOptions Linux310 = new() { InclusiveSkip = true, DyEligible = true, UndercommitExit = true, PreemptedOnly = true };
}

/// <summary>
/// The seed's directed yield (<c>kvm_vcpu_on_spin</c>, 2.6.39): two passes over the VM's VCPUs in
/// index order around <c>last_boosted_vcpu</c>, skipping itself, halted VCPUs (wait queue
/// active), VCPUs without a pid and those in guest mode; the first successful
/// <c>yield_to(task, preempt=1)</c> wins and becomes the new <c>last_boosted_vcpu</c>. Failed
/// yield_to calls (e.g. a target running in host mode) cost time and the walk goes on. No sleep
/// when nothing succeeded.
/// </summary>
public sealed class DirectedYield(string name, DirectedYieldOptions options) : IPleHandler
{
    public string Name { get; } = name;
    public bool PleEnabled => true;
    public DirectedYieldOptions Options { get; } = options;

    public bool OnPauseExit(Kvm kvm, Vcpu me)
    {
        var vm = me.Vm;
        var costs = kvm.Settings.Costs;
        int last = vm.LastBoostedVcpu;
        int n = vm.Vcpus.Count;
        long cost = 0;
        vm.Stats.DirectedYieldWalks++;
        if (Options.DyEligible)
            me.InSpinLoop = true;
        Span<int> order = stackalloc int[2 * n + 1];
        int count = WalkOrder(n, last, Options.InclusiveSkip, order);
        for (int k = 0; k < count; k++)
        {
            int i = order[k];
            var v = vm.Vcpus[i];
            cost += costs.YieldCandidate.Ns;
            vm.Stats.CandidatesExamined++;
            if (v == me)
            {
                vm.Stats.SkippedSelf++;
                continue;
            }
            if (Options.PreemptedOnly && !v.Preempted)
            {
                vm.Stats.SkippedNotPreempted++;
                continue;
            }
            if (v.WaitQueueActive)
            {
                vm.Stats.SkippedWaitQueue++;
                continue;
            }
            if (Options.DyEligible && !Eligible(v))
            {
                vm.Stats.SkippedIneligible++;
                continue;
            }
            var task = v.Pid;
            if (task is null)
            {
                vm.Stats.SkippedNoPid++;
                continue;
            }
            if (v.InGuestMode)
            {
                vm.Stats.SkippedInGuest++;
                continue;
            }
            cost += costs.YieldTo.Ns;
            vm.Stats.YieldToCalls++;
            // The handler's work so far is paid on re-entry; the continuation is set before
            // yield_to, because a successful yield_to schedules at once.
            me.ContinueAfterPauseHandler(cost);
            var relation = me.SpinRelationTo(v); // ground truth for the statistics only, never for the choice
            var r = kvm.Host.YieldTo(me.Task, task, preempt: true, undercommitCheck: Options.UndercommitExit);
            kvm.CountYieldTo(me, v, relation, r);
            if (r == YieldToResult.Success)
            {
                vm.LastBoostedVcpu = i;
                Done(me);
                return false;
            }
            if (r == YieldToResult.BothQueuesSingle)
            {
                // 3.9-3.15 returned bool: -ESRCH read as "yielded" and ended the walk.
                Done(me);
                me.ContinueAfterPauseHandler(cost);
                return true;
            }
        }
        vm.Stats.WalksWithoutYield++;
        Done(me);
        me.ContinueAfterPauseHandler(cost);
        return true;
    }

    /// <summary>
    /// The VCPU indexes <c>kvm_vcpu_on_spin</c> examines, in order, written exactly as the
    /// kernel's loop runs: in pass 0 the first index below last_boosted_vcpu (2.6.39: &lt;; 3.6:
    /// &lt;=) jumps <c>i</c> to last_boosted_vcpu and the loop's <c>i++</c> continues after it — so
    /// with last_boosted_vcpu = 0 the 2.6.39 walk starts at 0 and visits it twice. Pass 1 runs
    /// from 0 up to last_boosted_vcpu. (The caller stops at the first successful yield.)
    /// </summary>
    public static int WalkOrder(int n, int last, bool inclusiveSkip, Span<int> order)
    {
        int count = 0;
        for (int pass = 0; pass < 2; pass++)
        {
            for (int i = 0; i < n; i++)
            {
                if (pass == 0 && (inclusiveSkip ? i <= last : i < last))
                {
                    i = last;
                    continue;
                }
                if (pass == 1 && i > last)
                    break;
                order[count++] = i;
            }
        }
        return count;
    }

    private void Done(Vcpu me)
    {
        if (Options.DyEligible)
        {
            me.InSpinLoop = false;
            me.DyEligible = false;
        }
    }

    /// <summary><c>kvm_vcpu_eligible_for_directed_yield</c> (3.7): not spinning, or every other look while spinning.</summary>
    private static bool Eligible(Vcpu v)
    {
        bool eligible = !v.InSpinLoop || v.DyEligible;
        if (v.InSpinLoop)
            v.DyEligible = !v.DyEligible;
        return eligible;
    }
}

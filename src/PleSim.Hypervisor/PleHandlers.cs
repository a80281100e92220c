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
        "none", "sleep", "yield", "directed-yield-2011", "directed-yield-3.6", "directed-yield-3.7", "directed-yield-3.9", "directed-yield-3.10",
        "directed-yield-3.17", "directed-yield-4.14", "directed-yield-5.3", "directed-yield-6.13", OracleHandler.HandlerName,
        XenYield2009.HandlerName,
    ];

    /// <summary>True for a name <see cref="Create(string, DirectedYieldOverrides?, PleSim.Engine.RandomStreams?, string?)"/> accepts: a built-in or <c>plugin:NAME</c> of a loaded plug-in.</summary>
    public static bool IsKnown(string name) =>
        Array.IndexOf(Names, name) >= 0
        || (name.StartsWith(PluginRegistry.Prefix, StringComparison.Ordinal) && PluginRegistry.HasHandler(name[PluginRegistry.Prefix.Length..]));

    /// <summary>
    /// The policy called <paramref name="name"/> for one run: built-ins as <see cref="Create(string, DirectedYieldOverrides?)"/>,
    /// <c>plugin:NAME</c> a fresh instance of a loaded plug-in with its own stream of <paramref name="streams"/>;
    /// <paramref name="candidateFilter"/> (<c>plugin:NAME</c> or null) is handed to directed-yield walks.
    /// </summary>
    public static IPleHandler Create(string name, DirectedYieldOverrides? overrides, PleSim.Engine.RandomStreams? streams, string? candidateFilter)
    {
        streams ??= new PleSim.Engine.RandomStreams(0);
        IPleHandler handler;
        if (name.StartsWith(PluginRegistry.Prefix, StringComparison.Ordinal))
        {
            var plugin = name[PluginRegistry.Prefix.Length..];
            handler = new PluginPleHandler(PluginRegistry.CreateHandler(plugin), streams.Get("plugin." + plugin));
        }
        else
        {
            handler = Create(name, overrides);
        }
        if (candidateFilter is not null)
        {
            if (!candidateFilter.StartsWith(PluginRegistry.Prefix, StringComparison.Ordinal))
                throw new ArgumentException($"kvm.candidate_filter '{candidateFilter}' is not plugin:NAME", nameof(candidateFilter));
            var f = candidateFilter[PluginRegistry.Prefix.Length..];
            var filter = new PluginCandidateFilter(PluginRegistry.CreateFilter(f), streams.Get("plugin-filter." + f));
            if (handler is DirectedYield dy)
                dy.Filter = filter;
        }
        return handler;
    }

    /// <summary>The policy called <paramref name="name"/>; a directed yield takes its version's preset with <paramref name="overrides"/> applied.</summary>
    public static IPleHandler Create(string name, DirectedYieldOverrides? overrides = null)
    {
        var o = overrides ?? new DirectedYieldOverrides();
        return name switch
        {
            "none" => new NoPle(),
            "sleep" => new SleepHandler(),
            "yield" => new YieldHandler(),
            "directed-yield-2011" => new DirectedYield(name, o.Apply(DirectedYieldOptions.Linux2639)),
            "directed-yield-3.6" => new DirectedYield(name, o.Apply(DirectedYieldOptions.Linux36)),
            "directed-yield-3.7" => new DirectedYield(name, o.Apply(DirectedYieldOptions.Linux37)),
            "directed-yield-3.9" => new DirectedYield(name, o.Apply(DirectedYieldOptions.Linux39)),
            "directed-yield-3.10" => new DirectedYield(name, o.Apply(DirectedYieldOptions.Linux310)),
            "directed-yield-3.17" => new DirectedYield(name, o.Apply(DirectedYieldOptions.Linux317)),
            "directed-yield-4.14" => new DirectedYield(name, o.Apply(DirectedYieldOptions.Linux414)),
            "directed-yield-5.3" => new DirectedYield(name, o.Apply(DirectedYieldOptions.Linux53)),
            "directed-yield-6.13" => new DirectedYield(name, o.Apply(DirectedYieldOptions.Linux613)),
            OracleHandler.HandlerName => new OracleHandler(),
            XenYield2009.HandlerName => new XenYield2009(),
            _ => throw new ArgumentException($"unknown PLE handler '{name}' (valid: {string.Join(", ", Names)})", nameof(name)),
        };
    }
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

/// <summary>
/// Xen's PAUSE-exit handler as commit b67758cda13b ("vmx: Add support for Pause-Loop Exiting",
/// 2009-07-07) adds it to <c>vmx_vmexit_handler</c>: on EXIT_REASON_PAUSE_INSTRUCTION count the
/// exit and call <c>do_sched_op_compat(SCHEDOP_yield, 0)</c>, i.e. <c>do_yield</c>, which only
/// raises SCHEDULE_SOFTIRQ: the credit scheduler then re-picks with the yielder queued behind the
/// vcpus of its own priority (possibly picking it again). No target, no candidate walk. Needs
/// <c>host.scheduler: xen-credit-3.4</c> (decision 0063). The exit is counted as a plain yield.
/// </summary>
public sealed class XenYield2009 : IPleHandler
{
    public const string HandlerName = "xen-yield-2009";

    public string Name => HandlerName;
    public bool PleEnabled => true;

    public bool OnPauseExit(Kvm kvm, Vcpu me)
    {
        if (!kvm.Host.IsXenCredit)
            throw new InvalidOperationException($"{HandlerName} is Xen's handler: it needs host.scheduler xen-credit-3.4");
        me.Vm.Stats.PlainYields++; // perfc_incr(pauseloop_exits)
        me.ContinueAfterPauseHandler(0);
        kvm.Host.Yield(me.Task); // do_yield: raise_softirq(SCHEDULE_SOFTIRQ)
        return false;
    }
}

/// <summary>
/// Switches that distinguish the directed-yield versions (virt/kvm/kvm_main.c
/// <c>kvm_vcpu_on_spin</c>, kernel/sched/core.c <c>yield_to</c>); each is a scenario key
/// <c>kvm.directed_yield.*</c> that overrides the handler's preset.
/// </summary>
public sealed record DirectedYieldOptions
{
    /// <summary>3.6: pass 0 skips indexes ≤ last_boosted_vcpu (2.6.39: only &lt;).</summary>
    public bool InclusiveSkip { get; init; }

    /// <summary>
    /// 3.7: a candidate in a spin loop is eligible every other time it is examined
    /// (<c>kvm_vcpu_eligible_for_directed_yield</c>); the spinner is "in a spin loop" from the start of
    /// its handler until the handler returns, descheduled time inside a successful yield_to included.
    /// </summary>
    public bool DyEligible { get; init; }

    /// <summary>3.9: yield_to reports -ESRCH (without taking the run-queue locks) when both run queues hold one task.</summary>
    public bool UndercommitExit { get; init; }

    /// <summary>3.9: <c>try = 3</c> in <c>kvm_vcpu_on_spin</c>: the walk ends after this many -ESRCH results (when they read as failures).</summary>
    public int UndercommitTries { get; init; } = 3;

    /// <summary>
    /// 3.9 until the mid-2014 signedness fix (3.16/3.17): <c>yield_to</c> was declared <c>bool</c>, so its -ESRCH came back as true: the handler
    /// took it for a successful boost (<c>yielded &gt; 0</c>), recorded the candidate as
    /// last_boosted_vcpu and stopped, so <see cref="UndercommitTries"/> never counted down (the
    /// return type became int with that fix). False: the intended semantics.
    /// </summary>
    public bool EsrchReadsAsSuccess { get; init; } = true;

    /// <summary>3.10: only VCPUs marked preempted are candidates.</summary>
    public bool PreemptedOnly { get; init; }

    /// <summary>
    /// 4.14 (<c>kvm_vcpu_on_spin(me, yield_to_kernel_mode)</c>, "KVM: add spinlock optimization
    /// framework" and its x86 part): when the spinner exited from kernel mode (VMX: always, PLE only
    /// fires at CPL 0; SVM: <c>svm_get_cpl() == 0</c>), a preempted candidate whose guest was in user
    /// mode when it was scheduled out (<c>vcpu->arch.preempted_in_kernel</c>, set in
    /// <c>kvm_arch_vcpu_put</c>) is skipped: it cannot hold a kernel spinlock.
    /// </summary>
    public bool YieldToKernelMode { get; init; }

    /// <summary>
    /// 5.3 ("KVM: Boost vCPUs that are delivering interrupts"): the candidate test is
    /// <c>vcpu->ready</c> instead of <c>vcpu->preempted</c>: set when the thread is preempted and when
    /// <c>kvm_vcpu_wake_up</c> wakes it, cleared at sched-in; the user-mode skip then applies only to
    /// candidates that were preempted. Replaces <see cref="PreemptedOnly"/> when set.
    /// </summary>
    public bool ReadyCandidates { get; init; }

    /// <summary>
    /// 6.13 ("KVM: Rework core loop of kvm_vcpu_on_spin() to use a single for-loop", commit
    /// 7e513617da71): one walk over last_boosted_vcpu+1 … last_boosted_vcpu−1, wrapping, the
    /// spinner's own index skipped; replaces the two passes of <see cref="DirectedYield.WalkOrder(int, int, bool, Span{int})"/>.
    /// </summary>
    public bool SingleWalk { get; init; }

    /// <summary>
    /// 6.13 until the 6.18/6.19 fix: the single walk stored its loop counter <c>i</c>, not the VCPU
    /// index <c>idx</c>, as last_boosted_vcpu (the two differ whenever the walk did not start at 0).
    /// </summary>
    public bool SingleWalkStoresCounter { get; init; }

    /// <summary>
    /// 5.13 (commit 52acd22faa1a, "KVM: Boost vCPU candidate in user mode which is delivering
    /// interrupt", Wanpeng Li; decision 0060): the <see cref="YieldToKernelMode"/> skip spares a
    /// preempted user-mode candidate when <c>kvm_arch_dy_has_pending_interrupt</c> is true (x86: APICv
    /// active and ON set in its posted-interrupt descriptor, <see cref="Vcpu.ArchDyHasPendingInterrupt"/>).
    /// Without <see cref="KvmSettings.Apicv"/> the test never passes.
    /// </summary>
    public bool BoostPendingInterruptUserMode { get; init; }

    /// <summary>
    /// 5.8 (da4ad88cab58, "kvm: Replace vcpu->swait with rcuwait", committed 2020-05-14 for the 5.8
    /// merge window; decision 0097): the halted-candidate skip reads the VCPU's rcuwait
    /// (<c>rcuwait_active(&amp;vcpu->wait) &amp;&amp; !vcpu_dy_runnable(vcpu)</c>; 5.16+ spells it
    /// <c>kvm_vcpu_is_blocking</c>). <c>rcuwait_wake_up</c> only wakes the task; the pointer is
    /// cleared by <c>finish_rcuwait</c>, which the woken thread runs itself, so a VCPU woken from
    /// HLT that has not run yet still counts as blocking (<see cref="Vcpu.RcuwaitActive"/>) and is
    /// skipped unless <see cref="Vcpu.DyRunnable"/> (x86 <c>kvm_arch_dy_runnable</c>: pv_unhalted, a
    /// pending KVM_REQ_NMI/SMI/EVENT, or APICv ON). False (2.6.39–5.7): the wait queue, which a
    /// wake-up leaves at once (<c>autoremove_wake_function</c>; 4.x–5.7 <c>swake_up_one</c> →
    /// <c>swake_up_locked</c> deletes the entry), so a woken VCPU is a candidate at once.
    /// </summary>
    public bool BlockingUntilRun { get; init; }

    /// <summary>
    /// 3.9–6.12 (the loop of c45c528e8995, "kvm: Handle yield_to failure return code for potential
    /// undercommit case"; decision 0097): <c>for (pass = 0; pass &lt; 2 &amp;&amp; !yielded &amp;&amp; try; pass++)</c>
    /// keeps the result of the last <c>kvm_vcpu_yield_to</c> in <c>yielded</c>, so when the last call
    /// of pass 0 returned -ESRCH (negative; <c>try</c> not yet 0) pass 1 never starts. A later call
    /// that returned 0 (a failed <c>yield_to</c>, or no task for the pid) clears it. Moot while
    /// <see cref="EsrchReadsAsSuccess"/> (3.9, 3.10: -ESRCH ends the walk anyway) and with
    /// <see cref="SingleWalk"/> (6.13: one pass).
    /// </summary>
    public bool EsrchSkipsSecondPass { get; init; }

    public static readonly DirectedYieldOptions Linux2639 = new();
    public static readonly DirectedYieldOptions Linux36 = new() { InclusiveSkip = true };
    public static readonly DirectedYieldOptions Linux37 = Linux36 with { DyEligible = true };
    public static readonly DirectedYieldOptions Linux39 = Linux37 with { UndercommitExit = true, EsrchSkipsSecondPass = true };
    public static readonly DirectedYieldOptions Linux310 = Linux39 with { PreemptedOnly = true };

    /// <summary>3.10 with <c>yield_to</c> returning int (the 2014 signedness fix): -ESRCH counts down <c>try</c>.</summary>
    public static readonly DirectedYieldOptions Linux317 = Linux310 with { EsrchReadsAsSuccess = false };
    public static readonly DirectedYieldOptions Linux414 = Linux317 with { YieldToKernelMode = true };
    public static readonly DirectedYieldOptions Linux53 = Linux414 with { ReadyCandidates = true };
    public static readonly DirectedYieldOptions Linux613 = Linux53 with { SingleWalk = true, SingleWalkStoresCounter = true, BoostPendingInterruptUserMode = true, BlockingUntilRun = true };
}

/// <summary>
/// The seed's directed yield (<c>kvm_vcpu_on_spin</c>, 2.6.39): two passes over the VM's VCPUs in
/// index order around <c>last_boosted_vcpu</c>, skipping itself, halted VCPUs (wait queue
/// active), VCPUs without a pid and those in guest mode; the first successful
/// <c>yield_to(task, preempt=1)</c> wins and becomes the new <c>last_boosted_vcpu</c>. Failed
/// yield_to calls (e.g. a target running in host mode) cost time and the walk goes on. No sleep
/// when nothing succeeded. The walk runs in one event; its time (per candidate, get_pid_task, and
/// each yield_to's wait for and hold of both run-queue locks, booked on the host's queues so that
/// concurrent walkers serialise) is spent in the handler before the re-entry (decision 0010).
/// Later versions' switches: <see cref="DirectedYieldOptions"/>.
/// </summary>
public sealed class DirectedYield(string name, DirectedYieldOptions options) : IPleHandler
{
    public string Name { get; } = name;
    public bool PleEnabled => true;
    public DirectedYieldOptions Options { get; } = options;

    /// <summary>A plug-in candidate filter (<c>kvm.candidate_filter</c>, decision 0028), asked after the kernel's own tests; null: none.</summary>
    public PluginCandidateFilter? Filter { get; set; }

    public bool OnPauseExit(Kvm kvm, Vcpu me)
    {
        var vm = me.Vm;
        var costs = kvm.Settings.Costs;
        int last = vm.LastBoostedVcpu;
        int n = vm.Vcpus.Count;
        long now = kvm.Sim.Now.Ns;
        long cost = 0;
        int tries = Options.UndercommitTries;
        vm.Stats.DirectedYieldWalks++;
        // kvm_vcpu_set_in_spin_loop(me, true) (3.7); the handler's return clears it and dy_eligible
        // (Vcpu, ExitKind.PauseReturn) - after the walk's time, or after a successful yield_to
        // once this VCPU runs again.
        if (Options.DyEligible)
            me.InSpinLoop = true;
        Span<int> order = stackalloc int[2 * n + 1];
        int pass1Start = -1;
        int count = Options.SingleWalk ? SingleWalkOrder(n, last, order) : WalkOrder(n, last, Options.InclusiveSkip, order, out pass1Start);
        // 3.9–6.12: pass 1 starts only while the last kvm_vcpu_yield_to result (yielded) is not negative.
        bool esrchSkipsPass1 = Options.EsrchSkipsSecondPass && Options.UndercommitExit && !Options.EsrchReadsAsSuccess && !Options.SingleWalk;
        // yield_to_kernel_mode (4.14): VMX passes true (PLE exits only at CPL 0); SVM passes CPL == 0.
        bool toKernel = Options.YieldToKernelMode && !me.SpinningInUserMode;
        // IPI-aware directed yield (unmerged series v2 patches 8-9, decision 0052): the first walk
        // uses kvm_vcpu_is_good_yield_candidate; if it yielded nothing and enable_relaxed_boost is on,
        // the retry label runs the same walk again with only a vcpu->preempted gate (yielded reset,
        // try not reset, last_boosted_vcpu unchanged so the same order).
        var settings = kvm.Settings;
        bool ipiAware = settings.IpiAwareYield;
        long windowNs = settings.IpiWindow.Ns;
        var ipiStats = vm.Stats.IpiAware;
        bool exhausted = false;
        for (int round = 0; round < 2; round++)
        {
            bool relaxed = round == 1;
            if (relaxed)
            {
                if (!ipiAware || !settings.RelaxedBoost)
                    break;
                ipiStats.RelaxedRounds++;
            }
            exhausted = false;
            bool lastEsrch = false; // yielded < 0: the last kvm_vcpu_yield_to returned -ESRCH
            for (int k = 0; k < count; k++)
            {
                if (k == pass1Start && lastEsrch && esrchSkipsPass1)
                {
                    // The outer loop's !yielded test fails: no pass 1 (the walk ends, boosting nobody).
                    vm.Stats.WalksEndedBeforePass1++;
                    me.ContinueAfterPauseHandler(cost);
                    return true;
                }
                int i = order[k];
                var v = vm.Vcpus[i];
                cost += costs.YieldCandidate.Ns;
                vm.Stats.CandidatesExamined++;
                // 3.10 tests vcpu->preempted first, then vcpu == me; 5.3 tests vcpu->ready instead.
                if (Options.ReadyCandidates ? !v.Ready : Options.PreemptedOnly && !v.Preempted)
                {
                    vm.Stats.SkippedNotPreempted++;
                    continue;
                }
                if (v == me)
                {
                    vm.Stats.SkippedSelf++;
                    continue;
                }
                // 2.6.39–5.7: the wait queue is active (a wake-up takes the VCPU off it at once). 5.8+:
                // rcuwait_active && !vcpu_dy_runnable, where the rcuwait stays set until the woken VCPU runs.
                if (Options.BlockingUntilRun)
                {
                    if (v.WaitQueueActive || v.RcuwaitActive)
                    {
                        if (!v.DyRunnable)
                        {
                            if (v.WaitQueueActive)
                                vm.Stats.SkippedWaitQueue++;
                            else
                                vm.Stats.SkippedWokenNotRun++;
                            continue;
                        }
                        vm.Stats.BlockingDyRunnableCandidates++;
                    }
                }
                else if (v.WaitQueueActive)
                {
                    vm.Stats.SkippedWaitQueue++;
                    continue;
                }
                var tier = YieldCandidateTier.Rejected;
                if (ipiAware)
                {
                    if (!relaxed)
                    {
                        tier = IpiAwareYield.IsGoodYieldCandidate(me, v, toKernel, now + cost, windowNs, settings.IpiTracking);
                        ipiStats.Tiers[(int)tier]++;
                        if (tier == YieldCandidateTier.Rejected)
                            continue;
                    }
                    else if (!v.Preempted)
                    {
                        ipiStats.RelaxedSkippedNotPreempted++;
                        continue;
                    }
                }
                // 4.14: a candidate preempted while its guest ran user code cannot hold a kernel lock;
                // 5.13: unless it has an interrupt to deliver (kvm_arch_dy_has_pending_interrupt, decision 0060).
                else if (toKernel && v.Preempted && !v.PreemptedInKernel)
                {
                    if (!(Options.BoostPendingInterruptUserMode && v.ArchDyHasPendingInterrupt()))
                    {
                        vm.Stats.SkippedUserMode++;
                        continue;
                    }
                    vm.Stats.UserModePendingInterruptCandidates++;
                }
                if (Options.DyEligible && !Eligible(v))
                {
                    vm.Stats.SkippedIneligible++;
                    continue;
                }
                if (Filter is not null && !Filter.Accept(kvm, me, v))
                {
                    vm.Stats.SkippedByFilter++;
                    continue;
                }
                var task = v.Pid;
                if (task is null)
                {
                    // kvm_vcpu_yield_to returns 0 without a task: yielded = 0.
                    lastEsrch = false;
                    vm.Stats.SkippedNoPid++;
                    continue;
                }
                cost += costs.GetPidTask.Ns;
                if (v.InGuestMode)
                {
                    // A running target's yield_to fails (3.x's PF_VCPU test, later task_running): yielded = 0.
                    lastEsrch = false;
                    vm.Stats.SkippedInGuest++;
                    continue;
                }
                vm.Stats.YieldToCalls++;
                // The continuation is set before yield_to, because a successful yield_to schedules at
                // once; it is set again below with the time the run-queue locks took. The handler's
                // work is paid before the re-entry (after this VCPU runs again when it yielded).
                me.ContinueAfterPauseHandler(cost);
                var before = YieldToWitness.Before(me, v); // ground truth for the statistics only: opaque to this walk
                long lockNs = (task.Cpu == me.Task.Cpu ? 1 : 2) * costs.RqLockAcquire.Ns + costs.YieldTo.Ns;
                var r = kvm.Host.YieldTo(me.Task, task, preempt: true, Options.UndercommitExit,
                    now + cost, costs.RqLockAcquire.Ns, costs.YieldTo.Ns, out long done);
                if (done > now + cost)
                    vm.Stats.RqLockWaitNs += done - now - cost - lockNs;
                cost = done - now;
                me.ContinueAfterPauseHandler(cost);
                kvm.CountYieldTo(me, v, before, r);
                if (r == YieldToResult.Success)
                {
                    if (ipiAware)
                    {
                        if (relaxed)
                            ipiStats.RelaxedYields++;
                        else if (tier == YieldCandidateTier.IpiReceiver)
                            ipiStats.YieldsToIpiReceiver++;
                    }
                    vm.LastBoostedVcpu = Options.SingleWalkStoresCounter ? SingleWalkCounter(n, last, i) : i;
                    return false;
                }
                lastEsrch = r == YieldToResult.BothQueuesSingle;
                if (r == YieldToResult.BothQueuesSingle)
                {
                    if (Options.EsrchReadsAsSuccess)
                    {
                        // 3.9 to 3.16/3.17: the bool return turned -ESRCH into "yielded": last_boosted_vcpu = i
                        // and the walk ends (yield_to itself did not schedule).
                        vm.LastBoostedVcpu = i;
                        return true;
                    }
                    if (--tries == 0)
                    {
                        if (!ipiAware)
                            return true;
                        // 9/9: the break leaves yielded < 0, so the relaxed walk still runs; try stays at
                        // 0 there and its next -ESRCH takes it to -1, which no longer ends the walk.
                        exhausted = true;
                        break;
                    }
                }
            }
        }
        if (exhausted)
            return true;
        vm.Stats.WalksWithoutYield++;
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
    public static int WalkOrder(int n, int last, bool inclusiveSkip, Span<int> order) => WalkOrder(n, last, inclusiveSkip, order, out _);

    /// <summary>As <see cref="WalkOrder(int, int, bool, Span{int})"/>; <paramref name="pass1Start"/> is the position in <paramref name="order"/> where pass 1 begins.</summary>
    public static int WalkOrder(int n, int last, bool inclusiveSkip, Span<int> order, out int pass1Start)
    {
        int count = 0;
        pass1Start = 0;
        for (int pass = 0; pass < 2; pass++)
        {
            if (pass == 1)
                pass1Start = count;
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

    /// <summary>
    /// 6.13's walk: <c>idx = (last_boosted_vcpu + 1 + i) % nr_vcpus</c> for i in [0, nr_vcpus), every
    /// index once (the spinner's own index is skipped by the caller's <c>vcpu == me</c> test).
    /// </summary>
    public static int SingleWalkOrder(int n, int last, Span<int> order)
    {
        int start = last + 1;
        for (int i = 0; i < n; i++)
            order[i] = (start + i) % n;
        return n;
    }

    /// <summary>The loop counter <c>i</c> at which the single walk reaches index <paramref name="idx"/> (what 6.13 stored).</summary>
    public static int SingleWalkCounter(int n, int last, int idx) => ((idx - (last + 1)) % n + n) % n;

    /// <summary><c>kvm_vcpu_eligible_for_directed_yield</c> (3.7): not spinning, or every other look while spinning.</summary>
    private static bool Eligible(Vcpu v)
    {
        bool eligible = !v.InSpinLoop || v.DyEligible;
        if (v.InSpinLoop)
            v.DyEligible = !v.DyEligible;
        return eligible;
    }
}

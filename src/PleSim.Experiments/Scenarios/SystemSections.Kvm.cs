using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Experiments.Scenarios;

/// <summary>The <c>kvm</c> section: module parameters, the PAUSE-exit handler and its plug-in options (decisions 0022, 0028).</summary>
internal static partial class SystemSections
{
    private static PleSim.Hypervisor.KvmSettings ReadKvm(MapReader r)
    {
        // kvm.version (decision 0022): a release's handler, window policy and halt polling become the
        // defaults of the keys below; a key that is set explicitly overrides its preset value.
        var vendor = r.Get("vendor", Kinds.Choice("intel", "amd"), "intel") == "amd" ? PleSim.Hypervisor.CpuVendor.Amd : PleSim.Hypervisor.CpuVendor.Intel;
        var d = new PleSim.Hypervisor.KvmSettings { Vendor = vendor };
        if (r.Has("version"))
            d = PleSim.Hypervisor.KvmVersions.Apply(r.Get("version", Kinds.Choice(PleSim.Hypervisor.KvmVersions.Names), "2.6.39"), d);
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(10));
        var c = r.Section("costs");
        var dc = d.Costs;
        var costs = new PleSim.Hypervisor.ExitCosts
        {
            Exit = c.Get("exit", small, dc.Exit),
            Entry = c.Get("entry", small, dc.Entry),
            PauseHandler = c.Get("pause_handler", small, dc.PauseHandler),
            YieldCandidate = c.Get("yield_candidate", small, dc.YieldCandidate),
            YieldTo = c.Get("yield_to", small, dc.YieldTo),
            HltHandler = c.Get("hlt_handler", small, dc.HltHandler),
            IcrWriteHandler = c.Get("icr_write_handler", small, dc.IcrWriteHandler),
            IoEventFdHandler = c.Get("ioeventfd_handler", small, dc.IoEventFdHandler),
            HypercallHandler = c.Get("hypercall_handler", small, dc.HypercallHandler),
            KickIpiLatency = c.Get("kick_ipi_latency", small, dc.KickIpiLatency),
            UserspaceExit = c.Get("userspace_exit", small, dc.UserspaceExit),
            GetPidTask = c.Get("get_pid_task", small, dc.GetPidTask),
            RqLockAcquire = c.Get("rq_lock_acquire", small, dc.RqLockAcquire),
            // s390 guests' SIGP (decision 0055 addendum): the intercept handler and the interpreted instruction.
            SigpHandler = c.Get("sigp_handler", small, dc.SigpHandler),
            SigpInterpreted = c.Get("sigp_interpreted", small, dc.SigpInterpreted),
            // IPI virtualization (decision 0066): the sender's virtualized ICR write.
            IcrWriteVirtualized = c.Get("icr_write_virtualized", small, dc.IcrWriteVirtualized),
        };
        c.Done();
        // Per-option overrides of the directed-yield preset the handler name selects (absent = preset).
        var dy = r.Section("directed_yield");
        var overrides = new PleSim.Hypervisor.DirectedYieldOverrides
        {
            InclusiveSkip = dy.Has("inclusive_skip") ? dy.Get("inclusive_skip", Kinds.Bool, false) : null,
            DyEligible = dy.Has("dy_eligible") ? dy.Get("dy_eligible", Kinds.Bool, false) : null,
            UndercommitExit = dy.Has("undercommit_exit") ? dy.Get("undercommit_exit", Kinds.Bool, false) : null,
            UndercommitTries = dy.Has("undercommit_tries") ? dy.Get("undercommit_tries", Kinds.Int(1, 1000), 3) : null,
            EsrchReadsAsSuccess = dy.Has("esrch_reads_as_success") ? dy.Get("esrch_reads_as_success", Kinds.Bool, true) : null,
            PreemptedOnly = dy.Has("preempted_only") ? dy.Get("preempted_only", Kinds.Bool, false) : null,
            YieldToKernelMode = dy.Has("yield_to_kernel_mode") ? dy.Get("yield_to_kernel_mode", Kinds.Bool, false) : null,
            ReadyCandidates = dy.Has("ready") ? dy.Get("ready", Kinds.Bool, false) : null,
            SingleWalk = dy.Has("single_walk") ? dy.Get("single_walk", Kinds.Bool, false) : null,
            SingleWalkStoresCounter = dy.Has("single_walk_stores_counter") ? dy.Get("single_walk_stores_counter", Kinds.Bool, false) : null,
            // 5.13 (decision 0060): a preempted user-mode candidate with a pending posted interrupt is not skipped.
            BoostPendingInterruptUserMode = dy.Has("boost_pending_interrupt_user_mode") ? dy.Get("boost_pending_interrupt_user_mode", Kinds.Bool, false) : null,
            // 5.8+ (decision 0097): a VCPU woken from HLT stays "blocking" (rcuwait) until it runs.
            BlockingUntilRun = dy.Has("blocking_until_run") ? dy.Get("blocking_until_run", Kinds.Bool, false) : null,
            // 3.9–6.12 (decision 0097): a last -ESRCH in pass 0 keeps pass 1 from starting.
            EsrchSkipsSecondPass = dy.Has("esrch_skips_second_pass") ? dy.Get("esrch_skips_second_pass", Kinds.Bool, false) : null,
        }.Over(d.DirectedYield);
        dy.Done();
        var dw = d.PleWindowPolicy;
        // The version's own arithmetic (ClampBeforeGrow, 3.18–4.17 vmx.c, decision 0069) comes with the preset.
        var window = dw with
        {
            Dynamic = r.Get("ple_window_dynamic", Kinds.Bool, dw.Dynamic),
            Grow = r.Get("ple_window_grow", Kinds.Integer(0, 1L << 31), dw.Grow),
            Shrink = r.Get("ple_window_shrink", Kinds.Integer(0, 1L << 31), dw.Shrink),
            Max = r.Get("ple_window_max", Kinds.Integer(1, uint.MaxValue), dw.Max),
        };
        var dp = d.HaltPoll;
        var poll = new PleSim.Hypervisor.HaltPollSettings
        {
            HaltPollNs = r.Get("halt_poll_ns", Kinds.Integer(0, 1_000_000_000), dp.HaltPollNs),
            Adaptive = r.Get("halt_poll_adaptive", Kinds.Bool, dp.Adaptive),
            Grow = r.Get("halt_poll_ns_grow", Kinds.Integer(0, 1000), dp.Grow),
            Shrink = r.Get("halt_poll_ns_shrink", Kinds.Integer(0, 1000), dp.Shrink),
            GrowStart = r.Get("halt_poll_ns_grow_start", Kinds.Integer(1, 1_000_000_000), dp.GrowStart),
            ShrinkFloor = r.Get("halt_poll_shrink_floor", Kinds.Bool, dp.ShrinkFloor),
            // Decision 0097: the poll ends as soon as another task is queued on its CPU (every poll iteration tests single_task_running()).
            RecheckSingleTask = r.Get("halt_poll_recheck_single_task", Kinds.Bool, dp.RecheckSingleTask),
        };
        var settings = new PleSim.Hypervisor.KvmSettings
        {
            Vendor = vendor,
            Version = d.Version,
            PleHandler = r.Get("ple_handler", PleHandlerKind(), d.PleHandler),
            CandidateFilter = NullIfNone(r.Get("candidate_filter", CandidateFilterKind(), "none")),
            PleGap = r.Get("ple_gap", Kinds.Integer(0, 1 << 30), d.PleGap),
            PleWindow = r.Get("ple_window", Kinds.Integer(1, 1L << 31), d.PleWindow),
            PauseFilterCount = r.Get("pause_filter_count", Kinds.Integer(0, 1 << 30), d.PauseFilterCount),
            PauseLoopCycles = r.Get("pause_loop_cycles", Kinds.Integer(1, 100_000), d.PauseLoopCycles),
            SpinLoopGapCycles = r.Get("spin_loop_gap_cycles", Kinds.Integer(1, 100_000), d.SpinLoopGapCycles),
            SleepTimeout = r.Get("sleep_timeout", Kinds.Duration(new SimDuration(1), SimDuration.FromSeconds(1)), d.SleepTimeout),
            Costs = costs,
            DirectedYield = overrides,
            PleWindowPolicy = window,
            HaltPoll = poll,
            PauseFilterThresh = r.Get("pause_filter_thresh", Kinds.Integer(0, 1 << 30), d.PauseFilterThresh),
            // Decision 0043: KVM_HC_KICK_CPU also calls kvm_sched_yield (5.3+), and kvm_sched_yield's
            // single_task_running() bail-out (5.14+).
            KickYield = r.Get("kick_yield", Kinds.Bool, d.KickYield),
            SchedYieldSingleTaskBail = r.Get("sched_yield_single_task_bail", Kinds.Bool, d.SchedYieldSingleTaskBail),
            // Decision 0081: before 5.19 kvm_arch_vcpu_put also marks a VCPU that blocks (HLT) preempted.
            StealTimePreemptedOnBlock = r.Get("steal_time_preempted_on_block", Kinds.Bool, d.StealTimePreemptedOnBlock),
            // Decision 0048: without KVM_FEATURE_PV_UNHALT the guests' PV spinlocks stay native.
            PvUnhalt = r.Get("pv_unhalt", Kinds.Bool, d.PvUnhalt),
            // kvm-s390's diag9c_forwarding_hz (6.17, default 0 = off): forwards of a diag 9c naming a
            // running VCPU, per second (decision 0055; only s390 guests issue diag 9c).
            Diag9cForwardingHz = r.Get("diag9c_forwarding_hz", Kinds.Integer(0, uint.MaxValue), d.Diag9cForwardingHz),
            // Decision 0052: part 2 of Wanpeng Li's unmerged series (v2, 2025-12-19), IPI-aware
            // directed yield, with its module parameters ipi_tracking_enabled, ipi_window_ns and
            // enable_relaxed_boost at the patches' defaults.
            IpiAwareYield = r.Get("ipi_aware_yield", Kinds.Bool, d.IpiAwareYield),
            IpiTracking = r.Get("ipi_tracking", Kinds.Bool, d.IpiTracking),
            IpiWindow = r.Get("ipi_window", Kinds.Duration(SimDuration.Zero, SimDuration.FromSeconds(10)), d.IpiWindow),
            RelaxedBoost = r.Get("relaxed_boost", Kinds.Bool, d.RelaxedBoost),
            // The SIGP interpretation facility (sclp.has_sigpif → ECA_SIGPI, kvm-s390.c 6.17; decision 0055 addendum).
            SigpInterpretation = r.Get("sigp_interpretation", Kinds.Bool, d.SigpInterpretation),
            // kvm-intel's enable_apicv with hardware that has it (decision 0060): posted interrupts.
            Apicv = r.Get("apicv", Kinds.Bool, d.Apicv),
            ReportApicv = r.Has("apicv"),
            // kvm-intel's enable_ipiv (5.19) with hardware that has it (decision 0066): IPI virtualization.
            Ipiv = r.Get("ipiv", Kinds.Bool, d.Ipiv),
        };
        if (settings.Apicv && vendor != PleSim.Hypervisor.CpuVendor.Intel)
            r.Error("apicv", "kvm.apicv models Intel APICv (posted interrupts); it needs kvm.vendor intel (AMD's AVIC is not modelled)");
        if (settings.Ipiv && !settings.Apicv && !r.Failed("apicv"))
            r.Error("ipiv", "kvm.ipiv models Intel IPI virtualization, which kvm-intel enables only on top of APICv (enable_ipiv needs enable_apicv): it needs kvm.apicv: true");
        if (!settings.IpiAwareYield)
        {
            foreach (var knob in new[] { "ipi_tracking", "ipi_window", "relaxed_boost" })
            {
                if (r.Has(knob))
                    r.Error(knob, $"kvm.{knob} is a module parameter of the IPI-aware directed yield; it needs kvm.ipi_aware_yield: true");
            }
        }
        else if (!r.Failed("ple_handler") && settings.PleHandler != "directed-yield-6.13")
        {
            r.Error("ipi_aware_yield", $"the IPI-aware directed yield patches kvm_vcpu_on_spin's single walk (6.13+, the series is based on 6.19-rc1): it needs kvm.ple_handler directed-yield-6.13 (or kvm.version 6.13), not '{settings.PleHandler}'");
        }
        r.Done();
        return settings;
    }

    /// <summary><c>kvm.ple_handler</c>: a built-in handler, or <c>plugin:NAME</c> of a plug-in loaded with <c>--plugin</c> (decision 0028).</summary>
    private static ValueKind<string> PleHandlerKind()
    {
        var builtin = Kinds.Choice(PleSim.Hypervisor.PleHandlers.Names);
        return new ValueKind<string>(builtin.Expected + ", or plugin:NAME (a plug-in loaded with --plugin)", text =>
            text.StartsWith(PleSim.Hypervisor.PluginRegistry.Prefix, StringComparison.Ordinal) ? PluginName(text, PleSim.Hypervisor.PluginRegistry.HandlerNames) : builtin.Parse(text));
    }

    /// <summary><c>kvm.candidate_filter</c>: <c>none</c> or <c>plugin:NAME</c>.</summary>
    private static ValueKind<string> CandidateFilterKind() =>
        new("none or plugin:NAME (a candidate filter loaded with --plugin)", text =>
            text == "none" ? (true, text, null)
            : text.StartsWith(PleSim.Hypervisor.PluginRegistry.Prefix, StringComparison.Ordinal) ? PluginName(text, PleSim.Hypervisor.PluginRegistry.FilterNames)
            : (false, text, $"'{YamlGuard.Clip(text)}' is neither none nor plugin:NAME"));

    private static string? NullIfNone(string v) => v == "none" ? null : v;
}

using PleSim.Engine;

namespace PleSim.Hypervisor;

/// <summary>Which CPU vendor's pause-loop detection the host has.</summary>
public enum CpuVendor
{
    /// <summary>Intel VMX Pause-Loop Exiting: <c>ple_gap</c> / <c>ple_window</c> in TSC cycles, guest CPL 0 only.</summary>
    Intel,

    /// <summary>AMD SVM pause filter: a count of PAUSE instructions, at any privilege level.</summary>
    Amd,
}

/// <summary>The costs of VM exits and KVM work, as simulated time (host CPU time of the VCPU thread).</summary>
public sealed record ExitCosts
{
    /// <summary>Hardware VM exit (guest → host) including the minimal exit dispatch.</summary>
    public SimDuration Exit { get; init; } = SimDuration.FromNanoseconds(450);

    /// <summary>VM entry (host → guest), including interrupt injection.</summary>
    public SimDuration Entry { get; init; } = SimDuration.FromNanoseconds(450);

    /// <summary><c>handle_pause</c> + <c>kvm_vcpu_on_spin</c> fixed part.</summary>
    public SimDuration PauseHandler { get; init; } = SimDuration.FromNanoseconds(300);

    /// <summary>
    /// Per candidate VCPU examined by the directed-yield walk: the loop step and the flag tests
    /// (<c>vcpu == me</c>, <c>waitqueue_active</c>, <c>vcpu->pid</c> under RCU). Assumption (a few
    /// reads of lines that are usually cached): see docs/decisions/0010-directed-yield-walk-costs.md.
    /// </summary>
    public SimDuration YieldCandidate { get; init; } = SimDuration.FromNanoseconds(60);

    /// <summary>
    /// <c>get_pid_task</c> + <c>put_task_struct</c> for a candidate that has a pid: an atomic
    /// increment and decrement of the target's <c>task_struct</c> usage count, a line the target's
    /// CPU and every other walker also write. Assumption: two contended atomics ≈ 2 × 50 ns (0010).
    /// </summary>
    public SimDuration GetPidTask { get; init; } = SimDuration.FromNanoseconds(100);

    /// <summary>
    /// Taking one run-queue lock in <c>double_rq_lock</c> when it is free: the lock's cache line
    /// comes from the CPU that last held it (usually another socket in the boot storm).
    /// Assumption: one cross-socket cache-line transfer ≈ 100 ns on 2010–2012 Xeons (0010).
    /// </summary>
    public SimDuration RqLockAcquire { get; init; } = SimDuration.FromNanoseconds(100);

    /// <summary>
    /// The part of <c>yield_to</c> done while both run-queue locks are held (task_rq re-check,
    /// class checks, <c>task_running</c>/<c>p->state</c>; on success <c>yield_to_task_fair</c> and
    /// <c>resched_task</c>) plus <c>double_rq_unlock</c>. Other yield_to callers needing either lock
    /// wait for it (<see cref="PleSim.Host.HostScheduler.DoubleRqLock"/>). Assumption (0010).
    /// </summary>
    public SimDuration YieldTo { get; init; } = SimDuration.FromNanoseconds(200);

    /// <summary><c>handle_halt</c> / <c>kvm_emulate_halt</c> before blocking.</summary>
    public SimDuration HltHandler { get; init; } = SimDuration.FromNanoseconds(300);

    /// <summary>APIC ICR write emulation (<c>apic_send_ipi</c>, <c>kvm_vcpu_kick</c>).</summary>
    public SimDuration IcrWriteHandler { get; init; } = SimDuration.FromNanoseconds(900);

    /// <summary>
    /// <c>handle_vmcall</c> → <c>kvm_emulate_hypercall</c> dispatch plus the small handlers the
    /// guest's paravirtual paths call (KVM_HC_KICK_CPU → <c>kvm_pv_kick_cpu_op</c>,
    /// KVM_HC_SCHED_YIELD → <c>kvm_sched_yield</c> before its yield_to). Assumption: the same order
    /// as the ICR-write handler, a little less (no APIC register decoding); docs/decisions/0023.
    /// </summary>
    public SimDuration HypercallHandler { get; init; } = SimDuration.FromNanoseconds(600);

    /// <summary>
    /// <c>kvm_pv_send_ipi</c>'s work per destination (<c>kvm_apic_map_get_dest_lapic</c> lookup +
    /// <c>kvm_apic_set_irq</c> + the kick), on top of <see cref="HypercallHandler"/> (assumption: the
    /// delivery part of an ICR-write handler, a third of <see cref="IcrWriteHandler"/>).
    /// </summary>
    public SimDuration PvSendIpiPerTarget { get; init; } = SimDuration.FromNanoseconds(300);

    /// <summary>
    /// An I/O write to a registered ioeventfd address (a virtqueue notify): the exit's decoding
    /// (<c>handle_io</c>/<c>handle_ept_misconfig</c> → <c>kvm_io_bus_write</c>), <c>ioeventfd_write</c>
    /// and <c>eventfd_signal</c>'s wake-up of the waiter's queue, without the wake-up's own
    /// <c>try_to_wake_up</c> (the host scheduler's). Assumption: the order of the ICR-write handler
    /// (a bus lookup instead of APIC decoding), 0.5–1.5 µs.
    /// </summary>
    public SimDuration IoEventFdHandler { get; init; } = SimDuration.FromNanoseconds(900);

    /// <summary>
    /// s390 guests only (decision 0055): KVM's SIGP intercept handler for an external call, when the
    /// SIGP instruction is intercepted (arch/s390/kvm/sigp.c, 6.17: <c>kvm_s390_handle_sigp</c> →
    /// <c>handle_sigp_dst</c> → <c>__sigp_external_call</c> → <c>kvm_s390_inject_vcpu</c>), or the
    /// partial-execution intercept of an interpreted one whose target waits
    /// (<c>kvm_s390_handle_sigp_pei</c> → <c>kvm_s390_vcpu_wakeup</c>). Assumption: the order of the
    /// x86 ICR-write handler (decode the order, find the target, set its interrupt state, wake it).
    /// </summary>
    public SimDuration SigpHandler { get; init; } = SimDuration.FromNanoseconds(900);

    /// <summary>
    /// s390 guests only: the time a SIGP EXTERNAL CALL takes on the sender when the machine's SIGP
    /// interpretation facility executes it without an intercept (it sets the external-call-pending
    /// state of the target's SCA entry, or finds it set and stores the status). Assumption: a
    /// millicoded instruction with a cross-CPU update, of the order of 100 ns; no published figure found.
    /// </summary>
    public SimDuration SigpInterpreted { get; init; } = SimDuration.FromNanoseconds(100);

    /// <summary>
    /// IPI virtualization (<see cref="KvmSettings.Ipiv"/>, decision 0066): the sender's x2APIC ICR write
    /// (WRMSR 0x830) that the CPU virtualizes without a VM exit — the PID-pointer-table lookup, the
    /// atomic PIR/ON update in the target's posted-interrupt descriptor and the notification send.
    /// Assumption: a microcoded instruction with a cross-CPU cache-line update, of the order of 100 ns
    /// (as <see cref="SigpInterpreted"/>); no published per-instruction figure found.
    /// </summary>
    public SimDuration IcrWriteVirtualized { get; init; } = SimDuration.FromNanoseconds(100);

    /// <summary>Host physical IPI delivery to force a running VCPU out of guest mode.</summary>
    public SimDuration KickIpiLatency { get; init; } = SimDuration.FromNanoseconds(1000);

    /// <summary>Round trip of an exit to QEMU userspace (I/O emulation), besides the emulated work.</summary>
    public SimDuration UserspaceExit { get; init; } = SimDuration.FromMicroseconds(5);
}

/// <summary>The <c>kvm:</c> section: PLE hardware and the PAUSE-exit handler policy.</summary>
public sealed record KvmSettings
{
    public CpuVendor Vendor { get; init; } = CpuVendor.Intel;

    /// <summary>PAUSE-exit handler policy name (see <see cref="PleHandlers.Names"/>).</summary>
    public string PleHandler { get; init; } = "directed-yield-2011";

    /// <summary>A plug-in candidate filter for directed-yield walks (<c>plugin:NAME</c>, decision 0028); null: none.</summary>
    public string? CandidateFilter { get; init; }

    /// <summary>Intel: max TSC cycles between two PAUSEs of one loop (0 disables PLE). 128 from 2.6.39 (41 before).</summary>
    public long PleGap { get; init; } = 128;

    /// <summary>Intel: TSC cycles a pause loop may run before it exits (kvm-intel default 4096).</summary>
    public long PleWindow { get; init; } = 4096;

    /// <summary>AMD: PAUSE instructions before an exit (2.6.39: 3000).</summary>
    public long PauseFilterCount { get; init; } = 3000;

    /// <summary>AMD: cycles one iteration of a spin loop (PAUSE + lock read) takes, to turn the count into time.</summary>
    public long PauseLoopCycles { get; init; } = 40;

    /// <summary>Cycles between two PAUSEs in a guest spin loop (compared with ple_gap).</summary>
    public long SpinLoopGapCycles { get; init; } = 40;

    /// <summary>Pre-2011 handler: how long the VCPU sleeps on its wait queue.</summary>
    public SimDuration SleepTimeout { get; init; } = SimDuration.FromMicroseconds(100);

    public ExitCosts Costs { get; init; } = new();

    /// <summary>Per-option overrides of the directed-yield preset (<c>kvm.directed_yield.*</c>); null fields keep the preset.</summary>
    public DirectedYieldOverrides DirectedYield { get; init; } = new();

    /// <summary>The <c>kvm.version</c> preset these settings came from (null: none; see <see cref="KvmVersions"/>).</summary>
    public string? Version { get; init; }

    /// <summary>The per-VCPU PLE window / pause-filter count policy (3.18 VMX, 4.18 SVM); static by default (2.6.39).</summary>
    public PleWindowPolicy PleWindowPolicy { get; init; } = new();

    /// <summary>Halt polling in <c>kvm_vcpu_block</c> (4.0; adaptive from 4.3); off by default (2.6.39).</summary>
    public HaltPollSettings HaltPoll { get; init; } = new();

    /// <summary>
    /// AMD: <c>pause_filter_thresh</c> (svm.c, 4.18): cycles between two PAUSEs above which the
    /// hardware resets the filter count, so a loop slower than this never exits (the AMD analogue of
    /// ple_gap). 0: no threshold (older CPUs and kernels): every PAUSE counts.
    /// </summary>
    public long PauseFilterThresh { get; init; }

    /// <summary>
    /// KVM_HC_KICK_CPU also yields to the kicked VCPU (arch/x86/kvm/x86.c <c>kvm_emulate_hypercall</c>,
    /// 5.3, commit 266e85a5ec91 "Boost queue head vCPU"): after <c>kvm_pv_kick_cpu_op</c> the handler
    /// calls <c>kvm_sched_yield</c> on the same APIC id, so a PV unlock hands its CPU to the waiter it
    /// just woke. Off before 5.3 (decision 0043).
    /// </summary>
    public bool KickYield { get; init; }

    /// <summary>
    /// <c>kvm_sched_yield</c> first bails out when <c>single_task_running()</c> (the caller's run
    /// queue holds only the caller: nobody to yield to here; 5.14, "Bail out of direct yield in case
    /// of under-committed scenarios"). Applies to KVM_HC_SCHED_YIELD and to the kick yield. Off before 5.14 (0043).
    /// </summary>
    public bool SchedYieldSingleTaskBail { get; init; }

    /// <summary>
    /// <c>kvm_arch_vcpu_put</c> sets the steal-time <c>preempted</c> byte at every put of the VCPU,
    /// also when its thread blocks (a HLT in <c>kvm_vcpu_block</c>), not only when it is switched out
    /// while runnable. x86 KVM did so from the byte's introduction (4.10) until 5.19-rc2 ("KVM: x86:
    /// do not set st->preempted when going back to user space", 54aa83c90198), which put the write
    /// under <c>if (vcpu->preempted)</c>: read unconditional in arch/x86/kvm/x86.c of 4.16.13, 5.3.1
    /// and 5.10, conditional in 6.6. The guest then sees a halted VCPU as preempted
    /// (<c>vcpu_is_preempted</c>): a PV TLB flush defers to its next entry instead of waiting for it,
    /// <c>available_idle_cpu</c> (4.19+ guests) passes it over. On in the 4.14–5.13 presets (decision 0081).
    /// </summary>
    public bool StealTimePreemptedOnBlock { get; init; }

    /// <summary>
    /// KVM offers KVM_FEATURE_PV_UNHALT (with KVM_HC_KICK_CPU; 3.12, the host half of the PV ticketlock
    /// series). A guest's <c>kvm_spinlock_init</c> (arch/x86/kernel/kvm.c, 3.12 and later) returns
    /// without installing the paravirtual lock ops when the feature is missing, so its PV ticket or PV
    /// queued locks run as plain ticket or queued locks. On by default in every <c>kvm.version</c>
    /// (so no existing scenario changes); <c>false</c> is the pre-3.12 host of decision 0048.
    /// </summary>
    public bool PvUnhalt { get; init; } = true;

    /// <summary>
    /// kvm-s390's <c>diag9c_forwarding_hz</c> module parameter (arch/s390/kvm/kvm-s390.c, 6.17: the most
    /// diag 0x9c forwards per second, 0 = off, the default): a diag 9c naming a VCPU that is loaded on a
    /// host CPU may be forwarded to the host's own hypervisor if that host CPU is preempted
    /// (<see cref="Kvm.Diag9c"/>; decision 0055). Only s390 guests issue diag 9c.
    /// </summary>
    public long Diag9cForwardingHz { get; init; }

    /// <summary>
    /// Part 2 (patches 6-9) of Wanpeng Li's unmerged series "sched/kvm: Semantics-aware vCPU
    /// scheduling for oversubscribed KVM" (v2, 2025-12-19, against v6.19-rc1; decision 0052):
    /// IPI-aware directed yield. False (default): KVM without the series.
    /// </summary>
    public bool IpiAwareYield { get; init; }

    /// <summary>Patch 6 module parameter <c>ipi_tracking_enabled</c> (default true): record IPIs and answer "is IPI receiver"; only with <see cref="IpiAwareYield"/>.</summary>
    public bool IpiTracking { get; init; } = true;

    /// <summary>Patch 6 module parameter <c>ipi_window_ns</c>: the recency window, 50 ms by default.</summary>
    public SimDuration IpiWindow { get; init; } = SimDuration.FromMilliseconds(50);

    /// <summary>Patch 9 module parameter <c>enable_relaxed_boost</c> (default true): a second, preempted-only walk when the first yielded nothing.</summary>
    public bool RelaxedBoost { get; init; } = true;

    /// <summary>
    /// APICv (Intel VMX "virtual-interrupt delivery" + "process posted interrupts"; kvm-intel's
    /// <c>enable_apicv</c>, decision 0060): a fixed interrupt KVM delivers to a VCPU (an IPI from an
    /// ICR write, a PV send-IPI destination, an irqfd MSI) is posted in the target's posted-interrupt
    /// descriptor (vmx.c 5.13 <c>vmx_deliver_posted_interrupt</c>); a target in guest mode takes it
    /// without a VM exit (the notification vector, <c>kvm_vcpu_trigger_posted_interrupt</c>), any other
    /// gets it at its next VM entry (<c>vmx_sync_pir_to_irr</c>), a halted one is woken by
    /// <c>kvm_vcpu_kick</c>; no interrupt-window exits (the CPU delivers when RFLAGS.IF is set). The
    /// sender's ICR write still exits (no IPI virtualization). False (default): the 2.6.39 injection.
    /// Intel only (AMD's AVIC is not modelled).
    /// </summary>
    public bool Apicv { get; init; }

    /// <summary>
    /// <c>kvm.apicv</c> was given in the scenario (either value): the posted-interrupt metrics and the
    /// IPI delivery latency are reported, so runs with APICv off and on compare. Reporting only; absent,
    /// a scenario's outputs are what they were before the key existed.
    /// </summary>
    public bool ReportApicv { get; init; }

    /// <summary>
    /// IPI virtualization (Intel Sapphire Rapids+; kvm-intel's <c>enable_ipiv</c>, KVM 5.19, decision
    /// 0066; needs <see cref="Apicv"/>): the tertiary control IPI_VIRT and the PID-pointer table
    /// (<c>vmx_alloc_ipiv_pid_table</c>) let the CPU carry out a guest's unicast, fixed, physical-mode
    /// ICR write without a VM exit: it sets the vector in the target's PIR and, unless the descriptor's
    /// SN is set (the target was scheduled out runnable, <c>vmx_vcpu_pi_put</c>) or ON already is, sends
    /// the descriptor's notification vector: POSTED_INTR_VECTOR to a running target, the wake-up vector
    /// to a blocked one (<c>pi_enable_wakeup_handler</c> → <c>pi_wakeup_handler</c>). KVM never sees
    /// such an IPI. Other ICR writes and the PV send-IPI hypercall still exit. False (default): a
    /// module parameter that depends on the hardware; no <c>kvm.version</c> preset turns it on.
    /// </summary>
    public bool Ipiv { get; init; }

    /// <summary>
    /// The machine offers the SIGP interpretation facility (<c>sclp.has_sigpif</c>) and KVM turns it on
    /// for every VCPU (arch/s390/kvm/kvm-s390.c, 6.17: <c>kvm_s390_vcpu_setup</c> sets ECA_SIGPI). Then
    /// a SIGP EXTERNAL CALL runs without an intercept unless its target waits (<see cref="Kvm.SigpExternalCall"/>).
    /// On by default (assumption: the facility of current machines). Only s390 guests issue SIGP.
    /// </summary>
    public bool SigpInterpretation { get; init; } = true;
}

/// <summary>
/// The dynamic PLE window (arch/x86/kvm/vmx.c 3.18, <c>grow_ple_window</c> / <c>shrink_ple_window</c>;
/// the SVM pause-filter count from 4.18, svm.c <c>grow_ple_window</c>): each PAUSE exit grows the
/// VCPU's window (in <c>handle_pause</c> / <c>pause_interception</c>), each time the VCPU thread is
/// scheduled in shrinks it (<c>vmx_sched_in</c> / <c>svm_sched_in</c>; from 6.x in
/// <c>vmx_vcpu_load</c> when <c>vcpu->scheduled_out</c>). The arithmetic of <c>__grow_ple_window</c> /
/// <c>__shrink_ple_window</c>: a modifier below 1 resets to the base; a modifier smaller than the
/// base multiplies (divides), otherwise it adds (subtracts); the result is clamped to [base, max].
/// </summary>
public sealed record PleWindowPolicy
{
    /// <summary>False: the window is the fixed <c>ple_window</c> / <c>pause_filter_count</c> (before 3.18 / 4.18).</summary>
    public bool Dynamic { get; init; }

    /// <summary><c>ple_window_grow</c> / <c>pause_filter_count_grow</c> (default 2 since they exist).</summary>
    public long Grow { get; init; } = 2;

    /// <summary><c>ple_window_shrink</c> / <c>pause_filter_count_shrink</c> (default 0: reset to the base at sched-in).</summary>
    public long Shrink { get; init; }

    /// <summary>
    /// <c>ple_window_max</c> in cycles (VMX; 3.18–4.17 vmx.c: INT_MAX / 2, i.e.
    /// KVM_VMX_DEFAULT_PLE_WINDOW_MAX = INT_MAX / KVM_VMX_DEFAULT_PLE_WINDOW_GROW; 4.18 x86.h:
    /// UINT_MAX) or <c>pause_filter_count_max</c> in PAUSEs (SVM: USHRT_MAX).
    /// </summary>
    public long Max { get; init; } = int.MaxValue;

    /// <summary>
    /// 3.18–4.17 vmx.c: <c>__grow_ple_window</c> clamps the window to <c>ple_window_actual_max</c>
    /// (<c>update_ple_window_actual_max</c>: <c>ple_window_max</c> shrunk once by the grow modifier,
    /// so that the grow cannot overflow an int) <em>before</em> it grows it, and nothing clamps
    /// after: with the defaults the window tops out at 2 × (INT_MAX / 2 / 2) = 1,073,741,822 cycles.
    /// False: 4.18's common x86.h helper, which clamps the grown window to the max.
    /// </summary>
    public bool ClampBeforeGrow { get; init; }

    /// <summary>The next window after a PAUSE exit under this policy (<see cref="GrowWindow"/> or its 3.18 form).</summary>
    public long Grown(long val, long baseWindow) => ClampBeforeGrow
        ? GrowWindowVmx318(val, baseWindow, Grow, Max)
        : GrowWindow(val, baseWindow, Grow, Max);

    /// <summary><c>__grow_ple_window</c> (x86.h, 4.18): grow, then clamp to the max.</summary>
    public static long GrowWindow(long val, long baseWindow, long modifier, long max)
    {
        if (modifier < 1)
            return baseWindow;
        long ret = modifier < baseWindow ? val * modifier : val + modifier;
        return Math.Min(ret, max);
    }

    /// <summary>
    /// <c>__grow_ple_window</c> of 3.18–4.17 vmx.c: clamp to <c>ple_window_actual_max</c> =
    /// <c>__shrink_ple_window(max(ple_window_max, ple_window), ple_window_grow, INT_MIN)</c>, then grow.
    /// </summary>
    public static long GrowWindowVmx318(long val, long baseWindow, long modifier, long max)
    {
        if (modifier < 1)
            return baseWindow;
        long top = Math.Max(max, baseWindow);
        long actualMax = modifier < baseWindow ? top / modifier : top - modifier; // the shrink, floored at INT_MIN
        return GrowWindow(Math.Min(val, actualMax), baseWindow, modifier, long.MaxValue); // no clamp after the grow
    }

    /// <summary><c>__shrink_ple_window</c>: the floor is the base window.</summary>
    public static long ShrinkWindow(long val, long baseWindow, long modifier)
    {
        if (modifier < 1)
            return baseWindow;
        long ret = modifier < baseWindow ? val / modifier : val - modifier;
        return Math.Max(ret, baseWindow);
    }
}

/// <summary>
/// Halt polling (virt/kvm/kvm_main.c <c>kvm_vcpu_block</c>): before blocking, a halting VCPU polls
/// for a wake-up condition for up to its poll time while its CPU runs nothing else
/// (<c>single_task_running()</c>); a kick in that time ends the poll without any wake-up. 4.0 polls
/// for the fixed <c>halt_poll_ns</c>; from 4.3 (dynamic halt-polling) each VCPU has its own
/// <c>vcpu->halt_poll_ns</c> that grows after a short halt and shrinks after a long one, capped by
/// the module's <c>halt_poll_ns</c>.
/// </summary>
public sealed record HaltPollSettings
{
    /// <summary>The module parameter <c>halt_poll_ns</c> (0 = no polling).</summary>
    public long HaltPollNs { get; init; }

    /// <summary>4.3+: per-VCPU adaptive poll time; false = 4.0–4.2: always poll <see cref="HaltPollNs"/>.</summary>
    public bool Adaptive { get; init; }

    /// <summary><c>halt_poll_ns_grow</c> (default 2; 0 = never grow).</summary>
    public long Grow { get; init; } = 2;

    /// <summary><c>halt_poll_ns_shrink</c> (default 0 = reset to 0).</summary>
    public long Shrink { get; init; }

    /// <summary>The first non-zero poll time after a grow from 0 (4.3: 10 µs hard-coded; 5.1: <c>halt_poll_ns_grow_start</c>, default 10000).</summary>
    public long GrowStart { get; init; } = 10_000;

    /// <summary><c>grow_halt_poll_ns</c>: multiply, at least the start value, at most the module maximum.</summary>
    public long GrowPoll(long val)
    {
        if (Grow == 0)
            return val;
        long next = val * Grow;
        if (next < GrowStart)
            next = GrowStart;
        return Math.Min(next, HaltPollNs);
    }

    /// <summary>
    /// 5.15+ (ed08e8854e1a's mainline original, "KVM: do not shrink halt_poll_ns below grow_start", posted
    /// 2021-09-02 and taken into 5.4.152 and 5.10.72 stables): <c>shrink_halt_poll_ns</c> resets a
    /// shrunk poll time below <c>halt_poll_ns_grow_start</c> to 0, as <c>grow_halt_poll_ns</c> never
    /// produces one. It matters only with a non-zero shrink.
    /// </summary>
    public bool ShrinkFloor { get; init; }

    /// <summary>
    /// The poll loop re-tests <c>single_task_running()</c> on every iteration (4.0–5.15
    /// <c>kvm_vcpu_block</c>: <c>while (single_task_running() &amp;&amp; ktime_before(cur, stop))</c>; 5.16+
    /// <c>kvm_vcpu_halt</c> through <c>kvm_vcpu_can_poll</c>, which also tests <c>!need_resched()</c>), so
    /// a task queued on the poller's CPU ends the poll at once and the VCPU blocks (decision 0097).
    /// Every release with halt polling has it; false is the model before decision 0097, which tested
    /// only when the poll started and when a preempted poller ran again (decision 0022).
    /// </summary>
    public bool RecheckSingleTask { get; init; } = true;

    /// <summary><c>shrink_halt_poll_ns</c>: divide, or reset to 0 when the divisor is 0; with <see cref="ShrinkFloor"/>, 0 below the grow start.</summary>
    public long ShrinkPoll(long val)
    {
        long next = Shrink == 0 ? 0 : val / Shrink;
        return ShrinkFloor && next < GrowStart ? 0 : next;
    }

    /// <summary>
    /// The adjustment at the end of <c>kvm_vcpu_block</c> (4.3+): <paramref name="blockNs"/> is the
    /// time from the start of the halt (polling included) until the VCPU runs again.
    /// </summary>
    public long Adjust(long vcpuPollNs, long blockNs)
    {
        if (!Adaptive)
            return HaltPollNs;
        if (HaltPollNs == 0)
            return 0;
        if (blockNs <= vcpuPollNs)
            return vcpuPollNs;
        if (vcpuPollNs != 0 && blockNs > HaltPollNs)
            return ShrinkPoll(vcpuPollNs); // a long block: shrink
        if (vcpuPollNs < HaltPollNs && blockNs < HaltPollNs)
            return GrowPoll(vcpuPollNs); // a short halt and a poll too short for it: grow
        return vcpuPollNs;
    }
}

/// <summary>
/// Scenario overrides of a <see cref="DirectedYieldOptions"/> preset, one per kernel-version
/// switch; a null field keeps the preset's value. Ignored by the handlers that do not walk.
/// </summary>
public sealed record DirectedYieldOverrides
{
    public bool? InclusiveSkip { get; init; }
    public bool? DyEligible { get; init; }
    public bool? UndercommitExit { get; init; }
    public int? UndercommitTries { get; init; }
    public bool? EsrchReadsAsSuccess { get; init; }
    public bool? PreemptedOnly { get; init; }
    public bool? YieldToKernelMode { get; init; }
    public bool? ReadyCandidates { get; init; }
    public bool? SingleWalk { get; init; }
    public bool? SingleWalkStoresCounter { get; init; }
    public bool? BoostPendingInterruptUserMode { get; init; }
    public bool? BlockingUntilRun { get; init; }
    public bool? EsrchSkipsSecondPass { get; init; }

    /// <summary>The preset with these overrides applied.</summary>
    public DirectedYieldOptions Apply(DirectedYieldOptions preset) => preset with
    {
        InclusiveSkip = InclusiveSkip ?? preset.InclusiveSkip,
        DyEligible = DyEligible ?? preset.DyEligible,
        UndercommitExit = UndercommitExit ?? preset.UndercommitExit,
        UndercommitTries = UndercommitTries ?? preset.UndercommitTries,
        EsrchReadsAsSuccess = EsrchReadsAsSuccess ?? preset.EsrchReadsAsSuccess,
        PreemptedOnly = PreemptedOnly ?? preset.PreemptedOnly,
        YieldToKernelMode = YieldToKernelMode ?? preset.YieldToKernelMode,
        ReadyCandidates = ReadyCandidates ?? preset.ReadyCandidates,
        SingleWalk = SingleWalk ?? preset.SingleWalk,
        SingleWalkStoresCounter = SingleWalkStoresCounter ?? preset.SingleWalkStoresCounter,
        BoostPendingInterruptUserMode = BoostPendingInterruptUserMode ?? preset.BoostPendingInterruptUserMode,
        BlockingUntilRun = BlockingUntilRun ?? preset.BlockingUntilRun,
        EsrchSkipsSecondPass = EsrchSkipsSecondPass ?? preset.EsrchSkipsSecondPass,
    };

    /// <summary>These overrides where set, else <paramref name="fallback"/>'s (explicit keys over a version preset).</summary>
    public DirectedYieldOverrides Over(DirectedYieldOverrides fallback) => new()
    {
        InclusiveSkip = InclusiveSkip ?? fallback.InclusiveSkip,
        DyEligible = DyEligible ?? fallback.DyEligible,
        UndercommitExit = UndercommitExit ?? fallback.UndercommitExit,
        UndercommitTries = UndercommitTries ?? fallback.UndercommitTries,
        EsrchReadsAsSuccess = EsrchReadsAsSuccess ?? fallback.EsrchReadsAsSuccess,
        PreemptedOnly = PreemptedOnly ?? fallback.PreemptedOnly,
        YieldToKernelMode = YieldToKernelMode ?? fallback.YieldToKernelMode,
        ReadyCandidates = ReadyCandidates ?? fallback.ReadyCandidates,
        SingleWalk = SingleWalk ?? fallback.SingleWalk,
        SingleWalkStoresCounter = SingleWalkStoresCounter ?? fallback.SingleWalkStoresCounter,
        BoostPendingInterruptUserMode = BoostPendingInterruptUserMode ?? fallback.BoostPendingInterruptUserMode,
        BlockingUntilRun = BlockingUntilRun ?? fallback.BlockingUntilRun,
        EsrchSkipsSecondPass = EsrchSkipsSecondPass ?? fallback.EsrchSkipsSecondPass,
    };
}

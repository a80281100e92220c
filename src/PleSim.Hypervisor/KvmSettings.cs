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

    /// <summary>The preset with these overrides applied.</summary>
    public DirectedYieldOptions Apply(DirectedYieldOptions preset) => preset with
    {
        InclusiveSkip = InclusiveSkip ?? preset.InclusiveSkip,
        DyEligible = DyEligible ?? preset.DyEligible,
        UndercommitExit = UndercommitExit ?? preset.UndercommitExit,
        UndercommitTries = UndercommitTries ?? preset.UndercommitTries,
        EsrchReadsAsSuccess = EsrchReadsAsSuccess ?? preset.EsrchReadsAsSuccess,
        PreemptedOnly = PreemptedOnly ?? preset.PreemptedOnly,
    };
}

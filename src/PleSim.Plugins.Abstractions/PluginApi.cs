using PleSim.Engine;

namespace PleSim.Plugins;

/// <summary>
/// What KVM itself can read about one VCPU when a PAUSE exit is handled (<c>kvm_vcpu_on_spin</c>'s
/// view): flags KVM keeps, never the guest's lock state. A plug-in sees only this; the ground
/// truth (who holds a lock) is reserved for the built-in <c>oracle</c> handler.
/// </summary>
/// <param name="Index">The VCPU's index in its VM (<c>vcpu->vcpu_idx</c>).</param>
/// <param name="Preempted"><c>vcpu->preempted</c>: its thread was scheduled out while runnable — preempted, or after its own <c>yield_to</c>/<c>sched_yield</c> (<c>kvm_sched_out</c>; 3.10+ candidate test).</param>
/// <param name="Ready"><c>vcpu->ready</c>: scheduled out while runnable or just woken by <c>kvm_vcpu_wake_up</c>, not yet scheduled in (5.3+).</param>
/// <param name="WaitQueueActive">Blocked on its wait queue (halted, or in the pre-2011 PLE sleep).</param>
/// <param name="InGuestMode">On a CPU and executing guest code.</param>
/// <param name="HasPid">Its thread has entered <c>KVM_RUN</c> once (<c>vcpu->pid</c> is set).</param>
/// <param name="PreemptedInKernel"><c>vcpu->arch.preempted_in_kernel</c>: the guest was at CPL 0 when the thread was scheduled out (4.14+).</param>
/// <param name="InSpinLoop"><c>vcpu->spin_loop.in_spin_loop</c>: it is inside its own PAUSE handler (3.7+).</param>
/// <param name="HostCpu">The host CPU its thread last ran or is queued on.</param>
public readonly record struct VcpuState(
    int Index,
    bool Preempted,
    bool Ready,
    bool WaitQueueActive,
    bool InGuestMode,
    bool HasPid,
    bool PreemptedInKernel,
    bool InSpinLoop,
    int HostCpu);

/// <summary>One PAUSE exit as a plug-in sees it. Valid only during the call it is passed to.</summary>
public interface IPauseExit
{
    /// <summary>The VM's index on the host (0, 1, …), to keep per-VM state.</summary>
    int VmIndex { get; }

    /// <summary>The spinning VCPU's index.</summary>
    int SpinnerIndex { get; }

    /// <summary>The VM's VCPU count.</summary>
    int VcpuCount { get; }

    /// <summary>The VM's <c>last_boosted_vcpu</c> (updated by the host when a yield_to the plug-in asked for succeeds).</summary>
    int LastBoostedVcpu { get; }

    /// <summary>The spinner exited from guest user mode (possible on AMD only: Intel PLE fires at CPL 0).</summary>
    bool SpinnerInUserMode { get; }

    /// <summary>Simulated time of the exit, in nanoseconds since the start of the run.</summary>
    long NowNs { get; }

    /// <summary>KVM's view of VCPU <paramref name="index"/> (0 ≤ index &lt; <see cref="VcpuCount"/>).</summary>
    VcpuState Vcpu(int index);
}

/// <summary>What the host does when the candidates of a <see cref="PauseDecision"/> are used up without a successful yield_to.</summary>
public enum PauseFallback
{
    /// <summary>Re-enter the guest at once (what <c>kvm_vcpu_on_spin</c> does when its walk finds nobody).</summary>
    ReEnter,

    /// <summary>A plain <c>sched_yield()</c> of the spinner's thread.</summary>
    Yield,

    /// <summary>Sleep on the VCPU's wait queue for <c>kvm.sleep_timeout</c> (the pre-2011 handler); a kick ends it early.</summary>
    Sleep,
}

/// <summary>
/// A plug-in's answer to a PAUSE exit: the first <see cref="Candidates"/> entries of the span it
/// was given are VCPU indexes to try <c>yield_to</c> on, in order; the host calls
/// <c>yield_to(preempt=1)</c> on each (paying the run-queue locks and the call, exactly as the
/// built-in walk does) until one succeeds. If none does, <see cref="Fallback"/> applies.
/// </summary>
public readonly record struct PauseDecision(int Candidates, PauseFallback Fallback)
{
    /// <summary>Boost nobody; re-enter the guest.</summary>
    public static PauseDecision ReEnter => new(0, PauseFallback.ReEnter);
}

/// <summary>
/// A PAUSE-exit handler written outside PleSim. A scenario selects it with
/// <c>kvm.ple_handler: plugin:NAME</c> and the run loads its assembly with <c>--plugin PATH.dll</c>.
/// The host makes one instance per simulated run (a public parameterless constructor is
/// required), so instance fields are per run. Rules that keep runs deterministic: draw randomness
/// only from the stream given to <see cref="Initialize"/>, never read the wall clock, threads or
/// static mutable state, and do not allocate per call (the event loop is allocation-free).
/// </summary>
public interface IPauseHandlerPlugin
{
    /// <summary>The name a scenario uses after <c>plugin:</c> (letters, digits, '.', '_', '-').</summary>
    string Name { get; }

    /// <summary>Called once per run before the first exit, with a random stream named after the plug-in and seeded by the run's seed.</summary>
    void Initialize(RandomStream random);

    /// <summary>
    /// Handles one PAUSE exit (the exit and the handler's fixed cost are already paid). Write the
    /// VCPU indexes to try into <paramref name="order"/> (its length is the VM's VCPU count) and
    /// return how many were written with the fallback. Indexes out of range or equal to the
    /// spinner are skipped by the host (counted as examined).
    /// </summary>
    PauseDecision OnPauseExit(IPauseExit exit, Span<int> order);
}

/// <summary>
/// A directed-yield candidate filter: the built-in directed-yield walks (any
/// <c>directed-yield-*</c> handler) ask it about every candidate that passed the kernel's own tests,
/// just before <c>get_pid_task</c>/<c>yield_to</c>. Selected with <c>kvm.candidate_filter: plugin:NAME</c>.
/// Same lifetime and determinism rules as <see cref="IPauseHandlerPlugin"/>.
/// </summary>
public interface IYieldCandidateFilter
{
    /// <summary>The name a scenario uses after <c>plugin:</c>.</summary>
    string Name { get; }

    /// <summary>Called once per run before the first exit.</summary>
    void Initialize(RandomStream random);

    /// <summary>True: keep <paramref name="candidate"/>; false: skip it (counted as <c>skipped_by_filter</c>).</summary>
    bool Accept(IPauseExit exit, in VcpuState candidate);
}

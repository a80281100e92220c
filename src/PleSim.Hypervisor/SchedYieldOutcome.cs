namespace PleSim.Hypervisor;

/// <summary>How one <c>kvm_sched_yield</c> call ended (arch/x86/kvm/x86.c; decision 0043), in the order its tests run.</summary>
public enum SchedYieldOutcome
{
    /// <summary>5.14+: <c>single_task_running()</c> — the caller's run queue holds only the caller.</summary>
    SingleTaskRunning,

    /// <summary>The APIC id maps to no VCPU (<c>phys_map[dest_id]</c> empty or beyond <c>max_apic_id</c>).</summary>
    NoTarget,

    /// <summary>The target's <c>vcpu->ready</c> is clear (it runs, or blocked and was not woken since).</summary>
    NotReady,

    /// <summary>5.13+: the target is the caller (unreachable here: a running VCPU is never ready).</summary>
    Self,

    /// <summary><c>kvm_vcpu_yield_to</c>: the target has no <c>vcpu->pid</c> yet.</summary>
    NoPid,

    /// <summary><c>yield_to</c> returned 0 or an error (-ESRCH: both run queues hold one task; target running, not runnable, not queued).</summary>
    YieldToFailed,

    /// <summary><c>yield_to</c> succeeded: the caller was scheduled out for the target.</summary>
    Yielded,
}

/// <summary>Names of <see cref="SchedYieldOutcome"/> for counters.</summary>
public static class SchedYieldOutcomes
{
    public const int Count = (int)SchedYieldOutcome.Yielded + 1;

    private static readonly string[] Names = ["single_task_running", "no_target", "not_ready", "self", "no_pid", "yield_to_failed", "yielded"];

    public static string Name(SchedYieldOutcome o) => Names[(int)o];
}

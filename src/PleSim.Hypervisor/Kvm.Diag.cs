using PleSim.Host;

namespace PleSim.Hypervisor;

/// <summary>
/// How one s390 DIAGNOSE 0x9c ended in KVM's <c>__diag_time_slice_end_directed</c>
/// (arch/s390/kvm/diag.c, Linux 6.17; decision 0055), in the order its tests run. Every outcome but
/// <see cref="Yielded"/> and <see cref="Forwarded"/> is counted as <c>diag_9c_ignored</c>.
/// </summary>
public enum Diag9cOutcome
{
    /// <summary>The target id is the caller's own <c>vcpu_id</c> ("yield to self").</summary>
    Self,

    /// <summary><c>kvm_get_vcpu_by_id</c> finds no VCPU with that id ("yield to invalid").</summary>
    NoTarget,

    /// <summary>
    /// The target VCPU is loaded on a host CPU (<c>tcpu-&gt;cpu &gt;= 0</c>: between
    /// <c>kvm_arch_vcpu_load</c> and <c>kvm_arch_vcpu_put</c>) and forwarding is off
    /// (<c>diag9c_forwarding_hz</c> 0) or over its budget for this jiffy (<c>diag9c_forwarding_overrun</c>).
    /// </summary>
    TargetRunning,

    /// <summary>
    /// Forwarding is on and within budget, but the host CPU the target runs on is not itself
    /// preempted by the host's own hypervisor (<c>vcpu_is_preempted(tcpu_cpu)</c> false). PleSim's host
    /// CPUs are never preempted (the host runs on dedicated hardware), so a forward always ends here.
    /// </summary>
    HostCpuRunning,

    /// <summary>The diag was forwarded to the host's hypervisor (<c>smp_yield_cpu(tcpu_cpu)</c>, <c>diag_9c_forward</c>). Unreachable in PleSim (see <see cref="HostCpuRunning"/>).</summary>
    Forwarded,

    /// <summary><c>kvm_vcpu_yield_to</c> returned 0 or less: no <c>vcpu-&gt;pid</c>, or <c>yield_to</c> failed (-ESRCH or 0).</summary>
    YieldToFailed,

    /// <summary><c>kvm_vcpu_yield_to</c> succeeded: the caller was scheduled out for the target ("done").</summary>
    Yielded,
}

/// <summary>Names of <see cref="Diag9cOutcome"/> for counters and metrics.</summary>
public static class Diag9cOutcomes
{
    public const int Count = (int)Diag9cOutcome.Yielded + 1;

    private static readonly string[] Names = ["self", "no_target", "target_running", "host_cpu_running", "forwarded", "yield_to_failed", "yielded"];

    public static string Name(Diag9cOutcome o) => Names[(int)o];
}

/// <summary>The hypervisor: the s390 diagnose handlers of arch/s390/kvm/diag.c (decision 0055).</summary>
public sealed partial class Kvm
{
    // diag9c_forwarding_overrun's two statics (diag.c): the jiffy of the current slice and the
    // forwards left in it. Module-wide, so shared by every VM of this host.
    private long _diag9cCurSlice = -1;
    private long _diag9cForwardCnt;

    /// <summary>
    /// <c>diag9c_forwarding_overrun</c> (diag.c, 6.17): on the first call of a new jiffy the budget
    /// becomes <c>diag9c_forwarding_hz / HZ</c> (host HZ); each call takes one; true (overrun) when
    /// none was left. The count goes below zero on further calls in the same jiffy, as in the kernel.
    /// </summary>
    internal bool Diag9cForwardingOverrun()
    {
        long jiffies = Host.Jiffies;
        if (jiffies > _diag9cCurSlice)
        {
            _diag9cCurSlice = jiffies;
            _diag9cForwardCnt = Settings.Diag9cForwardingHz / Host.Hz;
        }
        return _diag9cForwardCnt-- <= 0;
    }

    /// <summary>
    /// DIAGNOSE 0x9c from <paramref name="me"/> naming <paramref name="target"/> (null: an id that maps
    /// to no VCPU): <c>__diag_time_slice_end_directed</c> (arch/s390/kvm/diag.c, 6.17), run at the end
    /// of the intercept with the caller's re-entry already set. Counts <c>instruction_diagnose_9c</c>;
    /// refuses a yield to itself, to no VCPU, and to a VCPU that is loaded on a host CPU (unless
    /// <c>diag9c_forwarding_hz</c> lets it forward the yield to the host's own hypervisor, which
    /// PleSim's bare host never needs); otherwise <c>kvm_vcpu_yield_to</c>: the target's pid, and
    /// <c>yield_to(task, 1)</c> through the host's ordinary yield_to (with its -ESRCH test when both
    /// run queues hold one task), timed and booked on the run-queue locks as
    /// <see cref="KvmSchedYield"/> does. Unlike x86's <c>kvm_sched_yield</c> there is no
    /// <c>vcpu-&gt;ready</c> test and no <c>single_task_running</c> bail-out.
    /// </summary>
    public Diag9cOutcome Diag9c(Vcpu me, Vcpu? target)
    {
        var o = Diag9cHandle(me, target);
        var st = me.Vm.Stats;
        st.Diag9cCalls++;
        st.Diag9cOutcomes[(int)o]++;
        return o;
    }

    private Diag9cOutcome Diag9cHandle(Vcpu me, Vcpu? target)
    {
        if (target == me)
            return Diag9cOutcome.Self;
        if (target is null || target.Vm != me.Vm)
            return Diag9cOutcome.NoTarget;
        if (target.Loaded)
        {
            // tcpu->cpu >= 0: forward only with diag9c_forwarding_hz and within its budget, and only
            // if the host CPU is itself preempted (never, here).
            if (Settings.Diag9cForwardingHz == 0 || Diag9cForwardingOverrun())
                return Diag9cOutcome.TargetRunning;
            return Diag9cOutcome.HostCpuRunning;
        }
        if (target.Pid is not { } task)
            return Diag9cOutcome.YieldToFailed; // kvm_vcpu_yield_to: no pid, returns 0
        return YieldToFromHypercall(me, task) == YieldToResult.Success ? Diag9cOutcome.Yielded : Diag9cOutcome.YieldToFailed;
    }
}

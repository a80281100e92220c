using PleSim.Engine;
using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>
/// A guest CPU: the s390 spinlock's wait (arch/s390/lib/spinlock.c, Linux 6.17,
/// <c>arch_spin_lock_classic</c>) and its directed yield, DIAGNOSE 0x9c (arch/s390/kernel/smp.c
/// <c>smp_yield_cpu</c>); decision 0055.
/// </summary>
public sealed partial class GuestCpu
{
    private bool _diag9cThenSpin; // a diag 9c of the lock wait is under way; the loop resumes after it

    /// <summary>
    /// DIAGNOSE 0x9c instructions this CPU issued (<c>smp_yield_cpu</c>; the guest's DIAG_STAT_X09C
    /// count), and those issued on entry to the wait because the owner's VCPU was not running.
    /// </summary>
    public long Diag9cSent, Diag9cAtEntry;

    /// <summary>
    /// s390 <c>arch_vcpu_is_preempted</c> (arch/s390/kernel/smp.c, 6.17) of <paramref name="cpu"/>: false
    /// if it waits in the idle loop with interrupts enabled (CIF_ENABLED_WAIT); false if SIGP SENSE
    /// RUNNING STATUS says it runs (<c>pcpu_running</c>: KVM's CPUSTAT_RUNNING, set while the VCPU is
    /// loaded on a host CPU, <see cref="Vcpu.Loaded"/>); true otherwise. No hypervisor call is modelled
    /// for the SIGP (assumption: interpreted by the machine's SIGP interpretation facility).
    /// </summary>
    public static bool ArchVcpuIsPreempted(GuestCpu cpu) => !cpu._halting && !cpu.Vcpu.Loaded;

    /// <summary><c>spin_retry</c> + 2 passes of the wait loop, in time: the loop time between two diag 9c of one waiter.</summary>
    private long S390RetryNs => Math.Max(1, _k.Kvm.Tsc.ToDuration(new TscCycles(S390RetryLoops(S.SpinRetry) * S.S390SpinLoopCycles)).Ns);

    /// <summary>
    /// Passes of <c>arch_spin_lock_classic</c>'s loop over a held lock from one (re)set of
    /// <c>count = spin_retry</c> to the pass that yields: <c>count-- &gt;= 0</c> lets spin_retry + 1
    /// passes go on, and the next one, finding count at -1, yields (and resets count).
    /// </summary>
    public static long S390RetryLoops(int spinRetry) => (long)Math.Max(0, spinRetry) + 2;

    /// <summary>
    /// <c>arch_spin_lock_wait</c> → <c>arch_spin_lock_classic</c> after the fast path failed: read the
    /// owner from the lock word; if <c>arch_vcpu_is_preempted</c> says its VCPU is not running, diag 9c
    /// to it first; then the loop.
    /// </summary>
    private void S390LockWait(GuestSpinLock lk)
    {
        int owner = GuestSpinLock.S390YieldTarget(lk.S390LockValue);
        if (owner != 0 && ArchVcpuIsPreempted(_k.Cpus[owner - 1]))
        {
            Diag9cAtEntry++;
            SmpYieldCpu(_k.Cpus[owner - 1]);
            return;
        }
        Vcpu.Spin(lk, _spinToken, false, S390RetryNs);
    }

    /// <summary>
    /// The loop's count ran out on a held lock (<c>count-- &gt;= 0</c> failed): in a KVM guest
    /// (<c>!machine_is_lpar()</c>) yield to the owner whether or not it runs, reset the count and go on.
    /// A lock seen free at that instant is tried at once instead.
    /// </summary>
    private void S390RetryExpired(GuestSpinLock lk)
    {
        int owner = GuestSpinLock.S390YieldTarget(lk.S390LockValue);
        if (owner != 0)
            SmpYieldCpu(_k.Cpus[owner - 1]);
        else
            Vcpu.Spin(lk, _spinToken, false, S390RetryNs);
    }

    /// <summary><c>smp_yield_cpu</c>: DIAGNOSE 0x9c with the target's CPU address (an intercept KVM handles); the wait loop resumes after it.</summary>
    private void SmpYieldCpu(GuestCpu target)
    {
        Diag9cSent++;
        _diag9cThenSpin = true;
        Vcpu.Hypercall(Hypercall.Diag9c, target.Vcpu);
    }

    /// <summary>Back from a diag 9c of the lock wait: the loop starts over with count = spin_retry.</summary>
    private void S390AfterDiag()
    {
        _diag9cThenSpin = false;
        Vcpu.Spin(_spinningOn!, _spinToken, false, S390RetryNs);
    }
}

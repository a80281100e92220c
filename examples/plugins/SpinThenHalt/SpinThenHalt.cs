using PleSim.Engine;
using PleSim.Plugins;

namespace SpinThenHalt;

/// <summary>
/// "Spin, then halt": a waiter spins <see cref="Loops"/> PAUSE loops; if the lock is still not
/// its own it halts until the unlocker of its ticket kicks it (or, with interrupts on, an interrupt
/// wakes it), then spins <see cref="Loops"/> more, and so on. This is the paravirtual ticket lock's
/// shape (3.12 <c>kvm_lock_spinning</c>) with a spin budget of its own instead of SPIN_THRESHOLD.
/// The unlock kicks only the next waiter.
/// </summary>
public sealed class SpinThenHaltLock : IGuestSpinlockPlugin
{
    /// <summary>
    /// The spin budget before a halt: 2048 PAUSE loops (about 28 µs with KVM's 40-cycle loop at
    /// 2.9 GHz). An assumption of this example: long against a short critical section, short against
    /// a host time slice, and 16 times shorter than SPIN_THRESHOLD (1 &lt;&lt; 15).
    /// </summary>
    public const long Loops = 2048;

    public string Name => "spin-then-halt";

    public void Initialize(RandomStream random, in GuestKernelInfo kernel)
    {
    }

    // SpinLoops counts the budgets used up: one more budget than halts means this budget ran out.
    public GuestSpinDecision OnWait(in GuestSpinlockState lockState, in GuestSpinlockWaiter me) =>
        me.SpinLoops / Loops > me.Halts ? GuestSpinDecision.Halt : GuestSpinDecision.Spin(Loops);

    public int OnUnlock(in GuestSpinlockState lockState) => 0;
}

/// <summary>
/// "Preemption-aware": a waiter spins in short chunks and looks at the lock between them. It halts
/// at once when <c>vcpu_is_preempted</c> says the owner's VCPU is preempted (spinning cannot end
/// before the owner runs again), else after SPIN_THRESHOLD loops since its last halt. An unlock
/// kicks the next waiter and, early, one more halted waiter behind it, so that its wake-up overlaps
/// the next owner's critical section. Needs <c>guest.vcpu_is_preempted: true</c> to see preemption;
/// without it, it is a PV ticket lock with an early kick.
/// </summary>
public sealed class PreemptAwareLock : IGuestSpinlockPlugin
{
    /// <summary>Loops between two looks at the lock: 256 (about 3.5 µs at 2.9 GHz). An assumption of this example.</summary>
    public const long Chunk = 256;

    private long _threshold;
    private long[] _loopsAtLastHalt = [];

    public string Name => "preempt-aware";

    public void Initialize(RandomStream random, in GuestKernelInfo kernel)
    {
        _threshold = kernel.SpinThresholdLoops;
        _loopsAtLastHalt = new long[kernel.CpuCount]; // per waiting CPU, allocated once per run
    }

    public GuestSpinDecision OnWait(in GuestSpinlockState lockState, in GuestSpinlockWaiter me)
    {
        if (me.SpinLoops == 0 && me.Halts == 0)
            _loopsAtLastHalt[lockState.Cpu] = 0; // a new wait
        if (lockState.OwnerPreempted || me.SpinLoops - _loopsAtLastHalt[lockState.Cpu] >= _threshold)
        {
            _loopsAtLastHalt[lockState.Cpu] = me.SpinLoops;
            return GuestSpinDecision.Halt;
        }
        return GuestSpinDecision.Spin(Chunk);
    }

    public int OnUnlock(in GuestSpinlockState lockState) => 1;
}

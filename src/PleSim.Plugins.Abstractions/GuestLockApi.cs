using PleSim.Engine;

namespace PleSim.Plugins;

/// <summary>
/// What a guest kernel knows about itself when its spinlock code starts (decision 0041): fixed for
/// the run. Given to <see cref="IGuestSpinlockPlugin.Initialize"/>.
/// </summary>
/// <param name="VmIndex">The VM's index on the host (0, 1, …).</param>
/// <param name="CpuCount">The guest's CPU count (its VCPUs, <c>num_possible_cpus</c>).</param>
/// <param name="SpinThresholdLoops">The kernel's SPIN_THRESHOLD (<c>guest.spin_threshold</c>; 1 &lt;&lt; 15 by default): the PAUSE loops the built-in paravirtual locks spin before they halt.</param>
/// <param name="PauseLoopNs">How long one PAUSE loop iteration takes on this host, in nanoseconds (rounded; at least 1).</param>
/// <param name="VcpuIsPreemptedAvailable">The guest reads KVM's steal-time <c>preempted</c> flag (<c>vcpu_is_preempted</c>, 4.10+; <c>guest.vcpu_is_preempted</c>). False: <see cref="GuestSpinlockState.OwnerPreempted"/> is always false.</param>
public readonly record struct GuestKernelInfo(
    int VmIndex,
    int CpuCount,
    int SpinThresholdLoops,
    long PauseLoopNs,
    bool VcpuIsPreemptedAvailable);

/// <summary>
/// A contended guest spinlock as the guest kernel's own lock code can read it (decision 0041): the
/// ticket lock word, the lock's owner-CPU field, the set of CPUs registered as halted on it (what
/// 3.12's <c>waiting_cpus</c> mask holds), and <c>vcpu_is_preempted</c> of the owner's CPU when the
/// guest has steal-time information. Nothing here is the simulator's ground truth: no host-side
/// state (where a VCPU's thread is, who a spinner waits on) passes through it.
/// </summary>
/// <param name="LockIndex">The lock's index in its guest kernel (stable for the run; to keep per-lock state in a preallocated array).</param>
/// <param name="Cpu">The guest CPU running this lock code (<c>smp_processor_id()</c>).</param>
/// <param name="Head">The ticket being served (the lock word's head). On unlock: after the increment, i.e. the next owner's ticket.</param>
/// <param name="Tail">The next ticket to hand out (the lock word's tail); <c>Tail - Head</c> tickets are taken and not yet served.</param>
/// <param name="OwnerCpu">The CPU that last took the lock and still holds it (the lock's owner-CPU field, as <c>CONFIG_DEBUG_SPINLOCK</c>'s <c>owner_cpu</c> records it); -1 when free.</param>
/// <param name="OwnerPreempted"><c>vcpu_is_preempted(OwnerCpu)</c>: KVM's steal-time <c>preempted</c> flag as the guest reads it; false when free or when the guest has no such information.</param>
/// <param name="HaltedWaiters">Waiters registered as halted on this lock (in its slow path, to be kicked).</param>
/// <param name="NextWaiterHalted">The waiter holding ticket <c>Head</c> is registered as halted (an unlocker must kick it; the host always does).</param>
/// <param name="NowNs">The guest's clock (kvmclock), in nanoseconds since the start of the run.</param>
public readonly record struct GuestSpinlockState(
    int LockIndex,
    int Cpu,
    long Head,
    long Tail,
    int OwnerCpu,
    bool OwnerPreempted,
    int HaltedWaiters,
    bool NextWaiterHalted,
    long NowNs);

/// <summary>The waiting CPU's own side of a wait (decision 0041).</summary>
/// <param name="Ticket">Its ticket: the lock is its when <see cref="GuestSpinlockState.Head"/> reaches it.</param>
/// <param name="SpinLoops">PAUSE loops it has spun in this wait so far (the budgets it used up).</param>
/// <param name="Halts">How often it halted in this wait so far.</param>
/// <param name="InterruptsDisabled">It waits with interrupts off (a <c>spin_lock_irqsave</c> lock): a halt then ends only with a kick.</param>
public readonly record struct GuestSpinlockWaiter(
    long Ticket,
    long SpinLoops,
    int Halts,
    bool InterruptsDisabled);

/// <summary>What a waiting CPU does next.</summary>
public enum GuestSpinAction
{
    /// <summary>Spin with PAUSE for <see cref="GuestSpinDecision.Loops"/> iterations (or, if that is 0 or less, until the lock is ours), then ask again.</summary>
    Spin,

    /// <summary>
    /// Register as halted on the lock and halt (the PV slow path: 3.12 <c>kvm_lock_spinning</c>):
    /// the host re-checks the lock word first, as the kernel does, and spins on if it became ours.
    /// The unlocker of the waiter's ticket kicks it (<c>KVM_HC_KICK_CPU</c>); with interrupts on an
    /// interrupt also ends the halt. Either way the plug-in is asked again.
    /// </summary>
    Halt,
}

/// <summary>A waiting CPU's next step: spin some PAUSE loops, or halt until kicked.</summary>
public readonly record struct GuestSpinDecision(GuestSpinAction Action, long Loops)
{
    /// <summary>Spin <paramref name="loops"/> PAUSE loops, then ask again.</summary>
    public static GuestSpinDecision Spin(long loops) => new(GuestSpinAction.Spin, loops);

    /// <summary>Spin until the lock is ours (a plain ticket lock).</summary>
    public static GuestSpinDecision SpinUntilAcquired => new(GuestSpinAction.Spin, 0);

    /// <summary>Halt until kicked.</summary>
    public static GuestSpinDecision Halt => new(GuestSpinAction.Halt, 0);
}

/// <summary>
/// A guest spinlock policy written outside PleSim (decision 0041). A scenario selects it with
/// <c>guest.spinlock: plugin:NAME</c> and the run loads its assembly with <c>--plugin PATH.dll</c>.
/// Every spinlock of that guest kernel is then a ticket lock (FIFO, <c>xadd</c> on the tail, unlock
/// increments the head, as x86's ticket lock) whose waiting and unlock the plug-in decides:
/// <list type="bullet">
/// <item><see cref="OnWait"/>: what a CPU that did not get the lock does — spin some PAUSE loops
/// (PLE sees them as the built-in locks' loops) or halt until kicked;</item>
/// <item><see cref="OnUnlock"/>: how many halted waiters beyond the next one the unlocker kicks
/// early (the next one, if halted, is always kicked: a FIFO lock cannot go on without it).</item>
/// </list>
/// The host makes one instance per VM per run (a public parameterless constructor is required),
/// charges the work as the built-in paravirtual locks pay it (each kick is a hypercall exit, each
/// halt a HLT exit), and keeps the ground-truth labels itself. Rules that keep runs deterministic:
/// draw randomness only from the stream given to <see cref="Initialize"/>, never read the wall clock,
/// threads or static mutable state, and do not allocate per call (the event loop is allocation-free).
/// </summary>
public interface IGuestSpinlockPlugin
{
    /// <summary>The name a scenario uses after <c>plugin:</c> (letters, digits, '.', '_', '-').</summary>
    string Name { get; }

    /// <summary>Called once per run and VM before the first lock operation, with a random stream named after the plug-in and the VM and seeded by the run's seed.</summary>
    void Initialize(RandomStream random, in GuestKernelInfo kernel);

    /// <summary>
    /// A CPU waits for the lock: called when its fast path failed, each time a spin budget runs
    /// out, and each time it comes back from a halt — never when the lock became its own.
    /// </summary>
    GuestSpinDecision OnWait(in GuestSpinlockState lockState, in GuestSpinlockWaiter me);

    /// <summary>
    /// A CPU released the lock (<paramref name="lockState"/> is after the release). Return how many
    /// halted waiters after the next one (in ticket order) to kick as well (0: only the next one, as
    /// 3.12's <c>kvm_unlock_kick</c>). Each kick is one <c>KVM_HC_KICK_CPU</c> hypercall by the unlocker.
    /// </summary>
    int OnUnlock(in GuestSpinlockState lockState);
}

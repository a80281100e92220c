using PleSim.Engine;
using PleSim.Plugins;

namespace MyPolicy;

/// <summary>
/// A guest spinlock policy plug-in. A scenario selects it with <c>guest.spinlock: plugin:mypolicy-plugin-name</c>
/// in a VM's <c>guest</c> section (or <c>--set 'vms[0].guest.spinlock=plugin:mypolicy-plugin-name'</c>); the
/// run loads it with <c>--plugin path/to/MyPolicy.dll</c>. Every spinlock of that guest is then a
/// ticket lock whose waiting and unlock this class decides.
/// <para>
/// As written it is the paravirtual ticket lock: spin SPIN_THRESHOLD PAUSE loops, then halt until
/// the unlocker kicks; spin again after each wake-up. Change <see cref="OnWait"/> and
/// <see cref="OnUnlock"/> to try your own policy.
/// </para>
/// Rules: one instance per VM and run (keep state in fields, sized in <see cref="Initialize"/>);
/// randomness only from the stream given to <see cref="Initialize"/>; no clock, threads or static
/// mutable state; no allocation per call. You see only what the guest's own lock code can read.
/// </summary>
public sealed class MyPolicy : IGuestSpinlockPlugin
{
    private long _threshold;

    public string Name => "mypolicy-plugin-name";

    public void Initialize(RandomStream random, in GuestKernelInfo kernel) => _threshold = kernel.SpinThresholdLoops;

    public GuestSpinDecision OnWait(in GuestSpinlockState lockState, in GuestSpinlockWaiter me) =>
        me.SpinLoops / _threshold > me.Halts ? GuestSpinDecision.Halt : GuestSpinDecision.Spin(_threshold);

    // Halted waiters to kick besides the next one (which is always kicked if it halted).
    public int OnUnlock(in GuestSpinlockState lockState) => 0;
}

namespace PleSim.Hypervisor;

/// <summary>
/// ORACLE — not a kernel policy. The only PAUSE handler allowed to read the simulator's ground
/// truth (decision 0034; docs/ground-truth.md): on a PAUSE exit it looks up why the spinner is
/// still spinning (<see cref="Vcpu.SpinCause"/>) and what every other VCPU is to it
/// (<see cref="Vcpu.SpinRelationTo"/>), and calls <c>yield_to</c> on exactly the VCPU whose
/// absence blocks progress:
/// <list type="bullet">
/// <item>the lock holder, when it is runnable but off its CPU (holder preempted);</item>
/// <item>for a ticket lock released to a next waiter that is off its CPU, that next waiter;</item>
/// <item>for a TLB-flush / call-function wait, the lowest-numbered VCPU that owes the
/// acknowledgement and is runnable but off its CPU.</item>
/// </list>
/// In every other case (plain contention, the blocker in an exit, halted or already running)
/// boosting cannot help, and it re-enters the guest at once. It pays the PAUSE exit, the handler's
/// fixed cost and one <c>yield_to</c> with its run-queue locks, but no candidate walk: an upper
/// bound for what any directed yield that must guess could achieve. Real KVM cannot do this.
/// </summary>
public sealed class OracleHandler : IPleHandler
{
    public const string HandlerName = "oracle";

    public string Name => HandlerName;
    public bool PleEnabled => true;

    public bool OnPauseExit(Kvm kvm, Vcpu me)
    {
        var vm = me.Vm;
        vm.Stats.DirectedYieldWalks++;
        long now = kvm.Sim.Now.Ns;
        long cost = 0;
        var target = TrueBlocker(me);
        if (target is not null && target.Pid is { } task)
        {
            cost += kvm.Settings.Costs.GetPidTask.Ns;
            if (PauseYieldTo.Try(kvm, me, target, task, now, ref cost))
            {
                vm.LastBoostedVcpu = target.Index;
                return false;
            }
        }
        vm.Stats.WalksWithoutYield++;
        me.ContinueAfterPauseHandler(cost);
        return true;
    }

    /// <summary>
    /// Ground truth: the VCPU whose running would unblock <paramref name="me"/> now and that a
    /// yield_to can put on a CPU (runnable, off CPU), or null when there is none.
    /// </summary>
    public static Vcpu? TrueBlocker(Vcpu me)
    {
        var want = me.SpinCause switch
        {
            SpinCause.HolderPreempted => SpinRelation.Holder,
            SpinCause.NextWaiterPreempted => SpinRelation.NextWaiter,
            SpinCause.AckOwedPreempted => SpinRelation.AckDebtor,
            _ => (SpinRelation?)null,
        };
        if (want is not { } relation)
            return null;
        var vcpus = me.Vm.Vcpus;
        for (int i = 0; i < vcpus.Count; i++)
        {
            var v = vcpus[i];
            if (v != me && v.Presence == VcpuPresence.OffCpu && me.SpinRelationTo(v) == relation)
                return v;
        }
        return null;
    }
}

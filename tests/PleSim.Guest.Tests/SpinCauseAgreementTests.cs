using PleSim.Engine;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>
/// The ground truth has two writers of a waiter's spin cause: <see cref="GuestSpinLock.Cause"/>, asked
/// when a VCPU starts to spin, and the lock's reclassification of its waiters when the lock changes
/// hands. For every lock kind they must agree at every event, or spin-by-cause figures would depend on
/// which of the two last touched a waiter. (On a preemptable ticket lock's release the two differ for
/// an instant: the reclassification runs before the head moves, and every waiter's re-look at the
/// release sets the cause again, so no time is charged to the first.)
/// </summary>
public class SpinCauseAgreementTests
{
    private sealed class Agreement(Vm vm, GuestSpinLock lk) : IInvariant
    {
        public long Checks { get; private set; }

        public long FreeLockBlamedOnWaiter { get; private set; }

        public string Name => "spin cause agreement";

        public string? Check()
        {
            foreach (var v in vm.Vcpus)
            {
                if (!v.Spinning || !lk.HasWaiter(v))
                    continue;
                Checks++;
                var expected = lk.Cause(v, 0);
                if (lk.Owner is null && expected != SpinCause.Contention)
                    FreeLockBlamedOnWaiter++;
                if (v.SpinCause != expected)
                    return $"{v} spins on {lk.Name} with cause {v.SpinCause}, but Cause says {expected}";
            }
            return null;
        }
    }

    [Theory]
    [InlineData(SpinlockKind.Ticket)]
    [InlineData(SpinlockKind.PreemptableTicket)]
    [InlineData(SpinlockKind.Queued)]
    [InlineData(SpinlockKind.TestAndSet)]
    public void A_waiters_recorded_cause_is_what_Cause_says_at_every_event(SpinlockKind kind)
    {
        // Four VCPUs on two CPUs, PLE off: holders and waiters are preempted by their CPU's other
        // VCPU, so causes change in the middle of spins.
        var kit = new GuestKit(2, 4, handler: "none", guest: new GuestSettings { Spinlock = kind });
        var lk = kit.Kernel.NewLock("L");
        Assert.Equal(kind, lk.Kind);
        var check = new Agreement(kit.Vm, lk);
        kit.Sim.Invariants.Register(check);
        kit.RunLockRoundsTwoPerCpu(lk, 60_000);
        Assert.True(check.Checks > 1000, $"{check.Checks} checks of a spinning waiter");
        // The states where the two writers could differ were reached: a free lock whose next ticket's
        // VCPU is not running (a test-and-set lock has no next waiter to blame).
        if (kind != SpinlockKind.TestAndSet)
            Assert.True(check.FreeLockBlamedOnWaiter > 10, $"{check.FreeLockBlamedOnWaiter} checks on a free lock blamed on a waiter");
    }
}

using PleSim.Guest;

namespace PleSim.Guest.Tests;

/// <summary>A user-space spinlock (glibc <c>pthread_spin_lock</c>, <c>GuestKernel.NewLock(…, userSpace: true)</c>): its waiters spin at CPL 3.</summary>
public class UserSpinlockTests
{
    private static (GuestKit Kit, GuestSpinLock Lock) TwoThreads(bool userSpace)
    {
        var kit = new GuestKit(2, 2);
        var lk = kit.Kernel.NewLock("L", SpinlockKind.TestAndSet, userSpace);
        for (int i = 0; i < 2; i++)
        {
            kit.Kernel.CreateThread($"t{i}", new ListProgram(
                GuestAction.Compute(1 + (i * 10_000)),
                GuestAction.Acquire(lk),
                GuestAction.Compute(500_000),
                GuestAction.Release(lk)), i, pinned: true);
        }
        kit.Start();
        return (kit, lk);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_waiter_spins_in_the_locks_mode_and_Intel_PLE_exits_only_kernel_mode_spins(bool userSpace)
    {
        var (kit, lk) = TwoThreads(userSpace);
        kit.RunUs(200); // t0 holds for 500 us; t1 has spun since 10 us
        var waiter = kit.Vm.Vcpus[1];
        Assert.True(waiter.SpinWaitsOn(kit.Vm.Vcpus[0]));
        Assert.Equal(userSpace, waiter.SpinningInUserMode);
        kit.RunUs(2_000);
        Assert.Equal(2, lk.Acquisitions);
        Assert.Equal(1, lk.Contended);
        // Intel's PAUSE-loop exiting counts only at CPL 0: a user-mode spinner never exits.
        long exits = kit.Vm.Vcpus[1].Stats.PauseExits;
        if (userSpace)
            Assert.Equal(0, exits);
        else
            Assert.True(exits > 0, "a kernel-mode spinner should PAUSE-exit on Intel");
    }
}

using PleSim.Engine;

namespace PleSim.Guest.Tests;

/// <summary><c>guest.steal_time_accounting</c>: <c>update_rq_clock_task</c> leaves the VCPU's steal time out of the task clock.</summary>
public class StealTimeAccountingTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_thread_is_charged_for_its_vcpus_preempted_time_only_without_steal_time_accounting(bool accounting)
    {
        // One VCPU on one host CPU shared with a host hog: the VCPU waits runnable about half the time.
        var kit = new GuestKit(1, 1, "none", new GuestSettings { StealTimeAccounting = accounting });
        var t = kit.Kernel.CreateThread("t", new ListProgram(GuestAction.Compute(100_000_000)), 0, pinned: true);
        kit.Start();
        kit.Pin([0], 0);
        kit.RunUs(60_000);
        kit.Kernel.Cpus[0].UpdateCurr();
        long ran = kit.Vm.Vcpus[0].Task.Se.SumExecRuntime;
        long waited = kit.Vm.Vcpus[0].Task.Se.WaitSum;
        Assert.True(waited > 10_000_000, $"the VCPU should have waited for the hog, waited {waited} ns");
        if (accounting)
            Assert.InRange(t.RuntimeNs, ran - 2_000_000, ran + 1_000_000); // charged about what the VCPU ran
        else
            Assert.True(t.RuntimeNs > ran + waited / 2, $"wall time: {t.RuntimeNs} ns charged, VCPU ran {ran} ns and waited {waited} ns");
    }
}

namespace PleSim.Guest.Tests;

/// <summary>
/// The guest's <c>check_preempt_tick</c> (decision 0091), against cases worked by hand from 2.6.39
/// kernel/sched_fair.c: a 4-VCPU guest (ideal slice 9 ms for two threads, minimum granularity 2.25 ms).
/// </summary>
public class TickPreemptTests
{
    private const long Ms = 1_000_000;
    private const long Ideal = 9 * Ms, MinGran = 2_250_000;

    [Theory]
    // Ran past its ideal slice: preempted whatever the vruntimes.
    [InlineData(9 * Ms + 1, 0, true)]
    [InlineData(10 * Ms, -5 * Ms, true)]
    // Within its slice and ahead of the leftmost by more than the slice, having run the minimum: preempted.
    [InlineData(3 * Ms, 9 * Ms + 1, true)]
    [InlineData(2_250_000, 12 * Ms, true)]
    // The same lead, but it has not run the minimum granularity yet: it keeps the CPU.
    [InlineData(2_249_999, 12 * Ms, false)]
    [InlineData(1 * Ms, 20 * Ms, false)]
    // Ahead by no more than the slice, or behind: it keeps the CPU.
    [InlineData(5 * Ms, 9 * Ms, false)]
    [InlineData(5 * Ms, -1 * Ms, false)]
    public void The_tick_preempts_as_check_preempt_tick_does(long deltaExec, long vruntimeLead, bool preempts) =>
        Assert.Equal(preempts, GuestCpu.TickPreempts(deltaExec, Ideal, vruntimeLead, MinGran));
}

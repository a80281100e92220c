using PleSim.Engine;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>A guest CPU: the 5.4 cpuidle-haltpoll governor (poll before HLT, grow/shrink of poll_limit_ns).</summary>
public sealed partial class GuestCpu
{
    // ------------------------------------------------------------------ guest haltpoll (5.4)

    /// <summary>What ends <c>poll_idle</c> early: need_resched (a wake-up enqueued a thread here).</summary>
    private bool PollWakeCondition => NeedResched || _queue.Count > 0;

    /// <summary>
    /// <c>haltpoll_select</c> (drivers/cpuidle/governors/haltpoll.c, 5.4): with a zero limit halt;
    /// after a poll that ran out halt, after one that was ended by a wake-up poll again; after a
    /// halt poll.
    /// </summary>
    private bool HaltpollSelectsPoll()
    {
        if (PollLimitNs == 0)
            return false;
        if (_lastWasPoll)
            return !_pollTimeLimit;
        return true;
    }

    /// <summary>
    /// <c>adjust_poll_limit</c> (haltpoll.c, 5.4), called with the HLT state's residency: grow when
    /// it lasted longer than the current limit but no longer than <c>guest_halt_poll_ns</c> (a
    /// longer poll would have caught the wake-up); shrink when it lasted longer than
    /// <c>guest_halt_poll_ns</c> (no poll could have). The multiply/divide is KVM's own.
    /// </summary>
    private void AdjustPollLimit(long blockNs)
    {
        var hp = S.HaltPoll;
        if (blockNs > PollLimitNs && blockNs <= hp.HaltPollNs)
        {
            // haltpoll.c: val = limit × grow, at least grow_start, at most guest_halt_poll_ns
            // (a zero grow factor still restarts at grow_start there, unlike KVM's).
            long val = hp.Grow == 0 ? Math.Min(hp.GrowStart, hp.HaltPollNs) : hp.GrowPoll(PollLimitNs);
            if (val != PollLimitNs)
                PollLimitGrows++;
            PollLimitNs = val;
        }
        else if (blockNs > hp.HaltPollNs && S.HaltPollAllowShrink)
        {
            long val = hp.ShrinkPoll(PollLimitNs);
            if (val != PollLimitNs)
                PollLimitShrinks++;
            PollLimitNs = val;
        }
    }

    /// <summary><c>poll_idle</c>'s loop condition as a spin target: done on need_resched or once the wall-clock limit passed.</summary>
    private sealed class PollState(GuestCpu cpu) : ISpinTarget
    {
        public bool TryAcquire(Vcpu vcpu, long token) => cpu.PollWakeCondition || cpu.Now - cpu._pollStart >= cpu.PollLimitNs;
    }
}

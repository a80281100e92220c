using PleSim.Engine;
using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>
/// A guest CPU: device interrupts' bottom halves and the kernel's housekeeping timers (decision 0045).
/// </summary>
public sealed partial class GuestCpu
{
    // ------------------------------------------------------------------ softirq (bottom half)

    /// <summary>Bottom-half steps run on this CPU (softirq work of device interrupts).</summary>
    public long SoftIrqSteps { get; private set; }

    /// <summary>
    /// <c>irq_exit</c> → <c>invoke_softirq</c>: a device's top half raised a softirq, which runs next
    /// on this CPU, in the interrupted context, before the interrupted code resumes. A computation
    /// the interrupt stopped is split: its rest runs after the bottom half. Any other operation
    /// (a spin loop, a poll) keeps its place and the bottom half runs when it ends (decision 0045).
    /// </summary>
    private void RaiseSoftIrq(IGuestIrqHandler h)
    {
        long rest = Vcpu.TakeComputeRemainder();
        if (rest > 0)
            PushFront(new Op { Kind = Micro.Compute, Ns = rest, User = _inUser });
        PushFront(new Op { Kind = Micro.SoftIrq, Irq = h });
    }

    /// <summary>
    /// Queues one step of a device's bottom half, to run next on this CPU, in this order:
    /// <paramref name="ns"/> of kernel work, then (if <paramref name="wake"/> is set) a wake-up of
    /// that wait queue (<c>wake_up_interruptible_sync_poll</c> under its lock, as
    /// <c>sock_def_readable</c> does; a wake-up nobody waits for is kept as pending), then (if
    /// <paramref name="again"/>) another call of <paramref name="h"/>'s <see cref="IGuestIrqHandler.SoftIrq"/>.
    /// Only from <see cref="IGuestIrqHandler.SoftIrq"/>.
    /// </summary>
    public void BottomHalf(IGuestIrqHandler h, long ns, WaitQueue? wake, bool again)
    {
        SoftIrqSteps++;
        if (again)
            PushFront(new Op { Kind = Micro.SoftIrq, Irq = h });
        if (wake is not null)
        {
            wake.Signals++;
            PushFront(new Op { Kind = Micro.Unlock, Lock = wake.Lock });
            PushFront(new Op { Kind = Micro.SignalDo, Queue = wake });
            PushFront(new Op { Kind = Micro.Lock, Lock = wake.Lock });
        }
        if (ns > 0)
            PushFront(new Op { Kind = Micro.Compute, Ns = ns });
    }

    // ------------------------------------------------------------------ housekeeping timers

    private long[]? _timerNext; // next expiry of each guest.timers entry on this CPU (ns)

    /// <summary>Housekeeping timer expiries handled on this CPU (<c>guest.timers</c>).</summary>
    public long TimerExpiries { get; private set; }

    /// <summary>First expiry of each housekeeping timer: one period after boot, on the tick grid.</summary>
    internal void StartTimers()
    {
        var timers = S.Timers;
        if (timers.Count == 0)
            return;
        _timerNext = new long[timers.Count];
        for (int i = 0; i < timers.Count; i++)
            _timerNext[i] = Vcpu.GuestTimerPhase.Ns + timers[i].Period.Ns;
    }

    /// <summary>
    /// The timer softirq of a tick (<c>run_local_timers</c> → <c>run_timer_softirq</c>): every timer
    /// of <c>guest.timers</c> that has expired runs its function now, once (a late timer is not run
    /// twice: it is re-armed a period after this run, as a delayed work re-queues itself). Returns
    /// the guest time their functions take.
    /// </summary>
    private long RunExpiredTimers()
    {
        if (_timerNext is null)
            return 0;
        long now = Now, cost = 0;
        var timers = S.Timers;
        for (int i = 0; i < _timerNext.Length; i++)
        {
            if (_timerNext[i] > now)
                continue;
            TimerExpiries++;
            cost += timers[i].Cost.Ns;
            long p = timers[i].Period.Ns;
            long next = _timerNext[i] + p;
            if (next <= now)
                next = now + p;
            _timerNext[i] = next;
        }
        return cost;
    }

    /// <summary>
    /// A tickless idle CPU stops its tick: the local APIC timer is programmed for the next timer
    /// expiry instead (<c>tick_nohz_stop_sched_tick</c>: <c>get_next_timer_interrupt</c>, rounded up
    /// to a jiffy of the tick grid), or stopped when no timer is armed. Deferrable timers are not
    /// looked at (<c>__next_timer_interrupt</c> skips them, decision 0078): they wait for a wake-up.
    /// </summary>
    private void StopTick()
    {
        long next = long.MaxValue;
        if (_timerNext is not null)
        {
            var timers = S.Timers;
            for (int i = 0; i < _timerNext.Length; i++)
            {
                if (!timers[i].Deferrable)
                    next = Math.Min(next, _timerNext[i]);
            }
        }
        if (next == long.MaxValue)
        {
            Vcpu.SetGuestTimer(SimDuration.Zero);
            return;
        }
        long tick = S.TickPeriod.Ns;
        long phase = Vcpu.GuestTimerPhase.Ns;
        long since = next - phase;
        long at = since <= 0 ? phase : phase + ((since + tick - 1) / tick) * tick;
        if (at <= Now)
            at = phase + ((Now - phase) / tick + 1) * tick;
        Vcpu.SetGuestTimerOneShot(new SimTime(at));
    }
}

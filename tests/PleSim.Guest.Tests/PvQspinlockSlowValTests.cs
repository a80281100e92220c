using PleSim.Engine;
using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>
/// Decision 0084: the PV queued lock's locked byte <c>_Q_SLOW_VAL</c>. The queue head hashes the lock
/// and sets the byte once per wait (4.5+ <c>pv_wait_head_or_lock</c>, 4.2-4.4 <c>pv_wait_head</c>:
/// <c>if (!lp)</c>); <c>pv_wait</c> (x86 <c>kvm_wait</c>) halts only while the byte is still
/// <c>_Q_SLOW_VAL</c>; <c>__pv_queued_spin_unlock</c> kicks only when it is, and clears it;
/// <c>pv_kick_node</c> sets it for a halted node made head. Hand-worked on tiny set-ups with PLE off.
/// </summary>
public class PvQspinlockSlowValTests
{
    private const int Loops = 1000;

    private static GuestSettings Pv(bool steal, int loops = Loops) =>
        new() { Spinlock = SpinlockKind.PvQueued, SpinThresholdLoops = loops, PvQspinlockSteal = steal, PvQspinlockWaitEarly = PvWaitEarly.Off };

    private static long LoopsNs(GuestKit kit, long loops) => kit.Kvm.Tsc.ToDuration(new TscCycles(loops * kit.Kvm.Settings.PauseLoopCycles)).Ns;

    private static long Kicks(GuestKit kit) => kit.Kernel.Cpus.Sum(c => c.PvKicksSent);

    [Fact]
    public void After_a_steal_the_kicked_head_spins_on_and_the_stealers_unlock_kicks_nobody()
    {
        // "head" queues at 20 us behind "holder" (700 us), spins SPIN_THRESHOLD loops, hashes the lock,
        // sets _Q_SLOW_VAL and halts. The holder's unlock sees _Q_SLOW_VAL: unhash, free, kick. A
        // newcomer at 700.6 us finds locked and pending clear (the head is not back yet) and steals it,
        // holding it for five SPIN_THRESHOLD rounds. The woken head spins rounds; after each its lp is
        // set, so it does not hash again, and pv_wait returns at once (the byte is the stealer's
        // _Q_LOCKED_VAL): no second halt. The stealer's unlock is the fast path: one kick in all.
        // Before decision 0084 the head halted again after its first round and the stealer's unlock
        // kicked it (two halts, two kicks).
        var kit = new GuestKit(4, 4, handler: "none", guest: Pv(steal: true));
        long round = LoopsNs(kit, Loops);
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("head", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Kernel.CreateThread("newcomer", new ListProgram(GuestAction.Compute(700_600), GuestAction.Acquire(lk), kit.Mark(2), GuestAction.Compute(5 * round), GuestAction.Release(lk)), 2, pinned: true);
        kit.Start();
        Assert.True(round < 100_000); // the head's first round ends long before the release
        kit.RunUs(700 + 5 * round / 1000 + 500);
        Assert.Equal([2, 1], kit.Marker.Hits.Select(h => h.Code));
        Assert.Equal(1, lk.Steals);
        Assert.Equal(1, lk.PvHalts);        // halted once, before the holder's release
        Assert.Equal(1, Kicks(kit));        // the holder's slow-path unlock only
        Assert.Equal(1, kit.Kernel.Cpus[0].PvKicksSent);
        Assert.True(lk.PvWaitsReturnedAtOnce >= 3, $"pv_wait returned at once {lk.PvWaitsReturnedAtOnce} times"); // about five rounds under the stealer
        Assert.False(lk.SlowVal);
    }

    [Fact]
    public void Without_a_steal_the_hashed_head_halts_again_while_the_byte_stays_slow()
    {
        // The same head without stealing (4.2-4.4) and a holder that keeps the lock for many rounds:
        // the byte stays _Q_SLOW_VAL from the head's first round to the release, so every pv_wait
        // halts (here the head is not woken before the release: one halt), and the release kicks once.
        var kit = new GuestKit(4, 4, handler: "none", guest: Pv(steal: false));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("head", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Kernel.CreateThread("newcomer", new ListProgram(GuestAction.Compute(700_600), GuestAction.Acquire(lk), kit.Mark(2), GuestAction.Release(lk)), 2, pinned: true);
        kit.Start();
        kit.RunUs(200);
        Assert.True(lk.SlowVal); // hashed after the first round, byte _Q_SLOW_VAL while the holder holds it
        kit.RunUs(2_000);
        Assert.Equal([1, 2], kit.Marker.Hits.Select(h => h.Code));
        Assert.Equal(1, lk.PvHalts);
        Assert.Equal(1, Kicks(kit));
        Assert.Equal(0, lk.PvWaitsReturnedAtOnce);
        Assert.False(lk.SlowVal);
    }

    [Fact]
    public void Pv_kick_node_makes_the_takers_byte_slow_for_a_halted_node_made_head_and_its_unlock_kicks_it()
    {
        // w2 queues behind "head" and halts in pv_wait_node (SPIN_THRESHOLD); "head" halts too, hashed.
        // The holder's unlock kicks "head"; "head" takes the lock (MCS hand-off to the halted w2):
        // pv_kick_node marks w2 hashed and sets _Q_SLOW_VAL on the byte "head" now holds, so its
        // unlock kicks w2 — two kicks, one per slow unlock. w2 never hashes again (no third kick).
        var kit = new GuestKit(4, 4, handler: "none", guest: Pv(steal: true));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("head", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Compute(50_000), GuestAction.Release(lk)), 1, pinned: true);
        kit.Kernel.CreateThread("w2", new ListProgram(GuestAction.Compute(40_000), GuestAction.Acquire(lk), kit.Mark(2), GuestAction.Release(lk)), 2, pinned: true);
        kit.Start();
        kit.RunUs(600);
        Assert.Equal(2, lk.PvHalts);
        kit.RunUs(130);
        Assert.Equal([1], kit.Marker.Hits.Select(h => h.Code));
        Assert.True(lk.SlowVal); // pv_kick_node for the halted w2, on the byte "head" holds
        kit.RunUs(2_000);
        Assert.Equal([1, 2], kit.Marker.Hits.Select(h => h.Code));
        Assert.Equal(1, kit.Kernel.Cpus[0].PvKicksSent);
        Assert.Equal(1, kit.Kernel.Cpus[1].PvKicksSent);
        Assert.Equal(2, Kicks(kit));
        Assert.Equal(2, lk.PvHalts);
        Assert.False(lk.SlowVal);
    }

    [Fact]
    public void The_unlock_kicks_the_hashed_head_even_when_a_tick_has_woken_it_and_it_spins()
    {
        // 4.4 and 4.5+ __pv_queued_spin_unlock kick the hashed node whenever the byte is _Q_SLOW_VAL,
        // "halted or not". The head (4.2-4.4 lock) hashes and halts after its first round; the 1000 Hz
        // tick wakes it from safe_halt at 1 ms and 2 ms (a spurious wakeup: the byte is still
        // _Q_SLOW_VAL, so after a round it halts again, hashing nothing new). The holder releases half
        // a round after the 2 ms tick, while the head spins: the release still kicks it (one kick; the
        // head takes the lock in that round, two halts in all). Before decision 0084 only a head
        // marked halted was kicked: no kick.
        var kit = new GuestKit(4, 4, handler: "none", guest: Pv(steal: false));
        long round = LoopsNs(kit, Loops);
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(2_000_000 + round / 2), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("head", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        Assert.InRange(round, 2_000, 100_000); // a round fits well between two ticks
        kit.RunUs(1_900);
        Assert.Equal(2, lk.PvHalts); // halted after the first round, and again after the 1 ms tick's round
        Assert.True(lk.SlowVal);
        kit.RunUs(300);
        Assert.Equal([1], kit.Marker.Hits.Select(h => h.Code));
        Assert.Equal(2, lk.PvHalts);   // the head did not halt a third time: it got the lock in its round
        Assert.Equal(1, Kicks(kit));   // the holder's unlock kicked the spinning, hashed head
        Assert.Equal(0, lk.PvWaitsReturnedAtOnce);
        Assert.False(lk.SlowVal);
    }
}

using PleSim.Guest;

// Guest kernel pieces the hackbench paths share: a non-exclusive __wake_up of every sleeper on a
// wait queue (2.6.39 kernel/sched.c), planned one wake-up at a time, and the pipe's inode mutex
// (kernel/mutex.c without owner spinning).

namespace PleSim.Workloads;

/// <summary>
/// __wake_up of every thread registered on a queue (non-exclusive waiters): the queue lock, one
/// try_to_wake_up per sleeper, unlock. Planned one wake-up at a time so that a program's plan
/// stays a few actions long however many sleep.
/// </summary>
internal sealed class WakeAll(IFrontEmitter p) : IGuestCallback
{
    private WaitQueue? _q;
    private int _left;

    public void Start(WaitQueue q, int sleepers)
    {
        _q = q;
        _left = sleepers;
        p.Now(GuestAction.Call(this, 0));
        p.Now(GuestAction.Acquire(q.Lock));
    }

    public void Run(GuestThread thread, int code)
    {
        if (_left == 0)
        {
            p.Now(GuestAction.Release(_q!.Lock));
            return;
        }
        _left--;
        p.Now(GuestAction.Call(this, 0));
        p.Now(GuestAction.SignalLocked(_q!));
    }
}

/// <summary>Lets the hackbench helpers insert actions at the front of a program's plan.</summary>
internal interface IFrontEmitter
{
    void Now(in GuestAction a);
}

/// <summary>
/// The pipe's inode mutex, reduced to what hackbench needs: the fast path's cost when free; when
/// taken, sleep FIFO on the mutex's wait list until an unlock wakes one waiter, which then retries
/// (2.6.39 kernel/mutex.c without the owner-spinning phase). Stands in until a general guest mutex
/// exists.
/// </summary>
internal static class PipeMutex
{
    /// <summary>Takes the mutex for <paramref name="me"/>, or plans a sleep on its wait list followed by <paramref name="retry"/> (the caller's own lock step).</summary>
    public static void Lock(Hackbench hb, IFrontEmitter access, Hackbench.Receiver r, GuestThread me, in GuestAction retry)
    {
        if (r.MutexOwner is null)
        {
            r.MutexOwner = me;
            access.Now(GuestAction.Compute(hb.Settings.MutexFastNs / 2));
            return;
        }
        hb.MutexContended++;
        r.MutexWaiters++;
        // Wait, then retry the lock: the retry is inserted in front of the caller's next step.
        access.Now(retry);
        access.Now(GuestAction.Wait(r.MutexWq!));
    }

    public static void Unlock(Hackbench hb, IFrontEmitter access, Hackbench.Receiver r)
    {
        r.MutexOwner = null;
        if (r.MutexWaiters > 0)
        {
            // __mutex_unlock_slowpath: wake the first waiter on the wait list.
            r.MutexWaiters--;
            access.Now(GuestAction.Signal(r.MutexWq!));
        }
        access.Now(GuestAction.Compute(hb.Settings.MutexFastNs / 2));
    }
}

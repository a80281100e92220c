using System.Runtime.CompilerServices;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// The steps glibc's pthread mutex and condition-variable paths take on their futex words, shared by
/// the programs built on <see cref="GlibcPthreadProgram{TStep}"/>: they travel as the values 0..6 of the
/// program's step enum, whose own steps start at <c>(int)PthreadStep.CondBroadcast + 1</c> (checked once
/// per program instance).
/// </summary>
public enum PthreadStep
{
    /// <summary><c>pthread_mutex_lock</c> → <c>lll_lock</c>'s <c>lock cmpxchg</c> 0 → 1.</summary>
    LockTry,

    /// <summary><c>__lll_lock_wait</c>'s loop: <c>xchg</c> 2, FUTEX_WAIT(word, 2) unless the word was 0.</summary>
    LockWait,

    /// <summary><c>pthread_mutex_unlock</c> → <c>lll_unlock</c>, <c>__lll_unlock_wake</c> when the word said waiters.</summary>
    Unlock,

    /// <summary><c>__pthread_mutex_cond_lock</c>'s <c>lll_cond_lock</c> (cmpxchg 0 → 2) after a condition wait.</summary>
    CondRelock,

    /// <summary><c>pthread_cond_wait</c>: register, unlock the mutex, FUTEX_WAIT on the sequence word, re-lock.</summary>
    CondWait,

    /// <summary><c>pthread_cond_signal</c>: with a registered waiter, advance the word and FUTEX_WAKE one.</summary>
    CondSignal,

    /// <summary><c>pthread_cond_broadcast</c>: with registered waiters, advance the word and FUTEX_WAKE all.</summary>
    CondBroadcast,
}

/// <summary>
/// A thread program that takes glibc pthread mutexes (<see cref="PthreadMutex"/>: <c>pthread_mutex_lock</c>
/// / <c>pthread_mutex_unlock</c> over <c>lll_lock</c>, <c>__lll_lock_wait</c>, <c>__lll_unlock_wake</c>) and
/// waits on condition variables (<see cref="PthreadCond"/>: <c>pthread_cond_wait</c> / <c>_signal</c> /
/// <c>_broadcast</c> over FUTEX_WAIT / FUTEX_WAKE) of its process, indexed into the process's arrays.
/// A step's actions are collected with <see cref="Put(in GuestAction)"/> and inserted before anything
/// already planned by <see cref="Flush"/> (dedup's and pbzip2's threads). The first seven values of
/// <typeparamref name="TStep"/> are left to the <see cref="PthreadStep"/>s; <see cref="RunPthread"/> runs them.
/// </summary>
public abstract class GlibcPthreadProgram<TStep> : MmProgram<TStep>
    where TStep : unmanaged, Enum
{
    private readonly PthreadMutex[] _mutexes;
    private readonly PthreadCond[] _conds;
    private readonly GuestCosts _costs;
    private readonly GuestAction[] _buf;
    private int _n;
    private int _condMutex; // the mutex a pthread_cond_wait releases and re-takes

    protected GlibcPthreadProgram(PthreadMutex[] mutexes, PthreadCond[] conds, GuestCosts costs, int bufferSize)
    {
        // Checked once per program instance (when the model is built), not per step.
        foreach (var v in Enum.GetValues<TStep>())
        {
            if (Unsafe.As<TStep, int>(ref Unsafe.AsRef(in v)) <= (int)PthreadStep.CondBroadcast)
                throw new InvalidOperationException($"{typeof(TStep).Name}.{v}: a program's own steps start after the pthread steps ({(int)PthreadStep.CondBroadcast + 1})");
        }
        _mutexes = mutexes;
        _conds = conds;
        _costs = costs;
        _buf = new GuestAction[bufferSize];
    }

    /// <summary>The program's step that is <paramref name="p"/>.</summary>
    private static TStep Step(PthreadStep p)
    {
        int i = (int)p;
        return Unsafe.As<int, TStep>(ref i);
    }

    // ---- planning helpers: actions are collected, then inserted before anything already planned ----

    protected void Put(in GuestAction a) => _buf[_n++] = a;

    protected void Flush()
    {
        if (_n == 0)
            return;
        EmitNow(_buf.AsSpan(0, _n));
        _n = 0;
    }

    protected void PutCompute(double ns, bool user = true)
    {
        long v = (long)ns;
        if (v > 0)
            Put(GuestAction.Compute(v, userMode: user));
    }

    protected override void EmitMm(in GuestAction a) => Put(a);

    /// <summary><c>pthread_mutex_lock</c>: <c>lll_lock</c>'s <c>lock cmpxchg</c>, then the step that looks at the word.</summary>
    protected void PutLock(int m)
    {
        Put(GuestAction.Compute(_costs.LockAcquire.Ns, userMode: true));
        Put(Call(Step(PthreadStep.LockTry), m));
    }

    /// <summary><c>pthread_mutex_unlock</c>: <c>lll_unlock</c>'s <c>lock decl</c>, FUTEX_WAKE if the word said waiters.</summary>
    protected void PutUnlock(int m)
    {
        Put(GuestAction.Compute(_costs.LockRelease.Ns, userMode: true));
        Put(Call(Step(PthreadStep.Unlock), m));
    }

    /// <summary><c>pthread_cond_wait(cond, mutex)</c>, the caller holding <paramref name="mutex"/>.</summary>
    protected void PutCondWait(int cond, int mutex)
    {
        _condMutex = mutex;
        Put(Call(Step(PthreadStep.CondWait), cond));
    }

    /// <summary><c>pthread_cond_signal(cond)</c>.</summary>
    protected void PutCondSignal(int cond) => Put(Call(Step(PthreadStep.CondSignal), cond));

    /// <summary><c>pthread_cond_broadcast(cond)</c>.</summary>
    protected void PutCondBroadcast(int cond) => Put(Call(Step(PthreadStep.CondBroadcast), cond));

    /// <summary>Mutex <paramref name="m"/> was found taken by <c>lll_lock</c> (the program's own counters).</summary>
    protected virtual void Contended(int m)
    {
    }

    /// <summary>
    /// Runs <paramref name="step"/> when it is a <see cref="PthreadStep"/> (its actions collected, not yet
    /// flushed) and returns true; false for the program's own steps.
    /// </summary>
    protected bool RunPthread(TStep step, int arg)
    {
        int i = Unsafe.As<TStep, int>(ref step);
        if (i > (int)PthreadStep.CondBroadcast)
            return false;
        switch ((PthreadStep)i)
        {
            case PthreadStep.LockTry:
            case PthreadStep.CondRelock:
            {
                // CondRelock: __pthread_mutex_cond_lock's lll_cond_lock (cmpxchg 0 → 2).
                if (_mutexes[arg].TryLock(out bool sawWaiters, condLock: i == (int)PthreadStep.CondRelock))
                    return true;
                Contended(arg);
                if (sawWaiters)
                    PutFutexWaitLock(arg);
                else
                    LockWait(arg);
                return true;
            }
            case PthreadStep.LockWait:
                LockWait(arg);
                return true;
            case PthreadStep.Unlock:
            {
                var m = _mutexes[arg];
                if (m.Unlock())
                    Put(GuestAction.FutexWake(m.Word, 1)); // __lll_unlock_wake
                return true;
            }
            case PthreadStep.CondWait:
            {
                // pthread_cond_wait: register, release the mutex, sleep on the sequence word unless it moved.
                var c = _conds[arg];
                c.Waiters++;
                c.Waits++;
                int seq = c.Word.Value;
                PutUnlock(_condMutex);
                Put(GuestAction.FutexWait(c.Word, seq));
                Put(GuestAction.Compute(_costs.LockAcquire.Ns, userMode: true));
                Put(Call(Step(PthreadStep.CondRelock), _condMutex));
                return true;
            }
            case PthreadStep.CondSignal:
            {
                var c = _conds[arg];
                if (c.Waiters > 0)
                {
                    c.Waiters--;
                    c.Word.Value++;
                    c.Signals++;
                    Put(GuestAction.FutexWake(c.Word, 1));
                }
                return true;
            }
            case PthreadStep.CondBroadcast:
            {
                var c = _conds[arg];
                if (c.Waiters > 0)
                {
                    c.Waiters = 0;
                    c.Word.Value++;
                    c.Broadcasts++;
                    Put(GuestAction.FutexWake(c.Word, int.MaxValue));
                }
                return true;
            }
            default:
                return false;
        }
    }

    /// <summary><c>__lll_lock_wait</c>: FUTEX_WAIT(word, 2), then the <c>xchg</c> again.</summary>
    private void PutFutexWaitLock(int m)
    {
        Put(GuestAction.FutexWait(_mutexes[m].Word, 2));
        Put(GuestAction.Compute(_costs.LockAcquire.Ns, userMode: true));
        Put(Call(Step(PthreadStep.LockWait), m));
    }

    /// <summary><c>__lll_lock_wait</c>'s loop: <c>xchg</c> 2; 0 back means the lock is ours, else FUTEX_WAIT(word, 2) and again.</summary>
    private void LockWait(int m)
    {
        if (!_mutexes[m].ExchangeTwo())
            PutFutexWaitLock(m);
    }
}

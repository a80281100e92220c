using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>An infinite loop in guest user space: no locks, no exits but the tick.</summary>
public sealed class GuestHog : IThreadProgram
{
    private readonly long _chunkNs;

    public GuestHog(long chunkNs = 1_000_000) => _chunkNs = chunkNs;

    public long Chunks { get; private set; }

    public GuestAction Next(GuestThread thread)
    {
        Chunks++;
        return GuestAction.Compute(_chunkNs, userMode: true);
    }
}

/// <summary>The steps of <see cref="LockLoop"/>.</summary>
public enum LockLoopStep
{
    /// <summary>The lock was released: one iteration done.</summary>
    IterationDone,
}

/// <summary>
/// The lock microbenchmark thread: think (user mode), take the lock, hold it, release, count one
/// iteration; stops after <see cref="Iterations"/> when a limit is set. The lock is a spinlock, or
/// a kernel mutex (<see cref="GuestMutex"/>) when built with one.
/// </summary>
public sealed class LockLoop : ScriptedProgram<LockLoopStep>
{
    private readonly GuestSpinLock? _lock;
    private readonly GuestMutex? _mutex;
    private readonly Func<long> _hold;
    private readonly Func<long> _think;
    private readonly long _limit;
    private readonly Action<LockLoop>? _done;

    public LockLoop(GuestSpinLock lk, Func<long> hold, Func<long> think, long limit = long.MaxValue, Action<LockLoop>? done = null)
    {
        _lock = lk;
        _hold = hold;
        _think = think;
        _limit = limit;
        _done = done;
    }

    /// <summary>The same loop around a kernel mutex (<c>mutex_lock</c> / <c>mutex_unlock</c>).</summary>
    public LockLoop(GuestMutex m, Func<long> hold, Func<long> think, long limit = long.MaxValue)
    {
        _mutex = m;
        _hold = hold;
        _think = think;
        _limit = limit;
    }

    public long Iterations { get; private set; }
    public bool Finished { get; private set; }

    protected override void Plan(GuestThread thread)
    {
        if (Iterations >= _limit)
        {
            if (!Finished)
            {
                Finished = true;
                _done?.Invoke(this);
            }
            Emit(GuestAction.Exit);
            return;
        }
        Emit(GuestAction.Compute(_think(), userMode: true));
        Emit(_mutex is null ? GuestAction.Acquire(_lock!) : GuestAction.MutexLock(_mutex));
        Emit(GuestAction.Compute(_hold()));
        Emit(_mutex is null ? GuestAction.Release(_lock!) : GuestAction.MutexUnlock(_mutex));
        Emit(LockLoopStep.IterationDone);
    }

    protected override void Run(GuestThread thread, LockLoopStep step) => Iterations++;
}

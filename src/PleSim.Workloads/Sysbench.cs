using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>Which sysbench 0.4 test runs (<c>--test=</c>).</summary>
public enum SysbenchTest
{
    /// <summary>tests/threads/sb_threads.c: each request does thread-yields × (lock, sched_yield, unlock) on one of thread-locks mutexes.</summary>
    Threads,

    /// <summary>tests/mutex/sb_mutex.c: one request per thread of mutex-locks × (rand, empty loop, lock, increment, unlock) over mutex-num mutexes.</summary>
    Mutex,
}

/// <summary>sysbench 0.4 options (their defaults in sysbench's own source) and the model's costs.</summary>
public sealed record SysbenchSettings
{
    public SysbenchTest Test { get; init; } = SysbenchTest.Threads;

    /// <summary>--num-threads (sysbench.c default 1).</summary>
    public int NumThreads { get; init; } = 1;

    /// <summary>--max-requests (sysbench.c 0.4 default 10000; 0: no limit). The threads test's request budget, shared by all threads.</summary>
    public long MaxRequests { get; init; } = 10000;

    /// <summary>--thread-yields (sb_threads.c default 1000): lock/yield/unlock rounds per request.</summary>
    public int ThreadYields { get; init; } = 1000;

    /// <summary>--thread-locks (sb_threads.c default 8): the mutexes requests are spread over (request n uses n mod thread-locks).</summary>
    public int ThreadLocks { get; init; } = 8;

    /// <summary>--mutex-num (sb_mutex.c default 4096): the mutex array.</summary>
    public int MutexNum { get; init; } = 4096;

    /// <summary>--mutex-locks (sb_mutex.c default 50000): lock/unlock rounds of each thread's single request.</summary>
    public long MutexLocks { get; init; } = 50000;

    /// <summary>--mutex-loops (sb_mutex.c default 10000): empty-loop iterations before each lock.</summary>
    public int MutexLoops { get; init; } = 10000;

    /// <summary>Guest time of one empty-loop iteration (<c>c++</c> in a counted loop; assumption: ~1 cycle at ~2–3 GHz).</summary>
    public double LoopIterationNs { get; init; } = 0.4;

    /// <summary>Guest time of glibc's <c>__random_r</c> under the <c>random()</c> lock (assumption: tens of instructions).</summary>
    public SimDuration RandomR { get; init; } = SimDuration.FromNanoseconds(10);
}

/// <summary>
/// A glibc 2.12 <c>pthread_mutex_t</c> of the default (normal) kind on x86-64: its <c>__lock</c> word
/// is a futex driven by the low-level lock (nptl/sysdeps/unix/sysv/linux/x86_64/lowlevellock.h/.S):
/// <list type="bullet">
/// <item><c>lll_lock</c>: <c>lock cmpxchg</c> 0 → 1; failing that, <c>__lll_lock_wait</c>: unless it saw 2,
/// <c>xchg</c> 2 first; then while the <c>xchg</c> of 2 returns non-zero, FUTEX_WAIT(word, 2).</item>
/// <item><c>lll_unlock</c>: <c>lock decl</c>; if the word was not 1 (waiters possible, 2),
/// <c>__lll_unlock_wake</c>: store 0 and FUTEX_WAKE(word, 1).</item>
/// </list>
/// </summary>
public sealed class PthreadMutex
{
    public PthreadMutex(Futex word) => Word = word;

    public Futex Word { get; }

    /// <summary>Locks taken, and those that went through <c>__lll_lock_wait</c> (contended).</summary>
    public long Locks, Contended;

    /// <summary>
    /// <c>lll_lock</c>'s fast path, <c>lock cmpxchg</c> 0 → 1 (or 0 → 2 for <c>lll_cond_lock</c>, which
    /// <c>__pthread_mutex_cond_lock</c> uses after a condition wait: a woken waiter cannot know whether
    /// others wait). True: taken. False: contended, <c>__lll_lock_wait</c> follows; <paramref name="sawWaiters"/>
    /// says the word was already 2, so it starts with FUTEX_WAIT(word, 2) instead of the <c>xchg</c>.
    /// </summary>
    public bool TryLock(out bool sawWaiters, bool condLock = false)
    {
        int old = Word.Value;
        sawWaiters = old == 2;
        if (old == 0)
        {
            Word.Value = condLock ? 2 : 1;
            Locks++;
            return true;
        }
        Contended++;
        return false;
    }

    /// <summary><c>__lll_lock_wait</c>'s <c>xchg</c> of 2: true when the word was 0 (taken, left at 2); false: FUTEX_WAIT(word, 2) next.</summary>
    public bool ExchangeTwo()
    {
        int old = Word.Value;
        Word.Value = 2;
        if (old != 0)
            return false;
        Locks++;
        return true;
    }

    /// <summary><c>lll_unlock</c>: <c>lock decl</c> to 0; true when the word was 2, so <c>__lll_unlock_wake</c> must FUTEX_WAKE(word, 1).</summary>
    public bool Unlock()
    {
        int old = Word.Value;
        if (old == 0)
            throw new InvalidOperationException($"unlock of the free mutex {Word.Name}");
        Word.Value = 0;
        return old != 1;
    }

    public override string ToString() => Word.Name;
}

/// <summary>
/// sysbench 0.4's threads and mutex tests in a guest (one process): <c>num-threads</c> worker threads
/// running <c>runner_thread</c>'s loop (get a request, execute it) on glibc 2.12 mutexes. The metric is
/// requests completed ("events") per second and, when every thread finished, the total time.
/// </summary>
public sealed class Sysbench
{
    private readonly SysbenchSettings _s;
    private readonly RandomStream _rng;
    private readonly Action? _onAllDone;
    private readonly List<SysbenchThread> _threads = [];
    private long _reqPerformed;
    private int _finished;

    public Sysbench(GuestKernel kernel, SysbenchSettings s, RandomStream rng, Action? onAllDone = null)
    {
        _s = s;
        _rng = rng;
        _onAllDone = onAllDone;
        Kernel = kernel;
        int n = Math.Max(1, s.NumThreads);
        // User addresses of the futex words (only their hash buckets depend on them): the global
        // mutexes in the data segment, the test's array from malloc (sizeof(pthread_mutex_t) = 40;
        // sb_mutex.c pads each to 296 bytes).
        RequestMutex = new PthreadMutex(kernel.NewFutex("sysbench.thread_mutex", 0, 0x602000, n));
        RandomLock = new PthreadMutex(kernel.NewFutex("glibc.random_lock", 0, 0x7f00_0000_1000, n));
        int count = s.Test == SysbenchTest.Threads ? Math.Max(1, s.ThreadLocks) : Math.Max(1, s.MutexNum);
        long stride = s.Test == SysbenchTest.Threads ? 40 : 296;
        TestMutexes = new PthreadMutex[count];
        for (int i = 0; i < count; i++)
            TestMutexes[i] = new PthreadMutex(kernel.NewFutex($"sysbench.mutex{i}", 0, 0x1_0000_0000 + (i * stride), n));
        for (int i = 0; i < n; i++)
        {
            var t = new SysbenchThread(this, kernel.Settings.Costs);
            _threads.Add(t);
            kernel.CreateThread($"sysbench{i}", t, i % kernel.Cpus.Length);
        }
    }

    public GuestKernel Kernel { get; }
    public SysbenchSettings Settings => _s;

    /// <summary>sysbench's global mutex taken by <c>get_request</c> (SB_THREAD_MUTEX_LOCK).</summary>
    public PthreadMutex RequestMutex { get; }

    /// <summary>glibc's lock inside <c>random()</c> (stdlib/random.c <c>__libc_lock_lock(lock)</c>), taken by <c>rand()</c>.</summary>
    public PthreadMutex RandomLock { get; }

    /// <summary>The test's mutex array (threads: test_mutexes; mutex: thread_locks).</summary>
    public PthreadMutex[] TestMutexes { get; }

    /// <summary>Requests executed to the end (sysbench's "events").</summary>
    public long Events { get; private set; }

    /// <summary>sched_yield calls (threads test) and test-mutex lock rounds (both tests).</summary>
    public long Yields { get; private set; }
    public long MutexRounds { get; private set; }

    /// <summary>When every thread finished (ns since the start), or -1.</summary>
    public long CompletedAt { get; private set; } = -1;

    /// <summary>Contended pthread locks (went to <c>__lll_lock_wait</c>) over all mutexes.</summary>
    public long ContendedLocks
    {
        get
        {
            long c = RequestMutex.Contended + RandomLock.Contended;
            foreach (var m in TestMutexes)
                c += m.Contended;
            return c;
        }
    }

    /// <summary><c>threads_get_request</c> under the global mutex: the lock number of the next request, or -1 once max-requests were handed out.</summary>
    internal int GetThreadsRequest()
    {
        if (_s.MaxRequests > 0 && _reqPerformed >= _s.MaxRequests)
            return -1;
        int lockNum = (int)(_reqPerformed % TestMutexes.Length);
        _reqPerformed++;
        return lockNum;
    }

    /// <summary><c>rand() % mutex_num</c> (the run's random stream stands in for glibc's generator).</summary>
    internal int RandomMutex() => _rng.NextInt(TestMutexes.Length);

    internal void EventDone() => Events++;

    internal void YieldDone() => Yields++;

    internal void RoundDone() => MutexRounds++;

    internal void ThreadFinished()
    {
        if (++_finished == _threads.Count)
        {
            CompletedAt = Kernel.Kvm.Sim.Now.Ns;
            _onAllDone?.Invoke();
        }
    }
}

/// <summary>The steps of <see cref="SysbenchThread"/>; the lock steps carry the mutex's index as their argument.</summary>
internal enum SysbenchStep
{
    /// <summary><c>lll_lock</c>'s <c>lock cmpxchg</c> 0 → 1 on the mutex; failing that, <c>__lll_lock_wait</c>.</summary>
    LockTry,

    /// <summary>Woken from FUTEX_WAIT in <c>__lll_lock_wait</c>: the <c>xchg</c> of 2 again.</summary>
    LockWait,

    /// <summary><c>lll_unlock</c>'s <c>lock decl</c> on the mutex; <c>__lll_unlock_wake</c> if there may be waiters.</summary>
    Unlock,

    /// <summary><c>threads_get_request</c> (under the global mutex): the next request's lock, or none left.</summary>
    GetRequest,

    /// <summary>A request executed to the end: one event.</summary>
    EventDone,

    /// <summary><c>rand() % mutex_num</c> (under glibc's random lock): the mutex of this round.</summary>
    PickMutex,

    /// <summary>A sched_yield of the threads test returned.</summary>
    YieldDone,

    /// <summary>A lock round of the mutex test is done (global_var incremented).</summary>
    RoundDone,
}

/// <summary>One sysbench worker thread: <c>runner_thread</c>'s request loop on glibc low-level locks.</summary>
internal sealed class SysbenchThread : ScriptedProgram<SysbenchStep>
{
    // The lock steps' argument: a test mutex's index, or one of these (Current: the one rand() picked).
    private const int Current = MaxArg;
    private const int RequestIdx = MaxArg - 1;
    private const int RandomIdx = MaxArg - 2;

    private readonly Sysbench _b;
    private readonly GuestCosts _c;
    private int _state;        // 0: get a request; 1: executing it; 2: finished
    private int _lockNum;      // the request's mutex (threads) / rand()'s pick (mutex)
    private long _i;           // rounds done in this request

    public SysbenchThread(Sysbench bench, GuestCosts costs)
    {
        _b = bench;
        _c = costs;
    }

    private SysbenchSettings S => _b.Settings;

    private PthreadMutex Mutex(int idx) => idx switch
    {
        Current => _b.TestMutexes[_lockNum],
        RequestIdx => _b.RequestMutex,
        RandomIdx => _b.RandomLock,
        _ => _b.TestMutexes[idx],
    };

    private void EmitLock(int idx)
    {
        Emit(GuestAction.Compute(_c.LockAcquire.Ns, userMode: true)); // lock cmpxchg
        Emit(SysbenchStep.LockTry, idx);
    }

    private void EmitUnlock(int idx)
    {
        Emit(GuestAction.Compute(_c.LockRelease.Ns, userMode: true)); // lock decl
        Emit(SysbenchStep.Unlock, idx);
    }

    protected override void Plan(GuestThread thread)
    {
        switch (_state)
        {
            case 0:
                if (S.Test == SysbenchTest.Threads)
                {
                    // threads_get_request: under the global mutex.
                    EmitLock(RequestIdx);
                    Emit(SysbenchStep.GetRequest);
                    EmitUnlock(RequestIdx);
                }
                else
                {
                    // mutex_get_request needs no lock; each thread performs one request (execute returns 1).
                    _state = 1;
                    _i = 0;
                }
                if (_state == 0)
                    _state = 1; // the request's outcome is known once GetRequest ran
                return;
            case 1:
                if (_lockNum < 0)
                {
                    Finish();
                    return;
                }
                if (S.Test == SysbenchTest.Threads)
                {
                    if (_i < S.ThreadYields)
                    {
                        _i++;
                        EmitLock(_lockNum);
                        Emit(GuestAction.Compute(_c.Syscall.Ns));
                        Emit(GuestAction.YieldCpu);
                        Emit(SysbenchStep.YieldDone);
                        EmitUnlock(_lockNum);
                        return;
                    }
                    Emit(SysbenchStep.EventDone);
                    _state = 0;
                    return;
                }
                if (_i < S.MutexLocks)
                {
                    _i++;
                    // current_lock = rand() % mutex_num: random() under glibc's lock.
                    EmitLock(RandomIdx);
                    Emit(GuestAction.Compute(S.RandomR.Ns, userMode: true));
                    Emit(SysbenchStep.PickMutex);
                    EmitUnlock(RandomIdx);
                    long loop = (long)(S.MutexLoops * S.LoopIterationNs);
                    if (loop > 0)
                        Emit(GuestAction.Compute(loop, userMode: true));
                    EmitLock(Current);
                    Emit(GuestAction.Compute(1, userMode: true)); // global_var++
                    Emit(SysbenchStep.RoundDone);
                    EmitUnlock(Current);
                    return;
                }
                Emit(SysbenchStep.EventDone);
                _lockNum = -1;
                return;
            default:
                Emit(GuestAction.Exit);
                return;
        }
    }

    private void Finish()
    {
        _state = 2;
        _b.ThreadFinished();
        Emit(GuestAction.Exit);
    }

    // Every step comes with its argument (see below); this overload is not reached.
    protected override void Run(GuestThread thread, SysbenchStep step) =>
        throw new InvalidOperationException($"{nameof(SysbenchThread)} runs {step} with its argument");

    protected override void Run(GuestThread thread, SysbenchStep step, int idx)
    {
        switch (step)
        {
            case SysbenchStep.LockTry:
            {
                var m = Mutex(idx);
                if (m.TryLock(out bool sawWaiters))
                    return;
                // __lll_lock_wait: a word already at 2 waits first; otherwise xchg 2 first.
                if (sawWaiters)
                    EmitNow(GuestAction.FutexWait(m.Word, 2), GuestAction.Compute(_c.LockAcquire.Ns, userMode: true), Call(SysbenchStep.LockWait, idx));
                else
                    LockWait(m, idx);
                return;
            }
            case SysbenchStep.LockWait:
                LockWait(Mutex(idx), idx);
                return;
            case SysbenchStep.Unlock:
            {
                // __lll_unlock_wake: the word goes to 0, then one waiter is woken.
                var m = Mutex(idx);
                if (m.Unlock())
                    EmitNow(GuestAction.FutexWake(m.Word, 1));
                return;
            }
            case SysbenchStep.GetRequest:
                _lockNum = _b.GetThreadsRequest();
                _i = 0;
                return;
            case SysbenchStep.PickMutex:
                _lockNum = _b.RandomMutex();
                return;
            case SysbenchStep.YieldDone:
                _b.YieldDone();
                return;
            case SysbenchStep.RoundDone:
                _b.RoundDone();
                return;
            case SysbenchStep.EventDone:
                _b.EventDone();
                return;
        }
    }

    /// <summary>The <c>xchg</c> of 2 in <c>__lll_lock_wait</c>'s loop: 0 back means the lock is ours; else FUTEX_WAIT(word, 2) and again.</summary>
    private void LockWait(PthreadMutex m, int idx)
    {
        if (!m.ExchangeTwo())
            EmitNow(GuestAction.FutexWait(m.Word, 2), GuestAction.Compute(_c.LockAcquire.Ns, userMode: true), Call(SysbenchStep.LockWait, idx));
    }
}

using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>How the two threads of a ping-pong pair hand the token over.</summary>
public enum PingPongTransport
{
    /// <summary>One byte through a pipe each way (perf bench sched pipe).</summary>
    Pipe,

    /// <summary>Store to the peer's futex word and FUTEX_WAKE it, then FUTEX_WAIT on one's own word.</summary>
    Futex,
}

/// <summary>
/// Parameters of the ping-pong (context-switch / request-response) microbenchmark: perf's
/// tools/perf/bench/sched-pipe.c (two tasks, two pipes, one int each way, <c>-l</c> loops; reported as
/// usecs/op) and the futex wake/wait variants used to measure halt polling. The path costs are
/// assumptions (guest CPU time); a system call's entry and exit is <c>guest.costs.syscall</c>.
/// </summary>
public sealed record PingPongSettings
{
    public PingPongTransport Transport { get; init; } = PingPongTransport.Pipe;

    /// <summary>Independent pairs of threads (perf bench sched pipe runs one).</summary>
    public int Pairs { get; init; } = 1;

    /// <summary>Round trips per pair; 0 = until the run's duration. perf bench sched pipe's default <c>-l</c> is 1000000.</summary>
    public long Loops { get; init; } = 1_000_000;

    /// <summary>Both threads of a pair on VCPU 0 (true) or on VCPUs 0 and 1 (false); pair p uses VCPUs 2p, 2p+1 (mod the VCPU count).</summary>
    public bool SameCpu { get; init; }

    /// <summary>User-mode work before each message (0: perf bench's bare loop).</summary>
    public long UserWorkNs { get; init; }

    /// <summary>pipe_write's path besides the syscall entry and the i_mutex: page-buffer bookkeeping and the 1-byte copy. Assumption.</summary>
    public long PipeWriteNs { get; init; } = 1100;

    /// <summary>pipe_read's path besides the syscall entry and the i_mutex: the copy and releasing the page buffer. Assumption.</summary>
    public long PipeReadNs { get; init; } = 800;

    /// <summary>The benchmark's own loop and the futex word's atomic, per message, in user mode. Assumption.</summary>
    public long UserLoopNs { get; init; } = 50;

    /// <summary>PAGE_SIZE: a pipe page buffer takes appended bytes until it is full (2.6.39 pipe_write's merge).</summary>
    public int PageSize { get; init; } = 4096;

    /// <summary>Bytes per message: sched-pipe.c writes one int.</summary>
    public int MessageBytes { get; init; } = 4;
}

/// <summary>
/// <c>pairs</c> × 2 guest threads handing a token back and forth. Thread 0 of a pair sends then
/// waits for the reply; thread 1 waits then replies (sched-pipe.c worker_thread). A round trip is
/// thread 0 getting its reply; the run ends when every pair has done <c>loops</c> of them.
/// <para>
/// Pipe transport (2.6.39 fs/pipe.c): <c>pipe_write</c> takes the inode's i_mutex (a kernel mutex,
/// <see cref="GuestMutex"/>), appends to the last page buffer when bytes are already queued (no
/// wake-up) or fills a fresh one and, after unlocking, wakes <c>pipe->wait</c>
/// (<c>wake_up_interruptible_sync_poll</c>). <c>pipe_read</c> takes the mutex, and if the pipe is
/// empty sleeps on <c>pipe->wait</c> (<c>pipe_wait</c>: prepare_to_wait, unlock, schedule, relock);
/// otherwise it empties the buffer, releases it and, after unlocking, wakes <c>pipe->wait</c> for
/// writers (a walk of the queue under its lock even when nobody sleeps there). Readers and writers
/// share <c>pipe->wait</c>; a pipe never fills here (one message in flight), so only its reader sleeps.
/// </para>
/// <para>
/// Futex transport: the sender sets the peer's word to 1 (user space) and calls FUTEX_WAKE on it;
/// the receiver loops <c>while (word == 0) FUTEX_WAIT(word, 0)</c> and clears it — the kernel's
/// futex_wait_setup re-reads the word under the bucket lock, so no wake-up is lost (<see cref="Futex"/>).
/// </para>
/// </summary>
public sealed class PingPong
{
    private readonly GuestKernel _k;
    private readonly Action? _onAllDone;
    private int _pairsDone;

    public PingPong(GuestKernel kernel, PingPongSettings settings, Action? onAllDone = null)
    {
        _k = kernel;
        Settings = settings;
        _onAllDone = onAllDone;
        int cpus = kernel.Cpus.Length;
        Pairs = new Pair[settings.Pairs];
        for (int p = 0; p < settings.Pairs; p++)
        {
            // Each pair is one process (sched-pipe.c: threaded or forked; one mm for both here, so a
            // futex is private to the pair's mm).
            int mm = p + 1;
            var pair = new Pair(this, p, kernel, settings, mm);
            Pairs[p] = pair;
            int cpu0 = settings.SameCpu ? p % cpus : (2 * p) % cpus;
            int cpu1 = settings.SameCpu ? cpu0 : ((2 * p) + 1) % cpus;
            kernel.CreateThread($"pp{p}.ping", pair.Ping, cpu0, pinned: true, mm: mm);
            kernel.CreateThread($"pp{p}.pong", pair.Pong, cpu1, pinned: true, mm: mm);
        }
    }

    public PingPongSettings Settings { get; }

    internal Pair[] Pairs { get; }

    internal long Now => _k.Kvm.Sim.Now.Ns;

    /// <summary>A system call's entry and exit (guest.costs.syscall), charged once per read() and write().</summary>
    internal long SyscallNs => _k.Settings.Costs.Syscall.Ns;

    /// <summary>Round trips completed, all pairs.</summary>
    public long RoundTrips { get; internal set; }

    /// <summary>Messages delivered (two per round trip, plus a half-done trip).</summary>
    public long Messages { get; internal set; }

    /// <summary>Times a receiver found nothing to take: a pipe_wait, or a FUTEX_WAIT call (which may still return EWOULDBLOCK).</summary>
    public long ReceiverSleeps { get; internal set; }

    /// <summary>When the last pair finished (ns since the start), or -1.</summary>
    public long CompletedAt { get; private set; } = -1;

    /// <summary>Round trips of pair <paramref name="p"/>.</summary>
    public long RoundTripsOf(int p) => Pairs[p].Ping.Done;

    internal void PairDone()
    {
        if (++_pairsDone == Pairs.Length)
        {
            CompletedAt = Now;
            _onAllDone?.Invoke();
        }
    }

    /// <summary>One direction of a pair: a pipe or the receiver's futex word.</summary>
    internal sealed class Channel
    {
        public Channel(GuestKernel k, string name, PingPongSettings s, int mm, long address)
        {
            if (s.Transport == PingPongTransport.Pipe)
            {
                Mutex = k.NewMutex(name + ".i_mutex");
                Wait = k.NewWaitQueue(name + ".pipe.wait");
                Wait.Reserve(2);
            }
            else
            {
                Word = k.NewFutex(name + ".futex", mm, address, maxWaiters: 2);
            }
        }

        // Pipe: i_mutex, pipe->wait, the bytes queued in the current page buffer, sleepers on pipe->wait.
        public readonly GuestMutex? Mutex;
        public readonly WaitQueue? Wait;
        public int Bytes;
        public int Sleepers;

        // Futex: the receiver's word.
        public readonly Futex? Word;
    }

    internal sealed class Pair
    {
        public Pair(PingPong pp, int index, GuestKernel k, PingPongSettings s, int mm)
        {
            // sched-pipe.c: pipe_1 carries ping → pong, pipe_2 pong → ping.
            var toPong = new Channel(k, $"pp{index}.1", s, mm, 0x1000);
            var toPing = new Channel(k, $"pp{index}.2", s, mm, 0x1040);
            Ping = new PingPongThread(pp, this, toPong, toPing, initiator: true);
            Pong = new PingPongThread(pp, this, toPing, toPong, initiator: false);
        }

        public PingPongThread Ping { get; }
        public PingPongThread Pong { get; }
    }
}

/// <summary>The steps of <see cref="PingPongThread"/>.</summary>
internal enum PingPongStep
{
    /// <summary>Pipe, under i_mutex: the byte goes into a page buffer (a fresh one wakes pipe->wait after the unlock).</summary>
    PipeWrite,

    /// <summary>Pipe, after the writer's unlock: wake the reader sleeping on pipe->wait, if any.</summary>
    PipeWriteWake,

    /// <summary>Pipe, under i_mutex: take the byte, or sleep on pipe->wait (pipe_wait) and retry.</summary>
    PipeRead,

    /// <summary>Pipe, after the reader's unlock: the buffer was released, wake pipe->wait (writers); the message is received.</summary>
    PipeReadDone,

    /// <summary>Futex: store 1 into the peer's word (user space), before FUTEX_WAKE.</summary>
    FutexPost,

    /// <summary>Futex: check one's own word; clear it and go on, or FUTEX_WAIT on it and check again.</summary>
    FutexCheck,
}

/// <summary>sched-pipe.c worker_thread: the initiator writes then reads, its peer reads then writes, <c>loops</c> times.</summary>
internal sealed class PingPongThread : ScriptedProgram<PingPongStep>
{
    private readonly PingPong _pp;
    private readonly PingPong.Channel _tx;
    private readonly PingPong.Channel _rx;
    private readonly bool _initiator;
    private bool _finished;
    private bool _wake;

    public PingPongThread(PingPong pp, PingPong.Pair pair, PingPong.Channel tx, PingPong.Channel rx, bool initiator)
    {
        _pp = pp;
        _tx = tx;
        _rx = rx;
        _initiator = initiator;
        _ = pair;
    }

    /// <summary>Iterations completed (for the initiator: round trips).</summary>
    public long Done { get; private set; }

    protected override void Plan(GuestThread thread)
    {
        var s = _pp.Settings;
        if (s.Loops > 0 && Done >= s.Loops)
        {
            if (!_finished)
            {
                _finished = true;
                if (_initiator)
                    _pp.PairDone();
            }
            Emit(GuestAction.Exit);
            return;
        }
        if (_initiator)
        {
            PlanSend(s);
            PlanReceive(s);
        }
        else
        {
            PlanReceive(s);
            PlanSend(s);
        }
    }

    private void PlanSend(PingPongSettings s)
    {
        Emit(GuestAction.Compute(s.UserLoopNs + s.UserWorkNs, userMode: true));
        if (s.Transport == PingPongTransport.Pipe)
        {
            // write(): entry, mutex_lock(&inode->i_mutex), the buffer, mutex_unlock, then the wake-up.
            Emit(GuestAction.Compute(_pp.SyscallNs));
            Emit(GuestAction.MutexLock(_tx.Mutex!));
            Emit(PingPongStep.PipeWrite);
            Emit(GuestAction.Compute(s.PipeWriteNs));
            Emit(GuestAction.MutexUnlock(_tx.Mutex!));
            Emit(PingPongStep.PipeWriteWake);
        }
        else
        {
            // The futex call itself charges guest.costs.syscall (GuestCpu).
            Emit(PingPongStep.FutexPost);
            Emit(GuestAction.FutexWake(_tx.Word!, 1));
        }
    }

    private void PlanReceive(PingPongSettings s)
    {
        Emit(GuestAction.Compute(s.UserLoopNs, userMode: true));
        if (s.Transport == PingPongTransport.Pipe)
        {
            Emit(GuestAction.Compute(_pp.SyscallNs));
            Emit(GuestAction.MutexLock(_rx.Mutex!));
            Emit(PingPongStep.PipeRead);
        }
        else
        {
            Emit(PingPongStep.FutexCheck);
        }
    }

    protected override void Run(GuestThread thread, PingPongStep step)
    {
        var s = _pp.Settings;
        switch (step)
        {
            case PingPongStep.PipeWrite:
                // pipe_write: merge into the last buffer if bytes are queued and it has room, else a new buffer (do_wakeup).
                _wake = _tx.Bytes == 0 || _tx.Bytes + s.MessageBytes > s.PageSize;
                _tx.Bytes += s.MessageBytes;
                break;
            case PingPongStep.PipeWriteWake:
                if (_wake)
                    WakePipe(_tx);
                _wake = false;
                break;
            case PingPongStep.PipeRead:
                if (_rx.Bytes == 0)
                {
                    // pipe_wait: on pipe->wait before the unlock (the writer signals after its own unlock,
                    // so a wake-up between our unlock and schedule() is kept as pending, not lost).
                    _pp.ReceiverSleeps++;
                    _rx.Sleepers++;
                    EmitNow(GuestAction.MutexUnlock(_rx.Mutex!), GuestAction.Wait(_rx.Wait!), GuestAction.MutexLock(_rx.Mutex!), Call(PingPongStep.PipeRead));
                    return;
                }
                // The buffer is emptied and released (do_wakeup).
                _rx.Bytes -= s.MessageBytes;
                EmitNow(GuestAction.Compute(s.PipeReadNs), GuestAction.MutexUnlock(_rx.Mutex!), Call(PingPongStep.PipeReadDone));
                break;
            case PingPongStep.PipeReadDone:
                WakePipe(_rx);
                Received();
                break;
            case PingPongStep.FutexPost:
                _tx.Word!.Value = 1;
                break;
            case PingPongStep.FutexCheck:
                if (_rx.Word!.Value == 0)
                {
                    _pp.ReceiverSleeps++;
                    EmitNow(GuestAction.FutexWait(_rx.Word, 0), Call(PingPongStep.FutexCheck));
                    return;
                }
                _rx.Word.Value = 0;
                Received();
                break;
        }
    }

    /// <summary>A message is taken: for the initiator that ends a round trip.</summary>
    private void Received()
    {
        _pp.Messages++;
        Done++;
        if (_initiator)
            _pp.RoundTrips++;
    }

    /// <summary>wake_up_interruptible_sync_poll(&amp;pipe->wait): wake the sleeper, or just walk the empty queue under its lock.</summary>
    private void WakePipe(PingPong.Channel c)
    {
        if (c.Sleepers > 0)
        {
            c.Sleepers--;
            EmitNow(GuestAction.Signal(c.Wait!));
        }
        else
        {
            EmitNow(GuestAction.Acquire(c.Wait!.Lock), GuestAction.Release(c.Wait.Lock));
        }
    }
}

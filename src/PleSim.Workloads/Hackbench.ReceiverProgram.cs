using PleSim.Guest;

// hackbench.c receiver(): the read path, over an AF_UNIX stream socket (2.6.39
// unix_stream_recvmsg, unix_stream_data_wait, sock_wfree -> unix_write_space) or a pipe
// (fs/pipe.c pipe_read under the inode mutex).

namespace PleSim.Workloads;

/// <summary>The steps of <see cref="ReceiverProgram"/>.</summary>
internal enum ReceiverStep
{
    /// <summary>Socket, under unix_state_lock: dequeue an skb, or sleep until one is queued.</summary>
    Check,

    /// <summary>Socket, under the receive-queue lock: the skb is taken off the queue; the message is read.</summary>
    Dequeue,

    /// <summary>Socket: the skb is freed (sock_wfree), waking the sleeping senders once the socket is writable.</summary>
    Free,

    /// <summary>Pipe: take the pipe's mutex, or sleep on it and retry.</summary>
    MutexTry,

    /// <summary>Pipe, under the mutex: read from the first page buffer, or sleep on pipe->wait while the pipe is empty.</summary>
    PipeRead,

    /// <summary>Pipe: the read is done (or the reader goes to sleep): wake pipe->wait if a buffer was released, unlock.</summary>
    PipeDone,
}

/// <summary>hackbench.c receiver(): read one message at a time until it has <c>fds × loops</c>.</summary>
internal sealed class ReceiverProgram : ScriptedProgram<ReceiverStep>, IFrontEmitter
{
    private readonly Hackbench hb;
    private readonly Hackbench.Receiver r;
    private readonly WakeAll _wakeAll;

    public ReceiverProgram(Hackbench hb, Hackbench.Receiver r)
    {
        this.hb = hb;
        this.r = r;
        _wakeAll = new WakeAll(this);
    }

    private long _got;
    private bool _done;
    private bool _doWakeup;

    void IFrontEmitter.Now(in GuestAction a) => EmitNow(a);

    public long Got => _got;

    protected override void Plan(GuestThread thread)
    {
        if (_got >= hb.Settings.PacketsPerReceiver)
        {
            if (!_done)
            {
                _done = true;
                hb.ReceiverDone();
            }
            Emit(GuestAction.Exit);
            return;
        }
        Emit(GuestAction.Compute(hb.Settings.UserPerMessageNs, userMode: true));
        if (hb.Settings.Ipc == HackbenchIpc.Socket)
        {
            // mutex_lock(&u->readlock): one reader per socket, the fast path.
            Emit(GuestAction.Compute(hb.Settings.MutexFastNs));
            Emit(GuestAction.Acquire(r.StateLock!));
            Emit(ReceiverStep.Check);
        }
        else
        {
            Emit(ReceiverStep.MutexTry);
            Emit(ReceiverStep.PipeRead);
        }
    }

    protected override void Run(GuestThread thread, ReceiverStep step)
    {
        var s = hb.Settings;
        switch (step)
        {
            case ReceiverStep.Check:
                // Under unix_state_lock(sk): an skb, or unix_stream_data_wait (prepare_to_wait under
                // the same lock the sender queues under, so no wake-up is lost).
                if (r.Queued == 0)
                {
                    hb.ReceiverSleeps++;
                    r.ReaderSleeping = true;
                    EmitNow(GuestAction.Release(r.StateLock!), GuestAction.Wait(r.ReadWq), GuestAction.Acquire(r.StateLock!), Call(ReceiverStep.Check));
                    return;
                }
                EmitNow(
                    GuestAction.Acquire(r.QueueLock!),
                    GuestAction.Compute(s.QueueOpNs),
                    Call(ReceiverStep.Dequeue),
                    GuestAction.Release(r.QueueLock!),
                    GuestAction.Release(r.StateLock!),
                    GuestAction.Compute(s.ReadFixedNs + hb.CopyNs),
                    Call(ReceiverStep.Free));
                break;
            case ReceiverStep.Dequeue:
                r.Queued--;
                _got++;
                hb.Received++;
                break;
            case ReceiverStep.Free:
            {
                // consume_skb → sock_wfree → unix_write_space: wake the senders once writable.
                r.WmemAlloc -= s.TrueSize;
                if (r.WritersSleeping > 0 && r.WmemAlloc * 4 <= s.SndBuf)
                {
                    int n = r.WritersSleeping;
                    r.WritersSleeping = 0;
                    _wakeAll.Start(r.WriteWq, n);
                }
                break;
            }
            case ReceiverStep.MutexTry:
                PipeMutex.Lock(hb, this, r, thread, Call(ReceiverStep.MutexTry));
                break;
            case ReceiverStep.PipeRead:
                if (r.NrBufs == 0)
                {
                    // Empty (writers remain): pipe_wait.
                    hb.ReceiverSleeps++;
                    r.PipeSleepers++;
                    _doWakeup = false;
                    EmitNow(Call(ReceiverStep.PipeDone), GuestAction.Wait(r.ReadWq), Call(ReceiverStep.MutexTry), Call(ReceiverStep.PipeRead));
                    return;
                }
                r.Lens![r.CurBuf] -= s.DataSize;
                _doWakeup = false;
                if (r.Lens[r.CurBuf] <= 0)
                {
                    // The buffer is empty: released, curbuf advances, do_wakeup.
                    r.Lens[r.CurBuf] = 0;
                    r.CurBuf = (r.CurBuf + 1) % s.PipeBuffers;
                    r.NrBufs--;
                    _doWakeup = true;
                }
                r.Queued--;
                _got++;
                hb.Received++;
                EmitNow(GuestAction.Compute(s.ReadFixedNs + hb.CopyNs), Call(ReceiverStep.PipeDone));
                break;
            case ReceiverStep.PipeDone:
            {
                int n = _doWakeup ? r.PipeSleepers : 0;
                if (n > 0)
                {
                    r.PipeSleepers = 0;
                    _wakeAll.Start(r.WriteWq, n);
                }
                PipeMutex.Unlock(hb, this, r);
                break;
            }
        }
    }
}

using PleSim.Guest;

// hackbench.c sender(): the write path, over an AF_UNIX stream socket (2.6.39
// unix_stream_sendmsg: sock_alloc_send_skb, the receive-queue lock, sk_data_ready) or a pipe
// (fs/pipe.c pipe_write under the inode mutex).

namespace PleSim.Workloads;

/// <summary>The steps of <see cref="Sender"/>.</summary>
internal enum SenderStep
{
    /// <summary>Socket: charge an skb to the sending socket, or sleep until there is room (sock_alloc_send_pskb).</summary>
    Alloc,

    /// <summary>Socket, under the receive-queue lock: the skb is on the receiver's queue.</summary>
    Enqueue,

    /// <summary>Socket: sk_data_ready, waking the reader if it sleeps; the message is sent.</summary>
    DataReady,

    /// <summary>Pipe: take the pipe's mutex, or sleep on it and retry.</summary>
    MutexTry,

    /// <summary>Pipe, under the mutex: write into a page buffer, or sleep on pipe->wait while all are full.</summary>
    PipeWrite,

    /// <summary>Pipe: the write is done (or the writer goes to sleep): wake pipe->wait if a buffer was added, unlock.</summary>
    PipeDone,
}

/// <summary>hackbench.c sender(): for each loop, write one message to each receiver of the group.</summary>
internal sealed class Sender : ScriptedProgram<SenderStep>, IFrontEmitter
{
    private readonly Hackbench hb;
    private readonly int group;
    private readonly WakeAll _wakeAll;

    public Sender(Hackbench hb, int group)
    {
        this.hb = hb;
        this.group = group;
        _wakeAll = new WakeAll(this);
    }

    private long _loop;
    private int _j;
    private bool _doWakeup;
    private bool _sleeping;

    void IFrontEmitter.Now(in GuestAction a) => EmitNow(a);

    private Hackbench.Receiver Target => hb.Receivers[(group * hb.Settings.Fds) + _j];

    protected override void Plan(GuestThread thread)
    {
        if (_loop >= hb.Settings.Loops)
        {
            Emit(GuestAction.Exit);
            return;
        }
        Emit(GuestAction.Compute(hb.Settings.UserPerMessageNs, userMode: true));
        if (hb.Settings.Ipc == HackbenchIpc.Socket)
        {
            Emit(SenderStep.Alloc);
        }
        else
        {
            Emit(SenderStep.MutexTry);
            Emit(SenderStep.PipeWrite);
        }
    }

    private void Advance()
    {
        hb.Sent++;
        if (++_j == hb.Settings.Fds)
        {
            _j = 0;
            _loop++;
        }
    }

    protected override void Run(GuestThread thread, SenderStep step)
    {
        var s = hb.Settings;
        var r = Target;
        switch (step)
        {
            case SenderStep.Alloc:
                // sock_alloc_send_pskb: room while sk_wmem_alloc < sk_sndbuf; else sock_wait_for_wmem.
                if (r.WmemAlloc >= s.SndBuf)
                {
                    hb.SenderSleeps++;
                    r.WritersSleeping++;
                    EmitNow(GuestAction.Wait(r.WriteWq), Call(SenderStep.Alloc));
                    return;
                }
                r.WmemAlloc += s.TrueSize; // skb_set_owner_w
                EmitNow(
                    GuestAction.Compute(s.WriteFixedNs + hb.CopyNs),
                    GuestAction.Acquire(r.StateLock!),
                    GuestAction.Acquire(r.QueueLock!),
                    GuestAction.Compute(s.QueueOpNs),
                    Call(SenderStep.Enqueue),
                    GuestAction.Release(r.QueueLock!),
                    GuestAction.Release(r.StateLock!),
                    Call(SenderStep.DataReady));
                break;
            case SenderStep.Enqueue:
                r.Queued++;
                if (r.Queued > hb.MaxQueued)
                    hb.MaxQueued = r.Queued;
                break;
            case SenderStep.DataReady:
                // sock_def_readable: wq_has_sleeper → wake_up_interruptible_sync_poll. The woken
                // reader leaves the queue at once (autoremove_wake_function).
                bool wake = r.ReaderSleeping;
                r.ReaderSleeping = false;
                Advance();
                if (wake)
                    EmitNow(GuestAction.Signal(r.ReadWq));
                break;
            case SenderStep.MutexTry:
                PipeMutex.Lock(hb, this, r, thread, Call(SenderStep.MutexTry));
                break;
            case SenderStep.PipeWrite:
            {
                int last = (r.CurBuf + r.NrBufs - 1) % s.PipeBuffers;
                if (r.NrBufs > 0 && r.Lens![last] + s.DataSize <= s.PageSize)
                {
                    // pipe_write: merge into the last page buffer (anon_pipe_buf_ops can_merge); no wake-up.
                    r.Lens[last] += s.DataSize;
                    _doWakeup = false;
                }
                else if (r.NrBufs < s.PipeBuffers)
                {
                    // A new page buffer: do_wakeup.
                    r.Lens![(r.CurBuf + r.NrBufs) % s.PipeBuffers] = s.DataSize;
                    r.NrBufs++;
                    _doWakeup = true;
                }
                else
                {
                    // Full: pipe_wait — on pipe->wait (registered under the mutex), unlock, sleep, relock, retry.
                    hb.SenderSleeps++;
                    r.PipeSleepers++;
                    EmitNow(Call(SenderStep.PipeDone), GuestAction.Wait(r.WriteWq), Call(SenderStep.MutexTry), Call(SenderStep.PipeWrite));
                    _doWakeup = false;
                    _sleeping = true;
                    return;
                }
                r.Queued++;
                if (r.Queued > hb.MaxQueued)
                    hb.MaxQueued = r.Queued;
                EmitNow(GuestAction.Compute(s.WriteFixedNs + hb.CopyNs), Call(SenderStep.PipeDone));
                break;
            }
            case SenderStep.PipeDone:
            {
                bool sleeping = _sleeping;
                _sleeping = false;
                if (!sleeping)
                    Advance();
                // mutex_unlock, then (if a buffer was added) wake_up_interruptible_sync_poll(&pipe->wait).
                int n = _doWakeup ? r.PipeSleepers : 0;
                if (n > 0)
                {
                    r.PipeSleepers = 0;
                    _wakeAll.Start(r.ReadWq, n);
                }
                PipeMutex.Unlock(hb, this, r);
                break;
            }
        }
    }
}

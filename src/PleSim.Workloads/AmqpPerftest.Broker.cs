using PleSim.Engine;
using PleSim.Guest;

// The qpidd broker process (address space QpiddMm): worker threads on one shared epoll set with
// EPOLLONESHOT, reading the publisher connection into the queue (stage C) and writing the queue
// to the subscriber connection (stage D), with the heap trims that shoot down TLBs.

namespace PleSim.Workloads;

/// <summary>The steps of <see cref="BrokerWorker"/>.</summary>
internal enum BrokerStep
{
    /// <summary>Woken by epoll: take a ready connection and serve it.</summary>
    Pick,

    /// <summary>Messages read from the publisher connection: put them on the queue; arm the subscriber's write watch if the consumer is parked.</summary>
    Enqueue,

    /// <summary>After a read: read again while bytes wait and the read budget lasts, else re-arm the read watch.</summary>
    ReadMore,

    /// <summary>Under the epoll lock: arm the subscriber connection's write watch.</summary>
    ArmSubOut,

    /// <summary>Under the epoll lock: re-arm the publisher connection's read watch.</summary>
    RearmPubIn,

    /// <summary>Written to the client: the bytes arrive on the client's subscriber connection.</summary>
    DeliverSubIn,

    /// <summary>After a write: write again while messages are queued, else park the consumer (stop watching for writability).</summary>
    WriteMore,

    /// <summary>The socket had no space: try the write again.</summary>
    RetryWrite,
}

/// <summary>Stages C and D: a qpidd worker serving the connection epoll hands it (EPOLLONESHOT: one worker per connection).</summary>
internal sealed class BrokerWorker(AmqpPerftest m, int index) : ScriptedProgram<BrokerStep>
{
    private long _n;
    private long _readStarted;

    protected override void Plan(GuestThread thread)
    {
        Emit(GuestAction.Wait(m.BrokerEp.Wq));
        Emit(BrokerStep.Pick);
    }

    protected override void Run(GuestThread thread, BrokerStep step)
    {
        var s = m.Settings;
        switch (step)
        {
            case BrokerStep.Pick:
                var e = m.Take(m.BrokerEp);
                if (e == m.PubIn)
                {
                    _readStarted = m.Now;
                    ReadFromClient();
                }
                else if (e == m.SubOut)
                {
                    WriteToClient();
                }
                break;
            case BrokerStep.Enqueue:
                // Decoding allocated the messages in this worker's arena (malloc never trims).
                if (m.Heap is { } heap)
                {
                    heap.Enqueue(index, _n);
                    if (s.BatchScratchBytes > 0)
                        Trim(heap.Scratch(index, s.BatchScratchBytes));
                }
                m.QueueDepth += _n;
                m.Enqueued += _n;
                if (m.ConsumerParked)
                {
                    m.ConsumerParked = false;
                    EmitNow(
                        GuestAction.Acquire(m.BrokerEp.Lock),
                        GuestAction.Compute(s.EpollCtl.Ns),
                        Call(BrokerStep.ArmSubOut),
                        GuestAction.Release(m.BrokerEp.Lock));
                }
                break;
            case BrokerStep.ArmSubOut:
                m.SubOut.Armed = true;
                if (m.HasWork(m.SubOut) && m.MakeReady(m.SubOut))
                    EmitNow(GuestAction.SignalLocked(m.BrokerEp.Wq));
                break;
            case BrokerStep.ReadMore:
                if (m.BrokerRx > 0 && m.Now - _readStarted < s.BrokerReadBudget.Ns)
                {
                    ReadFromClient();
                }
                else
                {
                    EmitNow(
                        GuestAction.Acquire(m.BrokerEp.Lock),
                        GuestAction.Compute(s.EpollCtl.Ns),
                        Call(BrokerStep.RearmPubIn),
                        GuestAction.Release(m.BrokerEp.Lock));
                }
                break;
            case BrokerStep.RearmPubIn:
                m.PubIn.Armed = true;
                if (m.HasWork(m.PubIn) && m.MakeReady(m.PubIn))
                    EmitNow(GuestAction.SignalLocked(m.BrokerEp.Wq));
                break;
            case BrokerStep.DeliverSubIn:
                m.ClientRx += _n;
                if (m.MakeReady(m.SubIn))
                    EmitNow(GuestAction.Signal(m.ClientEp.Wq));
                break;
            case BrokerStep.RetryWrite:
                WriteToClient();
                break;
            case BrokerStep.WriteMore:
                if (m.QueueDepth > 0)
                    WriteToClient();
                else
                    m.ConsumerParked = true; // park the consumer, stop watching for writability
                break;
        }
    }

    /// <summary>Each heap_trim that shrank a heap: this thread's madvise, then the TLB shootdown, before what is planned.</summary>
    private void Trim(int trims)
    {
        for (int i = 0; i < trims; i++)
        {
            m.BrokerTrims++;
            EmitNow(GuestAction.Compute(m.Settings.Madvise.Ns), GuestAction.Shootdown(freedTables: false));
        }
    }

    private void ReadFromClient()
    {
        var s = m.Settings;
        long n = Math.Min(m.BrokerRx, m.MessagesPerBuffer);
        m.BrokerRx -= n;
        _n = n;
        var sock = m.PubIn;
        if (m.PubWriterWaiting && m.WriterMayResume(m.BrokerRx))
        {
            m.PubWriterWaiting = false;
            EmitNow(GuestAction.Signal(m.PubSockSpace));
        }
        EmitNow(
            GuestAction.Acquire(sock.Slock),
            GuestAction.Compute(s.SocketLockHold.Ns),
            GuestAction.Release(sock.Slock),
            GuestAction.Compute(m.ReadNs(n)),
            GuestAction.Compute(Math.Max(1, s.BrokerInPerMessage.Ns * n), userMode: true),
            Call(BrokerStep.Enqueue),
            Call(BrokerStep.ReadMore));
    }

    private void WriteToClient()
    {
        var s = m.Settings;
        if (m.QueueDepth == 0)
        {
            m.ConsumerParked = true;
            return;
        }
        long n = Math.Min(Math.Min(m.QueueDepth, m.MessagesPerBuffer), m.SocketLimitMessages - m.ClientRx);
        if (n <= 0)
        {
            m.SubWriterWaiting = true;
            EmitNow(GuestAction.Wait(m.SubSockSpace), Call(BrokerStep.RetryWrite));
            return;
        }
        m.QueueDepth -= n;
        _n = n;
        m.CountBatch(n);
        var rx = m.SubIn;
        EmitNow(
            GuestAction.Compute(s.BrokerOutPerMessage.Ns * n, userMode: true),
            GuestAction.Compute(m.WriteNs(n)),
            GuestAction.Acquire(rx.Slock),
            GuestAction.Compute(s.TcpReceive.Ns),
            GuestAction.Acquire(rx.WqLock),
            Call(BrokerStep.DeliverSubIn),
            GuestAction.Release(rx.WqLock),
            GuestAction.Release(rx.Slock),
            Call(BrokerStep.WriteMore));
        // The dequeued messages are released as they are encoded, before the write: each chunk
        // goes back to the arena that allocated it, and every heap_trim that shrinks a heap is a
        // madvise by this thread → TLB shootdown (EmitNow puts them in front of the batch).
        if (m.Heap is { } heap)
        {
            Trim(heap.Dequeue(n) + (s.BatchScratchBytes > 0 ? heap.Scratch(index, s.BatchScratchBytes) : 0));
        }
        else if (s.Allocator == BrokerAllocator.SummingWhatIf && s.HeapBytesPerMessage > 0)
        {
            // What-if (not glibc's rule): bytes freed are summed across writes, one trim per 64 KiB.
            m.FreedSinceTrim += n * s.HeapBytesPerMessage;
            if (m.FreedSinceTrim >= s.TrimFreeBytes)
            {
                m.FreedSinceTrim %= s.TrimFreeBytes;
                m.BrokerTrims++;
                EmitNow(GuestAction.Compute(s.Madvise.Ns), GuestAction.Shootdown(freedTables: false));
            }
        }
    }
}

using PleSim.Engine;
using PleSim.Guest;

// The qpid-perftest client process (address space PerftestMm): the publisher (stage A), the
// client I/O threads that write its messages to the broker and read the broker's replies
// (stages B and E, one shared epoll set), and the subscriber (stage F).

namespace PleSim.Workloads;

/// <summary>The steps of <see cref="Publisher"/>.</summary>
internal enum PublisherStep
{
    /// <summary>Below the buffer limit: encode a chunk of messages; else wait for space.</summary>
    CheckSpace,

    /// <summary>The chunk is encoded: count it and arm the write watch if it is off.</summary>
    Published,

    /// <summary>Under the epoll lock: arm the publisher connection's write watch (epoll_ctl MOD).</summary>
    ArmPubOut,
}

/// <summary>Stage A: the publisher encodes a message; when the write watch is off it arms it (epoll_ctl MOD), waking an I/O thread.</summary>
internal sealed class Publisher(AmqpPerftest m) : ScriptedProgram<PublisherStep>
{
    private long _k;

    protected override void Plan(GuestThread thread) => Emit(PublisherStep.CheckSpace);

    protected override void Run(GuestThread thread, PublisherStep step)
    {
        switch (step)
        {
            case PublisherStep.CheckSpace:
                if (m.PublisherOverLimit)
                {
                    m.PubWaiting = true;
                    EmitNow(GuestAction.Wait(m.PubSpace));
                }
                else
                {
                    // Encode up to a chunk of messages, stopping where the buffer limit is reached.
                    long room = Math.Max(1, (m.Settings.PublisherLimitBytes / m.WireBytes) - m.PubPending + 1);
                    _k = Math.Min(m.Settings.PublisherChunk, room);
                    EmitNow(GuestAction.Compute(m.Settings.PublishPerMessage.Ns * _k, userMode: true), Call(PublisherStep.Published));
                }
                break;
            case PublisherStep.Published:
                m.PubPending += _k;
                m.Published += _k;
                if (!m.PubWatch)
                {
                    m.PubWatch = true;
                    EmitNow(
                        GuestAction.Acquire(m.ClientEp.Lock),
                        GuestAction.Compute(m.Settings.EpollCtl.Ns),
                        Call(PublisherStep.ArmPubOut),
                        GuestAction.Release(m.ClientEp.Lock));
                }
                break;
            case PublisherStep.ArmPubOut:
                m.PubOut.Armed = true;
                if (m.HasWork(m.PubOut) && m.MakeReady(m.PubOut))
                    EmitNow(GuestAction.SignalLocked(m.ClientEp.Wq));
                break;
        }
    }
}

/// <summary>The steps of <see cref="ClientIo"/>.</summary>
internal enum ClientIoStep
{
    /// <summary>Woken by epoll: take a ready connection and serve it.</summary>
    Pick,

    /// <summary>Written to the broker: the bytes arrive on the broker's publisher connection.</summary>
    DeliverPubIn,

    /// <summary>After a write: wake the publisher if it waits for buffer space; write again while messages are pending, else drop the write watch.</summary>
    AfterPubWrite,

    /// <summary>Read from the broker: hand the messages to the subscriber.</summary>
    PushToSubscriber,

    /// <summary>Under the epoll lock: re-arm the subscriber connection's read watch.</summary>
    RearmSubIn,

    /// <summary>The socket had no space: try the write again.</summary>
    RetryWrite,
}

/// <summary>Stages B and E: a client I/O thread serving whichever connection epoll reports.</summary>
internal sealed class ClientIo(AmqpPerftest m) : ScriptedProgram<ClientIoStep>
{
    private long _n;

    protected override void Plan(GuestThread thread)
    {
        Emit(GuestAction.Wait(m.ClientEp.Wq));
        Emit(ClientIoStep.Pick);
    }

    protected override void Run(GuestThread thread, ClientIoStep step)
    {
        var s = m.Settings;
        switch (step)
        {
            case ClientIoStep.Pick:
                var e = m.Take(m.ClientEp);
                if (e == m.PubOut)
                    WriteToBroker();
                else if (e == m.SubIn)
                    ReadFromBroker();
                break;
            case ClientIoStep.DeliverPubIn:
                m.BrokerRx += _n;
                if (m.MakeReady(m.PubIn))
                    EmitNow(GuestAction.Signal(m.BrokerEp.Wq));
                break;
            case ClientIoStep.AfterPubWrite:
                if (m.PubWaiting && !m.PublisherOverLimit)
                {
                    m.PubWaiting = false;
                    EmitNow(GuestAction.Signal(m.PubSpace));
                }
                if (m.PubPending > 0)
                    WriteToBroker();
                else
                    m.PubWatch = false;
                break;
            case ClientIoStep.RetryWrite:
                WriteToBroker();
                break;
            case ClientIoStep.PushToSubscriber:
                m.SubQueued += _n;
                if (m.SubWaiting)
                {
                    m.SubWaiting = false;
                    EmitNow(GuestAction.Signal(m.SubQueue));
                }
                break;
            case ClientIoStep.RearmSubIn:
                m.SubIn.Armed = true;
                if (m.HasWork(m.SubIn) && m.MakeReady(m.SubIn))
                    EmitNow(GuestAction.SignalLocked(m.ClientEp.Wq));
                break;
        }
    }

    /// <summary>Encode up to a buffer of pending messages and write() it; the loopback delivers it to the broker under its socket locks.</summary>
    private void WriteToBroker()
    {
        var s = m.Settings;
        long n = Math.Min(Math.Min(m.PubPending, m.MessagesPerBuffer), m.SocketLimitMessages - m.BrokerRx);
        if (n <= 0)
        {
            // The broker's receive buffer is full: sk_stream_wait_memory until it reads.
            m.PubWriterWaiting = true;
            EmitNow(GuestAction.Wait(m.PubSockSpace), Call(ClientIoStep.RetryWrite));
            return;
        }
        m.PubPending -= n;
        _n = n;
        m.CountBatch(n);
        var rx = m.PubIn;
        EmitNow(
            GuestAction.Compute(s.ClientEncodePerMessage.Ns * n, userMode: true),
            GuestAction.Compute(m.WriteNs(n)),
            GuestAction.Acquire(rx.Slock),
            GuestAction.Compute(s.TcpReceive.Ns),
            GuestAction.Acquire(rx.WqLock),
            Call(ClientIoStep.DeliverPubIn),
            GuestAction.Release(rx.WqLock),
            GuestAction.Release(rx.Slock),
            Call(ClientIoStep.AfterPubWrite));
    }

    /// <summary>read() what the broker sent, decode it, and hand framesets to the subscriber; then re-arm.</summary>
    private void ReadFromBroker()
    {
        var s = m.Settings;
        long n = m.ClientRx;
        m.ClientRx = 0;
        _n = n;
        var sock = m.SubIn;
        if (m.SubWriterWaiting)
        {
            m.SubWriterWaiting = false;
            EmitNow(GuestAction.Signal(m.SubSockSpace));
        }
        EmitNow(
            GuestAction.Acquire(sock.Slock),
            GuestAction.Compute(s.SocketLockHold.Ns),
            GuestAction.Release(sock.Slock),
            GuestAction.Compute(m.ReadNs(n)),
            GuestAction.Compute(Math.Max(1, s.ClientDecodePerMessage.Ns * n), userMode: true),
            Call(ClientIoStep.PushToSubscriber),
            GuestAction.Acquire(m.ClientEp.Lock),
            GuestAction.Compute(s.EpollCtl.Ns),
            Call(ClientIoStep.RearmSubIn),
            GuestAction.Release(m.ClientEp.Lock));
    }
}

/// <summary>The steps of <see cref="Subscriber"/>.</summary>
internal enum SubscriberStep
{
    /// <summary>Take the queued messages and process them, or wait for some.</summary>
    Take,

    /// <summary>The messages are processed: count them.</summary>
    Received,
}

/// <summary>Stage F: the subscriber pops framesets and accounts messages; it sleeps on the queue's condition when empty.</summary>
internal sealed class Subscriber(AmqpPerftest m) : ScriptedProgram<SubscriberStep>
{
    private long _n;

    protected override void Plan(GuestThread thread) => Emit(SubscriberStep.Take);

    protected override void Run(GuestThread thread, SubscriberStep step)
    {
        if (step == SubscriberStep.Take)
        {
            if (m.SubQueued > 0)
            {
                _n = m.SubQueued;
                m.SubQueued = 0;
                EmitNow(GuestAction.Compute(m.Settings.SubscribePerMessage.Ns * _n, userMode: true), Call(SubscriberStep.Received));
            }
            else
            {
                m.SubWaiting = true;
                EmitNow(GuestAction.Wait(m.SubQueue));
            }
        }
        else
        {
            m.Received += _n;
        }
    }
}

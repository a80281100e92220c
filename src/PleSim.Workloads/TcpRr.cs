using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Workloads;

/// <summary>
/// Parameters of netperf's TCP_RR test (netperf 2.x src/nettest_bsd.c <c>send_tcp_rr</c>) run in a
/// guest against a netserver outside the host, over virtio-net with a vhost-net backend (decision
/// 0045). Guest path costs are guest CPU time and assumptions (ranges in the decision record); a
/// system call's entry and exit is <c>guest.costs.syscall</c>.
/// </summary>
public sealed record TcpRrSettings
{
    /// <summary>Concurrent netperf instances, one connection and one thread each (netperf runs one); stream s runs on VCPU s mod the VCPU count.</summary>
    public int Streams { get; init; } = 1;

    /// <summary>Transactions per stream; 0 = until the run's duration (netperf's <c>-l</c> time).</summary>
    public long Transactions { get; init; }

    /// <summary>netperf's own loop per transaction in user mode (send_tcp_rr: counters, the loop test). Assumption: 200 ns (100–500).</summary>
    public long UserLoopNs { get; init; } = 200;

    /// <summary>
    /// send(): <c>tcp_sendmsg</c> → <c>tcp_push</c> → <c>tcp_transmit_skb</c> → <c>ip_queue_xmit</c> →
    /// <c>dev_queue_xmit</c> → virtio-net <c>start_xmit</c> (<c>free_old_xmit_skbs</c>,
    /// <c>xmit_skb</c> → <c>virtqueue_add_outbuf</c>), besides the syscall entry and the notify exit.
    /// Assumption: 2 µs (1–4 µs).
    /// </summary>
    public long SendPathNs { get; init; } = 2000;

    /// <summary>
    /// recv() once data is queued: <c>tcp_recvmsg</c>'s copy (<c>skb_copy_datagram_iovec</c>),
    /// <c>tcp_rcv_space_adjust</c>, <c>tcp_cleanup_rbuf</c>, besides the syscall entry and the sleep.
    /// Assumption: 1 µs (0.5–2 µs).
    /// </summary>
    public long RecvPathNs { get; init; } = 1000;

    /// <summary>
    /// The receive interrupt's top half: irq entry (<c>do_IRQ</c>), <c>vring_interrupt</c> →
    /// <c>skb_recv_done</c> (<c>virtqueue_disable_cb</c>, <c>napi_schedule</c>), APIC EOI, irq exit
    /// before the softirq. Assumption: 500 ns (0.3–1 µs).
    /// </summary>
    public long HardIrqNs { get; init; } = 500;

    /// <summary>
    /// The NAPI poll per received packet (<c>net_rx_action</c> → <c>virtnet_poll</c> →
    /// <c>receive_buf</c> → <c>napi_gro_receive</c> → <c>netif_receive_skb</c> → <c>ip_rcv</c> →
    /// <c>tcp_v4_rcv</c> → <c>tcp_rcv_established</c> → <c>sk_data_ready</c>, the RX buffer refill),
    /// before the socket's wake-up. Assumption: 2 µs (1–4 µs).
    /// </summary>
    public long RxPacketNs { get; init; } = 2000;

    /// <summary>The poll's end: <c>napi_complete</c> + <c>virtqueue_enable_cb</c> and its re-check. Assumption: 200 ns (100–500).</summary>
    public long NapiCompleteNs { get; init; } = 200;

    /// <summary>The vhost-net device, its worker's placement and the network (wire, peer) behind it.</summary>
    public VhostNetSettings Vhost { get; init; } = new();
}

/// <summary>
/// netperf TCP_RR: each stream's thread sends a request and waits for the response, back to back.
/// One transaction, mechanistically (decision 0045): the thread's send() runs the TCP/IP transmit
/// path and puts the packet on the virtio-net TX ring; if vhost wants a notification it writes the
/// queue's notify address — an ioeventfd exit whose <c>eventfd_signal</c> wakes the vhost worker (a
/// host task) from the VCPU's CPU; recv() then sleeps on the socket's wait queue (<c>sk_wait_data</c>),
/// and the VCPU goes idle (HLT, and KVM's halt polling if on). The worker, once scheduled,
/// <c>handle_tx</c>es the packet to the wire; after the peer's time the response reaches the host's
/// NIC (an idle CPU there first exits idle), the host's receive path hands it to the tap socket,
/// which queues <c>handle_rx</c> and wakes the worker; <c>handle_rx</c> copies it into the guest's RX
/// ring and signals the irqfd: <c>kvm_vcpu_kick</c> wakes the halted VCPU (a host wake-up) or ends its
/// halt poll. The guest's interrupt schedules NAPI; the softirq processes the packet up to
/// <c>sk_data_ready</c>, which wakes the thread; recv() copies the data and returns.
/// </summary>
public sealed class TcpRr : IGuestIrqHandler
{
    private readonly GuestKernel _k;
    private readonly Action? _onAllDone;
    private readonly WaitQueue[] _sockets;
    private int _streamsDone;

    public TcpRr(GuestKernel kernel, TcpRrSettings settings, Action? onAllDone = null)
    {
        if (settings.Streams < 1)
            throw new ArgumentOutOfRangeException(nameof(settings), "tcp-rr needs at least one stream");
        _k = kernel;
        Settings = settings;
        _onAllDone = onAllDone;
        // One virtio-net device: its receive queue's MSI-X vector is routed to VCPU 0.
        Device = new VhostNet(kernel.Kvm, kernel.Name, kernel.Vm.Vcpus[0], Vectors.VirtioNetInput, settings.Vhost, maxInFlight: settings.Streams + 1);
        kernel.RequestIrq(Vectors.VirtioNetInput, this);
        int cpus = kernel.Cpus.Length;
        _sockets = new WaitQueue[settings.Streams];
        Streams = new TcpRrStream[settings.Streams];
        for (int s = 0; s < settings.Streams; s++)
        {
            // sk->sk_wq: the socket's wait queue (its lock is taken with interrupts off).
            _sockets[s] = kernel.NewWaitQueue($"netperf{s}.sk_wq");
            _sockets[s].Reserve(1);
            Streams[s] = new TcpRrStream(this, s, _sockets[s]);
            kernel.CreateThread($"netperf{s}", Streams[s], s % cpus, pinned: true, mm: s + 1);
        }
        Device.Start();
    }

    public TcpRrSettings Settings { get; }

    /// <summary>The vhost-net device and its worker.</summary>
    public VhostNet Device { get; }

    internal TcpRrStream[] Streams { get; }

    internal long Now => _k.Kvm.Sim.Now.Ns;

    internal long SyscallNs => _k.Settings.Costs.Syscall.Ns;

    /// <summary>Transactions completed, all streams.</summary>
    public long Transactions { get; internal set; }

    /// <summary>Sum of the transactions' latencies (send() called to recv() returned), ns.</summary>
    public long LatencySumNs { get; internal set; }

    /// <summary>Receive interrupts taken (top halves) and packets the NAPI poll processed.</summary>
    public long RxInterrupts { get; private set; }
    public long RxPolled { get; private set; }

    /// <summary>When the last stream finished its transactions (ns), or -1.</summary>
    public long CompletedAt { get; private set; } = -1;

    internal void StreamDone()
    {
        if (++_streamsDone == Streams.Length)
        {
            CompletedAt = Now;
            _onAllDone?.Invoke();
        }
    }

    // ------------------------------------------------------------------ the virtio-net receive interrupt (IGuestIrqHandler)

    long IGuestIrqHandler.HardIrqNs => Settings.HardIrqNs;

    /// <summary><c>skb_recv_done</c>: <c>virtqueue_disable_cb</c> and <c>napi_schedule</c> (NET_RX_SOFTIRQ raised).</summary>
    bool IGuestIrqHandler.OnHardIrq(GuestCpu cpu)
    {
        RxInterrupts++;
        Device.RxCallbacksEnabled = false;
        return true;
    }

    /// <summary>
    /// <c>virtnet_poll</c>, one packet per step: <c>virtqueue_get_buf</c>, the receive path, the
    /// socket's wake-up; when the ring is empty, <c>napi_complete</c> + <c>virtqueue_enable_cb</c>,
    /// whose re-check polls again if a buffer was used meanwhile (the budget of 64 is not modelled).
    /// </summary>
    void IGuestIrqHandler.SoftIrq(GuestCpu cpu)
    {
        if (Device.TryTakeRx(out int s))
        {
            RxPolled++;
            Streams[s].ResponseArrived();
            cpu.BottomHalf(this, Settings.RxPacketNs, _sockets[s], again: true);
            return;
        }
        Device.RxCallbacksEnabled = true;
        if (Device.RxPending)
        {
            Device.RxCallbacksEnabled = false; // virtqueue_enable_cb returned false: napi_schedule again
            cpu.BottomHalf(this, Settings.NapiCompleteNs, null, again: true);
            return;
        }
        cpu.BottomHalf(this, Settings.NapiCompleteNs, null, again: false);
    }
}

/// <summary>The steps of <see cref="TcpRrStream"/>.</summary>
internal enum TcpRrStep
{
    /// <summary>send() is called: the transaction starts.</summary>
    Start,

    /// <summary>start_xmit: the packet goes on the TX ring; notify if vhost asks for it.</summary>
    Xmit,

    /// <summary>recv() returns with the response: the transaction ends.</summary>
    Done,
}

/// <summary>One netperf TCP_RR stream: send(request), recv(response), <c>transactions</c> times.</summary>
internal sealed class TcpRrStream : ScriptedProgram<TcpRrStep>
{
    private readonly TcpRr _rr;
    private readonly int _index;
    private readonly WaitQueue _socket;
    private long _startedAt;
    private bool _finished;

    public TcpRrStream(TcpRr rr, int index, WaitQueue socket)
    {
        _rr = rr;
        _index = index;
        _socket = socket;
    }

    public long Done { get; private set; }

    /// <summary>Responses queued on the socket that recv() has not taken.</summary>
    public int Queued { get; private set; }

    internal void ResponseArrived() => Queued++;

    protected override void Plan(GuestThread thread)
    {
        var s = _rr.Settings;
        if (s.Transactions > 0 && Done >= s.Transactions)
        {
            if (!_finished)
            {
                _finished = true;
                _rr.StreamDone();
            }
            Emit(GuestAction.Exit);
            return;
        }
        Emit(GuestAction.Compute(s.UserLoopNs, userMode: true));
        Emit(TcpRrStep.Start);
        // send(): entry, the TCP/IP transmit path down to start_xmit.
        Emit(GuestAction.Compute(_rr.SyscallNs + s.SendPathNs));
        Emit(TcpRrStep.Xmit);
        // recv(): entry, then sk_wait_data on the socket's wait queue unless the response is already
        // there (a wake-up that came first is kept as pending), then the copy.
        Emit(GuestAction.Compute(_rr.SyscallNs));
        Emit(GuestAction.Wait(_socket));
        Emit(GuestAction.Compute(s.RecvPathNs));
        Emit(TcpRrStep.Done);
    }

    protected override void Run(GuestThread thread, TcpRrStep step)
    {
        switch (step)
        {
            case TcpRrStep.Start:
                _startedAt = _rr.Now;
                break;
            case TcpRrStep.Xmit:
                // virtqueue_kick: virtqueue_kick_prepare, then virtqueue_notify (an ioeventfd exit).
                if (_rr.Device.AddTx(_index))
                    EmitNow(GuestAction.Notify(_rr.Device));
                break;
            case TcpRrStep.Done:
                Queued--;
                Done++;
                _rr.Transactions++;
                _rr.LatencySumNs += _rr.Now - _startedAt;
                break;
        }
    }
}

using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;

namespace PleSim.Hypervisor;

/// <summary>
/// Costs and placement of a vhost-net device and the network behind it (decision 0045). The
/// per-packet work is host CPU time of the vhost worker thread; the peer's time is a delay.
/// </summary>
public sealed record VhostNetSettings
{
    /// <summary>
    /// <c>handle_tx</c> per packet (drivers/vhost/net.c, 4.2): <c>vhost_get_vq_desc</c>, the tap
    /// socket's <c>tun_sendmsg</c> → <c>tun_get_user</c> → <c>netif_rx_ni</c>, and the host stack up to
    /// the physical NIC's transmit (bridge, qdisc, driver). Assumption: 2 µs (range 1–4 µs).
    /// </summary>
    public SimDuration HandleTx { get; init; } = SimDuration.FromMicroseconds(2);

    /// <summary>
    /// <c>handle_rx</c> per packet: <c>peek_head_len</c>, <c>get_rx_bufs</c>, <c>tun_recvmsg</c>'s copy
    /// into the guest's buffers, <c>vhost_add_used_and_signal_n</c>. Assumption: 1.5 µs (range 1–3 µs).
    /// </summary>
    public SimDuration HandleRx { get; init; } = SimDuration.FromNanoseconds(1500);

    /// <summary>
    /// From the request leaving the host's NIC to the response reaching it: the wire both ways and
    /// the remote host (its NIC, TCP/IP stack and netserver). Assumption: 10 µs (range 5–30 µs;
    /// a back-to-back 10 GbE link with a bare-metal peer).
    /// </summary>
    public SimDuration Peer { get; init; } = SimDuration.FromMicroseconds(10);

    /// <summary>
    /// The host's receive path from the NIC's interrupt to the tap socket's <c>sk_data_ready</c>
    /// (driver NAPI poll, <c>netif_receive_skb</c>, bridge, <c>tun_net_xmit</c>), as a delay on the
    /// interrupted CPU (its CPU time is not charged). Assumption: 2 µs (range 1–4 µs).
    /// </summary>
    public SimDuration HostRx { get; init; } = SimDuration.FromMicroseconds(2);

    /// <summary>The host CPU the vhost worker is pinned to (-1: anywhere).</summary>
    public int WorkerCpu { get; init; } = -1;

    /// <summary>The host CPU the physical NIC's receive interrupt goes to (-1: the worker's CPU, or 0 if it is not pinned).</summary>
    public int NicIrqCpu { get; init; } = -1;
}

/// <summary>
/// A vhost-net device (drivers/vhost/net.c and vhost.c, Linux 4.2) between a guest's virtio-net
/// queue pair and a tap device, and the remote peer its packets go to. Its worker is a host task
/// (<c>vhost-&lt;pid&gt;</c>, <c>vhost_worker</c>): it sleeps until a work is queued
/// (<c>vhost_work_queue</c> → <c>wake_up_process</c>), runs the queued works in order and sleeps
/// again. Two works: <c>handle_tx_kick</c>, queued when the guest's notify reaches the TX
/// virtqueue's ioeventfd (<c>vhost_poll_wakeup</c>), and <c>handle_rx_net</c>, queued when a
/// packet reaches the tap socket. <c>handle_tx</c> turns guest notifications off while it runs
/// (<c>vhost_disable_notify</c>: the guest's <c>virtqueue_kick_prepare</c> sees
/// VRING_USED_F_NO_NOTIFY and does not exit) and on again when the ring is empty. <c>handle_rx</c>
/// signals the guest through the call eventfd, an irqfd (<see cref="Kvm.InjectMsi"/>), unless the
/// guest has turned its receive callbacks off (<c>virtqueue_disable_cb</c> while its NAPI poll is
/// scheduled: VRING_AVAIL_F_NO_INTERRUPT). A packet here is a stream id; allocation-free once built.
/// </summary>
public sealed class VhostNet : ITaskBody, IWorkDone, IIoEventFd
{
    private enum Work
    {
        None,
        Tx,
        Rx,
    }

    private readonly Kvm _kvm;
    private readonly HostScheduler _host;
    private readonly Vcpu _irqVcpu;
    private readonly int _vector;
    private readonly Ring<int> _txAvail;    // TX virtqueue: packets the guest added, not yet taken
    private readonly Ring<int> _wire;       // on the wire / at the peer, in order of their return
    private readonly Ring<long> _wireAt;    // when each returns to the host's NIC
    private readonly Ring<int> _nic;        // in the host's receive path
    private readonly Ring<long> _nicAt;     // when each reaches the tap socket
    private readonly Ring<int> _tapRx;      // the tap socket's receive queue
    private readonly Ring<int> _rxUsed;     // RX virtqueue: used buffers the guest has not taken
    private readonly Work[] _workList = new Work[2];
    private int _workHead, _workCount;
    private bool _txQueued, _rxQueued;
    private readonly HrTimer _wireTimer;
    private readonly HrTimer _nicTimer;
    private CpuWork _cpu = null!;
    private Work _running;
    private int _packet = -1;
    private long _nicFreeAt;

    /// <param name="irqVcpu">The VCPU the receive queue's MSI-X vector is routed to.</param>
    /// <param name="maxInFlight">Packets that can be in flight at once (the rings' capacity).</param>
    public VhostNet(Kvm kvm, string name, Vcpu irqVcpu, int vector, VhostNetSettings settings, int maxInFlight)
    {
        _kvm = kvm;
        _host = kvm.Host;
        _irqVcpu = irqVcpu;
        _vector = vector;
        Settings = settings;
        Name = name;
        int cap = Math.Max(1, maxInFlight);
        _txAvail = new Ring<int>(cap);
        _wire = new Ring<int>(cap);
        _wireAt = new Ring<long>(cap);
        _nic = new Ring<int>(cap);
        _nicAt = new Ring<long>(cap);
        _tapRx = new Ring<int>(cap);
        _rxUsed = new Ring<int>(cap);
        _wireTimer = new HrTimer(kvm.Sim, new Arrival(this), 0);
        _nicTimer = new HrTimer(kvm.Sim, new Arrival(this), 1);
        var affinity = settings.WorkerCpu >= 0 ? CpuMask.Of(settings.WorkerCpu) : (CpuMask?)null;
        Worker = _host.CreateTask($"vhost-{name}", this, 0, affinity);
    }

    public string Name { get; }
    public VhostNetSettings Settings { get; }

    /// <summary>The <c>vhost-&lt;pid&gt;</c> worker thread.</summary>
    public HostTask Worker { get; }

    /// <summary>TX virtqueue notifications are on (vhost_enable_notify): the guest's next add must notify.</summary>
    public bool TxNotifyEnabled { get; private set; } = true;

    /// <summary>The guest wants an interrupt for used RX buffers (virtqueue_enable_cb); off while its NAPI poll runs.</summary>
    public bool RxCallbacksEnabled { get; set; } = true;

    /// <summary>Counters: packets sent and received, notifications (ioeventfd signals), interrupts injected, works run, signals the guest suppressed.</summary>
    public long TxPackets, RxPackets, Notifies, Interrupts, Works, SuppressedSignals, NicIdleExits;

    /// <summary>Creates the worker (asleep until its first work); <c>vhost_dev_set_owner</c> → <c>kthread_create</c>.</summary>
    public void Start()
    {
        _cpu = new CpuWork(_host.Sim, Worker, this);
        int cpu = Settings.WorkerCpu >= 0 ? Settings.WorkerCpu : 0;
        _host.WakeUpNewTask(Worker, cpu);
    }

    /// <summary>The CPU the NIC's interrupt is handled on.</summary>
    private int NicCpu => Settings.NicIrqCpu >= 0 ? Settings.NicIrqCpu : Math.Max(0, Settings.WorkerCpu);

    // ------------------------------------------------------------------ guest driver side

    /// <summary>
    /// <c>virtqueue_add_outbuf</c> + <c>virtqueue_kick_prepare</c> (virtio-net <c>start_xmit</c>):
    /// the packet of <paramref name="stream"/> goes on the TX ring; true if the guest must notify
    /// (notifications are on), i.e. write the queue's notify address (an ioeventfd exit).
    /// </summary>
    public bool AddTx(int stream)
    {
        _txAvail.Push(stream);
        return TxNotifyEnabled;
    }

    /// <summary><c>virtqueue_get_buf</c> on the RX ring: the next received packet's stream, or false if none is used.</summary>
    public bool TryTakeRx(out int stream)
    {
        if (_rxUsed.Count == 0)
        {
            stream = -1;
            return false;
        }
        stream = _rxUsed.Pop();
        return true;
    }

    /// <summary>Used RX buffers are waiting (what <c>virtqueue_enable_cb</c>'s re-check sees).</summary>
    public bool RxPending => _rxUsed.Count > 0;

    // ------------------------------------------------------------------ ioeventfd → vhost_poll

    /// <summary>The TX queue's ioeventfd: <c>vhost_poll_wakeup</c> → <c>vhost_work_queue(handle_tx_kick)</c>.</summary>
    public void Signal(int cpu)
    {
        Notifies++;
        QueueWork(Work.Tx, cpu);
    }

    /// <summary><c>vhost_work_queue</c>: a work already queued is not queued again; the worker is woken from <paramref name="cpu"/>.</summary>
    private void QueueWork(Work w, int cpu)
    {
        ref bool queued = ref w == Work.Tx ? ref _txQueued : ref _rxQueued;
        if (queued)
            return;
        queued = true;
        _workList[(_workHead + _workCount) % _workList.Length] = w;
        _workCount++;
        if (Worker.State == TaskState.Interruptible && Worker.Started)
            _host.TryToWakeUp(Worker, cpu);
    }

    // ------------------------------------------------------------------ the worker (vhost_worker)

    public void OnRun(HostTask task, int cpu, bool switched)
    {
        if (_running == Work.None && !NextStep())
        {
            _host.Block(task);
            return;
        }
        _cpu.Resume();
    }

    public void OnStop(HostTask task, int cpu, StopReason reason) => _cpu.Pause();

    /// <summary>Starts the next packet of the running work, or the next work; false when there is nothing to do.</summary>
    private bool NextStep()
    {
        for (int guard = 0; guard < 4; guard++)
        {
            if (_running == Work.None)
            {
                if (_workCount == 0)
                    return false;
                _running = _workList[_workHead];
                _workHead = (_workHead + 1) % _workList.Length;
                _workCount--;
                // vhost_worker clears the work's queued bit before running it: a wake-up from now on queues it again.
                if (_running == Work.Tx)
                {
                    _txQueued = false;
                    TxNotifyEnabled = false; // handle_tx: vhost_disable_notify
                }
                else
                {
                    _rxQueued = false;
                }
                Works++;
            }
            if (_running == Work.Tx)
            {
                if (_txAvail.Count > 0)
                {
                    _packet = _txAvail.Pop();
                    _cpu.Start(Settings.HandleTx.Ns);
                    return true;
                }
                // The ring is empty: vhost_enable_notify; a packet added meanwhile would be seen by its re-check.
                TxNotifyEnabled = true;
            }
            else if (_tapRx.Count > 0)
            {
                _packet = _tapRx.Pop();
                _cpu.Start(Settings.HandleRx.Ns);
                return true;
            }
            _running = Work.None;
        }
        return false;
    }

    public void OnWorkDone(HostTask task)
    {
        int p = _packet;
        _packet = -1;
        if (_running == Work.Tx)
        {
            // tun_sendmsg … the NIC's transmit: the request is on the wire; the peer answers.
            TxPackets++;
            _wire.Push(p);
            _wireAt.Push(_host.Sim.Now.Ns + Settings.Peer.Ns);
            if (!_wireTimer.IsArmed)
                _wireTimer.Start(new SimTime(_wireAt.Peek()));
        }
        else
        {
            // vhost_add_used_and_signal_n → vhost_signal: the call eventfd (an irqfd) unless the guest suppressed it.
            RxPackets++;
            _rxUsed.Push(p);
            if (RxCallbacksEnabled)
            {
                Interrupts++;
                _kvm.InjectMsi(_irqVcpu, _vector, task.Cpu);
            }
            else
            {
                SuppressedSignals++;
            }
        }
        if (NextStep())
            return;
        _host.Block(task);
    }

    // ------------------------------------------------------------------ the wire and the host's receive path

    private void OnWireArrival()
    {
        // The response reaches the host's NIC: its interrupt goes to NicCpu. An idle CPU first
        // leaves its idle state (host.sched.idle_exit_latency); the receive path then takes HostRx.
        long now = _host.Sim.Now.Ns;
        while (_wireAt.Count > 0 && _wireAt.Peek() <= now)
        {
            _wireAt.Pop();
            int p = _wire.Pop();
            long start = now;
            if (_host.Rqs[NicCpu].IsIdle)
            {
                NicIdleExits++;
                start += _host.Tunables.IdleExitLatency.Ns;
            }
            long at = Math.Max(start + Settings.HostRx.Ns, _nicFreeAt);
            _nicFreeAt = at;
            _nic.Push(p);
            _nicAt.Push(at);
        }
        if (_wireAt.Count > 0)
            _wireTimer.Start(new SimTime(_wireAt.Peek()));
        if (_nicAt.Count > 0 && !_nicTimer.IsArmed)
            _nicTimer.Start(new SimTime(_nicAt.Peek()));
    }

    private void OnTapReceive()
    {
        // tun_net_xmit → sk_data_ready → vhost_poll_wakeup → vhost_work_queue(handle_rx_net), on NicCpu.
        long now = _host.Sim.Now.Ns;
        bool any = false;
        while (_nicAt.Count > 0 && _nicAt.Peek() <= now)
        {
            _nicAt.Pop();
            _tapRx.Push(_nic.Pop());
            any = true;
        }
        if (_nicAt.Count > 0)
            _nicTimer.Start(new SimTime(_nicAt.Peek()));
        if (any)
            QueueWork(Work.Rx, NicCpu);
    }

    private sealed class Arrival(VhostNet d) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg)
        {
            if (arg == 0)
                d.OnWireArrival();
            else
                d.OnTapReceive();
        }
    }

    /// <summary>A fixed-capacity FIFO (no allocation after construction).</summary>
    private sealed class Ring<T>(int capacity) where T : struct
    {
        private readonly T[] _a = new T[capacity];
        private int _head;
        public int Count { get; private set; }
        public T Peek() => _a[_head];

        public void Push(T v)
        {
            if (Count == _a.Length)
                throw new InvalidOperationException("vhost-net: more packets in flight than the rings hold");
            int i = _head + Count;
            _a[i >= _a.Length ? i - _a.Length : i] = v;
            Count++;
        }

        public T Pop()
        {
            T v = _a[_head];
            if (++_head == _a.Length)
                _head = 0;
            Count--;
            return v;
        }
    }
}

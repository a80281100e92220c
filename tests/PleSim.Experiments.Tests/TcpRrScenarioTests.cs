using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Hypervisor;

namespace PleSim.Experiments.Tests;

/// <summary>
/// The tcp-rr workload (netperf TCP_RR over virtio-net/vhost-net) and the idle guest's housekeeping
/// timers (decision 0045): parsing, the transaction's path against a hand-worked sum, what halt
/// polling saves, the vhost worker as a host task, the C0 metric's definition, the end of fixed
/// work, determinism, allocation-freedom. Runs use scenarios/workloads/*.yaml with a peer time
/// other than the catalog's; no published figure is asserted.
/// </summary>
public class TcpRrScenarioTests
{
    private static Scenario Rr(params string[] overrides) =>
        ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "workloads", "tcp-rr.yaml"), new[] { "vms[0].workload.vhost.peer=50us" }.Concat(overrides).Select(Override.Parse).ToList());

    private static Scenario Idle(params string[] overrides) =>
        HostScenarioTests.Shipped("workloads", "idle-timers.yaml", overrides);

    private static double M(RunResult r, string name) => r.Metrics.Single(kv => kv.Key == name).Value;

    private static RunResult Run(Scenario s, ulong seed = 1)
    {
        var r = Runner.RunOne(s, seed, new RunOptions());
        Assert.True(r.Error is null, r.Error);
        return r;
    }

    [Fact]
    public void The_keys_are_read_and_a_bad_value_is_a_located_error()
    {
        var s = Rr("vms[0].workload.streams=3", "vms[0].workload.transactions=500", "vms[0].workload.vhost.handle_tx=3us", "vms[0].workload.vhost.worker_cpu=0", "kvm.costs.ioeventfd_handler=700ns");
        var w = s.Vms[0].Workload.TcpRr;
        Assert.Equal("tcp-rr", s.Vms[0].Workload.Kind);
        Assert.Equal((3, 500L, 3000L, 0, 50_000L), (w.Streams, w.Transactions, w.Vhost.HandleTx.Ns, w.Vhost.WorkerCpu, w.Vhost.Peer.Ns));
        Assert.Equal(700, s.Kvm.Costs.IoEventFdHandler.Ns);

        var e = Assert.Throws<ScenarioException>(() => Rr("vms[0].workload.streams=0"));
        Assert.Contains("streams", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e2 = Assert.Throws<ScenarioException>(() => Rr("vms[0].workload.vhost.worker_cpu=2"));
        Assert.Contains("worker_cpu", e2.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e3 = Assert.Throws<ScenarioException>(() => Rr("vms[0].workload.vhost.wire=3us"));
        Assert.Contains("wire", e3.Diagnostics.Single().KeyPath, StringComparison.Ordinal);

        var t = Idle().Vms[0].Guest.Timers;
        Assert.Equal(2, t.Count);
        Assert.Equal(("vmstat_update", 1_000_000_000L, 2_000L), (t[0].Name, t[0].Period.Ns, t[0].Cost.Ns));
        var e4 = Assert.Throws<ScenarioException>(() => Idle("vms[0].guest.timers[1].cost=60ms"));
        Assert.Contains("cost", e4.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e5 = Assert.Throws<ScenarioException>(() => Idle("vms[0].guest.timers[1].name=vmstat_update"));
        Assert.Contains("timers", e5.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    /// <summary>
    /// The transaction's critical path with no halt polling, VCPU on CPU 0 and the worker (and the
    /// NIC's interrupt) on CPU 1, summed by hand from the scenario's parameters: send(), the notify
    /// exit, the idle CPU 1 woken for the worker (idle exit + switch), handle_tx, the peer, the NIC
    /// interrupt on idle CPU 1 (idle exit) and the host's receive path, the worker woken locally
    /// (switch), handle_rx, the halted VCPU woken on idle CPU 0 from CPU 1 (idle exit + switch), VM
    /// entry, the top half, the guest's idle exit, the NAPI poll of one packet, the socket wake-up
    /// (wait-queue lock, try_to_wake_up with the run-queue lock, enqueue), napi_complete,
    /// schedule() to the netperf thread, recv()'s copy.
    /// </summary>
    private static long HandWorkedNoPollNs(Scenario s)
    {
        var rr = s.Vms[0].Workload.TcpRr;
        var v = rr.Vhost;
        var g = s.Vms[0].Guest.Costs;
        var k = s.Kvm.Costs;
        long idleExit = s.Host.Sched.IdleExitLatency.Ns, sw = s.Host.Sched.ContextSwitchCost.Ns;
        long wake = g.LockAcquire.Ns + g.WakeupPath.Ns + g.LockAcquire.Ns + g.Enqueue.Ns + g.LockRelease.Ns + g.LockRelease.Ns;
        long schedule = g.LockAcquire.Ns + g.ContextSwitch.Ns + g.LockRelease.Ns;
        return g.Syscall.Ns + rr.SendPathNs
            + k.Exit.Ns + k.IoEventFdHandler.Ns
            + idleExit + sw + v.HandleTx.Ns + v.Peer.Ns
            + idleExit + v.HostRx.Ns + sw + v.HandleRx.Ns
            + idleExit + sw + k.Entry.Ns
            + rr.HardIrqNs + g.IdleExit.Ns + rr.RxPacketNs + wake + rr.NapiCompleteNs + schedule + rr.RecvPathNs;
    }

    [Fact]
    public void Without_polling_the_latency_is_the_sum_of_the_path_and_each_transaction_halts_and_wakes_the_vcpu_once()
    {
        var s = Rr("kvm.halt_poll_ns=0");
        var r = Run(s);
        double expectedUs = HandWorkedNoPollNs(s) / 1e3;
        double lat = M(r, "rr.tcp_rr_latency_us");
        // The guest's tick, when it lands while the VCPU is busy, adds a little; nothing else may.
        Assert.InRange(lat, expectedUs - 0.001, expectedUs + 0.2);
        Assert.Equal(1, M(r, "rr.vhost_notifies_per_transaction"), 3);
        Assert.Equal(1, M(r, "rr.virtio_net_interrupts_per_transaction"), 3);
        Assert.Equal(1, M(r, "rr.hlt_exits_per_transaction"), 2);
        Assert.True(double.IsNaN(M(r, "rr.kvm_halt_poll_success_rate")));
        // One stream, back to back: transactions per second and latency describe the same loop (+ netperf's user loop).
        double perTx = 1e6 / M(r, "rr.tcp_rr_transactions_per_second");
        Assert.InRange(perTx - lat, s.Vms[0].Workload.TcpRr.UserLoopNs / 1e3 - 0.05, s.Vms[0].Workload.TcpRr.UserLoopNs / 1e3 + 0.05);
        Assert.All(r.Metrics, kv => Assert.NotNull(MetricDefinitions.Of(kv.Key)));
    }

    [Fact]
    public void A_polling_vcpu_catches_the_interrupt_without_a_host_wakeup_and_saves_exactly_that_wakeup()
    {
        var none = Rr("kvm.halt_poll_ns=0");
        var poll = Rr("kvm.halt_poll_ns=200000"); // 4.2: a fixed window, longer than the VCPU's idle time
        double latNone = M(Run(none), "rr.tcp_rr_latency_us");
        var rp = Run(poll);
        double latPoll = M(rp, "rr.tcp_rr_latency_us");
        long saved = poll.Host.Sched.IdleExitLatency.Ns + poll.Host.Sched.ContextSwitchCost.Ns;
        Assert.InRange(latNone - latPoll, saved / 1e3 - 0.1, saved / 1e3 + 0.1);
        Assert.Equal(1, M(rp, "rr.kvm_halt_poll_success_rate"), 3);
        Assert.Equal(1, M(rp, "rr.hlt_exits_per_transaction"), 2); // the guest still halts: only the host's schedule-out is saved
        Assert.True(M(rp, "rr.host_c0_share") > 0.99, "the polling VCPU keeps its CPU in C0");

        // The same in the model's own counters: every irqfd kick found the VCPU polling, none woke it.
        var model = new SystemRun(poll, 1);
        model.Sim.RunUntil(new SimTime(50_000_000));
        var vcpu = model.Vms[0].Vm.Vcpus[0];
        long tx = model.Vms[0].TcpRr!.Transactions;
        Assert.True(tx > 500, $"{tx} transactions");
        Assert.InRange(vcpu.Stats.WakeFromHalt, 0, 2);
        Assert.InRange(vcpu.Stats.HaltPollSuccessful, tx - 2, tx + 2);
    }

    [Fact]
    public void The_adaptive_window_grows_until_it_catches_the_response()
    {
        // 4.3: the per-VCPU window starts at 0 and grows (10 us, then doubling) while halts are short.
        var r = Run(Rr("kvm.version=4.3", "kvm.halt_poll_ns=400000"));
        Assert.True(M(r, "rr.kvm_halt_poll_success_rate") > 0.95, $"success {M(r, "rr.kvm_halt_poll_success_rate")}");
        var model = new SystemRun(Rr("kvm.version=4.3", "kvm.halt_poll_ns=400000"), 1);
        model.Sim.RunUntil(new SimTime(20_000_000));
        long window = model.Vms[0].Vm.Vcpus[0].HaltPollNs;
        Assert.True(window is >= 40_000 and <= 400_000, $"window {window} ns"); // 10, 20, 40, 80 us … past the ~60 us halt
    }

    [Fact]
    public void The_vhost_worker_is_a_host_task_on_its_cpu_that_runs_handle_tx_and_handle_rx_per_transaction()
    {
        var s = Rr("vms[0].workload.transactions=400", "duration=1s", "warmup=0");
        var model = new SystemRun(s, 1);
        model.Sim.RunUntil(new SimTime(1_000_000_000));
        var rr = model.Vms[0].TcpRr!;
        var d = rr.Device;
        Assert.Equal(400, rr.Transactions);
        Assert.Equal((400L, 400L, 400L, 400L), (d.TxPackets, d.RxPackets, d.Notifies, d.Interrupts));
        var worker = d.Worker;
        Assert.Equal(1, worker.Cpu);
        Assert.True(worker.AllowedOn(1) && !worker.AllowedOn(0));
        var v = s.Vms[0].Workload.TcpRr.Vhost;
        // Woken once for the request (the ioeventfd) and once for the response (the tap socket).
        Assert.Equal(800, worker.NrWakeups);
        // Its CPU time: handle_tx and handle_rx per transaction, and the host's context switch into
        // it at each wake-up (charged to the incoming task), plus its first run after creation.
        Assert.Equal(400 * (v.HandleTx.Ns + v.HandleRx.Ns) + 801 * s.Host.Sched.ContextSwitchCost.Ns, worker.CpuTimeNs);
        Assert.Equal(800, d.Works);
    }

    [Theory]
    [InlineData("0", "1")]      // two VCPUs sharing host CPU 0, the worker on CPU 1
    [InlineData("0-1", "2")]    // a VCPU per CPU: the softirq on VCPU 0 wakes streams on VCPU 1 with an IPI
    public void Fixed_transactions_end_the_run_and_every_stream_does_its_own(string affinity, string workerCpu)
    {
        var s = Rr("vms[0].workload.streams=3", "vms[0].workload.transactions=200", "vms[0].vcpus=2", $"vms[0].affinity={affinity}", "host.cpus=3",
            $"vms[0].workload.vhost.worker_cpu={workerCpu}", $"vms[0].workload.vhost.nic_irq_cpu={workerCpu}", "duration=2s", "kvm.version=4.3", "kvm.halt_poll_ns=400000");
        var model = new SystemRun(s, 3);
        model.Sim.Invariants.Enable(97);
        model.Sim.RunUntil(new SimTime(2_000_000_000));
        var vm = model.Vms[0];
        var rr = vm.TcpRr!;
        Assert.True(vm.HasFixedWork && vm.Finished);
        Assert.Equal(rr.CompletedAt, model.Sim.Now.Ns);
        Assert.Equal(600, rr.Transactions);
        Assert.Equal(600, rr.RxPolled);
        Assert.Equal(600, rr.Device.RxPackets);
        Assert.All(vm.Kernel.Threads, t => Assert.Equal(PleSim.Guest.ThreadState.Done, t.State));
        // Several responses in flight: NAPI takes some in one poll, with the device's interrupt suppressed meanwhile.
        Assert.Equal(rr.Device.RxPackets, rr.Device.Interrupts + rr.Device.SuppressedSignals);
        Assert.True(rr.RxInterrupts <= rr.Device.Interrupts);
    }

    [Fact]
    public void Same_seed_same_metrics()
    {
        var s = Rr("vms[0].workload.streams=2", "kvm.version=4.3", "kvm.halt_poll_ns=400000", "duration=100ms", "warmup=10ms");
        var a = Run(s, 7);
        var b = Run(s, 7);
        Assert.Equal(a.Metrics, b.Metrics);
    }

    [Fact]
    public void The_steady_state_allocates_nothing()
    {
        var s = Rr("vms[0].workload.streams=2", "kvm.version=4.3", "kvm.halt_poll_ns=400000");
        var (bytes, events) = SteadyState.Measure(new SystemRun(s, 1), 20_000_000, 60_000_000);
        Assert.True(events > 10_000, $"{events} events");
        Assert.Equal(0, bytes);
        var (b2, e2) = SteadyState.Measure(new SystemRun(Idle(), 1), 1_500_000_000, 3_500_000_000);
        Assert.True(e2 > 50, $"{e2} events");
        Assert.Equal(0, b2);
    }

    [Fact]
    public void A_tickless_idle_guest_without_timers_never_wakes_and_its_cpus_stay_out_of_c0()
    {
        var r = Run(Idle("vms[0].guest.timers=[]"));
        Assert.Equal(0, M(r, "idle.host_c0_share"));
        // No guest.timers: no timer metric at all (rather than a zero that looks measured).
        Assert.DoesNotContain(r.Metrics, kv => kv.Key == "idle.guest_timer_expiries_per_second");
    }

    [Fact]
    public void Timer_expiries_are_reported_for_an_unpinned_vm_too()
    {
        // Guest timers do not depend on pinning: without vms[].affinity there is no C0 metric, but
        // the expiries are still counted (1/s + 20/s per VCPU, two VCPUs).
        var path = HostScenarioTests.Repo("scenarios", "workloads", "idle-timers.yaml");
        var text = File.ReadAllText(path).Replace("    affinity: 0-1\n", "", StringComparison.Ordinal);
        Assert.DoesNotContain("affinity:", text, StringComparison.Ordinal);
        var r = Run(ScenarioLoader.LoadText(text, path, [Override.Parse("duration=2s")]));
        Assert.DoesNotContain(r.Metrics, kv => kv.Key == "idle.host_c0_share");
        Assert.Equal(2 * 21, M(r, "idle.guest_timer_expiries_per_second"), 1);
    }

    [Fact]
    public void Each_timer_expiry_wakes_the_halted_vcpu_once_and_c0_is_the_pinned_cpus_busy_share()
    {
        var s = Idle("duration=4s");
        var r = Run(s);
        // Per VCPU: 1/s + 20/s (vmstat_update, example_50ms); two VCPUs.
        Assert.Equal(2 * 21, M(r, "idle.guest_timer_expiries_per_second"), 1);
        var model = new SystemRun(s, 1);
        model.Sim.RunUntil(new SimTime(3_000_000_000));
        foreach (var v in model.Vms[0].Vm.Vcpus)
        {
            var c = model.Vms[0].Kernel.Cpus[v.Index];
            // Every expiry was a wake-up from HLT by the APIC timer (both timers expire together once a second).
            Assert.InRange(v.Stats.Halts, c.TimerExpiries - 3 * 2 - 2, c.TimerExpiries + 2);
        }
        // The metric is the cpus table's utilisation of the pinned CPUs: busy time (any task) over the window.
        double busy = r.Cpus.Where(c => (long)c["cpu"]! is 0 or 1).Sum(c => (double)c["utilisation"]!) / 2;
        Assert.Equal(busy, M(r, "idle.host_c0_share"), 12);
        Assert.Equal(100 * busy, M(r, "idle.host_c0_percent"), 10);
        Assert.True(busy > 0);

        // The periodic tick (no nohz) wakes the VCPU every tick instead: far more C0.
        var tick = Run(Idle("vms[0].guest.tickless_idle=false", "vms[0].guest.hz=250", "duration=2s"));
        Assert.True(M(tick, "idle.host_c0_share") > 5 * M(r, "idle.host_c0_share"));
        // KVM halt polling keeps the CPU in C0 after each wake-up for the fixed window.
        var poll = Run(Idle("kvm.halt_poll_ns=100000", "duration=2s"));
        Assert.InRange(M(poll, "idle.host_c0_share") - M(r, "idle.host_c0_share"), 21 * 100e-6 * 0.95, 21 * 100e-6 * 1.1);
    }
}

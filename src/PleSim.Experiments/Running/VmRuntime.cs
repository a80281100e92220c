using PleSim.Engine;
using PleSim.Experiments.Scenarios;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Experiments.Running;

/// <summary>One VM as built for a run: the KVM VM, its guest kernel and its workload, and its counters.</summary>
public sealed class VmRuntime : IDisposable
{
    public VmRuntime(SystemRun run, VmSettings settings, Kvm kvm, TaskGroup group)
    {
        Settings = settings;
        var host = run.Host;
        _host = host;
        var affinity = settings.Affinity?.Mask ?? host.Topology.AllMask;
        Vm = kvm.CreateVm(settings.Name, settings.Vcpus, affinity, group, settings.VcpuAffinity?.Select(c => c.Mask).ToArray());
        Kernel = new GuestKernel(kvm, Vm, settings.Guest, run.Streams);
        var w = settings.Workload;
        switch (w.Kind)
        {
            case "hog":
                for (int i = 0; i < w.Loops; i++)
                {
                    var hog = new GuestHog();
                    Hogs.Add(hog);
                    Kernel.CreateThread($"loop{i}", hog, i, pinned: true);
                }
                break;
            case "amqp-perftest":
                Amqp = new AmqpPerftest(Kernel, w.Amqp);
                break;
            case "lock-bench":
            {
                // The microbenchmark's locks are plain spin_lock (interrupts stay on), or kernel mutexes (lock_type: mutex).
                var lk = w.LockType == "mutex" ? [] : Enumerable.Range(0, w.Locks).Select(i => Kernel.NewLock($"bench.lock{i}")).ToArray();
                var rng = run.Streams.Get($"vm.{settings.Name}.lockbench");
                long hold = w.Hold.Ns, think = w.Think.Ns;
                var mx = w.LockType == "mutex" ? Enumerable.Range(0, w.Locks).Select(i => Kernel.NewMutex($"bench.mutex{i}")).ToArray() : null;
                for (int i = 0; i < w.Threads; i++)
                {
                    Func<long> thinkNs = () => Math.Max(1, rng.Exponential(new SimDuration(think)).Ns);
                    var loop = mx is null
                        ? new LockLoop(lk[i % lk.Length], () => hold, thinkNs, w.Iterations)
                        : new LockLoop(mx[i % mx.Length], () => hold, thinkNs, w.Iterations);
                    LockLoops.Add(loop);
                    Kernel.CreateThread($"bench{i}", loop, i % settings.Vcpus);
                }
                break;
            }
            case "boot-storm":
                BootStorm = new BootStorm(Kernel, w.Locks, w.Hold.Ns, w.Think.Ns, w.Iterations, FinishCallback(run));
                break;
            case "ebizzy":
                Ebizzy = new Ebizzy(Kernel, w.Ebizzy, mmId: 1, onAllDone: FinishCallback(run));
                break;
            case "kernbench":
                Kernbench = new Kernbench(Kernel, w.Kernbench, run.Streams.Get($"vm.{settings.Name}.kernbench"), FinishCallback(run));
                break;
            case "hackbench":
                // Like the boot storm, a fixed amount of work: the run ends when every message is delivered.
                Hackbench = new Hackbench(Kernel, w.Hackbench, FinishCallback(run));
                break;
            case "pingpong":
                // loops > 0: a fixed amount of work, the run ends when every pair has done its round trips.
                PingPong = new PingPong(Kernel, w.PingPong, FinishCallback(run, fixedWork: w.PingPong.Loops > 0));
                break;
            case "tcp-rr":
                // transactions > 0: a fixed amount of work, the run ends when every stream has done them.
                TcpRr = new TcpRr(Kernel, w.TcpRr, FinishCallback(run, fixedWork: w.TcpRr.Transactions > 0));
                break;
            case "dbench":
                // dbench runs for the scenario's duration (its -t); throughput is counted in the window.
                Dbench = new Dbench(Kernel, w.Dbench);
                break;
            case "dedup":
                // A fixed amount of work: the run ends when Reorder has written the last chunk.
                Dedup = new Dedup(Kernel, w.Dedup, run.Streams.Get($"vm.{settings.Name}.dedup"), FinishCallback(run));
                break;
            case "pbzip2":
                // A fixed amount of work: the run ends when fileWriter has written the last block.
                Pbzip2 = new Pbzip2(Kernel, w.Pbzip2, FinishCallback(run));
                break;
            case "sysbench":
                // sysbench exits when every thread is done (max-requests handed out, or the mutex test's one request each).
                Sysbench = new Sysbench(Kernel, w.Sysbench, run.Streams.Get($"vm.{settings.Name}.sysbench"), FinishCallback(run));
                break;
        }
        var phase = settings.Guest.RandomTickPhase
            ? new SimDuration(run.Streams.Get($"vm.{settings.Name}.tick_phase").NextInt((int)settings.Guest.TickPeriod.Ns))
            : SimDuration.Zero;
        Kernel.Start(phase);
    }

    public VmSettings Settings { get; }

    private readonly HostScheduler _host;

    /// <summary>
    /// The workload does a fixed amount of work and reports when it is done (<see cref="SystemRun.OnVmFinished"/>):
    /// set where the workload is given its finish callback, so the two cannot disagree.
    /// </summary>
    public bool HasFixedWork { get; private set; }

    /// <summary>The callback a workload calls when its work is done; marks this VM as one the run waits for.</summary>
    private Action FinishCallback(SystemRun run, bool fixedWork = true)
    {
        HasFixedWork = fixedWork;
        return () => run.OnVmFinished(this);
    }

    /// <summary>The workload has reported that it is done.</summary>
    public bool Finished { get; internal set; }
    public Vm Vm { get; }
    public GuestKernel Kernel { get; }
    public AmqpPerftest? Amqp { get; }
    public BootStorm? BootStorm { get; }
    public Ebizzy? Ebizzy { get; }
    public Kernbench? Kernbench { get; }
    public Hackbench? Hackbench { get; }
    public Sysbench? Sysbench { get; }
    public PingPong? PingPong { get; }
    public TcpRr? TcpRr { get; }
    public Dbench? Dbench { get; }
    public Dedup? Dedup { get; }
    public Pbzip2? Pbzip2 { get; }
    public List<GuestHog> Hogs { get; } = [];
    public List<LockLoop> LockLoops { get; } = [];
    public string Name => Settings.Name;

    /// <summary>Returns the workload's per-run arrays (see <see cref="PleSim.Engine.RunArrays{T}"/>); counters stay readable.</summary>
    public void Dispose() => Amqp?.Dispose();

    /// <summary>Every cumulative counter of this VM by name, so a window is reported as end minus start.</summary>
    /// <summary>The counter names of the spin-iteration histogram's buckets (decision 0046).</summary>
    internal static readonly string[] SpinIterationCounterNames =
        Enumerable.Range(0, GuestSpinLock.SpinIterationBuckets).Select(b => "lock_spin_iterations_log2." + b).ToArray();

    public Dictionary<string, double> Counters()
    {
        var c = new Dictionary<string, double>(StringComparer.Ordinal);
        void Add(string k, double v) => c[k] = c.GetValueOrDefault(k) + v;
        foreach (var v in Vm.Vcpus)
        {
            Add("cpu_ns", v.Task.CpuTimeNs);
            foreach (var cat in Enum.GetValues<VcpuTime>())
                Add("time." + TimeName(cat), v.TimeIn(cat));
            foreach (var cause in GroundTruth.Causes)
                Add("spin_ns." + GroundTruth.Name(cause), v.SpinTimeIn(cause));
            var s = v.Stats;
            Add("pause_exits", s.PauseExits);
            Add("hlt_exits", s.HltExits);
            Add("halts", s.Halts);
            Add("ipi_exits", s.IpiExits);
            Add("external_exits", s.ExternalExits);
            Add("userspace_exits", s.UserspaceExits);
            Add("interrupts", s.Interrupts);
            Add("kicks", s.Kicks);
            Add("wakes_from_halt", s.WakeFromHalt);
            Add("blocks_marked_preempted", s.BlocksMarkedPreempted);
            Add("irq_window_exits", s.IrqWindowExits);
            Add("halt_poll_attempts", s.HaltPollAttempts);
            Add("halt_poll_successful", s.HaltPollSuccessful);
            Add("halt_poll_ns", s.HaltPollNs);
            Add("halt_poll_ended_by_task", s.HaltPollEndedByTask);
            Add("lock_holder_preempted_ns", s.LockHolderPreemptedNs);
            Add("costops", s.CoStops);
            Add("gang_wait_ns", s.GangWaitNs);
            Add("host_migrations", v.Task.Se.NrMigrations);
            Add("host_yield_schedules", v.Task.NrYieldSchedules);
            Add("host_yields_kept_cpu", v.Task.NrYieldsKeptCpu);
            Add("host_stint_ns", v.Task.StintNs);
            Add("host_stint_ns_squared", v.Task.StintNsSquared);
            var pi = v.PiStats; // APICv posted interrupts (decision 0060), and the IPI delivery latency
            Add("pi.posted", pi.Posted);
            Add("pi.coalesced", pi.Coalesced);
            Add("pi.notifications", pi.Notifications);
            Add("pi.kicks", pi.Kicks);
            Add("pi.delivered_without_exit", pi.DeliveredWithoutExit);
            Add("pi.ipiv_sent", pi.IpivSent); // IPIv (decision 0066)
            Add("pi.ipiv_suppressed", pi.IpivSuppressed);
            Add("pi.ipiv_wakeups", pi.IpivWakeups);
            Add("ipis_taken", pi.IpisTaken);
            Add("ipi_latency_ns", pi.IpiLatencyNs);
            Add("ipis_taken_guest_mode", pi.IpisTakenFromGuestMode);
            Add("ipi_latency_guest_mode_ns", pi.IpiLatencyFromGuestModeNs);
        }
        var st = Vm.Stats;
        Add("split_ns", Vm.SplitNs(Kernel.Kvm.Sim.Now.Ns));
        Add("stacked_ns", Vm.StackedNs(Kernel.Kvm.Sim.Now.Ns));
        Add("yield_to_calls", st.YieldToCalls);
        Add("yield_to_hits", st.YieldToHits);
        foreach (var r in Enum.GetValues<YieldToResult>())
            Add("yield_to." + r, st.YieldToResults[(int)r]);
        Add("dy_walks", st.DirectedYieldWalks);
        Add("dy_walks_without_yield", st.WalksWithoutYield);
        Add("dy_candidates", st.CandidatesExamined);
        Add("dy_skipped_self", st.SkippedSelf);
        Add("dy_skipped_halted", st.SkippedWaitQueue);
        Add("dy_skipped_in_guest", st.SkippedInGuest);
        Add("dy_skipped_no_pid", st.SkippedNoPid);
        Add("dy_skipped_not_preempted", st.SkippedNotPreempted);
        Add("dy_skipped_ineligible", st.SkippedIneligible);
        Add("dy_skipped_user_mode", st.SkippedUserMode);
        Add("dy_user_mode_pending_interrupt", st.UserModePendingInterruptCandidates);
        Add("dy_skipped_by_filter", st.SkippedByFilter);
        Add("dy_skipped_woken_not_run", st.SkippedWokenNotRun); // 5.8+ rcuwait (decision 0097)
        Add("dy_blocking_dy_runnable", st.BlockingDyRunnableCandidates);
        Add("dy_walks_ended_before_pass1", st.WalksEndedBeforePass1); // 3.17–6.12 -ESRCH quirk (decision 0097)
        foreach (var label in GroundTruth.Labels)
            Add("yield_to_label." + GroundTruth.Name(label), st.YieldToLabels[(int)label]);
        foreach (var cause in GroundTruth.Causes)
            Add("pause_exits_by_cause." + GroundTruth.Name(cause), st.PauseExitsByCause[(int)cause]);
        Add("dy_rq_lock_wait_ns", st.RqLockWaitNs);
        if (Kernel.Kvm.Settings.KickYield)
        {
            // The kick yield (decision 0043): calls and how each ended.
            Add("kick_yields", st.KickYields);
            for (int o = 0; o < SchedYieldOutcomes.Count; o++)
                Add("kick_yield." + SchedYieldOutcomes.Name((SchedYieldOutcome)o), st.KickYieldOutcomes[o]);
        }
        if (Kernel.Settings.Spinlock == SpinlockKind.S390)
        {
            // s390 diag 9c (decision 0055): KVM's instruction_diagnose_9c and how each call ended.
            Add("diag9c_calls", st.Diag9cCalls);
            for (int o = 0; o < Diag9cOutcomes.Count; o++)
                Add("diag9c." + Diag9cOutcomes.Name((Diag9cOutcome)o), st.Diag9cOutcomes[o]);
            foreach (var g in Kernel.Cpus)
                Add("guest_diag9c_at_entry", g.Diag9cAtEntry);
            // s390 SIGP external calls and TLB flushes (decision 0055 addendum).
            foreach (var v in Vm.Vcpus)
            {
                Add("sigp_external_calls", v.Stats.SigpExternalCalls);
                Add("sigp_interpreted", v.Stats.SigpInterpreted);
                Add("sigp_busy", v.Stats.SigpBusy);
                Add("sigp_intercepts.inst", v.Stats.SigpInstIntercepts);
                Add("sigp_intercepts.partexec", v.Stats.SigpPeiIntercepts);
            }
            foreach (var g in Kernel.Cpus)
            {
                Add("guest_ec_calls_coalesced", g.EcCallsCoalesced);
                Add("guest_s390_tlb_flushes.lazy", g.S390TlbFlushesLazy);
                Add("guest_s390_tlb_flushes.global", g.S390TlbFlushesGlobal);
            }
        }
        if (Kernel.Kvm.Settings.IpiAwareYield)
        {
            // IPI-aware directed yield (decision 0052): tracking, EOI clearing, candidate tiers, relaxed walks.
            var ia = st.IpiAware;
            Add("ipi_aware.ipis_tracked", ia.IpisTracked);
            Add("ipi_aware.eois", ia.Eois);
            Add("ipi_aware.sender_pending_cleared", ia.SenderPendingCleared);
            Add("ipi_aware.tier.ipi_receiver", ia.Tiers[(int)YieldCandidateTier.IpiReceiver]);
            Add("ipi_aware.tier.pending_interrupt", ia.Tiers[(int)YieldCandidateTier.PendingInterrupt]);
            Add("ipi_aware.tier.preempted", ia.Tiers[(int)YieldCandidateTier.Preempted]);
            Add("ipi_aware.tier.rejected", ia.Tiers[(int)YieldCandidateTier.Rejected]);
            Add("ipi_aware.yields_to_ipi_receiver", ia.YieldsToIpiReceiver);
            Add("ipi_aware.relaxed_rounds", ia.RelaxedRounds);
            Add("ipi_aware.relaxed_skipped_not_preempted", ia.RelaxedSkippedNotPreempted);
            Add("ipi_aware.relaxed_yields", ia.RelaxedYields);
        }
        Add("ple_sleeps", st.PleSleeps);
        Add("plain_yields", st.PlainYields);
        Add("irqs_deferred", st.IrqsDeferred);
        Add("irq_deferred_ns", st.IrqDeferredNs);
        foreach (var cause in Enum.GetValues<LhpCause>())
            Add("lhp." + VmStats.LhpCauseName(cause), st.LockHolderPreemptions[(int)cause]);
        foreach (var l in Kernel.Locks)
        {
            Add("lock_acquisitions", l.Acquisitions);
            Add("lock_contended", l.Contended);
            Add("lock_spin_ns", l.SpinNs);
            Add("lock_hold_ns", l.HoldNs);
            Add("lock_holder_preempted_at_spin", l.HolderPreemptedAtSpin);
            Add("lock_handoffs_to_descheduled_waiter", l.HandoffsToDescheduledWaiter);
            Add("lock_stalled_on_descheduled_waiter_ns", l.StalledOnDescheduledWaiterNs);
            Add("lock_spin_behind_descheduled_waiter_ns", l.SpinBehindDescheduledWaiterNs);
            Add("lock_pv_halts", l.PvHalts);
            Add("lock_steals", l.Steals);
            Add("lock_pmtlock_timeouts", l.PreemptableTimeouts);
            Add("lock_out_of_order_acquisitions", l.OutOfOrderAcquisitions);
            Add("lock_line_handoffs", l.LineHandoffs);
            Add("lock_line_handoff_ns", l.LineHandoffNs);
            Add("lock_line_releases", l.LineReleases);
            Add("lock_line_readers_at_release", l.LineReadersAtRelease);
            Add("lock_line_stall_ns", l.LineStallNs);
            for (int bucket = 0; bucket < GuestSpinLock.SpinIterationBuckets; bucket++)
                Add(SpinIterationCounterNames[bucket], l.SpinIterationsLog2[bucket]);
        }
        foreach (var g in Kernel.Cpus)
        {
            Add("guest_switches", g.Switches);
            Add("guest_idle_halts", g.IdleHalts);
            Add("guest_pulls", g.Pulls);
            Add("guest_newidle_balances", g.NewIdleBalances);
            Add("guest_newidle_avg_idle_skips", g.NewIdleAvgIdleSkips);
            Add("guest_newidle_not_overloaded_skips", g.NewIdleNotOverloadedSkips);
            Add("guest_busy_balances", g.BusyBalances);
            Add("guest_busy_balance_imbalanced", g.BusyBalanceImbalanced);
            Add("guest_busy_balance_pulls", g.BusyBalancePulls);
            Add("guest_active_balances_not_modelled", g.ActiveBalancesNotModelled);
            Add("guest_resched_ipis", g.ReschedIpisSent);
            Add("guest_lazy_tlb_flushes", g.LazyTlbFlushes);
            Add("guest_lazy_tlb_skips", g.LazyTlbSkips);
            Add("guest_pv_kicks", g.PvKicksSent);
            Add("guest_pv_tlb_flush_skips", g.PvTlbFlushSkips);
            Add("guest_pv_sched_yields", g.PvSchedYieldsSent);
            Add("guest_shootdowns", g.Shootdowns);
            Add("guest_shootdown_ipis", g.ShootdownIpis);
            Add("guest_pv_send_ipis", g.PvSendIpisSent);
            Add("guest_pv_send_ipi_exits_saved", g.PvSendIpiExitsSaved);
            Add("guest_haltpolls", g.HaltPolls);
            Add("guest_haltpoll_hits", g.HaltPollHits);
            Add("guest_haltpoll_ns", g.HaltPollNs);
            Add("guest_polling_wakeups", g.PollingWakeups);
        }
        if (Amqp is { } a)
        {
            Add("amqp.published", a.Published);
            Add("amqp.received", a.Received);
            Add("amqp.enqueued", a.Enqueued);
            Add("amqp.batches", a.Batches);
            Add("amqp.batched_messages", a.BatchedMessages);
            Add("amqp.broker_trims", a.BrokerTrims);
            Add("amqp.broker_trimmed_bytes", a.Heap?.TrimmedBytes ?? 0);
            Add("amqp.broker_heap_trim_calls", a.Heap?.TrimAttempts ?? 0);
            Add("amqp.broker_arena_consolidations", a.Heap?.Consolidations ?? 0);
        }
        foreach (var h in Hogs)
            Add("hog.chunks", h.Chunks);
        foreach (var l in LockLoops)
            Add("lockbench.iterations", l.Iterations);
        if (BootStorm is { } b)
            Add("bootstorm.iterations", b.Iterations);
        if (Ebizzy is { } e)
        {
            Add("ebizzy.records", e.Records);
            AddMm(e.Mm, e.Zone);
            foreach (var t in e.Threads)
                Add("ebizzy.trims", t.Trims);
        }
        if (Kernbench is { } kb)
        {
            Add("kernbench.units", kb.Completed);
            AddMm(kb.MakeMm, kb.Zone);
            foreach (var cc in kb.Compilers)
                AddMm(cc.Mm, null);
        }
        if (Hackbench is { } hb)
        {
            Add("hackbench.sent", hb.Sent);
            Add("hackbench.received", hb.Received);
            Add("hackbench.sender_sleeps", hb.SenderSleeps);
            Add("hackbench.receiver_sleeps", hb.ReceiverSleeps);
            Add("hackbench.mutex_contended", hb.MutexContended);
        }
        if (PingPong is { } pp)
        {
            Add("pingpong.round_trips", pp.RoundTrips);
            Add("pingpong.messages", pp.Messages);
            Add("pingpong.receiver_sleeps", pp.ReceiverSleeps);
        }
        if (Settings.Affinity is { } aff)
        {
            // Busy time of the host CPUs the VM is pinned to (any task on them: C0), accounted up to now.
            _host.SyncAccounting();
            var m = aff.Mask;
            for (int cpu = m.First; cpu >= 0; cpu = m.Next(cpu + 1))
                Add("affinity_cpus_busy_ns", _host.Rqs[cpu].BusyNs);
        }
        if (Kernel.Settings.Timers.Count > 0)
        {
            foreach (var gc in Kernel.Cpus)
                Add("guest_timer_expiries", gc.TimerExpiries);
        }
        if (TcpRr is { } rr)
        {
            Add("tcp_rr.transactions", rr.Transactions);
            Add("tcp_rr.latency_ns", rr.LatencySumNs);
            Add("tcp_rr.rx_interrupts", rr.RxInterrupts);
            Add("vhost.notifies", rr.Device.Notifies);
            Add("vhost.interrupts", rr.Device.Interrupts);
            Add("vhost.works", rr.Device.Works);
        }
        foreach (var m in Kernel.Mutexes)
        {
            Add("mutex.acquisitions", m.Acquisitions);
            Add("mutex.spin_acquisitions", m.SpinAcquisitions);
            Add("mutex.slow_acquisitions", m.SlowAcquisitions);
            Add("mutex.sleeps", m.Sleeps);
            Add("mutex.spin_give_ups", m.SpinGiveUps);
            Add("mutex.spin_give_ups_vcpu_preempted", m.SpinGiveUpsVcpuPreempted);
        }
        foreach (var r in Kernel.RwSems)
        {
            // Only 4.19 rw_semaphores are listed (guest.rwsem: "4.19", decision 0050).
            Add("rwsem.spins", r.Spins);
            Add("rwsem.spin_skipped_reader_owned", r.SpinSkippedReaderOwned);
            Add("rwsem.spin_acquisitions", r.SpinAcquisitions);
            Add("rwsem.spin_steals", r.SpinSteals);
            Add("rwsem.spin_give_ups", r.SpinGiveUps);
            Add("rwsem.spin_give_ups_vcpu_preempted", r.SpinGiveUpsVcpuPreempted);
            Add("rwsem.writer_sleeps", r.WriterSleeps);
            Add("rwsem.writer_retries_lost", r.WriterRetriesLost);
            if (r.Rwsem53)
            {
                // 5.3 and 6.1 rw_semaphores (guest.rwsem: "5.3" / "6.1", decision 0057): reader spinning or stealing, the hand-off bit.
                Add("rwsem.reader_spins", r.ReaderSpins);
                Add("rwsem.reader_spin_acquisitions", r.ReaderSpinAcquisitions);
                Add("rwsem.reader_phase_trylocks", r.ReaderPhaseTrylocks);
                Add("rwsem.spin_skipped_nonspinnable", r.SpinSkippedNonspinnable);
                Add("rwsem.spin_skipped_owner_not_running", r.SpinSkippedOwnerNotRunning);
                Add("rwsem.spin_reader_owned_timeouts", r.SpinReaderOwnedTimeouts);
                Add("rwsem.handoffs_set_by_reader", r.HandoffsSetByReader);
                Add("rwsem.handoffs_set_by_writer", r.HandoffsSetByWriter);
                Add("rwsem.handoff_spins", r.HandoffSpins);
                Add("rwsem.reader_steals", r.ReaderSteals);
            }
        }
        foreach (var f in Kernel.Futexes)
        {
            Add("futex.wait_calls", f.WaitCalls);
            Add("futex.would_block", f.WouldBlock);
            Add("futex.wake_calls", f.WakeCalls);
            Add("futex.woken", f.Woken);
        }
        if (Dbench is { } db)
        {
            Add("dbench.bytes", db.Bytes);
            Add("dbench.ops", db.Ops);
        }
        if (Dedup is { } dd)
        {
            Add("dedup.written", dd.Written);
            Add("dedup.written_bytes", dd.WrittenBytes);
            Add("dedup.lookups", dd.Lookups);
            Add("dedup.unique", dd.Unique);
            Add("dedup.duplicates", dd.Duplicates);
            Add("dedup.bucket_contended", dd.BucketContended);
            Add("dedup.chunk_lock_contended", dd.ChunkLockContended);
            Add("dedup.chunk_cond_waits", dd.ChunkCondWaits);
            Add("dedup.queue_full_waits", dd.QueueFullWaits());
            Add("dedup.cross_thread_frees", dd.CrossThreadFrees);
            Add("dedup.cross_thread_locked_frees", dd.CrossThreadLockedFrees);
            Add("dedup.arena_contended", dd.ArenaContended);
            Add("dedup.heap_trims", dd.HeapTrims);
            if (dd.Mm is { } dm)
                AddMm(dm, dd.Zone);
            foreach (var k in Enum.GetValues<DedupQueueKind>())
            {
                Add("dedup." + Dedup.QueueName(k) + ".empty_waits", dd.QueueEmptyWaits(k));
                Add("dedup." + Dedup.QueueName(k) + ".mutex_contended", dd.QueueMutexContended(k));
            }
        }
        if (Pbzip2 is { } pb)
        {
            Add("pbzip2.blocks_written", pb.BlocksWritten);
            Add("pbzip2.bytes_processed", pb.BytesProcessed);
            Add("pbzip2.producer_full_waits", pb.ProducerFullWaits);
            Add("pbzip2.consumer_empty_waits", pb.ConsumerEmptyWaits);
            Add("pbzip2.writer_waits", pb.WriterWaits);
            Add("pbzip2.throttle_waits", pb.ThrottleWaits);
            Add("pbzip2.mutex_contended", pb.MutexContended);
            Add("pbzip2.arena_contended", pb.ArenaContended);
            Add("pbzip2.cross_thread_locked_frees", pb.CrossThreadLockedFrees);
            Add("pbzip2.heap_trims", pb.HeapTrims);
            Add("pbzip2.mmapped_frees", pb.MmappedFrees);
            AddMm(pb.Mm, pb.Zone);
        }
        if (Sysbench is { } sb)
        {
            Add("sysbench.events", sb.Events);
            Add("sysbench.yields", sb.Yields);
            Add("sysbench.mutex_rounds", sb.MutexRounds);
            Add("sysbench.contended_locks", sb.ContendedLocks);
        }
        return c;

        void AddMm(GuestMm mm, GuestZone? zone)
        {
            Add("mm.faults", mm.Faults);
            Add("mm.mmaps", mm.Mmaps);
            Add("mm.munmaps", mm.Munmaps);
            Add("mm.madvises", mm.Madvises);
            Add("mm.mmap_sem_read", mm.MmapSem.ReadAcquisitions);
            Add("mm.mmap_sem_read_slow", mm.MmapSem.ReadSlow);
            Add("mm.mmap_sem_write", mm.MmapSem.WriteAcquisitions);
            Add("mm.mmap_sem_write_slow", mm.MmapSem.WriteSlow);
            if (zone is not null)
            {
                Add("mm.zone_refills", zone.Refills);
                Add("mm.zone_drains", zone.Drains);
            }
        }
    }

    /// <summary>
    /// Skip reasons of the directed-yield walk's candidate loop (metric suffix, counter): every reason
    /// <c>PleHandlers</c> and the IPI-aware walk can skip a candidate for, so that candidates = skips +
    /// yield_to calls holds for every handler (GroundTruthTests).
    /// </summary>
    public static readonly (string Name, string Counter)[] SkipReasons =
    [
        ("self", "dy_skipped_self"), ("halted", "dy_skipped_halted"), ("no_pid", "dy_skipped_no_pid"),
        ("in_guest", "dy_skipped_in_guest"), ("not_preempted", "dy_skipped_not_preempted"), ("ineligible", "dy_skipped_ineligible"),
        ("user_mode", "dy_skipped_user_mode"), ("by_filter", "dy_skipped_by_filter"), ("woken_not_run", "dy_skipped_woken_not_run"),
        ("ipi_aware_rejected", "ipi_aware.tier.rejected"), ("ipi_aware_relaxed_not_preempted", "ipi_aware.relaxed_skipped_not_preempted"),
    ];

    public static string TimeName(VcpuTime t) => t switch
    {
        VcpuTime.GuestRun => "guest_run",
        VcpuTime.GuestSpin => "spin",
        VcpuTime.PauseExit => "pause_exit",
        VcpuTime.OtherExit => "other_exit",
        VcpuTime.Halted => "halted",
        VcpuTime.PleSleep => "ple_sleep",
        VcpuTime.Preempted => "preempted",
        VcpuTime.Userspace => "userspace",
        VcpuTime.CoStopped => "costopped",
        _ => "not_started",
    };
}

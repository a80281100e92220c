using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Experiments.Running;

/// <summary>Per-VM tables and metrics of a measured window: where VCPU time went, PLE activity, lock-holder preemption, workload rates.</summary>
internal static class VmReport
{
    public static void Report(SystemRun run, Dictionary<string, double>[] atReset, double seconds, RunResult result)
    {
        for (int i = 0; i < run.Vms.Count; i++)
        {
            var vm = run.Vms[i];
            var end = vm.Counters();
            var start = i < atReset.Length ? atReset[i] : [];
            double D(string k) => end.GetValueOrDefault(k) - start.GetValueOrDefault(k);
            double vcpuNs = vm.Vm.Vcpus.Count * seconds * 1e9;
            double cpuNs = D("cpu_ns");
            double yieldCalls = D("yield_to_calls");
            double yieldOk = D("yield_to." + YieldToResult.Success);
            var rec = new Record()
                .Add("vm", vm.Name)
                .Add("vcpus", (long)vm.Vm.Vcpus.Count)
                .Add("workload", vm.Settings.Workload.Kind)
                .Add("cpus_used", cpuNs / (seconds * 1e9))
                .Add("host_share", cpuNs / (seconds * 1e9 * run.Host.NrCpus));
            foreach (var cat in Enum.GetValues<VcpuTime>())
            {
                if (cat == VcpuTime.NotStarted || (cat == VcpuTime.CoStopped && run.Kvm?.Coscheduler is null))
                    continue;
                rec.Add("frac_" + VmRuntime.TimeName(cat), D("time." + VmRuntime.TimeName(cat)) / vcpuNs);
            }
            rec.Add("pause_exits_per_s", D("pause_exits") / seconds)
                .Add("yield_to_per_s", yieldCalls / seconds)
                .Add("yield_to_success_rate", yieldCalls > 0 ? yieldOk / yieldCalls : double.NaN)
                .Add("yield_to_hit_rate", yieldOk > 0 ? D("yield_to_hits") / yieldOk : double.NaN)
                // A share of the walks (the metric <vm>.dy_walks_without_yield is their count).
                .Add("frac_dy_walks_without_yield", D("dy_walks") > 0 ? D("dy_walks_without_yield") / D("dy_walks") : double.NaN)
                .Add("halts_per_s", D("halts") / seconds)
                .Add("ipis_per_s", D("ipi_exits") / seconds)
                .Add("lock_contended_fraction", D("lock_acquisitions") > 0 ? D("lock_contended") / D("lock_acquisitions") : double.NaN)
                .Add("holder_preempted_at_spin_per_s", D("lock_holder_preempted_at_spin") / seconds)
                .Add("handoffs_to_descheduled_waiter_per_s", D("lock_handoffs_to_descheduled_waiter") / seconds)
                .Add("lock_stalled_on_descheduled_waiter", D("lock_stalled_on_descheduled_waiter_ns") / (seconds * 1e9))
                .Add("frac_spin_behind_descheduled_waiter", D("lock_spin_behind_descheduled_waiter_ns") / vcpuNs)
                .Add("frac_lock_holder_preempted", D("lock_holder_preempted_ns") / vcpuNs)
                .Add("host_migrations_per_s", D("host_migrations") / seconds)
                .Add("irqs_deferred_per_s", D("irqs_deferred") / seconds)
                .Add("irq_deferred_mean_us", D("irqs_deferred") > 0 ? D("irq_deferred_ns") / D("irqs_deferred") / 1e3 : double.NaN)
                .Add("irq_window_exits_per_s", D("irq_window_exits") / seconds);
            foreach (var cause in new[] { "woken_by_holder", "same_vm", "other_vm", "host_task" })
                rec.Add("lhp_per_s." + cause, D("lhp." + cause) / seconds);
            foreach (var kv in YieldResults(D))
                rec.Add(kv.Key, kv.Value);
            result.Vms.Add(rec);

            string p = vm.Name + ".";
            // KVM halt polling (kvm.halt_poll_ns), for the wake-up-bound workloads: polls that saw a
            // wake-up before the limit, and the share of VCPU time spent polling.
            void KvmHaltPollMetrics()
            {
                result.AddMetric(p + "kvm_halt_poll_success_rate", D("halt_poll_attempts") > 0 ? D("halt_poll_successful") / D("halt_poll_attempts") : double.NaN);
                result.AddMetric(p + "frac_kvm_halt_poll", D("halt_poll_ns") / vcpuNs);
                result.AddMetric(p + "kvm_halt_poll_task_end_rate", D("halt_poll_attempts") > 0 ? D("halt_poll_ended_by_task") / D("halt_poll_attempts") : double.NaN);
            }
            result.AddMetric(p + "cpus_used", cpuNs / (seconds * 1e9));
            result.AddMetric(p + "frac_spin", D("time.spin") / vcpuNs);
            result.AddMetric(p + "frac_pause_exit", D("time.pause_exit") / vcpuNs);
            result.AddMetric(p + "frac_halted", D("time.halted") / vcpuNs);
            result.AddMetric(p + "frac_preempted", D("time.preempted") / vcpuNs);
            // VCPU time before a VCPU thread first ran (forked but still queued, or not forked yet under
            // vms[].start_at or vcpu_start_spread): above zero, the window includes the VM's start-up.
            result.AddMetric(p + MetricDefinitions.NotStarted, D("time.not_started") / vcpuNs);
            result.AddMetric(p + "frac_lock_holder_preempted", D("lock_holder_preempted_ns") / vcpuNs);
            result.AddMetric(p + "pause_exits_per_second", D("pause_exits") / seconds);
            result.AddMetric(p + "yield_to_success_rate", yieldCalls > 0 ? yieldOk / yieldCalls : double.NaN);
            result.AddMetric(p + "yield_to_hit_rate", yieldOk > 0 ? D("yield_to_hits") / yieldOk : double.NaN);
            result.AddMetric(p + "frac_rq_lock_wait", D("dy_rq_lock_wait_ns") / vcpuNs);
            result.AddMetric(p + "lock_holder_preemptions_per_second", (D("lhp.woken_by_holder") + D("lhp.same_vm") + D("lhp.other_vm") + D("lhp.host_task")) / seconds);
            foreach (var cause in new[] { "woken_by_holder", "same_vm", "other_vm", "host_task" })
                result.AddMetric(p + "lhp." + cause, D("lhp." + cause) / seconds);
            result.AddMetric(p + "frac_guest_run", D("time.guest_run") / vcpuNs);
            result.AddMetric(p + "frac_other_exit", D("time.other_exit") / vcpuNs);
            result.AddMetric(p + "frac_ple_sleep", D("time.ple_sleep") / vcpuNs);
            result.AddMetric(p + "frac_userspace", D("time.userspace") / vcpuNs);
            // Interrupts held back because the guest had them disabled (RFLAGS.IF = 0, e.g. spinning
            // on or holding a spin_lock_irqsave lock), their mean wait until it re-enabled, and the
            // interrupt-window exits that re-enable cost.
            result.AddMetric(p + "irqs_deferred_per_second", D("irqs_deferred") / seconds);
            result.AddMetric(p + "irq_deferred_mean_us", D("irqs_deferred") > 0 ? D("irq_deferred_ns") / D("irqs_deferred") / 1e3 : double.NaN);
            result.AddMetric(p + "irq_window_exits_per_second", D("irq_window_exits") / seconds);
            // The guest scheduler's balancing: idle VCPUs' pulls, and busy VCPUs' periodic balances,
            // those that found an imbalance and the threads they moved (decision 0072).
            result.AddMetric(p + "guest_idle_pulls_per_second", D("guest_pulls") / seconds);
            result.AddMetric(p + "guest_newidle_balances_per_second", D("guest_newidle_balances") / seconds);
            result.AddMetric(p + "guest_newidle_skips_per_second", D("guest_newidle_avg_idle_skips") / seconds); // decision 0086
            result.AddMetric(p + "guest_newidle_not_overloaded_skips_per_second", D("guest_newidle_not_overloaded_skips") / seconds); // decision 0087
            result.AddMetric(p + "guest_busy_balances_per_second", D("guest_busy_balances") / seconds);
            result.AddMetric(p + "guest_busy_balance_imbalanced_per_second", D("guest_busy_balance_imbalanced") / seconds);
            result.AddMetric(p + "guest_busy_balance_pulls_per_second", D("guest_busy_balance_pulls") / seconds);
            result.AddMetric(p + "guest_active_balances_not_modelled", D("guest_active_balances_not_modelled"));
            if (run.Kvm?.Coscheduler is not null)
            {
                // Co-scheduling comparator (decision 0040): VCPU time co-stopped, and how often a VCPU was.
                result.AddMetric(p + "frac_costopped", D("time.costopped") / vcpuNs);
                result.AddMetric(p + "costops_per_second", D("costops") / seconds);
                result.AddMetric(p + "frac_gang_wait", D("gang_wait_ns") / vcpuNs);
            }
            // IPIs sent by writing the APIC ICR (x2APIC: an MSR write, one exit per destination) and
            // HLT exits; a PV send-IPI hypercall is not an ICR exit.
            result.AddMetric(p + "ipi_exits_per_second", D("ipi_exits") / seconds);
            result.AddMetric(p + "hlt_exits_per_second", D("hlt_exits") / seconds);
            // Paravirtual guest (decision 0023): PV lock halts and KVM_HC_KICK_CPU kicks, PV queued
            // lock steals, shootdown targets skipped by PV TLB flush, KVM_HC_SCHED_YIELD calls.
            result.AddMetric(p + "pv_lock_halts_per_second", D("lock_pv_halts") / seconds);
            result.AddMetric(p + "pv_kicks_per_second", D("guest_pv_kicks") / seconds);
            result.AddMetric(p + "lock_steals_per_second", D("lock_steals") / seconds);
            if (vm.Settings.Guest.Spinlock == SpinlockKind.PreemptableTicket)
            {
                // Preemptable ticket lock (decision 0046): waiters whose timeout ran out, and the
                // acquisitions such a waiter made out of ticket order.
                result.AddMetric(p + "pmtlock_timeouts_per_second", D("lock_pmtlock_timeouts") / seconds);
                result.AddMetric(p + "out_of_order_acquisitions_per_second", D("lock_out_of_order_acquisitions") / seconds);
            }
            if (vm.Settings.Guest.Spinlock == SpinlockKind.S390)
            {
                // s390 guest (decision 0055): DIAGNOSE 0x9c directed yields — calls (KVM's
                // instruction_diagnose_9c), the share whose yield_to succeeded, the share ignored, and
                // how each ended; the share issued on entry to the wait (owner's VCPU not running).
                double calls = D("diag9c_calls");
                result.AddMetric(p + "diag9c_calls", calls);
                result.AddMetric(p + "diag9c_calls_per_second", calls / seconds);
                result.AddMetric(p + "diag9c_yield_rate", calls > 0 ? D("diag9c.yielded") / calls : double.NaN);
                result.AddMetric(p + "diag9c_ignored_rate", calls > 0 ? (calls - D("diag9c.yielded") - D("diag9c.forwarded")) / calls : double.NaN);
                result.AddMetric(p + "diag9c_at_entry_rate", calls > 0 ? D("guest_diag9c_at_entry") / calls : double.NaN);
                // SIGP EXTERNAL CALLs (the s390 reschedule/call-function IPIs) and how each went, the
                // intercepts they cost by intercept code, and TLB flushes by kind (decision 0055 addendum).
                double sigps = D("sigp_external_calls");
                result.AddMetric(p + "sigp_external_calls_per_second", sigps / seconds);
                result.AddMetric(p + "sigp_interpreted_rate", sigps > 0 ? D("sigp_interpreted") / sigps : double.NaN);
                result.AddMetric(p + "sigp_busy_rate", sigps > 0 ? D("sigp_busy") / sigps : double.NaN);
                result.AddMetric(p + "sigp_intercepts_per_second.inst", D("sigp_intercepts.inst") / seconds);
                result.AddMetric(p + "sigp_intercepts_per_second.partexec", D("sigp_intercepts.partexec") / seconds);
                result.AddMetric(p + "ec_calls_coalesced_per_second", D("guest_ec_calls_coalesced") / seconds);
                result.AddMetric(p + "s390_tlb_flushes_per_second.lazy", D("guest_s390_tlb_flushes.lazy") / seconds);
                result.AddMetric(p + "s390_tlb_flushes_per_second.global", D("guest_s390_tlb_flushes.global") / seconds);
                for (int o = 0; o < Diag9cOutcomes.Count; o++)
                {
                    string name = Diag9cOutcomes.Name((Diag9cOutcome)o);
                    result.AddMetric(p + "diag9c_outcome." + name, calls > 0 ? D("diag9c." + name) / calls : double.NaN);
                }
            }
            SpinIterationMetrics(p, D, result);
            result.AddMetric(p + "pv_tlb_flush_skips_per_second", D("guest_pv_tlb_flush_skips") / seconds);
            if (vm.Kernel.Settings.LazyTlbSkip && vm.Kernel.Settings.Spinlock != SpinlockKind.S390)
            {
                // x86 4.20+ (decision 0067): idle lazy-TLB VCPUs left out of flushes that freed no page tables,
                // and flush IPIs that still reached one (page tables freed) and made it leave the mm.
                result.AddMetric(p + "lazy_tlb_skips_per_s", D("guest_lazy_tlb_skips") / seconds);
                result.AddMetric(p + "lazy_tlb_leaves_per_s", D("guest_lazy_tlb_flushes") / seconds);
            }
            result.AddMetric(p + "pv_sched_yields_per_second", D("guest_pv_sched_yields") / seconds);
            if (vm.Kernel.Kvm.Settings.StealTimePreemptedOnBlock)
            {
                // Before 5.19 KVM marks a VCPU that blocks on HLT preempted in steal time (decision 0081).
                result.AddMetric(p + "halts_marked_preempted_per_second", D("blocks_marked_preempted") / seconds);
            }
            if (vm.Kernel.Kvm.Settings.KickYield)
            {
                // The kick yield (decision 0043): kvm_sched_yield calls from KVM_HC_KICK_CPU, the share
                // whose yield_to succeeded, and why the others did not yield.
                double ky = D("kick_yields");
                result.AddMetric(p + "kick_yields_per_second", ky / seconds);
                result.AddMetric(p + "kick_yield_success_rate", ky > 0 ? D("kick_yield.yielded") / ky : double.NaN);
                result.AddMetric(p + "kick_yield_not_ready_rate", ky > 0 ? D("kick_yield.not_ready") / ky : double.NaN);
                result.AddMetric(p + "kick_yield_failed_rate", ky > 0 ? D("kick_yield.yield_to_failed") / ky : double.NaN);
            }
            if (vm.Kernel.Kvm.Settings.ReportApicv)
            {
                // APICv posted interrupts (kvm.apicv given, either value; decision 0060): posts, the
                // notifications that reached a VCPU in guest mode, the interrupts taken without an exit,
                // the IPI delivery latency, and the 5.13 walk's user-mode candidates kept for a pending one.
                result.AddMetric(p + "posted_interrupts_per_second", D("pi.posted") / seconds);
                result.AddMetric(p + "pi_notifications_per_second", D("pi.notifications") / seconds);
                result.AddMetric(p + "pi_delivered_without_exit_per_second", D("pi.delivered_without_exit") / seconds);
                result.AddMetric(p + "external_exits_per_second", D("external_exits") / seconds);
                result.AddMetric(p + "ipi_latency_us", D("ipis_taken") > 0 ? D("ipi_latency_ns") / D("ipis_taken") / 1e3 : double.NaN);
                result.AddMetric(p + "ipi_latency_guest_mode_us", D("ipis_taken_guest_mode") > 0 ? D("ipi_latency_guest_mode_ns") / D("ipis_taken_guest_mode") / 1e3 : double.NaN);
                result.AddMetric(p + "dy_user_mode_pending_interrupt_per_second", D("dy_user_mode_pending_interrupt") / seconds);
            }
            if (vm.Kernel.Kvm.Settings.Ipiv)
            {
                // IPI virtualization (kvm.ipiv, decision 0066): ICR writes without an exit, the posts
                // that found SN set (target preempted), and the wake-ups by the wake-up vector.
                result.AddMetric(p + "ipiv_ipis_per_second", D("pi.ipiv_sent") / seconds);
                result.AddMetric(p + "ipiv_suppressed_per_second", D("pi.ipiv_suppressed") / seconds);
                result.AddMetric(p + "ipiv_wakeups_per_second", D("pi.ipiv_wakeups") / seconds);
            }
            if (vm.Kernel.Kvm.Settings.IpiAwareYield)
            {
                // IPI-aware directed yield (decision 0052): what the series did in this VM's walks.
                result.AddMetric(p + "ipi_aware_ipis_tracked_per_second", D("ipi_aware.ipis_tracked") / seconds);
                result.AddMetric(p + "ipi_aware_sender_clears_per_second", D("ipi_aware.sender_pending_cleared") / seconds);
                result.AddMetric(p + "ipi_aware_receiver_candidates_per_second", D("ipi_aware.tier.ipi_receiver") / seconds);
                result.AddMetric(p + "ipi_aware_preempted_candidates_per_second", D("ipi_aware.tier.preempted") / seconds);
                result.AddMetric(p + "ipi_aware_rejected_candidates_per_second", D("ipi_aware.tier.rejected") / seconds);
                result.AddMetric(p + "ipi_aware_yields_to_ipi_receiver_per_second", D("ipi_aware.yields_to_ipi_receiver") / seconds);
                result.AddMetric(p + "ipi_aware_relaxed_rounds_per_second", D("ipi_aware.relaxed_rounds") / seconds);
                result.AddMetric(p + "ipi_aware_relaxed_yields_per_second", D("ipi_aware.relaxed_yields") / seconds);
            }
            if (vm.Settings.Guest.PvSendIpi)
            {
                // PV send-IPI (decision 0027): hypercalls, and the ICR-write exits they replaced.
                result.AddMetric(p + "pv_send_ipis_per_second", D("guest_pv_send_ipis") / seconds);
                result.AddMetric(p + "pv_send_ipi_exits_saved", D("guest_pv_send_ipi_exits_saved"));
            }
            if (vm.Settings.Guest.Haltpoll)
            {
                // Guest haltpoll (decision 0027): polls, the share that a wake-up ended, polling time,
                // and wake-ups that needed no IPI because the target polled.
                result.AddMetric(p + "guest_haltpolls_per_second", D("guest_haltpolls") / seconds);
                result.AddMetric(p + "guest_haltpoll_hit_rate", D("guest_haltpolls") > 0 ? D("guest_haltpoll_hits") / D("guest_haltpolls") : double.NaN);
                result.AddMetric(p + "frac_guest_haltpoll", D("guest_haltpoll_ns") / vcpuNs);
                result.AddMetric(p + "polling_wakeups_per_second", D("guest_polling_wakeups") / seconds);
            }
            GroundTruthMetrics(p, D, result);
            if (vm.Kernel.Kvm.Settings.CandidateFilter is not null)
                result.AddMetric(p + "dy_skipped.by_filter", D("dy_skipped_by_filter"));
            result.AddMetric(p + "frac_time_split", D("split_ns") / (seconds * 1e9));
            result.AddMetric(p + MetricDefinitions.VcpusStacked, D("stacked_ns") / (seconds * 1e9));
            // How long a VCPU stayed on its CPU once switched in (time-weighted: Σ stint² / Σ stint,
            // over stints that ended in the window), and the share of its yields after which the host
            // picked it again (decision 0044: under EEVDF 6.6–6.14 a yield only moves the deadline).
            result.AddMetric(p + "vcpu_stint_ms", D("host_stint_ns") > 0 ? D("host_stint_ns_squared") / D("host_stint_ns") / 1e6 : double.NaN);
            result.AddMetric(p + "yields_kept_cpu_rate", D("host_yield_schedules") > 0 ? D("host_yields_kept_cpu") / D("host_yield_schedules") : double.NaN);
            if (vm.Amqp is not null)
            {
                double pub = D("amqp.published") / seconds;
                double sub = D("amqp.received") / seconds;
                result.AddMetric(p + "publish_rate", pub);
                result.AddMetric(p + "subscribe_rate", sub);
                result.AddMetric(p + "total_transfers_per_second", pub + sub);
                result.AddMetric(p + "mean_batch", D("amqp.batches") > 0 ? D("amqp.batched_messages") / D("amqp.batches") : double.NaN);
                if (vm.Amqp.Settings.Allocator != BrokerAllocator.None)
                {
                    result.AddMetric(p + "tlb_shootdowns_per_second", D("amqp.broker_trims") / seconds);
                    result.AddMetric(p + "broker_trims_per_message", D("amqp.received") > 0 ? D("amqp.broker_trims") / D("amqp.received") : double.NaN);
                    result.AddMetric(p + "broker_trimmed_kib_per_second", D("amqp.broker_trimmed_bytes") / 1024 / seconds);
                    if (vm.Amqp.Heap is { } heap)
                    {
                        result.AddMetric(p + "broker_heap_trim_calls_per_second", D("amqp.broker_heap_trim_calls") / seconds);
                        result.AddMetric(p + "broker_arena_consolidations_per_second", D("amqp.broker_arena_consolidations") / seconds);
                        result.AddMetric(p + "broker_arena_max_heap_kib", heap.MaxHeapSize / 1024.0);
                        result.AddMetric(p + "broker_queue_max_depth", heap.MaxOutstanding);
                    }
                    result.AddMetric(p + "lazy_tlb_flushes_per_second", D("guest_lazy_tlb_flushes") / seconds);
                }
            }
            if (vm.LockLoops.Count > 0)
            {
                result.AddMetric(p + "lock_iterations_per_second", D("lockbench.iterations") / seconds);
                // Lock waiter preemption (ticket locks): hand-offs to a waiter whose VCPU was off
                // its CPU, and the lock-time fraction the lock stood free waiting for it.
                result.AddMetric(p + "lock_handoffs_to_descheduled_waiter_per_second", D("lock_handoffs_to_descheduled_waiter") / seconds);
                result.AddMetric(p + "lock_stalled_on_descheduled_waiter", D("lock_stalled_on_descheduled_waiter_ns") / (seconds * 1e9));
                result.AddMetric(p + "frac_spin_behind_descheduled_waiter", D("lock_spin_behind_descheduled_waiter_ns") / vcpuNs);
            }
            if (vm.Kernel.Settings.CacheCoherence == CacheCoherence.Directory)
            {
                // Cache-line traffic on the spinlock words (guest.cache_coherence: directory, decision 0059);
                // reported only with the model on, so that runs without it print what they printed before.
                result.AddMetric(p + "lock_handoff_mean_ns", D("lock_line_handoffs") > 0 ? D("lock_line_handoff_ns") / D("lock_line_handoffs") : double.NaN);
                result.AddMetric(p + "lock_line_readers_at_release", D("lock_line_releases") > 0 ? D("lock_line_readers_at_release") / D("lock_line_releases") : double.NaN);
                result.AddMetric(p + "frac_lock_line_stall", D("lock_line_stall_ns") / vcpuNs);
            }
            if (vm.BootStorm is { } b)
                result.AddMetric(p + "completion_time_ms", b.CompletedAt >= 0 ? b.CompletedAt / 1e6 : double.NaN);
            if (vm.Ebizzy is not null || vm.Kernbench is not null || vm.Dedup?.Mm is not null || vm.Pbzip2 is not null)
            {
                // The guest mm paths (decision 0026): faults, mmap_sem acquisitions that had to queue,
                // TLB shootdowns and their flush IPIs, zone->lock batches.
                double sem = D("mm.mmap_sem_read") + D("mm.mmap_sem_write");
                result.AddMetric(p + "page_faults_per_s", D("mm.faults") / seconds);
                result.AddMetric(p + "mmap_sem_slow_fraction", sem > 0 ? (D("mm.mmap_sem_read_slow") + D("mm.mmap_sem_write_slow")) / sem : double.NaN);
                result.AddMetric(p + "shootdowns_per_s", D("guest_shootdowns") / seconds);
                result.AddMetric(p + "shootdown_ipis_per_s", D("guest_shootdown_ipis") / seconds);
                result.AddMetric(p + "zone_lock_batches_per_s", (D("mm.zone_refills") + D("mm.zone_drains")) / seconds);
            }
            if (vm.Ebizzy is not null)
                result.AddMetric(p + "records_per_s", D("ebizzy.records") / seconds);
            if (vm.Kernbench is { } kb)
            {
                result.AddMetric(p + "elapsed_s", kb.CompletedAt >= 0 ? kb.CompletedAt / 1e9 : double.NaN);
                result.AddMetric(p + "units_per_s", D("kernbench.units") / seconds);
            }
            if (vm.Hackbench is { } hb)
            {
                // hackbench's "Time:" (all messages delivered), and messages per second of it.
                double elapsed = hb.CompletedAt >= 0 ? hb.CompletedAt / 1e9 : double.NaN;
                result.AddMetric(p + "elapsed_s", elapsed);
                result.AddMetric(p + "messages_per_second", hb.Received / (hb.CompletedAt >= 0 ? elapsed : seconds));
                result.AddMetric(p + "sender_sleeps_per_message", hb.Received > 0 ? D("hackbench.sender_sleeps") / hb.Received : double.NaN);
                result.AddMetric(p + "receiver_sleeps_per_message", hb.Received > 0 ? D("hackbench.receiver_sleeps") / hb.Received : double.NaN);
                result.AddMetric(p + "resched_ipis_per_message", hb.Received > 0 ? D("guest_resched_ipis") / hb.Received : double.NaN);
                result.AddMetric(p + "ipi_exits_per_message", hb.Received > 0 ? D("ipi_exits") / hb.Received : double.NaN);
                result.AddMetric(p + "hlt_exits_per_message", hb.Received > 0 ? D("hlt_exits") / hb.Received : double.NaN);
            }
            if (vm.PingPong is { } pp)
            {
                // perf bench sched pipe: total time / loops = usecs/op. With loops > 0 the time is
                // until the last pair finished; with loops = 0 the measured window.
                bool done = pp.CompletedAt >= 0;
                double elapsedNs = done ? pp.CompletedAt : seconds * 1e9;
                double trips = done ? pp.RoundTrips : D("pingpong.round_trips");
                double perPair = trips / pp.Settings.Pairs;
                double msgs = done ? pp.Messages : D("pingpong.messages");
                result.AddMetric(p + "elapsed_s", done ? elapsedNs / 1e9 : double.NaN);
                result.AddMetric(p + "round_trips_per_second", trips / (elapsedNs / 1e9));
                result.AddMetric(p + "usecs_per_op", perPair > 0 ? elapsedNs / 1e3 / perPair : double.NaN);
                result.AddMetric(p + "ns_per_switch", perPair > 0 ? elapsedNs / (2 * perPair) : double.NaN);
                result.AddMetric(p + "receiver_sleeps_per_message", msgs > 0 ? D("pingpong.receiver_sleeps") / msgs : double.NaN);
                result.AddMetric(p + "ipi_exits_per_message", msgs > 0 ? D("ipi_exits") / msgs : double.NaN);
                result.AddMetric(p + "hlt_exits_per_message", msgs > 0 ? D("hlt_exits") / msgs : double.NaN);
                KvmHaltPollMetrics();
            }
            if (vm.TcpRr is { } rr)
            {
                // netperf TCP_RR (decision 0045): transactions per second and the mean transaction
                // time (send() called to recv() returned), over the window (or until the last stream finished).
                bool done = rr.CompletedAt >= 0;
                double tx = done ? rr.Transactions : D("tcp_rr.transactions");
                double latNs = done ? rr.LatencySumNs : D("tcp_rr.latency_ns");
                double elapsedS = done ? rr.CompletedAt / 1e9 : seconds;
                result.AddMetric(p + "tcp_rr_transactions_per_second", tx / elapsedS);
                result.AddMetric(p + "tcp_rr_latency_us", tx > 0 ? latNs / tx / 1e3 : double.NaN);
                result.AddMetric(p + "vhost_notifies_per_transaction", tx > 0 ? D("vhost.notifies") / tx : double.NaN);
                result.AddMetric(p + "virtio_net_interrupts_per_transaction", tx > 0 ? D("tcp_rr.rx_interrupts") / tx : double.NaN);
                result.AddMetric(p + "hlt_exits_per_transaction", tx > 0 ? D("hlt_exits") / tx : double.NaN);
                KvmHaltPollMetrics();
            }
            if (vm.Settings.Affinity is { } aff)
            {
                // The physical CPUs the VM is pinned to: their C0 residency (decision 0045).
                double cpus = aff.Mask.Count;
                double c0 = D("affinity_cpus_busy_ns") / (cpus * seconds * 1e9);
                result.AddMetric(p + "host_c0_share", c0);
                result.AddMetric(p + "host_c0_percent", 100 * c0);
            }
            if (vm.Kernel.Settings.Timers.Count > 0)
                result.AddMetric(p + "guest_timer_expiries_per_second", D("guest_timer_expiries") / seconds);
            if (vm.Kernel.Mutexes.Count > 0)
            {
                result.AddMetric(p + "mutex_acquisitions_per_second", D("mutex.acquisitions") / seconds);
                result.AddMetric(p + "mutex_spin_acquisitions_per_second", D("mutex.spin_acquisitions") / seconds);
                result.AddMetric(p + "mutex_sleeps_per_second", D("mutex.sleeps") / seconds);
                result.AddMetric(p + "mutex_spin_give_ups_per_second", D("mutex.spin_give_ups") / seconds);
                result.AddMetric(p + "mutex_spin_give_ups_vcpu_preempted_per_second", D("mutex.spin_give_ups_vcpu_preempted") / seconds);
            }
            if (vm.Kernel.RwSems.Count > 0)
            {
                // 4.19 rw_semaphores (guest.rwsem: "4.19", decision 0050): writer optimistic spinning.
                result.AddMetric(p + "rwsem_spins_per_second", D("rwsem.spins") / seconds);
                result.AddMetric(p + "rwsem_spin_skipped_reader_owned_per_second", D("rwsem.spin_skipped_reader_owned") / seconds);
                result.AddMetric(p + "rwsem_spin_acquisitions_per_second", D("rwsem.spin_acquisitions") / seconds);
                result.AddMetric(p + "rwsem_spin_steals_per_second", D("rwsem.spin_steals") / seconds);
                result.AddMetric(p + "rwsem_spin_give_ups_per_second", D("rwsem.spin_give_ups") / seconds);
                result.AddMetric(p + "rwsem_spin_give_ups_vcpu_preempted_per_second", D("rwsem.spin_give_ups_vcpu_preempted") / seconds);
                result.AddMetric(p + "rwsem_writer_sleeps_per_second", D("rwsem.writer_sleeps") / seconds);
                result.AddMetric(p + "rwsem_writer_retries_lost_per_second", D("rwsem.writer_retries_lost") / seconds);
                if (vm.Kernel.RwSems[0].Rwsem53)
                {
                    // 5.3 / 6.1 rw_semaphores (guest.rwsem: "5.3" / "6.1", decision 0057): reader spinning (5.3) or stealing (6.1), nonspinnable bits, hand-off.
                    result.AddMetric(p + "rwsem_reader_spins_per_second", D("rwsem.reader_spins") / seconds);
                    result.AddMetric(p + "rwsem_reader_spin_acquisitions_per_second", D("rwsem.reader_spin_acquisitions") / seconds);
                    result.AddMetric(p + "rwsem_reader_phase_trylocks_per_second", D("rwsem.reader_phase_trylocks") / seconds);
                    result.AddMetric(p + "rwsem_spin_skipped_nonspinnable_per_second", D("rwsem.spin_skipped_nonspinnable") / seconds);
                    result.AddMetric(p + "rwsem_spin_skipped_owner_not_running_per_second", D("rwsem.spin_skipped_owner_not_running") / seconds);
                    result.AddMetric(p + "rwsem_spin_reader_owned_timeouts_per_second", D("rwsem.spin_reader_owned_timeouts") / seconds);
                    result.AddMetric(p + "rwsem_handoffs_set_by_reader_per_second", D("rwsem.handoffs_set_by_reader") / seconds);
                    result.AddMetric(p + "rwsem_handoffs_set_by_writer_per_second", D("rwsem.handoffs_set_by_writer") / seconds);
                    result.AddMetric(p + "rwsem_handoff_spins_per_second", D("rwsem.handoff_spins") / seconds);
                    result.AddMetric(p + "rwsem_reader_steals_per_second", D("rwsem.reader_steals") / seconds);
                }
            }
            if (vm.Kernel.Futexes.Count > 0)
            {
                result.AddMetric(p + "futex_waits_per_second", D("futex.wait_calls") / seconds);
                result.AddMetric(p + "futex_sleeps_per_second", (D("futex.wait_calls") - D("futex.would_block")) / seconds);
                result.AddMetric(p + "futex_wakes_per_second", D("futex.wake_calls") / seconds);
            }
            if (vm.Dbench is not null)
            {
                // dbench's "Throughput N MB/sec" (10^6 bytes of ReadX and WriteX per second, all
                // clients) and load-file lines per second (decision 0048).
                result.AddMetric(p + "dbench_mb_per_s", 1e-6 * D("dbench.bytes") / seconds);
                result.AddMetric(p + "dbench_ops_per_s", D("dbench.ops") / seconds);
            }
            if (vm.Dedup is { } dd)
            {
                // PARSEC dedup (decision 0054): input MB (10^6 bytes) and chunks written per second
                // (until Reorder finished, or over the window), and where the pipeline waited.
                bool done = dd.Done;
                double elapsedS = done ? dd.CompletedAt / 1e9 : seconds;
                double chunks = done ? dd.Written : D("dedup.written");
                double bytes = done ? dd.WrittenBytes : D("dedup.written_bytes");
                double per = D("dedup.written") > 0 ? 1 / D("dedup.written") : double.NaN;
                result.AddMetric(p + "dedup_elapsed_s", done ? elapsedS : double.NaN);
                result.AddMetric(p + "dedup_mb_per_s", 1e-6 * bytes / elapsedS);
                result.AddMetric(p + "dedup_chunks_per_s", chunks / elapsedS);
                double looked = D("dedup.lookups");
                result.AddMetric(p + "dedup_duplicate_fraction", looked > 0 ? D("dedup.duplicates") / looked : double.NaN);
                result.AddMetric(p + "dedup_hashtable_contended_fraction", looked > 0 ? D("dedup.bucket_contended") / looked : double.NaN);
                foreach (var k in Enum.GetValues<DedupQueueKind>())
                {
                    string q = Dedup.QueueName(k);
                    result.AddMetric(p + "dedup_" + q + "_waits_per_chunk", D("dedup." + q + ".empty_waits") * per);
                    result.AddMetric(p + "dedup_" + q + "_mutex_contended_per_chunk", D("dedup." + q + ".mutex_contended") * per);
                }
                result.AddMetric(p + "dedup_queue_full_waits_per_chunk", D("dedup.queue_full_waits") * per);
                result.AddMetric(p + "dedup_reorder_chunk_waits_per_chunk", (D("dedup.chunk_lock_contended") + D("dedup.chunk_cond_waits")) * per);
                result.AddMetric(p + "dedup_futex_sleeps_per_chunk", (D("futex.wait_calls") - D("futex.would_block")) * per);
                if (dd.Malloc is not null)
                {
                    // glibc malloc (decision 0054 addendum): frees of another thread's chunks, those that took the
                    // owner arena's mutex, arena mutexes found taken, heap_trim madvises.
                    result.AddMetric(p + "dedup_cross_thread_frees_per_chunk", D("dedup.cross_thread_frees") * per);
                    result.AddMetric(p + "dedup_cross_thread_locked_frees_per_chunk", D("dedup.cross_thread_locked_frees") * per);
                    result.AddMetric(p + "dedup_arena_contended_per_chunk", D("dedup.arena_contended") * per);
                    result.AddMetric(p + "dedup_heap_trims_per_chunk", D("dedup.heap_trims") * per);
                }
            }
            if (vm.Pbzip2 is { } pb)
            {
                // pbzip2 (decision 0061): input MB (10^6 bytes) of the blocks fileWriter wrote per second (until
                // it finished, or over the window), and where the threads waited.
                bool done = pb.Done;
                double elapsedS = done ? pb.CompletedAt / 1e9 : seconds;
                double blocks = done ? pb.BlocksWritten : D("pbzip2.blocks_written");
                double bytes = done ? pb.BytesProcessed : D("pbzip2.bytes_processed");
                double per = D("pbzip2.blocks_written") > 0 ? 1 / D("pbzip2.blocks_written") : double.NaN;
                result.AddMetric(p + "pbzip2_elapsed_s", done ? elapsedS : double.NaN);
                result.AddMetric(p + "pbzip2_mb_per_s", 1e-6 * bytes / elapsedS);
                result.AddMetric(p + "pbzip2_blocks_per_s", blocks / elapsedS);
                result.AddMetric(p + "pbzip2_queue_full_waits_per_block", D("pbzip2.producer_full_waits") * per);
                result.AddMetric(p + "pbzip2_queue_empty_waits_per_block", D("pbzip2.consumer_empty_waits") * per);
                result.AddMetric(p + "pbzip2_writer_waits_per_block", D("pbzip2.writer_waits") * per);
                result.AddMetric(p + "pbzip2_throttle_waits_per_block", D("pbzip2.throttle_waits") * per);
                result.AddMetric(p + "pbzip2_mutex_contended_per_block", D("pbzip2.mutex_contended") * per);
                result.AddMetric(p + "pbzip2_arena_contended_per_block", D("pbzip2.arena_contended") * per);
                result.AddMetric(p + "pbzip2_heap_trims_per_block", D("pbzip2.heap_trims") * per);
                result.AddMetric(p + "pbzip2_munmaps_per_block", D("pbzip2.mmapped_frees") * per);
                result.AddMetric(p + "pbzip2_futex_sleeps_per_block", (D("futex.wait_calls") - D("futex.would_block")) * per);
            }
            if (vm.Sysbench is { } sb)
            {
                result.AddMetric(p + "sysbench_events_per_second", D("sysbench.events") / seconds);
                result.AddMetric(p + "sysbench_yields_per_second", D("sysbench.yields") / seconds);
                result.AddMetric(p + "sysbench_mutex_rounds_per_second", D("sysbench.mutex_rounds") / seconds);
                result.AddMetric(p + "sysbench_contended_locks_per_second", D("sysbench.contended_locks") / seconds);
                result.AddMetric(p + "sysbench_total_time_s", sb.CompletedAt >= 0 ? sb.CompletedAt / 1e9 : double.NaN);
            }
        }
    }

    /// <summary>
    /// Ground truth of the window (docs/ground-truth.md), as counts so that the parts can be
    /// checked against the whole: spin time by cause (ns; they add up to <c>spin_ns</c>) and as a
    /// share of spin, PAUSE exits by the spinner's cause, every yield_to call by label (they add
    /// up to <c>yield_to_calls</c>), walks without a yield and candidate skips by reason.
    /// </summary>
    /// <summary>
    /// The distribution of PAUSE-loop iterations per contended spinlock acquisition in the window
    /// (decision 0046): the non-empty buckets of the log2 histogram (counts; bucket b ≥ 1 holds
    /// [2^(b-1), 2^b) iterations, bucket 0 none), the share of acquisitions that took fewer than 2^16
    /// iterations, and the 50th and 99th percentiles as the upper edge of their bucket.
    /// </summary>
    private static void SpinIterationMetrics(string p, Func<string, double> d, RunResult result)
    {
        var names = VmRuntime.SpinIterationCounterNames;
        var counts = new double[names.Length];
        double total = 0;
        for (int b = 0; b < names.Length; b++)
        {
            counts[b] = d(names[b]);
            total += counts[b];
        }
        result.AddMetric(p + "contended_acquisitions", total);
        double within = 0;
        for (int b = 0; b <= 16; b++)
            within += counts[b];
        result.AddMetric(p + "spin_within_65536_iterations_pct", total > 0 ? 100 * within / total : double.NaN);
        result.AddMetric(p + "spin_iterations_p50", SpinIterationQuantile(counts, total, 0.50));
        result.AddMetric(p + "spin_iterations_p99", SpinIterationQuantile(counts, total, 0.99));
        for (int b = 0; b < names.Length; b++)
        {
            if (counts[b] > 0)
                result.AddMetric(p + "spin_iterations_log2." + b.ToString(System.Globalization.CultureInfo.InvariantCulture), counts[b]);
        }
    }

    /// <summary>The upper edge (2^b; 0 for bucket 0) of the log2 bucket that holds the <paramref name="q"/> quantile; NaN without acquisitions.</summary>
    internal static double SpinIterationQuantile(IReadOnlyList<double> counts, double total, double q)
    {
        if (total <= 0)
            return double.NaN;
        double seen = 0;
        for (int b = 0; b < counts.Count; b++)
        {
            seen += counts[b];
            if (seen >= q * total)
                return b == 0 ? 0 : Math.Pow(2, b);
        }
        return Math.Pow(2, counts.Count - 1);
    }

    private static void GroundTruthMetrics(string p, Func<string, double> d, RunResult result)
    {
        double spin = d("time.spin");
        result.AddMetric(p + "spin_ns", spin);
        foreach (var cause in GroundTruth.Causes)
        {
            string n = GroundTruth.Name(cause);
            result.AddMetric(p + "spin_ns." + n, d("spin_ns." + n));
            result.AddMetric(p + "spin_share." + n, spin > 0 ? d("spin_ns." + n) / spin : double.NaN);
        }
        result.AddMetric(p + "pause_exits", d("pause_exits"));
        foreach (var cause in GroundTruth.Causes)
            result.AddMetric(p + "pause_exits." + GroundTruth.Name(cause), d("pause_exits_by_cause." + GroundTruth.Name(cause)));
        result.AddMetric(p + "yield_to_calls", d("yield_to_calls"));
        foreach (var label in GroundTruth.Labels)
            result.AddMetric(p + "yield_to." + GroundTruth.Name(label), d("yield_to_label." + GroundTruth.Name(label)));
        result.AddMetric(p + "dy_walks", d("dy_walks"));
        result.AddMetric(p + "dy_walks_without_yield", d("dy_walks_without_yield"));
        result.AddMetric(p + "dy_candidates", d("dy_candidates"));
        foreach (var (name, counter) in VmRuntime.SkipReasons)
            result.AddMetric(p + "dy_skipped." + name, d(counter));
        result.AddMetric(p + "dy_blocking_dy_runnable", d("dy_blocking_dy_runnable"));
        result.AddMetric(p + "dy_walks_ended_before_pass1", d("dy_walks_ended_before_pass1"));
    }

    private static IEnumerable<KeyValuePair<string, object>> YieldResults(Func<string, double> d)
    {
        foreach (var r in Enum.GetValues<YieldToResult>())
        {
            double n = d("yield_to." + r);
            if (n > 0)
                yield return new("yield_to." + SnakeCase(r.ToString()), n);
        }
    }

    /// <summary>"TargetRunning" → "target_running": the JSON contract's key style for an enum member's name.</summary>
    public static string SnakeCase(string name)
    {
        var b = new System.Text.StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
                b.Append('_');
            b.Append(char.ToLowerInvariant(name[i]));
        }
        return b.ToString();
    }
}

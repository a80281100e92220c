namespace PleSim.Experiments.Running;

/// <summary>
/// One-line definitions and units of the metrics the models report (<c>plesim metrics</c>), by family.
/// A pattern is matched segment by segment on the dot-separated name: <c>*</c> is one segment (a VM
/// name, a cause, a label), <c>**</c> is the rest of the name (a task or cgroup path). The first
/// matching row wins. A metric added to a model without a row here fails a test.
/// </summary>
public static class MetricDefinitions
{
    /// <summary>The per-VM stacking ground truth's name after the VM's (decision 0093), which reports read back.</summary>
    public const string VcpusStacked = "frac_vcpus_stacked";

    /// <summary>Per-VM share of VCPU time in the window before each VCPU thread first ran.</summary>
    public const string NotStarted = "frac_not_started";

    /// <summary>Per-VM change of its share of the host's CPUs from the window's first half to its second.</summary>
    public const string HostShareDrift = "host_share_drift";

    /// <summary>One family of metrics.</summary>
    /// <remarks>
    /// <see cref="Quantum"/>, for a metric counted in whole batches: how it moves in steps (in words),
    /// and <see cref="Resolution"/> the step in the metric's unit for a scenario's VM and window, so
    /// that a table can say equal runs are a quantisation.
    /// </remarks>
    public sealed record Definition(string Pattern, string Unit, string Meaning)
    {
        public string? Quantum { get; init; }

        public Func<Scenarios.Scenario, string, double?>? Resolution { get; init; }
    }

    /// <summary>The table. "VCPU time" is the VM's VCPU-thread time in the measured window (VCPUs × window).</summary>
    public static readonly IReadOnlyList<Definition> All =
    [
        // engine-hold
        new("events", "events", "events the engine executed in the measured window"),
        new("events_per_sim_second", "1/s (simulated)", "events executed per simulated second"),
        new("pending", "events", "events still queued at the end of the run"),
        new("watchdog_fires", "count", "times the hold model's watchdog fired"),
        // host
        new("host_switches_per_second", "1/s", "context switches on all physical CPUs, per second"),
        new("host_migrations_per_second", "1/s", "task migrations between physical CPUs, per second"),
        new("host_node_migrations_per_second", "1/s", "task migrations between CPUs of different NUMA nodes, per second (hosts with host.numa.nodes > 1)"),
        new("serialized_balance_skips_per_second", "1/s", "times a CPU skipped an SD_SERIALIZE domain level because another CPU held the balancing lock, per second (NUMA hosts)"),
        new("host_utilisation", "fraction", "busy time of the physical CPUs over their total time"),
        new("host.background_cpus", "CPUs", "CPU time of the host's background tasks, in CPUs"),
        new("host.background_items_per_second", "1/s", "work items the background tasks ran, per second"),
        new("host.background_coalesced_per_second", "1/s", "background work items coalesced with one already queued, per second"),
        new("cpu_share.**", "fraction of one CPU", "CPU time of the named host task over the window"),
        new("group_share.**", "fraction of one CPU", "CPU time of the named host cgroup over the window"),
        new("group_weight.**", "load weight", "mean CFS weight of the named cgroup's entity while runnable, sampled at ticks"),
        new("migrations_per_second.*", "1/s", "host task migrations of this cause (wakeup, fork, periodic/idle/newidle/active balance, affinity), per second"),
        new("min_periodic_balance_gap_ms", "ms", "shortest gap between two periodic-balance migrations (reported once two happened)"),
        new("first_periodic_migration_ms", "ms", "time after warm-up of the first periodic-balance migration (reported once one happened)"),
        new("wakeup_latency_mean_us", "µs", "mean host wake-up latency (wake-up to running)"),
        new("wakeup_latency_p99_us", "µs", "99th percentile host wake-up latency"),
        new("wakeup_latency_max_us", "µs", "largest host wake-up latency"),
        new("yield_to_success", "count", "host yield_to() calls that succeeded (host yield-to scenarios)"),
        new("yield_to_failed", "count", "host yield_to() calls that failed"),
        new("yield_to_target_ran_next", "fraction", "successful yield_to() calls after which the target ran next"),
        new("yield_to_other_ran_next", "fraction", "successful yield_to() calls after which a third task ran next"),
        new("yield_to_self_ran_next", "fraction", "successful yield_to() calls after which the yielder ran again next"),
        // per VM: time shares (of VCPU time)
        new("*.cpus_used", "CPUs", "host CPU time of the VM's VCPU threads, in CPUs"),
        new("*.frac_spin", "share of VCPU time", "VCPU time spent spinning on a guest lock in guest mode"),
        new("*.frac_pause_exit", "share of VCPU time", "VCPU time in PAUSE-loop exits (exit, handler, entry)"),
        new("*.frac_halted", "share of VCPU time", "VCPU time halted in the guest (idle or waiting)"),
        new("*.frac_preempted", "share of VCPU time", "VCPU time runnable but not running on the host (preempted)"),
        new("*.frac_not_started", "share of VCPU time", "VCPU time in the window before the VCPU thread first ran on a host CPU (forked but still queued, or not yet forked under vms[].start_at or vcpu_start_spread); above zero, the window includes the VM's start-up: lengthen warmup"),
        new("*.host_share_drift", "share of the host", "the VM's share of the host's CPUs in the second half of the window minus its share in the first half; far from 0, the window is not steady (a start-up still under way, a placement that changed): lengthen warmup or look at run --timeline"),
        new("*.frac_lock_holder_preempted", "share of VCPU time", "VCPU time preempted while holding a guest lock"),
        new("*.frac_rq_lock_wait", "share of VCPU time", "VCPU time waiting for a host runqueue lock in the directed-yield walk"),
        new("*.frac_guest_run", "share of VCPU time", "VCPU time running guest code"),
        new("*.frac_other_exit", "share of VCPU time", "VCPU time in exits other than PAUSE (IPIs, HLT, hypercalls, ...)"),
        new("*.frac_ple_sleep", "share of VCPU time", "VCPU time asleep in the sleep PAUSE handler"),
        new("*.frac_userspace", "share of VCPU time", "VCPU time in user-space (QEMU) exits"),
        new("*.frac_costopped", "share of VCPU time", "VCPU time co-stopped by the co-scheduling comparator (host.coscheduling gang or relaxed)"),
        new("*.frac_gang_wait", "share of VCPU time", "VCPU time from reaching VM entry with a gang sibling off its CPU until entering or being co-stopped (host.coscheduling gang; counted when the wait ends)"),
        new("*.costops_per_second", "1/s", "times a VCPU of the VM blocked co-stopped (host.coscheduling gang or relaxed), per second"),
        new("*.frac_spin_behind_descheduled_waiter", "share of VCPU time", "VCPU time spinning behind a ticket waiter that is not running"),
        new("*.frac_time_split", "share of the window", "time some of the VM's VCPUs were on a CPU while others were runnable but off-CPU (the only time a VCPU can spin on a preempted one)"),
        new("*.frac_vcpus_stacked", "share of the window", "time two or more of the VM's runnable VCPU threads were queued on one host CPU, so that one could run only when the other stopped (unavoidable when more of its VCPUs are runnable than it has CPUs; otherwise a placement that can last a whole run: README, Known problems)"),
        new("*.vcpu_stint_ms", "ms", "time-weighted mean length of a VCPU's uninterrupted stay on a host CPU, from switch-in to switch-out (Σ stint² / Σ stint over the stints that ended in the window): the host slice a VCPU actually got"),
        new("*.yields_kept_cpu_rate", "fraction", "share of the VM's VCPU yields that reached schedule() (successful yield_to, sched_yield) after which the host picked the yielder again; high under EEVDF 6.6-6.14, where a yield only pushes the yielder's deadline (decision 0044)"),
        new("*.lock_stalled_on_descheduled_waiter", "fraction of the window", "time a released lock waited for its next, descheduled, waiter"),
        new("*.lock_handoff_mean_ns", "ns", "guest.cache_coherence: directory only: mean time from a contended spinlock waiter's look at the lock (at or after the release) until the lock word told it the lock was free and, for a locked claim, the line was its own (decision 0059)"),
        new("*.lock_line_readers_at_release", "VCPUs", "guest.cache_coherence: directory only: mean number of VCPUs executing their spin loop on the lock word's line at a spinlock release (all running waiters of a ticket or test-and-set lock; at most the queue head of a queued lock)"),
        new("*.frac_lock_line_stall", "share of VCPU time", "guest.cache_coherence: directory only: VCPU time the fast-path atomics and the PV unlocks' locked instructions waited for a spinlock word's line"),
        // per VM: rates
        new("*.pause_exits_per_second", "1/s", "PAUSE-loop exits of the VM's VCPUs, per second"),
        new("*.lock_holder_preemptions_per_second", "1/s", "preemptions of a VCPU holding a guest lock, per second (sum of lhp.*)"),
        new("*.lhp.*", "1/s", "lock-holder preemptions by who preempted (woken_by_holder, same_vm, other_vm, host_task), per second"),
        new("*.irqs_deferred_per_second", "1/s", "guest interrupts delivered late because the VCPU was not running, per second"),
        new("*.irq_deferred_mean_us", "µs", "mean delay of a deferred guest interrupt"),
        new("*.irq_window_exits_per_second", "1/s", "interrupt-window exits, per second"),
        new("*.guest_idle_pulls_per_second", "1/s", "threads an idle guest VCPU pulled from another VCPU's queue (idle and new-idle balancing), per second"),
        new("*.guest_newidle_balances_per_second", "1/s", "new-idle balances (idle_balance from schedule() as a guest VCPU goes idle, skipped ones included), per second"),
        new("*.guest_newidle_skips_per_second", "1/s", "new-idle balances a guest VCPU going idle skipped because its average idle period (rq->avg_idle) was shorter than sched_migration_cost (2.6.32–5.10 idle_balance), per second"),
        new("*.guest_newidle_not_overloaded_skips_per_second", "1/s", "new-idle balances a guest VCPU going idle skipped because no VCPU had a second runnable thread since the last balance pass (!rq->rd->overload, 4.2+ guests), per second"),
        new("*.guest_busy_balances_per_second", "1/s", "periodic load balances a busy guest VCPU ran (rebalance_domains from a busy tick), per second"),
        new("*.guest_busy_balance_imbalanced_per_second", "1/s", "busy guest balances that found a busiest VCPU worth pulling from, per second"),
        new("*.guest_busy_balance_pulls_per_second", "1/s", "threads busy guest balances moved, per second"),
        new("*.guest_active_balances_not_modelled", "count", "busy guest balances that failed often enough for the kernel to start an active balance (pushing the busiest VCPU's running thread), which the model does not do"),
        new("*.ipi_exits_per_second", "1/s", "IPI exits (APIC ICR writes; with x2APIC an MSR write, one per destination), per second"),
        new("*.hlt_exits_per_second", "1/s", "HLT exits of the VM's VCPUs, per second"),
        new("*.pv_lock_halts_per_second", "1/s", "paravirtual spinlock halts (pv_wait), per second"),
        new("*.pv_kicks_per_second", "1/s", "paravirtual kicks (KICK_CPU hypercalls), per second"),
        new("*.lock_steals_per_second", "1/s", "locks taken out of queue order (test-and-set or qspinlock steals), per second"),
        new("*.pmtlock_timeouts_per_second", "1/s", "preemptable ticket lock: waiters whose timeout ((ticket - head) x guest.pmtlock_timeout_unit loops) ran out before the head reached their ticket, per second"),
        new("*.out_of_order_acquisitions_per_second", "1/s", "preemptable ticket lock: acquisitions by a waiter whose timeout had run out, while the head was not at its ticket (out of ticket order), per second"),
        new("*.contended_acquisitions", "count", "guest spinlock acquisitions that had to wait (the fast path failed), in the window"),
        new("*.spin_within_65536_iterations_pct", "%", "share of contended spinlock acquisitions whose waiter executed fewer than 2^16 PAUSE-loop iterations (guest-mode spin time over one loop)"),
        new("*.spin_iterations_p50", "iterations", "median PAUSE-loop iterations per contended spinlock acquisition, as the upper edge of its log2 bucket (0: none)"),
        new("*.spin_iterations_p99", "iterations", "99th percentile of PAUSE-loop iterations per contended spinlock acquisition, as the upper edge of its log2 bucket"),
        new("*.spin_iterations_log2.*", "count", "contended spinlock acquisitions in log2 bucket b of PAUSE-loop iterations: b = 0 none, b >= 1 [2^(b-1), 2^b); only non-empty buckets are listed"),
        new("*.pv_tlb_flush_skips_per_second", "1/s", "TLB-flush IPIs skipped for preempted VCPUs (PV TLB flush), per second"),
        new("*.pv_sched_yields_per_second", "1/s", "SCHED_YIELD hypercalls, per second"),
        new("*.halts_marked_preempted_per_second", "1/s", "blocks on HLT at which KVM set the VCPU's steal-time preempted byte (kvm.steal_time_preempted_on_block, KVM before 5.19; decision 0081), per second"),
        new("*.diag9c_calls", "count", "s390 guest: DIAGNOSE 0x9c (directed yield) calls of the VM's VCPUs in the window (KVM's instruction_diagnose_9c)"),
        new("*.diag9c_calls_per_second", "1/s", "s390 guest: DIAGNOSE 0x9c (directed yield) calls, per second"),
        new("*.diag9c_yield_rate", "fraction", "s390 guest: diag 9c calls whose yield_to() to the named VCPU succeeded"),
        new("*.diag9c_ignored_rate", "fraction", "s390 guest: diag 9c calls KVM ignored (diag_9c_ignored: self, no such VCPU, target loaded on a host CPU, yield_to failed)"),
        new("*.diag9c_at_entry_rate", "fraction", "s390 guest: diag 9c calls made on entry to a lock wait because the owner's VCPU was not running (arch_vcpu_is_preempted); the rest come every spin_retry + 2 loop passes"),
        new("*.diag9c_outcome.*", "fraction", "s390 guest: diag 9c calls by how __diag_time_slice_end_directed ended (self, no_target, target_running, host_cpu_running, forwarded, yield_to_failed, yielded)"),
        new("*.sigp_external_calls_per_second", "1/s", "s390 guest: SIGP EXTERNAL CALL orders (the reschedule and call-function IPIs, pcpu_ec_call) the VM's VCPUs issued, per second"),
        new("*.sigp_interpreted_rate", "fraction", "s390 guest: SIGP external calls the SIGP interpretation facility executed without an intercept and accepted"),
        new("*.sigp_busy_rate", "fraction", "s390 guest: SIGP external calls answered condition code 1 'external call pending' (the target had one pending: no new interrupt, no retry)"),
        new("*.sigp_intercepts_per_second.*", "1/s", "s390 guest: intercepts caused by SIGP external calls, by intercept code: inst (ICPT_INST 0x04, kvm_s390_handle_sigp; SIGP interpretation off) and partexec (ICPT_PARTEXEC 0x38, kvm_s390_handle_sigp_pei; the target waited)"),
        new("*.ec_calls_coalesced_per_second", "1/s", "s390 guest: reschedule/call-function requests that sent no SIGP because the target's ec_mask bit was still set (pcpu_ec_call), per second"),
        new("*.s390_tlb_flushes_per_second.*", "1/s", "s390 guest: TLB flushes of an address space by kind, per second: lazy (no other CPU attached: flush_mm, one IDTE) and global (another CPU attached: broadcast IPTE); none sends an IPI"),
        new("*.kick_yields_per_second", "1/s", "kvm_sched_yield calls made by KICK_CPU hypercalls (kvm.kick_yield), per second"),
        new("*.kick_yield_success_rate", "fraction", "kick yields whose yield_to() succeeded"),
        new("*.kick_yield_not_ready_rate", "fraction", "kick yields that found the kicked VCPU not ready (running, or not woken)"),
        new("*.kick_yield_failed_rate", "fraction", "kick yields whose yield_to() failed"),
        new("*.lock_handoffs_to_descheduled_waiter_per_second", "1/s", "lock releases whose next waiter was not running, per second"),
        new("*.posted_interrupts_per_second", "1/s", "APICv (kvm.apicv given): interrupts posted in a VCPU's posted-interrupt descriptor (vmx_deliver_posted_interrupt, new PIR bit), per second"),
        new("*.pi_notifications_per_second", "1/s", "APICv: posted-interrupt notification vectors sent to a VCPU in guest mode (no VM exit on the receiver), per second"),
        new("*.pi_delivered_without_exit_per_second", "1/s", "APICv: interrupts the CPU's posted-interrupt processing delivered in guest mode (a notification that found the VCPU in the guest: no VM exit), per second"),
        new("*.external_exits_per_second", "1/s", "external-interrupt exits (kicks that force a VCPU out of guest mode, host timer interrupts), per second (reported with kvm.apicv given)"),
        new("*.ipi_latency_us", "µs", "mean time from KVM's delivery of an IPI (end of the sender's ICR-write / PV send-IPI handler) to the start of the guest's handler (reported with kvm.apicv given)"),
        new("*.ipi_latency_guest_mode_us", "µs", "ipi_latency_us for the IPIs whose target was running in guest mode when KVM delivered them (without APICv: the kick's exit and the next entry, decision 0062; reported with kvm.apicv given)"),
        new("*.ipiv_ipis_per_second", "1/s", "IPIv (kvm.ipiv): unicast fixed ICR writes the CPU virtualized without a VM exit (posted into the target's descriptor), per second"),
        new("*.ipiv_suppressed_per_second", "1/s", "IPIv: IPIs the CPU posted to a VCPU whose descriptor had SN set (scheduled out runnable): PIR only, no notification, synced at its next entry; per second"),
        new("*.ipiv_wakeups_per_second", "1/s", "IPIv: blocked VCPUs woken by the posted-interrupt wake-up vector (pi_wakeup_handler), per second"),
        new("*.dy_user_mode_pending_interrupt_per_second", "1/s", "directed-yield candidates preempted in user mode that the 5.13 rule kept because they had a posted interrupt pending, per second"),
        new("*.ipi_aware_ipis_tracked_per_second", "1/s", "unicast fixed IPIs (ICR writes) the IPI-aware directed yield recorded at delivery (kvm.ipi_aware_yield), per second"),
        new("*.ipi_aware_sender_clears_per_second", "1/s", "EOIs whose second stage cleared the sender's pending IPI (receiver matched, inside kvm.ipi_window), per second"),
        new("*.ipi_aware_receiver_candidates_per_second", "1/s", "first-walk candidates accepted as a recent IPI receiver of the spinner (priority 1), per second"),
        new("*.ipi_aware_preempted_candidates_per_second", "1/s", "first-walk candidates accepted by the preemption fallback (priority 3), per second"),
        new("*.ipi_aware_rejected_candidates_per_second", "1/s", "first-walk candidates kvm_vcpu_is_good_yield_candidate rejected, per second"),
        new("*.ipi_aware_yields_to_ipi_receiver_per_second", "1/s", "successful yield_to() calls to a candidate accepted as an IPI receiver, per second"),
        new("*.ipi_aware_relaxed_rounds_per_second", "1/s", "second, preempted-only walks run because the first yielded nothing (kvm.relaxed_boost), per second"),
        new("*.ipi_aware_relaxed_yields_per_second", "1/s", "successful yield_to() calls made by the relaxed second walk, per second"),
        new("host.delayed_dequeues_per_second", "1/s", "DELAY_DEQUEUE (host.sched.features): entities, tasks and groups, that went to sleep while not eligible and stayed queued, per second"),
        new("host.delayed_pick_dequeues_per_second", "1/s", "DELAY_DEQUEUE: delayed entities a pick met and finished dequeuing, per second"),
        new("host.delayed_requeues_per_second", "1/s", "DELAY_DEQUEUE: delayed entities requeued in place (a delayed task woken by ttwu_runnable, or a delayed group a task was enqueued under), per second"),
        new("host.yield_deboost_attempts_per_second", "1/s", "yield_to_deboost calls (successful yield_to_task_fair with host.yield_to_debooster), per second"),
        new("host.yield_deboosts_per_second", "1/s", "vruntime penalties the vCPU debooster applied to yielders, per second"),
        new("host.yield_deboost_rate_limited_per_second", "1/s", "debooster attempts stopped by the 6 ms per-run-queue rate limit, per second"),
        new("host.yield_deboost_other_rq_per_second", "1/s", "debooster attempts stopped because the target was on another run queue (or not queued), per second"),
        new("host.yield_deboost_no_contention_per_second", "1/s", "debooster attempts stopped because the common queue held one task, per second"),
        new("host.yield_deboost_debounced_per_second", "1/s", "penalties lowered by the reverse-pair debounce (B yields to A within 600 us of A to B), per second"),
        new("host.yield_deboost_mean_penalty_us", "us (virtual time)", "mean vruntime penalty the debooster added"),
        new("host.lb_migrate_load_passes_per_second", "1/s", "6.6 load_balance passes whose imbalance was migrate_load (both groups loaded: move PELT load), per second (host.load_balance 6.6)"),
        new("host.lb_migrate_util_passes_per_second", "1/s", "6.6 load_balance passes whose imbalance was migrate_util (fill spare capacity beside an overloaded group), per second"),
        new("host.lb_migrate_task_passes_per_second", "1/s", "6.6 load_balance passes whose imbalance was migrate_task (even out task counts or idle CPUs), per second"),
        new("host.lb_migrate_load_tasks_per_second", "1/s", "tasks the 6.6 balancer moved (detach_tasks) in migrate_load passes, per second"),
        new("host.lb_migrate_util_tasks_per_second", "1/s", "tasks the 6.6 balancer moved in migrate_util passes, per second"),
        new("host.lb_migrate_task_tasks_per_second", "1/s", "tasks the 6.6 balancer moved in migrate_task passes, per second"),
        new("*.yield_to_success_rate", "fraction", "PAUSE-handler yield_to() calls that succeeded"),
        new("*.yield_to_hit_rate", "fraction", "successful yield_to() calls whose target was a VCPU the yielder was waiting on (ground truth)"),
        // per VM: workloads
        new("*.publish_rate", "messages/s", "AMQP messages published per second"),
        new("*.subscribe_rate", "messages/s", "AMQP messages consumed per second")
        {
            Quantum = "counted in whole subscriber batches, in the steady state full client buffers of buffer_bytes / (payload + frame_overhead_bytes) messages: the rate moves in steps of that many messages per window",
            Resolution = AmqpBufferPerWindow,
        },
        new("*.total_transfers_per_second", "messages/s", "AMQP messages published plus consumed, per second"),
        new("*.mean_batch", "messages", "mean messages per consumer batch"),
        new("*.tlb_shootdowns_per_second", "1/s", "broker heap trims that shoot down TLBs, per second"),
        new("*.broker_trims_per_message", "trims/message", "broker heap trims per message received"),
        new("*.broker_trimmed_kib_per_second", "KiB/s", "memory the broker's heap trims returned, per second"),
        new("*.broker_heap_trim_calls_per_second", "1/s", "heap-trim calls of the broker's allocator, per second"),
        new("*.broker_arena_consolidations_per_second", "1/s", "allocator arena consolidations in the broker, per second"),
        new("*.broker_arena_max_heap_kib", "KiB", "largest heap of the broker's arena"),
        new("*.broker_queue_max_depth", "messages", "deepest the broker's queue got"),
        new("*.lazy_tlb_flushes_per_second", "1/s", "lazy-TLB flushes in the guest, per second"),
        new("*.lock_iterations_per_second", "1/s", "lock-bench critical sections completed, per second"),
        new("*.completion_time_ms", "ms", "boot-storm: time until every VCPU finished its iterations (NaN if not within the run)"),
        new("*.records_per_s", "records/s", "ebizzy: records (search_mem iterations) completed per second, all threads"),
        new("*.elapsed_s", "s", "kernbench: time until make reaped the last compile unit; hackbench: until every receiver got all its messages (hackbench's Time:); pingpong: until every pair did its loops; NaN if not within the run"),
        new("*.units_per_s", "units/s", "kernbench: compile units finished per second"),
        new("*.dbench_mb_per_s", "MB/s", "dbench: its Throughput figure, 10^6 bytes of ReadX and WriteX per second of the window, all clients"),
        new("*.dbench_ops_per_s", "1/s", "dbench: load-file operations (lines) completed per second, all clients"),
        new("*.dedup_elapsed_s", "s", "dedup: time until Reorder wrote the last chunk (the pipeline's region of interest); NaN if not within the run"),
        new("*.dedup_mb_per_s", "MB/s", "dedup: 10^6 input bytes written by Reorder per second (of the elapsed time when it finished, else of the window)"),
        new("*.dedup_chunks_per_s", "chunks/s", "dedup: fine chunks written by Reorder per second (of the elapsed time when it finished, else of the window)"),
        new("*.dedup_duplicate_fraction", "fraction", "dedup: hash-table look-ups that found the chunk's content already there"),
        new("*.dedup_hashtable_contended_fraction", "fraction", "dedup: hash-table look-ups whose bucket mutex was taken (went to __lll_lock_wait)"),
        new("*.dedup_refine_que_waits_per_chunk", "waits/chunk", "dedup: FragmentRefine waits on refine_que's notEmpty (pthread_cond_wait), per chunk written"),
        new("*.dedup_deduplicate_que_waits_per_chunk", "waits/chunk", "dedup: Deduplicate waits on deduplicate_que's notEmpty, per chunk written"),
        new("*.dedup_compress_que_waits_per_chunk", "waits/chunk", "dedup: Compress waits on compress_que's notEmpty, per chunk written"),
        new("*.dedup_reorder_que_waits_per_chunk", "waits/chunk", "dedup: Reorder waits on reorder_que's notEmpty, per chunk written"),
        new("*.dedup_refine_que_mutex_contended_per_chunk", "locks/chunk", "dedup: contended acquisitions of refine_que mutexes, per chunk written"),
        new("*.dedup_deduplicate_que_mutex_contended_per_chunk", "locks/chunk", "dedup: contended acquisitions of deduplicate_que mutexes, per chunk written"),
        new("*.dedup_compress_que_mutex_contended_per_chunk", "locks/chunk", "dedup: contended acquisitions of compress_que mutexes, per chunk written"),
        new("*.dedup_reorder_que_mutex_contended_per_chunk", "locks/chunk", "dedup: contended acquisitions of reorder_que mutexes, per chunk written"),
        new("*.dedup_queue_full_waits_per_chunk", "waits/chunk", "dedup: producer waits on a full queue's notFull (QUEUE_SIZE), per chunk written"),
        new("*.dedup_reorder_chunk_waits_per_chunk", "waits/chunk", "dedup: Reorder blocked on a chunk not yet written out by Compress (its lock held, or its update condition waited on), per chunk written"),
        new("*.dedup_futex_sleeps_per_chunk", "sleeps/chunk", "dedup: FUTEX_WAIT calls that slept (mutexes and condition variables), per chunk written"),
        new("*.dedup_cross_thread_frees_per_chunk", "frees/chunk", "dedup: frees of a chunk another thread malloc'ed (compressed buffers, mcb_t, duplicates' chunk_t), per chunk written"),
        new("*.dedup_cross_thread_locked_frees_per_chunk", "frees/chunk", "dedup: cross-thread frees that missed the tcache and fastbins and took the owner arena's mutex, per chunk written"),
        new("*.dedup_arena_contended_per_chunk", "1/chunk", "dedup: glibc arena mutex acquisitions that found it taken (__lll_lock_wait), per chunk written"),
        new("*.pbzip2_elapsed_s", "s", "pbzip2: time until fileWriter wrote the last block; NaN if not within the run"),
        new("*.pbzip2_mb_per_s", "MB/s", "pbzip2: 10^6 input bytes of the blocks fileWriter wrote, per second (of the elapsed time when it finished, else of the window)"),
        new("*.pbzip2_blocks_per_s", "blocks/s", "pbzip2: blocks fileWriter wrote per second (of the elapsed time when it finished, else of the window)"),
        new("*.pbzip2_queue_full_waits_per_block", "waits/block", "pbzip2: producer waits on the full FIFO queue's notFull, per block written"),
        new("*.pbzip2_queue_empty_waits_per_block", "waits/block", "pbzip2: consumer waits on the empty FIFO queue's notEmpty, per block written"),
        new("*.pbzip2_writer_waits_per_block", "waits/block", "pbzip2: fileWriter waits on OutBufferHeadNotEmpty (next block not compressed yet), per block written"),
        new("*.pbzip2_throttle_waits_per_block", "waits/block", "pbzip2: consumer waits on notTooMuchNumBuffered (block beyond the OutputBuffer), per block written"),
        new("*.pbzip2_mutex_contended_per_block", "locks/block", "pbzip2: contended acquisitions of pbzip2's own pthread mutexes (fifo, OutMutex, flags), per block written"),
        new("*.pbzip2_arena_contended_per_block", "locks/block", "pbzip2: glibc arena mutex acquisitions that found it taken, per block written"),
        new("*.pbzip2_heap_trims_per_block", "1/block", "pbzip2: glibc trims that gave pages back (heap_trim madvise or main-arena brk shrink; a TLB shootdown each), per block written"),
        new("*.pbzip2_munmaps_per_block", "1/block", "pbzip2: frees of mmapped chunks (munmap, a TLB shootdown each), per block written"),
        new("*.pbzip2_futex_sleeps_per_block", "sleeps/block", "pbzip2: FUTEX_WAIT calls that slept (mutexes and condition variables), per block written"),
        new("*.dedup_heap_trims_per_chunk", "1/chunk", "dedup: heap_trim calls that gave pages back with madvise(MADV_DONTNEED), a TLB shootdown each, per chunk written"),
        new("*.page_faults_per_s", "1/s", "ebizzy/kernbench: guest anonymous page faults per second"),
        new("*.mmap_sem_slow_fraction", "fraction", "ebizzy/kernbench: mmap_sem acquisitions (read and write) that had to queue on the wait list"),
        new("*.shootdowns_per_s", "1/s", "TLB shootdowns started in the guest (flush_tlb_others calls), per second"),
        new("*.shootdown_ipis_per_s", "1/s", "TLB-flush IPIs the guest's shootdowns sent, per second"),
        new("*.lazy_tlb_skips_per_s", "1/s", "idle lazy-TLB VCPUs the guest's shootdowns left out because no page tables were freed (4.20+ tlb_is_not_lazy; guest.lazy_tlb_skip), per second"),
        new("*.lazy_tlb_leaves_per_s", "1/s", "flush IPIs taken by an idle lazy-TLB VCPU, which then left the address space (leave_mm), per second"),
        new("*.zone_lock_batches_per_s", "1/s", "ebizzy/kernbench: zone->lock batches (per-CPU list refills and drains), per second"),
        new("*.messages_per_second", "messages/s", "hackbench: messages delivered per second of elapsed time"),
        new("*.sender_sleeps_per_message", "sleeps/message", "hackbench: senders that found the socket buffer (or pipe) full and slept, per message"),
        new("*.receiver_sleeps_per_message", "sleeps/message", "hackbench, pingpong: receivers that found nothing to read and slept (pingpong futex: FUTEX_WAIT calls), per message"),
        new("*.resched_ipis_per_message", "IPIs/message", "hackbench: guest reschedule IPIs sent, per message"),
        new("*.ipi_exits_per_message", "exits/message", "hackbench, pingpong: APIC ICR-write (IPI) exits of the VM, per message"),
        new("*.hlt_exits_per_message", "exits/message", "hackbench, pingpong: HLT exits of the VM, per message"),
        new("*.kvm_halt_poll_success_rate", "fraction", "pingpong, tcp-rr: KVM halt polls (kvm.halt_poll_ns) ended by a wake-up before the limit, of those started"),
        new("*.frac_kvm_halt_poll", "fraction of VCPU time", "pingpong, tcp-rr: VCPU time KVM spent polling a halted VCPU for a wake-up"),
        new("*.kvm_halt_poll_task_end_rate", "fraction", "pingpong, tcp-rr: KVM halt polls ended because another task became runnable on the poller's CPU (single_task_running() false), of those started (decision 0097)"),
        new("*.tcp_rr_transactions_per_second", "1/s", "tcp-rr: netperf TCP_RR transactions of all streams per second (over the window, or until the last stream finished its transactions)"),
        new("*.tcp_rr_latency_us", "µs", "tcp-rr: mean transaction time, send() called to recv() returned with the response (decision 0045)"),
        new("*.vhost_notifies_per_transaction", "1/transaction", "tcp-rr: virtqueue notifications (ioeventfd exits) reaching the vhost worker, per transaction"),
        new("*.virtio_net_interrupts_per_transaction", "1/transaction", "tcp-rr: virtio-net receive interrupts the guest took, per transaction"),
        new("*.hlt_exits_per_transaction", "1/transaction", "tcp-rr: HLT exits of the VM, per transaction"),
        new("*.host_c0_share", "fraction", "VMs with vms[].affinity: share of time the host CPUs of the affinity were in C0, i.e. running any task (a VCPU thread's halt polling included; the idle task's time is C-state time), over CPUs x window (decision 0045)"),
        new("*.host_c0_percent", "%", "VMs with vms[].affinity: host_c0_share in percent (the unit C-state residency tools such as turbostat print)"),
        new("*.guest_timer_expiries_per_second", "1/s", "VMs with guest.timers: housekeeping timer expiries on all its VCPUs, per second"),
        new("*.round_trips_per_second", "1/s", "pingpong: round trips (token there and back) of all pairs per second of elapsed time"),
        new("*.usecs_per_op", "us/op", "pingpong: elapsed time / round trips per pair, in microseconds (perf bench sched pipe's usecs/op)"),
        new("*.ns_per_switch", "ns", "pingpong: elapsed time / (2 x round trips per pair): one hand-over of the token (a context switch on a shared VCPU)"),
        new("*.pv_send_ipis_per_second", "1/s", "KVM_HC_SEND_IPI hypercalls (PV send-IPI), per second"),
        new("*.pv_send_ipi_exits_saved", "count", "ICR-write exits the PV send-IPI hypercalls replaced (destinations minus hypercalls) in the window"),
        new("*.guest_haltpolls_per_second", "1/s", "guest haltpoll: idle polls (poll_idle) started, per second"),
        new("*.guest_haltpoll_hit_rate", "fraction", "guest haltpoll: polls ended by a wake-up rather than the time limit"),
        new("*.frac_guest_haltpoll", "fraction of VCPU time", "guest haltpoll: VCPU time spent polling in the guest idle loop"),
        new("*.polling_wakeups_per_second", "1/s", "wake-ups of a polling idle VCPU that needed no reschedule IPI, per second"),
        new("*.mutex_acquisitions_per_second", "1/s", "guest kernel mutex acquisitions (fast path, owner spin or wait list), per second"),
        new("*.mutex_spin_acquisitions_per_second", "1/s", "guest kernel mutexes taken at the end of an owner spin (mutex_spin_on_owner), per second"),
        new("*.mutex_sleeps_per_second", "1/s", "guest kernel mutex waiters that went to sleep on the wait list, per second"),
        new("*.mutex_spin_give_ups_per_second", "1/s", "owner spins abandoned because the owner changed, left its CPU (guest view) or a reschedule was due, per second"),
        new("*.mutex_spin_give_ups_vcpu_preempted_per_second", "1/s", "owner spins abandoned because vcpu_is_preempted said the owner's VCPU was preempted (4.10+ guests), per second"),
        new("*.rwsem_spins_per_second", "1/s", "guest.rwsem 4.19: writers that started rwsem_optimistic_spin (rwsem_can_spin_on_owner true), per second"),
        new("*.rwsem_spin_skipped_reader_owned_per_second", "1/s", "guest.rwsem 4.19: writers that did not spin because the owner field said RWSEM_READER_OWNED, per second"),
        new("*.rwsem_spin_acquisitions_per_second", "1/s", "guest.rwsem 4.19: write locks taken in the spin (rwsem_try_write_lock_unqueued), per second"),
        new("*.rwsem_spin_steals_per_second", "1/s", "guest.rwsem 4.19: write locks a spinner took while tasks were queued (lock stealing), per second"),
        new("*.rwsem_spin_give_ups_per_second", "1/s", "guest.rwsem 4.19: spins abandoned because readers took it, the owner left its CPU or need_resched, per second"),
        new("*.rwsem_spin_give_ups_vcpu_preempted_per_second", "1/s", "guest.rwsem 4.19: spins abandoned because vcpu_is_preempted reported the owner's VCPU or the OSQ predecessor's, per second"),
        new("*.rwsem_writer_sleeps_per_second", "1/s", "guest.rwsem 4.19: sleeps of writers in rwsem_down_write_failed, per second"),
        new("*.rwsem_writer_retries_lost_per_second", "1/s", "guest.rwsem 4.19: woken writers that found the lock taken again (lost it to a spinner or reader grant), per second"),
        new("*.rwsem_reader_spins_per_second", "1/s", "guest.rwsem 5.3: readers that entered rwsem_optimistic_spin (reader optimistic spinning; 0 with 6.1, which has none), per second"),
        new("*.rwsem_reader_spin_acquisitions_per_second", "1/s", "guest.rwsem 5.3: read locks taken in the spin (rwsem_try_read_lock_unqueued, waiters queued or not), per second"),
        new("*.rwsem_reader_phase_trylocks_per_second", "1/s", "guest.rwsem 5.3: read locks taken by rwsem_reader_phase_trylock after a failed reader spin, per second"),
        new("*.rwsem_spin_skipped_nonspinnable_per_second", "1/s", "guest.rwsem 5.3/6.1: spins not started because the owner field's nonspinnable bit for that side was set (5.3: RD/WR_NONSPINNABLE; 6.1: RWSEM_NONSPINNABLE), per second"),
        new("*.rwsem_spin_skipped_owner_not_running_per_second", "1/s", "guest.rwsem 5.3/6.1: spins not started because the writer owner was off its CPU or vcpu_is_preempted reported its VCPU, per second"),
        new("*.rwsem_spin_reader_owned_timeouts_per_second", "1/s", "guest.rwsem 5.3/6.1: writer spins on a reader-owned lock that passed rwsem_rspin_threshold and set the nonspinnable bits, per second"),
        new("*.rwsem_handoffs_set_by_reader_per_second", "1/s", "guest.rwsem 5.3/6.1: RWSEM_FLAG_HANDOFF set by a failed reader grant in rwsem_mark_wake (head waited past RWSEM_WAIT_TIMEOUT), per second"),
        new("*.rwsem_handoffs_set_by_writer_per_second", "1/s", "guest.rwsem 5.3/6.1: RWSEM_FLAG_HANDOFF set by a waiting writer in rwsem_try_write_lock (5.3: the first, in WRITER_HANDOFF; 6.1: any past its timeout), per second"),
        new("*.rwsem_handoff_spins_per_second", "1/s", "guest.rwsem 5.3/6.1: hand-off writers that spun on a running writer owner in the slow-path loop, per second"),
        new("*.rwsem_reader_steals_per_second", "1/s", "guest.rwsem 6.1: read locks taken by the slow path's reader optimistic lock stealing (no writer, no hand-off), per second"),
        new("*.futex_waits_per_second", "1/s", "FUTEX_WAIT calls, per second"),
        new("*.futex_sleeps_per_second", "1/s", "FUTEX_WAIT calls that queued and slept (the word still held the expected value), per second"),
        new("*.futex_wakes_per_second", "1/s", "FUTEX_WAKE calls, per second"),
        new("*.sysbench_events_per_second", "1/s", "sysbench requests (events) completed, per second"),
        new("*.sysbench_yields_per_second", "1/s", "sysbench threads test: sched_yield calls under a mutex, per second"),
        new("*.sysbench_mutex_rounds_per_second", "1/s", "sysbench mutex test: lock/unlock rounds on the mutex array, per second"),
        new("*.sysbench_contended_locks_per_second", "1/s", "sysbench: pthread mutex locks that took glibc's contended path (__lll_lock_wait), per second"),
        new("*.sysbench_total_time_s", "s", "sysbench: time from the start until every thread finished (sysbench's total time; NaN if not within the run)"),
        // per VM: ground truth (counts in the window; docs/ground-truth.md)
        new("*.spin_ns", "ns", "VCPU time spinning on guest locks in the window"),
        new("*.spin_ns.handoff_reserved", "ns", "spin time in a 5.3/5.10/6.1 rw_semaphore's optimistic spin while nobody holds it and RWSEM_FLAG_HANDOFF reserves it for the first waiter"),
        new("*.spin_share.handoff_reserved", "fraction of spin", "share of spin_ns on a free rw_semaphore reserved by the hand-off bit (5.3-5.10: can be a lost wake-up)"),
        new("*.spin_ns.*", "ns", "spin time by the cause the spinner waited on (they add up to spin_ns)"),
        new("*.spin_share.*", "fraction of spin", "share of spin_ns with this cause"),
        new("*.pause_exits", "count", "PAUSE-loop exits in the window"),
        new("*.pause_exits.*", "count", "PAUSE-loop exits by the spinner's cause"),
        new("*.yield_to_calls", "count", "yield_to() calls of the PAUSE handler in the window"),
        new("*.yield_to.*", "count", "yield_to() calls by the target's label or the failure reason (they add up to yield_to_calls)"),
        new("*.dy_walks", "count", "directed-yield candidate walks"),
        new("*.dy_walks_without_yield", "count", "directed-yield walks that yielded to nobody"),
        new("*.dy_candidates", "count", "VCPUs the directed-yield walks looked at"),
        new("*.dy_skipped.*", "count", "directed-yield candidates skipped, by reason"),
        new("*.dy_blocking_dy_runnable", "count", "5.8+ walks: candidates blocking on their rcuwait (halted, or woken and not yet run) kept because vcpu_dy_runnable (decision 0097)"),
        new("*.dy_walks_ended_before_pass1", "count", "3.17–6.12 walks that ended after pass 0 because its last yield_to returned -ESRCH (decision 0097)"),
    ];

    /// <summary>
    /// The step of an AMQP rate: one client buffer of messages (the model's
    /// <c>AmqpSettings.MessagesPerBuffer</c>) per measured window, for the VM named in
    /// <paramref name="metric"/>; null when that VM does not run amqp-perftest.
    /// </summary>
    private static double? AmqpBufferPerWindow(Scenarios.Scenario s, string metric)
    {
        int dot = metric.IndexOf('.', StringComparison.Ordinal);
        var vm = s.Vms.FirstOrDefault(v => dot > 0 && v.Name == metric[..dot]);
        if (vm is null || vm.Workload.Kind != "amqp-perftest" || s.Duration.Ns <= 0)
            return null;
        return vm.Workload.Amqp.MessagesPerBuffer / s.Duration.TotalSeconds;
    }

    /// <summary>The step <paramref name="metric"/> moves in for <paramref name="scenario"/> (<see cref="Definition.Resolution"/>), or null.</summary>
    public static double? ResolutionOf(string metric, Scenarios.Scenario scenario) =>
        Of(metric)?.Resolution is { } r ? r(scenario, metric) : null;

    /// <summary>The definition of <paramref name="metric"/>, or null when no row covers it.</summary>
    public static Definition? Of(string metric)
    {
        var segments = metric.Split('.');
        foreach (var d in All)
        {
            if (Matches(d.Pattern.Split('.'), segments))
                return d;
        }
        return null;
    }

    private static bool Matches(string[] pattern, string[] name)
    {
        for (int i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] == "**")
                return i < name.Length;
            if (i >= name.Length || (pattern[i] != "*" && pattern[i] != name[i]))
                return false;
        }
        return pattern.Length == name.Length;
    }
}

using PleSim.Engine;
using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>The guest kernel's spinlock implementation.</summary>
public enum SpinlockKind
{
    /// <summary>Ticket spinlock (x86 default 2.6.25–3.x): FIFO, a preempted next-in-line waiter blocks everyone.</summary>
    Ticket,

    /// <summary>Test-and-set: whoever sees the lock free first takes it.</summary>
    TestAndSet,

    /// <summary>
    /// Paravirtual ticket spinlock (3.12–4.1 with CONFIG_PARAVIRT_SPINLOCKS on KVM): a ticket lock
    /// whose waiter spins SPIN_THRESHOLD loops, then registers (<c>kvm_lock_spinning</c>) and halts;
    /// the unlocker of its ticket kicks it with KVM_HC_KICK_CPU (<c>kvm_unlock_kick</c>).
    /// </summary>
    PvTicket,

    /// <summary>
    /// Queued spinlock (x86 default from 4.2, kernel/locking/qspinlock.c) without paravirt: waiters
    /// queue (MCS), the queue head spins on the lock word and takes it when it is free; nobody
    /// overtakes the queue. For lock-waiter preemption it behaves as the ticket lock (the pending-bit
    /// and cache-locality details are not modelled).
    /// </summary>
    Queued,

    /// <summary>
    /// Paravirtual queued spinlock (kernel/locking/qspinlock_paravirt.h): queued waiters spin
    /// SPIN_THRESHOLD loops then <c>pv_wait</c> (halt); the head, too, halts after SPIN_THRESHOLD with
    /// the lock hashed (once per wait) and the locked byte <c>_Q_SLOW_VAL</c>, and the unlocker that
    /// finds that byte <c>pv_kick</c>s it; a hashed head halts again only while the byte is still
    /// <c>_Q_SLOW_VAL</c> (decision 0084). Per version (decision 0058): from 4.5 a
    /// newcomer takes a free lock ahead of the queue unless the queue head is actively spinning (the
    /// pending bit; <see cref="GuestSettings.PvQspinlockSteal"/>), and a queued node halts early when its
    /// predecessor is not running (<see cref="GuestSettings.PvQspinlockWaitEarly"/>).
    /// </summary>
    PvQueued,

    /// <summary>
    /// Preemptable ticket spinlock (Ouyang and Lange, VEE 2013; the authors' pmtlock patch v1.0 for
    /// 3.5, arch/x86/include/asm/spinlock.h <c>__ticket_spin_lock</c>): a waiter takes a ticket and
    /// loops until the head reaches it or a timeout of (ticket - head) x TIMEOUT_UNIT loops runs out,
    /// the timeout recomputed whenever the head moves; then it spins on a separate <c>lock</c> word with
    /// <c>xchg</c> (test-and-set), so a waiter whose timeout ran out can take a free lock ahead of
    /// earlier, preempted waiters. Unlock increments the head and clears the word. Decision 0046.
    /// </summary>
    PreemptableTicket,

    /// <summary>
    /// A ticket lock whose waiting and unlock a plug-in decides (<c>guest.spinlock: plugin:NAME</c>,
    /// decision 0041): waiters spin PAUSE loops or halt in the PV slow path as
    /// <see cref="PleSim.Plugins.IGuestSpinlockPlugin"/> says; the unlocker kicks the next waiter
    /// if it halted, and as many more halted waiters as the plug-in asks.
    /// </summary>
    Plugin,

    /// <summary>
    /// The s390 spinlock of a KVM guest on shared (not dedicated) CPUs (<c>guest.spinlock: s390</c>,
    /// decision 0055): arch/s390/lib/spinlock.c, Linux 6.17, <c>arch_spin_lock_classic</c> (what
    /// <c>arch_spin_lock_wait</c> runs unless CIF_DEDICATED_CPU). The lock word holds the owner's CPU
    /// number + 1; a waiter spins with plain loads (no PAUSE, so no pause-loop exits) and takes the
    /// lock with compare-and-swap when it reads it free (no order among waiters). On entry it yields
    /// to the owner with DIAGNOSE 0x9c if <c>arch_vcpu_is_preempted</c> says the owner's VCPU is not
    /// running; then every <c>spin_retry</c> + 2 looks at a held lock it issues diag 9c to the owner
    /// again — unconditionally, as a guest that is not in an LPAR does.
    /// </summary>
    S390,
}

/// <summary><c>guest.cache_coherence</c> (decision 0059): what the guest's spinlock words cost in cache-line traffic.</summary>
public enum CacheCoherence
{
    /// <summary>Nothing (the model before decision 0059).</summary>
    None,

    /// <summary>
    /// Each lock word is one cache line kept coherent by a directory that serves one request at a
    /// time: the VCPUs spinning on it re-read it after every write, and a waiter's look or atomic
    /// queues behind theirs.
    /// </summary>
    Directory,
}

/// <summary>The CPU topology QEMU shows the guest, which decides the guest's idle-CPU search on wake-up.</summary>
public enum GuestTopology
{
    /// <summary><c>-smp N</c> (QEMU's default then): N sockets of one core; no cache-sharing domain, so wake-ups go to the waker's or the previous VCPU.</summary>
    Sockets,

    /// <summary>One socket of N cores: <c>select_idle_sibling</c> looks for an idle VCPU in the package.</summary>
    Cores,
}

/// <summary>Guest-side costs (guest time, i.e. time the VCPU spends in guest mode).</summary>
public sealed record GuestCosts
{
    public SimDuration ContextSwitch { get; init; } = SimDuration.FromNanoseconds(1500);
    public SimDuration TickHandler { get; init; } = SimDuration.FromNanoseconds(1000);
    public SimDuration IdleTickHandler { get; init; } = SimDuration.FromNanoseconds(2000);
    public SimDuration ReschedIpiHandler { get; init; } = SimDuration.FromNanoseconds(500);
    public SimDuration CallFunctionHandler { get; init; } = SimDuration.FromNanoseconds(1000);
    public SimDuration LockAcquire { get; init; } = SimDuration.FromNanoseconds(30);
    public SimDuration LockRelease { get; init; } = SimDuration.FromNanoseconds(20);

    /// <summary>Cache-line transfer from the releasing VCPU to the next owner.</summary>
    public SimDuration LockHandover { get; init; } = SimDuration.FromNanoseconds(150);

    /// <summary>try_to_wake_up's work outside the run-queue lock (select_task_rq, statistics).</summary>
    public SimDuration WakeupPath { get; init; } = SimDuration.FromNanoseconds(300);

    /// <summary>Enqueueing a woken task under the target run-queue lock (+ check_preempt_curr).</summary>
    public SimDuration Enqueue { get; init; } = SimDuration.FromNanoseconds(250);

    /// <summary>Moving a runnable thread to an idle VCPU (new-idle pull), under the source run-queue lock.</summary>
    public SimDuration Migrate { get; init; } = SimDuration.FromNanoseconds(400);

    /// <summary>Time from waking on a halted VCPU's interrupt to running schedule() (the idle loop's exit).</summary>
    public SimDuration IdleExit { get; init; } = SimDuration.FromNanoseconds(500);

    /// <summary>
    /// A system call's entry and exit (SYSCALL, the kernel entry code, SYSRET), charged once per
    /// futex call. Assumption: a null system call took about 0.1 µs on 2011 x86 servers (lmbench's
    /// lat_syscall null order of magnitude); not measured here.
    /// </summary>
    public SimDuration Syscall { get; init; } = SimDuration.FromNanoseconds(100);
}

/// <summary>
/// A periodic kernel timer of every guest CPU (<c>guest.timers</c>, decision 0045): a timer-wheel
/// timer or delayed work (a watchdog, writeback, vmstat_update) whose function costs
/// <see cref="Cost"/> of guest time every <see cref="Period"/>. It runs from the tick's timer
/// softirq; a tickless idle CPU programs its APIC timer for it, so it wakes the idle VCPU — unless
/// it is <see cref="Deferrable"/> (TIMER_DEFERRABLE, <c>INIT_DELAYED_WORK_DEFERRABLE</c>): the
/// next-event search of a CPU stopping its tick skips such timers (2.6.39 kernel/timer.c
/// <c>__next_timer_interrupt</c>; 4.8+ keep them in a base of their own), so they never wake an
/// idle CPU and run at the first tick after something else woke it (decision 0078).
/// </summary>
public readonly record struct GuestTimer(string Name, SimDuration Period, SimDuration Cost, bool Deferrable = false);

/// <summary>The guest kernel model: tick, idle, topology, spinlock kind, its scheduler's granularities, costs.</summary>
public sealed record GuestSettings
{
    /// <summary>The guest's CONFIG_HZ (its periodic tick).</summary>
    public int Hz { get; init; } = 1000;

    /// <summary>Idle VCPUs stop their tick (guest CONFIG_NO_HZ).</summary>
    public bool TicklessIdle { get; init; }

    /// <summary>Periodic kernel timers of each VCPU (none by default: the model's idle guest then has no wake-ups but its tick).</summary>
    public IReadOnlyList<GuestTimer> Timers { get; init; } = [];

    /// <summary>
    /// The guest's tick grid starts at a random offset from the host's (drawn per VM from the run's
    /// seed), as a guest booted at an arbitrary moment has; false puts both on the same grid.
    /// </summary>
    public bool RandomTickPhase { get; init; }

    public GuestTopology Topology { get; init; } = GuestTopology.Sockets;
    public SpinlockKind Spinlock { get; init; } = SpinlockKind.Ticket;

    /// <summary>The plug-in (its name after <c>plugin:</c>) that <see cref="SpinlockKind.Plugin"/> locks use; null otherwise.</summary>
    public string? SpinlockPlugin { get; init; }

    /// <summary>
    /// The guest kernel version whose paravirtual features were picked (<c>guest.kernel</c>; null:
    /// none given). Informational: the individual settings below are what the model uses.
    /// </summary>
    public string? KernelVersion { get; init; }

    /// <summary>
    /// SPIN_THRESHOLD: the PAUSE loops a paravirtual lock waiter spins before it halts (1 &lt;&lt; 15
    /// in arch/x86/include/asm/spinlock.h 3.12 and in qspinlock_paravirt.h's users). The time one
    /// loop takes is KVM's <c>PauseLoopCycles</c> (the same PAUSE loop PLE counts).
    /// </summary>
    public int SpinThresholdLoops { get; init; } = 1 << 15;

    /// <summary>
    /// <c>guest.cache_coherence</c> (decision 0059): whether the lock words of the guest's spinlocks
    /// cost cache-line transfers. <see cref="CacheCoherence.None"/>: no (the model before 0059: a
    /// contended acquisition costs <see cref="GuestCosts.LockHandover"/>, whatever the lock and the
    /// number of spinners).
    /// </summary>
    public CacheCoherence CacheCoherence { get; init; } = CacheCoherence.None;

    /// <summary>
    /// One transfer of a lock word's cache line between two cores of the same package (a read miss
    /// served by the core that last wrote it, or the invalidations of an ownership request), with
    /// <see cref="CacheCoherence.Directory"/>. Published (decision 0059, Provenance 2026-11-26): Intel's
    /// Performance Analysis Guide for the Core i7 / Xeon 5500 (Nehalem; D. Levinthal, 2009) gives ~75 core
    /// cycles for a load that hits the L3 on a line modified in another core of the package; at the
    /// host's 2.9 GHz (<c>host.tsc_mhz</c> default) that is 25.9 ns, rounded to 26 ns. Read in
    /// quotations of the guide's table, not in the original.
    /// </summary>
    public SimDuration CacheLineLocal { get; init; } = SimDuration.FromNanoseconds(26);

    /// <summary>
    /// The same transfer between cores of different packages (host NUMA nodes: one package each).
    /// Published, with a choice (decision 0059, Provenance 2026-11-26): the same Intel guide gives
    /// ~100-300 cycles for a hit in the other socket's L3; a line modified in a core of the other socket
    /// needs that socket's core snoop as well, so the upper end is taken: 300 cycles at 2.9 GHz = 103 ns.
    /// </summary>
    public SimDuration CacheLineRemote { get; init; } = SimDuration.FromNanoseconds(103);

    /// <summary>
    /// <c>guest.pv_qspinlock_steal</c> (<see cref="SpinlockKind.PvQueued"/> only; decision 0058): a
    /// waiter entering the PV slow path takes the lock once, ahead of the queue, when neither the
    /// locked nor the pending byte is set (<c>pv_queued_spin_steal_lock</c>, commit 1c4941fd53af, 4.5);
    /// the queue head sets pending while it actively spins, which forbids it. False (4.2-4.4): only
    /// the fast path's cmpxchg on a wholly zero lock word (no queue) takes a lock, as the native lock.
    /// </summary>
    public bool PvQspinlockSteal { get; init; } = true;

    /// <summary>
    /// <c>guest.pv_qspinlock_wait_early</c> (<see cref="SpinlockKind.PvQueued"/> only; decision 0058):
    /// <c>pv_wait_node</c>'s queue-node adaptive spinning (<c>pv_wait_early</c>, commit cd0272fab785, 4.5).
    /// </summary>
    public PvWaitEarly PvQspinlockWaitEarly { get; init; } = PvWaitEarly.Halted;

    /// <summary>
    /// The preemptable ticket lock's TIMEOUT_UNIT: PAUSE loops of timeout per ticket ahead of the
    /// waiter (pmtlock v1.0, the version of the VEE 2013 paper: <c>#define TIMEOUT_UNIT (1&lt;&lt;14)</c>;
    /// v2.0 keeps 2^14 as <c>pmtlock_timeout_shift = 14</c>). Only <see cref="SpinlockKind.PreemptableTicket"/> reads it.
    /// </summary>
    public int PmtlockTimeoutUnit { get; init; } = 1 << 14;

    /// <summary>
    /// s390 <c>spin_retry</c> (arch/s390/lib/spinlock.c, 6.17: 1000 from <c>spin_retry_init</c>; the
    /// <c>spin_retry=</c> boot parameter and the kernel.spin_retry sysctl change it): the lock's retry
    /// count. Only <see cref="SpinlockKind.S390"/> reads it.
    /// </summary>
    public int SpinRetry { get; init; } = 1000;

    /// <summary>
    /// TSC cycles of one pass of the s390 lock's wait loop (a load with the NIAI 4 hint, a compare and
    /// a branch on a line the owner holds unchanged): assumption, a few nanoseconds. Turns
    /// <see cref="SpinRetry"/> into time, and spin time into the iteration histogram. Only
    /// <see cref="SpinlockKind.S390"/> reads it.
    /// </summary>
    public long S390SpinLoopCycles { get; init; } = 10;

    /// <summary>
    /// One s390 TLB flush of an address space on the flushing CPU (decision 0055 addendum): the
    /// broadcast invalidation instruction (IDTE of <c>__tlb_flush_idte</c>, or a global IPTE of
    /// <c>ptep_ipte_global</c>), which the machine completes on every CPU before it ends; no IPI, no
    /// acknowledgement. Assumption: of the order of a microsecond (a machine-wide quiesce); no
    /// published figure found. Only s390 guests (<see cref="SpinlockKind.S390"/>) read it.
    /// </summary>
    public SimDuration S390TlbFlushCost { get; init; } = SimDuration.FromMicroseconds(1);

    /// <summary>
    /// Lazy TLB CPUs skipped by flushes that freed no page tables (Linux 4.20
    /// arch/x86/mm/tlb.c <c>native_flush_tlb_others</c>: <c>on_each_cpu_cond_mask(tlb_is_not_lazy, …)</c>
    /// unless <c>info->freed_tables</c>; 5.10 the same, 6.x <c>native_flush_tlb_multi</c>). A VCPU
    /// idle with the address space still loaded gets no IPI and owes no acknowledgement; it stays in
    /// the mm's cpumask and catches up at its next <c>switch_mm_irqs_off</c> (a local flush, part of
    /// the context-switch cost here). Off (2.6.32–4.19): every CPU in the cpumask gets the IPI, and a
    /// lazy one leaves the mm (<c>leave_mm</c> / 4.19 <c>switch_mm_irqs_off(NULL, &amp;init_mm)</c>).
    /// <c>guest.kernel</c> sets it from 5.3 on (decision 0067).
    /// </summary>
    public bool LazyTlbSkip { get; init; }

    /// <summary>
    /// PV TLB flush (4.16 <c>kvm_flush_tlb_others</c>): a shootdown skips VCPUs whose steal-time
    /// area says preempted, marking them KVM_VCPU_FLUSH_TLB instead; they flush at their next entry.
    /// </summary>
    public bool PvTlbFlush { get; init; }

    /// <summary>
    /// PV sched yield (5.3 <c>kvm_smp_send_call_func_ipi</c>): after sending call-function IPIs the
    /// sender yields (KVM_HC_SCHED_YIELD) to the first target that is preempted.
    /// </summary>
    public bool PvSchedYield { get; init; }

    /// <summary>
    /// PV send-IPI (4.19 <c>kvm_setup_pv_ipi</c>: <c>apic->send_IPI_mask</c> = <c>kvm_send_ipi_mask</c>):
    /// an IPI to a CPU mask is one KVM_HC_SEND_IPI hypercall instead of one ICR write (one exit) per
    /// destination. Only the mask paths are replaced: a single-destination IPI (<c>apic->send_IPI</c>:
    /// the reschedule IPI, <c>smp_call_function_many</c>'s one-CPU fast path) stays an ICR write.
    /// </summary>
    public bool PvSendIpi { get; init; }

    /// <summary>
    /// Guest halt polling (5.4 drivers/cpuidle/cpuidle-haltpoll.c with the haltpoll governor): an
    /// idle VCPU first polls (<c>poll_idle</c>: a PAUSE loop with TIF_POLLING_NRFLAG set, so a
    /// wake-up needs no IPI) for its per-CPU <c>poll_limit_ns</c>, then executes HLT; the limit
    /// grows and shrinks as <see cref="HaltPoll"/> says. Turning it on writes MSR_KVM_POLL_CONTROL
    /// = 0, which stops KVM's own halt polling for the VCPU (<c>kvm_arch_no_poll</c>).
    /// </summary>
    public bool Haltpoll { get; init; }

    /// <summary>
    /// The haltpoll governor's parameters (drivers/cpuidle/governors/haltpoll.c, 5.4 module
    /// parameters): <c>guest_halt_poll_ns</c> 200000, <c>guest_halt_poll_grow</c> 2,
    /// <c>guest_halt_poll_shrink</c> 2, <c>guest_halt_poll_grow_start</c> 50000. The grow and shrink
    /// arithmetic is KVM's (<see cref="HaltPollSettings.GrowPoll"/>, <see cref="HaltPollSettings.ShrinkPoll"/>);
    /// when to apply them is the governor's (<see cref="GuestCpu"/>'s <c>AdjustPollLimit</c>).
    /// </summary>
    public HaltPollSettings HaltPoll { get; init; } = new() { HaltPollNs = 200_000, Adaptive = true, Grow = 2, Shrink = 2, GrowStart = 50_000 };

    /// <summary><c>guest_halt_poll_allow_shrink</c> (default true).</summary>
    public bool HaltPollAllowShrink { get; init; } = true;

    /// <summary>
    /// CONFIG_MUTEX_SPIN_ON_OWNER (2.6.39 kernel/Kconfig.locks: on for SMP kernels without
    /// DEBUG_MUTEXES): a contended <c>mutex_lock</c> first spins while the owner runs on a CPU
    /// (<c>mutex_spin_on_owner</c>) before it queues and sleeps. False: straight to the wait list.
    /// </summary>
    public bool MutexSpinOnOwner { get; init; } = true;

    /// <summary>
    /// The owner-spin loops also stop when <c>vcpu_is_preempted(task_cpu(owner))</c> says the owner's
    /// VCPU is preempted (4.10+: <c>mutex_spin_on_owner</c> in kernel/locking/mutex.c reads the KVM
    /// steal-time <c>preempted</c> flag). False: 2.6.39's <c>owner->on_cpu</c> check only, which a
    /// preempted VCPU's current thread still passes.
    /// </summary>
    public bool VcpuIsPreemptedCheck { get; init; }

    /// <summary>
    /// <c>guest.rwsem</c>: the <c>rw_semaphore</c> slow paths (decision 0050) — 2.6.39's lib/rwsem.c
    /// (no spinning, hand-off to the queue head; the default) or 4.19's rwsem-xadd.c (writers spin
    /// on the owner through the OSQ, reading <see cref="VcpuIsPreemptedCheck"/>; woken writers may
    /// lose the lock to a spinner).
    /// </summary>
    public RwSemAlgorithm RwSem { get; init; } = RwSemAlgorithm.Lib2639;

    /// <summary>
    /// Wake-up placement skips idle VCPUs that <c>vcpu_is_preempted</c> says are preempted
    /// (<c>available_idle_cpu</c> in <c>select_idle_sibling</c>; in v4.19, not in the 4.16 preset;
    /// commit 943d355d7fee). False: any idle VCPU will do (<c>idle_cpu</c> only).
    /// </summary>
    public bool AvailableIdleCpu { get; init; }

    /// <summary>
    /// Guest <c>sysctl_sched_latency</c>, after the guest's own CPU scaling. The default here is the
    /// 4-VCPU value; a scenario's guest gets <see cref="Scaled"/> for its VM's VCPU count unless the
    /// file sets the key (decision 0090).
    /// </summary>
    public SimDuration Latency { get; init; } = SimDuration.FromMilliseconds(18);

    /// <summary>Guest <c>sysctl_sched_min_granularity</c> (scaled as <see cref="Latency"/>).</summary>
    public SimDuration MinGranularity { get; init; } = SimDuration.FromMicroseconds(2250);

    /// <summary>Guest <c>sysctl_sched_wakeup_granularity</c> (scaled as <see cref="Latency"/>): <c>check_preempt_wakeup</c>'s margin.</summary>
    public SimDuration WakeupGranularity { get; init; } = SimDuration.FromMilliseconds(3);

    /// <summary>
    /// The three granularities a guest kernel sets at boot on <paramref name="vcpus"/> VCPUs:
    /// <c>sched_init_granularity</c> → <c>update_sysctl</c> multiplies each normalized default (the
    /// host's <see cref="PleSim.Host.SchedTunables"/> defaults, 6 / 0.75 / 1 ms) by
    /// <c>get_update_sysctl_factor()</c>, 1 + ilog2(min(vcpus, 8)) — 6/0.75/1 ms on 1 VCPU, 12/1.5/2 ms
    /// on 2, 18/2.25/3 ms on 4, 24/3/4 ms on 8 or more (decision 0090).
    /// </summary>
    public static (SimDuration Latency, SimDuration MinGranularity, SimDuration WakeupGranularity) Scaled(int vcpus)
    {
        var t = PleSim.Host.EffectiveTunables.For(new PleSim.Host.SchedTunables(), vcpus);
        return (new SimDuration(t.LatencyNs), new SimDuration(t.MinGranularityNs), new SimDuration(t.WakeupGranularityNs));
    }

    /// <summary>
    /// <c>guest.steal_time_accounting</c>: the guest's task clock leaves out the time its VCPU waited
    /// runnable on the host (KVM steal time read through <c>paravirt_steal_clock</c> by
    /// <c>update_rq_clock_task</c>, with CONFIG_PARAVIRT_TIME_ACCOUNTING=y in a 3.1+ KVM guest), so a
    /// thread's vruntime, slice and cache-hot age do not advance while its VCPU is preempted. Off by
    /// default (the model before it: wall time); 3.x rounds steal down to whole ticks, the model does
    /// not. Which guests had it on depends on their build configuration, which no case states.
    /// </summary>
    public bool StealTimeAccounting { get; init; }

    /// <summary>An idle VCPU pulls a queued thread from another VCPU before halting (new-idle balancing).</summary>
    public bool IdlePull { get; init; } = true;

    /// <summary>
    /// A busy VCPU's periodic load balancing (<c>scheduler_tick</c> → <c>trigger_load_balance</c> →
    /// SCHED_SOFTIRQ → <c>rebalance_domains(cpu, CPU_NOT_IDLE)</c>, every kernel since 2.6.x):
    /// it pulls queued threads from the busiest VCPU when the loads differ enough (decision 0072).
    /// False: only idle VCPUs pull (the model before 0072).
    /// </summary>
    public bool BusyBalance { get; init; } = true;

    /// <summary>
    /// Whether the new-idle balance is skipped while the VCPU's average idle period is shorter than
    /// <see cref="MigrationCost"/> (<c>idle_balance</c>'s avg_idle test, decision 0086). Null: as the
    /// guest kernel version has it (2.6.32–5.10 yes, 6.1 no).
    /// </summary>
    public bool? NewIdleAvgIdleGate { get; init; }

    /// <summary>
    /// Whether the new-idle balance is skipped while no VCPU is overloaded (<c>!rq->rd->overload</c>,
    /// decision 0087). Null: as the guest kernel version has it (4.2 and later yes).
    /// </summary>
    public bool? NewIdleRdOverloadGate { get; init; }

    /// <summary>Guest sched_migration_cost: a thread that ran this recently is cache hot and is not pulled (task_hot); also the avg_idle bound of the new-idle balance.</summary>
    public SimDuration MigrationCost { get; init; } = SimDuration.FromMicroseconds(500);

    public GuestCosts Costs { get; init; } = new();

    public SimDuration TickPeriod => new(1_000_000_000L / Hz);
}

/// <summary>
/// What a queued (non-head) PV queued-spinlock waiter checks every <c>PV_PREV_CHECK_MASK</c> + 1
/// loops of <c>pv_wait_node</c>, halting at once if it holds (kernel/locking/qspinlock_paravirt.h).
/// </summary>
public enum PvWaitEarly
{
    /// <summary>4.2-4.4: no early wait; the node spins SPIN_THRESHOLD loops before it halts.</summary>
    Off,

    /// <summary>4.5-4.10 and 5.4 on: the predecessor's node state is not <c>vcpu_running</c> (it halted in <c>pv_wait</c>).</summary>
    Halted,

    /// <summary>4.11-5.3 (commit 75437bb304b2, reverted for 5.4): that, or <c>vcpu_is_preempted(prev->cpu)</c>.</summary>
    HaltedOrPreempted,
}

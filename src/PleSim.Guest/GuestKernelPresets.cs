namespace PleSim.Guest;

/// <summary>
/// <c>guest.kernel</c>: the paravirtual spinlock and steal-time features (and the <c>rw_semaphore</c>
/// algorithm) a given upstream x86 guest kernel uses on KVM (with the distribution default CONFIG_PARAVIRT_SPINLOCKS=y and a host that
/// offers the features). Only these keys are set; everything else keeps its own default, and each
/// of <c>guest.spinlock</c>, <c>guest.pv_tlb_flush</c>, <c>guest.pv_sched_yield</c>, <c>guest.pv_send_ipi</c>, <c>guest.rwsem</c> given
/// explicitly overrides the preset. docs/decisions/0023-paravirtual-guest-kernel.md lists where each
/// version's row comes from.
/// </summary>
public static class GuestKernelPresets
{
    /// <summary>The versions accepted (ascending).</summary>
    public static readonly string[] Versions = ["2.6.32", "2.6.39", "3.12", "4.2", "4.16", "5.3", "5.10", "6.1"];

    /// <summary>The preset of <paramref name="version"/> applied to <paramref name="s"/> (which must be one of <see cref="Versions"/>).</summary>
    public static GuestSettings Apply(GuestSettings s, string version) => version switch
    {
        // Plain ticket locks (x86 since 2.6.25); no PV spinlock for KVM guests before 3.12.
        // Mutex owner spinning checks only owner->on_cpu before 4.10.
        "2.6.32" or "2.6.39" => s with { KernelVersion = version, Spinlock = SpinlockKind.Ticket, PvTlbFlush = false, PvSchedYield = false, PvSendIpi = false, VcpuIsPreemptedCheck = false },
        // 3.12: KVM PV ticket locks (kvm_spinlock_init: pv_lock_ops.lock_spinning / unlock_kick).
        "3.12" => s with { KernelVersion = version, Spinlock = SpinlockKind.PvTicket, PvTlbFlush = false, PvSchedYield = false, PvSendIpi = false, VcpuIsPreemptedCheck = false },
        // 4.2: queued spinlocks replace ticket locks on x86, with the PV variant on KVM.
        "4.2" => s with { KernelVersion = version, Spinlock = SpinlockKind.PvQueued, PvTlbFlush = false, PvSchedYield = false, PvSendIpi = false, VcpuIsPreemptedCheck = false },
        // 4.16: KVM_FEATURE_PV_TLB_FLUSH (kvm_flush_tlb_others). From 4.10 the mutex owner-spin loop
        // also reads vcpu_is_preempted (kvm_vcpu_is_preempted on KVM with steal time).
        "4.16" => s with { KernelVersion = version, Spinlock = SpinlockKind.PvQueued, PvTlbFlush = true, PvSchedYield = false, PvSendIpi = false, VcpuIsPreemptedCheck = true },
        // 4.19: KVM_FEATURE_PV_SEND_IPI (kvm_setup_pv_ipi) — so every later row has it.
        // 5.3: KVM_FEATURE_PV_SCHED_YIELD (kvm_smp_send_call_func_ipi); 5.10 and 6.1 keep the set.
        // Guest haltpoll (5.4) is on in none: from 5.6 cpuidle-haltpoll loads only with the
        // KVM_HINTS_REALTIME hint (haltpoll_want), which an overcommitted host does not give
        // (docs/decisions/0027).
        "5.3" or "5.10" or "6.1" => s with { KernelVersion = version, Spinlock = SpinlockKind.PvQueued, PvTlbFlush = true, PvSchedYield = true, PvSendIpi = true, VcpuIsPreemptedCheck = true },
        _ => throw new ArgumentOutOfRangeException(nameof(version), version, "unknown guest kernel version"),
    } with
    {
        // The PV queued spinlock's version (decision 0058): 4.2-4.4 neither steal nor wait early;
        // 4.5 added both (1c4941fd53af, cd0272fab785); the steal became 4.15's hybrid unfair trylock
        // loop (not modelled: one attempt, as 4.5); pv_wait_early also read vcpu_is_preempted from
        // 4.11 (75437bb304b2) until the revert merged for 5.4.
        PvQspinlockSteal = Array.IndexOf(Versions, version) >= Array.IndexOf(Versions, "4.16"),
        PvQspinlockWaitEarly = version switch
        {
            "4.2" => PvWaitEarly.Off,
            "4.16" or "5.3" => PvWaitEarly.HaltedOrPreempted,
            _ => PvWaitEarly.Halted,
        },
        // select_idle_sibling's available_idle_cpu (vcpu_is_preempted), read in v4.19; commit
        // 943d355d7fee came after 4.16 was released.
        AvailableIdleCpu = Array.IndexOf(Versions, version) >= Array.IndexOf(Versions, "5.3"),
        // x86 flushes that freed no page tables skip lazy TLB CPUs from 4.20 (Rik van Riel's "make
        // lazy TLB mode lazier" series; 4.19's native_flush_tlb_others still IPIs the whole cpumask
        // and its lazy CPUs switch to init_mm): every preset from 5.3 on (decision 0067).
        LazyTlbSkip = Array.IndexOf(Versions, version) >= Array.IndexOf(Versions, "5.3"),
        // rw_semaphore: writer optimistic spinning (3.16 rwsem_optimistic_spin) and write lock
        // stealing (3.10) from 4.2 on, the 4.19 rwsem-xadd.c model (decision 0050) — exact for 4.16
        // (reader-owned marking since 4.9, vcpu_is_preempted since 4.10, both as in 4.19); 4.2
        // predates the reader-owned marking. 5.3's rwsem.c rework (reader spinning, spinning on
        // reader owners, hand-off bit) runs unchanged in substance through 5.10; 5.11 removed
        // reader spinning and 5.16–6.1 reworked the hand-off: the 6.1 model (decision 0057).
        RwSem = version switch
        {
            "5.3" or "5.10" => RwSemAlgorithm.Rwsem53,
            "6.1" => RwSemAlgorithm.Rwsem61,
            _ => Array.IndexOf(Versions, version) >= Array.IndexOf(Versions, "4.2") ? RwSemAlgorithm.Xadd419 : RwSemAlgorithm.Lib2639,
        },
    };
}

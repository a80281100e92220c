using PleSim.Engine;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>A guest CPU: TLB shootdowns (flush_tlb_others), flush IPIs and their acknowledgements.</summary>
public sealed partial class GuestCpu
{
    // ------------------------------------------------------------------ TLB shootdown

    internal bool OwesAck(ShootdownBarrier b) => _acksOwed.Contains(b);

    /// <summary>
    /// <c>flush_tlb_others</c> (arch/x86/mm/tlb.c, 2.6.32): IPI every other VCPU in the mm's
    /// cpumask — those running a thread of this address space and idle ones still holding it
    /// lazily (a halted VCPU must be woken and scheduled by the host to acknowledge) — and spin
    /// (cpu_relax, visible to PLE) until all have flushed. With <see cref="GuestSettings.LazyTlbSkip"/>
    /// (4.20+ <c>native_flush_tlb_others</c>) the idle ones are left out unless
    /// <paramref name="freedTables"/>: <c>tlb_is_not_lazy</c> is false for them.
    /// </summary>
    private void StartShootdown(bool freedTables)
    {
        if (IsS390)
        {
            S390FlushTlbMm(); // a broadcast flush, no IPIs (decision 0055 addendum)
            return;
        }
        // The sender waits for the acknowledgements with interrupts enabled (only preemption is
        // off, flush_tlb_mm → preempt_disable): it can take — and acknowledge — another CPU's
        // flush while it waits. Shooting down with interrupts off would deadlock two senders.
        if (!_if)
            throw new InvalidOperationException($"{this}: TLB shootdown with interrupts disabled");
        _barrier.Remaining = 0;
        int mm = Curr!.Mm;
        foreach (var c in _k.Cpus)
        {
            if (c == this || c.ActiveMm != mm)
                continue;
            // PV TLB flush (4.16 kvm_flush_tlb_others): a VCPU whose steal-time area says
            // preempted gets KVM_VCPU_FLUSH_TLB set there instead of an IPI; it flushes at its
            // next entry and owes no acknowledgement.
            if (S.PvTlbFlush && c.Vcpu.TrySetFlushTlbAtEntry())
            {
                PvTlbFlushSkips++;
                continue;
            }
            // 4.20+ native_flush_tlb_others, on the mask kvm_flush_tlb_others left: an idle CPU
            // holding the mm is in lazy TLB mode (enter_lazy_tlb), and a flush that freed no page
            // tables skips it. It stays in the cpumask and catches up at its next
            // switch_mm_irqs_off (tlb_gen check), which this model folds into the switch's cost.
            if (S.LazyTlbSkip && !freedTables && c.Curr is null)
            {
                LazyTlbSkips++;
                continue;
            }
            _barrier.Remaining++;
            c._acksOwed.Add(_barrier);
        }
        Shootdowns++;
        ShootdownIpis += _barrier.Remaining;
        PushFront(new Op { Kind = Micro.WaitBarrier });
        if (S.PvSchedYield && _barrier.Remaining > 0)
            PushFront(new Op { Kind = Micro.PvYieldCheck });
        var mask = default(CpuMask);
        foreach (var c in _k.Cpus)
        {
            if (c._acksOwed.Contains(_barrier))
                mask.Set(c.Index);
        }
        if (S.PvSendIpi && mask.Count >= 2)
        {
            // 4.19+: native_send_call_func_ipi → apic->send_IPI_mask = kvm_send_ipi_mask: one
            // KVM_HC_SEND_IPI for the whole mask. (One target takes smp_call_function_many's
            // single-CPU path, apic->send_IPI: an ICR write, below.)
            _pvSendIpiMask = mask;
            PushFront(new Op { Kind = Micro.PvSendIpi, Vector = Vectors.CallFunction });
            return;
        }
        foreach (var c in _k.Cpus)
        {
            if (mask.Contains(c.Index))
                PushFront(new Op { Kind = Micro.Ipi, Cpu = c, Vector = Vectors.CallFunction });
        }
    }
}

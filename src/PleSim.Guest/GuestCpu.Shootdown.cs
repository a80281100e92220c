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
    /// (cpu_relax, visible to PLE) until all have flushed.
    /// </summary>
    private void StartShootdown()
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

using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>
/// A guest CPU of an s390 guest (decision 0055 addendum): the SIGP external calls that replace x86's
/// reschedule and call-function IPIs (arch/s390/kernel/smp.c, Linux 6.17: <c>pcpu_ec_call</c>,
/// <c>smp_handle_ext_call</c>), and the TLB flush of an address space done by a broadcast
/// instruction instead of flush IPIs (arch/s390/include/asm/tlbflush.h and arch/s390/mm/pgtable.c).
/// </summary>
public sealed partial class GuestCpu
{
    // The pcpu's ec_mask bits (smp.c's enum: ec_schedule, ec_call_function_single, ...).
    private const int EcSchedule = 1 << 0;
    private const int EcCallFunctionSingle = 1 << 1;

    private int _ecMask;     // pcpu_devices.ec_mask of this CPU: requests other CPUs posted to it
    private int _ecHandling; // the bits the external-call handler under way took (this_cpu_xchg(ec_mask, 0))

    /// <summary>s390: SIGP EXTERNAL CALLs this CPU issued, and the ec calls that issued none because the target's bit was already set.</summary>
    public long SigpExternalCallsSent, EcCallsCoalesced;

    /// <summary>
    /// s390 TLB flushes of an address space this CPU did (decision 0055 addendum): "lazy" when no other
    /// CPU had the mm attached (<c>ptep_flush_lazy</c> leaves the PTE invalid and sets
    /// <c>mm->context.flush_mm</c>; <c>__tlb_flush_mm_lazy</c> then issues one IDTE), "global" when
    /// another CPU had it attached (<c>ptep_ipte_global</c>: a broadcast IPTE). Neither sends an IPI.
    /// </summary>
    public long S390TlbFlushesLazy, S390TlbFlushesGlobal;

    private bool IsS390 => S.Spinlock == SpinlockKind.S390;

    /// <summary>
    /// <c>pcpu_ec_call</c> (smp.c 6.17) from <c>arch_smp_send_reschedule</c> (<paramref name="vector"/>
    /// reschedule) or <c>arch_send_call_function_single_ipi</c> (call-function): set the request's bit
    /// in the target's <c>ec_mask</c>; if it was already set, the target has not yet run its handler for
    /// an earlier request of this kind and will see this one too, so nothing is sent. Otherwise SIGP
    /// EXTERNAL CALL (through <c>pcpu_sigp_retry</c>). True when a VCPU operation started.
    /// </summary>
    private bool S390EcCall(GuestCpu target, int vector)
    {
        if (!S390PostEc(target, vector))
            return false;
        ReschedIpisSent += vector == Vectors.Reschedule ? 1 : 0;
        SigpExternalCallsSent++;
        Vcpu.SigpExternalCall(target.Vcpu);
        return true;
    }

    /// <summary>
    /// <c>pcpu_ec_call</c>'s <c>test_and_set_bit</c> on <paramref name="target"/>'s <c>ec_mask</c>: true when the
    /// bit was clear (a SIGP must follow); false, counted in <see cref="EcCallsCoalesced"/>, when it was set.
    /// </summary>
    internal bool S390PostEc(GuestCpu target, int vector)
    {
        int bit = vector == Vectors.Reschedule ? EcSchedule : EcCallFunctionSingle;
        if ((target._ecMask & bit) != 0)
        {
            EcCallsCoalesced++;
            return false;
        }
        target._ecMask |= bit;
        return true;
    }

    /// <summary>s390: a reschedule request to <paramref name="target"/> that the model delivers with a plain kick (the NOHZ balancer's, folded into the tick): its ec_mask bit.</summary>
    private static void S390PostSchedule(GuestCpu target) => target._ecMask |= EcSchedule;

    /// <summary>
    /// <c>do_ext_call_interrupt</c> → <c>smp_handle_ext_call</c> on entry: take the posted requests
    /// (<c>this_cpu_xchg(ec_mask, 0)</c>); a request posted from now on comes with a new external call.
    /// Returns the handler's time: <c>scheduler_ipi</c>, and <c>generic_smp_call_function_single_interrupt</c> if asked.
    /// </summary>
    internal long S390ExtCallEnter()
    {
        _ecHandling = _ecMask;
        _ecMask = 0;
        return S.Costs.ReschedIpiHandler.Ns + ((_ecHandling & EcCallFunctionSingle) != 0 ? S.Costs.CallFunctionHandler.Ns : 0);
    }

    /// <summary>The external-call handler's effects: <c>scheduler_ipi</c> for ec_schedule (the model has no other call-function user on s390).</summary>
    private void S390ExtCallDone()
    {
        if ((_ecHandling & EcSchedule) != 0 && _queue.Count > 0)
            NeedResched = true;
        if ((_ecHandling & EcSchedule) != 0 && Curr is null)
            _idleBalanceDue = true; // as x86's reschedule IPI: schedule() from the idle loop balances
        if ((_ecHandling & EcCallFunctionSingle) != 0)
            CallFunctionsHandled++;
        _ecHandling = 0;
    }

    /// <summary>
    /// s390's flush of the current address space where x86 runs <c>flush_tlb_others</c> (decision 0055
    /// addendum): the CPUs that have the mm attached (<c>mm->context.cpu_attach_mask</c>, kept by
    /// <c>switch_mm</c>; an idle CPU keeps the last mm attached, as x86's lazy TLB mode) decide the kind
    /// (<see cref="S390TlbFlushesLazy"/>, <see cref="S390TlbFlushesGlobal"/>); either way one broadcast
    /// instruction on this CPU, which the machine completes on every CPU: no IPI, no acknowledgement
    /// to wait for, whether the other VCPUs run or not.
    /// </summary>
    private void S390FlushTlbMm()
    {
        int mm = Curr!.Mm;
        bool attachedElsewhere = false;
        foreach (var c in _k.Cpus)
        {
            if (c != this && c.ActiveMm == mm)
            {
                attachedElsewhere = true;
                break;
            }
        }
        if (attachedElsewhere)
            S390TlbFlushesGlobal++;
        else
            S390TlbFlushesLazy++;
        Shootdowns++;
        PushFront(new Op { Kind = Micro.Compute, Ns = S.S390TlbFlushCost.Ns });
    }
}

using PleSim.Engine;

namespace PleSim.Hypervisor;

/// <summary>
/// Intel IPI virtualization (IPIv; kvm-intel <c>enable_ipiv</c>, KVM 5.19, decision 0066) on top of
/// APICv posted interrupts (decision 0060).
/// </summary>
public sealed partial class Kvm
{
    /// <summary>
    /// A guest's unicast, fixed, physical-destination ICR write that the CPU virtualizes (IPI_VIRT set in
    /// the tertiary controls by <c>vmx_tertiary_exec_control</c>, the PID-pointer table filled by
    /// <c>vmx_vcpu_precreate</c>/<c>vmx_alloc_ipiv_pid_table</c>, 5.19): no VM exit. The CPU finds the
    /// target's posted-interrupt descriptor through the table, sets the vector in its PIR and, when
    /// neither SN nor ON is set, sets ON and sends the descriptor's notification vector NV to NDST:
    /// <list type="bullet">
    /// <item>target in guest mode: POSTED_INTR_VECTOR, processed in guest mode as with APICv
    /// (<see cref="Vcpu.SendPostedInterruptNotification"/>);</item>
    /// <item>target blocked in HLT with interrupts enabled: the wake-up vector that
    /// <c>pi_enable_wakeup_handler</c> installed; <c>pi_wakeup_handler</c> on that CPU wakes it;</item>
    /// <item>target polling in <c>kvm_vcpu_block</c> (not yet put): POSTED_INTR_VECTOR to the host, which
    /// ignores it; the poll's <c>kvm_vcpu_check_block</c> finds the PIR;</item>
    /// <item>target scheduled out runnable: SN is set (<c>vmx_vcpu_pi_put</c>), PIR only, no ON; synced at
    /// its next entry after <c>vmx_vcpu_pi_load</c>;</item>
    /// <item>anything else (in an exit, in userspace, blocked with interrupts disabled): the notification
    /// reaches the host, the PIR waits for the next entry.</item>
    /// </list>
    /// KVM runs nothing here: no <c>kvm_vcpu_kick</c>, no <c>kvm_apic_send_ipi</c>, so none of KVM's
    /// IPI-send hooks (the IPI-aware directed yield's tracking, the last-woken hint) see this IPI.
    /// </summary>
    public void IpivSendIpi(Vcpu from, Vcpu target, int vector)
    {
        from.PiStats.IpivSent++;
        target.NoteIpiSent(vector);
        target.Stats.Kicks++;
        Observer?.Kick(from, target, vector);
        target.PiTestAndSetPir(vector);
        target.PiStats.IpivPosted++;
        if (target.PiDesc.Sn)
        {
            target.PiStats.IpivSuppressed++;
            return;
        }
        if (target.PiTestAndSetOn())
        {
            target.PiStats.Coalesced++;
            return;
        }
        target.PiStats.Posted++;
        // A self-IPI's notification reaches this CPU at once; another CPU after the host IPI's latency.
        var latency = target == from ? SimDuration.Zero : Settings.Costs.KickIpiLatency;
        if (target.InGuestMode)
        {
            target.SendPostedInterruptNotification(latency);
        }
        else if (target.WaitQueueActive && target.Mode == VcpuMode.Halted && target.Guest.InterruptsEnabled(target))
        {
            // vmx_vcpu_pi_put → pi_enable_wakeup_handler (blocking and !vmx_interrupt_blocked).
            target.PiStats.Kicks++;
            target.SendPiWakeupVector(latency);
        }
        else if (target.HaltPolling)
        {
            target.EndHaltPollOnEvent();
        }
    }

    /// <summary>
    /// <c>kvm_vcpu_wake_up</c> (virt/kvm/kvm_main.c, 5.19) from <paramref name="cpu"/> of a VCPU on its
    /// wait queue: <c>rcuwait_wake_up</c>, then <c>vcpu->ready</c>. No sender is known (the IPIv wake-up
    /// vector's handler), so no last-woken hint is recorded.
    /// </summary>
    internal void KvmVcpuWakeUp(Vcpu target, int cpu)
    {
        target.Stats.WakeFromHalt++;
        if (Host.TryToWakeUp(target.Task, cpu))
        {
            target.RemovedFromWaitQueue();
            target.Ready = true;
        }
    }
}

namespace PleSim.Hypervisor;

/// <summary>Where an s390 SIGP EXTERNAL CALL goes at the instruction (<see cref="Kvm.SigpExternalCall"/>).</summary>
public enum SigpPath
{
    /// <summary>Executed by the SIGP interpretation facility without an exit (accepted, or condition code 1).</summary>
    Interpreted,

    /// <summary>Interpreted, but the target waits: the sender takes a partial-execution intercept (ICPT_PARTEXEC) so KVM wakes it.</summary>
    PartialExecution,

    /// <summary>Not interpreted: the instruction is intercepted (ICPT_INST) and KVM's <c>kvm_s390_handle_sigp</c> runs it.</summary>
    Intercept,
}

/// <summary>
/// The hypervisor: s390 SIGP EXTERNAL CALL between VCPUs of one VM (arch/s390/kvm/sigp.c and
/// interrupt.c, Linux 6.17; decision 0055 addendum). The guest sends it for a reschedule or
/// call-function request (<c>pcpu_ec_call</c>); the pending external call is the target's
/// <see cref="Vectors.Reschedule"/> bit (external interruption code 0x1202), consumed when the target
/// takes the interrupt. A target can have one external call pending: a second SIGP to it before it is
/// taken ends with condition code 1 and "external call pending" stored (<c>__sigp_external_call</c> on
/// <c>__inject_extcall</c>'s -EBUSY, or the interpretation facility itself), creates no interrupt and
/// is not retried (the guest's <c>pcpu_sigp_retry</c> retries only condition code 2, busy, which KVM
/// returns for an external call only while a SIGP STOP or RESTART is pending: never here).
/// </summary>
public sealed partial class Kvm
{
    /// <summary>
    /// The SIGP EXTERNAL CALL from <paramref name="from"/> to <paramref name="target"/> as the
    /// instruction executes. Without interpretation (<see cref="KvmSettings.SigpInterpretation"/>
    /// off) it is intercepted and nothing happens until the handler (<see cref="SigpIntercepted"/>). With
    /// it (ECA_SIGPI), the machine finds an external call already pending (condition code 1, no exit),
    /// or makes one pending in the target's SCA entry (<c>sca_inject_ext_call</c>'s state) and presents
    /// it to a target running in SIE without an exit; a target in the wait state (CPUSTAT_WAIT) cannot
    /// see it, so the sender takes a partial-execution intercept after the pending state is set, and
    /// KVM wakes the target (<see cref="SigpPei"/>). A target that is preempted or in an intercept takes
    /// it at its next entry.
    /// </summary>
    public SigpPath SigpExternalCall(Vcpu from, Vcpu target)
    {
        if (!Settings.SigpInterpretation)
            return SigpPath.Intercept;
        if (target.ExtCallPending)
        {
            from.Stats.SigpBusy++;
            return SigpPath.Interpreted;
        }
        MakeExtCallPending(from, target);
        if (target.InS390Wait)
            return SigpPath.PartialExecution;
        from.Stats.SigpInterpreted++;
        if (target.InGuestMode)
            target.PresentInSie(Settings.Costs.KickIpiLatency);
        return SigpPath.Interpreted;
    }

    /// <summary>
    /// The end of the partial-execution intercept (<c>kvm_s390_handle_sigp_pei</c>): the external call is
    /// already pending; <c>kvm_s390_vcpu_wakeup</c> wakes the waiting target (condition code 0).
    /// </summary>
    public void SigpPei(Vcpu from, Vcpu target) => S390VcpuWakeup(target, from);

    /// <summary>
    /// The end of an intercepted SIGP EXTERNAL CALL: <c>kvm_s390_handle_sigp</c> → <c>handle_sigp_dst</c>
    /// counts <c>instruction_sigp_external_call</c>; <c>__sigp_external_call</c> → <c>kvm_s390_inject_vcpu</c>
    /// → <c>__inject_extcall</c>: -EBUSY if IRQ_PEND_EXT_EXTERNAL is already set (condition code 1, status
    /// "external call pending"), else the bit and CPUSTAT_EXT_INT are set and the target is woken
    /// (<c>kvm_s390_vcpu_wakeup</c>) or, running in SIE, leaves it to take the interrupt — the x86 kick's
    /// three cases (<see cref="Kick"/>).
    /// </summary>
    public void SigpIntercepted(Vcpu from, Vcpu target)
    {
        if (target.ExtCallPending)
        {
            from.Stats.SigpBusy++;
            return;
        }
        Kick(target, Vectors.Reschedule, from);
    }

    private void MakeExtCallPending(Vcpu from, Vcpu target)
    {
        target.SetPending(Vectors.Reschedule);
        target.Stats.Kicks++;
        Observer?.Kick(from, target, Vectors.Reschedule);
    }

    /// <summary>
    /// <c>kvm_s390_vcpu_wakeup</c> (interrupt.c 6.17): <c>kvm_vcpu_wake_up</c> of a VCPU blocked in
    /// <c>kvm_vcpu_halt</c>; one still polling there sees the pending interrupt and stops.
    /// </summary>
    private void S390VcpuWakeup(Vcpu target, Vcpu from)
    {
        if (target.WaitQueueActive)
        {
            target.Stats.WakeFromHalt++;
            from.LastWoken = target;
            from.LastWokenAt = Sim.Now.Ns;
            if (Host.TryToWakeUp(target.Task, from.Task.Cpu))
            {
                target.RemovedFromWaitQueue();
                target.Ready = true;
            }
        }
        else if (target.HaltPolling)
        {
            target.EndHaltPollOnEvent();
        }
    }
}

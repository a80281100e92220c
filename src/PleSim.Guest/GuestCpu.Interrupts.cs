using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>A guest CPU: interrupt handlers (timer tick, reschedule IPI, call-function IPI) and the interrupt flag (<c>local_irq_save</c> / <c>local_irq_restore</c>).</summary>
public sealed partial class GuestCpu
{
    // ------------------------------------------------------------------ interrupts

    public long OnInterrupt(Vcpu vcpu, int vector) => vector switch
    {
        Vectors.Timer => (Curr is null ? S.Costs.IdleTickHandler.Ns : S.Costs.TickHandler.Ns) + RunExpiredTimers(),
        Vectors.Reschedule => IsS390 ? S390ExtCallEnter() : S.Costs.ReschedIpiHandler.Ns,
        Vectors.CallFunction => S.Costs.CallFunctionHandler.Ns,
        _ => _k.IrqHandler(vector)?.HardIrqNs ?? 0,
    };

    public void OnInterruptDone(Vcpu vcpu, int vector)
    {
        switch (vector)
        {
            case Vectors.Timer:
            {
                TicksHandled++;
                UpdateCpuLoad();
                // trigger_load_balance: whether this CPU's own rq->next_balance has come (2.6.39
                // kicks an idle balancer only when it has not, decision 0076).
                bool ownBalanceDue = Jiffies - _nextBalance >= 0;
                if (Curr is null)
                {
                    // 2.6.39: a kick that found this CPU busy stayed pending; an idle tick's softirq runs it.
                    if (_nohzBalanceKick && !_nohzIdleBalanceDue && ownBalanceDue && IdleCpu)
                        StartNohzIdleBalance();
                    if (!S.BusyBalance)
                    {
                        _idleBalanceDue = true; // no sched_domain state (guest.busy_balance: false): every idle tick pulls
                    }
                    else if (ownBalanceDue && StampIdleBalance())
                    {
                        // trigger_load_balance raises SCHED_SOFTIRQ only once rq->next_balance has come,
                        // and rebalance_domains(CPU_IDLE) balances only a domain whose last_balance +
                        // balance_interval has come (2.6.32 kernel/sched.c; 2.6.39 kernel/sched_fair.c;
                        // 4.16–6.12 kernel/sched/fair.c): the pull is load_balance(CPU_IDLE), whose
                        // outcome retunes the interval and counts failures (decisions 0077, 0085).
                        _idleBalanceDue = true;
                        _idleLoadBalanceDue = true;
                    }
                }
                TickCheckPreempt();
                if (Curr is not null)
                    TriggerLoadBalance(); // a busy tick: rebalance_domains(CPU_NOT_IDLE) when due (decision 0072)
                if (S.TicklessIdle)
                    NohzTick(S.BusyBalance && _k.Cpus.Length > 1 && ownBalanceDue);
                break;
            }
            case Vectors.Reschedule:
                if (IsS390)
                {
                    S390ExtCallDone(); // s390 external call (decision 0055 addendum)
                    break;
                }
                if (_nohzBalanceKick && !_nohzIdleBalanceDue)
                    OnNohzKick(); // a NOHZ idle-balance kick (decision 0076)
                if (_queue.Count > 0)
                    NeedResched = true;
                if (Curr is null)
                    _idleBalanceDue = true; // the sender's need_resched ends the idle loop: schedule() balances
                break;
            case Vectors.CallFunction:
                CallFunctionsHandled++;
                if (Curr is null && ActiveMm >= 0)
                {
                    // flush_tlb_func in TLBSTATE_LAZY: leave_mm, so later flushes skip this VCPU.
                    LazyTlbFlushes++;
                    ActiveMm = -1;
                }
                foreach (var b in _acksOwed)
                {
                    b.Remaining--;
                    if (b.Remaining == 0)
                        b.Initiator!.Vcpu.NotifySpinRelease();
                }
                _acksOwed.Clear();
                Vcpu.Vm.ReclassifySpinners(); // ground truth: initiators still waiting owe one debtor less
                break;
            default:
                if (_k.IrqHandler(vector) is { } h && h.OnHardIrq(this))
                    RaiseSoftIrq(h);
                break;
        }
    }

    // ------------------------------------------------------------------ interrupt flag

    /// <summary><c>local_irq_save</c>: returns the flag as it was and disables interrupts (nests: the caller keeps what it got).</summary>
    private bool LocalIrqSave()
    {
        bool flags = _if;
        _if = false;
        if (flags)
            Vcpu.Vm.ReclassifySpinners(Vcpu); // ground truth: an acknowledgement owed by this CPU now waits for IF
        return flags;
    }

    /// <summary>
    /// <c>local_irq_restore(flags)</c>: puts the flag back as saved. Re-enabling with an interrupt
    /// pending delivers it at once; true when that happened (the guest continues after the handler).
    /// </summary>
    private bool LocalIrqRestore(bool flags)
    {
        if (!flags || _if)
            return false;
        _if = true;
        Vcpu.Vm.ReclassifySpinners(Vcpu);
        // Only an interrupt KVM injected at the last entry (or APICv / s390 interpretation delivered
        // in guest mode) is visible to the guest; one still in flight waits for its exit (decision 0062).
        if (!Vcpu.HasInjectableInterrupt)
            return false;
        IrqRestoresWithPending++;
        return Vcpu.OnInterruptsEnabled();
    }
}

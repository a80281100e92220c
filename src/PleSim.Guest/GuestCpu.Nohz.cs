using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>
/// A guest CPU: NOHZ idle balancing by the push model of 2.6.36+ (decision 0076,
/// <see cref="GuestNohzBalance"/>). Every idle VCPU stops its tick; a busy VCPU's tick
/// (<c>trigger_load_balance</c> → <c>nohz_kick_needed</c> / <c>nohz_balancer_kick</c>) kicks one
/// idle VCPU, which runs <c>nohz_idle_balance</c>: <c>rebalance_domains(cpu, CPU_IDLE)</c> on behalf
/// of each other tickless idle VCPU whose balance is due, moving a queued thread to that VCPU's
/// queue and rescheduling it, then its own idle balance. (2.6.39 kernel/sched_fair.c; 4.16, 5.3,
/// 5.10 kernel/sched/fair.c; 6.1 taken as 5.10, whose rules 6.12 still has.) The CPU_IDLE balance
/// is the model's idle pull (<see cref="GuestKernel.FindPull"/>), as for a VCPU's own idle balance.
/// </summary>
public sealed partial class GuestCpu
{
    private bool _nohzBalanceKick;     // rq->nohz_balance_kick (2.6.39) / NOHZ_BALANCE_KICK in nohz_flags
    private bool _nohzIdleBalanceDue;  // kicked and idle: nohz_idle_balance runs in the idle loop's softirq
    private int _nohzIlbCursor;        // the next CPU of nohz.idle_cpus_mask nohz_idle_balance looks at
    private long _nohzIlbNextBalance;  // the earliest rq->next_balance of the CPUs it looked at
    private bool _nohzIlbLooked;       // update_next_balance: it looked at one
    private bool _nohzOwnBalance;      // the kicked balancer's own rebalance_domains(CPU_IDLE) is next

    /// <summary>The domain state of this CPU is busy (<c>set_cpu_sd_state_busy</c>; idle from its tick stop, <c>set_cpu_sd_state_idle</c>).</summary>
    internal bool SdStateBusy { get; private set; } = true;

    /// <summary><c>nohz_idle_balance</c> runs this VCPU completed as the kicked idle balancer.</summary>
    public long NohzIdleBalances;

    /// <summary>Threads this VCPU moved to another idle VCPU's queue as the kicked idle balancer.</summary>
    public long NohzIdleBalancePulls;

    /// <summary><c>idle_cpu</c>: the idle task runs and nothing is queued.</summary>
    internal bool IdleCpu => Curr is null && _queue.Count == 0;

    /// <summary>The busy tick's NOHZ part in the push model; <paramref name="ownBalanceDue"/>: its own rq->next_balance had come.</summary>
    private void PushNohzTick(bool ownBalanceDue)
    {
        if (Curr is null)
            return; // idle_at_tick / rq->idle_balance / idle_cpu: an idle CPU kicks nobody
        var model = _k.NohzModel;
        if (model == GuestNohzBalance.Push2639)
        {
            // trigger_load_balance: `else if (nohz_kick_needed(...))`.
            if (!ownBalanceDue && NohzKickNeeded2639())
                NohzBalancerKick();
            return;
        }
        // nohz_kick_needed (4.16) / nohz_balancer_kick (5.x, 6.1): the first busy tick after idle
        // marks the domain state busy and leaves nohz.idle_cpus_mask.
        SdStateBusy = true;
        _k.NohzBalanceExitIdle(this);
        if (_k.NohzMask.IsEmpty)
            return; // nohz.nr_cpus == 0
        if (Jiffies - _k.NohzNextBalance < 0)
            return;
        // rq->nr_running >= 2, or more than one busy CPU in the last-level-cache domain (which a
        // guest has only when QEMU shows its VCPUs as cores of one socket). check_cpu_capacity,
        // asym packing and misfit are not modelled (no PELT capacity; one VCPU type).
        if (NrRunning >= 2 || (S.Topology == GuestTopology.Cores && _k.NrBusyCpus > 1))
            NohzBalancerKick();
    }

    /// <summary>2.6.39 <c>nohz_kick_needed</c>: the first busy CPU kicks with more than one thread, the second with any.</summary>
    private bool NohzKickNeeded2639()
    {
        if (Jiffies - _k.NohzNextBalance < 0)
            return false;
        int first = _k.NohzFirstPick, second = _k.NohzSecondPick;
        if (first >= 0 && first != Index && second >= 0 && second != Index)
            return false;
        if (first == -1)
            _k.NohzFirstPick = Index;
        if (first == -1 || first == Index)
        {
            if (second == Index)
                _k.NohzSecondPick = -1;
            return NrRunning > 1;
        }
        if (second == -1)
            _k.NohzSecondPick = Index;
        if (second == -1 || second == Index)
            return NrRunning != 0;
        return false;
    }

    /// <summary>
    /// <c>nohz_balancer_kick</c> / <c>kick_ilb</c>: push nohz.next_balance on, pick the idle balancer
    /// (<c>find_new_ilb</c>) and send it the kick unless it has one pending. The IPI goes from the
    /// tick's softirq, inside the interrupt being handled: its ICR-write exit is folded into the tick
    /// handler's cost, as the 2.6.32 model's kick. 2.6.39, 5.10 and 6.1 send a call-function IPI
    /// (<c>__smp_call_function_single</c>, <c>smp_call_function_single_async</c>), 3.x–5.3 a
    /// reschedule IPI; the model delivers both as a reschedule IPI that carries the kick flag.
    /// </summary>
    private void NohzBalancerKick()
    {
        var model = _k.NohzModel;
        if (model == GuestNohzBalance.PushNextJiffy)
            _k.NohzNextBalance = Jiffies + 1; // only for a full balance kick; stats kicks are not modelled
        else
            _k.NohzNextBalance++;
        ref readonly var mask = ref _k.NohzMask;
        GuestCpu? ilb = null;
        switch (model)
        {
            case GuestNohzBalance.Push2639:
            {
                int i = _k.NohzBalancer >= 0 ? _k.NohzBalancer : mask.First;
                if (i >= 0)
                    ilb = _k.Cpus[i];
                break;
            }
            case GuestNohzBalance.PushFirstInMask:
            {
                int i = mask.First;
                if (i >= 0 && _k.Cpus[i].IdleCpu)
                    ilb = _k.Cpus[i];
                break;
            }
            default:
                for (int i = mask.First; i >= 0; i = mask.Next(i + 1))
                {
                    if (i != Index && _k.Cpus[i].IdleCpu)
                    {
                        ilb = _k.Cpus[i];
                        break;
                    }
                }
                break;
        }
        if (ilb is null || ilb._nohzBalanceKick)
            return;
        ilb._nohzBalanceKick = true;
        NohzKicks++;
        if (IsS390)
            S390PostSchedule(ilb);
        _k.Kvm.Kick(ilb.Vcpu, Vectors.Reschedule, Vcpu);
    }

    /// <summary>
    /// The kick's IPI arrived (<c>scheduler_ipi</c> → <c>got_nohz_idle_kick</c> in 4.16;
    /// <c>nohz_csd_func</c> in 5.10): an idle VCPU without need_resched raises SCHED_SOFTIRQ, whose
    /// <c>run_rebalance_domains</c> runs <c>nohz_idle_balance</c>. A VCPU no longer idle drops the
    /// kick — except in 2.6.39, whose <c>nohz_idle_balance</c> returns early for a busy CPU leaving
    /// <c>nohz_balance_kick</c> set, so it runs at a later idle tick's softirq.
    /// </summary>
    private void OnNohzKick()
    {
        if (IdleCpu && !NeedResched)
            StartNohzIdleBalance();
        else if (_k.NohzModel != GuestNohzBalance.Push2639)
            _nohzBalanceKick = false;
    }

    private void StartNohzIdleBalance()
    {
        _nohzIdleBalanceDue = true;
        _nohzOwnBalance = true;
        _nohzIlbCursor = 0;
        _nohzIlbLooked = false;
        _nohzIlbNextBalance = Jiffies + 60L * S.Hz;
    }

    /// <summary>The kicked VCPU leaves idle (need_resched): <c>nohz_idle_balance</c> stops, the kick is cleared.</summary>
    private void AbortNohzIdleBalance()
    {
        _nohzIdleBalanceDue = false;
        _nohzOwnBalance = false;
        _nohzBalanceKick = false;
    }

    /// <summary>
    /// One step of <c>nohz_idle_balance</c> from the idle loop: the next tickless idle VCPU (not this
    /// one) whose idle balance is due gets <c>rebalance_domains(cpu, CPU_IDLE)</c> run for it; a
    /// thread it can pull is moved to its queue under both run-queue locks and it is rescheduled
    /// (<c>resched_cpu</c> in 2.6.39 <c>load_balance</c>; <c>check_preempt_curr</c> in 4.16+
    /// <c>attach_task</c>). True when that queued the move; the walk goes on when it is done. At
    /// the end nohz.next_balance becomes the earliest next balance seen, this VCPU's own included.
    /// </summary>
    private bool NohzIdleBalanceStep()
    {
        var model = _k.NohzModel;
        var cpus = _k.Cpus;
        while (_nohzIlbCursor < cpus.Length)
        {
            var c = cpus[_nohzIlbCursor++];
            // 2.6.39 walks every CPU of the mask; 4.16+ skip one no longer idle.
            if (c == this || !_k.NohzMask.Contains(c.Index) || (model != GuestNohzBalance.Push2639 && !c.IdleCpu))
                continue;
            if (NeedResched)
            {
                AbortNohzIdleBalance();
                return false;
            }
            if (model == GuestNohzBalance.Push2639)
                UpdateCpuLoad(); // 2.6.39 updates the balancer's own load here
            else
                c.UpdateCpuLoad(); // cpu_load_update_idle(balance_cpu) (4.16; a no-op without cpu_load[])
            bool due = c.StampIdleBalance();
            _nohzIlbLooked = true;
            _nohzIlbNextBalance = Math.Min(_nohzIlbNextBalance, c._nextBalance);
            if (!due || !S.IdlePull)
                continue;
            // load_balance(CPU_IDLE) for c, with c's own sd->nr_balance_failed (decision 0077).
            bool mayTakeHot = c.IdlePullMayTakeHot;
            var (t, src, overloaded) = _k.FindPull(c, overloadedOnly: true, mayTakeHot);
            c.IdlePullDone(t is not null, overloaded, periodic: true);
            if (t is not null)
            {
                if (mayTakeHot && TaskHot(t))
                    c.IdleHotPulls++;
                NohzIdleBalancePulls++;
                var (first, second) = src!.Index < c.Index ? (src, c) : (c, src);
                RunNext(
                    new Op { Kind = Micro.Lock, Lock = first.RqLock },
                    new Op { Kind = Micro.Lock, Lock = second.RqLock },
                    new Op { Kind = Micro.Compute, Ns = S.Costs.Migrate.Ns },
                    new Op { Kind = Micro.NohzPullDo, Thread = t, Cpu = src, Vector = c.Index },
                    new Op { Kind = Micro.Unlock, Lock = second.RqLock },
                    new Op { Kind = Micro.Unlock, Lock = first.RqLock });
                return true;
            }
        }
        // The balancer's own rebalance_domains(CPU_IDLE) stamps its domain; its pull is IdleStep's,
        // a periodic one when the domain was due (decision 0077).
        if (StampIdleBalance())
            _idleLoadBalanceDue = true;
        // 2.6.39: nohz.next_balance = this_rq->next_balance, the minimum over all; 4.16+: the
        // minimum over the CPUs looked at (if any), lowered by the balancer's own next balance.
        long next = _nohzIlbLooked ? Math.Min(_nohzIlbNextBalance, _nextBalance) : _nextBalance;
        if (model == GuestNohzBalance.Push2639 || _nohzIlbLooked || _k.NohzNextBalance - next > 0)
            _k.NohzNextBalance = next;
        NohzIdleBalances++;
        _nohzOwnBalance = true;
        _nohzIdleBalanceDue = false;
        _nohzBalanceKick = false;
        return false;
    }

    /// <summary>The balancer's move of <paramref name="t"/> from <paramref name="src"/> to the idle VCPU <paramref name="dst"/> (pull_task / attach_task).</summary>
    private void NohzPullDo(GuestThread t, GuestCpu src, GuestCpu dst)
    {
        if (t.State != ThreadState.Runnable || t.Cpu != src.Index || !src._queue.Remove(t))
            return; // it ran meanwhile
        dst.MoveHere(t, src);
        // attach_task → check_preempt_curr on the idle VCPU.
        if (dst.NeedResched || (dst.Curr is not null && !dst.CurrPreemptedBy(t)))
            return;
        ReschedCurr(dst);
    }
}

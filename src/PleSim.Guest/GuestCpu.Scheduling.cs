using PleSim.Engine;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>A guest CPU: the scheduler — enqueue, pick, tick preemption, NOHZ, the idle loop, pulls.</summary>
public sealed partial class GuestCpu
{
    // ------------------------------------------------------------------ scheduling

    internal void EnqueueInitial(GuestThread t)
    {
        t.ListSeq = ++_k.TaskListSeq;
        Enqueue(t);
        AddNrRunning();
    }

    internal void ReserveQueue(int threads) => _queue.EnsureCapacity(threads);

    private void Enqueue(GuestThread t)
    {
        int i = _queue.Count;
        while (i > 0 && t.Vruntime < _queue[i - 1].Vruntime)
            i--;
        _queue.Insert(i, t);
    }

    /// <summary>
    /// <c>add_nr_running</c> (3.16+): a run queue that goes from one runnable thread to two sets the root
    /// domain's overload flag (decision 0087). Called after a thread joins this queue — a wake-up, a
    /// pull, a new thread — not when schedule() puts the previous thread back.
    /// </summary>
    private void AddNrRunning()
    {
        if (NrRunning == 2)
            _k.RdOverload = true;
    }

    internal void UpdateCurr()
    {
        if (Curr is null)
            return;
        long now = ClockTask;
        long d = now - Curr.ExecStart;
        if (d <= 0)
            return;
        Curr.Vruntime += d;
        Curr.RuntimeNs += d;
        Curr.ExecStart = now;
        long min = Curr.Vruntime;
        if (_queue.Count > 0)
            min = Math.Min(min, _queue[0].Vruntime);
        MinVruntime = Math.Max(MinVruntime, min);
    }

    /// <summary>The core of schedule(): put the previous thread back (if still runnable) and pick the leftmost.</summary>
    private void Pick()
    {
        var prev = Curr;
        if (_if)
            throw new InvalidOperationException($"{this}: schedule() with interrupts enabled under the run-queue lock");
        if (LocksHeld != 1)
            throw new InvalidOperationException($"{this}: schedule() with {LocksHeld - 1} spinlock(s) held besides the run-queue lock (thread {prev})");
        if (prev is not null)
        {
            UpdateCurr();
            if (prev.State == ThreadState.Running)
            {
                prev.State = ThreadState.Runnable;
                Enqueue(prev);
            }
            else if (prev.State == ThreadState.Sleeping)
            {
                prev.State = ThreadState.Blocked; // deactivate_task(DEQUEUE_SLEEP)
            }
        }
        GuestThread? next = null;
        if (_queue.Count > 0)
        {
            next = _queue[0];
            _queue.RemoveAt(0);
            next.State = ThreadState.Running;
            next.ExecStart = ClockTask;
            next.SliceStart = next.ExecStart;
            if (_k.SchedDomain.TasksListMru)
                next.ListSeq = ++_k.TaskListSeq; // list_move to the head of rq->cfs_tasks
            MinVruntime = Math.Max(MinVruntime, next.Vruntime);
        }
        if (next != prev)
        {
            Switches++;
            _k.Observer?.Switched(this, prev, next);
        }
        Curr = next;
        _idleBalanceDue = next is null; // going idle: the idle balance that follows the pick
        if (prev is not null && next != prev && prev.MutexesHeld > 0)
            _k.MutexOwnerSwitchedOut(prev); // owner->on_cpu is now 0: its owner-spinners stop
        if (prev is not null && next != prev && _k.RwSems.Count > 0)
            _k.RwSemOwnerSwitchedOut(prev); // the same for a 4.19 rw_semaphore's writer owner
        if (next is not null)
        {
            ActiveMm = next.Mm; // switch_mm: leave the previous mm's cpumask, join this one's
            // Leaving the idle loop: tick_nohz_restart_sched_tick → select_nohz_load_balancer(0).
            if (S.TicklessIdle)
                _k.NohzExit(this);
            if (_nohzIdleBalanceDue)
                AbortNohzIdleBalance(); // nohz_idle_balance: need_resched stops the walk
        }
        NeedResched = false;
    }

    /// <summary><c>check_preempt_tick</c> at a guest tick, for the current thread against the leftmost queued one.</summary>
    private void TickCheckPreempt()
    {
        if (Curr is null || _queue.Count == 0)
            return;
        UpdateCurr();
        int nr = _queue.Count + 1;
        long period = PleSim.Host.HostScheduler.SchedPeriod(nr, S.Latency.Ns, S.MinGranularity.Ns, PleSim.Host.SchedTunables.DefaultNrLatency);
        if (TickPreempts(ClockTask - Curr.SliceStart, period / nr, Curr.Vruntime - _queue[0].Vruntime, S.MinGranularity.Ns))
            NeedResched = true;
    }

    /// <summary>
    /// <c>check_preempt_tick</c>'s decision (2.6.32–6.5 kernel/sched_fair.c / kernel/sched/fair.c, equal
    /// weights): preempt once the thread has run its ideal slice since it was picked
    /// (<paramref name="deltaExecNs"/> = sum_exec_runtime − prev_sum_exec_runtime); otherwise, once it
    /// has run at least <c>sysctl_sched_min_granularity</c>, when its vruntime leads the leftmost
    /// queued thread's by more than that slice ("a task that missed wakeup preemption by a narrow
    /// margin doesn't have to wait for a full slice"). Decision 0091 added the minimum-granularity gate.
    /// </summary>
    internal static bool TickPreempts(long deltaExecNs, long idealNs, long vruntimeLeadNs, long minGranularityNs) =>
        deltaExecNs > idealNs || (deltaExecNs >= minGranularityNs && vruntimeLeadNs > idealNs);

    /// <summary>trigger_load_balance's NOHZ part (2.6.32; the push model of 2.6.36+ in GuestCpu.Nohz.cs), at a guest tick of a tickless guest.</summary>
    private void NohzTick(bool ownBalanceDue)
    {
        if (_k.NohzPush)
        {
            PushNohzTick(ownBalanceDue);
            return;
        }
        if (Curr is null)
        {
            // 2.6.32 trigger_load_balance: the balancer's idle tick raises SCHED_SOFTIRQ only once its
            // rq->next_balance (the earliest of its own and, after each walk, the other idle CPUs')
            // has come; run_rebalance_domains then balances itself and walks the others (decision 0085).
            _nohzBalanceDue = S.IdlePull && _k.NohzBalancer == Index && (ownBalanceDue || !S.BusyBalance);
            return;
        }
        // A busy VCPU that was tickless recently and sees no balancer kicks the first idle one,
        // which then takes over (its idle loop re-runs select_nohz_load_balancer). The IPI is sent
        // from the tick's softirq, inside the interrupt already being handled: its ICR-write exit
        // is folded into the tick handler's cost (it happens at most once per idle period).
        if (_inNohzRecently)
        {
            _inNohzRecently = false;
            if (_k.NohzBalancer == -1 && !_k.NohzMask.IsEmpty)
            {
                if (IsS390)
                    S390PostSchedule(_k.Cpus[_k.NohzMask.First]);
                _k.Kvm.Kick(_k.Cpus[_k.NohzMask.First].Vcpu, Vectors.Reschedule, Vcpu);
            }
        }
    }

    private void IdleStep()
    {
        if (_queue.Count > 0)
        {
            _idleLoadBalanceDue = false;
            PushSchedule();
            return;
        }
        if (_nohzBalanceDue)
        {
            // The balancer's idle tick: every other tickless idle VCPU that could pull a queued
            // thread is kicked (rebalance_domains on its behalf ends in resched_cpu). With the domain
            // state (decision 0085), as 2.6.32 run_rebalance_domains: rebalance_domains(balance_cpu,
            // CPU_IDLE) balances only a VCPU whose domain is due, and that VCPU's pull is then its
            // load_balance(CPU_IDLE) — a balanced or failed one is counted in its domain at once;
            // the balancer's rq->next_balance becomes the earliest of the VCPUs walked.
            _nohzBalanceDue = false;
            bool kicked = false;
            foreach (var c in _k.Cpus)
            {
                if (c == this || !_k.NohzMask.Contains(c.Index))
                    continue;
                if (S.BusyBalance)
                {
                    bool due = c.StampIdleBalance();
                    if (_nextBalance - c._nextBalance > 0)
                        _nextBalance = c._nextBalance;
                    if (!due)
                        continue;
                    var (t, _, overloaded) = _k.FindPull(c, mayTakeHot: c.IdlePullMayTakeHot);
                    if (t is null)
                    {
                        c.IdlePullDone(false, overloaded, periodic: true);
                        continue;
                    }
                    c._idleLoadBalanceDue = true;
                }
                else if (_k.FindPull(c).Thread is null)
                    continue;
                NohzKicks++;
                kicked = true;
                Push(Micro.Ipi, cpu: c, vector: Vectors.Reschedule);
            }
            if (kicked)
                return;
        }
        // The push model's kicked balancer (decision 0076): 4.16+ balance the other idle CPUs before
        // their own rebalance_domains; 2.6.39 balances itself first (run_rebalance_domains).
        if (_nohzIdleBalanceDue && !(_idleBalanceDue && _k.NohzModel == GuestNohzBalance.Push2639) && NohzIdleBalanceStep())
            return;
        // The idle loop balances only where the kernel does: in schedule() going idle (idle_balance,
        // 2.6.39 kernel/sched.c; newidle_balance from pick_next_task_fair, 6.1 kernel/sched/fair.c),
        // in rebalance_domains from an idle tick's SCHED_SOFTIRQ, and in the schedule() that a
        // reschedule IPI's need_resched forces (cpu_idle's `while (!need_resched())` in 2.6.39
        // arch/x86/kernel/process_64.c, do_idle in 6.1 kernel/sched/idle.c). Any other interrupt —
        // a TLB-flush IPI, a device interrupt whose softirq woke nothing here — returns to the
        // same loop, which halts again without balancing (decision 0070).
        bool balance = _idleBalanceDue;
        _idleBalanceDue = false;
        // The kicked NOHZ balancer's own balance takes only from an overloaded queue, as its
        // balances for the other idle VCPUs (decision 0076). So does every idle pull of a guest with
        // the reworked balancer (decision 0082): from 5.5, find_busiest_group finds a busiest group
        // that is not overloaded and has one runnable task out_balanced ("busiest doesn't have any
        // tasks waiting to run", 5.10 and 6.1 kernel/sched/fair.c), whatever the idle type — an
        // idle VCPU leaves a thread woken onto another idle VCPU to that VCPU, even while the host
        // has not run it yet.
        bool nohzOwn = _nohzOwnBalance;
        bool overloadedOnly = nohzOwn || Domain.Balancer == GuestLoadBalancer.Reworked;
        _nohzOwnBalance = _nohzIdleBalanceDue;
        bool periodic = _idleLoadBalanceDue;
        _idleLoadBalanceDue = false;
        bool newIdle = !periodic && !nohzOwn; // idle_balance from schedule(), not a CPU_IDLE rebalance_domains
        if (balance && S.IdlePull && newIdle && NewIdleSkipped())
            balance = false;
        if (balance && S.IdlePull)
        {
            bool mayTakeHot = IdlePullMayTakeHot;
            var (t, src, overloaded) = _k.FindPull(this, overloadedOnly, mayTakeHot);
            IdlePullDone(t is not null, overloaded, periodic);
            if (newIdle)
                NewIdleNextBalance(t is not null); // idle_balance's rq->next_balance (decision 0085)
            if (t is not null)
            {
                if (newIdle)
                    _idleStamp = 0; // "pulled_task": this idle period ends now, not at a wake-up
                if (mayTakeHot && TaskHot(t))
                    IdleHotPulls++;
                Pulls++;
                Push(Micro.Lock, lk: src!.RqLock);
                Push(Micro.Compute, S.Costs.Migrate.Ns);
                Push(Micro.PullDo, t: t, cpu: src);
                Push(Micro.Unlock, lk: src.RqLock);
                return;
            }
        }
        if (_nohzIdleBalanceDue && NohzIdleBalanceStep())
            return;
        // Nothing to run: the idle loop halts (interrupts enabled, TIF_POLLING clear): x86
        // default_idle/safe_halt is "sti; hlt", so a pending interrupt ends the halt at once.
        if (!_if || LocksHeld != 0)
            throw new InvalidOperationException($"{this}: HLT with interrupts disabled or a spinlock held");
        if (NeedResched)
        {
            // need_resched is set but nothing is queued here: the thread a wake-up enqueued (and
            // flagged this CPU for) was pulled by another CPU before this one scheduled, or a poll
            // ended on the flag. The idle loop never halts with the flag set: do_idle (6.1
            // kernel/sched/idle.c; cpu_idle's `while (!need_resched())` in 2.6.39
            // arch/x86/kernel/process_64.c) leaves its loop and schedule_idle() / schedule() picks
            // the idle task again, clearing the flag, before the next idle round. Halting with it
            // set loses the next wake-up: resched_curr (6.1 kernel/sched/core.c; resched_task in
            // 2.6.39) sends no IPI to a CPU whose flag is already set, so a thread enqueued here
            // later would wait for the next tick — forever on a tickless idle CPU.
            PushSchedule();
            return;
        }
        if (S.Haltpoll)
        {
            if (HaltpollSelectsPoll())
            {
                // poll_idle (drivers/cpuidle/poll_state.c): TIF_POLLING_NRFLAG on, then cpu_relax()
                // until need_resched or the limit (cpuidle_poll_time = dev->poll_limit_ns, read on
                // local_clock, i.e. wall time): a PAUSE loop, seen by PLE like any other.
                HaltPolls++;
                _polling = true;
                _pollStart = Now;
                Vcpu.Spin(_pollTarget, 0, false, PollLimitNs);
                return;
            }
            _haltEnteredAt = Now;
        }
        IdleHalts++;
        _halting = true;
        if (S.TicklessIdle)
        {
            // tick_nohz_stop_sched_tick: the tick stops unless this VCPU is the NOHZ balancer.
            _inNohzRecently = true;
            if (_k.NohzPush)
                SdStateBusy = false; // nohz_balance_enter_idle → set_cpu_sd_state_idle (3.3+)
            if (!_k.NohzEnter(this))
                StopTick();
        }
        Vcpu.Halt();
    }

    /// <summary>
    /// The start of <c>idle_balance</c> (2.6.32 kernel/sched.c, 2.6.39 kernel/sched_fair.c, 4.16–5.10
    /// kernel/sched/fair.c): rq->idle_stamp is set, and while the VCPU's average idle period is shorter
    /// than sched_migration_cost the balance is skipped — "no time to balance" before the next
    /// wake-up. 2.6.32 and 2.6.39 return at once; 4.16 on still lower rq->next_balance to the domain's
    /// idle interval (<c>update_next_balance</c>). Decision 0086. From 4.2 the pass is also skipped while
    /// the root domain is not overloaded (decision 0087).
    /// </summary>
    private bool NewIdleSkipped()
    {
        NewIdleBalances++;
        _idleStamp = Math.Max(Now, 1);
        if (Domain.NewIdleAvgIdleGate && _avgIdle < S.MigrationCost.Ns)
            NewIdleAvgIdleSkips++;
        else if (Domain.NewIdleRdOverloadGate && !_k.RdOverload)
            NewIdleNotOverloadedSkips++; // "|| !this_rq->rd->overload" (4.16 idle_balance; decision 0087)
        else
            return false;
        if (Domain.NewIdleAlwaysLowersNextBalance)
            NewIdleNextBalance(false);
        return true;
    }

    /// <summary>
    /// <c>try_to_wake_up</c>'s update of <c>rq->avg_idle</c> for a thread woken onto this VCPU: the
    /// idle period since <c>idle_balance</c> stamped it (2.6.32 out_running; 4.16 on
    /// <c>ttwu_do_wakeup</c>), bounded by twice sched_migration_cost. Decision 0086.
    /// </summary>
    private void TtwuAvgIdle()
    {
        if (_idleStamp == 0)
            return;
        AvgIdle.OnWakeup(ref _avgIdle, Now - _idleStamp, 2 * S.MigrationCost.Ns, Domain.AvgIdleCapAfterAverage);
        _idleStamp = 0;
    }

    private void PullDo(GuestThread t, GuestCpu src)
    {
        if (t.State != ThreadState.Runnable || t.Cpu != src.Index || !src._queue.Remove(t))
            return; // it ran meanwhile
        MoveHere(t, src);
    }

    /// <summary><c>pull_task</c>: a queued thread taken off <paramref name="src"/>'s queue joins this one, keeping its vruntime lag.</summary>
    private void MoveHere(GuestThread t, GuestCpu src)
    {
        long rel = t.Vruntime - src.MinVruntime;
        t.Cpu = Index;
        t.Migrations++;
        t.Vruntime = rel + MinVruntime;
        t.ListSeq = ++_k.TaskListSeq; // activate_task: list_add at the head
        Enqueue(t);
        AddNrRunning();
    }

    /// <summary>
    /// A queued thread this idle CPU may pull (new-idle balancing), from the busiest queue; a cache-hot
    /// one only with <paramref name="mayTakeHot"/> (nr_balance_failed past cache_nice_tries, decision 0077).
    /// </summary>
    internal GuestThread? Pullable(GuestCpu to, bool mayTakeHot = false)
    {
        foreach (var t in _queue)
        {
            if (t.AllowedOn(to.Index) && (mayTakeHot || !TaskHot(t)))
                return t;
        }
        return null;
    }

    /// <summary><c>task_hot</c>: a thread that ran within sched_migration_cost stays where its cache is.</summary>
    private bool TaskHot(GuestThread t) => ClockTask - t.ExecStart < S.MigrationCost.Ns;

    /// <summary>
    /// <c>rq_clock_task</c>: the time the scheduler charges threads with — wall time, less the VCPU's
    /// steal time (its host task's time runnable but not running) with <see cref="GuestSettings.StealTimeAccounting"/>.
    /// </summary>
    private long ClockTask => S.StealTimeAccounting ? Now - Vcpu.Task.Se.WaitSumAt(Now) : Now;

    /// <summary>
    /// <c>check_preempt_wakeup</c> for a thread just enqueued here beside the current one: the current
    /// thread's vruntime (brought up to date) leads by more than the wake-up granularity.
    /// </summary>
    private bool CurrPreemptedBy(GuestThread t)
    {
        UpdateCurr();
        return Curr!.Vruntime - t.Vruntime > S.WakeupGranularity.Ns;
    }

    internal int QueuedCount => _queue.Count;

    internal bool IsQueued(GuestThread t) => _queue.Contains(t);
}

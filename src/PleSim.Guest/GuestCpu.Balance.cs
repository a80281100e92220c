using PleSim.Host;

namespace PleSim.Guest;

/// <summary>
/// A guest CPU: periodic load balancing of a busy VCPU (decision 0072) — <c>update_cpu_load</c> at
/// every tick, and from a busy tick <c>trigger_load_balance</c> → SCHED_SOFTIRQ →
/// <c>rebalance_domains(cpu, CPU_NOT_IDLE)</c> → <c>load_balance</c> over the one domain the VCPUs
/// share (<see cref="GuestSchedDomain"/>): find the busiest VCPU, work out the imbalance, and pull
/// queued threads under both run-queue locks. (2.6.39 kernel/sched.c and kernel/sched_fair.c;
/// 5.10 / 6.1 kernel/sched/fair.c for the reworked balancer.) Each thread weighs NICE_0_LOAD and
/// each VCPU has capacity SCHED_CAPACITY_SCALE: the guest model has neither nice levels nor PELT.
/// An idle VCPU's pulls stay in <see cref="IdleStep"/>.
/// </summary>
public sealed partial class GuestCpu
{
    // sched_domain state of this CPU's copy of the domain, and rq->cpu_load[].
    private readonly long[] _cpuLoad = new long[RunQueue.CpuLoadIdxMax];
    private long _lastLoadUpdateTick;
    private long _balanceIntervalMs;   // sd->balance_interval (ms)
    private long _lastBalance;         // sd->last_balance (jiffies)
    private long _nextBalance;         // rq->next_balance (jiffies)
    private int _nrBalanceFailed;      // sd->nr_balance_failed

    /// <summary>Busy-VCPU balances run (<c>load_balance</c> from a busy tick), those that found an imbalance, and threads they pulled.</summary>
    public long BusyBalances, BusyBalanceImbalanced, BusyBalancePulls;

    /// <summary>Busy balances that failed often enough to start an active balance (the migration thread pushing the running thread), which the model does not do.</summary>
    public long ActiveBalancesNotModelled;

    /// <summary>Periodic idle balances (CPU_IDLE, due: at an idle tick or run by the NOHZ balancer) that found an overloaded VCPU and took nothing (its queued threads cache hot): sd->nr_balance_failed++ (decision 0077).</summary>
    public long IdleBalanceFailures;

    /// <summary>Idle pulls that took a cache-hot thread because nr_balance_failed exceeded cache_nice_tries (decision 0077).</summary>
    public long IdleHotPulls;

    /// <summary>Periodic idle balances that failed often enough for an active balance, which the model does not do (decision 0077; not in <see cref="ActiveBalancesNotModelled"/>, which counts busy balances).</summary>
    public long IdleActiveBalancesNotModelled;

    private bool _idleLoadBalanceDue;  // rebalance_domains (idle tick, or the NOHZ balancer's own) found the domain due: the next pull attempt is load_balance(CPU_IDLE)

    /// <summary>sysctl_sched_nr_migrate (2.6.39–6.1): at most this many tasks are looked at per balance.</summary>
    private const int SchedNrMigrate = 32;

    private GuestSchedDomain Domain => _k.SchedDomain;

    /// <summary>jiffies: the guest's tick count (every VCPU's tick is on the same grid).</summary>
    private long Jiffies => Now / S.TickPeriod.Ns;

    private long MsecsToJiffies(long ms) => ((ms * S.Hz) + 999) / 1000;

    /// <summary>The weighted load of the run queue (<c>weighted_cpuload</c>): every thread weighs NICE_0_LOAD.</summary>
    private long WeightedCpuload => NrRunning * Weights.Nice0Load;

    /// <summary><c>update_cpu_load</c> from <c>scheduler_tick</c> (2.6.39; cpu_load[] was removed in 5.3).</summary>
    private void UpdateCpuLoad()
    {
        if (Domain.BusyIdx == 0)
            return;
        long jiffies = Jiffies;
        long pending = jiffies - _lastLoadUpdateTick;
        if (pending <= 0)
            return;
        _lastLoadUpdateTick = jiffies;
        HostScheduler.UpdateCpuLoadIndexes(_cpuLoad, WeightedCpuload, pending);
    }

    /// <summary><c>source_load</c>: a low guess of a remote CPU's load (the smaller of cpu_load[busy_idx] and now).</summary>
    private long SourceLoad() => Domain.BusyIdx == 0 ? WeightedCpuload : Math.Min(_cpuLoad[Domain.BusyIdx], WeightedCpuload);

    /// <summary><c>target_load</c>: a high guess of this CPU's load.</summary>
    private long TargetLoad() => Domain.BusyIdx == 0 ? WeightedCpuload : Math.Max(_cpuLoad[Domain.BusyIdx], WeightedCpuload);

    /// <summary>
    /// <c>rebalance_domains(cpu, CPU_IDLE)</c>'s interval check for this VCPU's one domain — from an
    /// idle tick, or from the NOHZ idle balancer on its behalf: at the domain's own interval (no
    /// busy_factor); true if sd->last_balance + the interval has come (then stamped now);
    /// rq->next_balance follows. The pull itself is <see cref="IdleStep"/>'s (or the balancer's).
    /// </summary>
    private bool StampIdleBalance()
    {
        long jiffies = Jiffies;
        long interval = BalanceInterval(busy: false);
        bool due = jiffies - (_lastBalance + interval) >= 0;
        if (due)
            _lastBalance = jiffies;
        _nextBalance = _lastBalance + interval;
        return due;
    }

    /// <summary>
    /// <c>can_migrate_task</c>'s escape from <c>task_hot</c> for an idle pull: the domain's periodic
    /// balances failed more than cache_nice_tries times in a row (2.6.39 kernel/sched_fair.c, 4.16
    /// kernel/sched/fair.c; the counter is the one the busy balance uses, decision 0077).
    /// </summary>
    private bool IdlePullMayTakeHot => S.BusyBalance && _nrBalanceFailed > Domain.CacheNiceTries;

    /// <summary>
    /// The end of an idle VCPU's pull attempt (decision 0077), as <c>load_balance</c> ends, with what
    /// <see cref="GuestKernel.FindPull"/> saw (<paramref name="overloaded"/>): a thread
    /// moved clears sd->nr_balance_failed (any idle type, new-idle included); at a periodic balance
    /// that was due (CPU_IDLE: an idle tick's, or the NOHZ balancer's), an overloaded VCPU whose
    /// queued threads could not be taken (all cache hot) counts a failure — after more than cache_nice_tries + 2 of them, an active balance,
    /// which the model does not run (counted, and the counter set to cache_nice_tries + 1 as the
    /// kernel does). Finding no overloaded VCPU is out_balanced (the counter cleared) for any idle
    /// type; new-idle and reschedule-IPI balances (CPU_NEWLY_IDLE) that fail leave the counter alone.
    /// </summary>
    /// <remarks>
    /// Decision 0085: the attempt also retunes sd->balance_interval as <c>load_balance</c> does — a
    /// pass that found an overloaded VCPU (moved or not) resets it to min_interval, an active balance
    /// and a balanced pass (out_balanced) double it up to max_interval. A periodic pass always does;
    /// a new-idle one as the version's <see cref="GuestSchedDomain.NewIdleTunesInterval"/> and
    /// <see cref="GuestSchedDomain.NewIdleDoublesInterval"/> say.
    /// </remarks>
    private void IdlePullDone(bool moved, bool overloaded, bool periodic)
    {
        if (!S.BusyBalance)
            return;
        var dom = Domain;
        bool tune = periodic || dom.NewIdleTunesInterval;
        if (moved)
        {
            _nrBalanceFailed = 0;
            if (tune)
                _balanceIntervalMs = dom.MinIntervalMs; // "We were unbalanced, so reset the balancing interval"
            return;
        }
        if (!overloaded)
        {
            _nrBalanceFailed = 0; // out_balanced, whatever the idle type
            if ((periodic || (tune && dom.NewIdleDoublesInterval)) && _balanceIntervalMs < dom.MaxIntervalMs)
                _balanceIntervalMs *= 2; // "tune up the balancing interval"
            return;
        }
        if (!periodic)
        {
            // CPU_NEWLY_IDLE: "Increment the failure counter only on periodic balance"
            if (tune)
                _balanceIntervalMs = dom.MinIntervalMs;
            return;
        }
        IdleBalanceFailures++;
        _nrBalanceFailed++;
        if (_nrBalanceFailed > dom.CacheNiceTries + 2)
        {
            IdleActiveBalancesNotModelled++;
            _nrBalanceFailed = dom.CacheNiceTries + 1;
            if (_balanceIntervalMs < dom.MaxIntervalMs)
                _balanceIntervalMs *= 2; // an active balance started: the interval grows
            return;
        }
        _balanceIntervalMs = dom.MinIntervalMs;
    }

    /// <summary>
    /// The end of the new-idle balance (<c>idle_balance</c>; <c>newidle_balance</c> from 5.x): rq->next_balance
    /// from the domain's idle interval after the pass retuned it, at most a second (HZ jiffies) away.
    /// 4.16 on lower rq->next_balance to it whenever it is sooner; 2.6.32 and 2.6.39 set it only when a
    /// thread was pulled or rq->next_balance has passed, so a VCPU going idle keeps the next balance its
    /// last busy balance set (decision 0085).
    /// </summary>
    private void NewIdleNextBalance(bool pulled)
    {
        if (!S.BusyBalance)
            return;
        long jiffies = Jiffies;
        long next = _lastBalance + BalanceInterval(busy: false);
        if (next - (jiffies + S.Hz) > 0)
            next = jiffies + S.Hz;
        if (Domain.NewIdleAlwaysLowersNextBalance)
        {
            if (_nextBalance - next > 0)
                _nextBalance = next;
        }
        else if (pulled || jiffies - _nextBalance > 0)
            _nextBalance = next;
    }

    /// <summary>
    /// The domain's balance interval in jiffies (6.x <c>get_sd_balance_interval</c>; inline in 2.6.39
    /// <c>rebalance_domains</c>): balance_interval ms, × busy_factor when busy, clamped to
    /// [1, max_load_balance_interval = HZ × online CPUs / 10].
    /// </summary>
    private long BalanceInterval(bool busy)
    {
        long ms = busy ? _balanceIntervalMs * Domain.BusyFactor : _balanceIntervalMs;
        return Math.Clamp(MsecsToJiffies(ms), 1, Math.Max(1, (long)S.Hz * _k.Cpus.Length / 10));
    }

    /// <summary>
    /// From a busy tick: <c>trigger_load_balance</c> raises SCHED_SOFTIRQ once rq->next_balance has
    /// come, and <c>run_rebalance_domains</c> runs at the tick's <c>irq_exit</c>. A computation the
    /// tick interrupted is split around it. The model cannot run a kernel path inside a wait loop,
    /// so in any other wait (an owner spin, a wait for flush acknowledgements) the balance runs when
    /// the wait ends, as a device's bottom half does (decision 0045) — except in a spinlock's wait
    /// (a spin or a PV halt), which ends with the lock taken: there the softirq is left to a later
    /// tick rather than run under a lock the interrupted code did not hold yet.
    /// </summary>
    private void TriggerLoadBalance()
    {
        if (!S.BusyBalance || _k.Cpus.Length == 1 || Jiffies - _nextBalance < 0)
            return;
        long rest = Vcpu.TakeComputeRemainder();
        if (rest < 0 && (_spinningOn is not null || _pvHalting))
            return;
        if (rest > 0)
            PushFront(new Op { Kind = Micro.Compute, Ns = rest, User = _inUser });
        RebalanceDomains();
    }

    /// <summary><c>rebalance_domains(cpu, CPU_NOT_IDLE)</c> for the one domain.</summary>
    private void RebalanceDomains()
    {
        long jiffies = Jiffies;
        long interval = BalanceInterval(busy: true);
        if (jiffies - (_lastBalance + interval) >= 0)
        {
            LoadBalance();
            _lastBalance = jiffies;
        }
        _nextBalance = _lastBalance + interval; // the interval from before load_balance retuned it
    }

    /// <summary><c>load_balance(CPU_NOT_IDLE)</c>: the lockless search; the move runs as a kernel path under both run-queue locks.</summary>
    private void LoadBalance()
    {
        BusyBalances++;
        _k.UpdateRdOverload(); // update_sd_lb_stats at the root domain (decision 0087)
        var (busiest, imbalance) = Domain.Balancer == GuestLoadBalancer.Reworked ? FindBusiestReworked() : FindBusiestLegacy();
        if (busiest is null)
        {
            OutBalanced();
            return;
        }
        BusyBalanceImbalanced++;
        // double_rq_lock: the lower-numbered queue's lock first (the kernel orders by address).
        var (first, second) = busiest.Index < Index ? (busiest, this) : (this, busiest);
        RunNext(
            new Op { Kind = Micro.Lock, Lock = first.RqLock },
            new Op { Kind = Micro.Lock, Lock = second.RqLock },
            new Op { Kind = Micro.MoveTasks, Cpu = busiest, Ns = imbalance },
            new Op { Kind = Micro.Unlock, Lock = second.RqLock },
            new Op { Kind = Micro.Unlock, Lock = first.RqLock });
    }

    /// <summary>out_balanced: nothing to pull; the domain balances less often (up to max_interval).</summary>
    private void OutBalanced()
    {
        _nrBalanceFailed = 0;
        if (_balanceIntervalMs < Domain.MaxIntervalMs)
            _balanceIntervalMs *= 2;
    }

    /// <summary>
    /// 2.6.39 <c>find_busiest_group</c> with one VCPU per group (<c>update_sd_lb_stats</c>: this
    /// CPU's load by <c>target_load</c>, the others' by <c>source_load</c>; a group is a candidate
    /// only with more threads than its capacity of one), then <c>calculate_imbalance</c>.
    /// <c>find_busiest_queue</c> returns the group's one VCPU.
    /// </summary>
    internal (GuestCpu? Busiest, long Imbalance) FindBusiestLegacy()
    {
        long thisLoad = TargetLoad();
        long totalLoad = thisLoad, maxLoad = 0;
        GuestCpu? busiest = null;
        foreach (var c in _k.Cpus)
        {
            if (c == this)
                continue;
            long load = c.SourceLoad();
            totalLoad += load;
            if (load > maxLoad && c.NrRunning > 1)
            {
                maxLoad = load;
                busiest = c;
            }
        }
        if (busiest is null)
            return (null, 0);
        long avgLoad = totalLoad / _k.Cpus.Length;
        if (thisLoad >= maxLoad || thisLoad >= avgLoad || 100 * maxLoad <= Domain.ImbalancePct * thisLoad)
            return (null, 0);
        long imbalance = CalculateImbalanceLegacy(maxLoad, avgLoad, thisLoad, busiest.WeightedCpuload, busiest.NrRunning, WeightedCpuload, NrRunning);
        return imbalance > 0 ? (busiest, imbalance) : (null, 0);
    }

    /// <summary>
    /// 2.6.39 <c>calculate_imbalance</c> and <c>fix_small_imbalance</c> for groups of one CPU of
    /// power SCHED_LOAD_SCALE: pull the smaller of the busiest's excess over the average (at most its
    /// load above capacity) and this CPU's room under it; when that is less than one of the
    /// busiest's threads, one thread's load if the gap is at least that (two, when this CPU's
    /// threads are as heavy), or if moving one gains throughput.
    /// </summary>
    public static long CalculateImbalanceLegacy(long maxLoad, long avgLoad, long thisLoad, long busiestWeighted, long busiestNr, long thisWeighted, long thisNr)
    {
        const long scale = Weights.Nice0Load;
        long busiestLoadPerTask = busiestWeighted / busiestNr;
        if (maxLoad >= avgLoad)
        {
            long loadAboveCapacity = (busiestNr - 1) * scale;
            long maxPull = Math.Min(maxLoad - avgLoad, loadAboveCapacity);
            long imbalance = Math.Min(maxPull, avgLoad - thisLoad);
            if (imbalance >= busiestLoadPerTask)
                return imbalance;
        }
        // fix_small_imbalance
        long thisLoadPerTask = thisNr > 0 ? thisWeighted / thisNr : 0;
        long imbn = busiestLoadPerTask > thisLoadPerTask ? 1 : 2;
        if (maxLoad - thisLoad + busiestLoadPerTask >= busiestLoadPerTask * imbn)
            return busiestLoadPerTask;
        long pwrNow = Math.Min(busiestLoadPerTask, maxLoad) + Math.Min(thisLoadPerTask, thisLoad);
        long pwrMove = 0;
        if (maxLoad > busiestLoadPerTask)
            pwrMove += Math.Min(busiestLoadPerTask, maxLoad - busiestLoadPerTask);
        long tmp = maxLoad < busiestLoadPerTask ? maxLoad : busiestLoadPerTask;
        pwrMove += Math.Min(thisLoadPerTask, thisLoad + tmp);
        return pwrMove > pwrNow ? busiestLoadPerTask : 0;
    }

    /// <summary>
    /// The reworked <c>find_busiest_group</c> (5.5; as in 5.10 and 6.1) for a busy VCPU: a VCPU
    /// running one thread is fully busy, more is overloaded (with every thread runnable all the
    /// time, utilisation is above capacity/imbalance_pct); the busiest is the highest type, then the
    /// highest load. A VCPU pulls only from an overloaded one with more load; an overloaded local
    /// VCPU also needs to be under the average and the busiest above it by imbalance_pct. Then
    /// <c>calculate_imbalance</c>'s migrate_load.
    /// </summary>
    internal (GuestCpu? Busiest, long Imbalance) FindBusiestReworked()
    {
        const long scale = Weights.Nice0Load;
        long localLoad = WeightedCpuload, totalLoad = localLoad;
        GuestCpu? busiest = null;
        foreach (var c in _k.Cpus)
        {
            if (c == this)
                continue;
            long load = c.WeightedCpuload;
            totalLoad += load;
            // update_sd_pick_busiest: only overloaded VCPUs can be the busiest of a busy balance (the
            // local VCPU is at least fully busy, and a busiest below overloaded is out_balanced).
            if (c.NrRunning > 1 && (busiest is null || load > busiest.WeightedCpuload))
                busiest = c;
        }
        if (busiest is null)
            return (null, 0);
        long busiestLoad = busiest.WeightedCpuload;
        long avgLoad = totalLoad / _k.Cpus.Length; // total_load * SCHED_CAPACITY_SCALE / total_capacity
        if (localLoad >= busiestLoad)
            return (null, 0);
        if (NrRunning > 1 && (localLoad >= avgLoad || 100 * busiestLoad <= Domain.ImbalancePct * localLoad))
            return (null, 0); // find_busiest_group's checks for an overloaded local group
        // A fully busy local VCPU above the average: sds->avg_load - local->avg_load wraps (unsigned
        // long), so the busiest's excess decides. 5.10 and 6.1 as released have no check for it (it
        // came with 91dcf1e8068e, "sched/fair: Fix imbalance overflow", 2023).
        long room = localLoad >= avgLoad ? long.MaxValue : (avgLoad - localLoad) * scale;
        long imbalance = Math.Min((busiestLoad - avgLoad) * scale, room) / scale;
        return imbalance > 0 ? (busiest, imbalance) : (null, 0);
    }

    /// <summary>
    /// <c>move_tasks</c> (2.6.39) / <c>detach_tasks</c> (5.10, 6.1) under both run-queue locks:
    /// walk the busiest VCPU's task list (<see cref="GuestSchedDomain.TasksListMru"/>: least recently
    /// run first from 4.16; most recently enqueued first in 2.6.39) and pull each thread that
    /// may run here and is not cache hot (<c>can_migrate_task</c>; hot ones too after cache_nice_tries
    /// failed balances) until the imbalance is covered; then <c>check_preempt_curr</c> for each.
    /// Returns true when it started the migration's cost.
    /// </summary>
    private bool MoveTasks(GuestCpu busiest, long imbalance)
    {
        var dom = Domain;
        bool reworked = dom.Balancer == GuestLoadBalancer.Reworked;
        int moved = 0;
        if (busiest.NrRunning > 1)
        {
            var list = _k.BalanceScratch;
            list.Clear();
            list.AddRange(busiest._queue);
            list.Sort(dom.TasksListMru ? ByListSeqTailFirst : ByListSeqHeadFirst);
            long rem = imbalance;
            int loops = 0;
            // 2.6.39 balance_tasks stops when loops++ > sysctl_sched_nr_migrate; 5.10 detach_tasks
            // looks at min(sysctl_sched_nr_migrate, nr_running) tasks.
            int loopMax = reworked ? Math.Min(SchedNrMigrate, busiest.NrRunning) : SchedNrMigrate + 1;
            foreach (var t in list)
            {
                if (loops++ >= loopMax)
                    break;
                if (!t.AllowedOn(Index))
                    continue;
                if (TaskHot(t) && _nrBalanceFailed <= dom.CacheNiceTries)
                    continue;
                long load = Weights.Nice0Load;
                // 2.6.39: (weight >> 1) > rem_load_move (4.16, 5.3: load / 2 > imbalance); 5.10/6.1:
                // load >> nr_balance_failed > imbalance (shr_bound from 5.13 and the 5.10.y backports).
                if (reworked ? (load >> Math.Min(_nrBalanceFailed, 63)) > rem : (load >> 1) > rem)
                    continue;
                busiest._queue.Remove(t);
                MoveHere(t, busiest);
                moved++;
                BusyBalancePulls++;
                if (Curr is not null && CurrPreemptedBy(t))
                    NeedResched = true; // pull_task → check_preempt_curr, as for a woken thread
                rem -= load;
                if (rem <= 0)
                    break;
            }
            list.Clear();
        }
        if (moved > 0)
        {
            _nrBalanceFailed = 0;
            _balanceIntervalMs = dom.MinIntervalMs;
            Vcpu.Compute(moved * S.Costs.Migrate.Ns);
            return true;
        }
        _nrBalanceFailed++;
        if (_nrBalanceFailed > dom.CacheNiceTries + 2)
        {
            // need_active_balance: the kernel would wake the busiest CPU's migration thread to push
            // its running thread here (active_load_balance_cpu_stop). Not modelled: counted, and the
            // domain's state set as after starting one.
            ActiveBalancesNotModelled++;
            _nrBalanceFailed = dom.CacheNiceTries + 1;
            if (_balanceIntervalMs < dom.MaxIntervalMs)
                _balanceIntervalMs *= 2;
            return false;
        }
        _balanceIntervalMs = dom.MinIntervalMs; // unbalanced: reset the interval
        return false;
    }

    private static readonly Comparison<GuestThread> ByListSeqHeadFirst = (a, b) => b.ListSeq.CompareTo(a.ListSeq);
    private static readonly Comparison<GuestThread> ByListSeqTailFirst = (a, b) => a.ListSeq.CompareTo(b.ListSeq);
}

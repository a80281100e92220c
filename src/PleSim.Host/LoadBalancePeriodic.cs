using System.Numerics;
using PleSim.Engine;

namespace PleSim.Host;

public sealed partial class HostScheduler
{
    /// <summary>Statistics of one domain level gathered by <c>update_sd_lb_stats</c>.</summary>
    private struct SdLbStats
    {
        public SchedGroup? Busiest, This;
        public long TotalLoad, TotalPwr, AvgLoad;
        public long ThisLoad, ThisLoadPerTask, ThisNrRunning, ThisIdleCpus;
        public bool ThisHasCapacity;
        public long BusiestIdleCpus, MaxLoad, BusiestLoadPerTask, BusiestNrRunning, BusiestGroupCapacity, BusiestGroupWeight;
        public bool BusiestHasCapacity;
        public bool GroupImb;
    }

    private struct SgLbStats
    {
        public long AvgLoad, GroupLoad, SumNrRunning, SumWeightedLoad, GroupCapacity, IdleCpus, GroupWeight;
        public bool GroupImb, GroupHasCapacity;
    }

    private static int GetSdLoadIdx(SchedDomain sd, CpuIdleType idle) => idle switch
    {
        CpuIdleType.NotIdle => sd.BusyIdx,
        CpuIdleType.NewlyIdle => sd.NewidleIdx,
        _ => sd.IdleIdx,
    };

    private static long DivRoundClosest(long x, long d) => (x + (d / 2)) / d;

    /// <summary><c>update_sg_lb_stats</c>. Returns false when this CPU is not the one to balance at this level.</summary>
    private bool UpdateSgLbStats(SchedDomain sd, SchedGroup group, int thisCpu, CpuIdleType idle, int loadIdx, bool localGroup, in CpuMask cpus, ref SgLbStats sgs)
    {
        long maxCpuLoad = 0, minCpuLoad = long.MaxValue, maxNrRunning = 0;
        int balanceCpu = -1;
        bool firstIdle = false;
        if (localGroup)
            balanceCpu = group.FirstCpu;
        ref readonly var groupCpus = ref group.Cpus;
        for (int i = groupCpus.First; i >= 0; i = groupCpus.Next(i + 1))
        {
            if (!cpus.Contains(i))
                continue;
            var rq = Rqs[i];
            long load;
            if (localGroup)
            {
                if (IdleCpu(i) && !firstIdle)
                {
                    firstIdle = true;
                    balanceCpu = i;
                }
                load = TargetLoad(i, loadIdx);
            }
            else
            {
                load = SourceLoad(i, loadIdx);
                if (load > maxCpuLoad)
                {
                    maxCpuLoad = load;
                    maxNrRunning = rq.NrRunning;
                }
                if (minCpuLoad > load)
                    minCpuLoad = load;
            }
            sgs.GroupLoad += load;
            sgs.SumNrRunning += rq.NrRunning;
            sgs.SumWeightedLoad += WeightedCpuload(i);
            if (IdleCpu(i))
                sgs.IdleCpus++;
        }

        // Only the first idle CPU of the local group (or its first CPU if none is idle) balances
        // at this level, except in new-idle balancing.
        if (idle != CpuIdleType.NewlyIdle && localGroup && balanceCpu != thisCpu)
            return false;

        sgs.AvgLoad = sgs.GroupLoad * Weights.Nice0Load / group.CpuPower;
        long avgLoadPerTask = sgs.SumNrRunning != 0 ? sgs.SumWeightedLoad / sgs.SumNrRunning : 0;
        if (maxCpuLoad - minCpuLoad >= avgLoadPerTask && maxNrRunning > 1)
            sgs.GroupImb = true;
        sgs.GroupCapacity = DivRoundClosest(group.CpuPower, Weights.Nice0Load);
        if (sgs.GroupCapacity == 0)
            sgs.GroupCapacity = FixSmallCapacity(sd, group);
        sgs.GroupWeight = group.GroupWeight;
        if (sgs.GroupCapacity > sgs.SumNrRunning)
            sgs.GroupHasCapacity = true;
        return true;
    }

    private static long FixSmallCapacity(SchedDomain sd, SchedGroup group) =>
        sd.Has(SdFlags.ShareCpupower) && group.CpuPower * 32 > group.CpuPowerOrig * 29 ? 1 : 0;

    private static bool UpdateSdPickBusiest(ref SdLbStats sds, in SgLbStats sgs)
    {
        if (sgs.AvgLoad <= sds.MaxLoad)
            return false;
        if (sgs.SumNrRunning > sgs.GroupCapacity)
            return true;
        return sgs.GroupImb;
    }

    /// <summary><c>update_sd_lb_stats</c>. Returns false when this CPU should not balance at this level.</summary>
    private bool UpdateSdLbStats(SchedDomain sd, int thisCpu, CpuIdleType idle, in CpuMask cpus, ref SdLbStats sds)
    {
        bool preferSibling = sd.Child is { } child && child.Has(SdFlags.PreferSibling);
        int loadIdx = GetSdLoadIdx(sd, idle);
        foreach (var sg in sd.Groups)
        {
            bool local = sg.Contains(thisCpu);
            var sgs = default(SgLbStats);
            if (!UpdateSgLbStats(sd, sg, thisCpu, idle, loadIdx, local, cpus, ref sgs) && local)
                return false;
            sds.TotalLoad += sgs.GroupLoad;
            sds.TotalPwr += sg.CpuPower;
            if (preferSibling && !local && sds.ThisHasCapacity)
                sgs.GroupCapacity = Math.Min(sgs.GroupCapacity, 1);
            if (local)
            {
                sds.ThisLoad = sgs.AvgLoad;
                sds.This = sg;
                sds.ThisNrRunning = sgs.SumNrRunning;
                sds.ThisLoadPerTask = sgs.SumWeightedLoad;
                sds.ThisHasCapacity = sgs.GroupHasCapacity;
                sds.ThisIdleCpus = sgs.IdleCpus;
            }
            else if (UpdateSdPickBusiest(ref sds, sgs))
            {
                sds.MaxLoad = sgs.AvgLoad;
                sds.Busiest = sg;
                sds.BusiestNrRunning = sgs.SumNrRunning;
                sds.BusiestIdleCpus = sgs.IdleCpus;
                sds.BusiestGroupCapacity = sgs.GroupCapacity;
                sds.BusiestLoadPerTask = sgs.SumWeightedLoad;
                sds.BusiestHasCapacity = sgs.GroupHasCapacity;
                sds.BusiestGroupWeight = sgs.GroupWeight;
                sds.GroupImb = sgs.GroupImb;
            }
        }
        return true;
    }

    /// <summary><c>fix_small_imbalance</c>: move one task's worth of load when that gains throughput.</summary>
    private long FixSmallImbalance(ref SdLbStats sds, int thisCpu)
    {
        long imbn = 2;
        if (sds.ThisNrRunning != 0)
        {
            sds.ThisLoadPerTask /= sds.ThisNrRunning;
            if (sds.BusiestLoadPerTask > sds.ThisLoadPerTask)
                imbn = 1;
        }
        else
        {
            sds.ThisLoadPerTask = CpuAvgLoadPerTask(thisCpu);
        }
        long busiestPower = sds.Busiest!.CpuPower;
        long thisPower = sds.This!.CpuPower;
        long scaledBusyLoadPerTask = sds.BusiestLoadPerTask * Weights.Nice0Load / busiestPower;
        if (sds.MaxLoad - sds.ThisLoad + scaledBusyLoadPerTask >= scaledBusyLoadPerTask * imbn)
            return sds.BusiestLoadPerTask;

        long pwrNow = 0, pwrMove = 0;
        pwrNow += busiestPower * Math.Min(sds.BusiestLoadPerTask, sds.MaxLoad);
        pwrNow += thisPower * Math.Min(sds.ThisLoadPerTask, sds.ThisLoad);
        pwrNow /= Weights.Nice0Load;

        long tmp = sds.BusiestLoadPerTask * Weights.Nice0Load / busiestPower;
        if (sds.MaxLoad > tmp)
            pwrMove += busiestPower * Math.Min(sds.BusiestLoadPerTask, sds.MaxLoad - tmp);

        if (sds.MaxLoad * busiestPower < sds.BusiestLoadPerTask * Weights.Nice0Load)
            tmp = sds.MaxLoad * busiestPower / thisPower;
        else
            tmp = sds.BusiestLoadPerTask * Weights.Nice0Load / thisPower;
        pwrMove += thisPower * Math.Min(sds.ThisLoadPerTask, sds.ThisLoad + tmp);
        pwrMove /= Weights.Nice0Load;

        return pwrMove > pwrNow ? sds.BusiestLoadPerTask : 0;
    }

    /// <summary><c>calculate_imbalance</c>: how much weighted load to pull (kernel arithmetic, unsigned semantics kept where it matters).</summary>
    private long CalculateImbalance(ref SdLbStats sds, int thisCpu)
    {
        long loadAboveCapacity = long.MaxValue;
        sds.BusiestLoadPerTask /= sds.BusiestNrRunning;
        if (sds.GroupImb)
            sds.BusiestLoadPerTask = Math.Min(sds.BusiestLoadPerTask, sds.AvgLoad);
        if (sds.MaxLoad < sds.AvgLoad)
            return FixSmallImbalance(ref sds, thisCpu);
        if (!sds.GroupImb)
        {
            // Unsigned in the kernel: a busiest group under capacity yields a huge value, i.e. no cap.
            long above = sds.BusiestNrRunning - sds.BusiestGroupCapacity;
            loadAboveCapacity = above <= 0
                ? long.MaxValue
                : above * (Weights.Nice0Load * Weights.Nice0Load) / sds.Busiest!.CpuPower;
        }
        long maxPull = Math.Min(sds.MaxLoad - sds.AvgLoad, loadAboveCapacity);
        long imbalance = Math.Min(
            SatMul(maxPull, sds.Busiest!.CpuPower),
            (sds.AvgLoad - sds.ThisLoad) * sds.This!.CpuPower) / Weights.Nice0Load;
        if (imbalance < sds.BusiestLoadPerTask)
            return FixSmallImbalance(ref sds, thisCpu);
        return imbalance;
    }

    private static long SatMul(long a, long b) => a > long.MaxValue / Math.Max(b, 1) ? long.MaxValue : a * b;

    /// <summary><c>find_busiest_group</c>: the busiest group of the domain if pulling from it is worth it, and the imbalance.</summary>
    private SchedGroup? FindBusiestGroup(SchedDomain sd, int thisCpu, out long imbalance, CpuIdleType idle, in CpuMask cpus, out bool balance)
    {
        var sds = default(SdLbStats);
        imbalance = 0;
        balance = UpdateSdLbStats(sd, thisCpu, idle, cpus, ref sds);
        if (!balance)
            return null;
        if (sds.Busiest is null || sds.BusiestNrRunning == 0)
            return null;
        sds.AvgLoad = Weights.Nice0Load * sds.TotalLoad / sds.TotalPwr;
        bool force = sds.GroupImb
            || (idle == CpuIdleType.NewlyIdle && sds.ThisHasCapacity && !sds.BusiestHasCapacity);
        if (!force)
        {
            if (sds.ThisLoad >= sds.MaxLoad)
                return null;
            if (sds.ThisLoad >= sds.AvgLoad)
                return null;
            if (idle == CpuIdleType.Idle)
            {
                if (sds.ThisIdleCpus <= sds.BusiestIdleCpus + 1 && sds.BusiestNrRunning <= sds.BusiestGroupWeight)
                    return null;
            }
            else if (100 * sds.MaxLoad <= sd.ImbalancePct * sds.ThisLoad)
            {
                return null;
            }
        }
        if (NumaImbalanceAllowed(sd, sds))
            return null; // 6.x's allowed NUMA imbalance (LoadBalanceNuma.cs)
        imbalance = CalculateImbalance(ref sds, thisCpu);
        return sds.Busiest;
    }

    /// <summary><c>find_busiest_queue</c>: the CPU of the group with the most power-scaled load (a lone task heavier than the imbalance is left alone).</summary>
    private RunQueue? FindBusiestQueue(SchedDomain sd, SchedGroup group, long imbalance, in CpuMask cpus)
    {
        RunQueue? busiest = null;
        long maxLoad = 0;
        ref readonly var mask = ref group.Cpus;
        for (int i = mask.First; i >= 0; i = mask.Next(i + 1))
        {
            long power = _cpuPower[i];
            long capacity = DivRoundClosest(power, Weights.Nice0Load);
            if (capacity == 0)
                capacity = FixSmallCapacity(sd, group);
            if (!cpus.Contains(i))
                continue;
            var rq = Rqs[i];
            long wl = WeightedCpuload(i);
            if (capacity != 0 && rq.NrRunning == 1 && wl > imbalance)
                continue;
            wl = wl * Weights.Nice0Load / power;
            if (wl > maxLoad)
            {
                maxLoad = wl;
                busiest = rq;
            }
        }
        return busiest;
    }

    /// <summary><c>task_hot</c>: a buddy (when the balancing CPU is busy) or a task that ran within sched_migration_cost.</summary>
    private bool TaskHot(HostTask p, long now, int balancingCpu)
    {
        if (_features.CacheHotBuddy && Rqs[balancingCpu].NrRunning != 0
            && (p.Se == p.Se.CfsRq.Next || p.Se == p.Se.CfsRq.Last))
        {
            return true;
        }
        long cost = _tunables.MigrationCostNs.Ns;
        if (cost == 0)
            return false;
        return now - p.Se.ExecStart < cost;
    }

    /// <summary><c>can_migrate_task</c>.</summary>
    private bool CanMigrateTask(HostTask p, RunQueue rq, int thisCpu, SchedDomain sd, int balancingCpu, ref bool allPinned)
    {
        if (!p.AllowedOn(thisCpu))
            return false;
        allPinned = false;
        if (p.OnCpu)
            return false;
        bool hot = TaskHot(p, _sim.Now.Ns, balancingCpu);
        return !hot || sd.NrBalanceFailed > sd.CacheNiceTries;
    }

    /// <summary><c>pull_task</c>.</summary>
    private void PullTask(RunQueue src, HostTask p, RunQueue thisRq, int balancingCpu, MigrationCause cause)
    {
        DeactivateTask(src, p, DequeueFlags.None);
        SetTaskCpu(p, thisRq.Cpu, cause);
        ActivateTask(thisRq, p, EnqueueFlags.None);
        CheckPreemptCurr(thisRq, p, balancingCpu);
    }

    /// <summary><c>balance_tasks</c>: pull tasks of one queue (newest first) while load remains to move.</summary>
    private long BalanceTasks(RunQueue thisRq, RunQueue busiest, long maxLoadMove, SchedDomain sd, CpuIdleType idle, ref bool allPinned, CfsRq busiestCfsRq, int balancingCpu)
    {
        if (maxLoadMove == 0)
            return 0;
        int loops = 0;
        long remLoadMove = maxLoadMove;
        var cause = idle switch
        {
            CpuIdleType.NewlyIdle => MigrationCause.NewIdleBalance,
            CpuIdleType.Idle => MigrationCause.IdleBalance,
            _ => MigrationCause.PeriodicBalance,
        };
        var list = busiestCfsRq.Tasks;
        for (int i = 0; i < list.Count; i++)
        {
            var p = list[i];
            if (loops++ > _tunables.NrMigrate)
                break;
            if ((p.Se.Load.Weight >> 1) > remLoadMove || !CanMigrateTask(p, busiest, thisRq.Cpu, sd, balancingCpu, ref allPinned))
                continue;
            PullTask(busiest, p, thisRq, balancingCpu, cause);
            i--; // p left the list
            sd.LbGained++;
            remLoadMove -= p.Se.Load.Weight;
            if (remLoadMove <= 0)
                break;
        }
        return maxLoadMove - remLoadMove;
    }

    /// <summary><c>load_balance_fair</c>: per task group, scale the load to move by the group's h_load.</summary>
    private long LoadBalanceFair(RunQueue thisRq, RunQueue busiest, long maxLoadMove, SchedDomain sd, CpuIdleType idle, ref bool allPinned, int balancingCpu)
    {
        long remLoadMove = maxLoadMove;
        int busiestCpu = busiest.Cpu;
        UpdateHLoad(busiestCpu);
        for (int g = 0; g < _groups.Count; g++)
        {
            var tg = TaskGroupInListOrder(g);
            var busiestCfsRq = tg.CfsRq[busiestCpu];
            long busiestHLoad = busiestCfsRq.HLoad;
            long busiestWeight = busiestCfsRq.Load.Weight;
            if (busiestCfsRq.Tasks.Count == 0)
                continue; // task_weight == 0: no tasks queued directly in this group here
            long remLoad = remLoadMove * busiestWeight / (busiestHLoad + 1);
            long moved = BalanceTasks(thisRq, busiest, remLoad, sd, idle, ref allPinned, busiestCfsRq, balancingCpu);
            if (moved == 0)
                continue;
            moved = moved * busiestHLoad / (busiestWeight + 1);
            remLoadMove -= moved;
            if (remLoadMove < 0)
                break;
        }
        return maxLoadMove - remLoadMove;
    }

    /// <summary><c>move_tasks</c> (CONFIG_PREEMPT off, as in the distribution kernels of 2011: no early stop).</summary>
    private bool MoveTasks(RunQueue thisRq, RunQueue busiest, long maxLoadMove, SchedDomain sd, CpuIdleType idle, ref bool allPinned, int balancingCpu)
    {
        long total = 0, moved;
        do
        {
            moved = LoadBalanceFair(thisRq, busiest, maxLoadMove - total, sd, idle, ref allPinned, balancingCpu);
            total += moved;
        }
        while (moved != 0 && maxLoadMove > total);
        return total > 0;
    }

    private static bool NeedActiveBalance(SchedDomain sd, CpuIdleType idle)
    {
        if (idle == CpuIdleType.NewlyIdle)
            return false; // sched_mc_power_savings < POWERSAVINGS_BALANCE_WAKEUP
        return sd.NrBalanceFailed > sd.CacheNiceTries + 2;
    }

    /// <summary>
    /// <c>load_balance</c> of <paramref name="thisCpu"/> at domain <paramref name="sd"/>, executed on
    /// <paramref name="balancingCpu"/> (itself, or the NOHZ idle balancer). Returns whether tasks moved.
    /// </summary>
    private bool LoadBalance(int thisCpu, SchedDomain sd, CpuIdleType idle, out bool balance, int balancingCpu)
    {
        var thisRq = Rqs[thisCpu];
        var cpus = Topology.AllMask;
        bool allPinned = false, activeBalance = false, ldMoved = false;
        sd.LbCount++;
        while (true)
        {
            var group = FindBusiestGroup(sd, thisCpu, out long imbalance, idle, cpus, out balance);
            if (!balance || group is null)
                goto outBalanced;
            var busiest = FindBusiestQueue(sd, group, imbalance, cpus);
            if (busiest is null)
                goto outBalanced;
            if (busiest == thisRq)
                throw new InvalidOperationException("find_busiest_queue returned this CPU");
            ldMoved = false;
            if (busiest.NrRunning > 1)
            {
                allPinned = true;
                ldMoved = MoveTasks(thisRq, busiest, imbalance, sd, idle, ref allPinned, balancingCpu);
                if (ldMoved && thisCpu != balancingCpu)
                    ReschedCpu(thisCpu, balancingCpu);
                if (allPinned)
                {
                    cpus.Clear(busiest.Cpu);
                    if (!cpus.IsEmpty)
                        continue;
                    goto outBalanced;
                }
            }
            if (!ldMoved)
            {
                sd.LbFailed++;
                if (idle != CpuIdleType.NewlyIdle)
                    sd.NrBalanceFailed++;
                if (NeedActiveBalance(sd, idle))
                {
                    if (!busiest.Curr.AllowedOn(thisCpu) || busiest.Curr.IsIdle)
                    {
                        allPinned = true;
                        goto outOnePinned;
                    }
                    if (!busiest.ActiveBalance)
                    {
                        busiest.ActiveBalance = true;
                        busiest.PushCpu = thisCpu;
                        activeBalance = true;
                    }
                    if (activeBalance)
                        StopOneCpuNowait(busiest.Cpu, balancingCpu);
                    sd.NrBalanceFailed = sd.CacheNiceTries + 1;
                }
            }
            else
            {
                sd.NrBalanceFailed = 0;
            }
            if (!activeBalance)
                sd.BalanceInterval = sd.MinInterval;
            else if (sd.BalanceInterval < sd.MaxInterval)
                sd.BalanceInterval *= 2;
            return ldMoved;
        }

    outBalanced:
        sd.LbBalanced++;
        sd.NrBalanceFailed = 0;
    outOnePinned:
        if ((allPinned && sd.BalanceInterval < MaxPinnedInterval) || sd.BalanceInterval < sd.MaxInterval)
            sd.BalanceInterval *= 2;
        return false;
    }

    // ---------------------------------------------------------------- active balancing

    /// <summary><c>stop_one_cpu_nowait(active_load_balance_cpu_stop)</c>: the busiest CPU's stopper runs after an IPI.</summary>
    private void StopOneCpuNowait(int cpu, int fromCpu)
    {
        var when = _sim.Now + (cpu == fromCpu ? SimDuration.Zero : _tunables.ReschedIpiLatency);
        var t = _activeBalanceTimers[cpu];
        if (!t.IsArmed)
            t.Start(when);
    }

    private sealed class ActiveBalanceHandler(HostScheduler s) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg) => s.ActiveLoadBalanceCpuStop((int)arg);
    }

    /// <summary>
    /// <c>active_load_balance_cpu_stop</c>: the stopper preempts the running task, pushes one
    /// movable task (the preempted one is now movable) to the requesting CPU, and the CPU reschedules.
    /// </summary>
    private void ActiveLoadBalanceCpuStop(int busiestCpu)
    {
        var busiestRq = Rqs[busiestCpu];
        if (!busiestRq.ActiveBalance)
            return;
        busiestRq.ActiveBalance = false;
        int targetCpu = busiestRq.PushCpu;
        var targetRq = Rqs[targetCpu];
        if (busiestRq.NrRunning <= 1)
            return;
        // The stopper thread (a higher class) takes the CPU: the current task is put back.
        PreemptForStopper(busiestRq);
        SchedDomain? sd = null;
        foreach (var d in targetRq.Domains)
        {
            if (d.Has(SdFlags.LoadBalance) && d.SpanContains(busiestCpu))
            {
                sd = d;
                break;
            }
        }
        if (sd is not null && MoveOneTask(targetRq, busiestRq, sd, busiestCpu))
            sd.AlbPushed++;
        // The stopper finishes; the CPU picks its next task.
        Schedule(busiestCpu, voluntary: false);
    }

    /// <summary>Takes the current task off the CPU as the stop class would (it stays runnable).</summary>
    private void PreemptForStopper(RunQueue rq)
    {
        var prev = rq.Curr;
        if (prev.IsIdle)
            return;
        bool started = !rq.SwitchInProgress;
        if (rq.SwitchInProgress)
        {
            _switchTimers[rq.Cpu].Cancel();
            rq.SwitchInProgress = false;
        }
        AccountCpu(rq);
        PutPrevTask(rq, prev);
        prev.NrInvoluntarySwitches++;
        prev.OnCpu = false;
        rq.Curr = rq.Idle;
        rq.Idle.OnCpu = true;
        rq.NrSwitches++;
        if (started)
            prev.Body.OnStop(prev, rq.Cpu, StopReason.Preempted);
        Observer?.Switch(rq.Cpu, prev, rq.Idle, StopReason.Preempted);
    }

    /// <summary><c>move_one_task</c>: the first movable task of the busiest CPU's leaf queues.</summary>
    private bool MoveOneTask(RunQueue thisRq, RunQueue busiest, SchedDomain sd, int balancingCpu)
    {
        bool pinned = false;
        var leaves = busiest.LeafCfsRqs;
        for (int l = 0; l < leaves.Count; l++)
        {
            var tasks = leaves[l].Tasks;
            for (int i = 0; i < tasks.Count; i++)
            {
                var p = tasks[i];
                if (!CanMigrateTask(p, busiest, thisRq.Cpu, sd, balancingCpu, ref pinned))
                    continue;
                PullTask(busiest, p, thisRq, balancingCpu, MigrationCause.ActiveBalance);
                if (thisRq.Cpu != balancingCpu)
                    ReschedCpu(thisRq.Cpu, balancingCpu);
                return true;
            }
        }
        return false;
    }

    // ---------------------------------------------------------------- new-idle balancing

    /// <summary>
    /// <c>idle_balance</c>: a CPU about to go idle pulls work, unless its average idle period is
    /// shorter than sched_migration_cost.
    /// </summary>
    private void IdleBalance(int thisCpu, RunQueue thisRq)
    {
        long nextBalance = Jiffies + _tunables.Hz;
        thisRq.IdleStamp = _sim.Now.Ns;
        if (thisRq.AvgIdle < _tunables.MigrationCostNs.Ns)
            return;
        UpdateShares(thisCpu);
        bool pulled = false;
        foreach (var sd in thisRq.Domains)
        {
            if (!sd.Has(SdFlags.LoadBalance))
                continue;
            if (sd.Has(SdFlags.BalanceNewidle))
                pulled = LoadBalance(thisCpu, sd, CpuIdleType.NewlyIdle, out _, thisCpu);
            long interval = MsecsToJiffies(sd.BalanceInterval);
            if (nextBalance - (sd.LastBalance + interval) > 0)
                nextBalance = sd.LastBalance + interval;
            if (pulled)
            {
                thisRq.IdleStamp = 0;
                break;
            }
        }
        if (pulled || Jiffies - thisRq.NextBalance > 0)
            thisRq.NextBalance = nextBalance;
    }

    private long MsecsToJiffies(long ms) => (ms * _tunables.Hz + 999) / 1000;

    // ---------------------------------------------------------------- periodic balancing

    /// <summary><c>rebalance_domains</c>: balance each domain whose interval (× busy_factor when busy) has passed.</summary>
    private void RebalanceDomains(int cpu, CpuIdleType idle, int balancingCpu)
    {
        var rq = Rqs[cpu];
        long nextBalance = Jiffies + (60L * _tunables.Hz);
        bool updateNextBalance = false;
        UpdateShares(cpu);
        foreach (var sd in rq.Domains)
        {
            if (!sd.Has(SdFlags.LoadBalance))
                continue;
            long interval = sd.BalanceInterval;
            if (idle != CpuIdleType.Idle)
                interval *= sd.BusyFactor;
            interval = MsecsToJiffies(interval);
            interval = Math.Clamp(interval, 1, _maxLoadBalanceInterval);
            bool balance = true;
            // SD_SERIALIZE: one CPU at a time balances the NUMA levels (the "balancing" trylock; LoadBalanceNuma.cs).
            bool serialize = sd.Has(SdFlags.Serialize);
            if ((!serialize || TryLockBalancing(balancingCpu, sd)) && Jiffies - (sd.LastBalance + interval) >= 0)
            {
                if (serialize)
                    HoldBalancing(balancingCpu);
                if (LoadBalance(cpu, sd, idle, out balance, balancingCpu))
                    idle = CpuIdleType.NotIdle;
                sd.LastBalance = Jiffies;
            }
            if (nextBalance - (sd.LastBalance + interval) > 0)
            {
                nextBalance = sd.LastBalance + interval;
                updateNextBalance = true;
            }
            if (!balance)
                break;
        }
        if (updateNextBalance)
            rq.NextBalance = nextBalance;
    }

    /// <summary><c>run_rebalance_domains</c> (SCHED_SOFTIRQ).</summary>
    private void RunRebalanceDomains(int thisCpu)
    {
        var rq = Rqs[thisCpu];
        var idle = rq.IdleAtTick ? CpuIdleType.Idle : CpuIdleType.NotIdle;
        RebalanceDomains(thisCpu, idle, thisCpu);
        NohzIdleBalance(thisCpu, idle);
    }

    /// <summary><c>trigger_load_balance</c>: from the tick, raise the balancing softirq when due, or kick the NOHZ idle balancer.</summary>
    private void TriggerLoadBalance(RunQueue rq, int cpu)
    {
        if (Jiffies - rq.NextBalance >= 0)
            RunRebalanceDomains(cpu);
        else if (_tunables.NoHz && NohzKickNeeded(rq, cpu))
            NohzBalancerKick(cpu);
    }

    // ---------------------------------------------------------------- NOHZ idle balancing

    /// <summary><c>nohz_kick_needed</c>: the first busy CPU kicks when it has more than one task, the second when it has any.</summary>
    private bool NohzKickNeeded(RunQueue rq, int cpu)
    {
        int none = NrCpus;
        if (Jiffies - _nohzNextBalance < 0)
            return false;
        if (rq.IdleAtTick)
            return false;
        if (_nohzFirstPick < none && _nohzFirstPick != cpu && _nohzSecondPick < none && _nohzSecondPick != cpu)
            return false;
        int ret = _nohzFirstPick;
        if (ret == none)
            _nohzFirstPick = cpu;
        if (ret == none || ret == cpu)
        {
            if (_nohzSecondPick == cpu)
                _nohzSecondPick = none;
            return rq.NrRunning > 1;
        }
        ret = _nohzSecondPick;
        if (ret == none)
            _nohzSecondPick = cpu;
        if (ret == none || ret == cpu)
            return rq.NrRunning != 0;
        return false;
    }

    /// <summary><c>nohz_balancer_kick</c>: IPI the idle load balancer (or the first idle CPU) to balance for all tickless CPUs.</summary>
    private void NohzBalancerKick(int cpu)
    {
        _nohzNextBalance++;
        int ilb = _nohzLoadBalancer;
        if (ilb >= NrCpus)
        {
            if (_nohzIdleCpus.IsEmpty)
                return;
            ilb = _nohzIdleCpus.First;
        }
        if (!_nohzBalanceKick[ilb])
        {
            _nohzBalanceKick[ilb] = true;
            _kickTimers[ilb].Start(_sim.Now + _tunables.ReschedIpiLatency);
        }
    }

    private sealed class NohzKickHandler(HostScheduler s) : IEventHandler
    {
        // The IPI raises SCHED_SOFTIRQ on the idle balancer.
        public void OnEvent(Simulator sim, long arg) => s.RunRebalanceDomains((int)arg);
    }

    /// <summary><c>nohz_idle_balance</c>: the kicked idle CPU balances on behalf of every tickless idle CPU.</summary>
    private void NohzIdleBalance(int thisCpu, CpuIdleType idle)
    {
        var thisRq = Rqs[thisCpu];
        if (idle != CpuIdleType.Idle || !_nohzBalanceKick[thisCpu])
            return;
        var mask = _nohzIdleCpus; // walked as a snapshot (the model did so before decision 0038)
        for (int balanceCpu = mask.First; balanceCpu >= 0; balanceCpu = mask.Next(balanceCpu + 1))
        {
            if (balanceCpu == thisCpu)
                continue;
            if (thisRq.NeedResched)
            {
                _nohzBalanceKick[thisCpu] = false;
                break;
            }
            // 2.6.39 updates this CPU's load here (not balance_cpu's): kept as in the kernel.
            UpdateCpuLoad(thisRq);
            RebalanceDomains(balanceCpu, CpuIdleType.Idle, thisCpu);
            var rq = Rqs[balanceCpu];
            if (thisRq.NextBalance - rq.NextBalance > 0)
                thisRq.NextBalance = rq.NextBalance;
        }
        _nohzNextBalance = thisRq.NextBalance;
        _nohzBalanceKick[thisCpu] = false;
    }

    /// <summary><c>select_nohz_load_balancer</c>: a CPU stopping its tick joins the idle mask (and becomes the balancer if there is none); restarting leaves it.</summary>
    private void SelectNohzLoadBalancer(int cpu, bool stopTick)
    {
        int none = NrCpus;
        if (stopTick)
        {
            _nohzIdleCpus.Set(cpu);
            if (_nohzFirstPick == cpu)
                _nohzFirstPick = none;
            if (_nohzSecondPick == cpu)
                _nohzSecondPick = none;
            if (_nohzLoadBalancer >= none)
                _nohzLoadBalancer = cpu; // find_new_ilb only helps with power-savings balancing (off)
        }
        else
        {
            if (!_nohzIdleCpus.Contains(cpu))
                return;
            _nohzIdleCpus.Clear(cpu);
            if (_nohzLoadBalancer == cpu)
                _nohzLoadBalancer = none;
        }
    }

    /// <summary>The tick may stop when no host-visible timer is due on this CPU within the next jiffy (<c>get_next_timer_interrupt</c>).</summary>
    private bool CanStopTick(RunQueue rq)
    {
        if (rq.NeedResched)
            return false;
        var until = _sim.Now + _tunables.TickPeriod;
        foreach (var src in _timerSources)
        {
            if (src.HasTimerDue(rq.Cpu, until))
                return false;
        }
        return true;
    }

    /// <summary>The CPU switched to its idle task: stop the tick if NOHZ allows it.</summary>
    private void EnterIdle(RunQueue rq)
    {
        if (_tunables.NoHz && !rq.TickStopped && CanStopTick(rq))
        {
            _tickTimers[rq.Cpu].Cancel();
            rq.TickStopped = true;
            SelectNohzLoadBalancer(rq.Cpu, stopTick: true);
        }
    }

    /// <summary>The CPU leaves idle: restart its tick (<c>tick_nohz_restart_sched_tick</c>).</summary>
    private void ExitIdle(RunQueue rq)
    {
        if (rq.TickStopped)
        {
            SelectNohzLoadBalancer(rq.Cpu, stopTick: false);
            RestartTick(rq);
        }
    }
}

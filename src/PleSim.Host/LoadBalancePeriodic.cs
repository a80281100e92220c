using System.Numerics;
using PleSim.Engine;

namespace PleSim.Host;

/// <summary>
/// Load balancing, the driver (Linux 2.6.39 kernel/sched_fair.c): <c>load_balance</c> at one domain
/// level (find the busiest group and queue, move tasks, fall back to active balancing), new-idle
/// balancing (<c>idle_balance</c>) and periodic balancing from the tick (<c>trigger_load_balance</c>,
/// <c>run_rebalance_domains</c>, <c>rebalance_domains</c>). The steps it calls live in
/// LoadBalance.Stats.cs, LoadBalance.FindBusiest.cs, LoadBalance.MoveTasks.cs, LoadBalance.Active.cs
/// and LoadBalance.Nohz.cs; domains and wake-up placement in LoadBalance.cs.
/// </summary>
public sealed partial class HostScheduler
{
    private static bool NeedActiveBalance(SchedDomain sd, CpuIdleType idle)
    {
        if (idle == CpuIdleType.NewlyIdle)
            return false; // sched_mc_power_savings < POWERSAVINGS_BALANCE_WAKEUP
        return sd.NrBalanceFailed > sd.CacheNiceTries + 2;
    }

    /// <summary>
    /// <c>load_balance</c>'s active-balance kick (2.6.39, 4.19, 6.6 alike): unless the busiest CPU's
    /// stopper is already pushing, mark it, point it at this CPU and queue the stopper. True when
    /// this pass started it.
    /// </summary>
    private bool KickActiveBalance(RunQueue busiest, int thisCpu, int balancingCpu)
    {
        if (busiest.ActiveBalance)
            return false;
        busiest.ActiveBalance = true;
        busiest.PushCpu = thisCpu;
        StopOneCpuNowait(busiest.Cpu, balancingCpu);
        return true;
    }

    /// <summary>
    /// <c>load_balance</c>'s interval after a pass that found an imbalance (2.6.39 and 4.19; 6.6
    /// always resets): back to min_interval, or doubled up to max_interval when it kicked active balancing.
    /// </summary>
    private static void UpdateBalanceIntervalAfterPass(SchedDomain sd, bool activeBalance)
    {
        if (!activeBalance)
            sd.BalanceInterval = sd.MinInterval;
        else if (sd.BalanceInterval < sd.MaxInterval)
            sd.BalanceInterval *= 2;
    }

    /// <summary>
    /// <c>load_balance</c>'s <c>out_one_pinned</c> back-off (all versions): double the interval up to
    /// max_interval, or up to MAX_PINNED_INTERVAL when every task was pinned.
    /// </summary>
    private static void BackOffBalanceInterval(SchedDomain sd, bool allPinned)
    {
        if ((allPinned && sd.BalanceInterval < MaxPinnedInterval) || sd.BalanceInterval < sd.MaxInterval)
            sd.BalanceInterval *= 2;
    }

    /// <summary>
    /// <c>load_balance</c> of <paramref name="thisCpu"/> at domain <paramref name="sd"/>, executed on
    /// <paramref name="balancingCpu"/> (itself, or the NOHZ idle balancer). Returns whether tasks moved.
    /// </summary>
    private bool LoadBalance(int thisCpu, SchedDomain sd, CpuIdleType idle, out bool balance, int balancingCpu)
    {
        if (_lb66)
            return LoadBalance66(thisCpu, sd, idle, out balance, balancingCpu);
        if (_lb419)
            return LoadBalance419(thisCpu, sd, idle, out balance, balancingCpu);
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
                    activeBalance = KickActiveBalance(busiest, thisCpu, balancingCpu);
                    sd.NrBalanceFailed = sd.CacheNiceTries + 1;
                }
            }
            else
            {
                sd.NrBalanceFailed = 0;
            }
            UpdateBalanceIntervalAfterPass(sd, activeBalance);
            return ldMoved;
        }

    outBalanced:
        sd.LbBalanced++;
        sd.NrBalanceFailed = 0;
    outOnePinned:
        BackOffBalanceInterval(sd, allPinned);
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
        if (_lb66)
        {
            // newidle_balance (6.6): skipped while no CPU has a second task (rd->overload); the
            // avg_idle < max_newidle_lb_cost test never holds here, as PleSim charges balancing no
            // CPU time (max_newidle_lb_cost stays 0; decision 0056).
            if (!RootDomainOverloaded())
                return;
        }
        else if (thisRq.AvgIdle < _tunables.MigrationCostNs.Ns)
        {
            return;
        }
        else if (_lb419 && !RootDomainOverloaded())
        {
            // idle_balance (4.19): also skipped while no CPU has a second task (rd->overload).
            return;
        }
        if (_pelt)
            UpdateBlockedAverages(thisCpu); // newidle_balance (6.6)
        else
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
        if (_pelt)
            UpdateBlockedAverages(cpu); // run_rebalance_domains / _nohz_idle_balance (6.6)
        else
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
}

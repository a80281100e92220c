namespace PleSim.Host;

/// <summary>
/// The NUMA-level rules of the balancer (decision 0039): SD_SERIALIZE's global
/// <c>balancing</c> lock, and 6.x's allowed NUMA imbalance (<c>adjust_numa_imbalance</c>).
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary>NUMA_IMBALANCE_MIN (kernel/sched/fair.c, 6.x): a pair of communicating tasks.</summary>
    private const int NumaImbalanceMin = 2;

    // The "balancing" spinlock of rebalance_domains: who holds it, and until when (the pass at
    // the serialised level is instantaneous in the model; its duration for the lock is
    // SchedTunables.SerializedBalanceHold).
    private int _balancingHolder = -1;
    private long _balancingUntilNs;

    /// <summary>Times a CPU found <c>balancing</c> taken and skipped a serialised level.</summary>
    public long SerializeSkips { get; private set; }

    /// <summary>
    /// <c>spin_trylock(&amp;balancing)</c> for a serialised level, on <paramref name="balancingCpu"/>
    /// (the CPU executing rebalance_domains: itself, or the NOHZ idle balancer, whose passes for
    /// several CPUs run one after the other and so never contend with each other). False: the lock
    /// is held by a pass still under way on another CPU, and the level is skipped (the kernel's
    /// <c>goto out</c>, which leaves last_balance alone so the level is due again at the next tick).
    /// </summary>
    private bool TryLockBalancing(int balancingCpu, SchedDomain sd)
    {
        if (_balancingHolder >= 0 && _balancingHolder != balancingCpu && _sim.Now.Ns < _balancingUntilNs)
        {
            sd.SerializeSkipped++;
            SerializeSkips++;
            return false;
        }
        return true;
    }

    /// <summary>A load_balance pass at a serialised level starts now on <paramref name="balancingCpu"/>: it holds the lock for its duration.</summary>
    private void HoldBalancing(int balancingCpu)
    {
        _balancingHolder = balancingCpu;
        _balancingUntilNs = _sim.Now.Ns + _tunables.SerializedBalanceHold.Ns;
    }

    /// <summary>
    /// 6.x's allowed NUMA imbalance at an SD_NUMA level (<c>calculate_imbalance</c> →
    /// <c>adjust_numa_imbalance(imbalance, local-&gt;sum_nr_running + 1, sd-&gt;imb_numa_nr)</c>):
    /// when the local group has spare CPUs and the busiest group is not overloaded, the imbalance
    /// in tasks (busiest − local running) is forgiven if it is at most NUMA_IMBALANCE_MIN and the
    /// destination would still run no more than imb_numa_nr tasks. True: do not pull. Only 6.x
    /// domains carry SD_NUMA; PleSim grafts this one rule onto the 2.6.39 balancer the EEVDF
    /// hosts use (decisions 0024, 0039), counting runnable tasks where 6.x also classifies groups
    /// by utilisation.
    /// </summary>
    private static bool NumaImbalanceAllowed(SchedDomain sd, in SdLbStats sds)
    {
        if (!sd.Has(SdFlags.Numa))
            return false;
        bool localHasSpare = sds.ThisNrRunning < sds.This!.GroupWeight;
        bool busiestOverloaded = sds.BusiestNrRunning > sds.BusiestGroupWeight;
        if (!localHasSpare || busiestOverloaded)
            return false;
        long imbalance = Math.Max(0, sds.BusiestNrRunning - sds.ThisNrRunning);
        bool allow = sds.ThisNrRunning + 1 <= sd.ImbNumaNr; // allow_numa_imbalance
        return allow && imbalance <= NumaImbalanceMin;
    }

    internal void RebalanceDomainsForTest(int cpu, CpuIdleType idle) => RebalanceDomains(cpu, idle, cpu);

    internal int SelectWakeCpuForTest(HostTask p, bool sync, int thisCpu) => SelectTaskRq(p, SdFlags.BalanceWake, sync, thisCpu);
}

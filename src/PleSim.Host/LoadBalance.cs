using System.Numerics;
using PleSim.Engine;

namespace PleSim.Host;

/// <summary>Something above the host that owns per-CPU timers (e.g. KVM's guest timers): it decides whether a CPU's tick may stop.</summary>
public interface IHostTimerSource
{
    /// <summary>True when a timer of this source is due on <paramref name="cpu"/> at or before <paramref name="until"/>.</summary>
    bool HasTimerDue(int cpu, SimTime until);
}

/// <summary>
/// Load balancing and wake-up placement, as Linux 2.6.39 does them (kernel/sched_fair.c and the
/// domain setup of kernel/sched.c): sched domains from the topology, decayed load indexes,
/// periodic / idle / new-idle / NOHZ-idle balancing, find_busiest_group/queue, move_tasks with
/// h_load, cache-hot checks, active balancing, and select_task_rq_fair with wake_affine and
/// select_idle_sibling.
/// </summary>
public sealed partial class HostScheduler
{
    private const int MaxPinnedInterval = 512;
    private readonly List<IHostTimerSource> _timerSources = [];
    private long _maxLoadBalanceInterval;

    // The NOHZ idle-balancer state (the kernel's static "nohz" struct).
    private int _nohzLoadBalancer;
    private int _nohzFirstPick;
    private int _nohzSecondPick;
    private CpuMask _nohzIdleCpus;
    private long _nohzNextBalance;
    private bool[] _nohzBalanceKick = [];
    private HrTimer[] _kickTimers = [];
    private HrTimer[] _activeBalanceTimers = [];

    /// <summary>CPU power of each CPU (<c>rq->cpu_power</c>): 1024, or the SMT share.</summary>
    private long[] _cpuPower = [];

    /// <summary>
    /// The i-th task group in the kernel's <c>task_groups</c> list order (newest first, the root
    /// last): <c>sched_create_group</c> adds at the head.
    /// </summary>
    private TaskGroup TaskGroupInListOrder(int i) => i == _groups.Count - 1 ? RootGroup : _groups[_groups.Count - 1 - i];

    public void AddTimerSource(IHostTimerSource source) => _timerSources.Add(source);

    // ---------------------------------------------------------------- domains

    /// <summary>
    /// Sets up the balancer's per-CPU state and the sched domains of the host's kernel
    /// (<see cref="SchedDomainBuilder"/>, decision 0039): on one node, SIBLING (with SMT) and MC
    /// for 2.6.39, SMT and MC for 6.x; with several NUMA nodes the node levels above them.
    /// </summary>
    private void BuildSchedDomains()
    {
        int n = NrCpus;
        var topo = Topology;
        _cpuPower = new long[n];
        _nohzBalanceKick = new bool[n];
        _nohzLoadBalancer = n;
        _nohzFirstPick = n;
        _nohzSecondPick = n;
        _maxLoadBalanceInterval = _tunables.Hz * (long)n / 10;
        var kick = new NohzKickHandler(this);
        var active = new ActiveBalanceHandler(this);
        _kickTimers = new HrTimer[n];
        _activeBalanceTimers = new HrTimer[n];
        for (int c = 0; c < n; c++)
        {
            _kickTimers[c] = new HrTimer(_sim, kick, c);
            _activeBalanceTimers[c] = new HrTimer(_sim, active, c);
        }
        long threadPower = SchedDomainBuilder.CpuPower(topo, _features.Class);
        for (int c = 0; c < n; c++)
            _cpuPower[c] = threadPower;
        var domains = SchedDomainBuilder.Build(topo, _features.Class, _cpuPower, _features.Domains419);
        for (int cpu = 0; cpu < n; cpu++)
            Rqs[cpu].Domains = domains[cpu];
    }

    public long CpuPower(int cpu) => _cpuPower[cpu];

    // ---------------------------------------------------------------- load helpers

    /// <summary><c>weighted_cpuload</c>: the CPU's queued weight (2.6.39), or its runnable_load_avg with the 4.19 balancer (decision 0053).</summary>
    public long WeightedCpuload(int cpu) => _lb419 ? WeightedCpuload419(cpu) : Rqs[cpu].Load.Weight;

    /// <summary><c>source_load</c>: a low guess (min of the decayed index and now) at a source CPU's load.</summary>
    public long SourceLoad(int cpu, int type)
    {
        long total = WeightedCpuload(cpu);
        if (type == 0 || !_features.LbBias)
            return total;
        return Math.Min(Rqs[cpu].CpuLoad[type - 1], total);
    }

    /// <summary><c>target_load</c>: a high guess (max of the decayed index and now) at a target CPU's load.</summary>
    public long TargetLoad(int cpu, int type)
    {
        long total = WeightedCpuload(cpu);
        if (type == 0 || !_features.LbBias)
            return total;
        return Math.Max(Rqs[cpu].CpuLoad[type - 1], total);
    }

    private long CpuAvgLoadPerTask(int cpu)
    {
        var rq = Rqs[cpu];
        return rq.NrRunning != 0 ? WeightedCpuload(cpu) / rq.NrRunning : 0;
    }

    /// <summary>
    /// <c>idle_cpu</c> (the host has no <c>vcpu_is_preempted</c>, so also <c>available_idle_cpu</c>).
    /// 2.6.39 (kernel/sched.c) asks only whether the CPU runs its idle task. 4.19 (kernel/sched/core.c)
    /// also wants no queued task (and an empty wake_list, which PleSim does not have: TTWU_QUEUE is
    /// not modelled), so a CPU that a wake-up has just been queued on, and that is still in its idle
    /// task until the reschedule reaches it, is busy (decision 0102). 6.6's and 6.18's idle_cpu (core.c,
    /// then syscalls.c) have the same test, with ttwu_pending for the wake_list: the EEVDF hosts too
    /// (decision 0103).
    /// </summary>
    private bool IdleCpu(int cpu)
    {
        var rq = Rqs[cpu];
        return rq.IsIdle && (!_idleCpuNrRunning || rq.NrRunning == 0);
    }

    /// <summary><c>update_h_load</c> / <c>tg_load_down</c>: each group's hierarchical load on <paramref name="cpu"/>, top-down.</summary>
    private void UpdateHLoad(int cpu)
    {
        Walk(RootGroup);

        void Walk(TaskGroup tg)
        {
            long load;
            if (tg.IsRoot)
            {
                load = Rqs[cpu].Load.Weight;
            }
            else
            {
                var parentQ = tg.Parent!.CfsRq[cpu];
                load = parentQ.HLoad * tg.Se[cpu].Load.Weight / (parentQ.Load.Weight + 1);
            }
            tg.CfsRq[cpu].HLoad = load;
            for (int i = tg.Children.Count - 1; i >= 0; i--)
                Walk(tg.Children[i]);
        }
    }

    /// <summary><c>update_shares</c>: refresh every leaf queue's group share on <paramref name="cpu"/> (update_cfs_load with a global update).</summary>
    private void UpdateShares(int cpu)
    {
        var list = Rqs[cpu].LeafCfsRqs;
        for (int i = 0; i < list.Count; i++)
        {
            var q = list[i];
            if (q.Tg.IsRoot)
                continue;
            UpdateCfsLoad(q, true);
            UpdateCfsShares(q);
            if (!q.OnList)
                i--; // update_cfs_load dropped it from the list
        }
    }

    // ---------------------------------------------------------------- wake-up placement

    /// <summary><c>select_task_rq</c>: the class's choice, or a fallback CPU if it is not allowed.</summary>
    private int SelectTaskRq(HostTask p, SdFlags sdFlag, bool sync, int thisCpu)
    {
        int cpu = SelectTaskRqFair(p, sdFlag, sync, thisCpu);
        if (!p.AllowedOn(cpu))
            cpu = SelectFallbackRq(p);
        return cpu;
    }

    private int SelectFallbackRq(HostTask p)
    {
        // select_fallback_rq (2.6.39, kernel/sched.c): an allowed CPU on the node of the task's
        // CPU, lowest number first; else any allowed CPU.
        int node = (uint)p.Cpu < (uint)NrCpus ? Topology.NodeOf(p.Cpu) : 0;
        for (int c = 0; c < NrCpus; c++)
        {
            if (Topology.NodeOf(c) == node && p.AllowedOn(c))
                return c;
        }
        for (int c = 0; c < NrCpus; c++)
        {
            if (p.AllowedOn(c))
                return c;
        }
        throw new InvalidOperationException($"{p} has no allowed CPU");
    }

    /// <summary><c>select_task_rq_fair</c> for SD_BALANCE_WAKE (wake_affine + select_idle_sibling) and SD_BALANCE_FORK (find_idlest_group/cpu).</summary>
    private int SelectTaskRqFair(HostTask p, SdFlags sdFlag, bool sync, int thisCpu)
    {
        if (_wake66)
            return (sdFlag & SdFlags.BalanceWake) != 0 ? SelectTaskRqWake66(p, sync, thisCpu) : SelectTaskRqFork66(p, thisCpu);
        if (_sis419)
            return SelectTaskRqFair419(p, sdFlag, sync, thisCpu); // IdleSearch419.cs (decision 0064)
        SchedDomain? affineSd = null, sd = null;
        int cpu = thisCpu;
        int prevCpu = p.Cpu;
        int newCpu = cpu;
        bool wantAffine = false;
        bool wantSd = true;
        if ((sdFlag & SdFlags.BalanceWake) != 0)
        {
            if (p.AllowedOn(cpu) && _features.AffineWakeups)
                wantAffine = !_wake419 || RecordWakeeNotWide(p, thisCpu); // 4.19: !wake_wide (WakeSelect419.cs)
            newCpu = prevCpu;
        }
        foreach (var tmp in Rqs[cpu].Domains)
        {
            if (!tmp.Has(SdFlags.LoadBalance))
                continue;
            // SD_POWERSAVINGS_BALANCE / SD_PREFER_LOCAL are not set on these domains.
            if (wantAffine && tmp.Has(SdFlags.WakeAffine) && tmp.SpanContains(prevCpu))
            {
                affineSd = tmp;
                wantAffine = false;
            }
            if (!wantSd && !wantAffine)
                break;
            if ((tmp.Flags & sdFlag) == 0)
                continue;
            if (wantSd)
                sd = tmp;
        }

        if (affineSd is not null)
        {
            if (_wake419)
                return SelectIdleSibling(p, cpu == prevCpu ? cpu : WakeAffine419(affineSd, p, thisCpu, prevCpu, sync), thisCpu);
            if (cpu == prevCpu || WakeAffine(affineSd, p, sync, thisCpu))
                return SelectIdleSibling(p, cpu, thisCpu);
            return SelectIdleSibling(p, prevCpu, thisCpu);
        }

        while (sd is not null)
        {
            int loadIdx = sd.ForkexecIdx;
            if ((sd.Flags & sdFlag) == 0)
            {
                sd = sd.Child;
                continue;
            }
            if ((sdFlag & SdFlags.BalanceWake) != 0)
                loadIdx = sd.WakeIdx;
            var group = FindIdlestGroup(sd, p, cpu, loadIdx);
            if (group is null)
            {
                sd = sd.Child;
                continue;
            }
            newCpu = FindIdlestCpu(group, p, cpu);
            if (newCpu == -1 || newCpu == cpu)
            {
                sd = sd.Child;
                continue;
            }
            cpu = newCpu;
            sd = HighestDomainBelow(cpu, sd.SpanWeight, sdFlag);
        }
        return newCpu;
    }

    /// <summary>
    /// The slow path's step down (<c>select_task_rq_fair</c>'s find-idlest loop, 2.6.39 and 6.6 alike):
    /// on <paramref name="cpu"/>, the largest domain narrower than <paramref name="weight"/> CPUs that
    /// has <paramref name="flag"/>, or null.
    /// </summary>
    private SchedDomain? HighestDomainBelow(int cpu, int weight, SdFlags flag)
    {
        SchedDomain? sd = null;
        foreach (var tmp in Rqs[cpu].Domains)
        {
            if (weight <= tmp.SpanWeight)
                break;
            if ((tmp.Flags & flag) != 0)
                sd = tmp;
        }
        return sd;
    }

    /// <summary><c>effective_load</c>: how adding <paramref name="wl"/> to a group on <paramref name="cpu"/> changes the load seen at the root.</summary>
    private long EffectiveLoad(TaskGroup tg, int cpu, long wl, long wg)
    {
        if (tg.IsRoot)
            return wl;
        for (SchedEntity? se = tg.Se[cpu]; se is not null; se = se.Parent)
        {
            var myQ = se.MyQ!;
            var g = myQ.Tg;
            long w = myQ.Load.Weight;
            long lw = g.LoadWeight - myQ.LoadContribution + w + wg;
            wl += w;
            if (lw > 0 && wl < lw)
                wl = wl * g.Shares / lw;
            else
                wl = g.Shares;
            if (wl < Weights.MinShares)
                wl = Weights.MinShares;
            wl -= se.Load.Weight;
            wg = 0;
        }
        return wl;
    }

    /// <summary>
    /// <c>wake_affine</c>: pull the wakee to the waking CPU when that keeps the two CPUs within half
    /// the domain's imbalance_pct of each other (or the sync waker is about to sleep), or when the
    /// waking CPU is lightly loaded.
    /// </summary>
    private bool WakeAffine(SchedDomain sd, HostTask p, bool sync, int thisCpu)
    {
        int idx = sd.WakeIdx;
        int prevCpu = p.Cpu;
        long load = SourceLoad(prevCpu, idx);
        long thisLoad = TargetLoad(thisCpu, idx);
        if (sync)
        {
            // Also when the waking CPU runs its idle task (2.6.39 wake_affine has no such test): the
            // idle task is in the root group, where effective_load returns its wl unchanged, and it
            // weighs nice 0 (sched_init's set_load_weight(&init_task), inherited by the forked idle
            // threads; PleSim's swapper tasks are nice 0 in RootGroup). So this_load drops by
            // Weights.Nice0Load, possibly below zero (s64 in the kernel), and load is unchanged.
            var current = Rqs[thisCpu].Curr;
            long weight0 = current.Se.Load.Weight;
            thisLoad += EffectiveLoad(current.Group, thisCpu, -weight0, -weight0);
            load += EffectiveLoad(current.Group, prevCpu, 0, -weight0);
        }
        var tg = p.Group;
        long weight = p.Se.Load.Weight;
        bool balanced;
        if (thisLoad > 0)
        {
            long thisEffLoad = 100 * _cpuPower[prevCpu] * (thisLoad + EffectiveLoad(tg, thisCpu, weight, weight));
            long prevEffLoad = (100 + ((sd.ImbalancePct - 100) / 2)) * _cpuPower[thisCpu] * (load + EffectiveLoad(tg, prevCpu, 0, weight));
            balanced = thisEffLoad <= prevEffLoad;
        }
        else
        {
            balanced = true;
        }
        if (sync && balanced)
            return true;
        long tlPerTask = CpuAvgLoadPerTask(thisCpu);
        return balanced || (thisLoad <= load && thisLoad + TargetLoad(prevCpu, idx) <= tlPerTask);
    }

    /// <summary>
    /// <c>select_idle_sibling</c>: keep the target if it is this CPU or the previous CPU and idle;
    /// otherwise the first idle allowed CPU in the cache-sharing domains of the target, stopping at
    /// the domain that spans both this CPU and the previous one.
    /// </summary>
    private int SelectIdleSibling(HostTask p, int target, int thisCpu)
    {
        int cpu = thisCpu;
        int prevCpu = p.Cpu;
        if (target == cpu && IdleCpu(cpu))
            return cpu;
        if (target == prevCpu && IdleCpu(prevCpu))
            return prevCpu;
        foreach (var sd in Rqs[target].Domains)
        {
            if (!sd.Has(SdFlags.SharePkgResources))
                break;
            ref readonly var span = ref sd.SpanRef;
            ref readonly var allowed = ref p.AffinityRef;
            for (int i = span.First; i >= 0; i = span.Next(i + 1))
            {
                if (!allowed.Contains(i))
                    continue;
                if (IdleCpu(i))
                {
                    target = i;
                    break;
                }
            }
            if (sd.SpanContains(cpu) && sd.SpanContains(prevCpu))
                break;
        }
        return target;
    }

    /// <summary><c>find_idlest_group</c> (fork/exec balancing).</summary>
    private SchedGroup? FindIdlestGroup(SchedDomain sd, HostTask p, int thisCpu, int loadIdx)
    {
        SchedGroup? idlest = null;
        long minLoad = long.MaxValue, thisLoad = 0;
        int imbalance = 100 + ((sd.ImbalancePct - 100) / 2);
        foreach (var group in sd.Groups)
        {
            if (!group.Cpus.Intersects(p.AffinityRef))
                continue;
            bool local = group.Contains(thisCpu);
            long avgLoad = 0;
            ref readonly var cpus = ref group.Cpus;
            for (int i = cpus.First; i >= 0; i = cpus.Next(i + 1))
            {
                avgLoad += local ? SourceLoad(i, loadIdx) : TargetLoad(i, loadIdx);
            }
            avgLoad = avgLoad * Weights.Nice0Load / group.CpuPower;
            if (local)
            {
                thisLoad = avgLoad;
            }
            else if (avgLoad < minLoad)
            {
                minLoad = avgLoad;
                idlest = group;
            }
        }
        if (idlest is null || 100 * thisLoad < imbalance * minLoad)
            return null;
        return idlest;
    }

    /// <summary><c>find_idlest_cpu</c>.</summary>
    private int FindIdlestCpu(SchedGroup group, HostTask p, int thisCpu)
    {
        long minLoad = long.MaxValue;
        int idlest = -1;
        ref readonly var cpus = ref group.Cpus;
        ref readonly var allowed = ref p.AffinityRef;
        for (int i = cpus.First; i >= 0; i = cpus.Next(i + 1))
        {
            if (!allowed.Contains(i))
                continue;
            long load = WeightedCpuload(i);
            if (load < minLoad || (load == minLoad && i == thisCpu))
            {
                minLoad = load;
                idlest = i;
            }
        }
        return idlest;
    }
}

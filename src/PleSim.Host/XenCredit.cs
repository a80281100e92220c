namespace PleSim.Host;

/// <summary>
/// The decision logic of Xen's credit scheduler ("credit1") as xen/common/sched_credit.c has it in
/// Xen 3.4/4.0-unstable at commit b67758cda13b (2009-07-07, the Pause-Loop-Exiting commit;
/// decision 0063): per-CPU run queues ordered by priority (BOOST &gt; UNDER &gt; OVER; the idle vcpu
/// below), a 10 ms tick that debits 100 credits from whichever vcpu it finds running
/// (<c>csched_vcpu_acct</c>), a 30 ms accounting pass that hands out credits by domain weight and
/// recomputes priorities (<c>csched_acct</c>), BOOST for an UNDER vcpu that wakes
/// (<c>csched_vcpu_wake</c>), the tickle of the wake-up CPU and of idlers (<c>__runq_tickle</c>),
/// and work stealing when a CPU would run OVER work or go idle (<c>csched_load_balance</c>,
/// <c>csched_runq_steal</c>). Names are Xen's in C# casing. The host side (timers, context
/// switches, resched IPIs) is HostScheduler.XenCredit.cs.
/// </summary>
/// <remarks>
/// A vcpu is a <see cref="HostTask"/>; its domain is its task group (a VM), or the task itself
/// when it is in the root group. The running vcpu is not on a run queue (as in Xen); the idle
/// vcpu is implicit (priority <see cref="PriIdle"/>, below every queued vcpu). Allocation-free
/// after set-up: run queues and active lists are preallocated arrays and lists.
/// </remarks>
public sealed class XenCredit
{
    /// <summary>CSCHED_DEFAULT_WEIGHT.</summary>
    public const int DefaultWeight = 256;

    /// <summary>CSCHED_TICKS_PER_TSLICE, CSCHED_TICKS_PER_ACCT, CSCHED_MSECS_PER_TICK.</summary>
    public const int TicksPerTslice = 3, TicksPerAcct = 3, MsecsPerTick = 10;

    /// <summary>CSCHED_MSECS_PER_TSLICE (30 ms).</summary>
    public const int MsecsPerTslice = MsecsPerTick * TicksPerTslice;

    /// <summary>CSCHED_CREDITS_PER_TICK, CSCHED_CREDITS_PER_TSLICE, CSCHED_CREDITS_PER_ACCT.</summary>
    public const int CreditsPerTick = 100, CreditsPerTslice = CreditsPerTick * TicksPerTslice, CreditsPerAcct = CreditsPerTick * TicksPerAcct;

    /// <summary>CSCHED_PRI_TS_BOOST, _UNDER, _OVER, CSCHED_PRI_IDLE.</summary>
    public const int PriTsBoost = 0, PriTsUnder = -1, PriTsOver = -2, PriIdle = -64;

    private readonly HostTopology _topo;
    private readonly int _ncpus;
    private readonly CpuMask[] _siblingMap;
    private readonly CpuMask[] _coreMap;

    // per vcpu, indexed by HostTask.Id
    private HostTask?[] _vcpu = new HostTask?[8];
    private int[] _credit = new int[8];
    private int[] _pri = new int[8];
    private int[] _dom = new int[8];
    private bool[] _activeElem = new bool[8];
    private int[] _runqCpu = new int[8];

    // per domain (csched_dom)
    private readonly List<int> _domWeight = [];
    private readonly List<List<int>> _domActiveVcpu = [];
    private readonly List<bool> _domActiveSdomElem = [];
    private readonly Dictionary<object, int> _domOfKey = [];
    private readonly List<int> _domLastVcpu = [];
    private int[] _placed = new int[8];

    // csched_priv
    private readonly List<int> _activeSdom = [];
    private long _weight;
    private readonly long _creditPriv;
    private int _creditBalance;
    private int _runqSort;
    private CpuMask _idlers;

    // per pCPU (csched_pcpu)
    private readonly int[][] _runq;
    private readonly int[] _runqLen;
    private readonly int[] _runqSortLast;
    private readonly HostTask?[] _curr;

    private int[] _scratchDoms = new int[8];
    private int[] _scratchVcpus = new int[8];

    public XenCredit(HostTopology topology)
    {
        _topo = topology;
        _ncpus = topology.NrCpus;
        _siblingMap = new CpuMask[_ncpus];
        _coreMap = new CpuMask[_ncpus];
        _runq = new int[_ncpus][];
        _runqLen = new int[_ncpus];
        _runqSortLast = new int[_ncpus];
        _curr = new HostTask?[_ncpus];
        for (int c = 0; c < _ncpus; c++)
        {
            _siblingMap[c] = topology.SiblingMask(c);
            _coreMap[c] = topology.NodeMask(topology.NodeOf(c)); // cpu_core_map: the package (a PleSim node is a socket)
            _runq[c] = new int[8];
            _idlers.Set(c); // csched_pcpu_init: "Start off idling..."
        }
        _creditPriv = (long)CreditsPerAcct * _ncpus; // csched_pcpu_init adds CREDITS_PER_ACCT per pCPU
    }

    public int NrCpus => _ncpus;

    // ---------------------------------------------------------------- set-up

    /// <summary>
    /// <c>csched_vcpu_init</c> (+ <c>csched_dom_init</c> for a new domain): credit 0, UNDER, not
    /// active; and the processor XEN_DOMCTL_max_vcpus gives it (<see cref="Placed"/>). The domain is
    /// <paramref name="domain"/> (the VM), else the task's group when not the root, else the task alone.
    /// </summary>
    public void VcpuInit(HostTask v, object? domain = null)
    {
        int id = v.Id;
        if (id >= _vcpu.Length)
        {
            int n = Math.Max(id + 1, _vcpu.Length * 2);
            Array.Resize(ref _vcpu, n);
            Array.Resize(ref _credit, n);
            Array.Resize(ref _pri, n);
            Array.Resize(ref _dom, n);
            Array.Resize(ref _activeElem, n);
            Array.Resize(ref _runqCpu, n);
            Array.Resize(ref _placed, n);
            Array.Resize(ref _scratchVcpus, n);
        }
        object? key = domain ?? (v.Group.IsRoot ? null : v.Group);
        int dom;
        int placed;
        if (key is not null && _domOfKey.TryGetValue(key, out int d))
        {
            dom = d;
            // XEN_DOMCTL_max_vcpus: vcpu i > 0 goes to the CPU after vcpu i-1's.
            var all = _topo.AllMask;
            placed = CycleCpu(ProcessorOf(_domLastVcpu[dom]), all);
        }
        else
        {
            dom = _domWeight.Count;
            _domWeight.Add(DefaultWeight);
            _domActiveVcpu.Add(new List<int>(8));
            _domActiveSdomElem.Add(false);
            _domLastVcpu.Add(-1);
            if (key is not null)
                _domOfKey[key] = dom;
            placed = DefaultVcpu0Location();
            if (_scratchDoms.Length < _domWeight.Count)
                Array.Resize(ref _scratchDoms, _domWeight.Count * 2);
            _activeSdom.Capacity = Math.Max(_activeSdom.Capacity, _domWeight.Count);
        }
        _domLastVcpu[dom] = id;
        _placed[id] = placed;
        _vcpu[id] = v;
        _credit[id] = 0;
        _pri[id] = PriTsUnder;
        _dom[id] = dom;
        _activeElem[id] = false;
        _runqCpu[id] = -1;
        _domActiveVcpu[dom].Capacity = Math.Max(_domActiveVcpu[dom].Capacity, _vcpu.Length);
        for (int c = 0; c < _ncpus; c++)
        {
            if (_runq[c].Length < _vcpu.Length)
                Array.Resize(ref _runq[c], _vcpu.Length);
        }
    }

    /// <summary>The processor XEN_DOMCTL_max_vcpus gave the vcpu at creation (xen/common/domctl.c).</summary>
    public int Placed(HostTask v) => _placed[v.Id];

    private int ProcessorOf(int id) => _vcpu[id]!.Cpu >= 0 ? _vcpu[id]!.Cpu : _placed[id];

    /// <summary>
    /// <c>default_vcpu0_location</c> (xen/common/domctl.c): the least-populated CPU counting every
    /// existing vcpu on its processor, one thread per core (not the primary thread on HT, and not
    /// CPU 0's core unless nothing else ties), higher-numbered CPUs winning ties.
    /// </summary>
    private int DefaultVcpu0Location()
    {
        var cnt = new int[_ncpus]; // set-up only
        for (int i = 0; i < _vcpu.Length; i++)
        {
            if (_vcpu[i] is not null)
                cnt[ProcessorOf(i)]++;
        }
        var sib0 = _siblingMap[0];
        int cpu = sib0.First;
        if (sib0.Count > 1)
            cpu = sib0.Next(cpu + 1);
        var exclude = sib0;
        for (int i = 0; i < _ncpus; i++)
        {
            if (exclude.Contains(i))
                continue;
            if (i == _siblingMap[i].First && _siblingMap[i].Count > 1)
                continue;
            exclude.Or(_siblingMap[i]);
            if (cnt[i] <= cnt[cpu])
                cpu = i;
        }
        return cpu;
    }

    /// <summary>A domain's weight (<c>csched_dom_cntl</c> putinfo; default 256).</summary>
    public void SetWeight(HostTask v, int weight)
    {
        if (weight <= 0)
            throw new ArgumentOutOfRangeException(nameof(weight));
        int dom = _dom[v.Id];
        if (_domActiveSdomElem[dom])
            _weight += weight - _domWeight[dom];
        _domWeight[dom] = weight;
    }

    // ---------------------------------------------------------------- state (read by the glue and tests)

    public int Credit(HostTask v) => _credit[v.Id];
    public int Pri(HostTask v) => _pri[v.Id];
    public bool IsActive(HostTask v) => _activeElem[v.Id];
    public bool OnRunq(HostTask v) => _runqCpu[v.Id] >= 0;
    public int RunqLength(int cpu) => _runqLen[cpu];
    public HostTask RunqAt(int cpu, int i) => _vcpu[_runq[cpu][i]]!;
    public bool IsIdler(int cpu) => _idlers.Contains(cpu);
    public long TotalWeight => _weight;
    public int CreditBalance => _creditBalance;
    public HostTask? Curr(int cpu) => _curr[cpu];

    /// <summary>Test hook: set a vcpu's credit and priority.</summary>
    internal void SetForTest(HostTask v, int credit, int pri)
    {
        _credit[v.Id] = credit;
        _pri[v.Id] = pri;
    }

    private int CurrPri(int cpu) => _curr[cpu] is { } c ? _pri[c.Id] : PriIdle;

    /// <summary>The glue tells which vcpu a pCPU now runs (<c>per_cpu(schedule_data).curr</c>; null = idle).</summary>
    public void SetCurr(int cpu, HostTask? v) => _curr[cpu] = v;

    // ---------------------------------------------------------------- run queue

    /// <summary><c>__runq_insert</c>: before the first vcpu of strictly lower priority (behind its equals).</summary>
    public void RunqInsert(int cpu, HostTask v)
    {
        int id = v.Id;
        if (_runqCpu[id] >= 0)
            throw new InvalidOperationException($"{v} is already on cpu{_runqCpu[id]}'s runq");
        var q = _runq[cpu];
        int n = _runqLen[cpu];
        int pri = _pri[id];
        int at = 0;
        while (at < n && !(pri > _pri[q[at]]))
            at++;
        Array.Copy(q, at, q, at + 1, n - at);
        q[at] = id;
        _runqLen[cpu] = n + 1;
        _runqCpu[id] = cpu;
    }

    /// <summary><c>__runq_remove</c>.</summary>
    public void RunqRemove(HostTask v)
    {
        int id = v.Id;
        int cpu = _runqCpu[id];
        if (cpu < 0)
            throw new InvalidOperationException($"{v} is not on a runq");
        var q = _runq[cpu];
        int n = _runqLen[cpu];
        int at = Array.IndexOf(q, id, 0, n);
        Array.Copy(q, at + 1, q, at, n - at - 1);
        _runqLen[cpu] = n - 1;
        _runqCpu[id] = -1;
    }

    /// <summary>
    /// <c>__runq_tickle</c>: the CPUs to send SCHEDULE_SOFTIRQ to after <paramref name="v"/> was
    /// queued on <paramref name="cpu"/>: that CPU when <paramref name="v"/> has strictly higher
    /// priority than what it runs, plus every idler in <paramref name="v"/>'s affinity when that
    /// CPU is busy.
    /// </summary>
    public CpuMask RunqTickle(int cpu, HostTask v)
    {
        var mask = default(CpuMask);
        int cur = CurrPri(cpu);
        if (_pri[v.Id] > cur)
            mask.Set(cpu);
        if (cur > PriIdle && !_idlers.IsEmpty)
        {
            mask.Or(_idlers);
            mask.And(v.AffinityRef);
        }
        return mask;
    }

    /// <summary><c>csched_vcpu_wake</c>: an UNDER vcpu is boosted, then queued on its processor. Returns the CPUs to tickle.</summary>
    public CpuMask VcpuWake(HostTask v, int cpu) => VcpuWakeInsert(v, cpu) ? RunqTickle(cpu, v) : default;

    /// <summary>The queueing half of <c>csched_vcpu_wake</c>: false when the vcpu runs or is queued already.</summary>
    public bool VcpuWakeInsert(HostTask v, int cpu)
    {
        if (ReferenceEquals(_curr[cpu], v) || _runqCpu[v.Id] >= 0)
            return false;
        if (_pri[v.Id] == PriTsUnder)
            _pri[v.Id] = PriTsBoost; // no capped (parked) domains in PleSim
        RunqInsert(cpu, v);
        return true;
    }

    /// <summary><c>csched_vcpu_sleep</c> for a queued vcpu (a running one is descheduled by schedule()).</summary>
    public void VcpuSleep(HostTask v)
    {
        if (_runqCpu[v.Id] >= 0)
            RunqRemove(v);
    }

    // ---------------------------------------------------------------- accounting

    /// <summary><c>__csched_vcpu_acct_start</c>: the vcpu (and its domain) joins the active lists, at their heads.</summary>
    private void AcctStart(int id)
    {
        if (_activeElem[id])
            return;
        int dom = _dom[id];
        _activeElem[id] = true;
        _domActiveVcpu[dom].Insert(0, id);
        if (!_domActiveSdomElem[dom])
        {
            _domActiveSdomElem[dom] = true;
            _activeSdom.Insert(0, dom);
            _weight += _domWeight[dom];
        }
    }

    /// <summary><c>__csched_vcpu_acct_stop_locked</c>.</summary>
    private void AcctStop(int id)
    {
        int dom = _dom[id];
        _activeElem[id] = false;
        _domActiveVcpu[dom].Remove(id);
        if (_domActiveVcpu[dom].Count == 0)
        {
            _domActiveSdomElem[dom] = false;
            _activeSdom.Remove(dom);
            _weight -= _domWeight[dom];
        }
    }

    /// <summary>
    /// <c>csched_vcpu_acct</c>, run by <c>csched_tick</c> for the vcpu it finds running on
    /// <paramref name="cpu"/>: BOOST drops to UNDER, 100 credits are debited, an inactive vcpu
    /// becomes active, and an active one is checked for migration (<c>csched_cpu_pick</c>).
    /// Returns true when the vcpu should migrate (_VPF_migrating + SCHEDULE_SOFTIRQ).
    /// </summary>
    public bool VcpuAcct(int cpu)
    {
        var v = _curr[cpu] ?? throw new InvalidOperationException($"cpu{cpu} runs the idle vcpu");
        int id = v.Id;
        if (_pri[id] == PriTsBoost)
            _pri[id] = PriTsUnder;
        _credit[id] -= CreditsPerTick;
        if (!_activeElem[id])
        {
            AcctStart(id);
            return false;
        }
        return CpuPick(v, cpu) != cpu;
    }

    /// <summary>
    /// <c>csched_tick</c>'s run-queue part, <c>csched_runq_sort</c>: once per accounting epoch, move
    /// every vcpu of priority ≥ UNDER ahead of the OVER ones, keeping each group's order.
    /// </summary>
    public void RunqSort(int cpu)
    {
        if (_runqSortLast[cpu] == _runqSort)
            return;
        _runqSortLast[cpu] = _runqSort;
        var q = _runq[cpu];
        int n = _runqLen[cpu];
        var tmp = _scratchVcpus;
        int k = 0;
        for (int i = 0; i < n; i++)
        {
            if (_pri[q[i]] < PriTsUnder)
                tmp[k++] = q[i];
        }
        int u = 0;
        for (int i = 0; i < n; i++)
        {
            if (_pri[q[i]] >= PriTsUnder)
                q[u++] = q[i];
        }
        Array.Copy(tmp, 0, q, u, k);
    }

    /// <summary>
    /// <c>csched_acct</c>, the master's 30 ms pass: each active domain gets a weight-proportional
    /// share of the credits of all pCPUs (at most what runs its active vcpus for a full period,
    /// the rest going to the domains after it), split evenly over its active vcpus; priorities
    /// become UNDER (credit ≥ 0) or OVER; credit is floored at −300, and a vcpu above +300 leaves
    /// the active list with its credit reset to 0. Integer arithmetic as in the source.
    /// </summary>
    public void Acct()
    {
        long weightTotal = _weight;
        long creditTotal = _creditPriv;
        if (_creditBalance < 0)
            creditTotal -= _creditBalance;
        if (weightTotal == 0)
        {
            _creditBalance = 0;
            return; // "goto out": no runq_sort epoch
        }
        long weightLeft = weightTotal;
        int creditBalance = 0;
        bool creditXtra = false;
        int nd = _activeSdom.Count;
        _activeSdom.CopyTo(_scratchDoms); // list_for_each_safe: the walk follows the original order
        for (int di = 0; di < nd; di++)
        {
            int dom = _scratchDoms[di];
            long w = _domWeight[dom];
            var vcpus = _domActiveVcpu[dom];
            long activeCount = vcpus.Count;
            weightLeft -= w;
            long creditPeak = activeCount * CreditsPerAcct;
            if (_creditBalance < 0)
                creditPeak += ((-(long)_creditBalance * w) + (weightTotal - 1)) / weightTotal;
            long creditFair = ((creditTotal * w) + (weightTotal - 1)) / weightTotal;
            if (creditFair < creditPeak)
            {
                creditXtra = true;
            }
            else
            {
                if (weightLeft != 0)
                    creditTotal += (((creditFair - creditPeak) * weightTotal) + (weightLeft - 1)) / weightLeft;
                if (creditXtra)
                {
                    _activeSdom.Remove(dom); // acct_reorder: to the head
                    _activeSdom.Insert(0, dom);
                }
                creditFair = creditPeak;
            }
            creditFair = (creditFair + (activeCount - 1)) / activeCount;
            int nv = vcpus.Count;
            vcpus.CopyTo(_scratchVcpus);
            for (int vi = 0; vi < nv; vi++)
            {
                int id = _scratchVcpus[vi];
                _credit[id] += (int)creditFair;
                int credit = _credit[id];
                if (credit < 0)
                {
                    _pri[id] = PriTsOver;
                    if (credit < -CreditsPerTslice)
                    {
                        credit = -CreditsPerTslice;
                        _credit[id] = credit;
                    }
                }
                else
                {
                    _pri[id] = PriTsUnder;
                    if (credit > CreditsPerTslice)
                    {
                        AcctStop(id);
                        credit = 0;
                        _credit[id] = credit;
                    }
                }
                creditBalance += credit;
            }
        }
        _creditBalance = creditBalance;
        _runqSort++;
    }

    // ---------------------------------------------------------------- picking

    /// <summary>cycle_cpu: the next CPU after <paramref name="n"/> in <paramref name="mask"/>, wrapping.</summary>
    private static int CycleCpu(int n, in CpuMask mask)
    {
        int c = mask.Next(n + 1);
        return c >= 0 ? c : mask.First;
    }

    /// <summary>
    /// <c>csched_cpu_pick</c>: start from the vcpu's processor (or the next allowed CPU) and move
    /// to an idle CPU whose core (sibling map) or package (core map) has more idlers, so work
    /// spreads over cores and sockets before sharing a core.
    /// </summary>
    public int CpuPick(HostTask v, int processor)
    {
        var cpus = _topo.AllMask;
        cpus.And(v.AffinityRef);
        int cpu = cpus.Contains(processor) ? processor : CycleCpu(processor, cpus);
        var idlers = _idlers;
        idlers.Set(cpu);
        cpus.And(idlers);
        cpus.Clear(cpu);
        while (!cpus.IsEmpty)
        {
            int nxt = CycleCpu(cpu, cpus);
            CpuMask cpuIdlers, nxtIdlers;
            if (_coreMap[nxt].Contains(cpu))
            {
                cpuIdlers = idlers & _siblingMap[cpu];
                nxtIdlers = idlers & _siblingMap[nxt];
            }
            else
            {
                cpuIdlers = idlers & _coreMap[cpu];
                nxtIdlers = idlers & _coreMap[nxt];
            }
            int wc = cpuIdlers.Count, wn = nxtIdlers.Count;
            if (wc < wn) // sched_smt_power_savings = 0
            {
                cpu = nxt;
                cpus.Clear(cpu);
            }
            else
            {
                cpus.AndNot(nxtIdlers);
            }
        }
        return cpu;
    }

    /// <summary>
    /// <c>csched_runq_steal</c>: from a busy peer's runq, the first vcpu of strictly higher priority
    /// than <paramref name="pri"/> that may run on <paramref name="cpu"/> (vcpu_migration_delay 0:
    /// never cache hot); the walk stops at the first vcpu not above <paramref name="pri"/>.
    /// </summary>
    public HostTask? RunqSteal(int peerCpu, int cpu, int pri)
    {
        if (_curr[peerCpu] is null)
            return null; // the peer is idle: it picks up its own work
        var q = _runq[peerCpu];
        int n = _runqLen[peerCpu];
        for (int i = 0; i < n; i++)
        {
            int id = q[i];
            if (_pri[id] <= pri)
                break;
            var vc = _vcpu[id]!;
            if (vc.AllowedOn(cpu))
            {
                RunqRemove(vc);
                return vc;
            }
        }
        return null;
    }

    /// <summary>
    /// <c>csched_schedule</c>'s choice on <paramref name="cpu"/>: the previous vcpu, when still
    /// runnable, goes back on the runq behind its equals; the head is taken unless it is OVER
    /// (or the runq is empty), in which case <c>csched_load_balance</c> looks at the busy peers,
    /// starting with the next CPU, for a vcpu of strictly higher priority; the idler mask follows
    /// the choice. Returns the vcpu to run (null = idle) and, in <paramref name="stolenFrom"/>,
    /// the peer it was taken from (−1 if local).
    /// </summary>
    public HostTask? Schedule(int cpu, HostTask? prev, bool prevRunnable, out int stolenFrom)
    {
        stolenFrom = -1;
        if (prev is not null && prevRunnable)
            RunqInsert(cpu, prev);
        HostTask? snext = _runqLen[cpu] > 0 ? _vcpu[_runq[cpu][0]] : null;
        int spri = snext is null ? PriIdle : _pri[snext.Id];
        if (spri > PriTsOver)
        {
            RunqRemove(snext!);
        }
        else
        {
            HostTask? got = null;
            var workers = _topo.AllMask;
            workers.AndNot(_idlers);
            workers.Clear(cpu);
            int peer = cpu;
            while (!workers.IsEmpty)
            {
                peer = CycleCpu(peer, workers);
                workers.Clear(peer);
                got = RunqSteal(peer, cpu, spri);
                if (got is not null)
                {
                    stolenFrom = peer;
                    break;
                }
            }
            if (got is not null)
                snext = got;
            else if (snext is not null)
                RunqRemove(snext);
        }
        if (snext is null)
            _idlers.Set(cpu);
        else
            _idlers.Clear(cpu);
        _curr[cpu] = snext;
        return snext;
    }
}

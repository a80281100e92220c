using PleSim.Host;

namespace PleSim.Hypervisor;

/// <summary>A KVM virtual machine: its VCPUs (host tasks) and VM-wide state (<c>struct kvm</c>).</summary>
public sealed class Vm
{
    internal Vm(int index, string name, TaskGroup group, int hostCpus)
    {
        Index = index;
        Name = name;
        Group = group;
        _queuedOnCpu = new int[hostCpus];
    }

    public int Index { get; }
    public string Name { get; }

    /// <summary>The cpu cgroup its VCPU threads are in (the root group when VMs are not in cgroups).</summary>
    public TaskGroup Group { get; }

    public List<Vcpu> Vcpus { get; } = [];

    /// <summary><c>kvm->last_boosted_vcpu</c>: where the next directed-yield walk starts.</summary>
    public int LastBoostedVcpu { get; internal set; }

    public VmStats Stats { get; } = new();

    /// <summary>Ground truth (oracle, read-only): bit i set while VCPU i's time is accounted as spinning.</summary>
    internal CpuMask SpinningMask;

    /// <summary>Ground truth (oracle, read-only): VCPU <paramref name="index"/>'s time is accounted as spinning (<see cref="VcpuTime.GuestSpin"/>).</summary>
    public bool IsSpinning(int index) => SpinningMask.Contains(index);

    // Ground truth: a spinning VCPU's target and the cause its spin time is charged to, copied from
    // the Vcpu when they are set (meaningful only while its bit in SpinningMask is set), so that a
    // lock's hand-over can tell which waiters' causes change without reading every waiter's Vcpu
    // object (a measurable cost of a 256-CPU run, bench/RESULTS.md).
    // (An array of structs: storing a reference in it needs no array-covariance check.)
    internal struct SpinCopy
    {
        public ISpinTarget? Target;
        public SpinCause Cause;
    }

    internal SpinCopy[] Spins = [];

    /// <summary>
    /// Ground truth (oracle, read-only): VCPU <paramref name="index"/> spins on
    /// <paramref name="target"/> with its time charged to <paramref name="cause"/>, so that
    /// <see cref="Vcpu.ReclassifySpin(ISpinTarget, SpinCause)"/> with that cause would change
    /// nothing (but open a trace segment for an observer attached in the middle of the spin).
    /// </summary>
    public bool SpinsOn(int index, ISpinTarget target, SpinCause cause) =>
        SpinningMask.Contains(index) && Spins[index].Cause == cause && ReferenceEquals(Spins[index].Target, target);

    /// <summary>
    /// Ground truth (oracle, read-only): every spinning VCPU of this VM (except
    /// <paramref name="except"/>) takes its spin cause again. Called when a VCPU's presence
    /// changes, and by guest code whose state a cause depends on (acknowledgements; later,
    /// interrupts being disabled). Changes no model state.
    /// </summary>
    public void ReclassifySpinners(Vcpu? except = null)
    {
        var m = SpinningMask;
        for (int i = m.First; i >= 0; i = m.Next(i + 1))
        {
            var v = Vcpus[i];
            if (v != except)
                v.ReclassifySpin();
        }
    }

    // Ground truth: how many VCPUs are where, and the time the VM spent split (see SplitNs).
    private readonly int[] _presence = new int[5];
    private long _splitNs;
    private long _splitSince;

    private bool IsSplit => _presence[(int)VcpuPresence.OffCpu] + _presence[(int)VcpuPresence.CoStopped] > 0 && _presence[(int)VcpuPresence.InGuest] + _presence[(int)VcpuPresence.InExit] > 0;

    /// <summary>A new VCPU starts off CPU (and not spinning).</summary>
    internal void AddPresence()
    {
        _presence[(int)VcpuPresence.OffCpu]++;
        Array.Resize(ref Spins, Spins.Length + 1);
    }

    internal void PresenceChanged(VcpuPresence from, VcpuPresence to, long now)
    {
        bool was = IsSplit;
        _presence[(int)from]--;
        _presence[(int)to]++;
        bool split = IsSplit;
        if (was && !split)
            _splitNs += now - _splitSince;
        else if (!was && split)
            _splitSince = now;
    }

    /// <summary>
    /// Ground truth: wall time (ns, up to <paramref name="now"/>) during which some of this VM's
    /// VCPUs were on a CPU and some runnable but not on a CPU — the only time a VCPU of the VM can
    /// spin on a preempted one. A VM whose VCPUs the host happens to run together has little of it.
    /// </summary>
    public long SplitNs(long now) => _splitNs + (IsSplit ? now - _splitSince : 0);

    // Ground truth: per host CPU, how many of this VM's runnable VCPU threads are queued there
    // (running or waiting), fed by KVM's host observer (Kvm.Wakeup/NewTask/Migrate/Switch); the
    // number of CPUs holding two or more; and the time there was at least one such CPU (StackedNs).
    private readonly int[] _queuedOnCpu;
    private int _cpusStacked;
    private long _stackedNs;
    private long _stackedSince;

    internal void VcpuQueued(Vcpu v, int cpu, long now)
    {
        v.QueuedOnCpu = cpu;
        if (++_queuedOnCpu[cpu] == 2 && _cpusStacked++ == 0)
            _stackedSince = now;
    }

    internal void VcpuUnqueued(Vcpu v, long now)
    {
        int cpu = v.QueuedOnCpu;
        v.QueuedOnCpu = -1;
        if (_queuedOnCpu[cpu]-- == 2 && --_cpusStacked == 0)
            _stackedNs += now - _stackedSince;
    }

    /// <summary>
    /// Ground truth: wall time (ns, up to <paramref name="now"/>) during which two or more of this
    /// VM's runnable VCPU threads were queued on one host CPU, so that one of them could run only
    /// when the other stopped. Placements like that can last a whole run (README, "Known problems");
    /// with no more runnable VCPUs than CPUs the VM may use, a host that spread them would have none.
    /// </summary>
    public long StackedNs(long now) => _stackedNs + (_cpusStacked > 0 ? now - _stackedSince : 0);

    /// <summary>Ground truth: how many host CPUs hold two or more of this VM's runnable VCPU threads now.</summary>
    public int CpusStacked => _cpusStacked;

    /// <summary>The invariant behind <see cref="StackedNs"/>: a started VCPU thread is counted on its CPU exactly while it is runnable, and the per-CPU counts add up.</summary>
    internal string? CheckPlacement()
    {
        var counts = new int[_queuedOnCpu.Length];
        foreach (var v in Vcpus)
        {
            bool runnable = v.Task.Started && v.Task.State == TaskState.Running;
            if (runnable != (v.QueuedOnCpu >= 0))
                return $"{v} is {(runnable ? "runnable" : "not runnable")} but {(v.QueuedOnCpu >= 0 ? $"counted on CPU {v.QueuedOnCpu}" : "not counted")}";
            if (runnable && v.QueuedOnCpu != v.Task.Cpu)
                return $"{v} is queued on CPU {v.Task.Cpu} but counted on CPU {v.QueuedOnCpu}";
            if (runnable)
                counts[v.QueuedOnCpu]++;
        }
        int stacked = 0;
        for (int c = 0; c < counts.Length; c++)
        {
            if (counts[c] != _queuedOnCpu[c])
                return $"{this}: CPU {c} holds {counts[c]} runnable VCPUs, counted {_queuedOnCpu[c]}";
            if (counts[c] >= 2)
                stacked++;
        }
        return stacked == _cpusStacked ? null : $"{this}: {stacked} CPUs hold two or more VCPUs, counted {_cpusStacked}";
    }

    public override string ToString() => Name;
}

/// <summary>VM-wide counters of the PAUSE handler and lock-holder preemption.</summary>
public sealed class VmStats
{
    public long PauseExits;
    public long YieldToCalls;

    /// <summary>KVM_HC_SCHED_YIELD hypercalls (5.3 PV sched yield) and those whose yield_to succeeded.</summary>
    public long PvSchedYields, PvSchedYieldSuccesses;

    /// <summary>
    /// s390 DIAGNOSE 0x9c (decision 0055): KVM's <c>instruction_diagnose_9c</c>, and how each call ended
    /// (<see cref="Diag9cOutcome"/>, indexed by its value; all but yielded and forwarded are <c>diag_9c_ignored</c>).
    /// </summary>
    public long Diag9cCalls;
    public readonly long[] Diag9cOutcomes = new long[PleSim.Hypervisor.Diag9cOutcomes.Count];

    /// <summary>
    /// The kick yield (5.3, decision 0043): KVM_HC_KICK_CPU hypercalls that called kvm_sched_yield,
    /// and how each ended (<see cref="SchedYieldOutcome"/>, indexed by its value).
    /// </summary>
    public long KickYields;
    public readonly long[] KickYieldOutcomes = new long[SchedYieldOutcomes.Count];

    public void CountKickYield(SchedYieldOutcome o) => KickYieldOutcomes[(int)o]++;

    /// <summary>Successful yield_to calls whose target was a VCPU the spinner waited on (diagnostic).</summary>
    public long YieldToHits;
    public long DirectedYieldWalks;
    public long WalksWithoutYield;
    public long CandidatesExamined;
    public long SkippedSelf, SkippedWaitQueue, SkippedNoPid, SkippedInGuest, SkippedNotPreempted, SkippedIneligible;

    /// <summary>4.14: candidates skipped because they were preempted in guest user mode (yield_to_kernel_mode).</summary>
    public long SkippedUserMode;

    /// <summary>5.13 (decision 0060): preempted user-mode candidates not skipped because they had a posted interrupt pending (ON set).</summary>
    public long UserModePendingInterruptCandidates;

    /// <summary>Candidates a plug-in candidate filter (<c>kvm.candidate_filter</c>) rejected.</summary>
    public long SkippedByFilter;

    /// <summary>
    /// 5.8+ (<see cref="DirectedYieldOptions.BlockingUntilRun"/>, decision 0097): candidates skipped because
    /// they were woken from HLT but had not run yet (the rcuwait still set) and were not dy_runnable.
    /// Candidates still waiting on the halt count as <see cref="SkippedWaitQueue"/>.
    /// </summary>
    public long SkippedWokenNotRun;

    /// <summary>5.8+: blocking candidates (waiting, or woken and not yet run) kept because <see cref="Vcpu.DyRunnable"/>.</summary>
    public long BlockingDyRunnableCandidates;

    /// <summary>3.17–6.12 (<see cref="DirectedYieldOptions.EsrchSkipsSecondPass"/>, decision 0097): walks that ended after pass 0 because its last yield_to returned -ESRCH.</summary>
    public long WalksEndedBeforePass1;

    /// <summary>Time the walks' yield_to calls waited for run-queue locks other callers held (ns).</summary>
    public long RqLockWaitNs;

    /// <summary>IPI-aware directed yield (kvm.ipi_aware_yield, decision 0052): counters, <see cref="IpiAwareStats"/>.</summary>
    public readonly IpiAwareStats IpiAware = new();
    /// <summary>yield_to calls by result, indexed by <see cref="YieldToResult"/> (an array: counting never allocates).</summary>
    public readonly long[] YieldToResults = new long[Enum.GetValues<YieldToResult>().Length];
    public long PleSleeps;
    public long PlainYields;

    /// <summary>Co-stops the co-scheduler decided (decision 0040): each takes effect at the VCPU's next VM entry, or is withdrawn by a co-start first.</summary>
    public long CoStopDecisions;

    /// <summary>Interrupts a VCPU in guest mode could not take because the guest had them disabled (RFLAGS.IF = 0), and their total wait until it re-enabled.</summary>
    public long IrqsDeferred;
    public long IrqDeferredNs;

    /// <summary>Lock-holder preemptions by what took the CPU, indexed by <see cref="LhpCause"/> (an array: counting never allocates).</summary>
    public readonly long[] LockHolderPreemptions = new long[Enum.GetValues<LhpCause>().Length];

    public void CountYieldTo(YieldToResult r) => YieldToResults[(int)r]++;

    /// <summary>The metric name of a lock-holder-preemption cause (lhp.NAME).</summary>
    public static string LhpCauseName(LhpCause c) => c switch
    {
        LhpCause.WokenByHolder => "woken_by_holder",
        LhpCause.SameVm => "same_vm",
        LhpCause.OtherVm => "other_vm",
        LhpCause.HostTask => "host_task",
        _ => "stopper",
    };

    /// <summary>Ground truth: yield_to calls by <see cref="YieldLabel"/> (they add up to <see cref="YieldToCalls"/>).</summary>
    public readonly long[] YieldToLabels = new long[GroundTruth.Labels.Length];

    /// <summary>Ground truth: PAUSE exits by the spin cause of the exiting VCPU when its PLE window expired.</summary>
    public readonly long[] PauseExitsByCause = new long[GroundTruth.Causes.Length];
}

/// <summary>What took the CPU from a VCPU that held a guest spinlock (metric names: <see cref="VmStats.LhpCauseName"/>).</summary>
public enum LhpCause
{
    /// <summary>A VCPU of the same VM that the holder itself woke less than 1 ms earlier.</summary>
    WokenByHolder,
    SameVm,
    OtherVm,
    HostTask,

    /// <summary>The CPU went idle (the holder was taken away by the stopper / migration).</summary>
    Stopper,
}

using PleSim.Host;

namespace PleSim.Hypervisor;

/// <summary>A KVM virtual machine: its VCPUs (host tasks) and VM-wide state (<c>struct kvm</c>).</summary>
public sealed class Vm
{
    internal Vm(int index, string name, TaskGroup group)
    {
        Index = index;
        Name = name;
        Group = group;
    }

    public int Index { get; }
    public string Name { get; }

    /// <summary>The cpu cgroup its VCPU threads are in (the root group when VMs are not in cgroups).</summary>
    public TaskGroup Group { get; }

    public List<Vcpu> Vcpus { get; } = [];

    /// <summary><c>kvm->last_boosted_vcpu</c>: where the next directed-yield walk starts.</summary>
    public int LastBoostedVcpu { get; internal set; }

    public VmStats Stats { get; } = new();

    public override string ToString() => Name;
}

/// <summary>VM-wide counters of the PAUSE handler and lock-holder preemption.</summary>
public sealed class VmStats
{
    public long PauseExits;
    public long YieldToCalls;

    /// <summary>Successful yield_to calls whose target was a VCPU the spinner waited on (diagnostic).</summary>
    public long YieldToHits;
    public long DirectedYieldWalks;
    public long WalksWithoutYield;
    public long CandidatesExamined;
    public long SkippedSelf, SkippedWaitQueue, SkippedNoPid, SkippedInGuest, SkippedNotPreempted, SkippedIneligible;

    /// <summary>Time the walks' yield_to calls waited for run-queue locks other callers held (ns).</summary>
    public long RqLockWaitNs;
    public readonly Dictionary<YieldToResult, long> YieldToResults = [];
    public long PleSleeps;
    public long PlainYields;

    /// <summary>Lock-holder preemptions by what took the CPU: "woken_by_holder", "same_vm", "other_vm", "host_task".</summary>
    public readonly SortedDictionary<string, long> LockHolderPreemptions = new(StringComparer.Ordinal);

    public void CountYieldTo(YieldToResult r) => YieldToResults[r] = YieldToResults.GetValueOrDefault(r) + 1;
}

using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>A guest program from a list of actions (then it exits).</summary>
internal sealed class ListProgram(params GuestAction[] actions) : IThreadProgram
{
    private int _i;

    public GuestAction Next(GuestThread thread) => _i < actions.Length ? actions[_i++] : GuestAction.Exit;
}

/// <summary>A program that records when it passed a point (a Call).</summary>
internal sealed class Marker : IGuestCallback
{
    public List<(string Thread, long At, int Code)> Hits { get; } = [];
    public Simulator Sim { get; set; } = null!;

    public void Run(GuestThread thread, int code) => Hits.Add((thread.Name, Sim.Now.Ns, code));
}

internal sealed class GuestKit
{
    public GuestKit(int cpus, int vcpus, string handler = "directed-yield-2011", GuestSettings? guest = null, KvmSettings? kvm = null)
    {
        Sim = new Simulator();
        Host = new HostScheduler(Sim, HostTopology.Cpus(cpus), new SchedTunables { TickJitter = SimDuration.Zero }, null, new RandomStreams(1));
        Kvm = new Kvm(Host, kvm ?? new KvmSettings { PleHandler = handler }, TscFrequency.FromMegahertz(2900));
        Vm = Kvm.CreateVm("vm", vcpus, Host.Topology.AllMask);
        Kernel = new GuestKernel(Kvm, Vm, guest ?? new GuestSettings());
        Marker.Sim = Sim;
        Sim.Invariants.Enable(1);
    }

    public Simulator Sim { get; }
    public HostScheduler Host { get; }
    public Kvm Kvm { get; }
    public Vm Vm { get; }
    public GuestKernel Kernel { get; }
    public Marker Marker { get; } = new();

    public void Start(SimDuration tickPhase = default)
    {
        Kernel.Start(tickPhase);
        Kvm.Start(Vm);
    }

    /// <summary>After <paramref name="startNs"/> (if any), <paramref name="rounds"/> × (take the lock, hold, release, think).</summary>
    public static ListProgram LockRounds(GuestSpinLock lk, int rounds, long holdNs, long thinkNs, long startNs = 0) =>
        new([.. startNs > 0 ? [GuestAction.Compute(startNs)] : Array.Empty<GuestAction>(), .. Enumerable.Range(0, rounds).SelectMany(_ => new[]
        {
            GuestAction.Acquire(lk), GuestAction.Compute(holdNs), GuestAction.Release(lk), GuestAction.Compute(thinkNs),
        })]);

    /// <summary>
    /// One thread per VCPU doing 2,000 rounds of 40 µs holds of <paramref name="lk"/> and 10 µs thinks,
    /// VCPU i pinned to host CPU i mod 2, run for <paramref name="us"/>: with four VCPUs on two CPUs and
    /// PLE off, holders and waiters are preempted by their CPU's other VCPU in the middle of spins.
    /// </summary>
    public void RunLockRoundsTwoPerCpu(GuestSpinLock lk, long us)
    {
        for (int i = 0; i < Vm.Vcpus.Count; i++)
            Kernel.CreateThread($"t{i}", LockRounds(lk, 2000, 40_000, 10_000), i, pinned: true);
        Start();
        Pin([.. Enumerable.Range(0, Vm.Vcpus.Count).Select(i => i % 2)]);
        RunUs(us);
    }

    /// <summary>A VCPU's spin time summed over every ground-truth cause (equals its guest-spin time when the labels are complete).</summary>
    public static long SpinSum(Vcpu v) => GroundTruth.Causes.Sum(c => v.SpinTimeIn(c));

    /// <summary>Pins VCPU i to host CPU cpus[i] and a host hog to each CPU in <paramref name="hogCpus"/>.</summary>
    public void Pin(int[] cpus, params int[] hogCpus)
    {
        for (int i = 0; i < cpus.Length; i++)
            Host.SetAffinity(Vm.Vcpus[i].Task, 1UL << cpus[i], 0);
        foreach (int c in hogCpus)
        {
            var t = Host.CreateTask($"hog{c}", new PleSim.Host.Workloads.HogBody(), 0, 1UL << c);
            Host.WakeUpNewTask(t, c);
        }
    }

    public void RunUs(long us) => Sim.RunUntil(Sim.Now + SimDuration.FromMicroseconds(us));

    /// <summary>
    /// Runs <paramref name="us"/> microseconds in two equal halves and returns the bytes this thread
    /// allocated in the half that allocated less. A per-event allocation shows in both halves; a
    /// one-time effect of the process (a type initialised for the first time, depending on which tests
    /// ran before and on when the tiered JIT recompiled what) in one only.
    /// </summary>
    public long RunUsAllocatedBytes(long us)
    {
        long a0 = GC.GetAllocatedBytesForCurrentThread();
        RunUs(us / 2);
        long a1 = GC.GetAllocatedBytesForCurrentThread();
        RunUs(us - us / 2);
        long a2 = GC.GetAllocatedBytesForCurrentThread();
        return Math.Min(a1 - a0, a2 - a1);
    }

    public GuestAction Mark(int code) => GuestAction.Call(Marker, code);
}

using PleSim.Engine;
using PleSim.Host;
using PleSim.Host.Workloads;
using PleSim.Hypervisor;

namespace PleSim.Hypervisor.Tests;

/// <summary>A scripted guest CPU: issues the operations it is given, in order, then computes forever.</summary>
internal sealed class ScriptGuest : IGuestCpu
{
    private readonly Queue<Action<Vcpu>> _ops = new();

    public List<(long At, int Vector)> Interrupts { get; } = [];
    public List<long> OpsDoneAt { get; } = [];
    public bool HoldsLock { get; set; }
    public long HandlerNs { get; set; } = 500;
    public Simulator Sim { get; set; } = null!;

    public ScriptGuest Then(Action<Vcpu> op)
    {
        _ops.Enqueue(op);
        return this;
    }

    public void OnOpDone(Vcpu vcpu)
    {
        OpsDoneAt.Add(Sim.Now.Ns);
        if (_ops.TryDequeue(out var op))
            op(vcpu);
        else
            vcpu.Compute(1_000_000);
    }

    public long OnInterrupt(Vcpu vcpu, int vector)
    {
        Interrupts.Add((Sim.Now.Ns, vector));
        return HandlerNs;
    }

    public void OnInterruptDone(Vcpu vcpu, int vector)
    {
    }

    public bool HoldsSpinlock(Vcpu vcpu) => HoldsLock;

    /// <summary>The guest's interrupt flag (RFLAGS.IF).</summary>
    public bool IrqEnabled { get; set; } = true;

    public bool InterruptsEnabled(Vcpu vcpu) => IrqEnabled;

    /// <summary>The guest's CPL is 0 (kernel mode); false: user code runs.</summary>
    public bool KernelMode { get; set; } = true;

    public bool InKernelMode(Vcpu vcpu) => KernelMode;
}

/// <summary>A lock word tests release by hand.</summary>
internal sealed class TestLock : ISpinTarget
{
    public bool Free { get; set; }
    public Vcpu? TakenBy { get; private set; }

    public bool TryAcquire(Vcpu vcpu, long token)
    {
        if (!Free)
            return false;
        Free = false;
        TakenBy = vcpu;
        return true;
    }
}

internal sealed class KvmKit
{
    public KvmKit(int cpus, string handler = "directed-yield-2011", KvmSettings? settings = null, SchedFeatures? features = null)
    {
        Sim = new Simulator();
        Host = new HostScheduler(Sim, HostTopology.Cpus(cpus), new SchedTunables { TickJitter = SimDuration.Zero }, features, new RandomStreams(1));
        Kvm = new Kvm(Host, (settings ?? new KvmSettings()) with { PleHandler = handler }, TscFrequency.FromMegahertz(2900));
        Sim.Invariants.Enable(1);
    }

    public Simulator Sim { get; }
    public HostScheduler Host { get; }
    public Kvm Kvm { get; }

    public (Vm Vm, ScriptGuest[] Guests) Vm(string name, int vcpus, CpuMask? affinity = null)
    {
        var vm = Kvm.CreateVm(name, vcpus, affinity ?? Host.Topology.AllMask);
        var guests = new ScriptGuest[vcpus];
        for (int i = 0; i < vcpus; i++)
        {
            guests[i] = new ScriptGuest { Sim = Sim };
            vm.Vcpus[i].AttachGuest(guests[i]);
        }
        return (vm, guests);
    }

    public HostTask Hog(string name, ulong affinity)
    {
        var t = Host.CreateTask(name, new HogBody(), 0, affinity);
        Host.WakeUpNewTask(t, System.Numerics.BitOperations.TrailingZeroCount(affinity));
        return t;
    }

    public void RunUs(long us) => Sim.RunUntil(Sim.Now + SimDuration.FromMicroseconds(us));

    /// <summary>A nice −20 hog pinned to each of <paramref name="cpus"/>: it preempts the VCPU running there.</summary>
    public void UrgentHogs(params int[] cpus)
    {
        foreach (int cpu in cpus)
        {
            var hog = Host.CreateTask("hog" + cpu, new HogBody(), -20, Cpu(cpu));
            Host.WakeUpNewTask(hog, cpu);
        }
    }

    /// <summary>Kicks <paramref name="vm"/>'s VCPU 0 out of its halt (into its scripted spin) and runs until it made one directed-yield walk.</summary>
    public void KickAndRunOneWalk(Vm vm)
    {
        Kvm.Kick(vm.Vcpus[0], Vectors.Reschedule, null);
        for (int k = 0; k < 100_000 && vm.Stats.DirectedYieldWalks < 1; k++)
            Sim.RunUntil(Sim.Now + new SimDuration(50));
        Assert.Equal(1, vm.Stats.DirectedYieldWalks);
    }

    /// <summary>
    /// Two VCPUs on two CPUs: vcpu0 (CPU 0) halts, then spins on a lock nobody frees; vcpu1 (CPU 1)
    /// computes in guest kernel or user mode (<paramref name="kernel"/>) until a nice −20 hog preempts it.
    /// </summary>
    public static (KvmKit Kit, Vm Vm, ScriptGuest[] G) PreemptedVcpu1(string handler, KvmSettings? settings, bool kernel)
    {
        var kit = new KvmKit(2, handler, settings);
        var (vm, g) = kit.Vm("vm", 2);
        g[0].Then(v => v.Halt()).Then(v => v.Spin(new TestLock(), 0));
        g[1].KernelMode = kernel;
        kit.Kvm.Start(vm);
        kit.Host.SetAffinity(vm.Vcpus[0].Task, Cpu(0), 0);
        kit.Host.SetAffinity(vm.Vcpus[1].Task, Cpu(1), 0);
        kit.RunUs(100);
        kit.UrgentHogs(1);
        for (int k = 0; k < 1000 && !(vm.Vcpus[1].Preempted && !vm.Vcpus[1].Task.OnCpu); k++)
            kit.RunUs(100);
        Assert.True(vm.Vcpus[1].Preempted);
        Assert.Equal(kernel, vm.Vcpus[1].PreemptedInKernel);
        return (kit, vm, g);
    }

    /// <summary>
    /// vcpu0 computes 10 µs and sends vcpu1 a reschedule IPI while vcpu1 runs a 100 µs section with
    /// interrupts disabled (cli … sti); runs 300 µs. Returns when vcpu1 set IF again and whether an
    /// interrupt was deliverable at that sti (<c>OnInterruptsEnabled</c>).
    /// </summary>
    public static (KvmKit Kit, Vm Vm, ScriptGuest[] G, long ReenabledAt, bool Delivering) IpiDuringIrqsOff(KvmSettings? settings)
    {
        var kit = new KvmKit(2, settings: settings);
        var (vm, g) = kit.Vm("vm", 2);
        long reenabledAt = -1;
        bool delivering = false;
        g[0].Then(v => v.Compute(10_000)).Then(v => v.SendIpi(vm.Vcpus[1], Vectors.Reschedule));
        g[1].Then(v =>
        {
            g[1].IrqEnabled = false; // cli
            v.Compute(100_000);
        }).Then(v =>
        {
            g[1].IrqEnabled = true;  // sti
            reenabledAt = kit.Sim.Now.Ns;
            delivering = v.OnInterruptsEnabled();
            if (!delivering)
                v.Compute(1_000_000);
        });
        kit.Kvm.Start(vm);
        kit.RunUs(300);
        return (kit, vm, g, reenabledAt, delivering);
    }

    public static ulong Cpu(params int[] cpus) => cpus.Aggregate(0UL, (m, c) => m | (1UL << c));
}

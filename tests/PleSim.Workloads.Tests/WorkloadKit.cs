using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Workloads.Tests;

/// <summary>
/// One guest of <c>vcpus</c> VCPUs alone on as many host CPUs (no PLE, no tick jitter, invariants
/// checked at every event) running one fixed-work workload, built by <c>create</c> from the guest
/// kernel and the callback that marks it done.
/// </summary>
internal sealed class WorkloadKit<T>
{
    public WorkloadKit(int vcpus, Func<GuestKernel, Action, T> create)
    {
        Sim = new Simulator();
        var host = new HostScheduler(Sim, HostTopology.Cpus(vcpus), new SchedTunables { TickJitter = SimDuration.Zero }, null, new RandomStreams(1));
        Kvm = new Kvm(host, new KvmSettings { PleHandler = "none" }, TscFrequency.FromMegahertz(2900));
        var vm = Kvm.CreateVm("vm", vcpus, host.Topology.AllMask);
        Kernel = new GuestKernel(Kvm, vm, new GuestSettings());
        Bench = create(Kernel, () => Done = true);
        Sim.Invariants.Enable(1);
        Kernel.Start();
        Kvm.Start(vm);
    }

    public Simulator Sim { get; }
    public Kvm Kvm { get; }
    public GuestKernel Kernel { get; }
    public T Bench { get; }
    public bool Done { get; private set; }

    /// <summary>Runs in 1 ms steps until the workload is done (at most <paramref name="maxMs"/>), then <paramref name="afterMs"/> more.</summary>
    public void RunUntilDone(long maxMs, long afterMs = 0)
    {
        for (long ms = 0; ms < maxMs && !Done; ms++)
            Sim.RunUntil(Sim.Now + SimDuration.FromMilliseconds(1));
        Assert.True(Done, $"{typeof(T).Name} did not finish");
        if (afterMs > 0)
            Sim.RunUntil(Sim.Now + SimDuration.FromMilliseconds(afterMs));
    }
}

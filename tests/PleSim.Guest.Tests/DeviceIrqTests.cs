using PleSim.Engine;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>Device interrupts' bottom halves (decision 0045): run before the interrupted computation resumes, which loses none of its time.</summary>
public class DeviceIrqTests
{
    private sealed class Nic(WaitQueue q, Simulator sim) : IGuestIrqHandler
    {
        public List<long> SoftIrqAt { get; } = [];
        public long HardIrqNs => 500;
        public bool OnHardIrq(GuestCpu cpu) => true;

        public void SoftIrq(GuestCpu cpu)
        {
            SoftIrqAt.Add(sim.Now.Ns);
            cpu.BottomHalf(this, 2000, q, again: false);
        }
    }

    private sealed class At(Action a) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg) => a();
    }

    [Fact]
    public void The_bottom_half_runs_at_once_and_the_interrupted_computation_resumes_with_all_its_time()
    {
        var kit = new GuestKit(2, 1, handler: "none");
        var q = kit.Kernel.NewWaitQueue("sk_wq");
        var nic = new Nic(q, kit.Sim);
        kit.Kernel.RequestIrq(Vectors.VirtioNetInput, nic);
        Assert.Throws<InvalidOperationException>(() => kit.Kernel.RequestIrq(Vectors.VirtioNetInput, nic));
        Assert.Throws<ArgumentOutOfRangeException>(() => kit.Kernel.RequestIrq(Vectors.Timer, nic));
        // The sleeper runs first and sleeps on the queue; then the worker computes 100 us in user mode.
        kit.Kernel.CreateThread("sleeper", new ListProgram(GuestAction.Wait(q), kit.Mark(2)), 0, pinned: true);
        kit.Kernel.CreateThread("worker", new ListProgram(kit.Mark(0), GuestAction.Compute(100_000, userMode: true), kit.Mark(1)), 0, pinned: true);
        kit.Start();
        kit.Host.SetAffinity(kit.Vm.Vcpus[0].Task, 1UL << 0, 0);
        for (int i = 0; i < 200 && !kit.Marker.Hits.Any(h => h.Code == 0); i++)
            kit.RunUs(1);
        long start = kit.Marker.Hits.Single(h => h.Code == 0).At;
        long injectAt = start + 40_000;
        var timer = new HrTimer(kit.Sim, new At(() => kit.Kvm.InjectMsi(kit.Vm.Vcpus[0], Vectors.VirtioNetInput, 1)));
        timer.Start(new SimTime(injectAt));
        kit.RunUs(2_000);

        // From CPU 1 to a VCPU in guest mode on CPU 0: the kick IPI, an external exit, entry, the top half, then the softirq at once.
        long softirq = Assert.Single(nic.SoftIrqAt);
        var k = kit.Kvm.Settings.Costs;
        Assert.Equal(injectAt + k.KickIpiLatency.Ns + k.Exit.Ns + k.Entry.Ns + 500, softirq);
        // The sleeper was woken by the bottom half.
        Assert.Contains(kit.Marker.Hits, h => h.Code == 2);
        Assert.Equal(1, q.Signals);
        // The worker's computation lost nothing: it ends 100 us of guest time after it started, plus what ran in between.
        long end = kit.Marker.Hits.Single(h => h.Code == 1).At;
        Assert.True(end - start >= 100_000 + 500 + 2000, $"{end - start} ns");
        Assert.True(end - start < 100_000 + 30_000, $"{end - start} ns");
    }
}

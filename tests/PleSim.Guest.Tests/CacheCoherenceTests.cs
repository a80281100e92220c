using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>The lock word's cache line (guest.cache_coherence, decision 0059).</summary>
public class CacheCoherenceTests
{
    private static GuestSettings Settings(SpinlockKind kind, CacheCoherence cc, int spinThreshold = 1 << 15) =>
        new() { Spinlock = kind, CacheCoherence = cc, SpinThresholdLoops = spinThreshold };

    /// <summary>
    /// A holder on VCPU 0 takes the lock and holds it <paramref name="holdNs"/> (default 50 µs);
    /// waiters 1..<paramref name="spinners"/> ask for it 1 µs apart while it is held, each VCPU on a
    /// host CPU of its own unless <paramref name="pin"/> says otherwise (PLE off, so they stay in their
    /// spin loops). Returns the time from the holder's release to the first waiter's entry into its
    /// critical section, and the lock.
    /// </summary>
    private static (long Handoff, GuestSpinLock Lock, GuestKit Kit) FirstHandoff(GuestSettings guest, int spinners, int[]? pin = null, long holdNs = 50_000)
    {
        int vcpus = spinners + 1;
        var kit = new GuestKit(pin is null ? vcpus : pin.Max() + 1, vcpus, handler: "none", guest: guest);
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(
            GuestAction.Acquire(lk), GuestAction.Compute(holdNs), kit.Mark(0), GuestAction.Release(lk), GuestAction.Compute(1_000_000)), 0, pinned: true);
        for (int i = 1; i <= spinners; i++)
        {
            kit.Kernel.CreateThread($"w{i}", new ListProgram(
                GuestAction.Compute(5_000 + (i * 1_000)), GuestAction.Acquire(lk), kit.Mark(i), GuestAction.Compute(200_000), GuestAction.Release(lk)), i, pinned: true);
        }
        kit.Start();
        if (pin is not null)
            kit.Pin(pin);
        kit.RunUs(holdNs / 1000 + 70);
        long released = kit.Marker.Hits.Single(h => h.Code == 0).At;
        long acquired = kit.Marker.Hits.Where(h => h.Code > 0).Min(h => h.At);
        return (acquired - released, lk, kit);
    }

    [Theory]
    [InlineData(SpinlockKind.Ticket)]
    [InlineData(SpinlockKind.PvTicket)]
    [InlineData(SpinlockKind.TestAndSet)]
    public void A_global_spinning_locks_hand_off_grows_with_the_number_of_running_spinners(SpinlockKind kind)
    {
        var h = new[] { 1, 2, 4, 7 }.Select(n => FirstHandoff(Settings(kind, CacheCoherence.Directory), n).Handoff).ToArray();
        for (int k = 1; k < h.Length; k++)
            Assert.True(h[k] > h[k - 1], $"{kind}: hand-offs {string.Join(", ", h)} ns for 1, 2, 4, 7 spinners should grow");
    }

    [Theory]
    [InlineData(SpinlockKind.Queued)]
    [InlineData(SpinlockKind.PvQueued)]
    public void A_queued_locks_hand_off_does_not_grow_with_the_queue(SpinlockKind kind)
    {
        var runs = new[] { 2, 4, 7 }.Select(n => FirstHandoff(Settings(kind, CacheCoherence.Directory), n)).ToArray();
        Assert.All(runs, r => Assert.Equal(runs[0].Handoff, r.Handoff));
        // Only the queue head reads the lock word at the release.
        Assert.All(runs, r => Assert.Equal(1, r.Lock.LineReadersAtRelease));
        Assert.True(runs[0].Handoff > 0);
    }

    [Fact]
    public void With_seven_spinners_the_ticket_hand_off_is_longer_than_the_queued_one_and_with_one_it_is_not()
    {
        long Ticket(int n) => FirstHandoff(Settings(SpinlockKind.Ticket, CacheCoherence.Directory), n).Handoff;
        long Queued(int n) => FirstHandoff(Settings(SpinlockKind.Queued, CacheCoherence.Directory), n).Handoff;
        Assert.True(Ticket(7) > Queued(7));
        Assert.True(Ticket(1) <= Queued(1));
    }

    [Fact]
    public void Every_running_ticket_waiter_reads_the_line_at_a_release()
    {
        var (_, lk, _) = FirstHandoff(Settings(SpinlockKind.Ticket, CacheCoherence.Directory), 4);
        Assert.Equal(1, lk.LineReleases);
        Assert.Equal(4, lk.LineReadersAtRelease);
    }

    [Fact]
    public void Preempted_waiters_do_not_read_the_line()
    {
        // Four waiters; waiters 3 and 4 share host CPU 3, and the host time-slices them over the
        // 20.5 ms hold (both have taken a ticket by then), so only one of them runs its spin loop at
        // the release. The next owner's hand-off is that of three readers, not four.
        const long hold = 20_500_000;
        var own = FirstHandoff(Settings(SpinlockKind.Ticket, CacheCoherence.Directory), 4, holdNs: hold);
        var shared = FirstHandoff(Settings(SpinlockKind.Ticket, CacheCoherence.Directory), 4, pin: [0, 1, 2, 3, 3], holdNs: hold);
        Assert.Equal(4, shared.Lock.Contended); // all four waited
        var v3 = shared.Kit.Vm.Vcpus[3];
        var v4 = shared.Kit.Vm.Vcpus[4];
        Assert.True(v3.TimeIn(VcpuTime.GuestSpin) > 0 && v4.TimeIn(VcpuTime.GuestSpin) > 0); // both ran their spin loop at some point
        Assert.True(v3.Task.OnCpu != v4.Task.OnCpu); // and one of them is off its CPU
        Assert.Equal(4, own.Lock.LineReadersAtRelease);
        Assert.Equal(3, shared.Lock.LineReadersAtRelease);
        Assert.True(shared.Handoff < own.Handoff);
        Assert.Equal(FirstHandoff(Settings(SpinlockKind.Ticket, CacheCoherence.Directory), 3, holdNs: hold).Handoff, shared.Handoff);
    }

    [Fact]
    public void Halted_pv_waiters_do_not_read_the_line()
    {
        // A PV ticket lock with a threshold of 64 loops: the waiters give up spinning and halt long
        // before the 50 µs hold ends, so nobody reads the line at the release; the next owner, kicked,
        // reads it once when it runs again.
        var spinning = FirstHandoff(Settings(SpinlockKind.PvTicket, CacheCoherence.Directory), 4);
        var halted = FirstHandoff(Settings(SpinlockKind.PvTicket, CacheCoherence.Directory, spinThreshold: 64), 4);
        Assert.True(halted.Lock.PvHalts >= 4);
        Assert.Equal(0, halted.Lock.LineReadersAtRelease);
        Assert.Equal(4, spinning.Lock.LineReadersAtRelease);
        long one = halted.Kit.Kernel.Settings.CacheLineLocal.Ns;
        Assert.Equal(1, halted.Lock.LineHandoffs);
        Assert.True(halted.Lock.LineHandoffNs <= 2 * one, $"a halted waiter's hand-off was {halted.Lock.LineHandoffNs} ns: it should not include the others' re-reads");
    }

    [Theory]
    [InlineData(SpinlockKind.Ticket)]
    [InlineData(SpinlockKind.PvTicket)]
    [InlineData(SpinlockKind.Queued)]
    [InlineData(SpinlockKind.PvQueued)]
    [InlineData(SpinlockKind.TestAndSet)]
    public void Without_the_model_every_hand_off_costs_lock_handover_and_nothing_is_counted(SpinlockKind kind)
    {
        var runs = new[] { 1, 4, 7 }.Select(n => FirstHandoff(Settings(kind, CacheCoherence.None), n)).ToArray();
        long handover = runs[0].Kit.Kernel.Settings.Costs.LockHandover.Ns;
        Assert.All(runs, r => Assert.Equal(handover, r.Handoff));
        Assert.All(runs, r => Assert.False(r.Lock.CoherenceModelled));
        Assert.All(runs, r => Assert.Equal(0, r.Lock.LineHandoffs + r.Lock.LineReleases + r.Lock.LineStallNs));
    }

    [Fact]
    public void A_cross_package_spinner_costs_more_than_a_same_package_one()
    {
        // Two host NUMA nodes (packages) of two CPUs: the waiter on CPU 2 is across the interconnect.
        long Run(int waiterCpu)
        {
            var sim = new Simulator();
            var topo = HostTopology.Cpus(4).WithNodes(2);
            var host = new HostScheduler(sim, topo, new SchedTunables { TickJitter = SimDuration.Zero }, null, new RandomStreams(1));
            var kvm = new Kvm(host, new KvmSettings { PleHandler = "none" }, TscFrequency.FromMegahertz(2900));
            var vm = kvm.CreateVm("vm", 2, host.Topology.AllMask);
            var kernel = new GuestKernel(kvm, vm, Settings(SpinlockKind.Ticket, CacheCoherence.Directory));
            var lk = kernel.NewLock("L");
            kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(50_000), GuestAction.Release(lk), GuestAction.Compute(1_000_000)), 0, pinned: true);
            kernel.CreateThread("w", new ListProgram(GuestAction.Compute(5_000), GuestAction.Acquire(lk), GuestAction.Compute(200_000), GuestAction.Release(lk)), 1, pinned: true);
            kernel.Start(default);
            kvm.Start(vm);
            host.SetAffinity(vm.Vcpus[0].Task, 1UL << 0, 0);
            host.SetAffinity(vm.Vcpus[1].Task, 1UL << waiterCpu, 0);
            sim.RunUntil(sim.Now + SimDuration.FromMicroseconds(120));
            Assert.Equal(1, lk.LineHandoffs);
            return lk.LineHandoffNs;
        }
        var s = new GuestSettings();
        Assert.Equal(2 * s.CacheLineLocal.Ns, Run(1));  // the release's ownership request + the waiter's re-read
        Assert.Equal(2 * s.CacheLineRemote.Ns, Run(2));
    }

    [Fact]
    public void The_same_run_twice_gives_the_same_hand_offs()
    {
        static (long, long, long, string) Once()
        {
            var kit = new GuestKit(4, 4, guest: Settings(SpinlockKind.TestAndSet, CacheCoherence.Directory));
            var lk = kit.Kernel.NewLock("L");
            for (int i = 0; i < 4; i++)
                kit.Kernel.CreateThread($"t{i}", GuestKit.LockRounds(lk, 200, 2_000, 3_000), i, pinned: true);
            kit.Start();
            kit.RunUs(2_000);
            return (lk.LineHandoffNs, lk.LineReadersAtRelease, lk.Acquisitions, string.Join(",", kit.Vm.Vcpus.Select(v => v.TimeIn(VcpuTime.GuestSpin))));
        }
        var a = Once();
        Assert.True(a.Item3 > 100);
        Assert.Equal(a, Once());
    }
}

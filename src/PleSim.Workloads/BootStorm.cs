using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// The seed's "64-VCPU Windows guest takes forever to boot": every VCPU runs a thread that does a
/// fixed number of iterations of think + a short critical section under one of a few shared
/// spinlocks. The holders are running, so sleeping on a PAUSE exit only wastes time. The metric is
/// the time until every thread finished.
/// </summary>
public sealed class BootStorm
{
    private readonly List<LockLoop> _loops = [];
    private int _finished;

    public BootStorm(GuestKernel kernel, int locks, long holdNs, long thinkNs, long iterations, Action onAllDone)
    {
        // Plain locks: a Windows spinlock raises the IRQL to DISPATCH_LEVEL, which masks neither
        // the clock nor IPIs (both above it), so the interrupt flag stays set (assumption: the
        // boot storm's locks are such KSPIN_LOCKs).
        var lk = Enumerable.Range(0, Math.Max(1, locks)).Select(i => kernel.NewLock($"boot.lock{i}")).ToArray();
        for (int i = 0; i < kernel.Cpus.Length; i++)
        {
            var l = lk[i % lk.Length];
            var loop = new LockLoop(l, () => holdNs, () => thinkNs, iterations, _ =>
            {
                if (++_finished == kernel.Cpus.Length)
                {
                    CompletedAt = kernel.Kvm.Sim.Now.Ns;
                    onAllDone();
                }
            });
            _loops.Add(loop);
            kernel.CreateThread($"boot{i}", loop, i, pinned: true);
        }
    }

    /// <summary>When the last thread finished (ns since the start), or -1.</summary>
    public long CompletedAt { get; private set; } = -1;

    public long Iterations => _loops.Sum(l => l.Iterations);
}

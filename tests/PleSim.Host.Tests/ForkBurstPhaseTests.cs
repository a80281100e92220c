using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// A burst of forks at one instant from CPU 0 on a 2.6.39 host, as <c>SystemRun</c> starts VMs
/// (decision 0044): fork balancing spreads the tasks, the vslices given at fork leave the pair
/// on the fork CPU half a period out of step with every other CPU, and 2.6.39's slice — a few µs
/// under a whole number of ticks — keeps that phase for good.
/// </summary>
public class ForkBurstPhaseTests
{
    [Fact]
    public void The_pair_left_on_the_fork_cpu_runs_in_the_opposite_phase_and_stays_there()
    {
        // 4 CPUs: latency 6 ms × (1 + ilog2 4) = 18 ms. Fork order L0..L3 then H0..H3, all from CPU 0
        // at t = 0 (sched_fork places on CPU 0's queue, then wake_up_new_task balances with
        // forkexec_idx 0 — the instantaneous load — so the L go to CPUs 1, 2, 3 and then 0, the H to
        // 0, 1, 2, 3). vslice at fork (CPU 0's queue): every L with CPU 0 empty gets the whole 18 ms;
        // H0 with L3 queued there gets 9 ms; H1..H3 with two queued get 6 ms.
        // CPU 0: H0 (9 ms) before L3 (18 ms); at the 9 ms tick H0 has used its slice (8,995,610 ns,
        // calc_delta_mine's inverse weight) and reached 18 ms: L3 (put in the tree first) runs.
        // CPUs 1-3: H (6 ms) runs; at the 9 ms tick it is at 15 ms, still leftmost, picked again;
        // at 18 ms it is at 24: L runs. From then on every slice ends at its 9th tick (4.39 µs of
        // margin against 2 µs of tick jitter): L3 runs in [9 + 18k, 18 + 18k), L0..L2 in [18k, 9 + 18k).
        var kit = new HostKit(4, new SchedTunables { TickJitter = SimDuration.FromMicroseconds(2) });
        var l = new HostTask[4];
        var h = new HostTask[4];
        for (int i = 0; i < 4; i++)
            l[i] = kit.Hog($"L{i}");
        for (int i = 0; i < 4; i++)
            h[i] = kit.Hog($"H{i}");
        Assert.Equal([1, 2, 3, 0], l.Select(t => t.Cpu));
        Assert.Equal([0, 1, 2, 3], h.Select(t => t.Cpu));
        long[] forkMoves = l.Concat(h).Select(t => t.Se.NrMigrations).ToArray();
        for (int k = 0; k < 20; k++)
        {
            kit.Sim.RunUntil(new SimTime((13_500 + 18_000L * k) * 1000)); // middle of [9, 18) + 18k ms
            Assert.Same(l[3], kit.Host.Rqs[0].Curr);
            for (int c = 1; c < 4; c++)
                Assert.Same(h[c], kit.Host.Rqs[c].Curr);
            kit.Sim.RunUntil(new SimTime((22_500 + 18_000L * k) * 1000)); // middle of [18, 27) + 18k ms
            Assert.Same(h[0], kit.Host.Rqs[0].Curr);
            for (int c = 1; c < 4; c++)
                Assert.Same(l[c - 1], kit.Host.Rqs[c].Curr);
        }
        // Equal load everywhere: the balancer finds nothing to move after the forks' own placement.
        Assert.Equal(forkMoves, l.Concat(h).Select(t => t.Se.NrMigrations));
    }
}

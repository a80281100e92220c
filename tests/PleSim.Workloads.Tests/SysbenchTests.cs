using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Workloads.Tests;

/// <summary>Hand-worked counts of sysbench 0.4's threads and mutex tests on glibc low-level locks.</summary>
public class SysbenchTests
{
    private static WorkloadKit<Sysbench> Kit(int vcpus, SysbenchSettings s) =>
        new(vcpus, (kernel, done) => new Sysbench(kernel, s, new RandomStream(7, "sysbench"), done));

    [Fact]
    public void One_thread_does_max_requests_times_thread_yields_rounds_round_robin_over_the_locks()
    {
        // Requests 0, 1, 2 use locks 0, 1, 0 (req_performed % thread-locks); the fourth get_request
        // finds the budget spent. Alone, nothing contends: no futex call at all.
        var kit = Kit(1, new SysbenchSettings { NumThreads = 1, MaxRequests = 3, ThreadYields = 5, ThreadLocks = 2 });
        kit.RunUntilDone(100);
        var b = kit.Bench;
        Assert.Equal(3, b.Events);
        Assert.Equal(15, b.Yields);
        Assert.Equal(4, b.RequestMutex.Locks);
        Assert.Equal([10L, 5L], b.TestMutexes.Select(m => m.Locks).ToArray());
        Assert.Equal(0, b.ContendedLocks);
        Assert.Equal(0, kit.Kernel.Futexes.Sum(f => f.WaitCalls + f.WakeCalls));
        Assert.True(b.CompletedAt > 0);
        Assert.All(kit.Kernel.Threads, t => Assert.Equal(PleSim.Guest.ThreadState.Done, t.State));
    }

    [Fact]
    public void Two_threads_on_one_vcpu_and_one_lock_contend_through_the_futex_and_finish_every_request()
    {
        // The holder yields with the mutex held, so the other thread finds it taken and sleeps in
        // FUTEX_WAIT; each unlock that saw waiters (word 2) wakes one. All requests complete,
        // every word ends at 0 and nobody is left queued.
        var kit = Kit(1, new SysbenchSettings { NumThreads = 2, MaxRequests = 6, ThreadYields = 10, ThreadLocks = 1 });
        kit.RunUntilDone(1000);
        var b = kit.Bench;
        Assert.Equal(6, b.Events);
        Assert.Equal(60, b.Yields);
        Assert.Equal(60, b.TestMutexes[0].Locks);
        Assert.True(b.TestMutexes[0].Contended > 0);
        var f = b.TestMutexes[0].Word;
        Assert.True(f.WaitCalls > 0);
        Assert.True(f.WakeCalls > 0);
        Assert.True(f.Woken <= f.WakeCalls); // FUTEX_WAKE(1) wakes at most one
        Assert.All(kit.Kernel.Futexes, x => Assert.Equal((0, 0), (x.Value, x.Sleepers)));
    }

    [Fact]
    public void The_mutex_test_does_mutex_locks_rounds_per_thread_each_behind_a_rand_lock()
    {
        var kit = Kit(2, new SysbenchSettings { Test = SysbenchTest.Mutex, NumThreads = 3, MutexLocks = 50, MutexLoops = 100, MutexNum = 4 });
        kit.RunUntilDone(1000);
        var b = kit.Bench;
        Assert.Equal(3, b.Events); // one request per thread
        Assert.Equal(150, b.MutexRounds);
        Assert.Equal(150, b.RandomLock.Locks); // rand() takes glibc's random lock once a round
        Assert.Equal(150, b.TestMutexes.Sum(m => m.Locks));
        Assert.Equal(0, b.RequestMutex.Locks); // mutex_get_request takes no lock
        Assert.All(kit.Kernel.Futexes, x => Assert.Equal((0, 0), (x.Value, x.Sleepers)));
    }
}

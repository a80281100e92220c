using PleSim.Guest;

namespace PleSim.Guest.Tests;

/// <summary>A list of actions that lets the rwsem insert its slow path (an <see cref="IActionSink"/>).</summary>
internal sealed class SinkProgram : IThreadProgram, IActionSink
{
    private readonly List<GuestAction> _todo;

    public SinkProgram(GuestKernel k, string name, params GuestAction[] actions)
    {
        _todo = [.. actions];
        RwSemWaiter = new RwSemWaiter(k, name);
    }

    public RwSemWaiter? RwSemWaiter { get; }

    public GuestAction Next(GuestThread thread)
    {
        if (_todo.Count == 0)
            return GuestAction.Exit;
        var a = _todo[0];
        _todo.RemoveAt(0);
        return a;
    }

    public void EmitNow(params ReadOnlySpan<GuestAction> actions) => _todo.InsertRange(0, actions.ToArray());
}

public class RwSemTests
{
    private static GuestThread Thread(GuestKit kit, string name, int cpu, params GuestAction[] a) =>
        kit.Kernel.CreateThread(name, new SinkProgram(kit.Kernel, name, a), cpu, pinned: true);

    private static long At(GuestKit kit, int code) => kit.Marker.Hits.Single(h => h.Code == code).At;

    [Fact]
    public void Readers_share_the_semaphore_without_queueing()
    {
        var kit = new GuestKit(2, 2);
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "r0", 0, sem.DownRead, kit.Mark(1), GuestAction.Compute(100_000), sem.UpRead);
        Thread(kit, "r1", 1, sem.DownRead, kit.Mark(2), GuestAction.Compute(100_000), sem.UpRead);
        kit.Start();
        kit.RunUs(50);
        Assert.Equal(2, sem.Readers);
        Assert.Null(sem.Writer);
        kit.RunUs(200);
        Assert.Equal(0, sem.Readers);
        Assert.Equal(2, sem.ReadAcquisitions);
        Assert.Equal(0, sem.ReadSlow);
        Assert.Equal(0, sem.WaitLock.Acquisitions); // fast paths only: wait_lock never taken
    }

    [Fact]
    public void A_writer_waits_for_the_readers_and_blocks_later_readers()
    {
        var kit = new GuestKit(3, 3);
        var sem = new GuestRwSem(kit.Kernel, "sem");
        // r0 reads 0..100 us; w arrives at 10 us; r1 arrives at 20 us, while w waits.
        Thread(kit, "r0", 0, sem.DownRead, GuestAction.Compute(100_000), kit.Mark(1), sem.UpRead);
        Thread(kit, "w", 1, GuestAction.Compute(10_000), sem.DownWrite, kit.Mark(2), GuestAction.Compute(30_000), kit.Mark(3), sem.UpWrite);
        Thread(kit, "r1", 2, GuestAction.Compute(20_000), sem.DownRead, kit.Mark(4), sem.UpRead);
        kit.Start();
        kit.RunUs(50);
        Assert.Equal(1, sem.Readers);          // r1 did not join r0: a writer is queued
        Assert.Equal(2, sem.Waiting);
        Assert.Equal("w", sem.WaiterAt(0)!.Name);
        Assert.Equal("r1", sem.WaiterAt(1)!.Name);
        kit.RunUs(1_000);
        Assert.True(At(kit, 2) > At(kit, 1), "the writer got the semaphore after the reader released it");
        Assert.True(At(kit, 4) > At(kit, 3), "the later reader got it after the writer released it");
        Assert.Equal(1, sem.WriteSlow);
        Assert.Equal(1, sem.ReadSlow);
        Assert.Equal(2, sem.Grants);
        Assert.Equal(0, sem.Waiting);
    }

    [Fact]
    public void Up_write_wakes_the_run_of_readers_at_the_head_and_stops_at_a_writer()
    {
        var kit = new GuestKit(5, 5);
        var sem = new GuestRwSem(kit.Kernel, "sem");
        // w0 writes 0..200 us; the queue forms as r1 (10 us), r2 (20 us), w3 (30 us), r4 (40 us).
        Thread(kit, "w0", 0, sem.DownWrite, GuestAction.Compute(200_000), sem.UpWrite);
        Thread(kit, "r1", 1, GuestAction.Compute(10_000), sem.DownRead, kit.Mark(1), GuestAction.Compute(50_000), sem.UpRead);
        Thread(kit, "r2", 2, GuestAction.Compute(20_000), sem.DownRead, kit.Mark(2), GuestAction.Compute(50_000), sem.UpRead);
        Thread(kit, "w3", 3, GuestAction.Compute(30_000), sem.DownWrite, kit.Mark(3), GuestAction.Compute(10_000), sem.UpWrite);
        Thread(kit, "r4", 4, GuestAction.Compute(40_000), sem.DownRead, kit.Mark(4), sem.UpRead);
        kit.Start();
        kit.RunUs(150);
        Assert.Equal(4, sem.Waiting);
        kit.RunUs(80); // w0 released at ~200 us: r1 and r2 hold it together, w3 and r4 still wait
        Assert.Equal(2, sem.Readers);
        Assert.Equal(2, sem.Waiting);
        Assert.Equal("w3", sem.WaiterAt(0)!.Name);
        kit.RunUs(1_000);
        Assert.True(At(kit, 3) > Math.Max(At(kit, 1), At(kit, 2)));
        Assert.True(At(kit, 4) > At(kit, 3), "the reader behind the writer waits for it (FIFO)");
        Assert.Equal(0, sem.Readers);
        Assert.Null(sem.Writer);
    }

    [Fact]
    public void Up_read_without_a_reader_is_an_error()
    {
        var kit = new GuestKit(1, 1);
        var sem = new GuestRwSem(kit.Kernel, "sem");
        Thread(kit, "t", 0, sem.UpRead);
        kit.Start();
        Assert.Throws<InvalidOperationException>(() => kit.RunUs(100));
    }

    [Fact]
    public void A_shootdown_ipis_exactly_the_vcpus_running_the_same_mm()
    {
        var kit = new GuestKit(4, 4);
        // mm 1 on VCPUs 0 and 1, mm 2 on VCPUs 2 and 3; VCPU 0 flushes mm 1.
        kit.Kernel.CreateThread("a0", new ListProgram(GuestAction.Compute(20_000), GuestAction.Shootdown(freedTables: false), GuestAction.Compute(200_000)), 0, pinned: true, mm: 1);
        kit.Kernel.CreateThread("a1", new ListProgram(GuestAction.Compute(300_000)), 1, pinned: true, mm: 1);
        kit.Kernel.CreateThread("b2", new ListProgram(GuestAction.Compute(300_000)), 2, pinned: true, mm: 2);
        kit.Kernel.CreateThread("b3", new ListProgram(GuestAction.Compute(300_000)), 3, pinned: true, mm: 2);
        kit.Start();
        kit.RunUs(150);
        var c = kit.Kernel.Cpus;
        Assert.Equal(1, c[0].Shootdowns);
        Assert.Equal(1, c[0].ShootdownIpis);
        Assert.Equal(1, c[1].CallFunctionsHandled);
        Assert.Equal(0, c[2].CallFunctionsHandled);
        Assert.Equal(0, c[3].CallFunctionsHandled);
    }

    [Fact]
    public void Exec_moves_the_running_vcpu_to_the_new_mm()
    {
        var kit = new GuestKit(2, 2);
        var cb = new ExecCallback(kit.Kernel, 7);
        kit.Kernel.CreateThread("p", new ListProgram(GuestAction.Call(cb, 0), GuestAction.Compute(100_000)), 0, pinned: true, mm: 3);
        kit.Start();
        kit.RunUs(50);
        Assert.Equal(7, kit.Kernel.Cpus[0].ActiveMm);
        Assert.Equal(7, kit.Kernel.Threads[0].Mm);
    }

    [Fact]
    public void A_wake_up_left_from_before_the_slow_path_does_not_end_its_wait()
    {
        // Decision 0089: r is woken while it runs (a stale wake_up_process), then finds the semaphore
        // write-held. Its slow path sets its state first, so it sleeps until the writer's grant.
        var kit = new GuestKit(3, 3);
        var sem = new GuestRwSem(kit.Kernel, "sem");
        var r = new SinkProgram(kit.Kernel, "r", GuestAction.Compute(50_000), sem.DownRead, kit.Mark(1), sem.UpRead);
        Thread(kit, "w", 0, sem.DownWrite, GuestAction.Compute(200_000), kit.Mark(2), sem.UpWrite);
        Thread(kit, "s", 1, GuestAction.Signal(r.RwSemWaiter!.Queue));
        kit.Kernel.CreateThread("r", r, 2, pinned: true);
        kit.Start();
        kit.RunUs(1_000);
        Assert.True(At(kit, 1) > At(kit, 2), "the reader got the semaphore only after the writer released it");
        Assert.Equal(1, sem.ReadSlow);
        Assert.Equal(0, r.RwSemWaiter.Queue.Pending);
    }

    private sealed class ExecCallback(GuestKernel k, int mm) : IGuestCallback
    {
        public void Run(GuestThread thread, int code) => k.ExecMm(thread, mm);
    }
}

namespace PleSim.Guest.Tests;

/// <summary>A guest action keeps its one object in a shared field (Actions.cs): each property must read only its own.</summary>
public class GuestActionTests
{
    [Fact]
    public void Each_object_property_gives_only_the_object_the_action_was_built_with()
    {
        var kit = new GuestKit(1, 1, handler: "none");
        var lk = kit.Kernel.NewLock("L");
        var q = kit.Kernel.NewWaitQueue("Q");
        var m = kit.Kernel.NewMutex("M");

        var acquire = GuestAction.Acquire(lk);
        Assert.Equal(ActionKind.Lock, acquire.Kind);
        Assert.Same(lk, acquire.Lock);
        Assert.Null(acquire.Queue);
        Assert.Null(acquire.Mutex);
        Assert.Null(acquire.Callback);

        var wait = GuestAction.Wait(q);
        Assert.Same(q, wait.Queue);
        Assert.Null(wait.Lock);

        var call = GuestAction.Call(kit.Marker, 7);
        Assert.Same(kit.Marker, call.Callback);
        Assert.Equal(7, call.Code);
        Assert.Null(call.Futex);
        Assert.Null(call.Fd);

        var compute = GuestAction.Compute(1234, userMode: true);
        Assert.Equal(1234, compute.Ns);
        Assert.True(compute.UserMode);
        Assert.Null(compute.Lock);

        Assert.Same(m, GuestAction.MutexLock(m).Mutex);
        Assert.Equal(GuestAction.Acquire(lk), acquire);
        Assert.NotEqual(GuestAction.Release(lk), acquire);
    }

    [Fact]
    public void An_action_names_at_most_one_object()
    {
        var kit = new GuestKit(1, 1, handler: "none");
        var lk = kit.Kernel.NewLock("L");
        var q = kit.Kernel.NewWaitQueue("Q");
        Assert.Throws<ArgumentException>(() => new GuestAction(ActionKind.Lock, Lock: lk, Queue: q));
        Assert.Throws<ArgumentException>(() => GuestAction.Acquire(lk) with { Queue = q });
        // Replacing or clearing the same object is fine.
        var other = kit.Kernel.NewLock("L2");
        Assert.Same(other, (GuestAction.Acquire(lk) with { Lock = other }).Lock);
        var cleared = GuestAction.Acquire(lk) with { Lock = null };
        Assert.Null(cleared.Lock);
        Assert.Same(q, (cleared with { Queue = q }).Queue);
    }

    [Fact]
    public void An_action_is_at_most_24_bytes() =>
        // The dispatch copies every action out of its program's ring; a 32-byte copy stalled the
        // next load of Kind (bench/RESULTS.md, 2026-11-26 sixth session).
        Assert.True(System.Runtime.CompilerServices.Unsafe.SizeOf<GuestAction>() <= 24, $"{System.Runtime.CompilerServices.Unsafe.SizeOf<GuestAction>()} bytes");
}

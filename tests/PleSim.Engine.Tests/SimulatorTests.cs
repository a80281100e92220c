using PleSim.Engine;

namespace PleSim.Engine.Tests;

/// <summary>Records every firing as (time, arg).</summary>
internal sealed class Recorder : IEventHandler
{
    public List<(long Time, long Arg)> Fired { get; } = [];
    public Action<Simulator, long>? Then { get; set; }

    public void OnEvent(Simulator sim, long arg)
    {
        Fired.Add((sim.Now.Ns, arg));
        Then?.Invoke(sim, arg);
    }
}

public class SimulatorTests
{
    private static SimTime T(long ns) => new(ns);

    [Fact]
    public void Events_fire_in_time_order()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var id = sim.Register(r);
        sim.Schedule(T(30), id, 3);
        sim.Schedule(T(10), id, 1);
        sim.Schedule(T(20), id, 2);
        sim.RunToCompletion();
        Assert.Equal([(10L, 1L), (20L, 2L), (30L, 3L)], r.Fired);
    }

    [Fact]
    public void Equal_times_fire_in_the_order_they_were_scheduled()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var id = sim.Register(r);
        for (int i = 0; i < 100; i++)
            sim.Schedule(T(5), id, i);
        sim.RunToCompletion();
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), r.Fired.Select(f => f.Arg));
    }

    [Fact]
    public void An_event_scheduled_for_now_during_a_firing_runs_after_the_current_time_peers()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var id = sim.Register(r);
        r.Then = (s, arg) =>
        {
            if (arg == 1)
                s.Schedule(s.Now, id, 99);
        };
        sim.Schedule(T(5), id, 1);
        sim.Schedule(T(5), id, 2);
        sim.RunToCompletion();
        Assert.Equal([1L, 2L, 99L], r.Fired.Select(f => f.Arg));
    }

    [Fact]
    public void RunUntil_fires_events_at_the_limit_and_leaves_later_ones_pending()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var id = sim.Register(r);
        sim.Schedule(T(10), id, 1);
        sim.Schedule(T(20), id, 2);
        sim.Schedule(T(21), id, 3);
        Assert.Equal(2, sim.RunUntil(T(20)));
        Assert.Equal(T(20), sim.Now);
        Assert.Equal(1, sim.PendingCount);
        Assert.Equal(1, sim.RunUntil(T(100)));
        Assert.Equal(T(100), sim.Now);
    }

    [Fact]
    public void RunUntil_with_no_events_advances_the_clock()
    {
        var sim = new Simulator();
        sim.RunUntil(T(1_000));
        Assert.Equal(T(1_000), sim.Now);
        Assert.Equal(0, sim.RunUntil(T(1_000)));
    }

    [Fact]
    public void RunUntil_cannot_go_backwards()
    {
        var sim = new Simulator();
        sim.RunUntil(T(50));
        Assert.Throws<ArgumentOutOfRangeException>(() => sim.RunUntil(T(49)));
    }

    [Fact]
    public void Scheduling_in_the_past_is_refused()
    {
        var sim = new Simulator();
        var id = sim.Register(new Recorder());
        sim.RunUntil(T(50));
        Assert.Throws<ArgumentOutOfRangeException>(() => sim.Schedule(T(49), id));
    }

    [Fact]
    public void Stop_ends_the_run_after_the_current_event_at_its_time()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var id = sim.Register(r);
        r.Then = (s, arg) =>
        {
            if (arg == 2)
                s.Stop();
        };
        for (int i = 1; i <= 4; i++)
            sim.Schedule(T(i * 10), id, i);
        sim.RunUntil(T(1_000));
        Assert.Equal(T(20), sim.Now);
        Assert.Equal(2, r.Fired.Count);
        sim.RunUntil(T(1_000)); // a later RunUntil carries on
        Assert.Equal(4, r.Fired.Count);
    }

    [Fact]
    public void A_cancelled_timer_does_not_fire()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var timer = new HrTimer(sim, r, 7);
        timer.Start(T(100));
        Assert.True(timer.IsArmed);
        Assert.True(timer.Cancel());
        Assert.False(timer.IsArmed);
        Assert.False(timer.Cancel());
        Assert.Equal(0, sim.PendingCount);
        sim.RunToCompletion();
        Assert.Empty(r.Fired);
        Assert.Equal(0, sim.EventsFired);
    }

    [Fact]
    public void Rearming_a_timer_moves_it()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var timer = new HrTimer(sim, r, 7);
        timer.Start(T(100));
        timer.Start(T(50));
        timer.Start(T(300));
        Assert.Equal(1, sim.PendingCount);
        sim.RunToCompletion();
        Assert.Equal([(300L, 7L)], r.Fired);
        Assert.False(timer.IsArmed);
    }

    [Fact]
    public void A_timer_can_be_rearmed_from_its_own_callback()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var timer = new HrTimer(sim, r);
        r.Then = (s, _) =>
        {
            if (r.Fired.Count < 3)
                timer.StartAfter(new SimDuration(10));
        };
        timer.Start(T(5));
        sim.RunToCompletion();
        Assert.Equal([5L, 15L, 25L], r.Fired.Select(f => f.Time));
    }

    [Fact]
    public void Forward_skips_missed_periods_like_hrtimer_forward()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var timer = new HrTimer(sim, r);
        timer.Start(T(1_000));
        sim.RunUntil(T(1_000));
        sim.RunUntil(T(3_500));
        long overruns = timer.Forward(sim.Now, new SimDuration(1_000));
        Assert.Equal(3, overruns);
        Assert.Equal(T(4_000), timer.Expires);
    }

    [Fact]
    public void Many_cancellations_are_compacted_away()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var timers = Enumerable.Range(0, 20_000).Select(i => new HrTimer(sim, r, i)).ToList();
        foreach (var t in timers)
            t.Start(T(1_000 + t.Arg));
        foreach (var t in timers.Where(t => t.Arg % 4 != 0))
            t.Cancel();
        Assert.Equal(5_000, sim.PendingCount);
        sim.RunToCompletion();
        Assert.Equal(5_000, r.Fired.Count);
        Assert.All(r.Fired, f => Assert.Equal(0, f.Arg % 4));
        Assert.Equal(r.Fired.OrderBy(f => f.Time).ToList(), r.Fired);
    }

    [Fact]
    public void Running_out_of_sequence_numbers_renumbers_without_changing_the_order()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var id = sim.Register(r);
        sim.Schedule(T(10), id, 1);
        sim.Schedule(T(10), id, 2);
        sim.SetNextSequenceForTest((1L << 39) - 2);
        sim.Schedule(T(10), id, 3);
        sim.Schedule(T(5), id, 4);
        sim.Schedule(T(10), id, 5); // this one triggers the renumbering
        sim.RunToCompletion();
        Assert.Equal([4L, 1L, 2L, 3L, 5L], r.Fired.Select(f => f.Arg));
    }

    [Fact]
    public void A_failing_invariant_stops_the_run_with_its_name_and_time()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var id = sim.Register(r);
        sim.Invariants.Register(new CountBelow(r, 3));
        sim.Invariants.Enable();
        for (int i = 0; i < 5; i++)
            sim.Schedule(T(10 * (i + 1)), id, i);
        var e = Assert.Throws<InvariantViolationException>(() => sim.RunToCompletion());
        Assert.Equal("fewer than 3 events", e.Invariant);
        Assert.Equal(T(30), e.At);
    }

    [Fact]
    public void Invariants_do_not_run_until_enabled()
    {
        var sim = new Simulator();
        var r = new Recorder();
        var id = sim.Register(r);
        sim.Invariants.Register(new CountBelow(r, 1));
        sim.Schedule(T(1), id);
        sim.RunToCompletion();
        Assert.Equal(0, sim.Invariants.ChecksRun);
    }

    private sealed class CountBelow(Recorder r, int limit) : IInvariant
    {
        public string Name => $"fewer than {limit} events";
        public string? Check() => r.Fired.Count < limit ? null : $"{r.Fired.Count} events fired";
    }
}

using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>Watching a run's progress advances it in slices; the run must compute exactly the same.</summary>
public class ProgressTests
{
    [Theory]
    [InlineData("kvm", "lock-bench.yaml")]
    [InlineData("kvm", "boot-storm.yaml")]   // ends by Stop() inside a slice
    [InlineData("workloads", "pingpong.yaml")]
    public void A_run_watched_in_slices_fires_the_same_events_and_reports_growing_times(string dir, string file)
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", dir, file), [Override.Parse("duration=40ms"), Override.Parse("warmup=5ms")]);
        var plain = Runner.RunOne(s, 7);
        var reached = new List<long>();
        var watched = Runner.RunOne(s, 7, new RunOptions { Progress = (_, t) => reached.Add(t.Ns), ProgressEvery = SimDuration.FromMicroseconds(700) });
        Assert.True(plain.Error is null, plain.Error);
        Assert.Equal(plain.EventDigest, watched.EventDigest);
        Assert.Equal(plain.Events, watched.Events);
        Assert.Equal(ResultJson.Write(s, [plain]), ResultJson.Write(s, [watched]));
        Assert.NotEmpty(reached);
        Assert.True(reached.Zip(reached.Skip(1)).All(p => p.First <= p.Second), "progress went backwards");
    }
}

/// <summary><c>run --timeline</c>: the window measured in slices, each on its own, from the same trajectory.</summary>
public class TimelineTests
{
    [Theory]
    [InlineData("kvm", "lock-bench.yaml")]
    [InlineData("kvm", "boot-storm.yaml")]   // ends by Stop() inside a slice
    public void Slices_follow_the_same_trajectory_and_their_counts_add_up_to_the_window(string dir, string file)
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", dir, file), [Override.Parse("duration=40ms"), Override.Parse("warmup=5ms")]);
        var plain = Runner.RunOne(s, 3);
        var slices = Timeline.Run(s, 3, SimDuration.FromMilliseconds(15));
        Assert.True(plain.Error is null, plain.Error);
        Assert.All(slices, w => Assert.Null(w.Result.Error));
        // Resetting statistics at each slice changes nothing the model computes.
        Assert.Equal(plain.EventDigest, slices[^1].Result.EventDigest);
        Assert.Equal(plain.Events, slices[^1].Result.Events);
        Assert.Equal(5_000_000, slices[0].From.Ns);
        Assert.All(slices.Zip(slices.Skip(1)), p => Assert.Equal(p.First.To, p.Second.From));
        Assert.True(slices.Length <= 3);
        if (file == "lock-bench.yaml")
        {
            // A rate is a count over the slice: the slices' counts add up to the whole window's.
            const string m = "bench.lock_iterations_per_second";
            double whole = plain.Metric(m)!.Value * s.Duration.Ns;
            double sum = slices.Sum(w => w.Result.Metric(m)!.Value * (w.To.Ns - w.From.Ns));
            Assert.Equal(3, slices.Length);
            Assert.Equal(40_000_000 + 5_000_000, slices[^1].To.Ns);
            Assert.Equal(whole, sum, whole * 1e-9);
        }
    }

    [Fact]
    public void A_step_that_cuts_too_many_slices_is_counted_before_anything_runs()
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "kvm", "lock-bench.yaml"), [Override.Parse("duration=1s")]);
        Assert.Equal(10, Timeline.Windows(s, SimDuration.FromMilliseconds(100)));
        Assert.Equal(4, Timeline.Windows(s, SimDuration.FromMilliseconds(300)));
        Assert.True(Timeline.Windows(s, SimDuration.FromMicroseconds(1)) > Timeline.MaxWindows);
    }
}

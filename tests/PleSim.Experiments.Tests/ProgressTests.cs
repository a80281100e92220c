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

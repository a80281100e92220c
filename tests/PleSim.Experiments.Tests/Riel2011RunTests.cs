using PleSim.Experiments.Reproduce;

namespace PleSim.Experiments.Tests;

public class Riel2011RunTests
{
    [Fact]
    public void The_grid_gives_the_same_runs_on_one_core_and_on_two()
    {
        // The runs are handed out one at a time in longest-first order and the cells' scenarios are
        // loaded in parallel: neither may change which seed a cell's run gets or what it computes.
        var s = Riel2011.LoadScenario(null, cgroups: false, quick: true);
        var one = Riel2011.Run(s, 2, parallelism: 1);
        int reported = 0;
        var two = Riel2011.Run(s, 2, parallelism: 2, onRunDone: (_, _) => Interlocked.Increment(ref reported));
        Assert.Equal(one.Count * 2, reported);
        Assert.Equal(one.Select(c => c.Spec), two.Select(c => c.Spec));
        for (int c = 0; c < one.Count; c++)
        {
            for (int r = 0; r < 2; r++)
            {
                var (a, b) = (one[c].Runs[r], two[c].Runs[r]);
                Assert.Null(a.Error);
                Assert.Equal((a.Seed, a.Events, a.EventDigest), (b.Seed, b.Events, b.EventDigest));
                Assert.Equal(a.Metrics, b.Metrics);
            }
        }
        Assert.NotEqual(one[0].Runs[0].Seed, one[0].Runs[1].Seed);
    }
}

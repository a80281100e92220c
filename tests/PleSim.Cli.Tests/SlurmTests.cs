using PleSim.Experiments.Sweeps;

namespace PleSim.Cli.Tests;

/// <summary>
/// The Slurm path on a real one-node Slurm (started by deploy/slurm/start-cluster.sh, which
/// installs the Debian packages if needed): submit-sweep.sh submits a 3-task job array and the
/// merge step with <c>sbatch --wait</c>, and the merged store equals the unsharded sweep's.
/// Skipped, with the reason, only where Slurm cannot run (not root, no apt).
/// </summary>
public sealed class SlurmTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-slurm-{Guid.NewGuid():N}");

    public SlurmTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SkippableFact]
    public void A_job_array_sweep_merged_on_slurm_equals_the_unsharded_sweep()
    {
        var start = Prerequisites.Shell(CliTests.Repo("deploy", "slurm", "start-cluster.sh"), []);
        Skip.If(start.Code == 3, start.Output.Trim());
        Assert.True(start.Code == 0, "start-cluster.sh failed:\n" + start.Output);
        bool startedHere = !start.Output.Contains("already running", StringComparison.Ordinal);
        try
        {
            var state = Environment.GetEnvironmentVariable("PLESIM_SLURM_STATE") ?? "/tmp/plesim-slurm";
            var conf = File.ReadAllText(Path.Combine(state, "env")).Trim().Split('=', 2)[1];
            var env = new Dictionary<string, string>
            {
                ["SLURM_CONF"] = conf,
                ["PLESIM"] = $"dotnet {Path.Combine(AppContext.BaseDirectory, "plesim.dll")}",
            };
            var hold = CliTests.Repo("scenarios", "engine-hold.yaml");
            var slurmOut = Path.Combine(_dir, "slurm");
            var submit = Prerequisites.Shell(CliTests.Repo("deploy", "slurm", "submit-sweep.sh"),
                ["--wait", "--shards", "3", hold, slurmOut, .. SweepCliTests.Grid], env, timeoutSeconds: 300);
            var logs = string.Join("\n", Directory.Exists(slurmOut) ? Directory.GetFiles(slurmOut, "*.out").Select(f => $"== {f}\n{File.ReadAllText(f)}") : []);
            Assert.True(submit.Code == 0, $"submit-sweep.sh failed:\n{submit.Output}\n{logs}");
            Assert.Contains("sweep array job:", submit.Output, StringComparison.Ordinal);
            for (int k = 1; k <= 3; k++)
                Assert.True(File.Exists(Path.Combine(slurmOut, $"shard-{k}-of-3.sqlite")), $"shard {k} store missing\n{logs}");
            Assert.Contains("merged 12 run(s) of 4 point(s) from 3 store(s)", logs, StringComparison.Ordinal);

            var (code, _, err) = SweepCliTests.Plesim(["sweep", hold, .. SweepCliTests.Grid, "--out", Path.Combine(_dir, "single")]);
            Assert.True(code == 0, err);
            Assert.Equal(SweepCliTests.Rows(Path.Combine(_dir, "single", ResultStore.FileName)), SweepCliTests.Rows(Path.Combine(slurmOut, ResultStore.FileName)));
        }
        finally
        {
            if (startedHere)
                Prerequisites.Shell(CliTests.Repo("deploy", "slurm", "stop-cluster.sh"), []);
        }
    }
    [SkippableFact]
    public void The_catalog_as_a_job_array_then_merge_and_resume_gives_the_in_memory_scorecard()
    {
        var start = Prerequisites.Shell(CliTests.Repo("deploy", "slurm", "start-cluster.sh"), []);
        Skip.If(start.Code == 3, start.Output.Trim());
        Assert.True(start.Code == 0, "start-cluster.sh failed:\n" + start.Output);
        bool startedHere = !start.Output.Contains("already running", StringComparison.Ordinal);
        try
        {
            var state = Environment.GetEnvironmentVariable("PLESIM_SLURM_STATE") ?? "/tmp/plesim-slurm";
            var conf = File.ReadAllText(Path.Combine(state, "env")).Trim().Split('=', 2)[1];
            var env = new Dictionary<string, string>
            {
                ["SLURM_CONF"] = conf,
                ["PLESIM"] = $"dotnet {Path.Combine(AppContext.BaseDirectory, "plesim.dll")}",
            };
            var file = CatalogCliTests.TinyCaseFile(Path.Combine(_dir, "cases"));
            var slurmOut = Path.Combine(_dir, "catalog");
            var submit = Prerequisites.Shell(CliTests.Repo("deploy", "slurm", "submit-catalog.sh"),
                ["--wait", "--shards", "2", file, slurmOut, "--quick"], env, timeoutSeconds: 300);
            var logs = string.Join("\n", Directory.Exists(slurmOut) ? Directory.GetFiles(slurmOut, "*.out").Select(f => $"== {f}\n{File.ReadAllText(f)}") : []);
            Assert.True(submit.Code == 0, $"submit-catalog.sh failed:\n{submit.Output}\n{logs}");
            Assert.Contains("catalog array job:", submit.Output, StringComparison.Ordinal);
            for (int k = 1; k <= 2; k++)
                Assert.True(File.Exists(Path.Combine(slurmOut, "tiny-lock", $"shard-{k}-of-2.sqlite")), $"shard {k} store missing\n{logs}");
            Assert.Contains("0 run(s) done now, 12 were already stored", logs, StringComparison.Ordinal);
            var (code, memory, err) = SweepCliTests.Plesim("reproduce", file, "--quick", "--json", "-j", "1");
            Assert.True(code == 0, err);
            Assert.Equal(CatalogCliTests.WithoutTimings(memory), CatalogCliTests.WithoutTimings(File.ReadAllText(Path.Combine(slurmOut, "catalog.json"))));
        }
        finally
        {
            if (startedHere)
                Prerequisites.Shell(CliTests.Repo("deploy", "slurm", "stop-cluster.sh"), []);
        }
    }
}

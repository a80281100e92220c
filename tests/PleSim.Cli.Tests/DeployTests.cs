using YamlDotNet.RepresentationModel;

namespace PleSim.Cli.Tests;

/// <summary>The Kubernetes manifests agree with how plesim shards (they cannot run in CI).</summary>
public class DeployTests
{
    [Fact]
    public void The_indexed_job_has_as_many_completions_as_shards_and_valid_sweep_options()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(CliTests.Repo("deploy", "k8s", "sweep-job.yaml"))));
        var job = stream.Documents.Select(d => (YamlMappingNode)d.RootNode).Single(d => d["kind"].ToString() == "Job");
        var spec = (YamlMappingNode)job["spec"];
        Assert.Equal("Indexed", spec["completionMode"].ToString());
        var container = (YamlMappingNode)((YamlSequenceNode)((YamlMappingNode)((YamlMappingNode)spec["template"])["spec"])["containers"]).Children[0];
        var args = ((YamlSequenceNode)container["args"]).Children.Select(a => a.ToString()).ToList();
        Assert.Equal("sweep", args[0]);
        int shards = int.Parse(args[args.IndexOf("--shard-count") + 1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(shards, int.Parse(spec["completions"].ToString(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(shards, int.Parse(spec["parallelism"].ToString(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("--resume", args);
        // The swept keys exist in the shipped scenario the ConfigMap is made from.
        var sets = args.Select((a, i) => (a, i)).Where(x => x.a == "--set").Select(x => args[x.i + 1]).ToArray();
        var plan = PleSim.Experiments.Sweeps.SweepPlan.Create(CliTests.Repo("scenarios", "riel-2011", "amqp.yaml"), sets.Select(PleSim.Experiments.Sweeps.SweepSpec.ParseAxis));
        Assert.Equal(8, plan.Points.Count);
    }

    [Fact]
    public void The_slurm_array_numbers_tasks_like_plesim_numbers_shards_from_1()
    {
        var submit = File.ReadAllText(CliTests.Repo("deploy", "slurm", "submit-sweep.sh"));
        Assert.Contains("--array=\"1-${shards}\"", submit, StringComparison.Ordinal);
        // Task K of an array 1-N is shard K of N.
        var shard = PleSim.Experiments.Sweeps.Shard.FromEnvironment(
            n => n switch { "SLURM_ARRAY_TASK_ID" => "3", "SLURM_ARRAY_TASK_MIN" => "1", "SLURM_ARRAY_TASK_COUNT" => "4", _ => null }, null);
        Assert.Equal("3/4", shard.ToString());
        Assert.Equal("shard-3-of-4.sqlite", shard!.Value.StoreFileName);
    }
    [Fact]
    public void The_catalog_sbatch_script_runs_array_tasks_as_shards_then_merges_and_prints_the_scorecard()
    {
        var submit = File.ReadAllText(CliTests.Repo("deploy", "slurm", "submit-catalog.sh"));
        Assert.Contains("--array=\"1-${shards}\"", submit, StringComparison.Ordinal);
        // The array script run as Slurm runs it (its environment), without a scheduler.
        var dir = Path.Combine(Path.GetTempPath(), $"plesim-catsbatch-{Guid.NewGuid():N}");
        try
        {
            var file = CatalogCliTests.TinyCaseFile(Path.Combine(dir, "cases"));
            var outDir = Path.Combine(dir, "out");
            var plesim = $"dotnet {Path.Combine(AppContext.BaseDirectory, "plesim.dll")}";
            var script = CliTests.Repo("deploy", "slurm", "catalog.sbatch");
            foreach (var task in new[] { "1", "2" })
            {
                var env = new Dictionary<string, string>
                {
                    ["PLESIM"] = plesim,
                    ["SLURM_ARRAY_TASK_ID"] = task,
                    ["SLURM_ARRAY_TASK_MIN"] = "1",
                    ["SLURM_ARRAY_TASK_COUNT"] = "2",
                };
                var shard = Prerequisites.Shell(script, [file, outDir, "--quick"], env, timeoutSeconds: 300);
                Assert.True(shard.Code == 0, shard.Output);
                Assert.True(File.Exists(Path.Combine(outDir, "tiny-lock", $"shard-{task}-of-2.sqlite")), shard.Output);
            }
            var final = Prerequisites.Shell(script, [file, outDir, "--quick"], new Dictionary<string, string> { ["PLESIM"] = plesim }, timeoutSeconds: 300);
            Assert.True(final.Code == 0, final.Output);
            Assert.Contains("tiny-lock: merged 12 run(s) of 4 point(s) from 2 store(s)", final.Output, StringComparison.Ordinal);
            Assert.Contains("0 run(s) done now, 12 were already stored", final.Output, StringComparison.Ordinal);
            Assert.Contains("Verdict: ", final.Output, StringComparison.Ordinal);
            var (code, memory, err) = SweepCliTests.Plesim("reproduce", file, "--quick", "--json", "-j", "1");
            Assert.True(code == 0, err);
            Assert.Equal(CatalogCliTests.WithoutTimings(memory), CatalogCliTests.WithoutTimings(File.ReadAllText(Path.Combine(outDir, "catalog.json"))));
        }
        finally
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, true);
        }
    }
}

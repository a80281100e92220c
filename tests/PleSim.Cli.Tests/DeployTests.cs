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
}

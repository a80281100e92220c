using PleSim.Experiments.Compare;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Reporting.Tests;

/// <summary>
/// <c>plesim compare</c> names a policy that moved host CPU between VMs: the measured VM's gain is then
/// partly CPU taken from another VM, which the throughput column alone does not show.
/// </summary>
public class CompareCpuShiftTests
{
    private static readonly Scenario LockBench = ScenarioLoader.LoadFile(Repo("scenarios", "kvm", "lock-bench.yaml")); // VMs bench and loops

    private static string Repo(params string[] parts)
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "PleSim.slnx")))
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("repository root not found");
        return Path.Combine([dir, .. parts]);
    }

    private static RunResult Run(ulong seed, double bench, double loops, double rate) =>
        new RunResult { Seed = seed }.AddMetric("bench.cpus_used", bench).AddMetric("loops.cpus_used", loops).AddMetric("bench.rate", rate);

    private static PolicyComparisonResult Result(params (string Name, RunResult[] Runs)[] outcomes) =>
        new("two.yaml", "two", "bench.rate", [1, 2], [.. outcomes.Select(o => new PolicyOutcome(new PolicySpec(o.Name, "set", []), LockBench, o.Runs))]);

    [Fact]
    public void A_policy_that_gave_the_measured_vm_cpu_another_vm_lost_is_named_with_both_shifts()
    {
        var c = Result(
            ("a", [Run(1, 1.8, 2.2, 100), Run(2, 1.8, 2.2, 100)]),
            ("b", [Run(1, 2.5, 1.5, 150), Run(2, 2.4, 1.6, 140)]),  // +0.65 / −0.65
            ("c", [Run(1, 1.85, 2.15, 120), Run(2, 1.8, 2.2, 120)])); // +0.025: below the threshold
        var line = Assert.Single(CompareReport.CpuShiftNotes(c));
        Assert.StartsWith("Under b, bench used +0.65 CPUs against a (1.80 → 2.45) and loops −0.65:", line, StringComparison.Ordinal);
        Assert.Contains("host CPU moved between the VMs", line, StringComparison.Ordinal);
    }

    [Fact]
    public void A_shift_without_an_opposite_shift_elsewhere_or_a_metric_of_no_vm_gives_no_note()
    {
        // Both VMs gained (idle CPU taken up): nothing was taken from the other VM.
        Assert.Empty(CompareReport.CpuShiftNotes(Result(("a", [Run(1, 1.0, 1.0, 1)]), ("b", [Run(1, 2.0, 2.0, 1)]))));
        var noVm = new PolicyComparisonResult("two.yaml", "two", "events", [1], [
            new PolicyOutcome(new PolicySpec("a", "set", []), LockBench, [Run(1, 1.0, 3.0, 1)]),
            new PolicyOutcome(new PolicySpec("b", "set", []), LockBench, [Run(1, 3.0, 1.0, 1)])]);
        Assert.Empty(CompareReport.CpuShiftNotes(noVm));
    }

    [Fact]
    public void The_json_and_csv_carry_every_vms_cpus()
    {
        var c = Result(("a", [Run(1, 1.8, 2.2, 100)]), ("b", [Run(1, 2.5, 1.5, 150)]));
        Assert.Contains("\"cpus_used\":{\"bench\":2.5,\"loops\":1.5}", c.ToJson().Replace(" ", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal), StringComparison.Ordinal);
        var csv = c.ToCsv().Split('\n');
        Assert.EndsWith(",bench.cpus_used,loops.cpus_used", csv[0], StringComparison.Ordinal);
        Assert.EndsWith(",2.5,1.5", csv[2], StringComparison.Ordinal);
    }
}

using System.CommandLine;
using PleSim.Experiments.Running;

namespace PleSim.Cli.Commands;

/// <summary><c>plesim metrics [SCENARIO]</c>: every metric with its unit and a one-line definition (all families, or the names a scenario reports).</summary>
public static class MetricsCommand
{
    public static Command Create(CliContext ctx)
    {
        var file = new Argument<string?>("scenario") { Description = "Scenario file (YAML); without it, every metric family is listed", Arity = ArgumentArity.ZeroOrOne };
        var set = CommonOptions.Set();
        var cmd = new Command("metrics", "List metrics with their unit and definition; the scenario is optional: with one, the names it reports (from a short probe run of its model), without, every family")
        {
            file, set,
        };
        cmd.SetAction(parse =>
        {
            if (parse.GetValue(file) is not { } path)
            {
                // '*' is one name segment (a VM name, a cause), '**' the rest (a task or cgroup path).
                foreach (var d in MetricDefinitions.All)
                    ctx.Out.WriteLine($"{d.Pattern,-50} [{d.Unit}] {d.Meaning}");
                return ExitCodes.Ok;
            }
            var scenario = CommonOptions.LoadOrReport(ctx, path, CommonOptions.ParseOverrides(parse.GetValue(set)));
            if (scenario is null)
                return ExitCodes.BadInput;
            if (MetricNames.Of(scenario) is not { } names)
            {
                ctx.Error($"{path}: the probe run of this scenario failed, so its metric names are unknown (try 'plesim run')");
                return ExitCodes.RunFailed;
            }
            foreach (var n in names)
            {
                var d = MetricDefinitions.Of(n);
                ctx.Out.WriteLine(d is null ? $"{n,-50} [?] (no definition yet)" : $"{n,-50} [{d.Unit}] {d.Meaning}");
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }
}

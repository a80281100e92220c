using System.CommandLine;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;

namespace PleSim.Cli.Commands;

/// <summary><c>plesim validate FILE...</c>: reads and checks scenario files, printing every problem with file:line:column.</summary>
public static class ValidateCommand
{
    public static Command Create(CliContext ctx)
    {
        var files = new Argument<string[]>("files") { Description = "Scenario files to check", Arity = ArgumentArity.OneOrMore };
        var plugin = CommonOptions.Plugin();
        var cmd = new Command("validate", "Check scenario files and report every problem (exit code 2 if any)") { files, plugin };
        cmd.SetAction(parse =>
        {
            CommonOptions.LoadPlugins(parse.GetValue(plugin));
            int bad = 0;
            foreach (var f in parse.GetValue(files)!)
            {
                try
                {
                    var s = ScenarioLoader.LoadFile(f);
                    // A sweep section is checked point by point: every value must make a valid scenario.
                    var sweep = s.Sweep.Axes.Count > 0 ? $", sweep of {SweepPlan.Create(s, []).Points.Count} points" : "";
                    // So is an unknowns section: every value of a set and both ends of a range.
                    if (PleSim.Experiments.Uncertainty.UnknownValues.Check(s) is { Count: > 0 } problems)
                        throw new ScenarioException(problems);
                    // And the metrics it lists must be ones its model reports.
                    if (PleSim.Experiments.Running.MetricNames.Check(s) is { Count: > 0 } unknownMetrics)
                        throw new ScenarioException(unknownMetrics);
                    var unknowns = s.Unknowns.Count > 0 ? $", {s.Unknowns.Count} unknowns" : "";
                    ctx.Out.WriteLine($"{f}: ok ({s.Name}, kind {s.Kind}, {s.Runs} runs of {s.Duration} after {s.Warmup} warm-up{sweep}{unknowns})");
                }
                catch (ScenarioException e)
                {
                    bad++;
                    foreach (var d in e.Diagnostics)
                        ctx.Err.WriteLine(d.ToString());
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // A loader bug must not stop the other files, and must say which file hit it.
                    bad++;
                    ctx.Err.WriteLine($"{f}: internal error while checking this file: {e.GetType().Name}: {YamlGuard.Clip(e.Message, 200)} (please report it)");
                }
            }
            return bad == 0 ? ExitCodes.Ok : ExitCodes.BadInput;
        });
        return cmd;
    }
}

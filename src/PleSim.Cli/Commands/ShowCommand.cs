using System.CommandLine;
using PleSim.Experiments.Scenarios;

namespace PleSim.Cli.Commands;

/// <summary><c>plesim show SCENARIO [--set k=v ...]</c>: prints the effective scenario (overrides and presets applied, defaults filled in) with each value's origin.</summary>
public static class ShowCommand
{
    public static Command Create(CliContext ctx)
    {
        var file = new Argument<string>("scenario") { Description = "Scenario file (YAML)" };
        var json = new Option<bool>("--json") { Description = "Print JSON (one object per key) instead of YAML" };
        var set = CommonOptions.Set();
        var cmd = new Command("show", "Print the effective scenario: every key after --set overrides and the kvm.version/guest.kernel presets, defaults filled in, each with its origin and source")
        {
            file, json, set,
        };
        cmd.SetAction(parse =>
        {
            var overrides = CommonOptions.ParseOverrides(parse.GetValue(set));
            var scenario = CommonOptions.LoadOrReport(ctx, parse.GetValue(file)!, overrides);
            if (scenario is null)
                return ExitCodes.BadInput;
            ctx.Out.Write(parse.GetValue(json) ? EffectiveScenario.ToJson(scenario) : EffectiveScenario.ToYaml(scenario));
            return ExitCodes.Ok;
        });
        return cmd;
    }
}

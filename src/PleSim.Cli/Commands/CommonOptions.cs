using System.CommandLine;
using PleSim.Experiments.Scenarios;

namespace PleSim.Cli.Commands;

/// <summary>Options shared by several commands.</summary>
public static class CommonOptions
{
    public static Option<string[]> Set() => new("--set")
    {
        Description = "Override a scenario key, e.g. --set kvm.ple_window=8192 (repeatable)",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.ZeroOrMore,
    };

    public static IReadOnlyList<Override> ParseOverrides(string[]? assignments)
    {
        var list = new List<Override>();
        foreach (var a in assignments ?? [])
        {
            try
            {
                list.Add(Override.Parse(a));
            }
            catch (FormatException e)
            {
                throw new CliInputException("--set " + e.Message);
            }
        }
        return list;
    }

    /// <summary>Loads a scenario or prints its problems; returns null on bad input.</summary>
    public static Scenario? LoadOrReport(CliContext ctx, string file, IReadOnlyList<Override> overrides)
    {
        try
        {
            return ScenarioLoader.LoadFile(file, overrides);
        }
        catch (ScenarioException e)
        {
            foreach (var d in e.Diagnostics)
                ctx.Err.WriteLine(d.ToString());
            return null;
        }
    }
}

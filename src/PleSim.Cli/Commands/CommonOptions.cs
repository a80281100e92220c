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

    /// <summary>Writes a file atomically (temporary file + rename) so a crash never leaves a half-written result.</summary>
    public static void WriteAtomically(string path, string content)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        File.WriteAllText(tmp, content);
        File.Move(tmp, path, overwrite: true);
    }
}

using System.CommandLine;
using PleSim.Experiments.Scenarios;

namespace PleSim.Cli.Commands;

/// <summary>Options shared by several commands.</summary>
public static class CommonOptions
{
    public static Option<string[]> Set() => new("--set")
    {
        Description = "Override a scenario key, e.g. --set kvm.ple_window=8192, or in every list item: --set vms[*].cgroup=own (repeatable)",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary><c>--plugin PATH.dll</c> (repeatable): plug-in assemblies to load before the scenario (decision 0028).</summary>
    public static Option<string[]> Plugin() => new("--plugin")
    {
        Description = "Load a plug-in assembly (a PAUSE handler, candidate filter or guest spinlock policy, selected in the scenario as plugin:NAME); repeatable",
        AllowMultipleArgumentsPerToken = false,
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>Loads every <c>--plugin</c> file; a bad one is a usage error naming the file and the reason.</summary>
    public static void LoadPlugins(string[]? paths)
    {
        foreach (var p in paths ?? [])
        {
            try
            {
                PleSim.Experiments.Plugins.PluginLoader.Load(p);
            }
            catch (PleSim.Experiments.Plugins.PluginLoadException e)
            {
                throw new CliInputException("--plugin: " + e.Message);
            }
        }
    }

    /// <summary><c>--parallel/-j N</c>: runs at once; 0 (the default) means one per core; negative values are refused.</summary>
    public static Option<int> Parallel()
    {
        var o = new Option<int>("--parallel", "-j") { Description = "Runs at once: a whole number ≥ 1, or 0 for one per core (the default)", DefaultValueFactory = _ => 0 };
        o.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && r.GetValueOrDefault<int>() < 0)
                r.AddError($"--parallel: expected a whole number ≥ 1 (or 0 for one run per core), got {r.Tokens[^1].Value}");
        });
        return o;
    }

    /// <summary>
    /// Refuses a first seed whose runs would pass the largest seed (2^64 − 1) and wrap around to 0:
    /// run k uses seed + k, so <paramref name="runs"/> runs need seed ≤ 2^64 − runs.
    /// </summary>
    public static void CheckSeedRange(ulong first, long runs, string what)
    {
        if (runs > 0 && first > ulong.MaxValue - (ulong)(runs - 1))
        {
            throw new CliInputException($"{what}: seed {first} with {runs} run(s) would pass the largest seed, 18446744073709551615 (run k uses seed + k); " +
                $"use a seed of at most {ulong.MaxValue - (ulong)(runs - 1)}");
        }
    }

    /// <summary>A simulated-time option such as <c>--trace-from 100ms</c>; negative values are refused, and zero when <paramref name="positive"/>.</summary>
    public static PleSim.Engine.SimDuration ParseTime(string text, string option, bool positive = false)
    {
        if (!PleSim.Engine.SimDuration.TryParse(text, out var d, out var error))
            throw new CliInputException($"{option}: {error}");
        if (d < PleSim.Engine.SimDuration.Zero)
            throw new CliInputException($"{option}: '{text}' is negative; expected a simulated time ≥ 0 ({PleSim.Engine.TimeUnits.Accepted})");
        if (positive && d == PleSim.Engine.SimDuration.Zero)
            throw new CliInputException($"{option}: expected a length > 0, got '{text}'");
        return d;
    }

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

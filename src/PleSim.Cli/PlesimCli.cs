using System.CommandLine;
using System.CommandLine.Parsing;
using PleSim.Cli.Commands;

namespace PleSim.Cli;

/// <summary>The <c>plesim</c> command line. In-process entry point for tests: <see cref="Run"/>.</summary>
public static partial class PlesimCli
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var ctx = new CliContext(stdout, stderr);
        var root = new RootCommand(
            "PleSim: a deterministic simulator of KVM guests on a Linux host scheduler (CFS of 2.6.39 and 4.19, EEVDF of 6.6-6.18) or Xen 3.4's credit scheduler, " +
            "with Pause-Loop Exiting and KVM's handlers from the 2011 directed yield to today's, and guest kernels from 2.6.39 to 6.x " +
            "(ticket, paravirtual and queued spin locks, IPIs, halts). " + ExitCodes.Help);
        root.Subcommands.Add(ValidateCommand.Create(ctx));
        root.Subcommands.Add(ShowCommand.Create(ctx));
        root.Subcommands.Add(MetricsCommand.Create(ctx));
        root.Subcommands.Add(RunCommand.Create(ctx));
        root.Subcommands.Add(CompareCommand.Create(ctx));
        root.Subcommands.Add(BenchCommand.Create(ctx));
        root.Subcommands.Add(ReproduceCommand.Create(ctx));
        root.Subcommands.Add(SweepCommand.Create(ctx));
        root.Subcommands.Add(MergeCommand.Create(ctx));
        root.Subcommands.Add(ReportCommand.Create(ctx));
        root.Subcommands.Add(StatusCommand.Create(ctx));
        root.Subcommands.Add(LiveCommand.Create(ctx));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
        {
            foreach (var e in parse.Errors)
                ctx.Error(PlainWords(e.Message));
            stderr.WriteLine("Try 'plesim --help' for the commands and options.");
            return ExitCodes.BadInput;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (CliInputException e)
        {
            ctx.Error(e.Message);
            return ExitCodes.BadInput;
        }
        catch (PleSim.Experiments.Sweeps.StoreException e)
        {
            ctx.Error(e.Message);
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ctx.Error(e.Message);
            return ExitCodes.BadInput;
        }
        catch (Exception e)
        {
            // Never a stack trace for the user: say what failed; PLESIM_DEBUG=1 shows the trace.
            ctx.Error($"internal error: {e.GetType().Name}: {e.Message}");
            if (Environment.GetEnvironmentVariable("PLESIM_DEBUG") == "1")
                stderr.WriteLine(e);
            return ExitCodes.RunFailed;
        }
    }
}

public static partial class PlesimCli
{
    /// <summary>
    /// System.CommandLine names the .NET type it could not parse a value as
    /// (<c>System.Nullable`1[System.Int32]</c>); say what was expected in plain words instead.
    /// </summary>
    internal static string PlainWords(string message)
    {
        var m = TypeError().Match(message);
        if (!m.Success)
            return message;
        var type = m.Groups["type"].Value;
        string expected = type switch
        {
            _ when type.Contains("Int32", StringComparison.Ordinal) => "a whole number",
            _ when type.Contains("UInt64", StringComparison.Ordinal) => "a whole number from 0 to 18446744073709551615",
            _ when type.Contains("Int64", StringComparison.Ordinal) => "a whole number",
            _ when type.Contains("Double", StringComparison.Ordinal) => "a number",
            _ when type.Contains("Boolean", StringComparison.Ordinal) => "true or false",
            _ => "a value of another form",
        };
        return $"{m.Groups["option"].Value}: '{m.Groups["value"].Value}' is not {expected}";
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"Cannot parse argument '(?<value>.*)' for (option|command|argument) '(?<option>[^']*)' as expected type '?(?<type>[^'\s]+?)'?\.?$")]
    private static partial System.Text.RegularExpressions.Regex TypeError();
}

/// <summary>Bad input found while running a command (a missing file, an unusable option value).</summary>
public sealed class CliInputException(string message) : Exception(message);

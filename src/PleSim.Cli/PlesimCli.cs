using System.CommandLine;
using System.CommandLine.Parsing;
using PleSim.Cli.Commands;

namespace PleSim.Cli;

/// <summary>The <c>plesim</c> command line. In-process entry point for tests: <see cref="Run"/>.</summary>
public static class PlesimCli
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var ctx = new CliContext(stdout, stderr);
        var root = new RootCommand(
            "PleSim: a deterministic simulator of KVM guests on the Linux 2.6.39 scheduler, with Pause-Loop Exiting " +
            "and its handlers (sleep, yield, the 2011 directed yield and later policies).");
        root.Subcommands.Add(ValidateCommand.Create(ctx));
        root.Subcommands.Add(RunCommand.Create(ctx));
        root.Subcommands.Add(BenchCommand.Create(ctx));
        root.Subcommands.Add(ReproduceCommand.Create(ctx));
        root.Subcommands.Add(SweepCommand.Create(ctx));
        root.Subcommands.Add(MergeCommand.Create(ctx));
        root.Subcommands.Add(ReportCommand.Create(ctx));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
        {
            foreach (var e in parse.Errors)
                ctx.Error(e.Message);
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

/// <summary>Bad input found while running a command (a missing file, an unusable option value).</summary>
public sealed class CliInputException(string message) : Exception(message);

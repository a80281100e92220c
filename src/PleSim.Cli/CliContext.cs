using Spectre.Console;

namespace PleSim.Cli;

/// <summary>Where a command writes: machine output (JSON) to <see cref="Out"/>, everything for people to <see cref="Err"/> or a rendered console.</summary>
public sealed class CliContext
{
    public CliContext(TextWriter stdout, TextWriter stderr)
    {
        Out = stdout;
        Err = stderr;
        bool terminal = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        Console_ = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = terminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        // Redirected, tables are laid out for a fixed width, whatever the terminal or COLUMNS
        // says: the text is deterministic and fits a 120-column viewer (decision 0029).
        if (!terminal)
            Console_.Profile.Width = RedirectedWidth;
        bool errTerminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        ErrConsole = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stderr),
            Ansi = errTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = errTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = errTerminal ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!errTerminal)
            ErrConsole.Profile.Width = 160;
        IsErrTerminal = errTerminal;
    }

    /// <summary>The width tables are laid out for when standard output is not a terminal.</summary>
    public const int RedirectedWidth = 120;

    public TextWriter Out { get; }
    public TextWriter Err { get; }

    /// <summary>Tables and text for people, on standard output.</summary>
    public IAnsiConsole Console_ { get; }

    /// <summary>Progress bars and notes, on standard error (so <c>--json</c> output stays clean).</summary>
    public IAnsiConsole ErrConsole { get; }

    public bool IsErrTerminal { get; }

    public void Error(string message) => Err.WriteLine("plesim: error: " + message);

    /// <summary>
    /// The consoles a report is written to: the terminal (unless <paramref name="jsonOnStdout"/>,
    /// when standard output carries JSON) and a plain console of <see cref="RedirectedWidth"/> columns into <paramref name="text"/>,
    /// the copy saved with <c>--out</c>.
    /// </summary>
    public IReadOnlyList<IAnsiConsole> ReportConsoles(StringWriter text, bool jsonOnStdout)
    {
        var plain = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(text),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
        });
        plain.Profile.Width = RedirectedWidth;
        return jsonOnStdout ? [plain] : [Console_, plain];
    }
}

/// <summary>
/// Exit codes: 0 success, 1 a run failed, 2 bad input (file, option, scenario, store), and for a
/// sweep stopped by a signal the shell's 128 + signal number: 130 (SIGINT, Ctrl+C) and 143
/// (SIGTERM, what Slurm and Kubernetes send); its finished runs are stored and --resume continues.
/// </summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int RunFailed = 1;
    public const int BadInput = 2;
    public const int InterruptedBySigint = 130;
    public const int InterruptedBySigterm = 143;

    /// <summary>The lines the help prints about exit codes.</summary>
    public const string Help =
        "Exit codes: 0 ok; 1 a run failed; 2 bad input (scenario, option, output path, result store); " +
        "130 / 143 a sweep interrupted by SIGINT (Ctrl+C) / SIGTERM (Slurm, Kubernetes): its finished runs are stored, --resume continues.";
}

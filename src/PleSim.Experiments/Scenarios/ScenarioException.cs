namespace PleSim.Experiments.Scenarios;

/// <summary>One problem found in a scenario file, with where it is and what would be valid.</summary>
public sealed record ScenarioDiagnostic(string File, int Line, int Column, string KeyPath, string Message)
{
    /// <summary>Longest message kept (values in it are cut at <see cref="YamlGuard.MaxEchoChars"/> where they are quoted; this bounds the rest).</summary>
    public const int MaxMessageChars = 2000;

    /// <summary>Longest key path and origin kept.</summary>
    public const int MaxPathChars = 200;

    public string File { get; init; } = YamlGuard.Clip(File, MaxPathChars);

    public string KeyPath { get; init; } = YamlGuard.Clip(KeyPath, MaxPathChars);

    public string Message { get; init; } = YamlGuard.Clip(Message, MaxMessageChars);

    /// <summary>The problem is a key the section does not take (so an override that created it can be blamed and a closer key path offered).</summary>
    public bool UnknownKey { get; init; }

    /// <summary><c>file:line:column: error: key.path: message</c>, the form compilers use, so editors can jump to it.</summary>
    public override string ToString()
    {
        var where = Line > 0 ? $"{File}:{Line}:{Column}" : File;
        var key = string.IsNullOrEmpty(KeyPath) ? "" : KeyPath + ": ";
        return $"{where}: error: {key}{Message}";
    }
}

/// <summary>A scenario could not be read; holds every problem found, in file order.</summary>
public sealed class ScenarioException : Exception
{
    public ScenarioException(IReadOnlyList<ScenarioDiagnostic> diagnostics)
        : base(string.Join(Environment.NewLine, diagnostics))
    {
        Diagnostics = diagnostics;
    }

    public ScenarioException(ScenarioDiagnostic diagnostic)
        : this([diagnostic])
    {
    }

    public IReadOnlyList<ScenarioDiagnostic> Diagnostics { get; }
}

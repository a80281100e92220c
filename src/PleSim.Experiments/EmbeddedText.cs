namespace PleSim.Experiments;

/// <summary>
/// Text files built into this assembly (the catalog's cases, the shipped scenarios, the riel-2011
/// scenario; see PleSim.Experiments.csproj's EmbeddedResource items), read by resource name.
/// </summary>
internal static class EmbeddedText
{
    /// <summary>The text of the resource <paramref name="name"/>, or null if none is built in.</summary>
    public static string? TryRead(string name)
    {
        using var stream = typeof(EmbeddedText).Assembly.GetManifestResourceStream(name);
        if (stream is null)
            return null;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

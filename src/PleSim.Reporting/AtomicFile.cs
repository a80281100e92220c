namespace PleSim.Reporting;

/// <summary>Writes files atomically (temporary file in the same directory + rename), so a crash never leaves a half-written result.</summary>
public static class AtomicFile
{
    public static void Write(string path, string content) => Write(path, tmp => File.WriteAllText(tmp, content));

    public static void Write(string path, byte[] content) => Write(path, tmp => File.WriteAllBytes(tmp, content));

    private static void Write(string path, Action<string> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        write(tmp);
        File.Move(tmp, full, overwrite: true);
    }
}

namespace PleSim.Cli;

/// <summary>
/// Checks, before any run starts, that a command will be able to write where it was told to:
/// a directory that exists and takes new files (or can be created), a file that can be created
/// or overwritten. A problem is a <see cref="CliInputException"/> (exit 2) naming the option, the
/// path and the reason in one line, instead of .NET's text after minutes of simulation.
/// Nothing is created: a probe file is written and removed in the nearest existing directory.
/// </summary>
public static class OutputPaths
{
    /// <summary>Checks that <paramref name="dir"/> is, or can be created as, a writable directory.</summary>
    public static void CheckDirectory(string dir, string option)
    {
        if (string.IsNullOrWhiteSpace(dir))
            throw new CliInputException($"{option}: expected a directory, got an empty path");
        string full;
        try
        {
            full = Path.GetFullPath(dir);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new CliInputException($"{option} {dir}: not a usable path ({e.Message})");
        }
        if (File.Exists(full))
            throw new CliInputException($"{option} {dir}: cannot write there: it is a file, not a directory");
        var existing = NearestExisting(full, option, dir);
        Probe(existing, option, dir);
    }

    /// <summary>Checks that <paramref name="file"/> can be created (its directory too) or overwritten.</summary>
    public static void CheckFile(string file, string option)
    {
        if (string.IsNullOrWhiteSpace(file))
            throw new CliInputException($"{option}: expected a file name, got an empty path");
        string full;
        try
        {
            full = Path.GetFullPath(file);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new CliInputException($"{option} {file}: not a usable path ({e.Message})");
        }
        if (Directory.Exists(full) || file.EndsWith('/') || file.EndsWith(Path.DirectorySeparatorChar))
            throw new CliInputException($"{option} {file}: cannot write there: it is a directory, not a file");
        if (File.Exists(full))
        {
            try
            {
                // Opened for writing without truncating it: the file is replaced only when the work is done.
                using var _ = new FileStream(full, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliInputException($"{option} {file}: cannot write that file: {Reason(e)}");
            }
        }
        var parent = Path.GetDirectoryName(full)!;
        if (File.Exists(parent))
            throw new CliInputException($"{option} {file}: cannot write there: {parent} is a file, not a directory");
        Probe(NearestExisting(parent, option, file), option, file);
    }

    /// <summary>The deepest existing directory on the way to <paramref name="full"/>; refuses a file in the way.</summary>
    private static string NearestExisting(string full, string option, string given)
    {
        var d = full;
        while (!Directory.Exists(d))
        {
            if (File.Exists(d))
                throw new CliInputException($"{option} {given}: cannot write there: {d} is a file, not a directory");
            var up = Path.GetDirectoryName(d);
            if (up is null)
                throw new CliInputException($"{option} {given}: cannot write there: no part of the path exists");
            d = up;
        }
        return d;
    }

    /// <summary>Creates and deletes a probe file in <paramref name="dir"/> (an existing directory).</summary>
    private static void Probe(string dir, string option, string given)
    {
        var probe = Path.Combine(dir, $".plesim-write-check-{Environment.ProcessId}-{Environment.CurrentManagedThreadId}");
        try
        {
            using (new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The probe is our own file: name the user's directory, not it.
            throw new CliInputException($"{option} {given}: cannot write in {dir}: {Reason(e).Replace(probe, dir, StringComparison.Ordinal)}");
        }
        finally
        {
            try
            {
                File.Delete(probe);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // DeleteOnClose removed it already, or it was never created.
            }
        }
    }

    /// <summary>The reason in plain words (read-only file system, permission denied, disk full, ...).</summary>
    internal static string Reason(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied (or a read-only file system)",
        FileNotFoundException or DirectoryNotFoundException => "the file system there does not allow creating files",
        IOException io when io.HResult == 28 || io.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase) => "no space left on the device",
        IOException io when io.Message.Contains("Read-only file system", StringComparison.OrdinalIgnoreCase) => "read-only file system",
        _ => e.Message,
    };
}

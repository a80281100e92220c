using System.Globalization;

namespace PleSim.Experiments.Sweeps;

/// <summary>
/// The one-writer lock of a result store: <c>STORE.lock</c> beside it, opened with
/// <see cref="FileShare.None"/> for the writer's lifetime. On Linux .NET takes that as
/// <c>flock(LOCK_EX | LOCK_NB)</c>, which the kernel releases when the process ends in any way
/// (even SIGKILL), so a crashed writer never leaves a stale lock; on NFS, Linux maps it to a
/// POSIX lock the server arbitrates. The lock conflicts between two opens in one process too.
/// Readers (report, status, merge inputs) do not take it: SQLite's WAL lets them read while a
/// sweep writes. The writer's identity goes to <c>STORE.writer</c> (the lock file itself cannot
/// be read by others while held), for the message the second writer prints. The lock file stays
/// after release: deleting it would let a third process lock a new file while a second still
/// holds the old, unlinked one.
/// </summary>
public sealed class StoreLock : IDisposable
{
    private readonly FileStream _file;
    private readonly string _writerFile;

    private StoreLock(FileStream file, string writerFile)
    {
        _file = file;
        _writerFile = writerFile;
    }

    /// <summary>Takes the lock of the store at <paramref name="storePath"/> or throws a <see cref="StoreException"/> naming the writer that holds it.</summary>
    public static StoreLock Acquire(string storePath)
    {
        var full = Path.GetFullPath(storePath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var lockPath = full + ".lock";
        var writerPath = full + ".writer";
        FileStream file;
        try
        {
            file = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (File.Exists(lockPath))
        {
            string who = "pid unknown";
            try
            {
                if (File.Exists(writerPath))
                    who = File.ReadAllText(writerPath).Trim();
            }
            catch (IOException)
            {
                // Being rewritten at this moment: the message goes without it.
            }
            throw new StoreException($"{storePath} is being written by another plesim ({who}); " +
                "wait for it to finish (or stop it), or write to another --out directory");
        }
        try
        {
            var line = string.Create(CultureInfo.InvariantCulture,
                $"pid {Environment.ProcessId} on {Environment.MachineName}, since {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC");
            File.WriteAllText(writerPath, line + "\n");
            var text = System.Text.Encoding.UTF8.GetBytes($"lock of {Path.GetFileName(full)}, held by the plesim writing it; see {Path.GetFileName(writerPath)}\n");
            file.SetLength(0);
            file.Write(text);
            file.Flush();
        }
        catch
        {
            file.Dispose();
            throw;
        }
        return new StoreLock(file, writerPath);
    }

    /// <summary>
    /// Who writes the store now ("pid N on HOST, since ..."), or null when no one does. Only probes
    /// the lock when a writer note exists, so a reader hardly ever holds the lock for the instant
    /// of the probe (a writer starting in that instant would be refused).
    /// </summary>
    public static string? Writer(string storePath)
    {
        var full = Path.GetFullPath(storePath);
        var writerPath = full + ".writer";
        if (!File.Exists(writerPath))
            return null;
        try
        {
            using (new FileStream(full + ".lock", FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            {
            }
            return null; // a note left by a writer that was killed
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (IOException)
        {
            try
            {
                return File.ReadAllText(writerPath).Trim();
            }
            catch (IOException)
            {
                return "pid unknown";
            }
        }
    }

    /// <summary>Releases the lock (the writer note is removed first, while the lock is still held).</summary>
    public void Dispose()
    {
        try
        {
            File.Delete(_writerFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A note left behind is harmless: the next writer rewrites it.
        }
        _file.Dispose();
    }
}

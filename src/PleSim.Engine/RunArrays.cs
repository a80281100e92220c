namespace PleSim.Engine;

/// <summary>
/// Reuse, per thread, of the large arrays a model allocates for one run (the broker's arena chunk
/// tables are 3 MB each). A run rents them when it is built and returns them when the runner
/// disposes it; the next run on the same worker thread gets them back instead of allocating on the
/// large-object heap. Without this, every run of a 720-run reproduction left 15 MB of large objects
/// behind, and the background GC that collected them took 15% of the process's CPU time
/// (bench/RESULTS.md, 2026-11-25, fourth session).
/// <para>
/// Determinism: a rented array is all zeros, exactly like a new one. The caller says on return how
/// much of it may have been written (<c>dirtyLength</c>); that prefix is cleared before the array
/// goes back on the thread's list. Nothing is shared between threads, so runs on different worker
/// threads never see each other's arrays. An array that is never returned is simply collected.
/// </para>
/// </summary>
public static class RunArrays<T> where T : unmanaged
{
    /// <summary>At most this many spare arrays are kept per thread (one run's worth and more).</summary>
    public const int MaxSparePerThread = 16;

    [ThreadStatic] private static List<T[]>? t_spare;

    /// <summary>Spare arrays on the calling thread (for tests).</summary>
    public static int SpareCount => t_spare?.Count ?? 0;

    /// <summary>Whether every spare array of the calling thread is all zero bytes, as a new one would be (for tests).</summary>
    public static bool SparesAreClear()
    {
        foreach (var a in t_spare ?? [])
        {
            if (System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()).IndexOfAnyExcept((byte)0) >= 0)
                return false;
        }
        return true;
    }

    /// <summary>
    /// An all-zero array of at least <paramref name="minLength"/> elements: the calling thread's
    /// smallest spare one that is long enough, else a new one of exactly that length.
    /// </summary>
    public static T[] Rent(int minLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minLength);
        var spare = t_spare;
        if (spare is not null)
        {
            int best = -1;
            for (int i = 0; i < spare.Count; i++)
            {
                if (spare[i].Length >= minLength && (best < 0 || spare[i].Length < spare[best].Length))
                    best = i;
            }
            if (best >= 0)
            {
                var a = spare[best];
                spare[best] = spare[^1];
                spare.RemoveAt(spare.Count - 1);
                return a;
            }
        }
        return new T[minLength];
    }

    /// <summary>
    /// Gives <paramref name="array"/> back to the calling thread. Elements at
    /// <paramref name="dirtyLength"/> and beyond must never have been written since the array was
    /// rented (or allocated); the prefix before it is cleared here.
    /// </summary>
    public static void Return(T[] array, int dirtyLength)
    {
        ArgumentNullException.ThrowIfNull(array);
        Array.Clear(array, 0, Math.Clamp(dirtyLength, 0, array.Length));
        var spare = t_spare ??= new List<T[]>(MaxSparePerThread);
        if (spare.Count < MaxSparePerThread)
            spare.Add(array);
    }
}

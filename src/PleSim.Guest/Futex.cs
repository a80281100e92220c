namespace PleSim.Guest;

/// <summary>
/// A user-space futex word and the kernel side of FUTEX_WAIT / FUTEX_WAKE (2.6.39 kernel/futex.c).
/// The word is user memory: user-space code changes <see cref="Value"/> with its atomics (instantly,
/// at a <see cref="ActionKind.Call"/>). The kernel keys a private futex by (mm, address) and hashes
/// the key to one of 256 hash buckets (<c>hash_futex</c>, FUTEX_HASHBITS 8), each a plain
/// <c>spin_lock</c> and a chain of queued waiters; futexes whose keys collide share the bucket lock.
/// <list type="bullet">
/// <item><c>futex_wait</c> → <c>futex_wait_setup</c>: lock the bucket, read the word; if it no longer
/// holds the expected value, unlock and return EWOULDBLOCK; else queue (<c>queue_me</c>, which unlocks)
/// and sleep until woken.</item>
/// <item><c>futex_wake</c>: lock the bucket, wake up to <c>nr_wake</c> waiters whose key matches, in
/// queue order (<c>wake_futex</c> under the bucket lock), unlock.</item>
/// </list>
/// The chain walk over other keys' waiters and priority ordering (plist) are not modelled: waiters
/// of one key are kept FIFO, as the plist keeps equal-priority entries.
/// </summary>
public sealed class Futex
{
    internal Futex(string name, int mm, long address, GuestSpinLock bucketLock, int bucket, int capacity)
    {
        Name = name;
        Mm = mm;
        Address = address;
        BucketLock = bucketLock;
        Bucket = bucket;
        Waiters = new Queue<GuestThread>(capacity);
    }

    public string Name { get; }

    /// <summary>The key: address space and user address (a private futex's <c>key.private</c>).</summary>
    public int Mm { get; }
    public long Address { get; }

    /// <summary>The hash bucket (0..255) and its lock (<c>hb->lock</c>).</summary>
    public int Bucket { get; }
    public GuestSpinLock BucketLock { get; }

    /// <summary>The futex word in user memory.</summary>
    public int Value { get; set; }

    internal readonly Queue<GuestThread> Waiters;

    /// <summary>Threads queued on this key now.</summary>
    public int Sleepers => Waiters.Count;

    // Statistics.
    public long WaitCalls, WouldBlock, WakeCalls, Woken;

    public override string ToString() => Name;
}

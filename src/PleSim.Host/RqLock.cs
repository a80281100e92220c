namespace PleSim.Host;

/// <summary>
/// The time bookings of one run queue's <c>rq->lock</c> by <c>yield_to</c> callers: the intervals
/// in which it is held, sorted and disjoint, from now into the future (a PAUSE handler's walk runs
/// in one event, ahead of the event clock, and books each of its critical sections at the time it
/// would reach it). A caller takes the earliest gap at or after its start time in which both of its
/// locks are free (<see cref="HostScheduler.DoubleRqLock"/>). Allocation-free: a fixed array; when
/// it is full the caller queues behind the last booking. Decision 0010 explains the choice.
/// </summary>
public sealed class RqLock
{
    /// <summary>Bookings kept at most (64 walkers × 60 calls each fit many times over).</summary>
    public const int Capacity = 4096;

    private readonly long[] _start = new long[Capacity];
    private readonly long[] _end = new long[Capacity];
    private int _count;

    /// <summary>Bookings not yet over.</summary>
    public int Count => _count;

    /// <summary>When the last booking ends (0 if none).</summary>
    public long LastEnd => _count == 0 ? 0 : _end[_count - 1];

    /// <summary>Drops the bookings that ended by <paramref name="now"/>.</summary>
    internal void Prune(long now)
    {
        int k = 0;
        while (k < _count && _end[k] <= now)
            k++;
        if (k == 0)
            return;
        Array.Copy(_start, k, _start, 0, _count - k);
        Array.Copy(_end, k, _end, 0, _count - k);
        _count -= k;
    }

    /// <summary>True if [<paramref name="t"/>, <paramref name="t"/> + <paramref name="len"/>) overlaps a booking; then <paramref name="t"/> moves to its end.</summary>
    internal bool Push(ref long t, long len)
    {
        bool moved = false;
        // The bookings are disjoint and sorted, so their ends are sorted too: start at the first one
        // that ends after t.
        int lo = 0, hi = _count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_end[mid] <= t)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (int i = lo; i < _count; i++)
        {
            if (_start[i] >= t + len)
                break;
            t = _end[i];
            moved = true;
        }
        return moved;
    }

    /// <summary>Books [<paramref name="t"/>, <paramref name="t"/> + <paramref name="len"/>), which must be free.</summary>
    internal void Book(long t, long len)
    {
        if (len <= 0)
            return;
        if (_count == Capacity)
            throw new InvalidOperationException("run-queue lock bookings are full");
        int i = _count;
        while (i > 0 && _start[i - 1] > t)
            i--;
        Array.Copy(_start, i, _start, i + 1, _count - i);
        Array.Copy(_end, i, _end, i + 1, _count - i);
        _start[i] = t;
        _end[i] = t + len;
        _count++;
    }

    internal bool Full => _count == Capacity;
}

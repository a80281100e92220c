namespace PleSim.Host;

/// <summary>
/// The time bookings of one run queue's <c>rq->lock</c> by <c>yield_to</c> callers: the intervals
/// in which it is held, sorted and disjoint, from now into the future (a PAUSE handler's walk runs
/// in one event, ahead of the event clock, and books each of its critical sections at the time it
/// would reach it). A caller takes the earliest gap at or after its start time in which both of its
/// locks are free (<see cref="HostScheduler.DoubleRqLock"/>). Allocation-free: a fixed array whose
/// live part is [first, last) — ended bookings are dropped by moving <c>first</c>, and the array is
/// compacted only when the live part reaches its end; when it is full the caller queues behind the
/// last booking. Decision 0010 explains the choice.
/// </summary>
public sealed class RqLock
{
    /// <summary>Bookings kept at most (64 walkers × 60 calls each fit many times over).</summary>
    public const int Capacity = 4096;

    private readonly long[] _start = new long[Capacity];
    private readonly long[] _end = new long[Capacity];
    private int _first, _last; // live bookings are [_first, _last)

    /// <summary>Bookings not yet over.</summary>
    public int Count => _last - _first;

    /// <summary>When the last booking ends (0 if none).</summary>
    public long LastEnd => _last == _first ? 0 : _end[_last - 1];

    /// <summary>
    /// Gaps between bookings shorter than this cannot hold any section (no caller books less:
    /// <see cref="HostScheduler.RqLockSectionFloorNs"/>), so <see cref="Book"/> merges across them.
    /// At least 1: back-to-back bookings always merge.
    /// </summary>
    internal long MergeGapBelowNs = 1;

    /// <summary>Drops the bookings that ended by <paramref name="now"/>.</summary>
    internal void Prune(long now)
    {
        while (_first < _last && _end[_first] <= now)
            _first++;
        if (_first == _last)
            _first = _last = 0;
    }

    /// <summary>True if [<paramref name="t"/>, <paramref name="t"/> + <paramref name="len"/>) overlaps a booking; then <paramref name="t"/> moves to its end.</summary>
    internal bool Push(ref long t, long len)
    {
        bool moved = false;
        // The bookings are disjoint and sorted, so their ends are sorted too: start at the first one
        // that ends after t.
        int lo = _first, hi = _last;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_end[mid] <= t)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (int i = lo; i < _last; i++)
        {
            if (_start[i] >= t + len)
                break;
            t = _end[i];
            moved = true;
        }
        return moved;
    }

    /// <summary>
    /// Books [<paramref name="t"/>, <paramref name="t"/> + <paramref name="len"/>), which must be free.
    /// A booking separated from a neighbour by a gap no section fits in (<see cref="MergeGapBelowNs"/>)
    /// is merged with it: a busy lock then holds a few long intervals instead of the many short
    /// ones a walk books, and <see cref="Push"/> moves a caller to the same time either way (it
    /// would step over every booking of such a run to its end, since no gap in it is long enough).
    /// </summary>
    internal void Book(long t, long len)
    {
        if (len <= 0)
            return;
        long end = t + len;
        int i = _last;
        while (i > _first && _start[i - 1] > t)
            i--;
        bool joinsPrev = i > _first && t - _end[i - 1] < MergeGapBelowNs;
        bool joinsNext = i < _last && _start[i] - end < MergeGapBelowNs;
        if (joinsPrev && joinsNext)
        {
            // Fills the gap between two bookings up to unusable slivers: they become one.
            _end[i - 1] = _end[i];
            Array.Copy(_start, i + 1, _start, i, _last - i - 1);
            Array.Copy(_end, i + 1, _end, i, _last - i - 1);
            _last--;
            return;
        }
        if (joinsPrev)
        {
            _end[i - 1] = end;
            return;
        }
        if (joinsNext)
        {
            _start[i] = t;
            return;
        }
        if (_last == Capacity)
        {
            if (_first == 0)
                throw new InvalidOperationException("run-queue lock bookings are full");
            // Compact: move the live part to the front.
            int n = _last - _first;
            Array.Copy(_start, _first, _start, 0, n);
            Array.Copy(_end, _first, _end, 0, n);
            i -= _first;
            _first = 0;
            _last = n;
        }
        if (i < _last)
        {
            Array.Copy(_start, i, _start, i + 1, _last - i);
            Array.Copy(_end, i, _end, i + 1, _last - i);
        }
        _start[i] = t;
        _end[i] = end;
        _last++;
    }

    internal bool Full => _last - _first == Capacity;
}

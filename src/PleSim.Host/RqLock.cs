using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace PleSim.Host;

/// <summary>
/// The time bookings of one run queue's <c>rq->lock</c> by <c>yield_to</c> callers: the intervals
/// in which it is held, sorted and disjoint, from now into the future (a PAUSE handler's walk runs
/// in one event, ahead of the event clock, and books each of its critical sections at the time it
/// would reach it). A caller takes the earliest gap at or after its start time in which both of its
/// locks are free (<see cref="HostScheduler.DoubleRqLock"/>). Allocation-free: a fixed array whose
/// live part is [first, last) — ended bookings are dropped by moving <c>first</c>, and the live
/// part is moved back to the front once <c>first</c> has passed <see cref="CompactAfter"/> entries
/// (or when it reaches the array's end), so a lock's working memory stays a few cache lines
/// instead of sliding through the whole array; when it is full the caller queues behind the
/// last booking. Decision 0010 explains the choice.
/// </summary>
public sealed class RqLock
{
    /// <summary>Bookings kept at most (64 walkers × 60 calls each fit many times over).</summary>
    public const int Capacity = 4096;

    /// <summary>
    /// Ended bookings left before the live part at most, before <see cref="Prune"/> moves it to the
    /// front (a speed choice only: where the live part sits in the array changes no outcome).
    /// </summary>
    private const int CompactAfter = 64;

    // Start and end of each booking side by side: a search reads both from one cache line.
    private struct Booking
    {
        public long Start;
        public long End;
    }

    // The bookings inside this object, after its counters: no separate array to reach.
    [InlineArray(Capacity)]
    private struct Bookings
    {
        private Booking _e;
    }

    private int _first, _last; // live bookings are [_first, _last)
    private Bookings _b;

    /// <summary>Bookings not yet over.</summary>
    public int Count => _last - _first;

    /// <summary>When the last booking ends (0 if none).</summary>
    public long LastEnd => _last == _first ? 0 : _b[_last - 1].End;

    /// <summary>
    /// Gaps between bookings shorter than this cannot hold any section (no caller books less:
    /// <see cref="HostScheduler.RqLockSectionFloorNs"/>), so <see cref="Book"/> merges across them.
    /// At least 1: back-to-back bookings always merge.
    /// </summary>
    internal long MergeGapBelowNs = 1;

    /// <summary>Drops the bookings that ended by <paramref name="now"/>.</summary>
    internal void Prune(long now)
    {
        Span<Booking> b = _b;
        int first = _first, last = _last;
        while (first < last && b[first].End <= now)
            first++;
        if (first == last)
        {
            _first = _last = 0;
            return;
        }
        if (first >= CompactAfter)
        {
            b.Slice(first, last - first).CopyTo(b);
            last -= first;
            first = 0;
            _last = last;
        }
        _first = first;
    }

    /// <summary>True if [<paramref name="t"/>, <paramref name="t"/> + <paramref name="len"/>) overlaps a booking; then <paramref name="t"/> moves to its end.</summary>
    internal bool Push(ref long t, long len) => Push(ref t, len, out _);

    /// <summary>
    /// <see cref="Push(ref long, long)"/>, also giving where a booking at the resulting
    /// <paramref name="t"/> goes (<paramref name="at"/>: the first booking that starts after it; every
    /// earlier one ends by then), for <see cref="BookAt"/> as long as the bookings do not change.
    /// </summary>
    internal bool Push(ref long t, long len, out int at)
    {
        bool moved = false;
        // The bookings are disjoint and sorted, so their ends are sorted too: start at the first one
        // that ends after t.
        Span<Booking> b = _b;
        // Searched from the back: a caller's start is usually among the last few bookings (a walk
        // books ahead of the clock, behind the walks before it), so this reads a line or two where
        // a binary search would touch the whole live part.
        int lo = _last;
        while (lo > _first && b[lo - 1].End > t)
            lo--;
        int i = lo;
        for (; i < _last; i++)
        {
            if (b[i].Start >= t + len)
                break;
            t = b[i].End;
            moved = true;
        }
        at = i;
        return moved;
    }

    /// <summary>
    /// Books [<paramref name="t"/>, <paramref name="t"/> + <paramref name="len"/>), which must be free.
    /// A booking separated from a neighbour by a gap no section fits in (<see cref="MergeGapBelowNs"/>)
    /// is merged with it: a busy lock then holds a few long intervals instead of the many short
    /// ones a walk books, and <see cref="Push(ref long, long)"/> moves a caller to the same time either way (it
    /// would step over every booking of such a run to its end, since no gap in it is long enough).
    /// </summary>
    internal void Book(long t, long len)
    {
        ReadOnlySpan<Booking> b = _b;
        int i = _last;
        while (i > _first && b[i - 1].Start > t)
            i--;
        BookAt(t, len, i);
    }

    /// <summary><see cref="Book"/> with the place <paramref name="i"/> already found (by <see cref="Push(ref long, long, out int)"/>).</summary>
    internal void BookAt(long t, long len, int i)
    {
        if (len <= 0)
            return;
        long end = t + len;
        Span<Booking> b = _b;
        Debug.Assert(i >= _first && i <= _last && (i == _first || b[i - 1].Start <= t) && (i == _last || b[i].Start > t), "booking place");
        bool joinsPrev = i > _first && t - b[i - 1].End < MergeGapBelowNs;
        bool joinsNext = i < _last && b[i].Start - end < MergeGapBelowNs;
        if (joinsPrev && joinsNext)
        {
            // Fills the gap between two bookings up to unusable slivers: they become one.
            b[i - 1].End = b[i].End;
            b.Slice(i + 1, _last - i - 1).CopyTo(b.Slice(i));
            _last--;
            return;
        }
        if (joinsPrev)
        {
            b[i - 1].End = end;
            return;
        }
        if (joinsNext)
        {
            b[i].Start = t;
            return;
        }
        if (_last == Capacity)
        {
            if (_first == 0)
                throw new InvalidOperationException("run-queue lock bookings are full");
            // Compact: move the live part to the front.
            int n = _last - _first;
            b.Slice(_first, n).CopyTo(b);
            i -= _first;
            _first = 0;
            _last = n;
        }
        for (int k = _last; k > i; k--) // usually one or two entries: a loop beats Array.Copy's call
            b[k] = b[k - 1];
        b[i].Start = t;
        b[i].End = end;
        _last++;
    }

    internal bool Full => _last - _first == Capacity;
}

using System.Runtime.CompilerServices;

namespace PleSim.Engine;

/// <summary>
/// The simulator's pending-event set: an <see cref="EventHeap{TArity}"/> that, above a
/// population threshold, keeps only the earliest events and parks the later ones in the rungs
/// of a ladder queue (after Tang, Goh and Thng, "Ladder queue: an O(1) priority queue
/// structure for large-scale discrete event simulation", ACM TOMACS 2005).
/// </summary>
/// <remarks>
/// <para>The time axis is cut into contiguous ranges: the heap holds every event with
/// time &lt;= <c>_heapLast</c>; the deepest rung holds the next range, split into buckets of
/// equal (power-of-two) width; each shallower rung holds the range after that of the rung
/// below it; the unsorted "top" holds everything later than the coarsest rung. When the heap runs
/// dry the next non-empty bucket of the deepest rung is poured into it, or, when that bucket
/// holds more than <see cref="BucketThreshold"/> events, split into a finer rung first. A
/// bucket's events are ordered by the heap's (time, key) comparison, so the pop order is
/// exactly the (time, sequence) order of a plain heap: ties, which share a time and thus a
/// bucket, fire in sequence order.</para>
/// <para>Buckets and the top are singly linked lists threaded through one pool of entries,
/// so moving an event between them allocates nothing once the pool has reached the working
/// population. Below <see cref="SpillThreshold"/> pending events (a host of a few CPUs) the
/// ladder is not used at all and every operation is the heap's.</para>
/// </remarks>
public sealed class LadderEventQueue
{
    /// <summary>Heap population at which the ladder is switched on (decision 0002: measured on the simulator's own event mix in 2026-11-26's scale work).</summary>
    public const int SpillThreshold = 256;

    /// <summary>Total population under which the ladder is folded back into the heap (hysteresis).</summary>
    public const int FoldThreshold = 64;

    /// <summary>A bucket with more events than this is split into a finer rung instead of being poured into the heap.</summary>
    public const int BucketThreshold = 64;

    /// <summary>
    /// Buckets a new rung gets per event it spreads (Tang, Goh and Thng use one). Narrower buckets
    /// keep fewer events in the heap part, where every pop costs a sift-down; measured on the
    /// 256-CPU scale run (bench/RESULTS.md, 2026-11-26, third pass): 2 to 32 all beat 1 by about
    /// the same margin. The pop order does not depend on it.
    /// </summary>
    public const int BucketsPerEvent = 4;

    private const int MaxRungs = 8;
    private const int MaxBuckets = 1 << 20;

    private readonly EventHeap<Arity2> _heap;
    private int _count;
    private long _heapLast = long.MaxValue;   // the heap holds exactly the events with time <= _heapLast
    private bool _ladder;

    // Pool of linked entries for buckets and the top.
    private HeapEntry[] _pool;
    private int[] _next;
    private int _free = -1;
    private int _poolUsed;

    // Top: unsorted list of the events later than every rung, with their bounds.
    private int _topHead = -1;
    private int _topCount;
    private long _topMin, _topMax;

    // Rungs 0 (coarsest) .. _rungs - 1 (deepest).
    private int _rungs;
    private readonly long[] _rungStart = new long[MaxRungs];
    private readonly long[] _rungLast = new long[MaxRungs];   // inclusive
    private readonly int[] _rungShift = new int[MaxRungs];
    private readonly int[] _rungBuckets = new int[MaxRungs];
    private readonly int[] _rungCur = new int[MaxRungs];
    private readonly int[][] _heads = new int[MaxRungs][];
    private readonly int[][] _counts = new int[MaxRungs][];

    private int _spillAt;    // _spillThreshold while the ladder is off, int.MaxValue while it is on
    private readonly int _spillThreshold;
    private readonly int _foldThreshold;
    private readonly int _bucketThreshold;

    public LadderEventQueue(int capacity = 1024)
        : this(capacity, SpillThreshold, FoldThreshold, BucketThreshold)
    {
    }

    /// <summary>With explicit thresholds (tests use small ones to exercise the ladder on small schedules).</summary>
    public LadderEventQueue(int capacity, int spillThreshold, int foldThreshold, int bucketThreshold)
    {
        if (foldThreshold < 1 || spillThreshold <= foldThreshold || bucketThreshold < 1)
            throw new ArgumentOutOfRangeException(nameof(spillThreshold), "need 1 <= fold < spill and bucket >= 1");
        _spillThreshold = spillThreshold;
        _spillAt = spillThreshold;
        _foldThreshold = foldThreshold;
        _bucketThreshold = bucketThreshold;
        _heap = new EventHeap<Arity2>(capacity);
        // A caller that expects more events than the switch-on threshold gets the ladder's pool
        // and rung tables sized for them up front, as it gets the heap's array.
        int reserve = capacity > spillThreshold ? capacity : 0;
        _pool = new HeapEntry[reserve];
        _next = new int[reserve];
        for (int r = 0; r < MaxRungs; r++)
        {
            _heads[r] = new int[reserve * BucketsPerEvent];
            _counts[r] = new int[reserve * BucketsPerEvent];
        }
    }

    /// <summary>Number of entries held.</summary>
    public int Count
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _count;
    }

    /// <summary>True while events are parked in the ladder (for tests and diagnostics).</summary>
    public bool LadderActive => _ladder;

    /// <summary>Number of rungs in use (for tests and diagnostics).</summary>
    public int RungCount => _rungs;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(long time, long key, long arg)
    {
        _count++;
        if (time <= _heapLast)
        {
            _heap.Push(time, key, arg);
            if (_heap.Count > _spillAt)
                Spill();
            return;
        }
        PushFar(time, key, arg);
    }

    /// <summary>The smallest entry; the queue must not be empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref readonly HeapEntry PeekMin()
    {
        if (_heap.Count == 0)
            Refill();
        return ref _heap.PeekMin();
    }

    /// <summary>Removes the smallest entry; the queue must not be empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public HeapEntry PopMin()
    {
        if (_heap.Count == 0)
            Refill();
        _count--;
        return _heap.PopMin();
    }

    /// <summary>Removes the smallest entry into <paramref name="entry"/> if the queue is not empty and its time is at most <paramref name="limit"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPopUntil(long limit, out HeapEntry entry)
    {
        if (_count == 0)
        {
            entry = default;
            return false;
        }
        if (_heap.Count == 0)
            Refill();
        if (!_heap.TryPopUntil(limit, out entry))
            return false;
        _count--;
        return true;
    }

    private void PushFar(long time, long key, long arg)
    {
        int node = NewNode(time, key, arg);
        for (int r = _rungs - 1; r >= 0; r--)
        {
            if (time <= _rungLast[r])
            {
                int b = (int)((ulong)(time - _rungStart[r]) >> _rungShift[r]);
                _next[node] = _heads[r][b];
                _heads[r][b] = node;
                _counts[r][b]++;
                return;
            }
        }
        AddToTop(node, time);
    }

    private void AddToTop(int node, long time)
    {
        if (_topCount == 0)
        {
            _topMin = time;
            _topMax = time;
        }
        else
        {
            if (time < _topMin) _topMin = time;
            if (time > _topMax) _topMax = time;
        }
        _next[node] = _topHead;
        _topHead = node;
        _topCount++;
    }

    private int NewNode(long time, long key, long arg)
    {
        int node = _free;
        if (node >= 0)
        {
            _free = _next[node];
        }
        else
        {
            if (_poolUsed == _pool.Length)
            {
                int size = Math.Max(1024, _pool.Length * 2);
                Array.Resize(ref _pool, size);
                Array.Resize(ref _next, size);
            }
            node = _poolUsed++;
        }
        _pool[node] = new HeapEntry { Time = time, Key = key, Arg = arg };
        return node;
    }

    /// <summary>Switches the ladder on: every event moves to the top, to be spread into a rung at the next refill.</summary>
    private void Spill()
    {
        _ladder = true;
        _spillAt = int.MaxValue;
        _rungs = 0;
        _heapLast = long.MinValue;
        foreach (ref readonly var e in _heap.UnorderedEntries())
            AddToTop(NewNode(e.Time, e.Key, e.Arg), e.Time);
        _heap.Clear();
    }

    /// <summary>The heap ran dry while events remain: pour the next bucket into it (splitting crowded buckets first).</summary>
    private void Refill()
    {
        if (_count < _foldThreshold)
        {
            Fold();
            return;
        }
        while (true)
        {
            if (_rungs == 0)
            {
                // Spread the top over a new coarsest rung.
                int head = _topHead, n = _topCount;
                long start = _topMin, last = _topMax;
                _topHead = -1;
                _topCount = 0;
                _heapLast = start == long.MinValue ? start : start - 1;
                NewRung(head, n, start, last);
                continue;
            }
            int r = _rungs - 1;
            int[] heads = _heads[r];
            int cur = _rungCur[r], nb = _rungBuckets[r];
            while (cur < nb && heads[cur] < 0)
                cur++;
            if (cur == nb)
            {
                // Rung exhausted: the next range is the parent's (or the top's).
                _rungs--;
                _heapLast = _rungLast[r];
                continue;
            }
            _rungCur[r] = cur + 1;
            long start0 = _rungStart[r];
            int shift = _rungShift[r];
            long bStart = start0 + (long)((ulong)cur << shift);
            ulong lastOffset = ((ulong)(cur + 1) << shift) - 1;
            long bLast = lastOffset >= (ulong)(_rungLast[r] - start0) ? _rungLast[r] : start0 + (long)lastOffset;
            int list = heads[cur];
            int c = _counts[r][cur];
            heads[cur] = -1;
            _counts[r][cur] = 0;
            if (c > _bucketThreshold && shift > 0 && _rungs < MaxRungs)
            {
                _heapLast = bStart - 1;
                NewRung(list, c, bStart, bLast);
                continue;
            }
            _heapLast = bLast;
            PourIntoHeap(list);
            return;
        }
    }

    /// <summary>Creates rung <c>_rungs</c> over [start, last] and spreads the list into its buckets.</summary>
    private void NewRung(int list, int n, long start, long last)
    {
        int r = _rungs++;
        ulong span = (ulong)(last - start) + 1;   // times are never negative, so this cannot overflow
        ulong want = (ulong)Math.Clamp((long)n * BucketsPerEvent, 1, MaxBuckets);
        int shift = 0;
        while ((want << shift) < span)
            shift++;
        int nb = (int)(((span - 1) >> shift) + 1);
        if (_heads[r].Length < nb)
        {
            // nb <= n * BucketsPerEvent and n <= pool size: sized to the pool, a rung's tables
            // are reallocated only when the population reaches a new high, never in a steady state.
            _heads[r] = new int[Math.Max(nb, _pool.Length * BucketsPerEvent)];
            _counts[r] = new int[_heads[r].Length];
        }
        int[] heads = _heads[r];
        int[] counts = _counts[r];
        heads.AsSpan(0, nb).Fill(-1);
        counts.AsSpan(0, nb).Clear();
        _rungStart[r] = start;
        _rungLast[r] = last;
        _rungShift[r] = shift;
        _rungBuckets[r] = nb;
        _rungCur[r] = 0;
        while (list >= 0)
        {
            int nx = _next[list];
            int b = (int)((ulong)(_pool[list].Time - start) >> shift);
            _next[list] = heads[b];
            heads[b] = list;
            counts[b]++;
            list = nx;
        }
    }

    /// <summary>Moves every parked event back into the heap and switches the ladder off.</summary>
    private void Fold()
    {
        for (int r = 0; r < _rungs; r++)
        {
            int[] heads = _heads[r];
            for (int b = _rungCur[r]; b < _rungBuckets[r]; b++)
            {
                PourIntoHeap(heads[b]);
                heads[b] = -1;
                _counts[r][b] = 0;
            }
        }
        PourIntoHeap(_topHead);
        _topHead = -1;
        _topCount = 0;
        _rungs = 0;
        _ladder = false;
        _spillAt = _spillThreshold;
        _heapLast = long.MaxValue;
    }

    private void PourIntoHeap(int list)
    {
        while (list >= 0)
        {
            ref var e = ref _pool[list];
            _heap.Push(e.Time, e.Key, e.Arg);
            int nx = _next[list];
            _next[list] = _free;
            _free = list;
            list = nx;
        }
    }

    /// <summary>Removes every entry for which <paramref name="remove"/> says so; returns how many.</summary>
    public int RemoveWhere<TPredicate>(ref TPredicate remove) where TPredicate : struct, IEntryPredicate
    {
        int removed = _heap.RemoveWhere(ref remove);
        for (int r = 0; r < _rungs; r++)
        {
            int[] heads = _heads[r];
            int[] counts = _counts[r];
            for (int b = _rungCur[r]; b < _rungBuckets[r]; b++)
            {
                int k = FilterList(ref heads[b], ref remove);
                counts[b] -= k;
                removed += k;
            }
        }
        int t = FilterList(ref _topHead, ref remove);
        _topCount -= t;
        removed += t;
        _count -= removed;
        return removed;
    }

    private int FilterList<TPredicate>(ref int head, ref TPredicate remove) where TPredicate : struct, IEntryPredicate
    {
        int removed = 0;
        ref int link = ref head;
        while (link >= 0)
        {
            int node = link;
            if (remove.ShouldRemove(_pool[node]))
            {
                link = _next[node];
                _next[node] = _free;
                _free = node;
                removed++;
            }
            else
            {
                link = ref _next[node];
            }
        }
        return removed;
    }

    /// <summary>
    /// Every entry, in storage order (not sorted), for rewriting keys in place; call
    /// <see cref="Heapify"/> afterwards. Folds the ladder back into the heap first.
    /// </summary>
    public Span<HeapEntry> UnorderedEntries()
    {
        if (_ladder)
            Fold();
        return _heap.UnorderedEntries();
    }

    /// <summary>Re-establishes order after keys were rewritten through <see cref="UnorderedEntries"/>.</summary>
    public void Heapify() => _heap.Heapify();
}

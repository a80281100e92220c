using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PleSim.Engine;

/// <summary>Chooses the arity of <see cref="EventHeap{TArity}"/> at compile time so the JIT folds the shifts.</summary>
public interface IHeapArity
{
    static abstract int Log2 { get; }
}

public struct Arity2 : IHeapArity { public static int Log2 => 1; }
public struct Arity4 : IHeapArity { public static int Log2 => 2; }
public struct Arity8 : IHeapArity { public static int Log2 => 3; }

/// <summary>
/// One entry of the pending-event set: 24 bytes and no object reference, so moving entries
/// in the heap needs no GC write barrier. <see cref="Key"/> holds the sequence number in its
/// high bits and the handler's id in its low bits, so comparing (Time, Key) compares
/// (time, sequence): equal times fire in scheduling order.
/// </summary>
public struct HeapEntry
{
    public long Time;
    public long Key;
    public long Arg;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Less(in HeapEntry a, in HeapEntry b) =>
        a.Time < b.Time || (a.Time == b.Time && a.Key < b.Key);
}

/// <summary>
/// A d-ary min-heap of <see cref="HeapEntry"/> values ordered by (time, sequence), with a
/// "hole" at the root after a pop: the hold pattern (pop one event, schedule one) then costs a
/// single sift-down instead of a sift-down and a sift-up. Arity 2/4/8 were measured
/// (<c>plesim bench engine</c>, docs/decisions/0002-event-heap.md); the simulator uses 2.
/// </summary>
public sealed class EventHeap<TArity> where TArity : struct, IHeapArity
{
    private HeapEntry[] _items;
    private int _count;      // entries in _items, including the hole at index 0 when _hole
    private bool _hole;      // _items[0] is vacant (popped, not yet refilled)

    // _items[_count] is always a sentinel that no entry is greater than (see SiftDown2).
    private static readonly HeapEntry Sentinel = new() { Time = long.MaxValue, Key = long.MaxValue, Arg = 0 };

    public EventHeap(int capacity = 1024)
    {
        _items = new HeapEntry[Math.Max(capacity, 16) + 1];
        _items[0] = Sentinel;
    }

    /// <summary>Number of entries held.</summary>
    public int Count
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _hole ? _count - 1 : _count;
    }

    public int Capacity => _items.Length - 1;

    public void Clear()
    {
        _count = 0;
        _hole = false;
        _items[0] = Sentinel;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(long time, long key, long arg)
    {
        var e = new HeapEntry { Time = time, Key = key, Arg = arg };
        if (_hole)
        {
            _hole = false;
            SiftDown(0, e);
            return;
        }
        if (_count + 1 == _items.Length)
            Grow();
        _items[_count + 1] = Sentinel;
        SiftUp(_count++, e);
    }

    /// <summary>The smallest entry; the heap must not be empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref readonly HeapEntry PeekMin()
    {
        if (_hole)
            FillHole();
        return ref _items[0];
    }

    /// <summary>Removes the smallest entry, leaving a hole that the next push or pop fills.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public HeapEntry PopMin()
    {
        if (_hole)
            FillHole();
        var top = _items[0];
        _hole = true;
        return top;
    }

    /// <summary>
    /// Removes the smallest entry into <paramref name="entry"/> if its time is at most
    /// <paramref name="limit"/> (a peek and a pop in one step); the heap must not be empty.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPopUntil(long limit, out HeapEntry entry)
    {
        if (_hole)
            FillHole();
        ref var top = ref _items[0];
        entry = top;
        if (top.Time > limit)
            return false;
        _hole = true;
        return true;
    }

    private void FillHole()
    {
        _hole = false;
        int last = --_count;
        var e = _items[last];
        _items[last] = Sentinel;
        if (last > 0)
            SiftDown(0, e);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SiftUp(int i, HeapEntry e)
    {
        var items = _items;
        while (i > 0)
        {
            int parent = (i - 1) >> TArity.Log2;
            ref var p = ref items[parent];
            if (!HeapEntry.Less(e, p))
                break;
            items[i] = p;
            i = parent;
        }
        items[i] = e;
    }

    private void SiftDown(int i, HeapEntry e)
    {
        if (TArity.Log2 == 1)
        {
            SiftDown2(i, e);
            return;
        }
        var items = _items;
        int n = _count;
        int arity = 1 << TArity.Log2;
        while (true)
        {
            int first = (i << TArity.Log2) + 1;
            if (first >= n)
                break;
            int min = first;
            int end = Math.Min(first + arity, n);
            for (int c = first + 1; c < end; c++)
            {
                if (HeapEntry.Less(items[c], items[min]))
                    min = c;
            }
            if (!HeapEntry.Less(items[min], e))
                break;
            items[i] = items[min];
            i = min;
        }
        items[i] = e;
    }

    /// <summary>
    /// The binary sift-down. The sentinel after the last entry stands in for a missing right
    /// child (it never wins), so each level makes one bounds test and one child choice, taken
    /// with a flag rather than a branch on the (unpredictable) time comparison.
    /// </summary>
    private void SiftDown2(int i, HeapEntry e)
    {
        ref var items = ref MemoryMarshal.GetArrayDataReference(_items);
        int n = _count;
        while (true)
        {
            int l = (i << 1) + 1;
            if (l >= n)
                break;
            ref var a = ref Unsafe.Add(ref items, l);
            ref var b = ref Unsafe.Add(ref a, 1);
            bool right = b.Time < a.Time;
            if (b.Time == a.Time)
                right = b.Key < a.Key;
            int min = l + (right ? 1 : 0);
            ref var m = ref Unsafe.Add(ref items, min);
            if (!HeapEntry.Less(m, e))
                break;
            Unsafe.Add(ref items, i) = m;
            i = min;
        }
        Unsafe.Add(ref items, i) = e;
    }

    private void Grow() => Array.Resize(ref _items, ((_items.Length - 1) * 2) + 1);

    /// <summary>
    /// Removes every entry for which <paramref name="remove"/> says so and restores heap order
    /// in O(n). Used to drop cancelled events when they outnumber live ones.
    /// </summary>
    public int RemoveWhere<TPredicate>(ref TPredicate remove) where TPredicate : struct, IEntryPredicate
    {
        if (_hole)
            FillHole();
        int kept = 0;
        for (int i = 0; i < _count; i++)
        {
            if (!remove.ShouldRemove(_items[i]))
                _items[kept++] = _items[i];
        }
        int removed = _count - kept;
        _count = kept;
        _items[kept] = Sentinel;
        for (int i = ((_count - 2) >> TArity.Log2); i >= 0; i--)
            SiftDown(i, _items[i]);
        return removed;
    }

    /// <summary>Entries in storage order (not sorted); for renumbering and diagnostics.</summary>
    public Span<HeapEntry> UnorderedEntries()
    {
        if (_hole)
            FillHole();
        return _items.AsSpan(0, _count);
    }

    /// <summary>Re-establishes heap order after keys were rewritten in place.</summary>
    public void Heapify()
    {
        for (int i = ((_count - 2) >> TArity.Log2); i >= 0; i--)
            SiftDown(i, _items[i]);
    }
}

/// <summary>A struct predicate over heap entries (no delegate allocation).</summary>
public interface IEntryPredicate
{
    bool ShouldRemove(in HeapEntry entry);
}

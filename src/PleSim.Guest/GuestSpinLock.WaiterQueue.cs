using System.Runtime.CompilerServices;

namespace PleSim.Guest;

public sealed partial class GuestSpinLock
{
    /// <summary>
    /// The lock's waiters in order, as a <see cref="List{T}"/> would hold them, but the live part is
    /// [start, start + count) of a fixed array: removing the first waiter — every acquisition of a
    /// FIFO lock — moves <c>start</c> instead of shifting all the others down (each a 90-byte record
    /// with two references, copied with the GC's write barriers). The live part moves back to the
    /// front only when an append reaches the array's end. A speed choice only: the order of the
    /// waiters, and so every decision that reads it, is the list's.
    /// </summary>
    private sealed class WaiterQueue
    {
        private Waiter[] _items;
        private int _start;
        private int _count;

        /// <param name="capacity">Waiters held without growing (one per guest CPU at most); the array is twice that, so the live part is moved back to the front at most once per that many removals.</param>
        public WaiterQueue(int capacity) => _items = new Waiter[Math.Max(4, 2 * capacity)];

        public int Count => _count;

        public ref Waiter this[int i]
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get
            {
                if ((uint)i >= (uint)_count)
                    ThrowIndex();
                return ref _items[_start + i];
            }
        }

        public Span<Waiter> AsSpan() => new(_items, _start, _count);

        public Span<Waiter>.Enumerator GetEnumerator() => AsSpan().GetEnumerator();

        public void Add(in Waiter w)
        {
            int end = _start + _count;
            if (end == _items.Length)
            {
                if (_start > 0)
                {
                    // Move the live part to the front and clear what it leaves behind.
                    _items.AsSpan(_start, _count).CopyTo(_items);
                    _items.AsSpan(_count, _start).Clear();
                    _start = 0;
                }
                else
                {
                    Array.Resize(ref _items, _items.Length * 2); // more waiters than guest CPUs: never in a run
                }
                end = _count;
            }
            _items[end] = w;
            _count++;
        }

        public void RemoveAt(int i)
        {
            if ((uint)i >= (uint)_count)
                ThrowIndex();
            if (i == 0)
            {
                _items[_start] = default;
                _start++;
            }
            else
            {
                int at = _start + i;
                int after = _count - i - 1;
                if (after > 0)
                    _items.AsSpan(at + 1, after).CopyTo(_items.AsSpan(at));
                _items[_start + _count - 1] = default;
            }
            _count--;
            if (_count == 0)
                _start = 0;
        }

        private static void ThrowIndex() => throw new ArgumentOutOfRangeException("index");
    }
}

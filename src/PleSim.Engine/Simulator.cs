using System.Runtime.CompilerServices;

namespace PleSim.Engine;

/// <summary>The id of a handler registered with a <see cref="Simulator"/>; events name their handler by it.</summary>
public readonly record struct HandlerId(int Value);

/// <summary>
/// A handler whose pending events can be cancelled lazily (e.g. <see cref="HrTimer"/>): it
/// recognises its own stale events by their argument and reports them with
/// <see cref="Simulator.NoteStaleEvent"/>.
/// </summary>
public interface ICancellableHandler : IEventHandler
{
    bool IsStale(long arg);
}

/// <summary>
/// The discrete-event loop. Pending events live in a binary heap of 24-byte entries ordered by
/// (time, sequence number), with a ladder queue in front of it for large populations
/// (<see cref="LadderEventQueue"/>); an entry names its handler by a registered id and carries a 64-bit
/// argument, so scheduling and firing allocate nothing and copy no object references.
/// </summary>
/// <remarks>
/// Cancellation is O(1) and lazy (<see cref="HrTimer.Cancel"/>): the timer bumps a generation
/// and skips the stale entry when it reaches the top. When stale entries outnumber live ones
/// the heap is compacted in O(n).
/// </remarks>
public sealed class Simulator
{
    // Key layout: [ sequence : 63 - HandlerBits ][ handler id : HandlerBits ] (sign bit stays 0).
    private const int HandlerBits = 24;
    private const long HandlerMask = (1L << HandlerBits) - 1;
    private const long MaxSequence = (1L << (63 - HandlerBits)) - 1;

    private readonly LadderEventQueue _heap;
    private readonly List<IEventHandler> _handlerList = [];
    private IEventHandler[] _handlers = new IEventHandler[64];
    private long _nextSequence;
    private int _stalePending;
    private long _stalePopped;
    private bool _stopRequested;
    private ulong _digest = 14695981039346656037UL;
    private long _invariantCountdown;

    public Simulator(int initialCapacity = 1024)
    {
        _heap = new LadderEventQueue(initialCapacity);
        Invariants = new InvariantSet(this);
    }

    /// <summary>The current simulated time: the time of the event being fired, or the end of the last <see cref="RunUntil"/>.</summary>
    public SimTime Now { get; private set; }

    /// <summary>Events fired so far (stale, cancelled events are not counted).</summary>
    public long EventsFired { get; private set; }

    /// <summary>Events scheduled and neither fired nor cancelled.</summary>
    public int PendingCount => _heap.Count - _stalePending;

    /// <summary>
    /// A running FNV-1a digest of every event taken from the heap (time, sequence, handler,
    /// argument): two runs that process the same events in the same order have the same digest.
    /// </summary>
    public ulong Digest => _digest;

    /// <summary>Checks that components register and tests (or <c>--check-invariants</c>) switch on.</summary>
    public InvariantSet Invariants { get; }

    /// <summary>Registers a handler; do it once per component, at construction.</summary>
    public HandlerId Register(IEventHandler handler)
    {
        int id = _handlerList.Count;
        if (id > HandlerMask)
            throw new InvalidOperationException($"more than {HandlerMask + 1} event handlers");
        _handlerList.Add(handler);
        if (id == _handlers.Length)
            Array.Resize(ref _handlers, _handlers.Length * 2);
        _handlers[id] = handler;
        return new HandlerId(id);
    }

    /// <summary>Schedules the handler <paramref name="handler"/> to fire at <paramref name="time"/> with <paramref name="arg"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Schedule(SimTime time, HandlerId handler, long arg = 0)
    {
        if (time.Ns < Now.Ns)
            ThrowPast(time);
        if (_nextSequence > MaxSequence)
            Renumber();
        _heap.Push(time.Ns, (_nextSequence++ << HandlerBits) | (uint)handler.Value, arg);
    }

    /// <summary>Schedules <paramref name="handler"/> to fire <paramref name="delay"/> from now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScheduleAfter(SimDuration delay, HandlerId handler, long arg = 0) =>
        Schedule(new SimTime(Now.Ns + delay.Ns), handler, arg);

    /// <summary>Stops <see cref="RunUntil"/> after the event being fired returns.</summary>
    public void Stop() => _stopRequested = true;

    /// <summary>The last <see cref="RunUntil"/> returned because of <see cref="Stop"/> (until the next one starts).</summary>
    public bool StopRequested => _stopRequested;

    /// <summary>
    /// Fires events in (time, sequence) order while their time is at most <paramref name="limit"/>
    /// (events at exactly <paramref name="limit"/> fire), then sets <see cref="Now"/> to
    /// <paramref name="limit"/>. After <see cref="Stop"/>, returns at once with <see cref="Now"/>
    /// at the stopping event's time. Returns the number of events fired.
    /// </summary>
    public long RunUntil(SimTime limit)
    {
        if (limit.Ns < Now.Ns)
            throw new ArgumentOutOfRangeException(nameof(limit), limit, $"cannot run backwards from {Now}");
        _stopRequested = false;
        long popped = 0;
        long staleBefore = _stalePopped;
        while (_heap.TryPopUntil(limit.Ns, out var e))
        {
            Now = new SimTime(e.Time);
            _digest = (_digest ^ (ulong)e.Time) * 1099511628211UL;
            _digest = (_digest ^ (ulong)e.Key) * 1099511628211UL;
            _digest = (_digest ^ (ulong)e.Arg) * 1099511628211UL;
            popped++;
            _handlers[(int)(e.Key & HandlerMask)].OnEvent(this, e.Arg);
            if (_invariantCountdown > 0 && --_invariantCountdown == 0)
            {
                Invariants.CheckAll();
                _invariantCountdown = Invariants.Interval;
            }
            if (_stopRequested)
                return Account(popped, staleBefore);
        }
        Now = limit;
        return Account(popped, staleBefore);
    }

    private long Account(long popped, long staleBefore)
    {
        long fired = popped - (_stalePopped - staleBefore);
        EventsFired += fired;
        return fired;
    }

    /// <summary>Fires every pending event (useful in tests). Beware of self-perpetuating events.</summary>
    public long RunToCompletion() => RunUntil(SimTime.MaxValue);

    /// <summary>Called by an <see cref="ICancellableHandler"/> when it cancels one of its pending events.</summary>
    public void NoteCancelled()
    {
        _stalePending++;
        if (_stalePending > 4096 && _stalePending > _heap.Count / 2)
            Compact();
    }

    /// <summary>Called by an <see cref="ICancellableHandler"/> when one of its cancelled events reaches the top and is skipped.</summary>
    public void NoteStaleEvent()
    {
        _stalePending--;
        _stalePopped++;
    }

    internal void SetInvariantInterval(long everyNEvents) => _invariantCountdown = everyNEvents;

    private struct IsStale : IEntryPredicate
    {
        public IEventHandler[] Handlers;

        public readonly bool ShouldRemove(in HeapEntry entry) =>
            Handlers[(int)(entry.Key & HandlerMask)] is ICancellableHandler c && c.IsStale(entry.Arg);
    }

    private void Compact()
    {
        var pred = new IsStale { Handlers = _handlers };
        _stalePending -= _heap.RemoveWhere(ref pred);
    }

    /// <summary>
    /// Sequence numbers ran out (after ~5.5e11 schedules): renumber pending events 0..n-1 in
    /// their (time, sequence) order, which keeps every relative order and therefore determinism.
    /// </summary>
    private void Renumber()
    {
        var entries = _heap.UnorderedEntries();
        entries.Sort(static (a, b) => HeapEntry.Less(a, b) ? -1 : HeapEntry.Less(b, a) ? 1 : 0);
        for (int i = 0; i < entries.Length; i++)
            entries[i].Key = ((long)i << HandlerBits) | (entries[i].Key & HandlerMask);
        _heap.Heapify();
        _nextSequence = entries.Length;
    }

    /// <summary>Test hook: pretend many events were already scheduled, to exercise renumbering.</summary>
    internal void SetNextSequenceForTest(long next) => _nextSequence = next;

    private void ThrowPast(SimTime time) =>
        throw new ArgumentOutOfRangeException(nameof(time), time, $"cannot schedule an event in the past (now is {Now})");
}

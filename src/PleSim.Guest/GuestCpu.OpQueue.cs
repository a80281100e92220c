namespace PleSim.Guest;

/// <summary>A guest CPU: the micro-op queue a kernel path is written into (push at the back, run next at the front, pop).</summary>
public sealed partial class GuestCpu
{
    // ------------------------------------------------------------------ op queue

    private void PushBack(in Op op)
    {
        if (_count == _ops.Length)
            Grow();
        // The ring's index arithmetic by compare-and-wrap, not %: _head and _count are below the
        // length, so one subtraction wraps (an integer division per op was a measurable cost).
        int i = _head + _count;
        if (i >= _ops.Length)
            i -= _ops.Length;
        _ops[i] = op;
        _count++;
    }

    /// <summary>
    /// Queues a kernel path to run next, written in the order it runs: <c>RunNext(lock, work,
    /// unlock)</c> runs the lock first. (The ops go to the front of the queue, last one first.)
    /// </summary>
    private void RunNext(params ReadOnlySpan<Op> path)
    {
        for (int i = path.Length - 1; i >= 0; i--)
            PushFront(path[i]);
    }

    private void PushFront(in Op op)
    {
        if (_count == _ops.Length)
            Grow();
        _head = (_head == 0 ? _ops.Length : _head) - 1;
        _ops[_head] = op;
        _count++;
    }

    private Op PopFront()
    {
        var op = _ops[_head];
        _ops[_head] = default;
        if (++_head == _ops.Length)
            _head = 0;
        // An emptied ring starts again at slot 0: the order of queued ops does not depend on where
        // the ring starts, and reusing the same few slots keeps the cache lines a CPU touches per op
        // few (with 256 guest CPUs, a head that walks the whole ring missed the cache on most pops).
        if (--_count == 0)
            _head = 0;
        return op;
    }

    /// <summary>Appends a zeroed slot (free slots are kept zeroed by <see cref="PopFront"/>) and returns it for the caller to fill.</summary>
    private ref Op PushBackSlot()
    {
        if (_count == _ops.Length)
            Grow();
        int i = _head + _count;
        if (i >= _ops.Length)
            i -= _ops.Length;
        _count++;
        return ref _ops[i];
    }

    private void Grow()
    {
        var bigger = new Op[_ops.Length * 2];
        for (int i = 0; i < _count; i++)
            bigger[i] = _ops[(_head + i) % _ops.Length];
        _ops = bigger;
        _head = 0;
    }

    private void Push(Micro kind, long ns = 0, GuestSpinLock? lk = null, WaitQueue? q = null, GuestThread? t = null, GuestCpu? cpu = null, int vector = 0, bool user = false) =>
        PushBack(new Op { Kind = kind, Ns = ns, Lock = lk, Queue = q, Thread = t, Cpu = cpu, Vector = vector, User = user });
}

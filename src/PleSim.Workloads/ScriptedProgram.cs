using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// A thread program written as "plan a few actions, then plan again": <see cref="Plan"/> is called
/// whenever the planned actions ran out. Callbacks (<see cref="GuestAction.Call"/>) may insert
/// actions to run next with <see cref="EmitNow"/>.
/// </summary>
public abstract class ScriptedProgram : IThreadProgram, IGuestCallback
{
    private GuestAction[] _buf = new GuestAction[16];
    private int _head;
    private int _count;

    public GuestAction Next(GuestThread thread)
    {
        for (int guard = 0; _count == 0; guard++)
        {
            if (guard > 100)
                throw new InvalidOperationException($"{GetType().Name} planned nothing for {thread}");
            Plan(thread);
        }
        var a = _buf[_head];
        _buf[_head] = default;
        if (++_head == _buf.Length) // wrap by compare, not % (an integer division per action)
            _head = 0;
        // An emptied ring starts again at slot 0 (the order of planned actions does not depend on
        // where the ring starts): a program that plans a few actions at a time keeps reusing the
        // same cache lines instead of walking the whole ring (256-CPU run, bench/RESULTS.md).
        if (--_count == 0)
            _head = 0;
        return a;
    }

    /// <summary>Plans the next actions (at least one) with <c>Emit</c>.</summary>
    protected abstract void Plan(GuestThread thread);

    /// <summary>Called by the <see cref="GuestAction.Call"/> actions this program emitted.</summary>
    public virtual void Run(GuestThread thread, int code)
    {
    }

    protected void Emit(in GuestAction a)
    {
        if (_count == _buf.Length)
            Grow();
        int i = _head + _count; // both below the length: one subtraction wraps
        if (i >= _buf.Length)
            i -= _buf.Length;
        _buf[i] = a;
        _count++;
    }

    protected void Emit(int code) => Emit(GuestAction.Call(this, code));

    /// <summary>Inserts actions to run before anything already planned (in the given order).</summary>
    protected void EmitNow(params ReadOnlySpan<GuestAction> actions)
    {
        for (int i = actions.Length - 1; i >= 0; i--)
        {
            if (_count == _buf.Length)
                Grow();
            _head = (_head == 0 ? _buf.Length : _head) - 1;
            _buf[_head] = actions[i];
            _count++;
        }
    }

    private void Grow()
    {
        var b = new GuestAction[_buf.Length * 2];
        for (int i = 0; i < _count; i++)
            b[i] = _buf[(_head + i) % _buf.Length];
        _buf = b;
        _head = 0;
    }
}

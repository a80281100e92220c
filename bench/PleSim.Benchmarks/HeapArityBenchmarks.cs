using BenchmarkDotNet.Attributes;
using PleSim.Engine;

namespace PleSim.Benchmarks;

/// <summary>Bare event-heap hold loop for arity 2, 4 and 8 (the choice is recorded in docs/decisions/0002-event-heap.md).</summary>
public class HeapArityBenchmarks
{
    private const int OpsPerInvoke = 100_000;
    private long[] _delays = [];
    private EventHeap<Arity2> _h2 = null!;
    private EventHeap<Arity4> _h4 = null!;
    private EventHeap<Arity8> _h8 = null!;
    private int _k;
    private long _seq;

    [Params(1_000, 100_000)]
    public int Pending { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _delays = HoldModel.DrawDelays(1, 1 << 20, SimDuration.FromMilliseconds(1));
        _h2 = Fill<Arity2>();
        _h4 = Fill<Arity4>();
        _h8 = Fill<Arity8>();
    }

    private EventHeap<T> Fill<T>() where T : struct, IHeapArity
    {
        var h = new EventHeap<T>(Pending);
        for (int i = 0; i < Pending; i++)
            h.Push(_delays[_k++ & (_delays.Length - 1)], _seq++, i);
        return h;
    }

    private long Hold<T>(EventHeap<T> h) where T : struct, IHeapArity
    {
        int mask = _delays.Length - 1;
        long t = 0;
        for (int i = 0; i < OpsPerInvoke; i++)
        {
            var e = h.PopMin();
            t = e.Time;
            h.Push(t + _delays[_k++ & mask], _seq++, e.Arg);
        }
        return t;
    }

    [Benchmark(OperationsPerInvoke = OpsPerInvoke)]
    public long Binary() => Hold(_h2);

    [Benchmark(Baseline = true, OperationsPerInvoke = OpsPerInvoke)]
    public long Quaternary() => Hold(_h4);

    [Benchmark(OperationsPerInvoke = OpsPerInvoke)]
    public long Octonary() => Hold(_h8);
}

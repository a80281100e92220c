using BenchmarkDotNet.Attributes;
using PleSim.Engine;

namespace PleSim.Benchmarks;

/// <summary>
/// The hold model on the engine against a bare <see cref="PriorityQueue{TElement, TPriority}"/> loop
/// replaying the same delays. Each invocation processes <see cref="EventsPerInvoke"/> events, so the
/// reported time is per event.
/// </summary>
[MemoryDiagnoser]
public class HoldBenchmarks
{
    private const int EventsPerInvoke = 100_000;
    private static readonly SimDuration Mean = SimDuration.FromMilliseconds(1);
    private long[] _delays = [];
    private Simulator _sim = null!;
    private HoldModel _model = null!;
    private PriorityQueue<int, long> _pq = null!;
    private int _next;

    [Params(1_000, 100_000)]
    public int Pending { get; set; }

    [Params(false, true)]
    public bool CancelHalf { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _delays = HoldModel.DrawDelays(1, 1 << 20, Mean);
        _sim = new Simulator(Pending * 4);
        _model = new HoldModel(_sim, Pending, _delays, CancelHalf);
        _sim.RunUntil(_sim.Now + (Mean * 4));
        _pq = new PriorityQueue<int, long>(Pending);
        for (int i = 0; i < Pending; i++)
            _pq.Enqueue(i, _delays[_next++ & (_delays.Length - 1)]);
    }

    [Benchmark(OperationsPerInvoke = EventsPerInvoke)]
    public long Engine()
    {
        // Run for the simulated time in which EventsPerInvoke events fire on average.
        return _sim.RunUntil(_sim.Now + new SimDuration(EventsPerInvoke * Mean.Ns / Pending));
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = EventsPerInvoke)]
    public long PriorityQueueBaseline()
    {
        int mask = _delays.Length - 1;
        long last = 0;
        for (int k = 0; k < EventsPerInvoke; k++)
        {
            _pq.TryDequeue(out int id, out long t);
            _pq.Enqueue(id, t + _delays[_next++ & mask]);
            last = t;
        }
        return last;
    }
}

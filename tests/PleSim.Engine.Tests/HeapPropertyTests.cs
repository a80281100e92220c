using CsCheck;
using PleSim.Engine;

namespace PleSim.Engine.Tests;

public class HeapPropertyTests
{
    /// <summary>An operation of a random schedule: arm timer i at time t, or cancel timer i.</summary>
    private readonly record struct Op(bool Cancel, int Timer, long Time);

    private static readonly Gen<Op[]> Ops =
        Gen.Select(Gen.Bool, Gen.Int[0, 40], Gen.Long[0, 50]).Select((c, i, t) => new Op(c, i, t)).Array[0, 300];

    [Fact]
    public void Events_pop_in_time_then_sequence_order_for_any_schedule_and_cancels()
    {
        Ops.Sample(ops =>
        {
            var sim = new Simulator(16);
            var r = new Recorder();
            var timers = Enumerable.Range(0, 41).Select(i => new HrTimer(sim, r, i)).ToArray();
            var plain = sim.Register(r);
            // Model: the expected pending set as (time, sequence, id).
            var expected = new Dictionary<int, (long Time, long Seq)>();
            var plainExpected = new List<(long Time, long Seq, long Arg)>();
            long seq = 0;
            foreach (var op in ops)
            {
                if (op.Cancel)
                {
                    timers[op.Timer].Cancel();
                    expected.Remove(op.Timer);
                }
                else if (op.Timer == 40)
                {
                    sim.Schedule(new SimTime(op.Time), plain, 1000 + seq);
                    plainExpected.Add((op.Time, seq, 1000 + seq));
                    seq++;
                }
                else
                {
                    timers[op.Timer].Start(new SimTime(op.Time));
                    expected[op.Timer] = (op.Time, seq++);
                }
            }
            var order = expected.Select(kv => (kv.Value.Time, kv.Value.Seq, Arg: (long)kv.Key))
                .Concat(plainExpected)
                .OrderBy(x => x.Time).ThenBy(x => x.Seq)
                .Select(x => (x.Time, x.Arg))
                .ToList();
            Assert.Equal(order.Count, sim.PendingCount);
            sim.RunToCompletion();
            return order.SequenceEqual(r.Fired);
        }, iter: 2000);
    }
}

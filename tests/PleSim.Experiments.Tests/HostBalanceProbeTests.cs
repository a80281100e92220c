using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Host;

namespace PleSim.Experiments.Tests;

/// <summary>
/// The read-only <see cref="HostBalanceProbe"/> (docs/anomalies/riel-2011-after-0086.md): it leaves
/// a run byte-identical, and its recomputation of the 2.6.39 balancer's inputs agrees with what the
/// balancer did at every move it made. With <c>PLESIM_BALANCE_PROBE_OUT</c> set, the second test
/// also writes the probe's records of the runs it names (a diagnostic, read by the anomaly note).
/// </summary>
public class HostBalanceProbeTests
{
    private static Scenario Amqp(params string[] overrides) =>
        HostScenarioTests.Shipped("riel-2011", "amqp.yaml", overrides);

    private static (RunResult Result, HostBalanceProbe? Probe) Run(Scenario s, ulong seed, bool probe, long? fromNs = null)
    {
        HostBalanceProbe? p = null;
        var options = new RunOptions
        {
            Attach = probe
                ? (model, scenario, _) =>
                {
                    var run = (SystemRun)model;
                    p = new HostBalanceProbe(run.Host, scenario.Host.Features.LbBias, () => run.Sim.Now.Ns, fromNs ?? scenario.Warmup.Ns);
                    run.Host.AddObserver(p);
                }
                : null,
        };
        return (Runner.RunOne(s, seed, options), p);
    }

    [Fact]
    public void The_probe_changes_nothing_and_its_recomputed_balance_inputs_match_every_move_the_balancer_made()
    {
        // The 2x cell without PLE (four hogs next to the AMQP guest), a short run.
        var s = Amqp("vms[1].workload.loops=4", "kvm.ple_handler=none", "duration=600ms");
        var without = Run(s, 2011, probe: false).Result;
        var (with, probe) = Run(s, 2011, probe: true);
        Assert.Equal(without.EventDigest, with.EventDigest);

        var sd = SystemRunOf(s).Host.Rqs[0].Domains;
        Assert.Single(sd); // one MC domain of four one-CPU groups: what the recomputation assumes
        Assert.All(sd[0].Groups, g => Assert.Equal(1, g.GroupWeight));

        var passes = probe!.Moves.Where(m => m.Pass is not null && !m.SamePass).ToList();
        Assert.Contains(passes, m => m.Cause == MigrationCause.PeriodicBalance);
        foreach (var m in passes)
        {
            var p = m.Pass!;
            Assert.False(p.Balanced, $"{m.AtNs}: {m.Task} moved by a pass the recomputation finds balanced");
            Assert.Equal(m.From, p.Busiest);
            Assert.True(p.Imbalance >= 512, $"{m.AtNs}: imbalance {p.Imbalance} below half a nice-0 weight");
        }
    }

    private static SystemRun SystemRunOf(Scenario s) => new(s, 1);

    /// <summary>
    /// Diagnostic only: with <c>PLESIM_BALANCE_PROBE_OUT=FILE</c>, runs the riel-2011 AMQP scenario
    /// with the overrides of <c>PLESIM_BALANCE_PROBE_SET</c> (separated by ';') for the seeds of
    /// <c>PLESIM_BALANCE_PROBE_SEEDS</c> (first-last) and writes every VCPU-thread migration of the
    /// measured window (from <c>PLESIM_BALANCE_PROBE_FROM_MS</c> when set) with the recomputed balance
    /// inputs (<see cref="HostBalanceProbe.Lines"/>).
    /// Without the variable it only checks that a record line has the header's columns.
    /// </summary>
    [Fact]
    public void Diagnostic_dump_of_the_balance_inputs_at_each_vcpu_migration()
    {
        var outPath = Environment.GetEnvironmentVariable("PLESIM_BALANCE_PROBE_OUT");
        if (string.IsNullOrEmpty(outPath))
        {
            var (_, p) = Run(Amqp("vms[1].workload.loops=4", "kvm.ple_handler=none", "duration=300ms"), 2011, probe: true);
            var lines = HostBalanceProbe.Lines("x", p!.Moves).ToList();
            Assert.True(lines.Count > 1);
            Assert.All(lines, l => Assert.Equal(lines[0].Split('\t').Length, l.Split('\t').Length));
            return;
        }
        var sets = (Environment.GetEnvironmentVariable("PLESIM_BALANCE_PROBE_SET") ?? "")
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var range = (Environment.GetEnvironmentVariable("PLESIM_BALANCE_PROBE_SEEDS") ?? "2011-2018").Split('-');
        ulong first = ulong.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture);
        ulong last = ulong.Parse(range[^1], System.Globalization.CultureInfo.InvariantCulture);
        var fromMs = Environment.GetEnvironmentVariable("PLESIM_BALANCE_PROBE_FROM_MS");
        var s = Amqp(sets);
        long from = string.IsNullOrEmpty(fromMs) ? s.Warmup.Ns : long.Parse(fromMs, System.Globalization.CultureInfo.InvariantCulture) * 1_000_000;
        long windowMs = (s.Warmup.Ns + s.Duration.Ns - from) / 1_000_000;
        using var w = new StreamWriter(outPath);
        bool header = true;
        for (ulong seed = first; seed <= last; seed++)
        {
            var (r, p) = Run(s, seed, probe: true, from);
            foreach (var line in HostBalanceProbe.Lines(seed.ToString(System.Globalization.CultureInfo.InvariantCulture), p!.Moves).Skip(header ? 0 : 1))
                w.WriteLine(line);
            header = false;
            w.WriteLine($"# seed {seed} subscribe_rate {r.Metric("amqp.subscribe_rate")} digest {r.EventDigest} frac_halted {r.Metric("amqp.frac_halted")} halted_at_own_ticks {(double)p.AmqpTickHalted / p.AmqpTickSamples} window_ms {windowMs}");
        }
    }
}

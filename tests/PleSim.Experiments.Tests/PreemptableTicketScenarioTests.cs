using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Guest;

namespace PleSim.Experiments.Tests;

/// <summary>guest.spinlock: preemptable-ticket, guest.pmtlock_timeout_unit and the spin-iteration metrics (decision 0046).</summary>
public class PreemptableTicketScenarioTests
{
    private static Scenario Bench(params string[] overrides) =>
        HostScenarioTests.Shipped("kvm", "lock-bench.yaml", overrides);

    [Fact]
    public void The_keys_parse_and_a_bad_unit_is_a_located_error()
    {
        var g = Bench("vms[0].guest.spinlock=preemptable-ticket").Vms[0].Guest;
        Assert.Equal((SpinlockKind.PreemptableTicket, 1 << 14), (g.Spinlock, g.PmtlockTimeoutUnit));
        Assert.Equal(256, Bench("vms[0].guest.spinlock=preemptable-ticket", "vms[0].guest.pmtlock_timeout_unit=256").Vms[0].Guest.PmtlockTimeoutUnit);
        var e = Assert.Throws<ScenarioException>(() => Bench("vms[0].guest.pmtlock_timeout_unit=0"));
        Assert.Contains("pmtlock_timeout_unit", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void The_preemptable_lock_bench_runs_with_every_invariant_checked_and_reports_its_mechanism()
    {
        // PLE off, 2x overcommit: waiters queue behind preempted waiters and time out.
        var s = Bench("vms[0].guest.spinlock=preemptable-ticket", "kvm.ple_handler=none", "duration=60ms", "warmup=20ms");
        var r = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 1 });
        Assert.True(r.Error is null, r.Error);
        Assert.True(r.Metric("bench.pmtlock_timeouts_per_second") > 0);
        Assert.True(r.Metric("bench.out_of_order_acquisitions_per_second") > 0);
        Assert.True(r.Metric("bench.out_of_order_acquisitions_per_second") <= r.Metric("bench.pmtlock_timeouts_per_second"));
        var t = Runner.RunOne(Bench("kvm.ple_handler=none", "duration=60ms", "warmup=20ms"), 1, new RunOptions());
        Assert.Null(t.Metric("bench.pmtlock_timeouts_per_second")); // reported for preemptable ticket guests only
    }

    [Fact]
    public void Without_a_timeout_the_preemptable_lock_behaves_as_the_ticket_lock()
    {
        // With the 2011 directed yield, PAUSE exits end every long wait well before (ticket - head) x
        // 2^14 loops of guest-mode spinning, so no waiter times out and the lock is a ticket lock.
        var p = Runner.RunOne(Bench("vms[0].guest.spinlock=preemptable-ticket", "duration=60ms", "warmup=20ms"), 1, new RunOptions());
        var t = Runner.RunOne(Bench("duration=60ms", "warmup=20ms"), 1, new RunOptions());
        Assert.Equal(0, p.Metric("bench.pmtlock_timeouts_per_second"));
        Assert.Equal(t.Events, p.Events);
        Assert.Equal(t.Metrics, p.Metrics.Where(m => !m.Key.Contains("pmtlock", StringComparison.Ordinal) && !m.Key.Contains("out_of_order", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_histogram_metrics_add_up_and_agree_with_the_contended_count()
    {
        var r = Runner.RunOne(Bench("kvm.ple_handler=none", "duration=60ms", "warmup=20ms"), 1, new RunOptions());
        double total = r.Metric("bench.contended_acquisitions")!.Value;
        Assert.True(total > 0);
        double sum = r.Metrics.Where(m => m.Key.StartsWith("bench.spin_iterations_log2.", StringComparison.Ordinal)).Sum(m => m.Value);
        Assert.Equal(total, sum);
        double within = r.Metrics.Where(m => m.Key.StartsWith("bench.spin_iterations_log2.", StringComparison.Ordinal) && int.Parse(m.Key[(m.Key.LastIndexOf('.') + 1)..], System.Globalization.CultureInfo.InvariantCulture) <= 16).Sum(m => m.Value);
        Assert.Equal(100 * within / total, r.Metric("bench.spin_within_65536_iterations_pct")!.Value, 10);
        Assert.True(r.Metric("bench.spin_iterations_p50") <= r.Metric("bench.spin_iterations_p99"));
        Assert.Equal(0, r.Metric("loops.contended_acquisitions")); // the hog VM takes no lock
        Assert.True(double.IsNaN(r.Metric("loops.spin_within_65536_iterations_pct")!.Value));
    }

    [Fact]
    public void Quantiles_are_the_upper_edge_of_their_log2_bucket()
    {
        // 10 acquisitions: 1 with 0 iterations, 4 in [2, 4), 4 in [2^15, 2^16), 1 in [2^19, 2^20).
        var counts = new double[64];
        counts[0] = 1;
        counts[2] = 4;
        counts[16] = 4;
        counts[20] = 1;
        Assert.Equal(4, VmReport.SpinIterationQuantile(counts, 10, 0.5));      // 5th of 10 is in bucket 2
        Assert.Equal(65536, VmReport.SpinIterationQuantile(counts, 10, 0.9));  // 9th in bucket 16
        Assert.Equal(1 << 20, VmReport.SpinIterationQuantile(counts, 10, 0.99));
        Assert.Equal(0, VmReport.SpinIterationQuantile(counts, 10, 0.1));
        Assert.True(double.IsNaN(VmReport.SpinIterationQuantile(counts, 0, 0.5)));
    }

    [Fact]
    public void The_preemptable_lock_bench_allocates_nothing_per_event_in_steady_state()
    {
        var s = Bench("vms[0].guest.spinlock=preemptable-ticket", "kvm.ple_handler=none");
        var model = new SystemRun(s, 1);
        model.Sim.RunUntil(new Engine.SimTime(100_000_000));
        long t0 = model.Vms[0].Kernel.Locks.Sum(l => l.PreemptableTimeouts);
        var (bytes, _) = SteadyState.Measure(model, 100_000_000, 300_000_000);
        Assert.True(model.Vms[0].Kernel.Locks.Sum(l => l.PreemptableTimeouts) > t0); // timeouts in the window
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void The_same_seed_gives_byte_identical_json_for_a_preemptable_ticket_guest()
    {
        var s = Bench("vms[0].guest.spinlock=preemptable-ticket", "duration=60ms", "warmup=20ms");
        var a = ResultJson.Write(s, [Runner.RunOne(s, 3, new RunOptions()), Runner.RunOne(s, 4, new RunOptions())]);
        var b = ResultJson.Write(s, Runner.RunMany(s, [3UL, 4UL], parallelism: 2));
        Assert.Equal(a, b);
    }
}

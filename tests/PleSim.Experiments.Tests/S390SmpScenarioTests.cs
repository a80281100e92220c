using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Guest;

namespace PleSim.Experiments.Tests;

/// <summary>
/// s390 guests' SIGP and TLB flushes at the scenario level (decision 0055 addendum): the keys, their
/// located errors, the shipped dbench-s390 scenario at 1x (its hog VM idle), and the SIGP ground truth
/// of a wake-up-heavy run. No 2:1 run of the dbench set-up here (the catalog case's result stays unseen).
/// </summary>
public class S390SmpScenarioTests
{
    private static Scenario Load(string dir, string file, params string[] overrides) =>
        HostScenarioTests.Shipped(dir, file, overrides);

    [Fact]
    public void The_keys_parse_and_a_bad_value_is_a_located_error()
    {
        var s = Load("workloads", "dbench-s390.yaml");
        Assert.True(s.Kvm.SigpInterpretation);
        Assert.Equal(SpinlockKind.S390, s.Vms[0].Guest.Spinlock);
        Assert.Equal(1_000, s.Vms[0].Guest.S390TlbFlushCost.Ns);
        Assert.Equal(900, s.Kvm.Costs.SigpHandler.Ns);
        Assert.Equal(100, s.Kvm.Costs.SigpInterpreted.Ns);
        Assert.False(Load("workloads", "dbench-s390.yaml", "kvm.sigp_interpretation=false").Kvm.SigpInterpretation);
        Assert.Equal(250, Load("workloads", "dbench-s390.yaml", "kvm.costs.sigp_interpreted=250ns").Kvm.Costs.SigpInterpreted.Ns);
        var e = Assert.Throws<ScenarioException>(() => Load("workloads", "dbench-s390.yaml", "kvm.sigp_interpretation=maybe"));
        Assert.Equal("kvm.sigp_interpretation", e.Diagnostics.Single().KeyPath);
        var f = Assert.Throws<ScenarioException>(() => Load("workloads", "dbench-s390.yaml", "vms[0].guest.s390_tlb_flush_cost=-1us"));
        Assert.Equal("vms[0].guest.s390_tlb_flush_cost", f.Diagnostics.Single().KeyPath);
    }

    [Fact]
    public void Dbench_s390_at_1x_runs_deterministically_with_every_invariant_checked_and_sends_no_apic_ipi()
    {
        var s = Load("workloads", "dbench-s390.yaml", "vms[1].workload.loops=0", "duration=15ms", "warmup=5ms");
        var a = Runner.RunOne(s, 1, new RunOptions { CheckInvariantsEvery = 1 });
        var b = Runner.RunOne(s, 1, new RunOptions());
        Assert.True(a.Error is null, a.Error);
        Assert.Equal(a.Metrics, b.Metrics);
        Assert.True(a.Metric("dbench.dbench_mb_per_s") > 0);
        Assert.Equal(0, a.Metric("dbench.ipi_exits_per_second"));
        Assert.Equal(0, a.Metric("dbench.pause_exits_per_second"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Pingpong_wakeups_in_an_s390_guest_are_sigp_intercepts_by_kind_not_icr_writes(bool sigpif)
    {
        // The pair on two VCPUs of a 2-CPU host: every message wakes the other, idle VCPU (in the wait
        // state), so each SIGP is a partial-execution intercept with interpretation, an instruction
        // intercept without it.
        var s = Load("workloads", "pingpong.yaml", "kvm.ple_handler=none", "vms[0].guest.spinlock=s390",
            $"kvm.sigp_interpretation={(sigpif ? "true" : "false")}", "vms[0].workload.loops=500");
        var r = Runner.RunOne(s, 1, new RunOptions());
        Assert.True(r.Error is null, r.Error);
        double sigps = r.Metric("pingpong.sigp_external_calls_per_second")!.Value;
        Assert.True(sigps > 0);
        Assert.Equal(0, r.Metric("pingpong.ipi_exits_per_second"));
        double inst = r.Metric("pingpong.sigp_intercepts_per_second.inst")!.Value;
        double pei = r.Metric("pingpong.sigp_intercepts_per_second.partexec")!.Value;
        if (sigpif)
        {
            Assert.Equal(0, inst);
            Assert.True(pei > 0.9 * sigps, $"{pei} of {sigps}");
            double rest = (r.Metric("pingpong.sigp_interpreted_rate")!.Value + r.Metric("pingpong.sigp_busy_rate")!.Value) * sigps;
            Assert.Equal(sigps - pei, rest, 3); // the others ran without an exit
        }
        else
        {
            Assert.Equal(0, pei);
            Assert.Equal(sigps, inst, 6);
            Assert.Equal(0, r.Metric("pingpong.sigp_interpreted_rate"));
        }
    }
}

using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Host;

namespace PleSim.Experiments.Tests;

/// <summary>
/// <c>vms[].vcpu_affinity</c>: one CPU list per VCPU thread (libvirt's <c>&lt;vcpupin&gt;</c>), and the host
/// scheduler honouring a single-CPU mask on every path (fork placement, wake-up placement, periodic,
/// idle and new-idle balancing, active balancing).
/// </summary>
public class VcpuAffinityTests
{
    private static Scenario LockBench(params string[] overrides) =>
        HostScenarioTests.Shipped("kvm", "lock-bench.yaml", overrides);

    private static Scenario Amqp(params string[] overrides) =>
        HostScenarioTests.Shipped("riel-2011", "amqp.yaml", overrides);

    /// <summary>Every host CPU each task was switched in on, every CPU it was woken or migrated to.</summary>
    private sealed class Placements : IHostObserver
    {
        public readonly Dictionary<HostTask, HashSet<int>> Ran = [];
        public readonly Dictionary<HostTask, HashSet<int>> Targets = [];
        public long Wakeups, Migrations;

        private static void Add(Dictionary<HostTask, HashSet<int>> d, HostTask t, int cpu)
        {
            if (!d.TryGetValue(t, out var s))
                d[t] = s = [];
            s.Add(cpu);
        }

        public void Switch(int cpu, HostTask prev, HostTask next, StopReason prevReason) => Add(Ran, next, cpu);

        public void Wakeup(HostTask task, int targetCpu, int wakerCpu, bool preemptsCurrent)
        {
            Wakeups++;
            Add(Targets, task, targetCpu);
        }

        public void Migrate(HostTask task, int from, int to, MigrationCause cause)
        {
            Migrations++;
            Add(Targets, task, to);
        }
    }

    private static Placements Run(Scenario s, long ms, ulong seed = 1)
    {
        var model = new SystemRun(s, seed);
        var seen = new Placements();
        model.Host.AddObserver(seen);
        model.Sim.Invariants.Enable(1); // includes "no task on a CPU outside its affinity", after every event
        model.Sim.RunUntil(SimTime.Zero + SimDuration.FromMilliseconds(ms));
        model.Sim.Invariants.CheckAll();
        return seen;
    }

    [Fact]
    public void The_key_gives_one_mask_per_vcpu_in_order_and_absent_it_is_null()
    {
        var s = LockBench("vms[0].vcpu_affinity=[3, 2, \"0-1\", 1]");
        Assert.Equal(["3", "2", "0-1", "1"], s.Vms[0].VcpuAffinity!.Select(c => c.ToString()));
        Assert.Null(s.Vms[1].VcpuAffinity);
        Assert.Null(LockBench().Vms[0].VcpuAffinity);
        var model = new SystemRun(s, 1);
        var v = model.Vms[0].Vm.Vcpus;
        Assert.Equal(CpuMask.Of(3), v[0].Task.Affinity);
        Assert.Equal(CpuMask.Of(2), v[1].Task.Affinity);
        Assert.Equal(CpuMask.All(2), v[2].Task.Affinity);
        Assert.Equal(CpuMask.Of(1), v[3].Task.Affinity);
        // The other VM keeps its one mask for all its VCPU threads.
        Assert.All(model.Vms[1].Vm.Vcpus, x => Assert.Equal(CpuMask.All(4), x.Task.Affinity));
    }

    [Fact]
    public void Vms_star_pins_every_vm_and_a_mask_equal_to_the_vm_affinity_changes_nothing()
    {
        var s = LockBench("vms[*].vcpu_affinity=[0, 1, 2, 3]");
        Assert.All(s.Vms, vm => Assert.Equal(["0", "1", "2", "3"], vm.VcpuAffinity!.Select(c => c.ToString())));
        var a = Runner.RunOne(LockBench("duration=50ms", "warmup=0"), 1, new RunOptions());
        var b = Runner.RunOne(LockBench("duration=50ms", "warmup=0", "vms[*].vcpu_affinity=[0-3, 0-3, 0-3, 0-3]"), 1, new RunOptions());
        Assert.Equal(a.EventDigest, b.EventDigest);
        var c = Runner.RunOne(LockBench("duration=50ms", "warmup=0", "vms[*].vcpu_affinity=[0, 1, 2, 3]"), 1, new RunOptions());
        Assert.NotEqual(a.EventDigest, c.EventDigest);
    }

    [Theory]
    [InlineData("vms[0].vcpu_affinity=[0, 1, 2]", "vms[0].vcpu_affinity", "3 CPU lists for 4 VCPUs")]
    [InlineData("vms[0].vcpu_affinity=[0, 1, 2, 3, 0]", "vms[0].vcpu_affinity", "5 CPU lists for 4 VCPUs")]
    [InlineData("vms[0].vcpu_affinity=[]", "vms[0].vcpu_affinity", "0 CPU lists for 4 VCPUs")]
    [InlineData("vms[0].vcpu_affinity=[0, x, 2, 3]", "vms[0].vcpu_affinity[1]", "'x' is not a CPU list")]
    [InlineData("vms[0].vcpu_affinity=[0, 1, 2, 4]", "vms[0].vcpu_affinity[3]", "CPU 4 does not exist: the host has CPUs 0-3")]
    [InlineData("vms[0].vcpu_affinity=[0, 1, [2], 3]", "vms[0].vcpu_affinity[2]", "expected a CPU list")]
    public void A_wrong_length_or_a_bad_cpu_list_is_a_located_error(string set, string path, string message)
    {
        var e = Assert.Throws<ScenarioException>(() => LockBench(set));
        var d = Assert.Single(e.Diagnostics);
        Assert.Equal(path, d.KeyPath);
        Assert.Contains(message, d.Message);
    }

    [Fact]
    public void A_pin_outside_the_vm_affinity_is_refused_at_that_entry_and_without_affinity_any_host_cpu_is_allowed()
    {
        var e = Assert.Throws<ScenarioException>(() => LockBench("host.cpus=6", "vms[0].vcpu_affinity=[0, 1, 4-5, 3]"));
        var d = Assert.Single(e.Diagnostics);
        Assert.Equal("vms[0].vcpu_affinity[2]", d.KeyPath);
        Assert.Contains("VCPU 2's CPUs 4-5 are not all within the VM's affinity 0-3", d.Message);
        // In a file: the error points at the entry (line 10, column 62: the third item of the flow list).
        var text = "name: p\ndescription: d\nkind: system\nseed: 1\nruns: 1\nduration: 1ms\nwarmup: 0\nhost: {cpus: 6}\nvms:\n" +
                   "  - {name: a, vcpus: 3, affinity: 0-2, vcpu_affinity: [0, 1, 5]}\n";
        var f = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadText(text, "p.yaml"));
        var fd = Assert.Single(f.Diagnostics);
        Assert.Equal(("p.yaml", 10, 62, "vms[0].vcpu_affinity[2]"), (fd.File, fd.Line, fd.Column, fd.KeyPath));
        var ok = ScenarioLoader.LoadText(text.Replace("affinity: 0-2, ", "", StringComparison.Ordinal), "p.yaml");
        Assert.Equal(["0", "1", "5"], ok.Vms[0].VcpuAffinity!.Select(c => c.ToString()));
    }

    [Fact]
    public void A_vcpu_pinned_to_one_cpu_runs_only_there_through_forks_wakeups_and_balancing()
    {
        // The seed's 1.5x cell with PLE: 8 VCPU threads (2 of the loops guest's busy) and the host's
        // background threads on 4 CPUs; the AMQP guest halts and is woken hundreds of times, the
        // balancer runs every tick.
        var pinned = Amqp("vms[1].workload.loops=2", "vms[0].vcpu_affinity=[0, 1, 2, 3]", "vms[1].vcpu_affinity=[3, 2, 1, 0]");
        var seen = Run(pinned, 300);
        Assert.True(seen.Wakeups > 500, $"{seen.Wakeups} wake-ups"); // 945 since decision 0085 (fewer idle-balance pulls)
        Assert.True(seen.Migrations > 0, "the background threads still migrate");
        foreach (var (task, cpus) in seen.Ran.Where(kv => kv.Key.Name.Contains("/vcpu", StringComparison.Ordinal)))
        {
            int i = int.Parse(task.Name[(task.Name.LastIndexOf("vcpu", StringComparison.Ordinal) + 4)..], System.Globalization.CultureInfo.InvariantCulture);
            int want = task.Name.StartsWith("amqp/", StringComparison.Ordinal) ? i : 3 - i;
            Assert.Equal([want], cpus);
            if (seen.Targets.TryGetValue(task, out var t))
                Assert.Equal([want], t);
        }
        Assert.Equal(8, seen.Ran.Keys.Count(t => t.Name.Contains("/vcpu", StringComparison.Ordinal)));

        // The same run with the one 0-3 mask per VM: the balancer does move VCPU threads (so the
        // assertions above can fail).
        var free = Run(Amqp("vms[1].workload.loops=2"), 300);
        Assert.Contains(free.Ran, kv => kv.Key.Name.Contains("/vcpu", StringComparison.Ordinal) && kv.Value.Count > 1);
    }

    [Fact]
    public void A_pinned_vcpu_thread_forked_from_another_cpu_starts_on_its_own()
    {
        // start_cpu 2 forks every VCPU thread from CPU 2; with a staggered start each fork is its own event.
        var seen = Run(LockBench("vms[0].start_cpu=2", "vms[0].vcpu_start_spread=5ms", "vms[0].vcpu_affinity=[0, 1, 0, 1]"), 30);
        foreach (var (task, cpus) in seen.Ran.Where(kv => kv.Key.Name.StartsWith("bench/vcpu", StringComparison.Ordinal)))
            Assert.Equal([task.Name.EndsWith('0') || task.Name.EndsWith('2') ? 0 : 1], cpus);
    }
}

using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Experiments.Tests;

/// <summary>host.background: the host's own periodic threads, as a scenario builds them.</summary>
public class BackgroundScenarioTests
{
    private static Scenario Amqp(params string[] overrides) =>
        ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "riel-2011", "amqp.yaml"),
            new[] { "duration=300ms", "warmup=100ms" }.Concat(overrides).Select(Override.Parse).ToList());

    /// <summary>A 2-CPU host with two hogs; <paramref name="background"/> is the text of its <c>host.background</c> section (indented under <c>host:</c>).</summary>
    private static Scenario HostOnly(string background) => ScenarioLoader.LoadText(
        "name: bg\ndescription: background threads on a 2-CPU host\nkind: system\nseed: 5\nruns: 1\nduration: 1s\nwarmup: 0\nhost:\n  cpus: 2\n  tasks:\n    - {name: hog, kind: hog, count: 2}\n" + background,
        "bg.yaml");

    [Fact]
    public void A_scenario_without_a_background_section_has_no_background_threads()
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "six-hogs-four-cpus.yaml"));
        Assert.Empty(s.Host.Background.Threads);
        var model = new SystemRun(s, 1);
        Assert.Empty(model.Background);
        Assert.Equal(6, model.Host.Tasks.Count(t => !t.IsIdle));
    }

    [Fact]
    public void The_riel_2011_host_runs_per_cpu_kernel_threads_a_qemu_thread_per_vm_and_the_host_kthreads()
    {
        var model = new SystemRun(Amqp(), 2011);
        var names = model.Background.Select(b => b.Task.Name).ToList();
        Assert.Equal(["events/0", "events/1", "events/2", "events/3", "qemu-iothread:amqp", "qemu-iothread:loops", "bdi-default", "sync_supers", "khugepaged"], names);
        foreach (var b in model.Background)
            Assert.Null(b.Task.Owner); // host tasks, not VCPUs
        for (int cpu = 0; cpu < 4; cpu++)
        {
            var events = model.Background[cpu].Task;
            Assert.Equal(1UL << cpu, events.Affinity);
            Assert.Equal(-5, events.Nice);
            Assert.Same(model.Host.RootGroup, events.Group);
        }
        Assert.Equal(19, model.Background.Single(b => b.Task.Name == "khugepaged").Task.Nice);
    }

    [Fact]
    public void A_qemu_thread_is_in_its_vms_group_with_its_vms_affinity()
    {
        var model = new SystemRun(Amqp("vms[0].cgroup=own", "vms[1].cgroup=own", "vms[1].affinity=2-3"), 2011);
        var amqp = model.Background.Single(b => b.Task.Name == "qemu-iothread:amqp").Task;
        var loops = model.Background.Single(b => b.Task.Name == "qemu-iothread:loops").Task;
        Assert.Same(model.Vms[0].Vm.Group, amqp.Group);
        Assert.Same(model.Vms[1].Vm.Group, loops.Group);
        Assert.Equal("/amqp", amqp.Group.Path);
        Assert.Equal(0b1100UL, loops.Affinity);
    }

    [Fact]
    public void The_riel_2011_file_restates_the_preset_values()
    {
        static string Text(IEnumerable<BackgroundThreadSettings> ts) => string.Join("\n", ts.Select(t =>
            $"{t.Name} {t.Scope} {t.Nice} {t.Enabled}: " + string.Join(", ", t.Timers.Select(x => $"{x.Name} {x.Period} {x.Cost} {x.Rearm} {x.Phase}"))));
        var file = Amqp().Host.Background;
        Assert.Equal("rhel6-kvm-host", file.Preset);
        Assert.Equal(Text(BackgroundPresets.Get("rhel6-kvm-host").Where(t => t.Enabled)), Text(file.Threads));
    }

    [Fact]
    public void Enabled_false_removes_every_background_thread_and_leaves_the_rest_of_the_run_unchanged()
    {
        var off = Amqp("host.background.enabled=false");
        Assert.Empty(off.Host.Background.Threads);
        var a = new SystemRun(off, 2011);
        Assert.Empty(a.Background);
        Assert.DoesNotContain(a.Host.Tasks, t => t.Name.StartsWith("events/", StringComparison.Ordinal));
        // Without background work the run is the one of a scenario that never had the section.
        var text = File.ReadAllText(HostScenarioTests.Repo("scenarios", "riel-2011", "amqp.yaml"));
        int from = text.IndexOf("  background:\n", StringComparison.Ordinal), to = text.IndexOf("\nkvm:", StringComparison.Ordinal);
        Assert.True(from > 0 && to > from);
        var never = ScenarioLoader.LoadText(text[..from] + text[(to + 1)..], "amqp-without-background.yaml",
            [Override.Parse("duration=300ms"), Override.Parse("warmup=100ms")]);
        Assert.Empty(never.Host.Background.Threads);
        var b = new SystemRun(never, 2011);
        a.Sim.RunUntil(new SimTime(50_000_000));
        b.Sim.RunUntil(new SimTime(50_000_000));
        Assert.Equal(a.Sim.Digest, b.Sim.Digest);
    }

    [Fact]
    public void Background_runs_are_deterministic_and_differ_from_runs_without_it()
    {
        ulong Digest(Scenario s)
        {
            var m = new SystemRun(s, 2012);
            m.Sim.RunUntil(new SimTime(100_000_000));
            return m.Sim.Digest;
        }
        var on = Amqp("vms[1].workload.loops=2");
        Assert.Equal(Digest(on), Digest(on));
        Assert.NotEqual(Digest(on), Digest(Amqp("vms[1].workload.loops=2", "host.background.enabled=false")));
    }

    [Fact]
    public void A_custom_per_cpu_thread_wakes_at_its_period_and_takes_its_cpu_time()
    {
        var s = HostOnly("""
              background:
                threads:
                  - name: kw
                    scope: cpu
                    timers:
                      - {name: work, period: 10ms, cost: 200us, rearm: on_grid}

            """);
        var r = Runner.RunOne(s, 5);
        Assert.True(r.Error is null, r.Error);
        // 100 items per second on each of the 2 CPUs, 200 us each (2% of a CPU), plus a switch each.
        Assert.InRange(r.Metric("host.background_items_per_second")!.Value, 199, 201);
        Assert.InRange(r.Metric("cpu_share.kw/0")!.Value, 0.0199, 0.0206);
        Assert.InRange(r.Metric("cpu_share.kw/1")!.Value, 0.0199, 0.0206);
        Assert.InRange(r.Metric("host.background_cpus")!.Value, 0.0398, 0.0412);
    }

    [Fact]
    public void A_preset_thread_can_be_turned_off_or_changed_by_name()
    {
        var s = Amqp("host.background.threads[2].enabled=false", "host.background.threads[0].timers[0].cost=7us");
        var names = s.Host.Background.Threads.Select(t => t.Name).ToList();
        Assert.DoesNotContain("bdi-default", names);
        var events = s.Host.Background.Threads.Single(t => t.Name == "events");
        Assert.Equal(SimDuration.FromMicroseconds(7), events.Timers.Single(t => t.Name == "vmstat_update").Cost);
        Assert.Equal(SimDuration.FromMicroseconds(20), events.Timers.Single(t => t.Name == "cache_reap").Cost);
    }

    [Fact]
    public void A_vcpu_that_yields_on_a_pause_exit_can_be_followed_by_a_background_thread()
    {
        // The lock microbenchmark at 2x overcommit with the directed yield (many PAUSE exits and
        // yields), plus one nice-19 kthread scanning every 20 ms: its wake-up does not preempt a
        // VCPU (the wake-up granularity scales with its small weight), so it waits in the queue
        // for the next schedule() on its CPU — a tick, a halt, or a yield.
        var lb = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "kvm", "lock-bench.yaml"));
        var kthread = new BackgroundThreadSettings
        {
            Name = "kscan",
            Scope = "host",
            Nice = 19,
            Timers = [new BackgroundTimerSettings { Name = "scan", Period = SimDuration.FromMilliseconds(20), Cost = SimDuration.FromMicroseconds(50) }],
        };
        var s = lb with { Host = lb.Host with { Background = new BackgroundSettings { Threads = [kthread] } } };
        var model = new SystemRun(s, 1);
        var watcher = new AfterYield(model.Background.Select(b => b.Task).ToHashSet());
        model.Host.AddObserver(watcher);
        model.Sim.RunUntil(new SimTime(500_000_000));
        Assert.True(watcher.VcpuYields > 1000, $"only {watcher.VcpuYields} VCPU yields");
        Assert.True(watcher.VcpuYieldThenBackground > 0,
            $"no VCPU yield was followed by the background thread (yield-then-bg {watcher.VcpuYieldThenBackground}, yields {watcher.VcpuYields}; it ran after a preemption/block/yield {string.Join("/", watcher.ByReason)})");
    }

    private sealed class AfterYield(HashSet<HostTask> background) : IHostObserver
    {
        public long VcpuYieldThenBackground;

        public long[] ByReason = new long[3];
        public long VcpuYields;

        public void Switch(int cpu, HostTask prev, HostTask next, StopReason prevReason)
        {
            if (prev.Owner is Vcpu && prevReason == StopReason.Yielded)
                VcpuYields++;
            if (background.Contains(next))
                ByReason[(int)prevReason]++;
            if (prev.Owner is Vcpu && prevReason == StopReason.Yielded && background.Contains(next))
                VcpuYieldThenBackground++;
        }
    }

    [Fact]
    public void Bad_background_keys_are_reported_with_their_key_paths()
    {
        var e = Assert.Throws<ScenarioException>(() => HostOnly("""
              background:
                preset: rhel6-kvm-hots
                threads:
                  - name: mine
                    timers:
                      - {name: a, period: 30ms, cost: 30ms}
                      - {name: b, period: 30ms, cost: 1us, phase: round_jiffies}
                  - name: empty
                    scope: host

            """));
        var text = string.Join("\n", e.Diagnostics);
        Assert.Contains("host.background.preset: 'rhel6-kvm-hots' is not valid; did you mean 'rhel6-kvm-host'?", text, StringComparison.Ordinal);
        Assert.Contains("host.background.threads[0].scope: required key 'scope' is missing", text, StringComparison.Ordinal);
        Assert.Contains("host.background.threads[0].timers[0].cost: a work item of 30ms every 30ms never lets the thread sleep", text, StringComparison.Ordinal);
        Assert.Contains("host.background.threads[0].timers[1].period: phase round_jiffies rounds expiries to whole seconds", text, StringComparison.Ordinal);
        Assert.Contains("host.background.threads[1].timers: background thread 'empty' needs at least one timer", text, StringComparison.Ordinal);
        Assert.All(e.Diagnostics, d => Assert.True(d.Line > 0, $"no line for {d}"));
    }
}

public class BackgroundAllocationTests
{
    [Fact]
    public void Background_threads_allocate_nothing_per_event_in_steady_state()
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "six-hogs-four-cpus.yaml"),
            [Override.Parse("host.background.preset=rhel6-kvm-host")]);
        var model = new SystemRun(s, 3);
        Assert.NotEmpty(model.Background);
        model.Sim.RunUntil(new SimTime(2_000_000_000));
        long done0 = model.Background.Sum(b => b.Done.Sum());
        var (bytes, _) = SteadyState.Measure(model, 2_000_000_000, 12_000_000_000);
        Assert.True(model.Background.Sum(b => b.Done.Sum()) - done0 > 20);
        Assert.Equal(0, bytes);
    }
}

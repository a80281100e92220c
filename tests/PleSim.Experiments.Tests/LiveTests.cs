using System.Text.Json;
using PleSim.Experiments.Live;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>plesim live, without running anything live: /proc parsers on captured text, the scenario-to-live-task mapping, refusals, the comparison table.</summary>
public class LiveTests
{
    // Captured on the 6.18 machine (one live hog thread; the comm holds a space and parentheses to test the split).
    private const string StatSample =
        "41234 (live:hog (x) 1) R 41200 41200 379 0 -1 4194368 12 0 0 0 812 3 0 0 20 0 9 0 915634 3432890368 9812 " +
        "18446744073709551615 1 1 0 0 0 0 0 4096 17630 0 0 0 -1 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    private const string StatusSample =
        "Name:\tlive:hog0\nUmask:\t0022\nState:\tR (running)\nTgid:\t41200\nPid:\t41234\n" +
        "Cpus_allowed_list:\t0\nvoluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t1523\n";

    private const string ProcStatSample =
        "cpu  1303393 51798 146002 320656 736 0 600 1082 0 0\ncpu0 651000 25000 73000 160000 368 0 300 541 0 0\nintr 1 2 3\n";

    [Fact]
    public void Schedstat_gives_cpu_time_run_delay_and_timeslices()
    {
        var (cpu, delay, slices) = ProcParsers.Schedstat("8123456789 2468013579 1530\n");
        Assert.Equal(8123456789, cpu);
        Assert.Equal(2468013579, delay);
        Assert.Equal(1530, slices);
        Assert.Throws<FormatException>(() => ProcParsers.Schedstat("12 34\n"));
        Assert.Throws<FormatException>(() => ProcParsers.Schedstat("12 x 5\n"));
    }

    [Fact]
    public void Status_gives_voluntary_and_involuntary_switches()
    {
        Assert.Equal((7L, 1523L), ProcParsers.StatusSwitches(StatusSample));
        Assert.Throws<FormatException>(() => ProcParsers.StatusSwitches("Name:\tx\nvoluntary_ctxt_switches:\t7\n"));
    }

    [Fact]
    public void Stat_counts_fields_after_the_last_parenthesis_of_the_command_name()
    {
        var (ut, st, cpu) = ProcParsers.Stat(StatSample);
        Assert.Equal(812, ut);
        Assert.Equal(3, st);
        Assert.Equal(1, cpu);
        Assert.Throws<FormatException>(() => ProcParsers.Stat("41234 live R 1 2 3"));
        Assert.Throws<FormatException>(() => ProcParsers.Stat("41234 (x) R 1 2 3"));
    }

    [Fact]
    public void Proc_stat_gives_steal_and_busy_ticks_of_the_all_cpu_line()
    {
        Assert.Equal(1082, ProcParsers.StealTicks(ProcStatSample));
        Assert.Equal(1303393 + 51798 + 146002 + 0 + 600, ProcParsers.BusyTicks(ProcStatSample));
        Assert.Throws<FormatException>(() => ProcParsers.StealTicks("cpu0 1 2 3\n"));
    }

    [Fact]
    public void Loadavg_autogroup_and_cgroup_are_read()
    {
        Assert.Equal((0.47, 1.36, 3.40), ProcParsers.LoadAverage("0.47 1.36 3.40 2/345 41234\n"));
        Assert.Equal("/autogroup-379", ProcParsers.Autogroup("/autogroup-379 nice 0\n"));
        Assert.Null(ProcParsers.Autogroup(""));
        Assert.Equal("/", ProcParsers.CpuCgroup("4:memory:/process_api/e45\n2:cpuacct:/\n1:cpu:/\n0::/\n"));
        Assert.Equal("/user.slice/a", ProcParsers.CpuCgroup("3:cpu,cpuacct:/user.slice/a\n0::/x\n"));
        Assert.Equal("/session-3.scope", ProcParsers.CpuCgroup("0::/session-3.scope\n"));
    }

    [Fact]
    public void Latency_percentiles_use_the_nearest_rank()
    {
        long[] ns = [.. Enumerable.Range(1, 200).Select(i => i * 1000L)];
        var s = LatencySummary.Of(ns)!.Value;
        Assert.Equal(200, s.Count);
        Assert.Equal(100.0, s.P50Us);
        Assert.Equal(180.0, s.P90Us);
        Assert.Equal(198.0, s.P99Us);
        Assert.Equal(200.0, s.MaxUs);
        Assert.Null(LatencySummary.Of([]));
        Assert.Equal(5.0, LatencySummary.Rank([5000], 0.99));
    }

    [Fact]
    public void Latency_histograms_put_each_value_in_the_first_bucket_whose_edge_it_does_not_pass()
    {
        // 2 µs exactly is in "≤2"; 2.001 µs in "≤5"; 20 ms beyond the last edge.
        var h = LatencyHistogram.Of([1000, 2000, 2001, 20_000_000])!;
        Assert.Equal(LatencyHistogram.EdgesUs.Length + 1, h.Length);
        Assert.Equal(0.5, h[0]);
        Assert.Equal(0.25, h[1]);
        Assert.Equal(0.25, h[^1]);
        Assert.Equal(1.0, h.Sum(), 12);
        Assert.Null(LatencyHistogram.Of([]));
        Assert.Equal("≤2", LatencyHistogram.Headings()[0]);
        Assert.Equal(">10000", LatencyHistogram.Headings()[^1]);
    }

    private static Scenario Load(string yaml, params string[] overrides) =>
        ScenarioLoader.LoadText(yaml, "live-test.yaml", overrides.Select(Override.Parse).ToList());

    private const string Mixed = """
        name: t
        description: d
        kind: system
        seed: 3
        runs: 1
        duration: 200ms
        warmup: 10ms
        host:
          cpus: 2
          scheduler: eevdf-6.14
          tasks:
            - {name: hog, count: 2, nice: 5, affinity: "1"}
            - {name: s, kind: periodic, run: 2ms, sleep: 3ms, jitter: true}
            - {name: pp, kind: pingpong, work: 40us, affinity: "0"}
            - {name: y, kind: yielder, run: 500us, start_at: 20ms, set_affinity: {at: 50ms, cpus: "0"}}
        """;

    [Fact]
    public void Scenario_tasks_map_to_live_tasks_with_the_models_names_and_settings()
    {
        var plan = LivePlan.From(Load(Mixed), machineCpus: 2);
        Assert.Equal(2, plan.Cpus);
        Assert.Equal(["hog0", "hog1", "s", "ppa", "ppb", "y"], plan.Tasks.Select(t => t.Name));
        var hog1 = plan.Tasks[1];
        Assert.Equal(LiveKind.Hog, hog1.Kind);
        Assert.Equal(5, hog1.Nice);
        Assert.Equal(0b10UL, hog1.AffinityMask);
        var s = plan.Tasks[2];
        Assert.Equal(LiveKind.Periodic, s.Kind);
        Assert.Equal(0b11UL, s.AffinityMask); // no affinity: every CPU of the scenario
        Assert.Equal(2_000_000, s.RunNs);
        Assert.Equal(3_000_000, s.SleepNs);
        Assert.True(s.Jitter);
        Assert.True(s.RecordsLatency);
        var (a, b) = (plan.Tasks[3], plan.Tasks[4]);
        Assert.Equal((LiveKind.PingPong, 4, true, 40_000L), (a.Kind, a.Partner, a.StartsWithBall, a.WorkNs));
        Assert.Equal((LiveKind.PingPong, 3, false), (b.Kind, b.Partner, b.StartsWithBall));
        var y = plan.Tasks[5];
        Assert.Equal(LiveKind.Yielder, y.Kind);
        Assert.False(y.RecordsLatency);
        Assert.Equal(20_000_000, y.StartAtNs);
        Assert.Equal(50_000_000, y.SetAffinityAtNs);
        Assert.Equal(0b01UL, y.LaterAffinityMask);
    }

    [Fact]
    public void A_one_cpu_scenario_keeps_every_task_on_cpu_0()
    {
        var plan = LivePlan.From(Load(Mixed.Replace("cpus: 2", "cpus: 1", StringComparison.Ordinal).Replace("affinity: \"1\"", "affinity: \"0\"", StringComparison.Ordinal)), machineCpus: 2);
        Assert.All(plan.Tasks, t => Assert.Equal(1UL, t.AffinityMask));
    }

    [Theory]
    [InlineData("riel-2011/amqp.yaml", "host-only")]
    [InlineData("host/groups-equal-shares.yaml", "host.cgroups cannot be reproduced live")]
    [InlineData("host/yield-to.yaml", "yield_to is a kernel-internal call")]
    [InlineData("host/hogs-and-sleepers.yaml", "host.cpus 4, but this machine has 2 CPU(s)")]
    [InlineData("engine-hold.yaml", "kind 'engine-hold'")]
    public void Scenarios_that_cannot_run_live_are_refused_with_the_reason(string file, string reason)
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo(["scenarios", .. file.Split('/')]));
        var e = Assert.Throws<LiveException>(() => LivePlan.From(s, machineCpus: 2));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cpu_lists_are_written_as_the_kernel_writes_them()
    {
        Assert.Equal("0", LivePlan.CpuList(1));
        Assert.Equal("0-1", LivePlan.CpuList(3));
        Assert.Equal("0,2-4,63", LivePlan.CpuList(0b11101UL | (1UL << 63)));
    }

    [Fact]
    public void Every_shipped_live_scenario_maps_to_live_tasks_on_two_cpus()
    {
        var files = Directory.GetFiles(HostScenarioTests.Repo("scenarios", "live"), "*.yaml");
        Assert.True(files.Length >= 3);
        foreach (var f in files)
        {
            var s = ScenarioLoader.LoadFile(f);
            Assert.StartsWith("eevdf-", s.Host.Scheduler, StringComparison.Ordinal);
            Assert.NotEmpty(LivePlan.From(s, machineCpus: 2).Tasks);
        }
    }

    private static LiveRun FakeLive(LivePlan plan, double seconds, Func<LiveTaskSpec, (long CpuNs, long Vol, long Invol, long[] Lat)> f) => new()
    {
        Tasks = plan.Tasks.Select(t =>
        {
            var (cpu, vol, invol, lat) = f(t);
            return new LiveTaskResult { Spec = t, Tid = 100, Window = new ThreadCounters(cpu, cpu / 4, 10, vol, invol, 0, 0, 0), Latencies = lat };
        }).ToList(),
        WindowSeconds = seconds,
        LoadBefore = (1.5, 2.25, 3),
        LoadAfter = (1.75, 2.5, 3),
        StealSeconds = 0.01,
        MachineBusySeconds = 1.2,
        MachineCpus = 2,
        Kernel = "Linux 6.18.44-test",
        Autogroup = "/autogroup-7",
        CpuCgroup = "/",
    };

    private const string Pair = """
        name: pair
        description: d
        kind: system
        seed: 1
        runs: 1
        duration: 300ms
        warmup: 20ms
        host:
          cpus: 2
          scheduler: eevdf-6.14
          tasks:
            - {name: hog, affinity: "0"}
            - {name: sleeper, kind: periodic, run: 1ms, sleep: 4ms, affinity: "0"}
        """;

    [Fact]
    public void The_comparison_puts_model_and_live_side_by_side_per_task()
    {
        var scenario = Load(Pair);
        var plan = LivePlan.From(scenario, 2);
        var model = LiveComparison.RunModel(scenario, 1);
        Assert.True(model.Latencies["sleeper"].Length > 0);
        var live = FakeLive(plan, 0.5, t => t.Name == "hog"
            ? (300_000_000, 0, 80, [])
            : (100_000_000, 90, 5, [1000, 2000, 3000, 250_000]));
        var c = LiveComparison.Build(scenario, model, live);
        Assert.Equal(["hog", "sleeper"], c.Rows.Select(r => r.Task));
        var hog = c.Rows[0];
        Assert.Equal(0.6, hog.LiveShare, 9);
        Assert.Equal(0.75, hog.LiveOfTotal, 9);
        Assert.Equal(160.0, hog.LiveInvoluntaryPerSecond, 9);
        Assert.Equal(150.0, hog.LiveWaitMsPerSecond, 9);
        Assert.Equal((double)model.Result.Tasks[0]["cpu_share"]!, hog.ModelShare);
        Assert.Null(hog.LiveLatency);
        var sl = c.Rows[1];
        Assert.Equal(4, sl.LiveLatency!.Value.Count);
        Assert.Equal(2.0, sl.LiveLatency.Value.P50Us);
        Assert.Equal(250.0, sl.LiveLatency.Value.P99Us);
        Assert.Equal(model.Latencies["sleeper"].Length, sl.ModelLatency!.Value.Count);
        Assert.Equal(1.0, c.Rows.Sum(r => r.ModelOfTotal), 9);

        var text = c.ToText();
        Assert.Contains("NOT deterministic", text, StringComparison.Ordinal);
        Assert.Contains("load average 1.50 2.25 3.00 before, 1.75 2.50 3.00 after", text, StringComparison.Ordinal);
        Assert.Contains("model eevdf-6.14 (seed 1, 0.3 s simulated) vs this machine (0.5 s wall clock)", text, StringComparison.Ordinal);
        var hogLine = text.Split('\n').First(l => l.StartsWith("hog  ", StringComparison.Ordinal));
        Assert.Contains(" 60.00% ", hogLine, StringComparison.Ordinal);
        Assert.Contains(" 75.00% ", hogLine, StringComparison.Ordinal);
        var liveLat = text.Split('\n').First(l => l.Contains(" live  ", StringComparison.Ordinal) && l.Contains(" 4 ", StringComparison.Ordinal));
        Assert.Equal(["live", "4", "2.0", "250.0", "250.0", "250.0"], liveLat.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        var liveHist = text.Split('\n').Last(l => l.Contains(" live  ", StringComparison.Ordinal));
        Assert.Equal(["live", "50.0", "25.0", "0.0", "0.0", "0.0", "0.0", "0.0", "25.0", "0.0", "0.0", "0.0", "0.0", "0.0"], liveHist.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        // A second model run gives the same table (the model side is deterministic).
        var again = LiveComparison.Build(scenario, LiveComparison.RunModel(scenario, 1), live);
        Assert.Equal(text, again.ToText());

        using var doc = JsonDocument.Parse(c.ToJson());
        var tasks = doc.RootElement.GetProperty("tasks");
        Assert.Equal(2, tasks.GetArrayLength());
        Assert.Equal(0.6, tasks[0].GetProperty("live").GetProperty("cpu_share").GetDouble(), 9);
        Assert.Equal(250.0, tasks[1].GetProperty("live").GetProperty("wakeup_latency_us").GetProperty("p99").GetDouble(), 9);
        Assert.False(tasks[0].GetProperty("live").TryGetProperty("wakeup_latency_us", out _));
        Assert.Equal(0.25, tasks[1].GetProperty("live").GetProperty("wakeup_latency_histogram")[7].GetProperty("fraction").GetDouble(), 9);
        Assert.Equal("eevdf-6.14", doc.RootElement.GetProperty("model").GetProperty("scheduler").GetString());
        Assert.Equal(0.01, doc.RootElement.GetProperty("live").GetProperty("steal_cpu_seconds").GetDouble(), 9);
    }

    [Fact]
    public void Live_runs_are_refused_off_linux_with_the_reason()
    {
        var why = LiveRunner.Unsupported();
        if (OperatingSystem.IsLinux())
        {
            Assert.Null(why);
        }
        else
        {
            Assert.Contains("needs Linux", why, StringComparison.Ordinal);
            var plan = LivePlan.From(Load(Pair), 2);
            Assert.Throws<LiveException>(() => LiveRunner.Run(plan, 0, 1_000_000, 1));
        }
    }

    /// <summary>
    /// <c>--model-phases</c>: the model at several start phases against the tick. The shipped
    /// hog-and-sleeper has two steady cycles (docs/anomalies/live-hog-and-sleeper-bistable.md): as
    /// written it locks into the one where a wake-up in four waits for a tick, shifted by a quarter of
    /// a tick or more it runs every wake-up at once.
    /// </summary>
    [Fact]
    public void The_model_at_several_start_phases_shows_each_steady_cycle()
    {
        var scenario = HostScenarioTests.Shipped("live", "hog-and-sleeper.yaml", "duration=1s", "warmup=100ms");
        var first = LiveComparison.RunModel(scenario, 1);
        var phases = LiveComparison.ModelPhases(scenario, first, 4);
        Assert.Equal([0.0, 1.0, 2.0, 3.0], phases.Select(p => p.ShiftMs));
        double total = first.Result.Tasks.Sum(r => (double)(long)r["cpu_ns"]!);
        var sleeper0 = first.Result.Tasks.Single(r => (string)r["task"]! == "sleeper");
        Assert.Equal((long)sleeper0["cpu_ns"]! / total, phases[0].Tasks["sleeper"].OfTotal, 12);
        Assert.True(phases[0].Tasks["sleeper"].P99Us > 3000, "phase 0 locks: a wake-up in four waits for a tick");
        Assert.True(phases[0].Tasks["sleeper"].OfTotal < 0.17);
        Assert.Contains(phases, p => p.Tasks["sleeper"].OfTotal > 0.19 && p.Tasks["sleeper"].P99Us < 100);
        Assert.Null(phases[0].Tasks["hog"].P99Us);

        var plan = LivePlan.From(scenario, 2);
        var live = FakeLive(plan, 1.0, t => t.Name == "hog" ? (800_000_000, 0, 200, []) : (200_000_000, 200, 0, [20_000, 30_000]));
        var c = LiveComparison.Build(scenario, first, live) with { Phases = phases };
        Assert.Contains("model at 4 start phases", c.ToText(), StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(c.ToJson());
        var json = doc.RootElement.GetProperty("model_phases");
        Assert.Equal(4, json.GetArrayLength());
        Assert.Equal(2.0, json[2].GetProperty("start_shift_ms").GetDouble());
        Assert.False(LiveComparison.Build(scenario, first, live).ToJson().Contains("model_phases", StringComparison.Ordinal));
    }
}

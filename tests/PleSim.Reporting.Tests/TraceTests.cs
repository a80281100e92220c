using System.Text.Json;
using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Reporting.Trace;

namespace PleSim.Reporting.Tests;

/// <summary>Trace tests share the static attacher list and measure the heap: no parallel runs.</summary>
[CollectionDefinition("trace", DisableParallelization = true)]
public sealed class TraceCollection;

/// <summary>Streamed Chrome traces (decision 0021): valid JSON, flat memory, atomic and deterministic files, nested slices.</summary>
[Collection("trace")]
public sealed class TraceTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-trace-{Guid.NewGuid():N}");

    public TraceTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Repo(params string[] parts)
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "PleSim.slnx")))
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("repository root not found");
        return Path.Combine([dir, .. parts]);
    }

    private static Scenario Load(string[] file, params string[] overrides) =>
        ScenarioLoader.LoadFile(Repo(["scenarios", .. file]), overrides.Select(Override.Parse).ToList());

    private static readonly string[] Amqp = ["riel-2011", "amqp.yaml"];

    /// <summary>Runs the scenario's first seed with a trace of [from, from+length) ms; <paramref name="heapAtEnd"/> gets the live heap just before the trace is finished.</summary>
    private (TraceRecorder Recorder, RunResult Result) Trace(Scenario s, string path, long fromMs, long lengthMs, Action<long>? heapAtEnd = null)
    {
        var seed = Runner.Seeds(s, 1, null)[0];
        var recorder = new TraceRecorder(path, seed, SimTime.Zero + SimDuration.FromMilliseconds(fromMs), SimTime.Zero + SimDuration.FromMilliseconds(fromMs + lengthMs));
        var options = recorder.Apply(new RunOptions());
        if (heapAtEnd is not null)
        {
            var after = options.AfterRun!;
            options = options with { AfterRun = (m, sd) => { heapAtEnd(GC.GetTotalMemory(forceFullCollection: true)); after(m, sd); } };
        }
        return (recorder, Runner.RunOne(s, seed, options));
    }

    private sealed record Slice(int Pid, int Tid, string Name, decimal Start, decimal End, int? Vcpu, string? TakenBy, string? ReleasedBy);

    /// <summary>Parses the whole file (it must be valid JSON) and returns its X slices.</summary>
    private static List<Slice> Slices(string path, out int metadata)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var slices = new List<Slice>();
        metadata = 0;
        foreach (var e in doc.RootElement.GetProperty("traceEvents").EnumerateArray())
        {
            var ph = e.GetProperty("ph").GetString();
            if (ph == "M")
                metadata++;
            if (ph != "X")
                continue;
            decimal ts = e.GetProperty("ts").GetDecimal(), dur = e.GetProperty("dur").GetDecimal();
            Assert.True(dur >= 0, $"negative duration {e}");
            int? vcpu = null;
            string? takenBy = null, releasedBy = null;
            if (e.TryGetProperty("args", out var args))
            {
                if (args.TryGetProperty("vcpu", out var v) && v.ValueKind == JsonValueKind.Number)
                    vcpu = v.GetInt32();
                if (args.TryGetProperty("taken_by", out var tb))
                    takenBy = tb.GetString();
                if (args.TryGetProperty("released_by", out var rb))
                    releasedBy = rb.GetString();
            }
            slices.Add(new Slice(e.GetProperty("pid").GetInt32(), e.GetProperty("tid").GetInt32(), e.GetProperty("name").GetString()!, ts, ts + dur, vcpu, takenBy, releasedBy));
        }
        return slices;
    }

    /// <summary>The first pair of slices in <paramref name="group"/> that overlap without one containing the other, or null.</summary>
    private static string? Crossing(IEnumerable<Slice> group)
    {
        var stack = new Stack<Slice>();
        foreach (var s in group.OrderBy(s => s.Start).ThenByDescending(s => s.End))
        {
            while (stack.Count > 0 && stack.Peek().End <= s.Start)
                stack.Pop();
            if (stack.Count > 0 && s.End > stack.Peek().End)
                return $"{stack.Peek()} and {s}";
            stack.Push(s);
        }
        return null;
    }

    /// <summary>
    /// Scenarios and windows (ms); boot-storm's directed-yield walks write ~15 MB of trace per simulated
    /// ms. The last two spin on sleeping locks: lock-bench with a mutex (owner spinning, decision 0025),
    /// ebizzy with a 5.10 guest (mmap_sem: 5.3's reader and writer rwsem_optimistic_spin with the OSQ).
    /// </summary>
    public static TheoryData<string, string, string[], long, long> Scenarios => new()
    {
        { "kvm", "lock-bench.yaml", new[] { "duration=200ms", "warmup=50ms" }, 0, 250 },
        { "riel-2011", "amqp.yaml", new[] { "duration=300ms", "warmup=100ms", "vms[1].workload.loops=4" }, 0, 400 },
        { "kvm", "boot-storm.yaml", new[] { "duration=40ms" }, 20, 5 },
        { "kvm", "lock-bench.yaml", new[] { "duration=60ms", "warmup=10ms", "vms[0].workload.lock_type=mutex" }, 0, 65 },
        { "workloads", "ebizzy.yaml", new[] { "duration=150ms", "warmup=10ms", "vms[0].guest.kernel=5.10" }, 0, 155 },
    };

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Slices_nest_on_every_track_and_lock_slices_nest_on_every_guest_cpu(string dir, string file, string[] overrides, long fromMs, long lengthMs)
    {
        var s = Load([dir, file], overrides);
        var path = Path.Combine(_dir, "t.json");
        var (recorder, result) = Trace(s, path, fromMs, lengthMs);
        Assert.Null(result.Error);
        var slices = Slices(path, out _);
        var locks = slices.Where(x => x.Name.StartsWith("hold ", StringComparison.Ordinal) || x.Name.StartsWith("spin ", StringComparison.Ordinal)
            || x.Name.StartsWith("osq ", StringComparison.Ordinal)).ToList();
        Assert.Contains(locks, x => x.Name.StartsWith("hold ", StringComparison.Ordinal));
        Assert.True(recorder.Events >= slices.Count);

        // Every track is a stack of slices.
        foreach (var track in slices.GroupBy(x => (x.Pid, x.Tid)))
            Assert.True(Crossing(track) is null, $"track {track.Key}: {Crossing(track)}");

        // A guest CPU runs one context at a time and a spinlock keeps it there (preemption off), so
        // all lock slices of one guest CPU, whatever track they are on, nest as well: a hold cannot
        // outlast its holder's stay on the CPU.
        foreach (var cpu in locks.GroupBy(x => (x.Pid, x.Vcpu)))
        {
            Assert.NotNull(cpu.Key.Vcpu);
            Assert.True(Crossing(cpu) is null, $"guest CPU {cpu.Key}: {Crossing(cpu)}");
        }

        // Only a run-queue lock is released by another thread than the one that took it (schedule()
        // -> finish_task_switch), and it sits on the CPU's track, never on a thread's.
        foreach (var x in locks)
        {
            bool rq = (x.Name.StartsWith("hold rq", StringComparison.Ordinal) || x.Name.StartsWith("spin rq", StringComparison.Ordinal)) && x.Name.EndsWith(".lock", StringComparison.Ordinal);
            if (x.TakenBy is not null && x.TakenBy != x.ReleasedBy)
                Assert.True(rq, $"{x} changes hands without a context switch");
            Assert.Equal(rq, x.Tid >= 200_000);
        }

        // Owner spins of sleeping locks are slices too, each OSQ wait inside its spin, on the same track.
        var ownerSpins = locks.Where(x => x.Name.EndsWith(")", StringComparison.Ordinal) && x.Name.StartsWith("spin ", StringComparison.Ordinal)).ToList();
        foreach (var osq in locks.Where(x => x.Name.StartsWith("osq ", StringComparison.Ordinal)))
        {
            string lk = osq.Name["osq ".Length..];
            Assert.Contains(ownerSpins, x => x.Pid == osq.Pid && x.Tid == osq.Tid && x.Start <= osq.Start && osq.End <= x.End
                && x.Name.StartsWith($"spin {lk} (rwsem ", StringComparison.Ordinal));
        }
        if (file == "ebizzy.yaml")
        {
            Assert.Contains(ownerSpins, x => x.Name == "spin mm1.mmap_sem (rwsem reader)");
            Assert.Contains(ownerSpins, x => x.Name == "spin mm1.mmap_sem (rwsem writer)");
            Assert.Contains(locks, x => x.Name == "osq mm1.mmap_sem");
        }
        if (overrides.Contains("vms[0].workload.lock_type=mutex"))
            Assert.Contains(ownerSpins, x => x.Name == "spin bench.mutex0 (mutex owner)");
    }

    [Fact]
    public void Guest_cpu_thread_tracks_show_each_thread_on_one_cpu_at_a_time_and_wake_ups_are_instants()
    {
        var s = Load(["workloads", "ebizzy.yaml"], "duration=60ms", "warmup=10ms", "vms[0].guest.kernel=5.10", "vms[0].workload.always_mmap=true");
        var path = Path.Combine(_dir, "t.json");
        var (_, result) = Trace(s, path, 0, 60);
        Assert.Null(result.Error);
        var runs = Slices(path, out _).Where(x => x.Tid >= 300_000).ToList();
        Assert.NotEmpty(runs);
        // A guest CPU runs one thread at a time: its track is a sequence of disjoint stays.
        foreach (var cpu in runs.GroupBy(x => (x.Pid, x.Tid)))
        {
            var ordered = cpu.OrderBy(x => x.Start).ToList();
            for (int i = 1; i < ordered.Count; i++)
                Assert.True(ordered[i].Start >= ordered[i - 1].End, $"{ordered[i - 1]} overlaps {ordered[i]}");
        }
        // A thread runs on one guest CPU at a time, and the stays name ebizzy's threads.
        foreach (var thread in runs.GroupBy(x => (x.Pid, x.Name)))
        {
            if (thread.Key.Pid == 10) // the first VM's process (GuestTraceObserver: 10 + VM index)
                Assert.StartsWith("ebizzy", thread.Key.Name, StringComparison.Ordinal);
            var ordered = thread.OrderBy(x => x.Start).ToList();
            for (int i = 1; i < ordered.Count; i++)
                Assert.True(ordered[i].Start >= ordered[i - 1].End, $"{thread.Key.Name} on two CPUs: {ordered[i - 1]} and {ordered[i]}");
        }
        Assert.Contains(runs, x => x.Vcpu is not null);

        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var wakeups = doc.RootElement.GetProperty("traceEvents").EnumerateArray()
            .Where(e => e.GetProperty("ph").GetString() == "i" && e.GetProperty("name").GetString()!.StartsWith("woken onto cpu", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(wakeups);
        Assert.All(wakeups, e => Assert.True(e.GetProperty("args").TryGetProperty("preempts", out _)));
        // Stays end because the thread blocked or was preempted (rwsem sleeps give both).
        var left = doc.RootElement.GetProperty("traceEvents").EnumerateArray()
            .Where(e => e.GetProperty("ph").GetString() == "X" && e.GetProperty("tid").GetInt32() >= 300_000 && e.TryGetProperty("args", out var a) && a.TryGetProperty("left", out _))
            .Select(e => e.GetProperty("args").GetProperty("left").GetString()).ToHashSet();
        Assert.Contains("blocked", left);
    }

    [Fact]
    public void The_trace_is_streamed_memory_stays_flat_in_the_window_length()
    {
        var s = Load(Amqp, "duration=2s", "warmup=100ms");
        long shortHeap = 0, longHeap = 0;
        var (shortRec, r1) = Trace(s, Path.Combine(_dir, "short.json"), 0, 200, h => shortHeap = h);
        var (longRec, r2) = Trace(s, Path.Combine(_dir, "long.json"), 0, 2_100, h => longHeap = h);
        Assert.Null(r1.Error);
        Assert.Null(r2.Error);
        // Same run, ten times the window: ~ten times the file...
        Assert.True(longRec.Bytes > 5 * shortRec.Bytes, $"{longRec.Bytes} vs {shortRec.Bytes} bytes");
        Assert.Equal(longRec.Bytes, new FileInfo(Path.Combine(_dir, "long.json")).Length);
        // ...but not more memory: the recorder keeps a bounded buffer, and the live heap at the end
        // of the run does not grow by anything like the file (which an in-memory trace would hold).
        Assert.True(longRec.RetainedBytes < 1 << 20, $"the recorder retains {longRec.RetainedBytes} bytes");
        Assert.True(longRec.RetainedBytes <= shortRec.RetainedBytes + (16 << 10), $"{longRec.RetainedBytes} vs {shortRec.RetainedBytes} retained bytes");
        Assert.True(longHeap - shortHeap < 4 << 20, $"heap {longHeap} vs {shortHeap} bytes for a {longRec.Bytes}-byte trace");
        Slices(Path.Combine(_dir, "long.json"), out _);
    }

    [Fact]
    public void The_same_scenario_and_seed_give_a_byte_identical_trace_and_no_temporary_file_remains()
    {
        var s = Load(Amqp, "duration=100ms", "warmup=50ms");
        var a = Path.Combine(_dir, "a.json");
        var b = Path.Combine(_dir, "b.json");
        Trace(s, a, 20, 100);
        Trace(s, b, 20, 100);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        Assert.Equal([a, b], Directory.GetFiles(_dir).Order());
        Assert.NotEmpty(Slices(a, out int metadata));
        Assert.True(metadata > 0);
    }

    [Fact]
    public void A_trace_that_fails_while_being_written_leaves_the_final_file_untouched()
    {
        var s = Load(Amqp, "duration=50ms", "warmup=10ms");
        var path = Path.Combine(_dir, "t.json");
        File.WriteAllText(path, "previous");
        Func<IModelRun, ChromeTrace, Action?> failing = (_, _) => () => throw new IOException("disk full");
        TraceRecorder.Attachers.Add(failing);
        try
        {
            var (_, result) = Trace(s, path, 0, 100);
            Assert.Contains("disk full", result.Error);
        }
        finally
        {
            TraceRecorder.Attachers.Remove(failing);
        }
        Assert.Equal("previous", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(_dir));
    }

    [Fact]
    public void A_window_after_the_run_writes_a_valid_trace_with_no_events_and_says_so()
    {
        var s = Load(Amqp, "duration=50ms", "warmup=10ms");
        var path = Path.Combine(_dir, "t.json");
        var (recorder, result) = Trace(s, path, 5_000, 100);
        Assert.Null(result.Error);
        Assert.Equal(0L, recorder.Events);
        Assert.Empty(Slices(path, out int metadata));
        Assert.True(metadata > 0);
    }

    [Fact]
    public void Timestamps_are_exact_microseconds_with_up_to_three_decimals()
    {
        using var ms = new MemoryStream();
        var trace = new ChromeTrace(SimTime.Zero, SimTime.Zero + SimDuration.FromSeconds(1), ms);
        trace.Slice(1, 2, "a\"b", "c", 1_500, 4_000);
        trace.Instant(1, 2, "i", "c", 123_456_789);
        trace.Counter(1, "n", 1, "s", 2.5);
        trace.Complete();
        var text = System.Text.Encoding.UTF8.GetString(ms.ToArray());
        Assert.Contains("\"ts\":1.5,\"dur\":2.5,", text);
        Assert.Contains("\"ts\":123456.789,", text);
        Assert.Contains("\"ts\":0.001,", text);
        Assert.Contains("\"name\":\"a\\\"b\"", text);
        Assert.Equal(3L, trace.DataEventCount);
        using var doc = JsonDocument.Parse(text);
        Assert.Equal(3, doc.RootElement.GetProperty("traceEvents").GetArrayLength());
    }

    [Fact]
    public void The_stacking_counter_integrates_to_the_runs_stacked_share()
    {
        // The measured window is [warmup, warmup + duration): trace exactly that, at 2x where the AMQP
        // guest's VCPUs stack part of the time (seed 2011, decision 0093).
        var s = Load(Amqp, "vms[1].workload.loops=4", "warmup=300ms", "duration=100ms");
        var path = Path.Combine(_dir, "stacked.json");
        var (_, result) = Trace(s, path, 300, 100);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var points = doc.RootElement.GetProperty("traceEvents").EnumerateArray()
            .Where(e => e.GetProperty("ph").GetString() == "C" && e.GetProperty("name").GetString() == "VCPUs stacked" && e.GetProperty("pid").GetInt32() == 10)
            .Select(e => (At: e.GetProperty("ts").GetDouble(), Cpus: e.GetProperty("args").GetProperty("host CPUs with two or more").GetInt32()))
            .ToList();
        Assert.True(points.Count > 2, $"{points.Count} counter events");
        Assert.All(points, p => Assert.InRange(p.Cpus, 0, 2));
        double stackedUs = 0, endUs = 400_000;
        for (int i = 0; i < points.Count; i++)
        {
            if (points[i].Cpus > 0)
                stackedUs += (i + 1 < points.Count ? points[i + 1].At : endUs) - points[i].At;
        }
        double share = result.Metric("amqp.frac_vcpus_stacked")!.Value;
        Assert.InRange(share, 0.01, 0.99);
        Assert.Equal(share, stackedUs / 100_000, 2);
    }
}

using System.Text.Json;
using PleSim.Cli;

namespace PleSim.Cli.Tests;

public class TraceTests
{
    /// <summary>Checks the Chrome trace-event format as Perfetto reads it.</summary>
    internal static void ValidateTrace(string path, int minSlices)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var events = doc.RootElement.GetProperty("traceEvents");
        var slices = new Dictionary<(int, int), List<(double Ts, double End)>>();
        foreach (var e in events.EnumerateArray())
        {
            foreach (var field in new[] { "ph", "ts", "pid", "tid" })
                Assert.True(e.TryGetProperty(field, out _), $"event without {field}: {e}");
            var ph = e.GetProperty("ph").GetString();
            Assert.Contains(ph, new[] { "X", "i", "M", "C" });
            if (ph == "X")
            {
                double ts = e.GetProperty("ts").GetDouble();
                double dur = e.GetProperty("dur").GetDouble();
                Assert.True(dur >= 0, $"negative duration: {e}");
                var key = (e.GetProperty("pid").GetInt32(), e.GetProperty("tid").GetInt32());
                if (!slices.TryGetValue(key, out var list))
                    slices[key] = list = [];
                list.Add((ts, ts + dur));
            }
        }
        Assert.True(slices.Values.Sum(l => l.Count) >= minSlices, "too few slices");
        foreach (var (track, list) in slices)
        {
            var sorted = list.OrderBy(s => s.Ts).ToList();
            for (int i = 1; i < sorted.Count; i++)
                Assert.True(sorted[i].Ts >= sorted[i - 1].End - 1e-6, $"overlapping slices on track {track} at {sorted[i].Ts} us");
        }
    }

    [Fact]
    public void Run_trace_writes_a_perfetto_loadable_chrome_trace_with_cpu_tracks_and_events()
    {
        var path = Path.Combine(Path.GetTempPath(), $"plesim-trace-{Guid.NewGuid():N}.json");
        try
        {
            var o = new StringWriter();
            var e = new StringWriter();
            int code = PlesimCli.Run(["run", CliTests.Repo("scenarios", "host", "yield-to-groups.yaml"), "--runs", "1", "--trace", path, "--trace-for", "50ms"], o, e);
            Assert.True(code == 0, e.ToString());
            ValidateTrace(path, minSlices: 10);
            var text = File.ReadAllText(path);
            Assert.Contains("\"yield_to C: Success\"", text, StringComparison.Ordinal);
            Assert.Contains("\"CPU 0\"", text, StringComparison.Ordinal);
            Assert.Contains("\"cat\":\"buddy\"", text, StringComparison.Ordinal);
            // Group entity weights (update_cfs_shares) as counter tracks, one series per CPU.
            Assert.Matches(@"\{""name"":""/a weight"",""ph"":""C"",""ts"":[0-9.]+,""pid"":1,""tid"":0,""args"":\{""cpu[0-9]+"":[0-9]+\}\}", text);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_trace_window_bounds_the_events()
    {
        var path = Path.Combine(Path.GetTempPath(), $"plesim-trace-{Guid.NewGuid():N}.json");
        try
        {
            int code = PlesimCli.Run(["run", CliTests.Repo("scenarios", "host", "six-hogs-four-cpus.yaml"), "--runs", "1", "--set", "duration=2s", "--trace", path, "--trace-from", "1s", "--trace-for", "100ms"], new StringWriter(), new StringWriter());
            Assert.Equal(0, code);
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            foreach (var ev in doc.RootElement.GetProperty("traceEvents").EnumerateArray().Where(x => x.GetProperty("ph").GetString() != "M"))
            {
                double ts = ev.GetProperty("ts").GetDouble();
                Assert.InRange(ts, 1_000_000, 1_100_000);
            }
            ValidateTrace(path, minSlices: 4);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_bad_trace_window_is_bad_input()
    {
        int code = PlesimCli.Run(["run", CliTests.Repo("scenarios", "host", "nice-weights.yaml"), "--trace", "/tmp/x.json", "--trace-from", "soon"], new StringWriter(), new StringWriter());
        Assert.Equal(2, code);
    }
}

public class KvmTraceTests
{
    [Fact]
    public void A_kvm_trace_has_vcpus_on_cpu_tracks_guest_lock_slices_and_ple_events()
    {
        var path = Path.Combine(Path.GetTempPath(), $"plesim-kvm-trace-{Guid.NewGuid():N}.json");
        try
        {
            int code = PlesimCli.Run(["run", CliTests.Repo("scenarios", "kvm", "lock-bench.yaml"), "--runs", "1", "--set", "duration=30ms", "--set", "warmup=0",
                "--trace", path, "--trace-for", "30ms"], new StringWriter(), new StringWriter());
            Assert.Equal(0, code);
            TraceTests.ValidateTrace(path, minSlices: 20);
            var text = File.ReadAllText(path);
            Assert.Contains("\"guest bench\"", text, StringComparison.Ordinal);
            Assert.Contains("\"name\":\"bench/vcpu0\"", text, StringComparison.Ordinal);
            Assert.Contains("\"name\":\"hold bench.lock0\"", text, StringComparison.Ordinal);
            Assert.Contains("\"name\":\"spin bench.lock0\"", text, StringComparison.Ordinal);
            Assert.Contains("PAUSE exit", text, StringComparison.Ordinal);
            Assert.Contains("\"cat\":\"yield_to\"", text, StringComparison.Ordinal);
            // Ground truth: spin-cause slices per VCPU and labelled yield_to calls.
            Assert.Contains("\"name\":\"vcpu0 spin cause\"", text, StringComparison.Ordinal);
            Assert.Contains("\"cat\":\"spin_cause\"", text, StringComparison.Ordinal);
            Assert.Contains("\"cat\":\"yield_to_label\"", text, StringComparison.Ordinal);
            Assert.Contains("\"label\":\"failed_target_running\"", text, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using PleSim.Experiments.Benchmarks;
using Spectre.Console;

namespace PleSim.Cli.Commands;

/// <summary><c>plesim bench [engine]</c>: in-process throughput measurements (the full ones are in bench/, BenchmarkDotNet).</summary>
public static class BenchCommand
{
    public static Command Create(CliContext ctx)
    {
        var what = new Argument<string>("what")
        {
            Description = "What to measure: engine (hold model vs PriorityQueue), host (8 hogs on 4 CPUs, and the riel-2011 system at 2x), scale (four 64-VCPU guests on 256 CPUs, and on 128 CPUs = 2x), or all",
            DefaultValueFactory = _ => "all",
        };
        what.AcceptOnlyFromAmong("engine", "host", "scale", "all");
        var json = new Option<bool>("--json") { Description = "Print results as JSON" };
        var quick = new Option<bool>("--quick") { Description = "Fewer events and trials (a smoke test, not a measurement)" };
        var scheduler = new Option<string>("--scheduler") { Description = "host.scheduler for the host measurements (cfs-2.6.39, cfs-4.19, eevdf-6.6, eevdf-6.12, eevdf-6.14, eevdf-6.17, eevdf-6.18)", DefaultValueFactory = _ => "cfs-2.6.39" };
        scheduler.AcceptOnlyFromAmong(PleSim.Experiments.Scenarios.HostSettings.Schedulers);
        var kvmVersion = new Option<string>("--kvm-version") { Description = "kvm.version for the scale measurements instead of the 2011 directed yield (e.g. 6.12)", DefaultValueFactory = _ => "2.6.39" };
        kvmVersion.AcceptOnlyFromAmong(PleSim.Hypervisor.KvmVersions.Names);
        var cmd = new Command("bench", "Measure simulator speed on this machine") { what, json, quick, scheduler, kvmVersion };
        cmd.SetAction(parse =>
        {
            bool q = parse.GetValue(quick);
            bool asJson = parse.GetValue(json);
            var log = asJson ? null : new Action<string>(m => ctx.Err.WriteLine(m));
            string w = parse.GetValue(what)!;
            bool doEngine = w is "engine" or "all";
            bool doHost = w is "host" or "all";
            bool doScale = w is "scale" or "all";
            IReadOnlyList<HoldMeasurement> engine = doEngine ? EngineBenchmark.Run(q ? 200_000 : 4_000_000, q ? 1 : 5, log) : [];
            IReadOnlyList<ArityMeasurement> arities = doEngine ? ArityBenchmark.Run(q ? 200_000 : 3_000_000, q ? 1 : 3) : [];
            var hosts = new List<HostMeasurement>();
            if (doHost)
            {
                log?.Invoke("measuring host: 8 hogs on 4 CPUs ...");
                string sched = parse.GetValue(scheduler)!;
                hosts.Add(HostBenchmark.Measure(HostBenchmark.EightHogsFourCpus, Engine.SimDuration.FromSeconds(q ? 2 : 20), sched));
                log?.Invoke("measuring the riel-2011 system at 2x (AMQP guest + 4 loops, directed yield) ...");
                hosts.Add(HostBenchmark.Measure(HostBenchmark.WithScheduler(HostBenchmark.Riel2011TwoX(), sched), Engine.SimDuration.FromMilliseconds(q ? 500 : 5000)));
            }
            if (doScale)
            {
                log?.Invoke("measuring scale: 256 CPUs, four 64-VCPU guests (2 lock-bench, 2 hog), 1x ...");
                string kvm = parse.GetValue(kvmVersion)!;
                hosts.Add(HostBenchmark.Measure(HostBenchmark.WithScheduler(HostBenchmark.WithKvmVersion(HostBenchmark.ScaleFourGuests256Cpus, kvm), parse.GetValue(scheduler)!), Engine.SimDuration.FromMilliseconds(q ? 50 : 1000)));
                log?.Invoke("measuring scale: the same guests on 128 CPUs (2x) ...");
                hosts.Add(HostBenchmark.Measure(HostBenchmark.WithScheduler(HostBenchmark.WithKvmVersion(HostBenchmark.ScaleFourGuestsTwoX, kvm), parse.GetValue(scheduler)!), Engine.SimDuration.FromMilliseconds(q ? 50 : 1000)));
            }
            if (asJson)
            {
                ctx.Out.Write(ToJson(engine, arities, hosts));
                return ExitCodes.Ok;
            }
            if (hosts.Count > 0)
            {
                var h = new Table().Border(TableBorder.Rounded).Title("[bold]host scheduler and full system[/] (simulated seconds per wall second)");
                foreach (var col in new[] { "scenario", "simulated s", "wall s", "sim s / wall s", "events/s", "bytes/event" })
                    h.AddColumn(new TableColumn(col).RightAligned());
                foreach (var m in hosts)
                {
                    h.AddRow(m.Name, m.SimulatedSeconds.ToString("0.##", CultureInfo.InvariantCulture), m.WallSeconds.ToString("0.###", CultureInfo.InvariantCulture),
                        m.SimSecondsPerWallSecond.ToString("0.#", CultureInfo.InvariantCulture), m.EventsPerSecond.ToString("N0", CultureInfo.InvariantCulture),
                        m.BytesPerEvent.ToString("0.##", CultureInfo.InvariantCulture));
                }
                ctx.Console_.Write(h);
            }
            if (!doEngine)
                return ExitCodes.Ok;
            var t = new Table().Border(TableBorder.Rounded).Title("[bold]engine hold model vs bare PriorityQueue<int,long>[/] (median of trials)");
            foreach (var h in new[] { "variant", "pending N", "engine events/s", "baseline events/s", "engine/baseline", "engine B/event" })
                t.AddColumn(new TableColumn(h).RightAligned());
            foreach (var m in engine)
            {
                t.AddRow(m.Variant, m.Population.ToString("N0", CultureInfo.InvariantCulture), m.EngineEventsPerSecond.ToString("N0", CultureInfo.InvariantCulture),
                    m.BaselineEventsPerSecond.ToString("N0", CultureInfo.InvariantCulture), m.Ratio.ToString("0.000", CultureInfo.InvariantCulture),
                    m.EngineBytesPerEvent.ToString("0.###", CultureInfo.InvariantCulture));
            }
            ctx.Console_.Write(t);
            var a = new Table().Border(TableBorder.Rounded).Title("[bold]event heap arity[/] (bare heap hold loop, ops/s)");
            foreach (var h in new[] { "pending N", "2-ary", "4-ary", "8-ary" })
                a.AddColumn(new TableColumn(h).RightAligned());
            foreach (var r in arities)
            {
                a.AddRow(r.Population.ToString("N0", CultureInfo.InvariantCulture), r.Binary.ToString("N0", CultureInfo.InvariantCulture),
                    r.Quaternary.ToString("N0", CultureInfo.InvariantCulture), r.Octonary.ToString("N0", CultureInfo.InvariantCulture));
            }
            ctx.Console_.Write(a);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static string ToJson(IReadOnlyList<HoldMeasurement> engine, IReadOnlyList<ArityMeasurement> arities, IReadOnlyList<HostMeasurement> hosts)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("machine", $"{Environment.ProcessorCount} logical CPUs, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
            w.WriteStartArray("engine");
            foreach (var m in engine)
            {
                w.WriteStartObject();
                w.WriteString("variant", m.Variant);
                w.WriteNumber("pending", m.Population);
                w.WriteNumber("events_per_trial", m.Events);
                w.WriteNumber("trials", m.Trials);
                w.WriteNumber("engine_events_per_second", Math.Round(m.EngineEventsPerSecond));
                w.WriteNumber("baseline_events_per_second", Math.Round(m.BaselineEventsPerSecond));
                w.WriteNumber("ratio", Math.Round(m.Ratio, 4));
                w.WriteNumber("engine_bytes_per_event", m.EngineBytesPerEvent);
                w.WriteNumber("baseline_bytes_per_event", m.BaselineBytesPerEvent);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("heap_arity");
            foreach (var r in arities)
            {
                w.WriteStartObject();
                w.WriteNumber("pending", r.Population);
                w.WriteNumber("arity2_ops_per_second", Math.Round(r.Binary));
                w.WriteNumber("arity4_ops_per_second", Math.Round(r.Quaternary));
                w.WriteNumber("arity8_ops_per_second", Math.Round(r.Octonary));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("host");
            foreach (var m in hosts)
            {
                w.WriteStartObject();
                w.WriteString("scenario", m.Name);
                w.WriteNumber("simulated_seconds", m.SimulatedSeconds);
                w.WriteNumber("wall_seconds", Math.Round(m.WallSeconds, 4));
                w.WriteNumber("sim_seconds_per_wall_second", Math.Round(m.SimSecondsPerWallSecond, 2));
                w.WriteNumber("events_per_second", Math.Round(m.EventsPerSecond));
                w.WriteNumber("bytes_per_event", Math.Round(m.BytesPerEvent, 3));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}

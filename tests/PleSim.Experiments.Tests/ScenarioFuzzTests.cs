using System.Diagnostics;
using System.Globalization;
using System.Text;
using CsCheck;
using Xunit.Abstractions;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Sweeps;
using PleSim.Experiments.Uncertainty;

namespace PleSim.Experiments.Tests;

/// <summary>
/// Mutates the shipped scenarios (lines deleted, duplicated, swapped, re-indented; random bytes;
/// bracket damage; deep nesting; alias bombs; tags; huge numbers; unicode; big sweeps) and checks
/// that reading them as <c>plesim validate</c> does gives a scenario or located diagnostics, never
/// another exception, within a time and allocation bound. 1,000 cases by default;
/// <c>PLESIM_FUZZ_CASES=10000</c> runs more (and <c>PLESIM_FUZZ_SEED</c> replays a failure).
/// </summary>
[Collection(nameof(ScenarioFuzzTests))]
public class ScenarioFuzzTests
{
    /// <summary>Slowest a single case may be (a hang shows up as this timeout).</summary>
    private static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Most bytes one case may allocate on its own thread (work done on pool threads by a sweep is not counted here).</summary>
    private const long MaxAllocatedBytes = 2L << 30;

    /// <summary>Most the managed heap may grow while one case runs (a 10,000-point sweep grid, the largest allowed, stays well below).</summary>
    private const long MaxHeapGrowthBytes = 1L << 30;

    private static readonly string[] Seeds = LoadSeeds();

    private static readonly string[] Hostile =
    [
        "[", "]", "{", "}", ",", ":", "- ", "? ", "&a ", "*a", "!!str ", "!foo ", "|", ">", "'", "\"", "#", "%", "@", "`", "\t", "\r", "\0",
        "\u00e9", "\u200b", "\ufeff", "\U0001F600", "\ud800", "\uffff", "\u2028", "\n", "  ", "---\n", "...\n", "<<: *a\n",
        "99999999999999999999999", "18446744073709551616", "9223372036854775808", "2147483648", "-1", "-0", "1e400", "-1e400",
        ".nan", ".inf", "NaN", "0x10", "0o7", "1_000", "1.5", "~", "null", "true", "", "0-2147483647", "0-99999999999",
        "1ns", "99999999999999h", "-5ms", "1e300s", "all", "[0, 1]", "{value: 1}", "{value: 1, source: x}",
    ];

    internal static int CaseCount() =>
        int.TryParse(Environment.GetEnvironmentVariable("PLESIM_FUZZ_CASES"), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : 1000;

    private readonly ITestOutputHelper _output;

    public ScenarioFuzzTests(ITestOutputHelper output) => _output = output;

    private static long _slowestMs, _cases;

    [Fact]
    public void Mutated_scenarios_give_a_scenario_or_located_errors_never_a_crash()
    {
        _slowestMs = 0;
        _cases = 0;
        var total = Stopwatch.StartNew();
        var gen = Gen.Select(Gen.Int[0, Seeds.Length - 1], Gen.Select(Gen.Int[0, 15], Gen.Int[0, 1 << 20], Gen.Int[0, 1 << 20], Gen.Int[0, 1 << 20]).Array[1, 5]);
        var seed = Environment.GetEnvironmentVariable("PLESIM_FUZZ_SEED");
        gen.Sample(
            c => CheckOne(Mutate(Seeds[c.Item1], c.Item2)),
            seed: string.IsNullOrEmpty(seed) ? null : seed,
            iter: CaseCount(),
            threads: 1,
            print: c => Printable(Mutate(Seeds[c.Item1], c.Item2)));
        _output.WriteLine($"{_cases} cases in {total.Elapsed.TotalSeconds:0.0} s; slowest case {_slowestMs} ms");
    }

    /// <summary>Reads <paramref name="text"/> as <c>validate</c> does; throws when the outcome is not a scenario or located diagnostics.</summary>
    internal static void CheckOne(string text)
    {
        Exception? failure = null;
        var task = Task.Factory.StartNew(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                var s = ScenarioLoader.LoadText(text, "fuzz.yaml");
                if (s.Sweep.Axes.Count > 0)
                    SweepPlan.Create(s, []);
                var problems = UnknownValues.Check(s);
                if (problems.Count > 0)
                    throw new ScenarioException(problems);
            }
            catch (ScenarioException e)
            {
                if (e.Diagnostics.Count == 0)
                    failure = new InvalidOperationException("a ScenarioException without diagnostics");
                foreach (var d in e.Diagnostics)
                {
                    var line = d.ToString();
                    if (d.Line < 0 || d.Column < 0 || d.Message.Length == 0 || line.Length > ScenarioDiagnostic.MaxMessageChars + (3 * ScenarioDiagnostic.MaxPathChars))
                        failure = new InvalidOperationException("badly formed diagnostic: " + YamlGuard.Clip(line, 300));
                    if (d.File == "fuzz.yaml" && d.Line == 0 && d.Message.Contains("internal", StringComparison.Ordinal))
                        failure = new InvalidOperationException("internal error: " + line);
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (failure is null && allocated > MaxAllocatedBytes)
                failure = new InvalidOperationException($"allocated {allocated} bytes (limit {MaxAllocatedBytes})");
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        // The managed heap is sampled while the case runs (the grid of a sweep is loaded on several threads).
        var sw = Stopwatch.StartNew();
        try
        {
            Watch(task, sw, () => failure);
        }
        catch (Exception)
        {
            // Keep the whole failing input (CsCheck prints it cut short).
            File.WriteAllText(Path.Combine(Path.GetTempPath(), "plesim-fuzz-failure.yaml"), text);
            throw;
        }
    }

    private static void Watch(Task task, Stopwatch sw, Func<Exception?> result)
    {
        long baseline = GC.GetTotalMemory(false), peak = baseline;
        while (!task.Wait(5))
        {
            peak = Math.Max(peak, GC.GetTotalMemory(false));
            if (sw.Elapsed > CaseTimeout)
                throw new TimeoutException($"a case took longer than {CaseTimeout.TotalSeconds} s");
        }
        if (peak - baseline > MaxHeapGrowthBytes)
            throw new InvalidOperationException($"the managed heap grew by {peak - baseline} bytes (limit {MaxHeapGrowthBytes})");
        Interlocked.Increment(ref _cases);
        if (sw.ElapsedMilliseconds > Interlocked.Read(ref _slowestMs))
            Interlocked.Exchange(ref _slowestMs, sw.ElapsedMilliseconds);
        if (result() is { } failure)
            throw new InvalidOperationException($"{failure.GetType().Name}: {failure.Message} (after {sw.ElapsedMilliseconds} ms)", failure);
    }

    /// <summary>Applies the mutations in order; every parameter is reduced modulo what it indexes.</summary>
    internal static string Mutate(string text, (int Kind, int A, int B, int C)[] mutations)
    {
        foreach (var (kind, a, b, c) in mutations)
        {
            var lines = text.Split('\n').ToList();
            int n = lines.Count;
            switch (kind)
            {
                case 0: // delete a line
                    if (n > 1)
                        lines.RemoveAt(a % n);
                    break;
                case 1: // duplicate a line elsewhere
                    lines.Insert(b % (n + 1), lines[a % n]);
                    break;
                case 2: // swap two lines
                    (lines[a % n], lines[b % n]) = (lines[b % n], lines[a % n]);
                    break;
                case 3: // random characters
                    {
                        var chars = text.ToCharArray();
                        if (chars.Length > 0)
                        {
                            for (int k = 0; k <= c % 4; k++)
                                chars[(a + (k * b)) % chars.Length] = (char)((b >> k) % 0x3000);
                        }
                        text = new string(chars);
                        continue;
                    }
                case 4: // hostile token inserted
                    text = text.Insert(a % (text.Length + 1), Hostile[b % Hostile.Length]);
                    continue;
                case 5: // deep nesting (closed or not) in place of a value
                    {
                        int depth = 1 + (b % 3 == 0 ? b % 100_000 : b % 200);
                        string open = c % 2 == 0 ? "[" : "{a: ";
                        string close = c % 2 == 0 ? "]" : "}";
                        lines[a % n] = ReplaceValue(lines[a % n], string.Concat(Enumerable.Repeat(open, depth)) + (c % 5 == 0 ? "" : string.Concat(Enumerable.Repeat(close, depth))));
                        break;
                    }
                case 6: // an alias bomb, used as a value, a key or a sweep axis
                    {
                        int levels = 1 + (b % 12), width = 2 + (c % 9);
                        var bomb = new StringBuilder("z0: &z0 [x, x]\n");
                        for (int l = 1; l <= levels; l++)
                            bomb.Append('z').Append(l).Append(": &z").Append(l).Append(" [").Append(string.Join(", ", Enumerable.Repeat($"*z{l - 1}", width))).Append("]\n");
                        string use = (a % 3) switch
                        {
                            0 => $"metrics: *z{levels}\n",
                            1 => $"? *z{levels}\n: 1\n",
                            _ => $"sweep:\n  set:\n    seed: *z{levels}\n",
                        };
                        text = bomb + text + "\n" + use;
                        continue;
                    }
                case 7: // a hostile value replaces a line's value
                    lines[a % n] = ReplaceValue(lines[a % n], Hostile[b % Hostile.Length]);
                    break;
                case 8: // indentation changed
                    lines[a % n] = b % 2 == 0 ? new string(' ', 1 + (c % 6)) + lines[a % n] : lines[a % n].TrimStart();
                    break;
                case 9: // truncated
                    text = text[..(a % (text.Length + 1))];
                    continue;
                case 10: // anchor on one value, alias on another
                    lines[a % n] = ReplaceValue(lines[a % n], "&q " + Hostile[c % Hostile.Length]);
                    lines[b % n] = ReplaceValue(lines[b % n], "*q");
                    break;
                case 11: // a sweep section, possibly a huge grid
                    {
                        int axes = 1 + (b % 4), values = 1 + (c % 40);
                        var sweep = new StringBuilder(a % 2 == 0 ? "sweep:\n  mode: zip\n  set:\n" : "sweep:\n  set:\n");
                        string[] keys = ["seed", "runs", "kvm.ple_window", "vms[0].vcpus", "duration", "nosuch.key", "vms[99].vcpus"];
                        for (int k = 0; k < axes; k++)
                            sweep.Append("    ").Append(keys[(a + k) % keys.Length]).Append(": [").Append(string.Join(", ", Enumerable.Range(1, values + k))).Append("]\n");
                        text = text + "\n" + sweep;
                        continue;
                    }
                case 12: // unicode in keys and values
                    lines[a % n] = lines[a % n].Insert(b % (lines[a % n].Length + 1), Hostile[23 + (c % 8)]);
                    break;
                case 13: // a line repeated many times
                    lines.InsertRange(a % n, Enumerable.Repeat(lines[b % n], 1 + (c % 2000)));
                    break;
                case 14: // a very long value
                    lines[a % n] = ReplaceValue(lines[a % n], new string((char)('a' + (b % 26)), 1 + (c % 100_000)));
                    break;
                default: // several documents
                    text = text + "\n---\n" + text;
                    continue;
            }
            text = string.Join('\n', lines);
        }
        return text;
    }

    private static string ReplaceValue(string line, string value)
    {
        int colon = line.IndexOf(": ", StringComparison.Ordinal);
        return colon >= 0 ? line[..(colon + 2)] + value : line + " " + value;
    }

    private static string Printable(string text) => YamlGuard.Clip(text, 4000);

    private static string[] LoadSeeds()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !Directory.Exists(Path.Combine(dir.FullName, "scenarios")))
            dir = dir.Parent;
        Assert.NotNull(dir);
        var files = Directory.GetFiles(Path.Combine(dir!.FullName, "scenarios"), "*.yaml", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(files);
        return files.Select(File.ReadAllText).ToArray();
    }
}

/// <summary>The fuzz test measures the heap, so it runs alone.</summary>
[CollectionDefinition(nameof(ScenarioFuzzTests), DisableParallelization = true)]
public sealed class ScenarioFuzzCollection
{
}

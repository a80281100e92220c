using System.Diagnostics;
using Microsoft.Data.Sqlite;
using PleSim.Experiments.Sweeps;

namespace PleSim.Cli.Tests;

/// <summary>
/// Output paths checked before any run, one writer per store, damaged stores named as such,
/// SIGTERM handled like Ctrl+C, 1-based shards, resuming from the store alone, <c>plesim status</c>,
/// and command-line values refused in plain words.
/// </summary>
public sealed class HardeningTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-harden-{Guid.NewGuid():N}");

    public HardeningTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Plesim(params string[] args) => SweepCliTests.Plesim(args);

    private static string Hold => CliTests.Repo("scenarios", "engine-hold.yaml");

    private static string[] Grid => SweepCliTests.Grid;

    /// <summary>A small sweep: 2 points × 6 runs of 60 ms.</summary>
    private static readonly string[] Slow = ["--set", "engine_hold.population=1000,2000", "--set", "duration=60ms", "--runs", "6", "--quiet"];

    /// <summary>A sweep long enough to be caught mid-way even on a loaded machine (2 points × 50 runs of 60 ms, about 7 ms each).</summary>
    private static readonly string[] Longer = ["--set", "engine_hold.population=1000,2000", "--set", "duration=60ms", "--runs", "50", "--quiet"];

    /// <summary>A sweep that outlasts any test (2 points × 5,000 runs); the test ends it with SIGTERM.</summary>
    private static readonly string[] Endless = ["--set", "engine_hold.population=1000,2000", "--set", "duration=60ms", "--runs", "5000", "--quiet"];

    private string Out(string name) => Path.Combine(_dir, name);

    private static void NoTrace(string err)
    {
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
        Assert.DoesNotContain("internal error", err, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", err, StringComparison.Ordinal);
    }

    // ---- output paths ----------------------------------------------------------------------

    [Fact]
    public void Unwritable_output_paths_are_refused_before_the_first_run_with_path_and_reason()
    {
        var file = Out("a-file");
        File.WriteAllText(file, "x");

        var (code, output, err) = Plesim("run", Hold, "--runs", "1", "--out", file);
        Assert.Equal(2, code);
        Assert.Equal("", output); // nothing ran
        Assert.Contains($"--out {file}: cannot write there: it is a file, not a directory", err, StringComparison.Ordinal);
        NoTrace(err);

        (code, output, err) = Plesim("run", Hold, "--runs", "1", "--out", Path.Combine(file, "sub"));
        Assert.Equal(2, code);
        Assert.Contains($"{file} is a file, not a directory", err, StringComparison.Ordinal);

        (code, output, err) = Plesim("run", Hold, "--runs", "1", "--trace", _dir);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains($"--trace {_dir}: cannot write there: it is a directory, not a file", err, StringComparison.Ordinal);

        (code, _, err) = Plesim(["sweep", Hold, .. Grid, "--out", file]);
        Assert.Equal(2, code);
        Assert.Contains($"--out {file}: cannot write there: it is a file, not a directory", err, StringComparison.Ordinal);
        NoTrace(err);

        Assert.Equal(0, Plesim(["sweep", Hold, .. Grid, "--out", Out("s")]).Code);
        (code, _, err) = Plesim("report", Out("s"), "--no-plots", "--html", _dir);
        Assert.Equal(2, code);
        Assert.Contains($"--html {_dir}: cannot write there: it is a directory, not a file", err, StringComparison.Ordinal);
        (code, _, err) = Plesim("merge", Path.Combine(Out("s"), "results.sqlite"), "--out", Path.Combine(file, "merged"));
        Assert.Equal(2, code);
        Assert.Contains($"--out {Path.Combine(file, "merged")}: cannot write there: {file} is a file, not a directory", err, StringComparison.Ordinal);

        // reproduce checks its --out before the first of its runs, not after them.
        (code, output, err) = Plesim("reproduce", "riel-2011", "--quick", "--out", file);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains($"--out {file}: cannot write there: it is a file, not a directory", err, StringComparison.Ordinal);
        Assert.DoesNotContain("runs in", err, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void A_directory_that_cannot_take_files_is_named_with_the_reason()
    {
        // /proc refuses new files even to root, unlike a chmod-ed directory.
        Skip.IfNot(Directory.Exists("/proc/self"), "needs Linux /proc");
        var e = Assert.Throws<CliInputException>(() => OutputPaths.CheckDirectory("/proc/plesim-out", "--out"));
        Assert.StartsWith("--out /proc/plesim-out: cannot write in /proc: ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        // The reason, not the name of the probe file plesim tried to create there.
        Assert.DoesNotContain("plesim-write-check", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<CliInputException>(() => OutputPaths.CheckFile("/proc/plesim-trace.json", "--trace"));
        Assert.DoesNotContain("plesim-write-check", e.Message, StringComparison.Ordinal);
        Assert.StartsWith("--trace /proc/plesim-trace.json: cannot write in /proc: ", e.Message, StringComparison.Ordinal);
        // A fine place is fine, and nothing is left in it.
        OutputPaths.CheckDirectory(Out("new/deeper"), "--out");
        OutputPaths.CheckFile(Out("t.json"), "--trace");
        Assert.False(Directory.Exists(Out("new")));
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    // ---- one writer per store --------------------------------------------------------------

    [SkippableFact]
    public void A_second_writer_is_refused_naming_the_first_and_the_first_is_not_disturbed()
    {
        Skip.If(OperatingSystem.IsWindows(), "the first writer is ended with SIGTERM, a POSIX signal");
        var (child, childErr) = StartSweep(Out("w"), Endless);
        using var _ = child;
        try
        {
            var store = Path.Combine(Out("w"), ResultStore.FileName);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < deadline && !child.HasExited && CountRows(store) < 1)
                Thread.Sleep(20);
            Assert.False(child.HasExited, "the sweep ended before a second writer could try\n" + Text(childErr));

            // The same sweep again, with and without --resume, and a store opened for writing in-process.
            foreach (var extra in new[] { Array.Empty<string>(), ["--resume"] })
            {
                var (code, _, err) = Plesim(["sweep", Hold, .. Endless, "--out", Out("w"), .. extra]);
                Assert.Equal(2, code);
                Assert.Contains($"{store} is being written by another plesim (pid {child.Id} on ", err, StringComparison.Ordinal);
                NoTrace(err);
            }
            var e = Assert.Throws<StoreException>(() => ResultStore.Open(store));
            Assert.Contains($"(pid {child.Id} on ", e.Message, StringComparison.Ordinal);
            // A store still being written is not merged half done.
            var merge = Plesim("merge", store, "--out", Out("w-merged"));
            Assert.Equal(2, merge.Code);
            Assert.Contains($"{store} is still being written by a plesim sweep (pid {child.Id} on ", merge.Err, StringComparison.Ordinal);
            // Readers are not writers: status and the store read-only still work meanwhile.
            var status = Plesim("status", Out("w"));
            Assert.True(status.Code == 0, status.Err);
            Assert.Contains("being written now", status.Out, StringComparison.Ordinal);
            Assert.False(child.HasExited, "the first sweep ended while it was being checked\n" + Text(childErr));

            // The first writer was not disturbed: stopped now, it closes its store as it always does.
            Terminate(child);
            Assert.True(child.ExitCode == 143, $"exit {child.ExitCode}\n{Text(childErr)}");
            Assert.Contains("interrupted by SIGTERM", Text(childErr), StringComparison.Ordinal);
            Assert.DoesNotContain("error", Text(childErr), StringComparison.OrdinalIgnoreCase);
            // Once it has stopped the store can be written again.
            using (ResultStore.Open(store)) { }
        }
        finally
        {
            if (!child.HasExited)
                child.Kill();
        }
    }

    /// <summary>Two sweeps started together on a new directory: one runs the whole sweep, the other is refused.</summary>
    [Fact]
    public void Of_two_sweeps_started_together_on_one_directory_one_completes_and_the_other_is_refused()
    {
        var dir = Out("race");
        var (a, aErr) = StartSweep(dir);
        var (b, bErr) = StartSweep(dir);
        using (a)
        using (b)
        {
            Assert.True(a.WaitForExit(120_000) && b.WaitForExit(120_000), "the sweeps did not finish");
            a.WaitForExit();
            b.WaitForExit();
            var codes = new[] { a.ExitCode, b.ExitCode };
            Array.Sort(codes);
            Assert.True(codes[0] == 0 && codes[1] == 2, $"exit codes {a.ExitCode}, {b.ExitCode}\n{Text(aErr)}\n{Text(bErr)}");
            var loser = a.ExitCode == 2 ? Text(aErr) : Text(bErr);
            // The winner writes its pid just after taking the lock; a loser that looks in between says "pid unknown".
            Assert.Matches("is being written by another plesim \\((pid \\d+ on |pid unknown\\))|already exists: continue that sweep with --resume", loser);
        }
        Assert.Equal(12, SweepCliTests.Rows(Path.Combine(dir, ResultStore.FileName)).Count);
    }

    [Fact]
    public void Two_writers_in_one_process_cannot_hold_one_store()
    {
        Assert.Equal(0, Plesim(["sweep", Hold, .. Grid, "--out", Out("p")]).Code);
        var path = Path.Combine(Out("p"), ResultStore.FileName);
        using (var first = ResultStore.Open(path))
        {
            var e = Assert.Throws<StoreException>(() => ResultStore.Open(path));
            Assert.Contains($"is being written by another plesim (pid {Environment.ProcessId} on ", e.Message, StringComparison.Ordinal);
            using var reader = ResultStore.Open(path, readOnly: true);
            Assert.Equal(12, reader.Runs().Count);
            Assert.Equal(12, first.Runs().Count);
        }
        using var again = ResultStore.Open(path);
        Assert.Equal(12, again.Runs().Count);
    }

    // ---- damaged stores --------------------------------------------------------------------

    [Fact]
    public void Truncated_bit_flipped_and_malformed_stores_are_named_not_internal_errors()
    {
        Assert.Equal(0, Plesim(["sweep", Hold, .. Grid, "--out", Out("good")]).Code);
        var good = File.ReadAllBytes(Path.Combine(Out("good"), ResultStore.FileName));
        Assert.True(good.Length >= 3 * 4096, $"store of {good.Length} bytes");

        void Check(string name, byte[] bytes, string expected)
        {
            var dir = Out(name);
            Directory.CreateDirectory(dir);
            var path = Path.Combine(dir, ResultStore.FileName);
            File.WriteAllBytes(path, bytes);
            foreach (var args in new[] { new[] { "report", dir, "--no-plots" }, ["sweep", Hold, .. Grid, "--out", dir, "--resume"], ["status", dir], ["merge", path, "--out", Out(name + "-m")] })
            {
                var (code, _, err) = Plesim(args);
                Assert.True(code == 2, $"{name} {args[0]}: exit {code}\n{err}");
                Assert.Contains($"{path} {expected}", err, StringComparison.Ordinal);
                NoTrace(err);
            }
        }

        Check("truncated", good[..(good.Length / 2)], "is damaged");
        var flipped = (byte[])good.Clone();
        flipped[4096] ^= 0xFF; // the type byte of page 2's b-tree header
        Check("flipped", flipped, "is damaged");
        Check("garbage", System.Text.Encoding.ASCII.GetBytes(new string('x', 5000)), "is damaged or is not an SQLite file");

        // A row whose metrics are not JSON (SQLite itself is intact).
        var dir = Out("badjson");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, ResultStore.FileName);
        File.WriteAllBytes(path, good);
        using (var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "UPDATE runs SET metrics = '{\"events\": 12' WHERE point = 1 AND run = 2";
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }
        var (c, _, e) = Plesim("report", dir, "--no-plots");
        Assert.Equal(2, c);
        Assert.Contains($"{path} is damaged: point 1 run 2 has malformed metrics JSON", e, StringComparison.Ordinal);
        NoTrace(e);
    }

    // ---- SIGTERM ---------------------------------------------------------------------------

    [SkippableFact]
    public void Sigterm_stops_a_sweep_cleanly_with_exit_143_and_resume_from_the_store_completes_it()
    {
        Skip.If(OperatingSystem.IsWindows(), "SIGTERM is a POSIX signal");
        var dir = Out("term");
        var (child, childErr) = StartSweep(dir, Longer);
        using var _ = child;
        var store = Path.Combine(dir, ResultStore.FileName);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !child.HasExited && CountRows(store) < 2)
            Thread.Sleep(20);
        Assert.False(child.HasExited, "the sweep finished before SIGTERM; make it longer");
        Terminate(child);
        var err = Text(childErr);
        Assert.True(child.ExitCode == 143, $"exit {child.ExitCode}\n{err}");
        Assert.Contains("interrupted by SIGTERM", err, StringComparison.Ordinal);
        Assert.Contains($"continue with: plesim sweep --resume --out {dir}", err, StringComparison.Ordinal);
        // Closed cleanly: back to one file, no write-ahead log or shared-memory index beside it.
        Assert.False(File.Exists(store + "-wal"), "a -wal file was left");
        Assert.False(File.Exists(store + "-shm"), "a -shm file was left");
        int atStop = CountRows(store);
        Assert.InRange(atStop, 2, 99);

        // Resumed from the store alone: no scenario file, no --set.
        var (code, _, resumeErr) = Plesim("sweep", "--resume", "--out", dir, "--quiet");
        Assert.True(code == 0, resumeErr);
        Assert.Contains($"{100 - atStop} run(s) done now, {atStop} were already stored", resumeErr, StringComparison.Ordinal);
        Assert.Equal(0, Plesim(["sweep", Hold, .. Longer, "--out", Out("whole")]).Code);
        Assert.Equal(SweepCliTests.Rows(Path.Combine(Out("whole"), ResultStore.FileName)), SweepCliTests.Rows(store));
        Assert.Equal(File.ReadAllText(Path.Combine(Out("whole"), "points.json")), File.ReadAllText(Path.Combine(dir, "points.json")));
    }

    // ---- resume from the store, status -----------------------------------------------------

    [Fact]
    public void Resume_takes_the_grid_from_the_store_and_status_counts_what_is_missing()
    {
        var dir = Out("r");
        Assert.Equal(0, Plesim(["sweep", Hold, .. Grid, "--seed", "77", "--out", dir]).Code);
        var store = Path.Combine(dir, ResultStore.FileName);
        var complete = SweepCliTests.Rows(store);
        using (var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = store, Pooling = false }.ToString()))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "DELETE FROM runs WHERE (point = 0 AND run = 1) OR point = 3 AND run IN (0, 2)";
            Assert.Equal(3, cmd.ExecuteNonQuery());
        }
        var (code, output, err) = Plesim("status", dir);
        Assert.True(code == 0, err);
        Assert.Contains("sweep 'engine-hold' from ", output, StringComparison.Ordinal);
        Assert.Contains("swept keys (cartesian): engine_hold.population = 100, 200; engine_hold.cancel_half = false, true", output, StringComparison.Ordinal);
        Assert.Contains("seed=77", output, StringComparison.Ordinal);
        Assert.Contains("points: 4 × 3 run(s) per point = 12 runs", output, StringComparison.Ordinal);
        Assert.Contains("results.sqlite (shard 1/1): 9 run(s) stored (9 ok, 0 failed), 3 missing of 12", output, StringComparison.Ordinal);
        Assert.Contains($"total: 9 of 12 run(s) stored (0 failed), 3 missing; continue with: plesim sweep --resume --out {dir}", output, StringComparison.Ordinal);

        // Changing the grid while resuming from the store alone is refused.
        (code, _, err) = Plesim("sweep", "--resume", "--out", dir, "--set", "engine_hold.population=5");
        Assert.Equal(2, code);
        Assert.Contains("--set: a sweep resumed from its store keeps the store's grid", err, StringComparison.Ordinal);
        (code, _, err) = Plesim("sweep", "--out", dir);
        Assert.Equal(2, code);
        Assert.Contains("plesim sweep --resume --out DIR", err, StringComparison.Ordinal);

        (code, _, err) = Plesim("sweep", "--resume", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        Assert.Contains("3 run(s) done now, 9 were already stored", err, StringComparison.Ordinal);
        Assert.Equal(complete, SweepCliTests.Rows(store));
        (code, output, _) = Plesim("status", dir);
        Assert.Equal(0, code);
        Assert.Contains("total: 12 of 12 run(s) stored (0 failed), 0 missing", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Shards_count_from_1_and_status_lists_the_shards_without_a_store()
    {
        var dir = Out("sh");
        var (code, _, err) = Plesim(["sweep", Hold, .. Grid, "--out", dir, "--shard", "2/3"]);
        Assert.True(code == 0, err);
        Assert.Contains("shard 2/3 complete", err, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(dir, "shard-2-of-3.sqlite")));
        string output;
        (code, output, err) = Plesim("status", dir);
        Assert.True(code == 0, err);
        Assert.Contains("shard-2-of-3.sqlite (shard 2/3): 4 run(s) stored (4 ok, 0 failed), 0 missing of 4", output, StringComparison.Ordinal);
        Assert.Contains("shards without a store yet: 1/3, 3/3", output, StringComparison.Ordinal);
        // A shard store resumed from itself: --shard picks it.
        (code, _, err) = Plesim("sweep", "--resume", "--out", dir, "--shard", "2/3", "--quiet");
        Assert.True(code == 0, err);
        Assert.Contains("0 run(s) done now, 4 were already stored", err, StringComparison.Ordinal);
        (code, _, err) = Plesim("sweep", "--resume", "--out", dir, "--quiet");
        Assert.Equal(2, code);
        Assert.Contains("resume one with --shard K/N", err, StringComparison.Ordinal);
        // Slurm numbers array tasks from SLURM_ARRAY_TASK_MIN, whatever it is.
        Assert.Equal(Shard.Parse("1/3"), Shard.FromEnvironment(n => n switch { "SLURM_ARRAY_TASK_ID" => "1", "SLURM_ARRAY_TASK_MIN" => "1", "SLURM_ARRAY_TASK_COUNT" => "3", _ => null }, null));
        Assert.Equal(Shard.Parse("1/3"), Shard.FromEnvironment(n => n switch { "SLURM_ARRAY_TASK_ID" => "0", "SLURM_ARRAY_TASK_MIN" => "0", "SLURM_ARRAY_TASK_COUNT" => "3", _ => null }, null));
        Assert.Equal(Shard.Parse("3/3"), Shard.FromEnvironment(n => n switch { "JOB_COMPLETION_INDEX" => "2", _ => null }, 3));
    }

    // ---- command-line values ---------------------------------------------------------------

    [Fact]
    public void Bad_option_values_are_refused_in_plain_words()
    {
        foreach (var cmd in new[] { "run", "sweep" })
        {
            var (code, _, err) = Plesim(cmd, Hold, "-j", "-2", "--out", Out("j"));
            Assert.Equal(2, code);
            Assert.Contains("--parallel: expected a whole number ≥ 1 (or 0 for one run per core), got -2", err, StringComparison.Ordinal);
        }
        var (c, _, e) = Plesim("run", Hold, "--runs", "abc");
        Assert.Equal(2, c);
        Assert.Contains("--runs: 'abc' is not a whole number", e, StringComparison.Ordinal);
        NoTrace(e);
        (c, _, e) = Plesim("run", Hold, "--seed", "-1");
        Assert.Equal(2, c);
        Assert.Contains("is not a whole number from 0 to 18446744073709551615", e, StringComparison.Ordinal);
        NoTrace(e);

        (c, _, e) = Plesim("run", Hold, "--runs", "1", "--trace", Out("t.json"), "--trace-for", "-5ms");
        Assert.Equal(2, c);
        Assert.Contains("--trace-for: '-5ms' is negative", e, StringComparison.Ordinal);
        (c, _, e) = Plesim("run", Hold, "--runs", "1", "--trace", Out("t.json"), "--trace-for", "0");
        Assert.Equal(2, c);
        Assert.Contains("--trace-for: expected a length > 0", e, StringComparison.Ordinal);
    }

    [Fact]
    public void A_trace_window_outside_the_run_is_warned_about()
    {
        var (code, _, err) = Plesim("run", Hold, "--runs", "1", "--set", "duration=5ms", "--set", "warmup=0", "--trace", Out("late.json"), "--trace-from", "1s");
        Assert.True(code == 0, err);
        Assert.Contains("warning: the trace window starts at 1s, after the run ends (5ms", err, StringComparison.Ordinal);
        (code, _, err) = Plesim("run", Hold, "--runs", "1", "--set", "duration=5ms", "--set", "warmup=0", "--trace", Out("long.json"), "--trace-from", "2ms");
        Assert.True(code == 0, err);
        Assert.Contains("ends after the run (5ms", err, StringComparison.Ordinal);
        (code, _, err) = Plesim("run", Hold, "--runs", "1", "--set", "duration=5ms", "--set", "warmup=0", "--trace", Out("in.json"), "--trace-for", "1ms");
        Assert.True(code == 0, err);
        // A window inside the run draws no window warning (an engine-hold run has no host to
        // trace, so the recorder's own "caught no events" note may still appear).
        Assert.DoesNotContain("after the run", err, StringComparison.Ordinal);
        Assert.DoesNotContain("ends after", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Seeds_that_would_wrap_past_2_to_the_64_are_refused()
    {
        var (code, _, err) = Plesim("run", Hold, "--runs", "2", "--seed", "18446744073709551615");
        Assert.Equal(2, code);
        Assert.Contains("--seed: seed 18446744073709551615 with 2 run(s) would pass the largest seed", err, StringComparison.Ordinal);
        Assert.Contains("use a seed of at most 18446744073709551614", err, StringComparison.Ordinal);
        (code, _, err) = Plesim("run", Hold, "--runs", "1", "--seed", "18446744073709551615", "--set", "duration=1ms");
        Assert.True(code == 0, err);
        (code, _, err) = Plesim("sweep", Hold, "--runs", "3", "--seed", "18446744073709551614", "--out", Out("seed"));
        Assert.Equal(2, code);
        // Refused by the sweep's own check or by the scenario check of the seed axis (decision 0020), whichever comes first.
        Assert.Matches("would pass the largest seed|the seed must be at most", err);
        Assert.False(Directory.Exists(Out("seed")));
    }

    [Fact]
    public void Help_documents_the_exit_codes()
    {
        var (code, output, _) = Plesim("--help");
        Assert.Equal(0, code);
        Assert.Contains("130 / 143", output, StringComparison.Ordinal);
        (code, output, _) = Plesim("sweep", "--help");
        Assert.Equal(0, code);
        Assert.Contains("counted from 1", output, StringComparison.Ordinal);
    }

    /// <summary>Sends SIGTERM and waits until the process has exited and its output is read to the end.</summary>
    private static void Terminate(Process child)
    {
        using (var kill = Process.Start("kill", ["-TERM", child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            kill.WaitForExit();
        Assert.True(child.WaitForExit(60_000), "the sweep did not stop after SIGTERM");
        child.WaitForExit();
    }

    /// <summary>Starts <c>plesim sweep</c> (of <see cref="Slow"/> unless told) in a child process, one run at a time; its standard error is collected.</summary>
    private static (Process Child, System.Text.StringBuilder Err) StartSweep(string dir, string[]? sweep = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "plesim.dll"), "sweep", Hold, .. sweep ?? Slow, "--out", dir, "-j", "1"])
            psi.ArgumentList.Add(a);
        var err = new System.Text.StringBuilder();
        var child = new Process { StartInfo = psi };
        child.ErrorDataReceived += (_, e) => { lock (err) err.AppendLine(e.Data); };
        child.OutputDataReceived += (_, _) => { };
        child.Start();
        child.BeginErrorReadLine();
        child.BeginOutputReadLine();
        return (child, err);
    }

    private static string Text(System.Text.StringBuilder sb)
    {
        lock (sb)
            return sb.ToString();
    }

    internal static int CountRows(string store)
    {
        try
        {
            using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = store, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "SELECT count(*) FROM runs";
            return Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (SqliteException)
        {
            return 0;
        }
    }
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using PleSim.Experiments.Running;

namespace PleSim.Experiments.Sweeps;

/// <summary>A store could not be created, opened, resumed or merged; the message says why and what to do.</summary>
public sealed class StoreException(string message) : Exception(message);

/// <summary>One point as stored: its label, assignments and scenario digest.</summary>
public sealed record StoredPoint(int Point, string Label, IReadOnlyList<KeyValuePair<string, string>> Assignments, string ScenarioDigest)
{
    public string? ValueOf(string path) => Assignments.FirstOrDefault(a => a.Key == path).Value;
}

/// <summary>One run as stored. <see cref="WallSeconds"/>, <see cref="FinishedUtc"/> and <see cref="Worker"/> describe the execution, not the result.</summary>
public sealed record StoredRun(
    int Point,
    int Run,
    ulong Seed,
    string ScenarioDigest,
    string Status,
    string? Error,
    IReadOnlyList<KeyValuePair<string, double>> Metrics,
    long Events,
    string EventDigest,
    double WallSeconds,
    string FinishedUtc,
    string Worker)
{
    public bool Ok => Status == "ok";

    public double? Metric(string name)
    {
        foreach (var (k, v) in Metrics)
        {
            if (k == name)
                return v;
        }
        return null;
    }

    /// <summary>The deterministic part of the row (everything but timings and worker) as one line; equal lines = equal results.</summary>
    public string ResultText()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{Point} {Run} {Seed} {ScenarioDigest} {Status} {Error} {Events} {EventDigest}");
        foreach (var (k, v) in Metrics)
            sb.Append(' ').Append(k).Append('=').Append(v.ToString("R", CultureInfo.InvariantCulture));
        return sb.ToString();
    }
}

/// <summary>
/// The result store of a sweep: one SQLite file (Microsoft.Data.Sqlite, WAL journal) with the sweep's
/// description (<c>meta</c>), its points and one row per finished run, each written in its own
/// transaction as the run finishes, so a killed sweep loses at most the runs in flight.
/// Thread-safe for <see cref="Add"/>.
/// </summary>
public sealed class ResultStore : IDisposable
{
    public const string FileName = "results.sqlite";
    public const string FormatName = "plesim-results/1";

    private readonly SqliteConnection _db;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, string> _meta;

    private readonly bool _readOnly;
    private readonly StoreLock? _lock;

    private ResultStore(SqliteConnection db, string path, bool readOnly, StoreLock? writerLock)
    {
        _db = db;
        Path = path;
        _readOnly = readOnly;
        _lock = writerLock;
        _meta = ReadMeta(db, path);
    }

    public string Path { get; }

    /// <summary>The sweep's description: digest, scenario text, axes, runs, shard, version, environment.</summary>
    public IReadOnlyDictionary<string, string> Meta => _meta;

    public string SweepDigest => _meta["sweep_digest"];

    public string Shard => _meta["shard"];

    /// <summary>The shard this store holds (stores made before shards were counted from 1 wrote 0-based <c>i/N</c>).</summary>
    public Shard StoredShard => Sweeps.Shard.ParseStored(Shard, _meta.GetValueOrDefault("shard_numbering") == "from-1");

    /// <summary>
    /// The store a job writes <paramref name="plan"/>'s runs to: a new one, or — only with
    /// <paramref name="resume"/> — the existing one after checking that it holds the same sweep.
    /// An existing store without <paramref name="resume"/> is refused (saying so if another
    /// process is writing it, else with <paramref name="resumeAdvice"/>).
    /// </summary>
    public static ResultStore OpenFor(string path, SweepPlan plan, Shard shard, bool resume, string resumeAdvice)
    {
        RefuseExisting(path, resume, resumeAdvice);
        if (!File.Exists(path))
            return Create(path, plan, shard);
        var store = Open(path);
        try
        {
            store.CheckResumable(plan, shard);
        }
        catch
        {
            store.Dispose();
            throw;
        }
        return store;
    }

    /// <summary>
    /// Throws the error <see cref="OpenFor"/> gives for an existing store at <paramref name="path"/>
    /// without <paramref name="resume"/>: a job whose plan takes long to build calls it first, so
    /// that the refusal comes before any work.
    /// </summary>
    public static void RefuseExisting(string path, bool resume, string resumeAdvice)
    {
        if (resume || !File.Exists(path))
            return;
        // Being written right now says more than "already exists".
        using (StoreLock.Acquire(path))
        {
        }
        throw new StoreException($"{path} already exists: {resumeAdvice}, or choose another --out directory");
    }

    /// <summary>Creates a new store for <paramref name="plan"/> (atomically: a temporary file renamed into place). Refuses an existing file.</summary>
    public static ResultStore Create(string path, SweepPlan plan, Shard shard)
    {
        // The lock comes first: of two sweeps started on one directory, the second is refused
        // before it reads or writes anything.
        var writerLock = StoreLock.Acquire(path);
        try
        {
            if (File.Exists(path))
                throw new StoreException($"{path} already exists: continue that sweep with --resume, or choose another --out directory");
            var meta = DescribeSweep(plan, shard);
            var points = plan.Points.Select(p => new StoredPoint(p.Index, p.Label, p.Assignments.Select(a => new KeyValuePair<string, string>(a.Path, a.Value)).ToList(), p.Scenario.Digest)).ToList();
            CreateFile(path, meta, points, []);
            return Open(path, readOnly: false, writerLock);
        }
        catch
        {
            writerLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens an existing store (read-write unless <paramref name="readOnly"/>; a writer holds the
    /// store's lock until it is disposed, so a second writer is refused). A damaged store (truncated,
    /// bit-flipped, not SQLite, tables missing) is a <see cref="StoreException"/> saying so.
    /// </summary>
    public static ResultStore Open(string path, bool readOnly = false) => Open(path, readOnly, null);

    private static ResultStore Open(string path, bool readOnly, StoreLock? heldLock)
    {
        if (!File.Exists(path))
        {
            heldLock?.Dispose();
            throw new StoreException($"{path}: no such result store");
        }
        StoreLock? writerLock = heldLock;
        SqliteConnection? db = null;
        try
        {
            if (!readOnly)
                writerLock ??= StoreLock.Acquire(path);
            db = Connect(path, readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWrite);
            CheckIntact(db, path);
            var store = new ResultStore(db, path, readOnly, writerLock);
            // While a sweep writes, a write-ahead log lets readers (a progress monitor, a report) in without blocking it.
            if (!readOnly)
                Exec(db, "PRAGMA journal_mode=WAL");
            return store;
        }
        catch (SqliteException e)
        {
            db?.Dispose();
            writerLock?.Dispose();
            throw Damaged(path, e);
        }
        catch
        {
            db?.Dispose();
            writerLock?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// SQLite's own check of the file (<c>PRAGMA quick_check</c>: page structure, b-trees, record
    /// formats; linear in the file's size, a fraction of a second for a large sweep), then the
    /// three tables a result store has.
    /// </summary>
    private static void CheckIntact(SqliteConnection db, string path)
    {
        var problems = new List<string>();
        using (var cmd = db.CreateCommand())
        {
            cmd.CommandText = "PRAGMA quick_check(5)";
            using var rd = cmd.ExecuteReader();
            while (rd.Read())
            {
                var line = rd.GetString(0);
                if (line != "ok")
                    problems.Add(line);
            }
        }
        if (problems.Count > 0)
        {
            throw new StoreException($"{path} is damaged (SQLite's quick_check: {string.Join("; ", problems)}); " +
                "it may have been truncated or altered on disk. Restore it from a copy, or run the sweep again into a new --out directory");
        }
        var tables = new HashSet<string>(StringComparer.Ordinal);
        using (var cmd = db.CreateCommand())
        {
            cmd.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table'";
            using var rd = cmd.ExecuteReader();
            while (rd.Read())
                tables.Add(rd.GetString(0));
        }
        var missing = new[] { "meta", "points", "runs" }.Where(t => !tables.Contains(t)).ToList();
        if (missing.Count > 0)
            throw new StoreException($"{path} is not a PleSim result store: table(s) {string.Join(", ", missing)} missing");
    }

    /// <summary>A SQLite error reading a store, as a store problem naming the file.</summary>
    private static StoreException Damaged(string path, SqliteException e) =>
        e.SqliteErrorCode switch
        {
            11 or 26 => new StoreException($"{path} is damaged or is not an SQLite file ({e.Message.TrimEnd('.')}); " +
                "it may have been truncated or altered on disk. Restore it from a copy, or run the sweep again into a new --out directory"),
            _ => new StoreException($"{path}: cannot read the result store ({e.Message.TrimEnd('.')})"),
        };

    /// <summary>Refuses to resume when the sweep differs from the one the store was started with, saying what changed.</summary>
    public void CheckResumable(SweepPlan plan, Shard shard)
    {
        if (StoredShard != shard)
            throw new StoreException($"{Path} holds shard {StoredShard}, not {shard}: resume each shard with its own --shard");
        if (SweepDigest == plan.Digest)
            return;
        var now = DescribeSweep(plan, shard);
        var changed = new[] { "scenario_digest", "axes", "mode", "runs", "adaptive" }
            .Where(k => _meta.GetValueOrDefault(k) != now[k])
            .Select(k => k switch
            {
                "scenario_digest" => $"the scenario ({_meta["scenario_file"]}) changed since the store was started",
                "axes" => "the swept keys or their values changed",
                "runs" => $"runs per point changed ({_meta["runs"]} then, {now["runs"]} now)",
                "adaptive" => $"the adaptive target changed ({_meta["adaptive"]} then, {now["adaptive"]} now)",
                _ => $"the sweep mode changed ({_meta[k]} then, {now[k]} now)",
            })
            .ToList();
        if (changed.Count == 0)
            changed.Add("the points' scenarios differ");
        throw new StoreException($"{Path} was started for a different sweep: {string.Join("; ", changed)}. " +
            "Resuming would mix results of different inputs: use a new --out directory (or delete the store to start over).");
    }

    /// <summary>Records a finished run in its own transaction.</summary>
    public void Add(int point, int run, string scenarioDigest, RunResult r, string worker)
    {
        var row = new StoredRun(point, run, r.Seed, scenarioDigest, r.Status, r.Error, r.Metrics,
            r.Events, r.EventDigest.ToString("x16", CultureInfo.InvariantCulture), r.WallSeconds,
            DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture), worker);
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            InsertRun(_db, tx, row);
            tx.Commit();
        }
    }

    public IReadOnlyList<StoredPoint> Points()
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT point, label, assignments, scenario_digest FROM points ORDER BY point";
            var list = new List<StoredPoint>();
            try
            {
                using var rd = cmd.ExecuteReader();
                while (rd.Read())
                {
                    List<string[]> assignments;
                    try
                    {
                        assignments = JsonSerializer.Deserialize<List<string[]>>(rd.GetString(2)) ?? [];
                        if (assignments.Any(a => a is null || a.Length != 2 || a[0] is null || a[1] is null))
                            throw new JsonException("an assignment is not a [key, value] pair");
                    }
                    catch (JsonException e)
                    {
                        throw new StoreException($"{Path} is damaged: point {rd.GetInt32(0)} has malformed assignments ({e.Message})");
                    }
                    list.Add(new StoredPoint(rd.GetInt32(0), rd.GetString(1), assignments.Select(a => new KeyValuePair<string, string>(a[0], a[1])).ToList(), rd.GetString(3)));
                }
            }
            catch (SqliteException e)
            {
                throw Damaged(Path, e);
            }
            catch (InvalidCastException e)
            {
                throw new StoreException($"{Path} is damaged: a row of table points has a value of the wrong type ({e.Message})");
            }
            return list;
        }
    }

    /// <summary>Every stored run, ordered by point and run.</summary>
    public IReadOnlyList<StoredRun> Runs()
    {
        lock (_gate)
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT point, run, seed, scenario_digest, status, error, metrics, events, event_digest, wall_seconds, finished_utc, worker FROM runs ORDER BY point, run";
            var list = new List<StoredRun>();
            try
            {
                using var rd = cmd.ExecuteReader();
                while (rd.Read())
                {
                    List<KeyValuePair<string, double>> metrics;
                    try
                    {
                        metrics = ParseMetrics(rd.GetString(6));
                    }
                    catch (Exception e) when (e is JsonException or InvalidOperationException)
                    {
                        throw new StoreException($"{Path} is damaged: point {rd.GetInt32(0)} run {rd.GetInt32(1)} has malformed metrics JSON ({e.Message})");
                    }
                    list.Add(new StoredRun(
                        rd.GetInt32(0), rd.GetInt32(1), unchecked((ulong)rd.GetInt64(2)), rd.GetString(3), rd.GetString(4),
                        rd.IsDBNull(5) ? null : rd.GetString(5), metrics, rd.GetInt64(7), rd.GetString(8),
                        rd.GetDouble(9), rd.GetString(10), rd.GetString(11)));
                }
            }
            catch (SqliteException e)
            {
                throw Damaged(Path, e);
            }
            catch (Exception e) when (e is InvalidCastException or FormatException)
            {
                throw new StoreException($"{Path} is damaged: a row of table runs has a value of the wrong type ({e.Message})");
            }
            return list;
        }
    }

    /// <summary>Closes the store; a writer first returns it to a single file (no -wal/-shm beside it) when no one else has it open.</summary>
    public void Dispose()
    {
        if (!_readOnly)
        {
            try
            {
                Exec(_db, "PRAGMA journal_mode=DELETE");
            }
            catch (SqliteException)
            {
                // Another connection still reads it: it stays in WAL mode, which is just as valid.
            }
        }
        _db.Dispose();
        _lock?.Dispose();
    }

    /// <summary>
    /// Combines stores of one sweep (e.g. its shards) into a new store at <paramref name="output"/>,
    /// written to a temporary file and renamed into place. Refuses stores of different sweeps and
    /// stores that disagree about a run. Returns the number of runs merged.
    /// </summary>
    public static int Merge(IReadOnlyList<string> inputs, string output)
    {
        // A shard still running would be merged half done; its runs would be missing from the result.
        foreach (var path in inputs)
        {
            if (StoreLock.Writer(path) is { } writer)
                throw new StoreException($"{path} is still being written by a plesim sweep ({writer}); wait for it to finish, then merge");
        }
        var (meta, points, runs) = Combine(inputs);
        meta["shard"] = Sweeps.Shard.All.ToString();
        meta["shard_numbering"] = "from-1";
        meta["merged_from"] = string.Join(", ", inputs.Select(i => $"{System.IO.Path.GetFileName(i)} (shard {ShardOf(i)})"));
        using var writerLock = StoreLock.Acquire(output);
        if (File.Exists(output))
        {
            // Merging into an existing store replaces it; its runs are among the inputs or lost on purpose.
            if (!inputs.Any(i => System.IO.Path.GetFullPath(i) == System.IO.Path.GetFullPath(output)))
            {
                using var existing = Open(output, readOnly: true);
                if (existing.SweepDigest != meta["sweep_digest"])
                    throw new StoreException($"{output} holds a different sweep; merge into another --out directory");
            }
        }
        CreateFile(output, meta, points, runs);
        return runs.Count;
    }

    /// <summary>Reads stores of one sweep into one list of points and runs (the work of <see cref="Merge"/>, in memory).</summary>
    public static (Dictionary<string, string> Meta, IReadOnlyList<StoredPoint> Points, IReadOnlyList<StoredRun> Runs) Combine(IReadOnlyList<string> inputs)
    {
        if (inputs.Count == 0)
            throw new StoreException("no result stores to read");
        Dictionary<string, string>? meta = null;
        string first = inputs[0];
        IReadOnlyList<StoredPoint> points = [];
        var runs = new SortedDictionary<(int, int), StoredRun>();
        var from = new Dictionary<(int, int), string>();
        foreach (var path in inputs)
        {
            using var store = Open(path, readOnly: true);
            if (meta is null)
            {
                meta = new Dictionary<string, string>(store._meta, StringComparer.Ordinal);
                points = store.Points();
            }
            else if (store.SweepDigest != meta["sweep_digest"])
            {
                throw new StoreException($"{path} is from a different sweep than {first} " +
                    $"(scenario '{store._meta["scenario_name"]}' from {store._meta["scenario_file"]}, sweep digest {store.SweepDigest[..12]}…, " +
                    $"versus '{meta["scenario_name"]}' from {meta["scenario_file"]}, {meta["sweep_digest"][..12]}…); only stores of one sweep can be merged");
            }
            foreach (var r in store.Runs())
            {
                var key = (r.Point, r.Run);
                if (runs.TryGetValue(key, out var seen))
                {
                    if (seen.ResultText() != r.ResultText())
                        throw new StoreException($"{path} and {from[key]} disagree about point {r.Point} run {r.Run} (seed {r.Seed}); the model is deterministic, so one of them was produced by another build");
                    continue;
                }
                runs[key] = r;
                from[key] = path;
            }
        }
        return (meta!, points, runs.Values.ToList());
    }

    private static string ShardOf(string path)
    {
        using var s = Open(path, readOnly: true);
        return s.StoredShard.ToString();
    }

    private static Dictionary<string, string> DescribeSweep(SweepPlan plan, Shard shard)
    {
        var axes = JsonSerializer.Serialize(plan.Spec.Axes.Select(a => new Dictionary<string, object> { ["path"] = a.Path, ["values"] = a.Values, ["varied"] = a.IsVaried }));
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["format"] = FormatName,
            ["sweep_digest"] = plan.Digest,
            ["scenario_name"] = plan.Base.Name,
            ["scenario_file"] = plan.Base.SourceFile,
            ["scenario_text"] = plan.Base.SourceText,
            ["scenario_digest"] = plan.Base.Digest,
            ["shown_metrics"] = JsonSerializer.Serialize(plan.Base.Metrics),
            ["compare_metric"] = plan.Base.CompareMetric ?? "",
            ["axes"] = axes,
            ["mode"] = plan.Spec.Mode == SweepMode.Zip ? "zip" : "cartesian",
            ["runs"] = plan.Runs.ToString(CultureInfo.InvariantCulture),
            ["adaptive"] = plan.Adaptive?.ToString() ?? "off",
            ["shard"] = shard.ToString(),
            ["shard_numbering"] = "from-1",
            ["plesim_version"] = VersionInfo.Text,
            ["created_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["environment"] = VersionInfo.Environment,
        };
        // A plan the program built itself (a catalog case) says which command continues it.
        if (plan.ResumeWith is { } resumeWith)
            meta["resume_with"] = resumeWith;
        return meta;
    }

    private static void CreateFile(string path, Dictionary<string, string> meta, IReadOnlyList<StoredPoint> points, IReadOnlyList<StoredRun> runs)
    {
        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        DeleteWithJournal(tmp);
        using (var db = Connect(tmp, SqliteOpenMode.ReadWriteCreate))
        {
            Exec(db, "PRAGMA journal_mode=DELETE");
            using var tx = db.BeginTransaction();
            Exec(db, """
                CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE points(point INTEGER PRIMARY KEY, label TEXT NOT NULL, assignments TEXT NOT NULL, scenario_digest TEXT NOT NULL);
                CREATE TABLE runs(
                    point INTEGER NOT NULL REFERENCES points(point),
                    run INTEGER NOT NULL,
                    seed INTEGER NOT NULL,
                    scenario_digest TEXT NOT NULL,
                    status TEXT NOT NULL,
                    error TEXT,
                    metrics TEXT NOT NULL,
                    events INTEGER NOT NULL,
                    event_digest TEXT NOT NULL,
                    wall_seconds REAL NOT NULL,
                    finished_utc TEXT NOT NULL,
                    worker TEXT NOT NULL,
                    PRIMARY KEY(point, run));
                """, tx);
            foreach (var (k, v) in meta.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                Exec(db, "INSERT INTO meta(key, value) VALUES ($k, $v)", tx, ("$k", k), ("$v", v));
            foreach (var p in points)
            {
                Exec(db, "INSERT INTO points(point, label, assignments, scenario_digest) VALUES ($p, $l, $a, $d)", tx,
                    ("$p", p.Point), ("$l", p.Label), ("$a", JsonSerializer.Serialize(p.Assignments.Select(a => new[] { a.Key, a.Value }))), ("$d", p.ScenarioDigest));
            }
            foreach (var r in runs)
                InsertRun(db, tx, r);
            tx.Commit();
        }
        File.Move(tmp, full, overwrite: true);
    }

    private static void InsertRun(SqliteConnection db, SqliteTransaction tx, StoredRun r) =>
        Exec(db, """
            INSERT INTO runs(point, run, seed, scenario_digest, status, error, metrics, events, event_digest, wall_seconds, finished_utc, worker)
            VALUES ($point, $run, $seed, $digest, $status, $error, $metrics, $events, $event_digest, $wall, $finished, $worker)
            """, tx,
            ("$point", r.Point), ("$run", r.Run), ("$seed", unchecked((long)r.Seed)), ("$digest", r.ScenarioDigest), ("$status", r.Status),
            ("$error", (object?)r.Error ?? DBNull.Value), ("$metrics", MetricsJson(r.Metrics)), ("$events", r.Events), ("$event_digest", r.EventDigest),
            ("$wall", r.WallSeconds), ("$finished", r.FinishedUtc), ("$worker", r.Worker));

    private static void DeleteWithJournal(string path)
    {
        foreach (var f in new[] { path, path + "-journal", path + "-wal", path + "-shm" })
            File.Delete(f);
    }

    private static SqliteConnection Connect(string path, SqliteOpenMode mode)
    {
        var cs = new SqliteConnectionStringBuilder { DataSource = path, Mode = mode, Pooling = false, DefaultTimeout = 30 }.ToString();
        var db = new SqliteConnection(cs);
        db.Open();
        if (mode != SqliteOpenMode.ReadOnly)
            Exec(db, "PRAGMA synchronous=NORMAL");
        Exec(db, "PRAGMA busy_timeout=30000");
        return db;
    }

    private static Dictionary<string, string> ReadMeta(SqliteConnection db, string path)
    {
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var cmd = db.CreateCommand();
            cmd.CommandText = "SELECT key, value FROM meta";
            using var rd = cmd.ExecuteReader();
            while (rd.Read())
                meta[rd.GetString(0)] = rd.GetString(1);
        }
        catch (SqliteException e)
        {
            throw new StoreException($"{path} is not a PleSim result store ({e.Message})");
        }
        catch (InvalidCastException e)
        {
            throw new StoreException($"{path} is damaged: a row of table meta has a value of the wrong type ({e.Message})");
        }
        if (meta.GetValueOrDefault("format") != FormatName)
            throw new StoreException($"{path} is not a PleSim result store of format {FormatName} (format: '{meta.GetValueOrDefault("format") ?? "none"}')");
        return meta;
    }

    private static void Exec(SqliteConnection db, string sql, SqliteTransaction? tx = null, params (string Name, object Value)[] args)
    {
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (n, v) in args)
            cmd.Parameters.AddWithValue(n, v);
        cmd.ExecuteNonQuery();
    }

    /// <summary>Metrics as a JSON object in the model's order; NaN and infinities (which JSON lacks) as null.</summary>
    private static string MetricsJson(IReadOnlyList<KeyValuePair<string, double>> metrics)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            foreach (var (k, v) in metrics)
                ResultJson.WriteNumber(w, k, v);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static List<KeyValuePair<string, double>> ParseMetrics(string json)
    {
        var list = new List<KeyValuePair<string, double>>();
        using var doc = JsonDocument.Parse(json);
        foreach (var p in doc.RootElement.EnumerateObject())
            list.Add(new(p.Name, p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetDouble() : double.NaN));
        return list;
    }
}

using System.Collections.Concurrent;
using System.Globalization;
using PleSim.Experiments.Running;

namespace PleSim.Experiments.Sweeps;

/// <summary>A run that failed: enough to reproduce it with <c>plesim run</c>.</summary>
public sealed record FailedRun(int Point, int Run, ulong Seed, string Label, string Error);

/// <summary>What a sweep (or one shard of it) did.</summary>
public sealed record SweepOutcome(int Ran, int AlreadyStored, IReadOnlyList<FailedRun> Failed, bool Interrupted, IReadOnlyList<string> Notes);

/// <summary>
/// Runs a <see cref="SweepPlan"/>'s missing work units in parallel and records each in a
/// <see cref="ResultStore"/> as it finishes. What is already stored is never run again, so running
/// again after an interruption completes the sweep with the same results.
/// </summary>
public sealed class SweepRunner
{
    private readonly SweepPlan _plan;
    private readonly ResultStore _store;
    private readonly Shard _shard;
    private readonly int _parallelism;
    private readonly RunOptions? _options;
    private readonly Action<int, int>? _progress;
    private readonly CancellationToken _cancel;
    private readonly string _worker;
    private readonly ConcurrentBag<FailedRun> _failed = [];
    private readonly List<string> _notes = [];
    private Dictionary<(int Point, int Run), StoredRun> _stored;
    private readonly HashSet<(int Point, int Run)> _counted = [];
    private int _ran;
    private int _done;
    private int _total;

    private SweepRunner(SweepPlan plan, ResultStore store, Shard shard, int parallelism, RunOptions? options, Action<int, int>? progress, CancellationToken cancel)
    {
        _plan = plan;
        _store = store;
        _shard = shard;
        _parallelism = parallelism > 0 ? parallelism : Environment.ProcessorCount;
        _options = options;
        _progress = progress;
        _cancel = cancel;
        _worker = $"{Environment.MachineName}:{Environment.ProcessId} shard {shard}";
        _stored = store.Runs().ToDictionary(r => (r.Point, r.Run));
    }

    /// <param name="progress">(done, total) as runs finish; total can grow with adaptive repetitions.</param>
    public static SweepOutcome Run(
        SweepPlan plan,
        ResultStore store,
        Shard shard,
        int parallelism = 0,
        RunOptions? options = null,
        Action<int, int>? progress = null,
        CancellationToken cancel = default)
    {
        var runner = new SweepRunner(plan, store, shard, parallelism, options, progress, cancel);
        int already = runner._stored.Count;
        bool complete = plan.Adaptive is null ? runner.RunFixed() : runner.RunAdaptive(plan.Adaptive);
        // Failures stored by an earlier, interrupted invocation are failures of this sweep too.
        var failures = runner._failed.ToList();
        var ranNow = failures.Select(f => (f.Point, f.Run)).ToHashSet();
        foreach (var r in runner._stored.Values.Where(r => !r.Ok && !ranNow.Contains((r.Point, r.Run))))
            failures.Add(new FailedRun(r.Point, r.Run, r.Seed, plan.Points[r.Point].Label, r.Error ?? "failed"));
        return new SweepOutcome(runner._ran, already, failures.OrderBy(f => f.Point).ThenBy(f => f.Run).ToList(), !complete, runner._notes);
    }

    private bool RunFixed()
    {
        var units = new List<(int, int)>();
        foreach (var p in _plan.Points)
        {
            for (int k = 0; k < _plan.Runs; k++)
            {
                if (_shard.Owns(_plan.Unit(p.Index, k)))
                    units.Add((p.Index, k));
            }
        }
        _total = units.Count;
        return Execute(units);
    }

    /// <summary>Runs the given units that are not stored yet, in parallel; false when cancelled.</summary>
    private bool Execute(IReadOnlyList<(int Point, int Run)> units)
    {
        var todo = units.Where(u => !_stored.ContainsKey(u)).ToList();
        // Done = units of this sweep found in the store, each counted once: adaptive rounds list a
        // point's earlier runs again, and a resumed sweep starts with what is stored.
        foreach (var u in units)
        {
            if (_stored.ContainsKey(u) && _counted.Add(u))
                _done++;
        }
        foreach (var u in todo)
            _counted.Add(u);
        _progress?.Invoke(_done, _total);
        var po = new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = _cancel };
        try
        {
            Parallel.ForEach(todo, po, u =>
            {
                var point = _plan.Points[u.Point];
                var result = Runner.RunOne(point.Scenario, point.Scenario.SeedOfRun(u.Run), _options);
                _store.Add(u.Point, u.Run, point.Scenario.Digest, result, _worker);
                if (result.Error is not null)
                    _failed.Add(new FailedRun(u.Point, u.Run, result.Seed, point.Label, result.Error));
                Interlocked.Increment(ref _ran);
                _progress?.Invoke(Interlocked.Increment(ref _done), _total);
            });
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        finally
        {
            _stored = _store.Runs().ToDictionary(r => (r.Point, r.Run));
        }
        return true;
    }

    private int StoredRunsOf(int point)
    {
        int have = 0;
        while (_stored.ContainsKey((point, have)))
            have++;
        return have;
    }

    /// <summary>
    /// Adaptive repetitions, in rounds: every unfinished point is brought to its target count, then
    /// each point's CI is checked and its next target set. Decisions depend only on stored results
    /// taken in run order, so a resumed sweep makes the same decisions. Shards own whole points.
    /// </summary>
    private bool RunAdaptive(AdaptiveTarget target)
    {
        var owned = _plan.Points.Where(p => _shard.Owns(p.Index)).Select(p => p.Index).ToList();
        var want = owned.ToDictionary(p => p, _ => _plan.Runs);
        var open = new SortedSet<int>(owned);
        _total = owned.Count * _plan.Runs;
        // A resumed adaptive sweep may have stored more than the first batch; those runs count in the total.
        foreach (var p in owned)
        {
            int have = 0;
            while (_stored.ContainsKey((p, have)))
                have++;
            if (have > _plan.Runs)
                _total += have - _plan.Runs;
        }
        bool metricSeen = false;
        while (open.Count > 0)
        {
            if (!Execute(open.SelectMany(p => Enumerable.Range(0, want[p]).Select(k => (p, k))).ToList()))
                return false;
            foreach (var p in open.ToList())
            {
                var values = new List<double>();
                for (int k = 0; k < want[p]; k++)
                {
                    var r = _stored[(p, k)];
                    if (r.Ok && r.Metric(target.Metric) is double v && double.IsFinite(v))
                        values.Add(v);
                }
                metricSeen |= values.Count > 0;
                var s = MetricSummary.Of(target.Metric, values);
                if (target.IsMet(s) || want[p] >= target.MaxRuns || values.Count == 0)
                {
                    open.Remove(p);
                    if (!target.IsMet(s) && values.Count > 0)
                        _notes.Add($"point {p} ({_plan.Points[p].Label}): 95% CI half-width {s.Ci95HalfWidth.ToString("G4", CultureInfo.InvariantCulture)} is above the target after the maximum of {target.MaxRuns} runs");
                    continue;
                }
                int next = target.NextCount(s, want[p]);
                int counted = Math.Max(want[p], StoredRunsOf(p));
                if (next > counted)
                    _total += next - counted;
                want[p] = next;
            }
        }
        if (!metricSeen && owned.Count > 0)
        {
            var names = _stored.Values.FirstOrDefault(r => r.Ok)?.Metrics.Select(m => m.Key) ?? [];
            var guess = Scenarios.Suggestions.Closest(target.Metric, names);
            _notes.Add($"--target-ci: no run reported metric '{target.Metric}'{(guess is null ? "" : $"; did you mean '{guess}'?")}; points kept their first {_plan.Runs} runs");
        }
        return true;
    }
}

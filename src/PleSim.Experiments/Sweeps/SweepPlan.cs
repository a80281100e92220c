using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Sweeps;

/// <summary>One point of a sweep: its assignments (one per axis) and the scenario they give.</summary>
public sealed record SweepPoint(int Index, IReadOnlyList<Override> Assignments, Scenario Scenario, string Label);

/// <summary>
/// A sweep ready to run: the points (each a checked scenario), runs per point, optional adaptive
/// target, and a digest that identifies all of it. Run <c>k</c> of every point uses seed
/// <c>seed + k</c> of that point's scenario, so points are paired by seed.
/// </summary>
public sealed class SweepPlan
{
    public const string Format = "plesim-sweep/1";

    private SweepPlan(Scenario baseScenario, SweepSpec spec, IReadOnlyList<SweepPoint> points, int runs, AdaptiveTarget? adaptive)
    {
        Base = baseScenario;
        Spec = spec;
        Points = points;
        Runs = runs;
        Adaptive = adaptive;
        var sb = new StringBuilder();
        sb.Append(Format).Append('\n');
        sb.Append("runs=").Append(runs.ToString(CultureInfo.InvariantCulture)).Append('\n');
        sb.Append("adaptive=").Append(adaptive?.ToString() ?? "off").Append('\n');
        foreach (var p in points)
            sb.Append(p.Index.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(p.Label).Append(' ').Append(p.Scenario.Digest).Append('\n');
        Digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

    /// <summary>
    /// Set by a program that builds its own plan (the catalog: <c>reproduce all</c>): the command that
    /// continues it, recorded in the store's meta as <c>resume_with</c>. Not part of the digest.
    /// </summary>
    public string? ResumeWith { get; private init; }

    /// <summary>
    /// A plan whose points are given one by one rather than as a grid of axes (the cells of a
    /// catalog case: each sets its own keys). Each point is the file of <paramref name="baseScenario"/>
    /// loaded with that point's overrides; run k of every point uses seed + k of its scenario, as in
    /// any sweep. The plan's spec has no axes: the points table of the store holds each point's
    /// assignments, and its label names it.
    /// </summary>
    public static SweepPlan FromPoints(Scenario baseScenario, IReadOnlyList<(string Label, IReadOnlyList<Override> Set)> points, int runs, string resumeWith) =>
        FromPoints(baseScenario, points.Select(p => (p.Label, p.Set, ((string, string)?)null)).ToList(), runs, resumeWith);

    /// <summary>As above, where a point may name its own scenario file (text, name) instead of the base's: one row of a catalog case measured on another benchmark.</summary>
    public static SweepPlan FromPoints(Scenario baseScenario, IReadOnlyList<(string Label, IReadOnlyList<Override> Set, (string Text, string File)? Source)> points, int runs, string resumeWith)
    {
        if (runs < 1)
            throw new ScenarioException(new ScenarioDiagnostic("--runs", 0, 0, "", $"runs per point must be at least 1, got {runs}"));
        var loaded = new SweepPoint?[points.Count];
        var problems = new IReadOnlyList<ScenarioDiagnostic>?[points.Count];
        Parallel.For(0, points.Count, i =>
        {
            try
            {
                var (text, file) = points[i].Source ?? (baseScenario.SourceText, baseScenario.SourceFile);
                var sc = ScenarioLoader.LoadText(text, file, points[i].Set);
                loaded[i] = new SweepPoint(i, sc.Overrides, sc, points[i].Label);
            }
            catch (ScenarioException e)
            {
                problems[i] = e.Diagnostics;
            }
        });
        var diagnostics = problems.Where(p => p is not null).SelectMany(p => p!).Distinct().Take(MaxDiagnostics).ToList();
        if (diagnostics.Count > 0)
            throw new ScenarioException(diagnostics);
        foreach (var p in loaded)
        {
            if (p!.Scenario.Seed > ulong.MaxValue - (ulong)(runs - 1))
                throw new ScenarioException(new ScenarioDiagnostic(baseScenario.SourceFile, 0, 0, "seed", $"seed {p.Scenario.Seed} with {runs} run(s) would pass the largest seed (run k uses seed + k)"));
        }
        return new SweepPlan(baseScenario, SweepSpec.Empty, loaded.Select(p => p!).ToList(), runs, null) { ResumeWith = resumeWith };
    }

    /// <summary>The scenario file without any sweep assignment (fixed <c>--set</c> values applied).</summary>
    public Scenario Base { get; }

    public SweepSpec Spec { get; }

    public IReadOnlyList<SweepPoint> Points { get; }

    /// <summary>Runs per point (the first batch, when adaptive).</summary>
    public int Runs { get; }

    public AdaptiveTarget? Adaptive { get; }

    /// <summary>SHA-256 over the format, runs, adaptive target and every point's label and scenario digest.</summary>
    public string Digest { get; }

    /// <summary>The axes that vary (the grid's dimensions).</summary>
    public IReadOnlyList<SweepAxis> Varied => Spec.Varied;

    /// <summary>The unit number of run <paramref name="run"/> of point <paramref name="point"/> (used to deal units to shards).</summary>
    public long Unit(int point, int run) => ((long)point * Runs) + run;

    /// <summary>
    /// Builds a plan from a scenario file and command-line axes. Every point is loaded and checked
    /// before anything runs; all problems are reported together in one <see cref="ScenarioException"/>.
    /// </summary>
    public static SweepPlan Create(string file, IEnumerable<SweepAxis> cliAxes, SweepMode? mode = null, int? runs = null, ulong? seed = null, AdaptiveTarget? adaptive = null)
    {
        var baseScenario = ScenarioLoader.LoadFile(file);
        return Create(baseScenario, cliAxes, mode, runs, seed, adaptive);
    }

    /// <summary>Most characters of scenario text a sweep plan may parse (points × file length; see decision 0020).</summary>
    public const long MaxGridChars = 10_000_000;

    /// <summary>Most problems listed for one sweep (every point may repeat the same mistake with another value).</summary>
    public const int MaxDiagnostics = 200;

    /// <summary>
    /// Where a grid problem (zip lengths, size) comes from: the file's sweep section when every
    /// varied axis and the mode come from it (at the first varied axis), else the command line.
    /// </summary>
    private static ScenarioDiagnostic GridProblem(string file, SweepSpec spec, SweepMode? cliMode, string message)
    {
        var prefix = file + ":";
        var varied = spec.Varied;
        if (varied.Count > 0 && cliMode is null && varied.All(a => a.Origin.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var where = varied[0].Origin[prefix.Length..].Split(' ', 2)[0].Split(':');
            if (where.Length == 2 && int.TryParse(where[0], CultureInfo.InvariantCulture, out var line) && int.TryParse(where[1], CultureInfo.InvariantCulture, out var column))
                return new ScenarioDiagnostic(file, line, column, "sweep.set", message);
        }
        var origin = cliMode == SweepMode.Zip || spec.Mode == SweepMode.Zip ? "--zip" : "--set";
        return new ScenarioDiagnostic(origin, 0, 0, "", message);
    }

    /// <summary>Builds a plan from an already loaded scenario (its text and file name are used to load the points).</summary>
    /// <remarks>
    /// A sweep written by a user (the file's <c>sweep:</c> section, <c>--set</c> axes) is held to
    /// <see cref="SweepSpec.MaxGridPoints"/> and <see cref="MaxGridChars"/>; a design the program
    /// builds itself from bounded options (the uncertainty analysis) passes <paramref name="bounded"/> = false.
    /// </remarks>
    public static SweepPlan Create(Scenario fromFile, IEnumerable<SweepAxis> cliAxes, SweepMode? mode = null, int? runs = null, ulong? seed = null, AdaptiveTarget? adaptive = null, bool bounded = true)
    {
        var spec = fromFile.Sweep.With(cliAxes, mode);
        if (seed is ulong s)
            spec = spec.With([new SweepAxis("seed", [s.ToString(CultureInfo.InvariantCulture)], "--seed " + s)]);
        return Create(fromFile, spec, runs, adaptive, mode, bounded);
    }

    /// <summary>
    /// The sweep a store was started with, rebuilt from its <c>meta</c>: the scenario text as it was
    /// then, the axes (resolved paths and values), mode, runs and adaptive target. Its digest equals
    /// the store's when the build computes the same scenarios (<see cref="ResultStore.CheckResumable"/> checks).
    /// </summary>
    public static SweepPlan FromStore(IReadOnlyDictionary<string, string> meta, string storePath)
    {
        string Get(string key) => meta.TryGetValue(key, out var v) ? v : throw new StoreException($"{storePath}: the store's meta has no '{key}', so its sweep cannot be rebuilt; give the scenario file and its --set options");
        var file = Get("scenario_file");
        var text = Get("scenario_text");
        List<SweepAxis> axes;
        try
        {
            axes = (System.Text.Json.JsonSerializer.Deserialize<List<System.Text.Json.JsonElement>>(Get("axes")) ?? [])
                .Select(a => new SweepAxis(
                    a.GetProperty("path").GetString()!,
                    a.GetProperty("values").EnumerateArray().Select(v => v.GetString()!).ToList(),
                    $"{storePath} (the stored sweep's {a.GetProperty("path").GetString()})"))
                .ToList();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new StoreException($"{storePath} is damaged: its stored axes are not readable ({e.Message})");
        }
        var mode = Get("mode") == "zip" ? SweepMode.Zip : SweepMode.Cartesian;
        if (!int.TryParse(Get("runs"), NumberStyles.None, CultureInfo.InvariantCulture, out int runs))
            throw new StoreException($"{storePath} is damaged: runs per point '{meta["runs"]}' is not a number");
        AdaptiveTarget? adaptive = null;
        if (meta.GetValueOrDefault("adaptive", "off") is var a && a != "off")
        {
            int cut = a.LastIndexOf(" max ", StringComparison.Ordinal);
            try
            {
                adaptive = cut > 0 && int.TryParse(a[(cut + 5)..], NumberStyles.None, CultureInfo.InvariantCulture, out int max)
                    ? AdaptiveTarget.Parse(a[..cut], max)
                    : throw new FormatException($"'{a}' is not an adaptive target");
            }
            catch (FormatException e)
            {
                throw new StoreException($"{storePath} is damaged: {e.Message}");
            }
        }
        // The file's own sweep section is not used: the stored axes are the whole grid, in order.
        var scenario = ScenarioLoader.LoadText(text, file, []);
        // The grid was held to the limits when the sweep was started; resuming it is not refused.
        return Create(scenario, new SweepSpec(axes, mode), runs, adaptive, mode, bounded: false);
    }

    private static SweepPlan Create(Scenario fromFile, SweepSpec spec, int? runs, AdaptiveTarget? adaptive, SweepMode? mode, bool bounded)
    {
        IReadOnlyList<IReadOnlyList<Scenarios.Override>> grid;
        try
        {
            grid = spec.Expand(bounded ? SweepSpec.MaxGridPoints : int.MaxValue);
        }
        catch (FormatException e)
        {
            throw new ScenarioException(GridProblem(fromFile.SourceFile, spec, mode, e.Message));
        }
        // Every point parses the whole file again: bound that work too, not only the point count.
        if (bounded && (long)grid.Count * fromFile.SourceText.Length > MaxGridChars)
        {
            throw new ScenarioException(GridProblem(fromFile.SourceFile, spec, mode,
                $"the sweep has {grid.Count} points of a {fromFile.SourceText.Length}-character file: building it would read {(long)grid.Count * fromFile.SourceText.Length} characters, and sweeps are limited to {MaxGridChars} (SweepPlan.MaxGridChars): use fewer points or a shorter file"));
        }
        var fixedOverrides = spec.Axes.Where(a => !a.IsVaried).Select(a => new Scenarios.Override(a.Path, a.Values[0]) { Origin = a.Origin }).ToList();
        var baseScenario = ScenarioLoader.LoadText(fromFile.SourceText, fromFile.SourceFile, fixedOverrides);
        var diagnostics = new List<ScenarioDiagnostic>();
        // Points are loaded in parallel (large designs have thousands) into their slots; problems are gathered in point order.
        var loaded = new SweepPoint?[grid.Count];
        var problems = new IReadOnlyList<ScenarioDiagnostic>?[grid.Count];
        Parallel.For(0, grid.Count, i =>
        {
            try
            {
                var sc = ScenarioLoader.LoadText(fromFile.SourceText, fromFile.SourceFile, grid[i]);
                var varied = sc.Overrides.Where((o, k) => spec.Axes[k].IsVaried).ToList();
                var label = varied.Count == 0 ? "(base)" : string.Join(" ", varied.Select(o => o.ToString()));
                loaded[i] = new SweepPoint(i, sc.Overrides, sc, label);
            }
            catch (ScenarioException e)
            {
                problems[i] = e.Diagnostics;
            }
        });
        var points = new List<SweepPoint>(grid.Count);
        var seen = new HashSet<ScenarioDiagnostic>();
        int more = 0;
        for (int i = 0; i < grid.Count; i++)
        {
            if (loaded[i] is { } p)
                points.Add(p);
            foreach (var d in problems[i] ?? [])
            {
                if (!seen.Add(d))
                    continue;
                if (diagnostics.Count < MaxDiagnostics)
                    diagnostics.Add(d);
                else
                    more++;
            }
        }
        if (more > 0)
            diagnostics.Add(new ScenarioDiagnostic(fromFile.SourceFile, 0, 0, "sweep", $"… and {more} more problems at other points (only the first {MaxDiagnostics} are listed)"));
        if (diagnostics.Count > 0)
            throw new ScenarioException(diagnostics);
        int n = runs ?? baseScenario.Runs;
        if (n < 1)
            throw new ScenarioException(new ScenarioDiagnostic("--runs", 0, 0, "", $"runs per point must be at least 1, got {n}"));
        if (points.Any(p => p.Scenario.Seed > ulong.MaxValue - (ulong)(n - 1)))
            throw new ScenarioException(new ScenarioDiagnostic("--runs", 0, 0, "", $"run k uses seed + k, so with {n} runs every point's seed must be at most {ulong.MaxValue - (ulong)(n - 1)}"));
        if (adaptive is not null && n < 2)
            throw new ScenarioException(new ScenarioDiagnostic("--runs", 0, 0, "", "adaptive repetitions start from at least 2 runs per point (a confidence interval needs two)"));
        // Run k uses seed + k: the last run's seed must not pass 2^64 - 1 and wrap around to 0.
        long most = Math.Max(n, adaptive?.MaxRuns ?? 0);
        foreach (var p in points)
        {
            if (p.Scenario.Seed > ulong.MaxValue - (ulong)(most - 1))
            {
                var origin = spec.Axes.FirstOrDefault(a => a.Path == "seed")?.Origin ?? fromFile.SourceFile;
                throw new ScenarioException(new ScenarioDiagnostic(origin, 0, 0, "seed",
                    $"seed {p.Scenario.Seed} with up to {most} run(s) per point would pass the largest seed, 18446744073709551615 (run k uses seed + k); use a seed of at most {ulong.MaxValue - (ulong)(most - 1)}"));
            }
        }
        // Sweep axes resolved against the file (short paths such as ple_window become kvm.ple_window).
        var resolvedAxes = spec.Axes.Select((a, k) => points.Count > 0 ? a with { Path = points[0].Assignments[k].Path } : a).ToList();
        return new SweepPlan(baseScenario, spec with { Axes = resolvedAxes }, points, n, adaptive);
    }
}

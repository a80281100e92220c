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

    /// <summary>Builds a plan from an already loaded scenario (its text and file name are used to load the points).</summary>
    public static SweepPlan Create(Scenario fromFile, IEnumerable<SweepAxis> cliAxes, SweepMode? mode = null, int? runs = null, ulong? seed = null, AdaptiveTarget? adaptive = null)
    {
        var spec = fromFile.Sweep.With(cliAxes, mode);
        if (seed is ulong s)
            spec = spec.With([new SweepAxis("seed", [s.ToString(CultureInfo.InvariantCulture)], "--seed " + s)]);
        return Create(fromFile, spec, runs, adaptive);
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
        return Create(scenario, new SweepSpec(axes, mode), runs, adaptive);
    }

    private static SweepPlan Create(Scenario fromFile, SweepSpec spec, int? runs, AdaptiveTarget? adaptive)
    {
        IReadOnlyList<IReadOnlyList<Scenarios.Override>> grid;
        try
        {
            grid = spec.Expand();
        }
        catch (FormatException e)
        {
            throw new ScenarioException(new ScenarioDiagnostic("--zip", 0, 0, "", e.Message));
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
        for (int i = 0; i < grid.Count; i++)
        {
            if (loaded[i] is { } p)
                points.Add(p);
            foreach (var d in problems[i] ?? [])
            {
                if (!diagnostics.Contains(d))
                    diagnostics.Add(d);
            }
        }
        if (diagnostics.Count > 0)
            throw new ScenarioException(diagnostics);
        int n = runs ?? baseScenario.Runs;
        if (n < 1)
            throw new ScenarioException(new ScenarioDiagnostic("--runs", 0, 0, "", $"runs per point must be at least 1, got {n}"));
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

using PleSim.Engine;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Reproduce;

/// <summary>One cell of the seed's grid: payload × PAUSE handler × overcommit.</summary>
public sealed record CellSpec(int Payload, string Handler, int Loops)
{
    /// <summary>"1x", "1.5x", "2x": runnable VCPUs per CPU (4 AMQP + loops on 4 CPUs).</summary>
    public string Overcommit => Loops switch { 0 => "1x", 2 => "1.5x", 4 => "2x", _ => $"{(4 + Loops) / 4.0:0.##}x" };

    public IReadOnlyList<Override> Overrides =>
    [
        Override.Parse($"vms[0].workload.payload={Payload}"),
        Override.Parse($"kvm.ple_handler={Handler}"),
        Override.Parse($"vms[1].workload.loops={Loops}"),
    ];
}

/// <summary>
/// CPU time division between the two guests in a cell: CPUs used, the AMQP guest's share of the
/// guests' total (mean and run range), runs where one guest got at most
/// <see cref="Riel2011.ImbalancedShare"/>, and — with cgroups — each guest group's mean per-CPU
/// entity weight (NaN without cgroups).
/// </summary>
public sealed record CpuSplit(double AmqpCpus, double LoopsCpus, double AmqpShare, double AmqpShareMin, double AmqpShareMax,
    int ImbalancedRuns, int Runs, double AmqpGroupWeight, double LoopsGroupWeight);

/// <summary>
/// How a cell's simulated value relates to the published one (<see cref="Basis"/>: calibrated,
/// informed or predicted), why, and the document that records it. From the scenario's
/// <c>reproduce.basis</c> rules.
/// </summary>
public sealed record CellBasis(string Kind, string Note, string Record)
{
    public static readonly CellBasis Predicted = new(Basis.Predicted, "no model value was fitted to this cell and no modelling choice was made after seeing it", "");
}

/// <summary>The result of one cell: its runs and their summaries.</summary>
public sealed class CellResult(CellSpec spec, double? publishedValue, CellBasis? basis, RunResult[] runs, string metric)
{
    public CellSpec Spec { get; } = spec;

    /// <summary>The publication's value for this cell (null: a row the publication does not have).</summary>
    public double? PublishedValue { get; } = publishedValue;

    /// <summary>How the cell relates to the published value (null when there is none).</summary>
    public CellBasis? Basis { get; } = basis;

    public RunResult[] Runs { get; } = runs;
    public string Metric { get; } = metric;

    /// <summary>The scenario the cell's runs ran (the base with the cell's grid keys), when known.</summary>
    public Scenario? Scenario { get; init; }
    public MetricSummary Summary => MetricSummary.Of(Metric, Values(Metric));

    public double RelError => PublishedValue is double s ? (Summary.Mean - s) / s : double.NaN;

    public IReadOnlyList<double> Values(string metric) =>
        Runs.Where(r => r.Error is null && r.Metric(metric) is double v && double.IsFinite(v)).Select(r => r.Metric(metric)!.Value).ToList();

    public double Mean(string metric)
    {
        var v = Values(metric);
        return v.Count == 0 ? double.NaN : v.Average();
    }

    public int Failed => Runs.Count(r => r.Error is not null);
}

/// <summary>
/// <c>plesim reproduce riel-2011</c>: the seed's grid (payload {8, 16} × handler {none, the 2011
/// directed yield, and the extra rows sleep and yield} × {0, 2, 4} loops), each cell run with the
/// same seeds, side by side with the seed's own numbers.
/// </summary>
public static class Riel2011
{
    public static readonly int[] Payloads = [8, 16];
    public static readonly string[] Handlers = ["none", "directed-yield-2011", "sleep", "yield"];
    public static readonly int[] Loops = [0, 2, 4];

    /// <summary>The published table (the seed's mail; messages/s, mean of 30 runs): "no PLE" and "PLE" rows.</summary>
    public static double? PublishedValue(int payload, string handler, int loops) => (payload, handler, loops) switch
    {
        (8, "none", 0) => 223801,
        (8, "none", 2) => 135137,
        (8, "none", 4) => 104951,
        (8, "directed-yield-2011", 0) => 224135,
        (8, "directed-yield-2011", 2) => 141105,
        (8, "directed-yield-2011", 4) => 118744,
        (16, "none", 0) => 222424,
        (16, "none", 2) => 126175,
        (16, "none", 4) => 105299,
        (16, "directed-yield-2011", 0) => 222534,
        (16, "directed-yield-2011", 2) => 138082,
        (16, "directed-yield-2011", 4) => 132945,
        _ => null,
    };

    /// <summary>The keys the grid sets in every cell; a variant (<c>--set</c>) may not set them.</summary>
    public static readonly string[] GridKeys = ["vms[0].workload.payload", "kvm.ple_handler", "vms[1].workload.loops"];

    /// <summary>
    /// Loads the experiment's scenario: a file, or the built-in copy of scenarios/riel-2011/amqp.yaml,
    /// with <paramref name="variant"/> overrides applied to every cell (a what-if of the whole table).
    /// </summary>
    public static Scenario LoadScenario(string? path, bool cgroups, bool quick, IReadOnlyList<Override>? variant = null)
    {
        var extra = new List<Override>();
        if (cgroups)
        {
            extra.Add(Override.Parse("vms[0].cgroup=own"));
            extra.Add(Override.Parse("vms[1].cgroup=own"));
        }
        if (quick)
        {
            extra.Add(Override.Parse("duration=300ms"));
            extra.Add(Override.Parse("warmup=100ms"));
        }
        extra.AddRange(variant ?? []);
        Scenario scenario;
        if (path is not null)
        {
            scenario = ScenarioLoader.LoadFile(path, extra);
        }
        else
        {
            var text = EmbeddedText.TryRead("riel-2011-amqp.yaml") ?? throw new InvalidOperationException("the built-in riel-2011 scenario is missing");
            scenario = ScenarioLoader.LoadText(text, "scenarios/riel-2011/amqp.yaml (built in)", extra);
        }
        // The grid sets vms[0].workload.payload and vms[1].workload.loops: the scenario must have that shape.
        if (scenario.Kind != "system" || scenario.Vms.Count < 2 || scenario.Vms[0].Workload.Kind != "amqp-perftest" || scenario.Vms[1].Workload.Kind != "hog")
        {
            var shape = scenario.Kind != "system" ? $"kind '{scenario.Kind}'"
                : $"{scenario.Vms.Count} VM(s){(scenario.Vms.Count > 0 ? $", vms[0] runs '{scenario.Vms[0].Workload.Kind}'" : "")}{(scenario.Vms.Count > 1 ? $", vms[1] runs '{scenario.Vms[1].Workload.Kind}'" : "")}";
            throw new ScenarioException(new ScenarioDiagnostic(scenario.SourceFile, 0, 0, "vms",
                $"riel-2011 needs a system scenario whose vms[0] runs the amqp-perftest workload and vms[1] the hog workload (its grid sets {string.Join(", ", GridKeys)}); this one has {shape}"));
        }
        var clashes = scenario.Overrides.Where(o => GridKeys.Any(o.Sets))
            .Select(o => new ScenarioDiagnostic(o.OriginText, 0, 0, o.Path,
                $"the reproduction sets this key in every cell (its grid: {string.Join(", ", GridKeys)}); use 'plesim sweep' to vary it"))
            .ToList();
        clashes.AddRange(CheckBasisRules(scenario));
        if (clashes.Count > 0)
            throw new ScenarioException(clashes);
        return scenario;
    }

    /// <summary>The last <paramref name="count"/> overrides of a loaded scenario — the variant's, with full key paths — as <c>key=value</c>.</summary>
    public static IReadOnlyList<string> Variant(Scenario s, int count) =>
        s.Overrides.Skip(s.Overrides.Count - count).Select(o => o.ToString()).ToList();

    public static IReadOnlyList<CellSpec> Grid() =>
        (from p in Payloads from h in Handlers from l in Loops select new CellSpec(p, h, l)).ToList();

    /// <summary>Runs every cell × run on all cores; <paramref name="onRunDone"/> reports progress.</summary>
    public static IReadOnlyList<CellResult> Run(Scenario baseScenario, int runs, int parallelism = 0, Action<int, int>? onRunDone = null, CancellationToken cancel = default)
    {
        var grid = Grid();
        var po = new ParallelOptions { MaxDegreeOfParallelism = parallelism > 0 ? parallelism : Environment.ProcessorCount, CancellationToken = cancel };
        // The cells' scenarios are read on all cores (each parses and checks the YAML); a cell that
        // fails to load throws as the serial loop did: the first such cell in grid order.
        var scenarios = new Scenario[grid.Count];
        var loadErrors = new Exception?[grid.Count];
        Parallel.For(0, grid.Count, po, i =>
        {
            try
            {
                scenarios[i] = ForCell(baseScenario, grid[i]);
            }
            catch (Exception e)
            {
                loadErrors[i] = e;
            }
        });
        if (Array.Find(loadErrors, e => e is not null) is { } loadError)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(loadError);
        var seeds = Runner.Seeds(baseScenario, runs);
        var results = new RunResult[grid.Count, runs];
        int total = grid.Count * runs, done = 0;
        // Longest cells (most overcommitted) first keeps the cores busy to the end. The runs are
        // handed out one at a time in that order (a plain array would be split into ranges, one
        // per core, and the second core would start in the middle of the order).
        var order = Enumerable.Range(0, total).OrderByDescending(k => grid[k / runs].Loops).ThenBy(k => k).ToArray();
        Parallel.ForEach(System.Collections.Concurrent.Partitioner.Create(order, System.Collections.Concurrent.EnumerablePartitionerOptions.NoBuffering), po, k =>
        {
            int c = k / runs, r = k % runs;
            results[c, r] = Runner.RunOne(scenarios[c], seeds[r]);
            onRunDone?.Invoke(Interlocked.Increment(ref done), total);
        });
        string metric = baseScenario.CompareMetric ?? "amqp.subscribe_rate";
        return grid.Select((c, i) => new CellResult(c, PublishedValue(c.Payload, c.Handler, c.Loops), BasisOf(baseScenario, c),
            Enumerable.Range(0, runs).Select(r => results[i, r]).ToArray(), metric) { Scenario = scenarios[i] }).ToList();
    }

    /// <summary>
    /// The basis of a cell with a published value: the first of the scenario's <c>reproduce.basis</c>
    /// rules whose selector matches the cell's grid keys; <c>predicted</c> when none does. Null for a
    /// row the publication does not have.
    /// </summary>
    public static CellBasis? BasisOf(Scenario scenario, CellSpec c)
    {
        if (PublishedValue(c.Payload, c.Handler, c.Loops) is null)
            return null;
        var keys = c.Overrides.ToDictionary(o => o.Path, o => o.Value, StringComparer.Ordinal);
        var rule = scenario.ReproduceBasis.FirstOrDefault(r => r.Matches(keys));
        return rule is null ? CellBasis.Predicted : new CellBasis(rule.Basis, rule.Note, rule.Record);
    }

    /// <summary>Basis rules that select on a key the grid does not set can never match as meant: report them with their position.</summary>
    private static IEnumerable<ScenarioDiagnostic> CheckBasisRules(Scenario s) =>
        from r in s.ReproduceBasis
        from kv in r.Cells
        where !GridKeys.Contains(kv.Key)
        select new ScenarioDiagnostic(r.Origin, 0, 0, "reproduce.basis.cells." + kv.Key,
            $"the cells are told apart by the grid's keys only ({string.Join(", ", GridKeys)})");

    /// <summary>The scenario of one cell: the experiment's scenario (file or built in, with its overrides) plus the cell's own keys.</summary>
    public static Scenario ForCell(Scenario baseScenario, CellSpec c)
    {
        if (!baseScenario.SourceFile.EndsWith("(built in)", StringComparison.Ordinal))
            return ScenarioLoader.LoadFile(baseScenario.SourceFile, [.. baseScenario.Overrides, .. c.Overrides]);
        return ScenarioLoader.LoadText(EmbeddedText.TryRead("riel-2011-amqp.yaml")!, baseScenario.SourceFile, [.. baseScenario.Overrides, .. c.Overrides]);
    }

    /// <summary>Throughput relative to the same row's no-overcommit cell (simulated, and the published).</summary>
    public static (double Sim, double? Published) Relative(IReadOnlyList<CellResult> cells, CellResult cell)
    {
        var baseCell = cells.First(c => c.Spec.Payload == cell.Spec.Payload && c.Spec.Handler == cell.Spec.Handler && c.Spec.Loops == 0);
        double sim = cell.Summary.Mean / baseCell.Summary.Mean;
        double? published = cell.PublishedValue is double s && baseCell.PublishedValue is double b ? s / b : null;
        return (sim, published);
    }

    /// <summary>
    /// The seed's 80%/320% case: a run counts as imbalanced when one guest got at most this share
    /// of the CPU time the two guests got together (80 of 400 is 20%; 25% leaves room for noise).
    /// </summary>
    public const double ImbalancedShare = 0.25;

    /// <summary>How the CPU time was divided between the guests in one cell, run by run.</summary>
    public static CpuSplit Split(CellResult cell)
    {
        var shares = cell.Runs.Where(r => r.Error is null)
            .Select(r => (Amqp: r.Metric("amqp.cpus_used") ?? double.NaN, Loops: r.Metric("loops.cpus_used") ?? double.NaN))
            .Where(x => double.IsFinite(x.Amqp) && double.IsFinite(x.Loops) && x.Amqp + x.Loops > 0)
            .Select(x => x.Amqp / (x.Amqp + x.Loops))
            .ToList();
        return new CpuSplit(
            cell.Mean("amqp.cpus_used"), cell.Mean("loops.cpus_used"),
            shares.Count == 0 ? double.NaN : shares.Average(),
            shares.Count == 0 ? double.NaN : shares.Min(),
            shares.Count == 0 ? double.NaN : shares.Max(),
            shares.Count(x => x <= ImbalancedShare || x >= 1 - ImbalancedShare), shares.Count,
            cell.Mean("group_weight./amqp"), cell.Mean("group_weight./loops"));
    }

    /// <summary>Gain of a handler over "none" in the same payload/overcommit cell, with the paired 95% CI (same seeds).</summary>
    public static (double Gain, double Low, double High, double? Published) GainOverNone(IReadOnlyList<CellResult> cells, CellResult cell)
    {
        var none = cells.First(c => c.Spec.Payload == cell.Spec.Payload && c.Spec.Handler == "none" && c.Spec.Loops == cell.Spec.Loops);
        var (gain, low, high, _) = MetricSummary.PairedGain(cell.Runs, none.Runs, cell.Metric, none.Summary.Mean);
        double? published = cell.PublishedValue is double s && none.PublishedValue is double n ? (s - n) / n : null;
        return (gain, low, high, published);
    }
}

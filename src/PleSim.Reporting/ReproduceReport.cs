using System.Globalization;
using System.Text;
using System.Text.Json;
using PleSim.Experiments.Reproduce;
using PleSim.Experiments.Running;
using PleSim.Hypervisor;
using Spectre.Console;

namespace PleSim.Reporting;

/// <summary>Tables and JSON of <c>plesim reproduce riel-2011</c>.</summary>
public static class ReproduceReport
{
    private static string N(double v) => double.IsFinite(v) ? v.ToString("N0", CultureInfo.InvariantCulture) : "–";
    private static string P(double v) => Formats.Percent(v);
    private static string F3(double v) => double.IsFinite(v) ? v.ToString("0.000", CultureInfo.InvariantCulture) : "–";

    private static string HandlerLabel(string h) => h switch
    {
        "none" => "no PLE",
        "directed-yield-2011" => "PLE (directed yield 2011)",
        "sleep" => "PLE + sleep (pre-2011)",
        "yield" => "PLE + sched_yield",
        _ => h,
    };

    /// <summary>Published value, simulated mean, 95% CI, relative error, basis (calibrated/informed/predicted) — per payload, handler and overcommit.</summary>
    /// <remarks>
    /// A cell whose runs all gave the same rate says the rate's resolution at that cell's scenario
    /// (its payload and window; decision 0094).
    /// </remarks>
    public static FitTable Main(IReadOnlyList<CellResult> cells, int payload)
    {
        var t = new FitTable(keyColumns: 1).Border(TableBorder.Rounded)
            .Title($"[bold]{payload}-byte payload[/] — {Markup.Escape(cells[0].Metric)} (published | simulated mean [[95% CI]] | error basis)");
        t.AddColumn("handler");
        foreach (var l in Riel2011.Loops)
            t.AddColumn(new CellSpec(payload, "none", l).Overcommit + " overcommit", rightAligned: true);
        bool marked = false;
        foreach (var h in Riel2011.Handlers)
        {
            var row = new List<string> { Markup.Escape(HandlerLabel(h)) };
            foreach (var l in Riel2011.Loops)
            {
                var c = cells.First(x => x.Spec.Payload == payload && x.Spec.Handler == h && x.Spec.Loops == l);
                var s = c.Summary;
                string seed = c.PublishedValue is double sv ? N(sv) : "(not published)";
                string tag = c.Basis is { } b ? $" [{BasisColour(b.Kind)}]{b.Kind}[/]" : "";
                string err = c.PublishedValue is null ? "" : $" {Formats.SignedPercent(c.RelError)}";
                string fails = c.Failed > 0 ? $" [red]{c.Failed} failed[/]" : "";
                string ci = s.AllRunsEqual ? Markup.Escape(Formats.AllRunsEqualFor(s.Metric, c.Scenario is null ? null : MetricDefinitions.ResolutionOf(s.Metric, c.Scenario)))
                    : Bounds.Marked(Markup.Escape(Formats.Interval(s.Ci95Low, s.Ci95High)), Bounds.Of(s.Metric), s.Ci95Low, s.Ci95High);
                marked |= Bounds.IsMarked(ci);
                row.Add($"{seed}\n{N(s.Mean)} {ci}\n{err}{tag}{fails}");
            }
            t.AddRow(row.ToArray());
        }
        if (marked)
            t.Caption(Markup.Escape(Bounds.Note));
        return t;
    }

    /// <summary>Throughput relative to no overcommit, and the gain of each PLE handler over no PLE (paired, same seeds).</summary>
    public static FitTable Ratios(IReadOnlyList<CellResult> cells)
    {
        var t = new FitTable(keyColumns: 2).Border(TableBorder.Rounded).Title("[bold]derived ratios[/] (simulated vs published)");
        t.AddColumn("payload");
        t.AddColumn("handler");
        foreach (var l in Riel2011.Loops.Skip(1))
            t.AddColumn($"{new CellSpec(8, "none", l).Overcommit} / 1x", rightAligned: true);
        foreach (var l in Riel2011.Loops)
            t.AddColumn($"gain vs no PLE {new CellSpec(8, "none", l).Overcommit}", rightAligned: true);
        foreach (var p in Riel2011.Payloads)
        {
            foreach (var h in Riel2011.Handlers)
            {
                var row = new List<string> { p + " B", Markup.Escape(HandlerLabel(h)) };
                foreach (var l in Riel2011.Loops.Skip(1))
                {
                    var c = cells.First(x => x.Spec.Payload == p && x.Spec.Handler == h && x.Spec.Loops == l);
                    var (sim, published) = Riel2011.Relative(cells, c);
                    row.Add($"{F3(sim)} ({(published is double s ? F3(s) : "–")})");
                }
                foreach (var l in Riel2011.Loops)
                {
                    var c = cells.First(x => x.Spec.Payload == p && x.Spec.Handler == h && x.Spec.Loops == l);
                    if (h == "none")
                    {
                        row.Add("–");
                        continue;
                    }
                    var (gain, lo, hi, published) = Riel2011.GainOverNone(cells, c);
                    row.Add($"{Formats.SignedPercent(gain)} [[{Formats.SignedPercent(lo)}, {Formats.SignedPercent(hi)}]] ({(published is double s ? Formats.SignedPercent(s) : "–")})");
                }
                t.AddRow(row.ToArray());
            }
        }
        return t;
    }

    /// <summary>Where the time went, per cell: CPU per guest, the AMQP guest's VCPU time, PLE activity, lock-holder preemption.</summary>
    public static FitTable Explain(IReadOnlyList<CellResult> cells)
    {
        var t = new FitTable(keyColumns: 3).Border(TableBorder.Simple).Title("[bold]where the time went[/] (means over runs; AMQP guest VCPU time as fractions of 4 VCPUs)");
        foreach (var h in new[] { "payload", "handler", "load", "CPUs amqp", "CPUs loops", "amqp VCPU busy", "spin", "PAUSE exit", "halted", "preempted", "preempted holding a lock", "PAUSE exits/s", "yield_to ok", "yield_to hit", "LHP/s (woken by holder / same VM / other VM)" })
            t.AddColumn(h, rightAligned: true);
        foreach (var c in cells)
        {
            t.AddRow(
                c.Spec.Payload + " B",
                Markup.Escape(c.Spec.Handler),
                c.Spec.Overcommit,
                F3(c.Mean("amqp.cpus_used")),
                F3(c.Mean("loops.cpus_used")),
                P(c.Mean("amqp.cpus_used") / 4),
                P(c.Mean("amqp.frac_spin")),
                P(c.Mean("amqp.frac_pause_exit")),
                P(c.Mean("amqp.frac_halted")),
                P(c.Mean("amqp.frac_preempted")),
                P(c.Mean("amqp.frac_lock_holder_preempted")),
                N(c.Mean("amqp.pause_exits_per_second")),
                P(c.Mean("amqp.yield_to_success_rate")),
                P(c.Mean("amqp.yield_to_hit_rate")),
                $"{N(c.Mean("amqp.lhp.woken_by_holder"))} / {N(c.Mean("amqp.lhp.same_vm"))} / {N(c.Mean("amqp.lhp.other_vm"))}");
        }
        t.Caption(Markup.Escape(ExplainCaption));
        return t;
    }

    /// <summary>What the columns of <see cref="Explain"/> count.</summary>
    public const string ExplainCaption =
        "amqp VCPU busy: host CPU time of its VCPU threads (CPUs amqp / 4); spin and PAUSE exit are parts of busy, halted and preempted are not; " +
        "preempted holding a lock: VCPU time preempted while holding a guest lock (part of preempted; the ground-truth tables' \"holder preempted\" is a share of spin time instead); " +
        "yield_to ok: share of the PAUSE handler's yield_to calls that succeeded; yield_to hit: share of the successful calls whose target the spinner waited on " +
        "(compare's \"yield_to precision\" is a share of all calls); LHP/s: preemptions of a VCPU holding a guest lock per second, by who preempted it: " +
        "a VCPU of the same VM the holder had just woken / another VCPU of the same VM / a VCPU of the other VM";

    /// <summary>What the columns of <see cref="YieldLabelTable"/> count.</summary>
    public const string YieldLabelCaption =
        "walks w/o yield: directed-yield walks that went over every candidate without a successful yield_to (each candidate skipped or its yield_to failed); " +
        "→ ack debtor: a VCPU that owed the spinner a TLB-flush or call-function acknowledgement";

    /// <summary>Spin causes shown in the ground-truth table: every cause some cell spent time on.</summary>
    private static List<SpinCause> ShownCauses(IReadOnlyList<CellResult> cells, string vm) =>
        GroundTruth.Causes.Where(k => cells.Any(c => c.Mean($"{vm}.spin_ns.{GroundTruth.Name(k)}") > 0)).ToList();

    private static string CauseHeader(SpinCause k) => k switch
    {
        SpinCause.HolderPreempted => "holder preempted",
        SpinCause.HolderInExit => "holder in exit",
        SpinCause.NextWaiterPreempted => "next waiter preempted",
        SpinCause.NextWaiterInExit => "next waiter in exit",
        SpinCause.AckOwedPreempted => "ack owed: preempted",
        SpinCause.AckOwedHalted => "ack owed: halted",
        SpinCause.AckOwedIrqsOff => "ack owed: IRQs off",
        SpinCause.AckInFlight => "ack in flight",
        SpinCause.Contention => "contention",
        SpinCause.MutexOwnerRunning => "mutex: owner running",
        SpinCause.MutexOwnerPreempted => "mutex: owner preempted",
        SpinCause.HandoffReserved => "rwsem: reserved by hand-off",
        _ => "other",
    };

    /// <summary>
    /// The ground truth behind "where the time went" (docs/ground-truth.md), part 1: why the
    /// guest's VCPUs spun, as shares of their spin time (pooled over runs, so a row adds up to
    /// 100%), next to the share of time the VM was split (some VCPUs running, some preempted) and
    /// the share of time two or more of its runnable VCPUs were queued on one host CPU (stacked).
    /// </summary>
    public static FitTable SpinCauseTable(IReadOnlyList<CellResult> cells, string vm = "amqp")
    {
        var causes = ShownCauses(cells, vm);
        var t = new FitTable(keyColumns: 3).Border(TableBorder.Simple)
            .Title($"[bold]why the {vm} guest spun[/] (ground truth; VM split = time some of its VCPUs ran while others were preempted; stacked = time two or more of its VCPUs were queued on one host CPU; spin = share of VCPU time; causes = share of spin time)");
        var heads = new List<string> { "payload", "handler", "load", "VM split", "stacked", "spin" };
        heads.AddRange(causes.Select(CauseHeader));
        foreach (var h in heads)
            t.AddColumn(h == "handler" ? h : Markup.Escape(h), rightAligned: true);
        foreach (var c in cells)
        {
            double M(string m) => c.Mean($"{vm}.{m}");
            double spin = M("spin_ns");
            var row = new List<string> { c.Spec.Payload + " B", Markup.Escape(c.Spec.Handler), c.Spec.Overcommit, P(M("frac_time_split")), P(M(MetricDefinitions.VcpusStacked)), P(M("frac_spin")) };
            row.AddRange(causes.Select(k => P(spin > 0 ? M("spin_ns." + GroundTruth.Name(k)) / spin : double.NaN)));
            t.AddRow(row.ToArray());
        }
        return t;
    }

    /// <summary>
    /// Part 2: what every yield_to call of the directed-yield walks did (means per run): a success
    /// by what the boosted VCPU was to the spinner, a failure by its reason; the labels add up to
    /// the calls. Walks and walks that ended without a yield beside them. Only PLE handlers that walk.
    /// </summary>
    public static FitTable YieldLabelTable(IReadOnlyList<CellResult> cells, string vm = "amqp")
    {
        var t = new FitTable(keyColumns: 3).Border(TableBorder.Simple)
            .Title($"[bold]what each yield_to boosted[/] (ground truth; {vm} guest; means per run)");
        var labels = new[] { YieldLabel.Holder, YieldLabel.NextWaiter, YieldLabel.WaiterAhead, YieldLabel.AckDebtor, YieldLabel.OtherSpinner, YieldLabel.Unrelated };
        var heads = new List<string> { "payload", "handler", "load", "PAUSE exits", "walks", "walks w/o yield", "yield_to", "→ holder", "→ next waiter", "→ waiter ahead", "→ ack debtor", "→ other spinner", "→ unrelated", "failed: target running", "failed: other" };
        foreach (var h in heads)
            t.AddColumn(h == "handler" ? h : Markup.Escape(h), rightAligned: true);
        static string N0(double v) => double.IsFinite(v) ? v.ToString(v < 10 ? "0.#" : "N0", CultureInfo.InvariantCulture) : "–";
        foreach (var c in cells.Where(c => c.Mean($"{vm}.dy_walks") > 0))
        {
            double M(string m) => c.Mean($"{vm}.{m}");
            double running = M("yield_to." + GroundTruth.Name(YieldLabel.FailedTargetRunning));
            double failed = GroundTruth.Labels.Where(l => l >= YieldLabel.FailedTargetRunning).Sum(l => M("yield_to." + GroundTruth.Name(l)));
            var row = new List<string>
            {
                c.Spec.Payload + " B", Markup.Escape(c.Spec.Handler), c.Spec.Overcommit,
                N0(M("pause_exits")), N0(M("dy_walks")), N0(M("dy_walks_without_yield")), N0(M("yield_to_calls")),
            };
            row.AddRange(labels.Select(l => N0(M("yield_to." + GroundTruth.Name(l)))));
            row.Add(N0(running));
            row.Add(N0(failed - running));
            t.AddRow(row.ToArray());
        }
        t.Caption(Markup.Escape(YieldLabelCaption));
        return t;
    }

    private static IEnumerable<CellResult> Overcommitted(IReadOnlyList<CellResult> cells) => cells.Where(c => c.Spec.Loops > 0);

    /// <summary>How CPU time was divided between the guests in the overcommitted cells (and, with cgroups, the groups' entity weights).</summary>
    public static FitTable Split(IReadOnlyList<CellResult> cells, bool cgroups)
    {
        var t = new FitTable(keyColumns: 3).Border(TableBorder.Simple)
            .Title($"[bold]CPU split between the guests[/] ({(cgroups ? "each guest in its own cpu cgroup" : "guests in the root group, as in the published table")})");
        var heads = new List<string> { "payload", "handler", "load", "CPUs amqp", "CPUs loops", "amqp share of the guests' CPU: mean [run range]", $"runs with a guest ≤ {Riel2011.ImbalancedShare:0%}" };
        if (cgroups)
            heads.AddRange(["/amqp entity weight", "/loops entity weight"]);
        foreach (var h in heads)
            t.AddColumn(Markup.Escape(h), rightAligned: true);
        foreach (var c in Overcommitted(cells))
        {
            var x = Riel2011.Split(c);
            var row = new List<string>
            {
                c.Spec.Payload + " B", Markup.Escape(c.Spec.Handler), c.Spec.Overcommit, F3(x.AmqpCpus), F3(x.LoopsCpus),
                $"{P(x.AmqpShare)} [[{P(x.AmqpShareMin)}, {P(x.AmqpShareMax)}]]", $"{x.ImbalancedRuns} of {x.Runs}",
            };
            if (cgroups)
                row.AddRange([N(x.AmqpGroupWeight), N(x.LoopsGroupWeight)]);
            t.AddRow(row.ToArray());
        }
        return t;
    }

    /// <summary>
    /// The cells whose runs split by placement (<see cref="PlacementNotes.ByPlacement"/>): how many
    /// seeds kept the AMQP guest's VCPUs apart and what they and the stacked seeds gave.
    /// </summary>
    public static IReadOnlyList<string> PlacementSplits(IReadOnlyList<CellResult> cells)
    {
        var lines = new List<string>();
        foreach (var c in Overcommitted(cells))
        {
            if (PlacementNotes.ByPlacement(c.Runs, "amqp", c.Metric) is not { } g)
                continue;
            if (lines.Count == 0)
                lines.Add($"Seeds split by placement (ground truth amqp.{PlacementNotes.Metric}: its VCPUs kept apart = two or more on one host CPU for less than {PlacementNotes.ApartShare:0%} of the window):");
            lines.Add($"  {c.Spec.Payload} B {c.Spec.Handler} {c.Spec.Overcommit}: {g.Apart.N} of {g.Apart.N + g.Stacked.N} runs kept apart gave {N(g.Apart.Mean)} " +
                $"({P(g.Apart.Spin)} of VCPU time spinning); the other {g.Stacked.N} gave {N(g.Stacked.Mean)} ({P(g.Stacked.Spin)}).");
        }
        return lines;
    }

    /// <summary>
    /// What the split says against the seed's two remarks on it: without cgroups the guests "got
    /// close to the same amount of CPU time"; with cgroups one guest often got 80% and the other 320%.
    /// </summary>
    public static IReadOnlyList<string> SplitVerdict(IReadOnlyList<CellResult> cells, bool cgroups)
    {
        var lines = new List<string>();
        var over = Overcommitted(cells).Select(c => (c.Spec.Loops, Split: Riel2011.Split(c))).ToList();
        List<CpuSplit> At(int loops) => over.Where(x => x.Loops == loops).Select(x => x.Split).ToList();
        string ShareAt(int loops) => $"{P(At(loops).Min(x => x.AmqpShareMin))}–{P(At(loops).Max(x => x.AmqpShareMax))}";
        double HaltedAt(int loops) => cells.Where(c => c.Spec.Loops == loops).Average(c => c.Mean("amqp.frac_halted"));
        int imbalanced = over.Sum(x => x.Split.ImbalancedRuns), runs = over.Sum(x => x.Split.Runs);
        if (!cgroups)
        {
            lines.Add("Published (no cgroups): the guests \"got close to the same amount of CPU time in each test run\".");
            lines.Add($"Simulated: the AMQP guest got {ShareAt(2)} of the guests' CPU time at 1.5x and {ShareAt(4)} at 2x (run range over all handlers); " +
                $"{imbalanced} of {runs} overcommitted runs had a guest at ≤ {Riel2011.ImbalancedShare:0%}.");
            lines.Add($"Below 50% the AMQP guest asks for less than its half: its VCPUs were halted {P(HaltedAt(2))} of the time at 1.5x and {P(HaltedAt(4))} at 2x.");
            return lines;
        }
        lines.Add("Published (cgroups): \"one guest getting only 80% CPU time and the other guest 320%\" (often).");
        lines.Add($"Simulated with each guest in its own cpu cgroup: {imbalanced} of {runs} overcommitted runs had a guest at ≤ {Riel2011.ImbalancedShare:0%} of the guests' CPU time — " +
            (imbalanced * 5 >= runs ? "the imbalance appears." : imbalanced > 0 ? "the imbalance appears only in a few runs." : "the 80/320 imbalance does not appear."));
        string Weights(int loops) => $"/amqp {N(At(loops).Average(x => x.AmqpGroupWeight))} vs /loops {N(At(loops).Average(x => x.LoopsGroupWeight))}";
        lines.Add("Mechanism: the VCPUs of each guest compete through their group's per-CPU entity weight, which update_cfs_shares sets to " +
            "shares × (the group's load on that CPU) / (its load on all CPUs). Mean weights on the CPUs where a group was runnable " +
            $"(sampled at host ticks; trace: the \"weight\" counter tracks): {Weights(2)} at 1.5x, {Weights(4)} at 2x.");
        lines.Add(imbalanced * 5 >= runs
            ? "The starved guest's group entity weight is the lower one above: its load spread thin over the CPUs leaves it a small weight on each."
            : $"Neither group is starved of weight, so the split follows how much CPU each guest asks for (AMQP VCPUs halted {P(HaltedAt(2))} at 1.5x, {P(HaltedAt(4))} at 2x).");
        return lines;
    }

    /// <summary>
    /// One VM's ground truth in a cell (means over runs): spin time by cause (ns, adding up to
    /// spin_ns) and as shares, PAUSE exits by cause, yield_to calls by label (adding up to
    /// yield_to_calls), walks, walks without a yield and candidate skips by reason.
    /// </summary>
    private static void WriteGroundTruth(Utf8JsonWriter w, CellResult c, string vm)
    {
        double M(string m) => c.Mean($"{vm}.{m}");
        w.WriteStartObject(vm);
        ResultJson.WriteNumber(w, "frac_time_split", M("frac_time_split"));
        ResultJson.WriteNumber(w, MetricDefinitions.VcpusStacked, M(MetricDefinitions.VcpusStacked));
        // The runs grouped by placement, as printed under the ground-truth tables (decision 0093).
        var (apart, stacked) = PlacementNotes.Groups(c.Runs, vm, c.Metric);
        w.WriteStartObject("placement");
        ResultJson.WriteNumber(w, "kept_apart_below", PlacementNotes.ApartShare);
        foreach (var (name, g) in new[] { ("kept_apart", apart), ("stacked", stacked) })
        {
            w.WriteStartObject(name);
            w.WriteNumber("runs", g.N);
            ResultJson.WriteNumber(w, "mean", g.Mean);
            ResultJson.WriteNumber(w, "frac_spin", g.Spin);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        ResultJson.WriteNumber(w, "spin_ns", M("spin_ns"));
        w.WriteStartObject("spin_ns_by_cause");
        foreach (var k in GroundTruth.Causes)
            ResultJson.WriteNumber(w, GroundTruth.Name(k), M("spin_ns." + GroundTruth.Name(k)));
        w.WriteEndObject();
        ResultJson.WriteNumber(w, "pause_exits", M("pause_exits"));
        w.WriteStartObject("pause_exits_by_cause");
        foreach (var k in GroundTruth.Causes)
            ResultJson.WriteNumber(w, GroundTruth.Name(k), M("pause_exits." + GroundTruth.Name(k)));
        w.WriteEndObject();
        ResultJson.WriteNumber(w, "yield_to_calls", M("yield_to_calls"));
        w.WriteStartObject("yield_to_by_label");
        foreach (var l in GroundTruth.Labels)
            ResultJson.WriteNumber(w, GroundTruth.Name(l), M("yield_to." + GroundTruth.Name(l)));
        w.WriteEndObject();
        ResultJson.WriteNumber(w, "dy_walks", M("dy_walks"));
        ResultJson.WriteNumber(w, "dy_walks_without_yield", M("dy_walks_without_yield"));
        ResultJson.WriteNumber(w, "dy_candidates", M("dy_candidates"));
        w.WriteStartObject("dy_skipped");
        foreach (var (name, _) in VmRuntime.SkipReasons)
            ResultJson.WriteNumber(w, name, M("dy_skipped." + name));
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static string BasisColour(string kind) => kind switch
    {
        Experiments.Scenarios.Basis.Calibrated => "grey",
        Experiments.Scenarios.Basis.Informed => "yellow",
        _ => "blue",
    };

    /// <summary>Published cells per basis, in the order calibrated, informed, predicted.</summary>
    public static IReadOnlyList<(string Kind, int Count)> BasisCounts(IReadOnlyList<CellResult> cells) =>
        Experiments.Scenarios.Basis.All.Select(k => (k, cells.Count(c => c.Basis?.Kind == k))).ToList();

    /// <summary>The shape verdict of a reproduction's cells (simulated means against the published values).</summary>
    public static ShapeVerdict Shape(IReadOnlyList<CellResult> cells) =>
        ShapeVerdict.Of(cells.Select(c => new ShapeInput(c.Spec.Payload, c.Spec.Handler, c.Spec.Loops, c.Summary.Mean, c.PublishedValue)).ToList());

    /// <summary>
    /// The summary under the tables: cells by basis (each basis with its reasons and records), and
    /// the shape verdict — the published table's shape checked on the simulated one.
    /// </summary>
    public static IReadOnlyList<string> BasisAndShape(IReadOnlyList<CellResult> cells)
    {
        var lines = new List<string>();
        var counts = BasisCounts(cells);
        lines.Add($"Published cells by basis: {string.Join(", ", counts.Select(c => $"{c.Count} {c.Kind}"))} (of {cells.Count(c => c.PublishedValue is not null)}).");
        foreach (var g in cells.Where(c => c.Basis is not null).GroupBy(c => c.Basis!).OrderBy(g => Array.IndexOf(Experiments.Scenarios.Basis.All, g.Key.Kind)))
        {
            var loads = string.Join(", ", g.Select(c => c.Spec.Overcommit).Distinct());
            lines.Add($"  {g.Key.Kind} ({g.Count()} cells at {loads}): {g.Key.Note}{(g.Key.Record.Length > 0 ? $" ({g.Key.Record})" : "")}");
        }
        var shape = Shape(cells);
        lines.Add($"Shape verdict (simulated | published; a report, not a test): {shape.Agreeing} of {shape.Checks.Count} properties agree; " +
            $"{shape.CellsWithin} of {shape.CellsCompared} published cells within {shape.Tolerance:0%}.");
        lines.Add("  " + ShapeRule);
        foreach (var ch in shape.Checks)
            lines.Add($"  {(ch.Agrees ? "agrees" : "differs")}: {ch.Property}: {ch.Simulated} | {ch.Published}");
        return lines;
    }

    /// <summary>
    /// The rule of this shape verdict in one line, and how it differs from the catalog case's
    /// (<c>cases/riel-2011.yaml</c>, judged by <c>Shape.JudgePaired</c> in <c>reproduce all</c>).
    /// </summary>
    public const string ShapeRule = "Rule: signs of cell-mean gains, no CI (the catalog's riel-2011 case needs the 95% CI of per-seed differences).";

    /// <summary>The <c>--json</c> document: one entry per cell with everything the tables show.</summary>
    public static string Json(IReadOnlyList<CellResult> cells, int runs, string scenarioDigest, bool cgroups, IReadOnlyList<string>? variant = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("experiment", "riel-2011");
            w.WriteString("metric", cells[0].Metric);
            w.WriteString("scenario_digest", scenarioDigest);
            w.WriteNumber("runs_per_cell", runs);
            w.WriteBoolean("cgroups", cgroups);
            w.WriteStartArray("variant");
            foreach (var v in variant ?? [])
                w.WriteStringValue(v);
            w.WriteEndArray();
            w.WriteStartArray("cells");
            foreach (var c in cells)
            {
                var s = c.Summary;
                w.WriteStartObject();
                w.WriteNumber("payload", c.Spec.Payload);
                w.WriteString("handler", c.Spec.Handler);
                w.WriteString("overcommit", c.Spec.Overcommit);
                w.WriteNumber("loops", c.Spec.Loops);
                if (c.PublishedValue is double sv)
                    w.WriteNumber("published_value", sv);
                else
                    w.WriteNull("published_value");
                ResultJson.WriteNumber(w, "mean", s.Mean);
                ResultJson.WriteNumber(w, "stdev", s.Stdev);
                ResultJson.WriteNumber(w, "ci95_low", s.Ci95Low);
                ResultJson.WriteNumber(w, "ci95_high", s.Ci95High);
                ResultJson.WriteNumber(w, "rel_error", c.RelError);
                if (c.Basis is { } basis)
                {
                    w.WriteString("basis", basis.Kind);
                    w.WriteString("basis_note", basis.Note);
                    w.WriteString("basis_record", basis.Record);
                }
                else
                {
                    w.WriteNull("basis");
                    w.WriteNull("basis_note");
                    w.WriteNull("basis_record");
                }
                w.WriteNumber("n", s.N);
                w.WriteNumber("failed_runs", c.Failed);
                var (rel, relPublished) = Riel2011.Relative(cells, c);
                ResultJson.WriteNumber(w, "relative_to_no_overcommit", rel);
                if (relPublished is double rs)
                    w.WriteNumber("published_relative_to_no_overcommit", rs);
                if (c.Spec.Handler != "none")
                {
                    var (gain, lo, hi, gpub) = Riel2011.GainOverNone(cells, c);
                    ResultJson.WriteNumber(w, "gain_over_no_ple", gain);
                    ResultJson.WriteNumber(w, "gain_ci95_low", lo);
                    ResultJson.WriteNumber(w, "gain_ci95_high", hi);
                    if (gpub is double gs)
                        w.WriteNumber("published_gain_over_no_ple", gs);
                }
                w.WriteStartObject("cpu_share_per_vm");
                ResultJson.WriteNumber(w, "amqp", c.Mean("amqp.cpus_used"));
                ResultJson.WriteNumber(w, "loops", c.Mean("loops.cpus_used"));
                w.WriteEndObject();
                var split = Riel2011.Split(c);
                w.WriteStartObject("cpu_split");
                ResultJson.WriteNumber(w, "amqp_share", split.AmqpShare);
                ResultJson.WriteNumber(w, "amqp_share_min", split.AmqpShareMin);
                ResultJson.WriteNumber(w, "amqp_share_max", split.AmqpShareMax);
                w.WriteNumber("imbalanced_runs", split.ImbalancedRuns);
                if (cgroups)
                {
                    ResultJson.WriteNumber(w, "amqp_group_weight", split.AmqpGroupWeight);
                    ResultJson.WriteNumber(w, "loops_group_weight", split.LoopsGroupWeight);
                }
                w.WriteEndObject();
                w.WriteStartObject("rates");
                foreach (var m in new[] { "publish_rate", "subscribe_rate", "total_transfers_per_second", "mean_batch" })
                    ResultJson.WriteNumber(w, m, c.Mean("amqp." + m));
                w.WriteEndObject();
                w.WriteStartObject("amqp_vcpu_time");
                foreach (var m in new[] { "guest_run", "spin", "pause_exit", "other_exit", "halted", "ple_sleep", "preempted", "lock_holder_preempted" })
                    ResultJson.WriteNumber(w, m, c.Mean("amqp.frac_" + m));
                w.WriteEndObject();
                ResultJson.WriteNumber(w, "amqp_vcpu_utilisation", c.Mean("amqp.cpus_used") / 4);
                ResultJson.WriteNumber(w, "pause_exits_per_second", c.Mean("amqp.pause_exits_per_second"));
                ResultJson.WriteNumber(w, "yield_to_success_rate", c.Mean("amqp.yield_to_success_rate"));
                ResultJson.WriteNumber(w, "yield_to_hit_rate", c.Mean("amqp.yield_to_hit_rate"));
                w.WriteStartObject("ground_truth");
                foreach (var vm in new[] { "amqp", "loops" })
                    WriteGroundTruth(w, c, vm);
                w.WriteEndObject();
                w.WriteStartObject("lock_holder_preemptions_per_second");
                foreach (var cause in new[] { "woken_by_holder", "same_vm", "other_vm", "host_task" })
                    ResultJson.WriteNumber(w, cause, c.Mean("amqp.lhp." + cause));
                w.WriteEndObject();
                w.WriteStartArray("seeds");
                foreach (var r in c.Runs)
                    w.WriteNumberValue(r.Seed);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("basis_counts");
            foreach (var (kind, count) in BasisCounts(cells))
                w.WriteNumber(kind, count);
            w.WriteEndObject();
            var shape = Shape(cells);
            w.WriteStartObject("shape_verdict");
            w.WriteNumber("tolerance", shape.Tolerance);
            w.WriteNumber("cells_within_tolerance", shape.CellsWithin);
            w.WriteNumber("cells_compared", shape.CellsCompared);
            w.WriteStartArray("checks");
            foreach (var ch in shape.Checks)
            {
                w.WriteStartObject();
                w.WriteString("property", ch.Property);
                w.WriteString("simulated", ch.Simulated);
                w.WriteString("published", ch.Published);
                w.WriteBoolean("agrees", ch.Agrees);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}

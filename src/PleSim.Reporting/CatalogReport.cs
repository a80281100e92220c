using System.Globalization;
using System.Text;
using System.Text.Json;
using PleSim.Experiments.Catalog;
using PleSim.Experiments.Running;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace PleSim.Reporting;

/// <summary>
/// Text and JSON for the catalog of published results: the case list (<c>reproduce --list</c>), one
/// case side by side with its source (<c>reproduce NAME</c>), and the scorecard (<c>reproduce all</c>).
/// </summary>
public static class CatalogReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>One paragraph per case: name, source, set-up, what was measured, whether PleSim can express it, pre-registration.</summary>
    /// <param name="unknowns">Per case name, how many unknowns its scenario declares (<see cref="CaseUncertainty.DeclaredUnknowns"/>); a case missing from it declares none.</param>
    public static string List(IReadOnlyList<CatalogCase> cases, IReadOnlyDictionary<string, int>? unknowns = null)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{cases.Count} cases in the catalog of published results ({cases.Count(c => c.IsExpressible)} expressible, {cases.Count(c => !c.IsExpressible)} not yet).\n");
        foreach (var c in cases)
        {
            sb.Append('\n');
            sb.Append(CultureInfo.InvariantCulture, $"{c.Name} ({c.Source.Date}): {c.Title}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  source:    {SourceLine(c.Source)}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  set-up:    {c.Setup}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  measured:  {c.Measured}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  published: {c.Published.Rows.Count} row(s) x {c.Published.Columns.Count} column(s) in {c.Published.Unit}{(c.Published.Approximate ? " (approximate)" : "")}{(c.Published.Qualitative ? " (a claim without numbers)" : "")}; shape: {c.Shape.Count} predicate(s)\n");
            sb.Append(CultureInfo.InvariantCulture, $"  status:    {Status(c)}\n");
            if (unknowns?.GetValueOrDefault(c.Name) is int k and > 0)
                sb.Append(CultureInfo.InvariantCulture, $"  unknowns:  {k} declared in its scenario (plesim reproduce {c.Name} --uncertainty)\n");
            sb.Append(CultureInfo.InvariantCulture, $"  pre-registered in commit {c.PreregisteredCommit}\n");
        }
        return sb.ToString();
    }

    public static string SourceLine(CaseSource s)
    {
        var parts = new List<string> { s.Authors, $"\"{s.Title}\"", s.Venue, s.Date };
        if (s.Url.Length > 0)
            parts.Add(s.Url);
        if (s.MessageId.Length > 0)
            parts.Add("message-id " + s.MessageId);
        return string.Join(", ", parts);
    }

    public static string Status(CatalogCase c) => c.Expression is { } e
        ? $"expressible: {e.Scenario}, metric {e.Metric}, {e.Rows.Count} row(s) x {e.Columns.Count} column(s), {e.Runs} runs per cell"
          + string.Concat(e.PerRow.Select(p => $"; row {p.Key}: {p.Value.Scenario}, metric {p.Value.Metric}{(p.Value.LowerIsBetter is bool lower ? (lower ? ", lower is better" : ", higher is better") : "")}"))
          + (e.Relative is { } rel ? $"; each cell is the % change over its base ({string.Join(" ", rel.Base)}), {(rel.LowerIsBetter ? "lower" : "higher")} is better" : "")
          + (c.Calibrate is { } k ? $"; calibrated: {k.Key} = {k.Value} on column {k.Column}" : "")
        : "cannot express yet: " + c.CannotExpress;

    /// <summary>A case's table: per cell the published value and the simulated mean with its 95% CI.</summary>
    public static IRenderable Table(CaseResult r)
    {
        var c = r.Case;
        var t = new FitTable(keyColumns: 1).Border(TableBorder.Rounded)
            .Title(Markup.Escape($"{c.Name} — {c.Published.Unit} (published | simulated mean [95% CI])"));
        t.AddColumn("row");
        foreach (var col in c.Published.Columns)
            t.AddColumn(Markup.Escape(col), rightAligned: true);
        bool marked = false;
        foreach (var row in c.Published.Rows)
        {
            var cells = new List<string> { Markup.Escape(row.Name) };
            for (int i = 0; i < c.Published.Columns.Count; i++)
            {
                string pub = row.Values[i] is double v ? Num(v) : "–";
                var cell = r.Cells.FirstOrDefault(x => x.Row == row.Name && x.Column == c.Published.Columns[i]);
                bool relative = c.Expression?.RelativeOf(row.Name) is not null;
                // A cell whose runs all gave the same value (every cost fixed, no random input) says so
                // rather than printing a zero-width interval, as the run and sweep tables do.
                string s = cell?.Value is { } x ? (x.Low == x.High ? $"{Num(x.Mean)} {EqualNote(cell, relative)}"
                        : Bounds.Marked($"{Num(x.Mean)} {Formats.Interval(x.Low, x.High)}", CellRange(cell, relative), x.Low, x.High))
                    : r.Case.IsExpressible ? "(no value)" : "(not simulated)";
                marked |= Bounds.IsMarked(s);
                cells.Add(Markup.Escape($"{pub}\n{s}"));
            }
            t.AddRow(cells.ToArray());
        }
        if (marked)
            t.Caption(Markup.Escape(Bounds.Note));
        return t;
    }

    /// <summary>What a cell whose runs agree says: a quantised metric's cell says the equality is a quantisation (a relative cell's change is not a count).</summary>
    private static string EqualNote(CaseCell cell, bool relative) =>
        relative ? Formats.AllRunsEqual : Formats.AllRunsEqualFor(cell.MetricName);

    /// <summary>The physical range of a cell's value: its metric's, or for a relative cell a change in percent (≥ −100% of a never-negative metric).</summary>
    private static Bounds.Range CellRange(CaseCell cell, bool relative)
    {
        var range = Bounds.Of(cell.MetricName);
        return !relative ? range : range.Min >= 0 ? Bounds.Range.GainPercent : Bounds.Range.Any;
    }

    /// <summary>
    /// The runs behind the numbers: the published note (about the published measurement) and, apart
    /// from it, the runs simulated here, so "mean of 30 runs" is not read as what a --quick run did.
    /// </summary>
    private static string MeasuredNote(CaseResult r)
    {
        var parts = new List<string>();
        if (r.Case.Published.Note.Length > 0)
            parts.Add(r.Case.IsExpressible ? $"published: {r.Case.Published.Note}" : r.Case.Published.Note);
        if (r.Case.IsExpressible)
            parts.Add($"simulated: {r.RunsPerCell} runs per cell{(r.Quick ? ", --quick" : "")}");
        return parts.Count == 0 ? "" : $" ({string.Join("; ", parts)})";
    }

    /// <summary>The lines under a case's table: each shape predicate judged on the published and the simulated numbers, the verdict, calibration, pre-registration.</summary>
    public static IReadOnlyList<string> Verdict(CaseResult r)
    {
        var c = r.Case;
        var lines = new List<string>
        {
            $"Source: {SourceLine(c.Source)}",
            $"Set-up: {c.Setup}",
            $"Measured: {c.Measured}" + MeasuredNote(r),
            "Expected shape (published | simulated):",
            "  " + ShapeRule,
        };
        foreach (var p in r.Predicates)
        {
            var ops = p.Predicate.Operands;
            bool gains = ops.Count > 0 && ops.All(o => o.Kind == Operand.Gain);
            string pub = p.OnPublished == Judgement.NoValue ? "no numbers" : $"{Word(p.OnPublished)} on {Vals(p.PublishedValues, ops, false)}";
            string sim = !c.IsExpressible ? "not simulated" : p.OnSimulated == Judgement.NoValue ? "no value" : $"{Word(p.OnSimulated)} on {Vals(p.SimulatedValues, ops, true)}"
                + (p.SimulatedDifference is { } d ? $", paired difference {Diff(d.Mean, gains)} {(d.Low == d.High ? "(all pairs equal)" : $"[{Diff(d.Low, gains)}, {Diff(d.High, gains)}]")}" : "");
            lines.Add($"  {p.Predicate.Claim}: {p.Predicate} — published: {pub} | simulated: {sim}");
        }
        if (c.Calibrate is { } k)
            lines.Add($"Calibrated: {k.Key} = {k.Value}, fitted on column {k.Column} ({k.Note}).");
        lines.Add(c.IsExpressible
            ? $"Verdict: {VerdictLabel(r.Verdict)} ({r.Holding} of {r.Predicates.Count} pre-registered predicates hold; {PredicatesCheck}; {r.RunsPerCell} runs per cell{(r.Quick ? ", --quick" : "")}, {r.WallSeconds.ToString("0.0", Inv)} s)."
            : $"Verdict: CANNOT EXPRESS YET — missing: {c.CannotExpress}");
        if (c.IsExpressible)
            lines.AddRange(SizeLines(SizeCheck.Of(r), c));
        lines.Add(PreregistrationLine(c));
        lines.AddRange(SeedSplits(r));
        foreach (var cell in r.Cells)
            lines.AddRange(StartupNotes.Short(cell.Runs, $"{cell.Row} @ {cell.Column}"));
        lines.AddRange(ExplanationLines(c.Explanations));
        if (r.Quick && c.Explanations.Count > 0 && c.Expression is { } e)
            lines.Add(QuickExplanationNote(e.QuickRuns, e.QuickSet));
        return lines;
    }

    /// <summary>What the verdict's predicates check, said in its line so "matches" is not read as "the published sizes were reproduced" (decision 0098).</summary>
    public const string PredicatesCheck = "they check signs, orderings and stated ranges, not the published sizes, which the Size line compares";

    /// <summary>
    /// The verdict as printed: the pre-registered verdict (unchanged, as in the JSON's <c>verdict</c>)
    /// with what it is about — "MATCHES IN SHAPE" — so it is not read as a match of sizes.
    /// </summary>
    public static string VerdictLabel(string verdict) =>
        verdict is Verdicts.Matches or Verdicts.DoesNotMatch or Verdicts.Inconclusive
            ? verdict.ToUpperInvariant() + " IN SHAPE"
            : verdict.ToUpperInvariant();

    /// <summary>The heading of the size line: the size check is not part of the verdict.</summary>
    public const string SizeHeading = "Size (apart from the verdict)";

    /// <summary>
    /// The size check under the verdict (decision 0098): one summary line, the rule, and with more
    /// than one quantity a line per quantity.
    /// </summary>
    public static IReadOnlyList<string> SizeLines(SizeCheck size, CatalogCase c)
    {
        var lines = new List<string> { $"{SizeHeading}: {SizeSummary(size, c)}" };
        if (size.Comparisons.Count == 0)
            return lines;
        lines.Add("  Rule: " + SizeCheck.Rule);
        if (size.Comparisons.Count > 1)
        {
            foreach (var x in size.Comparisons)
                lines.Add($"  {Describe(x, c.Published.Unit)}");
        }
        return lines;
    }

    /// <summary>
    /// The size check in one sentence: how many quantities are within size and the furthest, e.g.
    /// "0 of 1 quantities within 2× of the published; furthest: ebizzy @ over-subscribed, simulated +69.9% vs published +17% (4.1×)."
    /// </summary>
    public static string SizeSummary(SizeCheck size, CatalogCase c)
    {
        if (size.Comparisons.Count == 0)
            return c.Published.Qualitative
                ? "nothing to compare: the publication gives no numbers."
                : "nothing to compare: no published number has a simulated counterpart.";
        var notes = new List<string>();
        void Note(SizeOutcome o, string what)
        {
            if (size.Count(o) is int n and > 0)
                notes.Add($"{n} {what}");
        }
        Note(SizeOutcome.OppositeSign, "of opposite sign");
        Note(SizeOutcome.PublishedNearZero, "where the published change is ≈ 0");
        Note(SizeOutcome.NoSimulatedValue, "without a simulated value");
        var text = $"{size.Within} of {size.Comparisons.Count} quantities within {Factor} of the published"
            + (notes.Count > 0 ? $" ({string.Join(", ", notes)})" : "");
        if (size.Furthest is { } f)
            text += $"; {(size.Comparisons.Count == 1 ? "" : "furthest: ")}{Describe(f, c.Published.Unit)}";
        return text + ".";
    }

    /// <summary>One quantity: "NAME: simulated +69.9% vs published +17% (4.1×)".</summary>
    public static string Describe(SizeComparison x, string unit)
    {
        string Value(double v, bool simulated) => x.IsPercent
            ? v.ToString(simulated ? "+#,##0.0;-#,##0.0;0.0" : "+#,##0.##;-#,##0.##;0", Inv) + "%"
            : $"{Num(v)} {unit}";
        string sim = x.Simulated is double s ? $"simulated {Value(s, true)}" : "no simulated value";
        string how = x.Outcome switch
        {
            SizeOutcome.Within => x.Ratio is double r && r >= 1 / SizeCheck.Factor && r <= SizeCheck.Factor ? $"{Ratio(r)}, within"
                : $"within {SizeCheck.NearZeroPoints.ToString("0.##", Inv)} pt",
            SizeOutcome.Outside => Ratio(x.Ratio!.Value),
            SizeOutcome.OppositeSign => "opposite sign",
            SizeOutcome.PublishedNearZero => "published ≈ 0",
            _ => "not compared",
        };
        return $"{x.Quantity}: {sim} vs published {Value(x.Published, false)} ({how})";
    }

    /// <summary>The size tolerance as printed: "2×".</summary>
    public static readonly string Factor = SizeCheck.Factor.ToString("0.##", CultureInfo.InvariantCulture) + "×";

    /// <summary>A size ratio: "23×", "4.1×", "0.82×", "&lt;0.01×", "0×".</summary>
    public static string Ratio(double r) =>
        (r == 0 ? "0" : r >= 10 ? r.ToString("#,##0", Inv) : r >= 1 ? r.ToString("0.0", Inv) : r >= 0.01 ? r.ToString("0.0#", Inv) : "<0.01") + "×";

    /// <summary>
    /// The pre-registration line: "Pre-registered in commit X" only when git confirmed that the
    /// commit exists and holds the case file; otherwise the recorded commit and why it was not verified.
    /// </summary>
    public static string PreregistrationLine(CatalogCase c)
    {
        var check = c.PreregistrationCheck;
        var head = check.State == PreregistrationState.Verified
            ? $"Pre-registered in commit {c.PreregisteredCommit} ({check.Detail})"
            : $"Pre-registration commit recorded: {c.PreregisteredCommit} ({check.Detail})";
        return head + (c.PreregistrationNote.Length > 0 ? $". {c.PreregistrationNote}" : ".");
    }

    /// <summary>The line under the explanations' heading: their figures are historical, the table above is this run's.</summary>
    public const string ExplanationsHeader = "  (Each keeps the figures of the build it was written on, dated in brackets; the table above is this run's.)";

    /// <summary>
    /// Under a <c>--quick</c> run: the explanations were written about the full expression, and the
    /// quick one is a different, smaller run (fewer seeds and the case's own <c>quick.set</c>, e.g. a
    /// smaller machine), so a figure or "no value" in them need not hold for the table above.
    /// </summary>
    public static string QuickExplanationNote(int quickRuns, IReadOnlyList<string> quickSet) =>
        $"  (This was a --quick run: {quickRuns} runs per cell" + (quickSet.Count > 0 ? $" with {string.Join(" ", quickSet)}" : "") +
        "; the explanations describe the full runs, which --quick does not repeat.)";

    /// <summary>A case's explanations, written after its result was seen, under a heading that says so (nothing when there are none).</summary>
    public static IReadOnlyList<string> ExplanationLines(IReadOnlyList<CaseExplanation> explanations)
    {
        if (explanations.Count == 0)
            return [];
        var lines = new List<string>
        {
            "Explained after the result was seen (not part of the prediction; the verdict stands):",
            ExplanationsHeader,
        };
        foreach (var x in explanations)
            lines.Add($"  - [{(x.Written.Length > 0 ? "written " + x.Written : "written: date not recorded")}] {x.Text}" + (x.Doc.Length > 0 ? $" ({x.Doc})" : ""));
        return lines;
    }

    /// <summary>
    /// One line per cell whose seeds disagree (<see cref="CaseCell.SeedsDisagree"/>): the compared
    /// metric of every seed (for a relative case its base, the variant and the change), so a wide
    /// interval shows whether the runs scatter or split into groups; and one per cell whose runs
    /// succeeded without a value, saying why (<see cref="CaseCell.WhyNoValue"/>).
    /// </summary>
    public static IReadOnlyList<string> SeedSplits(CaseResult r)
    {
        var lines = new List<string>();
        foreach (var cell in r.Cells)
        {
            bool relative = r.Case.Expression?.RelativeOf(cell.Row) is not null;
            if (cell.WhyNoValue() is { } why)
            {
                lines.Add($"No value in {cell.Row} @ {cell.Column}: {why}"
                    + (relative ? $"; base {Range(cell.BaseMetricValues)}, with the change {Range(cell.MetricValues)}." : "."));
                continue;
            }
            if (!cell.SeedsDisagree(relative))
                continue;
            var seeds = new List<string>();
            for (int k = 0; k < cell.Values.Length; k++)
            {
                var seed = cell.Runs[k].Seed;
                seeds.Add(relative
                    ? $"{seed}: {Num(cell.BaseMetricValues[k])} → {Num(cell.MetricValues[k])} ({Signed(cell.Values[k])}%)"
                    : $"{seed}: {Num(cell.Values[k])}");
            }
            string spread = relative
                ? $"; base {Range(cell.BaseMetricValues)}, with the change {Range(cell.MetricValues)}"
                : "";
            lines.Add($"Seeds disagree in {cell.Row} @ {cell.Column} — {cell.MetricName} per seed"
                + (relative ? " (base → with the change, change)" : "") + $": {string.Join(", ", seeds)}{spread}.");
            int n = cell.Values.Length;
            if (relative && cell.Runs.Length == 2 * n)
                lines.AddRange(PlacementNotes.Short(cell.Runs[n..], "base: "));
            lines.AddRange(PlacementNotes.Short(cell.Runs[..n], relative ? "with the change: " : ""));
        }
        return lines;
    }

    private static string Signed(double v) => double.IsFinite(v) ? v.ToString("+0.#;-0.#;0", Inv) : Num(v);

    /// <summary>"lo–hi (k×)" of the finite values.</summary>
    private static string Range(double[] values)
    {
        var f = values.Where(double.IsFinite).ToList();
        if (f.Count == 0)
            return "(no value)";
        double lo = f.Min(), hi = f.Max();
        return $"{Num(lo)}–{Num(hi)}" + (lo > 0 ? $" ({(hi / lo).ToString(hi / lo >= 10 ? "0" : "0.0", Inv)}×)" : "");
    }

    /// <summary>The scorecard of <c>reproduce all</c>: one row per case and the totals.</summary>
    public static IRenderable Scorecard(IReadOnlyList<CaseResult> results)
    {
        var t = new FitTable(keyColumns: 1).Border(TableBorder.Rounded).Title("catalog scorecard");
        t.AddColumn("case");
        t.AddColumn("date");
        t.AddColumn("shape verdict");
        t.AddColumn("shape holds", rightAligned: true);
        t.AddColumn($"size within {Factor}", rightAligned: true);
        t.AddColumn("runs/cell", rightAligned: true);
        t.AddColumn("wall s", rightAligned: true);
        t.AddColumn("pre-registered");
        t.AddColumn("missing feature / note");
        foreach (var r in results)
        {
            var c = r.Case;
            t.AddRow(
                Markup.Escape(c.Name),
                Markup.Escape(c.Source.Date),
                Markup.Escape(r.Verdict),
                c.IsExpressible ? $"{r.Holding}/{r.Predicates.Count}" : "–",
                c.IsExpressible && SizeCheck.Of(r) is { Comparisons.Count: > 0 } size ? $"{size.Within}/{size.Comparisons.Count}" : "–",
                c.IsExpressible ? r.RunsPerCell.ToString(Inv) : "–",
                c.IsExpressible ? r.WallSeconds.ToString("0.0", Inv) : "–",
                Markup.Escape(Short(c.PreregisteredCommit)),
                Markup.Escape(c.IsExpressible ? (c.Calibrate is { } k ? $"calibrated {k.Key} = {k.Value} on {k.Column}" : "") : c.CannotExpress));
        }
        return t;
    }

    /// <summary>
    /// The totals line: the verdicts, and how many of the cases that match in shape are also within
    /// size in every compared quantity (<see cref="SizeCheck.AllWithin"/>; decision 0098).
    /// </summary>
    public static string Totals(IReadOnlyList<CaseResult> results)
    {
        int Count(string v) => results.Count(r => r.Verdict == v);
        return $"{results.Count} cases: {Count(Verdicts.Matches)} match in shape ({MatchesWithinSize(results)} of them also within {Factor} in size), " +
               $"{Count(Verdicts.DoesNotMatch)} do not match, " +
               $"{Count(Verdicts.Inconclusive)} inconclusive, {Count(Verdicts.CannotExpress)} cannot express yet" +
               (Count(Verdicts.Failed) > 0 ? $", {Count(Verdicts.Failed)} with failed runs" : "") + ".";
    }

    /// <summary>The cases that match in shape and are within size in every compared quantity.</summary>
    public static int MatchesWithinSize(IReadOnlyList<CaseResult> results) =>
        results.Count(r => r.Verdict == Verdicts.Matches && SizeCheck.Of(r).AllWithin == true);

    /// <summary><c>--list --json</c>: every case with every field of its file.</summary>
    public static string ListJson(IReadOnlyList<CatalogCase> cases, IReadOnlyDictionary<string, int>? unknowns = null) => Write(w =>
    {
        w.WriteStartObject();
        w.WriteStartArray("cases");
        foreach (var c in cases)
            WriteCase(w, c, unknowns?.GetValueOrDefault(c.Name) ?? 0);
        w.WriteEndArray();
        w.WriteEndObject();
    });

    /// <summary><c>reproduce NAME --json</c> / <c>reproduce all --json</c>: the cases, their cells, predicates, verdicts and the totals.</summary>
    public static string ResultsJson(IReadOnlyList<CaseResult> results) => Write(w =>
    {
        w.WriteStartObject();
        w.WriteStartObject("totals");
        foreach (var v in new[] { Verdicts.Matches, Verdicts.DoesNotMatch, Verdicts.Inconclusive, Verdicts.CannotExpress, Verdicts.Failed })
            w.WriteNumber(v, results.Count(r => r.Verdict == v));
        w.WriteEndObject();
        // The size check is apart from the verdicts (decision 0098): its counts are not in "totals".
        w.WriteStartObject("size_totals");
        w.WriteString("rule", SizeCheck.Rule);
        w.WriteNumber("factor", SizeCheck.Factor);
        w.WriteNumber("cases_compared", results.Count(r => r.Case.IsExpressible && SizeCheck.Of(r).Comparisons.Count > 0));
        w.WriteNumber("cases_within_size", results.Count(r => r.Case.IsExpressible && SizeCheck.Of(r).AllWithin == true));
        w.WriteNumber("matches_within_size", MatchesWithinSize(results));
        w.WriteEndObject();
        w.WriteStartArray("results");
        foreach (var r in results)
        {
            w.WriteStartObject();
            w.WriteString("name", r.Case.Name);
            w.WriteString("verdict", r.Verdict);
            w.WriteString("verdict_checks", "the pre-registered shape predicates on the simulated runs' 95% CIs: " + PredicatesCheck);
            if (r.Case.IsExpressible)
                WriteSize(w, SizeCheck.Of(r), r.Case);
            else
                w.WriteNull("size");
            w.WriteString("preregistered_commit", r.Case.PreregisteredCommit);
            w.WriteNumber("runs_per_cell", r.RunsPerCell);
            w.WriteBoolean("quick", r.Quick);
            w.WriteNumber("wall_seconds", Math.Round(r.WallSeconds, 3));
            w.WriteString("scenario_digest", r.ScenarioDigest);
            if (r.Case.IsExpressible)
                w.WriteNull("missing_feature");
            else
                w.WriteString("missing_feature", r.Case.CannotExpress);
            w.WriteStartArray("cells");
            foreach (var cell in r.Cells)
            {
                w.WriteStartObject();
                w.WriteString("row", cell.Row);
                w.WriteString("column", cell.Column);
                if (r.Case.Published.Value(cell.Row, cell.Column) is double pv)
                    w.WriteNumber("published", pv);
                else
                    w.WriteNull("published");
                ResultJson.WriteNumber(w, "mean", cell.Summary.Mean);
                ResultJson.WriteNumber(w, "ci95_low", cell.Summary.Ci95Low);
                ResultJson.WriteNumber(w, "ci95_high", cell.Summary.Ci95High);
                w.WriteNumber("n", cell.Summary.N);
                w.WriteNumber("failed_runs", cell.Failed);
                w.WriteNumber("no_value_runs", cell.NoValue);
                // Every seed's compared value (null: failed or no value), so a reader can pair cells by
                // seed; for a relative case the value is the change over the base run of that seed.
                w.WriteString("metric", cell.Summary.Metric);
                w.WriteNumber("runs", cell.Values.Length);
                w.WriteStartArray("seeds");
                for (int k = 0; k < cell.Values.Length; k++)
                    w.WriteNumberValue(cell.Runs[k].Seed);
                w.WriteEndArray();
                WriteValues(w, "values", cell.Values);
                // The compared metric per seed (and for a relative case in the base runs), so the
                // change can be recomputed and a split between groups of seeds seen.
                w.WriteString("compared_metric", cell.MetricName);
                WriteValues(w, "metric_values", cell.MetricValues);
                if (r.Case.Expression?.RelativeOf(cell.Row) is not null)
                    WriteValues(w, "base_metric_values", cell.BaseMetricValues);
                w.WriteBoolean("seeds_disagree", cell.SeedsDisagree(r.Case.Expression?.RelativeOf(cell.Row) is not null));
                w.WriteStartArray("overrides");
                foreach (var o in cell.Overrides)
                    w.WriteStringValue(o);
                w.WriteEndArray();
                w.WriteStartArray("failures");
                foreach (var f in cell.Runs.Where(x => x.Error is not null))
                {
                    w.WriteStartObject();
                    w.WriteNumber("seed", f.Seed);
                    w.WriteString("error", f.Error);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("predicates");
            foreach (var p in r.Predicates)
            {
                w.WriteStartObject();
                w.WriteString("claim", p.Predicate.Claim);
                w.WriteString("predicate", p.Predicate.ToString());
                w.WriteString("on_published", Word(p.OnPublished));
                w.WriteString("on_simulated", r.Case.IsExpressible ? Word(p.OnSimulated) : "not simulated");
                WriteIntervals(w, "published_values", p.PublishedValues);
                WriteIntervals(w, "simulated_values", p.SimulatedValues);
                WriteIntervals(w, "simulated_paired_difference", p.SimulatedDifference is { } d ? [d] : []);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WritePropertyName("case");
            WriteCase(w, r.Case);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    });

    private static void WriteSize(Utf8JsonWriter w, SizeCheck size, CatalogCase c)
    {
        w.WriteStartObject("size");
        w.WriteString("summary", SizeSummary(size, c));
        w.WriteString("rule", SizeCheck.Rule);
        w.WriteNumber("factor", SizeCheck.Factor);
        w.WriteNumber("near_zero_points", SizeCheck.NearZeroPoints);
        w.WriteNumber("quantities", size.Comparisons.Count);
        w.WriteNumber("within", size.Within);
        if (size.AllWithin is bool all)
            w.WriteBoolean("all_within", all);
        else
            w.WriteNull("all_within");
        w.WriteStartArray("comparisons");
        foreach (var x in size.Comparisons)
        {
            w.WriteStartObject();
            w.WriteString("quantity", x.Quantity);
            w.WriteString("kind", x.Kind);
            w.WriteString("unit", x.IsPercent ? "%" : c.Published.Unit);
            w.WriteNumber("published", x.Published);
            if (x.Simulated is double s)
                w.WriteNumber("simulated", s);
            else
                w.WriteNull("simulated");
            if (x.Ratio is double r)
                w.WriteNumber("ratio", r);
            else
                w.WriteNull("ratio");
            w.WriteString("outcome", Outcome(x.Outcome));
            w.WriteString("text", Describe(x, c.Published.Unit));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>A size outcome as the JSON and the HTML page name it.</summary>
    public static string Outcome(SizeOutcome o) => o switch
    {
        SizeOutcome.Within => "within",
        SizeOutcome.Outside => "outside",
        SizeOutcome.OppositeSign => "opposite sign",
        SizeOutcome.PublishedNearZero => "published near zero",
        _ => "no simulated value",
    };

    private static void WriteValues(Utf8JsonWriter w, string name, double[] values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            if (double.IsFinite(v))
                w.WriteNumberValue(v);
            else
                w.WriteNullValue();
        }
        w.WriteEndArray();
    }

    private static void WriteIntervals(Utf8JsonWriter w, string name, Interval[] values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            w.WriteStartObject();
            ResultJson.WriteNumber(w, "mean", v.Mean);
            ResultJson.WriteNumber(w, "ci95_low", v.Low);
            ResultJson.WriteNumber(w, "ci95_high", v.High);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <param name="unknowns">How many unknowns the case's scenario declares; -1 (results) leaves the field out.</param>
    private static void WriteCase(Utf8JsonWriter w, CatalogCase c, int unknowns = -1)
    {
        w.WriteStartObject();
        w.WriteString("name", c.Name);
        w.WriteString("title", c.Title);
        w.WriteStartObject("source");
        w.WriteString("authors", c.Source.Authors);
        w.WriteString("title", c.Source.Title);
        w.WriteString("venue", c.Source.Venue);
        w.WriteString("date", c.Source.Date);
        w.WriteString("url", c.Source.Url);
        w.WriteString("message_id", c.Source.MessageId);
        w.WriteString("note", c.Source.Note);
        w.WriteEndObject();
        w.WriteString("setup", c.Setup);
        w.WriteString("measured", c.Measured);
        w.WriteStartObject("published");
        w.WriteString("unit", c.Published.Unit);
        w.WriteBoolean("approximate", c.Published.Approximate);
        w.WriteBoolean("qualitative", c.Published.Qualitative);
        w.WriteString("note", c.Published.Note);
        w.WriteStartArray("columns");
        foreach (var col in c.Published.Columns)
            w.WriteStringValue(col);
        w.WriteEndArray();
        w.WriteStartArray("rows");
        foreach (var row in c.Published.Rows)
        {
            w.WriteStartObject();
            w.WriteString("name", row.Name);
            w.WriteStartArray("values");
            foreach (var v in row.Values)
            {
                if (v is double d)
                    w.WriteNumberValue(d);
                else
                    w.WriteNullValue();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteStartArray("shape");
        foreach (var p in c.Shape)
        {
            w.WriteStartObject();
            w.WriteString("claim", p.Claim);
            w.WriteString("kind", p.Kind);
            w.WriteString("predicate", p.ToString());
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteBoolean("expressible", c.IsExpressible);
        if (c.Expression is { } e)
        {
            w.WriteStartObject("expression");
            w.WriteString("scenario", e.Scenario);
            w.WriteString("metric", e.Metric);
            w.WriteNumber("runs", e.Runs);
            w.WriteNumber("quick_runs", e.QuickRuns);
            w.WriteString("builtin", e.Builtin);
            w.WriteStartObject("per_row");
            foreach (var (row, t) in e.PerRow)
            {
                w.WriteStartObject(row);
                w.WriteString("scenario", t.Scenario);
                w.WriteString("metric", t.Metric);
                if (t.LowerIsBetter is bool lower)
                    w.WriteString("better", lower ? "lower" : "higher");
                w.WriteEndObject();
            }
            w.WriteEndObject();
            if (e.Relative is { } rel)
            {
                w.WriteStartObject("relative");
                w.WriteStartArray("base");
                foreach (var o in rel.Base)
                    w.WriteStringValue(o);
                w.WriteEndArray();
                w.WriteString("better", rel.LowerIsBetter ? "lower" : "higher");
                w.WriteEndObject();
            }
            else
                w.WriteNull("relative");
            w.WriteEndObject();
            w.WriteNull("cannot_express");
        }
        else
        {
            w.WriteNull("expression");
            w.WriteString("cannot_express", c.CannotExpress);
        }
        if (c.Calibrate is { } k)
        {
            w.WriteStartObject("calibrate");
            w.WriteString("column", k.Column);
            w.WriteString("key", k.Key);
            w.WriteString("value", k.Value);
            w.WriteString("note", k.Note);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("calibrate");
        }
        w.WriteString("preregistered_commit", c.PreregisteredCommit);
        w.WriteString("preregistration_note", c.PreregistrationNote);
        if (unknowns >= 0)
            w.WriteNumber("unknowns", unknowns);
        w.WriteStartObject("preregistration_check");
        w.WriteString("state", c.PreregistrationCheck.State.ToString().ToLowerInvariant());
        w.WriteString("detail", c.PreregistrationCheck.Detail);
        w.WriteEndObject();
        w.WriteStartArray("explanations");
        foreach (var x in c.Explanations)
        {
            w.WriteStartObject();
            w.WriteString("text", x.Text);
            w.WriteString("doc", x.Doc);
            w.WriteString("written", x.Written);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static string Write(Action<Utf8JsonWriter> body)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            body(w);
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    private static string Word(Judgement j) => j switch
    {
        Judgement.Holds => "holds",
        Judgement.Fails => "fails",
        Judgement.Inconclusive => "inconclusive",
        _ => "no value",
    };

    /// <summary>
    /// The rule of a case's verdict in one line. <c>reproduce riel-2011</c>'s own shape verdict reads
    /// the signs of cell means instead (<see cref="ReproduceReport.ShapeRule"/>); the README says why both exist.
    /// </summary>
    public const string ShapeRule = "Rule: simulated, a claim holds or fails only if the 95% CI of its per-seed difference settles it; gains in %.";

    /// <summary>Each operand's value: a gain as a signed percentage, as <c>reproduce riel-2011</c> prints it; other operands as numbers.</summary>
    private static string Vals(Interval[] values, IReadOnlyList<Operand> ops, bool ci) =>
        string.Join(" vs ", values.Select((v, i) =>
        {
            Func<double, string> f = i < ops.Count && ops[i].Kind == Operand.Gain ? Pct : Num;
            return ci && v.Low != v.High ? $"{f(v.Mean)} [{f(v.Low)}, {f(v.High)}]" : f(v.Mean);
        }));

    /// <summary>A paired difference: of two gains in percentage points, else as a number.</summary>
    private static string Diff(double v, bool gains) => gains && double.IsFinite(v) ? Pct(v)[..^1] + " pt" : Num(v);

    /// <summary>A relative change as a signed percentage with one decimal (0.1314 → +13.1%).</summary>
    public static string Pct(double v) => !double.IsFinite(v) ? Num(v) : Formats.SignedPercent(v);

    private static string Short(string commit) => commit.Length > 12 ? commit[..12] : commit;

    /// <summary>Numbers as people read them: the shared <see cref="Formats.Number"/>, "NaN" for a missing value.</summary>
    public static string Num(double v) => double.IsNaN(v) ? "NaN" : Formats.Number(v);
}

using System.Globalization;
using System.Text;
using System.Text.Json;
using PleSim.Experiments.Catalog;
using PleSim.Experiments.Running;
using Spectre.Console;

namespace PleSim.Reporting;

/// <summary>Tables and JSON of <c>plesim reproduce CASE --uncertainty</c> for a catalog case (decision 0101).</summary>
public static class CaseUncertaintyReport
{
    /// <summary>A value in the cell's own unit, with as many digits as its size needs (a change in % with one decimal).</summary>
    private static string Num(double v, bool percent = false) => !double.IsFinite(v) ? "–"
        : percent || (Math.Abs(v) >= 10 && Math.Abs(v) < 1000) ? v.ToString("0.0", CultureInfo.InvariantCulture)
        : Math.Abs(v) >= 1000 ? v.ToString("N0", CultureInfo.InvariantCulture)
        : v.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Unit(CaseUncertainty study) => study.CasePlan.Sides == 2 ? "change over the base, %" : study.Case.Expression!.Metric;

    /// <summary>Per cell: published value, band (min–max, p5–p95) and whether the published value lies inside.</summary>
    public static FitTable Bands(CaseUncertainty study, IReadOnlyList<CaseUncertainCell> cells)
    {
        var t = new FitTable(keyColumns: 2).Border(TableBorder.Rounded)
            .Title($"[bold]{Markup.Escape(study.Case.Name)}: band over the unknowns[/] — {Markup.Escape(Unit(study))} " +
                $"({(study.Lhs.Length > 0 ? $"{study.Lhs.Length}-point Latin hypercube" : "the Morris draws")}, cell means of {study.Options.Runs} run(s))");
        foreach (var h in new[] { "row", "column", "published", "band mean", "min – max", "p5 – p95", "published inside" })
            t.AddColumn(h, rightAligned: true);
        bool pc = study.CasePlan.Sides == 2;
        foreach (var c in cells)
        {
            var b = c.Band;
            t.AddRow(Markup.Escape(c.Row), Markup.Escape(c.Column), c.Published is double q ? Num(q, pc) : "–", Num(b.Mean, pc),
                $"{Num(b.Min, pc)} – {Num(b.Max, pc)}", $"{Num(b.P5, pc)} – {Num(b.P95, pc)}",
                UncertaintyReport.Inside(c.Published, b) + (c.FailedRuns > 0 ? $" [red]{c.FailedRuns} failed[/]" : "")
                    + (c.NoValueRuns > 0 ? $" [yellow]{c.NoValueRuns} run(s) without a value[/]" : ""));
        }
        return t;
    }

    /// <summary>The unknowns ordered by their mean μ* over the cells, each cell's μ* taken as a share of that cell's band width.</summary>
    public static IReadOnlyList<int> Ranking(IReadOnlyList<CaseUncertainCell> cells, int unknowns) =>
        Enumerable.Range(0, unknowns)
            .OrderByDescending(i => cells.Select(c => c.Effects[i].MuStar / (c.Band.Max - c.Band.Min)).Where(double.IsFinite).DefaultIfEmpty(0).Average())
            .ThenBy(i => i)
            .ToList();

    /// <summary>μ* and σ of every unknown in every cell, in the cell's unit; unknowns ranked by <see cref="Ranking"/>.</summary>
    public static FitTable Effects(CaseUncertainty study, IReadOnlyList<CaseUncertainCell> cells)
    {
        var t = new FitTable(keyColumns: 2).Border(TableBorder.Simple)
            .Title($"[bold]what moves each cell[/] — Morris μ* (σ) in the cell's unit ({Markup.Escape(Unit(study))})");
        t.AddColumn("rank");
        t.AddColumn("unknown");
        foreach (var c in cells)
            t.AddColumn(Markup.Escape($"{c.Row} @ {c.Column}"), rightAligned: true);
        bool pc = study.CasePlan.Sides == 2;
        UncertaintyReport.AddEffectRows(t, study.Unknowns, Ranking(cells, study.Unknowns.Count), cells.Count,
            (c, i) => $"{Num(cells[c].Effects[i].MuStar, pc)} ({Num(cells[c].Effects[i].Sigma, pc)})",
            c => Num(cells[c].NoiseMuStar, pc));
        return t;
    }

    /// <summary>Per shape statement: in how many draws it holds or fails on the means, and as the catalog judges it (95% intervals).</summary>
    public static FitTable Statements(IReadOnlyList<PredicateSpread> statements)
    {
        var t = new FitTable(keyColumns: 1).Border(TableBorder.Rounded)
            .Title("[bold]the case's statements over the draws[/] — on each draw's cell means, and settled by its runs' 95% intervals");
        foreach (var h in new[] { "statement", "draws", "holds on the means", "fails on the means", "settled: holds", "settled: fails", "unsettled" })
            t.AddColumn(h, rightAligned: h != "statement");
        foreach (var s in statements)
        {
            string Settled(int n) => s.Settleable ? n.ToString(CultureInfo.InvariantCulture) : "–";
            t.AddRow(Markup.Escape(s.Predicate.Claim), s.Draws.ToString(CultureInfo.InvariantCulture), s.HoldsOnMeans.ToString(CultureInfo.InvariantCulture),
                s.FailsOnMeans.ToString(CultureInfo.InvariantCulture), Settled(s.Holds), Settled(s.Fails), Settled(s.Unsettled));
        }
        return t;
    }

    /// <summary>The lines under the tables: what the study is (and is not), the verdicts over the draws, method, unknowns.</summary>
    public static IReadOnlyList<string> Summary(CaseUncertainty study, IReadOnlyList<CaseUncertainCell> cells, IReadOnlyList<(string Verdict, int Draws)> verdicts)
    {
        int published = cells.Count(c => c.Published is not null);
        var lines = new List<string>
        {
            study.Options.Runs < 2
                ? "With one run per draw no statement is settled by an interval; the verdicts per draw are not computed (give --runs 2 or more)."
                : $"The case's verdict in each of the band's draws: {string.Join(", ", verdicts.Select(v => $"{v.Verdict} {v.Draws}"))} " +
                  $"(of {verdicts.Sum(v => v.Draws)}; with {study.Options.Runs} run(s) per draw, against the case's {study.Case.Expression!.Runs}).",
            published == 0
                ? "The publication gives no numbers: no published value to place in a band; the statements above are the comparison."
                : $"The published value lies inside the band (min–max) in {cells.Count(c => c.Published is double p && c.Band.Contains(p))} of {published} cells, " +
                  $"inside p5–p95 in {cells.Count(c => c.Published is double p && c.Band.ContainsP5P95(p))}.",
        };
        var noValue = cells.Where(c => c.NoValueRuns > 0).ToList();
        if (noValue.Count > 0)
        {
            lines.Add("Runs without a value (they succeeded, but gave the cell no finite value: its metric missing, " +
                "e.g. work that did not finish inside the window, or a change over a base of zero): " +
                string.Join(", ", noValue.Select(c => $"{c.Row} @ {c.Column} {c.NoValueRuns} of {study.DesignPoints * study.Options.Runs}, band over {c.Band.Points} of {study.BandDrawCount} draws")) +
                ". A draw's mean is over the runs that gave a value; a draw with none is left out of the band and of the Morris effects it enters.");
        }
        lines.AddRange(
        [
            "This study does not change the case's verdict: its unknowns were declared after the case's results were seen (decision 0101). " +
                "It says how far the set-up the publication leaves unsaid could move each cell.",
            "Method: " + study.MethodText(),
            study.Options.Runs < 2
                ? "Noise floor: not estimated (one run per point); effects below the run-to-run spread of a cell cannot be told from noise."
                : "Noise floor: the μ* two independent means of the same draw would give (pooled within-draw variance); paired seeds make the real floor lower or equal.",
            "Unknowns (name: keys = values or range — source):",
        ]);
        lines.AddRange(UncertaintyReport.UnknownLines(study.Unknowns));
        return lines;
    }

    /// <summary>The <c>--json</c> document of the study.</summary>
    public static string Json(CaseUncertainty study, IReadOnlyList<CaseUncertainCell> cells, IReadOnlyList<PredicateSpread> statements, IReadOnlyList<(string Verdict, int Draws)> verdicts)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("experiment", study.Case.Name);
            w.WriteString("study", "uncertainty");
            w.WriteString("compared", Unit(study));
            w.WriteString("sweep_digest", study.Plan.Digest);
            UncertaintyReport.WriteMethod(w, study.Morris, study.Lhs.Length, study.Options.Runs, study.CasePlan.Sweep.Base.Seed, study.MethodText());
            UncertaintyReport.WriteUnknowns(w, study.Unknowns);
            w.WriteStartArray("cells");
            foreach (var c in cells)
            {
                w.WriteStartObject();
                w.WriteString("row", c.Row);
                w.WriteString("column", c.Column);
                w.WriteNumber("runs_without_value", c.NoValueRuns);
                UncertaintyReport.WriteCellFigures(w, c.Published, c.Band, c.NoiseMuStar, c.FailedRuns, study.Unknowns, c.Effects, muStarRelative: false);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("statements");
            foreach (var s in statements)
            {
                w.WriteStartObject();
                w.WriteString("claim", s.Predicate.Claim);
                w.WriteNumber("draws", s.Draws);
                w.WriteNumber("holds_on_means", s.HoldsOnMeans);
                w.WriteNumber("fails_on_means", s.FailsOnMeans);
                if (s.Settleable)
                {
                    w.WriteNumber("holds", s.Holds);
                    w.WriteNumber("fails", s.Fails);
                    w.WriteNumber("unsettled", s.Unsettled);
                }
                else
                {
                    w.WriteNull("holds");
                    w.WriteNull("fails");
                    w.WriteNull("unsettled");
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (study.Options.Runs >= 2)
            {
                w.WriteStartObject("verdicts");
                foreach (var (v, n) in verdicts)
                    w.WriteNumber(v, n);
                w.WriteEndObject();
            }
            else
            {
                w.WriteNull("verdicts");
            }
            w.WriteStartArray("ranking");
            foreach (var i in Ranking(cells, study.Unknowns.Count))
                w.WriteStringValue(study.Unknowns[i].Name);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}

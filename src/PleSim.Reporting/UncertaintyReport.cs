using System.Globalization;
using System.Text;
using System.Text.Json;
using PleSim.Experiments.Reproduce;
using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;
using PleSim.Experiments.Uncertainty;
using Spectre.Console;

namespace PleSim.Reporting;

/// <summary>Tables and JSON of <c>plesim reproduce riel-2011 --uncertainty</c>.</summary>
public static class UncertaintyReport
{
    private static string N(double v) => double.IsFinite(v) ? v.ToString("N0", CultureInfo.InvariantCulture) : "–";

    private static string Rel(double v, double of) => double.IsFinite(v) && double.IsFinite(of) && of != 0
        ? (100 * v / Math.Abs(of)).ToString("0.0", CultureInfo.InvariantCulture) + "%"
        : "–";

    private static string Handler(string h) => h == "none" ? "no PLE" : h == "directed-yield-2011" ? "PLE" : h;

    /// <summary>Per cell: published value, band (min–max, p5–p95) and whether the published value lies inside.</summary>
    public static FitTable Bands(Riel2011Uncertainty study, IReadOnlyList<UncertainCell> cells)
    {
        var t = new FitTable(keyColumns: 3).Border(TableBorder.Rounded)
            .Title($"[bold]band of outcomes over the unknowns[/] — {Markup.Escape(study.Base.CompareMetric ?? "amqp.subscribe_rate")} " +
                $"({(study.Lhs.Length > 0 ? $"{study.Lhs.Length}-point Latin hypercube" : "the Morris points")}, cell means of {study.Options.Runs} run(s))");
        foreach (var h in new[] { "payload", "handler", "load", "published", "band mean", "min – max", "p5 – p95", "published inside" })
            t.AddColumn(h, rightAligned: true);
        foreach (var c in cells)
        {
            var b = c.Band;
            string inside = Inside(c.Published, b);
            t.AddRow(c.Spec.Payload + " B", Handler(c.Spec.Handler), c.Spec.Overcommit, c.Published is double q ? N(q) : "–", N(b.Mean),
                $"{N(b.Min)} – {N(b.Max)}", $"{N(b.P5)} – {N(b.P95)}", inside + (c.FailedRuns > 0 ? $" [red]{c.FailedRuns} failed[/]" : ""));
        }
        return t;
    }

    /// <summary>The unknowns ordered by their mean relative μ* over <paramref name="cells"/>.</summary>
    public static IReadOnlyList<int> Ranking(IReadOnlyList<UncertainCell> cells, int unknowns) =>
        Enumerable.Range(0, unknowns)
            .OrderByDescending(i => cells.Select(c => c.Effects[i].MuStar / Math.Abs(c.Band.Mean)).Where(double.IsFinite).DefaultIfEmpty(0).Average())
            .ThenBy(i => i)
            .ToList();

    /// <summary>μ* and σ of every unknown in every cell of one payload, as % of the cell's band mean; unknowns ranked by their mean μ* over the payload's cells.</summary>
    public static FitTable Effects(Riel2011Uncertainty study, IReadOnlyList<UncertainCell> cells, int payload)
    {
        var mine = cells.Where(c => c.Spec.Payload == payload).ToList();
        var t = new FitTable(keyColumns: 2).Border(TableBorder.Simple)
            .Title($"[bold]{payload}-byte payload: what moves each cell[/] — Morris μ* (σ) as % of the cell's band mean, unknowns ranked by mean μ*");
        t.AddColumn("rank");
        t.AddColumn("unknown");
        foreach (var c in mine)
            t.AddColumn(Markup.Escape($"{Handler(c.Spec.Handler)} {c.Spec.Overcommit}"), rightAligned: true);
        AddEffectRows(t, study.Unknowns, Ranking(mine, study.Unknowns.Count), mine.Count,
            (c, i) => $"{Rel(mine[c].Effects[i].MuStar, mine[c].Band.Mean)} ({Rel(mine[c].Effects[i].Sigma, mine[c].Band.Mean)})",
            c => Rel(mine[c].NoiseMuStar, mine[c].Band.Mean));
        return t;
    }

    /// <summary>
    /// The rows of an effects table: one per unknown in <paramref name="order"/> (rank, name, then
    /// <paramref name="effect"/>(cell, unknown) per cell), then the noise floor of every cell.
    /// </summary>
    internal static void AddEffectRows(FitTable t, IReadOnlyList<Unknown> unknowns, IReadOnlyList<int> order, int cells, Func<int, int, string> effect, Func<int, string> noiseFloor)
    {
        for (int r = 0; r < order.Count; r++)
        {
            int i = order[r];
            var row = new List<string> { (r + 1).ToString(CultureInfo.InvariantCulture), Markup.Escape(unknowns[i].Name) };
            for (int c = 0; c < cells; c++)
                row.Add(effect(c, i));
            t.AddRow(row.ToArray());
        }
        var noise = new List<string> { "", "[grey]noise floor (μ* from run-to-run noise alone)[/]" };
        for (int c = 0; c < cells; c++)
            noise.Add($"[grey]{noiseFloor(c)}[/]");
        t.AddRow(noise.ToArray());
    }

    /// <summary>The lines under the tables: method, unknowns and their sources, the inclusion summary.</summary>
    public static IReadOnlyList<string> Summary(Riel2011Uncertainty study, IReadOnlyList<UncertainCell> cells)
    {
        var lines = new List<string> { "Method: " + study.MethodText() };
        int inside = cells.Count(c => c.Published is double p && c.Band.Contains(p));
        int inside90 = cells.Count(c => c.Published is double p && c.Band.ContainsP5P95(p));
        int published = cells.Count(c => c.Published is not null);
        lines.Add($"The published value lies inside the band (min–max) in {inside} of {published} cells, inside p5–p95 in {inside90}.");
        if (study.Options.Runs < 2)
            lines.Add("Noise floor: not estimated (one run per point); effects below the run-to-run spread of a cell cannot be told from noise.");
        else
            lines.Add("Noise floor: the μ* two independent means of the same point would give (pooled within-point variance); paired seeds make the real floor lower or equal.");
        lines.Add("Unknowns (name: keys = values or range — source):");
        lines.AddRange(UnknownLines(study.Unknowns));
        return lines;
    }

    /// <summary>The <c>method</c> object of a study's JSON: the Morris design, the band's sample, runs per point, first seed and the method in words.</summary>
    internal static void WriteMethod(Utf8JsonWriter w, MorrisDesign morris, int lhsPoints, int runs, ulong firstSeed, string description)
    {
        w.WriteStartObject("method");
        w.WriteString("ranking", "morris-elementary-effects");
        w.WriteNumber("trajectories", morris.Trajectories);
        w.WriteNumber("levels", morris.Levels);
        w.WriteNumber("delta", morris.Delta);
        w.WriteNumber("morris_points", morris.Points.Count);
        w.WriteString("band_sample", lhsPoints > 0 ? "latin-hypercube" : "morris-points");
        w.WriteNumber("band_points", lhsPoints > 0 ? lhsPoints : morris.Points.Count);
        w.WriteNumber("runs_per_point", runs);
        w.WriteNumber("first_seed", firstSeed);
        w.WriteString("description", description);
        w.WriteEndObject();
    }

    /// <summary>The <c>unknowns</c> array of a study's JSON: name, keys, kind, values or range, source.</summary>
    internal static void WriteUnknowns(Utf8JsonWriter w, IReadOnlyList<Unknown> unknowns)
    {
        w.WriteStartArray("unknowns");
        foreach (var u in unknowns)
        {
            w.WriteStartObject();
            w.WriteString("name", u.Name);
            w.WriteStartArray("keys");
            foreach (var k in u.Keys)
                w.WriteStringValue(k);
            w.WriteEndArray();
            w.WriteString("kind", u.Kind switch
            {
                UnknownKind.Set => "set",
                UnknownKind.IntegerRange => "integer-range",
                UnknownKind.DurationRange => "duration-range",
                _ => "number-range",
            });
            if (u.Kind == UnknownKind.Set)
            {
                w.WriteStartArray("values");
                foreach (var v in u.Values)
                    w.WriteStringValue(v);
                w.WriteEndArray();
            }
            else
            {
                w.WriteStartArray("range");
                w.WriteStringValue(u.ValueAt(0));
                w.WriteStringValue(u.ValueAt(1));
                w.WriteEndArray();
            }
            w.WriteString("source", u.Source);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>A cell's <c>band</c> object: mean, min, max, p5, p95 and the number of draws.</summary>
    internal static void WriteBand(Utf8JsonWriter w, CellBand band)
    {
        w.WriteStartObject("band");
        ResultJson.WriteNumber(w, "mean", band.Mean);
        ResultJson.WriteNumber(w, "min", band.Min);
        ResultJson.WriteNumber(w, "max", band.Max);
        ResultJson.WriteNumber(w, "p5", band.P5);
        ResultJson.WriteNumber(w, "p95", band.P95);
        w.WriteNumber("points", band.Points);
        w.WriteEndObject();
    }

    /// <summary>The lines naming every unknown with its keys, values and source.</summary>
    internal static IEnumerable<string> UnknownLines(IReadOnlyList<Unknown> unknowns) =>
        unknowns.Select(u => $"  {u.Name}: {string.Join(", ", u.Keys)} = {u.Describe()} — {u.Source}");

    /// <summary>Whether a published value lies in a band, in words (with markup).</summary>
    internal static string Inside(double? published, CellBand b) => published is double p
        ? (b.Contains(p) ? (b.ContainsP5P95(p) ? "[green]yes (p5–p95)[/]" : "[yellow]yes (min–max only)[/]") : "[red]no[/]")
        : "–";

    /// <summary>
    /// What both studies write per cell after its labels: the published value, the band, whether the
    /// published value lies in it, the noise floor, failed runs and every unknown's effects (largest μ*
    /// first; with <paramref name="muStarRelative"/>, μ* as a share of the band mean too).
    /// </summary>
    internal static void WriteCellFigures(Utf8JsonWriter w, double? published, CellBand band, double noiseMuStar, int failedRuns,
        IReadOnlyList<Unknown> unknowns, IReadOnlyList<ElementaryEffects> effects, bool muStarRelative)
    {
        if (published is double p)
            w.WriteNumber("published_value", p);
        else
            w.WriteNull("published_value");
        WriteBand(w, band);
        w.WriteBoolean("published_inside", published is double a && band.Contains(a));
        w.WriteBoolean("published_inside_p5_p95", published is double b && band.ContainsP5P95(b));
        ResultJson.WriteNumber(w, "noise_mu_star", noiseMuStar);
        w.WriteNumber("failed_runs", failedRuns);
        w.WriteStartArray("effects");
        foreach (var i in Enumerable.Range(0, unknowns.Count).OrderByDescending(i => double.IsFinite(effects[i].MuStar) ? effects[i].MuStar : -1).ThenBy(i => i))
        {
            var e = effects[i];
            w.WriteStartObject();
            w.WriteString("unknown", unknowns[i].Name);
            ResultJson.WriteNumber(w, "mu_star", e.MuStar);
            ResultJson.WriteNumber(w, "mu", e.Mu);
            ResultJson.WriteNumber(w, "sigma", e.Sigma);
            if (muStarRelative)
                ResultJson.WriteNumber(w, "mu_star_relative", e.MuStar / Math.Abs(band.Mean));
            w.WriteNumber("effects", e.Count);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>The <c>--json</c> document of the study.</summary>
    public static string Json(Riel2011Uncertainty study, IReadOnlyList<UncertainCell> cells)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("experiment", "riel-2011");
            w.WriteString("study", "uncertainty");
            w.WriteString("metric", study.Base.CompareMetric ?? "amqp.subscribe_rate");
            w.WriteString("sweep_digest", study.Plan.Digest);
            WriteMethod(w, study.Morris, study.Lhs.Length, study.Options.Runs, study.Base.Seed, study.MethodText());
            WriteUnknowns(w, study.Unknowns);
            w.WriteStartArray("cells");
            foreach (var c in cells)
            {
                w.WriteStartObject();
                w.WriteNumber("payload", c.Spec.Payload);
                w.WriteString("handler", c.Spec.Handler);
                w.WriteString("overcommit", c.Spec.Overcommit);
                w.WriteNumber("loops", c.Spec.Loops);
                WriteCellFigures(w, c.Published, c.Band, c.NoiseMuStar, c.FailedRuns, study.Unknowns, c.Effects, muStarRelative: true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("summary");
            w.WriteNumber("cells", cells.Count);
            w.WriteNumber("published_inside", cells.Count(c => c.Published is double p && c.Band.Contains(p)));
            w.WriteNumber("published_inside_p5_p95", cells.Count(c => c.Published is double p && c.Band.ContainsP5P95(p)));
            w.WriteStartArray("ranking");
            foreach (var i in Ranking(cells, study.Unknowns.Count))
                w.WriteStringValue(study.Unknowns[i].Name);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}

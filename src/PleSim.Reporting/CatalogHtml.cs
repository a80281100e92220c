using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace PleSim.Reporting;

/// <summary>
/// The catalog's scorecard as a single-file HTML page, rendered from the JSON of
/// <c>reproduce all --json</c> (<c>catalog.json</c>, <see cref="CatalogReport.ResultsJson"/>), so a
/// page can be made from a stored JSON file as well as from the result stores. No external
/// resources; deterministic for a given JSON.
/// </summary>
public static class CatalogHtml
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Renders the scorecard and one section per case; throws <see cref="JsonException"/> or <see cref="KeyNotFoundException"/> for JSON that is not a catalog result.</summary>
    public static string Render(string resultsJson, string origin)
    {
        using var doc = JsonDocument.Parse(resultsJson);
        var root = doc.RootElement;
        var results = root.GetProperty("results").EnumerateArray().ToList();
        var h = new StringBuilder();
        string E(string? s) => WebUtility.HtmlEncode(s ?? "");
        static string Str(JsonElement e, string key) => e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
        static double? Num(JsonElement e, string key) => e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
        static string Raw(double? v) => v is double d ? d.ToString("R", Inv) : "";
        string N(double? v) => v is double d ? E(CatalogReport.Num(d)) : "–";

        h.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        h.Append("<title>PleSim catalog scorecard</title>\n");
        h.Append("""
            <style>
            body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; line-height: 1.4; }
            h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
            table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
            th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; } th { background: #f2f2f2; }
            .wide { overflow-x: auto; max-width: 100%; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
            .v-matches { color: #060; font-weight: bold; } .v-does-not-match, .v-runs-failed { color: #b00; font-weight: bold; }
            .v-inconclusive { color: #a60; } .v-cannot-express-yet { color: #555; font-style: italic; }
            dl.meta dt { font-weight: bold; float: left; clear: left; width: 11em; } dl.meta dd { margin-left: 12em; }
            code { font-size: 0.9em; }
            </style>
            </head>
            <body>

            """);
        h.Append("<h1>Catalog of published results: scorecard</h1>\n");
        h.Append(Inv, $"<p id=\"origin\">From {E(origin)}. A case <em>matches</em> (in shape) when every predicate of its pre-registered shape holds on the simulated runs (judged on the 95% CI of per-seed differences), <em>does not match</em> when one fails, is <em>inconclusive</em> when the intervals do not settle it. The predicates check signs, orderings and stated ranges, not the published sizes; the size check, apart from the verdict, says how many compared quantities are within {SizeFactor} of the published value{(root.TryGetProperty("size_totals", out var st0) && st0.ValueKind == JsonValueKind.Object ? $" ({E(Str(st0, "rule").TrimEnd('.'))})" : "")}.</p>\n");
        h.Append("<dl class=\"meta\" id=\"totals\">\n");
        foreach (var t in root.GetProperty("totals").EnumerateObject())
            h.Append(Inv, $"<dt>{E(t.Name)}</dt><dd data-verdict=\"{E(t.Name)}\">{t.Value.GetInt32()}</dd>\n");
        // A catalog.json of an older PleSim has no size check.
        if (root.TryGetProperty("size_totals", out var st) && st.ValueKind == JsonValueKind.Object)
            h.Append(Inv, $"<dt>matches, within {SizeFactor} in size</dt><dd data-size=\"matches-within-size\">{st.GetProperty("matches_within_size").GetInt32()}</dd>\n");
        h.Append("</dl>\n");

        h.Append(Inv, $"<div class=\"wide\"><table id=\"scorecard\">\n<thead><tr><th>case</th><th>date</th><th>shape verdict</th><th>shape holds</th><th>size within {SizeFactor}</th><th>runs/cell</th><th>pre-registered</th><th>missing feature / calibration</th></tr></thead>\n<tbody>\n");
        foreach (var r in results)
        {
            var c = r.GetProperty("case");
            var name = Str(r, "name");
            var verdict = Str(r, "verdict");
            var preds = r.GetProperty("predicates").EnumerateArray().ToList();
            bool expressible = c.GetProperty("expressible").GetBoolean();
            int holds = preds.Count(p => Str(p, "on_simulated") == "holds");
            string note = expressible
                ? (c.GetProperty("calibrate") is { ValueKind: JsonValueKind.Object } k ? $"calibrated {Str(k, "key")} = {Str(k, "value")} on {Str(k, "column")}" : "")
                : Str(c, "cannot_express");
            h.Append(Inv, $"<tr data-case=\"{E(name)}\" data-verdict=\"{E(verdict)}\"><td><a href=\"#case-{E(name)}\">{E(name)}</a></td><td>{E(Str(c.GetProperty("source"), "date"))}</td>");
            h.Append(Inv, $"<td class=\"v-{E(verdict.Replace(' ', '-'))}\">{E(verdict)}</td><td class=\"num\">{(expressible ? $"{holds}/{preds.Count}" : "–")}</td>");
            h.Append(Inv, $"<td class=\"num\">{(Size(r) is { } sz && sz.GetProperty("quantities").GetInt32() > 0 ? $"{sz.GetProperty("within").GetInt32()}/{sz.GetProperty("quantities").GetInt32()}" : "–")}</td>");
            h.Append(Inv, $"<td class=\"num\">{(expressible ? r.GetProperty("runs_per_cell").GetInt32().ToString(Inv) : "–")}</td><td><code>{E(Short(Str(r, "preregistered_commit")))}</code></td><td>{E(note)}</td></tr>\n");
        }
        h.Append("</tbody>\n</table></div>\n");

        foreach (var r in results)
        {
            var c = r.GetProperty("case");
            var name = Str(r, "name");
            var src = c.GetProperty("source");
            var pub = c.GetProperty("published");
            h.Append(Inv, $"<section id=\"case-{E(name)}\" class=\"case\">\n<h2>{E(name)}: {E(Str(c, "title"))}</h2>\n<dl class=\"meta\">\n");
            void Meta(string k, string v, string? html = null) => h.Append(Inv, $"<dt>{E(k)}</dt><dd>{html ?? E(v)}</dd>\n");
            var address = Str(src, "url");
            var link = address.StartsWith("https://", StringComparison.Ordinal) || address.StartsWith("http://", StringComparison.Ordinal)
                ? $", <a href=\"{E(address)}\">{E(address)}</a>" : address.Length > 0 ? ", " + E(address) : "";
            var mid = Str(src, "message_id");
            Meta("source", "", $"{E(Str(src, "authors"))}, “{E(Str(src, "title"))}”, {E(Str(src, "venue"))}, {E(Str(src, "date"))}{link}{(mid.Length > 0 ? ", message-id " + E(mid) : "")}");
            Meta("set-up", Str(c, "setup"));
            Meta("measured", Str(c, "measured"));
            Meta("verdict", "", $"<span class=\"v-{E(Str(r, "verdict").Replace(' ', '-'))}\" data-verdict=\"{E(Str(r, "verdict"))}\">{E(Str(r, "verdict"))}</span>");
            if (Size(r) is { } size)
                Meta($"size (apart from the verdict)", Str(size, "summary"));
            if (c.GetProperty("calibrate") is { ValueKind: JsonValueKind.Object } cal)
                Meta("calibrated", $"{Str(cal, "key")} = {Str(cal, "value")}, fitted on column {Str(cal, "column")} ({Str(cal, "note")})");
            if (c.GetProperty("cannot_express") is { ValueKind: JsonValueKind.String } missing)
                Meta("cannot express yet", missing.GetString()!);
            Meta("pre-registered", Str(r, "preregistered_commit")
                + (c.TryGetProperty("preregistration_check", out var pc) ? $" ({Str(pc, "state")}: {Str(pc, "detail")})" : "")
                + (Str(c, "preregistration_note") is { Length: > 0 } pn ? $" ({pn})" : ""));
            // Written after the result was seen; a catalog.json of an older PleSim has none.
            if (c.TryGetProperty("explanations", out var ex) && ex.GetArrayLength() > 0)
                Meta("explained after the result", "", "<ul class=\"explanations\">" + string.Concat(ex.EnumerateArray().Select(x =>
                    $"<li>{(Str(x, "written") is { Length: > 0 } wr ? $"<em>[written {E(wr)}; its figures are of that build]</em> " : "")}{E(Str(x, "text"))}{(Str(x, "doc") is { Length: > 0 } d ? $" (<code>{E(d)}</code>)" : "")}</li>")) + "</ul>");
            h.Append("</dl>\n");

            // The published table with the simulated cells beside each published value.
            var columns = pub.GetProperty("columns").EnumerateArray().Select(x => x.GetString()!).ToList();
            var cells = r.GetProperty("cells").EnumerateArray().ToDictionary(x => (Str(x, "row"), Str(x, "column")));
            h.Append(Inv, $"<p>{E(Str(pub, "unit"))}: published | simulated mean [95% CI] (runs){(pub.GetProperty("approximate").GetBoolean() ? "; the published values are approximate" : "")}{(Str(pub, "note") is { Length: > 0 } note ? " — " + E(note) : "")}</p>\n");
            h.Append(Inv, $"<div class=\"wide\"><table class=\"cells\" id=\"cells-{E(name)}\">\n<thead><tr><th>row</th>");
            foreach (var col in columns)
                h.Append(Inv, $"<th>{E(col)}</th>");
            h.Append("</tr></thead>\n<tbody>\n");
            foreach (var row in pub.GetProperty("rows").EnumerateArray())
            {
                var rowName = Str(row, "name");
                h.Append(Inv, $"<tr><td>{E(rowName)}</td>");
                var values = row.GetProperty("values").EnumerateArray().ToList();
                for (int i = 0; i < columns.Count; i++)
                {
                    double? pv = values[i].ValueKind == JsonValueKind.Number ? values[i].GetDouble() : null;
                    string sim = "not simulated";
                    string attrs = $" data-row=\"{E(rowName)}\" data-column=\"{E(columns[i])}\" data-published=\"{Raw(pv)}\"";
                    if (cells.TryGetValue((rowName, columns[i]), out var cell))
                    {
                        var mean = Num(cell, "mean");
                        int failed = cell.GetProperty("failed_runs").GetInt32();
                        sim = $"{N(mean)} [{N(Num(cell, "ci95_low"))}, {N(Num(cell, "ci95_high"))}] ({cell.GetProperty("n").GetInt32()}{(failed > 0 ? $", {failed} failed" : "")})";
                        attrs += $" data-mean=\"{Raw(mean)}\" data-n=\"{cell.GetProperty("n").GetInt32()}\"";
                        if (cell.TryGetProperty("seeds_disagree", out var split) && split.GetBoolean())
                        {
                            sim += "; the seeds disagree: " + string.Join(", ", cell.GetProperty("values").EnumerateArray()
                                .Select(v => v.ValueKind == JsonValueKind.Number ? N(v.GetDouble()) : "–"));
                            attrs += " data-seeds-disagree=\"true\"";
                        }
                    }
                    h.Append(Inv, $"<td class=\"num\"{attrs}>{N(pv)}<br>{E(sim)}</td>");
                }
                h.Append("</tr>\n");
            }
            h.Append("</tbody>\n</table></div>\n");

            h.Append(Inv, $"<div class=\"wide\"><table class=\"predicates\" id=\"predicates-{E(name)}\">\n<thead><tr><th>claim</th><th>predicate</th><th>on the published numbers</th><th>simulated</th><th>simulated values [95% CI]</th><th>paired difference [95% CI]</th></tr></thead>\n<tbody>\n");
            foreach (var p in r.GetProperty("predicates").EnumerateArray())
            {
                string Intervals(string key) => string.Join(" vs ", p.GetProperty(key).EnumerateArray().Select(v =>
                    Num(v, "ci95_low") == Num(v, "ci95_high") ? N(Num(v, "mean")) : $"{N(Num(v, "mean"))} [{N(Num(v, "ci95_low"))}, {N(Num(v, "ci95_high"))}]"));
                var onSim = Str(p, "on_simulated");
                h.Append(Inv, $"<tr data-judgement=\"{E(onSim)}\"><td>{E(Str(p, "claim"))}</td><td><code>{E(Str(p, "predicate"))}</code></td><td>{E(Str(p, "on_published"))} on {Intervals("published_values")}</td>");
                h.Append(Inv, $"<td>{E(onSim)}</td><td>{Intervals("simulated_values")}</td><td>{Intervals("simulated_paired_difference")}</td></tr>\n");
            }
            h.Append("</tbody>\n</table></div>\n");
            if (Size(r) is { } sizes && sizes.GetProperty("comparisons").GetArrayLength() > 0)
            {
                h.Append(Inv, $"<div class=\"wide\"><table class=\"sizes\" id=\"sizes-{E(name)}\">\n<thead><tr><th>quantity (size, apart from the verdict)</th><th>published</th><th>simulated mean</th><th>simulated / published</th><th>size</th></tr></thead>\n<tbody>\n");
                foreach (var x in sizes.GetProperty("comparisons").EnumerateArray())
                {
                    string unit = Str(x, "unit");
                    string V(double? v) => v is double d ? (unit == "%" ? E(d.ToString("+#,##0.##;-#,##0.##;0", Inv)) + "%" : $"{N(d)} {E(unit)}") : "–";
                    h.Append(Inv, $"<tr data-outcome=\"{E(Str(x, "outcome"))}\"><td><code>{E(Str(x, "quantity"))}</code></td><td class=\"num\">{V(Num(x, "published"))}</td><td class=\"num\">{V(Num(x, "simulated"))}</td>");
                    h.Append(Inv, $"<td class=\"num\">{(Num(x, "ratio") is double ratio && ratio >= 0 ? E(CatalogReport.Ratio(ratio)) : "–")}</td><td>{E(Str(x, "outcome"))}</td></tr>\n");
                }
                h.Append("</tbody>\n</table></div>\n");
            }
            h.Append("</section>\n");
        }
        h.Append("</body>\n</html>\n");
        return h.ToString();
    }

    private static readonly string SizeFactor = WebUtility.HtmlEncode(CatalogReport.Factor);

    /// <summary>A result's size check, or null (a case not simulated, or a catalog.json of an older PleSim).</summary>
    private static JsonElement? Size(JsonElement result) =>
        result.TryGetProperty("size", out var s) && s.ValueKind == JsonValueKind.Object ? s : null;

    private static string Short(string commit) => commit.Length > 12 ? commit[..12] : commit;
}

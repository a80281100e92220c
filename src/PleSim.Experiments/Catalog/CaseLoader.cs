using System.Globalization;
using System.Text.RegularExpressions;
using PleSim.Experiments.Scenarios;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PleSim.Experiments.Catalog;

/// <summary>
/// Reads catalog case files (<c>cases/NAME.yaml</c>) into checked <see cref="CatalogCase"/> values, or a
/// <see cref="ScenarioException"/> listing every problem with file:line:column, like the scenario loader.
/// Besides types and required keys it checks that the shape names cells of the published table, that
/// the stated shape holds on the published numbers themselves, that the expression's rows and columns
/// are the table's, and that a case either has an expression or names what it cannot express.
/// </summary>
public static partial class CaseLoader
{
    /// <summary>The embedded case files (the repository's <c>cases/</c> directory at build time), by name.</summary>
    public static IReadOnlyList<CatalogCase> BuiltIn()
    {
        var cases = new List<CatalogCase>();
        foreach (var res in typeof(CaseLoader).Assembly.GetManifestResourceNames().Where(n => n.StartsWith("cases/", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
            cases.Add(LoadResource(res)!); // listed, so present
        return cases.OrderBy(c => c.Source.Date, StringComparer.Ordinal).ThenBy(c => c.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>The one built-in case named <paramref name="name"/>, without parsing the others.</summary>
    public static CatalogCase BuiltIn(string name) =>
        LoadResource($"cases/{name}.yaml") ?? throw new ArgumentException($"no built-in case '{name}'", nameof(name));

    /// <summary>A case embedded in this assembly under the resource name <paramref name="res"/>; null if there is none.</summary>
    private static CatalogCase? LoadResource(string res) =>
        EmbeddedText.TryRead(res) is { } text ? LoadText(text, res) : null;

    public static CatalogCase LoadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ScenarioException(new ScenarioDiagnostic(path, 0, 0, "", $"cannot read the file: {e.Message}"));
        }
        return LoadText(text, path);
    }

    [GeneratedRegex(@"^\d{4}(-\d{2}(-\d{2})?)?$")]
    private static partial Regex DatePattern();

    [GeneratedRegex(@"^([0-9a-f]{7,40}|pending)$")]
    private static partial Regex CommitPattern();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9\-]*$")]
    private static partial Regex NamePattern();

    /// <summary>A number, or <c>~</c> / <c>null</c> for a value the source does not give.</summary>
    public static readonly ValueKind<double?> OptionalNumber = new("a number, or ~ when the source gives none", text =>
    {
        if (text is "~" or "null" or "")
            return (true, null, null);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
            ? (true, v, null)
            : (false, null, $"expected a number or ~, got '{text}'");
    });

    public static CatalogCase LoadText(string text, string fileName)
    {
        var ctx = new ReadContext(fileName);
        var root = ScenarioLoader.Parse(text, ctx);
        if (root is null)
            throw new ScenarioException(ctx.Diagnostics);
        var r = new MapReader(root, "", ctx);
        var name = r.Require("name", Kinds.Text, "unnamed");
        if (!NamePattern().IsMatch(name))
            ctx.Error(Node(root, "name"), "name", $"'{name}' is not a case name: lower-case letters, digits and '-'");
        var stem = Path.GetFileNameWithoutExtension(fileName);
        if (fileName.EndsWith(".yaml", StringComparison.Ordinal) && stem != name)
            ctx.Error(Node(root, "name"), "name", $"the case '{name}' must be in a file named {name}.yaml, not {Path.GetFileName(fileName)}");
        var title = r.Require("title", Kinds.Text, "");

        var s = r.Section("source");
        if (!s.IsPresent)
            ctx.Error(Mark.Empty, "source", "required section 'source' is missing: authors, title, venue, date, url or message_id");
        var source = new CaseSource(
            s.Require("authors", Kinds.Text, ""),
            s.Require("title", Kinds.Text, ""),
            s.Require("venue", Kinds.Text, ""),
            s.Require("date", Kinds.Text, ""),
            s.Get("url", Kinds.Text, ""),
            s.Get("message_id", Kinds.Text, ""),
            s.Get("note", Kinds.Text, ""));
        if (s.IsPresent && source.Date.Length > 0 && !DatePattern().IsMatch(source.Date))
            ctx.Error(Node(root, "source", "date"), "source.date", $"'{source.Date}' is not a date: YYYY, YYYY-MM or YYYY-MM-DD");
        if (s.IsPresent && source.Url.Length == 0 && source.MessageId.Length == 0)
            ctx.Error(Node(root, "source"), "source", "a source needs a stable address: 'url' or 'message_id' (or both)");
        s.Done();

        var setup = r.Require("setup", Kinds.Text, "");
        var measured = r.Require("measured", Kinds.Text, "");
        int beforeTable = ctx.Diagnostics.Count;
        var published = ReadPublished(r, root, ctx);
        var shape = ReadShape(r, root, ctx, published, beforeTable);

        bool hasExpr = r.Has("expression");
        var cannot = r.Get("cannot_express", Kinds.Text, "");
        CaseExpression? expression = null;
        if (hasExpr && cannot.Length > 0)
            ctx.Error(Node(root, "cannot_express"), "cannot_express", "a case has either an 'expression' or 'cannot_express', not both");
        else if (!hasExpr && cannot.Length == 0)
            ctx.Error(Mark.Empty, "expression", "a case needs an 'expression' (the scenario grid that expresses it) or 'cannot_express: \"<the missing feature>\"'");
        if (hasExpr)
            expression = ReadExpression(r, root, ctx, published);
        else
            r.Section("expression").Done();

        CaseCalibration? calibrate = null;
        var cal = r.Section("calibrate");
        if (cal.IsPresent)
        {
            calibrate = new CaseCalibration(cal.Require("column", Kinds.Text, ""), cal.Require("key", Kinds.Text, ""),
                cal.Require("value", Kinds.Text, ""), cal.Get("note", Kinds.Text, ""));
            if (calibrate.Column.Length > 0 && !published.Columns.Contains(calibrate.Column))
                ctx.Error(Node(root, "calibrate", "column"), "calibrate.column", $"'{calibrate.Column}' is not a column of the published table ({string.Join(", ", published.Columns)})");
            if (expression is null)
                ctx.Error(Node(root, "calibrate"), "calibrate", "only a case with an expression can declare a calibrated value");
        }
        cal.Done();

        var commit = r.Require("preregistered_commit", Kinds.Text, "pending");
        if (!CommitPattern().IsMatch(commit))
            ctx.Error(Node(root, "preregistered_commit"), "preregistered_commit", $"'{commit}' is not a commit: 7 to 40 lower-case hex digits, or 'pending' before the pre-registration commit exists");
        var note = r.Get("preregistration_note", Kinds.Text, "");
        var explanations = r.List("explanations", (item, i) =>
        {
            var text = item.Require("text", Kinds.Text, "");
            var doc = item.Get("doc", Kinds.Text, "");
            var written = item.Get("written", Kinds.Text, "");
            if (doc.Length > 0 && (Path.IsPathRooted(doc) || !doc.StartsWith("docs/", StringComparison.Ordinal) || doc.Contains("..", StringComparison.Ordinal)))
                ctx.Error(Node(root, "explanations", i, "doc"), $"explanations[{i}].doc", $"'{doc}' must be a path inside the repository's docs/ folder (e.g. docs/anomalies/NAME.md)");
            return new CaseExplanation(text.Trim(), doc) { Written = written.Trim() };
        });
        if (explanations.Count > 0 && expression is null)
            ctx.Error(Node(root, "explanations"), "explanations", "only a case with an expression has a result to explain");
        r.Done();

        if (ctx.Diagnostics.Count > 0)
            throw new ScenarioException(ctx.Diagnostics.OrderBy(d => d.Line).ThenBy(d => d.Column).ToList());
        return new CatalogCase
        {
            Name = name,
            Title = title,
            Source = source,
            Setup = setup.Trim(),
            Measured = measured.Trim(),
            Published = published,
            Shape = shape,
            Expression = expression,
            CannotExpress = cannot.Trim(),
            Calibrate = calibrate,
            PreregisteredCommit = commit,
            PreregistrationNote = note.Trim(),
            Explanations = explanations,
            File = fileName,
        };
    }

    private static PublishedTable ReadPublished(MapReader r, YamlMappingNode root, ReadContext ctx)
    {
        var p = r.Section("published");
        if (!p.IsPresent)
            ctx.Error(Mark.Empty, "published", "required section 'published' is missing: unit, columns, rows");
        var unit = p.Require("unit", Kinds.Text, "");
        var columns = p.ScalarList("columns", Kinds.Text);
        if (p.IsPresent && columns.Count == 0)
            ctx.Error(Node(root, "published") , "published.columns", "the published table needs at least one column");
        if (columns.Distinct().Count() != columns.Count)
            ctx.Error(Node(root, "published", "columns"), "published.columns", "column names must be distinct");
        var rows = p.List("rows", (item, i) =>
        {
            var rowName = item.Require("name", Kinds.Text, "");
            var values = item.ScalarList("values", OptionalNumber);
            if (values.Count != columns.Count)
                ctx.Error(Node(root, "published", "rows", i), $"published.rows[{i}].values", $"row '{rowName}' has {values.Count} values for {columns.Count} columns ({string.Join(", ", columns)})");
            return new PublishedRow(rowName, values);
        });
        if (p.IsPresent && rows.Count == 0)
            ctx.Error(Node(root, "published"), "published.rows", "the published table needs at least one row");
        if (rows.Select(x => x.Name).Distinct().Count() != rows.Count)
            ctx.Error(Node(root, "published", "rows"), "published.rows", "row names must be distinct");
        foreach (var (n, i) in rows.Select((x, i) => (x.Name, i)).Concat(columns.Select((c, i) => (c, i))))
        {
            if (n.Contains(" @ ", StringComparison.Ordinal) || n.Contains(';', StringComparison.Ordinal))
                ctx.Error(Node(root, "published"), "published", $"'{n}': row and column names may not contain ' @ ' or ';' (they are used in the shape's cell references)");
        }
        var approximate = p.Get("approximate", Kinds.Bool, false);
        var qualitative = p.Get("qualitative", Kinds.Bool, false);
        var note = p.Get("note", Kinds.Text, "");
        if (qualitative && rows.Any(x => x.Values.Any(v => v is not null)))
            ctx.Error(Node(root, "published", "qualitative"), "published.qualitative", "a qualitative table has no numbers: every value is ~");
        if (!qualitative && rows.Count > 0 && rows.All(x => x.Values.All(v => v is null)))
            ctx.Error(Node(root, "published", "rows"), "published.rows", "no value in the table: put in the published numbers, or mark the table 'qualitative: true' when the source states a claim without numbers");
        p.Done();
        return new PublishedTable(unit, columns, rows, approximate, qualitative, note.Trim());
    }

    private static List<ShapePredicate> ReadShape(MapReader r, YamlMappingNode root, ReadContext ctx, PublishedTable table, int beforeTable)
    {
        var shape = r.List("shape", (item, i) =>
        {
            var claim = item.Require("claim", Kinds.Text, "");
            var kinds = ShapePredicate.Kinds.Where(item.Has).ToList();
            var node = Node(root, "shape", i);
            var path = $"shape[{i}]";
            if (kinds.Count != 1)
            {
                ctx.Error(node, path, kinds.Count == 0
                    ? $"a shape item needs one of: {string.Join(", ", ShapePredicate.Kinds)} (e.g. greater: [\"PLE @ 2x\", \"no PLE @ 2x\"])"
                    : $"a shape item has exactly one of {string.Join(", ", ShapePredicate.Kinds)}; this one has {string.Join(" and ", kinds)}");
                return null;
            }
            var kind = kinds[0];
            var args = item.ScalarList(kind, Kinds.Text);
            var argNode = Node(root, "shape", i, kind) ?? node;
            int operands = kind switch { "greater" => 2, "near" => 2, _ => 1 };
            int numbers = kind switch { "between" => 2, "near" => 1, _ => 0 };
            if (args.Count != operands + numbers)
            {
                string form = kind switch
                {
                    "greater" => "[A, B]",
                    "near" => "[A, B, relative tolerance]",
                    "between" => "[A, low, high]",
                    _ => "A",
                };
                ctx.Error(argNode, $"{path}.{kind}", $"{kind} takes {form}; got {args.Count} item(s)");
                return null;
            }
            var ops = new List<Operand>();
            for (int k = 0; k < operands; k++)
            {
                var op = Operand.Parse(args[k], out var problem);
                if (op is null)
                {
                    ctx.Error(argNode, $"{path}.{kind}", problem!);
                    return null;
                }
                foreach (var c in op.Cells)
                {
                    if (!table.Columns.Contains(c.Column))
                        ctx.Error(argNode, $"{path}.{kind}", $"'{c.Column}' is not a column of the published table{Hint(c.Column, table.Columns)} (columns: {string.Join(", ", table.Columns)})");
                    if (table.Rows.All(x => x.Name != c.Row))
                        ctx.Error(argNode, $"{path}.{kind}", $"'{c.Row}' is not a row of the published table{Hint(c.Row, table.Rows.Select(x => x.Name))} (rows: {string.Join(", ", table.Rows.Select(x => x.Name))})");
                }
                ops.Add(op);
            }
            var nums = new double[numbers];
            for (int k = 0; k < numbers; k++)
            {
                if (!double.TryParse(args[operands + k], NumberStyles.Float, CultureInfo.InvariantCulture, out nums[k]))
                {
                    ctx.Error(argNode, $"{path}.{kind}", $"expected a number, got '{args[operands + k]}'");
                    return null;
                }
            }
            double low = kind == "between" ? nums[0] : 0, high = kind switch { "between" => nums[1], "near" => nums[0], _ => 0 };
            if (kind == "between" && low > high)
                ctx.Error(argNode, $"{path}.{kind}", $"low ({low}) is above high ({high})");
            if (kind == "near" && high < 0)
                ctx.Error(argNode, $"{path}.{kind}", "the tolerance must be ≥ 0");
            return new ShapePredicate(kind, ops, low, high, claim);
        });
        var list = shape.Where(x => x is not null).Select(x => x!).ToList();
        if (shape.Count == 0)
            ctx.Error(Mark.Empty, "shape", "a case states its expected shape: at least one predicate (greater, positive, negative, between, near)");
        // The shape must be a faithful reading of the published numbers: check it on them (when the
        // table and the shape themselves are well formed).
        if (ctx.Diagnostics.Count == beforeTable)
        {
            for (int i = 0; i < list.Count; i++)
            {
                var (j, vals) = list[i].Judge(c => table.Value(c.Row, c.Column) is double v ? Interval.Exact(v) : null);
                if (j == Judgement.NoValue && !table.Qualitative)
                    ctx.Error(Node(root, "shape", i), $"shape[{i}]", $"'{list[i]}' needs a cell the published table leaves empty");
                else if (j == Judgement.Fails)
                    ctx.Error(Node(root, "shape", i), $"shape[{i}]", $"'{list[i]}' does not hold on the published numbers ({string.Join(", ", vals.Select(v => v.Mean.ToString("0.####", CultureInfo.InvariantCulture)))}): the stated shape must describe the source");
            }
        }
        return list;
    }

    private static CaseExpression ReadExpression(MapReader r, YamlMappingNode root, ReadContext ctx, PublishedTable table)
    {
        var e = r.Section("expression");
        var scenario = e.Require("scenario", Kinds.Text, "");
        var metric = e.Require("metric", Kinds.Text, "");
        var runs = e.Require("runs", Kinds.Int(2, 100_000), 2);
        var q = e.Section("quick");
        var quickRuns = q.Get("runs", Kinds.Int(2, 100_000), 3);
        var quickSet = q.ScalarList("set", Kinds.Text);
        CheckOverrides(quickSet, Node(root, "expression", "quick", "set"), "expression.quick.set", ctx);
        q.Done();
        var builtin = e.Get("builtin", Kinds.Choice("riel-2011"), "");
        var rows = ReadAxis(e, root, ctx, "rows", table.Rows.Select(x => x.Name).ToList());
        var columns = ReadAxis(e, root, ctx, "columns", table.Columns);
        var perRow = new Dictionary<string, RowTarget>(StringComparer.Ordinal);
        var pr = e.Section("per_row");
        foreach (var n in pr.PresentKeys.ToList())
        {
            var t = pr.Section(n);
            if (table.Rows.All(x => x.Name != n))
                ctx.Error(Node(root, "expression", "per_row"), $"expression.per_row.{n}", $"'{n}' is not a row of the published table{Hint(n, table.Rows.Select(x => x.Name))}");
            bool? lower = t.Has("better") ? t.Get("better", Kinds.Choice("higher", "lower"), "higher") == "lower" : null;
            perRow[n] = new RowTarget(t.Get("scenario", Kinds.Text, scenario), t.Get("metric", Kinds.Text, metric), lower);
            t.Done();
        }
        pr.Done();
        RelativeCells? relative = null;
        var rel = e.Section("relative");
        if (rel.IsPresent)
        {
            var baseSet = rel.ScalarList("base", Kinds.Text);
            CheckOverrides(baseSet, Node(root, "expression", "relative", "base"), "expression.relative.base", ctx);
            if (baseSet.Count == 0)
                ctx.Error(Node(root, "expression", "relative"), "expression.relative.base", "a relative case needs the overrides that turn a cell into its base (e.g. [kvm.ple_handler=directed-yield-2011])");
            bool lower = rel.Require("better", Kinds.Choice("higher", "lower"), "higher") == "lower";
            relative = new RelativeCells(baseSet, lower);
            rel.Done();
        }
        e.Done();
        return new CaseExpression(scenario, metric, runs, quickRuns, quickSet, rows, columns, builtin) { PerRow = perRow, Relative = relative };
    }

    private static List<(string, IReadOnlyList<string>)> ReadAxis(MapReader e, YamlMappingNode root, ReadContext ctx, string key, IReadOnlyList<string> names)
    {
        var section = e.Section(key);
        var axis = new List<(string, IReadOnlyList<string>)>();
        if (!section.IsPresent)
        {
            ctx.Error(Node(root, "expression"), $"expression.{key}", $"required key '{key}' is missing: a mapping from each published {key[..^1]} ({string.Join(", ", names)}) to its overrides");
            return axis;
        }
        foreach (var n in section.PresentKeys.ToList())
        {
            var set = section.ScalarList(n, Kinds.Text);
            CheckOverrides(set, Node(root, "expression", key, n), $"expression.{key}.{n}", ctx);
            if (!names.Contains(n))
                ctx.Error(Node(root, "expression", key), $"expression.{key}.{n}", $"'{n}' is not a {key[..^1]} of the published table{Hint(n, names)} ({string.Join(", ", names)})");
            axis.Add((n, set));
        }
        foreach (var n in names.Where(n => axis.All(a => a.Item1 != n)))
            ctx.Error(Node(root, "expression", key), $"expression.{key}", $"the published {key[..^1]} '{n}' has no overrides here (write '{n}: []' when it needs none)");
        section.Done();
        return axis;
    }

    private static void CheckOverrides(IReadOnlyList<string> set, YamlNode? node, string path, ReadContext ctx)
    {
        foreach (var o in set)
        {
            try
            {
                // The path's shape is checked here, not first when a cell is run; [*] (every item of a
                // list, expanded against each scenario when it is loaded) has the shape of an index.
                if (Override.SplitPath(Override.Parse(o).Path.Replace("[*]", "[0]", StringComparison.Ordinal)) is null)
                    ctx.Error(node, path, $"'{YamlGuard.Clip(o)}': the left side is not a key path (expected e.g. kvm.ple_window or vms[1].workload.loops)");
            }
            catch (FormatException ex)
            {
                ctx.Error(node, path, ex.Message);
            }
        }
    }

    private static string Hint(string word, IEnumerable<string> names) =>
        Suggestions.Closest(word, names) is { } g ? $"; did you mean '{g}'?" : "";

    /// <summary>The node at a path of keys (string) and list indexes (int), or null.</summary>
    private static YamlNode? Node(YamlNode root, params object[] path)
    {
        YamlNode? n = root;
        foreach (var p in path)
        {
            n = (n, p) switch
            {
                (YamlMappingNode m, string k) => m.Children.TryGetValue(new YamlScalarNode(k), out var v) ? v : null,
                (YamlSequenceNode s, int i) => i < s.Children.Count ? s.Children[i] : null,
                _ => null,
            };
            if (n is null)
                return null;
        }
        return n;
    }
}

using System.Globalization;
using PleSim.Engine;
using YamlDotNet.RepresentationModel;

namespace PleSim.Experiments.Scenarios;

/// <summary>How a reproduced cell's value relates to the published one it is compared with.</summary>
public static class Basis
{
    /// <summary>A value of the model was fitted to this cell.</summary>
    public const string Calibrated = "calibrated";

    /// <summary>A modelling choice was made after this cell's earlier result had been seen.</summary>
    public const string Informed = "informed";

    /// <summary>Nothing in the model was chosen with this cell in view.</summary>
    public const string Predicted = "predicted";

    public static readonly string[] All = [Calibrated, Informed, Predicted];
}

/// <summary>
/// One rule of a scenario's <c>reproduce.basis</c> list: the cells whose grid keys take the given
/// values (every listed key must match; an empty selector matches every cell) have this basis,
/// for the stated reason, recorded in <see cref="Record"/>. The first matching rule wins.
/// </summary>
public sealed record BasisRule(
    IReadOnlyList<KeyValuePair<string, IReadOnlyList<string>>> Cells,
    string Basis,
    string Note,
    string Record,
    string Origin)
{
    /// <summary>True when every selector key of this rule takes one of its listed values in <paramref name="cellKeys"/> (full key path → value).</summary>
    public bool Matches(IReadOnlyDictionary<string, string> cellKeys) =>
        Cells.All(kv => cellKeys.TryGetValue(kv.Key, out var v) && kv.Value.Contains(v));
}

/// <summary>How an unknown's values are given: a set to pick from, or a numeric range.</summary>
public enum UnknownKind
{
    Set,
    IntegerRange,
    NumberRange,
    DurationRange,
}

/// <summary>
/// One set-up value the reproduced publication does not state: the scenario key(s) it sets (all
/// to the same value), its possible values (a set, or a range [lo, hi] of integers, numbers or
/// durations), and where the values come from. Read from the scenario's <c>unknowns:</c> section.
/// </summary>
public sealed record Unknown(
    string Name,
    IReadOnlyList<string> Keys,
    UnknownKind Kind,
    IReadOnlyList<string> Values,
    double Lo,
    double Hi,
    string Source,
    string Origin)
{
    /// <summary>
    /// The value at unit coordinate <paramref name="x"/> ∈ [0, 1]: a set of n values is cut into n
    /// equal slices of [0, 1] (each value equally likely under uniform sampling), or, for points of
    /// a level grid (<paramref name="grid"/>), spread evenly over it (value round(x·(n−1)), so that
    /// a grid step moves between neighbouring values and the first and last value are both reached);
    /// a range maps linearly (integers and durations rounded to the nearest unit).
    /// </summary>
    public string ValueAt(double x, bool grid = false)
    {
        x = Math.Clamp(x, 0, 1);
        switch (Kind)
        {
            case UnknownKind.Set when grid:
                return Values[(int)Math.Round(x * (Values.Count - 1), MidpointRounding.AwayFromZero)];
            case UnknownKind.Set:
                return Values[Math.Min((int)Math.Floor(x * Values.Count), Values.Count - 1)];
            case UnknownKind.IntegerRange:
                return ((long)Math.Round(Lo + (x * (Hi - Lo)), MidpointRounding.AwayFromZero)).ToString(CultureInfo.InvariantCulture);
            case UnknownKind.DurationRange:
                return ((long)Math.Round(Lo + (x * (Hi - Lo)), MidpointRounding.AwayFromZero)).ToString(CultureInfo.InvariantCulture) + "ns";
            default:
                return (Lo + (x * (Hi - Lo))).ToString("0.######", CultureInfo.InvariantCulture);
        }
    }

    /// <summary>The values or range as written, for reports.</summary>
    public string Describe() => Kind switch
    {
        UnknownKind.Set => "{" + string.Join(", ", Values) + "}",
        UnknownKind.DurationRange => $"[{new SimDuration((long)Lo)}, {new SimDuration((long)Hi)}]",
        _ => $"[{Lo.ToString("0.######", CultureInfo.InvariantCulture)}, {Hi.ToString("0.######", CultureInfo.InvariantCulture)}]",
    };

    /// <summary>
    /// The values that bound what this unknown can set (every value of a set; both ends of a range),
    /// each to be checked by loading the scenario with it.
    /// </summary>
    public IReadOnlyList<string> ExtremeValues() => Kind == UnknownKind.Set ? Values : [ValueAt(0), ValueAt(1)];
}

/// <summary>Readers of the sections that describe an experiment around a scenario (removed from the tree before binding).</summary>
internal static class ExperimentSections
{
    /// <summary>
    /// <code>
    /// reproduce:
    ///   basis:
    ///     - cells: {vms[1].workload.loops: [0]}
    ///       basis: calibrated          # calibrated | informed | predicted
    ///       note: "stage C was fitted on these cells"
    ///       record: docs/calibration.md
    /// </code>
    /// </summary>
    public static IReadOnlyList<BasisRule> ReadReproduce(YamlNode node, ReadContext ctx)
    {
        var r = new MapReader(node, "reproduce", ctx);
        var rules = r.List("basis", (item, i) =>
        {
            var path = $"reproduce.basis[{i}]";
            var basis = item.Require("basis", Kinds.Choice(Basis.All), Basis.Predicted);
            var note = item.Require("note", Kinds.Text, "");
            var record = item.Get("record", Kinds.Text, "");
            if (basis != Basis.Predicted && record.Length == 0)
                ctx.Error(Position(node, i), path, $"a '{basis}' cell needs 'record': the document that says what was fitted or chosen (e.g. docs/calibration.md)");
            var cells = new List<KeyValuePair<string, IReadOnlyList<string>>>();
            item.KnowAll(["cells"]);
            if (Child(item, "cells") is { } sel)
            {
                if (sel is not YamlMappingNode m)
                {
                    ctx.Error(sel, path + ".cells", $"expected a mapping of grid key paths to lists of values, got {MapReader.Describe(sel)}");
                }
                else
                {
                    foreach (var (k, v) in m.Children)
                    {
                        var key = ((YamlScalarNode)k).Value ?? "";
                        if (Override.SplitPath(key) is null)
                        {
                            ctx.Error(k, path + ".cells", $"'{key}' is not a key path (expected e.g. vms[1].workload.loops)");
                            continue;
                        }
                        var values = (v is YamlSequenceNode s ? s.Children : [v]).Select(Sweeps.SweepSpec.FlowText).ToList();
                        cells.Add(new(key, values));
                    }
                }
            }
            var at = Position(node, i);
            return new BasisRule(cells, basis, note, record, $"{ctx.File}:{at.Line}:{at.Column} ({path})");
        });
        r.Done();
        return rules;
    }

    /// <summary>
    /// <code>
    /// unknowns:
    ///   - name: guest HZ                      # optional; default: the first key
    ///     keys: [vms[0].guest.hz, vms[1].guest.hz]   # or key: one.path
    ///     values: [100, 250, 1000]            # a set ... or range: [lo, hi] (integers, numbers or durations)
    ///     source: "RHEL 5 guests ran 2.6.18 (HZ 1000, or 100/250 with divider=); RHEL 6 2.6.32 (1000)"
    /// </code>
    /// </summary>
    public static IReadOnlyList<Unknown> ReadUnknowns(YamlNode node, ReadContext ctx)
    {
        if (node is not YamlSequenceNode)
        {
            ctx.Error(node, "unknowns", $"expected a list of unknowns ({{key, values or range, source}}), got {MapReader.Describe(node)}");
            return [];
        }
        var root = new YamlMappingNode(new YamlScalarNode("unknowns"), node);
        var r = new MapReader(root, "", ctx);
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        var list = r.List("unknowns", (item, i) =>
        {
            var path = $"unknowns[{i}]";
            var itemNode = ((YamlSequenceNode)node).Children[i];
            var at = itemNode.Start;
            var origin = $"{ctx.File}:{at.Line}:{at.Column} ({path})";
            var keys = new List<string>();
            bool hasKey = item.Has("key"), hasKeys = item.Has("keys");
            if (hasKey && hasKeys)
                ctx.Error(itemNode, path, "give either 'key' (one path) or 'keys' (several set to the same value), not both");
            if (hasKey)
                keys.Add(item.Get("key", Kinds.Text, ""));
            else if (hasKeys)
                keys.AddRange(item.ScalarList("keys", Kinds.Text));
            else
                ctx.Error(itemNode, path, "required key 'key' is missing: expected the scenario key path this unknown sets (or 'keys' for several)");
            foreach (var k in keys)
            {
                // [*] (every item of the list in each scenario the unknown is applied to) is allowed, as in --set.
                if (Override.SplitPath(k.Replace("[*]", "[0]", StringComparison.Ordinal)) is null)
                    ctx.Error(itemNode, path, $"'{k}' is not a key path (expected e.g. host.cpus, vms[0].guest.hz or vms[*].guest.hz)");
                else if (seen.FirstOrDefault(e => Override.PathsOverlap(e.Key, k)) is { Key: not null } other)
                    ctx.Error(itemNode, path, $"'{k}' is already set by {other.Value}{(other.Key == k ? "" : $" ('{other.Key}')")}: an unknown key may appear once");
                else
                    seen[k] = path;
            }
            var name = item.Get("name", Kinds.Text, keys.FirstOrDefault() ?? path);
            var source = item.Require("source", Kinds.Text, "");
            bool hasValues = item.Has("values"), hasRange = item.Has("range");
            var kind = UnknownKind.Set;
            var values = new List<string>();
            double lo = 0, hi = 0;
            if (hasValues == hasRange)
            {
                ctx.Error(itemNode, path, hasValues
                    ? "give either 'values' (a set) or 'range' ([lo, hi]), not both"
                    : "required key 'values' or 'range' is missing: expected a set of values like [100, 250, 1000] or a range like [0.06, 0.24] or [1us, 3us]");
            }
            else if (hasValues)
            {
                var v = Child(item, "values")!;
                var items = v is YamlSequenceNode s ? s.Children.ToList() : [v];
                values.AddRange(items.Select(Sweeps.SweepSpec.FlowText));
                if (values.Count < 2)
                    ctx.Error(v, path + ".values", $"expected at least two values (an unknown with one value is a fixed setting), got {values.Count}");
                else if (values.Distinct(StringComparer.Ordinal).Count() != values.Count)
                    ctx.Error(v, path + ".values", "the values repeat; list each once");
            }
            else
            {
                var v = Child(item, "range")!;
                (kind, lo, hi) = ReadRange(v, path + ".range", ctx);
            }
            return new Unknown(name, keys, kind, values, lo, hi, source, origin);
        });
        r.Done();
        return list;
    }

    private static (UnknownKind, double, double) ReadRange(YamlNode v, string path, ReadContext ctx)
    {
        const string expected = "a range [lo, hi] with lo < hi: two integers, two numbers, or two durations with units";
        if (v is not YamlSequenceNode s || s.Children.Count != 2 || s.Children.Any(c => c is not YamlScalarNode { Value: not null }))
        {
            ctx.Error(v, path, $"expected {expected}, got {MapReader.Describe(v)}");
            return (UnknownKind.NumberRange, 0, 0);
        }
        var a = ((YamlScalarNode)s.Children[0]).Value!;
        var b = ((YamlScalarNode)s.Children[1]).Value!;
        UnknownKind kind;
        double lo, hi;
        if (long.TryParse(a, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var la)
            && long.TryParse(b, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var lb))
        {
            (kind, lo, hi) = (UnknownKind.IntegerRange, la, lb);
        }
        else if (double.TryParse(a, NumberStyles.Float, CultureInfo.InvariantCulture, out var da)
            && double.TryParse(b, NumberStyles.Float, CultureInfo.InvariantCulture, out var db) && double.IsFinite(da) && double.IsFinite(db))
        {
            (kind, lo, hi) = (UnknownKind.NumberRange, da, db);
        }
        else if (SimDuration.TryParse(a, out var ta, out _) && SimDuration.TryParse(b, out var tb, out _))
        {
            (kind, lo, hi) = (UnknownKind.DurationRange, ta.Ns, tb.Ns);
        }
        else
        {
            ctx.Error(v, path, $"expected {expected}, got [{a}, {b}]");
            return (UnknownKind.NumberRange, 0, 0);
        }
        if (!(lo < hi))
        {
            ctx.Error(v, path, $"expected {expected}; {a} is not below {b}");
            return (kind, lo, lo + 1);
        }
        return (kind, lo, hi);
    }

    private static YamlNode? Child(MapReader r, string key) =>
        r.RawNode is YamlMappingNode m && m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

    private static YamlDotNet.Core.Mark Position(YamlNode section, int i) =>
        section is YamlMappingNode m && m.Children.TryGetValue(new YamlScalarNode("basis"), out var b) && b is YamlSequenceNode s && i < s.Children.Count
            ? s.Children[i].Start
            : section.Start;
}

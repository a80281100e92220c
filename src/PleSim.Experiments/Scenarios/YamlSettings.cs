using System.Globalization;
using PleSim.Engine;
using PleSim.Host;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PleSim.Experiments.Scenarios;

/// <summary>How to turn a YAML scalar into a typed value, and how to describe what was expected.</summary>
public sealed class ValueKind<T>
{
    private readonly Func<string, (bool Ok, T Value, string? Problem)> _parse;
    private readonly Func<T, string>? _format;

    /// <param name="format">How a value is written back as scenario text (<c>plesim show</c>), when the
    /// generic form (<see cref="EffectiveSetting.Format"/>: lists as <c>[a, b]</c>) is not what
    /// <paramref name="parse"/> reads.</param>
    public ValueKind(string expected, Func<string, (bool Ok, T Value, string? Problem)> parse, Func<T, string>? format = null)
    {
        Expected = expected;
        _parse = parse;
        _format = format;
    }

    /// <summary>What a valid value looks like, for error messages ("an integer in [0, 65536]").</summary>
    public string Expected { get; }

    public (bool Ok, T Value, string? Problem) Parse(string text) => _parse(text);

    /// <summary><paramref name="value"/> as scenario text that <see cref="Parse"/> reads back.</summary>
    public string Format(T value) => _format is not null && value is not null ? _format(value) : EffectiveSetting.Format(value);
}

/// <summary>The value kinds scenario files use.</summary>
public static class Kinds
{
    public static ValueKind<long> Integer(long min = long.MinValue, long max = long.MaxValue)
    {
        string expected = RangeText("an integer", min, max);
        return new ValueKind<long>(expected, text =>
        {
            var t = text.Replace("_", "", StringComparison.Ordinal);
            if (!long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
                return (false, 0, $"expected {expected}, got '{YamlGuard.Clip(text)}'");
            if (v < min || v > max)
                return (false, v, $"{v} is out of range: expected {expected}");
            return (true, v, null);
        });
    }

    public static ValueKind<int> Int(int min = int.MinValue, int max = int.MaxValue)
    {
        var inner = Integer(min, max);
        return new ValueKind<int>(inner.Expected, text =>
        {
            var (ok, v, p) = inner.Parse(text);
            return (ok, (int)v, p);
        });
    }

    public static ValueKind<double> Number(double min = double.NegativeInfinity, double max = double.PositiveInfinity)
    {
        string expected = min == double.NegativeInfinity && max == double.PositiveInfinity
            ? "a number"
            : $"a number in [{Fmt(min)}, {Fmt(max)}]";
        return new ValueKind<double>(expected, text =>
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || double.IsNaN(v))
                return (false, 0, $"expected {expected}, got '{YamlGuard.Clip(text)}'");
            if (v < min || v > max)
                return (false, v, $"{Fmt(v)} is out of range: expected {expected}");
            return (true, v, null);
        });
    }

    public static readonly ValueKind<bool> Bool = new("true or false", text => text switch
    {
        "true" or "True" or "TRUE" or "yes" or "on" => (true, true, null),
        "false" or "False" or "FALSE" or "no" or "off" => (true, false, null),
        _ => (false, false, $"expected true or false, got '{YamlGuard.Clip(text)}'"),
    });

    public static readonly ValueKind<string> Text = new("a string", text => (true, text, null));

    public static readonly ValueKind<ulong> Seed = new("a non-negative integer seed", text =>
        ulong.TryParse(text.Replace("_", "", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out var v)
            ? (true, v, null)
            : (false, 0UL, $"expected a non-negative integer seed, got '{YamlGuard.Clip(text)}'"));

    /// <summary>A duration with a unit; a bare integer is accepted as nanoseconds when <paramref name="bareIsNs"/> (keys named <c>…_ns</c>).</summary>
    public static ValueKind<SimDuration> Duration(SimDuration min, SimDuration max, bool bareIsNs = false)
    {
        string expected = $"a duration with a unit ({TimeUnits.Accepted}) in [{min}, {max}]" + (bareIsNs ? ", or an integer number of ns" : "");
        return new ValueKind<SimDuration>(expected, text =>
        {
            SimDuration d;
            if (bareIsNs && long.TryParse(text.Replace("_", "", StringComparison.Ordinal), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ns))
            {
                d = new SimDuration(ns);
            }
            else if (!SimDuration.TryParse(text, out d, out var error))
            {
                return (false, default, error);
            }
            if (d < min || d > max)
                return (false, d, $"{d} is out of range: expected {expected}");
            return (true, d, null);
        });
    }

    /// <summary>One of a fixed set of names; a near miss gets a suggestion.</summary>
    public static ValueKind<string> Choice(params string[] choices)
    {
        string expected = "one of " + string.Join(", ", choices);
        return new ValueKind<string>(expected, text =>
        {
            if (Array.IndexOf(choices, text) >= 0)
                return (true, text, null);
            var guess = Suggestions.Closest(text, choices);
            var hint = guess is null ? "." : $"; did you mean '{guess}'?";
            return (false, text, $"'{YamlGuard.Clip(text)}' is not valid{hint} Valid choices: {string.Join(", ", choices)}");
        });
    }

    /// <summary>A CPU list in the kernel's cpulist format: <c>0-3</c>, <c>0,2,4-5</c>, or <c>all</c>.</summary>
    public static ValueKind<CpuSet> CpuList(int cpuCount) =>
        new($"a CPU list like 0-3 or 0,2 with CPUs below {cpuCount}, or 'all'", text =>
        {
            if (!CpuSet.TryParse(text, cpuCount, out var set, out var problem))
                return (false, set, problem);
            return (true, set, null);
        });

    private static string RangeText(string what, long min, long max) =>
        (min, max) switch
        {
            (long.MinValue, long.MaxValue) => what,
            (_, long.MaxValue) => $"{what} ≥ {min}",
            (long.MinValue, _) => $"{what} ≤ {max}",
            _ => $"{what} in [{min}, {max}]",
        };

    private static string Fmt(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>Shared state of one file being read: its name, the problems found, and parameter provenance.</summary>
public sealed class ReadContext
{
    public ReadContext(string file) => File = file;

    public string File { get; }
    public List<ScenarioDiagnostic> Diagnostics { get; } = [];

    /// <summary>Key path → the source the file gives for that value (<c>{value: …, source: …}</c>).</summary>
    public SortedDictionary<string, string> Provenance { get; } = new(StringComparer.Ordinal);

    /// <summary>Every key path the binder asked for, present in the file or not (the schema of this file's kind).</summary>
    public HashSet<string> KnownPaths { get; } = new(StringComparer.Ordinal);

    /// <summary>Key path → the value the binder settled on (from the file or its default), in the order it was read (<c>plesim show</c>).</summary>
    public List<EffectiveSetting> Effective { get; } = [];

    /// <summary>Leaf key path → what a valid value looks like (the schema's descriptions).</summary>
    public Dictionary<string, string> Expected { get; } = new(StringComparer.Ordinal);

    private readonly Dictionary<string, int> _effectiveIndex = new(StringComparer.Ordinal);

    /// <summary>Records the value bound to <paramref name="path"/>; a later read of the same path replaces the earlier one.</summary>
    public void RecordEffective(string path, object? value, bool fromFile) => RecordEffectiveText(path, EffectiveSetting.Format(value), fromFile);

    /// <summary>Records the value bound to <paramref name="path"/>, already written as scenario text.</summary>
    public void RecordEffectiveText(string path, string text, bool fromFile)
    {
        var e = new EffectiveSetting(path, text, fromFile);
        if (_effectiveIndex.TryGetValue(path, out var i))
        {
            Effective[i] = e;
        }
        else
        {
            _effectiveIndex[path] = Effective.Count;
            Effective.Add(e);
        }
    }

    public void Error(YamlNode? node, string path, string message)
    {
        var mark = node?.Start ?? Mark.Empty;
        Diagnostics.Add(new ScenarioDiagnostic(File, (int)mark.Line, (int)mark.Column, path, message));
    }

    public void Error(Mark mark, string path, string message) =>
        Diagnostics.Add(new ScenarioDiagnostic(File, (int)mark.Line, (int)mark.Column, path, message));
}

/// <summary>One bound scenario value: its key path, its value as text, and whether the file (or an override) gave it.</summary>
public sealed record EffectiveSetting(string Path, string Value, bool FromFile)
{
    /// <summary>A bound value as scenario-file text (invariant culture; durations with their unit; lists as <c>[a, b]</c>).</summary>
    public static string Format(object? value) => value switch
    {
        null => "null",
        bool b => b ? "true" : "false",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        string t => t,
        SimDuration sd => sd.ToString(),
        System.Collections.IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(Format)) + "]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}

/// <summary>
/// Reads one YAML mapping into typed values. Every key asked for becomes a known key; <see cref="Done"/>
/// reports the keys nobody asked for, with the closest known key. Problems are collected in the
/// <see cref="ReadContext"/> and reading goes on with defaults, so one pass reports them all.
/// A leaf may be written <c>key: value</c> or <c>key: {value: v, source: "where it comes from"}</c>.
/// </summary>
public sealed class MapReader
{
    private readonly YamlMappingNode? _node;
    private readonly Mark _mark;
    private readonly ReadContext _ctx;
    private readonly List<string> _known = [];
    private readonly Dictionary<string, YamlNode> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, YamlNode> _keyNodes = new(StringComparer.Ordinal);
    private readonly HashSet<string> _failed = new(StringComparer.Ordinal);

    public MapReader(YamlNode? node, string path, ReadContext ctx, Mark? parentMark = null)
    {
        Path = path;
        _ctx = ctx;
        _mark = node?.Start ?? parentMark ?? Mark.Empty;
        if (node is YamlMappingNode map)
        {
            _node = map;
            foreach (var (k, v) in map.Children)
            {
                if (k is YamlScalarNode s && s.Value is not null)
                {
                    _entries[s.Value] = v;
                    _keyNodes[s.Value] = k;
                }
                else
                {
                    ctx.Error(k, path, "keys must be plain names");
                }
            }
        }
        else if (node is not null && !(node is YamlScalarNode { Value: null or "" or "~" or "null" }))
        {
            ctx.Error(node, path, $"expected a mapping of keys to values, got {Describe(node)}");
        }
    }

    /// <summary>The key path of this mapping (<c>kvm</c>, <c>vms[1].workload</c>).</summary>
    public string Path { get; }

    public ReadContext Context => _ctx;

    public bool IsPresent => _node is not null;

    /// <summary>The mapping this reader reads (null when absent).</summary>
    public YamlMappingNode? RawNode => _node;

    /// <summary>True when the file sets <paramref name="key"/> (and marks it as known).</summary>
    public bool Has(string key)
    {
        Know(key);
        return _entries.ContainsKey(key);
    }

    /// <summary>The keys present in the file, in file order.</summary>
    public IEnumerable<string> PresentKeys => _node is null
        ? []
        : _node.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value!).Where(k => k is not null);

    /// <summary>The value of an optional key: <paramref name="defaultValue"/> when absent, <paramref name="fallback"/> (default: the default) when invalid.</summary>
    public T Get<T>(string key, ValueKind<T> kind, T defaultValue, T? fallback = default)
    {
        Know(key);
        _ctx.Expected[Join(key)] = kind.Expected;
        if (!_entries.TryGetValue(key, out var node))
        {
            _ctx.RecordEffectiveText(Join(key), kind.Format(defaultValue), fromFile: false);
            return defaultValue;
        }
        var value = ReadLeaf(key, node, kind, fallback ?? defaultValue);
        _ctx.RecordEffectiveText(Join(key), kind.Format(value), fromFile: true);
        return value;
    }

    public T Require<T>(string key, ValueKind<T> kind, T fallback)
    {
        Know(key);
        _ctx.Expected[Join(key)] = kind.Expected;
        if (!_entries.TryGetValue(key, out var node))
        {
            _ctx.Error(_mark, Join(key), $"required key '{key}' is missing: expected {kind.Expected}");
            _failed.Add(key);
            return fallback;
        }
        var value = ReadLeaf(key, node, kind, fallback);
        _ctx.RecordEffectiveText(Join(key), kind.Format(value), fromFile: true);
        return value;
    }

    /// <summary>A nested mapping; an absent key gives an empty reader (every value takes its default).</summary>
    public MapReader Section(string key)
    {
        Know(key);
        _entries.TryGetValue(key, out var node);
        return new MapReader(node, Join(key), _ctx, _keyNodes.TryGetValue(key, out var k) ? k.Start : _mark);
    }

    /// <summary>A sequence of mappings; each item is read by <paramref name="readItem"/>.</summary>
    public IReadOnlyList<TItem> List<TItem>(string key, Func<MapReader, int, TItem> readItem)
    {
        Know(key);
        if (!_entries.TryGetValue(key, out var node) || IsNull(node))
            return [];
        if (node is not YamlSequenceNode seq)
        {
            _ctx.Error(node, Join(key), $"expected a list, got {Describe(node)}");
            return [];
        }
        var items = new List<TItem>(seq.Children.Count);
        for (int i = 0; i < seq.Children.Count; i++)
        {
            var r = new MapReader(seq.Children[i], $"{Join(key)}[{i}]", _ctx);
            items.Add(readItem(r, i));
            r.Done();
        }
        return items;
    }

    /// <summary>A sequence of scalars (or a single scalar, taken as a one-item list).</summary>
    public IReadOnlyList<T> ScalarList<T>(string key, ValueKind<T> kind)
    {
        Know(key);
        _ctx.Expected[Join(key)] = "a list of " + kind.Expected;
        if (!_entries.TryGetValue(key, out var node) || IsNull(node))
            return [];
        var nodes = node is YamlSequenceNode seq ? seq.Children : (IList<YamlNode>)[node];
        var items = new List<T>();
        for (int i = 0; i < nodes.Count; i++)
        {
            var path = $"{Join(key)}[{i}]";
            if (nodes[i] is not YamlScalarNode s || s.Value is null)
            {
                _ctx.Error(nodes[i], path, $"expected {kind.Expected}, got {Describe(nodes[i])}");
                continue;
            }
            var (ok, v, problem) = kind.Parse(s.Value);
            if (!ok)
                _ctx.Error(s, path, problem ?? $"expected {kind.Expected}");
            else
                items.Add(v);
        }
        _ctx.RecordEffective(Join(key), items, fromFile: true);
        return items;
    }

    /// <summary>A free-form mapping of names to values of one kind (e.g. scheduler feature flags).</summary>
    public IReadOnlyDictionary<string, T> Map<T>(string key, ValueKind<T> kind, IReadOnlyCollection<string>? validKeys = null)
    {
        var section = Section(key);
        var result = new Dictionary<string, T>(StringComparer.Ordinal);
        if (!section.IsPresent)
            return result;
        foreach (var name in section.PresentKeys.ToList())
        {
            if (validKeys is not null && !validKeys.Contains(name))
                continue; // reported by Done() with a suggestion
            result[name] = section.Get(name, kind, default!);
        }
        if (validKeys is not null)
            section.KnowAll(validKeys);
        section.Done();
        return result;
    }

    /// <summary>Reports every key in the file that was never asked for.</summary>
    public void Done()
    {
        if (_node is null)
            return;
        foreach (var (k, _) in _node.Children)
        {
            if (k is not YamlScalarNode s || s.Value is null || _known.Contains(s.Value))
                continue;
            var guess = Suggestions.Closest(s.Value, _known);
            var hint = guess is null ? "" : $"; did you mean '{guess}'?";
            var valid = _known.Count == 0 ? "this section takes no keys" : "valid keys here: " + string.Join(", ", _known);
            _ctx.Diagnostics.Add(new ScenarioDiagnostic(_ctx.File, (int)s.Start.Line, (int)s.Start.Column, Join(s.Value),
                $"unknown key '{YamlGuard.Clip(s.Value)}'{hint} ({valid})") { UnknownKey = true });
        }
    }

    public void KnowAll(IEnumerable<string> keys)
    {
        foreach (var k in keys)
            Know(k);
    }

    private T ReadLeaf<T>(string key, YamlNode node, ValueKind<T> kind, T fallback)
    {
        var path = Join(key);
        // Provenance form: {value: ..., source: "..."}
        if (node is YamlMappingNode m && m.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == "value"))
        {
            var inner = new MapReader(m, path, _ctx);
            inner.Know("value");
            inner.Know("source");
            // Read directly, not with Get: the source is the value's annotation, not a setting of its own (plesim show).
            var source = inner._entries.TryGetValue("source", out var sourceNode) ? inner.ReadLeaf("source", sourceNode, Kinds.Text, "") : "";
            if (source.Length > 0)
                _ctx.Provenance[path] = source;
            inner.Done();
            node = m.Children[new YamlScalarNode("value")];
        }
        if (node is not YamlScalarNode scalar || scalar.Value is null || IsNull(node))
        {
            _ctx.Error(node, path, $"expected {kind.Expected}, got {Describe(node)}");
            _failed.Add(key);
            return fallback;
        }
        var (ok, value, problem) = kind.Parse(scalar.Value);
        if (!ok)
        {
            _ctx.Error(scalar, path, problem ?? $"expected {kind.Expected}");
            _failed.Add(key);
            return fallback;
        }
        return value;
    }

    /// <summary>
    /// Reports a problem that involves several values (a cross-field check), located at the value of
    /// <paramref name="key"/>, or at this mapping when the file does not set it.
    /// </summary>
    public void Error(string key, string message)
    {
        var mark = _entries.TryGetValue(key, out var node) ? node.Start : _mark;
        _ctx.Error(mark, Join(key), message);
    }

    /// <summary>True when the value of <paramref name="key"/> was invalid (checks that depend on it should be skipped).</summary>
    public bool Failed(string key) => _failed.Contains(key);

    private void Know(string key)
    {
        if (!_known.Contains(key))
        {
            _known.Add(key);
            _ctx.KnownPaths.Add(Join(key));
        }
    }

    private string Join(string key) => string.IsNullOrEmpty(Path) ? key : $"{Path}.{key}";

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" };

    internal static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode s when IsNull(s) => "nothing",
        YamlScalarNode s => $"'{YamlGuard.Clip(s.Value)}'",
        _ => "an unsupported YAML node",
    };
}

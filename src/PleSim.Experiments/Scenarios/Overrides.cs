using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PleSim.Experiments.Scenarios;

/// <summary>
/// One <c>key.path=value</c> assignment from the command line (<c>--set</c>) or a sweep point.
/// Paths use dots and list indexes: <c>kvm.ple_window</c>, <c>vms[1].workload.loops</c>. A path whose
/// first key is not in the file may be the unique tail of a path that is (<c>ple_window</c> for
/// <c>kvm.ple_window</c>).
/// </summary>
public sealed partial record Override(string Path, string Value)
{
    /// <summary>Where the assignment came from, for error messages (default: <c>--set path=value</c>).</summary>
    public string Origin { get; init; } = "";

    /// <summary>The provenance recorded for the overridden value.</summary>
    public string Source { get; init; } = "";

    public string OriginText => Origin.Length > 0 ? Origin : "--set " + this;

    public static Override Parse(string assignment)
    {
        int eq = assignment.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
            throw new FormatException($"'{assignment}' is not key=value (e.g. kvm.ple_window=8192)");
        return new Override(assignment[..eq].Trim(), assignment[(eq + 1)..].Trim());
    }

    public override string ToString() => $"{Path}={Value}";

    [GeneratedRegex(@"^(?<key>[A-Za-z_][A-Za-z0-9_\-]*)(\[(?<index>\d+)\])*$")]
    private static partial Regex SegmentPattern();

    /// <summary>Splits a path into (key, indexes) segments, or returns null when malformed.</summary>
    public static List<(string Key, List<int> Indexes)>? SplitPath(string path)
    {
        var result = new List<(string, List<int>)>();
        foreach (var seg in path.Split('.'))
        {
            var m = SegmentPattern().Match(seg);
            if (!m.Success)
                return null;
            var idx = new List<int>();
            foreach (Capture c in m.Groups["index"].Captures)
            {
                // An index too large for an int cannot name an item of any list a file can hold.
                if (!int.TryParse(c.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var i))
                    return null;
                idx.Add(i);
            }
            result.Add((m.Groups["key"].Value, idx));
        }
        return result;
    }

    /// <summary>
    /// This assignment once for every item of a list its path names with <c>[*]</c>
    /// (<c>vms[*].cgroup=own</c>: each VM of the file, as <c>vms[0].cgroup=own</c>, <c>vms[1].cgroup=own</c>,
    /// …; several <c>[*]</c> expand in turn), or itself when there is none. The list must be in the file
    /// (<paramref name="root"/>) at that full path; otherwise nothing, and a problem.
    /// </summary>
    internal IReadOnlyList<Override> Expand(YamlMappingNode root, out string? problem)
    {
        problem = null;
        int star = Path.IndexOf("[*]", StringComparison.Ordinal);
        if (star < 0)
            return [this];
        string prefix = Path[..star], rest = Path[(star + 3)..];
        var segments = SplitPath(prefix);
        YamlNode? current = segments is { Count: > 0 } ? root : null;
        foreach (var (key, indexes) in segments ?? [])
        {
            if (current is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(key), out current))
                break;
            foreach (int i in indexes)
                current = current is YamlSequenceNode s && i < s.Children.Count ? s.Children[i] : null;
        }
        if (current is not YamlSequenceNode list)
        {
            problem = $"'{YamlGuard.Clip(Path)}': [*] stands for every item of a list, and the file has no list at '{YamlGuard.Clip(prefix)}'" +
                " (write the full path from the top, e.g. vms[*].cgroup)";
            return [];
        }
        var expanded = new List<Override>();
        for (int i = 0; i < list.Children.Count; i++)
        {
            var one = this with { Path = $"{prefix}[{i}]{rest}", Origin = OriginText };
            expanded.AddRange(one.Expand(root, out problem));
            if (problem is not null)
                return [];
        }
        return expanded;
    }

    /// <summary>
    /// Whether two key paths can name the same key: equal, or equal once a <c>[*]</c> in either stands
    /// for the other's index there (<c>vms[*].guest.hz</c> and <c>vms[1].guest.hz</c> overlap).
    /// </summary>
    public static bool PathsOverlap(string a, string b)
    {
        if (a == b)
            return true;
        var x = IndexSplit().Split(a);
        var y = IndexSplit().Split(b);
        if (x.Length != y.Length)
            return false;
        for (int i = 0; i < x.Length; i++)
        {
            bool index = x[i].StartsWith('[') && y[i].StartsWith('[');
            if (x[i] != y[i] && !(index && (x[i] == "[*]" || y[i] == "[*]")))
                return false;
        }
        return true;
    }

    [GeneratedRegex(@"(\[(?:\d+|\*)\])")]
    private static partial Regex IndexSplit();

    /// <summary>Whether this assignment sets <paramref name="fullPath"/> (a path with numeric indexes): the same path, or one its <c>[*]</c> stand for.</summary>
    public bool Sets(string fullPath) => PathsOverlap(Path, fullPath);

    /// <summary>
    /// The full path this assignment names in <paramref name="root"/>: itself when its first key is
    /// in the file, else the one existing path it is the tail of. Returns null (and a problem) when the
    /// tail is ambiguous; unknown paths are returned unchanged for the binder to report.
    /// </summary>
    public string? Resolve(YamlMappingNode root, out string? problem)
    {
        problem = null;
        var segments = SplitPath(Path);
        if (segments is null || segments.Count == 0 || root.Children.ContainsKey(new YamlScalarNode(segments[0].Key)))
            return Path;
        var matches = new List<string>();
        foreach (var full in LeafPaths(root, ""))
        {
            if (full.EndsWith("." + Path, StringComparison.Ordinal))
                matches.Add(full);
        }
        if (matches.Count > 1)
        {
            problem = $"'{Path}' is ambiguous: it could be {string.Join(" or ", matches)}; write the full path";
            return null;
        }
        return matches.Count == 1 ? matches[0] : Path;
    }

    /// <summary>
    /// True when this path names nothing in the file, neither from its first key nor as the tail of
    /// a path there: it may be the tail of a key the file leaves at its default.
    /// </summary>
    internal bool NeedsSchema(YamlMappingNode root)
    {
        var segments = SplitPath(Path);
        return segments is { Count: > 0 } && !root.Children.ContainsKey(new YamlScalarNode(segments[0].Key))
            && !LeafPaths(root, "").Any(full => full.EndsWith("." + Path, StringComparison.Ordinal));
    }

    /// <summary>
    /// This assignment with its path completed from <paramref name="knownPaths"/> (every key the
    /// scenario's kind accepts): unchanged when the path is already full or matches nothing, a
    /// problem when it is the tail of several.
    /// </summary>
    internal Override CompleteFrom(IReadOnlyCollection<string> knownPaths, out string? problem)
    {
        problem = null;
        if (knownPaths.Contains(Path))
            return this;
        var matches = knownPaths.Where(p => p.EndsWith("." + Path, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        if (matches.Count > 1)
        {
            problem = $"'{YamlGuard.Clip(Path)}' is ambiguous: it could be {string.Join(" or ", matches.Take(10))}; write the full path";
            return this;
        }
        return matches.Count == 1 ? this with { Path = matches[0] } : this;
    }

    /// <summary>Every leaf's path (a <c>{value, source}</c> pair counts as a leaf).</summary>
    private static IEnumerable<string> LeafPaths(YamlNode node, string path)
    {
        switch (node)
        {
            case YamlMappingNode m when !IsValueSource(m):
                foreach (var (k, v) in m.Children)
                {
                    if (k is not YamlScalarNode { Value: { } key })
                        continue;
                    foreach (var p in LeafPaths(v, path.Length == 0 ? key! : $"{path}.{key}"))
                        yield return p;
                }
                break;
            case YamlSequenceNode s:
                for (int i = 0; i < s.Children.Count; i++)
                {
                    foreach (var p in LeafPaths(s.Children[i], $"{path}[{i}]"))
                        yield return p;
                }
                break;
            default:
                if (path.Length > 0)
                    yield return path;
                break;
        }
    }

    private static bool IsValueSource(YamlMappingNode m) => m.Children.ContainsKey(new YamlScalarNode("value"));

    /// <summary>
    /// Applies this assignment to a YAML tree. Missing mapping keys are created (the binder
    /// then reports unknown ones like any other key); list indexes must exist. A value written as
    /// <c>{value, source}</c> keeps that form, with the source saying it was overridden.
    /// Returns a problem description, or null on success.
    /// </summary>
    public string? ApplyTo(YamlMappingNode root)
    {
        var path = Resolve(root, out var ambiguity);
        if (path is null)
            return ambiguity;
        var segments = SplitPath(path);
        if (segments is null || segments.Count == 0)
            return $"'{YamlGuard.Clip(Path)}' is not a key path (expected e.g. kvm.ple_window or vms[1].workload.loops; list indexes below {int.MaxValue})";
        YamlNode current = root;
        for (int s = 0; s < segments.Count; s++)
        {
            var (key, indexes) = segments[s];
            bool last = s == segments.Count - 1 && indexes.Count == 0;
            if (current is not YamlMappingNode map)
                return $"'{path}': '{key}' is inside {MapReader.Describe(current)}, not a mapping";
            var k = new YamlScalarNode(key);
            if (last)
            {
                map.Children[k] = Replacement(map.Children.TryGetValue(k, out var old) ? old : null);
                return null;
            }
            if (!map.Children.TryGetValue(k, out var next))
            {
                if (indexes.Count > 0)
                    return $"'{path}': there is no list '{key}' to index";
                next = new YamlMappingNode();
                map.Children[k] = next;
            }
            for (int i = 0; i < indexes.Count; i++)
            {
                if (next is not YamlSequenceNode seq)
                    return $"'{path}': '{key}' is not a list";
                int index = indexes[i];
                if (index >= seq.Children.Count)
                    return $"'{path}': index {index} is out of range ('{key}' has {seq.Children.Count} items)";
                if (s == segments.Count - 1 && i == indexes.Count - 1)
                {
                    seq.Children[index] = Replacement(seq.Children[index]);
                    return null;
                }
                next = seq.Children[index];
            }
            current = next;
        }
        return null;
    }

    private YamlNode Replacement(YamlNode? old)
    {
        var value = ParseValue(Value);
        if (old is YamlMappingNode m && IsValueSource(m))
        {
            // The same text whatever the origin, so that a sweep point and the equivalent --set have one digest.
            var source = Source.Length > 0 ? Source : "override";
            return new YamlMappingNode(
                new YamlScalarNode("value"), value,
                new YamlScalarNode("source"), new YamlScalarNode(source));
        }
        return value;
    }

    /// <summary>A value is read as YAML (so lists and mappings work); otherwise as a plain string.</summary>
    private static YamlNode ParseValue(string text)
    {
        // The same limits as a file (depth, alias expansion, tags): a value that breaks them stays plain text for the binder to refuse.
        if (!YamlGuard.Check("v: " + text, new ReadContext("--set")))
            return new YamlScalarNode(text);
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader("v: " + text));
            if (stream.Documents.Count == 1 && stream.Documents[0].RootNode is YamlMappingNode m
                && m.Children.TryGetValue(new YamlScalarNode("v"), out var v))
            {
                return v;
            }
        }
        catch (Exception e) when (e is YamlException or InvalidOperationException or ArgumentException)
        {
            // Not YAML (YamlDotNet throws other exceptions on some malformed text too): a plain string.
        }
        return new YamlScalarNode(text);
    }
}

using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PleSim.Experiments.Scenarios;

/// <summary>
/// One <c>key.path=value</c> assignment from the command line (<c>--set</c>) or a sweep point.
/// Paths use dots and list indexes: <c>kvm.ple_window</c>, <c>vms[1].workload.loops</c>.
/// </summary>
public sealed partial record Override(string Path, string Value)
{
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
            var idx = m.Groups["index"].Captures.Select(c => int.Parse(c.Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            result.Add((m.Groups["key"].Value, idx));
        }
        return result;
    }

    /// <summary>
    /// Applies this assignment to a YAML tree. Missing mapping keys are created (the binder
    /// then reports unknown ones like any other key); list indexes must exist.
    /// Returns a problem description, or null on success.
    /// </summary>
    public string? ApplyTo(YamlMappingNode root)
    {
        var segments = SplitPath(Path);
        if (segments is null || segments.Count == 0)
            return $"'{Path}' is not a key path (expected e.g. kvm.ple_window or vms[1].workload.loops)";
        YamlNode current = root;
        for (int s = 0; s < segments.Count; s++)
        {
            var (key, indexes) = segments[s];
            bool last = s == segments.Count - 1 && indexes.Count == 0;
            if (current is not YamlMappingNode map)
                return $"'{Path}': '{key}' is inside {MapReader.Describe(current)}, not a mapping";
            var k = new YamlScalarNode(key);
            if (last)
            {
                map.Children[k] = ParseValue(Value);
                return null;
            }
            if (!map.Children.TryGetValue(k, out var next))
            {
                if (indexes.Count > 0)
                    return $"'{Path}': there is no list '{key}' to index";
                next = new YamlMappingNode();
                map.Children[k] = next;
            }
            for (int i = 0; i < indexes.Count; i++)
            {
                if (next is not YamlSequenceNode seq)
                    return $"'{Path}': '{key}' is not a list";
                int index = indexes[i];
                if (index >= seq.Children.Count)
                    return $"'{Path}': index {index} is out of range ('{key}' has {seq.Children.Count} items)";
                if (s == segments.Count - 1 && i == indexes.Count - 1)
                {
                    seq.Children[index] = ParseValue(Value);
                    return null;
                }
                next = seq.Children[index];
            }
            current = next;
        }
        return null;
    }

    /// <summary>A value is read as YAML (so lists and mappings work); otherwise as a plain string.</summary>
    private static YamlNode ParseValue(string text)
    {
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
        catch (YamlException)
        {
        }
        return new YamlScalarNode(text);
    }
}

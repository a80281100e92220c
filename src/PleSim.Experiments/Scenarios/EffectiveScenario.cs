using System.Text;
using System.Text.Json;

namespace PleSim.Experiments.Scenarios;

/// <summary>
/// The effective scenario (<c>plesim show</c>): every key the binder read, after overrides and the
/// <c>kvm.version</c> / <c>guest.kernel</c> presets, with defaults filled in, each with where its value
/// came from. The key order is the binder's reading order, which is fixed, so the output is stable.
/// </summary>
public static class EffectiveScenario
{
    /// <summary>Sections that describe a family of scenarios, not this one (they are not bound into it).</summary>
    private static readonly string[] NotPartOfTheScenario = ["sweep", "reproduce", "unknowns"];

    /// <summary>One line of the effective scenario.</summary>
    public sealed record Entry(string Path, string Value, string Origin, string? Source);

    /// <summary>The entries in reading order. Origin: <c>file</c>, <c>--set</c>, <c>default</c>, or the preset that supplied the value.</summary>
    public static IReadOnlyList<Entry> Entries(Scenario s)
    {
        var values = s.Effective.ToDictionary(e => e.Path, e => e, StringComparer.Ordinal);
        string? kvmVersion = values.TryGetValue("kvm.version", out var v) && v.FromFile ? v.Value : null;
        var list = new List<Entry>(s.Effective.Count);
        foreach (var e in s.Effective)
        {
            if (NotPartOfTheScenario.Any(p => e.Path == p || e.Path.StartsWith(p + ".", StringComparison.Ordinal) || e.Path.StartsWith(p + "[", StringComparison.Ordinal)))
                continue;
            string origin;
            if (s.Overrides.Any(o => o.Sets(e.Path)))
                origin = "--set";
            else if (e.FromFile)
                origin = "file";
            else if (kvmVersion is not null && e.Path.StartsWith("kvm.", StringComparison.Ordinal) && Array.IndexOf(SystemSections.VersionCoveredKeys, e.Path[4..]) >= 0)
                origin = $"kvm.version {kvmVersion}";
            else if (GuestKernelOf(e.Path, values) is { } kernel)
                origin = $"default or guest.kernel {kernel}";
            else
                origin = "default";
            list.Add(new Entry(e.Path, e.Value, origin, s.Provenance.TryGetValue(e.Path, out var src) ? src : null));
        }
        return list;
    }

    /// <summary>The guest.kernel preset set in the same VM as a <c>vms[i].guest.*</c> key, if any.</summary>
    private static string? GuestKernelOf(string path, Dictionary<string, EffectiveSetting> values)
    {
        int g = path.IndexOf(".guest.", StringComparison.Ordinal);
        if (!path.StartsWith("vms[", StringComparison.Ordinal) || g < 0)
            return null;
        return values.TryGetValue(path[..g] + ".guest.kernel", out var k) && k.FromFile ? k.Value : null;
    }

    /// <summary>The effective scenario as YAML, nested by section, each value followed by a comment naming its origin (and source).</summary>
    public static string ToYaml(Scenario s)
    {
        var sb = new StringBuilder();
        sb.Append("# effective scenario of ").Append(s.SourceFile);
        if (s.Overrides.Count > 0)
            sb.Append(" with ").Append(string.Join(" ", s.Overrides.Select(o => o.OriginText)));
        sb.Append('\n');
        var open = new List<string>(); // the path segments of the mappings currently open
        foreach (var e in Entries(s))
        {
            var segments = Split(e.Path);
            int common = 0;
            while (common < open.Count && common < segments.Count - 1 && open[common] == segments[common])
                common++;
            open.RemoveRange(common, open.Count - common);
            for (int i = common; i < segments.Count - 1; i++)
            {
                WriteKey(sb, segments, i);
                sb.Append('\n');
                open.Add(segments[i]);
            }
            WriteKey(sb, segments, segments.Count - 1);
            sb.Append(' ').Append(Scalar(e.Value)).Append("  # ").Append(e.Origin);
            if (e.Source is not null)
                sb.Append(": ").Append(e.Source.Replace('\n', ' '));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The effective scenario as JSON: the file, the overrides, and one object per key in reading order.</summary>
    public static string ToJson(Scenario s)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("file", s.SourceFile);
            w.WriteString("digest", s.Digest);
            w.WriteStartArray("overrides");
            foreach (var o in s.Overrides)
                w.WriteStringValue(o.Path + "=" + o.Value);
            w.WriteEndArray();
            w.WriteStartArray("settings");
            foreach (var e in Entries(s))
            {
                w.WriteStartObject();
                w.WriteString("key", e.Path);
                w.WriteString("value", e.Value);
                w.WriteString("origin", e.Origin);
                if (e.Source is not null)
                    w.WriteString("source", e.Source);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    // vms[1].guest.hz → ["vms[1]", "guest", "hz"]; a list item is written "- " under its list key.
    private static List<string> Split(string path) => [.. path.Split('.')];

    private static void WriteKey(StringBuilder sb, List<string> segments, int depth)
    {
        sb.Append(' ', 2 * depth);
        var seg = segments[depth];
        int bracket = seg.IndexOf('[', StringComparison.Ordinal);
        // A list item is shown as a key "vms[0]" (a flat, stable form that still reads as YAML).
        sb.Append(bracket > 0 ? Quote(seg) : seg).Append(':');
    }

    private static string Scalar(string value)
    {
        if (value.Length == 0)
            return "\"\"";
        if (value.StartsWith('[') && value.EndsWith(']'))
            return value.Contains(':', StringComparison.Ordinal) ? Quote(value) : value;
        bool plain = !value.Contains(": ", StringComparison.Ordinal) && !value.Contains(" #", StringComparison.Ordinal) && !value.Contains('\n', StringComparison.Ordinal)
            && "-?:,[]{}#&*!|>'\"%@`".IndexOf(value[0], StringComparison.Ordinal) < 0 && value == value.Trim();
        return plain ? value : Quote(value);
    }

    private static string Quote(string value) => JsonSerializer.Serialize(value, QuoteOptions);

    private static readonly JsonSerializerOptions QuoteOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

}

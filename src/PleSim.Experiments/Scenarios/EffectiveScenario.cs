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

    /// <summary>
    /// The effective scenario as YAML, nested by section (lists as YAML sequences), each value followed
    /// by a comment naming its origin (and source), so that the text is itself a scenario
    /// (<c>plesim show S &gt; s.yaml; plesim run s.yaml</c>). A default the reader would refuse when
    /// written out — an unset value (<c>null</c>), or a parameter of a feature the scenario leaves off
    /// (e.g. <c>kvm.ipi_window</c> without <c>kvm.ipi_aware_yield</c>) — is printed as a comment line:
    /// each round reads the text back and comments out the defaults it refused, at most a few rounds.
    /// </summary>
    public static string ToYaml(Scenario s)
    {
        var entries = Entries(s);
        var header = new StringBuilder("# effective scenario of ").Append(s.SourceFile);
        if (s.Overrides.Count > 0)
            header.Append(" with ").Append(string.Join(" ", s.Overrides.Select(o => o.OriginText)));
        header.Append('\n');
        var shownAsComment = new HashSet<Entry>(entries.Where(e => e.Value == "null"));
        string text = "";
        for (int round = 0; round < 8; round++)
        {
            var lineOf = new Dictionary<int, Entry>();
            text = header + Write(BuildTree(entries), shownAsComment, lineOf);
            IReadOnlyList<ScenarioDiagnostic> refused;
            try
            {
                ScenarioLoader.LoadText(text, s.SourceFile);
                break;
            }
            catch (ScenarioException e)
            {
                refused = e.Diagnostics;
            }
            int before = shownAsComment.Count;
            foreach (var d in refused)
            {
                // A diagnostic's line is 1-based; the header is line 1.
                if (lineOf.TryGetValue(d.Line - 2, out var entry) && entry.Origin != "file" && entry.Origin != "--set")
                    shownAsComment.Add(entry);
            }
            if (shownAsComment.Count == before)
                break; // what is left is the file's own or an override's: shown as it is
        }
        return text;
    }

    /// <summary>A mapping (ordered keys) or a sequence (items by index) of the effective scenario, with its entries at the leaves.</summary>
    private sealed class Node
    {
        public readonly List<(string Key, Node? Child, Entry? Leaf)> Items = [];

        public bool IsSequence;

        public Node Child(string key, bool sequence)
        {
            foreach (var (k, c, _) in Items)
            {
                if (k == key && c is not null)
                    return c;
            }
            var n = new Node { IsSequence = sequence };
            Items.Add((key, n, null));
            return n;
        }
    }

    /// <summary>vms[1].guest.hz → vms (a sequence) → item 1 → guest → hz.</summary>
    private static Node BuildTree(IReadOnlyList<Entry> entries)
    {
        var root = new Node();
        foreach (var e in entries)
        {
            var node = root;
            var segments = e.Path.Split('.');
            for (int i = 0; i < segments.Length; i++)
            {
                var seg = segments[i];
                int bracket = seg.IndexOf('[', StringComparison.Ordinal);
                bool last = i == segments.Length - 1;
                if (bracket > 0 && seg.EndsWith(']'))
                {
                    var list = node.Child(seg[..bracket], sequence: true);
                    var index = seg[(bracket + 1)..^1];
                    if (last)
                        list.Items.Add((index, null, e));
                    else
                        node = list.Child(index, sequence: false);
                }
                else if (last)
                    node.Items.Add((seg, null, e));
                else
                    node = node.Child(seg, sequence: false);
            }
        }
        return root;
    }

    /// <summary>Writes <paramref name="root"/>; <paramref name="lineOf"/> gets each leaf's 0-based line (after the header).</summary>
    private static string Write(Node root, HashSet<Entry> asComment, Dictionary<int, Entry> lineOf)
    {
        var sb = new StringBuilder();
        int line = 0;
        void Leaf(int depth, string prefix, Entry e)
        {
            bool comment = asComment.Contains(e);
            sb.Append(' ', 2 * depth);
            if (comment)
                sb.Append("# ");
            sb.Append(prefix).Append(Scalar(e.Value)).Append("  # ").Append(e.Origin);
            if (comment && e.Value != "null")
                sb.Append(" (not written out: the scenario reader refuses it here)");
            if (e.Source is not null)
                sb.Append(": ").Append(e.Source.Replace('\n', ' '));
            sb.Append('\n');
            lineOf[line++] = e;
        }
        bool AllComment(Node n) => n.Items.All(i => i.Leaf is { } l ? asComment.Contains(l) : AllComment(i.Child!));
        void Mapping(Node n, int depth, bool hidden)
        {
            foreach (var (key, child, leaf) in n.Items)
            {
                if (leaf is not null)
                {
                    Leaf(depth, KeyText(key) + ": ", leaf);
                    continue;
                }
                bool hide = hidden || AllComment(child!);
                sb.Append(' ', 2 * depth).Append(hide ? "# " : "").Append(KeyText(key)).Append(':').Append('\n');
                line++;
                if (child!.IsSequence)
                    Sequence(child, depth + 1, hide);
                else
                    Mapping(child, depth + 1, hide);
            }
        }
        void Sequence(Node n, int depth, bool hidden)
        {
            foreach (var (index, child, leaf) in n.Items)
            {
                if (leaf is not null)
                {
                    Leaf(depth, "- ", leaf);
                    continue;
                }
                // "- # [i]" then the item's keys, indented under it: a block sequence entry holding a mapping.
                bool hide = hidden || AllComment(child!);
                sb.Append(' ', 2 * depth).Append(hide ? "# " : "").Append("- # [").Append(index).Append(']').Append('\n');
                line++;
                Mapping(child!, depth + 1, hide);
            }
        }
        Mapping(root, 0, false);
        return sb.ToString();
    }

    private static string KeyText(string key) =>
        key.Length > 0 && (char.IsLetter(key[0]) || key[0] == '_') && key.All(c => char.IsLetterOrDigit(c) || c is '_' or '-') ? key : Quote(key);

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

using System.Text;
using PleSim.Experiments.Scenarios;
using YamlDotNet.RepresentationModel;

namespace PleSim.Experiments.Sweeps;

/// <summary>One swept key and its values, in order (values are YAML text, as after <c>--set key=</c>).</summary>
public sealed record SweepAxis(string Path, IReadOnlyList<string> Values, string Origin)
{
    /// <summary>An axis with one value is a fixed override, not a dimension of the grid.</summary>
    public bool IsVaried => Values.Count > 1;
}

/// <summary>How the axes combine: every combination (Cartesian product) or element-wise (zip).</summary>
public enum SweepMode
{
    Cartesian,
    Zip,
}

/// <summary>
/// A sweep: axes and how they combine. Comes from the scenario's <c>sweep:</c> section and from
/// <c>--set key=v1,v2,…</c> options (which replace a file axis of the same key).
/// </summary>
public sealed record SweepSpec(IReadOnlyList<SweepAxis> Axes, SweepMode Mode)
{
    public static readonly SweepSpec Empty = new([], SweepMode.Cartesian);

    /// <summary>Most points a sweep may have (each is a loaded scenario held in memory while the plan is built; see decision 0020).</summary>
    public const int MaxGridPoints = 10_000;

    /// <summary>The axes with more than one value (the grid's dimensions), in order.</summary>
    public IReadOnlyList<SweepAxis> Varied => Axes.Where(a => a.IsVaried).ToList();

    /// <summary>
    /// Reads <c>--set key=v1,v2,...</c>. Values are split at commas outside brackets, braces and
    /// quotes, so <c>--set vms[0].affinity=[0,1]</c> is one value.
    /// </summary>
    public static SweepAxis ParseAxis(string assignment)
    {
        var o = Override.Parse(assignment);
        var values = SplitValues(o.Value);
        if (values.Any(v => v.Length == 0))
            throw new FormatException($"'{assignment}' has an empty value (write values as key=v1,v2,...)");
        return new SweepAxis(o.Path, values, "--set " + assignment);
    }

    /// <summary>This spec with <paramref name="axes"/> added; an axis replaces one of the same key.</summary>
    public SweepSpec With(IEnumerable<SweepAxis> axes, SweepMode? mode = null)
    {
        var list = Axes.ToList();
        foreach (var a in axes)
        {
            int i = list.FindIndex(x => x.Path == a.Path);
            if (i >= 0)
                list[i] = a;
            else
                list.Add(a);
        }
        return new SweepSpec(list, mode ?? Mode);
    }

    /// <summary>
    /// The grid: each point is the list of assignments (one per axis, axes in order). Cartesian
    /// points vary the last axis fastest, as nested loops in the order given. Throws
    /// <see cref="FormatException"/> when zipped axes differ in length.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<Override>> Expand(int maxPoints = MaxGridPoints)
    {
        if (Axes.Count == 0)
            return [[]];
        // Count before expanding: a grid is built in memory with a loaded scenario per point.
        long count = 1;
        foreach (var a in Varied)
        {
            count = Mode == SweepMode.Zip ? Math.Max(count, a.Values.Count) : count * a.Values.Count;
            if (count > maxPoints)
            {
                throw new FormatException($"the sweep has more than {maxPoints} points ("
                    + string.Join(Mode == SweepMode.Zip ? ", " : " x ", Varied.Select(v => $"{YamlGuard.Clip(v.Path)} ({v.Values.Count})"))
                    + $"); sweeps are limited to {MaxGridPoints} points (SweepSpec.MaxGridPoints): split it into several sweeps");
            }
        }
        if (Mode == SweepMode.Zip)
        {
            var lengths = Varied.Select(a => a.Values.Count).Distinct().ToList();
            if (lengths.Count > 1)
            {
                throw new FormatException("--zip pairs the i-th values of every swept key, so they need equally long lists; got "
                    + string.Join(", ", Varied.Select(a => $"{YamlGuard.Clip(a.Path)} ({a.Values.Count})")));
            }
            int n = lengths.Count == 0 ? 1 : lengths[0];
            return Enumerable.Range(0, n)
                .Select(i => (IReadOnlyList<Override>)Axes.Select(a => Assign(a, a.IsVaried ? i : 0)).ToList())
                .ToList();
        }
        IEnumerable<List<Override>> points = [[]];
        foreach (var axis in Axes)
        {
            var a = axis;
            points = points.SelectMany(p => Enumerable.Range(0, a.Values.Count).Select(i => new List<Override>(p) { Assign(a, i) }));
        }
        return points.Select(p => (IReadOnlyList<Override>)p).ToList();
    }

    private static Override Assign(SweepAxis axis, int i) =>
        new(axis.Path, axis.Values[i]) { Origin = $"{axis.Origin} (value {i + 1}: {axis.Values[i]})" };

    /// <summary>A canonical one-line-per-axis text (part of the sweep's digest).</summary>
    public string Canonical()
    {
        var sb = new StringBuilder();
        sb.Append("mode=").Append(Mode == SweepMode.Zip ? "zip" : "cartesian").Append('\n');
        foreach (var a in Axes)
            sb.Append(a.Path).Append('=').Append(string.Join('\u001f', a.Values)).Append('\n');
        return sb.ToString();
    }

    /// <summary>Splits at top-level commas (outside [], {}, and quotes).</summary>
    public static List<string> SplitValues(string text)
    {
        var result = new List<string>();
        int depth = 0, start = 0;
        char quote = '\0';
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quote != '\0')
            {
                if (c == quote)
                    quote = '\0';
                continue;
            }
            switch (c)
            {
                case '"' or '\'':
                    quote = c;
                    break;
                case '[' or '{':
                    depth++;
                    break;
                case ']' or '}':
                    depth--;
                    break;
                case ',' when depth == 0:
                    result.Add(text[start..i].Trim());
                    start = i + 1;
                    break;
            }
        }
        result.Add(text[start..].Trim());
        return result;
    }

    /// <summary>
    /// Reads a scenario's <c>sweep:</c> section:
    /// <code>
    /// sweep:
    ///   mode: cartesian        # or zip
    ///   set:
    ///     kvm.ple_window: [1024, 4096, 16384]
    ///     kvm.ple_handler: [none, directed-yield-2011]
    /// </code>
    /// </summary>
    internal static SweepSpec Read(YamlNode node, ReadContext ctx)
    {
        var r = new MapReader(node, "sweep", ctx);
        var mode = r.Get("mode", Kinds.Choice("cartesian", "zip"), "cartesian") == "zip" ? SweepMode.Zip : SweepMode.Cartesian;
        var axes = new List<SweepAxis>();
        r.KnowAll(["set"]);
        if (node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode("set"), out var set))
        {
            if (set is not YamlMappingNode setMap)
            {
                ctx.Error(set, "sweep.set", $"expected a mapping of key paths to lists of values, got {MapReader.Describe(set)}");
            }
            else
            {
                foreach (var (k, v) in setMap.Children)
                {
                    if (k is not YamlScalarNode { Value: { } path })
                    {
                        ctx.Error(k, "sweep.set", "keys must be plain key paths, not lists or mappings");
                        continue;
                    }
                    if (Override.SplitPath(path) is null)
                    {
                        ctx.Error(k, "sweep.set", $"'{YamlGuard.Clip(path)}' is not a key path (expected e.g. kvm.ple_window or vms[1].workload.loops)");
                        continue;
                    }
                    var items = v is YamlSequenceNode seq ? seq.Children.ToList() : [v];
                    if (items.Count == 0)
                    {
                        ctx.Error(v, "sweep.set." + path, "expected at least one value");
                        continue;
                    }
                    var origin = $"{ctx.File}:{k.Start.Line}:{k.Start.Column} (sweep.set.{path})";
                    axes.Add(new SweepAxis(path, items.Select(FlowText).ToList(), origin));
                }
            }
        }
        else
        {
            ctx.Error(node, "sweep", "required key 'set' is missing: expected a mapping of key paths to lists of values");
        }
        r.Done();
        return new SweepSpec(axes, mode);
    }

    /// <summary>A node as one line of YAML flow text (what <c>--set key=</c> would take).</summary>
    internal static string FlowText(YamlNode node) => node switch
    {
        YamlScalarNode s when s.Style is YamlDotNet.Core.ScalarStyle.Plain => s.Value ?? "",
        YamlScalarNode s => "\"" + (s.Value ?? "").Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"",
        YamlSequenceNode q => "[" + string.Join(", ", q.Children.Select(FlowText)) + "]",
        YamlMappingNode m => "{" + string.Join(", ", m.Children.Select(kv => FlowText(kv.Key) + ": " + FlowText(kv.Value))) + "}",
        _ => "",
    };
}

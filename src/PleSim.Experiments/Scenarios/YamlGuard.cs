using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace PleSim.Experiments.Scenarios;

/// <summary>
/// Limits on what a scenario file may make the loader do, checked on the parser's event stream
/// before YamlDotNet's representation model builds the tree (which recurses once per nesting level
/// and shares aliased nodes, so a small file could otherwise overflow the stack or expand to
/// gigabytes when walked). See docs/decisions/0020-input-limits.md for why these values.
/// </summary>
public static class YamlGuard
{
    /// <summary>Largest scenario file, in characters (the shipped ones are below 20 kB).</summary>
    public const int MaxDocumentChars = 1 << 20;

    /// <summary>Deepest nesting of lists and mappings (the shipped scenarios nest at most 6 deep).</summary>
    public const int MaxDepth = 64;

    /// <summary>Most YAML nodes the document may have once every alias is expanded (shipped scenarios: a few hundred).</summary>
    public const int MaxExpandedNodes = 100_000;

    /// <summary>Longest value echoed in an error message, in characters; longer ones are cut and end in "…".</summary>
    public const int MaxEchoChars = 80;

    /// <summary><paramref name="value"/> cut to <see cref="MaxEchoChars"/> (plus "…"), for error messages.</summary>
    public static string Clip(string? value, int max = MaxEchoChars)
    {
        if (value is null)
            return "";
        return value.Length <= max ? value : string.Concat(value.AsSpan(0, max), "…");
    }

    /// <summary>
    /// Checks <paramref name="text"/> against the limits and for constructs scenarios do not use
    /// (tags, non-scalar keys). Reports the first problem in <paramref name="ctx"/> and returns false.
    /// Syntax errors are left to the real load, which reports them with their position.
    /// </summary>
    public static bool Check(string text, ReadContext ctx)
    {
        if (text.Length > MaxDocumentChars)
        {
            ctx.Error(Mark.Empty, "", $"the file has {text.Length} characters; scenario files are limited to {MaxDocumentChars} (YamlGuard.MaxDocumentChars)");
            return false;
        }
        var parser = new Parser(new StringReader(text));
        // One frame per open list or mapping: its anchor, its expanded node count so far, and (for a mapping) whether the next node is a key.
        var frames = new Stack<Frame>();
        var anchors = new Dictionary<string, (long Size, bool Scalar)>(StringComparer.Ordinal);
        long total = 0;
        var lastEnd = Mark.Empty;
        try
        {
            while (parser.MoveNext())
            {
                var ev = parser.Current!;
                lastEnd = ev.End;
                switch (ev)
                {
                    case DocumentStart:
                        frames.Clear();
                        anchors.Clear();
                        total = 0;
                        break;
                    case Scalar s:
                        if (!CheckTag(s.Tag, s, ctx))
                            return false;
                        if (!s.Anchor.IsEmpty && !Define(anchors, s.Anchor.Value, (1, true), ev, ctx))
                            return false;
                        if (!AddNode(frames, 1, isScalar: true, ev, ctx, ref total))
                            return false;
                        break;
                    case AnchorAlias a:
                        // YamlDotNet resolves an alias to a later anchor too; YAML does not allow it, and its size is not known yet.
                        if (!anchors.TryGetValue(a.Value.Value, out var known))
                        {
                            ctx.Error(ev.Start, "", $"alias '*{Clip(a.Value.Value)}' refers to no anchor defined before it (&{Clip(a.Value.Value)})");
                            return false;
                        }
                        if (!AddNode(frames, known.Size, known.Scalar, ev, ctx, ref total))
                            return false;
                        break;
                    case NodeEvent n when n is SequenceStart or MappingStart:
                        var tag = n is SequenceStart ss ? ss.Tag : ((MappingStart)n).Tag;
                        if (!CheckTag(tag, n, ctx))
                            return false;
                        if (frames.Count > 0 && frames.Peek().IsMapping && frames.Peek().ExpectKey)
                        {
                            ctx.Error(n.Start, "", "keys must be plain names, not lists or mappings");
                            return false;
                        }
                        if (frames.Count >= MaxDepth)
                        {
                            ctx.Error(n.Start, "", $"lists and mappings are nested more than {MaxDepth} deep (YamlGuard.MaxDepth)");
                            return false;
                        }
                        frames.Push(new Frame(n.Anchor.IsEmpty ? null : n.Anchor.Value, n is MappingStart, n,
                            n is SequenceStart { Style: SequenceStyle.Flow } or MappingStart { Style: MappingStyle.Flow }));
                        break;
                    case SequenceEnd or MappingEnd:
                        var f = frames.Pop();
                        long own = 1 + f.Size;
                        if (f.Anchor is not null && !Define(anchors, f.Anchor, (own, false), f.StartEvent, ctx))
                            return false;
                        if (frames.Count > 0)
                        {
                            var parent = frames.Peek();
                            parent.Size += own;
                            if (parent.IsMapping)
                                parent.ExpectKey = !parent.ExpectKey;
                        }
                        break;
                }
            }
        }
        catch (YamlException)
        {
            return true; // a syntax error: the load that follows reports it with its position
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or NullReferenceException or FormatException or OverflowException)
        {
            // YamlDotNet's scanner throws these (not YamlException) on some malformed input, e.g. an
            // unclosed flow collection (aaubry/YamlDotNet#541). Report it at the last good position.
            var open = frames.FirstOrDefault(f => f.IsFlow);
            if (open is not null)
                ctx.Error(open.Start, "", $"not valid YAML: this '{(open.IsMapping ? "{" : "[")}' is not closed (or something inside it is malformed)");
            else
                ctx.Error(lastEnd, "", "not valid YAML: the text after this point cannot be read");
            return false;
        }
        return true;
    }

    private static bool AddNode(Stack<Frame> frames, long size, bool isScalar, ParsingEvent ev, ReadContext ctx, ref long total)
    {
        if (frames.Count > 0)
        {
            var parent = frames.Peek();
            if (parent.IsMapping && parent.ExpectKey && !isScalar)
            {
                ctx.Error(ev.Start, "", "keys must be plain names, not aliases of lists or mappings");
                return false;
            }
            parent.Size += size;
            if (parent.IsMapping)
                parent.ExpectKey = !parent.ExpectKey;
            if (parent.Size > MaxExpandedNodes)
            {
                ctx.Error(ev.Start, "", $"the document expands to more than {MaxExpandedNodes} values once its aliases (*name) are expanded (YamlGuard.MaxExpandedNodes)");
                return false;
            }
        }
        total += size;
        if (total > MaxExpandedNodes)
        {
            ctx.Error(ev.Start, "", $"the document expands to more than {MaxExpandedNodes} values once its aliases (*name) are expanded (YamlGuard.MaxExpandedNodes)");
            return false;
        }
        return true;
    }

    /// <summary>Records an anchor; one defined twice is refused (YamlDotNet and YAML disagree on which an alias then means).</summary>
    private static bool Define(Dictionary<string, (long Size, bool Scalar)> anchors, string name, (long, bool) value, ParsingEvent ev, ReadContext ctx)
    {
        if (!anchors.TryAdd(name, value))
        {
            ctx.Error(ev.Start, "", $"anchor '&{Clip(name)}' is defined twice: give each anchor its own name");
            return false;
        }
        return true;
    }

    private static bool CheckTag(TagName tag, ParsingEvent ev, ReadContext ctx)
    {
        if (tag.IsEmpty)
            return true;
        ctx.Error(ev.Start, "", $"YAML tags ('{Clip(tag.Value)}') are not supported: remove the tag (quote a value to make it text)");
        return false;
    }

    private sealed class Frame(string? anchor, bool isMapping, ParsingEvent startEvent, bool isFlow)
    {
        public ParsingEvent StartEvent { get; } = startEvent;
        public bool IsFlow { get; } = isFlow;
        public string? Anchor { get; } = anchor;
        public bool IsMapping { get; } = isMapping;
        public Mark Start => StartEvent.Start;
        public long Size { get; set; }
        public bool ExpectKey { get; set; } = true;
    }
}

using System.Security.Cryptography;
using System.Text;
using PleSim.Engine;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace PleSim.Experiments.Scenarios;

/// <summary>Reads scenario files into checked <see cref="Scenario"/> values, or a <see cref="ScenarioException"/> listing every problem.</summary>
public static class ScenarioLoader
{
    /// <summary>Reads <paramref name="path"/>; overrides (<c>--set</c>) are applied before checking.</summary>
    public static Scenario LoadFile(string path, IReadOnlyList<Override>? overrides = null)
    {
        if (Directory.Exists(path))
            throw new ScenarioException(new ScenarioDiagnostic(path, 0, 0, "", "this is a directory, not a scenario file (name the files, e.g. " + Path.Combine(path, "*.yaml") + ")"));
        string text;
        try
        {
            // Refuse an oversized file before reading it (a UTF-8 file has at least as many bytes as characters).
            if (new FileInfo(path) is { Exists: true } info && info.Length > 4L * YamlGuard.MaxDocumentChars)
                throw new ScenarioException(new ScenarioDiagnostic(path, 0, 0, "", $"the file has {info.Length} bytes; scenario files are limited to {YamlGuard.MaxDocumentChars} characters (YamlGuard.MaxDocumentChars)"));
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ScenarioException(new ScenarioDiagnostic(path, 0, 0, "", $"cannot read the file: {e.Message}"));
        }
        return LoadText(text, path, overrides);
    }

    public static Scenario LoadText(string text, string fileName, IReadOnlyList<Override>? overrides = null)
    {
        overrides ??= [];
        var ctx = new ReadContext(fileName);
        var root = Parse(text, ctx);
        if (root is null)
            throw new ScenarioException(ctx.Diagnostics);
        // The sweep section describes a family of scenarios; it is not part of any one of them (nor of its digest).
        var sweep = Sweeps.SweepSpec.Empty;
        var sweepKey = new YamlScalarNode("sweep");
        if (root.Children.TryGetValue(sweepKey, out var sweepNode))
        {
            sweep = Sweeps.SweepSpec.Read(sweepNode, ctx);
            root.Children.Remove(sweepKey);
        }
        // So are an experiment's reproduction notes and the unknowns it samples: the same point has one digest with or without them.
        IReadOnlyList<BasisRule> basis = [];
        var reproduceKey = new YamlScalarNode("reproduce");
        if (root.Children.TryGetValue(reproduceKey, out var reproduceNode))
        {
            basis = ExperimentSections.ReadReproduce(reproduceNode, ctx);
            root.Children.Remove(reproduceKey);
        }
        IReadOnlyList<Unknown> unknowns = [];
        var unknownsKey = new YamlScalarNode("unknowns");
        if (root.Children.TryGetValue(unknownsKey, out var unknownsNode))
        {
            unknowns = ExperimentSections.ReadUnknowns(unknownsNode, ctx);
            root.Children.Remove(unknownsKey);
        }
        // A short path (ple_window) may name a key the file leaves at its default: complete it from the schema of the file's kind.
        if (overrides.Any(o => o.NeedsSchema(root)))
        {
            var schema = new ReadContext(fileName);
            Bind(root, schema);
            var completed = new List<Override>(overrides.Count);
            foreach (var o in overrides)
            {
                if (!o.NeedsSchema(root))
                {
                    completed.Add(o);
                    continue;
                }
                completed.Add(o.CompleteFrom(schema.KnownPaths, out var problem));
                if (problem is not null)
                    ctx.Diagnostics.Add(new ScenarioDiagnostic(o.OriginText, 0, 0, o.Path, problem));
            }
            overrides = completed;
        }
        // kvm.version set from outside the file (--set, a sweep point) replaces the file's choices of
        // what a release covers; --set keys still override the preset (decision 0022).
        foreach (var o in overrides)
        {
            if (o.Path == "kvm.version")
                SystemSections.DropVersionCoveredKeys(root);
        }
        // resolved: one per assignment given, with its full path (what the scenario records); applied:
        // what was written into the tree, where vms[*].key stands for the key in every VM of the file.
        var resolved = new List<Override>(overrides.Count);
        var applied = new List<Override>(overrides.Count);
        foreach (var o in overrides)
        {
            var parts = o.Expand(root, out var listProblem);
            if (listProblem is not null)
                ctx.Diagnostics.Add(new ScenarioDiagnostic(o.OriginText, 0, 0, o.Path, listProblem));
            foreach (var part in parts)
            {
                var problem = part.ApplyTo(root);
                if (problem is not null)
                    ctx.Diagnostics.Add(new ScenarioDiagnostic(part.OriginText, 0, 0, part.Path, problem));
                applied.Add(part.Resolve(root, out _) is { } full && full != part.Path ? part with { Path = full } : part);
            }
            resolved.Add(parts is [var only] && ReferenceEquals(only, o) ? applied[^1] : o);
        }
        var scenario = Bind(root, ctx);
        if (ctx.Diagnostics.Count > 0)
            throw new ScenarioException(AttributeToOverrides(ctx.Diagnostics, applied, fileName, ctx.KnownPaths).OrderBy(d => d.Line).ThenBy(d => d.Column).ToList());
        var canonical = Canonical(root);
        return scenario with
        {
            SourceFile = fileName,
            SourceText = text,
            Sweep = sweep,
            ReproduceBasis = basis,
            Unknowns = unknowns,
            Overrides = resolved,
            CanonicalText = canonical,
            Digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical))),
            Provenance = new SortedDictionary<string, string>(ctx.Provenance, StringComparer.Ordinal),
            Effective = ctx.Effective.ToArray(),
        };
    }

    /// <summary>
    /// A problem in a value that an override put there is not in the file: name the override
    /// (<c>--set …</c> or the sweep entry) instead of a position.
    /// </summary>
    private static IEnumerable<ScenarioDiagnostic> AttributeToOverrides(IEnumerable<ScenarioDiagnostic> diagnostics, IReadOnlyList<Override> overrides, string fileName, IReadOnlyCollection<string> knownPaths)
    {
        foreach (var d in diagnostics)
        {
            var o = d.File == fileName
                ? overrides.LastOrDefault(o => d.KeyPath == o.Path || d.KeyPath.StartsWith(o.Path + ".", StringComparison.Ordinal) || d.KeyPath.StartsWith(o.Path + "[", StringComparison.Ordinal))
                : null;
            // An unknown key the override created on its way (foo in --set foo.bar=1): the override's,
            // with the closest whole key path when the key alone has no close name.
            bool unknownKey = d.UnknownKey;
            if (o is null && d.File == fileName && unknownKey)
                o = overrides.LastOrDefault(o => o.Path.StartsWith(d.KeyPath + ".", StringComparison.Ordinal) || o.Path.StartsWith(d.KeyPath + "[", StringComparison.Ordinal));
            if (o is null)
            {
                yield return d;
                continue;
            }
            var message = d.Message;
            if (unknownKey && !message.Contains("did you mean", StringComparison.Ordinal) && ClosestPath(o.Path, knownPaths) is { } guess)
            {
                int list = message.IndexOf(" (", StringComparison.Ordinal);
                message = message.Insert(list < 0 ? message.Length : list, $"; did you mean '{guess}'?");
            }
            yield return d with { File = o.OriginText, Line = 0, Column = 0, Message = message };
        }
    }

    /// <summary>The key path an unknown path most likely meant: the one known path with the same last key, else the closest spelling.</summary>
    private static string? ClosestPath(string path, IReadOnlyCollection<string> knownPaths)
    {
        var last = path[(path.LastIndexOf('.') + 1)..];
        var sameKey = knownPaths.Where(k => k == last || k.EndsWith("." + last, StringComparison.Ordinal)).ToList();
        return sameKey.Count == 1 ? sameKey[0] : Suggestions.Closest(path, knownPaths);
    }

    /// <summary>Parses YAML text into its root mapping, reporting syntax errors with their position.</summary>
    public static YamlMappingNode? Parse(string text, ReadContext ctx)
    {
        if (!YamlGuard.Check(text, ctx))
            return null;
        var stream = new YamlStream();
        var parser = new Parser(new StringReader(text));
        try
        {
            stream.Load(parser);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or NullReferenceException or FormatException or OverflowException)
        {
            // YamlDotNet throws these (not YamlException) on some malformed input; report where it stopped.
            ctx.Error(parser.Current?.Start ?? Mark.Empty, "", "not valid YAML: this cannot be read here (a value where a key was expected, or a misplaced alias or indicator?)");
            return null;
        }
        catch (YamlException e)
        {
            var msg = e.InnerException?.Message ?? e.Message;
            // YamlDotNet prefixes messages with "(Line: …)"; the position is reported separately.
            int paren = msg.IndexOf("): ", StringComparison.Ordinal);
            if (msg.StartsWith("(Line", StringComparison.Ordinal) && paren > 0)
                msg = msg[(paren + 3)..];
            ctx.Error(e.Start, "", "not valid YAML: " + msg);
            return null;
        }
        if (stream.Documents.Count != 1)
        {
            ctx.Error(Mark.Empty, "", stream.Documents.Count == 0 ? "the file is empty" : "expected one YAML document, found several");
            return null;
        }
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            ctx.Error(stream.Documents[0].RootNode, "", $"expected a mapping at the top level, got {MapReader.Describe(stream.Documents[0].RootNode)}");
            return null;
        }
        return root;
    }

    /// <summary>Binds <paramref name="text"/> only to learn the keys the binder asks for (problems are ignored): the schema of that file's shape.</summary>
    public static ReadContext KeysOf(string text)
    {
        var ctx = new ReadContext("schema");
        if (Parse(text, ctx) is { } root)
            Bind(root, ctx);
        return ctx;
    }

    private static Scenario Bind(YamlMappingNode root, ReadContext ctx)
    {
        var r = new MapReader(root, "", ctx);
        var name = r.Require("name", Kinds.Text, "unnamed");
        var description = r.Require("description", Kinds.Text, "");
        // An invalid kind falls back to "" so that no kind-specific errors pile up behind it.
        var kind = r.Get("kind", Kinds.Choice(Scenario.KnownKinds), "system", fallback: "");
        var seed = r.Require("seed", Kinds.Seed, 1UL);
        var runs = r.Require("runs", Kinds.Int(1, 100_000), 1);
        // Run k uses seed + k (Scenario.SeedOfRun): the last run's seed must not wrap past 2^64 − 1.
        if (!r.Failed("seed") && !r.Failed("runs") && seed > ulong.MaxValue - (ulong)(runs - 1))
            r.Error("seed", $"run k uses seed + k, so with {runs} runs the seed must be at most {ulong.MaxValue - (ulong)(runs - 1)} (2^64 − {runs})");
        var duration = r.Require("duration", Kinds.Duration(SimDuration.FromMicroseconds(1), SimDuration.FromSeconds(24 * 3600)), SimDuration.FromSeconds(1));
        var warmup = r.Require("warmup", Kinds.Duration(SimDuration.Zero, SimDuration.FromSeconds(24 * 3600)), SimDuration.Zero);
        var metrics = r.ScalarList("metrics", Kinds.Text);

        EngineHoldSettings? hold = null;
        var holdSection = r.Section("engine_hold");
        if (kind == "engine-hold")
        {
            hold = new EngineHoldSettings(
                holdSection.Get("population", Kinds.Int(1, 10_000_000), 1000),
                holdSection.Get("mean_delay", Kinds.Duration(new SimDuration(1), SimDuration.FromSeconds(3600)), SimDuration.FromMilliseconds(1)),
                holdSection.Get("cancel_half", Kinds.Bool, false));
            holdSection.Done();
        }
        else if (holdSection.IsPresent && kind != "")
        {
            ctx.Error(root.Children[new YamlScalarNode("engine_hold")], "engine_hold", $"the 'engine_hold' section belongs to kind 'engine-hold', not '{kind}'");
        }

        var scenario = new Scenario
        {
            Name = name,
            Description = description,
            Kind = kind,
            Seed = seed,
            Runs = runs,
            Duration = duration,
            Warmup = warmup,
            Metrics = metrics,
            EngineHold = hold,
        };
        scenario = SystemSections.Read(r, scenario);
        r.Done();
        return scenario;
    }

    /// <summary>
    /// A canonical text of the tree: mapping keys sorted, one scalar per line with its path, so the
    /// digest ignores comments, key order and formatting but not values.
    /// </summary>
    public static string Canonical(YamlNode root)
    {
        var sb = new StringBuilder();
        Walk(root, "", sb);
        return sb.ToString();

        static void Walk(YamlNode node, string path, StringBuilder sb)
        {
            switch (node)
            {
                case YamlMappingNode m:
                    foreach (var (k, v) in m.Children.OrderBy(kv => ((YamlScalarNode)kv.Key).Value, StringComparer.Ordinal))
                        Walk(v, path.Length == 0 ? ((YamlScalarNode)k).Value! : $"{path}.{((YamlScalarNode)k).Value}", sb);
                    break;
                case YamlSequenceNode s:
                    for (int i = 0; i < s.Children.Count; i++)
                        Walk(s.Children[i], $"{path}[{i}]", sb);
                    if (s.Children.Count == 0)
                        sb.Append(path).Append("=[]\n");
                    break;
                case YamlScalarNode sc:
                    sb.Append(path).Append('=').Append(sc.Value).Append('\n');
                    break;
            }
        }
    }
}

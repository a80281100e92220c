using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PleSim.Experiments.Scenarios;

/// <summary>
/// A JSON Schema of scenario files (schema/scenario.schema.json), generated from the binder itself: the
/// keys are the ones the loader asks for when it reads files of every shape (each kind, each workload
/// and host-task kind), and each leaf's description is the loader's own "expected …" text. It is
/// deliberately loose about leaf values (any scalar, a list, or the <c>{value, source}</c> form): the
/// loader checks values and reports them with file:line:column; the schema gives editors the keys and
/// catches misspelt ones.
/// </summary>
public static class ScenarioSchema
{
    /// <summary>Files of every shape the binder knows, read only for their keys.</summary>
    private static readonly string[] Shapes =
    [
        """
        name: s
        description: d
        kind: system
        seed: 1
        runs: 1
        duration: 1ms
        warmup: 0
        metrics: []
        compare_metric: x
        host:
          cpus: 4
          cgroups: [{path: /a}]
          tasks:
            - {name: t0, kind: hog}
            - {name: t1, kind: periodic, set_affinity: {at: 1ms, cpus: 0}}
            - {name: t2, kind: pingpong}
            - {name: t3, kind: yielder}
          background:
            threads: [{name: b, timers: [{name: m}]}]
        kvm:
          version: "2.6.39"
        vms:
          - {name: v0, guest: {kernel: "2.6.39"}, workload: {kind: idle}}
          - {name: v1, workload: {kind: hog}}
          - {name: v2, workload: {kind: amqp-perftest}}
          - {name: v3, workload: {kind: lock-bench}}
          - {name: v4, workload: {kind: boot-storm}}
          - {name: v5, workload: {kind: ebizzy}}
          - {name: v6, workload: {kind: kernbench}}
          - {name: v7, workload: {kind: hackbench}}
          - {name: v8, workload: {kind: sysbench}}
          - {name: v9, workload: {kind: pingpong}}
          - {name: v10, guest: {timers: [{name: t}]}, workload: {kind: tcp-rr}}
          - {name: v11, workload: {kind: dbench}}
          - {name: v12, workload: {kind: dedup}}
          - {name: v13, workload: {kind: pbzip2}}
        """,
        """
        name: s
        description: d
        kind: engine-hold
        seed: 1
        runs: 1
        duration: 1ms
        warmup: 0
        engine_hold: {population: 1}
        """,
    ];

    /// <summary>Sections read outside the binder (a family of scenarios, not one): any mapping.</summary>
    private static readonly string[] FreeSections = ["sweep", "reproduce", "unknowns"];

    /// <summary>The schema as indented JSON text (stable: keys in ordinal order).</summary>
    public static string Generate()
    {
        var paths = new SortedSet<string>(StringComparer.Ordinal);
        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var text in Shapes)
        {
            var ctx = ScenarioLoader.KeysOf(text);
            foreach (var p in ctx.KnownPaths)
                paths.Add(Generalise(p));
            foreach (var (p, e) in ctx.Expected)
                expected[Generalise(p)] = e;
        }
        var root = Node("", paths, expected);
        var props = (JsonObject)root["properties"]!;
        foreach (var f in FreeSections)
            props[f] = new JsonObject { ["description"] = $"the {f} section (checked by the loader)" };
        root.Remove("description");
        var schema = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["title"] = "PleSim scenario file",
            ["description"] = "Generated from the scenario loader by ScenarioSchema.Generate (test ScenarioSchemaTests regenerates it with PLESIM_UPDATE_SCHEMA=1). Values are checked by 'plesim validate'.",
            ["$defs"] = new JsonObject
            {
                ["leaf"] = new JsonObject
                {
                    ["anyOf"] = new JsonArray(
                        new JsonObject { ["type"] = new JsonArray("string", "number", "integer", "boolean", "null") },
                        new JsonObject { ["type"] = "array" },
                        new JsonObject
                        {
                            ["type"] = "object",
                            ["required"] = new JsonArray("value"),
                            ["properties"] = new JsonObject { ["value"] = new JsonObject(), ["source"] = new JsonObject { ["type"] = "string" } },
                            ["additionalProperties"] = false,
                        }),
                },
            },
        };
        foreach (var (k, v) in root.ToList())
        {
            root.Remove(k);
            schema[k] = v;
        }
        return schema.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }).Replace("\r\n", "\n", StringComparison.Ordinal) + "\n";
    }

    /// <summary><c>vms[3].workload.threads</c> → <c>vms[].workload.threads</c>: every list item has one schema.</summary>
    private static string Generalise(string path)
    {
        var sb = new StringBuilder(path.Length);
        bool inIndex = false;
        foreach (var c in path)
        {
            if (c == '[')
            {
                inIndex = true;
                sb.Append('[');
            }
            else if (c == ']')
            {
                inIndex = false;
                sb.Append(']');
            }
            else if (!inIndex)
            {
                sb.Append(c);
            }
        }
        return sb.ToString();
    }

    /// <summary>The schema of the mapping at <paramref name="prefix"/> ("" for the root).</summary>
    private static JsonObject Node(string prefix, SortedSet<string> paths, Dictionary<string, string> expected)
    {
        var props = new JsonObject();
        var children = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var p in paths)
        {
            if (prefix.Length > 0 && !p.StartsWith(prefix + ".", StringComparison.Ordinal))
                continue;
            var rest = prefix.Length > 0 ? p[(prefix.Length + 1)..] : p;
            int cut = rest.IndexOfAny(['.', '[']);
            children.Add(cut < 0 ? rest : rest[..cut]);
        }
        foreach (var key in children)
        {
            var path = prefix.Length > 0 ? $"{prefix}.{key}" : key;
            bool isList = paths.Any(p => p.StartsWith(path + "[].", StringComparison.Ordinal));
            bool isSection = paths.Any(p => p.StartsWith(path + ".", StringComparison.Ordinal));
            if (isList)
            {
                props[key] = new JsonObject { ["anyOf"] = new JsonArray(new JsonObject { ["type"] = "array", ["items"] = Node(path + "[]", paths, expected) }, new JsonObject { ["type"] = "null" }) };
            }
            else if (isSection)
            {
                props[key] = new JsonObject { ["anyOf"] = new JsonArray(Node(path, paths, expected), new JsonObject { ["type"] = "null" }) };
            }
            else
            {
                var leaf = new JsonObject { ["$ref"] = "#/$defs/leaf" };
                if (expected.TryGetValue(path, out var e))
                    leaf["description"] = e;
                props[key] = leaf;
            }
        }
        return new JsonObject { ["type"] = "object", ["properties"] = props, ["additionalProperties"] = false, ["description"] = prefix };
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using PleSim.Experiments.Scenarios;
using YamlDotNet.RepresentationModel;

namespace PleSim.Experiments.Tests;

/// <summary>schema/scenario.schema.json: generated from the loader, and every shipped scenario satisfies it.</summary>
public class ScenarioSchemaTests
{
    private static string Repo(params string[] parts)
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "PleSim.slnx")))
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("repository root not found");
        return Path.Combine([dir, .. parts]);
    }

    private static string SchemaFile => Repo("schema", "scenario.schema.json");

    public static TheoryData<string> ShippedScenarios() => MetricDefinitionTests.ShippedScenarios();

    [Fact]
    public void The_committed_schema_is_the_generated_one()
    {
        var generated = ScenarioSchema.Generate();
        if (Environment.GetEnvironmentVariable("PLESIM_UPDATE_SCHEMA") == "1")
            File.WriteAllText(SchemaFile, generated);
        Assert.True(File.Exists(SchemaFile), "schema/scenario.schema.json is missing; run this test with PLESIM_UPDATE_SCHEMA=1");
        Assert.True(generated == File.ReadAllText(SchemaFile), "schema/scenario.schema.json is out of date with the loader; run this test with PLESIM_UPDATE_SCHEMA=1");
    }

    [Theory]
    [MemberData(nameof(ShippedScenarios))]
    public void Every_shipped_scenario_satisfies_the_schema_and_references_it(string file)
    {
        var text = File.ReadAllText(Repo(file));
        var errors = Validate(text);
        Assert.True(errors.Count == 0, $"{file}: {string.Join("; ", errors)}");
        // The first line points editors (yaml-language-server) at the schema, by a path relative to the file.
        var first = text.Split('\n')[0].TrimEnd('\r');
        const string prefix = "# yaml-language-server: $schema=";
        Assert.StartsWith(prefix, first, StringComparison.Ordinal);
        var target = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Repo(file))!, first[prefix.Length..]));
        Assert.Equal(Path.GetFullPath(SchemaFile), target);
    }

    [Fact]
    public void A_misspelt_key_fails_the_schema()
    {
        var good = File.ReadAllText(Repo("scenarios", "kvm", "lock-bench.yaml"));
        Assert.Empty(Validate(good));
        Assert.NotEmpty(Validate(good.Replace("ple_handler:", "ple_handlr:", StringComparison.Ordinal)));
    }

    private static List<string> Validate(string yaml)
    {
        var schema = JsonSchema.FromText(File.ReadAllText(SchemaFile));
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var json = ToJson(stream.Documents[0].RootNode);
        using var doc = JsonDocument.Parse(json?.ToJsonString() ?? "null");
        var result = schema.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid)
            return [];
        // The list output also carries the failed branches of every anyOf that passed; show the keys the schema does not know first.
        var all = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).Select(d => $"{d.InstanceLocation}: {string.Join(", ", d.Errors!.Values)}").ToList();
        var unknown = all.Where(e => e.Contains("false schema", StringComparison.Ordinal)).ToList();
        return unknown.Count > 0 ? unknown : all.Count > 0 ? all.Take(5).ToList() : ["invalid"];
    }

    /// <summary>YAML to JSON as an editor's YAML language server sees it: plain scalars that read as numbers or booleans become those.</summary>
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value!, ToJson(kv.Value)))),
        YamlSequenceNode s => new JsonArray(s.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } p when p.Value is null or "" or "~" or "null" => null,
        YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } p when p.Value is "true" or "false" => JsonValue.Create(p.Value == "true"),
        YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain } p when double.TryParse(p.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => JsonValue.Create(d),
        YamlScalarNode p => JsonValue.Create(p.Value),
        _ => null,
    };
}

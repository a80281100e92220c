using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>Golden error messages: each bad file under BadScenarios/ has a .expected.txt with the exact text.</summary>
public class ScenarioErrorTests
{
    public static TheoryData<string> BadFiles()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "BadScenarios"), "*.yaml").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(f));
        return data;
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void A_bad_file_gets_the_expected_messages(string file)
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "BadScenarios");
        var text = File.ReadAllText(Path.Combine(dir, file));
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadText(text, file));
        var actual = string.Join("\n", e.Diagnostics) + "\n";
        var expectedPath = Path.Combine(dir, Path.ChangeExtension(file, ".expected.txt"));
        if (Environment.GetEnvironmentVariable("PLESIM_UPDATE_GOLDEN") == "1")
        {
            var source = Path.Combine(SourceDir(), "BadScenarios", Path.GetFileName(expectedPath));
            File.WriteAllText(source, actual);
        }
        Assert.True(File.Exists(expectedPath), $"missing golden file {expectedPath}; run with PLESIM_UPDATE_GOLDEN=1 to create it");
        Assert.Equal(File.ReadAllText(expectedPath), actual);
    }

    [Fact]
    public void Every_error_names_file_line_and_column()
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "BadScenarios", "unknown-key.yaml"));
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadText(text, "f.yaml"));
        var d = Assert.Single(e.Diagnostics);
        Assert.Equal(("f.yaml", 9, 3, "engine_hold.populaton"), (d.File, d.Line, d.Column, d.KeyPath));
        Assert.Contains("did you mean 'population'?", d.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_reported_not_thrown_as_an_io_error()
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile("/no/such/scenario.yaml"));
        Assert.Contains("cannot read the file", e.Diagnostics[0].Message, StringComparison.Ordinal);
    }

    private static string SourceDir([System.Runtime.CompilerServices.CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}

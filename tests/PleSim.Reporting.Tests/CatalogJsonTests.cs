using System.Text.Json;
using PleSim.Experiments.Catalog;

namespace PleSim.Reporting.Tests;

/// <summary>The catalog's JSON (and the HTML page made from it) say when each explanation was written and how far the pre-registration was checked.</summary>
public class CatalogJsonTests
{
    [Fact]
    public void Every_explanation_carries_when_it_was_written_and_every_case_its_preregistration_check()
    {
        using var doc = JsonDocument.Parse(CatalogReport.ListJson(CaseLoader.BuiltIn()));
        int explanations = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var check = c.GetProperty("preregistration_check");
            // Built-in cases are embedded in the tool: never checked against git (decision 0095).
            Assert.Equal("unverified", check.GetProperty("state").GetString());
            Assert.False(string.IsNullOrEmpty(check.GetProperty("detail").GetString()));
            foreach (var x in c.GetProperty("explanations").EnumerateArray())
            {
                explanations++;
                Assert.False(string.IsNullOrEmpty(x.GetProperty("written").GetString()), c.GetProperty("name").GetString());
            }
        }
        Assert.True(explanations > 0);
    }
}

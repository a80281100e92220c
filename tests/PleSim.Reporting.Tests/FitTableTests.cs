using PleSim.Reporting;
using Spectre.Console;

namespace PleSim.Reporting.Tests;

/// <summary>A table wider than the console is split into parts (keys repeated) or transposed, never cut short.</summary>
public class FitTableTests
{
    private static string Render(FitTable table, int width)
    {
        var w = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(w), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = width;
        console.Write(table);
        return w.ToString();
    }

    private static int Longest(string text) => text.Split('\n').Max(l => l.Length);

    private static FitTable Wide(int rows, int columns, bool transposable)
    {
        var t = new FitTable(keyColumns: 1, transposable).Title("wide");
        t.AddColumn("name");
        for (int c = 0; c < columns; c++)
            t.AddColumn($"column_number_{c}", rightAligned: true);
        for (int r = 0; r < rows; r++)
            t.AddRow([$"row{r}", .. Enumerable.Range(0, columns).Select(c => $"value_{r}_{c}")]);
        return t;
    }

    [Fact]
    public void A_table_that_fits_is_drawn_whole()
    {
        var text = Render(Wide(3, 2, transposable: true), 120);
        Assert.DoesNotContain("part", text, StringComparison.Ordinal);
        Assert.Contains("column_number_1", text, StringComparison.Ordinal);
        Assert.Contains("row2", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_wide_table_is_split_into_parts_that_repeat_the_key_column()
    {
        var text = Render(Wide(10, 12, transposable: false), 80);
        Assert.True(Longest(text) <= 80, text);
        Assert.DoesNotContain("…", text, StringComparison.Ordinal);
        for (int c = 0; c < 12; c++)
            Assert.Contains($"column_number_{c}", text, StringComparison.Ordinal);
        for (int r = 0; r < 10; r++)
        {
            for (int c = 0; c < 12; c++)
                Assert.Contains($"value_{r}_{c}", text, StringComparison.Ordinal);
        }
        int parts = text.Split('\n').Count(l => l.Contains("wide (part ", StringComparison.Ordinal));
        Assert.True(parts >= 2, text);
        // Every part names its rows.
        Assert.Equal(parts, text.Split('\n').Count(l => l.Contains("row9", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_wide_table_of_few_rows_is_transposed()
    {
        var text = Render(Wide(2, 30, transposable: true), 80);
        Assert.True(Longest(text) <= 80, text);
        Assert.DoesNotContain("part", text, StringComparison.Ordinal);
        // One line per original column, holding both rows' values.
        var line = text.Split('\n').Single(l => l.Contains("column_number_17 ", StringComparison.Ordinal));
        Assert.Contains("value_0_17", line, StringComparison.Ordinal);
        Assert.Contains("value_1_17", line, StringComparison.Ordinal);
    }

    [Fact]
    public void The_layout_depends_only_on_the_width()
    {
        Assert.Equal(Render(Wide(5, 9, transposable: true), 100), Render(Wide(5, 9, transposable: true), 100));
        Assert.NotEqual(Render(Wide(5, 9, transposable: true), 100), Render(Wide(5, 9, transposable: true), 200));
    }
}

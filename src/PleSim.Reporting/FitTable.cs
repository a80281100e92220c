using Spectre.Console;
using Spectre.Console.Rendering;

namespace PleSim.Reporting;

/// <summary>
/// A console table that fits the width it is rendered at (decision 0029). Drawn whole when it
/// fits; otherwise it is laid out again, in whichever of two ways needs fewer parts:
/// <list type="bullet">
/// <item>split into groups of columns, each part repeating the first <c>keyColumns</c> columns
/// (the row's name: a seed, a task, a payload and handler);</item>
/// <item>transposed (when allowed): one row per column of the original and one column per row,
/// headed by the row's key cells; split into groups of those columns when still too wide.</item>
/// </list>
/// Cells are never shortened with "…" and never wrapped unless a single column is wider than the
/// whole width. The layout depends only on the contents and the width: with standard output
/// redirected the CLI renders at a fixed width, so the text is the same whatever the terminal.
/// </summary>
public sealed class FitTable : IRenderable
{
    private readonly List<(string Header, bool Right)> _columns = [];
    private readonly List<string[]> _rows = [];
    private string? _title;
    private string? _caption;
    private TableBorder _border = TableBorder.Rounded;

    /// <param name="keyColumns">How many leading columns name a row (repeated in every part, and the header of a transposed column).</param>
    /// <param name="transposable">Whether a transposed layout may be chosen when it needs fewer parts.</param>
    public FitTable(int keyColumns = 1, bool transposable = true)
    {
        KeyColumns = Math.Max(0, keyColumns);
        Transposable = transposable;
    }

    public int KeyColumns { get; }

    public bool Transposable { get; }

    public IReadOnlyList<string> Headers => _columns.Select(c => c.Header).ToList();

    public IReadOnlyList<string[]> Rows => _rows;

    public FitTable Title(string markup)
    {
        _title = markup;
        return this;
    }

    /// <summary>A caption under the table (under its last part when split).</summary>
    public FitTable Caption(string markup)
    {
        _caption = markup;
        return this;
    }

    public FitTable Border(TableBorder border)
    {
        _border = border;
        return this;
    }

    /// <summary>A column whose header is <paramref name="header"/> (markup).</summary>
    public FitTable AddColumn(string header, bool rightAligned = false)
    {
        _columns.Add((header, rightAligned));
        return this;
    }

    /// <summary>A row of cells (markup); missing cells are empty.</summary>
    public FitTable AddRow(params string[] cells)
    {
        var row = new string[_columns.Count];
        for (int i = 0; i < row.Length; i++)
            row[i] = i < cells.Length ? cells[i] : "";
        _rows.Add(row);
        return this;
    }

    /// <summary>The tables this one is drawn as at <paramref name="width"/> columns (one when it fits).</summary>
    public IReadOnlyList<Table> Layout(RenderOptions options, int width)
    {
        if (_columns.Count == 0)
            return [Build(_title, [("(none)", false)], [], [])];
        var all = Enumerable.Range(0, _columns.Count).ToList();
        var whole = Build(_title, _columns, _rows, all);
        if (Width(whole, options) <= width)
            return [WithCaption(whole)];
        int keys = Math.Min(KeyColumns, _columns.Count - 1);
        var split = Split(_columns, _rows, keys, options, width);
        if (Transposable && _rows.Count > 0)
        {
            var (tColumns, tRows) = Transpose(keys);
            var transposed = Split(tColumns, tRows, 1, options, width);
            if (transposed.Count < split.Count)
                split = transposed;
        }
        WithCaption(split[^1]);
        return split;
    }

    private Table WithCaption(Table t) => _caption is null ? t : t.Caption(_caption);

    Measurement IRenderable.Measure(RenderOptions options, int maxWidth)
    {
        var parts = Layout(options, maxWidth);
        int min = 0, max = 0;
        foreach (var p in parts)
        {
            var m = ((IRenderable)p).Measure(options, maxWidth);
            min = Math.Max(min, m.Min);
            max = Math.Max(max, m.Max);
        }
        return new Measurement(min, max);
    }

    IEnumerable<Segment> IRenderable.Render(RenderOptions options, int maxWidth) =>
        ((IRenderable)new Rows(Layout(options, maxWidth))).Render(options, maxWidth);

    /// <summary>Columns after the keys packed greedily into parts no wider than <paramref name="width"/>.</summary>
    private List<Table> Split(IReadOnlyList<(string Header, bool Right)> columns, IReadOnlyList<string[]> rows, int keys, RenderOptions options, int width)
    {
        var groups = new List<List<int>>();
        var current = new List<int>();
        for (int c = keys; c < columns.Count; c++)
        {
            var trial = Enumerable.Range(0, keys).Concat(current).Append(c).ToList();
            if (current.Count > 0 && Width(Build(null, columns, rows, trial), options) > width)
            {
                groups.Add(current);
                current = [];
            }
            current.Add(c);
        }
        if (current.Count > 0)
            groups.Add(current);
        var tables = new List<Table>();
        for (int g = 0; g < groups.Count; g++)
        {
            var title = _title is null ? null : groups.Count == 1 ? _title : $"{_title} (part {g + 1} of {groups.Count})";
            tables.Add(Build(title, columns, rows, [.. Enumerable.Range(0, keys), .. groups[g]]));
        }
        return tables;
    }

    /// <summary>One row per non-key column, one column per row (headed by its key cells).</summary>
    private (List<(string, bool)> Columns, List<string[]> Rows) Transpose(int keys)
    {
        var columns = new List<(string, bool)>
        {
            (keys == 0 ? "" : string.Join(" ", _columns.Take(keys).Select(c => c.Header)), false),
        };
        for (int r = 0; r < _rows.Count; r++)
            columns.Add((keys == 0 ? $"#{r + 1}" : string.Join(" ", _rows[r].Take(keys)), true));
        var rows = new List<string[]>();
        for (int c = keys; c < _columns.Count; c++)
        {
            var row = new string[_rows.Count + 1];
            row[0] = _columns[c].Header;
            for (int r = 0; r < _rows.Count; r++)
                row[r + 1] = _rows[r][c];
            rows.Add(row);
        }
        return (columns, rows);
    }

    private Table Build(string? title, IReadOnlyList<(string Header, bool Right)> columns, IReadOnlyList<string[]> rows, IReadOnlyList<int> shown)
    {
        var t = new Table().Border(_border);
        if (title is not null)
            t.Title(title);
        foreach (var c in shown)
        {
            var col = new TableColumn(columns[c].Header);
            t.AddColumn(columns[c].Right ? col.RightAligned() : col);
        }
        foreach (var row in rows)
            t.AddRow(shown.Select(c => c < row.Length ? row[c] : "").ToArray());
        return t;
    }

    /// <summary>The width a table takes when nothing is wrapped.</summary>
    private static int Width(Table t, RenderOptions options) => ((IRenderable)t).Measure(options, 100_000).Max;
}

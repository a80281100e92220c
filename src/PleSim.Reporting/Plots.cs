using System.Text.RegularExpressions;
using ScottPlot;

namespace PleSim.Reporting;

/// <summary>One line of a metric-vs-key plot: per x category, the mean and its 95% CI (NaN = no data at that x).</summary>
public sealed record PlotSeries(string Name, IReadOnlyList<double> Mean, IReadOnlyList<double> CiLow, IReadOnlyList<double> CiHigh);

/// <summary>One layer of a stacked bar chart: per bar, its value (NaN counts as 0).</summary>
public sealed record StackSegment(string Name, IReadOnlyList<double> Values);

/// <summary>
/// Plots of sweep results (ScottPlot 5, rendered headless by SkiaSharp). The font is DejaVu Sans
/// so that a plot renders the same on every machine that has it (Debian: fonts-dejavu-core).
/// </summary>
public static partial class Plots
{
    public const int Width = 800;
    public const int Height = 480;

    /// <summary>The font every plot uses.</summary>
    public const string FontName = "DejaVu Sans";

    private static readonly ScottPlot.Palettes.Category10 Palette = new();

    /// <summary>
    /// Line plot of a metric against a swept key: x positions are the categories 0..n-1 labelled
    /// with <paramref name="xLabels"/>, one line with markers per series, vertical 95% CI error bars.
    /// </summary>
    public static Plot MetricVsKey(string title, string xLabel, IReadOnlyList<string> xLabels, string yLabel, IReadOnlyList<PlotSeries> series)
    {
        if (xLabels.Count == 0)
            throw new ArgumentException("a metric plot needs at least one x category", nameof(xLabels));
        if (series.Count == 0)
            throw new ArgumentException("a metric plot needs at least one series", nameof(series));
        var plot = NewPlot(title, xLabel, yLabel);
        // Series are offset a little along x so that their error bars do not hide each other.
        double spread = series.Count > 1 ? Math.Min(0.3, 0.08 * (series.Count - 1)) : 0;
        for (int s = 0; s < series.Count; s++)
        {
            var line = series[s];
            if (line.Mean.Count != xLabels.Count || line.CiLow.Count != xLabels.Count || line.CiHigh.Count != xLabels.Count)
                throw new ArgumentException($"series '{line.Name}' has {line.Mean.Count} values for {xLabels.Count} x categories", nameof(series));
            double offset = series.Count > 1 ? -spread / 2 + (spread * s / (series.Count - 1)) : 0;
            var color = Palette.GetColor(s);
            var xs = new List<double>();
            var ys = new List<double>();
            var up = new List<double>();
            var down = new List<double>();
            for (int i = 0; i < xLabels.Count; i++)
            {
                if (!double.IsFinite(line.Mean[i]))
                    continue;
                xs.Add(i + offset);
                ys.Add(line.Mean[i]);
                up.Add(double.IsFinite(line.CiHigh[i]) ? Math.Max(0, line.CiHigh[i] - line.Mean[i]) : 0);
                down.Add(double.IsFinite(line.CiLow[i]) ? Math.Max(0, line.Mean[i] - line.CiLow[i]) : 0);
            }
            if (xs.Count == 0)
                continue;
            var scatter = plot.Add.Scatter(xs.ToArray(), ys.ToArray());
            scatter.Color = color;
            scatter.LineWidth = 2;
            scatter.MarkerSize = 7;
            scatter.LegendText = line.Name;
            var bars = new ScottPlot.Plottables.ErrorBar(xs, ys, null, null, up, down);
            plot.Add.Plottable(bars);
            bars.Color = color;
            bars.LineWidth = 1.5f;
            bars.CapSize = 6;
        }
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < xLabels.Count; i++)
            ticks.AddMajor(i, xLabels[i]);
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimitsX(-0.5, xLabels.Count - 0.5);
        plot.Axes.Margins(bottom: 0.1, top: 0.15);
        // One series named after the metric needs no legend (the y axis title names it, with its unit).
        if (series.Count > 1 || (series[0].Name != yLabel && !yLabel.StartsWith(series[0].Name + " [", StringComparison.Ordinal)))
            plot.ShowLegend(Edge.Right);
        return plot;
    }

    /// <summary>
    /// Stacked bar chart: one bar per label, segments stacked bottom-up in the given order, each
    /// with its colour and a legend entry; labels may have several lines (<c>\n</c>) and are slanted when wide.
    /// </summary>
    public static Plot StackedShares(string title, IReadOnlyList<string> barLabels, string yLabel, IReadOnlyList<StackSegment> segments, string xLabel = "")
    {
        if (barLabels.Count == 0)
            throw new ArgumentException("a bar chart needs at least one bar", nameof(barLabels));
        if (segments.Count == 0)
            throw new ArgumentException("a stacked bar chart needs at least one segment", nameof(segments));
        var plot = NewPlot(title, xLabel, yLabel);
        var bottoms = new double[barLabels.Count];
        for (int s = 0; s < segments.Count; s++)
        {
            var seg = segments[s];
            if (seg.Values.Count != barLabels.Count)
                throw new ArgumentException($"segment '{seg.Name}' has {seg.Values.Count} values for {barLabels.Count} bars", nameof(segments));
            var color = Palette.GetColor(s);
            var bars = new List<Bar>();
            for (int i = 0; i < barLabels.Count; i++)
            {
                double v = double.IsFinite(seg.Values[i]) ? seg.Values[i] : 0;
                bars.Add(new Bar { Position = i, ValueBase = bottoms[i], Value = bottoms[i] + v, FillColor = color, LineWidth = 0, Size = 0.7 });
                bottoms[i] += v;
            }
            var plottable = plot.Add.Bars(bars);
            plottable.LegendText = seg.Name;
            plottable.Color = color;
        }
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < barLabels.Count; i++)
            ticks.AddMajor(i, barLabels[i]);
        plot.Axes.Bottom.TickGenerator = ticks;
        // Labels wider than a bar's slot are slanted, and the axis made tall enough for them.
        int longest = barLabels.SelectMany(l => l.Split('\n')).Max(l => l.Length);
        int lines = barLabels.Max(l => l.Split('\n').Length);
        if (longest * 7 > 560 / barLabels.Count)
        {
            plot.Axes.Bottom.TickLabelStyle.Rotation = 35;
            plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.UpperLeft;
            plot.Axes.Bottom.MinimumSize = 30 + (4.2f * Math.Min(50, longest)) + (14 * lines);
        }
        plot.Axes.SetLimitsX(-0.6, barLabels.Count - 0.4);
        plot.Axes.SetLimitsY(0, Math.Max(1.0, bottoms.Max()) * 1.02);
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    /// <summary>The plot as a PNG of <see cref="Width"/> × <see cref="Height"/> pixels.</summary>
    public static byte[] Png(Plot plot) => plot.GetImageBytes(Width, Height, ImageFormat.Png);

    /// <summary>
    /// The plot as SVG text (no XML prolog), ready to inline in an HTML page. ScottPlot numbers its
    /// clip paths with a process-wide counter; they are renumbered from 0 in order of appearance,
    /// with <paramref name="idPrefix"/> in front, so the text is the same on every render and
    /// several plots can share one page without their ids colliding.
    /// </summary>
    public static string Svg(Plot plot, string idPrefix = "")
    {
        var svg = plot.GetSvgXml(Width, Height);
        int start = svg.IndexOf("<svg", StringComparison.Ordinal);
        if (start > 0)
            svg = svg[start..];
        var renumbered = new Dictionary<string, string>(StringComparer.Ordinal);
        return ClipId().Replace(svg, m =>
        {
            if (!renumbered.TryGetValue(m.Value, out var id))
                renumbered[m.Value] = id = $"{idPrefix}cl_{renumbered.Count}";
            return id;
        });
    }

    [GeneratedRegex(@"\bcl_[0-9a-fA-F]+\b")]
    private static partial Regex ClipId();

    /// <summary>Writes <c>path.png</c> and <c>path.svg</c>, each atomically.</summary>
    public static void Save(Plot plot, string pathWithoutExtension)
    {
        AtomicFile.Write(pathWithoutExtension + ".png", Png(plot));
        AtomicFile.Write(pathWithoutExtension + ".svg", Svg(plot));
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Font.Set(FontName);
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }
}

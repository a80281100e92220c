using PleSim.Experiments.Sweeps;

namespace PleSim.Reporting;

/// <summary>The files a sweep's output directory gets: CSV and JSON exports (and, from <c>report</c>, plots and HTML).</summary>
public static class SweepOutputs
{
    public static readonly string[] ExportFiles = ["points.csv", "runs.csv", "comparisons.csv", "points.json"];

    /// <summary>Writes the exports into <paramref name="dir"/>, each atomically (temporary file + rename).</summary>
    public static void WriteExports(SweepView view, string dir)
    {
        AtomicFile.Write(Path.Combine(dir, "points.csv"), SweepCsv.Points(view));
        AtomicFile.Write(Path.Combine(dir, "runs.csv"), SweepCsv.Runs(view));
        AtomicFile.Write(Path.Combine(dir, "comparisons.csv"), SweepCsv.Comparisons(view));
        AtomicFile.Write(Path.Combine(dir, "points.json"), SweepJson.Write(view.Results, view.Comparisons));
    }
}

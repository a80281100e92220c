namespace PleSim.Experiments.Catalog;

/// <summary>Where a published result comes from: who, what, where, when, and a stable address.</summary>
public sealed record CaseSource(string Authors, string Title, string Venue, string Date, string Url, string MessageId, string Note);

/// <summary>One row of a published table: its name and one value per column (null: not published).</summary>
public sealed record PublishedRow(string Name, IReadOnlyList<double?> Values);

/// <summary>
/// The published numbers of a case as a small table (rows × columns, one unit). A qualitative case
/// (a claim without numbers) has every value null and says so.
/// </summary>
public sealed record PublishedTable(string Unit, IReadOnlyList<string> Columns, IReadOnlyList<PublishedRow> Rows, bool Approximate, bool Qualitative, string Note)
{
    public double? Value(string row, string column)
    {
        int c = IndexOf(Columns, column);
        var r = Rows.FirstOrDefault(x => x.Name == row);
        return c < 0 || r is null ? null : r.Values[c];
    }

    private static int IndexOf(IReadOnlyList<string> list, string s)
    {
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] == s)
                return i;
        }
        return -1;
    }
}

/// <summary>
/// How a case is simulated: a scenario file, the metric compared, and per row and per column the
/// overrides that make each cell (cell = the row's overrides, then the column's).
/// </summary>
public sealed record CaseExpression(
    string Scenario,
    string Metric,
    int Runs,
    int QuickRuns,
    IReadOnlyList<string> QuickSet,
    IReadOnlyList<(string Name, IReadOnlyList<string> Set)> Rows,
    IReadOnlyList<(string Name, IReadOnlyList<string> Set)> Columns,
    string Builtin)
{
    /// <summary>Rows measured on another scenario or metric than the expression's (e.g. one row per benchmark).</summary>
    public IReadOnlyDictionary<string, RowTarget> PerRow { get; init; } = new Dictionary<string, RowTarget>();

    /// <summary>When the published values are changes of a variant over a base: how each cell's base is made and which direction is better.</summary>
    public RelativeCells? Relative { get; init; }

    public string ScenarioOf(string row) => PerRow.TryGetValue(row, out var t) ? t.Scenario : Scenario;

    public string MetricOf(string row) => PerRow.TryGetValue(row, out var t) ? t.Metric : Metric;

    /// <summary>The relative rule of one row: the case's, with the row's own direction when it names one.</summary>
    public RelativeCells? RelativeOf(string row) =>
        Relative is { } r && PerRow.TryGetValue(row, out var t) && t.LowerIsBetter is bool lower ? r with { LowerIsBetter = lower } : Relative;
}

/// <summary>
/// The scenario and metric of one row of a case whose rows are different benchmarks, and for a
/// relative case whether lower is better for that row's metric (null: the case's rule).
/// </summary>
public sealed record RowTarget(string Scenario, string Metric, bool? LowerIsBetter = null);

/// <summary>
/// A case whose published values are relative changes (%): every cell also runs its base (the cell's
/// overrides, then <see cref="Base"/>) with the same seeds, and the cell's value per seed is
/// 100 × (variant − base) / base when higher is better, or 100 × (base − variant) / base when lower is
/// better (times): positive means the variant improved.
/// </summary>
public sealed record RelativeCells(IReadOnlyList<string> Base, bool LowerIsBetter)
{
    /// <summary>The change of one seed's variant over its base, in percent (NaN when either is missing or the base is 0).</summary>
    public double Change(double variant, double @base) =>
        !double.IsFinite(variant) || !double.IsFinite(@base) || @base == 0 ? double.NaN
        : LowerIsBetter ? 100 * (@base - variant) / @base : 100 * (variant - @base) / @base;
}

/// <summary>
/// An explanation of a case's result written after the result was seen: what the simulator's ground
/// truth shows happened, and where it is documented. It never changes the verdict.
/// </summary>
public sealed record CaseExplanation(string Text, string Doc)
{
    /// <summary>
    /// When it was written (optional <c>written:</c>): the date, the commit and the newest decision
    /// then, so a reader can tell which build its figures come from ("" when the file does not say).
    /// </summary>
    public string Written { get; init; } = "";
}

/// <summary>A calibrated value the case declares: which column it was fitted on, which key, the value and where the fit is described.</summary>
public sealed record CaseCalibration(string Column, string Key, string Value, string Note);

/// <summary>
/// One published result of the catalog (<c>cases/NAME.yaml</c>): its source, set-up, what was
/// measured, the published numbers, the expected shape as checkable predicates, and either the
/// scenario grid that expresses it or the feature PleSim lacks to express it.
/// </summary>
public sealed record CatalogCase
{
    public required string Name { get; init; }
    public required string Title { get; init; }
    public required CaseSource Source { get; init; }
    public required string Setup { get; init; }
    public required string Measured { get; init; }
    public required PublishedTable Published { get; init; }
    public required IReadOnlyList<ShapePredicate> Shape { get; init; }

    /// <summary>The grid that expresses the case, or null when <see cref="CannotExpress"/> names what is missing.</summary>
    public CaseExpression? Expression { get; init; }

    /// <summary>The feature(s) PleSim lacks to express the case ("" when it is expressible).</summary>
    public string CannotExpress { get; init; } = "";

    public CaseCalibration? Calibrate { get; init; }

    /// <summary>The commit that added the case's scenario, numbers and shape before any run ("pending" until recorded).</summary>
    public required string PreregisteredCommit { get; init; }

    /// <summary>Anything a reader must know about how blind the pre-registration was (e.g. the model had run this scenario before).</summary>
    public string PreregistrationNote { get; init; } = "";

    /// <summary>
    /// Whether <see cref="PreregisteredCommit"/> was checked against git (<see cref="Preregistration.Check"/>)
    /// and with what result; a built-in case cannot be, and says so.
    /// </summary>
    public PreregistrationResult PreregistrationCheck { get; init; } = new(PreregistrationState.Unverified, Preregistration.BuiltInDetail);

    /// <summary>Explanations of the result, written after it was seen (empty until then).</summary>
    public IReadOnlyList<CaseExplanation> Explanations { get; init; } = [];

    public string File { get; init; } = "";

    public bool IsExpressible => Expression is not null;
}

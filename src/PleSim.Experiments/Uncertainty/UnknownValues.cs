using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Uncertainty;

/// <summary>Checks that every value a scenario's unknowns can take makes a valid scenario.</summary>
public static class UnknownValues
{
    /// <summary>
    /// Loads <paramref name="scenario"/> (with its overrides) once per value of every set and per end
    /// of every range (in parallel), and returns the problems, each naming its <c>unknowns[i]</c> entry and value.
    /// </summary>
    public static IReadOnlyList<ScenarioDiagnostic> Check(Scenario scenario)
    {
        var checks = scenario.Unknowns.SelectMany(u => u.ExtremeValues().Select(v => (u, v))).ToArray();
        var found = new IReadOnlyList<ScenarioDiagnostic>[checks.Length];
        Parallel.For(0, checks.Length, j =>
        {
            var (u, v) = checks[j];
            try
            {
                ScenarioLoader.LoadText(scenario.SourceText, scenario.SourceFile,
                    [.. scenario.Overrides, .. u.Keys.Select(k => new Override(k, v) { Origin = $"{u.Origin} (value {v})" })]);
                found[j] = [];
            }
            catch (ScenarioException e)
            {
                found[j] = e.Diagnostics;
            }
        });
        var problems = new List<ScenarioDiagnostic>();
        foreach (var d in found.SelectMany(f => f))
        {
            if (!problems.Contains(d))
                problems.Add(d);
        }
        return problems;
    }
}

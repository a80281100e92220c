using PleSim.Engine;
using PleSim.Experiments.Reproduce;
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

/// <summary>The designs every unknowns study draws from: a Morris design for the ranking, then a Latin hypercube for the band.</summary>
public static class UncertaintyDesign
{
    /// <summary>
    /// Adds to <paramref name="problems"/> what every study checks (each unknown's values load into
    /// <paramref name="baseScenario"/>; the study's size is valid) and throws them all together if any;
    /// else draws the two designs from the stream <c>uncertainty-design</c> of the scenario's seed.
    /// </summary>
    public static (MorrisDesign Morris, double[][] Lhs) Create(Scenario baseScenario, UncertaintyOptions options, List<ScenarioDiagnostic> problems)
    {
        // Every value of a set and both ends of a range, loaded into the scenario.
        foreach (var d in UnknownValues.Check(baseScenario))
        {
            if (!problems.Contains(d))
                problems.Add(d);
        }
        if (options.Trajectories < 1 || options.Levels < 2 || options.Levels % 2 != 0 || options.LhsPoints < 0 || options.Runs < 1)
            problems.Add(new ScenarioDiagnostic("--uncertainty", 0, 0, "", $"need ≥ 1 trajectory, an even number ≥ 2 of levels, ≥ 0 band points and ≥ 1 run; got {options}"));
        if (problems.Count > 0)
            throw new ScenarioException(problems);
        var rng = new RandomStream(baseScenario.Seed, "uncertainty-design");
        var morris = MorrisDesign.Create(baseScenario.Unknowns.Count, options.Levels, options.Trajectories, rng);
        var lhs = options.LhsPoints > 0 ? LatinHypercube.Create(options.LhsPoints, baseScenario.Unknowns.Count, rng) : [];
        return (morris, lhs);
    }
}

using PleSim.Engine;

namespace PleSim.Experiments.Uncertainty;

/// <summary>
/// Morris's elementary-effects screening design (Morris 1991, "Factorial sampling plans for
/// preliminary computational experiments"): <see cref="Trajectories"/> random one-at-a-time paths
/// through a grid of <see cref="Levels"/> levels on the unit cube [0, 1]^k. A path starts at a
/// random grid point and moves each factor once, in random order, by ±<see cref="Delta"/>
/// (Δ = p / (2(p − 1))), so it has k + 1 points and each step gives one elementary effect
/// EE_i = (y(after) − y(before)) / (x_i(after) − x_i(before)).
/// </summary>
public sealed class MorrisDesign
{
    private MorrisDesign(int factors, int levels, int trajectories, double[][] points, int[] changed)
    {
        Factors = factors;
        Levels = levels;
        Trajectories = trajectories;
        Points = points;
        Changed = changed;
    }

    public int Factors { get; }

    /// <summary>p: the grid has the levels 0, 1/(p−1), …, 1 in each factor (p even).</summary>
    public int Levels { get; }

    public int Trajectories { get; }

    /// <summary>Δ = p / (2(p − 1)), the step of every move (2/3 for p = 4).</summary>
    public double Delta => Levels / (2.0 * (Levels - 1));

    /// <summary>All points, trajectory after trajectory, k + 1 per trajectory; coordinates in [0, 1].</summary>
    public IReadOnlyList<double[]> Points { get; }

    /// <summary>For point j: the factor its step changed (−1 for a trajectory's first point).</summary>
    public IReadOnlyList<int> Changed { get; }

    public static MorrisDesign Create(int factors, int levels, int trajectories, RandomStream rng)
    {
        if (factors < 1)
            throw new ArgumentOutOfRangeException(nameof(factors), "at least one factor");
        if (levels < 2 || levels % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(levels), "Morris levels p must be even and at least 2");
        if (trajectories < 1)
            throw new ArgumentOutOfRangeException(nameof(trajectories), "at least one trajectory");
        double delta = levels / (2.0 * (levels - 1));
        var points = new List<double[]>();
        var changed = new List<int>();
        for (int t = 0; t < trajectories; t++)
        {
            var x = new double[factors];
            var up = new bool[factors];
            for (int i = 0; i < factors; i++)
            {
                // Base level in {0, …, 1 − Δ}: p/2 grid levels; moving down starts Δ higher.
                x[i] = rng.NextInt(levels / 2) / (double)(levels - 1);
                up[i] = rng.NextDouble() < 0.5;
                if (!up[i])
                    x[i] += delta;
            }
            var order = Enumerable.Range(0, factors).ToArray();
            for (int i = factors - 1; i > 0; i--)
            {
                int j = rng.NextInt(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            points.Add((double[])x.Clone());
            changed.Add(-1);
            foreach (var i in order)
            {
                x[i] = Snap(x[i] + (up[i] ? delta : -delta), levels);
                points.Add((double[])x.Clone());
                changed.Add(i);
            }
        }
        return new MorrisDesign(factors, levels, trajectories, points.ToArray(), changed.ToArray());
    }

    /// <summary>Rounds to the nearest grid level so that repeated ±Δ steps stay exactly on the grid.</summary>
    private static double Snap(double x, int levels) => Math.Round(x * (levels - 1)) / (levels - 1);

    /// <summary>
    /// The elementary effects of every factor from the outputs <paramref name="y"/> (one per point of
    /// <see cref="Points"/>; NaN marks a missing output, whose effects are skipped): per factor the
    /// mean μ, the mean of absolute values μ* (Campolongo et al. 2007) and the standard deviation σ.
    /// </summary>
    public IReadOnlyList<ElementaryEffects> Analyse(IReadOnlyList<double> y)
    {
        if (y.Count != Points.Count)
            throw new ArgumentException($"expected {Points.Count} outputs, got {y.Count}", nameof(y));
        var effects = Enumerable.Range(0, Factors).Select(_ => new List<double>()).ToArray();
        for (int j = 0; j < Points.Count; j++)
        {
            int i = Changed[j];
            if (i < 0 || !double.IsFinite(y[j]) || !double.IsFinite(y[j - 1]))
                continue;
            effects[i].Add((y[j] - y[j - 1]) / (Points[j][i] - Points[j - 1][i]));
        }
        return effects.Select((e, i) => ElementaryEffects.Of(i, e)).ToList();
    }
}

/// <summary>One factor's elementary effects: μ (mean), μ* (mean absolute value), σ (sample standard deviation), and how many.</summary>
public sealed record ElementaryEffects(int Factor, double Mu, double MuStar, double Sigma, int Count)
{
    public static ElementaryEffects Of(int factor, IReadOnlyList<double> e)
    {
        if (e.Count == 0)
            return new ElementaryEffects(factor, double.NaN, double.NaN, double.NaN, 0);
        double mu = e.Average();
        double muStar = e.Average(Math.Abs);
        double sigma = e.Count > 1 ? Math.Sqrt(e.Sum(v => (v - mu) * (v - mu)) / (e.Count - 1)) : double.NaN;
        return new ElementaryEffects(factor, mu, muStar, sigma, e.Count);
    }
}

/// <summary>
/// A Latin hypercube sample (McKay, Beckman and Conover 1979): n points in [0, 1]^k such that in
/// every dimension each of the n equal strata holds exactly one point (random position inside it).
/// </summary>
public static class LatinHypercube
{
    public static double[][] Create(int points, int factors, RandomStream rng)
    {
        if (points < 1 || factors < 1)
            throw new ArgumentOutOfRangeException(nameof(points), "at least one point and one factor");
        var x = new double[points][];
        for (int j = 0; j < points; j++)
            x[j] = new double[factors];
        var strata = new int[points];
        for (int i = 0; i < factors; i++)
        {
            for (int j = 0; j < points; j++)
                strata[j] = j;
            for (int j = points - 1; j > 0; j--)
            {
                int m = rng.NextInt(j + 1);
                (strata[j], strata[m]) = (strata[m], strata[j]);
            }
            for (int j = 0; j < points; j++)
                x[j][i] = (strata[j] + rng.NextDouble()) / points;
        }
        return x;
    }
}

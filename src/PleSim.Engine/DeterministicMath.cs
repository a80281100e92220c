namespace PleSim.Engine;

/// <summary>
/// <c>log</c> and <c>exp</c> built only from IEEE-754 +, −, ×, ÷ (which are exactly rounded
/// everywhere), so random draws are bit-identical on every machine. <see cref="Math.Log(double)"/>
/// and <see cref="Math.Exp"/> call the platform's libm, whose last bit may differ between
/// operating systems and CPUs. Accuracy is within a few ulps, which is all a sampler needs.
/// </summary>
public static class DeterministicMath
{
    private const double Ln2Hi = 6.93147180369123816490e-01;
    private const double Ln2Lo = 1.90821492927058770002e-10;
    private const double InvLn2 = 1.44269504088896338700e+00;
    private const double Sqrt2 = 1.41421356237309504880;

    /// <summary>Natural logarithm for positive finite <paramref name="x"/>.</summary>
    public static double Log(double x)
    {
        if (!(x > 0) || double.IsInfinity(x))
            throw new ArgumentOutOfRangeException(nameof(x), x, "log needs a positive finite number");
        long bits = BitConverter.DoubleToInt64Bits(x);
        int exp = (int)((bits >> 52) & 0x7ff);
        if (exp == 0)
        {
            // Subnormal: scale into the normal range first (exact).
            x *= 18014398509481984.0; // 2^54
            bits = BitConverter.DoubleToInt64Bits(x);
            exp = (int)((bits >> 52) & 0x7ff) - 54;
        }
        int e = exp - 1023;
        double m = BitConverter.Int64BitsToDouble((bits & 0x000fffffffffffffL) | 0x3ff0000000000000L); // [1, 2)
        if (m > Sqrt2)
        {
            m *= 0.5;
            e++;
        }
        // log(m) = 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.1716
        double f = m - 1.0;
        double s = f / (2.0 + f);
        double s2 = s * s;
        double term = s;
        double sum = s;
        for (int k = 3; k <= 27; k += 2)
        {
            term *= s2;
            sum += term / k;
        }
        return (e * Ln2Hi) + ((2.0 * sum) + (e * Ln2Lo));
    }

    /// <summary>e^x for finite x (0 below about −745, +∞ above about 709.78).</summary>
    public static double Exp(double x)
    {
        if (double.IsNaN(x))
            return x;
        if (x > 709.782712893384)
            return double.PositiveInfinity;
        if (x < -745.1332191019412)
            return 0.0;
        double nd = Math.Round(x * InvLn2);
        int n = (int)nd;
        double r = (x - (nd * Ln2Hi)) - (nd * Ln2Lo); // |r| <= ~0.347
        // Taylor series to degree 18: error well below 1e-17 on this range.
        double term = 1.0;
        double sum = 1.0;
        for (int k = 1; k <= 18; k++)
        {
            term *= r / k;
            sum += term;
        }
        return Math.ScaleB(sum, n);
    }
}

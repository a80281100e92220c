namespace PleSim.Engine;

/// <summary>
/// One named, seeded random stream (xoshiro256**, seeded through SplitMix64). Every component
/// draws from its own stream, derived only from the run seed and the stream's name, so adding
/// a component or a draw elsewhere never changes this stream's values.
/// </summary>
public sealed class RandomStream
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareNormal;
    private bool _hasSpare;

    public RandomStream(ulong seed, string name)
        : this(StableHash.Combine(StableHash.Of(name), seed), name, derived: true)
    {
    }

    private RandomStream(ulong mixedSeed, string name, bool derived)
    {
        _ = derived;
        Name = name;
        ulong x = mixedSeed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
        if ((_s0 | _s1 | _s2 | _s3) == 0)
            _s0 = 1; // the all-zero state is the one state xoshiro cannot leave
    }

    public string Name { get; }

    /// <summary>A stream with an explicit xoshiro state (for checking against reference vectors).</summary>
    internal static RandomStream FromState(ulong s0, ulong s1, ulong s2, ulong s3)
    {
        var r = new RandomStream(0, "state");
        r._s0 = s0;
        r._s1 = s1;
        r._s2 = s2;
        r._s3 = s3;
        return r;
    }

    /// <summary>SplitMix64 step: the usual way to spread one 64-bit seed over xoshiro's 256-bit state.</summary>
    public static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in (0, 1]: safe to take the logarithm of.</summary>
    public double NextDoubleNonZero() => ((NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [lo, hi).</summary>
    public double Uniform(double lo, double hi) => lo + ((hi - lo) * NextDouble());

    /// <summary>Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject).</summary>
    public int NextInt(int n)
    {
        if (n <= 0)
            throw new ArgumentOutOfRangeException(nameof(n), n, "must be positive");
        ulong range = (ulong)n;
        ulong x = NextUInt64() >> 32;
        ulong m = x * range;
        ulong low = m & 0xffffffffUL;
        if (low < range)
        {
            ulong threshold = (0x1_0000_0000UL - range) % range;
            while (low < threshold)
            {
                x = NextUInt64() >> 32;
                m = x * range;
                low = m & 0xffffffffUL;
            }
        }
        return (int)(m >> 32);
    }

    public bool Bernoulli(double p) => NextDouble() < p;

    /// <summary>Exponential with the given mean.</summary>
    public double Exponential(double mean) => -mean * DeterministicMath.Log(NextDoubleNonZero());

    /// <summary>Standard normal (Marsaglia's polar method; needs only log and sqrt, both deterministic here).</summary>
    public double StandardNormal()
    {
        if (_hasSpare)
        {
            _hasSpare = false;
            return _spareNormal;
        }
        double u, v, s;
        do
        {
            u = (2.0 * NextDouble()) - 1.0;
            v = (2.0 * NextDouble()) - 1.0;
            s = (u * u) + (v * v);
        }
        while (s >= 1.0 || s == 0.0);
        double k = Math.Sqrt(-2.0 * DeterministicMath.Log(s) / s); // sqrt is exactly rounded by IEEE-754
        _spareNormal = v * k;
        _hasSpare = true;
        return u * k;
    }

    public double Normal(double mean, double stdev) => mean + (stdev * StandardNormal());

    /// <summary>Log-normal with parameters of the underlying normal.</summary>
    public double LogNormal(double mu, double sigma) => DeterministicMath.Exp(mu + (sigma * StandardNormal()));

    /// <summary>Log-normal with a given mean and coefficient of variation (stdev / mean).</summary>
    public double LogNormalMeanCv(double mean, double cv)
    {
        if (cv <= 0)
            return mean;
        double sigma2 = DeterministicMath.Log(1 + (cv * cv));
        double mu = DeterministicMath.Log(mean) - (sigma2 / 2);
        return LogNormal(mu, Math.Sqrt(sigma2));
    }

    /// <summary>An exponential duration with the given mean, at least 1 ns.</summary>
    public SimDuration Exponential(SimDuration mean) =>
        new(Math.Max(1L, (long)Math.Round(Exponential((double)mean.Ns))));
}

/// <summary>Hands out the named streams of one run.</summary>
public sealed class RandomStreams
{
    private readonly Dictionary<string, RandomStream> _streams = new(StringComparer.Ordinal);

    public RandomStreams(ulong runSeed) => RunSeed = runSeed;

    public ulong RunSeed { get; }

    /// <summary>The stream called <paramref name="name"/>; the same object on every call.</summary>
    public RandomStream Get(string name)
    {
        if (!_streams.TryGetValue(name, out var s))
        {
            s = new RandomStream(RunSeed, name);
            _streams.Add(name, s);
        }
        return s;
    }
}

namespace PleSim.Host;

/// <summary>
/// <c>struct load_weight</c>: a weight and a cached inverse used to turn divisions into
/// multiplications. Tasks take the inverse from <see cref="Weights.PrioToWmult"/>; queues and
/// group entities compute it lazily with the kernel's formula, exactly as 2.6.39 does (the two
/// differ in the last bits, and so do the resulting vruntimes).
/// </summary>
public struct LoadWeight
{
    public long Weight;
    public long InvWeight; // 0 = not computed yet

    public void Add(long inc)
    {
        Weight += inc;
        InvWeight = 0;
    }

    public void Sub(long dec)
    {
        Weight -= dec;
        InvWeight = 0;
    }

    public void Set(long w)
    {
        Weight = w;
        InvWeight = 0;
    }
}

/// <summary>The kernel's weight tables and fixed-point arithmetic (kernel/sched.c, 2.6.39).</summary>
public static class Weights
{
    /// <summary>NICE_0_LOAD = SCHED_LOAD_SCALE = 1 &lt;&lt; 10.</summary>
    public const long Nice0Load = 1024;

    /// <summary>SCHED_LOAD_SHIFT.</summary>
    public const int SchedLoadShift = 10;

    /// <summary>WMULT_CONST on 64-bit kernels (1 &lt;&lt; 32) and WMULT_SHIFT.</summary>
    public const long WmultConst = 1L << 32;
    public const int WmultShift = 32;

    /// <summary>MIN_SHARES / MAX_SHARES for task groups.</summary>
    public const long MinShares = 2;
    public const long MaxShares = 1L << 18;

    /// <summary><c>prio_to_weight[]</c>: nice -20 … 19. Each step is ~1.25×, i.e. ~10% CPU.</summary>
    public static readonly long[] PrioToWeight =
    [
        88761, 71755, 56483, 46273, 36291,
        29154, 23254, 18705, 14949, 11916,
        9548, 7620, 6100, 4904, 3906,
        3121, 2501, 1991, 1586, 1277,
        1024, 820, 655, 526, 423,
        335, 272, 215, 172, 137,
        110, 87, 70, 56, 45,
        36, 29, 23, 18, 15,
    ];

    /// <summary><c>prio_to_wmult[]</c>: 2^32 / weight, precomputed in the kernel source.</summary>
    public static readonly long[] PrioToWmult =
    [
        48388, 59856, 76040, 92818, 118348,
        147320, 184698, 229616, 287308, 360437,
        449829, 563644, 704093, 875809, 1099582,
        1376151, 1717300, 2157191, 2708050, 3363326,
        4194304, 5237765, 6557202, 8165337, 10153587,
        12820798, 15790321, 19976592, 24970740, 31350126,
        39045157, 49367440, 61356676, 76695844, 95443717,
        119304647, 148102320, 186737708, 238609294, 286331153,
    ];

    /// <summary>The load weight of a SCHED_NORMAL task of nice <paramref name="nice"/> (<c>set_load_weight</c>).</summary>
    public static LoadWeight ForNice(int nice)
    {
        if (nice is < -20 or > 19)
            throw new ArgumentOutOfRangeException(nameof(nice), nice, "nice must be in [-20, 19]");
        return new LoadWeight { Weight = PrioToWeight[nice + 20], InvWeight = PrioToWmult[nice + 20] };
    }

    /// <summary>Shift right and round (<c>SRR</c>).</summary>
    private static ulong Srr(ulong x, int y) => (x + (1UL << (y - 1))) >> y;

    /// <summary>
    /// <c>calc_delta_mine</c>: delta × weight / lw.weight in the kernel's fixed point, computing and
    /// caching lw's inverse if needed. Used for vruntime advance, slices and wake-up granularity.
    /// </summary>
    public static long CalcDeltaMine(long deltaExec, long weight, ref LoadWeight lw)
    {
        if (lw.InvWeight == 0)
        {
            lw.InvWeight = lw.Weight >= WmultConst
                ? 1
                : 1 + ((WmultConst - (lw.Weight / 2)) / (lw.Weight + 1));
        }
        ulong tmp = (ulong)deltaExec * (ulong)weight;
        if (tmp > (ulong)WmultConst)
            tmp = Srr(Srr(tmp, WmultShift / 2) * (ulong)lw.InvWeight, WmultShift / 2);
        else
            tmp = Srr(tmp * (ulong)lw.InvWeight, WmultShift);
        return (long)Math.Min(tmp, (ulong)long.MaxValue);
    }

    /// <summary><c>calc_delta_fair</c> (2.6.39): delta scaled to NICE_0 virtual time for an entity of load <paramref name="lw"/>.</summary>
    public static long CalcDeltaFair(long delta, ref LoadWeight lw) =>
        lw.Weight != Nice0Load ? CalcDeltaMine(delta, Nice0Load, ref lw) : delta;

    /// <summary>WMULT_CONST from 3.16 on: ~0U, 2^32 − 1.</summary>
    public const long WmultConst316 = uint.MaxValue;

    /// <summary>
    /// <c>__calc_delta</c> with <c>__update_inv_weight</c>, as kernel/sched/fair.c has them from 3.16
    /// ("sched/fair: Rework sched_fair time accounting") through 4.19 and the EEVDF kernels: the
    /// queue's inverse is (2^32 − 1) / weight, truncated, where 2.6.39 rounds
    /// 1 + (2^32 − weight/2) / (weight + 1); the factor weight × inverse is shifted down until it fits
    /// 32 bits, lowering the final shift by as much, and the product with delta is truncated
    /// (<c>mul_u64_u32_shr</c>), where 2.6.39 rounds (SRR). Weights are unscaled (decision 0056), so
    /// <c>scale_load_down</c> is the identity. Task weights take the same precomputed inverses
    /// (<c>sched_prio_to_wmult</c> equals 2.6.39's <c>prio_to_wmult</c>).
    /// </summary>
    public static long CalcDelta316(long deltaExec, long weight, ref LoadWeight lw)
    {
        if (lw.InvWeight == 0)
        {
            long w = lw.Weight;
            lw.InvWeight = w >= WmultConst316 ? 1 : w == 0 ? WmultConst316 : WmultConst316 / w;
        }
        ulong fact = (ulong)weight;
        int shift = WmultShift;
        while (fact >> 32 != 0)
        {
            fact >>= 1;
            shift--;
        }
        fact = (ulong)(uint)fact * (ulong)lw.InvWeight;
        while (fact >> 32 != 0)
        {
            fact >>= 1;
            shift--;
        }
        var product = ((UInt128)(ulong)deltaExec * fact) >> shift; // mul_u64_u32_shr
        return product > long.MaxValue ? long.MaxValue : (long)(ulong)product;
    }

    /// <summary><c>ilog2</c> of a positive integer.</summary>
    public static int Ilog2(long x) => 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)x);
}

namespace PleSim.Host;

/// <summary>
/// <c>struct sched_avg</c> (Linux v6.6 include/linux/sched.h): the per-entity and per-queue load
/// tracking sums and averages of PELT. Times are the PELT clock in nanoseconds; the sums are
/// geometric series over 1024 µs periods with y^32 = 1/2 (decision 0056). With 4.19's load tracking
/// (decision 0053) <see cref="RunnableSum"/>/<see cref="RunnableAvg"/> hold v4.19's
/// <c>runnable_load_sum</c>/<c>runnable_load_avg</c> (the load of the entity while queued).
/// </summary>
public struct SchedAvg
{
    public long LastUpdateTime;
    public long LoadSum;
    public long RunnableSum;
    public long UtilSum;
    public long PeriodContrib;
    public long LoadAvg;
    public long RunnableAvg;
    public long UtilAvg;
}

/// <summary>
/// Per-Entity Load Tracking, kernel/sched/pelt.c at v6.6: <c>decay_load</c>, the segment sum of
/// <c>accumulate_sum</c>, <c>___update_load_sum</c> and <c>___update_load_avg</c>. Integer arithmetic
/// as the kernel does it. The constant tables are derived here the way the kernel's generator
/// (Documentation/scheduler/sched-pelt.c) derives them, not copied.
/// </summary>
public static class Pelt
{
    /// <summary><c>LOAD_AVG_PERIOD</c>: the half-life in periods (y^32 = 1/2).</summary>
    public const int LoadAvgPeriod = 32;

    /// <summary><c>SCHED_CAPACITY_SHIFT</c> / <c>SCHED_CAPACITY_SCALE</c>.</summary>
    public const int SchedCapacityShift = 10;
    public const long SchedCapacityScale = 1L << SchedCapacityShift;

    /// <summary><c>runnable_avg_yN_inv[n]</c> = (2^32 − 1) · y^n, truncated, for n &lt; 32.</summary>
    public static readonly uint[] RunnableAvgYNInv = BuildYNInv();

    /// <summary><c>LOAD_AVG_MAX</c>: the converged value of Σ 1024·y^n in the kernel's integer recurrence.</summary>
    public static readonly long LoadAvgMax = ConvergedMax();

    /// <summary><c>PELT_MIN_DIVIDER</c> = LOAD_AVG_MAX − 1024.</summary>
    public static long PeltMinDivider => LoadAvgMax - 1024;

    private static uint[] BuildYNInv()
    {
        double y = Math.Pow(0.5, 1.0 / LoadAvgPeriod);
        var t = new uint[LoadAvgPeriod];
        for (int i = 0; i < LoadAvgPeriod; i++)
            t[i] = (uint)(uint.MaxValue * Math.Pow(y, i));
        return t;
    }

    private static long ConvergedMax()
    {
        // max = max·y + 1024 in 32-bit fixed point, until it stops changing (calc_converged_max).
        long yInv = RunnableAvgYNInv[1];
        long max = 1024, last = 0;
        while (last != max)
        {
            last = max;
            max = ((max * yInv) >> 32) + 1024;
        }
        return max;
    }

    /// <summary><c>mul_u64_u32_shr(a, mul, 32)</c> with a 128-bit product.</summary>
    private static long MulShr32(long a, uint mul)
    {
        ulong hi = Math.BigMul((ulong)a, mul, out ulong lo);
        return (long)((hi << 32) | (lo >> 32));
    }

    /// <summary><c>decay_load</c>: val · y^n, halving per 32 periods and a table step within them; 0 beyond 63 half-lives.</summary>
    public static long DecayLoad(long val, long n)
    {
        if (n > LoadAvgPeriod * 63)
            return 0;
        if (n >= LoadAvgPeriod)
        {
            val >>= (int)(n / LoadAvgPeriod);
            n %= LoadAvgPeriod;
        }
        return MulShr32(val, RunnableAvgYNInv[n]);
    }

    /// <summary><c>__accumulate_pelt_segments</c>: d1·y^p + 1024·Σ_{n=1}^{p−1} y^n + d3.</summary>
    public static long AccumulatePeltSegments(long periods, long d1, long d3)
    {
        long c1 = DecayLoad(d1, periods);
        long c2 = LoadAvgMax - DecayLoad(LoadAvgMax, periods) - 1024;
        return (uint)(c1 + c2 + d3); // u32 in the kernel
    }

    /// <summary><c>accumulate_sum</c>: decay the sums over crossed periods and add this update's contribution. Returns the periods crossed.</summary>
    private static long AccumulateSum(long delta, ref SchedAvg sa, long load, long runnable, bool running, int runnableShift)
    {
        long contrib = delta; // no period crossed: delta < 1024
        delta += sa.PeriodContrib;
        long periods = delta / 1024;
        if (periods != 0)
        {
            sa.LoadSum = DecayLoad(sa.LoadSum, periods);
            sa.RunnableSum = DecayLoad(sa.RunnableSum, periods);
            sa.UtilSum = DecayLoad(sa.UtilSum, periods);
            delta %= 1024;
            if (load != 0)
                contrib = AccumulatePeltSegments(periods, 1024 - sa.PeriodContrib, delta);
        }
        sa.PeriodContrib = delta;
        if (load != 0)
            sa.LoadSum += load * contrib;
        if (runnable != 0)
            sa.RunnableSum += (runnable * contrib) << runnableShift;
        if (running)
            sa.UtilSum += contrib << SchedCapacityShift;
        return periods;
    }

    /// <summary>
    /// <c>___update_load_sum</c>: advance the sums to <paramref name="now"/> in 1024 ns units;
    /// returns true when a period boundary was crossed (the averages need refreshing).
    /// </summary>
    /// <remarks>
    /// <paramref name="runnableShift"/>: 6.6 accumulates the runnable sum scaled by the capacity
    /// (<c>runnable * contrib &lt;&lt; SCHED_CAPACITY_SHIFT</c>, 5.7+); 4.19 accumulates its
    /// <c>runnable_load_sum</c> as <c>runnable * contrib</c> (the runnable weight, unscaled; pass 0).
    /// The rest of the arithmetic is the same in both versions.
    /// </remarks>
    public static bool UpdateLoadSum(long now, ref SchedAvg sa, long load, long runnable, bool running, int runnableShift = SchedCapacityShift)
    {
        long delta = now - sa.LastUpdateTime;
        if (delta < 0)
        {
            sa.LastUpdateTime = now;
            return false;
        }
        delta >>= 10;
        if (delta == 0)
            return false;
        sa.LastUpdateTime += delta << 10;
        if (load == 0)
        {
            runnable = 0;
            running = false;
        }
        return AccumulateSum(delta, ref sa, load, runnable, running, runnableShift) != 0;
    }

    /// <summary><c>get_pelt_divider</c>: the maximum a sum can hold at this point of the period.</summary>
    public static long GetPeltDivider(in SchedAvg sa) => PeltMinDivider + sa.PeriodContrib;

    /// <summary><c>___update_load_avg</c>: averages = sums / divider (load weighted by <paramref name="load"/>).</summary>
    public static void UpdateLoadAvg(ref SchedAvg sa, long load)
    {
        long divider = GetPeltDivider(sa);
        sa.LoadAvg = load * sa.LoadSum / divider;
        sa.RunnableAvg = sa.RunnableSum / divider;
        sa.UtilAvg = sa.UtilSum / divider;
    }

    /// <summary>
    /// <c>___update_load_avg(sa, load, runnable)</c> as kernel/sched/pelt.c has it at v4.19: load_avg
    /// = load · load_sum / divider, runnable_load_avg = runnable · runnable_load_sum / divider (kept in
    /// <see cref="SchedAvg.RunnableAvg"/>/<see cref="SchedAvg.RunnableSum"/>), util_avg = util_sum / divider.
    /// </summary>
    public static void UpdateLoadAvg419(ref SchedAvg sa, long load, long runnable)
    {
        long divider = GetPeltDivider(sa);
        sa.LoadAvg = load * sa.LoadSum / divider;
        sa.RunnableAvg = runnable * sa.RunnableSum / divider;
        sa.UtilAvg = sa.UtilSum / divider;
    }
}

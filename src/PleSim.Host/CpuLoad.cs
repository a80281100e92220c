namespace PleSim.Host;

public sealed partial class HostScheduler
{
    // degrade_zero_ticks / degrade_factor (kernel/sched.c 2.6.39): the decay of cpu_load[idx] over
    // 2^j missed ticks, on a 128-point scale.
    private const int DegradeShift = 7;
    private static readonly int[] DegradeZeroTicks = [0, 8, 32, 64, 128];
    private static readonly int[][] DegradeFactor =
    [
        [0, 0, 0, 0, 0, 0, 0, 0],
        [64, 32, 8, 0, 0, 0, 0, 0],
        [96, 72, 40, 12, 1, 0, 0, 0],
        [112, 98, 75, 43, 15, 1, 0, 0],
        [120, 112, 98, 76, 45, 16, 2, 0],
    ];

    /// <summary><c>decay_load_missed</c>: decay a load index over ticks it missed while the tick was stopped.</summary>
    public static long DecayLoadMissed(long load, long missedUpdates, int idx)
    {
        if (missedUpdates == 0)
            return load;
        if (missedUpdates >= DegradeZeroTicks[idx])
            return 0;
        if (idx == 1)
            return load >> (int)missedUpdates;
        int j = 0;
        while (missedUpdates != 0)
        {
            if (missedUpdates % 2 != 0)
                load = (load * DegradeFactor[idx][j]) >> DegradeShift;
            missedUpdates >>= 1;
            j++;
        }
        return load;
    }

    /// <summary>
    /// <c>update_cpu_load</c>: cpu_load[0] = the current load; cpu_load[i] = (old·(2^i−1) + new)/2^i,
    /// rounding up when the load rises, after decaying over ticks missed in NOHZ idle.
    /// </summary>
    internal void UpdateCpuLoad(RunQueue rq)
    {
        // 4.19 feeds cpu_load[] with weighted_cpuload (runnable_load_avg; decision 0053). Its
        // cpu_load_update also re-adds the "tickless_load" of a CPU that stopped its tick while busy
        // (NO_HZ_FULL); an idle CPU enters NOHZ with no runnable load, so that term is 0 here.
        long thisLoad = WeightedCpuload(rq.Cpu);
        long currJiffies = Jiffies;
        if (currJiffies == rq.LastLoadUpdateTick)
            return;
        long pending = currJiffies - rq.LastLoadUpdateTick;
        rq.LastLoadUpdateTick = currJiffies;
        UpdateCpuLoadIndexes(rq.CpuLoad, thisLoad, pending);
    }

    /// <summary>
    /// <c>update_cpu_load</c>'s arithmetic on one CPU's <paramref name="cpuLoad"/> (cpu_load[0..4]):
    /// index 0 takes <paramref name="thisLoad"/>; index i decays over the
    /// <paramref name="pending"/> − 1 ticks it missed, then blends in the new load with weight 2^-i.
    /// Shared with the guest kernel's copy (GuestCpu.UpdateCpuLoad).
    /// </summary>
    public static void UpdateCpuLoadIndexes(Span<long> cpuLoad, long thisLoad, long pending)
    {
        cpuLoad[0] = thisLoad;
        long scale = 2;
        for (int i = 1; i < cpuLoad.Length; i++, scale += scale)
        {
            long oldLoad = DecayLoadMissed(cpuLoad[i], pending - 1, i);
            long newLoad = thisLoad;
            if (newLoad > oldLoad)
                newLoad += scale - 1;
            cpuLoad[i] = ((oldLoad * (scale - 1)) + newLoad) >> i;
        }
    }
}

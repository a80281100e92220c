using PleSim.Host;

namespace PleSim.Host.Tests;

/// <summary>
/// 2.6.39's <c>calculate_imbalance</c> and <c>fix_small_imbalance</c> (kernel/sched_fair.c) compute in
/// <c>unsigned long</c>: when the local group is the busier one — which find_busiest_group lets through
/// when the busiest group is imbalanced (group_imb) or for the new-idle capacity test — a difference
/// wraps to a huge value instead of going negative (decision 0100). Hand-worked cases.
/// </summary>
public class Imbalance2639Tests
{
    private static HostScheduler Host() => new HostKit(4).Host;

    [Fact]
    public void A_local_group_above_the_average_pulls_max_pull_when_the_busiest_group_is_imbalanced()
    {
        // Two groups of 2 CPUs (power 2048 each). Busiest: 6 tasks, 6144 of load, group_imb; local
        // above the average: avg 2048, local 2560, max 3072. busiest_load_per_task = min(6144/6, 2048)
        // = 1024; load_above_capacity stays ~0 (group_imb); max_pull = min(3072 − 2048, ~0) = 1024.
        // (avg − this) × 2048 wraps to 2^64 − 1,048,576, so min(1024 × 2048, that) / 1024 = 2048.
        var sds = new HostScheduler.SdLbStats
        {
            Busiest = new SchedGroup(HostKit.Cpu(2, 3), 2048),
            This = new SchedGroup(HostKit.Cpu(0, 1), 2048),
            AvgLoad = 2048, ThisLoad = 2560, MaxLoad = 3072,
            BusiestLoadPerTask = 6144, BusiestNrRunning = 6, BusiestGroupCapacity = 2,
            ThisLoadPerTask = 5120, ThisNrRunning = 5,
            GroupImb = true,
        };
        Assert.Equal(2048, Host().CalculateImbalance(ref sds, 0));
    }

    [Fact]
    public void A_local_group_busier_than_the_busiest_passes_fix_small_imbalances_first_test()
    {
        // max_load 1024, this_load 3072, one CPU each (power 1024), busiest_load_per_task 1024 ⇒ scaled
        // 1024; this_load_per_task 3072 / 3 = 1024, not below it ⇒ imbn 2. max − this + scaled wraps to
        // 2^64 − 1024 ≥ 2048, so one task's load (1024) is pulled. Read as signed (−1024) the test would
        // fail and the power estimate (pwr_now 2048, pwr_move 1024) would pull nothing.
        var sds = new HostScheduler.SdLbStats
        {
            Busiest = new SchedGroup(HostKit.Cpu(1), 1024),
            This = new SchedGroup(HostKit.Cpu(0), 1024),
            AvgLoad = 2048, ThisLoad = 3072, MaxLoad = 1024,
            BusiestLoadPerTask = 1024, BusiestNrRunning = 1,
            ThisLoadPerTask = 3072, ThisNrRunning = 3,
        };
        Assert.Equal(1024, Host().FixSmallImbalance(ref sds, 0));
    }

    [Fact]
    public void Below_the_average_nothing_wraps_and_the_pull_is_what_reaches_the_average()
    {
        // avg 2048, local 1024, max 4096, busiest 4 tasks on 2 CPUs of capacity 2: load_above_capacity
        // = (4 − 2) × 1024² / 2048 = 1024; max_pull = min(2048, 1024) = 1024; min(1024 × 2048,
        // (2048 − 1024) × 2048) / 1024 = 2048.
        var sds = new HostScheduler.SdLbStats
        {
            Busiest = new SchedGroup(HostKit.Cpu(2, 3), 2048),
            This = new SchedGroup(HostKit.Cpu(0, 1), 2048),
            AvgLoad = 2048, ThisLoad = 1024, MaxLoad = 4096,
            BusiestLoadPerTask = 4096, BusiestNrRunning = 4, BusiestGroupCapacity = 2,
            ThisLoadPerTask = 2048, ThisNrRunning = 2,
        };
        Assert.Equal(2048, Host().CalculateImbalance(ref sds, 0));
    }
}

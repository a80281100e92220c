using PleSim.Experiments.Running;
using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Tests;

/// <summary>Every scenario under scenarios/host/ runs (with invariants checked) and shows the behaviour its comment promises.</summary>
public class HostScenarioTests
{
    internal static string Repo(params string[] parts)
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "PleSim.slnx")))
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("repository root not found");
        return Path.Combine([dir, .. parts]);
    }

    /// <summary>The shipped scenario scenarios/<paramref name="dir"/>/<paramref name="file"/>, loaded with <c>--set</c>-style overrides.</summary>
    internal static Scenario Shipped(string dir, string file, params string[] overrides) =>
        ScenarioLoader.LoadFile(Repo("scenarios", dir, file), overrides.Select(Override.Parse).ToList());

    private static RunResult[] Run(string file, int runs = 1, long invariantsEvery = 7, params string[] overrides)
    {
        var s = ScenarioLoader.LoadFile(Repo("scenarios", "host", file), overrides.Select(Override.Parse).ToList());
        var results = Runner.RunMany(s, Runner.Seeds(s, runs), new RunOptions { CheckInvariantsEvery = invariantsEvery });
        foreach (var r in results)
            Assert.True(r.Error is null, r.Error);
        return results;
    }

    private static double M(RunResult r, string metric) => r.Metric(metric) ?? throw new Xunit.Sdk.XunitException($"no metric {metric}");

    [Fact]
    public void Two_hogs_on_one_cpu_share_it_50_50_within_1_percent()
    {
        foreach (var r in Run("two-hogs-one-cpu.yaml", runs: 2))
        {
            Assert.InRange(M(r, "cpu_share.hog0"), 0.495, 0.505);
            Assert.InRange(M(r, "cpu_share.hog1"), 0.495, 0.505);
        }
    }

    [Fact]
    public void Nice_0_and_nice_5_share_a_cpu_in_the_ratio_of_their_weights_within_3_percent()
    {
        var r = Run("nice-weights.yaml")[0];
        double ratio = M(r, "cpu_share.nice0") / M(r, "cpu_share.nice5");
        Assert.InRange(ratio, 1024.0 / 335 * 0.97, 1024.0 / 335 * 1.03);
    }

    [Fact]
    public void Two_groups_with_equal_shares_get_half_each_within_2_percent_whatever_their_task_counts()
    {
        var r = Run("groups-equal-shares.yaml")[0];
        Assert.InRange(M(r, "group_share./a"), 0.49, 0.51);
        Assert.InRange(M(r, "group_share./b"), 0.49, 0.51);
    }

    [Fact]
    public void Six_hogs_on_four_cpus_each_get_four_sixths_of_a_cpu_within_5_percent()
    {
        foreach (var r in Run("six-hogs-four-cpus.yaml", runs: 2, invariantsEvery: 101))
        {
            for (int i = 0; i < 6; i++)
                Assert.InRange(M(r, $"cpu_share.hog{i}"), 4.0 / 6 * 0.95, 4.0 / 6 * 1.05);
            Assert.True(M(r, "host_migrations_per_second") > 0, "balancing moved nobody");
        }
    }

    [Fact]
    public void Hogs_and_sleepers_settle_one_hog_per_cpu_with_few_migrations()
    {
        foreach (var r in Run("hogs-and-sleepers.yaml", runs: 2, invariantsEvery: 13, "duration=2s"))
        {
            Assert.InRange(M(r, "host_migrations_per_second"), 0, 20);
            var hogCpus = r.Tasks.Where(t => ((string)t["task"]!).StartsWith("hog", StringComparison.Ordinal)).Select(t => (long)t["last_cpu"]!).ToList();
            Assert.Equal(4, hogCpus.Distinct().Count());
            Assert.InRange(M(r, "host_utilisation"), 0.99, 1.0);
        }
    }

    [Fact]
    public void A_cpu_going_idle_pulls_by_new_idle_balancing_only_when_its_average_idle_passes_the_gate()
    {
        var open = Run("newidle-pull.yaml")[0];
        Assert.True(M(open, "migrations_per_second.newidle_balance") > 0);
        var gated = Run("newidle-pull.yaml", 1, 7, "host.tasks[0].sleep=100us")[0];
        Assert.Equal(0, M(gated, "migrations_per_second.newidle_balance"));
    }

    [Fact]
    public void A_busy_cpu_pulls_at_most_once_per_balance_interval_times_busy_factor()
    {
        foreach (var r in Run("balance-interval.yaml", runs: 2, invariantsEvery: 13))
        {
            Assert.True(M(r, "migrations_per_second.periodic_balance") > 0);
            Assert.True(M(r, "min_periodic_balance_gap_ms") >= 64, $"gap {M(r, "min_periodic_balance_gap_ms")} ms");
            Assert.True(M(r, "migrations_per_second.periodic_balance") <= 2 * 1000.0 / 64);
        }
    }

    [Fact]
    public void A_cache_hot_task_moves_only_once_the_imbalance_persisted_for_three_balance_passes()
    {
        var r = Run("cache-hot.yaml")[0];
        // Affinity widens at 10 ms; passes at 64, 128 fail (hot); the third (192 ms) may move a hot task.
        Assert.True(M(r, "first_periodic_migration_ms") >= 3 * 64, $"first pull at {M(r, "first_periodic_migration_ms")} ms");
        Assert.True(M(r, "migrations_per_second.periodic_balance") > 0);
    }

    [Fact]
    public void In_a_ping_pong_pair_with_a_hog_the_wakee_preempts_the_hog_at_once()
    {
        foreach (var r in Run("pingpong-hog.yaml", runs: 2))
        {
            // Wake-up preemption: the typical latency is one context switch (2 us); the rare worst
            // case (the waker still running its slice) stays under one sched_latency (6 ms here).
            Assert.True(M(r, "wakeup_latency_p99_us") <= 10, $"p99 {M(r, "wakeup_latency_p99_us")} us");
            Assert.True(M(r, "wakeup_latency_max_us") <= 6_000, $"max {M(r, "wakeup_latency_max_us")} us");
            Assert.InRange(M(r, "cpu_share.hog"), 0.30, 0.36);
        }
    }

    [Fact]
    public void After_yield_to_the_target_or_the_leftmost_runs_next_and_the_target_often_wins()
    {
        var r = Run("yield-to.yaml", runs: 1)[0];
        Assert.True(M(r, "yield_to_success") > 100);
        Assert.True(M(r, "yield_to_target_ran_next") > 0.3);
        Assert.Equal(1.0, M(r, "yield_to_target_ran_next") + M(r, "yield_to_other_ran_next") + M(r, "yield_to_self_ran_next"), 9);
    }

    [Fact]
    public void Yield_to_across_groups_reaches_the_target_only_with_hierarchical_buddies()
    {
        var on = Run("yield-to-groups.yaml")[0];
        var off = Run("yield-to-groups.yaml", 1, 7, "host.sched.features.HIERARCHICAL_BUDDIES=false")[0];
        double withHierarchy = M(on, "yield_to_target_ran_next");
        double leafOnly = M(off, "yield_to_target_ran_next");
        // Leaf-only buddies give the target no advantage over the other two (about 1/3 each).
        Assert.InRange(leafOnly, 0.25, 0.40);
        Assert.True(withHierarchy > leafOnly + 0.1, $"with hierarchy {withHierarchy}, leaf only {leafOnly}");
    }

    [Theory]
    [InlineData("cfs-2.6.39")]
    [InlineData("cfs-4.19")]
    [InlineData("eevdf-6.6")]
    public void Hogs_on_an_overloaded_numa_node_spill_to_the_idle_node_by_cross_node_migrations(string scheduler)
    {
        // Decision 0039: the NODE level (2.6.39) or the NUMA level (6.x) is the only way across.
        var r = Run("numa-balance.yaml", 1, 13, $"host.scheduler={scheduler}")[0];
        Assert.True(M(r, "host_node_migrations_per_second") > 0, "some hog must cross to node 1");
        // Node 0 alone could keep at most 8 of the 16 CPUs busy.
        Assert.True(M(r, "host_utilisation") > 0.5, $"utilisation {M(r, "host_utilisation")}");
        Assert.Contains(r.Tasks, t => ((string)t["task"]!).StartsWith("hog", StringComparison.Ordinal) && (long)t["last_cpu"]! >= 8);
    }

    [Fact]
    public void Every_host_scenario_is_covered_by_a_test_here()
    {
        var files = Directory.GetFiles(Repo("scenarios", "host"), "*.yaml").Select(Path.GetFileName).Order().ToList();
        var source = File.ReadAllText(Path.Combine(Path.GetDirectoryName(Repo("PleSim.slnx"))!, "tests", "PleSim.Experiments.Tests", "HostScenarioTests.cs"));
        Assert.All(files, f => Assert.Contains($"\"{f}\"", source, StringComparison.Ordinal));
    }
}

public class HostAllocationTests
{
    [Fact]
    public void A_busy_balancing_host_allocates_nothing_per_event_in_steady_state()
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "six-hogs-four-cpus.yaml"));
        var model = new SystemRun(s, 3);
        var (bytes, events) = SteadyState.Measure(model, 2_000_000_000, 6_000_000_000);
        Assert.True(events > 10_000);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void The_amqp_guest_with_glibc_arenas_allocates_nothing_per_event_in_steady_state()
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "riel-2011", "amqp.yaml"));
        var model = new SystemRun(s, 2011);
        var (bytes, events) = SteadyState.Measure(model, 1_000_000_000, 2_000_000_000);
        Assert.True(events > 10_000);
        Assert.Equal(0, bytes);
    }
}

/// <summary>The host scenarios under EEVDF (host.scheduler, decision 0024): shares still follow weights.</summary>
public class EevdfScenarioTests
{
    private static RunResult[] Run(string file, string scheduler, int runs = 1, long invariantsEvery = 7, params string[] overrides)
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", file), [Override.Parse($"host.scheduler={scheduler}"), .. overrides.Select(Override.Parse)]);
        Assert.Equal(HostSettings.ClassOf(scheduler), s.Host.Features.Class);
        var results = Runner.RunMany(s, Runner.Seeds(s, runs), new RunOptions { CheckInvariantsEvery = invariantsEvery });
        foreach (var r in results)
            Assert.True(r.Error is null, r.Error);
        return results;
    }

    private static double M(RunResult r, string metric) => r.Metric(metric) ?? throw new Xunit.Sdk.XunitException($"no metric {metric}");

    [Theory]
    [InlineData("eevdf-6.6")]
    [InlineData("eevdf-6.14")]
    public void Two_hogs_share_a_cpu_and_nice_weights_and_group_shares_hold(string scheduler)
    {
        var two = Run("two-hogs-one-cpu.yaml", scheduler)[0];
        Assert.InRange(M(two, "cpu_share.hog0"), 0.495, 0.505);
        var nice = Run("nice-weights.yaml", scheduler)[0];
        double ratio = M(nice, "cpu_share.nice0") / M(nice, "cpu_share.nice5");
        Assert.InRange(ratio, 1024.0 / 335 * 0.97, 1024.0 / 335 * 1.03);
        var groups = Run("groups-equal-shares.yaml", scheduler)[0];
        Assert.InRange(M(groups, "group_share./a"), 0.49, 0.51);
    }

    [Fact]
    public void Six_hogs_on_four_cpus_each_get_four_sixths_under_eevdf_with_the_2_6_39_balancer()
    {
        var r = Run("six-hogs-four-cpus.yaml", "eevdf-6.6", 1, 101)[0];
        for (int i = 0; i < 6; i++)
            Assert.InRange(M(r, $"cpu_share.hog{i}"), 4.0 / 6 * 0.95, 4.0 / 6 * 1.05);
    }

    [Fact]
    public void An_unknown_scheduler_is_an_error_at_its_key()
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "nice-weights.yaml"), [Override.Parse("host.scheduler=eevdf-7")]));
        Assert.Contains("scheduler", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_tracking_defaults_by_version_and_pelt_needs_an_eevdf_host()
    {
        // Decision 0056: the EEVDF hosts track load with PELT (6.6) unless told otherwise.
        string file = HostScenarioTests.Repo("scenarios", "host", "nice-weights.yaml");
        Assert.True(ScenarioLoader.LoadFile(file, [Override.Parse("host.scheduler=eevdf-6.6")]).Host.Features.Pelt);
        Assert.False(ScenarioLoader.LoadFile(file, [Override.Parse("host.scheduler=eevdf-6.6"), Override.Parse("host.load_tracking=2.6.39")]).Host.Features.Pelt);
        Assert.False(ScenarioLoader.LoadFile(file).Host.Features.Pelt);
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(file, [Override.Parse("host.load_tracking=pelt-6.6")]));
        Assert.Contains("load_tracking", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var six = ScenarioLoader.LoadFile(file, [Override.Parse("host.scheduler=eevdf-6.14")]).Host.Features;
        Assert.True(six.LoadBalance66 && six.WakeSelect66);
        var e2 = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(file, [Override.Parse("host.scheduler=eevdf-6.6"), Override.Parse("host.load_balance=2.6.39"), Override.Parse("host.wake_placement=6.6")]));
        Assert.Contains("wake_placement", e2.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e3 = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(file, [Override.Parse("host.scheduler=eevdf-6.6"), Override.Parse("host.load_tracking=2.6.39"), Override.Parse("host.load_balance=6.6")]));
        Assert.Contains("load_balance", e3.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void An_eevdf_host_with_groups_and_pelt_allocates_nothing_per_event_in_steady_state()
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "groups-equal-shares.yaml"), [Override.Parse("host.scheduler=eevdf-6.6"), Override.Parse("host.cpus=2")]);
        Assert.True(s.Host.Features.Pelt);
        var model = new SystemRun(s, 3);
        var (bytes, events) = SteadyState.Measure(model, 1_000_000_000, 3_000_000_000);
        Assert.True(events > 1_000);
        Assert.Equal(0, bytes);
    }

    [Fact]
    public void An_eevdf_host_allocates_nothing_per_event_in_steady_state()
    {
        var s = ScenarioLoader.LoadFile(HostScenarioTests.Repo("scenarios", "host", "six-hogs-four-cpus.yaml"), [Override.Parse("host.scheduler=eevdf-6.14")]);
        var model = new SystemRun(s, 3);
        var (bytes, events) = SteadyState.Measure(model, 2_000_000_000, 6_000_000_000);
        Assert.True(events > 10_000);
        Assert.Equal(0, bytes);
    }
}

/// <summary>cfs-4.19 with 4.19's load tracking and balancer (decision 0053): key defaults, located errors, shares, allocation-freedom.</summary>
public class Cfs419BalancerScenarioTests
{
    private static string File(string name) => HostScenarioTests.Repo("scenarios", "host", name);

    [Fact]
    public void Cfs_4_19_defaults_to_4_19_tracking_and_balancing_and_cfs_2_6_39_keeps_its_own()
    {
        var f = ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.scheduler=cfs-4.19")]).Host;
        Assert.Equal("4.19", f.LoadTracking);
        Assert.Equal("4.19", f.LoadBalance);
        Assert.Equal("4.19", f.WakePlacement);
        Assert.True(f.Features.Pelt419 && f.Features.LoadBalance419 && f.Features.WakeSelect419 && !f.Features.Pelt);
        var old = ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.scheduler=cfs-4.19"), Override.Parse("host.load_tracking=2.6.39")]).Host;
        Assert.Equal("2.6.39", old.LoadBalance); // the 4.19 balancer's default follows the tracking
        Assert.False(old.Features.Pelt419 || old.Features.LoadBalance419);
        var mixed = ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.scheduler=cfs-4.19"), Override.Parse("host.load_balance=2.6.39")]).Host;
        Assert.True(mixed.Features.Pelt419 && !mixed.Features.LoadBalance419 && !mixed.Features.WakeSelect419);
        Assert.Equal("2.6.39", mixed.WakePlacement);
        var base2639 = ScenarioLoader.LoadFile(File("nice-weights.yaml")).Host;
        Assert.Equal("2.6.39", base2639.LoadTracking);
        Assert.False(base2639.Features.Pelt419 || base2639.Features.LoadBalance419);
    }

    [Fact]
    public void The_4_19_keys_are_errors_at_their_key_off_cfs_4_19()
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.load_tracking=4.19")]));
        Assert.Contains("load_tracking", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e2 = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.scheduler=cfs-4.19"), Override.Parse("host.load_tracking=2.6.39"), Override.Parse("host.load_balance=4.19")]));
        Assert.Contains("load_balance", e2.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e3 = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.scheduler=eevdf-6.6"), Override.Parse("host.load_balance=4.19")]));
        Assert.Contains("load_balance", e3.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e4 = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.scheduler=cfs-4.19"), Override.Parse("host.load_balance=2.6.39"), Override.Parse("host.wake_placement=4.19")]));
        Assert.Contains("wake_placement", e4.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void Sched_domains_and_idle_search_default_to_4_19_on_cfs_4_19_only_and_are_errors_at_their_key_elsewhere()
    {
        var f = ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.scheduler=cfs-4.19")]).Host;
        Assert.Equal(("4.19", "4.19"), (f.SchedDomains, f.IdleSearch));
        Assert.True(f.Features.Domains419 && f.Features.IdleSearch419);
        var ablated = ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.scheduler=cfs-4.19"), Override.Parse("host.sched_domains=2.6.39"), Override.Parse("host.idle_search=2.6.39")]).Host;
        Assert.False(ablated.Features.Domains419 || ablated.Features.IdleSearch419);
        Assert.True(ablated.Features.WakeSelect419);
        var old = ScenarioLoader.LoadFile(File("nice-weights.yaml")).Host;
        Assert.Equal(("2.6.39", "2.6.39"), (old.SchedDomains, old.IdleSearch));
        Assert.False(old.Features.Domains419 || old.Features.IdleSearch419);
        var eevdf = ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.scheduler=eevdf-6.6")]).Host;
        Assert.Equal(("6.x", "6.6"), (eevdf.SchedDomains, eevdf.IdleSearch));
        Assert.False(eevdf.Features.Domains419 || eevdf.Features.IdleSearch419);
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.sched_domains=4.19")]));
        Assert.Contains("sched_domains", e.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e2 = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.scheduler=cfs-4.19"), Override.Parse("host.wake_placement=2.6.39"), Override.Parse("host.idle_search=4.19")]));
        Assert.Contains("idle_search", e2.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
        var e3 = Assert.Throws<ScenarioException>(() => ScenarioLoader.LoadFile(File("nice-weights.yaml"), [Override.Parse("host.scheduler=eevdf-6.6"), Override.Parse("host.sched_domains=2.6.39")]));
        Assert.Contains("sched_domains", e3.Diagnostics.Single().KeyPath, StringComparison.Ordinal);
    }

    [Fact]
    public void Equal_groups_get_equal_halves_with_4_19_group_shares()
    {
        var s = ScenarioLoader.LoadFile(File("groups-equal-shares.yaml"), [Override.Parse("host.scheduler=cfs-4.19")]);
        var r = Runner.RunMany(s, Runner.Seeds(s, 1), new RunOptions { CheckInvariantsEvery = 7 })[0];
        Assert.True(r.Error is null, r.Error);
        Assert.InRange(r.Metric("group_share./a")!.Value, 0.47, 0.53);
    }

    [Fact]
    public void A_cfs_4_19_host_with_groups_allocates_nothing_per_event_in_steady_state()
    {
        var s = ScenarioLoader.LoadFile(File("groups-equal-shares.yaml"), [Override.Parse("host.scheduler=cfs-4.19"), Override.Parse("host.cpus=2")]);
        Assert.True(s.Host.Features.LoadBalance419);
        var model = new SystemRun(s, 3);
        var (bytes, events) = SteadyState.Measure(model, 1_000_000_000, 3_000_000_000);
        Assert.True(events > 1_000);
        Assert.Equal(0, bytes);
    }
}

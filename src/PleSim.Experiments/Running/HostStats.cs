using PleSim.Host;

namespace PleSim.Experiments.Running;

/// <summary>Counters of the host at one instant, so a measured window can be reported as differences.</summary>
public sealed class HostStats
{
    public long[] TaskCpu = [], TaskWait = [], TaskVolSw = [], TaskInvolSw = [], TaskMigr = [], TaskWakeups = [], TaskYields = [], TaskYieldTo = [];
    public long[] CpuBusy = [], CpuIdle = [], CpuSwitches = [];
    public long[] GroupCpu = [];

    /// <summary>The vCPU debooster's counters (decision 0052), empty when host.yield_to_debooster is off.</summary>
    public long[] Deboost = [];

    /// <summary>The 6.6 balancer's counters (decision 0056): passes with an imbalance, then tasks moved, by migration type (load, util, task); empty with the 2.6.39 balancer.</summary>
    public long[] Lb66 = [];

    /// <summary>DELAY_DEQUEUE's counters (decision 0083): delayed dequeues, dequeues finished at a pick, requeues; empty when the feature is off.</summary>
    public long[] Delayed = [];

    public static HostStats Take(HostScheduler host)
    {
        host.SyncAccounting();
        var t = host.Tasks;
        return new HostStats
        {
            TaskCpu = t.Select(x => x.CpuTimeNs).ToArray(),
            TaskWait = t.Select(WaitNow).ToArray(),
            TaskVolSw = t.Select(x => x.NrVoluntarySwitches).ToArray(),
            TaskInvolSw = t.Select(x => x.NrInvoluntarySwitches).ToArray(),
            TaskMigr = t.Select(x => x.Se.NrMigrations).ToArray(),
            TaskWakeups = t.Select(x => x.NrWakeups).ToArray(),
            TaskYields = t.Select(x => x.NrYields).ToArray(),
            TaskYieldTo = t.Select(x => x.NrYieldTo).ToArray(),
            CpuBusy = host.Rqs.Select(r => r.BusyNs).ToArray(),
            CpuIdle = host.Rqs.Select(r => r.IdleNs).ToArray(),
            CpuSwitches = host.Rqs.Select(r => r.NrSwitches).ToArray(),
            GroupCpu = host.Groups.Select(g => g.CpuTimeNs).ToArray(),
            Deboost = host.Features.VcpuDebooster
                ? [host.Deboost.Attempts, host.Deboost.Applied, host.Deboost.RateLimited, host.Deboost.OtherRq, host.Deboost.NoContention, host.Deboost.Debounced, host.Deboost.PenaltyNs]
                : [],
            Lb66 = host.UsesLoadBalance66 ? [.. host.Lb66ImbalanceByType[..3], .. host.Lb66TasksMovedByType[..3]] : [],
            Delayed = host.UsesDelayDequeue ? [host.DelayedDequeues, host.DelayedPickDequeues, host.DelayedRequeues] : [],
        };

        long WaitNow(HostTask x) => x.Se.WaitSumAt(host.Sim.Now.Ns);
    }

    /// <summary>Per-CPU, per-task and per-group tables of the window between <paramref name="start"/> and <paramref name="end"/>, and host metrics.</summary>
    public static void Report(HostScheduler host, HostStats start, HostStats end, double seconds, RunResult result)
    {
        double windowNs = seconds * 1e9;
        long switches = 0, migrations = 0;
        for (int c = 0; c < host.NrCpus; c++)
        {
            long busy = end.CpuBusy[c] - start.CpuBusy[c];
            long sw = end.CpuSwitches[c] - start.CpuSwitches[c];
            switches += sw;
            result.Cpus.Add(new Record()
                .Add("cpu", (long)c)
                .Add("busy_ns", busy)
                .Add("idle_ns", end.CpuIdle[c] - start.CpuIdle[c])
                .Add("utilisation", busy / windowNs)
                .Add("switches", sw));
        }
        for (int i = 0; i < host.Tasks.Count; i++)
        {
            var t = host.Tasks[i];
            long cpu = end.TaskCpu[i] - start.TaskCpu[i];
            long migr = end.TaskMigr[i] - start.TaskMigr[i];
            migrations += migr;
            result.Tasks.Add(new Record()
                .Add("task", t.Name)
                .Add("group", t.Group.Path)
                .Add("nice", (long)t.Nice)
                .Add("cpu_ns", cpu)
                .Add("cpu_share", cpu / windowNs)
                .Add("wait_ns", end.TaskWait[i] - start.TaskWait[i])
                .Add("voluntary_switches", end.TaskVolSw[i] - start.TaskVolSw[i])
                .Add("involuntary_switches", end.TaskInvolSw[i] - start.TaskInvolSw[i])
                .Add("migrations", migr)
                .Add("wakeups", end.TaskWakeups[i] - start.TaskWakeups[i])
                .Add("yields", end.TaskYields[i] - start.TaskYields[i])
                .Add("yield_to_calls", end.TaskYieldTo[i] - start.TaskYieldTo[i])
                .Add("last_cpu", (long)t.Cpu));
        }
        for (int g = 0; g < host.Groups.Count; g++)
        {
            var grp = host.Groups[g];
            long cpu = end.GroupCpu[g] - start.GroupCpu[g];
            result.Groups.Add(new Record()
                .Add("group", grp.Path)
                .Add("shares", grp.Shares)
                .Add("cpu_ns", cpu)
                .Add("cpu_share", cpu / windowNs));
        }
        result.AddMetric("host_switches_per_second", switches / seconds);
        result.AddMetric("host_migrations_per_second", migrations / seconds);
        if (end.Deboost.Length > 0)
        {
            long Db(int k) => end.Deboost[k] - start.Deboost[k];
            result.AddMetric("host.yield_deboost_attempts_per_second", Db(0) / seconds);
            result.AddMetric("host.yield_deboosts_per_second", Db(1) / seconds);
            result.AddMetric("host.yield_deboost_rate_limited_per_second", Db(2) / seconds);
            result.AddMetric("host.yield_deboost_other_rq_per_second", Db(3) / seconds);
            result.AddMetric("host.yield_deboost_no_contention_per_second", Db(4) / seconds);
            result.AddMetric("host.yield_deboost_debounced_per_second", Db(5) / seconds);
            result.AddMetric("host.yield_deboost_mean_penalty_us", Db(1) > 0 ? Db(6) / (double)Db(1) / 1e3 : double.NaN);
        }
        if (end.Delayed.Length > 0)
        {
            result.AddMetric("host.delayed_dequeues_per_second", (end.Delayed[0] - start.Delayed[0]) / seconds);
            result.AddMetric("host.delayed_pick_dequeues_per_second", (end.Delayed[1] - start.Delayed[1]) / seconds);
            result.AddMetric("host.delayed_requeues_per_second", (end.Delayed[2] - start.Delayed[2]) / seconds);
        }
        if (end.Lb66.Length > 0)
        {
            string[] types = ["load", "util", "task"];
            for (int k = 0; k < 3; k++)
            {
                result.AddMetric($"host.lb_migrate_{types[k]}_passes_per_second", (end.Lb66[k] - start.Lb66[k]) / seconds);
                result.AddMetric($"host.lb_migrate_{types[k]}_tasks_per_second", (end.Lb66[3 + k] - start.Lb66[3 + k]) / seconds);
            }
        }
        result.AddMetric("host_utilisation", Enumerable.Range(0, host.NrCpus).Sum(c => end.CpuBusy[c] - start.CpuBusy[c]) / (windowNs * host.NrCpus));
    }
}

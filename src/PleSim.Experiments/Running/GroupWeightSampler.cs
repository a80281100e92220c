using PleSim.Host;

namespace PleSim.Experiments.Running;

/// <summary>
/// Samples, at every host tick, the weight of each task group's per-CPU scheduling entity
/// (<c>tg-&gt;se[cpu]-&gt;load.weight</c>, set by <c>update_cfs_shares</c>, kernel/sched_fair.c
/// 2.6.39) on the CPUs where the group has runnable entities. It is what decides how CPU time is
/// divided between guests in their own cgroups: each guest's VCPUs compete through these weights,
/// not through their own. Ticks stop on idle NOHZ CPUs, so the averages are over busy CPU time;
/// whether a group is runnable at a tick is not reported, because guest timer ticks (host
/// hrtimers on the same 1 ms grid) wake halted VCPUs just before host ticks and would bias it.
/// </summary>
internal sealed class GroupWeightSampler : IHostObserver
{
    private readonly TaskGroup[] _groups;
    private readonly long[] _weightSum;
    private readonly long[] _runnableTicks;

    public GroupWeightSampler(IEnumerable<TaskGroup> groups)
    {
        _groups = groups.Where(g => !g.IsRoot).ToArray();
        _weightSum = new long[_groups.Length];
        _runnableTicks = new long[_groups.Length];
    }

    public void Reset()
    {
        Array.Clear(_weightSum);
        Array.Clear(_runnableTicks);
    }

    public void Tick(int cpu)
    {
        for (int i = 0; i < _groups.Length; i++)
        {
            long w = _groups[i].RunnableWeight(cpu);
            if (w == 0)
                continue;
            _weightSum[i] += w;
            _runnableTicks[i]++;
        }
    }

    /// <summary><c>group_weight.&lt;path&gt;</c>: mean entity weight of the group on a CPU where it was runnable at a tick.</summary>
    public void Report(RunResult result)
    {
        for (int i = 0; i < _groups.Length; i++)
            result.AddMetric($"group_weight.{_groups[i].Path}", _runnableTicks[i] == 0 ? double.NaN : (double)_weightSum[i] / _runnableTicks[i]);
    }
}

namespace PleSim.Host;

/// <summary>
/// Load balancing, moving tasks (Linux 2.6.39 kernel/sched_fair.c): which task may go
/// (<c>can_migrate_task</c>, <c>task_hot</c>), moving one (<c>pull_task</c>), and pulling load from a
/// busiest CPU per task group (<c>balance_tasks</c>, <c>load_balance_fair</c>, <c>move_tasks</c>).
/// </summary>
public sealed partial class HostScheduler
{
    /// <summary>
    /// <c>task_hot</c> (2.6.39, and 4.19's, which reads the destination's queue where 2.6.39 reads
    /// this_rq(): <paramref name="busyCpu"/> is the balancing CPU in 2.6.39, env->dst_cpu in 4.19): a
    /// buddy (when that CPU is busy) or a task that ran within sched_migration_cost.
    /// </summary>
    private bool TaskHot(HostTask p, long now, int busyCpu)
    {
        if (_features.CacheHotBuddy && Rqs[busyCpu].NrRunning != 0
            && (p.Se == p.Se.CfsRq.Next || p.Se == p.Se.CfsRq.Last))
        {
            return true;
        }
        return RanWithinMigrationCost(p, now);
    }

    /// <summary>The tail of <c>task_hot</c> (2.6.39, 4.19, 6.6 alike): the task ran less than sched_migration_cost ago (never, when that is 0).</summary>
    private bool RanWithinMigrationCost(HostTask p, long now)
    {
        long cost = _tunables.MigrationCostNs.Ns;
        if (cost == 0)
            return false;
        return now - p.Se.ExecStart < cost;
    }

    /// <summary><c>can_migrate_task</c>.</summary>
    private bool CanMigrateTask(HostTask p, RunQueue rq, int thisCpu, SchedDomain sd, int balancingCpu, ref bool allPinned)
    {
        if (!p.AllowedOn(thisCpu))
            return false;
        allPinned = false;
        if (p.OnCpu)
            return false;
        bool hot = TaskHot(p, _sim.Now.Ns, balancingCpu);
        return !hot || sd.NrBalanceFailed > sd.CacheNiceTries;
    }

    /// <summary>What a balancing pass of this idle type records as the cause of the migrations it makes (all balancer versions).</summary>
    private static MigrationCause BalanceMigrationCause(CpuIdleType idle) => idle switch
    {
        CpuIdleType.NewlyIdle => MigrationCause.NewIdleBalance,
        CpuIdleType.Idle => MigrationCause.IdleBalance,
        _ => MigrationCause.PeriodicBalance,
    };

    /// <summary>
    /// The head of <c>can_migrate_task</c> as 4.19 and 6.6 have it: a task not allowed on the
    /// destination marks LBF_SOME_PINNED and stays; any other clears LBF_ALL_PINNED; a running task
    /// stays. True when the version's cache-hotness test is to decide.
    /// </summary>
    private static bool CanMigrateTaskAffinity(HostTask p, int dstCpu, ref int flags)
    {
        if (!p.AllowedOn(dstCpu))
        {
            flags |= LbfSomePinned;
            return false;
        }
        flags &= ~LbfAllPinned;
        return !p.OnCpu;
    }

    /// <summary><c>pull_task</c>.</summary>
    private void PullTask(RunQueue src, HostTask p, RunQueue thisRq, int balancingCpu, MigrationCause cause)
    {
        DeactivateTask(src, p, DequeueFlags.Migrating);
        SetTaskCpu(p, thisRq.Cpu, cause);
        ActivateTask(thisRq, p, EnqueueFlags.None);
        CheckPreemptCurr(thisRq, p, balancingCpu);
    }

    /// <summary><c>balance_tasks</c>: pull tasks of one queue (newest first) while load remains to move.</summary>
    private long BalanceTasks(RunQueue thisRq, RunQueue busiest, long maxLoadMove, SchedDomain sd, CpuIdleType idle, ref bool allPinned, CfsRq busiestCfsRq, int balancingCpu)
    {
        if (maxLoadMove == 0)
            return 0;
        int loops = 0;
        long remLoadMove = maxLoadMove;
        var cause = BalanceMigrationCause(idle);
        var list = busiestCfsRq.Tasks;
        for (int i = 0; i < list.Count; i++)
        {
            var p = list[i];
            if (loops++ > _tunables.NrMigrate)
                break;
            if ((p.Se.Load.Weight >> 1) > remLoadMove || !CanMigrateTask(p, busiest, thisRq.Cpu, sd, balancingCpu, ref allPinned))
                continue;
            PullTask(busiest, p, thisRq, balancingCpu, cause);
            i--; // p left the list
            sd.LbGained++;
            remLoadMove -= p.Se.Load.Weight;
            if (remLoadMove <= 0)
                break;
        }
        return maxLoadMove - remLoadMove;
    }

    /// <summary><c>load_balance_fair</c>: per task group, scale the load to move by the group's h_load.</summary>
    private long LoadBalanceFair(RunQueue thisRq, RunQueue busiest, long maxLoadMove, SchedDomain sd, CpuIdleType idle, ref bool allPinned, int balancingCpu)
    {
        long remLoadMove = maxLoadMove;
        int busiestCpu = busiest.Cpu;
        UpdateHLoad(busiestCpu);
        for (int g = 0; g < _groups.Count; g++)
        {
            var tg = TaskGroupInListOrder(g);
            var busiestCfsRq = tg.CfsRq[busiestCpu];
            long busiestHLoad = busiestCfsRq.HLoad;
            long busiestWeight = busiestCfsRq.Load.Weight;
            if (busiestCfsRq.Tasks.Count == 0)
                continue; // task_weight == 0: no tasks queued directly in this group here
            long remLoad = remLoadMove * busiestWeight / (busiestHLoad + 1);
            long moved = BalanceTasks(thisRq, busiest, remLoad, sd, idle, ref allPinned, busiestCfsRq, balancingCpu);
            if (moved == 0)
                continue;
            moved = moved * busiestHLoad / (busiestWeight + 1);
            remLoadMove -= moved;
            if (remLoadMove < 0)
                break;
        }
        return maxLoadMove - remLoadMove;
    }

    /// <summary><c>move_tasks</c> (CONFIG_PREEMPT off, as in the distribution kernels of 2011: no early stop).</summary>
    private bool MoveTasks(RunQueue thisRq, RunQueue busiest, long maxLoadMove, SchedDomain sd, CpuIdleType idle, ref bool allPinned, int balancingCpu)
    {
        long total = 0, moved;
        do
        {
            moved = LoadBalanceFair(thisRq, busiest, maxLoadMove - total, sd, idle, ref allPinned, balancingCpu);
            total += moved;
        }
        while (moved != 0 && maxLoadMove > total);
        return total > 0;
    }
}

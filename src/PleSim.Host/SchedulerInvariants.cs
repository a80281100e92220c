using PleSim.Engine;

namespace PleSim.Host;

/// <summary>
/// The scheduler's invariants, checked when the simulator's invariant hook is on: no task on two
/// CPUs; per CPU busy + idle = elapsed; task CPU time = CPU busy time; affinity respected;
/// nr_running and queue contents agree; the running entity is never also in its tree.
/// </summary>
internal sealed class SchedulerInvariants(HostScheduler s) : IInvariant
{
    public string Name => "host scheduler";

    public string? Check()
    {
        // Observe only: SyncAccounting's update_curr would, under EEVDF, test the deadline between
        // ticks and reschedule, so a checked run would differ from an unchecked one (decision 0044).
        s.AccountCpus();
        long now = s.Sim.Now.Ns;
        var seen = new HashSet<HostTask>();
        long busy = 0;
        foreach (var rq in s.Rqs)
        {
            if (!seen.Add(rq.Curr) && !rq.Curr.IsIdle)
                return $"{rq.Curr} is current on two CPUs";
            if (!rq.Curr.IsIdle && rq.Curr.Cpu != rq.Cpu)
                return $"{rq.Curr} runs on cpu{rq.Cpu} but task_cpu is {rq.Curr.Cpu}";
            if (rq.BusyNs + rq.IdleNs != now)
                return $"cpu{rq.Cpu}: busy {rq.BusyNs} + idle {rq.IdleNs} != elapsed {now}";
            busy += rq.BusyNs;
            if (rq.IsIdle && rq.NrRunning != 0 && !rq.NeedResched)
                return $"cpu{rq.Cpu} is idle with {rq.NrRunning} runnable tasks and no resched pending";
        }
        long taskTime = 0;
        var perCpu = new int[s.NrCpus];
        foreach (var t in s.Tasks)
        {
            taskTime += s.CpuTimeNowNs(t);
            if (t.Cpu >= 0 && !t.AllowedOn(t.Cpu))
                return $"{t} is on cpu{t.Cpu}, outside its affinity";
            if (t.OnCpu && !ReferenceEquals(s.Rqs[t.Cpu].Curr, t))
                return $"{t} claims to be on cpu{t.Cpu} but is not its current task";
            if (t.Se.OnRq)
                perCpu[t.Cpu]++;
            if (t.Se.OnRq != ((t.State == TaskState.Running || t.Se.SchedDelayed) && t.Started))
                return $"{t}: on_rq={t.Se.OnRq} but state={t.State}{(t.Se.SchedDelayed ? " (delayed)" : "")}";
            if (t.Se.SchedDelayed && t.State == TaskState.Running)
                return $"{t}: delayed but running";
        }
        if (taskTime != busy)
            return $"task CPU time {taskTime} != CPU busy time {busy}";
        foreach (var rq in s.Rqs)
        {
            if (perCpu[rq.Cpu] != rq.NrRunning)
                return $"cpu{rq.Cpu}: nr_running {rq.NrRunning} but {perCpu[rq.Cpu]} queued tasks";
            if (!s.Features.Class.IsEevdf() || s.Features.Class == FairClass.XenCredit34)
                continue;
            int delayed = 0;
            foreach (var t in s.Tasks)
                delayed += t.Se.SchedDelayed && t.Se.OnRq && t.Cpu == rq.Cpu ? 1 : 0;
            if (delayed != rq.Cfs.HNrDelayed)
                return $"cpu{rq.Cpu}: {delayed} delayed tasks queued but the root queue counts {rq.Cfs.HNrDelayed}";
        }
        foreach (var g in s.Groups)
        {
            foreach (var q in g.CfsRq)
            {
                if (q.Curr is not null && q.Contains(q.Curr))
                    return $"{q}: the running entity is also in the tree";
                if (q.TreeCount + (q.Curr is { OnRq: true } ? 1 : 0) != q.NrRunning)
                    return $"{q}: nr_running {q.NrRunning} but {q.TreeCount} queued + running";
                if (q.HNrDelayed < 0 || q.HNrDelayed > q.HNrRunning)
                    return $"{q}: {q.HNrDelayed} delayed tasks of h_nr_running {q.HNrRunning}";
                if (s.Features.Class.IsEevdf())
                {
                    // EEVDF: avg_vruntime/avg_load are the tree's Σ key·w and Σ w.
                    long load = 0, sum = 0;
                    for (int i = 0; i < q.TreeCount; i++)
                    {
                        var e = q.TreeAt(i);
                        load += e.Load.Weight;
                        sum += (e.Vruntime - q.MinVruntime) * e.Load.Weight;
                    }
                    if (load != q.AvgLoad || sum != q.AvgVruntime)
                        return $"{q}: avg_load {q.AvgLoad} / avg_vruntime {q.AvgVruntime} but the tree sums to {load} / {sum}";
                }
            }
        }
        return null;
    }
}

using System.Globalization;
using System.Text;
using PleSim.Host;

namespace PleSim.Experiments.Tests;

/// <summary>
/// A read-only host observer for diagnostics (docs/anomalies/riel-2011-after-0086.md): at every
/// migration of a VCPU thread it records what each host CPU's run queue held and, for a migration
/// made by a balancing pass of the 2.6.39 balancer, recomputes that pass's inputs from the public
/// run-queue state — the load index of the pass, each CPU's <c>source_load</c>/<c>target_load</c>,
/// the domain average, the busiest CPU and the imbalance (Linux 2.6.39 kernel/sched_fair.c
/// <c>update_sg_lb_stats</c>, <c>update_sd_lb_stats</c>, <c>find_busiest_group</c>,
/// <c>calculate_imbalance</c>, <c>fix_small_imbalance</c>, for a domain whose groups are single
/// CPUs, as the 4-CPU host of the riel-2011 scenario has). It changes nothing in the model.
/// </summary>
/// <remarks>
/// The host calls <see cref="IHostObserver.Migrate"/> from <c>set_task_cpu</c>, inside
/// <c>pull_task</c>: the task has already left its source queue. The probe adds it back (its weight
/// and one to nr_running) to see the queues as <c>find_busiest_group</c> saw them. A second task
/// moved by the same pass sees the queues after the first; such records are marked.
/// </remarks>
public sealed class HostBalanceProbe : IHostObserver
{
    private readonly HostScheduler _host;
    private readonly bool _lbBias;
    private readonly Func<long> _now;
    private readonly long _from;
    private readonly Dictionary<HostTask, long> _blockedAt = [];
    private readonly long[][] _tickWeights;
    private readonly int[] _tickPos;
    private (long At, int From, int To) _lastMove = (-1, -1, -1);

    public HostBalanceProbe(HostScheduler host, bool lbBias, Func<long> now, long fromNs)
    {
        _host = host;
        _lbBias = lbBias;
        _now = now;
        _from = fromNs;
        _tickWeights = new long[host.NrCpus][];
        for (int c = 0; c < host.NrCpus; c++)
            _tickWeights[c] = new long[TickHistory];
        _tickPos = new int[host.NrCpus];
    }

    /// <summary>How many of each CPU's last tick-time loads (cpu_load[0]) a record keeps.</summary>
    public const int TickHistory = 8;

    public List<Move> Moves { get; } = [];

    /// <summary>One CPU as a balancing pass saw it.</summary>
    public sealed record CpuView(int Cpu, int NrRunning, long Weight, long[] CpuLoad, long[] TickWeights, string Curr, string Vcpus);

    /// <summary>The recomputed inputs of the pass (null fields when the cause is not a balancing pass).</summary>
    public sealed record Pass(int LoadIdx, long[] GroupLoad, long ThisLoad, long AvgLoad, long MaxLoad, int Busiest, bool Balanced, long Imbalance, bool FixSmall);

    public sealed record Move(long AtNs, string Task, int From, int To, MigrationCause Cause, bool SamePass, CpuView[] Cpus, Pass? Pass);

    public void Switch(int cpu, HostTask prev, HostTask next, StopReason prevReason)
    {
        if (prevReason == StopReason.Blocked)
            _blockedAt[prev] = _now();
    }

    /// <summary>From the start of the record: each AMQP VCPU thread sampled at the ticks of its CPU, and how many of those samples found it halted (neither running nor queued).</summary>
    public long AmqpTickSamples { get; private set; }

    public long AmqpTickHalted { get; private set; }

    public void Tick(int cpu)
    {
        _tickWeights[cpu][_tickPos[cpu]] = _host.Rqs[cpu].CpuLoad[0];
        _tickPos[cpu] = (_tickPos[cpu] + 1) % TickHistory;
        if (_now() < _from)
            return;
        foreach (var t in _host.Tasks)
        {
            if (t.Cpu != cpu || !t.Name.StartsWith("amqp/vcpu", StringComparison.Ordinal))
                continue;
            AmqpTickSamples++;
            if (!t.Se.OnRq)
                AmqpTickHalted++;
        }
    }

    public void Migrate(HostTask task, int from, int to, MigrationCause cause)
    {
        long now = _now();
        if (now < _from || !task.Name.Contains("/vcpu", StringComparison.Ordinal))
            return;
        bool samePass = _lastMove == (now, from, to);
        _lastMove = (now, from, to);
        bool inFlight = task.Se.OnRq is false && cause is MigrationCause.PeriodicBalance or MigrationCause.IdleBalance
            or MigrationCause.NewIdleBalance or MigrationCause.ActiveBalance;
        var cpus = new CpuView[_host.NrCpus];
        for (int c = 0; c < cpus.Length; c++)
        {
            var rq = _host.Rqs[c];
            int nr = rq.NrRunning;
            long w = rq.Load.Weight;
            if (inFlight && c == from)
            {
                nr++;
                w += task.Se.Load.Weight;
            }
            var ticks = new long[TickHistory];
            for (int k = 0; k < TickHistory; k++)
                ticks[k] = _tickWeights[c][(_tickPos[c] + k) % TickHistory];
            cpus[c] = new CpuView(c, nr, w, (long[])rq.CpuLoad.Clone(), ticks, rq.IsIdle ? "idle" : rq.Curr.Name, VcpusOn(c, task, from, now));
        }
        Pass? pass = cause switch
        {
            MigrationCause.PeriodicBalance => Recompute(to, cpus, CpuIdleType.NotIdle),
            MigrationCause.IdleBalance => Recompute(to, cpus, CpuIdleType.Idle),
            MigrationCause.NewIdleBalance => Recompute(to, cpus, CpuIdleType.NewlyIdle),
            _ => null,
        };
        Moves.Add(new Move(now, task.Name, from, to, cause, samePass, cpus, pass));
    }

    /// <summary>The VCPU threads whose CPU is <paramref name="cpu"/>: R running, Q queued, H halted (ms since it blocked).</summary>
    private string VcpusOn(int cpu, HostTask moving, int from, long now)
    {
        var sb = new StringBuilder();
        foreach (var t in _host.Tasks)
        {
            if (!t.Name.Contains("/vcpu", StringComparison.Ordinal))
                continue;
            int home = ReferenceEquals(t, moving) ? from : t.Cpu;
            if (home != cpu)
                continue;
            if (sb.Length > 0)
                sb.Append(' ');
            sb.Append(t.Name);
            if (t.OnCpu)
                sb.Append(":R");
            else if (t.Se.OnRq || ReferenceEquals(t, moving))
                sb.Append(":Q");
            else
                sb.Append(CultureInfo.InvariantCulture, $":H{(_blockedAt.TryGetValue(t, out long b) ? (now - b) / 1e6 : double.NaN):F1}");
        }
        return sb.ToString();
    }

    private long Source(CpuView v, int idx) => idx == 0 || !_lbBias ? v.Weight : Math.Min(v.CpuLoad[idx - 1], v.Weight);

    private long Target(CpuView v, int idx) => idx == 0 || !_lbBias ? v.Weight : Math.Max(v.CpuLoad[idx - 1], v.Weight);

    /// <summary>2.6.39 find_busiest_group + calculate_imbalance for a domain of single-CPU groups of power 1024.</summary>
    private Pass Recompute(int thisCpu, CpuView[] cpus, CpuIdleType idle)
    {
        var sd = _host.Rqs[thisCpu].Domains[0];
        int idx = idle switch { CpuIdleType.NotIdle => sd.BusyIdx, CpuIdleType.NewlyIdle => sd.NewidleIdx, _ => sd.IdleIdx };
        const long nice0 = 1024;
        var groupLoad = new long[cpus.Length];
        long total = 0, thisLoad = 0, thisNr = 0, thisWeight = 0, maxLoad = 0, busyNr = 0, busyWeight = 0, thisIdleCpus = 0, busyIdleCpus = 0;
        int busiest = -1;
        bool thisHasCap = false, busyHasCap = false;
        foreach (var g in sd.Groups)
        {
            int c = g.FirstCpu;
            var v = cpus[c];
            bool local = c == thisCpu;
            long load = local ? Target(v, idx) : Source(v, idx);
            groupLoad[c] = load;
            total += load;
            long idleCpus = v.Curr == "idle" ? 1 : 0;
            if (local)
            {
                thisLoad = load;
                thisNr = v.NrRunning;
                thisWeight = v.Weight;
                thisHasCap = 1 > v.NrRunning;
                thisIdleCpus = idleCpus;
            }
            else if (load > maxLoad && v.NrRunning > 1)
            {
                maxLoad = load;
                busiest = c;
                busyNr = v.NrRunning;
                busyWeight = v.Weight;
                busyHasCap = false;
                busyIdleCpus = idleCpus;
            }
        }
        long avg = nice0 * total / (nice0 * cpus.Length);
        if (busiest < 0)
            return new Pass(idx, groupLoad, thisLoad, avg, maxLoad, -1, true, 0, false);
        bool force = idle == CpuIdleType.NewlyIdle && thisHasCap && !busyHasCap;
        bool balanced = !force && (thisLoad >= maxLoad || thisLoad >= avg
            || (idle == CpuIdleType.Idle ? thisIdleCpus <= busyIdleCpus + 1 && busyNr <= 1 : 100 * maxLoad <= sd.ImbalancePct * thisLoad));
        if (balanced)
            return new Pass(idx, groupLoad, thisLoad, avg, maxLoad, busiest, true, 0, false);

        // calculate_imbalance (group_imb never holds for a one-CPU group).
        long busyPerTask = busyWeight / busyNr;
        bool fixSmall;
        long imbalance;
        if (maxLoad < avg)
        {
            fixSmall = true;
        }
        else
        {
            long above = busyNr - 1;
            long loadAboveCapacity = above <= 0 ? long.MaxValue : above * nice0 * nice0 / nice0;
            long maxPull = Math.Min(maxLoad - avg, loadAboveCapacity);
            imbalance = Math.Min(maxPull * nice0, (avg - thisLoad) * nice0) / nice0;
            fixSmall = imbalance < busyPerTask;
            if (!fixSmall)
                return new Pass(idx, groupLoad, thisLoad, avg, maxLoad, busiest, false, imbalance, false);
        }
        // fix_small_imbalance with cpu_power 1024 on both sides.
        long imbn = 2, thisPerTask;
        if (thisNr != 0)
        {
            thisPerTask = thisWeight / thisNr;
            if (busyPerTask > thisPerTask)
                imbn = 1;
        }
        else
        {
            thisPerTask = cpus[thisCpu].NrRunning != 0 ? cpus[thisCpu].Weight / cpus[thisCpu].NrRunning : 0;
        }
        if (maxLoad - thisLoad + busyPerTask >= busyPerTask * imbn)
            return new Pass(idx, groupLoad, thisLoad, avg, maxLoad, busiest, false, busyPerTask, true);
        long pwrNow = (Math.Min(busyPerTask, maxLoad) + Math.Min(thisPerTask, thisLoad)) * nice0 / nice0;
        long pwrMove = 0;
        if (maxLoad > busyPerTask)
            pwrMove += nice0 * Math.Min(busyPerTask, maxLoad - busyPerTask);
        long tmp = maxLoad < busyPerTask ? maxLoad : busyPerTask;
        pwrMove += nice0 * Math.Min(thisPerTask, thisLoad + tmp);
        pwrMove /= nice0;
        imbalance = pwrMove > pwrNow ? busyPerTask : 0;
        return new Pass(idx, groupLoad, thisLoad, avg, maxLoad, busiest, false, imbalance, true);
    }

    /// <summary>One tab-separated line per record (header first), for scripts.</summary>
    public static IEnumerable<string> Lines(string label, IEnumerable<Move> moves)
    {
        yield return "label\tt_ms\ttask\tfrom\tto\tcause\tsame_pass\tload_idx\tthis_load\tavg_load\tmax_load\tbusiest\tbalanced\timbalance\tfix_small\t" +
                     "cpu0\tcpu1\tcpu2\tcpu3";
        foreach (var m in moves)
        {
            var p = m.Pass;
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"{label}\t{m.AtNs / 1e6:F3}\t{m.Task}\t{m.From}\t{m.To}\t{m.Cause}\t{(m.SamePass ? 1 : 0)}\t");
            sb.Append(p is null ? "\t\t\t\t\t\t\t\t" : $"{p.LoadIdx}\t{p.ThisLoad}\t{p.AvgLoad}\t{p.MaxLoad}\t{p.Busiest}\t{(p.Balanced ? 1 : 0)}\t{p.Imbalance}\t{(p.FixSmall ? 1 : 0)}\t");
            foreach (var c in m.Cpus)
            {
                sb.Append(CultureInfo.InvariantCulture,
                    $"nr={c.NrRunning} w={c.Weight} load={string.Join(',', c.CpuLoad.Take(3))} ticks={string.Join(',', c.TickWeights)} lb={(p is null ? "" : p.GroupLoad[c.Cpu].ToString(CultureInfo.InvariantCulture))} curr={c.Curr} [{c.Vcpus}]");
                sb.Append(c.Cpu == m.Cpus.Length - 1 ? "" : "\t");
            }
            yield return sb.ToString();
        }
    }
}

using PleSim.Engine;

namespace PleSim.Host;

/// <summary>
/// Load balancing for tickless idle CPUs (Linux 2.6.39 kernel/sched_fair.c, CONFIG_NO_HZ, and the
/// tick stop/restart of kernel/time/tick-sched.c): <c>nohz_kick_needed</c>, <c>nohz_balancer_kick</c>,
/// <c>nohz_idle_balance</c>, <c>select_nohz_load_balancer</c>, and when a CPU's tick stops.
/// </summary>
public sealed partial class HostScheduler
{
    // ---------------------------------------------------------------- NOHZ idle balancing

    /// <summary><c>nohz_kick_needed</c>: the first busy CPU kicks when it has more than one task, the second when it has any.</summary>
    private bool NohzKickNeeded(RunQueue rq, int cpu)
    {
        int none = NrCpus;
        if (Jiffies - _nohzNextBalance < 0)
            return false;
        if (rq.IdleAtTick)
            return false;
        if (_nohzFirstPick < none && _nohzFirstPick != cpu && _nohzSecondPick < none && _nohzSecondPick != cpu)
            return false;
        int ret = _nohzFirstPick;
        if (ret == none)
            _nohzFirstPick = cpu;
        if (ret == none || ret == cpu)
        {
            if (_nohzSecondPick == cpu)
                _nohzSecondPick = none;
            return rq.NrRunning > 1;
        }
        ret = _nohzSecondPick;
        if (ret == none)
            _nohzSecondPick = cpu;
        if (ret == none || ret == cpu)
            return rq.NrRunning != 0;
        return false;
    }

    /// <summary><c>nohz_balancer_kick</c>: IPI the idle load balancer (or the first idle CPU) to balance for all tickless CPUs.</summary>
    private void NohzBalancerKick(int cpu)
    {
        _nohzNextBalance++;
        int ilb = _nohzLoadBalancer;
        if (ilb >= NrCpus)
        {
            if (_nohzIdleCpus.IsEmpty)
                return;
            ilb = _nohzIdleCpus.First;
        }
        if (!_nohzBalanceKick[ilb])
        {
            _nohzBalanceKick[ilb] = true;
            _kickTimers[ilb].Start(_sim.Now + _tunables.ReschedIpiLatency);
        }
    }

    private sealed class NohzKickHandler(HostScheduler s) : IEventHandler
    {
        // The IPI raises SCHED_SOFTIRQ on the idle balancer.
        public void OnEvent(Simulator sim, long arg) => s.RunRebalanceDomains((int)arg);
    }

    /// <summary><c>nohz_idle_balance</c>: the kicked idle CPU balances on behalf of every tickless idle CPU.</summary>
    private void NohzIdleBalance(int thisCpu, CpuIdleType idle)
    {
        var thisRq = Rqs[thisCpu];
        if (idle != CpuIdleType.Idle || !_nohzBalanceKick[thisCpu])
            return;
        var mask = _nohzIdleCpus; // walked as a snapshot (the model did so before decision 0038)
        for (int balanceCpu = mask.First; balanceCpu >= 0; balanceCpu = mask.Next(balanceCpu + 1))
        {
            if (balanceCpu == thisCpu)
                continue;
            if (thisRq.NeedResched)
            {
                _nohzBalanceKick[thisCpu] = false;
                break;
            }
            // 2.6.39 updates this CPU's load here (not balance_cpu's): kept as in the kernel.
            UpdateCpuLoad(thisRq);
            RebalanceDomains(balanceCpu, CpuIdleType.Idle, thisCpu);
            var rq = Rqs[balanceCpu];
            if (thisRq.NextBalance - rq.NextBalance > 0)
                thisRq.NextBalance = rq.NextBalance;
        }
        _nohzNextBalance = thisRq.NextBalance;
        _nohzBalanceKick[thisCpu] = false;
    }

    /// <summary><c>select_nohz_load_balancer</c>: a CPU stopping its tick joins the idle mask (and becomes the balancer if there is none); restarting leaves it.</summary>
    private void SelectNohzLoadBalancer(int cpu, bool stopTick)
    {
        int none = NrCpus;
        if (stopTick)
        {
            _nohzIdleCpus.Set(cpu);
            if (_nohzFirstPick == cpu)
                _nohzFirstPick = none;
            if (_nohzSecondPick == cpu)
                _nohzSecondPick = none;
            if (_nohzLoadBalancer >= none)
                _nohzLoadBalancer = cpu; // find_new_ilb only helps with power-savings balancing (off)
        }
        else
        {
            if (!_nohzIdleCpus.Contains(cpu))
                return;
            _nohzIdleCpus.Clear(cpu);
            if (_nohzLoadBalancer == cpu)
                _nohzLoadBalancer = none;
        }
    }

    /// <summary>The tick may stop when no host-visible timer is due on this CPU within the next jiffy (<c>get_next_timer_interrupt</c>).</summary>
    private bool CanStopTick(RunQueue rq)
    {
        if (rq.NeedResched)
            return false;
        var until = _sim.Now + _tunables.TickPeriod;
        foreach (var src in _timerSources)
        {
            if (src.HasTimerDue(rq.Cpu, until))
                return false;
        }
        return true;
    }

    /// <summary>The CPU switched to its idle task: stop the tick if NOHZ allows it.</summary>
    private void EnterIdle(RunQueue rq)
    {
        if (_xen)
            return; // Xen's credit tickers keep running on idle pCPUs (decision 0063)
        if (_tunables.NoHz && !rq.TickStopped && CanStopTick(rq))
        {
            _tickTimers[rq.Cpu].Cancel();
            rq.TickStopped = true;
            SelectNohzLoadBalancer(rq.Cpu, stopTick: true);
        }
    }

    /// <summary>The CPU leaves idle: restart its tick (<c>tick_nohz_restart_sched_tick</c>).</summary>
    private void ExitIdle(RunQueue rq)
    {
        if (rq.TickStopped && !_xen)
        {
            SelectNohzLoadBalancer(rq.Cpu, stopTick: false);
            RestartTick(rq);
        }
    }
}

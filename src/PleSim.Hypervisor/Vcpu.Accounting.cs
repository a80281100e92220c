using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Hypervisor;

/// <summary>A VCPU: time accounting by category and ground-truth spin classification.</summary>
public sealed partial class Vcpu
{
    // ------------------------------------------------------------------ accounting

    private VcpuTime CurrentCategory()
    {
        if (Pid is null)
            return VcpuTime.NotStarted;
        if (CoStopped)
            return VcpuTime.CoStopped;
        if (Mode == VcpuMode.Halted)
            return VcpuTime.Halted;
        if (Mode == VcpuMode.PleSleep)
            return VcpuTime.PleSleep;
        if (!IsExecuting)
            return VcpuTime.Preempted;
        return Mode switch
        {
            VcpuMode.Guest when _irqVector < 0 && _op == GuestOp.Spin => VcpuTime.GuestSpin,
            VcpuMode.Guest => VcpuTime.GuestRun,
            VcpuMode.Userspace => VcpuTime.Userspace,
            _ => _inPauseEpisode || _exitKind == ExitKind.Pause ? VcpuTime.PauseExit : VcpuTime.OtherExit,
        };
    }

    /// <summary>
    /// Charges the time since the last change to the category it was in (and spin time to its
    /// cause), and recomputes the category. When its presence (in guest / in exit / halted / off
    /// CPU) changes, the VM's spinners re-classify: they may be waiting on this VCPU.
    /// </summary>
    private void Account()
    {
        long now = _kvm.Sim.Now.Ns;
        long d = now - _catSince;
        _time[(int)_cat] += d;
        if (_cat == VcpuTime.GuestSpin)
            _spinByCause[(int)_spinCause] += d;
        _catSince = now;
        var old = _cat;
        _cat = CurrentCategory();
        if (_cat == VcpuTime.GuestSpin)
        {
            _spinCause = _spinTarget!.Cause(this, _spinToken);
            Vm.SpinningMask.Set(Index);
            Vm.Spins[Index].Target = _spinTarget;
            Vm.Spins[Index].Cause = _spinCause;
        }
        else if (old == VcpuTime.GuestSpin)
        {
            Vm.SpinningMask.Clear(Index);
        }
        if (_traceOpen || _cat == VcpuTime.GuestSpin)
            TraceSpin(now);
        if (old == _cat)
            return;
        if (_kvm.Coscheduler is { } cosched)
        {
            var from = CoschedStateOf(old);
            var to = CoschedStateOf(_cat);
            if (from != to)
                cosched.OnStateChanged(this, to);
        }
        var was = GroundTruth.Presence(old);
        var isNow = GroundTruth.Presence(_cat);
        if (was != isNow)
        {
            Vm.PresenceChanged(was, isNow, now);
            if (!Vm.SpinningMask.IsEmpty)
                Vm.ReclassifySpinners(this);
        }
    }

    /// <summary>What the co-scheduler sees of a category: the thread runs, waits for a CPU, is idle or is co-stopped.</summary>
    private static CoschedState CoschedStateOf(VcpuTime c) => c switch
    {
        VcpuTime.GuestRun or VcpuTime.GuestSpin or VcpuTime.PauseExit or VcpuTime.OtherExit or VcpuTime.Userspace => CoschedState.Running,
        VcpuTime.Halted or VcpuTime.PleSleep => CoschedState.Idle,
        VcpuTime.CoStopped => CoschedState.CoStopped,
        _ => CoschedState.Waiting,
    };

    /// <summary>
    /// Ground truth (oracle, read-only): what this spin waits on may have changed (the lock's owner
    /// or next waiter, an acknowledgement, another VCPU's presence). Charges the spin time so far
    /// to the cause it had and takes the cause again; the category does not change.
    /// </summary>
    public void ReclassifySpin()
    {
        if (_cat != VcpuTime.GuestSpin)
            return;
        SetSpinCause(_spinTarget!.Cause(this, _spinToken));
    }

    /// <summary>
    /// <see cref="ReclassifySpin()"/> with the cause already taken by the caller: the spin target
    /// <paramref name="target"/> computed <c>target.Cause(this, token)</c> for its waiters at once
    /// (it is the same for all but one of them). A VCPU spinning on anything else takes its own cause.
    /// </summary>
    public void ReclassifySpin(ISpinTarget target, SpinCause cause)
    {
        if (_cat != VcpuTime.GuestSpin)
            return;
        if (!ReferenceEquals(_spinTarget, target))
        {
            ReclassifySpin();
            return;
        }
        SetSpinCause(cause);
    }

    // A spin whose cause is unchanged is left alone: charging its time now or at the next change
    // gives the same sums (they are only read through Account), so only a change charges the time
    // so far to the old cause and, for traces, ends its segment.
    private void SetSpinCause(SpinCause cause)
    {
        if (cause == _spinCause)
        {
            if (!_traceOpen && _kvm.Observer is not null)
                TraceSpin(_kvm.Sim.Now.Ns);
            return;
        }
        long now = _kvm.Sim.Now.Ns;
        long d = now - _catSince;
        _time[(int)VcpuTime.GuestSpin] += d;
        _spinByCause[(int)_spinCause] += d;
        _catSince = now;
        _spinCause = cause;
        Vm.Spins[Index].Cause = cause;
        TraceSpin(now);
    }

    /// <summary>Spin time charged to <paramref name="cause"/> up to now (ns); the causes add up to <see cref="VcpuTime.GuestSpin"/>.</summary>
    public long SpinTimeIn(SpinCause cause)
    {
        Account();
        return _spinByCause[(int)cause];
    }

    /// <summary>Reports spin segments of one cause to the KVM observer (traces): a segment ends when the cause or the category changes.</summary>
    private void TraceSpin(long now)
    {
        var obs = _kvm.Observer;
        if (obs is null)
            return;
        bool spinning = _cat == VcpuTime.GuestSpin;
        if (_traceOpen && (!spinning || _spinCause != _traceCause))
        {
            _traceOpen = false;
            if (now > _traceSince)
                obs.SpinSegment(this, _traceCause, _traceSince, now);
        }
        if (spinning && !_traceOpen)
        {
            _traceOpen = true;
            _traceCause = _spinCause;
            _traceSince = now;
        }
    }

    /// <summary>Ends the open spin segment at the current time (the end of a trace).</summary>
    public void CloseSpinTrace()
    {
        Account();
        if (_traceOpen && _kvm.Sim.Now.Ns > _traceSince)
            _kvm.Observer?.SpinSegment(this, _traceCause, _traceSince, _kvm.Sim.Now.Ns);
        _traceOpen = false;
        TraceSpin(_kvm.Sim.Now.Ns);
    }

    /// <summary>Time per category up to now (ns).</summary>
    public long TimeIn(VcpuTime category)
    {
        Account();
        return _time[(int)category];
    }

    /// <summary>
    /// The VCPU's timers; the value is the event argument (fixed numbers: the event digest folds
    /// them in, so renumbering would change every digest).
    /// </summary>
    private enum VcpuTimer : long
    {
        /// <summary>The running segment (exit work, guest compute, an interrupt handler) is done.</summary>
        Segment = 0,

        /// <summary>The PAUSE loop has lasted the PLE window: a PAUSE exit.</summary>
        PleWindow = 1,

        /// <summary>The pre-2011 handler's <c>schedule_hrtimeout</c> expired.</summary>
        SleepTimeout = 2,

        /// <summary>A kick's host IPI reaches the VCPU's CPU and forces an exit.</summary>
        KickArrival = 3,

        /// <summary>The guest's local APIC timer (its tick) fires.</summary>
        GuestApicTimer = 4,

        /// <summary>A spin with a loop budget (the paravirtual locks' SPIN_THRESHOLD) ran out.</summary>
        SpinLimit = 5,

        /// <summary>IPIv: the wake-up notification vector reaches the CPU a blocked VCPU waits on (decision 0066).</summary>
        PiWakeup = 6,
    }

    private sealed class Handlers(Vcpu v) : IEventHandler
    {
        public void OnEvent(Simulator sim, long arg)
        {
            switch ((VcpuTimer)arg)
            {
                case VcpuTimer.Segment:
                    v.OnSegmentDone();
                    break;
                case VcpuTimer.PleWindow:
                    v.OnPleWindowExpired();
                    break;
                case VcpuTimer.SleepTimeout:
                    v.OnSleepTimeout();
                    break;
                case VcpuTimer.KickArrival:
                    v.OnKickArrived();
                    break;
                case VcpuTimer.GuestApicTimer:
                    v.OnGuestTimer();
                    break;
                case VcpuTimer.SpinLimit:
                    v.OnSpinLimit();
                    break;
                case VcpuTimer.PiWakeup:
                    v.OnPiWakeup();
                    break;
            }
        }
    }
}

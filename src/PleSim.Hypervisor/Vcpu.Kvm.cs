using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Hypervisor;

/// <summary>A VCPU: what KVM and its timers call on it (after the PAUSE handler, wait queues, kicks, forced exits, PLE window and spin timers, the guest timer).</summary>
public sealed partial class Vcpu
{
    // ------------------------------------------------------------------ called by KVM

    /// <summary>Called by the PAUSE handler policies: the handler returns after <paramref name="extraCost"/> more work, then the VCPU re-enters.</summary>
    internal void ContinueAfterPauseHandler(long extraCost) => EnterExit(ExitKind.PauseReturn, extraCost);

    /// <summary>A hypercall handler's extra work (kvm_sched_yield's yield_to): the re-entry after it.</summary>
    internal void ContinueAfterHypercall(long extraCost) => EnterExit(ExitKind.Entry, Costs.Entry.Ns + extraCost);

    /// <summary>The pre-2011 handler: sleep on the wait queue for <paramref name="timeout"/> (a kick ends it early).</summary>
    internal void SleepOnWaitQueue(SimDuration timeout)
    {
        Mode = VcpuMode.PleSleep;
        _onWaitQueue = true; // prepare_to_wait
        _exitKind = ExitKind.Entry;
        _exitRemaining = Costs.Entry.Ns;
        Account();
        _sleepTimer.StartAfter(timeout);
        _kvm.Host.Block(Task);
    }

    /// <summary>A wake-up through the wait queue succeeded: <c>autoremove_wake_function</c> took the thread off it.</summary>
    internal void RemovedFromWaitQueue() => _onWaitQueue = false;

    /// <summary>
    /// Marks <paramref name="vector"/> pending in KVM's IRR (<c>__apic_accept_irq</c>); the caller wakes or
    /// kicks the VCPU as needed. A VCPU in guest mode does not see it: it is injected at the next VM
    /// entry (<c>vcpu_enter_guest</c> → <c>inject_pending_event</c>, decision 0062).
    /// </summary>
    internal void SetPending(int vector) => _pending |= 1 << vector;

    /// <summary>An interrupt is pending in KVM's IRR (injected or not yet).</summary>
    public bool HasPendingInterrupt => _pending != 0;

    /// <summary>
    /// An interrupt the guest can take in guest mode: injected at the last VM entry (or delivered in
    /// guest mode by APICv's posted-interrupt processing or s390's SIGP interpretation) and not taken yet.
    /// </summary>
    public bool HasInjectableInterrupt => _injectable != 0;

    /// <summary>Forces a running VCPU out of guest mode after the IPI latency (kick).</summary>
    internal void ForceExit(SimDuration after)
    {
        _kickForExit = true;
        var when = _kvm.Sim.Now + after;
        if (!_kickTimer.IsArmed || _kickTimer.Expires > when)
            _kickTimer.Start(when);
    }

    /// <summary>
    /// s390 with SIGP interpretation (decision 0055 addendum): the machine presents the external call
    /// to this VCPU while it runs in SIE, after <paramref name="after"/>, without an exit: the guest takes
    /// the interrupt where it is (it waits if its PSW disables external interrupts).
    /// </summary>
    internal void PresentInSie(SimDuration after)
    {
        _sieExtCallPresented = true;
        var when = _kvm.Sim.Now + after;
        if (!_kickTimer.IsArmed || _kickTimer.Expires > when)
            _kickTimer.Start(when);
    }

    /// <summary>An s390 external call is pending for this VCPU (KVM's IRQ_PEND_EXT_EXTERNAL, or the SCA entry's with SIGP interpretation).</summary>
    internal bool ExtCallPending => (_pending & (1 << Vectors.Reschedule)) != 0;

    /// <summary>In the s390 wait state as KVM sees it (CPUSTAT_WAIT, set by <c>kvm_s390_handle_wait</c>'s <c>__set_cpu_idle</c> around <c>kvm_vcpu_halt</c>): halted or halt polling.</summary>
    internal bool InS390Wait => Mode == VcpuMode.Halted || HaltPolling;

    private void OnKickArrived()
    {
        bool exit = _kickForExit;
        _kickForExit = false;
        bool sie = _sieExtCallPresented;
        _sieExtCallPresented = false;
        if (Mode != VcpuMode.Guest || !IsExecuting)
            return; // not in guest mode: the interrupt is injected at the next entry
        if (!exit)
        {
            // s390, an interpreted SIGP (PresentInSie), or an APICv posted-interrupt notification
            // (decision 0060): the interrupt is taken in guest mode. The CPU's posted-interrupt
            // processing first moves the PIR into the virtual IRR (a no-op for s390); what it moved,
            // or the external call the machine presents, becomes visible to the guest now (the only
            // ways an interrupt reaches a VCPU in guest mode without an exit, decision 0062). One being
            // handled, or none visible, leaves nothing to do now.
            int visible = PiDesc.Pir;
            if (visible != 0)
                PiStats.DeliveredWithoutExit += System.Numerics.BitOperations.PopCount((uint)visible);
            if (sie)
                visible |= 1 << Vectors.Reschedule;
            SyncPirToIrr();
            _injectable |= visible & _pending;
            if (_irqVector >= 0 || _injectable == 0)
                return;
            if (!Guest.InterruptsEnabled(this))
            {
                if (_kvm.Settings.Apicv)
                    NoteDeferred(); // delivered by the CPU when the guest sets RFLAGS.IF
                return;
            }
            Freeze();
            Run();
            return;
        }
        Freeze();
        EnterExit(ExitKind.External, Costs.Exit.Ns);
        Stats.ExternalExits++;
        Run();
    }

    private void OnPleWindowExpired()
    {
        if (_op != GuestOp.Spin || Mode != VcpuMode.Guest || !IsExecuting)
            return;
        Stats.PauseExits++;
        Vm.Stats.PauseExitsByCause[(int)_spinCause]++; // ground truth: why it was spinning when the window expired
        _inPauseEpisode = true;
        EnterExit(ExitKind.Pause, Costs.Exit.Ns + Costs.PauseHandler.Ns);
        Run();
    }

    /// <summary>Stops counting the spin budget (the loop is not executing), keeping what is left.</summary>
    private void PauseSpinBudget()
    {
        if (_spinBudgetSince < 0)
            return;
        _spinBudget = Math.Max(0, _spinBudget - (_kvm.Sim.Now.Ns - _spinBudgetSince));
        _spinBudgetSince = -1;
        _spinLimitTimer.Cancel();
    }

    private void EndSpinTimedOut()
    {
        // Where PLE's window stood, for a loop that goes on at once (ContinueSpin).
        _pleExpiresAtTimeout = _pleTimer.IsArmed ? _pleTimer.Expires.Ns : -1;
        _timedOutAt = _kvm.Sim.Now.Ns;
        _pleTimer.Cancel();
        _spinLimitTimer.Cancel();
        _spinBudgetSince = -1;
        _spinBudget = -1;
        _op = GuestOp.None;
        _spinTarget = null;
        SpinTimedOut = true;
        Account();
    }

    private void OnSpinLimit()
    {
        _spinBudgetSince = -1;
        _spinBudget = 0;
        if (_op != GuestOp.Spin || Mode != VcpuMode.Guest || _irqVector >= 0 || !IsExecuting)
            return; // it notices when the loop runs again
        if (_spinTarget!.TryAcquire(this, _spinToken))
        {
            _pleTimer.Cancel();
            _spinBudget = -1;
            _op = GuestOp.None;
            _spinTarget = null;
            Account();
            Run();
            return;
        }
        EndSpinTimedOut();
        Run();
    }

    private void OnSleepTimeout()
    {
        if (Mode == VcpuMode.PleSleep)
            _kvm.Host.TryToWakeUp(Task, Task.Cpu);
    }

    private void OnGuestTimer()
    {
        if (_guestTimerPeriod > 0)
            _guestTimer.Forward(_kvm.Sim.Now, new SimDuration(_guestTimerPeriod));
        _kvm.Kick(this, Vectors.Timer, null);
    }
}

using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Hypervisor;

/// <summary>A VCPU: the exit/entry state machine (guest-mode segments, exits and re-entries, halts and halt polling, interrupt delivery).</summary>
public sealed partial class Vcpu
{
    // ------------------------------------------------------------------ the state machine

    private ExitCosts Costs => _kvm.Settings.Costs;

    private void StartSeg(Seg seg, long ns)
    {
        _seg = seg;
        _segStart = _kvm.Sim.Now.Ns;
        _segTimer.Start(new SimTime(_segStart + ns));
    }

    /// <summary>Stops the running segment (preemption, forced exit), keeping what is left of it.</summary>
    private void Freeze()
    {
        _pleTimer.Cancel();
        PauseSpinBudget();
        if (_seg == Seg.None)
            return;
        long ran = _kvm.Sim.Now.Ns - _segStart;
        switch (_seg)
        {
            case Seg.Exit:
            case Seg.Userspace:
                _exitRemaining -= ran;
                break;
            case Seg.Irq:
                _irqRemaining -= ran;
                break;
            case Seg.Compute:
                _opRemaining -= ran;
                break;
        }
        _segTimer.Cancel();
        _seg = Seg.None;
        _segStart = -1;
    }

    private void OnSegmentDone()
    {
        switch (_seg)
        {
            case Seg.Exit:
            case Seg.Userspace:
                _exitRemaining = 0;
                break;
            case Seg.Irq:
                _irqRemaining = 0;
                break;
            case Seg.Compute:
                _opRemaining = 0;
                break;
        }
        _seg = Seg.None;
        _segStart = -1;
        Account();
        Run();
    }

    /// <summary>Advances the VCPU until it waits for time to pass, blocks or yields.</summary>
    private void Run()
    {
        if (!IsExecuting)
            return;
        for (int guard = 0; guard < 10_000; guard++)
        {
            switch (Mode)
            {
                case VcpuMode.Exit:
                    if (_exitKind is ExitKind.Entry or ExitKind.GangWait && _kvm.Coscheduler is { } cosched)
                    {
                        if (CoStopPending)
                        {
                            BlockCoStopped();
                            return;
                        }
                        if (!GangWaitAtEntry(cosched))
                            return;
                    }
                    if (_exitRemaining > 0)
                    {
                        StartSeg(Seg.Exit, _exitRemaining);
                        Account();
                        return;
                    }
                    if (!FinishExit())
                        return;
                    continue;
                case VcpuMode.Userspace:
                    if (_exitRemaining > 0)
                    {
                        StartSeg(Seg.Userspace, _exitRemaining);
                        Account();
                        return;
                    }
                    _op = GuestOp.None;
                    EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                    continue;
                case VcpuMode.Guest:
                    if (_irqVector >= 0)
                    {
                        if (_irqRemaining > 0)
                        {
                            StartSeg(Seg.Irq, _irqRemaining);
                            Account();
                            return;
                        }
                        int v = _irqVector;
                        _irqVector = -1;
                        Guest.OnInterruptDone(this, v);
                        if (!IsExecuting || Mode != VcpuMode.Guest)
                            return;
                        continue;
                    }
                    // Only an interrupt injected at the last VM entry (or delivered in guest mode by
                    // APICv / s390 SIGP interpretation) is visible here: one KVM marked pending since
                    // then waits for the kick's exit and the next entry (decision 0062).
                    if (_injectable != 0)
                    {
                        if (Guest.InterruptsEnabled(this))
                        {
                            TakeInterrupt();
                            continue;
                        }
                        NoteDeferred();
                    }
                    if (!RunOp())
                        return;
                    continue;
                default:
                    return; // blocked
            }
        }
        throw new InvalidOperationException($"{this}: the guest made no progress (it keeps issuing zero-time operations)");
    }

    /// <summary>Runs the current guest operation; false when the VCPU now waits (time, exit, block).</summary>
    private bool RunOp()
    {
        switch (_op)
        {
            case GuestOp.None:
                Guest.OnOpDone(this);
                // No operation is fine only if re-enabling interrupts started a deferred delivery.
                if (_op == GuestOp.None && Mode == VcpuMode.Guest && _irqVector < 0)
                    throw new InvalidOperationException($"{this}: the guest gave no operation");
                return IsExecuting;
            case GuestOp.Compute:
                if (_opRemaining > 0)
                {
                    StartSeg(Seg.Compute, _opRemaining);
                    Account();
                    return false;
                }
                _op = GuestOp.None;
                return true;
            case GuestOp.Spin:
                if (_spinTarget!.TryAcquire(this, _spinToken))
                {
                    _pleTimer.Cancel();
                    PauseSpinBudget();
                    _spinBudget = -1;
                    _op = GuestOp.None;
                    _spinTarget = null;
                    Account();
                    return true;
                }
                if (_spinBudget == 0)
                {
                    EndSpinTimedOut();
                    return true;
                }
                Account();
                long window = _kvm.PleWindowNs(this, _spinUser);
                if (window > 0 && !_pleTimer.IsArmed)
                    _pleTimer.Start(_kvm.Sim.Now + new SimDuration(window));
                if (_spinBudget > 0 && !_spinLimitTimer.IsArmed)
                {
                    _spinBudgetSince = _kvm.Sim.Now.Ns;
                    _spinLimitTimer.Start(new SimTime(_spinBudgetSince + _spinBudget));
                }
                return false;
            case GuestOp.Halt:
                EnterExit(ExitKind.Hlt, Costs.Exit.Ns + Costs.HltHandler.Ns);
                Stats.HltExits++;
                return true;
            case GuestOp.SendIpi:
                if (_kvm.Settings.Ipiv)
                {
                    // IPIv (decision 0066): the guest's ICR write is a unicast, fixed, physical-mode IPI
                    // (x2APIC WRMSR, no shorthand), which the CPU virtualizes: no exit, the instruction's
                    // own time in guest mode; the CPU posts it into the target's descriptor now.
                    var ipivTarget = _ipiTarget!;
                    _ipiTarget = null;
                    _kvm.IpivSendIpi(this, ipivTarget, _ipiVector);
                    _op = GuestOp.Compute;
                    _opRemaining = Costs.IcrWriteVirtualized.Ns;
                    return true;
                }
                EnterExit(ExitKind.IcrWrite, Costs.Exit.Ns + Costs.IcrWriteHandler.Ns);
                Stats.IpiExits++;
                return true;
            case GuestOp.Hypercall:
                // kvm_pv_send_ipi walks the bitmap: the handler's work grows with the destinations.
                long perTarget = _hypercall == PleSim.Hypervisor.Hypercall.SendIpi
                    ? _hypercallMask.Count * Costs.PvSendIpiPerTarget.Ns
                    : 0;
                EnterExit(ExitKind.Hypercall, Costs.Exit.Ns + Costs.HypercallHandler.Ns + perTarget);
                Stats.Hypercalls++;
                return true;
            case GuestOp.Sigp:
            {
                Stats.SigpExternalCalls++;
                switch (_kvm.SigpExternalCall(this, _sigpTarget!))
                {
                    case SigpPath.Intercept:
                        Stats.SigpInstIntercepts++;
                        EnterExit(ExitKind.SigpInstruction, Costs.Exit.Ns + Costs.SigpHandler.Ns);
                        return true;
                    case SigpPath.PartialExecution:
                        Stats.SigpPeiIntercepts++;
                        EnterExit(ExitKind.SigpPartialExecution, Costs.Exit.Ns + Costs.SigpHandler.Ns);
                        return true;
                    default:
                        // Interpreted (accepted, or condition code 1): the instruction's own time in
                        // guest mode, no exit.
                        _sigpTarget = null;
                        _op = GuestOp.Compute;
                        _opRemaining = Costs.SigpInterpreted.Ns;
                        return true;
                }
            }
            case GuestOp.IoEventFd:
                EnterExit(ExitKind.IoEventFd, Costs.Exit.Ns + Costs.IoEventFdHandler.Ns);
                Stats.IoEventFdExits++;
                return true;
            case GuestOp.Userspace:
                Mode = VcpuMode.Userspace;
                _exitRemaining = Costs.Exit.Ns + Costs.UserspaceExit.Ns + _opRemaining;
                Stats.UserspaceExits++;
                Account();
                return true;
        }
        return false;
    }

    private void EnterExit(ExitKind kind, long ns)
    {
        PauseSpinBudget(); // out of guest mode: the loop does not run
        Mode = VcpuMode.Exit;
        _exitKind = kind;
        _exitRemaining = ns;
        Account();
    }

    /// <summary>What happens when the exit's work is done; false when the thread blocked or yielded.</summary>
    private bool FinishExit()
    {
        switch (_exitKind)
        {
            case ExitKind.Entry:
                Mode = VcpuMode.Guest;
                _exitKind = ExitKind.None;
                EventRequested = false; // vcpu_enter_guest: kvm_check_request(KVM_REQ_EVENT)
                _inPauseEpisode = false;
                // vcpu_enter_guest → inject_pending_event (arch/x86/kvm/x86.c, 2.6.39): an interrupt
                // the guest cannot take now (RFLAGS.IF = 0) stays in the IRR and KVM asks for an
                // exit as soon as the guest can (vmx.c enable_irq_window: VIRTUAL_INTR_PENDING).
                // APICv (decision 0060): vcpu_enter_guest first syncs the PIR (vmx_sync_pir_to_irr);
                // virtual-interrupt delivery then takes the interrupt when the guest sets IF, with no
                // window exit (kvm_cpu_has_injectable_intr is false for the LAPIC with APICv active).
                bool apicv = _kvm.Settings.Apicv;
                if (apicv)
                    SyncPirToIrr();
                // Decision 0062: this entry is where everything in the IRR becomes visible to the
                // guest (inject_pending_event injects the highest vector; the model lets the guest take
                // the rest one after the other, standing for the EOI exits it does not charge).
                _injectable = _pending;
                if (_pending != 0 && !apicv && !Guest.InterruptsEnabled(this))
                    _irqWindowArmed = true;
                Account();
                return true;
            case ExitKind.IrqWindow:
                // vmx.c handle_interrupt_window: clear the window request and re-enter, injecting.
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                return true;
            case ExitKind.Hlt:
                _op = GuestOp.None; // HLT retired; the next instruction runs after an interrupt
                SyncPirToIrr(); // APICv: kvm_cpu_has_interrupt syncs the PIR first (no-op without posted interrupts)
                // kvm_arch_vcpu_runnable: an interrupt the guest can take (IF set), or pv_unhalted.
                if ((_pending != 0 && Guest.InterruptsEnabled(this)) || PvUnhalted)
                {
                    PvUnhalted = false;
                    EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                    return true;
                }
                _haltStart = _kvm.Sim.Now.Ns;
                // kvm_vcpu_block (4.0+): poll first while this CPU has nothing else to run (single_task_running).
                long poll = _kvm.Settings.HaltPoll.HaltPollNs == 0 ? 0 : _kvm.Settings.HaltPoll.Adaptive ? HaltPollNs : _kvm.Settings.HaltPoll.HaltPollNs;
                if (poll > 0 && PollControl && _kvm.Host.Rqs[Task.Cpu].NrRunning == 1)
                {
                    Stats.HaltPollAttempts++;
                    _pollEndedByTask = false;
                    _pollStart = _haltStart;
                    _pollStop = _haltStart + poll;
                    EnterExit(ExitKind.HaltPoll, poll);
                    return true;
                }
                return BlockHalted();
            case ExitKind.HaltPoll:
                // The poll ran out (ktime past stop), or another task was queued on this CPU
                // (single_task_running() false), with no wake-up condition: block.
                Stats.HaltPollNs += _kvm.Sim.Now.Ns - _pollStart;
                if (_pollEndedByTask)
                {
                    _pollEndedByTask = false;
                    Stats.HaltPollEndedByTask++;
                }
                return BlockHalted();
            default:
                return FinishExitRest();
        }
        throw new InvalidOperationException($"{this}: exit {_exitKind} has no continuation");
    }

    /// <summary>The blocking part of <c>kvm_vcpu_block</c>: on the wait queue, off the CPU until a kick wakes it.</summary>
    private bool BlockHalted()
    {
        Mode = VcpuMode.Halted;
        _onWaitQueue = true; // prepare_to_wait
        _rcuwaitActive = true; // 5.8+ prepare_to_rcuwait: set until this thread runs finish_rcuwait
        Stats.Halts++;
        Account();
        _kvm.Host.Block(Task);
        return false;
    }

    /// <summary>
    /// Co-stop (decision 0040): the VCPU was about to enter the guest with a co-stop pending. The
    /// thread blocks there, keeping what is left of the entry, and runs it when it is co-started.
    /// </summary>
    private void BlockCoStopped()
    {
        if (_exitKind == ExitKind.GangWait)
        {
            _exitKind = ExitKind.Entry;
            Stats.GangWaitNs += _kvm.Sim.Now.Ns - _gangWaitSince;
        }
        CoStopPending = false;
        CoStopped = true;
        Stats.CoStops++;
        Account();
        _kvm.Host.Block(Task);
    }

    /// <summary>
    /// Gang (decision 0040): at VM entry the VCPU waits on its CPU, in KVM, while a sibling that
    /// is not idle is off its CPU; it enters once all are placed (the co-scheduler releases it,
    /// <see cref="ReleaseGangWait"/>). False while it waits.
    /// </summary>
    private bool GangWaitAtEntry(Coscheduler cosched)
    {
        if (cosched.HoldAtEntry(this))
        {
            if (_exitKind != ExitKind.GangWait)
            {
                _exitKind = ExitKind.GangWait;
                _gangWaitSince = _kvm.Sim.Now.Ns;
                Stats.GangWaits++;
            }
            Account();
            return false;
        }
        if (_exitKind == ExitKind.GangWait)
        {
            _exitKind = ExitKind.Entry;
            Stats.GangWaitNs += _kvm.Sim.Now.Ns - _gangWaitSince;
        }
        return true;
    }

    /// <summary>Gang: every sibling is placed; a VCPU waiting at its entry on its CPU goes on into the guest.</summary>
    internal void ReleaseGangWait()
    {
        if (Mode == VcpuMode.Exit && _exitKind == ExitKind.GangWait && IsExecuting)
            Run();
    }

    /// <summary>
    /// The co-scheduler co-stops this VCPU: it leaves its CPU at its next VM entry. In guest mode
    /// it is forced out at once (an IPI, as a kick); in an exit or in QEMU it finishes that first;
    /// off its CPU (waiting, halted) it blocks as soon as it runs again and reaches the entry.
    /// </summary>
    internal void RequestCoStop()
    {
        if (CoStopped)
            return;
        CoStopPending = true;
        if (InGuestMode)
            ForceExit(Costs.KickIpiLatency);
        else if (Mode == VcpuMode.Exit && _exitKind == ExitKind.GangWait && IsExecuting)
            Run(); // waiting at its entry: it blocks there now
    }

    /// <summary>The co-scheduler co-starts this VCPU: a co-stopped thread is woken; a pending co-stop is withdrawn.</summary>
    internal void CoStart()
    {
        CoStopPending = false;
        if (!CoStopped)
            return;
        CoStopped = false;
        Stats.CoStarts++;
        Account();
        _kvm.Host.TryToWakeUp(Task, Task.Cpu);
    }

    /// <summary>
    /// The end of <c>kvm_vcpu_block</c> (the VCPU runs again, or its poll saw the interrupt): 4.3's
    /// adaptive poll time is adjusted from the halt's whole length, polling included.
    /// </summary>
    private void EndHalt()
    {
        if (_haltStart < 0)
            return;
        long blockNs = _kvm.Sim.Now.Ns - _haltStart;
        _haltStart = -1;
        var hp = _kvm.Settings.HaltPoll;
        if (hp.Adaptive)
            HaltPollNs = hp.Adjust(HaltPollNs, blockNs);
    }

    /// <summary>
    /// A task was queued on this VCPU's CPU while the VCPU polls there (a wake-up that does not
    /// preempt it, a migration, a new task; <see cref="Kvm"/>'s host observer): the poll loop's next
    /// <c>single_task_running()</c> test fails (4.0+ <c>kvm_vcpu_block</c>, 5.16+ <c>kvm_vcpu_can_poll</c>),
    /// so the poll ends now and the VCPU blocks as after a poll that ran out (decision 0097). The end
    /// is a zero-delay segment, so it happens after the host scheduler's own operation completes.
    /// </summary>
    internal void EndHaltPollForQueuedTask()
    {
        if (!HaltPolling || !IsExecuting || _pollEndedByTask || _seg != Seg.Exit)
            return;
        Freeze();
        _exitRemaining = 0;
        _pollEndedByTask = true;
        StartSeg(Seg.Exit, 0);
    }

    /// <summary>True while the VCPU polls in <c>kvm_vcpu_block</c> (on or off its CPU).</summary>
    public bool HaltPolling => Mode == VcpuMode.Exit && _exitKind == ExitKind.HaltPoll;

    /// <summary>
    /// A kick found the VCPU polling: <c>kvm_vcpu_check_block</c> sees the pending interrupt on the
    /// poll's next iteration, so the poll ends there and the VCPU re-enters, without any wake-up
    /// (it was never on the wait queue).
    /// </summary>
    internal void EndHaltPollOnEvent()
    {
        if (!HaltPolling)
            return;
        if (IsExecuting)
            Freeze();
        _pollEndedByTask = false;
        Stats.HaltPollSuccessful++;
        Stats.HaltPollNs += _kvm.Sim.Now.Ns - _pollStart;
        EndHalt();
        EnterExit(ExitKind.Entry, Costs.Entry.Ns);
        Run();
    }

    private bool FinishExitRest()
    {
        switch (_exitKind)
        {
            case ExitKind.IcrWrite:
                _op = GuestOp.None;
                var target = _ipiTarget!;
                _ipiTarget = null;
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                _kvm.Kick(target, _ipiVector, this);
                // IPI-aware directed yield (unmerged series v2 patch 7, decision 0052): an ICR write
                // is a LAPIC-sourced, fixed, single-destination IPI delivered by kvm_irq_delivery_to_apic.
                if (_kvm.Settings.IpiAwareYield)
                    IpiAwareYield.TrackIpiCommunication(this, target, _kvm.Sim.Now.Ns, _kvm.Settings.IpiTracking);
                return IsExecuting;
            case ExitKind.External:
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                return true;
            case ExitKind.SigpInstruction:
            case ExitKind.SigpPartialExecution:
            {
                // The SIGP handler's end: inject (or find the external call pending) and wake the target
                // (kvm_s390_handle_sigp), or wake the waiting target (kvm_s390_handle_sigp_pei); re-enter.
                _op = GuestOp.None;
                var st = _sigpTarget!;
                _sigpTarget = null;
                bool pei = _exitKind == ExitKind.SigpPartialExecution;
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                if (pei)
                    _kvm.SigpPei(this, st);
                else
                    _kvm.SigpIntercepted(this, st);
                return IsExecuting;
            }
            case ExitKind.IoEventFd:
            {
                // ioeventfd_write → eventfd_signal (virt/kvm/eventfd.c): the eventfd's waiter (a
                // vhost worker's vhost_poll) is woken from this CPU; then the VCPU re-enters.
                _op = GuestOp.None;
                var fd = _ioEventFd!;
                _ioEventFd = null;
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                fd.Signal(Task.Cpu);
                return IsExecuting;
            }
            case ExitKind.Hypercall:
            {
                _op = GuestOp.None;
                var hcTarget = _hypercallTarget;
                _hypercallTarget = null;
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                if (_hypercall == PleSim.Hypervisor.Hypercall.SendIpi)
                {
                    // kvm_pv_send_ipi (4.19 lapic.c): for each set bit, kvm_apic_set_irq on that
                    // VCPU (which sets the IRR and kicks it), in ascending APIC-ID order.
                    var m = _hypercallMask;
                    _hypercallMask = default;
                    Stats.PvSendIpis++;
                    Stats.PvSendIpiTargets += m.Count;
                    for (int i = m.First; i >= 0; i = m.Next(i + 1))
                    {
                        _kvm.Kick(Vm.Vcpus[i], _hypercallVector, this);
                    }
                }
                else if (_hypercall == PleSim.Hypervisor.Hypercall.KickCpu)
                {
                    _kvm.PvKickCpu(hcTarget, this);
                    if (_kvm.Settings.KickYield)
                        _kvm.KickYield(this, hcTarget); // 5.3 (decision 0043)
                }
                else if (_hypercall == PleSim.Hypervisor.Hypercall.Diag9c)
                    _kvm.Diag9c(this, hcTarget); // s390 diag 0x9c (decision 0055)
                else
                    _kvm.SchedYield(this, hcTarget);
                return IsExecuting;
            }
            case ExitKind.Pause:
                return _kvm.HandlePauseExit(this);
            case ExitKind.PauseReturn:
                // kvm_vcpu_on_spin returns (3.7+): kvm_vcpu_set_in_spin_loop(me, false) and
                // kvm_vcpu_set_dy_eligible(me, false). Never set without the 3.7 option.
                InSpinLoop = false;
                DyEligible = false;
                EnterExit(ExitKind.Entry, Costs.Entry.Ns);
                return true;
        }
        throw new InvalidOperationException($"{this}: exit {_exitKind} has no continuation");
    }

    private void TakeInterrupt()
    {
        int v = System.Numerics.BitOperations.TrailingZeroCount(_injectable);
        _pending &= ~(1 << v);
        _injectable &= ~(1 << v);
        if ((_deferredMask & (1 << v)) != 0)
        {
            _deferredMask &= ~(1 << v);
            Vm.Stats.IrqsDeferred++;
            Vm.Stats.IrqDeferredNs += _kvm.Sim.Now.Ns - _deferredSince[v];
        }
        if (_pending == 0)
            _irqWindowArmed = false;
        _pleTimer.Cancel();
        PauseSpinBudget();
        _irqVector = v;
        // The guest's handler acknowledges the LAPIC first (x86 ack_APIC_irq at the entry of the
        // IPI and timer handlers): with the IPI-aware directed yield (decision 0052) KVM's EOI
        // emulation runs the series' clearing (v2 patch 7; assumes no PV EOI and no APICv).
        // With APICv the EOI of an edge-triggered vector is virtualized (no EOI-induced exit), so
        // KVM sees no EOI to run it on (decision 0060).
        if (_kvm.Settings.IpiAwareYield && !_kvm.Settings.Apicv)
            IpiAwareYield.ClearIpiOnEoi(this, _kvm.Sim.Now.Ns, _kvm.Settings.IpiWindow.Ns, _kvm.Settings.IpiTracking);
        NoteIpiTaken(v);
        _irqRemaining = Guest.OnInterrupt(this, v);
        Stats.Interrupts++;
        Account();
    }

    /// <summary>
    /// Injected interrupts the guest, executing in guest mode, could not take because its
    /// RFLAGS.IF is clear: from now on they wait for the guest to re-enable (counted per VM). One
    /// KVM marked pending while the VCPU stayed in guest mode counts only from the entry that
    /// made it visible (decision 0062).
    /// </summary>
    private void NoteDeferred()
    {
        int fresh = _injectable & ~_deferredMask;
        if (fresh == 0)
            return;
        long now = _kvm.Sim.Now.Ns;
        for (int v = 0; v < Vectors.Count; v++)
        {
            if ((fresh & (1 << v)) != 0)
                _deferredSince[v] = now;
        }
        _deferredMask |= fresh;
    }

    /// <summary>
    /// The guest set RFLAGS.IF again (<c>sti</c>/<c>popf</c> of <c>local_irq_restore</c>). A pending
    /// interrupt held back by IF = 0 is taken at once: if KVM armed interrupt-window exiting at the
    /// last entry, the guest first exits (<c>handle_interrupt_window</c>) and the interrupt is
    /// injected on re-entry; otherwise (a further vector injected at the last entry, APICv's
    /// virtual-interrupt delivery, s390 SIGP interpretation) it is delivered directly. An interrupt
    /// KVM marked pending while the VCPU stayed in guest mode is not visible here: it waits for the
    /// kick's exit and the next entry (decision 0062). Returns true if a delivery started: the guest
    /// must then not start an operation (it continues after the handler).
    /// </summary>
    public bool OnInterruptsEnabled()
    {
        if (_injectable == 0 || Mode != VcpuMode.Guest || _irqVector >= 0 || !IsExecuting)
            return false;
        if (_irqWindowArmed)
        {
            _irqWindowArmed = false;
            Stats.IrqWindowExits++;
            EnterExit(ExitKind.IrqWindow, Costs.Exit.Ns);
            return true;
        }
        TakeInterrupt();
        return true;
    }
}

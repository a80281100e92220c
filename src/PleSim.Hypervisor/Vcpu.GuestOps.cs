using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Hypervisor;

/// <summary>A VCPU: the operations its guest asks for (compute, spin, IPIs, hypercalls, halts).</summary>
public sealed partial class Vcpu
{
    // ------------------------------------------------------------------ guest operations

    /// <summary>Executes <paramref name="ns"/> of guest code.</summary>
    public void Compute(long ns)
    {
        RequireIdleOp();
        _op = GuestOp.Compute;
        _opRemaining = Math.Max(0, ns);
    }

    /// <summary>True if this VCPU is spinning on something that <paramref name="candidate"/> holds up (see <see cref="ISpinTarget.WaitsOn"/>).</summary>
    public bool SpinWaitsOn(Vcpu candidate) => _spinTarget?.WaitsOn(this, _spinToken, candidate) ?? false;

    /// <summary>Ground truth (oracle, read-only): what <paramref name="candidate"/> is to this VCPU's spin (Unrelated when not spinning).</summary>
    public SpinRelation SpinRelationTo(Vcpu candidate) =>
        _op == GuestOp.Spin && _spinTarget is { } t ? t.Relation(this, _spinToken, candidate) : SpinRelation.Unrelated;

    /// <summary>Where this VCPU is, as of its last accounting step (what spinners' causes are computed from).</summary>
    public VcpuPresence Presence => GroundTruth.Presence(_cat);

    /// <summary>The cause its spin time is charged to now (meaningful while <see cref="Spinning"/>).</summary>
    public SpinCause SpinCause => _spinCause;

    /// <summary>Its time is being accounted as <see cref="VcpuTime.GuestSpin"/>.</summary>
    public bool Spinning => _cat == VcpuTime.GuestSpin;

    /// <summary>A PAUSE loop on <paramref name="target"/> until <see cref="ISpinTarget.TryAcquire"/> succeeds.</summary>
    public void Spin(ISpinTarget target, long token, bool userMode = false) => Spin(target, token, userMode, -1);

    /// <summary>
    /// A PAUSE loop that gives up after <paramref name="limitNs"/> of looping in guest mode (the
    /// <c>SPIN_THRESHOLD</c> loops of a paravirtual lock's fast spin; time in exits, interrupts or
    /// off the CPU does not count). The operation then ends with <see cref="SpinTimedOut"/> set.
    /// Negative: no limit.
    /// </summary>
    public void Spin(ISpinTarget target, long token, bool userMode, long limitNs)
    {
        RequireIdleOp();
        _op = GuestOp.Spin;
        _spinTarget = target;
        _spinToken = token;
        _spinUser = userMode;
        _spinBudget = limitNs;
        SpinTimedOut = false;
        Stats.Spins++;
    }

    /// <summary>
    /// Gives the spin under way a new budget of <paramref name="limitNs"/> guest-mode loop time from
    /// now (negative: no limit), as a loop that recomputes its own timeout does (the preemptable
    /// ticket lock's waiter when the ticket head moves, decision 0046). The PLE window is not touched:
    /// to the hardware it is the same PAUSE loop. Does nothing when the VCPU is not spinning.
    /// </summary>
    public void RestartSpinBudget(long limitNs)
    {
        if (_op != GuestOp.Spin)
            return;
        bool counting = _spinBudgetSince >= 0;
        _spinLimitTimer.Cancel();
        _spinBudgetSince = -1;
        _spinBudget = limitNs < 0 ? -1 : Math.Max(1, limitNs);
        if (counting && _spinBudget > 0)
        {
            _spinBudgetSince = _kvm.Sim.Now.Ns;
            _spinLimitTimer.Start(new SimTime(_spinBudgetSince + _spinBudget));
        }
    }

    /// <summary>
    /// Guest-mode spin time so far (ns), read without accounting: the time charged to
    /// <see cref="VcpuTime.GuestSpin"/> plus the current stretch if the VCPU is spinning now. The
    /// loop iterations a lock waiter executed are this time over one PAUSE loop.
    /// </summary>
    public long GuestSpinNsNow =>
        _time[(int)VcpuTime.GuestSpin] + (_cat == VcpuTime.GuestSpin ? _kvm.Sim.Now.Ns - _catSince : 0);

    private long _pleExpiresAtTimeout = -1; // PLE window's expiry when the last budgeted spin timed out
    private long _timedOutAt = -1;

    /// <summary>
    /// <see cref="Spin(ISpinTarget, long, bool, long)"/> for a loop whose budget has just run out
    /// (<see cref="SpinTimedOut"/>, at this same instant) and that goes on with a new budget, as a
    /// plug-in guest lock's waiter does between two looks at the lock (decision 0041): to the
    /// hardware it is one PAUSE loop (the few instructions between budgets are far below
    /// <c>ple_gap</c>), so PLE's window keeps counting where it was instead of starting again.
    /// </summary>
    public void ContinueSpin(ISpinTarget target, long token, bool userMode, long limitNs)
    {
        long now = _kvm.Sim.Now.Ns;
        bool resume = SpinTimedOut && _timedOutAt == now && _pleExpiresAtTimeout > now;
        Spin(target, token, userMode, limitNs);
        if (resume)
            _pleTimer.Start(new SimTime(_pleExpiresAtTimeout));
    }

    /// <summary>
    /// VMCALL <paramref name="nr"/> aimed at <paramref name="target"/>: one exit, the handler, its
    /// effect, re-entry. Null: an APIC id that maps to no VCPU (the handler finds nobody).
    /// </summary>
    public void Hypercall(Hypercall nr, Vcpu? target)
    {
        RequireIdleOp();
        _op = GuestOp.Hypercall;
        _hypercall = nr;
        _hypercallTarget = target;
    }

    /// <summary>
    /// KVM_HC_SEND_IPI (4.19 guest <c>kvm_send_ipi_mask</c> → <c>__send_ipi_mask</c>): one VMCALL
    /// carries a bitmap of destinations (VCPU indices here: APIC ID = VCPU index, all within one
    /// 128-bit cluster); the host's <c>kvm_pv_send_ipi</c> delivers <paramref name="vector"/> to each
    /// (<c>kvm_apic_set_irq</c> → kick). One exit instead of one ICR write per destination.
    /// </summary>
    public void SendIpiMany(in CpuMask mask, int vector)
    {
        RequireIdleOp();
        _op = GuestOp.Hypercall;
        _hypercall = PleSim.Hypervisor.Hypercall.SendIpi;
        _hypercallTarget = null;
        _hypercallMask = mask;
        _hypercallVector = vector;
    }

    /// <summary>
    /// PV TLB flush (4.16 <c>kvm_flush_tlb_others</c>): the guest swaps the steal-time
    /// <c>preempted</c> byte to KVM_VCPU_PREEMPTED | KVM_VCPU_FLUSH_TLB instead of sending this
    /// VCPU an IPI. Succeeds only while it is marked preempted; the flush then happens at its next
    /// entry (<c>record_steal_time</c>).
    /// </summary>
    public bool TrySetFlushTlbAtEntry()
    {
        if (!StealTimePreempted)
            return false;
        _flushTlbAtEntry = true;
        return true;
    }

    /// <summary>A PV TLB flush is waiting for this VCPU's next entry.</summary>
    public bool FlushTlbAtEntryPending => _flushTlbAtEntry;

    /// <summary>HLT: exit and block until an interrupt is pending.</summary>
    public void Halt()
    {
        RequireIdleOp();
        _op = GuestOp.Halt;
    }

    /// <summary>Writes the APIC ICR to send <paramref name="vector"/> to <paramref name="target"/> (one exit).</summary>
    public void SendIpi(Vcpu target, int vector)
    {
        RequireIdleOp();
        _op = GuestOp.SendIpi;
        _ipiTarget = target;
        _ipiVector = vector;
    }

    /// <summary>
    /// s390 SIGP EXTERNAL CALL to <paramref name="target"/> (arch/s390/kernel/smp.c 6.17
    /// <c>pcpu_ec_call</c> → <c>pcpu_sigp_retry</c>; decision 0055 addendum): no exit when the machine
    /// interprets it, an intercept otherwise (<see cref="Kvm.SigpExternalCall"/>).
    /// </summary>
    public void SigpExternalCall(Vcpu target)
    {
        RequireIdleOp();
        _op = GuestOp.Sigp;
        _sigpTarget = target;
    }

    /// <summary>
    /// A write to the I/O address KVM registered for <paramref name="fd"/> (<c>KVM_IOEVENTFD</c>: a
    /// virtio queue notify, <c>vp_notify</c>): one exit, handled in KVM without QEMU; the eventfd is
    /// signalled at the handler's end, from this VCPU's host CPU.
    /// </summary>
    public void NotifyIoEventFd(IIoEventFd fd)
    {
        RequireIdleOp();
        _op = GuestOp.IoEventFd;
        _ioEventFd = fd;
    }

    /// <summary>
    /// Takes back what is left of the guest computation an interrupt stopped (the handler has
    /// just finished; no segment runs), so that the guest can run its bottom half first and then
    /// resume the rest as a new computation. -1 if the current operation is not a computation.
    /// </summary>
    public long TakeComputeRemainder()
    {
        if (_op != GuestOp.Compute || _seg != Seg.None)
            return -1;
        long rest = _opRemaining;
        _op = GuestOp.None;
        _opRemaining = 0;
        return rest;
    }

    /// <summary>An I/O exit handled by QEMU in userspace for <paramref name="ns"/> (PF_VCPU clear meanwhile).</summary>
    public void ExitToUserspace(long ns)
    {
        RequireIdleOp();
        _op = GuestOp.Userspace;
        _opRemaining = ns;
    }

    /// <summary>
    /// The offset of the guest's tick grid from host time 0: ticks fire at phase + k × period (the
    /// guest kernel's jiffies grid, fixed when it booted; a stopped tick restarts on the same grid).
    /// </summary>
    public SimDuration GuestTimerPhase
    {
        get => new(_guestTimerPhase);
        set => _guestTimerPhase = value.Ns;
    }

    /// <summary>Programs the local APIC timer to fire every <paramref name="period"/> on the tick grid (0 stops it).</summary>
    public void SetGuestTimer(SimDuration period)
    {
        if (_guestTimerPeriod == 0 && period.Ns > 0)
            _guestTimer.Cancel(); // a one-shot (SetGuestTimerOneShot) gives way to the periodic tick
        _guestTimerPeriod = period.Ns;
        if (period.Ns <= 0)
        {
            _guestTimer.Cancel();
            return;
        }
        if (!_guestTimer.IsArmed)
        {
            long p = period.Ns;
            long since = _kvm.Sim.Now.Ns - _guestTimerPhase;
            long next = since < 0 ? _guestTimerPhase : _guestTimerPhase + (since / p + 1) * p;
            _guestTimer.Start(new SimTime(next));
        }
    }

    /// <summary>
    /// Programs the local APIC timer to fire once at <paramref name="at"/> (a tickless idle guest's
    /// next timer event, <c>tick_nohz_stop_sched_tick</c> → <c>tick_program_event</c>).
    /// </summary>
    public void SetGuestTimerOneShot(SimTime at)
    {
        _guestTimerPeriod = 0;
        _guestTimer.Start(at);
    }

    public bool GuestTimerArmed => _guestTimer.IsArmed;
    public SimTime GuestTimerExpires => _guestTimer.Expires;

    /// <summary>
    /// The hardware's view (decision 0059): this VCPU is executing its PAUSE loop on
    /// <paramref name="target"/> right now — in guest mode on its host CPU, not in an interrupt
    /// handler, an exit, a halt or off its CPU — so it keeps reading the target's cache line.
    /// </summary>
    public bool ExecutingSpinOn(ISpinTarget target) =>
        _op == GuestOp.Spin && ReferenceEquals(_spinTarget, target) && Mode == VcpuMode.Guest && _irqVector < 0 && IsExecuting && !CoStopped;

    /// <summary>The lock this VCPU spins on may have changed: look again (after a cache-line transfer if it gets it).</summary>
    public void NotifySpinRelease()
    {
        if (_op != GuestOp.Spin || Mode != VcpuMode.Guest || _irqVector >= 0 || !IsExecuting)
            return; // it will look when it next executes the loop
        // The PLE window keeps counting: the loop goes on unless the lock is now ours.
        Run();
    }

    private void RequireIdleOp()
    {
        if (_op != GuestOp.None)
            throw new InvalidOperationException($"{this}: a new guest operation while {_op} is in progress");
    }

    /// <summary>The thread is on its CPU and past the context switch.</summary>
    private bool IsExecuting => Task.OnCpu && !_switchPending;

    private bool _switchPending = true;
}

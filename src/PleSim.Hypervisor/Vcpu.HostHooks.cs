using PleSim.Engine;
using PleSim.Host;

namespace PleSim.Hypervisor;

/// <summary>A VCPU: the host scheduler's hooks (preempt notifiers: kvm_sched_in / kvm_sched_out).</summary>
public sealed partial class Vcpu
{
    // ------------------------------------------------------------------ host hooks (preempt notifiers)

    public void OnRun(HostTask task, int cpu, bool switched)
    {
        _switchPending = false;
        VmxVcpuPiLoad(); // IPIv: clear SN (decision 0066)
        Preempted = false;
        PreemptedByHost = false;
        Ready = false; // kvm_sched_in (5.3)
        if (switched)
            _kvm.OnSchedIn(this); // vmx_sched_in → shrink_ple_window (3.18)
        if (StealTimePreempted)
        {
            // record_steal_time (4.16): xchg the preempted byte to 0; KVM_VCPU_FLUSH_TLB in it
            // means a flush was deferred to this entry (kvm_vcpu_flush_tlb; its cost is folded
            // into the entry).
            StealTimePreempted = false;
            if (_flushTlbAtEntry)
            {
                _flushTlbAtEntry = false;
                Stats.PvTlbFlushesAtEntry++;
            }
        }
        if (_lhpSince >= 0)
        {
            Stats.LockHolderPreemptedNs += _kvm.Sim.Now.Ns - _lhpSince;
            _lhpSince = -1;
        }
        if (Pid is null)
        {
            Pid = task;
            Mode = VcpuMode.Exit;
            _exitKind = ExitKind.Entry;
            _exitRemaining = Costs.Entry.Ns;
        }
        else if (Mode == VcpuMode.Guest)
        {
            // Scheduled out from guest mode (external interrupt exit + schedule): pay the exit and re-enter.
            Mode = VcpuMode.Exit;
            _exitKind = ExitKind.Entry;
            _exitRemaining = Costs.Exit.Ns + Costs.Entry.Ns;
        }
        else if (Mode is VcpuMode.Halted or VcpuMode.PleSleep)
        {
            if (Mode == VcpuMode.Halted)
            {
                EndHalt();
                PvUnhalted = false; // __vcpu_run leaving KVM_MP_STATE_HALTED (3.12)
            }
            _onWaitQueue = false; // finish_wait
            _rcuwaitActive = false; // 5.8+ finish_rcuwait, run by the woken thread itself
            _sleepTimer.Cancel();
            Mode = VcpuMode.Exit;
            _exitKind = ExitKind.Entry;
            _exitRemaining = Costs.Entry.Ns;
        }
        else if (HaltPolling)
        {
            // Preempted while polling: the loop resumes only while before its wall-clock stop and
            // while single_task_running() (kvm_vcpu_block); otherwise it ends now and blocks.
            // A poll that already saw another task queued (decision 0097) goes on to block.
            long now = _kvm.Sim.Now.Ns;
            _exitRemaining = _pollEndedByTask || now >= _pollStop || _kvm.Host.Rqs[cpu].NrRunning > 1 ? 0 : _pollStop - now;
        }
        Account();
        Run();
    }

    public void OnStop(HostTask task, int cpu, StopReason reason)
    {
        Freeze();
        _switchPending = true;
        VmxVcpuPiPut(reason != StopReason.Blocked); // IPIv: SN while runnable (kvm_sched_out's current->on_rq)
        if (reason != StopReason.Blocked)
        {
            // kvm_sched_out (3.10 preempted, 5.3 ready): the outgoing task is still TASK_RUNNING, both
            // when the host preempted it and after its own yield_to/sched_yield (decision 0079).
            Preempted = true;
            Ready = true;
            PreemptedByHost = reason == StopReason.Preempted;
            // kvm_arch_vcpu_put (4.14): preempted_in_kernel = CPL 0. Only while in guest mode
            // does the guest's own mode matter; preempted in an exit it is past the guest's instruction.
            // An interrupt handler in progress runs at CPL 0 whatever it interrupted.
            PreemptedInKernel = _irqVector >= 0 || (_op == GuestOp.Spin ? !_spinUser : Guest.InKernelMode(this));
            if (PreemptedByHost && Guest.HoldsSpinlock(this))
                _lhpSince = _kvm.Sim.Now.Ns;
        }
        // kvm_arch_vcpu_put → kvm_steal_time_set_preempted: from 5.19 only under vcpu->preempted (a
        // runnable put); before it at every put, a block on HLT included (decision 0081).
        bool markPreempted = reason != StopReason.Blocked || _kvm.Settings.StealTimePreemptedOnBlock;
        if (markPreempted)
        {
            StealTimePreempted = true;
            if (reason == StopReason.Blocked)
                Stats.BlocksMarkedPreempted++;
        }
        Account();
        if (markPreempted)
            Guest.OnStealTimePreempted(this);
    }
}

using PleSim.Engine;
using PleSim.Hypervisor;
using PleSim.Plugins;

namespace PleSim.Guest;

/// <summary>A guest CPU: lock waiting — a plug-in ticket lock's wait steps (decision 0041) and <c>mutex_lock</c> (fast path, owner spin, <c>__mutex_lock_common</c>'s slow path).</summary>
public sealed partial class GuestCpu
{
    // ------------------------------------------------------------------ lock waiting

    /// <summary>
    /// Queues, ahead of anything queued, <c>__mutex_lock_common</c>'s locked part: take
    /// <c>wait_lock</c>, <paramref name="step"/> (first round or retry), drop it, and schedule() if
    /// the step set the thread to sleep.
    /// </summary>
    private void PushMutexSlowFront(GuestMutex m, Micro step)
    {
        RunNext(
            new Op { Kind = Micro.Lock, Lock = m.WaitLock },
            new Op { Kind = step, Mutex = m },
            new Op { Kind = Micro.Unlock, Lock = m.WaitLock },
            new Op { Kind = Micro.BlockIfSleeping });
    }

    /// <summary>
    /// A plug-in lock's waiter takes its next step (decision 0041): if the lock word already says
    /// the lock is ours, spin (the loop's first look takes it); otherwise ask the plug-in — spin a
    /// budget of PAUSE loops, or enter the PV slow path (register, re-check, halt) as
    /// <c>kvm_lock_spinning</c> does. <paramref name="continuing"/>: a budget just ran out and the
    /// loop goes on (<see cref="Vcpu.ContinueSpin"/>: one PAUSE loop to PLE).
    /// </summary>
    private void PluginLockWait(bool continuing)
    {
        var lk = _spinningOn!;
        _waitBudgetLoops = 0;
        if (lk.IsFreeFor(this, _spinToken))
        {
            PluginLockSpin(lk, continuing, -1);
            return;
        }
        var d = _k.LockPlugin!.OnWait(lk.PluginState(this), new GuestSpinlockWaiter(_spinToken, _waitLoops, _waitHalts, !_if));
        if (d.Action == GuestSpinAction.Halt)
        {
            if (lk.EnterSlowpath(this, _spinToken))
            {
                _waitHalts++;
                _pvHalting = true;
                Vcpu.Halt();
            }
            else
            {
                Vcpu.Spin(lk, _spinToken, lk.UserSpace, -1);
            }
            return;
        }
        if (d.Loops <= 0)
        {
            PluginLockSpin(lk, continuing, -1);
            return;
        }
        // At most 2^32 loops per budget (about a minute of spinning): keeps the cycle product in range.
        _waitBudgetLoops = Math.Min(d.Loops, 1L << 32);
        long ns = Math.Max(1, _k.Kvm.Tsc.ToDuration(new TscCycles(_waitBudgetLoops * _k.Kvm.Settings.PauseLoopCycles)).Ns);
        PluginLockSpin(lk, continuing, ns);
    }

    private void PluginLockSpin(GuestSpinLock lk, bool continuing, long limitNs)
    {
        if (continuing)
            Vcpu.ContinueSpin(lk, _spinToken, lk.UserSpace, limitNs);
        else
            Vcpu.Spin(lk, _spinToken, lk.UserSpace, limitNs);
    }

    /// <summary>
    /// <c>mutex_lock</c>: the fast path; failing it, <c>__mutex_lock_common</c>'s owner-spin loop
    /// (a PAUSE loop on the mutex) when enabled and worth starting, else the slow path at once.
    /// </summary>
    private bool MutexLock(GuestMutex m)
    {
        var t = Curr!;
        if (m.FastPath(t))
        {
            Vcpu.Compute(S.Costs.LockAcquire.Ns);
            return true;
        }
        if (S.MutexSpinOnOwner)
        {
            MutexSpinOwner = null;
            switch (m.Step(this))
            {
                case GuestMutex.SpinStep.Acquired:
                    MutexSpinOwner = null;
                    Vcpu.Compute(S.Costs.LockAcquire.Ns);
                    return true;
                case GuestMutex.SpinStep.KeepSpinning:
                    _mutexSpinning = m;
                    m.AddSpinner(this);
                    _k.Observer?.OwnerSpinStart(t, this, m.Name, OwnerSpinKind.Mutex, queued: false);
                    Vcpu.Spin(m, 0);
                    return true;
            }
            MutexSpinOwner = null;
        }
        PushMutexSlowFront(m, Micro.MutexSlow);
        return false;
    }
}

using PleSim.Engine;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>A guest CPU: try_to_wake_up (2.6.3x kernel/sched.c) — select, lock, enqueue, preempt or IPI.</summary>
public sealed partial class GuestCpu
{
    // ------------------------------------------------------------------ wake-up

    /// <summary>try_to_wake_up, first part: lock the run queue the thread is on (<c>task_rq_lock</c>).</summary>
    private bool WakeSelect(GuestThread t)
    {
        var rq = _k.Cpus[t.Cpu];
        RunNext(
            new Op { Kind = Micro.Lock, Lock = rq.RqLock },
            new Op { Kind = Micro.WakeCheck, Thread = t, Cpu = rq });
        Vcpu.Compute(S.Costs.WakeupPath.Ns);
        return true;
    }

    /// <summary>
    /// try_to_wake_up under the thread's run-queue lock: a thread still on its CPU (it has not
    /// been through schedule() yet) is just set running; a blocked one gets a CPU
    /// (select_task_rq) and is enqueued there under that CPU's lock.
    /// </summary>
    private void WakeCheck(GuestThread t, GuestCpu locked)
    {
        if (t.Cpu != locked.Index)
        {
            // It moved before we got the lock: task_rq_lock retries.
            RunNext(
                new Op { Kind = Micro.Unlock, Lock = locked.RqLock },
                new Op { Kind = Micro.WakeSelect, Thread = t });
            return;
        }
        if (t.State == ThreadState.Sleeping)
        {
            t.State = ThreadState.Running;
            t.Wakeups++;
            locked.TtwuAvgIdle(); // 2.6.32 out_running / 4.16 ttwu_remote → ttwu_do_wakeup
            PushFront(new Op { Kind = Micro.Unlock, Lock = locked.RqLock });
            return;
        }
        if (t.State != ThreadState.Blocked)
        {
            PushFront(new Op { Kind = Micro.Unlock, Lock = locked.RqLock });
            return;
        }
        var target = _k.SelectWakeTarget(t, this);
        if (target == locked)
        {
            RunNext(
                new Op { Kind = Micro.EnqueueDo, Thread = t, Cpu = target },
                new Op { Kind = Micro.Unlock, Lock = locked.RqLock });
            return;
        }
        // Moving to another CPU: drop this lock, take the target's (2.6.3x ttwu).
        RunNext(
            new Op { Kind = Micro.Unlock, Lock = locked.RqLock },
            new Op { Kind = Micro.Lock, Lock = target.RqLock },
            new Op { Kind = Micro.EnqueueDo, Thread = t, Cpu = target },
            new Op { Kind = Micro.Unlock, Lock = target.RqLock });
    }

    /// <summary>Enqueue a woken thread on <paramref name="target"/> (whose rq lock we hold) and decide on preemption and the reschedule IPI.</summary>
    private bool EnqueueDo(GuestThread t, GuestCpu target)
    {
        var from = _k.Cpus[t.Cpu];
        long rel = t.Vruntime - from.MinVruntime;
        if (t.Cpu != target.Index)
            t.Migrations++;
        t.Cpu = target.Index;
        t.State = ThreadState.Runnable;
        t.Wakeups++;
        long v = rel + target.MinVruntime;
        t.Vruntime = Math.Max(v, target.MinVruntime - (S.Latency.Ns / 2));
        t.ListSeq = ++_k.TaskListSeq;
        target.Enqueue(t);
        target.AddNrRunning();
        target.TtwuAvgIdle();
        // check_preempt_curr (the test runs update_curr even when the flag is already set).
        bool preempt = target.Curr is null || target.CurrPreemptedBy(t);
        _k.Observer?.Woken(t, this, target, preempt);
        if (preempt && !target.NeedResched)
            ReschedCurr(target);
        Vcpu.Compute(S.Costs.Enqueue.Ns);
        return true;
    }

    /// <summary>
    /// <c>resched_task</c> / <c>resched_curr</c>: set need_resched on <paramref name="target"/>. On
    /// another CPU this sends the reschedule IPI from here, inside the run-queue lock (and a waker's
    /// wait-queue lock), to wake the VCPU out of HLT — unless its idle loop polls need_resched
    /// (<c>tsk_is_polling</c>: TIF_POLLING_NRFLAG, poll_idle), which then sees the flag on its next look.
    /// </summary>
    private void ReschedCurr(GuestCpu target)
    {
        target.NeedResched = true;
        if (target == this)
            return;
        if (target._polling)
        {
            target.PollingWakeups++;
            target.Vcpu.NotifySpinRelease();
        }
        else
        {
            PushFront(new Op { Kind = Micro.Ipi, Cpu = target, Vector = Vectors.Reschedule });
        }
    }
}

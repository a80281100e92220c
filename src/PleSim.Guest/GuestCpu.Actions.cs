namespace PleSim.Guest;

/// <summary>A guest CPU: a thread's program actions expanded into kernel paths (wait queues, <c>sys_futex</c>, mutexes, <c>sched_yield</c>, exit) and the <c>schedule()</c> path.</summary>
public sealed partial class GuestCpu
{
    // ------------------------------------------------------------------ actions

    private void Expand(in GuestAction a)
    {
        // The three actions of a lock loop are written straight into a free (zeroed) ring slot;
        // the rest go through ExpandOther, whose many Op temporaries the JIT zeroes on every call.
        switch (a.Kind)
        {
            case ActionKind.Compute:
            {
                ref var o = ref PushBackSlot();
                o.Kind = Micro.Compute;
                o.Ns = Math.Max(1, a.Ns);
                o.User = a.UserMode;
                return;
            }
            case ActionKind.Lock:
            {
                ref var o = ref PushBackSlot();
                o.Kind = Micro.Lock;
                o.Lock = a.Lock;
                return;
            }
            case ActionKind.Unlock:
            {
                ref var o = ref PushBackSlot();
                o.Kind = Micro.Unlock;
                o.Lock = a.Lock;
                return;
            }
        }
        ExpandOther(in a);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void ExpandOther(in GuestAction a)
    {
        switch (a.Kind)
        {
            case ActionKind.Compute:
                Push(Micro.Compute, Math.Max(1, a.Ns), user: a.UserMode);
                break;
            case ActionKind.Lock:
                Push(Micro.Lock, lk: a.Lock);
                break;
            case ActionKind.Unlock:
                Push(Micro.Unlock, lk: a.Lock);
                break;
            case ActionKind.Signal:
                a.Queue!.Signals++;
                Push(Micro.Lock, lk: a.Queue.Lock);
                Push(Micro.SignalDo, q: a.Queue);
                Push(Micro.Unlock, lk: a.Queue.Lock);
                break;
            case ActionKind.SignalLocked:
                if (a.Queue!.Lock.Owner != this)
                    throw new InvalidOperationException($"{Curr}: SignalLocked on {a.Queue} without holding {a.Queue.Lock}");
                a.Queue.Signals++;
                Push(Micro.SignalDo, q: a.Queue);
                break;
            case ActionKind.Wait:
                a.Queue!.Waits++;
                Push(Micro.Lock, lk: a.Queue.Lock);
                Push(Micro.WaitDo, q: a.Queue);
                Push(Micro.Unlock, lk: a.Queue.Lock);
                Push(Micro.BlockIfSleeping);
                break;
            case ActionKind.Shootdown:
                Push(Micro.Shootdown);
                break;
            case ActionKind.IoExit:
                Push(Micro.IoExit, a.Ns);
                break;
            case ActionKind.Yield:
                Curr!.Vruntime = Math.Max(Curr.Vruntime, _queue.Count > 0 ? _queue[^1].Vruntime : Curr.Vruntime);
                PushSchedule();
                break;
            case ActionKind.Exit:
                Curr!.State = ThreadState.Done;
                PushSchedule();
                break;
            case ActionKind.Call:
                a.Callback!.Run(Curr!, a.Code);
                break;
            case ActionKind.MutexLock:
                PushBack(new Op { Kind = Micro.MutexLock, Mutex = a.Mutex });
                break;
            case ActionKind.MutexUnlock:
                PushBack(new Op { Kind = Micro.MutexUnlock, Mutex = a.Mutex });
                break;
            case ActionKind.FutexWait:
                // sys_futex → futex_wait → futex_wait_setup (queue_lock) → futex_wait_queue_me (queue_me unlocks) → schedule.
                a.Futex!.WaitCalls++;
                Push(Micro.Compute, S.Costs.Syscall.Ns);
                Push(Micro.Lock, lk: a.Futex.BucketLock);
                PushBack(new Op { Kind = Micro.FutexWaitDo, Futex = a.Futex, Ns = a.Ns });
                Push(Micro.Unlock, lk: a.Futex.BucketLock);
                Push(Micro.BlockIfSleeping);
                break;
            case ActionKind.Notify:
                PushBack(new Op { Kind = Micro.Notify, Fd = a.Fd });
                break;
            case ActionKind.FutexWake:
                a.Futex!.WakeCalls++;
                Push(Micro.Compute, S.Costs.Syscall.Ns);
                Push(Micro.Lock, lk: a.Futex.BucketLock);
                PushBack(new Op { Kind = Micro.FutexWakeDo, Futex = a.Futex, Ns = a.Ns });
                Push(Micro.Unlock, lk: a.Futex.BucketLock);
                break;
        }
    }

    private void PushSchedule()
    {
        Push(Micro.Lock, lk: RqLock);
        Push(Micro.Compute, S.Costs.ContextSwitch.Ns);
        Push(Micro.Pick);
        Push(Micro.Unlock, lk: RqLock);
    }
}

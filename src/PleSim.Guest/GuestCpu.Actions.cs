namespace PleSim.Guest;

/// <summary>A guest CPU: a thread's program actions expanded into kernel paths (wait queues, <c>sys_futex</c>, mutexes, <c>sched_yield</c>, exit) and the <c>schedule()</c> path.</summary>
public sealed partial class GuestCpu
{
    // ------------------------------------------------------------------ actions

    /// <summary>
    /// Turns a program action into its kernel path. True when the path's only op was started at
    /// once: with the queue empty, it is the op the dispatch loop would pop next, so the lock
    /// loop's actions (compute, lock, unlock) run without a round trip through the ring.
    /// </summary>
    private bool Expand(in GuestAction a)
    {
        // The three actions of a lock loop are written straight into a local op or a free
        // (zeroed) ring slot; the rest go through ExpandOther, whose many Op temporaries the JIT
        // zeroes on every call.
        switch (a.Kind)
        {
            case ActionKind.Compute:
            {
                if (_count == 0)
                {
                    var op = new Op { Kind = Micro.Compute, Ns = Math.Max(1, a.Ns), User = a.UserMode };
                    return Execute(in op);
                }
                ref var o = ref PushBackSlot();
                o.Kind = Micro.Compute;
                o.Ns = Math.Max(1, a.Ns);
                o.User = a.UserMode;
                return false;
            }
            case ActionKind.Lock:
            case ActionKind.Unlock:
            {
                var kind = a.Kind == ActionKind.Lock ? Micro.Lock : Micro.Unlock;
                if (_count == 0)
                {
                    var op = new Op { Kind = kind, Lock = a.Lock };
                    return Execute(in op);
                }
                ref var o = ref PushBackSlot();
                o.Kind = kind;
                o.Lock = a.Lock;
                return false;
            }
        }
        ExpandOther(in a);
        return false;
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
                PushBack(new Op { Kind = Micro.Shootdown, Flag = a.Code != 0 });
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
            case ActionKind.OwnerSpin:
                PushBack(new Op { Kind = Micro.OwnerSpin, OwnerSpin = (IOwnerSpin)a.Callback! });
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

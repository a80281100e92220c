using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>
/// A guest kernel sleeping lock, <c>struct mutex</c> as of 2.6.39 (kernel/mutex.c, x86
/// asm/mutex_64.h): a <c>count</c> word (1 free, 0 locked, negative: locked, waiters possible),
/// the <c>owner</c> task (CONFIG_MUTEX_SPIN_ON_OWNER), a <c>wait_lock</c> spinlock and a FIFO
/// <c>wait_list</c>.
/// <list type="bullet">
/// <item><c>mutex_lock</c>: the fast path decrements <c>count</c>; from 1 it owns the lock.</item>
/// <item><c>__mutex_lock_common</c>: with owner spinning on, loop: while the owner it saw still owns
/// the lock and is on a CPU (<c>mutex_spin_on_owner</c>, kernel/sched.c: <c>owner->on_cpu</c>;
/// 4.10+ also <c>!vcpu_is_preempted(task_cpu(owner))</c>) and no reschedule is due, PAUSE
/// (<c>arch_mutex_cpu_relax</c>); when the owner released, <c>cmpxchg(count, 1, 0)</c>. Any other
/// ending (owner changed, went off CPU, need_resched) leaves for the slow path.</item>
/// <item>Slow path under <c>wait_lock</c>: join the tail of <c>wait_list</c>, <c>xchg(count, -1)</c>;
/// 1 means it got the lock; otherwise sleep (TASK_UNINTERRUPTIBLE), and after each wake-up take
/// <c>wait_lock</c> and retry the <c>xchg</c>. The winner leaves the list and sets <c>count</c> to 0
/// if the list is empty.</item>
/// <item><c>mutex_unlock</c>: clear the owner, increment <c>count</c>; if that does not make it
/// positive, under <c>wait_lock</c> set it to 1 and <c>wake_up_process</c> the first waiter (which
/// then competes with spinners: no hand-over).</item>
/// </list>
/// The owner-spin is a PAUSE loop the VCPU executes (<see cref="Vcpu.Spin(ISpinTarget, long, bool, long)"/>):
/// PLE sees it and can exit it like any spinlock spin.
/// </summary>
public sealed class GuestMutex : ISpinTarget
{
    private readonly GuestKernel _k;
    private readonly List<GuestCpu> _spinners;
    private readonly List<GuestThread> _waitList = new(64);
    private long _acquiredAt;

    internal GuestMutex(GuestKernel kernel, string name)
    {
        _k = kernel;
        Name = name;
        // spin_lock_mutex is a plain spin_lock (2.6.39 kernel/mutex.h without DEBUG_MUTEXES).
        WaitLock = kernel.NewLock(name + ".wait_lock");
        _spinners = new List<GuestCpu>(kernel.Cpus.Length);
    }

    public string Name { get; }

    /// <summary><c>lock->wait_lock</c>.</summary>
    public GuestSpinLock WaitLock { get; }

    /// <summary><c>lock->count</c>: 1 free, 0 locked, negative locked with (possible) waiters.</summary>
    public int Count { get; private set; } = 1;

    /// <summary><c>lock->owner</c> (null when free, or between the fast-path decrement of a sleeper's win and <c>mutex_set_owner</c> — not modelled as separate steps).</summary>
    public GuestThread? Owner { get; private set; }

    /// <summary>Threads on <c>wait_list</c> (FIFO).</summary>
    public int Waiters => _waitList.Count;

    /// <summary><paramref name="t"/> is on <c>wait_list</c>.</summary>
    internal bool OnWaitList(GuestThread t) => _waitList.Contains(t);

    /// <summary>VCPUs in the owner-spin loop now.</summary>
    public int Spinners => _spinners.Count;

    // Statistics.
    public long Acquisitions, FastAcquisitions, SpinAcquisitions, SlowAcquisitions, Sleeps, Spins, HoldNs;

    /// <summary>Owner spins abandoned because the owner changed or left its CPU (the guest's view), or a reschedule was due.</summary>
    public long SpinGiveUps;

    /// <summary>Owner spins abandoned because <c>vcpu_is_preempted</c> said the owner's VCPU is preempted (4.10+).</summary>
    public long SpinGiveUpsVcpuPreempted;

    private GuestSettings S => _k.Settings;

    /// <summary><c>owner->on_cpu</c>: the owner is the current thread of its VCPU (true even when the host has preempted that VCPU).</summary>
    private bool OnCpu(GuestThread owner) => _k.Cpus[owner.Cpu].Curr == owner;

    // ------------------------------------------------------------------ lock

    /// <summary>The fast path (<c>__mutex_fastpath_lock</c>: <c>lock decl</c>); true when it took the lock.</summary>
    internal bool FastPath(GuestThread t)
    {
        Count--;
        if (Count == 0)
        {
            FastAcquisitions++;
            Take(t);
            return true;
        }
        return false;
    }

    private void Take(GuestThread t)
    {
        Owner = t;
        t.MutexesHeld++;
        Acquisitions++;
        _acquiredAt = _k.Kvm.Sim.Now.Ns;
        ReclassifySpinners();
    }

    /// <summary>The outcome of one evaluation of the owner-spin loop.</summary>
    internal enum SpinStep
    {
        KeepSpinning,
        Acquired,
        GiveUp,
    }

    /// <summary>
    /// One look at the lock by the owner-spin loop of <paramref name="cpu"/>'s current thread: what
    /// <c>__mutex_lock_common</c>'s loop and <c>mutex_spin_on_owner</c> decide with the lock as it is now.
    /// </summary>
    internal SpinStep Step(GuestCpu cpu)
    {
        var seen = cpu.MutexSpinOwner;
        if (seen is not null)
        {
            // mutex_spin_on_owner: spin while the owner we saw owns the lock and runs.
            if (Owner == seen && OnCpu(seen) && !cpu.NeedResched)
            {
                if (!(S.VcpuIsPreemptedCheck && GuestCpu.VcpuIsPreempted(_k.Cpus[seen.Cpu])))
                    return SpinStep.KeepSpinning;
                SpinGiveUpsVcpuPreempted++;
                return SpinStep.GiveUp;
            }
            // Success only when the lock is now ownerless; a new owner or an owner off CPU ends the spin.
            if (Owner is not null)
            {
                SpinGiveUps++;
                return SpinStep.GiveUp;
            }
            cpu.MutexSpinOwner = null;
        }
        if (Owner is { } o)
        {
            // The loop's next round reads a (new) owner and spins on it.
            cpu.MutexSpinOwner = o;
            return Step(cpu);
        }
        if (Count == 1)
        {
            // atomic_cmpxchg(&lock->count, 1, 0) won.
            Count = 0;
            SpinAcquisitions++;
            Take(cpu.Curr!);
            return SpinStep.Acquired;
        }
        if (cpu.NeedResched)
        {
            SpinGiveUps++;
            return SpinStep.GiveUp;
        }
        return SpinStep.KeepSpinning; // locked, owner not set (an unlock's slow path in progress): cpu_relax
    }

    internal void AddSpinner(GuestCpu cpu)
    {
        Spins++;
        _spinners.Add(cpu);
    }

    internal void RemoveSpinner(GuestCpu cpu) => _spinners.Remove(cpu);

    /// <summary>Slow path under <c>wait_lock</c>, first round: join the tail of <c>wait_list</c> and try <c>xchg(count, -1)</c>; true when it got the lock.</summary>
    internal bool SlowPathFirst(GuestThread t)
    {
        _waitList.Add(t);
        return SlowPathRetry(t);
    }

    /// <summary>Slow path under <c>wait_lock</c> (also after each wake-up): <c>xchg(count, -1) == 1</c> wins; else the thread is set to sleep.</summary>
    internal bool SlowPathRetry(GuestThread t)
    {
        int old = Count;
        Count = -1;
        if (old == 1)
        {
            // done: mutex_remove_waiter, mutex_set_owner, count 0 if nobody else waits.
            _waitList.Remove(t);
            if (_waitList.Count == 0)
                Count = 0;
            SlowAcquisitions++;
            Take(t);
            return true;
        }
        Sleeps++;
        return false;
    }

    // ------------------------------------------------------------------ unlock

    /// <summary>
    /// <c>mutex_unlock</c>: <c>mutex_clear_owner</c>, then <c>lock incl</c>. True: the count became
    /// positive, the lock is free (fast path); false: the unlock slow path must run under <c>wait_lock</c>.
    /// </summary>
    internal bool Unlock(GuestThread t)
    {
        if (Owner != t)
            throw new InvalidOperationException($"{t} unlocks {Name}, owned by {Owner?.ToString() ?? "nobody"}");
        HoldNs += _k.Kvm.Sim.Now.Ns - _acquiredAt;
        Owner = null;
        t.MutexesHeld--;
        Count++;
        ReclassifySpinners();
        if (Count > 0)
        {
            NotifySpinners();
            return true;
        }
        return false;
    }

    /// <summary>
    /// <c>__mutex_unlock_slowpath</c> under <c>wait_lock</c>: <c>count</c> back to 1 (x86 unlocks in the
    /// slow path), spinners may take it; returns the first waiter to <c>wake_up_process</c>, or null.
    /// </summary>
    internal GuestThread? UnlockSlowPath()
    {
        Count = 1;
        NotifySpinners();
        return _waitList.Count > 0 ? _waitList[0] : null;
    }

    /// <summary>The owner thread left its CPU (guest context switch): its spinners see <c>on_cpu</c> drop.</summary>
    internal void OwnerSwitchedOut() => NotifySpinners();

    /// <summary>Spinners look again (they take the lock, or stop, at once if they are executing; else when they next do).</summary>
    internal void NotifySpinners()
    {
        // A spinner that stops removes itself from the list while we iterate: walk from the end.
        for (int i = _spinners.Count - 1; i >= 0; i--)
        {
            if (i < _spinners.Count)
                _spinners[i].Vcpu.NotifySpinRelease();
        }
    }

    private void ReclassifySpinners()
    {
        for (int i = 0; i < _spinners.Count; i++)
            _spinners[i].Vcpu.ReclassifySpin();
    }

    // ------------------------------------------------------------------ ISpinTarget

    /// <summary>The owner-spin loop's check, each time the VCPU could observe a change: true ends the spin (acquired or given up).</summary>
    public bool TryAcquire(Vcpu vcpu, long token)
    {
        var cpu = (GuestCpu)vcpu.Guest;
        var step = Step(cpu);
        if (step == SpinStep.KeepSpinning)
            return false;
        cpu.MutexSpinAcquired = step == SpinStep.Acquired;
        _spinners.Remove(cpu);
        return true;
    }

    public bool WaitsOn(Vcpu spinner, long token, Vcpu candidate) => _k.IsOwnerVcpu(Owner, candidate);

    /// <summary>Ground truth (oracle, read-only): see <see cref="GuestKernel.OwnerSpinCause"/>.</summary>
    public SpinCause Cause(Vcpu spinner, long token) => _k.OwnerSpinCause(Owner);

    public SpinRelation Relation(Vcpu spinner, long token, Vcpu candidate)
    {
        if (_k.IsOwnerVcpu(Owner, candidate))
            return SpinRelation.Holder;
        for (int i = 0; i < _spinners.Count; i++)
        {
            if (_spinners[i].Vcpu == candidate)
                return SpinRelation.OtherSpinner;
        }
        return SpinRelation.Unrelated;
    }

    public override string ToString() => Name;
}

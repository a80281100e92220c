using PleSim.Hypervisor;

namespace PleSim.Guest;

/// <summary>
/// A guest kernel spinlock. Ticket (x86 <c>__ticket_spin_lock</c>): <c>xadd</c> takes the next
/// ticket, waiters spin with PAUSE until the head reaches theirs, unlock increments the head —
/// strictly FIFO, so a preempted next waiter holds everyone up. Test-and-set: on release all
/// spinners look, and the first to see it free takes it.
/// </summary>
public sealed class GuestSpinLock : ISpinTarget
{
    private readonly GuestKernel _kernel;
    private readonly List<Waiter> _waiters = [];
    private Waiter[] _scratch = new Waiter[8];
    private long _head;
    private long _tail;
    private bool _locked;
    private long _acquiredAt;

    private struct Waiter
    {
        public GuestCpu Cpu;
        public long Ticket;
        public long Since;
    }

    internal GuestSpinLock(GuestKernel kernel, string name, SpinlockKind kind)
    {
        _kernel = kernel;
        Name = name;
        Kind = kind;
    }

    public string Name { get; }
    public SpinlockKind Kind { get; }

    /// <summary>The CPU whose code holds the lock (null when free).</summary>
    public GuestCpu? Owner { get; private set; }

    public int Waiting => _waiters.Count;

    // Statistics.
    public long Acquisitions, Contended, SpinNs, HoldNs, HolderPreemptedAtSpin, NextWaiterPreempted;

    private long Now => _kernel.Kvm.Sim.Now.Ns;

    public bool WaitsOn(Vcpu spinner, long token, Vcpu candidate)
    {
        if (Owner?.Vcpu == candidate)
            return true;
        if (Kind != SpinlockKind.Ticket)
            return false;
        foreach (var w in _waiters)
        {
            if (w.Cpu.Vcpu == candidate && w.Ticket < token)
                return true; // ahead in line: the lock reaches us only after it had its turn
        }
        return false;
    }

    /// <summary>
    /// Ground truth (oracle, read-only; docs/ground-truth.md): why <paramref name="spinner"/> still
    /// spins. Held: by where the holder's VCPU is. Free ticket lock: reserved for the first waiter
    /// in line, by where that waiter's VCPU is. Otherwise (a running holder, a hand-over under
    /// way, a free test-and-set lock nobody has looked at yet): plain contention.
    /// </summary>
    public SpinCause Cause(Vcpu spinner, long token)
    {
        if (Owner is { } o)
            return GroundTruth.HolderCause(o.Vcpu);
        if (Kind == SpinlockKind.Ticket && _waiters.Count > 0 && _waiters[0].Cpu.Vcpu != spinner)
            return GroundTruth.NextWaiterCause(_waiters[0].Cpu.Vcpu); // waiters are kept in ticket order
        return SpinCause.Contention;
    }

    /// <summary>Ground truth (oracle, read-only): what <paramref name="candidate"/> is to <paramref name="spinner"/>.</summary>
    public SpinRelation Relation(Vcpu spinner, long token, Vcpu candidate)
    {
        if (Owner?.Vcpu == candidate)
            return SpinRelation.Holder;
        for (int i = 0; i < _waiters.Count; i++)
        {
            var w = _waiters[i];
            if (w.Cpu.Vcpu != candidate)
                continue;
            if (Kind != SpinlockKind.Ticket || w.Ticket > token)
                return SpinRelation.OtherSpinner;
            return i == 0 ? SpinRelation.NextWaiter : SpinRelation.WaiterAhead;
        }
        return SpinRelation.Unrelated;
    }

    /// <summary>Ground truth: the owner or the line changed, so every waiter takes its spin cause again.</summary>
    private void ReclassifyWaiters()
    {
        for (int i = 0; i < _waiters.Count; i++)
            _waiters[i].Cpu.Vcpu.ReclassifySpin();
    }

    /// <summary>The fast path: take the lock now, or join the waiters (returning the ticket to spin for).</summary>
    internal bool TryFast(GuestCpu cpu, out long token)
    {
        if (Kind == SpinlockKind.Ticket)
        {
            token = _tail++;
            if (token == _head && Owner is null)
            {
                Take(cpu);
                return true;
            }
        }
        else
        {
            token = 0;
            if (!_locked)
            {
                Take(cpu);
                return true;
            }
        }
        Contended++;
        if (Owner is { } o && o.Vcpu.Preempted)
            HolderPreemptedAtSpin++;
        _waiters.Add(new Waiter { Cpu = cpu, Ticket = token, Since = Now });
        return false;
    }

    /// <summary>The spin loop's check: ticket: is the head ours? test-and-set: is it free?</summary>
    public bool TryAcquire(Vcpu vcpu, long token)
    {
        int i = IndexOf(vcpu);
        if (i < 0)
            return false;
        if (Kind == SpinlockKind.Ticket ? token != _head || Owner is not null : _locked)
            return false;
        var w = _waiters[i];
        _waiters.RemoveAt(i);
        SpinNs += Now - w.Since;
        Take(w.Cpu);
        return true;
    }

    private void Take(GuestCpu cpu)
    {
        Owner = cpu;
        _locked = true;
        _acquiredAt = Now;
        Acquisitions++;
        ReclassifyWaiters();
    }

    /// <summary>spin_unlock: hand over (ticket) or free (test-and-set), and let the waiters look.</summary>
    internal void Release(GuestCpu cpu)
    {
        if (Owner != cpu)
            throw new InvalidOperationException($"{cpu} releases {Name}, held by {Owner?.ToString() ?? "nobody"}");
        HoldNs += Now - _acquiredAt;
        Owner = null;
        _locked = false;
        ReclassifyWaiters();
        if (Kind == SpinlockKind.Ticket)
        {
            _head++;
            for (int i = 0; i < _waiters.Count; i++)
            {
                if (_waiters[i].Ticket != _head)
                    continue;
                var next = _waiters[i].Cpu;
                if (!next.Vcpu.InGuestMode)
                    NextWaiterPreempted++;
                next.Vcpu.NotifySpinRelease();
                break;
            }
            return;
        }
        // Test-and-set: every spinner looks; the first that runs takes it.
        int n = _waiters.Count;
        if (_scratch.Length < n)
            _scratch = new Waiter[n * 2];
        _waiters.CopyTo(_scratch);
        for (int i = 0; i < n && !_locked; i++)
            _scratch[i].Cpu.Vcpu.NotifySpinRelease();
    }

    private int IndexOf(Vcpu vcpu)
    {
        for (int i = 0; i < _waiters.Count; i++)
        {
            if (_waiters[i].Cpu.Vcpu == vcpu)
                return i;
        }
        return -1;
    }

    public override string ToString() => Name;
}

/// <summary>
/// A wait queue with a pending count: futex, condition variable and epoll wake-ups in one shape.
/// Signalling with no sleeper leaves a pending wake-up that the next Wait consumes (no lost wake-ups).
/// </summary>
public sealed class WaitQueue
{
    internal WaitQueue(string name, GuestSpinLock lk)
    {
        Name = name;
        Lock = lk;
    }

    public string Name { get; }

    /// <summary>The wait-queue spinlock (<c>wq->lock</c>) taken by both sides.</summary>
    public GuestSpinLock Lock { get; }

    public long Pending { get; internal set; }
    internal readonly Queue<GuestThread> Waiters = new();
    public int Sleepers => Waiters.Count;

    public long Signals, Waits, Sleeps;

    public override string ToString() => Name;
}

/// <summary>The acknowledgements a TLB shootdown waits for (<c>smp_call_function_many</c> + csd wait).</summary>
internal sealed class ShootdownBarrier : ISpinTarget
{
    public int Remaining;
    public GuestCpu? Initiator;

    public bool TryAcquire(Vcpu vcpu, long token) => Remaining == 0;

    public bool WaitsOn(Vcpu spinner, long token, Vcpu candidate) => candidate.Guest is GuestCpu c && c.OwesAck(this);

    /// <summary>
    /// Ground truth (oracle, read-only): the worst place among the VCPUs that still owe an
    /// acknowledgement — preempted, then halted, then (a hook) interrupts off, else in flight.
    /// </summary>
    public SpinCause Cause(Vcpu spinner, long token)
    {
        var worst = SpinCause.AckInFlight;
        foreach (var c in Initiator!.Kernel.Cpus)
        {
            if (c == Initiator || !c.OwesAck(this))
                continue;
            var cause = GroundTruth.AckCause(c.Vcpu);
            if (cause < worst)
                worst = cause;
        }
        return worst;
    }

    public SpinRelation Relation(Vcpu spinner, long token, Vcpu candidate) =>
        candidate.Guest is GuestCpu c && c.OwesAck(this) ? SpinRelation.AckDebtor : SpinRelation.Unrelated;
}

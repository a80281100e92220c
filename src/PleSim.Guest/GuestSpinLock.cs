using PleSim.Engine;
using PleSim.Hypervisor;
using PleSim.Plugins;

namespace PleSim.Guest;

/// <summary>
/// How the kernel paths take a spinlock, i.e. what they do with the CPU's interrupt flag. Each
/// lock says how 2.6.32/2.6.39 takes it (see docs/kernel-map.md for the function each comes from).
/// </summary>
public enum LockIrq
{
    /// <summary><c>spin_lock</c>: interrupts stay as they are (e.g. the futex hash-bucket lock).</summary>
    Plain,

    /// <summary>
    /// <c>spin_lock_bh</c> / <c>bh_lock_sock</c> in softirq context: softirqs off, hardware
    /// interrupts on. The model has no separate softirq state, so for interrupts this is <see cref="Plain"/>.
    /// </summary>
    Bh,

    /// <summary>
    /// <c>spin_lock_irqsave</c> / <c>spin_lock_irq</c>: <c>local_irq_save</c>, then the lock; the
    /// unlock restores the saved flag. On x86 the spin itself runs with interrupts off: the ticket
    /// lock's <c>__raw_spin_lock_flags</c> (arch/x86/include/asm/spinlock.h, 2.6.32) ignores the
    /// flags. <c>spin_lock_irq</c> differs only in re-enabling unconditionally; every path taking a
    /// lock that way runs with interrupts on, so saving and restoring is the same thing.
    /// </summary>
    IrqSave,
}

/// <summary>
/// A guest kernel spinlock. Ticket (x86 <c>__ticket_spin_lock</c>): <c>xadd</c> takes the next
/// ticket, waiters spin with PAUSE until the head reaches theirs, unlock increments the head —
/// strictly FIFO, so a preempted next waiter holds everyone up. Test-and-set: on release all
/// spinners look, and the first to see it free takes it.
/// </summary>
public sealed partial class GuestSpinLock : ISpinTarget
{
    private readonly GuestKernel _kernel;
    private readonly WaiterQueue _waiters;
    private Waiter[] _scratch;
    private long _head;
    private long _tail;
    private bool _locked;
    private long _acquiredAt;

    // PV queued lock, 4.5+: the pending byte the queue head sets in its active loop (decision 0080).
    // Linux 4.5 kernel/locking/qspinlock_paravirt.h pv_wait_head_or_lock: set_pending at the top of
    // each round of SPIN_THRESHOLD loops, cleared by trylock_clear_pending when the head takes the
    // lock and by clear_pending before it hashes and halts. A node reaches that loop only after it
    // saw node->locked in pv_wait_node (qspinlock.c queued_spin_lock_slowpath), i.e. only by running:
    // a node made head while its VCPU is off its CPU, in an exit or halted has not set it.
    private bool _pending;

    // PV queued lock (4.2+; decision 0084): the locked byte holds _Q_SLOW_VAL, and the node the
    // lock's hash entry names. Set by the queue head's one-time hashing in pv_wait_head_or_lock
    // (4.5+; pv_wait_head in 4.2-4.4: `if (!lp)`, then the byte is made _Q_SLOW_VAL) and by
    // pv_kick_node for a halted node made head (4.3+: state vcpu_hashed, byte _Q_SLOW_VAL, hashed).
    // Cleared only by __pv_queued_spin_unlock's slow path, which unhashes, stores 0 and pv_kicks the
    // hashed node whether it is halted or not. A release that finds the byte _Q_LOCKED_VAL (a
    // stealer's, or any hold nobody hashed) is the fast-path cmpxchg: no kick.
    private bool _slowVal;
    private GuestCpu? _hashedNode;

    private struct Waiter
    {
        public GuestCpu Cpu;
        public Vcpu Vcpu;        // Cpu.Vcpu, kept here so scans over the waiters read one object less
        public int VcpuIndex;    // Vcpu.Index: its bit in the VM's spinning mask
        public long Ticket;
        public long Since;
        public long BusyAtStall; // its VCPU's spin + PAUSE-exit time when the current stall began (or it joined it)
        public bool Slowpath;    // PV: registered to be kicked (kvm_lock_spinning's waiting_cpus / a halted pv node)
        public bool Hashed;      // PV queued head: the lock was hashed for it in this wait (pv_wait_head_or_lock's lp, or pv_kick_node's vcpu_hashed; decision 0084)
        public long SpinAtJoin;  // its VCPU's guest-mode spin time when it joined (the loop iterations of this wait are counted from it)
        public long HeadSeen;    // preemptable ticket: the head its timeout was last computed from
        public bool Spinning;    // preemptable ticket: past the preemptable loop, spinning on the lock word (xchg)
        public long SeesFreeAt;  // guest.cache_coherence: directory: when its re-read after the last release returns (-1: it did not re-read; decision 0059)
    }

    internal GuestSpinLock(GuestKernel kernel, string name, SpinlockKind kind, LockIrq irq, int index = 0)
    {
        _kernel = kernel;
        Index = index;
        Name = name;
        Kind = kind;
        Irq = irq;
        // At most one waiter per guest CPU: room for all of them up front, so the first contention
        // of a lock in the middle of a run does not allocate.
        _waiters = new WaiterQueue(kernel.Cpus.Length);
        _scratch = new Waiter[Math.Max(8, kernel.Cpus.Length)];
        // Decision 0059: the lock word's cache line (not for s390, whose machine these x86 latencies are not).
        _coherent = kernel.Settings.CacheCoherence == CacheCoherence.Directory && kind != SpinlockKind.S390;
        _lineLocalNs = kernel.Settings.CacheLineLocal.Ns;
        _lineRemoteNs = kernel.Settings.CacheLineRemote.Ns;
        _topo = kernel.Kvm.Host.Topology;
    }

    public string Name { get; }
    public SpinlockKind Kind { get; }

    /// <summary>
    /// A user-space lock (glibc's <c>pthread_spin_lock</c>): its waiters spin at CPL 3, so their PAUSE
    /// loops are user-mode spins to the hardware (Intel PLE counts only at CPL 0; KVM's
    /// <c>yield_to_kernel_mode</c> sees a user-mode spinner). Guest preemption of its holder is not
    /// modelled (the holds of the one user of it, dedup's mbuffer locks, are tens of nanoseconds).
    /// </summary>
    public bool UserSpace { get; init; }

    /// <summary>The lock's index in its guest kernel (creation order).</summary>
    public int Index { get; }

    /// <summary>Waiters are served in arrival order (ticket, queued); test-and-set is not.</summary>
    public bool IsFifo => Kind is not (SpinlockKind.TestAndSet or SpinlockKind.PreemptableTicket or SpinlockKind.S390);

    /// <summary>The preemptable ticket lock (decision 0046): ticket order until a waiter's timeout runs out.</summary>
    private bool IsPreemptable => Kind == SpinlockKind.PreemptableTicket;

    /// <summary>A paravirtual lock: waiters halt after SPIN_THRESHOLD loops and are kicked by a hypercall.</summary>
    public bool IsPv => Kind is SpinlockKind.PvTicket or SpinlockKind.PvQueued;

    private bool IsTicket => Kind is SpinlockKind.Ticket or SpinlockKind.PvTicket or SpinlockKind.Plugin;

    /// <summary>Waiters can halt in a slow path and are kicked by the unlocker: the PV locks and a plug-in lock (decision 0041).</summary>
    private bool HasSlowpath => IsPv || Kind == SpinlockKind.Plugin;

    /// <summary>PV slow-path entries (a waiter gave up spinning and registered to be kicked) and the halts that followed.</summary>
    public long PvSlowpaths, PvHalts;

    /// <summary>Newcomers that took a free PV queued lock ahead of its queue (lock stealing).</summary>
    public long Steals;

    /// <summary>
    /// PV queued lock: rounds after which an already-hashed queue head found the locked byte not
    /// <c>_Q_SLOW_VAL</c>, so its <c>pv_wait</c> returned without halting (decision 0084; what follows a steal).
    /// </summary>
    public long PvWaitsReturnedAtOnce;

    /// <summary>PV queued lock: whether the locked byte holds <c>_Q_SLOW_VAL</c> (its unlock will kick the hashed node; decision 0084).</summary>
    internal bool SlowVal => _slowVal;

    /// <summary>PV queued lock: queued nodes that halted before SPIN_THRESHOLD because their predecessor was not running (<c>pv_wait_early</c>; qstat pv_wait_early).</summary>
    public long PvWaitEarlies;

    /// <summary>
    /// <c>pv_wait_early</c> (qspinlock_paravirt.h, 4.5+) for <paramref name="cpu"/>'s node, read on a
    /// check iteration: true when it is queued behind another node (not the queue head: the head waits
    /// in <c>pv_wait_head_or_lock</c>, which has no early wait) whose state is not <c>vcpu_running</c>
    /// — halted in <c>pv_wait</c>, i.e. in the slow path here — or, with
    /// <see cref="PvWaitEarly.HaltedOrPreempted"/> (4.11-5.3), whose VCPU the steal-time flag marks preempted.
    /// </summary>
    internal bool PvWaitEarly(GuestCpu cpu)
    {
        var mode = _kernel.Settings.PvQspinlockWaitEarly;
        if (Kind != SpinlockKind.PvQueued || mode == Guest.PvWaitEarly.Off)
            return false;
        int i = IndexOf(cpu.Vcpu);
        if (i <= 0)
            return false; // the queue head, or not waiting
        var prev = _waiters[i - 1];
        return prev.Slowpath || (mode == Guest.PvWaitEarly.HaltedOrPreempted && GuestCpu.VcpuIsPreempted(prev.Cpu));
    }

    /// <summary>Whether <paramref name="cpu"/> waits on this PV queued lock behind the queue head (its spin is <c>pv_wait_node</c>'s).</summary>
    internal bool IsQueuedBehindHead(GuestCpu cpu) => Kind == SpinlockKind.PvQueued && IndexOf(cpu.Vcpu) > 0;

    /// <summary>
    /// Preemptable ticket lock (decision 0046): waiters whose timeout ran out before the head reached
    /// their ticket (they left the preemptable loop for the lock word), and acquisitions out of ticket
    /// order: by a waiter whose ticket the head had not reached (an earlier ticket was still unserved).
    /// </summary>
    public long PreemptableTimeouts, OutOfOrderAcquisitions;

    /// <summary>Buckets of <see cref="SpinIterationsLog2"/>: 0 iterations, then [2^(b-1), 2^b) for b = 1..63.</summary>
    public const int SpinIterationBuckets = 64;

    /// <summary>
    /// Contended acquisitions by the PAUSE-loop iterations the waiter executed before it got the lock
    /// (its guest-mode spin time over one loop; time preempted, halted or in exits runs no iteration):
    /// bucket 0 holds 0 iterations, bucket b ≥ 1 holds [2^(b-1), 2^b). Preallocated.
    /// </summary>
    public readonly long[] SpinIterationsLog2 = new long[SpinIterationBuckets];

    /// <summary>The histogram bucket of <paramref name="iterations"/> (see <see cref="SpinIterationsLog2"/>).</summary>
    public static int SpinIterationBucket(long iterations) =>
        iterations <= 0 ? 0 : Math.Min(SpinIterationBuckets - 1, 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)iterations));

    /// <summary>How the kernel takes this lock (what it does with the interrupt flag).</summary>
    public LockIrq Irq { get; }

    /// <summary>The holder's saved interrupt flag (the <c>flags</c> of <c>spin_lock_irqsave</c>), restored on unlock.</summary>
    internal bool SavedIf { get; set; }

    /// <summary>The CPU whose code holds the lock (null when free).</summary>
    public GuestCpu? Owner { get; private set; }

    public int Waiting => _waiters.Count;

    // Statistics.
    public long Acquisitions, Contended, SpinNs, HoldNs, HolderPreemptedAtSpin;

    /// <summary>
    /// Ticket hand-offs whose next ticket belonged to a waiter whose VCPU thread was off its host
    /// CPU at the release (preempted, yielded, or asleep in the PAUSE handler): lock waiter
    /// preemption. A waiter in a VM exit on its CPU (e.g. its own PAUSE handler) is not counted:
    /// it re-enters and takes the lock within the exit's cost.
    /// </summary>
    public long HandoffsToDescheduledWaiter;

    private long _stalledNs;
    private long _stalledSince = -1;

    /// <summary>
    /// Time the lock was free while its next ticket belonged to a descheduled waiter (from each
    /// counted hand-off until that waiter took the lock): every other waiter spins through it.
    /// Includes a stall in progress, so a window's difference is exact.
    /// </summary>
    public long StalledOnDescheduledWaiterNs => _stalledNs + (_stalledSince >= 0 ? Now - _stalledSince : 0);

    /// <summary>
    /// VCPU time the other waiters burnt (spinning in guest mode or in PAUSE exits) during those
    /// stalls: the cost of lock waiter preemption. Counted when the stall ends.
    /// </summary>
    public long SpinBehindDescheduledWaiterNs;

    private static long Busy(GuestCpu c) => c.Vcpu.TimeIn(VcpuTime.GuestSpin) + c.Vcpu.TimeIn(VcpuTime.PauseExit);

    private long Now => _kernel.Kvm.Sim.Now.Ns;

    public bool WaitsOn(Vcpu spinner, long token, Vcpu candidate)
    {
        if (Owner?.Vcpu == candidate)
            return true;
        if (!IsFifo && !IsPreemptable)
            return false;
        foreach (var w in _waiters)
        {
            if (w.Vcpu == candidate && w.Ticket < token)
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
        if (IsFifo && _waiters.Count > 0 && _waiters[0].Vcpu != spinner)
            return GroundTruth.NextWaiterCause(_waiters[0].Vcpu); // waiters are kept in ticket order
        if (IsPreemptable && HeadWaiter() is { } hw && _waiters[hw].Vcpu != spinner)
            return GroundTruth.NextWaiterCause(_waiters[hw].Vcpu); // free: the head's ticket holder has not looked yet
        return SpinCause.Contention;
    }

    /// <summary>Ground truth (oracle, read-only): what <paramref name="candidate"/> is to <paramref name="spinner"/>.</summary>
    public SpinRelation Relation(Vcpu spinner, long token, Vcpu candidate)
    {
        if (Owner?.Vcpu == candidate)
            return SpinRelation.Holder;
        var ws = _waiters.AsSpan();
        for (int i = 0; i < ws.Length; i++)
        {
            ref var w = ref ws[i];
            if (w.Vcpu != candidate)
                continue;
            if (IsPreemptable)
            {
                // The next ticket to be served: the head once the holder's unlock has moved it.
                long next = Owner is null ? _head : _head + 1;
                return w.Ticket == next ? SpinRelation.NextWaiter : w.Ticket < token ? SpinRelation.WaiterAhead : SpinRelation.OtherSpinner;
            }
            if (!IsFifo || w.Ticket > token)
                return SpinRelation.OtherSpinner;
            return i == 0 ? SpinRelation.NextWaiter : SpinRelation.WaiterAhead;
        }
        return SpinRelation.Unrelated;
    }

    /// <summary>Ground truth: the owner or the line changed, so every waiter takes its spin cause again.</summary>
    private void ReclassifyWaiters()
    {
        // ReclassifySpin does nothing unless the VCPU's time is accounted as spinning, which is
        // what the VM's spinning mask records: test the mask instead of reading every waiter's VCPU.
        var vm = _kernel.Vm;
        var ws = _waiters.AsSpan();
        // Cause(spinner, token) once for all of them: it depends on the spinner only through
        // "is it the first waiter" (which, on a free lock, is plain contention).
        Vcpu? first = null;
        SpinCause common;
        if (Owner is { } o)
            common = GroundTruth.HolderCause(o.Vcpu);
        else if (IsFifo && ws.Length > 0)
        {
            first = ws[0].Vcpu;
            common = GroundTruth.NextWaiterCause(first);
        }
        else
            common = SpinCause.Contention;
        // A waiter already spinning on this lock with that cause is left alone without reading its
        // Vcpu (Vm.SpinsOn): ReclassifySpin would change nothing, unless an observer records spin
        // segments (it may open one).
        bool quiet = _kernel.Kvm.Observer is null;
        for (int i = 0; i < ws.Length; i++)
        {
            if (!vm.IsSpinning(ws[i].VcpuIndex))
                continue;
            var cause = ws[i].Vcpu == first ? SpinCause.Contention : common;
            if (quiet && vm.SpinsOn(ws[i].VcpuIndex, this, cause))
                continue;
            ws[i].Vcpu.ReclassifySpin(this, cause);
        }
    }

    /// <summary>The fast path: take the lock now, or join the waiters (returning the ticket to spin for).</summary>
    internal bool TryFast(GuestCpu cpu, out long token)
    {
        if (_coherent)
            LineAtomic(cpu); // the xadd / cmpxchg / xchg on the lock word, whatever it finds
        if (IsTicket)
        {
            token = _tail++;
            if (token == _head && Owner is null)
            {
                Take(cpu);
                return true;
            }
        }
        else if (IsPreemptable)
        {
            // pmtlock __ticket_spin_lock: xadd takes a ticket; a waiter whose ticket is already the
            // head skips the preemptable loop and goes straight to the xchg on the lock word.
            token = _tail++;
            if (token == _head && !_locked)
            {
                Take(cpu);
                return true;
            }
        }
        else if (Kind == SpinlockKind.Queued)
        {
            // queued_spin_lock: the fast path (and the pending/trylock steps) take a free lock only
            // when nobody is queued; otherwise join the queue's tail.
            token = _tail++;
            if (!_locked && _waiters.Count == 0)
            {
                Take(cpu);
                return true;
            }
        }
        else if (Kind == SpinlockKind.PvQueued)
        {
            // 4.5+ (commit 1c4941fd53af, pv_queued_spin_steal_lock): entering the PV slow path, one
            // trylock that succeeds when neither the locked nor the pending byte is set, even with a
            // queue. The queue head sets pending while it spins in pv_wait_head_or_lock and clears it
            // before it halts (_pending, decision 0080): stealing is possible while the head is halted
            // or not yet back on its CPU after the kick, and while a node made head when its VCPU was
            // not executing has not yet run its head loop. A head whose VCPU is preempted mid-spin in
            // that loop keeps pending set. 4.2-4.4: only a wholly zero lock word (no tail) is taken,
            // as the native lock.
            token = _tail++;
            if (!_locked && (_waiters.Count == 0 || (_kernel.Settings.PvQspinlockSteal && !_pending)))
            {
                if (_waiters.Count > 0)
                    Steals++;
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
        if (Owner is { } o && o.Vcpu.PreemptedByHost)
            HolderPreemptedAtSpin++;
        _waiters.Add(new Waiter
        {
            Cpu = cpu, Vcpu = cpu.Vcpu, VcpuIndex = cpu.Vcpu.Index, Ticket = token, Since = Now,
            BusyAtStall = _stalledSince >= 0 ? Busy(cpu) : 0, SpinAtJoin = cpu.Vcpu.GuestSpinNsNow,
            HeadSeen = _head, Spinning = IsPreemptable && token == _head, SeesFreeAt = -1,
        });
        return false;
    }

    /// <summary>The spin loop's check: ticket: is the head ours? test-and-set: is it free?</summary>
    public bool TryAcquire(Vcpu vcpu, long token)
    {
        // The PV queued lock's head runs its loop: set_pending (4.5+ pv_wait_head_or_lock; decision 0080).
        if (Kind == SpinlockKind.PvQueued && _waiters.Count > 0 && ReferenceEquals(_waiters[0].Vcpu, vcpu))
            _pending = true;
        // The lock word alone says no (CanTake for any waiter): no need to find the spinner among
        // the waiters first. Not for the preemptable ticket lock, whose loop looks at the head first.
        if (LockWordBusy(token))
            return false;
        int i = IndexOf(vcpu);
        if (i < 0)
            return false;
        if (IsPreemptable && !_waiters[i].Spinning)
            LookAtHead(i);
        if (!CanTake(i, token))
            return false;
        var w = _waiters[i];
        _waiters.RemoveAt(i);
        if (Kind == SpinlockKind.PvQueued)
        {
            // trylock_clear_pending took the lock and cleared pending; the next node, made head by the
            // MCS hand-off (next->locked), sets it once it runs its head loop — at once if its VCPU is
            // executing its pv_wait_node loop now, else when it next runs (decision 0080).
            _pending = _waiters.Count > 0 && _waiters[0].Vcpu.ExecutingSpinOn(this);
            // pv_kick_node (4.3+; 4.5+ qspinlock_paravirt.h, called by queued_spin_lock_slowpath right
            // after the MCS hand-off): a new head still halted in pv_wait_node is not kicked now;
            // its state becomes vcpu_hashed, the taker's locked byte _Q_SLOW_VAL and the lock is
            // hashed for it, so the taker's unlock kicks it (decision 0084).
            if (_waiters.Count > 0 && _waiters[0].Slowpath)
            {
                _waiters[0].Hashed = true;
                _slowVal = true;
                _hashedNode = _waiters[0].Cpu;
            }
        }
        if (_coherent)
            LineAcquire(in w);
        SpinNs += Now - w.Since;
        CountSpinIterations(w);
        if (IsPreemptable && w.Ticket > _head)
            OutOfOrderAcquisitions++; // earlier tickets not yet served: only a waiter whose timeout ran out gets here
        Take(w.Cpu);
        return true;
    }

    /// <summary>Adds a contended acquisition to the iteration histogram: the waiter's loop time over one PAUSE loop.</summary>
    private void CountSpinIterations(in Waiter w)
    {
        long spinNs = w.Vcpu.GuestSpinNsNow - w.SpinAtJoin;
        // One pass of the loop: a PAUSE loop on x86, the s390 lock's load-and-compare (decision 0055).
        long loopCycles = Kind == SpinlockKind.S390 ? _kernel.Settings.S390SpinLoopCycles : _kernel.Kvm.Settings.PauseLoopCycles;
        long iterations = spinNs <= 0 ? 0 : _kernel.Kvm.Tsc.ToCycles(new SimDuration(spinNs)).Value / Math.Max(1, loopCycles);
        SpinIterationsLog2[SpinIterationBucket(iterations)]++;
    }

    /// <summary>
    /// One pass of pmtlock's preemptable loop for waiter <paramref name="i"/> (v1.0
    /// <c>__ticket_spin_lock</c>): read the head; once it has reached the ticket, leave the loop for
    /// the lock word; if it moved, recompute the timeout, (ticket - head) x TIMEOUT_UNIT loops from now.
    /// The waiter's VCPU runs this whenever it looks at the lock (at each release while it spins, and
    /// when it runs again after being preempted), so a waiter that was off its CPU sees only the head's
    /// latest value, as the real loop does.
    /// </summary>
    private void LookAtHead(int i)
    {
        var w = _waiters[i];
        switch (PreemptableLook(w.Ticket, _head, w.HeadSeen, timedOut: false))
        {
            case PmtStep.Spin:
                w.Spinning = true;
                _waiters[i] = w;
                w.Vcpu.RestartSpinBudget(-1);
                break;
            case PmtStep.NewTimeout:
                w.HeadSeen = _head;
                _waiters[i] = w;
                w.Vcpu.RestartSpinBudget(PreemptableTimeoutNs(w.Ticket - _head));
                break;
        }
    }

    /// <summary>What a preemptable-loop waiter does after one look at the head (decision 0046).</summary>
    public enum PmtStep
    {
        /// <summary>Loop on: the head has not moved and the timeout has not run out.</summary>
        KeepLooping,

        /// <summary>The head moved but has not reached the ticket: timeout = (ticket - head) x TIMEOUT_UNIT loops, from now.</summary>
        NewTimeout,

        /// <summary>Leave the loop for the lock word (<c>goto spin</c>): the head reached the ticket, or the timeout ran out.</summary>
        Spin,
    }

    /// <summary>
    /// pmtlock v1.0's preemptable loop, one pass: the waiter holds <paramref name="ticket"/>, last
    /// computed its timeout from head <paramref name="headSeen"/>, reads <paramref name="head"/> now;
    /// <paramref name="timedOut"/>: this is the pass on which <c>timeout--</c> reaches zero. The head
    /// reaching (or passing: v1.0's <c>inc.tail &lt;= current_head</c>) the ticket sends it to the lock
    /// word; a moved head restarts the timeout even on the last pass (the check comes before the
    /// decrement); otherwise a run-out timeout sends it to the lock word, out of turn.
    /// </summary>
    internal static PmtStep PreemptableLook(long ticket, long head, long headSeen, bool timedOut) =>
        head >= ticket ? PmtStep.Spin
        : head != headSeen ? PmtStep.NewTimeout
        : timedOut ? PmtStep.Spin
        : PmtStep.KeepLooping;

    /// <summary>The preemptable loop's timeout in PAUSE loops for a waiter <paramref name="position"/> tickets behind the head (at most 2^32).</summary>
    internal static long PreemptableTimeoutLoops(long position, int timeoutUnit) => Math.Min(Math.Max(0, position) * timeoutUnit, 1L << 32);

    /// <summary>The preemptable loop's timeout for a waiter <paramref name="position"/> tickets behind the head, in loop time.</summary>
    private long PreemptableTimeoutNs(long position)
    {
        long loops = PreemptableTimeoutLoops(position, _kernel.Settings.PmtlockTimeoutUnit);
        return Math.Max(1, _kernel.Kvm.Tsc.ToDuration(new TscCycles(loops * _kernel.Kvm.Settings.PauseLoopCycles)).Ns);
    }

    /// <summary>
    /// The loop limit <paramref name="cpu"/>'s spin starts with (negative: none): a preemptable
    /// ticket lock waiter still in the preemptable loop gets its timeout; every other waiter spins
    /// until it gets the lock (the PV locks' SPIN_THRESHOLD is the caller's).
    /// </summary>
    internal long SpinLimitNs(GuestCpu cpu)
    {
        if (!IsPreemptable)
            return -1;
        int i = IndexOf(cpu.Vcpu);
        if (i < 0 || _waiters[i].Spinning)
            return -1;
        return PreemptableTimeoutNs(_waiters[i].Ticket - _waiters[i].HeadSeen);
    }

    /// <summary>
    /// The preemptable loop's timeout ran out (<c>while (timeout--)</c> reached zero) for
    /// <paramref name="cpu"/>: its last look at the head; unless the head moved meanwhile (then the
    /// loop goes on with the new timeout, returned), it leaves for the lock word (returns -1).
    /// </summary>
    internal long PreemptableTimeout(GuestCpu cpu)
    {
        int i = IndexOf(cpu.Vcpu);
        if (i < 0)
            throw new InvalidOperationException($"{cpu} times out on {Name} without waiting on it");
        var w = _waiters[i];
        if (w.Spinning)
            return -1;
        if (PreemptableLook(w.Ticket, _head, w.HeadSeen, timedOut: true) == PmtStep.NewTimeout)
        {
            w.HeadSeen = _head;
            _waiters[i] = w;
            return PreemptableTimeoutNs(w.Ticket - _head);
        }
        w.Spinning = true;
        _waiters[i] = w;
        if (_head < w.Ticket)
            PreemptableTimeouts++; // out of turn: the head has not reached its ticket
        return -1;
    }

    /// <summary>
    /// s390 (decision 0055): the lock word as <c>arch_spin_lock_classic</c> reads it — 0 when free,
    /// else the owner's CPU number + 1 in its low 16 bits (<c>SPINLOCK_LOCKVAL</c>,
    /// <c>_Q_LOCK_CPU_MASK</c>; arch/s390/lib/spinlock.c, 6.17). The classic lock keeps no queue, so
    /// the tail and steal fields stay 0.
    /// </summary>
    public int S390LockValue => Owner is null ? 0 : Owner.Index + 1;

    /// <summary>
    /// <c>arch_spin_yield_target</c> without a queue node (the classic lock): the CPU number + 1 of the
    /// owner the lock word <paramref name="lockValue"/> names, 0 for none.
    /// </summary>
    public static int S390YieldTarget(int lockValue) => lockValue & 0xffff;

    /// <summary><see cref="CanTake"/> is false for every waiter with <paramref name="token"/>, whatever its place (always false for the preemptable ticket lock).</summary>
    private bool LockWordBusy(long token) => Kind switch
    {
        SpinlockKind.Ticket or SpinlockKind.PvTicket or SpinlockKind.Plugin => token != _head || Owner is not null,
        SpinlockKind.PreemptableTicket => false,
        _ => _locked,
    };

    /// <summary>The lock word lets waiter <paramref name="i"/> (with <paramref name="token"/>) take the lock now.</summary>
    private bool CanTake(int i, long token) => Kind switch
    {
        SpinlockKind.Ticket or SpinlockKind.PvTicket or SpinlockKind.Plugin => token == _head && Owner is null,
        SpinlockKind.Queued or SpinlockKind.PvQueued => !_locked && i == 0, // the queue head
        SpinlockKind.PreemptableTicket => !_locked && _waiters[i].Spinning, // xchg(&lock->lock, 1) == 0
        _ => !_locked,
    };

    /// <summary>
    /// PV slow path entry (3.12 <c>kvm_lock_spinning</c>: register in waiting_cpus and set the
    /// slow-path flag; qspinlock: node state halted / lock hashed) and the re-check made after it.
    /// True: the lock is still not ours, halt; false: it became ours meanwhile, spin again (and take it).
    /// </summary>
    internal bool EnterSlowpath(GuestCpu cpu, long token)
    {
        int i = IndexOf(cpu.Vcpu);
        if (i < 0)
            throw new InvalidOperationException($"{cpu} enters the slow path of {Name} without waiting on it");
        PvSlowpaths++;
        var w = _waiters[i];
        if (Kind == SpinlockKind.PvQueued && i == 0)
        {
            _pending = false; // pv_wait_head_or_lock: clear_pending after the round, before hashing and halting (decision 0080)
            if (!w.Hashed)
            {
                // `if (!lp)`: the first unsuccessful round of this wait hashes the lock, then makes
                // the locked byte _Q_SLOW_VAL (4.5+ xchg; 4.2-4.4 cmpxchg from _Q_LOCKED_VAL); a byte
                // that was 0 means the lock was free: the head owns it (here: spins and takes it).
                w.Hashed = true;
                _waiters[i] = w;
                if (CanTake(i, token))
                    return false;
                _slowVal = true;
                _hashedNode = cpu;
            }
            else if (!_slowVal)
            {
                // Hashed before, and the byte is no longer _Q_SLOW_VAL (an unlock cleared it and a
                // newcomer stole the lock, or it is free): pv_wait (x86 kvm_wait) halts only while the
                // byte equals _Q_SLOW_VAL, so it returns at once and the head spins another round
                // (decision 0084).
                PvWaitsReturnedAtOnce++;
                return false;
            }
        }
        if (CanTake(i, token))
            return false; // "check again make sure it didn't become free while we weren't looking"
        w = _waiters[i];
        w.Slowpath = true;
        _waiters[i] = w;
        PvHalts++;
        return true;
    }

    /// <summary>The PV halt returned (kick, interrupt or spurious): leave waiting_cpus (<c>cpumask_clear_cpu</c>).</summary>
    internal void LeaveSlowpath(GuestCpu cpu)
    {
        int i = IndexOf(cpu.Vcpu);
        if (i < 0)
            return;
        var w = _waiters[i];
        w.Slowpath = false;
        _waiters[i] = w;
    }

    private void Take(GuestCpu cpu)
    {
        // The stall behind a descheduled next waiter ends when anyone takes the lock: that
        // waiter, or (PV queued lock) a newcomer stealing it.
        if (_stalledSince >= 0)
        {
            _stalledNs += Now - _stalledSince;
            _stalledSince = -1;
            for (int k = 0; k < _waiters.Count; k++)
                SpinBehindDescheduledWaiterNs += Busy(_waiters[k].Cpu) - _waiters[k].BusyAtStall;
        }
        Owner = cpu;
        _locked = true;
        _acquiredAt = Now;
        Acquisitions++;
        ReclassifyWaiters();
    }

    /// <summary>
    /// spin_unlock: hand over (ticket) or free (test-and-set, queued), and let the waiters look.
    /// Returns the waiter the unlocker must kick with KVM_HC_KICK_CPU, else null: a PV ticket lock's
    /// next waiter in the slow path (3.12 <c>kvm_unlock_kick</c>); a PV queued lock's hashed node when
    /// the locked byte is <c>_Q_SLOW_VAL</c> (<c>__pv_queued_spin_unlock_slowpath</c>, decision 0084).
    /// </summary>
    internal GuestCpu? Release(GuestCpu cpu)
    {
        if (Owner != cpu)
            throw new InvalidOperationException($"{cpu} releases {Name}, held by {Owner?.ToString() ?? "nobody"}");
        HoldNs += Now - _acquiredAt;
        Owner = null;
        _locked = false;
        ReclassifyWaiters();
        if (_coherent)
            LineRelease(cpu); // before any waiter looks: their looks queue behind the store
        if (IsPreemptable)
        {
            // pmtlock unlock: the head moves on, the lock word is cleared. Every waiter looks: those in
            // the preemptable loop see the head move (the next ticket's holder leaves the loop, the
            // others recompute their timeout), those on the lock word try the xchg; the first that
            // runs, in ticket order, takes it.
            _head++;
            int h = HeadWaiter() ?? -1;
            if (h >= 0 && !_waiters[h].Cpu.Vcpu.Task.OnCpu)
                StartStall();
            int m = _waiters.Count;
            if (_scratch.Length < m)
                _scratch = new Waiter[m * 2];
            _waiters.AsSpan().CopyTo(_scratch);
            for (int k = 0; k < m; k++)
                _scratch[k].Vcpu.NotifySpinRelease();
            return null;
        }
        if (IsFifo)
        {
            if (IsTicket)
                _head++;
            for (int i = 0; i < _waiters.Count; i++)
            {
                if (IsTicket ? _waiters[i].Ticket != _head : i != 0)
                    continue;
                var next = _waiters[i].Cpu;
                GuestCpu? kickCpu;
                if (Kind == SpinlockKind.PvQueued)
                {
                    // __pv_queued_spin_unlock (4.4, 4.5+): the cmpxchg from _Q_LOCKED_VAL to 0 is the
                    // whole unlock unless the byte is _Q_SLOW_VAL; then unhash, store 0 and pv_kick
                    // the hashed node, halted or not (decision 0084).
                    kickCpu = _slowVal ? _hashedNode : null;
                    _slowVal = false;
                    _hashedNode = null;
                }
                else
                {
                    kickCpu = HasSlowpath && _waiters[i].Slowpath ? next : null;
                }
                if (!next.Vcpu.Task.OnCpu)
                    StartStall();
                next.Vcpu.NotifySpinRelease();
                return kickCpu;
            }
            if (Kind == SpinlockKind.PvQueued)
            {
                // No queue: the byte cannot be _Q_SLOW_VAL (only a queued head is hashed).
                _slowVal = false;
                _hashedNode = null;
            }
            return null;
        }
        // Test-and-set: every spinner looks; the first that runs takes it.
        int n = _waiters.Count;
        if (_scratch.Length < n)
            _scratch = new Waiter[n * 2];
        _waiters.AsSpan().CopyTo(_scratch);
        for (int i = 0; i < n && !_locked; i++)
            _scratch[i].Cpu.Vcpu.NotifySpinRelease();
        return null;
    }

    /// <summary>The release handed the next ticket to a waiter whose VCPU is off its CPU: a lock-waiter-preemption stall starts.</summary>
    private void StartStall()
    {
        HandoffsToDescheduledWaiter++;
        _stalledSince = Now;
        for (int k = 0; k < _waiters.Count; k++)
        {
            var w = _waiters[k];
            w.BusyAtStall = Busy(w.Cpu);
            _waiters[k] = w;
        }
    }

    /// <summary>Preemptable ticket lock: the index of the waiter holding the head's ticket, if any.</summary>
    private int? HeadWaiter()
    {
        var ws = _waiters.AsSpan();
        for (int i = 0; i < ws.Length; i++)
        {
            if (ws[i].Ticket == _head)
                return i;
        }
        return null;
    }

    /// <summary>The lock word lets <paramref name="cpu"/>, waiting with <paramref name="token"/>, take the lock now.</summary>
    internal bool IsFreeFor(GuestCpu cpu, long token)
    {
        int i = IndexOf(cpu.Vcpu);
        return i >= 0 && CanTake(i, token);
    }

    /// <summary>
    /// A plug-in lock's state as the guest's own lock code reads it from <paramref name="cpu"/>
    /// (decision 0041): the ticket word, the owner-CPU field this lock writes when it is taken (as
    /// CONFIG_DEBUG_SPINLOCK's <c>owner_cpu</c>), the waiters registered as halted (3.12's
    /// <c>waiting_cpus</c>), and <c>vcpu_is_preempted</c> of the owner's CPU when the guest reads
    /// steal time. No host-side state: never where a VCPU's thread is.
    /// </summary>
    internal GuestSpinlockState PluginState(GuestCpu cpu)
    {
        int halted = 0;
        bool nextHalted = false;
        for (int i = 0; i < _waiters.Count; i++)
        {
            if (!_waiters[i].Slowpath)
                continue;
            halted++;
            if (_waiters[i].Ticket == _head)
                nextHalted = true;
        }
        var owner = Owner;
        bool ownerPreempted = owner is not null && _kernel.Settings.VcpuIsPreemptedCheck && GuestCpu.VcpuIsPreempted(owner);
        return new GuestSpinlockState(Index, cpu.Index, _head, _tail, owner?.Index ?? -1, ownerPreempted, halted, nextHalted, Now);
    }

    /// <summary>
    /// The <paramref name="k"/>-th (1-based) waiter registered as halted behind the next owner, in
    /// ticket order (a plug-in unlock's early kicks, decision 0041); null when there is none.
    /// </summary>
    internal GuestCpu? HaltedWaiterBehindNext(int k)
    {
        for (int i = 0; i < _waiters.Count; i++)
        {
            if (_waiters[i].Slowpath && _waiters[i].Ticket > _head && --k == 0)
                return _waiters[i].Cpu;
        }
        return null;
    }

    /// <summary>Ground truth (read-only): whether <paramref name="vcpu"/> waits for this lock.</summary>
    public bool HasWaiter(Vcpu vcpu) => IndexOf(vcpu) >= 0;

    private int IndexOf(Vcpu vcpu)
    {
        var ws = _waiters.AsSpan();
        for (int i = 0; i < ws.Length; i++)
        {
            if (ws[i].Vcpu == vcpu)
                return i;
        }
        return -1;
    }

    public override string ToString() => Name;
}

/// <summary>
/// A wait queue with a pending count: futex, condition variable and epoll wake-ups in one shape.
/// Signalling with no sleeper leaves a pending wake-up that the next Wait consumes (no lost wake-ups):
/// for a shared queue a banked wake-up stands for "the condition already holds" (a futex word
/// changed, an epoll item ready), so they add up. A <see cref="TaskState"/> queue is one task's own
/// sleep instead (decision 0089).
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

    /// <summary>
    /// The queue is one task's own sleep (<c>wake_up_process(task)</c>, as an rw_semaphore waiter is
    /// woken), not a shared wait queue: a wake-up that finds the task awake only makes its state
    /// TASK_RUNNING, so its next <c>schedule()</c> returns at once — one such wake-up at most, however
    /// many arrive (kernel/sched/core.c <c>try_to_wake_up</c>: a running task is only marked running).
    /// The task drops it when it sets its state for a new wait (<see cref="RwSemWaiter.Begin"/>).
    /// Decision 0089.
    /// </summary>
    public bool TaskState { get; internal set; }
    internal readonly Queue<GuestThread> Waiters = new(4); // allocated up front: a queue whose first sleeper comes late does not allocate in the event loop
    public int Sleepers => Waiters.Count;

    /// <summary>Sizes the sleeper list for <paramref name="sleepers"/> threads up front, so a workload with many sleepers allocates nothing later.</summary>
    public void Reserve(int sleepers) => Waiters.EnsureCapacity(sleepers);

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
            if (cause == SpinCause.AckInFlight && !c.InterruptsEnabled)
                cause = SpinCause.AckOwedIrqsOff; // on a CPU in guest mode, but IF=0: the IPI waits for the re-enable
            if (cause < worst)
                worst = cause;
        }
        return worst;
    }

    public SpinRelation Relation(Vcpu spinner, long token, Vcpu candidate) =>
        candidate.Guest is GuestCpu c && c.OwesAck(this) ? SpinRelation.AckDebtor : SpinRelation.Unrelated;
}

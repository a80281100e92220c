using PleSim.Host;

namespace PleSim.Guest;

/// <summary>
/// A guest spinlock's lock word as one cache line (<c>guest.cache_coherence: directory</c>, decision
/// 0059). The line has a last writer (a host CPU) and a directory that serves one request at a
/// time: <see cref="_lineFreeAt"/> is when it has served every request queued so far. Every write
/// (the releasing store, an arriving waiter's atomic, a claim) invalidates the copies of the VCPUs
/// spinning on the line, which all miss and re-read it one after another; a waiter's look, an
/// atomic or a release queues behind them. Who reads the lock word is the lock algorithm's:
/// <list type="bullet">
/// <item>ticket (x86 <c>arch_spin_lock</c>, 3.x; the PV ticket lock; a plug-in lock): every waiter
/// spins reading <c>tickets.head</c>, so each release is followed by one re-read per running
/// waiter, and the next owner's is served, on average, after half of the others' (Boyd-Wickizer et
/// al. 2012's service time s + c·k/2);</item>
/// <item>queued (<c>queued_spin_lock_slowpath</c>, 4.2+): only the queue head spins on the lock
/// word; the others spin on their own MCS node (<c>arch_mcs_spin_lock_contended(&amp;node-&gt;locked)</c>),
/// a line of their own, so a release costs one re-read whatever the queue's length; the head claims
/// the lock with a store (<c>set_locked</c>) or, alone in a PV queue, a <c>cmpxchg</c>, then hands the
/// queue on with a store to its successor's node (<c>arch_mcs_spin_unlock_contended</c>);</item>
/// <item>test-and-set (<c>virt_spin_lock</c>) and the preemptable ticket lock's lock-word loop: every
/// spinner reads the line and, seeing it free, tries its <c>cmpxchg</c>/<c>xchg</c>: the winner's atomic
/// queues behind the others' re-reads, and the losers' failed atomics pull the line away again.</item>
/// </list>
/// Only a VCPU executing its spin loop on its host CPU reads the line (<see cref="PleSim.Hypervisor.Vcpu.ExecutingSpinOn"/>):
/// a preempted, halted or exited waiter causes no traffic. Not modelled: the critical section's own
/// data lines, false sharing with other data, hardware prefetch, the directory's ability to combine
/// or forward reads of a shared line, and a read served from the L3 copy rather than the last
/// writer's cache (every transfer costs the same within a package).
/// </summary>
public sealed partial class GuestSpinLock
{
    private readonly bool _coherent;
    private readonly long _lineLocalNs, _lineRemoteNs;
    private readonly HostTopology _topo;
    private int _lineCpu = -1;     // the host CPU whose cache wrote the line last (-1: never written)
    private long _lineFreeAt;      // when the directory has served every request queued for the line
    private long _mcsReadyAt;      // queued kinds: when the current head has seen its MCS node's hand-over
    private long _handoffNs;       // the last contended acquisition's hand-off (taken by the acquirer)
    private long _atomicStallNs;   // the last fast-path atomic's wait for the line
    private long _releaseStallNs;  // the last release's wait for the line (a locked unlock only)

    /// <summary>Decision 0059: contended acquisitions charged a modelled hand-off, and the hand-off time they were charged (ns).</summary>
    public long LineHandoffs, LineHandoffNs;

    /// <summary>Decision 0059: releases, and the VCPUs reading the lock word at them (summed over releases).</summary>
    public long LineReleases, LineReadersAtRelease;

    /// <summary>Decision 0059: time releasers and fast-path acquirers waited for the line in locked instructions (ns).</summary>
    public long LineStallNs;

    /// <summary>The cache-line model is on for this lock (<c>guest.cache_coherence: directory</c>, not an s390 lock).</summary>
    public bool CoherenceModelled => _coherent;

    /// <summary>
    /// What the acquirer pays after its spin ended with the lock: the modelled hand-off (from its
    /// look until the lock word said free and, for a locked claim, the line was its own) or, without
    /// the model, <paramref name="fixedNs"/> (<c>guest.costs.lock_handover</c>).
    /// </summary>
    internal long HandoffNs(long fixedNs) => _coherent ? _handoffNs : fixedNs;

    /// <summary>The fast path took the lock: what its locked instruction waited for the line (0 without the model).</summary>
    internal long FastPathStallNs()
    {
        if (!_coherent)
            return 0;
        LineStallNs += _atomicStallNs;
        return _atomicStallNs;
    }

    /// <summary>
    /// The unlock's wait for the line: the PV unlocks are locked instructions (3.12+ <c>add_smp</c> on
    /// <c>tickets.head</c>, a full barrier; 4.2+ <c>__pv_queued_spin_unlock</c>'s <c>cmpxchg</c>), which
    /// stall until the line is owned; the native unlocks are plain stores (<c>__add</c> without a lock
    /// prefix, <c>smp_store_release</c>), which the store buffer absorbs. 0 without the model.
    /// </summary>
    internal long ReleaseStallNs => _coherent ? _releaseStallNs : 0;

    private int HostCpuOf(GuestCpu c) => c.Vcpu.Task.Cpu;

    /// <summary>
    /// One transfer of the line between host CPUs <paramref name="a"/> and <paramref name="b"/>: none
    /// on the same CPU or core (SMT siblings share L1 and L2), <see cref="GuestSettings.CacheLineLocal"/>
    /// within a package (host NUMA node), <see cref="GuestSettings.CacheLineRemote"/> across.
    /// A line never written yet costs a local transfer.
    /// </summary>
    private long Transfer(int a, int b)
    {
        if (a == b)
            return 0;
        if (a < 0 || b < 0)
            return _lineLocalNs;
        if (_topo.CoreOf(a) == _topo.CoreOf(b))
            return 0;
        return _topo.NodeOf(a) == _topo.NodeOf(b) ? _lineLocalNs : _lineRemoteNs;
    }

    /// <summary>Waiter <paramref name="i"/> reads the lock word now: its VCPU runs its spin loop, and the algorithm has it spin on the lock word.</summary>
    private bool ReadsLine(ReadOnlySpan<Waiter> ws, int i)
    {
        if ((Kind is SpinlockKind.Queued or SpinlockKind.PvQueued) && i != 0)
            return false; // behind the head: spinning on its own MCS node
        return ws[i].Vcpu.ExecutingSpinOn(this);
    }

    /// <summary>
    /// An ownership request (a store or an atomic) from host CPU <paramref name="cpu"/>: the line
    /// comes from its last writer and every other reader's copy is invalidated, in parallel; the
    /// slowest of those is the cost (0 when the line is already this CPU's alone).
    /// </summary>
    private long OwnershipNs(int cpu)
    {
        long c = Transfer(cpu, _lineCpu);
        var ws = _waiters.AsSpan();
        for (int i = 0; i < ws.Length; i++)
        {
            if (ReadsLine(ws, i))
                c = Math.Max(c, Transfer(cpu, HostCpuOf(ws[i].Cpu)));
        }
        return c;
    }

    /// <summary>The re-reads the readers issue after a write by <paramref name="writer"/>: their transfers, served one after another.</summary>
    private long RereadsNs(int writer, out int readers)
    {
        long sum = 0;
        readers = 0;
        var ws = _waiters.AsSpan();
        for (int i = 0; i < ws.Length; i++)
        {
            if (!ReadsLine(ws, i))
                continue;
            sum += Transfer(HostCpuOf(ws[i].Cpu), writer);
            readers++;
        }
        return sum;
    }

    /// <summary>
    /// The fast path's locked instruction on the lock word (ticket <c>xadd</c>, queued <c>cmpxchg</c>
    /// then <c>xchg_tail</c>, test-and-set <c>cmpxchg</c>): it waits for the requests queued before
    /// it, takes the line, and the readers re-read after it.
    /// </summary>
    private void LineAtomic(GuestCpu cpu)
    {
        long now = Now;
        int p = HostCpuOf(cpu);
        long done = Math.Max(now, _lineFreeAt) + OwnershipNs(p);
        _lineCpu = p;
        _lineFreeAt = done + RereadsNs(p, out _);
        _atomicStallNs = done - now;
    }

    /// <summary>
    /// The releasing store: it waits for the queued requests, takes the line (invalidating the
    /// readers), and the readers re-read it one after another. Each reader is served, on average,
    /// after half of the others (the mean of a random order; Boyd-Wickizer et al.'s c·k/2): that
    /// instant is when it sees the lock free. The queued kinds' head reads only once its MCS
    /// hand-over has reached it.
    /// </summary>
    private void LineRelease(GuestCpu cpu)
    {
        long now = Now;
        int p = HostCpuOf(cpu);
        long storeDone = Math.Max(now, _lineFreeAt) + OwnershipNs(p);
        _lineCpu = p;
        long sum = RereadsNs(p, out int readers);
        long start = readers > 0 && (Kind is SpinlockKind.Queued or SpinlockKind.PvQueued) ? Math.Max(storeDone, _mcsReadyAt) : storeDone;
        var ws = _waiters.AsSpan();
        for (int i = 0; i < ws.Length; i++)
        {
            if (!ReadsLine(ws, i))
            {
                ws[i].SeesFreeAt = -1;
                continue;
            }
            long own = Transfer(HostCpuOf(ws[i].Cpu), p);
            ws[i].SeesFreeAt = start + own + (sum - own) / 2;
        }
        _lineFreeAt = start + sum;
        _releaseStallNs = HasSlowpath ? storeDone - now : 0;
        LineStallNs += _releaseStallNs;
        LineReleases++;
        LineReadersAtRelease += readers;
    }

    /// <summary>
    /// Waiter <paramref name="w"/> (already off the waiter list) takes the lock: its look at the
    /// line (the re-read it issued at the release, or a read now if it was not spinning then), its
    /// claim, and what the others do after it. Sets the hand-off the acquirer is charged.
    /// </summary>
    private void LineAcquire(in Waiter w)
    {
        long now = Now;
        int p = HostCpuOf(w.Cpu);
        long seen;
        if (w.SeesFreeAt >= 0)
        {
            seen = Math.Max(now, w.SeesFreeAt);
        }
        else
        {
            seen = Math.Max(now, _lineFreeAt) + Transfer(p, _lineCpu);
            _lineFreeAt = seen;
        }
        long done = seen;
        switch (Kind)
        {
            case SpinlockKind.TestAndSet:
            case SpinlockKind.PreemptableTicket:
            case SpinlockKind.PvQueued when _waiters.Count == 0:
                // A locked claim (virt_spin_lock's cmpxchg, pmtlock's xchg, the PV head alone in the
                // queue: cmpxchg of the whole word to _Q_LOCKED_VAL): it stalls until the line is its own.
                done = Math.Max(seen, _lineFreeAt) + OwnershipNs(p);
                _lineFreeAt = done;
                _lineCpu = p;
                break;
            case SpinlockKind.Queued:
            case SpinlockKind.PvQueued:
                // set_locked / clear_pending_set_locked: a plain store, absorbed by the store buffer;
                // its ownership request still queues at the line.
                _lineFreeAt = Math.Max(seen, _lineFreeAt) + OwnershipNs(p);
                _lineCpu = p;
                break;
        }
        if (Kind is SpinlockKind.TestAndSet or SpinlockKind.PreemptableTicket)
        {
            // The losers saw it free too: each one's failed atomic takes the line, then it re-reads.
            var ws = _waiters.AsSpan();
            for (int i = 0; i < ws.Length; i++)
            {
                if (!ReadsLine(ws, i) || (Kind == SpinlockKind.PreemptableTicket && !ws[i].Spinning))
                    continue;
                int q = HostCpuOf(ws[i].Cpu);
                _lineFreeAt += 2 * Transfer(q, _lineCpu);
                _lineCpu = q;
            }
        }
        if ((Kind is SpinlockKind.Queued or SpinlockKind.PvQueued) && _waiters.Count > 0)
        {
            // arch_mcs_spin_unlock_contended(&next->locked): a store to the successor's node, which
            // it sees after the ownership transfer and its re-read; only then does it spin on the lock word.
            _mcsReadyAt = done + 2 * Transfer(p, HostCpuOf(_waiters[0].Cpu));
        }
        _handoffNs = done - now;
        LineHandoffs++;
        LineHandoffNs += _handoffNs;
    }
}

namespace PleSim.Guest;

/// <summary>What a guest thread does next.</summary>
public enum ActionKind
{
    /// <summary>Run <see cref="GuestAction.Ns"/> of code.</summary>
    Compute,

    /// <summary>spin_lock(L).</summary>
    Lock,

    /// <summary>spin_unlock(L).</summary>
    Unlock,

    /// <summary>Wake one waiter of a wait queue, or leave a pending wake-up (futex/condvar/epoll semantics).</summary>
    Signal,

    /// <summary>Consume a pending wake-up, or sleep on the wait queue until signalled.</summary>
    Wait,

    /// <summary><see cref="Signal"/> with the wait-queue lock already held (e.g. <c>wake_up_locked</c> under ep->lock).</summary>
    SignalLocked,

    /// <summary>IPI the other VCPUs holding the address space (call-function) and spin until each has acknowledged (TLB shootdown); <see cref="GuestAction.Code"/> 1 = page tables were freed.</summary>
    Shootdown,

    /// <summary>An I/O exit to QEMU userspace of <see cref="GuestAction.Ns"/>.</summary>
    IoExit,

    /// <summary>sched_yield in the guest.</summary>
    Yield,

    /// <summary>The thread ends.</summary>
    Exit,

    /// <summary>Runs program logic at this point in guest time (zero duration): state changes that must happen exactly then.</summary>
    Call,

    /// <summary><c>mutex_lock(M)</c>: fast path, optimistic owner spinning, then the wait list and sleep (<see cref="GuestMutex"/>).</summary>
    MutexLock,

    /// <summary><c>mutex_unlock(M)</c>: release, and wake the first waiter if any may sleep.</summary>
    MutexUnlock,

    /// <summary><c>futex(F, FUTEX_WAIT, val)</c>: sleep on F if its word still holds <see cref="GuestAction.Ns"/> (<see cref="Futex"/>).</summary>
    FutexWait,

    /// <summary><c>futex(F, FUTEX_WAKE, n)</c>: wake up to <see cref="GuestAction.Ns"/> waiters of F.</summary>
    FutexWake,

    /// <summary>Write a virtqueue's notify address (<c>virtqueue_notify</c> → <c>vp_notify</c>): an ioeventfd exit that signals <see cref="GuestAction.Fd"/>.</summary>
    Notify,

    /// <summary>An optimistic owner-spin of a sleeping lock (<see cref="GuestAction.Callback"/> is its <see cref="IOwnerSpin"/>): a PAUSE loop of the VCPU (4.19 <c>rwsem_optimistic_spin</c>).</summary>
    OwnerSpin,
}

/// <summary>
/// A device interrupt handler of the guest kernel (<c>request_irq</c> on a vector, decision 0045):
/// its top half's time, and a bottom half (softirq) that runs next on the interrupted CPU as kernel
/// paths queued with <see cref="GuestCpu.BottomHalf"/>.
/// </summary>
public interface IGuestIrqHandler
{
    /// <summary>The top half's guest time (irq entry, the handler, irq exit without the softirq).</summary>
    long HardIrqNs { get; }

    /// <summary>The top half finished on <paramref name="cpu"/>: true to run <see cref="SoftIrq"/> next (a softirq was raised).</summary>
    bool OnHardIrq(GuestCpu cpu);

    /// <summary>One step of the bottom half on <paramref name="cpu"/>: queue its work with <see cref="GuestCpu.BottomHalf"/>.</summary>
    void SoftIrq(GuestCpu cpu);
}

/// <summary>Program logic run by a <see cref="ActionKind.Call"/> action.</summary>
public interface IGuestCallback
{
    void Run(GuestThread thread, int code);
}

/// <summary>
/// One step of a guest thread (a value: producing one allocates nothing). An action names at most
/// one object (a lock, a wait queue, a callback, a mutex, a futex or an eventfd), so they share one
/// field and an action is 24 bytes instead of 72: every action is copied out of its program's ring
/// on its way to the guest CPU, which was a measurable cost of a 256-CPU run (bench/RESULTS.md).
/// Each object property gives null unless the action was built with that one, as separate fields did.
/// </summary>
public readonly record struct GuestAction
{
    private enum ObjectSlot : byte { None, Lock, Queue, Callback, Mutex, Futex, Fd }

    private readonly object? _obj;
    private readonly ObjectSlot _slot;

    public GuestAction(ActionKind Kind, long Ns = 0, GuestSpinLock? Lock = null, WaitQueue? Queue = null, bool UserMode = false, IGuestCallback? Callback = null, int Code = 0, GuestMutex? Mutex = null, Futex? Futex = null, PleSim.Hypervisor.IIoEventFd? Fd = null)
    {
        this.Kind = Kind;
        this.Ns = Ns;
        this.UserMode = UserMode;
        this.Code = Code;
        SetObject(ref _obj, ref _slot, Lock, ObjectSlot.Lock);
        SetObject(ref _obj, ref _slot, Queue, ObjectSlot.Queue);
        SetObject(ref _obj, ref _slot, Callback, ObjectSlot.Callback);
        SetObject(ref _obj, ref _slot, Mutex, ObjectSlot.Mutex);
        SetObject(ref _obj, ref _slot, Futex, ObjectSlot.Futex);
        SetObject(ref _obj, ref _slot, Fd, ObjectSlot.Fd);
    }

    // Kept in a byte with the other small fields: an action is 24 bytes, which the JIT copies with a
    // 16-byte and an 8-byte move; reading Kind right after a 32-byte (one vector) copy stalled the load.
    private readonly byte _kind;

    public ActionKind Kind { get => (ActionKind)_kind; init => _kind = checked((byte)value); }
    public long Ns { get; init; }
    public bool UserMode { get; init; }
    public int Code { get; init; }

    public GuestSpinLock? Lock { get => _slot == ObjectSlot.Lock ? (GuestSpinLock)_obj! : null; init => SetObject(ref _obj, ref _slot, value, ObjectSlot.Lock); }
    public WaitQueue? Queue { get => _slot == ObjectSlot.Queue ? (WaitQueue)_obj! : null; init => SetObject(ref _obj, ref _slot, value, ObjectSlot.Queue); }
    public IGuestCallback? Callback { get => _slot == ObjectSlot.Callback ? (IGuestCallback)_obj! : null; init => SetObject(ref _obj, ref _slot, value, ObjectSlot.Callback); }
    public GuestMutex? Mutex { get => _slot == ObjectSlot.Mutex ? (GuestMutex)_obj! : null; init => SetObject(ref _obj, ref _slot, value, ObjectSlot.Mutex); }
    public Futex? Futex { get => _slot == ObjectSlot.Futex ? (Futex)_obj! : null; init => SetObject(ref _obj, ref _slot, value, ObjectSlot.Futex); }
    public PleSim.Hypervisor.IIoEventFd? Fd { get => _slot == ObjectSlot.Fd ? (PleSim.Hypervisor.IIoEventFd)_obj! : null; init => SetObject(ref _obj, ref _slot, value, ObjectSlot.Fd); }

    // Sets (or, with null, clears) the object named by slot; an action holding another object throws.
    private static void SetObject(ref object? obj, ref ObjectSlot slot, object? value, ObjectSlot which)
    {
        if (value is null)
        {
            if (slot == which)
            {
                obj = null;
                slot = ObjectSlot.None;
            }
            return;
        }
        if (slot != ObjectSlot.None && slot != which)
            throw new ArgumentException($"a guest action names one object; it already has its {slot}, so it cannot have a {which} too");
        obj = value;
        slot = which;
    }

    public static GuestAction Notify(PleSim.Hypervisor.IIoEventFd fd) => new(ActionKind.Notify, Fd: fd);
    public static GuestAction MutexLock(GuestMutex m) => new(ActionKind.MutexLock, Mutex: m);
    public static GuestAction MutexUnlock(GuestMutex m) => new(ActionKind.MutexUnlock, Mutex: m);
    public static GuestAction FutexWait(Futex f, int val) => new(ActionKind.FutexWait, val, Futex: f);
    public static GuestAction FutexWake(Futex f, int nrWake) => new(ActionKind.FutexWake, nrWake, Futex: f);
    public static GuestAction Call(IGuestCallback callback, int code) => new(ActionKind.Call, Callback: callback, Code: code);
    internal static GuestAction OwnerSpin(GuestRwSem sem) => new(ActionKind.OwnerSpin, Callback: sem);
    public static GuestAction Compute(long ns, bool userMode = false) => new(ActionKind.Compute, ns, UserMode: userMode);
    public static GuestAction Acquire(GuestSpinLock l) => new(ActionKind.Lock, Lock: l);
    public static GuestAction Release(GuestSpinLock l) => new(ActionKind.Unlock, Lock: l);
    public static GuestAction Signal(WaitQueue q) => new(ActionKind.Signal, Queue: q);
    public static GuestAction Wait(WaitQueue q) => new(ActionKind.Wait, Queue: q);
    public static GuestAction SignalLocked(WaitQueue q) => new(ActionKind.SignalLocked, Queue: q);
    /// <summary>
    /// A TLB shootdown of the other CPUs that hold the current thread's address space
    /// (<c>flush_tlb_mm_range</c>). <paramref name="freedTables"/> is x86's
    /// <c>flush_tlb_info.freed_tables</c> (Linux 4.20+): the flush also freed page-table pages —
    /// always so for <c>flush_tlb_mm</c> (fork's <c>dup_mmap</c>, exit), never for
    /// <c>flush_tlb_range</c> (madvise) — and must then reach CPUs in lazy TLB mode too
    /// (<see cref="GuestSettings.LazyTlbSkip"/>). Kept in <see cref="Code"/>.
    /// </summary>
    public static GuestAction Shootdown(bool freedTables) => new(ActionKind.Shootdown, Code: freedTables ? 1 : 0);
    public static GuestAction IoExit(long ns) => new(ActionKind.IoExit, ns);
    public static readonly GuestAction YieldCpu = new(ActionKind.Yield);
    public static readonly GuestAction Exit = new(ActionKind.Exit);
}

/// <summary>A guest thread's behaviour: asked for the next action each time the previous one completed.</summary>
public interface IThreadProgram
{
    GuestAction Next(GuestThread thread);
}

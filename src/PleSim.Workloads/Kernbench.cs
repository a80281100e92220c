using PleSim.Engine;
using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>kernbench's knobs (make -j) and the model's per-unit costs; each cost is an assumption unless the scenario names a source.</summary>
public sealed record KernbenchSettings
{
    /// <summary>make -j: compiler processes at once (0: kernbench's "optimal" load, 4 × CPUs).</summary>
    public int Jobs { get; init; }

    /// <summary>Translation units to compile; the run ends when the last is reaped.</summary>
    public int CompileUnits { get; init; } = 200;

    /// <summary>Mean user-mode time of one compiler run (cc1 + as).</summary>
    public SimDuration CompileTime { get; init; } = SimDuration.FromMilliseconds(20);

    /// <summary>Coefficient of variation of the compile time (lognormal).</summary>
    public double CompileTimeCv { get; init; } = 0.5;

    /// <summary>Anonymous pages a compiler run faults in (and exit_mmap gives back).</summary>
    public int PagesPerUnit { get; init; } = 1000;

    /// <summary>make's fork: copy_process and dup_mmap's page-table copy (under make's mmap_sem for write).</summary>
    public SimDuration Fork { get; init; } = SimDuration.FromMicroseconds(100);

    /// <summary>exec of the compiler driver: loading, mapping, the new mm.</summary>
    public SimDuration Exec { get; init; } = SimDuration.FromMicroseconds(200);

    /// <summary>do_exit besides exit_mmap (files, signals, reparenting) and make's wait4.</summary>
    public SimDuration Exit { get; init; } = SimDuration.FromMicroseconds(50);

    /// <summary>Acquisitions per unit of a global file-system spinlock (opening headers, creating the object file).</summary>
    public int FsLockAcquisitions { get; init; } = 100;

    /// <summary>Hold time of one such acquisition.</summary>
    public SimDuration FsLockHold { get; init; } = SimDuration.FromNanoseconds(500);

    /// <summary>Writing the object file (kernel time: page cache copy).</summary>
    public SimDuration WriteOutput { get; init; } = SimDuration.FromMicroseconds(50);

    public MmCosts Mm { get; init; } = new();
}

/// <summary>
/// kernbench's <c>make -j N</c>: one make process forks a compiler per translation unit while fewer
/// than N run, and reaps them as they exit (wait4); each compiler execs (a new mm), faults its
/// memory in (mmap_sem read, zone->lock refills of the per-CPU lists, page zeroing), computes in
/// user mode, takes a file-system lock now and then, writes its output, and exits (exit_mmap: pages
/// back to the zone, a TLB flush that reaches VCPUs still holding the mm lazily). The make thread's
/// fork takes its own mmap_sem for write (dup_mmap) and flushes its TLB (copy-on-write). Compiler
/// processes are preallocated threads that a fork wakes (<c>wake_up_new_task</c>), so the event
/// loop allocates nothing. The run ends when every unit is reaped.
/// </summary>
public sealed class Kernbench
{
    private readonly Action? _onAllDone;
    private readonly List<CompilerProcess> _slots = [];
    private readonly Stack<CompilerProcess> _idle = new();
    private int _nextMm;

    public Kernbench(GuestKernel kernel, KernbenchSettings settings, RandomStream rng, Action? onAllDone = null)
    {
        Kernel = kernel;
        Settings = settings;
        _onAllDone = onAllDone;
        Zone = new GuestZone(kernel, "zone.normal", settings.Mm);
        FsLock = kernel.NewLock("fs.lock");
        MakeMm = new GuestMm(kernel, 1, Zone);
        _nextMm = 2;
        ChildExit = kernel.NewWaitQueue("make.wait4");
        int jobs = settings.Jobs > 0 ? settings.Jobs : 4 * kernel.Cpus.Length;
        for (int i = jobs - 1; i >= 0; i--)
        {
            var c = new CompilerProcess(this, kernel, i, rng);
            _slots.Insert(0, c);
            _idle.Push(c);
        }
        for (int i = 0; i < _slots.Count; i++)
            _slots[i].Thread = kernel.CreateThread($"cc{i}", _slots[i], i % kernel.Cpus.Length, mm: 0);
        Make = new MakeProcess(this, kernel);
        kernel.CreateThread("make", Make, 0, mm: MakeMm.Id);
    }

    public GuestKernel Kernel { get; }
    public KernbenchSettings Settings { get; }
    public GuestZone Zone { get; }
    public GuestSpinLock FsLock { get; }
    public GuestMm MakeMm { get; }
    public WaitQueue ChildExit { get; }
    internal MakeProcess Make { get; }
    public IReadOnlyList<CompilerProcess> Compilers => _slots;

    public int Started { get; internal set; }
    public int Completed { get; internal set; }

    /// <summary>The most compilers make had running at once.</summary>
    public int MaxRunning { get; internal set; }

    /// <summary>When make reaped the last unit (ns), or -1.</summary>
    public long CompletedAt { get; private set; } = -1;

    internal int NewMmId() => _nextMm++;

    internal CompilerProcess? TakeIdle() => _idle.Count > 0 ? _idle.Pop() : null;

    internal void Reaped(CompilerProcess c) => _idle.Push(c);

    internal void AllDone()
    {
        CompletedAt = Kernel.Kvm.Sim.Now.Ns;
        _onAllDone?.Invoke();
    }
}

/// <summary>The steps of <see cref="MakeProcess"/>.</summary>
internal enum MakeStep
{
    /// <summary>wait4 returned a child: one compiler fewer running.</summary>
    Reap,
}

/// <summary>make: fork while a job slot is free and units remain, else wait4 for a child.</summary>
internal sealed class MakeProcess : MmProgram<MakeStep>
{
    private readonly Kernbench _b;
    private CompilerProcess? _child;
    private int _running;

    public MakeProcess(Kernbench b, GuestKernel kernel) : base()
    {
        _b = b;
        RwSemWaiter = new RwSemWaiter(kernel, "make");
    }

    protected override void Plan(GuestThread thread)
    {
        var s = _b.Settings;
        if (_b.Started < s.CompileUnits && (_child = _b.TakeIdle()) is { } c)
        {
            // fork: copy_process + dup_mmap under down_write(&oldmm->mmap_sem), which ends with
            // flush_tlb_mm(oldmm) (the parent's pages went copy-on-write); then wake_up_new_task.
            _b.Started++;
            _running++;
            _b.MaxRunning = Math.Max(_b.MaxRunning, _running);
            var mm = _b.MakeMm;
            Emit(mm.MmapSem.DownWrite);
            Emit(GuestAction.Compute(s.Fork.Ns));
            Emit(GuestAction.Shootdown(freedTables: true)); // flush_tlb_mm passes freed_tables (4.20+ x86 tlbflush.h)
            Emit(mm.MmapSem.UpWrite);
            Emit(GuestAction.Signal(c.Start));
            return;
        }
        if (_running > 0)
        {
            // wait4: sleep until a child's exit notifies the parent, then reap it.
            Emit(GuestAction.Wait(_b.ChildExit));
            Emit(GuestAction.Compute(s.Exit.Ns / 2));
            Emit(MakeStep.Reap);
            return;
        }
        if (_b.CompletedAt < 0)
            _b.AllDone();
        Emit(GuestAction.Exit);
    }

    protected override void Run(GuestThread thread, MakeStep step)
    {
        if (step == MakeStep.Reap)
            _running--;
    }
}

/// <summary>The steps of <see cref="CompilerProcess"/>.</summary>
public enum CompilerStep
{
    /// <summary>exec: the process gets a fresh mm (exec_mmap → activate_mm).</summary>
    Exec,

    /// <summary>The unit is written and the process exits: counted, its slot back to make.</summary>
    Exited,
}

/// <summary>One job slot's compiler process: woken by make's fork, exec, fault, compile, write, exit.</summary>
public sealed class CompilerProcess : MmProgram<CompilerStep>
{
    private readonly Kernbench _b;
    private readonly RandomStream _rng;
    private readonly GuestSpinLock _pte;
    private readonly GuestMm _mm;
    private int _step;       // 0: wait for fork, 1: exec, 2: faulting + compiling, 3: write + exit
    private int _page;
    private long _computePerPage;

    internal CompilerProcess(Kernbench b, GuestKernel kernel, int index, RandomStream rng)
    {
        _b = b;
        _rng = rng;
        _pte = kernel.NewLock($"cc{index}.ptl");
        _mm = new GuestMm(kernel, 0, b.Zone);
        Start = kernel.NewWaitQueue($"cc{index}.fork");
        RwSemWaiter = new RwSemWaiter(kernel, $"cc{index}");
    }

    internal GuestThread? Thread { get; set; }

    /// <summary>The process's mm_struct (recycled for each unit with a new number).</summary>
    public GuestMm Mm => _mm;

    /// <summary>What make's fork wakes.</summary>
    public WaitQueue Start { get; }

    public long Units { get; private set; }

    protected override void Plan(GuestThread thread)
    {
        var s = _b.Settings;
        switch (_step)
        {
            case 0:
                Emit(GuestAction.Wait(Start));
                _step = 1;
                return;
            case 1:
            {
                // exec: a fresh mm (exec_mmap → activate_mm), the compiler's image mapped.
                Emit(CompilerStep.Exec);
                Emit(GuestAction.Compute(s.Exec.Ns));
                double ct = _rng.LogNormalMeanCv(s.CompileTime.Ns, s.CompileTimeCv);
                _computePerPage = Math.Max(1, (long)(ct / Math.Max(1, s.PagesPerUnit)));
                _page = 0;
                _step = 2;
                return;
            }
            case 2:
            {
                // The compiler touches a new page, computes a while; every so often a path lookup
                // or file creation under the file-system lock.
                if (s.PagesPerUnit > 0)
                    EmitPageFault(_mm, _pte);
                Emit(GuestAction.Compute(_computePerPage, userMode: true));
                int every = Math.Max(1, s.PagesPerUnit / Math.Max(1, s.FsLockAcquisitions));
                if (s.FsLockAcquisitions > 0 && _page % every == 0 && _page / every < s.FsLockAcquisitions)
                {
                    Emit(GuestAction.Acquire(_b.FsLock));
                    Emit(GuestAction.Compute(s.FsLockHold.Ns));
                    Emit(GuestAction.Release(_b.FsLock));
                }
                if (++_page >= Math.Max(1, s.PagesPerUnit))
                    _step = 3;
                return;
            }
            default:
                Emit(GuestAction.Compute(s.WriteOutput.Ns));
                EmitExitMmap(_mm, s.PagesPerUnit, _pte);
                Emit(GuestAction.Compute(s.Exit.Ns / 2));
                Emit(CompilerStep.Exited);
                Emit(GuestAction.Signal(_b.ChildExit)); // exit_notify → the parent's wait4 wakes
                _step = 0;
                return;
        }
    }

    protected override void Run(GuestThread thread, CompilerStep step)
    {
        if (step == CompilerStep.Exec)
        {
            _mm.Id = _b.NewMmId();
            _b.Kernel.ExecMm(thread, _mm.Id);
        }
        else
        {
            Units++;
            _b.Completed++;
            _b.Reaped(this);
        }
    }
}

using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Reporting.Trace;

/// <summary>
/// Records a guest into a <see cref="ChromeTrace"/>: one process per VM with a track per guest
/// thread holding "spin L" and "hold L" slices, the optimistic spins of sleeping locks
/// ("spin M (mutex owner)", "spin S (rwsem reader|writer|hand-off)", with an "osq S" slice inside
/// while the spinner waits behind another OSQ node), and a "cpuN locks" track per guest CPU for the
/// run-queue locks (and for locks taken with no thread current), a "cpuN threads" track per guest
/// CPU with one slice per stay of a guest thread on it (what the guest's <c>schedule()</c> ran, and why
/// it left: "preempted" or "blocked"), each wake-up as an instant on the woken thread's track (on
/// which CPU it was queued, by whom, and whether it asked for a preemption); PAUSE exits and interrupts sent
/// (with their target) as instant events on the host CPU track where the VCPU runs. Ground truth
/// (docs/ground-truth.md): a "spin cause" track per VCPU whose slices are named by the cause the
/// spin time was charged to, and each yield_to of a directed-yield walk as an instant event with
/// its label.
/// </summary>
/// <remarks>
/// A slice ends on the track it began on, whoever is current at the release: <c>rq-&gt;lock</c>
/// is taken by the outgoing thread in <c>schedule()</c> and released by the incoming one
/// (<c>finish_task_switch</c>), so it belongs to the CPU, not to a thread (decision 0021).
/// </remarks>
public sealed class GuestTraceObserver : IGuestObserver, IKvmObserver
{
    private readonly ChromeTrace _trace;
    private readonly GuestKernel _kernel;
    private readonly int _pid;
    private readonly HashSet<GuestSpinLock> _cpuTrackLocks = [];
    private readonly Dictionary<(GuestCpu, GuestSpinLock), (long Since, int Tid)> _spinSince = [];
    private readonly Dictionary<GuestSpinLock, (long Since, int Tid, string Taker)> _holdSince = [];

    // Open owner spins and OSQ waits, one per guest CPU (a spinner stays on its CPU: preemption is off).
    private readonly long[] _ownerSpinSince, _osqSince;
    private readonly int[] _ownerSpinTid;
    private readonly string?[] _ownerSpinName, _osqName;
    private readonly Dictionary<(string Lock, OwnerSpinKind Kind), (string Spin, string Osq)> _ownerSpinNames = [];

    // The guest thread each guest CPU runs since when (null: the idle task).
    private readonly GuestThread?[] _runThread;
    private readonly long[] _runSince;

    /// <summary>The trace process of a VM's guest (its tracks and counters).</summary>
    internal static int Pid(PleSim.Hypervisor.Vm vm) => 10 + vm.Index;

    public GuestTraceObserver(GuestKernel kernel, ChromeTrace trace)
    {
        _kernel = kernel;
        _trace = trace;
        _pid = Pid(kernel.Vm);
        trace.NameProcess(_pid, $"guest {kernel.Name}", _pid);
        foreach (var t in kernel.Threads)
            trace.NameThread(_pid, t.Id, t.Name);
        foreach (var v in kernel.Vm.Vcpus)
            trace.NameThread(_pid, SpinCauseTid(v), $"vcpu{v.Index} spin cause");
        foreach (var c in kernel.Cpus)
        {
            _cpuTrackLocks.Add(c.RqLock);
            trace.NameThread(_pid, CpuTid(c), $"cpu{c.Index} locks");
            trace.NameThread(_pid, RunTid(c), $"cpu{c.Index} threads");
        }
        int n = kernel.Cpus.Length;
        _ownerSpinSince = new long[n];
        _osqSince = new long[n];
        _ownerSpinTid = new int[n];
        _ownerSpinName = new string?[n];
        _osqName = new string?[n];
        _runThread = new GuestThread?[n];
        _runSince = new long[n];
    }

    /// <summary>The slice names of an owner spin: "spin L (mutex owner)" / "spin L (rwsem reader|writer|hand-off)", and "osq L".</summary>
    public static (string Spin, string Osq) OwnerSpinNames(string lockName, OwnerSpinKind kind) =>
        ($"spin {lockName} ({kind switch
        {
            OwnerSpinKind.Mutex => "mutex owner",
            OwnerSpinKind.RwsemReader => "rwsem reader",
            OwnerSpinKind.RwsemHandoff => "rwsem hand-off",
            _ => "rwsem writer",
        }})", $"osq {lockName}");

    /// <summary>Spin-cause tracks sit after the thread tracks.</summary>
    private static int SpinCauseTid(Vcpu v) => 100_000 + v.Index;

    /// <summary>Per-guest-CPU lock tracks sit after the spin-cause tracks.</summary>
    public static int CpuTid(GuestCpu c) => 200_000 + c.Index;

    /// <summary>Per-guest-CPU thread tracks sit after the lock tracks.</summary>
    public static int RunTid(GuestCpu c) => 300_000 + c.Index;

    private long Now => _kernel.Kvm.Sim.Now.Ns;

    /// <summary>The track a lock's slices go on: the CPU's for run-queue locks and when no thread is current, else the thread's.</summary>
    private int Track(GuestThread? thread, GuestCpu cpu, GuestSpinLock lk) =>
        thread is null || _cpuTrackLocks.Contains(lk) ? CpuTid(cpu) : thread.Id;

    private static string Who(GuestThread? thread) => thread?.Name ?? "idle";

    public void SpinStart(GuestThread? thread, GuestCpu cpu, GuestSpinLock lk) => _spinSince[(cpu, lk)] = (Now, Track(thread, cpu, lk));

    public void Acquired(GuestThread? thread, GuestCpu cpu, GuestSpinLock lk)
    {
        if (_spinSince.Remove((cpu, lk), out var spin))
            _trace.Slice(_pid, spin.Tid, "spin " + lk.Name, "lock", spin.Since, Now, ChromeTrace.Args(("vcpu", cpu.Index), ("thread", Who(thread))));
        _holdSince[lk] = (Now, Track(thread, cpu, lk), Who(thread));
    }

    public void Released(GuestThread? thread, GuestCpu cpu, GuestSpinLock lk)
    {
        if (!_holdSince.Remove(lk, out var hold))
            return;
        var by = Who(thread);
        var args = by == hold.Taker
            ? ChromeTrace.Args(("vcpu", cpu.Index), ("thread", by))
            : ChromeTrace.Args(("vcpu", cpu.Index), ("taken_by", hold.Taker), ("released_by", by));
        _trace.Slice(_pid, hold.Tid, "hold " + lk.Name, "lock", hold.Since, Now, args);
    }

    public void OwnerSpinStart(GuestThread thread, GuestCpu cpu, string lockName, OwnerSpinKind kind, bool queued)
    {
        if (!_ownerSpinNames.TryGetValue((lockName, kind), out var names))
            _ownerSpinNames[(lockName, kind)] = names = OwnerSpinNames(lockName, kind);
        int c = cpu.Index;
        _ownerSpinSince[c] = Now;
        _ownerSpinTid[c] = thread.Id;
        _ownerSpinName[c] = names.Spin;
        _osqName[c] = queued ? names.Osq : null;
        _osqSince[c] = Now;
    }

    public void OsqHead(GuestCpu cpu) => CloseOsq(cpu.Index, cpu.Curr);

    private void CloseOsq(int c, GuestThread? thread)
    {
        if (_osqName[c] is not { } name)
            return;
        _trace.Slice(_pid, _ownerSpinTid[c], name, "lock", _osqSince[c], Now, ChromeTrace.Args(("vcpu", c), ("thread", Who(thread))));
        _osqName[c] = null;
    }

    public void OwnerSpinEnd(GuestThread? thread, GuestCpu cpu, bool acquired)
    {
        int c = cpu.Index;
        if (_ownerSpinName[c] is not { } name)
            return; // decided at once: no spin
        CloseOsq(c, thread);
        _trace.Slice(_pid, _ownerSpinTid[c], name, "lock", _ownerSpinSince[c], Now,
            ChromeTrace.Args(("vcpu", c), ("thread", Who(thread)), ("acquired", acquired)));
        _ownerSpinName[c] = null;
    }

    public void Switched(GuestCpu cpu, GuestThread? prev, GuestThread? next)
    {
        int c = cpu.Index;
        if (_runThread[c] is { } ran)
        {
            string why = prev != ran ? "" : prev.State switch
            {
                PleSim.Guest.ThreadState.Blocked => "blocked",
                PleSim.Guest.ThreadState.Runnable => "preempted",
                var st => st.ToString().ToLowerInvariant(),
            };
            EndStay(cpu, ran, ChromeTrace.Args(("vcpu", c), ("thread", ran.Name), ("left", why)));
        }
        _runThread[c] = next;
        _runSince[c] = Now;
    }

    /// <summary>Closes <paramref name="ran"/>'s stay on <paramref name="cpu"/>'s "threads" track, from when it was switched in to now.</summary>
    private void EndStay(GuestCpu cpu, GuestThread ran, string args) =>
        _trace.Slice(_pid, RunTid(cpu), ran.Name, "guest_sched", _runSince[cpu.Index], Now, args);

    public void Woken(GuestThread thread, GuestCpu waker, GuestCpu target, bool preempt) =>
        _trace.Instant(_pid, thread.Id, $"woken onto cpu{target.Index}", "guest_sched", Now,
            ChromeTrace.Args(("cpu", target.Index), ("waker", Who(waker.Curr)), ("waker_cpu", waker.Index),
                ("preempts", preempt), ("target_running", Who(target.Curr))));

    public void PauseExit(Vcpu vcpu)
    {
        if (vcpu.Vm == _kernel.Vm)
            _trace.Instant(HostTraceObserver.HostPid, vcpu.Task.Cpu, $"PAUSE exit {vcpu}", "ple", Now, ChromeTrace.Args(("vcpu", vcpu.ToString())));
    }

    public void Kick(Vcpu? from, Vcpu target, int vector)
    {
        if (target.Vm == _kernel.Vm && from is not null)
        {
            _trace.Instant(HostTraceObserver.HostPid, from.Task.Cpu, $"IPI {Vectors.Name(vector)} {from}->{target}", "ipi", Now,
                ChromeTrace.Args(("from", from.ToString()), ("to", target.ToString()), ("target_halted", target.WaitQueueActive)));
        }
    }

    public void SpinSegment(Vcpu vcpu, SpinCause cause, long startNs, long endNs)
    {
        if (vcpu.Vm == _kernel.Vm)
            _trace.Slice(_pid, SpinCauseTid(vcpu), GroundTruth.Name(cause), "spin_cause", startNs, endNs, ChromeTrace.Args(("vcpu", vcpu.ToString()), ("cause", GroundTruth.Name(cause))));
    }

    public void YieldTo(Vcpu me, Vcpu target, PleSim.Host.YieldToResult result, YieldLabel label)
    {
        if (me.Vm == _kernel.Vm)
        {
            _trace.Instant(HostTraceObserver.HostPid, me.Task.Cpu, $"yield_to {me}->{target}: {GroundTruth.Name(label)}", "yield_to_label", Now,
                ChromeTrace.Args(("from", me.ToString()), ("to", target.ToString()), ("result", result.ToString()), ("label", GroundTruth.Name(label)),
                    ("spin_cause", GroundTruth.Name(me.SpinCause))));
        }
    }

    /// <summary>Closes open hold/spin slices at the end of the run.</summary>
    public void Finish()
    {
        foreach (var v in _kernel.Vm.Vcpus)
            v.CloseSpinTrace();
        foreach (var (lk, hold) in _holdSince)
            _trace.Slice(_pid, hold.Tid, "hold " + lk.Name, "lock", hold.Since, Now);
        foreach (var ((_, lk), spin) in _spinSince)
            _trace.Slice(_pid, spin.Tid, "spin " + lk.Name, "lock", spin.Since, Now);
        for (int c = 0; c < _ownerSpinName.Length; c++)
        {
            if (_osqName[c] is { } osq)
                _trace.Slice(_pid, _ownerSpinTid[c], osq, "lock", _osqSince[c], Now, ChromeTrace.Args(("vcpu", c)));
            if (_ownerSpinName[c] is { } spin)
                _trace.Slice(_pid, _ownerSpinTid[c], spin, "lock", _ownerSpinSince[c], Now, ChromeTrace.Args(("vcpu", c)));
            _osqName[c] = _ownerSpinName[c] = null;
        }
        _holdSince.Clear();
        _spinSince.Clear();
        foreach (var c in _kernel.Cpus)
        {
            if (_runThread[c.Index] is { } ran)
                EndStay(c, ran, ChromeTrace.Args(("vcpu", c.Index), ("thread", ran.Name)));
            _runThread[c.Index] = null;
        }
    }
}

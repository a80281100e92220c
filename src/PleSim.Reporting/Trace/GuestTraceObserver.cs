using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Reporting.Trace;

/// <summary>
/// Records a guest into a <see cref="ChromeTrace"/>: one process per VM with a track per guest
/// thread holding "spin L" and "hold L" slices, and a "cpuN locks" track per guest CPU for the
/// run-queue locks (and for locks taken with no thread current); PAUSE exits and interrupts sent
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

    public GuestTraceObserver(GuestKernel kernel, ChromeTrace trace)
    {
        _kernel = kernel;
        _trace = trace;
        _pid = 10 + kernel.Vm.Index;
        trace.NameProcess(_pid, $"guest {kernel.Name}", 10 + kernel.Vm.Index);
        foreach (var t in kernel.Threads)
            trace.NameThread(_pid, t.Id, t.Name);
        foreach (var v in kernel.Vm.Vcpus)
            trace.NameThread(_pid, SpinCauseTid(v), $"vcpu{v.Index} spin cause");
        foreach (var c in kernel.Cpus)
        {
            _cpuTrackLocks.Add(c.RqLock);
            trace.NameThread(_pid, CpuTid(c), $"cpu{c.Index} locks");
        }
    }

    /// <summary>Spin-cause tracks sit after the thread tracks.</summary>
    private static int SpinCauseTid(Vcpu v) => 100_000 + v.Index;

    /// <summary>Per-guest-CPU lock tracks sit after the spin-cause tracks.</summary>
    public static int CpuTid(GuestCpu c) => 200_000 + c.Index;

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
        _holdSince.Clear();
        _spinSince.Clear();
    }
}

using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Reporting.Trace;

/// <summary>
/// Records a guest into a <see cref="ChromeTrace"/>: one process per VM with a track per guest
/// thread holding "spin L" and "hold L" slices; PAUSE exits and interrupts sent (with their
/// target) as instant events on the host CPU track where the VCPU runs. Ground truth
/// (docs/ground-truth.md): a "spin cause" track per VCPU whose slices are named by the cause the
/// spin time was charged to, and each yield_to of a directed-yield walk as an instant event with
/// its label.
/// </summary>
public sealed class GuestTraceObserver : IGuestObserver, IKvmObserver
{
    private readonly ChromeTrace _trace;
    private readonly GuestKernel _kernel;
    private readonly int _pid;
    private readonly Dictionary<(GuestThread, GuestSpinLock), long> _spinSince = [];
    private readonly Dictionary<(GuestThread, GuestSpinLock), long> _holdSince = [];

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
    }

    /// <summary>Spin-cause tracks sit after the thread tracks.</summary>
    private static int SpinCauseTid(Vcpu v) => 100_000 + v.Index;

    private long Now => _kernel.Kvm.Sim.Now.Ns;

    public void SpinStart(GuestThread thread, GuestCpu cpu, GuestSpinLock lk) => _spinSince[(thread, lk)] = Now;

    public void Acquired(GuestThread thread, GuestCpu cpu, GuestSpinLock lk)
    {
        if (_spinSince.Remove((thread, lk), out long since))
            _trace.Slice(_pid, thread.Id, "spin " + lk.Name, "lock", since, Now, ChromeTrace.Args(("vcpu", cpu.Index)));
        _holdSince[(thread, lk)] = Now;
    }

    public void Released(GuestThread thread, GuestCpu cpu, GuestSpinLock lk)
    {
        if (_holdSince.Remove((thread, lk), out long since))
            _trace.Slice(_pid, thread.Id, "hold " + lk.Name, "lock", since, Now, ChromeTrace.Args(("vcpu", cpu.Index)));
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
        foreach (var ((t, lk), since) in _holdSince)
            _trace.Slice(_pid, t.Id, "hold " + lk.Name, "lock", since, Now);
        foreach (var ((t, lk), since) in _spinSince)
            _trace.Slice(_pid, t.Id, "spin " + lk.Name, "lock", since, Now);
        _holdSince.Clear();
        _spinSince.Clear();
    }
}

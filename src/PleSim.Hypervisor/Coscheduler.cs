using PleSim.Engine;

namespace PleSim.Hypervisor;

// Co-scheduling comparators (decision 0040): not KVM. Linux/KVM schedules every VCPU thread on its
// own; VMware ESX co-schedules the VCPUs of a VM. These are research comparators next to the
// kernel policies, the way the oracle PAUSE handler is (decision 0034), and they read no ground
// truth: only what a hypervisor knows of its own VCPU threads (running, runnable, idle, stopped).

/// <summary>The values of <c>host.coscheduling</c>.</summary>
public enum CoschedulingMode
{
    /// <summary>Every VCPU thread is scheduled on its own (Linux/KVM; the default).</summary>
    None,

    /// <summary>
    /// Strict (gang) co-scheduling: a VM's VCPUs are stopped together when the host deschedules
    /// one of them while siblings run, started together once all of them are off their CPUs, and
    /// enter the guest only when every busy sibling is on a CPU (they wait at their entry).
    /// </summary>
    Gang,

    /// <summary>
    /// Relaxed co-scheduling as VMware describes it for ESX 4: each VCPU's progress is tracked;
    /// a VCPU whose progress leads the slowest sibling's by the skew threshold is co-stopped and
    /// co-started when the slowest has caught up with it.
    /// </summary>
    Relaxed,
}

/// <summary><c>host.coscheduling</c> and its threshold.</summary>
public sealed record CoschedSettings
{
    public CoschedulingMode Mode { get; init; }

    /// <summary>
    /// Relaxed: the progress lead over the slowest sibling at which a VCPU is co-stopped. The
    /// VMware papers give no value; 3 ms is an assumption (decision 0040).
    /// </summary>
    public SimDuration SkewThreshold { get; init; } = SimDuration.FromMilliseconds(3);

    public static readonly string[] Names = ["none", "gang", "relaxed"];

    public static CoschedulingMode Parse(string name) => name switch
    {
        "gang" => CoschedulingMode.Gang,
        "relaxed" => CoschedulingMode.Relaxed,
        _ => CoschedulingMode.None,
    };
}

/// <summary>What the co-scheduler knows about a VCPU thread (all of it visible to a hypervisor).</summary>
public enum CoschedState
{
    /// <summary>Runnable but not on a CPU (preempted, yielded, woken and not yet placed, not started).</summary>
    Waiting,

    /// <summary>On a CPU: guest code, an exit, QEMU userspace.</summary>
    Running,

    /// <summary>Idle: halted in the guest (or asleep in the pre-2011 PAUSE handler); blocked, not runnable.</summary>
    Idle,

    /// <summary>Blocked by the co-scheduler until it is co-started.</summary>
    CoStopped,
}

/// <summary>
/// The co-scheduling decision for one VM, with no simulator in it (so tests can work cases by
/// hand): per-VCPU states and progress in, VCPUs to co-stop and co-start out.
/// <para>
/// Progress (relaxed): a VCPU makes progress while it is on a CPU or idle. ESX 4 tracks each
/// VCPU's progress and measures the skew of a VCPU as its progress minus the slowest sibling's;
/// an idle VCPU is treated as if it ran (it accrues no skew against busy siblings). A VCPU makes
/// no progress while it waits for a CPU or is co-stopped. A VCPU whose skew reaches the threshold
/// is co-stopped; a co-stopped VCPU is co-started when the slowest sibling's progress has caught
/// up with its own (skew 0).
/// </para>
/// <para>
/// Gang: when a VCPU that has run since it was last woken waits for a CPU (the host descheduled
/// it) while a sibling is on a CPU, every sibling that is running or waiting is co-stopped; once
/// none is running or waiting (each is co-stopped or idle) all the co-stopped ones are started in
/// one step. An idle VCPU woken while the VM is being stopped is co-stopped too. A VCPU reaching
/// its VM entry while a busy sibling is off its CPU waits there on its CPU (<see cref="HoldAtEntry"/>)
/// until all are placed.
/// </para>
/// </summary>
public sealed class CoschedGroup
{
    private readonly CoschedulingMode _mode;
    private readonly long _threshold;
    private readonly CoschedState[] _state;
    private readonly long[] _progress;
    private readonly long[] _since;
    private readonly bool[] _stop;
    private readonly bool[] _placed;
    private bool _gangStopping;

    public CoschedGroup(CoschedulingMode mode, long thresholdNs, int vcpus)
    {
        if (mode == CoschedulingMode.None)
            throw new ArgumentException("no co-scheduling: no group", nameof(mode));
        if (thresholdNs <= 0)
            throw new ArgumentOutOfRangeException(nameof(thresholdNs), thresholdNs, "the skew threshold must be positive");
        _mode = mode;
        _threshold = thresholdNs;
        _state = new CoschedState[vcpus];
        _progress = new long[vcpus];
        _since = new long[vcpus];
        _stop = new bool[vcpus];
        _placed = new bool[vcpus];
        StopNow = new bool[vcpus];
        StartNow = new bool[vcpus];
    }

    public int Count => _state.Length;
    public CoschedulingMode Mode => _mode;

    /// <summary>After <see cref="Decide"/>: the VCPUs to co-stop now (at their next VM entry).</summary>
    public bool[] StopNow { get; }

    /// <summary>After <see cref="Decide"/>: the VCPUs to co-start now (or whose pending co-stop is withdrawn).</summary>
    public bool[] StartNow { get; }

    /// <summary>Gang: the VM is being stopped (from a descheduled VCPU until everyone is off its CPU).</summary>
    public bool GangStopping => _gangStopping;

    public CoschedState State(int i) => _state[i];

    /// <summary>A co-stop has been decided for VCPU i and not withdrawn by a co-start.</summary>
    public bool StopDecided(int i) => _stop[i];

    private static bool Progressing(CoschedState s) => s is CoschedState.Running or CoschedState.Idle;

    /// <summary>VCPU i's progress up to <paramref name="now"/> (ns of running or idle time).</summary>
    public long Progress(int i, long now) => _progress[i] + (Progressing(_state[i]) ? now - _since[i] : 0);

    /// <summary>VCPU i's skew at <paramref name="now"/>: its progress minus the slowest VCPU's.</summary>
    public long Skew(int i, long now)
    {
        long min = long.MaxValue;
        for (int j = 0; j < _state.Length; j++)
            min = Math.Min(min, Progress(j, now));
        return Progress(i, now) - min;
    }

    /// <summary>VCPU i's thread changed state at <paramref name="now"/>.</summary>
    public void SetState(int i, CoschedState s, long now)
    {
        if (Progressing(_state[i]))
            _progress[i] += now - _since[i];
        _since[i] = now;
        _state[i] = s;
        if (s == CoschedState.Running)
            _placed[i] = true;
        else if (s is CoschedState.Idle or CoschedState.CoStopped)
            _placed[i] = false;
    }

    /// <summary>
    /// Decides at <paramref name="now"/> (fills <see cref="StopNow"/>, <see cref="StartNow"/>) and
    /// returns the next time a decision can change if no VCPU changes state before it (-1: none).
    /// </summary>
    public long Decide(long now)
    {
        Array.Clear(StopNow);
        Array.Clear(StartNow);
        return _mode == CoschedulingMode.Gang ? DecideGang() : DecideRelaxed(now);
    }

    /// <summary>True when a VCPU that is not idle is off its CPU (waiting for one, or co-stopped).</summary>
    public bool AnyOffCpu
    {
        get
        {
            for (int j = 0; j < _state.Length; j++)
            {
                if (_state[j] is CoschedState.Waiting or CoschedState.CoStopped)
                    return true;
            }
            return false;
        }
    }

    /// <summary>
    /// Gang: VCPU i, about to enter the guest, must not enter while a sibling that is not idle is
    /// off its CPU (waiting for one, or co-stopped): the VM runs only with all its runnable VCPUs
    /// placed. It waits at its entry on its CPU until they are.
    /// </summary>
    public bool HoldAtEntry(int i)
    {
        if (_mode != CoschedulingMode.Gang)
            return false;
        for (int j = 0; j < _state.Length; j++)
        {
            if (j != i && _state[j] is CoschedState.Waiting or CoschedState.CoStopped)
                return true;
        }
        return false;
    }

    private long DecideRelaxed(long now)
    {
        int n = _state.Length;
        long min = long.MaxValue;
        for (int i = 0; i < n; i++)
            min = Math.Min(min, Progress(i, now));
        for (int i = 0; i < n; i++)
        {
            long skew = Progress(i, now) - min;
            if (!_stop[i] && skew >= _threshold)
            {
                _stop[i] = true;
                StopNow[i] = true;
            }
            else if (_stop[i] && skew <= 0)
            {
                _stop[i] = false;
                StartNow[i] = true;
            }
        }
        // With every state held: the slowest non-progressing VCPU's progress (a) stays put, the
        // slowest progressing one's (b) grows with time. A progressing VCPU not yet stopped
        // reaches the threshold when its lead over a does; a stopped, non-progressing VCPU that
        // is the slowest non-progressing one is caught up when b reaches it.
        long a = long.MaxValue, b = long.MaxValue, lead = long.MinValue;
        for (int i = 0; i < n; i++)
        {
            long p = Progress(i, now);
            if (Progressing(_state[i]))
            {
                b = Math.Min(b, p);
                if (!_stop[i])
                    lead = Math.Max(lead, p);
            }
            else
            {
                a = Math.Min(a, p);
            }
        }
        long dt = long.MaxValue;
        if (a != long.MaxValue && lead != long.MinValue)
            dt = Math.Min(dt, a + _threshold - lead);
        if (b != long.MaxValue)
        {
            for (int i = 0; i < n; i++)
            {
                if (_stop[i] && !Progressing(_state[i]) && Progress(i, now) == a)
                    dt = Math.Min(dt, a - b);
            }
        }
        return dt == long.MaxValue ? -1 : now + Math.Max(1, dt);
    }

    private long DecideGang()
    {
        int n = _state.Length;
        bool running = false, waiting = false, descheduled = false;
        for (int i = 0; i < n; i++)
        {
            running |= _state[i] == CoschedState.Running;
            waiting |= _state[i] == CoschedState.Waiting;
            descheduled |= _state[i] == CoschedState.Waiting && _placed[i];
        }
        if (!_gangStopping && descheduled && running)
            _gangStopping = true;
        if (!_gangStopping)
        {
            // Not stopping: start any co-stopped VCPU left over once nobody runs or waits (a
            // safety net; co-stops come from a stop, which ends by starting them all).
            bool held = false;
            for (int i = 0; i < n; i++)
                held |= _state[i] == CoschedState.CoStopped;
            if (!held || running || waiting)
                return -1;
        }
        if (running || waiting)
        {
            for (int i = 0; i < n; i++)
            {
                if (!_stop[i] && _state[i] is CoschedState.Running or CoschedState.Waiting)
                {
                    _stop[i] = true;
                    StopNow[i] = true;
                }
            }
            return -1;
        }
        // Nobody runs or waits: start every co-stopped VCPU together.
        _gangStopping = false;
        for (int i = 0; i < n; i++)
        {
            if (_stop[i] || _state[i] == CoschedState.CoStopped)
            {
                _stop[i] = false;
                StartNow[i] = true;
            }
        }
        return -1;
    }
}

/// <summary>
/// The co-scheduler of a host (<c>host.coscheduling</c> other than none): one
/// <see cref="CoschedGroup"/> per VM, fed by the VCPUs' state changes, deciding in an event of
/// its own at the same instant (so no decision runs inside a VCPU's or the host scheduler's
/// state change), and co-stopping / co-starting VCPUs through <see cref="Vcpu"/>; for gang it
/// also releases the VCPUs waiting at their entry once every busy sibling is on a CPU.
/// </summary>
public sealed class Coscheduler
{
    private readonly Kvm _kvm;
    private readonly List<VmCosched> _vms = [];

    internal Coscheduler(Kvm kvm, CoschedSettings settings)
    {
        _kvm = kvm;
        Settings = settings;
    }

    public CoschedSettings Settings { get; }

    /// <summary>The decision state of <paramref name="vm"/>.</summary>
    public CoschedGroup GroupOf(Vm vm) => _vms[vm.Index].Group;

    internal void AddVm(Vm vm) => _vms.Add(new VmCosched(this, vm));

    /// <summary>Gang: <paramref name="v"/> may not enter the guest now (see <see cref="CoschedGroup.HoldAtEntry"/>).</summary>
    internal bool HoldAtEntry(Vcpu v) => _vms[v.Vm.Index].Group.HoldAtEntry(v.Index);

    internal void OnStateChanged(Vcpu v, CoschedState s)
    {
        var c = _vms[v.Vm.Index];
        c.Group.SetState(v.Index, s, _kvm.Sim.Now.Ns);
        c.DecideAt(_kvm.Sim.Now);
    }

    private sealed class VmCosched : IEventHandler
    {
        private readonly Coscheduler _owner;
        private readonly Vm _vm;
        private readonly HrTimer _timer;

        public VmCosched(Coscheduler owner, Vm vm)
        {
            _owner = owner;
            _vm = vm;
            Group = new CoschedGroup(owner.Settings.Mode, owner.Settings.SkewThreshold.Ns, vm.Vcpus.Count);
            _timer = new HrTimer(owner._kvm.Sim, this, vm.Index);
        }

        public CoschedGroup Group { get; }

        public void DecideAt(SimTime when)
        {
            if (!_timer.IsArmed || _timer.Expires > when)
                _timer.Start(when);
        }

        public void OnEvent(Simulator sim, long arg)
        {
            long next = Group.Decide(sim.Now.Ns);
            var vcpus = _vm.Vcpus;
            for (int i = 0; i < vcpus.Count; i++)
            {
                if (Group.StopNow[i])
                {
                    _vm.Stats.CoStopDecisions++;
                    vcpus[i].RequestCoStop();
                }
                else if (Group.StartNow[i])
                {
                    vcpus[i].CoStart();
                }
            }
            if (Group.Mode == CoschedulingMode.Gang && !Group.AnyOffCpu)
            {
                for (int i = 0; i < vcpus.Count; i++)
                    vcpus[i].ReleaseGangWait();
            }
            if (next >= 0)
                DecideAt(new SimTime(next));
        }
    }
}

using PleSim.Engine;
using PleSim.Host.Workloads;
using PleSim.Hypervisor;
using PleSim.Plugins;

namespace PleSim.Guest.Tests;

/// <summary>The built-in PV ticket lock written as a plug-in: spin SPIN_THRESHOLD loops, halt, and again after each wake-up.</summary>
public sealed class PvTicketAlike : IGuestSpinlockPlugin
{
    private int _threshold;

    public string Name => "test-pv-ticket-alike";

    public void Initialize(RandomStream random, in GuestKernelInfo kernel) => _threshold = kernel.SpinThresholdLoops;

    // A budget that ran out without a halt after it: halt; otherwise (first call, back from a halt): spin the threshold.
    public GuestSpinDecision OnWait(in GuestSpinlockState lockState, in GuestSpinlockWaiter me) =>
        me.SpinLoops / _threshold > me.Halts ? GuestSpinDecision.Halt : GuestSpinDecision.Spin(_threshold);

    public int OnUnlock(in GuestSpinlockState lockState) => 0;
}

/// <summary>Spins 500 loops, then halts; asked again after a wake-up, it spins 500 more.</summary>
public sealed class SpinFiveHundredThenHalt : IGuestSpinlockPlugin
{
    public string Name => "test-spin-500-then-halt";

    public void Initialize(RandomStream random, in GuestKernelInfo kernel)
    {
    }

    public GuestSpinDecision OnWait(in GuestSpinlockState lockState, in GuestSpinlockWaiter me) =>
        me.SpinLoops / 500 > me.Halts ? GuestSpinDecision.Halt : GuestSpinDecision.Spin(500);

    public int OnUnlock(in GuestSpinlockState lockState) => 0;
}

/// <summary>Halts at once; an unlock kicks <see cref="KickAhead"/> halted waiters beyond the next one.</summary>
public abstract class HaltAtOnce : IGuestSpinlockPlugin
{
    public abstract string Name { get; }

    protected abstract int KickAhead { get; }

    public void Initialize(RandomStream random, in GuestKernelInfo kernel)
    {
    }

    public GuestSpinDecision OnWait(in GuestSpinlockState lockState, in GuestSpinlockWaiter me) => GuestSpinDecision.Halt;

    public int OnUnlock(in GuestSpinlockState lockState) => KickAhead;
}

public sealed class HaltAtOnceKickNext : HaltAtOnce
{
    public override string Name => "test-halt-kick-next";

    protected override int KickAhead => 0;
}

public sealed class HaltAtOnceKickAhead : HaltAtOnce
{
    public override string Name => "test-halt-kick-ahead";

    protected override int KickAhead => 1;
}

/// <summary>Spins in chunks of 100 loops and records what it was shown (one instance per kernel, read back by the test).</summary>
public sealed class RecordingLock : IGuestSpinlockPlugin
{
    public static readonly List<(GuestSpinlockState State, GuestSpinlockWaiter Me)> Waits = [];
    public static GuestKernelInfo Info;

    public string Name => "test-recording";

    public void Initialize(RandomStream random, in GuestKernelInfo kernel) => Info = kernel;

    public GuestSpinDecision OnWait(in GuestSpinlockState lockState, in GuestSpinlockWaiter me)
    {
        Waits.Add((lockState, me));
        return GuestSpinDecision.Spin(100);
    }

    public int OnUnlock(in GuestSpinlockState lockState) => 0;
}

/// <summary>
/// Guest spinlock plug-ins (decision 0041), hand-worked with PLE off so every spin, halt and kick
/// is the lock's own doing: the seam gives the built-in PV ticket lock's behaviour when the plug-in
/// decides as that lock does, a waiter halts after the plug-in's threshold, an unlock's early kicks
/// reach the halted waiters behind the next one, and the view holds what the guest can read.
/// </summary>
public class GuestLockPluginTests
{
    static GuestLockPluginTests()
    {
        PluginRegistry.RegisterGuestLock("test-pv-ticket-alike", typeof(PvTicketAlike));
        PluginRegistry.RegisterGuestLock("test-spin-500-then-halt", typeof(SpinFiveHundredThenHalt));
        PluginRegistry.RegisterGuestLock("test-halt-kick-next", typeof(HaltAtOnceKickNext));
        PluginRegistry.RegisterGuestLock("test-halt-kick-ahead", typeof(HaltAtOnceKickAhead));
        PluginRegistry.RegisterGuestLock("test-recording", typeof(RecordingLock));
    }

    private static GuestSettings Plugin(string name, int threshold = 1000, bool preemptedInfo = false) =>
        new() { Spinlock = SpinlockKind.Plugin, SpinlockPlugin = name, SpinThresholdLoops = threshold, VcpuIsPreemptedCheck = preemptedInfo };

    private static long LoopsNs(GuestKit kit, long loops) => kit.Kvm.Tsc.ToDuration(new TscCycles(loops * kit.Kvm.Settings.PauseLoopCycles)).Ns;

    /// <summary>Four threads on four VCPUs over two host CPUs, taking one irqsave lock and one plain lock in turn; returns what happened.</summary>
    private static string Contend(GuestSettings guest)
    {
        var kit = new GuestKit(2, 4, handler: "none", guest: guest);
        var a = kit.Kernel.NewLock("A", LockIrq.IrqSave);
        var b = kit.Kernel.NewLock("B");
        for (int t = 0; t < 4; t++)
        {
            var steps = new List<GuestAction> { GuestAction.Compute(5_000 + (t * 3_000)) };
            for (int r = 0; r < 100; r++)
            {
                var lk = (r + t) % 3 == 0 ? b : a;
                steps.AddRange([GuestAction.Acquire(lk), GuestAction.Compute(40_000 + (t * 1_000)), GuestAction.Release(lk), GuestAction.Compute(10_000)]);
            }
            kit.Kernel.CreateThread($"t{t}", new ListProgram([.. steps]), t, pinned: true);
        }
        kit.Start();
        kit.RunUs(30_000);
        var s = new System.Text.StringBuilder();
        foreach (var l in kit.Kernel.Locks)
            s.Append($"{l.Name}: acq {l.Acquisitions} cont {l.Contended} spin {l.SpinNs} halts {l.PvHalts} slow {l.PvSlowpaths} lwp {l.HandoffsToDescheduledWaiter}\n");
        foreach (var c in kit.Kernel.Cpus)
            s.Append($"{c}: kicks {c.PvKicksSent} spin {c.Vcpu.TimeIn(VcpuTime.GuestSpin)} halted {c.Vcpu.TimeIn(VcpuTime.Halted)} run {c.Vcpu.TimeIn(VcpuTime.GuestRun)}\n");
        return s.ToString();
    }

    [Fact]
    public void A_plugin_deciding_as_the_pv_ticket_lock_does_gives_the_pv_ticket_locks_run()
    {
        var builtin = Contend(new GuestSettings { Spinlock = SpinlockKind.PvTicket, SpinThresholdLoops = 200 });
        var plugin = Contend(Plugin("test-pv-ticket-alike", threshold: 200));
        Assert.Equal(builtin, plugin);
        Assert.Matches(@"A: .* halts [1-9]", builtin); // the setup does make waiters halt (and be kicked)
        Assert.Matches(@"kicks [1-9]", builtin);
        // And a different decision gives a different run (the plug-in is what decides).
        Assert.NotEqual(builtin, Contend(Plugin("test-halt-kick-ahead")));
    }

    [Fact]
    public void A_waiter_spins_the_plugins_loops_then_halts_and_the_unlocker_kicks_it()
    {
        var kit = new GuestKit(2, 2, handler: "none", guest: Plugin("test-spin-500-then-halt"));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), kit.Mark(0), GuestAction.Release(lk)), 0, pinned: true);
        kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(20_000), GuestAction.Acquire(lk), kit.Mark(1), GuestAction.Release(lk)), 1, pinned: true);
        kit.Start();
        kit.RunUs(300);
        var w = kit.Vm.Vcpus[1];
        long budget = LoopsNs(kit, 500);
        Assert.Equal(VcpuMode.Halted, w.Mode);
        Assert.Equal(1, lk.PvHalts);
        Assert.InRange(w.TimeIn(VcpuTime.GuestSpin), budget, budget + 100); // exactly the plug-in's 500 loops
        kit.RunUs(2_000);
        Assert.True(kit.Marker.Hits.Single(h => h.Code == 1).At > kit.Marker.Hits.Single(h => h.Code == 0).At);
        Assert.Equal(1, kit.Kernel.Cpus[0].PvKicksSent);
        Assert.Equal(1, w.Stats.PvKicks);
    }

    [Theory]
    [InlineData("test-halt-kick-next", 1)]
    [InlineData("test-halt-kick-ahead", 2)]
    public void An_unlock_kicks_the_next_waiter_and_as_many_halted_waiters_behind_it_as_the_plugin_asks(string plugin, int holderKicks)
    {
        var kit = new GuestKit(4, 4, handler: "none", guest: Plugin(plugin));
        var lk = kit.Kernel.NewLock("L");
        kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(700_000), GuestAction.Release(lk)), 0, pinned: true);
        for (int i = 1; i <= 3; i++)
        {
            kit.Kernel.CreateThread($"w{i}", new ListProgram(
                GuestAction.Compute(i * 20_000), GuestAction.Acquire(lk), kit.Mark(i), GuestAction.Compute(50_000), GuestAction.Release(lk)), i, pinned: true);
        }
        kit.Start();
        kit.RunUs(500);
        Assert.Equal(3, lk.PvHalts); // all halted at once, without a spin
        Assert.All(kit.Vm.Vcpus.Skip(1), v => Assert.Equal(0, v.TimeIn(VcpuTime.GuestSpin)));
        kit.RunUs(3_000);
        Assert.Equal([1, 2, 3], kit.Marker.Hits.Select(h => h.Code)); // FIFO whatever the kicks
        Assert.Equal(holderKicks, kit.Kernel.Cpus[0].PvKicksSent);
        // An early-kicked waiter finds the lock still held, asks again and halts again.
        Assert.True(holderKicks == 1 ? lk.PvHalts == 3 : lk.PvHalts > 3, $"{lk.PvHalts} halts");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_plugin_sees_the_lock_word_the_owner_cpu_and_vcpu_is_preempted_only_with_steal_time(bool preemptedInfo)
    {
        lock (RecordingLock.Waits)
        {
            RecordingLock.Waits.Clear();
            // The holder's VCPU shares host CPU 0 with a hog, so the host preempts it during its 20 ms hold.
            var kit = new GuestKit(2, 2, handler: "none", guest: Plugin("test-recording", preemptedInfo: preemptedInfo));
            var lk = kit.Kernel.NewLock("L");
            kit.Kernel.CreateThread("holder", new ListProgram(GuestAction.Acquire(lk), GuestAction.Compute(20_000_000), GuestAction.Release(lk)), 0, pinned: true);
            kit.Kernel.CreateThread("waiter", new ListProgram(GuestAction.Compute(100_000), GuestAction.Acquire(lk), GuestAction.Release(lk)), 1, pinned: true);
            kit.Start();
            kit.Host.SetAffinity(kit.Vm.Vcpus[0].Task, 1UL << 0, 0);
            kit.Host.SetAffinity(kit.Vm.Vcpus[1].Task, 1UL << 1, 0);
            var hog = kit.Host.CreateTask("hog", new HogBody(), 0, 1UL << 0);
            kit.Host.WakeUpNewTask(hog, 0);
            kit.RunUs(40_000);
            Assert.Equal(2, lk.Acquisitions);
            Assert.Equal(2, RecordingLock.Info.CpuCount);
            Assert.Equal(preemptedInfo, RecordingLock.Info.VcpuIsPreemptedAvailable);
            var waits = RecordingLock.Waits;
            Assert.True(waits.Count > 10, $"{waits.Count} waits");
            Assert.All(waits, w =>
            {
                Assert.Equal(lk.Index, w.State.LockIndex);
                Assert.Equal(1, w.State.Cpu);
                Assert.Equal(0, w.State.Head);
                Assert.Equal(2, w.State.Tail);
                Assert.Equal(1, w.Me.Ticket);
                Assert.Equal(0, w.State.OwnerCpu);
                Assert.Equal(0, w.Me.Halts);
                Assert.False(w.Me.InterruptsDisabled);
            });
            // Each call after the first comes after one more 100-loop budget.
            Assert.Equal(Enumerable.Range(0, waits.Count).Select(i => i * 100L), waits.Select(w => w.Me.SpinLoops));
            Assert.Equal(preemptedInfo, waits.Any(w => w.State.OwnerPreempted));
            if (preemptedInfo)
                Assert.Contains(waits, w => !w.State.OwnerPreempted);
        }
    }

    [Fact]
    public void The_guest_lock_api_carries_only_numbers_and_flags()
    {
        foreach (var t in new[] { typeof(GuestSpinlockState), typeof(GuestSpinlockWaiter), typeof(GuestKernelInfo) })
        {
            Assert.All(t.GetProperties(), p => Assert.True(
                p.PropertyType == typeof(bool) || p.PropertyType == typeof(int) || p.PropertyType == typeof(long), $"{t.Name}.{p.Name}"));
        }
    }

    [Fact]
    public void A_plugin_lock_naming_nothing_loaded_is_a_clear_error()
    {
        var e = Assert.Throws<ArgumentException>(() => new GuestKit(1, 1, handler: "none", guest: Plugin("no-such-lock")));
        Assert.Contains("no plug-in guest lock called 'no-such-lock'", e.Message, StringComparison.Ordinal);
    }
}

/// <summary>
/// The rule of decision 0041, read from the compiled code: the guest code that builds a lock
/// plug-in's view and carries out its decisions reads no ground truth and nothing of the host — of
/// a VCPU it may only start a spin or a halt, or read the steal-time preempted flag KVM writes for
/// the guest.
/// </summary>
public class GuestLockPluginRuleTests
{
    private static readonly Dictionary<short, System.Reflection.Emit.OpCode> OpCodesByValue =
        typeof(System.Reflection.Emit.OpCodes).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Select(f => (System.Reflection.Emit.OpCode)f.GetValue(null)!)
            .ToDictionary(o => o.Value);

    /// <summary>The methods and fields the IL of <paramref name="method"/> refers to.</summary>
    private static List<System.Reflection.MemberInfo> References(System.Reflection.MethodBase method)
    {
        var found = new List<System.Reflection.MemberInfo>();
        var il = method.GetMethodBody()!.GetILAsByteArray()!;
        int i = 0;
        while (i < il.Length)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            var op = OpCodesByValue[value];
            int size = op.OperandType switch
            {
                System.Reflection.Emit.OperandType.InlineNone => 0,
                System.Reflection.Emit.OperandType.ShortInlineBrTarget or System.Reflection.Emit.OperandType.ShortInlineI or System.Reflection.Emit.OperandType.ShortInlineVar => 1,
                System.Reflection.Emit.OperandType.InlineVar => 2,
                System.Reflection.Emit.OperandType.InlineI8 or System.Reflection.Emit.OperandType.InlineR => 8,
                System.Reflection.Emit.OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, i)),
                _ => 4,
            };
            if (op.OperandType is System.Reflection.Emit.OperandType.InlineMethod or System.Reflection.Emit.OperandType.InlineField or System.Reflection.Emit.OperandType.InlineTok)
            {
                try
                {
                    found.Add(method.Module.ResolveMember(BitConverter.ToInt32(il, i))!);
                }
                catch (ArgumentException)
                {
                }
            }
            i += size;
        }
        return found;
    }

    [Fact]
    public void The_plugin_lock_path_reads_no_ground_truth_and_nothing_of_the_host()
    {
        const System.Reflection.BindingFlags all = System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic |
            System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.DeclaredOnly;
        var methods = new[]
        {
            typeof(GuestSpinLock).GetMethod("PluginState", all)!,
            typeof(GuestSpinLock).GetMethod("IsFreeFor", all)!,
            typeof(GuestSpinLock).GetMethod("HaltedWaiterBehindNext", all)!,
            typeof(GuestSpinLock).GetMethod("CanTake", all)!,
            typeof(GuestCpu).GetMethod("PluginLockWait", all)!,
            typeof(GuestCpu).GetMethod("PluginLockSpin", all)!,
            typeof(GuestCpu).GetMethod(nameof(GuestCpu.VcpuIsPreempted), all)!,
        };
        string[] vcpuAllowed = ["Spin", "ContinueSpin", "Halt", "get_StealTimePreempted"];
        var bad = new List<string>();
        foreach (var m in methods)
        {
            foreach (var r in References(m))
            {
                var t = r.DeclaringType;
                bool host = t?.Assembly == typeof(PleSim.Host.HostTask).Assembly;
                bool vcpu = t == typeof(Vcpu) && !vcpuAllowed.Contains(r.Name);
                bool oracle = t == typeof(GroundTruth) || (t == typeof(ISpinTarget) && r.Name is "WaitsOn" or "Cause" or "Relation")
                    || r.Name is "WaitsOn" or "Cause" or "Relation" or "ReclassifyWaiters";
                if (host || vcpu || oracle)
                    bad.Add($"{m.DeclaringType!.Name}.{m.Name} → {t?.Name}.{r.Name}");
            }
        }
        Assert.True(bad.Count == 0, string.Join("\n", bad));
        // The scan sees what it should: the view reads the steal-time flag, the wait starts spins and halts.
        Assert.Contains(References(typeof(GuestCpu).GetMethod(nameof(GuestCpu.VcpuIsPreempted), all)!), r => r.Name == "get_StealTimePreempted");
        Assert.Contains(References(typeof(GuestCpu).GetMethod("PluginLockWait", all)!), r => r.DeclaringType == typeof(Vcpu) && r.Name == "Halt");
    }
}

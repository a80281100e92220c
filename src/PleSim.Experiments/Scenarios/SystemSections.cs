using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Experiments.Scenarios;

/// <summary>
/// Reads the sections of a <c>system</c> scenario: <c>host</c> (and, with the hypervisor layer,
/// <c>kvm</c>, <c>vms</c>). Keys follow kernel spelling.
/// </summary>
internal static class SystemSections
{
    private static readonly string[] SystemOnly = ["host", "kvm", "vms"];

    /// <summary>Most CPUs a host may have (issue 12's target; the bitmaps hold <see cref="CpuMask.NrCpus"/>, decision 0038).</summary>
    private const int MaxCpus = 512;

    /// <summary>Most VCPUs a VM may have (<see cref="Kvm.MaxVcpus"/>).</summary>
    private const int MaxVcpus = Kvm.MaxVcpus;

    public static Scenario Read(MapReader root, Scenario scenario)
    {
        if (scenario.Kind != "system")
        {
            foreach (var section in SystemOnly)
            {
                if (root.Has(section) && scenario.Kind != "")
                    root.Error(section, $"the '{section}' section belongs to kind 'system', not '{scenario.Kind}'");
            }
            return scenario;
        }
        var hostSection = root.Section("host");
        var host = ReadHost(hostSection);
        var kvm = ReadKvm(root.Section("kvm"));
        var hostGroups = new HashSet<string>(host.Cgroups.Select(c => c.Path)) { "/" };
        // When host.cpus is invalid, CPU numbers are checked against the largest host instead, so that one bad value gives one error.
        int cpuLimit = hostSection.Failed("cpus") ? MaxCpus : host.Cpus;
        var vms = root.List("vms", (v, i) => ReadVm(v, cpuLimit, hostGroups));
        foreach (var dup in vms.GroupBy(v => v.Name).Where(g => g.Count() > 1))
            root.Error("vms", $"two VMs are called '{dup.Key}'");
        var compare = root.Has("compare_metric") ? root.Get("compare_metric", Kinds.Text, "") : null;
        return scenario with { Host = host, Kvm = kvm, Vms = vms, CompareMetric = compare };
    }

    /// <summary>The <c>kvm</c> keys a <c>kvm.version</c> preset sets (decision 0022).</summary>
    public static readonly string[] VersionCoveredKeys =
    [
        "ple_handler", "directed_yield", "ple_window_dynamic", "ple_window_grow", "ple_window_shrink", "ple_window_max",
        "pause_filter_thresh", "halt_poll_ns", "halt_poll_adaptive", "halt_poll_ns_grow", "halt_poll_ns_shrink", "halt_poll_ns_grow_start",
        "kick_yield", "sched_yield_single_task_bail",
    ];

    /// <summary>Removes the file's values of <see cref="VersionCoveredKeys"/> (a version given from outside the file replaces them).</summary>
    public static void DropVersionCoveredKeys(YamlDotNet.RepresentationModel.YamlMappingNode root)
    {
        if (!root.Children.TryGetValue(new YamlDotNet.RepresentationModel.YamlScalarNode("kvm"), out var kvm) || kvm is not YamlDotNet.RepresentationModel.YamlMappingNode map)
            return;
        foreach (var key in VersionCoveredKeys)
            map.Children.Remove(new YamlDotNet.RepresentationModel.YamlScalarNode(key));
    }

    private static PleSim.Hypervisor.KvmSettings ReadKvm(MapReader r)
    {
        // kvm.version (decision 0022): a release's handler, window policy and halt polling become the
        // defaults of the keys below; a key that is set explicitly overrides its preset value.
        var vendor = r.Get("vendor", Kinds.Choice("intel", "amd"), "intel") == "amd" ? PleSim.Hypervisor.CpuVendor.Amd : PleSim.Hypervisor.CpuVendor.Intel;
        var d = new PleSim.Hypervisor.KvmSettings { Vendor = vendor };
        if (r.Has("version"))
            d = PleSim.Hypervisor.KvmVersions.Apply(r.Get("version", Kinds.Choice(PleSim.Hypervisor.KvmVersions.Names), "2.6.39"), d);
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(10));
        var c = r.Section("costs");
        var dc = d.Costs;
        var costs = new PleSim.Hypervisor.ExitCosts
        {
            Exit = c.Get("exit", small, dc.Exit),
            Entry = c.Get("entry", small, dc.Entry),
            PauseHandler = c.Get("pause_handler", small, dc.PauseHandler),
            YieldCandidate = c.Get("yield_candidate", small, dc.YieldCandidate),
            YieldTo = c.Get("yield_to", small, dc.YieldTo),
            HltHandler = c.Get("hlt_handler", small, dc.HltHandler),
            IcrWriteHandler = c.Get("icr_write_handler", small, dc.IcrWriteHandler),
            HypercallHandler = c.Get("hypercall_handler", small, dc.HypercallHandler),
            KickIpiLatency = c.Get("kick_ipi_latency", small, dc.KickIpiLatency),
            UserspaceExit = c.Get("userspace_exit", small, dc.UserspaceExit),
            GetPidTask = c.Get("get_pid_task", small, dc.GetPidTask),
            RqLockAcquire = c.Get("rq_lock_acquire", small, dc.RqLockAcquire),
        };
        c.Done();
        // Per-option overrides of the directed-yield preset the handler name selects (absent = preset).
        var dy = r.Section("directed_yield");
        var overrides = new PleSim.Hypervisor.DirectedYieldOverrides
        {
            InclusiveSkip = dy.Has("inclusive_skip") ? dy.Get("inclusive_skip", Kinds.Bool, false) : null,
            DyEligible = dy.Has("dy_eligible") ? dy.Get("dy_eligible", Kinds.Bool, false) : null,
            UndercommitExit = dy.Has("undercommit_exit") ? dy.Get("undercommit_exit", Kinds.Bool, false) : null,
            UndercommitTries = dy.Has("undercommit_tries") ? dy.Get("undercommit_tries", Kinds.Int(1, 1000), 3) : null,
            EsrchReadsAsSuccess = dy.Has("esrch_reads_as_success") ? dy.Get("esrch_reads_as_success", Kinds.Bool, true) : null,
            PreemptedOnly = dy.Has("preempted_only") ? dy.Get("preempted_only", Kinds.Bool, false) : null,
            YieldToKernelMode = dy.Has("yield_to_kernel_mode") ? dy.Get("yield_to_kernel_mode", Kinds.Bool, false) : null,
            ReadyCandidates = dy.Has("ready") ? dy.Get("ready", Kinds.Bool, false) : null,
            SingleWalk = dy.Has("single_walk") ? dy.Get("single_walk", Kinds.Bool, false) : null,
            SingleWalkStoresCounter = dy.Has("single_walk_stores_counter") ? dy.Get("single_walk_stores_counter", Kinds.Bool, false) : null,
        }.Over(d.DirectedYield);
        dy.Done();
        var dw = d.PleWindowPolicy;
        var window = new PleSim.Hypervisor.PleWindowPolicy
        {
            Dynamic = r.Get("ple_window_dynamic", Kinds.Bool, dw.Dynamic),
            Grow = r.Get("ple_window_grow", Kinds.Integer(0, 1L << 31), dw.Grow),
            Shrink = r.Get("ple_window_shrink", Kinds.Integer(0, 1L << 31), dw.Shrink),
            Max = r.Get("ple_window_max", Kinds.Integer(1, uint.MaxValue), dw.Max),
        };
        var dp = d.HaltPoll;
        var poll = new PleSim.Hypervisor.HaltPollSettings
        {
            HaltPollNs = r.Get("halt_poll_ns", Kinds.Integer(0, 1_000_000_000), dp.HaltPollNs),
            Adaptive = r.Get("halt_poll_adaptive", Kinds.Bool, dp.Adaptive),
            Grow = r.Get("halt_poll_ns_grow", Kinds.Integer(0, 1000), dp.Grow),
            Shrink = r.Get("halt_poll_ns_shrink", Kinds.Integer(0, 1000), dp.Shrink),
            GrowStart = r.Get("halt_poll_ns_grow_start", Kinds.Integer(1, 1_000_000_000), dp.GrowStart),
        };
        var settings = new PleSim.Hypervisor.KvmSettings
        {
            Vendor = vendor,
            Version = d.Version,
            PleHandler = r.Get("ple_handler", PleHandlerKind(), d.PleHandler),
            CandidateFilter = NullIfNone(r.Get("candidate_filter", CandidateFilterKind(), "none")),
            PleGap = r.Get("ple_gap", Kinds.Integer(0, 1 << 30), d.PleGap),
            PleWindow = r.Get("ple_window", Kinds.Integer(1, 1L << 31), d.PleWindow),
            PauseFilterCount = r.Get("pause_filter_count", Kinds.Integer(0, 1 << 30), d.PauseFilterCount),
            PauseLoopCycles = r.Get("pause_loop_cycles", Kinds.Integer(1, 100_000), d.PauseLoopCycles),
            SpinLoopGapCycles = r.Get("spin_loop_gap_cycles", Kinds.Integer(1, 100_000), d.SpinLoopGapCycles),
            SleepTimeout = r.Get("sleep_timeout", Kinds.Duration(new SimDuration(1), SimDuration.FromSeconds(1)), d.SleepTimeout),
            Costs = costs,
            DirectedYield = overrides,
            PleWindowPolicy = window,
            HaltPoll = poll,
            PauseFilterThresh = r.Get("pause_filter_thresh", Kinds.Integer(0, 1 << 30), d.PauseFilterThresh),
            // Decision 0043: KVM_HC_KICK_CPU also calls kvm_sched_yield (5.3+), and kvm_sched_yield's
            // single_task_running() bail-out (5.14+).
            KickYield = r.Get("kick_yield", Kinds.Bool, d.KickYield),
            SchedYieldSingleTaskBail = r.Get("sched_yield_single_task_bail", Kinds.Bool, d.SchedYieldSingleTaskBail),
        };
        r.Done();
        return settings;
    }

    /// <summary><c>kvm.ple_handler</c>: a built-in handler, or <c>plugin:NAME</c> of a plug-in loaded with <c>--plugin</c> (decision 0028).</summary>
    private static ValueKind<string> PleHandlerKind()
    {
        var builtin = Kinds.Choice(PleSim.Hypervisor.PleHandlers.Names);
        return new ValueKind<string>(builtin.Expected + ", or plugin:NAME (a plug-in loaded with --plugin)", text =>
            text.StartsWith(PleSim.Hypervisor.PluginRegistry.Prefix, StringComparison.Ordinal) ? PluginName(text, PleSim.Hypervisor.PluginRegistry.HandlerNames) : builtin.Parse(text));
    }

    /// <summary><c>kvm.candidate_filter</c>: <c>none</c> or <c>plugin:NAME</c>.</summary>
    private static ValueKind<string> CandidateFilterKind() =>
        new("none or plugin:NAME (a candidate filter loaded with --plugin)", text =>
            text == "none" ? (true, text, null)
            : text.StartsWith(PleSim.Hypervisor.PluginRegistry.Prefix, StringComparison.Ordinal) ? PluginName(text, PleSim.Hypervisor.PluginRegistry.FilterNames)
            : (false, text, $"'{YamlGuard.Clip(text)}' is neither none nor plugin:NAME"));

    /// <summary><c>guest.spinlock</c>: a built-in lock, or <c>plugin:NAME</c> of a guest-lock plug-in loaded with <c>--plugin</c> (decision 0041).</summary>
    private static ValueKind<string> SpinlockKindKind()
    {
        var builtin = Kinds.Choice("ticket", "test-and-set", "pv-ticket", "qspinlock", "pv-qspinlock");
        return new ValueKind<string>(builtin.Expected + ", or plugin:NAME (a guest-lock plug-in loaded with --plugin)", text =>
            text.StartsWith(PleSim.Hypervisor.PluginRegistry.Prefix, StringComparison.Ordinal) ? PluginName(text, PleSim.Hypervisor.PluginRegistry.GuestLockNames) : builtin.Parse(text));
    }

    private static (bool, string, string?) PluginName(string text, IReadOnlyList<string> loaded)
    {
        var name = text[PleSim.Hypervisor.PluginRegistry.Prefix.Length..];
        if (loaded.Contains(name))
            return (true, text, null);
        if (loaded.Count == 0)
            return (false, text, $"no plug-in is loaded, so '{YamlGuard.Clip(text)}' names nothing: pass --plugin PATH.dll (the assembly that defines '{YamlGuard.Clip(name)}')");
        var guess = Suggestions.Closest(name, loaded);
        return (false, text, $"no loaded plug-in is called '{YamlGuard.Clip(name)}'{(guess is null ? "" : $"; did you mean 'plugin:{guess}'?")} (loaded: {string.Join(", ", loaded)})");
    }

    private static string? NullIfNone(string v) => v == "none" ? null : v;

    private static VmSettings ReadVm(MapReader v, int hostCpus, HashSet<string> hostGroups)
    {
        var name = v.Require("name", Kinds.Text, "vm");
        var cgroup = v.Get("cgroup", Kinds.Text, "/");
        if (cgroup != "own" && !hostGroups.Contains(cgroup))
        {
            var guess = Suggestions.Closest(cgroup, hostGroups.Append("own"));
            v.Error("cgroup", $"'{cgroup}' is neither '/', 'own' nor a path under host.cgroups{(guess is null ? "" : $"; did you mean '{guess}'?")}");
        }
        int vcpus = v.Get("vcpus", Kinds.Int(1, MaxVcpus), 4);
        if (v.Failed("vcpus"))
            vcpus = MaxVcpus; // checks that depend on the VCPU count (workload.loops) then stay quiet
        var settings = new VmSettings
        {
            Name = name,
            Vcpus = vcpus,
            Affinity = v.Has("affinity") ? v.Get("affinity", Kinds.CpuList(hostCpus), CpuSet.All(hostCpus)) : null,
            Cgroup = cgroup,
            CgroupShares = v.Get("cgroup_shares", Kinds.Integer(Weights.MinShares, Weights.MaxShares), Weights.Nice0Load),
            StartCpu = v.Get("start_cpu", Kinds.Int(0, hostCpus - 1), 0),
            Guest = ReadGuest(v.Section("guest")),
            Workload = ReadWorkload(v.Section("workload"), vcpus),
        };
        return settings;
    }

    internal static string SpinlockName(SpinlockKind k) => k switch
    {
        SpinlockKind.TestAndSet => "test-and-set",
        SpinlockKind.PvTicket => "pv-ticket",
        SpinlockKind.Queued => "qspinlock",
        SpinlockKind.PvQueued => "pv-qspinlock",
        _ => "ticket",
    };

    private static GuestSettings ReadGuest(MapReader g)
    {
        var d = new GuestSettings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(10));
        var gran = Kinds.Duration(SimDuration.Zero, SimDuration.FromSeconds(1));
        var c = g.Section("costs");
        var dc = d.Costs;
        var costs = new GuestCosts
        {
            ContextSwitch = c.Get("context_switch", small, dc.ContextSwitch),
            TickHandler = c.Get("tick_handler", small, dc.TickHandler),
            IdleTickHandler = c.Get("idle_tick_handler", small, dc.IdleTickHandler),
            ReschedIpiHandler = c.Get("resched_ipi_handler", small, dc.ReschedIpiHandler),
            CallFunctionHandler = c.Get("call_function_handler", small, dc.CallFunctionHandler),
            LockAcquire = c.Get("lock_acquire", small, dc.LockAcquire),
            LockRelease = c.Get("lock_release", small, dc.LockRelease),
            LockHandover = c.Get("lock_handover", small, dc.LockHandover),
            WakeupPath = c.Get("wakeup_path", small, dc.WakeupPath),
            Enqueue = c.Get("enqueue", small, dc.Enqueue),
            Migrate = c.Get("migrate", small, dc.Migrate),
            IdleExit = c.Get("idle_exit", small, dc.IdleExit),
            Syscall = c.Get("syscall", small, dc.Syscall),
        };
        c.Done();
        // guest.kernel picks a consistent set of paravirtual features; the individual keys override it.
        string? kernel = g.Has("kernel") ? g.Get("kernel", Kinds.Choice(GuestKernelPresets.Versions), GuestKernelPresets.Versions[0]) : null;
        if (kernel is not null)
            d = GuestKernelPresets.Apply(d, kernel);
        string spinlock = g.Get("spinlock", SpinlockKindKind(), SpinlockName(d.Spinlock));
        var settings = new GuestSettings
        {
            KernelVersion = kernel,
            Hz = g.Get("hz", Kinds.Int(10, 10_000), d.Hz),
            TicklessIdle = g.Get("tickless_idle", Kinds.Bool, d.TicklessIdle),
            RandomTickPhase = g.Get("tick_phase", Kinds.Choice("aligned", "random"), d.RandomTickPhase ? "random" : "aligned") == "random",
            Topology = g.Get("topology", Kinds.Choice("sockets", "cores"), "sockets") == "cores" ? GuestTopology.Cores : GuestTopology.Sockets,
            Spinlock = spinlock switch
            {
                "test-and-set" => SpinlockKind.TestAndSet,
                "pv-ticket" => SpinlockKind.PvTicket,
                "qspinlock" => SpinlockKind.Queued,
                "pv-qspinlock" => SpinlockKind.PvQueued,
                _ when spinlock.StartsWith(PleSim.Hypervisor.PluginRegistry.Prefix, StringComparison.Ordinal) => SpinlockKind.Plugin,
                _ => SpinlockKind.Ticket,
            },
            SpinlockPlugin = spinlock.StartsWith(PleSim.Hypervisor.PluginRegistry.Prefix, StringComparison.Ordinal) ? spinlock[PleSim.Hypervisor.PluginRegistry.Prefix.Length..] : null,
            SpinThresholdLoops = g.Get("spin_threshold", Kinds.Int(1, 1 << 24), d.SpinThresholdLoops),
            PvTlbFlush = g.Get("pv_tlb_flush", Kinds.Bool, d.PvTlbFlush),
            PvSchedYield = g.Get("pv_sched_yield", Kinds.Bool, d.PvSchedYield),
            PvSendIpi = g.Get("pv_send_ipi", Kinds.Bool, d.PvSendIpi),
            Haltpoll = g.Get("haltpoll", Kinds.Bool, d.Haltpoll),
            // The haltpoll governor's module parameters (guest_halt_poll_*), haltpoll.c 5.4.
            HaltPoll = d.HaltPoll with
            {
                HaltPollNs = g.Get("halt_poll_ns", Kinds.Integer(0, 1_000_000_000), d.HaltPoll.HaltPollNs),
                Grow = g.Get("halt_poll_grow", Kinds.Integer(0, 1024), d.HaltPoll.Grow),
                Shrink = g.Get("halt_poll_shrink", Kinds.Integer(0, 1024), d.HaltPoll.Shrink),
                GrowStart = g.Get("halt_poll_grow_start", Kinds.Integer(1, 1_000_000_000), d.HaltPoll.GrowStart),
            },
            HaltPollAllowShrink = g.Get("halt_poll_allow_shrink", Kinds.Bool, d.HaltPollAllowShrink),
            MutexSpinOnOwner = g.Get("mutex_spin_on_owner", Kinds.Bool, d.MutexSpinOnOwner),
            VcpuIsPreemptedCheck = g.Get("vcpu_is_preempted", Kinds.Bool, d.VcpuIsPreemptedCheck),
            Latency = g.Get("latency", gran, d.Latency),
            MinGranularity = g.Get("min_granularity", gran, d.MinGranularity),
            WakeupGranularity = g.Get("wakeup_granularity", gran, d.WakeupGranularity),
            IdlePull = g.Get("idle_pull", Kinds.Bool, d.IdlePull),
            MigrationCost = g.Get("migration_cost", gran, d.MigrationCost),
            Costs = costs,
        };
        g.Done();
        return settings;
    }

    private static WorkloadSettings ReadWorkload(MapReader w, int vcpus)
    {
        var kind = w.Get("kind", Kinds.Choice(WorkloadSettings.Kinds), "idle");
        var d = new WorkloadSettings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(100));
        var settings = new WorkloadSettings { Kind = kind };
        switch (kind)
        {
            case "hog":
                settings = settings with { Loops = w.Get("loops", Kinds.Int(0, vcpus), 0) };
                break;
            case "lock-bench":
            case "boot-storm":
                settings = settings with
                {
                    Threads = kind == "lock-bench" ? w.Get("threads", Kinds.Int(1, 4096), d.Threads) : vcpus,
                    Locks = w.Get("locks", Kinds.Int(1, 1024), d.Locks),
                    Hold = w.Get("hold", small, d.Hold),
                    Think = w.Get("think", small, d.Think),
                    Iterations = w.Get("iterations", Kinds.Integer(1, long.MaxValue), kind == "lock-bench" ? long.MaxValue : d.Iterations),
                };
                if (kind == "lock-bench")
                    settings = settings with { LockType = w.Get("lock_type", Kinds.Choice("spinlock", "mutex"), d.LockType) };
                break;
            case "amqp-perftest":
                settings = settings with { Amqp = ReadAmqp(w) };
                break;
            case "ebizzy":
                settings = settings with { Ebizzy = ReadEbizzy(w) };
                break;
            case "kernbench":
                settings = settings with { Kernbench = ReadKernbench(w) };
                break;
            case "hackbench":
                settings = settings with { Hackbench = ReadHackbench(w) };
                break;
            case "sysbench":
                settings = settings with { Sysbench = ReadSysbench(w) };
                break;
            case "pingpong":
                settings = settings with { PingPong = ReadPingPong(w, vcpus) };
                break;
        }
        w.Done();
        return settings;
    }

    /// <summary>ebizzy 0.3's options (-t -n -s -S -m -M -R -T -l -z) and the model's costs.</summary>
    private static EbizzySettings ReadEbizzy(MapReader w)
    {
        var d = new EbizzySettings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(100));
        var s = new EbizzySettings
        {
            Threads = w.Get("threads", Kinds.Int(0, 4096), d.Threads),
            Chunks = w.Get("chunks", Kinds.Int(1, 1 << 20), d.Chunks),
            ChunkSize = w.Get("chunk_size", Kinds.Int(8, 16 << 20), d.ChunkSize),
            Seconds = w.Get("seconds", Kinds.Int(1, 1 << 20), d.Seconds),
            AlwaysMmap = w.Get("always_mmap", Kinds.Bool, d.AlwaysMmap),
            NeverMmap = w.Get("never_mmap", Kinds.Bool, d.NeverMmap),
            RandomSize = w.Get("random_size", Kinds.Bool, d.RandomSize),
            TouchPages = w.Get("touch_pages", Kinds.Bool, d.TouchPages),
            NoLibMemcpy = w.Get("no_lib_memcpy", Kinds.Bool, d.NoLibMemcpy),
            Linear = w.Get("linear", Kinds.Bool, d.Linear),
            MemcpyNsPerByte = w.Get("memcpy_ns_per_byte", Kinds.Number(0, 100), d.MemcpyNsPerByte),
            ByteCopyNsPerByte = w.Get("byte_copy_ns_per_byte", Kinds.Number(0, 100), d.ByteCopyNsPerByte),
            Compare = w.Get("compare", small, d.Compare),
            LinearNsPerRecord = w.Get("linear_ns_per_record", Kinds.Number(0, 1000), d.LinearNsPerRecord),
            Touch = w.Get("touch", small, d.Touch),
            Syscall = w.Get("syscall", small, d.Syscall),
            Arena = d.Arena with
            {
                TopPad = w.Get("glibc_top_pad", Kinds.Int(0, 1 << 26), d.Arena.TopPad),
                HeapMaxSize = w.Get("glibc_heap_max_size", Kinds.Int(1 << 20, 1 << 30), d.Arena.HeapMaxSize),
            },
            Mm = ReadMmCosts(w),
        };
        if (s.AlwaysMmap && s.NeverMmap)
            w.Error("always_mmap", "always_mmap (-m) and never_mmap (-M) exclude each other, as in ebizzy");
        if (!s.AlwaysMmap && s.ChunkSize + (1 << 16) > s.Arena.HeapMaxSize)
            w.Error("chunk_size", $"a chunk of {s.ChunkSize} bytes does not fit one arena heap (glibc_heap_max_size {s.Arena.HeapMaxSize}); the model has one heap per arena");
        return s;
    }

    /// <summary>kernbench (make -j) and the per-unit costs.</summary>
    private static KernbenchSettings ReadKernbench(MapReader w)
    {
        var d = new KernbenchSettings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(100));
        return new KernbenchSettings
        {
            Jobs = w.Get("jobs", Kinds.Int(0, 4096), d.Jobs),
            CompileUnits = w.Get("compile_units", Kinds.Int(1, 1 << 24), d.CompileUnits),
            CompileTime = w.Get("compile_time", Kinds.Duration(SimDuration.FromMicroseconds(1), SimDuration.FromSeconds(100)), d.CompileTime),
            CompileTimeCv = w.Get("compile_time_cv", Kinds.Number(0, 10), d.CompileTimeCv),
            PagesPerUnit = w.Get("pages_per_unit", Kinds.Int(0, 1 << 22), d.PagesPerUnit),
            Fork = w.Get("fork", small, d.Fork),
            Exec = w.Get("exec", small, d.Exec),
            Exit = w.Get("exit", small, d.Exit),
            FsLockAcquisitions = w.Get("fs_lock_acquisitions", Kinds.Int(0, 1 << 20), d.FsLockAcquisitions),
            FsLockHold = w.Get("fs_lock_hold", small, d.FsLockHold),
            WriteOutput = w.Get("write_output", small, d.WriteOutput),
            Mm = ReadMmCosts(w),
        };
    }

    /// <summary>The guest mm paths' costs and per-CPU page-list sizes, shared by the mm workloads.</summary>
    private static MmCosts ReadMmCosts(MapReader w)
    {
        var d = new MmCosts();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(100));
        var c = new MmCosts
        {
            PageFault = w.Get("page_fault", small, d.PageFault),
            ClearPage = w.Get("clear_page", small, d.ClearPage),
            SetPte = w.Get("set_pte", small, d.SetPte),
            BuddyPerPage = w.Get("buddy_per_page", small, d.BuddyPerPage),
            ZapPerPage = w.Get("zap_per_page", small, d.ZapPerPage),
            Mmap = w.Get("mmap", small, d.Mmap),
            Munmap = w.Get("munmap", small, d.Munmap),
            Madvise = w.Get("madvise", small, d.Madvise),
            PcpBatch = w.Get("pcp_batch", Kinds.Int(1, 4096), d.PcpBatch),
            PcpHigh = w.Get("pcp_high", Kinds.Int(2, 1 << 16), d.PcpHigh),
        };
        if (c.PcpHigh <= c.PcpBatch)
            w.Error("pcp_high", $"pcp_high ({c.PcpHigh}) must exceed pcp_batch ({c.PcpBatch})");
        return c;
    }

    /// <summary>hackbench's options by their own names (-g groups, -f fds, -l loops, -s datasize, -T/-P mode, -p ipc) and the kernel constants.</summary>
    private static HackbenchSettings ReadHackbench(MapReader w)
    {
        var d = new HackbenchSettings();
        var cost = Kinds.Integer(0, 100_000_000);
        return new HackbenchSettings
        {
            Groups = w.Get("groups", Kinds.Int(1, 1000), d.Groups),
            Fds = w.Get("fds", Kinds.Int(1, 1000), d.Fds),
            Loops = w.Get("loops", Kinds.Integer(1, 1_000_000_000), d.Loops),
            DataSize = w.Get("datasize", Kinds.Int(1, 4096), d.DataSize),
            Threads = w.Get("mode", Kinds.Choice("process", "thread"), "process") == "thread",
            Ipc = w.Get("ipc", Kinds.Choice("socket", "pipe"), "socket") == "pipe" ? HackbenchIpc.Pipe : HackbenchIpc.Socket,
            SndBuf = w.Get("sk_sndbuf", Kinds.Int(1, 1 << 30), d.SndBuf),
            SkbOverhead = w.Get("skb_overhead", Kinds.Int(0, 4096), d.SkbOverhead),
            PipeBuffers = w.Get("pipe_buffers", Kinds.Int(1, 1024), d.PipeBuffers),
            WriteFixedNs = w.Get("write_fixed_ns", cost, d.WriteFixedNs),
            ReadFixedNs = w.Get("read_fixed_ns", cost, d.ReadFixedNs),
            CopyNsPerByte = w.Get("copy_ns_per_byte", Kinds.Number(0, 100), d.CopyNsPerByte),
            QueueOpNs = w.Get("queue_op_ns", cost, d.QueueOpNs),
            MutexFastNs = w.Get("mutex_fast_ns", cost, d.MutexFastNs),
            UserPerMessageNs = w.Get("user_per_message_ns", cost, d.UserPerMessageNs),
        };
    }

    /// <summary>pingpong (perf bench sched pipe and its futex variant; decision 0036).</summary>
    private static PingPongSettings ReadPingPong(MapReader w, int vcpus)
    {
        var d = new PingPongSettings();
        var cost = Kinds.Integer(0, 100_000_000);
        var s = new PingPongSettings
        {
            Transport = w.Get("transport", Kinds.Choice("pipe", "futex"), "pipe") == "futex" ? PingPongTransport.Futex : PingPongTransport.Pipe,
            Pairs = w.Get("pairs", Kinds.Int(1, 1024), d.Pairs),
            Loops = w.Get("loops", Kinds.Integer(0, 1_000_000_000_000), d.Loops),
            SameCpu = w.Get("same_cpu", Kinds.Bool, d.SameCpu),
            UserWorkNs = w.Get("user_work_ns", cost, d.UserWorkNs),
            UserLoopNs = w.Get("user_loop_ns", cost, d.UserLoopNs),
            PipeWriteNs = w.Get("pipe_write_ns", cost, d.PipeWriteNs),
            PipeReadNs = w.Get("pipe_read_ns", cost, d.PipeReadNs),
        };
        if (!s.SameCpu && vcpus < 2)
            w.Error("same_cpu", "same_cpu: false puts a pair's threads on VCPUs 0 and 1; this VM has one VCPU");
        return s;
    }

    /// <summary>sysbench 0.4 options, spelled as on its command line (tests/threads/sb_threads.c, tests/mutex/sb_mutex.c, sysbench.c).</summary>
    private static SysbenchSettings ReadSysbench(MapReader w)
    {
        var d = new SysbenchSettings();
        return new SysbenchSettings
        {
            Test = w.Get("test", Kinds.Choice("threads", "mutex"), "threads") == "mutex" ? SysbenchTest.Mutex : SysbenchTest.Threads,
            NumThreads = w.Get("num-threads", Kinds.Int(1, 4096), d.NumThreads),
            MaxRequests = w.Get("max-requests", Kinds.Integer(0, long.MaxValue), d.MaxRequests),
            ThreadYields = w.Get("thread-yields", Kinds.Int(0, 1 << 30), d.ThreadYields),
            ThreadLocks = w.Get("thread-locks", Kinds.Int(1, 65000), d.ThreadLocks),
            MutexNum = w.Get("mutex-num", Kinds.Int(1, 65000), d.MutexNum),
            MutexLocks = w.Get("mutex-locks", Kinds.Integer(1, long.MaxValue), d.MutexLocks),
            MutexLoops = w.Get("mutex-loops", Kinds.Int(0, 1 << 30), d.MutexLoops),
            LoopIterationNs = w.Get("loop_iteration_ns", Kinds.Number(0, 1000), d.LoopIterationNs),
            RandomR = w.Get("random_r", Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1)), d.RandomR),
        };
    }

    private static AmqpSettings ReadAmqp(MapReader w)
    {
        var d = new AmqpSettings();
        var small = Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(100));
        var perByte = Kinds.Number(0, 100);
        return new AmqpSettings
        {
            PayloadBytes = w.Get("payload", Kinds.Int(0, 1 << 20), d.PayloadBytes),
            FrameOverheadBytes = w.Get("frame_overhead_bytes", Kinds.Int(0, 4096), d.FrameOverheadBytes),
            BufferBytes = w.Get("buffer_bytes", Kinds.Int(512, 1 << 24), d.BufferBytes),
            ClientIoThreads = w.Get("client_io_threads", Kinds.Int(1, 64), d.ClientIoThreads),
            BrokerWorkers = w.Get("broker_workers", Kinds.Int(1, 64), d.BrokerWorkers),
            PublisherLimitBytes = w.Get("publisher_limit_bytes", Kinds.Int(1024, 1 << 30), d.PublisherLimitBytes),
            PublishPerMessage = w.Get("publish_per_message", small, d.PublishPerMessage),
            ClientEncodePerMessage = w.Get("client_encode_per_message", small, d.ClientEncodePerMessage),
            BrokerInPerMessage = w.Get("broker_in_per_message", small, d.BrokerInPerMessage),
            BrokerOutPerMessage = w.Get("broker_out_per_message", small, d.BrokerOutPerMessage),
            ClientDecodePerMessage = w.Get("client_decode_per_message", small, d.ClientDecodePerMessage),
            SubscribePerMessage = w.Get("subscribe_per_message", small, d.SubscribePerMessage),
            WriteFixed = w.Get("write_fixed", small, d.WriteFixed),
            WriteNsPerByte = w.Get("write_ns_per_byte", perByte, d.WriteNsPerByte),
            ReadFixed = w.Get("read_fixed", small, d.ReadFixed),
            ReadNsPerByte = w.Get("read_ns_per_byte", perByte, d.ReadNsPerByte),
            TcpReceive = w.Get("tcp_receive", small, d.TcpReceive),
            EpollCtl = w.Get("epoll_ctl", small, d.EpollCtl),
            SocketLockHold = w.Get("socket_lock_hold", small, d.SocketLockHold),
            BrokerReadBudget = w.Get("broker_read_budget", small, d.BrokerReadBudget),
            Allocator = w.Get("allocator", Kinds.Choice("none", "glibc-2.12", "summing-what-if"), "none") switch
            {
                "glibc-2.12" => BrokerAllocator.Glibc212,
                "summing-what-if" => BrokerAllocator.SummingWhatIf,
                _ => BrokerAllocator.None,
            },
            HeapBytesPerMessage = w.Get("heap_bytes_per_message", Kinds.Int(0, 1 << 20), d.HeapBytesPerMessage),
            TrimFreeBytes = w.Get("trim_free_bytes", Kinds.Int(4096, 1 << 30), d.TrimFreeBytes),
            MessageAllocations = w.Get("message_allocations", AllocationList, d.MessageAllocations),
            QueueNodeBytes = w.Get("queue_node_bytes", Kinds.Int(0, 1 << 20), d.QueueNodeBytes),
            QueuedMessageBytes = w.Get("queued_message_bytes", Kinds.Int(1, 4096), d.QueuedMessageBytes),
            BatchScratchBytes = w.Get("batch_scratch_bytes", Kinds.Int(0, 1 << 20), d.BatchScratchBytes),
            Arena = new GlibcArenaSettings
            {
                TopPad = w.Get("glibc_top_pad", Kinds.Int(0, 1 << 26), d.Arena.TopPad),
                MaxFast = w.Get("glibc_max_fast", MaxFastKind, d.Arena.MaxFast),
                ConsolidationThreshold = w.Get("glibc_consolidation_threshold", Kinds.Int(1024, 1 << 26), d.Arena.ConsolidationThreshold),
                HeapMaxSize = w.Get("glibc_heap_max_size", Kinds.Int(1 << 20, 1 << 30), d.Arena.HeapMaxSize),
                PageSize = w.Get("page_size", PageSizeKind, d.Arena.PageSize),
            },
            Madvise = w.Get("madvise", small, d.Madvise),
        };
    }

    /// <summary>malloc() request sizes in bytes, comma-separated: <c>440,72,264</c>.</summary>
    private static readonly ValueKind<int[]> AllocationList = new("a comma-separated list of malloc request sizes in bytes (1-131071), like 440,72,264", text =>
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var sizes = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out sizes[i]) || sizes[i] < 1 || sizes[i] >= 131072)
                return (false, sizes, $"'{parts[i]}' is not a request size between 1 and 131071 bytes");
        }
        return (true, sizes, null);
    });

    private static readonly ValueKind<int> MaxFastKind = new("a fastbin chunk limit: a multiple of 16 from 32 to 160", text =>
    {
        var (ok, v, problem) = Kinds.Int(32, 160).Parse(text);
        return ok && v % 16 != 0 ? (false, v, $"{v} is not a multiple of 16") : (ok, v, problem);
    });

    private static readonly ValueKind<int> PageSizeKind = new("a power of two from 4096", text =>
    {
        var (ok, v, problem) = Kinds.Int(4096, 1 << 30).Parse(text);
        return ok && (v & (v - 1)) != 0 ? (false, v, $"{v} is not a power of two") : (ok, v, problem);
    });

    private static HostSettings ReadHost(MapReader r)
    {
        int cpus = r.Get("cpus", Kinds.Int(1, MaxCpus), 4);
        int threads = r.Get("threads_per_core", Kinds.Int(1, 4), 1);
        if (!r.Failed("cpus") && !r.Failed("threads_per_core") && cpus % threads != 0)
            r.Error("threads_per_core", $"{cpus} CPUs do not divide into cores of {threads} threads");
        var settings = new HostSettings
        {
            Cpus = cpus,
            ThreadsPerCore = threads,
            TscMhz = r.Get("tsc_mhz", Kinds.Integer(100, 10_000), 2900),
            Scheduler = r.Get("scheduler", Kinds.Choice(HostSettings.Schedulers), "cfs-2.6.39"),
            Coscheduling = new CoschedSettings
            {
                Mode = CoschedSettings.Parse(r.Get("coscheduling", Kinds.Choice(CoschedSettings.Names), "none")),
                SkewThreshold = r.Get("coscheduling_skew_threshold", Kinds.Duration(SimDuration.FromMicroseconds(1), SimDuration.FromSeconds(10)), SimDuration.FromMilliseconds(3)),
            },
            Sched = ReadSched(r.Section("sched"), out var features),
            Features = features,
        };
        settings = settings with { Features = features with { Class = HostSettings.ClassOf(settings.Scheduler) } };
        var cgroups = r.List("cgroups", (c, _) =>
        {
            var path = c.Require("path", Kinds.Text, "/x");
            if (!path.StartsWith('/') || path == "/" || path.EndsWith('/'))
                c.Error("path", $"'{path}' is not a cgroup path like /vm1 or /vms/vm1");
            return new CgroupSettings(path, c.Get("shares", Kinds.Integer(Weights.MinShares, Weights.MaxShares), Weights.Nice0Load));
        });
        var paths = new HashSet<string>(cgroups.Select(c => c.Path)) { "/" };
        foreach (var c in cgroups)
        {
            var parent = ParentPath(c.Path);
            if (!paths.Contains(parent))
                r.Error("cgroups", $"cgroup '{c.Path}' needs its parent '{parent}' to be listed before it");
        }
        var tasks = r.List("tasks", (t, i) => ReadTask(t, r.Failed("cpus") ? MaxCpus : cpus, paths));
        var names = tasks.SelectMany(t => t.Count == 1 ? [t.Name] : Enumerable.Range(0, t.Count).Select(i => t.Name + i)).ToList();
        foreach (var t in tasks.Where(t => t.YieldTo is not null && !names.Contains(t.YieldTo)))
        {
            var guess = Suggestions.Closest(t.YieldTo!, names);
            r.Error("tasks", $"task '{t.Name}' yields to '{t.YieldTo}', which is not a host task{(guess is null ? "" : $"; did you mean '{guess}'?")}");
        }
        var background = ReadBackground(r.Section("background"));
        var numa = ReadNuma(r.Section("numa"), r.Failed("cpus") || r.Failed("threads_per_core") ? 0 : cpus, threads);
        r.Done();
        return settings with { Cgroups = cgroups, Tasks = tasks, Background = background, Numa = numa };
    }

    /// <summary>
    /// <c>host.numa</c> (decision 0039): <c>nodes</c>, <c>cpus</c> (one CPU list per node,
    /// separated by ';', like <c>"0-7; 8-15"</c>: whole cores, every CPU on exactly one node) and
    /// <c>distance</c> (the SLIT as <c>/sys/devices/system/node/nodeN/distance</c> prints each
    /// row, rows separated by ';': <c>"10 20; 20 10"</c>). <paramref name="cpus"/> is 0 when
    /// host.cpus was invalid (the CPU checks are skipped).
    /// </summary>
    private static NumaSettings ReadNuma(MapReader r, int cpus, int threads)
    {
        int nodes = r.Get("nodes", Kinds.Int(1, 64), 1);
        var lists = r.Get("cpus", NodeCpuListsKind, null);
        var distance = r.Get("distance", DistanceTableKind, null);
        if (cpus > 0 && !r.Failed("nodes"))
        {
            int cores = cpus / threads;
            if (lists is null && !r.Failed("cpus") && cores % nodes != 0)
                r.Error("nodes", $"{cores} cores do not divide into {nodes} nodes of equal size; give host.numa.cpus");
            if (lists is not null && NodeCpusProblem(lists, nodes, cpus, threads) is { } p1)
                r.Error("cpus", p1);
            if (distance is not null && (distance.Length != nodes ? $"the table has {distance.Length} rows for {nodes} nodes" : HostTopology.ValidateDistances(distance)) is { } p2)
                r.Error("distance", p2);
        }
        r.Done();
        return new NumaSettings { Nodes = nodes, NodeCpus = lists, Distance = distance };
    }

    private static string? NodeCpusProblem(IReadOnlyList<CpuSet> lists, int nodes, int cpus, int threads)
    {
        if (lists.Count != nodes)
            return $"{lists.Count} CPU lists for {nodes} nodes";
        var seen = new int[cpus];
        for (int k = 0; k < lists.Count; k++)
        {
            for (int c = 0; c < cpus; c++)
            {
                if (!lists[k].Contains(c))
                    continue;
                if (seen[c]++ > 0)
                    return $"CPU {c} is on more than one node";
                int first = c / threads * threads;
                for (int s = first; s < first + threads; s++)
                {
                    if (!lists[k].Contains(s))
                        return $"node {k} holds CPU {c} but not its SMT sibling {s} (a core's threads share a node)";
                }
            }
            if (lists[k].Count == 0)
                return $"node {k} has no CPU";
            if (lists[k].Mask.Next(cpus) >= 0)
                return $"node {k} lists CPU {lists[k].Mask.Next(cpus)}, but the host has CPUs 0-{cpus - 1}";
        }
        for (int c = 0; c < cpus; c++)
        {
            if (seen[c] == 0)
                return $"CPU {c} is on no node";
        }
        return null;
    }

    /// <summary>One CPU list per node, separated by ';': <c>0-7; 8-15</c>.</summary>
    private static readonly ValueKind<IReadOnlyList<CpuSet>?> NodeCpuListsKind = new(
        $"one CPU list per node separated by ';', like \"0-7; 8-15\" (CPUs below {MaxCpus})", text =>
        {
            var parts = text.Split(';', StringSplitOptions.TrimEntries);
            var sets = new List<CpuSet>(parts.Length);
            foreach (var part in parts)
            {
                if (!CpuSet.TryParse(part, MaxCpus, out var set, out var problem))
                    return (false, null, $"'{YamlGuard.Clip(part)}': {problem}");
                sets.Add(set);
            }
            return (true, sets, null);
        });

    /// <summary>The SLIT, rows separated by ';', entries by spaces: <c>10 20; 20 10</c>.</summary>
    private static readonly ValueKind<int[][]?> DistanceTableKind = new(
        "the node distance table, rows separated by ';' and entries by spaces, like \"10 20; 20 10\"", text =>
        {
            var rows = text.Split(';', StringSplitOptions.TrimEntries);
            var table = new int[rows.Length][];
            for (int i = 0; i < rows.Length; i++)
            {
                var cells = rows[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                table[i] = new int[cells.Length];
                for (int j = 0; j < cells.Length; j++)
                {
                    if (!int.TryParse(cells[j], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out table[i][j]))
                        return (false, null, $"'{YamlGuard.Clip(cells[j])}' in row {i} is not a distance (an integer)");
                }
            }
            return (true, table, null);
        });

    /// <summary>
    /// <c>host.background</c>: <c>preset</c> (none | rhel6-kvm-host), <c>enabled</c> (false drops
    /// every thread: the off switch for a what-if) and <c>threads</c>, whose entries replace the
    /// keys they give of the preset's thread of the same name (timers likewise by name), or add
    /// a thread (then <c>scope</c>, and each timer's <c>period</c> and <c>cost</c>, are required).
    /// </summary>
    private static BackgroundSettings ReadBackground(MapReader b)
    {
        if (!b.IsPresent)
        {
            b.Done();
            return new BackgroundSettings();
        }
        var preset = b.Get("preset", Kinds.Choice(BackgroundPresets.Names), "none");
        bool enabled = b.Get("enabled", Kinds.Bool, true);
        var baseThreads = BackgroundPresets.Get(preset);
        var given = b.List("threads", (t, _) => ReadBackgroundThread(t, baseThreads));
        foreach (var dup in given.GroupBy(t => t.Name).Where(g => g.Count() > 1))
            b.Error("threads", $"two background threads are called '{dup.Key}'");
        var threads = Merge(baseThreads, given, t => t.Name);
        b.Done();
        return new BackgroundSettings
        {
            Preset = preset,
            Enabled = enabled,
            Threads = enabled ? threads.Where(t => t.Enabled).ToList() : [],
        };
    }

    private static List<T> Merge<T>(IReadOnlyList<T> baseItems, IReadOnlyList<T> given, Func<T, string> name)
    {
        var items = baseItems.ToList();
        foreach (var g in given)
        {
            int i = items.FindIndex(x => name(x) == name(g));
            if (i >= 0)
                items[i] = g;
            else
                items.Add(g);
        }
        return items;
    }

    private static BackgroundThreadSettings ReadBackgroundThread(MapReader t, IReadOnlyList<BackgroundThreadSettings> preset)
    {
        var name = t.Require("name", Kinds.Text, "thread");
        var bt = preset.FirstOrDefault(p => p.Name == name);
        var scopeKind = Kinds.Choice(BackgroundThreadSettings.Scopes);
        var scope = bt is null ? t.Require("scope", scopeKind, "host") : t.Get("scope", scopeKind, bt.Scope);
        var baseTimers = bt?.Timers ?? [];
        var given = t.List("timers", (m, _) => ReadBackgroundTimer(m, baseTimers));
        foreach (var dup in given.GroupBy(x => x.Name).Where(g => g.Count() > 1))
            t.Error("timers", $"two timers of '{name}' are called '{dup.Key}'");
        var timers = Merge(baseTimers, given, x => x.Name);
        if (timers.Count == 0)
            t.Error("timers", $"background thread '{name}' needs at least one timer (name, period, cost)");
        return new BackgroundThreadSettings
        {
            Name = name,
            Scope = scope,
            Nice = t.Get("nice", Kinds.Int(-20, 19), bt?.Nice ?? 0),
            Enabled = t.Get("enabled", Kinds.Bool, bt?.Enabled ?? true),
            Timers = timers,
        };
    }

    private static BackgroundTimerSettings ReadBackgroundTimer(MapReader m, IReadOnlyList<BackgroundTimerSettings> preset)
    {
        var name = m.Require("name", Kinds.Text, "timer");
        var bt = preset.FirstOrDefault(p => p.Name == name);
        var periodKind = Kinds.Duration(SimDuration.FromMicroseconds(1), SimDuration.FromSeconds(3600));
        var costKind = Kinds.Duration(new SimDuration(1), SimDuration.FromSeconds(1));
        var oneSecond = SimDuration.FromSeconds(1);
        var period = bt is null ? m.Require("period", periodKind, oneSecond) : m.Get("period", periodKind, bt.Period);
        var cost = bt is null ? m.Require("cost", costKind, SimDuration.FromMicroseconds(1)) : m.Get("cost", costKind, bt.Cost);
        var rearm = m.Get("rearm", Kinds.Choice(BackgroundTimerSettings.Rearms), bt?.Rearm ?? "after_run");
        var phase = m.Get("phase", Kinds.Choice(BackgroundTimerSettings.Phases), bt?.Phase ?? "random");
        if (cost >= period)
            m.Error("cost", $"a work item of {cost} every {period} never lets the thread sleep: the cost must be shorter than the period");
        if (phase == "round_jiffies" && period.Ns % oneSecond.Ns != 0)
            m.Error("period", $"phase round_jiffies rounds expiries to whole seconds: the period must be a whole number of seconds, not {period}");
        return new BackgroundTimerSettings { Name = name, Period = period, Cost = cost, Rearm = rearm, Phase = phase };
    }

    internal static string ParentPath(string path)
    {
        int i = path.LastIndexOf('/');
        return i <= 0 ? "/" : path[..i];
    }

    private static SchedTunables ReadSched(MapReader r, out SchedFeatures features)
    {
        var d = new SchedTunables();
        var max = SimDuration.FromSeconds(10);
        var t = new SchedTunables
        {
            LatencyNs = r.Get("latency_ns", Kinds.Duration(SimDuration.FromMicroseconds(100), max, bareIsNs: true), d.LatencyNs),
            MinGranularityNs = r.Get("min_granularity_ns", Kinds.Duration(SimDuration.FromMicroseconds(100), max, bareIsNs: true), d.MinGranularityNs),
            WakeupGranularityNs = r.Get("wakeup_granularity_ns", Kinds.Duration(SimDuration.Zero, max, bareIsNs: true), d.WakeupGranularityNs),
            TunableScaling = r.Get("tunable_scaling", Kinds.Choice("none", "log", "linear"), "log") switch
            {
                "none" => TunableScaling.None,
                "linear" => TunableScaling.Linear,
                _ => TunableScaling.Log,
            },
            NrLatency = r.Get("nr_latency", Kinds.Int(1, 1000), d.NrLatency),
            MigrationCostNs = r.Get("migration_cost_ns", Kinds.Duration(SimDuration.Zero, max, bareIsNs: true), d.MigrationCostNs),
            NrMigrate = r.Get("nr_migrate", Kinds.Int(1, 1024), d.NrMigrate),
            SharesWindowNs = r.Get("shares_window_ns", Kinds.Duration(SimDuration.FromMicroseconds(100), max, bareIsNs: true), d.SharesWindowNs),
            Hz = r.Get("hz", Kinds.Int(10, 10_000), d.Hz),
            NoHz = r.Get("nohz", Kinds.Bool, d.NoHz),
            ContextSwitchCost = r.Get("context_switch_cost", Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1)), d.ContextSwitchCost),
            ReschedIpiLatency = r.Get("resched_ipi_latency", Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1)), d.ReschedIpiLatency),
            IdleExitLatency = r.Get("idle_exit_latency", Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1)), d.IdleExitLatency),
            TickJitter = r.Get("tick_jitter", Kinds.Duration(SimDuration.Zero, SimDuration.FromMicroseconds(500)), d.TickJitter),
            SerializedBalanceHold = r.Get("serialized_balance_hold", Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1)), d.SerializedBalanceHold),
        };
        features = new SchedFeatures();
        foreach (var (name, on) in r.Map("features", Kinds.Bool, SchedFeatures.Names))
            features = features.With(name, on);
        r.Done();
        return t;
    }

    private static HostTaskSettings ReadTask(MapReader t, int cpus, HashSet<string> cgroups)
    {
        var kind = t.Get("kind", Kinds.Choice(HostTaskSettings.Kinds), "hog");
        var cgroup = t.Get("cgroup", Kinds.Text, "/");
        if (!cgroups.Contains(cgroup))
        {
            var guess = Suggestions.Closest(cgroup, cgroups);
            t.Error("cgroup", $"no cgroup '{cgroup}' is defined under host.cgroups{(guess is null ? "" : $"; did you mean '{guess}'?")}");
        }
        var settings = new HostTaskSettings
        {
            Name = t.Require("name", Kinds.Text, "task"),
            Kind = kind,
            Count = t.Get("count", Kinds.Int(1, 4096), 1),
            Nice = t.Get("nice", Kinds.Int(-20, 19), 0),
            Cgroup = cgroup,
            Affinity = t.Has("affinity") ? t.Get("affinity", Kinds.CpuList(cpus), CpuSet.All(cpus)) : null,
            StartCpu = t.Get("start_cpu", Kinds.Int(0, cpus - 1), 0),
            StartAt = t.Get("start_at", Kinds.Duration(SimDuration.Zero, SimDuration.FromSeconds(3600)), SimDuration.Zero),
        };
        var later = t.Section("set_affinity");
        if (later.IsPresent)
        {
            settings = settings with
            {
                SetAffinityAt = later.Require("at", Kinds.Duration(SimDuration.Zero, SimDuration.FromSeconds(3600)), SimDuration.Zero),
                LaterAffinity = later.Require("cpus", Kinds.CpuList(cpus), CpuSet.All(cpus)),
            };
            later.Done();
        }
        var positive = Kinds.Duration(new SimDuration(1), SimDuration.FromSeconds(60));
        if (kind == "periodic")
        {
            settings = settings with
            {
                Run = t.Get("run", positive, settings.Run),
                Sleep = t.Get("sleep", positive, settings.Sleep),
                Jitter = t.Get("jitter", Kinds.Bool, false),
            };
        }
        else if (kind == "pingpong")
        {
            settings = settings with { Work = t.Get("work", positive, settings.Work) };
        }
        else if (kind == "yielder")
        {
            settings = settings with
            {
                Run = t.Get("run", positive, settings.Run),
                YieldTo = t.Has("yield_to") ? t.Get("yield_to", Kinds.Text, "") : null,
            };
        }
        return settings;
    }
}

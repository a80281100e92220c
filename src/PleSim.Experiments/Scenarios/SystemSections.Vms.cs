using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Experiments.Scenarios;

/// <summary>The <c>vms</c> section: each VM (VCPUs, pinning, cgroup) and its <c>guest</c> kernel settings.</summary>
internal static partial class SystemSections
{
    /// <summary><c>guest.spinlock</c>: a built-in lock, or <c>plugin:NAME</c> of a guest-lock plug-in loaded with <c>--plugin</c> (decision 0041).</summary>
    private static ValueKind<string> SpinlockKindKind()
    {
        var builtin = Kinds.Choice("ticket", "test-and-set", "pv-ticket", "qspinlock", "pv-qspinlock", "preemptable-ticket", "s390");
        return new ValueKind<string>(builtin.Expected + ", or plugin:NAME (a guest-lock plug-in loaded with --plugin)", text =>
            text.StartsWith(PleSim.Hypervisor.PluginRegistry.Prefix, StringComparison.Ordinal) ? PluginName(text, PleSim.Hypervisor.PluginRegistry.GuestLockNames) : builtin.Parse(text));
    }

    private static VmSettings ReadVm(MapReader v, int hostCpus, HashSet<string> hostGroups, PleSim.Hypervisor.KvmSettings kvm, SimDuration runEnd)
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
        var affinity = v.Has("affinity") ? v.Get("affinity", Kinds.CpuList(hostCpus), CpuSet.All(hostCpus)) : (CpuSet?)null;
        var settings = new VmSettings
        {
            Name = name,
            Vcpus = vcpus,
            Affinity = affinity,
            VcpuAffinity = ReadVcpuAffinity(v, vcpus, !v.Failed("vcpus"), v.Failed("affinity") ? null : affinity, hostCpus),
            Cgroup = cgroup,
            CgroupShares = v.Get("cgroup_shares", Kinds.Integer(Weights.MinShares, Weights.MaxShares), Weights.Nice0Load),
            StartCpu = v.Get("start_cpu", Kinds.Int(0, hostCpus - 1), 0),
            VcpuStartSpread = v.Get("vcpu_start_spread", Kinds.Duration(SimDuration.Zero, SimDuration.FromSeconds(60)), SimDuration.Zero),
            StartAt = v.Get("start_at", Kinds.Duration(SimDuration.Zero, SimDuration.FromSeconds(3600)), SimDuration.Zero),
            Guest = ReadGuest(v.Section("guest"), kvm, vcpus),
            Workload = ReadWorkload(v.Section("workload"), vcpus, hostCpus),
        };
        if (settings.StartAt.Ns >= runEnd.Ns && !v.Failed("start_at"))
            v.Error("start_at", $"{settings.StartAt} is not before the run's end (warmup + duration = {runEnd}): the VM would never run");
        return settings;
    }

    /// <summary>
    /// <c>vms[].vcpu_affinity</c>: one CPU list per VCPU thread, entry i for VCPU i (libvirt's
    /// <c>&lt;vcpupin vcpu='i' cpuset='…'/&gt;</c>, <c>virsh vcpupin</c>). Each list must lie within the
    /// VM's <c>affinity</c> when the file gives one: the VM's CPU set stays the one its metrics
    /// (<c>host_c0_share</c>) are taken over, and a pin outside it would contradict it. Null when absent.
    /// </summary>
    private static IReadOnlyList<CpuSet>? ReadVcpuAffinity(MapReader v, int vcpus, bool vcpusKnown, CpuSet? affinity, int hostCpus)
    {
        int before = v.Context.Diagnostics.Count;
        var cpuList = Kinds.CpuList(hostCpus);
        var perVcpu = new ValueKind<CpuSet>($"a CPU list (one per VCPU, entry i for VCPU i) like 0-3 or 0,2 with CPUs below {hostCpus}, or 'all'", cpuList.Parse);
        var sets = v.ScalarList("vcpu_affinity", perVcpu);
        if (!v.Has("vcpu_affinity") || v.Context.Diagnostics.Count != before)
            return null;
        if (vcpusKnown && sets.Count != vcpus)
        {
            v.Error("vcpu_affinity", $"{sets.Count} CPU list{(sets.Count == 1 ? "" : "s")} for {vcpus} VCPUs: give one per VCPU, entry i for VCPU i (e.g. [{string.Join(", ", Enumerable.Range(0, Math.Min(vcpus, 4)))}{(vcpus > 4 ? ", …" : "")}])");
            return null;
        }
        if (affinity is { } a)
        {
            var items = v.RawNode?.Children[new YamlDotNet.RepresentationModel.YamlScalarNode("vcpu_affinity")] as YamlDotNet.RepresentationModel.YamlSequenceNode;
            bool ok = true;
            for (int i = 0; i < sets.Count; i++)
            {
                var m = sets[i].Mask;
                if ((m & a.Mask) != m)
                {
                    v.Context.Error(items?.Children[i], $"{v.Path}.vcpu_affinity[{i}]", $"VCPU {i}'s CPUs {sets[i]} are not all within the VM's affinity {a}: pin each VCPU inside it, or drop affinity");
                    ok = false;
                }
            }
            if (!ok)
                return null;
        }
        return sets;
    }

    /// <summary>The <c>guest.rwsem</c> value of an algorithm (decisions 0050, 0057).</summary>
    internal static string RwSemName(RwSemAlgorithm a) => a switch
    {
        RwSemAlgorithm.Xadd419 => "4.19",
        RwSemAlgorithm.Rwsem53 => "5.3",
        RwSemAlgorithm.Rwsem61 => "6.1",
        _ => "2.6.39",
    };

    internal static string SpinlockName(SpinlockKind k) => k switch
    {
        SpinlockKind.TestAndSet => "test-and-set",
        SpinlockKind.PvTicket => "pv-ticket",
        SpinlockKind.Queued => "qspinlock",
        SpinlockKind.PvQueued => "pv-qspinlock",
        SpinlockKind.PreemptableTicket => "preemptable-ticket",
        SpinlockKind.S390 => "s390",
        _ => "ticket",
    };

    private static string WaitEarlyName(PvWaitEarly w) => w switch
    {
        PvWaitEarly.Off => "off",
        PvWaitEarly.HaltedOrPreempted => "halted-or-preempted",
        _ => "halted",
    };

    private static GuestSettings ReadGuest(MapReader g, PleSim.Hypervisor.KvmSettings kvm, int vcpus)
    {
        // The guest kernel scales its granularities by its own CPU count at boot (decision 0090).
        var (latency, minGranularity, wakeupGranularity) = GuestSettings.Scaled(vcpus);
        var d = new GuestSettings { Latency = latency, MinGranularity = minGranularity, WakeupGranularity = wakeupGranularity };
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
        // An s390 guest (decision 0055) executes no PAUSE: pause-loop exiting cannot apply to it.
        if (spinlock == "s390" && kvm.PleHandler != "none")
            g.Error("spinlock", $"an s390 guest has no PAUSE instruction, so no pause-loop exiting: set kvm.ple_handler: none (it is '{kvm.PleHandler}'{(kvm.Version is null ? "" : $"; kvm.version {kvm.Version}")})");
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
                "preemptable-ticket" => SpinlockKind.PreemptableTicket,
                "s390" => SpinlockKind.S390,
                _ when spinlock.StartsWith(PleSim.Hypervisor.PluginRegistry.Prefix, StringComparison.Ordinal) => SpinlockKind.Plugin,
                _ => SpinlockKind.Ticket,
            },
            SpinlockPlugin = spinlock.StartsWith(PleSim.Hypervisor.PluginRegistry.Prefix, StringComparison.Ordinal) ? spinlock[PleSim.Hypervisor.PluginRegistry.Prefix.Length..] : null,
            SpinThresholdLoops = g.Get("spin_threshold", Kinds.Int(1, 1 << 24), d.SpinThresholdLoops),
            // Cache-line traffic on the spinlock words (decision 0059): off by default; the per-transfer
            // latencies within a package and across packages (host NUMA nodes) are assumptions.
            CacheCoherence = g.Get("cache_coherence", Kinds.Choice("none", "directory"), d.CacheCoherence == CacheCoherence.Directory ? "directory" : "none") == "directory"
                ? CacheCoherence.Directory
                : CacheCoherence.None,
            CacheLineLocal = g.Get("cache_line_local", Kinds.Duration(SimDuration.Zero, SimDuration.FromMicroseconds(10)), d.CacheLineLocal),
            CacheLineRemote = g.Get("cache_line_remote", Kinds.Duration(SimDuration.Zero, SimDuration.FromMicroseconds(10)), d.CacheLineRemote),
            // The PV queued spinlock's lock stealing and pv_wait_early (decision 0058; guest.kernel sets both per version).
            PvQspinlockSteal = g.Get("pv_qspinlock_steal", Kinds.Bool, d.PvQspinlockSteal),
            PvQspinlockWaitEarly = g.Get("pv_qspinlock_wait_early", Kinds.Choice("off", "halted", "halted-or-preempted"), WaitEarlyName(d.PvQspinlockWaitEarly)) switch
            {
                "off" => PvWaitEarly.Off,
                "halted-or-preempted" => PvWaitEarly.HaltedOrPreempted,
                _ => PvWaitEarly.Halted,
            },
            // pmtlock's TIMEOUT_UNIT (loops per ticket ahead; v1.0 of the VEE 2013 paper: 1 << 14).
            PmtlockTimeoutUnit = g.Get("pmtlock_timeout_unit", Kinds.Int(1, 1 << 24), d.PmtlockTimeoutUnit),
            // s390 spin_retry (arch/s390/lib/spinlock.c, 6.17: 1000) and the s390 wait loop's pass in
            // TSC cycles (assumption), read by guest.spinlock: s390 only (decision 0055).
            SpinRetry = g.Get("spin_retry", Kinds.Int(0, 1 << 24), d.SpinRetry),
            S390SpinLoopCycles = g.Get("s390_spin_loop_cycles", Kinds.Integer(1, 100_000), d.S390SpinLoopCycles),
            // s390's broadcast TLB flush on the flushing CPU (assumption; decision 0055 addendum).
            S390TlbFlushCost = g.Get("s390_tlb_flush_cost", Kinds.Duration(SimDuration.Zero, SimDuration.FromMilliseconds(1)), d.S390TlbFlushCost),
            // 4.20+ x86: flushes that freed no page tables skip idle lazy-TLB CPUs (decision 0067; guest.kernel sets it).
            LazyTlbSkip = g.Get("lazy_tlb_skip", Kinds.Bool, d.LazyTlbSkip),
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
            AvailableIdleCpu = g.Get("available_idle_cpu", Kinds.Bool, d.AvailableIdleCpu),
            // guest.rwsem: the rw_semaphore algorithm (decision 0050): 2.6.39 lib/rwsem.c or 4.19 rwsem-xadd.c.
            // "5.3" / "6.1": kernel/locking/rwsem.c as 5.3 (through 5.10) and 6.1 have it (decision 0057).
            RwSem = g.Get("rwsem", Kinds.Choice("2.6.39", "4.19", "5.3", "6.1"), RwSemName(d.RwSem)) switch
            {
                "4.19" => RwSemAlgorithm.Xadd419,
                "5.3" => RwSemAlgorithm.Rwsem53,
                "6.1" => RwSemAlgorithm.Rwsem61,
                _ => RwSemAlgorithm.Lib2639,
            },
            Latency = g.Get("latency", gran, d.Latency),
            MinGranularity = g.Get("min_granularity", gran, d.MinGranularity),
            WakeupGranularity = g.Get("wakeup_granularity", gran, d.WakeupGranularity),
            // update_rq_clock_task's steal-time subtraction (CONFIG_PARAVIRT_TIME_ACCOUNTING); off: wall time.
            StealTimeAccounting = g.Get("steal_time_accounting", Kinds.Bool, d.StealTimeAccounting),
            IdlePull = g.Get("idle_pull", Kinds.Bool, d.IdlePull),
            // A busy VCPU's periodic rebalance_domains (decision 0072); its domain's parameters follow guest.kernel and guest.topology.
            BusyBalance = g.Get("busy_balance", Kinds.Bool, d.BusyBalance),
            MigrationCost = g.Get("migration_cost", gran, d.MigrationCost),
            // idle_balance's avg_idle test (decision 0086); absent: the guest kernel version's rule.
            NewIdleAvgIdleGate = g.Has("newidle_avg_idle_gate") ? g.Get("newidle_avg_idle_gate", Kinds.Bool, true) : null,
            // idle_balance's rd->overload test (decision 0087); absent: the guest kernel version's rule.
            NewIdleRdOverloadGate = g.Has("newidle_rd_overload_gate") ? g.Get("newidle_rd_overload_gate", Kinds.Bool, true) : null,
            Timers = ReadGuestTimers(g),
            Costs = costs,
        };
        g.Done();
        return settings;
    }

    /// <summary><c>guest.timers</c>: periodic kernel timers of every VCPU (name, period, cost, deferrable; decisions 0045 and 0078).</summary>
    private static IReadOnlyList<GuestTimer> ReadGuestTimers(MapReader g)
    {
        var timers = g.List("timers", (m, _) =>
        {
            var name = m.Require("name", Kinds.Text, "timer");
            var period = m.Require("period", Kinds.Duration(SimDuration.FromMicroseconds(100), SimDuration.FromSeconds(3600)), SimDuration.FromSeconds(1));
            var cost = m.Require("cost", Kinds.Duration(new SimDuration(1), SimDuration.FromMilliseconds(10)), SimDuration.FromMicroseconds(1));
            if (cost >= period)
                m.Error("cost", $"a timer function of {cost} every {period} never lets the VCPU idle: the cost must be shorter than the period");
            var deferrable = m.Get("deferrable", Kinds.Bool, false);
            return new GuestTimer(name, period, cost, deferrable);
        });
        var dup = timers.GroupBy(t => t.Name).FirstOrDefault(x => x.Count() > 1);
        if (dup is not null)
            g.Error("timers", $"two guest timers are called '{dup.Key}'");
        return timers;
    }
}

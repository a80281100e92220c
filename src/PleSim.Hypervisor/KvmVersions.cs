namespace PleSim.Hypervisor;

/// <summary>
/// One KVM release as far as this model is concerned: the PAUSE-exit handler (and its per-version
/// switches), the PLE window / pause-filter policy, the pause-filter threshold and halt polling,
/// with the module defaults of that release. What each entry rests on (the commit, the function,
/// and whether it was read at the tag) is in docs/kernel-map.md and docs/decisions/0022.
/// </summary>
public sealed record KvmVersion
{
    public required string Version { get; init; }

    /// <summary>The PAUSE-exit handler (a <see cref="PleHandlers.Names"/> entry).</summary>
    public required string PleHandler { get; init; }

    /// <summary>Switches the handler's own preset does not carry (e.g. the 3.17 signedness fix on the 3.10 walk).</summary>
    public DirectedYieldOverrides DirectedYield { get; init; } = new();

    /// <summary>VMX: <c>ple_window</c> grow/shrink/max (3.18+).</summary>
    public PleWindowPolicy IntelWindow { get; init; } = new();

    /// <summary>SVM: <c>pause_filter_count</c> grow/shrink/max (4.18+).</summary>
    public PleWindowPolicy AmdWindow { get; init; } = new();

    /// <summary>SVM: <c>pause_filter_thresh</c> (4.18+: 128 cycles; 0 before).</summary>
    public long PauseFilterThresh { get; init; }

    public HaltPollSettings HaltPoll { get; init; } = new();

    /// <summary>KVM_HC_KICK_CPU → <c>kvm_sched_yield</c> on the kicked VCPU (5.3+; decision 0043).</summary>
    public bool KickYield { get; init; }

    /// <summary><c>kvm_sched_yield</c>'s <c>single_task_running()</c> bail-out (5.14+; decision 0043).</summary>
    public bool SchedYieldSingleTaskBail { get; init; }

    /// <summary>The steal-time <c>preempted</c> byte is also set when the VCPU blocks (4.10 to 5.18; decision 0081).</summary>
    public bool StealTimePreemptedOnBlock { get; init; }
}

/// <summary>The <c>kvm.version</c> presets: each release switches on exactly what it had (as far as verified).</summary>
public static class KvmVersions
{
    // 3.18 vmx.c: ple_window_grow = 2, ple_window_shrink = 0, ple_window_max = INT_MAX / 2, and the
    // window clamped to ple_window_actual_max before each grow (read in a 4.1x-era vmx.c; decision 0069).
    private static readonly PleWindowPolicy Vmx318 = new() { Dynamic = true, Grow = 2, Shrink = 0, Max = int.MaxValue / 2, ClampBeforeGrow = true };

    // 4.18 (common x86.h helpers): KVM_VMX_DEFAULT_PLE_WINDOW_MAX = UINT_MAX, clamped after the grow.
    private static readonly PleWindowPolicy Vmx418 = Vmx318 with { Max = uint.MaxValue, ClampBeforeGrow = false };

    // 4.18 svm.c: pause_filter_count_grow = 2, _shrink = 0, _max = KVM_SVM_DEFAULT_PLE_WINDOW_MAX (USHRT_MAX).
    private static readonly PleWindowPolicy Svm418 = new() { Dynamic = true, Grow = 2, Shrink = 0, Max = ushort.MaxValue };

    // 4.0 kvm_vcpu_block: fixed halt_poll_ns, default 0 (assumption: off by default; not read at the v4.0 tag).
    private static readonly HaltPollSettings Poll40 = new() { HaltPollNs = 0, Adaptive = false };

    // 4.3 dynamic halt-polling: per-VCPU halt_poll_ns, grow 2 (from 10 µs), shrink 0 (reset); x86
    // default 400000 ns (assumption: not read at a 4.3 or 4.14 tag; 4.15 already has 200000, below).
    private static readonly HaltPollSettings Poll43 = new() { HaltPollNs = 400_000, Adaptive = true, Grow = 2, Shrink = 0, GrowStart = 10_000 };

    // x86 KVM_HALT_POLL_NS_DEFAULT 200000: read in a 4.15-era arch/x86/include/asm/kvm_host.h (it has
    // user_fpu, not yet UMIP emulation), in a 4.19 tree's and in 5.x/6.x copies; shrink still 0
    // (decision 0097: the 4.15, 4.19 and 5.3 presets had 400000 until the twenty-fourth session).
    private static readonly HaltPollSettings Poll415 = Poll43 with { HaltPollNs = 200_000 };

    // 5.15: shrink_halt_poll_ns resets a poll below grow_start to 0 ("KVM: do not shrink halt_poll_ns
    // below grow_start", 2021); shrink still 0 until 6.11, so 6.1 polls as 5.10 does.
    private static readonly HaltPollSettings Poll515 = Poll415 with { ShrinkFloor = true };

    // 6.11 kvm_main.c: halt_poll_ns_shrink = 2 (aeb1b22a3ac8, "KVM: Enable halt polling shrink parameter
    // by default", in the KVM generic pull for 6.11; decision 0097); 6.12 listing: x86 default 200000,
    // grow 2, grow_start 10000.
    private static readonly HaltPollSettings Poll611 = Poll515 with { Shrink = 2 };

    // 5.8 (da4ad88cab58, "kvm: Replace vcpu->swait with rcuwait"): the walk's blocking test reads the
    // rcuwait, which stays set from kvm_vcpu_block's prepare_to_rcuwait until the woken thread runs
    // finish_rcuwait; a VCPU woken but not yet run is skipped unless vcpu_dy_runnable (decision 0097).
    // The first preset at or after 5.8 is 5.10; the directed-yield-6.13 handler has it in its own preset.
    private static readonly DirectedYieldOverrides Rcuwait58 = new() { BlockingUntilRun = true };

    // 5.13 kvm_vcpu_on_spin: the user-mode skip tests kvm_arch_dy_has_pending_interrupt (52acd22faa1a).
    private static readonly DirectedYieldOverrides Boost513 = Rcuwait58 with { BoostPendingInterruptUserMode = true };

    // StealTimePreemptedOnBlock: kvm_arch_vcpu_put writes the steal-time preempted byte at every put
    // from 4.10 (the byte's introduction) until 5.19-rc2 (54aa83c90198); the presets from 4.14 to 5.13
    // carry it (decision 0081). Before 4.10 there is no byte for a guest to read.

    /// <summary>The releases, oldest first.</summary>
    public static readonly KvmVersion[] All =
    [
        new() { Version = "2.6.39", PleHandler = "directed-yield-2011" },
        new() { Version = "3.6", PleHandler = "directed-yield-3.6" },
        new() { Version = "3.7", PleHandler = "directed-yield-3.7" },
        new() { Version = "3.9", PleHandler = "directed-yield-3.9" },
        new() { Version = "3.10", PleHandler = "directed-yield-3.10" },
        new() { Version = "3.18", PleHandler = "directed-yield-3.17", IntelWindow = Vmx318 },
        new() { Version = "4.0", PleHandler = "directed-yield-3.17", IntelWindow = Vmx318, HaltPoll = Poll40 },
        new() { Version = "4.2", PleHandler = "directed-yield-3.17", IntelWindow = Vmx318, HaltPoll = Poll40 },
        new() { Version = "4.3", PleHandler = "directed-yield-3.17", IntelWindow = Vmx318, HaltPoll = Poll43 },
        new() { Version = "4.14", PleHandler = "directed-yield-4.14", IntelWindow = Vmx318, HaltPoll = Poll43, StealTimePreemptedOnBlock = true },
        new() { Version = "4.15", PleHandler = "directed-yield-4.14", IntelWindow = Vmx318, HaltPoll = Poll415, StealTimePreemptedOnBlock = true },
        new() { Version = "4.19", PleHandler = "directed-yield-4.14", IntelWindow = Vmx418, AmdWindow = Svm418, PauseFilterThresh = 128, HaltPoll = Poll415, StealTimePreemptedOnBlock = true },
        // 5.3: 266e85a5ec91 (posted and applied 24 July 2019, after 5.2 was released) adds the kick
        // yield and the vcpu->ready test in kvm_sched_yield; 5.14 adds the single_task_running() bail-out.
        new() { Version = "5.3", PleHandler = "directed-yield-5.3", IntelWindow = Vmx418, AmdWindow = Svm418, PauseFilterThresh = 128, HaltPoll = Poll415, KickYield = true, StealTimePreemptedOnBlock = true },
        new() { Version = "5.10", PleHandler = "directed-yield-5.3", DirectedYield = Rcuwait58, IntelWindow = Vmx418, AmdWindow = Svm418, PauseFilterThresh = 128, HaltPoll = Poll415, KickYield = true, StealTimePreemptedOnBlock = true },
        // 5.13: 52acd22faa1a ("KVM: Boost vCPU candidate in user mode which is delivering interrupt",
        // in the 5.13 merge-window pull; decision 0060): a preempted user-mode candidate with a pending
        // posted interrupt is not skipped. It matters only with kvm.apicv.
        new() { Version = "5.13", PleHandler = "directed-yield-5.3", DirectedYield = Boost513, IntelWindow = Vmx418, AmdWindow = Svm418, PauseFilterThresh = 128, HaltPoll = Poll415, KickYield = true, StealTimePreemptedOnBlock = true },
        new() { Version = "6.1", PleHandler = "directed-yield-5.3", DirectedYield = Boost513, IntelWindow = Vmx418, AmdWindow = Svm418, PauseFilterThresh = 128, HaltPoll = Poll515, KickYield = true, SchedYieldSingleTaskBail = true },
        new() { Version = "6.12", PleHandler = "directed-yield-5.3", DirectedYield = Boost513, IntelWindow = Vmx418, AmdWindow = Svm418, PauseFilterThresh = 128, HaltPoll = Poll611, KickYield = true, SchedYieldSingleTaskBail = true },
        new() { Version = "6.13", PleHandler = "directed-yield-6.13", DirectedYield = Boost513, IntelWindow = Vmx418, AmdWindow = Svm418, PauseFilterThresh = 128, HaltPoll = Poll611, KickYield = true, SchedYieldSingleTaskBail = true },
    ];

    /// <summary>The version names, for the scenario key's choices.</summary>
    public static string[] Names
    {
        get
        {
            var names = new string[All.Length];
            for (int i = 0; i < All.Length; i++)
                names[i] = All[i].Version;
            return names;
        }
    }

    /// <summary>The entry for <paramref name="version"/>; throws for an unknown one.</summary>
    public static KvmVersion Get(string version)
    {
        foreach (var v in All)
        {
            if (v.Version == version)
                return v;
        }
        throw new ArgumentException($"unknown KVM version '{version}' (valid: {string.Join(", ", Names)})", nameof(version));
    }

    /// <summary>
    /// <paramref name="baseSettings"/> switched to <paramref name="version"/>: the handler, the
    /// directed-yield switches (the preset's, under any already in <paramref name="baseSettings"/>),
    /// the window policy of <paramref name="baseSettings"/>'s vendor, the threshold and halt polling.
    /// </summary>
    public static KvmSettings Apply(string version, KvmSettings baseSettings)
    {
        var v = Get(version);
        return baseSettings with
        {
            Version = v.Version,
            PleHandler = v.PleHandler,
            DirectedYield = baseSettings.DirectedYield.Over(v.DirectedYield),
            PleWindowPolicy = baseSettings.Vendor == CpuVendor.Amd ? v.AmdWindow : v.IntelWindow,
            PauseFilterThresh = v.PauseFilterThresh,
            HaltPoll = v.HaltPoll,
            KickYield = v.KickYield,
            SchedYieldSingleTaskBail = v.SchedYieldSingleTaskBail,
            StealTimePreemptedOnBlock = v.StealTimePreemptedOnBlock,
        };
    }
}

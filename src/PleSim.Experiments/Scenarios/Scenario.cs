using PleSim.Engine;

namespace PleSim.Experiments.Scenarios;

/// <summary>
/// A scenario file, read and checked: what to simulate, for how long, how many runs. Immutable.
/// Model sections are typed by the layers that fill them.
/// </summary>
public sealed record Scenario
{
    /// <summary>The kinds of scenario the runner knows.</summary>
    public static readonly string[] KnownKinds = ["engine-hold", "system"];

    public required string Name { get; init; }
    public required string Description { get; init; }
    public required string Kind { get; init; }
    public required ulong Seed { get; init; }
    public required int Runs { get; init; }
    public required SimDuration Duration { get; init; }
    public required SimDuration Warmup { get; init; }

    /// <summary>Metrics to show in tables and summaries (all are still in the JSON), in this order; empty = the model's defaults.</summary>
    public IReadOnlyList<string> Metrics { get; init; } = [];

    public EngineHoldSettings? EngineHold { get; init; }

    /// <summary>The physical host (kind <c>system</c>).</summary>
    public HostSettings Host { get; init; } = new();

    /// <summary>KVM: PLE and the PAUSE-exit handler.</summary>
    public PleSim.Hypervisor.KvmSettings Kvm { get; init; } = new();

    public IReadOnlyList<VmSettings> Vms { get; init; } = [];

    /// <summary>The metric compared with a reference (e.g. the seed's table), if the scenario names one.</summary>
    public string? CompareMetric { get; init; }

    /// <summary>The file it came from, as given.</summary>
    public string SourceFile { get; init; } = "";

    /// <summary>The text of the file, as read (before overrides).</summary>
    public string SourceText { get; init; } = "";

    /// <summary>The file's <c>sweep:</c> section (empty when it has none); not part of <see cref="Digest"/>.</summary>
    public Sweeps.SweepSpec Sweep { get; init; } = Sweeps.SweepSpec.Empty;

    /// <summary>The file's <c>reproduce.basis</c> rules: how each reproduced cell relates to the published value; not part of <see cref="Digest"/>.</summary>
    public IReadOnlyList<BasisRule> ReproduceBasis { get; init; } = [];

    /// <summary>The file's <c>unknowns:</c> section: set-up values the publication does not state; not part of <see cref="Digest"/>.</summary>
    public IReadOnlyList<Unknown> Unknowns { get; init; } = [];

    /// <summary>The overrides applied on top of the file (<c>--set</c>, sweep points).</summary>
    public IReadOnlyList<Override> Overrides { get; init; } = [];

    /// <summary>SHA-256 of the canonical form of the file with its overrides, hex; equal digests mean equal inputs.</summary>
    public string Digest { get; init; } = "";

    /// <summary>The canonical text behind <see cref="Digest"/> (sorted keys, one value per line).</summary>
    public string CanonicalText { get; init; } = "";

    /// <summary>Key path → source of the value, as the file states it.</summary>
    public IReadOnlyDictionary<string, string> Provenance { get; init; } = new Dictionary<string, string>();

    /// <summary>Every value the binder read, after overrides and presets, with defaults filled in, in reading order (<c>plesim show</c>).</summary>
    public IReadOnlyList<EffectiveSetting> Effective { get; init; } = [];

    /// <summary>The seed of run <paramref name="index"/> (0-based): runs use consecutive seeds from <see cref="Seed"/>.</summary>
    public ulong SeedOfRun(int index) => Seed + (ulong)index;
}

/// <summary>Settings of the <c>engine-hold</c> kind: the classic hold model on the bare engine.</summary>
public sealed record EngineHoldSettings(int Population, SimDuration MeanDelay, bool CancelHalf);

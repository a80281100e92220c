using PleSim.Experiments.Scenarios;
using PleSim.Guest;
using PleSim.Hypervisor;

namespace PleSim.Experiments.Compare;

/// <summary>
/// A full stack of one era: host scheduler, KVM release and guest kernel (decision 0028). The
/// guest kernel's lock and paravirtual switches are set explicitly from its preset, so that a
/// scenario file's own <c>guest.spinlock</c> does not survive into a later stack.
/// </summary>
public sealed record StackPreset(string Name, string HostScheduler, string KvmVersion, string GuestKernel, string Note);

/// <summary>One policy of a comparison: its name as given, what kind it is, and the <c>--set</c> bundle it stands for.</summary>
public sealed record PolicySpec(string Name, string Kind, IReadOnlyList<Override> Overrides)
{
    public string Describe() => string.Join(" ", Overrides.Select(o => o.ToString()));
}

/// <summary>
/// The policies <c>plesim compare --policies</c> accepts, each turned into <c>--set</c> assignments
/// in this one place: a PAUSE handler (<c>kvm.ple_handler</c>, built-in or <c>plugin:NAME</c>), a
/// guest lock kind (<c>guest.spinlock</c> of every VM, built-in or <c>plugin:NAME</c> of a guest-lock
/// plug-in; a name both kinds of plug-in use is the PAUSE handler), a host scheduler (<c>host.scheduler</c>), a
/// co-scheduling comparator (<c>gang</c>, <c>relaxed-cosched</c>: <c>host.coscheduling</c>), a
/// KVM release (<c>kvm-VERSION</c>), a guest kernel (<c>guest-VERSION</c>), a stack preset
/// (<see cref="Stacks"/>), a raw <c>key=value</c>, or several joined with '+'
/// (<c>eevdf-6.6+oracle</c>). A later part may override a key of an earlier stack preset or
/// guest kernel (<c>stack-2014+ticket</c>); any other key set twice with different values is refused.
/// </summary>
public static class ComparePolicies
{
    /// <summary>
    /// The stack presets, oldest first. The stacks between 2011 and EEVDF run <c>cfs-4.19</c>: CFS
    /// with the wake-up and buddy rules of 4.19 (the next-buddy hints date from 3.0), and 2.6.39's
    /// load tracking and balancing (decision 0049).
    /// </summary>
    public static readonly IReadOnlyList<StackPreset> Stacks =
    [
        new("stack-2011", "cfs-2.6.39", "2.6.39", "2.6.39", "the seed: CFS 2.6.39, KVM 2.6.39 directed yield, ticket-lock guest"),
        new("stack-2014", "cfs-4.19", "3.18", "3.12", "KVM 3.18 (dynamic PLE window, 3.10 candidate rules), PV ticket-lock guest 3.12; host CFS with 4.19's wake-up and buddy rules"),
        new("stack-2019", "cfs-4.19", "4.19", "4.16", "CFS 4.19 host (wake-up and buddy rules), KVM 4.19 (kernel-mode candidates, halt polling), PV qspinlock + PV TLB flush guest 4.16"),
        new("stack-2024", "eevdf-6.6", "6.1", "6.1", "EEVDF 6.6 host, KVM 6.1 (ready candidates, halt polling reset to 0 after a long halt; the shrink by 2 came in 6.11), PV qspinlock + PV TLB flush + PV sched yield guest 6.1"),
        new("stack-today", "eevdf-6.18", "6.13", "6.1", "EEVDF 6.18.2+ host (vprot slice protection, reschedule when unprotected; yield forfeits the rest of the request), KVM 6.13 (single-loop candidate walk), guest 6.1 (the latest guest preset)"),
    ];

    /// <summary>The guest lock kinds (values of <c>guest.spinlock</c>).</summary>
    public static readonly string[] LockKinds = ["ticket", "test-and-set", "pv-ticket", "qspinlock", "pv-qspinlock", "preemptable-ticket"];

    /// <summary>The co-scheduling comparators (decision 0040) by policy name, and the <c>host.coscheduling</c> value each sets.</summary>
    public static readonly (string Name, string Value)[] Coscheduling = [("gang", "gang"), ("relaxed-cosched", "relaxed")];

    /// <summary>Every single-word policy name, for error messages.</summary>
    public static IEnumerable<string> KnownNames =>
        Stacks.Select(s => s.Name)
            .Concat(PleHandlers.Names)
            .Concat(PluginRegistry.HandlerNames.Select(n => PluginRegistry.Prefix + n))
            .Concat(LockKinds)
            .Concat(HostSettings.Schedulers)
            .Concat(Coscheduling.Select(c => c.Name))
            .Concat(KvmVersions.Names.Select(v => "kvm-" + v))
            .Concat(GuestKernelPresets.Versions.Select(v => "guest-" + v));

    /// <summary>Turns <paramref name="policy"/> into its <c>--set</c> bundle for a scenario with <paramref name="vmCount"/> VMs; throws <see cref="ArgumentException"/> with the valid names.</summary>
    public static PolicySpec Resolve(string policy, int vmCount)
    {
        policy = policy.Trim();
        if (policy.Length == 0)
            throw new ArgumentException("an empty policy name");
        var parts = policy.Split('+', StringSplitOptions.TrimEntries);
        var overrides = new List<Override>();
        var kinds = new List<string>();
        var setBy = new Dictionary<string, (string Value, string Part, string Kind)>(StringComparer.Ordinal);
        foreach (var part in parts)
        {
            var (kind, sets) = ResolveOne(part, vmCount);
            foreach (var o in sets)
            {
                if (setBy.TryGetValue(o.Path, out var earlier) && earlier.Value != o.Value && Breadth(earlier.Kind) <= Breadth(kind))
                {
                    throw new ArgumentException($"policy '{policy}' sets {o.Path} twice: '{earlier.Part}' sets {o.Path}={earlier.Value} and '{part}' sets {o.Path}={o.Value}. " +
                        "Only a later narrower part may override a key of an earlier stack preset or guest-VERSION (e.g. stack-2014+ticket, stack-today+host.scheduler=eevdf-6.6); " +
                        "otherwise choose one value or compare the two as separate policies (',')");
                }
                setBy[o.Path] = (o.Value, part, kind);
            }
            kinds.Add(kind);
            overrides.AddRange(sets.Select(o => o with { Origin = $"--policies {policy}: {o}", Source = $"plesim compare policy '{policy}'" }));
        }
        return new PolicySpec(policy, string.Join("+", kinds), overrides);
    }

    /// <summary>
    /// How many keys a part of a policy bundles: a stack preset (host, KVM and guest) is broader
    /// than a guest kernel (its lock and PV switches), which is broader than any single-key part.
    /// A later part may override a key of an earlier, broader part; any other key set twice with
    /// different values is a contradiction.
    /// </summary>
    private static int Breadth(string kind) => kind switch
    {
        "stack" => 2,
        "guest_kernel" => 1,
        _ => 0,
    };

    private static (string Kind, List<Override> Sets) ResolveOne(string part, int vmCount)
    {
        if (part.Contains('=', StringComparison.Ordinal))
        {
            try
            {
                return ("set", [Override.Parse(part)]);
            }
            catch (FormatException e)
            {
                throw new ArgumentException(e.Message, e);
            }
        }
        if (Stacks.FirstOrDefault(s => s.Name == part) is { } stack)
        {
            var sets = new List<Override>
            {
                new("host.scheduler", stack.HostScheduler),
                new("kvm.version", stack.KvmVersion),
            };
            sets.AddRange(GuestKernel(stack.GuestKernel, vmCount));
            return ("stack", sets);
        }
        if (PleHandlers.IsKnown(part))
            return ("ple_handler", [new("kvm.ple_handler", part)]);
        if (part.StartsWith(PluginRegistry.Prefix, StringComparison.Ordinal) && PluginRegistry.HasGuestLock(part[PluginRegistry.Prefix.Length..]))
            return ("guest_lock", [.. Enumerable.Range(0, vmCount).Select(i => new Override($"vms[{i}].guest.spinlock", part))]); // a guest-lock plug-in (decision 0041)
        if (part.StartsWith(PluginRegistry.Prefix, StringComparison.Ordinal))
            throw new ArgumentException($"policy '{part}': no plug-in PAUSE handler or guest lock called '{part[PluginRegistry.Prefix.Length..]}' is loaded (pass --plugin PATH.dll)");
        if (Array.IndexOf(LockKinds, part) >= 0)
            return ("guest_lock", [.. Enumerable.Range(0, vmCount).Select(i => new Override($"vms[{i}].guest.spinlock", part))]);
        foreach (var (name, value) in Coscheduling)
        {
            if (part == name)
                return ("coscheduling", [new("host.coscheduling", value)]);
        }
        if (HostSettings.Schedulers.Contains(part))
            return ("host_scheduler", [new("host.scheduler", part)]);
        if (part.StartsWith("kvm-", StringComparison.Ordinal) && KvmVersions.Names.Contains(part[4..]))
            return ("kvm_version", [new("kvm.version", part[4..])]);
        if (part.StartsWith("guest-", StringComparison.Ordinal) && GuestKernelPresets.Versions.Contains(part[6..]))
            return ("guest_kernel", GuestKernel(part[6..], vmCount));
        var guess = Suggestions.Closest(part, KnownNames);
        throw new ArgumentException($"'{part}' is not a policy{(guess is null ? "" : $"; did you mean '{guess}'?")} " +
            $"(a PAUSE handler, plugin:NAME, a guest lock kind, a host scheduler, gang or relaxed-cosched, kvm-VERSION, guest-VERSION, a stack preset ({string.Join(", ", Stacks.Select(s => s.Name))}), key=value, or several joined with '+')");
    }

    /// <summary><c>guest.kernel</c> of every VM, with the preset's lock and PV switches set explicitly.</summary>
    private static List<Override> GuestKernel(string version, int vmCount)
    {
        var g = GuestKernelPresets.Apply(new GuestSettings(), version);
        var sets = new List<Override>();
        for (int i = 0; i < vmCount; i++)
        {
            sets.Add(new($"vms[{i}].guest.kernel", version));
            sets.Add(new($"vms[{i}].guest.spinlock", SystemSections.SpinlockName(g.Spinlock)));
            sets.Add(new($"vms[{i}].guest.pv_tlb_flush", g.PvTlbFlush ? "true" : "false"));
            sets.Add(new($"vms[{i}].guest.pv_sched_yield", g.PvSchedYield ? "true" : "false"));
        }
        return sets;
    }
}

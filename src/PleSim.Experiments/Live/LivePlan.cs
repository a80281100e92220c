using PleSim.Experiments.Scenarios;

namespace PleSim.Experiments.Live;

/// <summary>
/// The live tasks of a host-only scenario, checked against what a real machine can do from
/// user space. Built from the scenario the model runs, so both sides see the same tasks, nice
/// levels and affinities (decision 0030).
/// </summary>
public sealed record LivePlan
{
    public required IReadOnlyList<LiveTaskSpec> Tasks { get; init; }

    /// <summary>The scenario's CPUs (0 .. Cpus−1 of this machine are used).</summary>
    public required int Cpus { get; init; }

    /// <summary>
    /// Maps the scenario's host tasks to live tasks, or throws <see cref="LiveException"/> saying
    /// what cannot run live: VMs, cgroups, background threads, <c>yield_to</c>, more CPUs than
    /// <paramref name="machineCpus"/>, task kinds without a live counterpart.
    /// </summary>
    public static LivePlan From(Scenario scenario, int machineCpus)
    {
        string where = scenario.SourceFile.Length > 0 ? scenario.SourceFile + ": " : "";
        if (scenario.Kind != "system")
            throw new LiveException($"{where}plesim live runs host-only scenarios (kind: system with host.tasks); this one is kind '{scenario.Kind}'");
        if (scenario.Vms.Count > 0)
        {
            throw new LiveException($"{where}plesim live runs host-only scenarios, and this one has {scenario.Vms.Count} VM(s) " +
                "(a guest kernel, VCPUs and PLE exits cannot be reproduced by user-space threads); use a scenario under scenarios/host/ or scenarios/live/");
        }
        var h = scenario.Host;
        if (h.Tasks.Count == 0)
            throw new LiveException($"{where}the scenario has no host.tasks: nothing to run live");
        if (h.Cgroups.Count > 0)
        {
            throw new LiveException($"{where}host.cgroups cannot be reproduced live (creating cpu cgroups needs privileges, and this session's tasks " +
                "already share one autogroup); remove the cgroups or run the model alone with plesim run");
        }
        if (h.Background.Threads.Count > 0)
            throw new LiveException($"{where}host.background (modelled kernel threads) cannot be reproduced live; set host.background.enabled=false");
        if (h.Cpus > machineCpus)
            throw new LiveException($"{where}the scenario has host.cpus {h.Cpus}, but this machine has {machineCpus} CPU(s); plesim live needs at least as many");
        if (h.Cpus > 64)
            throw new LiveException($"{where}plesim live supports at most 64 CPUs");
        ulong all = h.Cpus >= 64 ? ulong.MaxValue : (1UL << h.Cpus) - 1;
        var tasks = new List<LiveTaskSpec>();
        foreach (var ts in h.Tasks)
        {
            if (ts.Cgroup != "/")
                throw new LiveException($"{where}task '{ts.Name}' is in cgroup {ts.Cgroup}: cgroups cannot be reproduced live");
            if (ts.Nice < 0 && !Environment.IsPrivilegedProcess)
                throw new LiveException($"{where}task '{ts.Name}' has nice {ts.Nice}: a negative nice level needs CAP_SYS_NICE (run as root) or a scenario with nice ≥ 0");
            ulong mask = ts.Affinity?.Mask.Word(0) ?? all; // live hosts have at most 64 CPUs (checked above)
            ulong later = ts.LaterAffinity?.Mask.Word(0) ?? all;
            if ((mask & ~all) != 0 || (later & ~all) != 0)
                throw new LiveException($"{where}task '{ts.Name}': its affinity names a CPU beyond the scenario's {h.Cpus}");
            var kind = ts.Kind switch
            {
                "hog" => LiveKind.Hog,
                "periodic" => LiveKind.Periodic,
                "pingpong" => LiveKind.PingPong,
                "yielder" => LiveKind.Yielder,
                _ => throw new LiveException($"{where}task '{ts.Name}' is of kind '{ts.Kind}', which has no live counterpart (live: hog, periodic, pingpong, yielder)"),
            };
            if (kind == LiveKind.Yielder && ts.YieldTo is not null)
            {
                throw new LiveException($"{where}task '{ts.Name}' uses yield_to: '{ts.YieldTo}'; yield_to is a kernel-internal call (KVM's directed yield) " +
                    "with no system call, so it cannot run live; sched_yield (no yield_to) can");
            }
            var template = new LiveTaskSpec
            {
                Name = ts.Name,
                Kind = kind,
                Nice = ts.Nice,
                AffinityMask = mask,
                RunNs = ts.Run.Ns,
                SleepNs = ts.Sleep.Ns,
                Jitter = ts.Jitter,
                WorkNs = ts.Work.Ns,
                StartAtNs = ts.StartAt.Ns,
                SetAffinityAtNs = ts.SetAffinityAt?.Ns ?? -1,
                LaterAffinityMask = later,
            };
            for (int i = 0; i < ts.Count; i++)
            {
                string name = ts.Count == 1 ? ts.Name : $"{ts.Name}{i}";
                if (kind == LiveKind.PingPong)
                {
                    int a = tasks.Count;
                    tasks.Add(template with { Name = name + "a", Partner = a + 1, StartsWithBall = true });
                    tasks.Add(template with { Name = name + "b", Partner = a, StartsWithBall = false });
                }
                else
                {
                    tasks.Add(template with { Name = name });
                }
            }
        }
        return new LivePlan { Tasks = tasks, Cpus = h.Cpus };
    }

    /// <summary>The CPUs of a mask in the kernel's list format (<c>0-1</c>, <c>0,2</c>).</summary>
    public static string CpuList(ulong mask)
    {
        var parts = new List<string>();
        int cpu = 0;
        while (mask >> cpu != 0)
        {
            if ((mask & (1UL << cpu)) == 0)
            {
                cpu++;
                continue;
            }
            int lo = cpu;
            while (cpu < 64 && (mask & (1UL << cpu)) != 0)
                cpu++;
            parts.Add(cpu - 1 == lo ? $"{lo}" : $"{lo}-{cpu - 1}");
            if (cpu >= 64)
                break;
        }
        return string.Join(',', parts);
    }
}

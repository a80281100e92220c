namespace PleSim.Experiments.Scenarios;

/// <summary>
/// Reads the sections of a <c>system</c> scenario: <c>host</c>, <c>kvm</c>, <c>vms</c>,
/// <c>workloads</c>. Filled in by the host, hypervisor and guest layers.
/// </summary>
internal static class SystemSections
{
    public static Scenario Read(MapReader root, Scenario scenario)
    {
        foreach (var section in new[] { "host", "kvm", "vms", "workloads" })
        {
            if (root.Has(section) && scenario.Kind is not ("system" or ""))
                root.Context.Error(null, section, $"the '{section}' section belongs to kind 'system', not '{scenario.Kind}'");
        }
        if (scenario.Kind == "system")
            root.Context.Error(null, "kind", "kind 'system' (host, VMs and workloads) is not available yet; use 'engine-hold'");
        return scenario;
    }
}

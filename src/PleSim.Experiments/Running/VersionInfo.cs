using System.Reflection;
using System.Runtime.InteropServices;

namespace PleSim.Experiments.Running;

/// <summary>What produced a result: PleSim's version (with its commit) and the machine it ran on.</summary>
public static class VersionInfo
{
    /// <summary>The informational version, e.g. <c>0.1.0+611c682…</c> (the build's commit).</summary>
    public static string Text { get; } =
        typeof(VersionInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>OS, runtime, architecture and core count (results do not depend on them; timings do).</summary>
    public static string Environment { get; } =
        $"{RuntimeInformation.OSDescription}; {RuntimeInformation.FrameworkDescription}; {RuntimeInformation.ProcessArchitecture}; {System.Environment.ProcessorCount} cores";
}

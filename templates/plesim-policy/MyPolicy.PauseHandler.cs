using PleSim.Engine;
using PleSim.Plugins;

namespace MyPolicy;

/// <summary>
/// A PAUSE-exit handler plug-in. A scenario selects it with <c>kvm.ple_handler: plugin:mypolicy-plugin-name</c>
/// (or <c>--set kvm.ple_handler=plugin:mypolicy-plugin-name</c>); the run loads it with
/// <c>--plugin path/to/MyPolicy.dll</c>.
/// <para>
/// As written it boosts the VCPUs KVM sees as preempted, starting after the VM's
/// <c>last_boosted_vcpu</c> (round robin, as the 2011 directed yield walks), and re-enters the
/// guest when none is. Change <see cref="OnPauseExit"/> to try your own policy.
/// </para>
/// Rules: one instance per run (keep per-run state in fields); randomness only from the stream
/// given to <see cref="Initialize"/>; no clock, threads or static mutable state; no allocation per
/// call. You see only what KVM can read (<see cref="VcpuState"/>), never who holds a lock.
/// </summary>
public sealed class MyPolicy : IPauseHandlerPlugin
{
    private RandomStream _random = null!;

    public string Name => "mypolicy-plugin-name";

    public void Initialize(RandomStream random) => _random = random;

    public PauseDecision OnPauseExit(IPauseExit exit, Span<int> order)
    {
        int count = 0;
        int n = exit.VcpuCount;
        for (int k = 1; k <= n; k++)
        {
            int i = (exit.LastBoostedVcpu + k) % n;
            if (i == exit.SpinnerIndex)
                continue;
            var v = exit.Vcpu(i);
            if (v.Preempted && !v.WaitQueueActive && v.HasPid)
                order[count++] = i;
        }
        // The host tries yield_to on order[0], order[1], … until one succeeds, paying the
        // run-queue locks of each; with none, the fallback applies.
        return new PauseDecision(count, PauseFallback.ReEnter);
    }
}

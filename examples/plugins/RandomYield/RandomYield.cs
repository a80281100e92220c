using PleSim.Engine;
using PleSim.Plugins;

namespace RandomYield;

/// <summary>
/// A PAUSE handler that boosts a preempted VCPU chosen at random (a "random directed yield"): it
/// lists every VCPU that KVM sees as preempted, not halted and started, shuffles them with the
/// run's random stream, and lets the host try yield_to on each in that order. Nobody preempted:
/// re-enter the guest. Deterministic: the only randomness is the stream the host hands over.
/// </summary>
public sealed class RandomPreemptedYield : IPauseHandlerPlugin
{
    private RandomStream _random = null!;

    public string Name => "random-preempted";

    public void Initialize(RandomStream random) => _random = random;

    public PauseDecision OnPauseExit(IPauseExit exit, Span<int> order)
    {
        int count = 0;
        for (int i = 0; i < exit.VcpuCount; i++)
        {
            if (i == exit.SpinnerIndex)
                continue;
            var v = exit.Vcpu(i);
            if (v.Preempted && !v.WaitQueueActive && v.HasPid)
                order[count++] = i;
        }
        // Fisher-Yates shuffle in place (no allocation per exit).
        for (int i = count - 1; i > 0; i--)
        {
            int j = _random.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return new PauseDecision(count, PauseFallback.ReEnter);
    }
}

/// <summary>
/// A candidate filter for the built-in directed-yield walks: keeps only candidates that were
/// preempted in guest kernel mode (what 4.14's yield_to_kernel_mode does), or are not preempted.
/// </summary>
public sealed class KernelModeOnly : IYieldCandidateFilter
{
    public string Name => "kernel-mode-only";

    public void Initialize(RandomStream random)
    {
    }

    public bool Accept(IPauseExit exit, in VcpuState candidate) => !candidate.Preempted || candidate.PreemptedInKernel;
}

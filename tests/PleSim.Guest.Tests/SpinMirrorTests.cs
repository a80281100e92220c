using PleSim.Engine;
using PleSim.Hypervisor;

namespace PleSim.Guest.Tests;

/// <summary>
/// The VM's copy of each spinning VCPU's target and cause (<see cref="Vm.SpinsOn"/>), which a
/// lock's hand-over reads instead of every waiter's Vcpu, must follow the VCPU's own state.
/// </summary>
public class SpinMirrorTests
{
    /// <summary>Checked after every event (GuestKit enables invariants at every event).</summary>
    private sealed class MirrorCheck(Vm vm, GuestSpinLock lk, GuestSpinLock other) : IInvariant
    {
        public HashSet<SpinCause> Seen { get; } = [];
        public long SpinningChecks { get; private set; }

        public string Name => "spin mirror";

        public string? Check()
        {
            for (int i = 0; i < vm.Vcpus.Count; i++)
            {
                var v = vm.Vcpus[i];
                if (!v.Spinning)
                {
                    if (vm.SpinsOn(i, lk, v.SpinCause))
                        return $"VCPU {i} does not spin, but the VM's copy says it spins on {lk.Name}";
                    continue;
                }
                SpinningChecks++;
                Seen.Add(v.SpinCause);
                if (!vm.SpinsOn(i, lk, v.SpinCause))
                    return $"VCPU {i} spins on {lk.Name} with {v.SpinCause}; the VM's copy differs";
                var different = v.SpinCause == SpinCause.Contention ? SpinCause.HolderPreempted : SpinCause.Contention;
                if (vm.SpinsOn(i, other, v.SpinCause) || vm.SpinsOn(i, lk, different))
                    return $"VCPU {i}: the VM's copy matches another target or cause";
            }
            return null;
        }
    }

    [Fact]
    public void The_VMs_copy_of_a_spinners_target_and_cause_follows_the_VCPU_at_every_event()
    {
        // Four VCPUs on two CPUs, PLE off: holders and waiters are preempted by their CPU's other
        // VCPU, so causes change in the middle of spins (holder or next waiter preempted, contention).
        var kit = new GuestKit(2, 4, handler: "none");
        var lk = kit.Kernel.NewLock("L");
        var other = kit.Kernel.NewLock("M");
        var check = new MirrorCheck(kit.Vm, lk, other);
        kit.Sim.Invariants.Register(check);
        kit.RunLockRoundsTwoPerCpu(lk, 60_000);
        Assert.True(check.SpinningChecks > 1000, $"{check.SpinningChecks} checks of a spinning VCPU");
        Assert.True(check.Seen.Count >= 2, $"causes seen: {string.Join(", ", check.Seen)}");
    }
}

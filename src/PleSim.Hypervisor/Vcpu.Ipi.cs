namespace PleSim.Hypervisor;

public sealed partial class Vcpu
{
    /// <summary>
    /// <c>vcpu->arch.ipi_context</c> of the unmerged IPI-aware directed yield (series v2 patch 6;
    /// decision 0052), reset at creation. Used only with <see cref="KvmSettings.IpiAwareYield"/>.
    /// </summary>
    public IpiContext Ipi = IpiContext.Reset;
}

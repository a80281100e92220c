using PleSim.Guest;

namespace PleSim.Workloads;

/// <summary>
/// A thread program that goes through the guest's memory-management paths: page faults, mmap,
/// munmap, madvise(MADV_DONTNEED), exit_mmap — each as the 2.6.39 kernel orders its locks, the
/// rwsem and zone decisions taken when the thread gets there (<see cref="IActionSink"/>).
/// <typeparamref name="TStep"/> names the program's own steps (see <see cref="ScriptedProgram{TStep}"/>).
/// </summary>
public abstract class MmProgram<TStep> : ScriptedProgram<TStep>, IActionSink
    where TStep : unmanaged, Enum
{
    /// <summary>This task's wait-list entry for mmap_sem.</summary>
    public RwSemWaiter? RwSemWaiter { get; init; }

    void IActionSink.EmitNow(params ReadOnlySpan<GuestAction> actions) => EmitNow(actions);

    /// <summary>
    /// Where the mm paths below put their actions: after everything planned (<c>Emit</c>) unless a
    /// program that collects a step's actions before inserting them (dedup's threads) says otherwise.
    /// </summary>
    protected virtual void EmitMm(in GuestAction a) => Emit(a);

    /// <summary>
    /// One anonymous page fault (2.6.39 arch/x86/mm/fault.c <c>do_page_fault</c>: down_read(mmap_sem),
    /// find_vma, mm/memory.c <c>handle_mm_fault</c> → <c>do_anonymous_page</c>: alloc_zeroed_user_highpage
    /// (buddy allocator + clear_page) outside the PTE lock, then <c>pte_offset_map_lock</c>, set_pte_at,
    /// unlock; up_read).
    /// </summary>
    protected void EmitPageFault(GuestMm mm, GuestSpinLock pte)
    {
        var c = mm.Costs;
        mm.Faults++;
        EmitMm(GuestAction.Compute(c.PageFault.Ns));
        EmitMm(mm.MmapSem.DownRead);
        EmitMm(mm.Zone.AllocPage);
        EmitMm(GuestAction.Compute(c.ClearPage.Ns));
        EmitMm(GuestAction.Acquire(pte));
        EmitMm(GuestAction.Compute(c.SetPte.Ns));
        EmitMm(GuestAction.Release(pte));
        EmitMm(mm.MmapSem.UpRead);
    }

    /// <summary><c>sys_mmap_pgoff</c> (2.6.39 mm/mmap.c): down_write(mmap_sem), <c>do_mmap_pgoff</c>, up_write. Pages are faulted in later.</summary>
    protected void EmitMmap(GuestMm mm)
    {
        mm.Mmaps++;
        EmitMm(mm.MmapSem.DownWrite);
        EmitMm(GuestAction.Compute(mm.Costs.Mmap.Ns));
        EmitMm(mm.MmapSem.UpWrite);
    }

    /// <summary>
    /// <c>sys_munmap</c> (2.6.39 mm/mmap.c): down_write(mmap_sem), <c>do_munmap</c> → <c>unmap_region</c>:
    /// zap the <paramref name="pages"/> present under the PTE lock into the mmu_gather,
    /// <c>tlb_finish_mmu</c> flushes the TLB — <c>flush_tlb_mm</c> → <c>flush_tlb_others</c> IPIs the
    /// other CPUs in mm_cpumask and waits — then frees the gathered pages; up_write.
    /// </summary>
    protected void EmitMunmap(GuestMm mm, int pages, GuestSpinLock pte)
    {
        mm.Munmaps++;
        EmitMm(mm.MmapSem.DownWrite);
        EmitMm(GuestAction.Compute(mm.Costs.Munmap.Ns));
        EmitZapFlushFree(mm, pages, pte, GuestMm.UnmapFreesPageTables(pages));
        EmitMm(mm.MmapSem.UpWrite);
    }

    /// <summary>
    /// <c>madvise(MADV_DONTNEED)</c> (2.6.39 mm/madvise.c: <c>madvise_need_mmap_write</c> is false for
    /// it, so down_read(mmap_sem)); <c>madvise_dontneed</c> → <c>zap_page_range</c> zaps, flushes
    /// (shootdown) and frees the pages; up_read.
    /// </summary>
    protected void EmitMadviseDontneed(GuestMm mm, int pages, GuestSpinLock pte)
    {
        mm.Madvises++;
        EmitMm(mm.MmapSem.DownRead);
        EmitMm(GuestAction.Compute(mm.Costs.Madvise.Ns));
        EmitZapFlushFree(mm, pages, pte, freedTables: false); // zap_page_range frees no page tables
        EmitMm(mm.MmapSem.UpRead);
    }

    /// <summary>
    /// <c>exit_mmap</c> (2.6.39 mm/mmap.c, the last user gone, no mmap_sem): <c>unmap_vmas</c> over
    /// every page, <c>free_pgtables</c>, <c>tlb_finish_mmu</c> (the flush reaches CPUs that still
    /// hold this mm lazily — a full-mm flush with page tables freed, so in 4.20+ too), the pages back
    /// to the allocator.
    /// </summary>
    protected void EmitExitMmap(GuestMm mm, int pages, GuestSpinLock pte)
    {
        EmitMm(GuestAction.Compute(mm.Costs.Munmap.Ns));
        EmitZapFlushFree(mm, pages, pte, freedTables: true);
    }

    private void EmitZapFlushFree(GuestMm mm, int pages, GuestSpinLock pte, bool freedTables)
    {
        mm.PagesZapped += pages;
        if (pages > 0)
        {
            EmitMm(GuestAction.Acquire(pte));
            EmitMm(GuestAction.Compute(mm.Costs.ZapPerPage.Ns * pages));
            EmitMm(GuestAction.Release(pte));
        }
        EmitMm(GuestAction.Shootdown(freedTables));
        if (pages > 0)
            EmitMm(mm.Zone.FreePages(pages));
    }
}

using PleSim.Engine;

namespace PleSim.Guest;

/// <summary>
/// Costs of the guest's memory-management paths (guest kernel time). None of these is a kernel
/// constant: each is an assumption about 2011-era x86-64 hardware unless the scenario gives it a
/// source; the scenario keys of the mm workloads set them.
/// </summary>
public sealed record MmCosts
{
    /// <summary>Exception entry, <c>do_page_fault</c>, find_vma, <c>handle_mm_fault</c> walking/allocating levels, and the return (without zeroing).</summary>
    public SimDuration PageFault { get; init; } = SimDuration.FromNanoseconds(1000);

    /// <summary><c>clear_page</c> of a fresh anonymous 4 KiB page.</summary>
    public SimDuration ClearPage { get; init; } = SimDuration.FromNanoseconds(500);

    /// <summary>Setting the PTE (and its rmap/counter updates) under the PTE lock.</summary>
    public SimDuration SetPte { get; init; } = SimDuration.FromNanoseconds(100);

    /// <summary>Per page moved between a per-CPU list and the buddy lists under zone->lock (<c>rmqueue_bulk</c> / <c>free_pcppages_bulk</c>).</summary>
    public SimDuration BuddyPerPage { get; init; } = SimDuration.FromNanoseconds(60);

    /// <summary>Per page unmapped by <c>zap_pte_range</c> (under the PTE lock) and handed to the mmu_gather.</summary>
    public SimDuration ZapPerPage { get; init; } = SimDuration.FromNanoseconds(60);

    /// <summary>The system-call part of <c>mmap</c> (<c>do_mmap_pgoff</c>: get_unmapped_area, vma setup) under mmap_sem for write.</summary>
    public SimDuration Mmap { get; init; } = SimDuration.FromNanoseconds(1500);

    /// <summary>The fixed part of <c>munmap</c> (<c>do_munmap</c>: vma split/detach, free_pgtables) under mmap_sem for write.</summary>
    public SimDuration Munmap { get; init; } = SimDuration.FromNanoseconds(1500);

    /// <summary>The fixed part of <c>madvise</c> (vma walk) under mmap_sem for read.</summary>
    public SimDuration Madvise { get; init; } = SimDuration.FromNanoseconds(500);

    /// <summary>
    /// <c>pcp->batch</c> of a large zone: <c>zone_batchsize</c> (2.6.39 mm/page_alloc.c) caps it at
    /// 512 KiB worth of pages / 4 = 32, then rounds to 2^n - 1 = 31.
    /// </summary>
    public int PcpBatch { get; init; } = 31;

    /// <summary><c>pcp->high</c> = 6 * batch (<c>setup_pageset</c>, 2.6.39).</summary>
    public int PcpHigh { get; init; } = 6 * 31;
}

/// <summary>
/// A memory zone's buddy allocator as the page-fault and unmap paths see it (2.6.39
/// mm/page_alloc.c): order-0 pages come from the CPU's per-CPU list (<c>buffered_rmqueue</c>, with
/// interrupts off); an empty list is refilled with <c>pcp->batch</c> pages under
/// <c>zone->lock</c> (<c>rmqueue_bulk</c>); a freed page goes back to the list
/// (<c>free_hot_cold_page</c>) and a list above <c>pcp->high</c> returns a batch under zone->lock
/// (<c>free_pcppages_bulk</c>). Operations are <see cref="GuestAction.Call"/>s of this object.
/// </summary>
public sealed class GuestZone : IGuestCallback
{
    private const int OpAlloc = 0, OpFree = 1;
    private readonly int[] _pcp;

    public GuestZone(GuestKernel kernel, string name, MmCosts costs)
    {
        Costs = costs;
        // zone->lock: taken with interrupts already off (local_irq_save in buffered_rmqueue and free_hot_cold_page).
        Lock = kernel.NewLock(name + ".lock", LockIrq.IrqSave);
        _pcp = new int[kernel.Cpus.Length];
    }

    public MmCosts Costs { get; }

    /// <summary><c>zone->lock</c>.</summary>
    public GuestSpinLock Lock { get; }

    public long Allocs, Frees, Refills, Drains;

    /// <summary>Pages on <paramref name="cpu"/>'s per-CPU list.</summary>
    public int PcpCount(int cpu) => _pcp[cpu];

    /// <summary>Allocate one page for the calling thread (<c>alloc_page</c> → <c>buffered_rmqueue</c>).</summary>
    public GuestAction AllocPage => GuestAction.Call(this, OpAlloc);

    /// <summary>Free <paramref name="pages"/> pages one by one (<c>free_hot_cold_page</c> each, as 2.6.39 <c>release_pages</c> does for an mmu_gather).</summary>
    public GuestAction FreePages(int pages) => GuestAction.Call(this, (pages << 1) | OpFree);

    public void Run(GuestThread thread, int code)
    {
        var sink = thread.Program as IActionSink
            ?? throw new InvalidOperationException($"{thread}: the zone needs a program that is an IActionSink");
        int cpu = thread.Cpu;
        long bulk = Costs.BuddyPerPage.Ns * Costs.PcpBatch;
        if ((code & 1) == OpAlloc)
        {
            Allocs++;
            if (_pcp[cpu] == 0)
            {
                Refills++;
                _pcp[cpu] += Costs.PcpBatch;
                sink.EmitNow(GuestAction.Acquire(Lock), GuestAction.Compute(bulk), GuestAction.Release(Lock));
            }
            _pcp[cpu]--;
        }
        else
        {
            for (int n = code >> 1; n > 0; n--)
            {
                Frees++;
                _pcp[cpu]++;
                if (_pcp[cpu] >= Costs.PcpHigh)
                {
                    // Drain a batch; the rest of the pages are freed after it (one drain at a time,
                    // so the program's queue stays short however many pages go).
                    Drains++;
                    _pcp[cpu] -= Costs.PcpBatch;
                    if (n > 1)
                        sink.EmitNow(GuestAction.Acquire(Lock), GuestAction.Compute(bulk), GuestAction.Release(Lock), FreePages(n - 1));
                    else
                        sink.EmitNow(GuestAction.Acquire(Lock), GuestAction.Compute(bulk), GuestAction.Release(Lock));
                    return;
                }
            }
        }
    }
}

/// <summary>
/// A process address space (<c>struct mm_struct</c>): its <c>mmap_sem</c>, its number (what
/// <see cref="GuestThread.Mm"/> holds and a TLB shootdown targets by), and the zone its pages come
/// from. The PTE locks are the caller's: with split PTE locks (2.6.39 x86-64,
/// CONFIG_SPLIT_PTLOCK_CPUS=4 ≤ NR_CPUS) each page-table page has its own, so threads faulting in
/// separate 2 MiB regions do not share one.
/// </summary>
public sealed class GuestMm
{
    /// <summary>PTEs in one page-table page on x86-64 (<c>PTRS_PER_PTE</c>): a PTE page maps 2 MiB.</summary>
    public const int PtesPerTable = 512;

    /// <summary>
    /// Whether a munmap of <paramref name="pages"/> frees page-table pages, which makes its flush one
    /// with <c>freed_tables</c> set (<see cref="GuestAction.Shootdown"/>). <c>free_pgtables</c> →
    /// <c>free_pgd_range</c> (mm/memory.c) frees a PTE page only when the whole 2 MiB it maps lies
    /// between the neighbouring mappings (floor, ceiling). PleSim does not lay out the address space;
    /// assumption (decision 0067): mappings are packed by the top-down mmap allocator, so a region
    /// frees a table when it spans a whole 2 MiB — taken as at least <see cref="PtesPerTable"/> pages.
    /// </summary>
    public static bool UnmapFreesPageTables(long pages) => pages >= PtesPerTable;

    public GuestMm(GuestKernel kernel, int id, GuestZone zone)
    {
        Id = id;
        Zone = zone;
        MmapSem = new GuestRwSem(kernel, $"mm{id}.mmap_sem");
    }

    /// <summary>The address-space number threads of this process carry (an mm_struct may be recycled for a new process: <see cref="Id"/> changes then).</summary>
    public int Id { get; set; }
    public GuestZone Zone { get; }
    public GuestRwSem MmapSem { get; }
    public MmCosts Costs => Zone.Costs;

    public long Faults, Mmaps, Munmaps, Madvises, PagesZapped;
}

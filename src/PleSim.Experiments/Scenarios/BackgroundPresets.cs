using PleSim.Engine;

namespace PleSim.Experiments.Scenarios;

/// <summary>
/// Named sets of host background threads for <c>host.background.preset</c>
/// (docs/decisions/0015-host-background-work.md has the table with every source).
/// </summary>
public static class BackgroundPresets
{
    public static readonly string[] Names = ["none", "rhel6-kvm-host"];

    public static IReadOnlyList<BackgroundThreadSettings> Get(string name) => name switch
    {
        "rhel6-kvm-host" => Rhel6KvmHost,
        _ => [],
    };

    private static SimDuration Us(long us) => SimDuration.FromMicroseconds(us);
    private static SimDuration Ms(long ms) => SimDuration.FromMilliseconds(ms);
    private static SimDuration S(long s) => SimDuration.FromSeconds(s);

    /// <summary>
    /// An early-2011 KVM host of the RHEL 6 / Fedora 14 kind running qemu-kvm 0.12–0.14 guests
    /// with <c>-nographic</c> or VNC and no VNC client connected. Periods are kernel and QEMU
    /// defaults; CPU costs per wake-up are assumptions (ranges in the decision record).
    /// </summary>
    private static readonly IReadOnlyList<BackgroundThreadSettings> Rhel6KvmHost =
    [
        // keventd, the per-CPU "events/N" workqueue thread of 2.6.32 (a kworker bound to the CPU
        // from 2.6.36). Nice -5: kernel/kthread.c KTHREAD_NICE_LEVEL, which kthreadd gives every
        // kernel thread it creates in RHEL 6's 2.6.32 (later kernels dropped it: their kworkers run at nice 0).
        new()
        {
            Name = "events",
            Scope = "cpu",
            Nice = -5,
            Timers =
            [
                // mm/vmstat.c vmstat_update: per-CPU delayed work re-queued every
                // sysctl_stat_interval (= HZ, one second) through round_jiffies_relative.
                // Cost: refresh_cpu_vm_stats folding the per-CPU counters of every zone
                // (assumption 5 us; range 2-20 us).
                new() { Name = "vmstat_update", Period = S(1), Cost = Us(5), Rearm = "on_grid", Phase = "round_jiffies" },
                // mm/slab.c cache_reap: per-CPU delayed work every REAPTIMEOUT_CPUC (2*HZ),
                // round_jiffies_relative; RHEL 6 builds with CONFIG_SLAB. Cost: draining the
                // per-CPU arrays of every cache (assumption 20 us; range 5-100 us).
                new() { Name = "cache_reap", Period = S(2), Cost = Us(20), Rearm = "on_grid", Phase = "round_jiffies" },
            ],
        },
        // QEMU's main loop (the I/O thread of qemu-kvm, one per VM, in the VM's process and
        // group). With -nographic or -vnc, vl.c arms nographic_timer on rt_clock and re-arms it
        // GUI_REFRESH_INTERVAL (30 ms) after each run (qemu-kvm 0.12.3 to 0.15 vl.c
        // nographic_update); the emulated RTC (hw/mc146818rtc.c) fires rtc_update_second each
        // second and rtc_update_second2 10 ms later. Each expiry is a "dynticks" alarm-timer
        // signal that wakes the thread out of select(), runs qemu_run_all_timers and re-arms the
        // POSIX timer (timer_settime) before select() again (assumption 10 us per expiry; range
        // 5-20 us). The two RTC timers get independent phases here (QEMU keeps them 10 ms apart).
        // No VNC client is assumed connected (vnc_refresh runs only with one).
        new()
        {
            Name = "qemu-iothread",
            Scope = "vm",
            Nice = 0,
            Timers =
            [
                new() { Name = "nographic_update", Period = Ms(30), Cost = Us(10), Rearm = "after_run", Phase = "random" },
                new() { Name = "rtc_update_second", Period = S(1), Cost = Us(10), Rearm = "on_grid", Phase = "random" },
                new() { Name = "rtc_update_second2", Period = S(1), Cost = Us(10), Rearm = "on_grid", Phase = "random" },
            ],
        },
        // The default backing-dev thread (mm/backing-dev.c bdi_forker_task in 2.6.32) sleeps
        // dirty_writeback_interval (dirty_writeback_centisecs = 500: 5 s) between checks when
        // there is nothing to flush. The per-device flusher threads are not modelled: guest
        // images opened with cache=none dirty no host page cache (assumption). Cost: a list
        // walk (assumption 3 us; range 1-10 us).
        new()
        {
            Name = "bdi-default",
            Scope = "host",
            Nice = -5,
            Timers = [new() { Name = "bdi_forker_task", Period = S(5), Cost = Us(3), Rearm = "after_run", Phase = "random" }],
        },
        // mm/backing-dev.c bdi_sync_supers (2.6.32: the "sync_supers" thread, the old kupdated
        // job): sync_supers_timer_fn wakes it every dirty_writeback_interval (5 s), re-armed with
        // round_jiffies_up; the thread sets nice 0 itself. Cost: sync_supers() walking the
        // super blocks with nothing dirty (assumption 3 us; range 1-10 us).
        new()
        {
            Name = "sync_supers",
            Scope = "host",
            Nice = 0,
            Timers = [new() { Name = "sync_supers_timer_fn", Period = S(5), Cost = Us(3), Rearm = "on_grid", Phase = "round_jiffies" }],
        },
        // mm/huge_memory.c khugepaged (RHEL 6.0 backports transparent huge pages, enabled
        // "always"): set_user_nice(current, 19), scans khugepaged_pages_to_scan (HPAGE_PMD_NR*8 =
        // 4096 PTEs) then sleeps khugepaged_scan_sleep_millisecs (10000 ms). Cost: one scan pass
        // over 8 PMDs without a collapse (assumption 50 us; range 10-500 us with a collapse).
        new()
        {
            Name = "khugepaged",
            Scope = "host",
            Nice = 19,
            Timers = [new() { Name = "khugepaged_do_scan", Period = S(10), Cost = Us(50), Rearm = "after_run", Phase = "random" }],
        },
        // mm/ksm.c ksm_scan_thread: set_user_nice(current, 5), scans ksm_thread_pages_to_scan
        // (100) pages then sleeps ksm_thread_sleep_millisecs (20 ms) — but only while
        // /sys/kernel/mm/ksm/run is 1. RHEL 6's ksmtuned starts it when free memory falls under
        // KSM_THRES_COEF (20%) of the total; two guests on a benchmark host leave memory free
        // (assumption), so it is listed but off. Cost when on: checksumming and tree lookups of
        // 100 pages (assumption 150 us; range 50-500 us).
        new()
        {
            Name = "ksmd",
            Scope = "host",
            Nice = 5,
            Enabled = false,
            Timers = [new() { Name = "ksm_do_scan", Period = Ms(20), Cost = Us(150), Rearm = "after_run", Phase = "random" }],
        },
    ];
}

using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Experiments.Scenarios;

/// <summary>One VM of a <c>system</c> scenario: its VCPUs, placement, cgroup, guest kernel and workload.</summary>
public sealed record VmSettings
{
    public required string Name { get; init; }
    public int Vcpus { get; init; } = 4;
    public CpuSet? Affinity { get; init; }

    /// <summary>
    /// <c>vms[].vcpu_affinity</c>: one CPU list per VCPU thread (entry i pins VCPU i), as libvirt's
    /// <c>&lt;vcpupin vcpu='i' cpuset='…'/&gt;</c> or <c>virsh vcpupin</c> sets it. Each entry lies within
    /// <see cref="Affinity"/> when that is given. Null (the default): every VCPU thread takes <see cref="Affinity"/>.
    /// </summary>
    public IReadOnlyList<CpuSet>? VcpuAffinity { get; init; }

    /// <summary>Host cgroup of its VCPU threads: "/" (root, the seed's setup), "own" (a new /NAME), or a path from host.cgroups.</summary>
    public string Cgroup { get; init; } = "/";

    public long CgroupShares { get; init; } = 1024;
    public int StartCpu { get; init; }

    /// <summary>
    /// <c>vms[].vcpu_start_spread</c>: each VCPU thread is forked at its own instant drawn
    /// uniformly from [0, spread) with the run's seed (stream <c>vm.NAME.vcpu_start</c>), instead
    /// of all at t = 0. 0 (the default) keeps the convention of decision 0044: every VCPU thread
    /// forked at one instant. A way to sample the start-up phases a scenario does not know
    /// (decision 0051).
    /// </summary>
    public SimDuration VcpuStartSpread { get; init; }

    /// <summary>
    /// <c>vms[].start_at</c>: the instant the VM's VCPU threads are forked, as for a VM started after
    /// the others (with <see cref="VcpuStartSpread"/>, each thread at its own instant after it).
    /// 0 (the default) keeps every VM's threads at t = 0 (decision 0044). Until then the VM's VCPUs
    /// do not run, as in the spread (decision 0051); <c>frac_not_started</c> counts that time.
    /// </summary>
    public SimDuration StartAt { get; init; }

    public GuestSettings Guest { get; init; } = new();
    public WorkloadSettings Workload { get; init; } = new();
}

/// <summary>What runs in a VM.</summary>
public sealed record WorkloadSettings
{
    public static readonly string[] Kinds = ["idle", "hog", "amqp-perftest", "lock-bench", "boot-storm", "ebizzy", "kernbench", "hackbench", "sysbench", "pingpong", "tcp-rr", "dbench", "dedup", "pbzip2"];

    public string Kind { get; init; } = "idle";

    /// <summary>hog: infinite loops, one pinned to each of VCPUs 0..loops-1 (the others stay idle).</summary>
    public int Loops { get; init; }

    public AmqpSettings Amqp { get; init; } = new();

    /// <summary>hackbench: rt-tests hackbench / perf bench sched messaging (keys in hackbench's spelling).</summary>
    public HackbenchSettings Hackbench { get; init; } = new();
    /// <summary>pingpong: two threads per pair handing a token back and forth (perf bench sched pipe; decision 0036).</summary>
    public PingPongSettings PingPong { get; init; } = new();

    /// <summary>tcp-rr: netperf TCP_RR over virtio-net/vhost-net to a peer outside the host (decision 0045).</summary>
    public TcpRrSettings TcpRr { get; init; } = new();
    /// <summary>sysbench: its options in sysbench 0.4's spelling (<c>test</c>, <c>num-threads</c>, ...).</summary>
    public SysbenchSettings Sysbench { get; init; } = new();

    /// <summary>lock-bench / boot-storm.</summary>
    public int Threads { get; init; } = 4;
    public int Locks { get; init; } = 1;
    public SimDuration Hold { get; init; } = SimDuration.FromMicroseconds(1);
    public SimDuration Think { get; init; } = SimDuration.FromMicroseconds(5);
    public long Iterations { get; init; } = 2000;

    /// <summary>ebizzy (its options in its own spelling; docs/decisions/0026-mm-paths-ebizzy-kernbench.md).</summary>
    public EbizzySettings Ebizzy { get; init; } = new();

    /// <summary>kernbench (make -j).</summary>
    public KernbenchSettings Kernbench { get; init; } = new();

    /// <summary>dbench: client processes replaying its load file on tmpfs (decision 0048).</summary>
    public DbenchSettings Dbench { get; init; } = new();

    /// <summary>dedup: PARSEC 3.0's deduplication pipeline (<c>dedup -c -p -t N</c>; decision 0054, docs/dedup.md).</summary>
    public DedupSettings Dedup { get; init; } = new();

    /// <summary>pbzip2: pbzip2 1.1.x compressing one file (producer, numCPU consumers, fileWriter; decision 0061).</summary>
    public Pbzip2Settings Pbzip2 { get; init; } = new();
    /// <summary>lock-bench: the lock the threads take — a spinlock, or a kernel mutex (<c>mutex</c>, decision 0025).</summary>
    public string LockType { get; init; } = "spinlock";
}

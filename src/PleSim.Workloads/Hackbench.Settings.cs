// hackbench's parameters: its command line (-g, -f, -l, -s, -T/-P, -p) and the guest kernel's
// constants (2.6.39 socket send buffer, skb size, pipe buffers) with the per-message costs.

namespace PleSim.Workloads;

/// <summary>hackbench's IPC: AF_UNIX stream socket pairs (the default) or pipes (<c>-p</c>).</summary>
public enum HackbenchIpc
{
    Socket,
    Pipe,
}

/// <summary>
/// Parameters of hackbench (rt-tests hackbench.c; the same program as perf's
/// tools/perf/bench/sched-messaging.c). The first block is hackbench's command line; the second the
/// guest kernel's constants (2.6.39) and the per-message costs, which are assumptions (guest CPU time).
/// </summary>
public sealed record HackbenchSettings
{
    /// <summary><c>-g</c>: groups (hackbench's default 10).</summary>
    public int Groups { get; init; } = 10;

    /// <summary><c>-f</c>: senders and receivers per group (default 20).</summary>
    public int Fds { get; init; } = 20;

    /// <summary><c>-l</c>: messages each sender writes to each receiver of its group (default 100).</summary>
    public long Loops { get; init; } = 100;

    /// <summary><c>-s</c>: bytes per message (default 100). At most a page here (see <see cref="PageSize"/>).</summary>
    public int DataSize { get; init; } = 100;

    /// <summary><c>-T</c> / <c>-P</c>: threads of one process, or a process each (the default).</summary>
    public bool Threads { get; init; }

    public HackbenchIpc Ipc { get; init; } = HackbenchIpc.Socket;

    /// <summary>
    /// <c>sk_sndbuf</c> of the sending socket: <c>sysctl_wmem_default</c> = SK_WMEM_MAX =
    /// (sizeof(struct sk_buff) + 256) × 256 (include/net/sock.h, 2.6.39) = 124928 on x86-64.
    /// </summary>
    public int SndBuf { get; init; } = 124_928;

    /// <summary>sizeof(struct sk_buff) on x86-64 2.6.39 (232; what SK_WMEM_MAX = 124928 implies): charged to sk_wmem_alloc with each skb's data (skb->truesize).</summary>
    public int SkbOverhead { get; init; } = 232;

    /// <summary>PAGE_SIZE and PIPE_BUFFERS (16 page buffers per pipe, include/linux/pipe_fs_i.h 2.6.39).</summary>
    public int PageSize { get; init; } = 4096;
    public int PipeBuffers { get; init; } = 16;

    /// <summary>write(): syscall entry/exit and the sending path outside the locks (unix_stream_sendmsg: sock_alloc_send_skb, scm; pipe_write: the page buffer bookkeeping). Assumption.</summary>
    public long WriteFixedNs { get; init; } = 1200;

    /// <summary>read(): syscall entry/exit and the receiving path outside the locks (unix_stream_recvmsg, consume_skb; pipe_read). Assumption.</summary>
    public long ReadFixedNs { get; init; } = 900;

    /// <summary>Copying from/to user space per byte (memcpy_fromiovec / skb_copy_datagram_iovec; pipe_iov_copy_*). Assumption.</summary>
    public double CopyNsPerByte { get; init; } = 0.1;

    /// <summary>The list operation under <c>sk_receive_queue.lock</c> (skb_queue_tail / skb_dequeue). Assumption.</summary>
    public long QueueOpNs { get; init; } = 30;

    /// <summary>An uncontended mutex_lock + mutex_unlock pair (u->readlock, the pipe's i_mutex fast path). Assumption.</summary>
    public long MutexFastNs { get; init; } = 40;

    /// <summary>hackbench's own loop around each write/read, in user mode. Assumption.</summary>
    public long UserPerMessageNs { get; init; } = 50;

    /// <summary>skb->truesize of one message: SKB_DATA_ALIGN(size) (64-byte cache lines) + sizeof(struct sk_buff).</summary>
    public int TrueSize => ((DataSize + 63) & ~63) + SkbOverhead;

    /// <summary>Messages each receiver reads: every sender of its group writes it <see cref="Loops"/>.</summary>
    public long PacketsPerReceiver => Fds * Loops;

    public long TotalMessages => (long)Groups * Fds * PacketsPerReceiver;
}

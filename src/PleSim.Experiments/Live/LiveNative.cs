using System.Runtime.InteropServices;

namespace PleSim.Experiments.Live;

/// <summary>
/// The Linux system calls a live task needs, through glibc: its thread id, nice level
/// (<c>setpriority</c> on a thread id sets that thread's nice on Linux), CPU affinity, timer
/// slack, <c>sched_yield</c>, pipes, and the monotonic and thread-CPU clocks.
/// </summary>
internal static class LiveNative
{
    private const string Libc = "libc";
    private const int ClockMonotonic = 1;
    private const int ClockThreadCputimeId = 3;
    private const int TimerAbstime = 1;
    private const int PrioProcess = 0;
    private const int PrSetTimerslack = 29;
    private const int Eintr = 4;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Sec;
        public long Nsec;
    }

    [DllImport(Libc, EntryPoint = "gettid")]
    private static extern int GetTid();

    [DllImport(Libc, EntryPoint = "setpriority", SetLastError = true)]
    private static extern int SetPriority(int which, int who, int prio);

    [DllImport(Libc, EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static extern int SchedSetAffinity(int pid, nint cpusetsize, ref ulong mask);

    [DllImport(Libc, EntryPoint = "sched_yield")]
    private static extern int SchedYieldCall();

    [DllImport(Libc, EntryPoint = "prctl", SetLastError = true)]
    private static extern int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    [DllImport(Libc, EntryPoint = "clock_gettime")]
    private static extern int ClockGettime(int clock, out Timespec ts);

    [DllImport(Libc, EntryPoint = "clock_nanosleep")]
    private static extern int ClockNanosleep(int clock, int flags, ref Timespec request, nint remain);

    [DllImport(Libc, EntryPoint = "pipe", SetLastError = true)]
    private static extern int PipeCall([Out] int[] fds);

    [DllImport(Libc, EntryPoint = "read", SetLastError = true)]
    private static extern nint ReadCall(int fd, ref byte buffer, nint count);

    [DllImport(Libc, EntryPoint = "write", SetLastError = true)]
    private static extern nint WriteCall(int fd, ref byte buffer, nint count);

    [DllImport(Libc, EntryPoint = "close")]
    private static extern int CloseCall(int fd);

    public static int ThreadId() => GetTid();

    /// <summary>Sets the calling thread's nice level; returns null or the error.</summary>
    public static string? SetNice(int tid, int nice) =>
        SetPriority(PrioProcess, tid, nice) == 0 ? null : $"setpriority(nice {nice}) failed: {ErrnoText()}";

    /// <summary>Binds the calling thread to the CPUs of <paramref name="mask"/>; returns null or the error.</summary>
    public static string? SetAffinity(ulong mask)
    {
        ulong m = mask;
        return SchedSetAffinity(0, sizeof(ulong), ref m) == 0 ? null : $"sched_setaffinity({LivePlan.CpuList(mask)}) failed: {ErrnoText()}";
    }

    /// <summary>
    /// Timer slack of 1 ns for the calling thread (the default is 50 µs for normal threads):
    /// a sleeper's hrtimer then fires when asked, as the model's timer does.
    /// </summary>
    public static string? SetMinimalTimerSlack() =>
        Prctl(PrSetTimerslack, 1, 0, 0, 0) == 0 ? null : $"prctl(PR_SET_TIMERSLACK) failed: {ErrnoText()}";

    public static void SchedYield() => SchedYieldCall();

    public static long MonotonicNs()
    {
        ClockGettime(ClockMonotonic, out var ts);
        return (ts.Sec * 1_000_000_000L) + ts.Nsec;
    }

    public static long ThreadCpuNs()
    {
        ClockGettime(ClockThreadCputimeId, out var ts);
        return (ts.Sec * 1_000_000_000L) + ts.Nsec;
    }

    /// <summary>Sleeps until CLOCK_MONOTONIC reaches <paramref name="ns"/> (an absolute hrtimer, restarted after a signal).</summary>
    public static void SleepUntil(long ns)
    {
        var ts = new Timespec { Sec = ns / 1_000_000_000L, Nsec = ns % 1_000_000_000L };
        while (ClockNanosleep(ClockMonotonic, TimerAbstime, ref ts, 0) == Eintr)
        {
        }
    }

    public static (int Read, int Write) Pipe()
    {
        var fds = new int[2];
        if (PipeCall(fds) != 0)
            throw new LiveException($"pipe() failed: {ErrnoText()}");
        return (fds[0], fds[1]);
    }

    /// <summary>Reads one byte, blocking; false at end of file or on an error.</summary>
    public static bool ReadByte(int fd)
    {
        byte b = 0;
        while (true)
        {
            nint n = ReadCall(fd, ref b, 1);
            if (n == 1)
                return true;
            if (n < 0 && Marshal.GetLastPInvokeError() == Eintr)
                continue;
            return false;
        }
    }

    public static bool WriteByte(int fd)
    {
        byte b = 1;
        while (true)
        {
            nint n = WriteCall(fd, ref b, 1);
            if (n == 1)
                return true;
            if (n < 0 && Marshal.GetLastPInvokeError() == Eintr)
                continue;
            return false;
        }
    }

    public static void Close(int fd) => CloseCall(fd);

    private static string ErrnoText()
    {
        int e = Marshal.GetLastPInvokeError();
        return $"{Marshal.GetPInvokeErrorMessage(e)} (errno {e})";
    }
}

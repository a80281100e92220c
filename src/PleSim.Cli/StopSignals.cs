using System.Runtime.InteropServices;

namespace PleSim.Cli;

/// <summary>
/// SIGINT (Ctrl+C) and SIGTERM (Slurm, Kubernetes, <c>kill</c>) alike stop a long job from
/// starting more runs: the ones in flight finish and are stored, the store is closed back to one
/// file, and <c>--resume</c> loses nothing. A second signal ends the process at once (the
/// default action). Exit codes 130 / 143 say which signal stopped it (decision 0019).
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;
    private int _signal;

    public StopSignals()
    {
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken Token => _cancel.Token;

    /// <summary>" by SIGTERM", " by SIGINT", or "" when no signal arrived.</summary>
    public string By => Volatile.Read(ref _signal) switch
    {
        15 => " by SIGTERM",
        2 => " by SIGINT",
        _ => "",
    };

    /// <summary>The exit code of a job these signals stopped.</summary>
    public int ExitCode => Volatile.Read(ref _signal) == 15 ? ExitCodes.InterruptedBySigterm : ExitCodes.InterruptedBySigint;

    private void OnSignal(PosixSignalContext c)
    {
        if (Interlocked.CompareExchange(ref _signal, c.Signal == PosixSignal.SIGTERM ? 15 : 2, 0) != 0)
            return; // second signal: the default action (terminate)
        c.Cancel = true;
        _cancel.Cancel();
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _cancel.Dispose();
    }
}

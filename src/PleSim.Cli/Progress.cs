using System.Diagnostics;
using Spectre.Console;

namespace PleSim.Cli;

/// <summary>
/// Progress of long work (runs done / total, with ETA): a Spectre.Console bar on a terminal,
/// plain periodic lines ("42/720 runs, 12 s elapsed, ~3 min left") when stderr is redirected.
/// </summary>
public static class Progress
{
    /// <summary>Runs <paramref name="work"/>, which reports (done, total) through the callback it is given.</summary>
    public static T Run<T>(CliContext ctx, string label, Func<Action<int, int>, T> work, bool quiet = false, string unit = "runs")
    {
        if (quiet)
            return work((_, _) => { });
        if (ctx.IsErrTerminal)
        {
            T result = default!;
            ctx.ErrConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(p =>
                {
                    var task = p.AddTask(label);
                    result = work((done, total) =>
                    {
                        task.MaxValue = total;
                        task.Value = done;
                    });
                });
            return result;
        }
        var sw = Stopwatch.StartNew();
        long lastPrint = -10_000;
        int finishedTotal = -1; // the total last reported as reached (adaptive runs can raise it again)
        var gate = new object();
        var eta = new EtaEstimate();
        var r = work((done, total) =>
        {
            lock (gate)
            {
                long ms = sw.ElapsedMilliseconds;
                eta.Observe(ms, done);
                if ((done != total && ms - lastPrint < 5_000) || (done == total && total == finishedTotal))
                    return;
                if (done == total)
                    finishedTotal = total;
                lastPrint = ms;
                string left = done < total && eta.SecondsLeft(total) is double s ? $", ~{TimeSpan.FromSeconds(s):m\\:ss} left" : "";
                ctx.Err.WriteLine($"{label}: {done}/{total} {unit}, {ms / 1000.0:0} s elapsed{left}");
            }
        });
        return r;
    }
}

/// <summary>
/// The time left of a job from its rate since the first report: the time before that report
/// (start-up, JIT, planning, a first unit that takes longer than the rest) is left out, so a run
/// whose first report comes after a second of start-up does not predict minutes when it needs
/// seconds. No estimate until two reports with different progress have been seen.
/// </summary>
public sealed class EtaEstimate
{
    private long _firstMs = -1, _lastMs;
    private int _firstDone, _lastDone;

    public void Observe(long elapsedMs, int done)
    {
        if (_firstMs < 0)
        {
            _firstMs = elapsedMs;
            _firstDone = done;
        }
        _lastMs = elapsedMs;
        _lastDone = done;
    }

    /// <summary>Seconds left to reach <paramref name="total"/> at the rate seen since the first report; null before a rate exists.</summary>
    public double? SecondsLeft(int total)
    {
        int units = _lastDone - _firstDone;
        if (_firstMs < 0 || units <= 0 || _lastDone >= total)
            return null;
        return (_lastMs - _firstMs) / 1000.0 / units * (total - _lastDone);
    }
}

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
        bool finished = false;
        var gate = new object();
        var r = work((done, total) =>
        {
            lock (gate)
            {
                long ms = sw.ElapsedMilliseconds;
                if ((done != total && ms - lastPrint < 5_000) || finished)
                    return;
                finished = done == total;
                lastPrint = ms;
                double secs = ms / 1000.0;
                string eta = done > 0 && done < total ? $", ~{TimeSpan.FromSeconds(secs / done * (total - done)):m\\:ss} left" : "";
                ctx.Err.WriteLine($"{label}: {done}/{total} {unit}, {secs:0} s elapsed{eta}");
            }
        });
        return r;
    }
}

using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;
using PleSim.Workloads;

namespace PleSim.Experiments.Scenarios;

/// <summary>The <c>host.background</c> section: preset host threads and timers, merged by name with the file's entries (decision 0015).</summary>
internal static partial class SystemSections
{
    /// <summary>
    /// <c>host.background</c>: <c>preset</c> (none | rhel6-kvm-host), <c>enabled</c> (false drops
    /// every thread: the off switch for a what-if) and <c>threads</c>, whose entries replace the
    /// keys they give of the preset's thread of the same name (timers likewise by name), or add
    /// a thread (then <c>scope</c>, and each timer's <c>period</c> and <c>cost</c>, are required).
    /// </summary>
    private static BackgroundSettings ReadBackground(MapReader b)
    {
        if (!b.IsPresent)
        {
            b.Done();
            return new BackgroundSettings();
        }
        var preset = b.Get("preset", Kinds.Choice(BackgroundPresets.Names), "none");
        bool enabled = b.Get("enabled", Kinds.Bool, true);
        var baseThreads = BackgroundPresets.Get(preset);
        var given = b.List("threads", (t, _) => ReadBackgroundThread(t, baseThreads));
        foreach (var dup in given.GroupBy(t => t.Name).Where(g => g.Count() > 1))
            b.Error("threads", $"two background threads are called '{dup.Key}'");
        var threads = Merge(baseThreads, given, t => t.Name);
        b.Done();
        return new BackgroundSettings
        {
            Preset = preset,
            Enabled = enabled,
            Threads = enabled ? threads.Where(t => t.Enabled).ToList() : [],
        };
    }

    private static List<T> Merge<T>(IReadOnlyList<T> baseItems, IReadOnlyList<T> given, Func<T, string> name)
    {
        var items = baseItems.ToList();
        foreach (var g in given)
        {
            int i = items.FindIndex(x => name(x) == name(g));
            if (i >= 0)
                items[i] = g;
            else
                items.Add(g);
        }
        return items;
    }

    private static BackgroundThreadSettings ReadBackgroundThread(MapReader t, IReadOnlyList<BackgroundThreadSettings> preset)
    {
        var name = t.Require("name", Kinds.Text, "thread");
        var bt = preset.FirstOrDefault(p => p.Name == name);
        var scopeKind = Kinds.Choice(BackgroundThreadSettings.Scopes);
        var scope = bt is null ? t.Require("scope", scopeKind, "host") : t.Get("scope", scopeKind, bt.Scope);
        var baseTimers = bt?.Timers ?? [];
        var given = t.List("timers", (m, _) => ReadBackgroundTimer(m, baseTimers));
        foreach (var dup in given.GroupBy(x => x.Name).Where(g => g.Count() > 1))
            t.Error("timers", $"two timers of '{name}' are called '{dup.Key}'");
        var timers = Merge(baseTimers, given, x => x.Name);
        if (timers.Count == 0)
            t.Error("timers", $"background thread '{name}' needs at least one timer (name, period, cost)");
        return new BackgroundThreadSettings
        {
            Name = name,
            Scope = scope,
            Nice = t.Get("nice", Kinds.Int(-20, 19), bt?.Nice ?? 0),
            Enabled = t.Get("enabled", Kinds.Bool, bt?.Enabled ?? true),
            Timers = timers,
        };
    }

    private static BackgroundTimerSettings ReadBackgroundTimer(MapReader m, IReadOnlyList<BackgroundTimerSettings> preset)
    {
        var name = m.Require("name", Kinds.Text, "timer");
        var bt = preset.FirstOrDefault(p => p.Name == name);
        var periodKind = Kinds.Duration(SimDuration.FromMicroseconds(1), SimDuration.FromSeconds(3600));
        var costKind = Kinds.Duration(new SimDuration(1), SimDuration.FromSeconds(1));
        var oneSecond = SimDuration.FromSeconds(1);
        var period = bt is null ? m.Require("period", periodKind, oneSecond) : m.Get("period", periodKind, bt.Period);
        var cost = bt is null ? m.Require("cost", costKind, SimDuration.FromMicroseconds(1)) : m.Get("cost", costKind, bt.Cost);
        var rearm = m.Get("rearm", Kinds.Choice(BackgroundTimerSettings.Rearms), bt?.Rearm ?? "after_run");
        var phase = m.Get("phase", Kinds.Choice(BackgroundTimerSettings.Phases), bt?.Phase ?? "random");
        if (cost >= period)
            m.Error("cost", $"a work item of {cost} every {period} never lets the thread sleep: the cost must be shorter than the period");
        if (phase == "round_jiffies" && period.Ns % oneSecond.Ns != 0)
            m.Error("period", $"phase round_jiffies rounds expiries to whole seconds: the period must be a whole number of seconds, not {period}");
        return new BackgroundTimerSettings { Name = name, Period = period, Cost = cost, Rearm = rearm, Phase = phase };
    }
}

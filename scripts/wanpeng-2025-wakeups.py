#!/usr/bin/env python3
"""Read-only analysis of `plesim run ... --trace FILE` traces of scenarios/catalog/wanpeng-2025/*.yaml.

Written for docs/anomalies/wanpeng-2025-after-0085.md. For guest 1's VCPUs (guest1/vcpuN) it reads the
host's wake-up instants (cat "wakeup"), run slices (cat "sched") and yield_to instants (cat
"yield_to_label") and prints, per trace file:
  - wake-ups per second, the share that preempted the target CPU's current task, and the time from
    the wake-up to the VCPU's next run slice (mean, p50, p90, p99, and the sum over the window in
    ms of VCPU time: "woken but not yet running", which the VCPU accounting counts as halted);
  - the same split by whether the woken VCPU had made a successful yield_to (as the spinner) in
    the 20 ms before it blocked — the VCPUs whose vruntime a yield (and, with the series, the
    debooster) pushed ahead;
  - the same split by whether the wake-up preempted the target CPU's task (check_preempt_wakeup) and,
    when it did not, by what ran on that CPU (a guest 1 VCPU, a guest 2 VCPU, nothing);
  - successful yield_to calls by guest 1's VCPUs and how many of their targets ran within 100 us;
    the targets split by the state the trace shows them in: woken from HLT and still waiting for a
    CPU (its last run slice ended Blocked and a wake-up followed), preempted or yielded (its last
    slice ended Preempted or Yielded), or other;
  - of the wake-ups that did not preempt, how many waits ended within 20 us after a successful
    yield_to to the woken VCPU (the directed yield ran it).
Usage: scripts/wanpeng-2025-wakeups.py TRACE.json [TRACE.json ...]
"""
import bisect
import collections
import json
import os
import statistics
import sys

RECENT_US = 20000.0


def pct(xs, q):
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def summary(waits):
    w = sorted(waits)
    if not w:
        return "none"
    return (f"n {len(w)}, mean {statistics.mean(w):.1f} us, p50 {pct(w, 0.5):.1f}, p90 {pct(w, 0.9):.1f}, "
            f"p99 {pct(w, 0.99):.1f}, sum {sum(w) / 1000:.1f} ms")


for path in sys.argv[1:]:
    ev = json.load(open(path))["traceEvents"]
    starts = collections.defaultdict(list)   # task -> run slice starts
    ends = collections.defaultdict(list)     # task -> (end, stopped reason)
    t0, t1 = float("inf"), 0.0
    for e in ev:
        if e.get("cat") == "sched":
            starts[e["name"]].append(e["ts"])
            ends[e["name"]].append((e["ts"] + e["dur"], e["args"].get("stopped", "")))
            t0, t1 = min(t0, e["ts"]), max(t1, e["ts"] + e["dur"])
    for k in starts:
        starts[k].sort()
        ends[k].sort()
    yields = collections.defaultdict(list)   # spinner task -> times of successful yield_to
    targets = []
    for e in ev:
        if e.get("cat") == "yield_to_label" and e["args"]["from"].startswith("guest1/") and e["args"]["result"] == "Success":
            yields[e["args"]["from"]].append(e["ts"])
            targets.append((e["ts"], e["args"]["to"]))
    for k in yields:
        yields[k].sort()
    runs_by_cpu = collections.defaultdict(list)
    for e in ev:
        if e.get("cat") == "sched":
            runs_by_cpu[e["tid"]].append((e["ts"], e["ts"] + e["dur"], e["name"]))
    for k in runs_by_cpu:
        runs_by_cpu[k].sort()

    def running(cpu, t):
        r = runs_by_cpu[cpu]
        i = bisect.bisect_right(r, (t, float("inf"), "")) - 1
        if i >= 0 and r[i][0] <= t < r[i][1]:
            return r[i][2].split("/")[0]
        return "idle"

    by_kind = collections.defaultdict(list)
    all_w, recent_w, other_w, preempts = [], [], [], 0
    for e in ev:
        if e.get("cat") != "wakeup" or not e["args"]["task"].startswith("guest1/vcpu"):
            continue
        task, t = e["args"]["task"], e["ts"]
        s = starts[task]
        i = bisect.bisect_left(s, t)
        if i >= len(s):
            continue
        wait = s[i] - t
        all_w.append(wait)
        preempts += 1 if e["args"]["preempts"] else 0
        by_kind["preempted it" if e["args"]["preempts"] else "did not preempt; CPU ran " + running(e["tid"], t - 0.0005)].append(wait)
        # when did it block: the end of its last run slice before the wake-up
        en = ends[task]
        j = bisect.bisect_left(en, (t, "")) - 1
        blocked = en[j][0] if j >= 0 else t
        y = yields.get(task, [])
        k = bisect.bisect_right(y, blocked) - 1
        (recent_w if k >= 0 and blocked - y[k] <= RECENT_US else other_w).append(wait)
    secs = (t1 - t0) / 1e6
    wakes = collections.defaultdict(list)
    for e in ev:
        if e.get("cat") == "wakeup":
            wakes[e["args"]["task"]].append(e["ts"])
    for k in wakes:
        wakes[k].sort()
    tstate = collections.Counter()
    for ts, to in targets:
        en = ends[to]
        j = bisect.bisect_left(en, (ts, "")) - 1
        if j < 0:
            tstate["other"] += 1
            continue
        end, why = en[j]
        w = wakes.get(to, [])
        k = bisect.bisect_right(w, ts) - 1
        if why == "Blocked" and k >= 0 and w[k] >= end:
            tstate["woken from HLT, waiting"] += 1
        elif why in ("Preempted", "Yielded"):
            tstate["preempted/yielded"] += 1
        else:
            tstate["other"] += 1
    yt = collections.defaultdict(list)
    for ts, to in targets:
        yt[to].append(ts)
    for k in yt:
        yt[k].sort()
    ended_by_yield = nonpre = 0
    for e in ev:
        if e.get("cat") != "wakeup" or not e["args"]["task"].startswith("guest1/vcpu") or e["args"]["preempts"]:
            continue
        task, t = e["args"]["task"], e["ts"]
        s_ = starts[task]
        i = bisect.bisect_left(s_, t)
        if i >= len(s_):
            continue
        nonpre += 1
        y = yt.get(task, [])
        k = bisect.bisect_right(y, s_[i]) - 1
        if k >= 0 and t <= y[k] and s_[i] - y[k] <= 20:
            ended_by_yield += 1
    ran_soon = 0
    for ts, to in targets:
        s = starts[to]
        i = bisect.bisect_left(s, ts)
        if i < len(s) and s[i] - ts <= 100:
            ran_soon += 1
    print(f"{os.path.basename(path)} ({secs * 1000:.0f} ms traced)")
    print(f"  guest1 VCPU wake-ups {len(all_w) / secs:.0f}/s, preempted the CPU's task {preempts / max(1, len(all_w)):.2f}; "
          f"wait until running: {summary(all_w)}")
    print(f"    after a successful yield_to within {RECENT_US / 1000:.0f} ms before blocking: {summary(recent_w)}")
    print(f"    otherwise: {summary(other_w)}")
    for k in sorted(by_kind):
        print(f"    wake-up {k}: {summary(by_kind[k])}")
    print(f"  successful yield_to by guest1 VCPUs {len(targets) / secs:.0f}/s; target ran within 100 us: "
          f"{ran_soon / max(1, len(targets)):.2f}; targets: " + ", ".join(f"{k} {v / secs:.0f}/s" for k, v in sorted(tstate.items())))
    print(f"  non-preempting wake-ups whose wait a yield_to to the woken VCPU ended: {ended_by_yield} of {nonpre} "
          f"({ended_by_yield / secs:.0f}/s)")

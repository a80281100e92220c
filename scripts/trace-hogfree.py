#!/usr/bin/env python3
"""Read-only analysis of `plesim run ... --trace FILE` traces of the riel-2011 AMQP scenario.

Written for docs/anomalies/amqp-no-ple-1.75x.md. Uses scripts/trace-placement.py's reader (a hog is
a loops VCPU that ran more than 30% of the window; a task "lives" on the CPU it last ran on or was
migrated to). Summed over the trace files given, it prints:

  configs  per 100 us sample, which tasks live on each host CPU, written per CPU as H (a hog) and
           A (an AMQP VCPU), the CPUs sorted: the share of samples of the commonest configurations,
           and the share of samples by (number of CPUs without a hog, AMQP VCPUs living on them).
  moves    every migration of an AMQP VCPU, by cause, whether it put it next to another AMQP VCPU
           ("stacks"), took it away from one ("unstacks"), both or neither, and whether its
           destination has a hog; every migration of a hog by cause and by how many AMQP VCPUs
           lived on its source and destination CPUs. Per second of traced window.
  work     per 100 us sample, the placement class (how many CPUs have no hog; the most AMQP VCPUs
           living on one CPU) and, per class, its share of samples, how many AMQP VCPUs were on a
           CPU, how many of them were spinning (a ground-truth spin-cause slice was open) and the
           difference, "working" (running and not spinning).

Usage: scripts/trace-hogfree.py configs|moves|work TRACE.json [TRACE.json ...]
"""
import bisect
import collections
import importlib.util
import os
import sys

_spec = importlib.util.spec_from_file_location(
    "trace_placement", os.path.join(os.path.dirname(os.path.abspath(__file__)), "trace-placement.py"))
tp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tp)


def placement_at(t, ts):
    """Per CPU, how many hogs and how many AMQP VCPUs live there at time ts."""
    hogs, amqp = collections.Counter(), collections.Counter()
    for group, counter in ((t.hogs, hogs), (t.amqp, amqp)):
        for task in group:
            c = t.home(task, ts)
            if c is not None:
                counter[c] += 1
    return hogs, amqp

def configs(paths):
    cfg, free, n = collections.Counter(), collections.Counter(), 0
    for path in paths:
        t = tp.Trace(path)
        cpus_seen = max(e["tid"] for e in t.sched) + 1
        ts = t.t0
        while ts < t.t1:
            hogs, amqp = placement_at(t, ts)
            per = [("H" * hogs[c] + "A" * amqp[c]) or "-" for c in range(cpus_seen)]
            cfg[" ".join(sorted(per, key=lambda s: (-s.count("H"), -len(s), s)))] += 1
            free[(sum(1 for c in range(cpus_seen) if hogs[c] == 0),
                  sum(amqp[c] for c in range(cpus_seen) if hogs[c] == 0))] += 1
            n += 1
            ts += 100
    print("configuration (per CPU: H hog, A AMQP VCPU)  share of samples")
    for k, v in cfg.most_common(10):
        print("  %-24s %.3f" % (k, v / n))
    print("(CPUs without a hog, AMQP VCPUs living on them)  share of samples")
    for k, v in sorted(free.items()):
        if v / n >= 0.005:
            print("  %-24s %.3f" % (k, v / n))


def moves(paths):
    c, span = collections.Counter(), 0.0
    for path in paths:
        t = tp.Trace(path)
        span += t.span / 1e6
        for e in t.ev:
            if e.get("cat") != "migrate":
                continue
            a = e["args"]
            task, fr, to, cause, ts = a["task"], a["from"], a["to"], a["cause"], e["ts"]
            if task in t.amqp:
                others = [t.home(x, ts, strict=True) for x in t.amqp if x != task]
                hogs_to = sum(1 for h in t.hogs if t.home(h, ts, strict=True) == to)
                stack, unstack = to in others, fr in others
                kind = "both" if stack and unstack else "stacks" if stack else "unstacks" if unstack else "neither"
                c[("AMQP", cause, kind, "to a hog-free CPU" if hogs_to == 0 else "to a hog's CPU")] += 1
            elif task in t.hogs:
                amqp_to = sum(1 for x in t.amqp if t.home(x, ts, strict=True) == to)
                amqp_fr = sum(1 for x in t.amqp if t.home(x, ts, strict=True) == fr)
                c[("hog", cause, "src AMQP=%d" % amqp_fr, "dest AMQP=%d" % amqp_to)] += 1
    for k, v in sorted(c.items(), key=lambda kv: -kv[1]):
        print("%-5s %-16s %-11s %-18s %6.2f/s" % (*k, v / span))


def work(paths):
    acc, n_all = collections.defaultdict(lambda: [0, 0, 0]), 0
    for path in paths:
        t = tp.Trace(path)
        cpus_seen = max(e["tid"] for e in t.sched) + 1
        runs = {c: sorted(v) for c, v in t.runs.items()}
        starts = {c: [r[0] for r in v] for c, v in runs.items()}
        spins = collections.defaultdict(list)
        for e in t.ev:
            if e.get("cat") == "spin_cause":
                spins[e["args"]["vcpu"]].append((e["ts"], e["ts"] + e["dur"]))
        for k in spins:
            spins[k].sort()
        spin_starts = {k: [s for s, _ in v] for k, v in spins.items()}
        ts = t.t0
        while ts < t.t1:
            hogs, amqp = placement_at(t, ts)
            key = (sum(1 for c in range(cpus_seen) if hogs[c] == 0), max(amqp[c] for c in range(cpus_seen)))
            running = 0
            for c in range(cpus_seen):
                i = bisect.bisect_right(starts.get(c, []), ts) - 1
                if i >= 0 and runs[c][i][1] > ts and runs[c][i][2].startswith("amqp/vcpu"):
                    running += 1
            spinning = 0
            for a in t.amqp:
                i = bisect.bisect_right(spin_starts.get(a, []), ts) - 1
                if i >= 0 and spins[a][i][1] > ts:
                    spinning += 1
            acc[key][0] += 1
            acc[key][1] += running
            acc[key][2] += spinning
            n_all += 1
            ts += 100
    print("hog-free CPUs, most AMQP VCPUs on one CPU   share   AMQP VCPUs on a CPU   spinning   working")
    tot = [0, 0, 0]
    for k, (n, r, s) in sorted(acc.items()):
        print("  %d, %d %40.1f%% %21.2f %10.2f %9.2f" % (k[0], k[1], 100 * n / n_all, r / n, s / n, (r - s) / n))
        tot = [tot[0] + n, tot[1] + r, tot[2] + s]
    print("  all %39.1f%% %21.2f %10.2f %9.2f" % (100, tot[1] / tot[0], tot[2] / tot[0], (tot[1] - tot[2]) / tot[0]))


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("configs", "moves", "work"):
        sys.exit(__doc__)
    {"configs": configs, "moves": moves, "work": work}[sys.argv[1]](sys.argv[2:])

#!/usr/bin/env python3
"""Read-only analysis of `plesim run ... --trace FILE` traces of the riel-2011 AMQP scenario.

Written for docs/anomalies/riel-2011-overcommit-shape.md. It reads only the trace JSON (host CPU
slices, migrations, wake-ups, guest lock slices and the ground-truth spin-cause slices) and prints,
summed over the trace files given:

  placement  where each AMQP VCPU "lives" (the CPU it last ran on or was migrated to, sampled every
             100 us of the traced window): on a CPU shared with another AMQP VCPU ("sibling"), with
             a hog but no other AMQP VCPU ("hog"), or alone; and the share of time the four AMQP
             VCPUs live on four different CPUs.
  migrations AMQP VCPU and hog migrations per second by cause, from/to a CPU where a hog lives.
  wakeups    wake-ups of AMQP VCPUs per second by what was running on the target CPU, the share
             that preempted it (check_preempt_wakeup), and the time until the woken VCPU next ran.
  spin       the spin time caused by a preempted lock holder or next ticket waiter, by where that
             VCPU was: queued on the spinner's own CPU, or on another CPU behind an AMQP VCPU or a
             hog. The holder comes from the lock's hold slices; the next waiter is taken to be the
             earliest-started other spinner on the same lock (an approximation of ticket order).

A hog is a VCPU of the loops guest that ran more than 30% of the window.
Usage: scripts/trace-placement.py placement|migrations|wakeups|spin TRACE.json [TRACE.json ...]
"""
import bisect
import collections
import json
import statistics
import sys


class Trace:
    def __init__(self, path):
        ev = json.load(open(path))["traceEvents"]
        self.ev = ev
        self.sched = sorted((e for e in ev if e.get("cat") == "sched"), key=lambda e: e["ts"])
        self.t0 = min(e["ts"] for e in self.sched)
        self.t1 = max(e["ts"] + e["dur"] for e in self.sched)
        self.span = self.t1 - self.t0
        ran = collections.Counter()
        self.home_pts = collections.defaultdict(list)
        self.runs = collections.defaultdict(list)
        self.starts = collections.defaultdict(list)
        for e in self.sched:
            ran[e["name"]] += e["dur"]
            self.home_pts[e["name"]].append((e["ts"], e["tid"]))
            self.runs[e["tid"]].append((e["ts"], e["ts"] + e["dur"], e["name"]))
            self.starts[e["name"]].append(e["ts"])
        for e in ev:
            if e.get("cat") == "migrate":
                self.home_pts[e["args"]["task"]].append((e["ts"], e["args"]["to"]))
        for k in self.home_pts:
            self.home_pts[k].sort()
        self.amqp = sorted(k for k in self.home_pts if k.startswith("amqp/vcpu"))
        self.hogs = sorted(k for k in ran if k.startswith("loops/") and ran[k] / self.span > 0.3)

    def home(self, task, t, strict=False):
        p = self.home_pts[task]
        i = (bisect.bisect_left(p, (t, -1)) if strict else bisect.bisect_right(p, (t, 1 << 30))) - 1
        return p[i][1] if i >= 0 else None

    def running(self, cpu, t):
        runs = self.runs[cpu]
        i = bisect.bisect_right(runs, (t, float("inf"), "")) - 1
        if i >= 0 and runs[i][0] <= t < runs[i][1]:
            return runs[i][2]
        return None

    def kind(self, task):
        if task is None:
            return "idle"
        if task in self.hogs:
            return "hog"
        if task.startswith("amqp/"):
            return "AMQP VCPU"
        return "other"


def placement(traces):
    tot = collections.Counter()
    for tr in traces:
        t = tr.t0
        while t < tr.t1:
            amqp_home = {a: tr.home(a, t) for a in tr.amqp}
            hog_cpus = {tr.home(h, t) for h in tr.hogs}
            per_cpu = collections.Counter(amqp_home.values())
            for a, cpu in amqp_home.items():
                tot["sibling" if per_cpu[cpu] > 1 else ("hog" if cpu in hog_cpus else "alone")] += 1
            tot["samples"] += 1
            tot["spread"] += len(per_cpu) == 4
            t += 100
    n = tot["samples"] * 4
    print(f"AMQP VCPU time living with another AMQP VCPU {tot['sibling'] / n:.3f}, with a hog only "
          f"{tot['hog'] / n:.3f}, alone {tot['alone'] / n:.3f}; four AMQP VCPUs on four CPUs "
          f"{tot['spread'] / tot['samples']:.3f} of the time")


def migrations(traces):
    tot = collections.Counter()
    for tr in traces:
        for e in tr.ev:
            if e.get("cat") != "migrate":
                continue
            a, t = e["args"], e["ts"]
            if a["task"] in tr.hogs:
                who = "hog"
            elif a["task"].startswith("amqp/"):
                who = "AMQP VCPU"
            else:
                continue
            hog_cpus = {tr.home(h, t, strict=True) for h in tr.hogs if h != a["task"]}
            src = "hog CPU" if a["from"] in hog_cpus else "hog-free CPU"
            dst = "hog CPU" if a["to"] in hog_cpus else "hog-free CPU"
            tot[(who, a["cause"], f"{src} -> {dst}")] += 1
    secs = sum(tr.span for tr in traces) / 1e6
    for k, v in sorted(tot.items(), key=lambda x: -x[1]):
        print(f"{k[0]:10s} {k[1]:16s} {k[2]:30s} {v / secs:6.1f}/s")


def wakeups(traces):
    res = collections.defaultdict(list)
    for tr in traces:
        for e in tr.ev:
            if e.get("cat") != "wakeup" or not e["args"]["task"].startswith("amqp/vcpu"):
                continue
            task, t = e["args"]["task"], e["ts"]
            cur = tr.running(e["tid"], t - 0.0005)
            s = tr.starts[task]
            i = bisect.bisect_left(s, t)
            wait = s[i] - t if i < len(s) else None
            res[tr.kind(cur)].append((e["args"]["preempts"], wait))
    secs = sum(tr.span for tr in traces) / 1e6
    for k, v in sorted(res.items(), key=lambda x: -len(x[1])):
        w = sorted(x[1] for x in v if x[1] is not None)
        print(f"running on the target CPU: {k:9s} {len(v) / secs:7.1f}/s, preempted it "
              f"{sum(1 for x in v if x[0]) / len(v):.2f}; wait until it ran: mean {statistics.mean(w):7.1f} us, "
              f"p90 {w[int(0.9 * len(w))]:7.1f} us")


def spin(traces):
    tot = collections.Counter()
    for tr in traces:
        spins, holds = collections.defaultdict(list), collections.defaultdict(list)
        for e in tr.ev:
            if e.get("cat") == "lock" and e["pid"] == 10 and "args" in e:
                kind, name = e["name"].split(" ", 1)
                (spins if kind == "spin" else holds)[name].append((e["ts"], e["ts"] + e["dur"], e["args"]["vcpu"]))
        for d in (spins, holds):
            for k in d:
                d[k].sort()
        for e in tr.ev:
            if e.get("cat") != "spin_cause" or e["pid"] != 10:
                continue
            if e["name"] not in ("holder_preempted", "next_waiter_preempted"):
                continue
            v = int(e["args"]["vcpu"].split("vcpu")[1])
            t = e["ts"] + e["dur"] / 2
            lock = next(((name, s) for name, lst in spins.items() for (s, f, vv) in lst if vv == v and s <= t < f), None)
            target = None
            if lock is not None:
                name, since = lock
                if e["name"] == "holder_preempted":
                    target = next((vv for (s, f, vv) in holds[name] if s <= t < f), None)
                else:
                    ahead = [(s, vv) for (s, f, vv) in spins[name] if s < since and f > t and vv != v]
                    target = min(ahead)[1] if ahead else None
            if target is None:
                where = "not identified"
            else:
                mine = tr.home(f"amqp/vcpu{v}", t)
                theirs = tr.home(f"amqp/vcpu{target}", t)
                where = ("queued on the spinner's own CPU" if theirs == mine
                         else f"on another CPU behind a {tr.kind(tr.running(theirs, t))}")
            tot[(e["name"], where)] += e["dur"]
    total = sum(tot.values())
    for k, v in sorted(tot.items(), key=lambda x: -x[1]):
        print(f"{k[0]:22s} {k[1]:36s} {v / total:.3f}")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("placement", "migrations", "wakeups", "spin"):
        sys.exit(__doc__)
    {"placement": placement, "migrations": migrations, "wakeups": wakeups, "spin": spin}[sys.argv[1]](
        [Trace(p) for p in sys.argv[2:]])

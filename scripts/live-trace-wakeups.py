"""Sleeper wake-up latency by phase after the last scheduler tick, from an ftrace text dump of CPU 0
(sched_wakeup, sched_switch, hrtimer_expire_entry); see scripts/live-trace-hog-sleeper.sh."""
import re,sys,collections
ev=[]
pat=re.compile(r'^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+):\s+(\w+):\s+(.*)$')
for line in open(sys.argv[1]):
    m=pat.match(line)
    if not m: continue
    comm,pid,cpu,ts,name,rest=m.groups()
    ev.append((float(ts),comm,name,rest))
last_tick=None; running=None
pending=None  # (t_wake, phase, running_at_wake)
res=[]
for ts,comm,name,rest in ev:
    if name=='hrtimer_expire_entry' and 'tick_' in rest:
        last_tick=ts
    elif name=='sched_wakeup' and 'comm=live:sleeper' in rest:
        pending=(ts, None if last_tick is None else ts-last_tick, comm)
    elif name=='sched_switch':
        m=re.search(r'next_comm=(.+?) next_pid',rest)
        nxt=m.group(1) if m else '?'
        if pending and nxt=='live:sleeper':
            res.append((pending[0], pending[1], pending[2], ts-pending[0]))
            pending=None
n=len(res)
print('wake-ups', n)
hog=[r for r in res if r[2].startswith('live:hog')]
print('woken while live:hog was current', len(hog))
bins=collections.defaultdict(list)
for t,ph,cur,lat in hog:
    if ph is None: continue
    bins[min(int(ph*1000),4)].append(lat*1e6)
for b in sorted(bins):
    xs=sorted(bins[b]); 
    slow=sum(1 for x in xs if x>500)
    print(f'phase {b}-{b+1} ms after tick: n={len(xs)} median {xs[len(xs)//2]:.0f} us, >500us: {slow}')
lat=sorted(r[3]*1e6 for r in hog)
if lat: print('latency p50 %.0f p90 %.0f p99 %.0f us' % (lat[len(lat)//2], lat[int(len(lat)*.9)], lat[min(len(lat)-1,int(len(lat)*.99))]))

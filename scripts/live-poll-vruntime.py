"""Poll /proc/PID/task/TID/sched of the live:hog and live:sleeper threads of a running `plesim live
scenarios/live/hog-and-sleeper.yaml` (pinned to CPU 1, about one sample per 30 us for 2 s) and write
monotonic ns, hog vruntime, hog sum_exec_runtime, sleeper vruntime, sleeper sum_exec_runtime and
sleeper nr_switches (ms for the times) to OUT (default /tmp/plesim-live-poll.tsv). Start it just before
`plesim live`; it waits for the threads. The sleeper's lag when it blocks is (hog - sleeper vruntime)/2."""
import os,time,glob,sys
os.sched_setaffinity(0,{1})
tids={}
t0=time.time()
while len(tids)<2 and time.time()-t0<30:
    for c in glob.glob('/proc/[0-9]*/task/[0-9]*/comm'):
        try: n=open(c).read().strip()
        except: continue
        if n in ('live:hog','live:sleeper'): tids[n]=c[:-4]+'sched'
    time.sleep(0.01)
time.sleep(1.0)
fh={n:open(p) for n,p in tids.items()}
def rd(f):
    f.seek(0); d={}
    for line in f.read().split('\n')[2:12]:
        if ':' in line:
            k,v=line.split(':',1); d[k.strip()]=float(v)
    return d
out=[]
end=time.monotonic_ns()+2_000_000_000
while time.monotonic_ns()<end:
    t=time.monotonic_ns(); h=rd(fh['live:hog']); s=rd(fh['live:sleeper'])
    out.append((t,h['se.vruntime'],h['se.sum_exec_runtime'],s['se.vruntime'],s['se.sum_exec_runtime'],s['nr_switches']))
with open(sys.argv[1] if len(sys.argv) > 1 else '/tmp/plesim-live-poll.tsv','w') as f:
    for r in out: f.write('\t'.join(map(str,r))+'\n')
print('samples',len(out))

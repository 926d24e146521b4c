#!/usr/bin/env python3
"""Resource sampler for one or more service process trees.

``sample``: every --interval seconds, walk the trees under the given PIDs
(children found through /proc/PID/task/TID/children) and sum ``VmRSS`` and
``Threads`` from /proc/PID/status over every process seen.  Runs until it
gets SIGTERM/SIGINT or every root PID is gone, then writes a JSON summary
(--out) with the peaks; with --timeline also one JSON line per sample
(epoch seconds, RSS MiB, threads, processes), for splitting peaks by phase.

``report``: combine a bench.py result (/work/shared/peer/bench.py JSON and
its stderr log) with the sampler's summary and timeline into one JSON: the
provision phases' seconds, the whole cycle, and the peak RSS / threads
over the whole run and within the provision cycle.

Linux only; needs nothing beyond the standard library.

  proc_sampler.py sample --pid 123 --pid 456 --interval 0.5 \\
      --out sampler.json --timeline sampler.jsonl &
  ...
  kill -TERM $!   # writes sampler.json
  proc_sampler.py report --bench bench.json --bench-log bench.stderr \\
      --sampler sampler.json --timeline sampler.jsonl --out result.json
"""

import argparse
import json
import os
import re
import signal
import sys
import threading
import time

PHASES = ('manage', 'provide', 'deploy', 'undeploy')


# --------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------

def read_status(pid):
    """{'VmRSS': kB, 'VmHWM': kB, 'Threads': n, 'Name': str} or None once
    it is gone."""
    out = {}
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                key, _, value = line.partition(':')
                if key in ('VmRSS', 'VmHWM', 'Threads'):
                    out[key] = int(value.split()[0])
                elif key == 'Name':
                    out[key] = value.strip()
    except (OSError, ValueError):
        return None
    return out


def cpu_seconds(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    except (OSError, IndexError, ValueError):
        return None


def tree(root):
    """root and all its descendants (those alive right now)."""
    pids, seen = [root], {root}
    i = 0
    while i < len(pids):
        pid = pids[i]
        i += 1
        try:
            tids = os.listdir('/proc/%d/task' % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open('/proc/%d/task/%s/children' % (pid, tid)) as f:
                    kids = [int(x) for x in f.read().split()]
            except (OSError, ValueError):
                continue
            for kid in kids:
                if kid not in seen:
                    seen.add(kid)
                    pids.append(kid)
    return pids


class Sampler:
    def __init__(self, roots, interval, timeline=None):
        self.roots = list(roots)
        self.interval = interval
        self.timeline = timeline
        self.samples = 0
        self.started = time.time()
        self.peak_rss_kb = 0
        self.peak_rss_at = None
        self.threads_at_rss_peak = None
        self.peak_threads = 0
        self.peak_threads_at = None
        self.rss_at_threads_peak_kb = None
        self.max_procs = 0
        self.per_root = {r: {'peak_rss_kb': 0, 'peak_threads': 0,
                             'name': None} for r in self.roots}
        self.cpu = {}          # pid -> last CPU seconds seen
        self.names = {}

    def alive_roots(self):
        return [r for r in self.roots if os.path.exists('/proc/%d' % r)]

    def sample(self):
        now = time.time()
        seen = set()
        rss_total, threads_total = 0, 0
        for root in self.roots:
            root_rss, root_threads = 0, 0
            info = self.per_root[root]
            for pid in tree(root):
                if pid in seen:
                    continue
                seen.add(pid)
                st = read_status(pid)
                if st is None:
                    continue
                root_rss += st.get('VmRSS', 0)
                root_threads += st.get('Threads', 0)
                self.names[pid] = st.get('Name')
                cpu = cpu_seconds(pid)
                if cpu is not None:
                    self.cpu[pid] = cpu
                    info.setdefault('pids', set()).add(pid)
            info['peak_rss_kb'] = max(info['peak_rss_kb'], root_rss)
            info['peak_threads'] = max(info['peak_threads'], root_threads)
            if info['name'] is None:
                info['name'] = self.names.get(root)
            rss_total += root_rss
            threads_total += root_threads
        self.samples += 1
        self.max_procs = max(self.max_procs, len(seen))
        if rss_total > self.peak_rss_kb:
            self.peak_rss_kb = rss_total
            self.peak_rss_at = now
            self.threads_at_rss_peak = threads_total
        if threads_total > self.peak_threads:
            self.peak_threads = threads_total
            self.peak_threads_at = now
            self.rss_at_threads_peak_kb = rss_total
        if self.timeline is not None:
            self.timeline.write(json.dumps({
                't': round(now, 3), 'rss_mib': round(rss_total / 1024.0, 1),
                'threads': threads_total, 'procs': len(seen)}) + '\n')
            self.timeline.flush()

    def summary(self):
        def mib(kb):
            return None if kb is None else round(kb / 1024.0, 1)
        return {
            'roots': self.roots,
            'interval_s': self.interval,
            'samples': self.samples,
            'started': self.started,
            'finished': time.time(),
            'peak_rss_mib': mib(self.peak_rss_kb),
            'peak_rss_at': self.peak_rss_at,
            'threads_at_rss_peak': self.threads_at_rss_peak,
            'peak_threads': self.peak_threads,
            'peak_threads_at': self.peak_threads_at,
            'rss_mib_at_threads_peak': mib(self.rss_at_threads_peak_kb),
            'max_processes': self.max_procs,
            'per_root': {
                str(r): {'name': v['name'],
                         'peak_rss_mib': mib(v['peak_rss_kb']),
                         'peak_threads': v['peak_threads'],
                         'cpu_seconds': round(sum(
                             self.cpu.get(p, 0) for p in v.get('pids', ())),
                             2)}
                for r, v in self.per_root.items()},
            # CPU of every process seen, as last read (processes that
            # exited between samples lose their last interval)
            'cpu_seconds': round(sum(self.cpu.values()), 2),
        }


def cmd_sample(args):
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    timeline = open(args.timeline, 'w') if args.timeline else None
    sampler = Sampler(args.pid, args.interval, timeline)
    try:
        while not stop.is_set():
            if not sampler.alive_roots():
                break
            sampler.sample()
            stop.wait(args.interval)
    finally:
        summary = sampler.summary()
        if timeline:
            timeline.close()
        text = json.dumps(summary, indent=2)
        if args.out:
            tmp = args.out + '.tmp'
            with open(tmp, 'w') as f:
                f.write(text + '\n')
            os.replace(tmp, args.out)
        else:
            print(text)
    return 0


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

LOG_RE = re.compile(r'^\[(\d\d):(\d\d):(\d\d)\] provision (\w+): '
                    r'reached=(\d+) failed=(\d+) timeout=(\d+) '
                    r'wall=([\d.]+)s')


def phase_windows(log_path, day_start):
    """{phase: (start epoch, end epoch)} from bench.py's stderr lines
    '[HH:MM:SS] provision manage: reached=... wall=12.3s' (local time,
    one-second resolution)."""
    windows = {}
    try:
        lines = open(log_path).read().splitlines()
    except OSError:
        return windows
    for line in lines:
        m = LOG_RE.match(line)
        if not m or m.group(4) not in PHASES:
            continue
        hh, mm, ss = (int(m.group(i)) for i in (1, 2, 3))
        end = day_start + hh * 3600 + mm * 60 + ss
        # the run may cross midnight
        while end < windows.get('_last', end):
            end += 86400
        windows['_last'] = end
        wall = float(m.group(8))
        windows[m.group(4)] = (end - wall - 1.0, end + 1.0)
    windows.pop('_last', None)
    return windows


def read_timeline(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return rows


def peaks(rows, lo=None, hi=None):
    sel = [r for r in rows if (lo is None or r['t'] >= lo) and
           (hi is None or r['t'] <= hi)]
    if not sel:
        return None
    top_rss = max(sel, key=lambda r: r['rss_mib'])
    top_thr = max(sel, key=lambda r: r['threads'])
    return {'peak_rss_mib': top_rss['rss_mib'],
            'threads_at_rss_peak': top_rss['threads'],
            'peak_threads': top_thr['threads'],
            'samples': len(sel)}


def cmd_report(args):
    bench = {}
    try:
        with open(args.bench) as f:
            bench = json.load(f)
    except (OSError, ValueError) as exc:
        bench = {'fatal': 'no bench.py result: %s' % exc}
    sampler = {}
    if args.sampler:
        try:
            with open(args.sampler) as f:
                sampler = json.load(f)
        except (OSError, ValueError) as exc:
            sampler = {'error': str(exc)}
    rows = read_timeline(args.timeline) if args.timeline else []

    prov = bench.get('provision') or {}
    phases = {}
    for name in PHASES:
        p = prov.get(name)
        if not p:
            continue
        phases[name] = {
            'seconds': p.get('wall_s_all_reached'),
            'wall_s': p.get('wall_s'),
            'submitted': p.get('submitted'),
            'reached': p.get('reached'),
            'failed': p.get('failed'),
            'timed_out': p.get('timed_out'),
            'timed_out_states': p.get('timed_out_states'),
            'request_errors': p.get('request_errors'),
            'failed_samples': p.get('failed_samples'),
            'request_error_samples': p.get('request_error_samples'),
            'service_cpu_s_root_only': p.get('service_cpu_s'),
        }
    day = time.localtime(sampler.get('started') or time.time())
    day_start = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0,
                             0, 0, -1))
    windows = phase_windows(args.bench_log, day_start) \
        if args.bench_log else {}
    cycle_peaks, per_phase = None, {}
    if windows and rows:
        for name, (lo, hi) in windows.items():
            per_phase[name] = peaks(rows, lo, hi)
        lo = min(w[0] for w in windows.values())
        hi = max(w[1] for w in windows.values())
        cycle_peaks = peaks(rows, lo, hi)
    all_ok = bool(phases) and len(phases) == len(PHASES) and all(
        p['seconds'] is not None for p in phases.values())
    result = {
        'label': args.label,
        'layout': json.loads(args.layout) if args.layout else None,
        'endpoint': bench.get('endpoint'),
        'started': bench.get('started'),
        'finished': bench.get('finished'),
        'fatal': bench.get('fatal'),
        'provision_nodes': prov.get('nodes'),
        'phase_seconds': {n: p['seconds'] for n, p in phases.items()},
        'cycle_seconds': prov.get('total_wall_s'),
        'completed_full_cycle': prov.get('completed_full_cycle'),
        'all_phases_complete': all_ok,
        'phases': phases,
        'peak_rss_mib': sampler.get('peak_rss_mib'),
        'peak_threads': sampler.get('peak_threads'),
        'threads_at_rss_peak': sampler.get('threads_at_rss_peak'),
        'during_cycle': cycle_peaks,
        'per_phase_peaks': per_phase,
        'service_cpu_seconds': sampler.get('cpu_seconds'),
        'per_process': sampler.get('per_root'),
        'bench_service_rss': {
            k: (bench.get('service') or {}).get(k)
            for k in ('pid', 'peak_rss_tree_mib', 'cpu_seconds_tree')},
        'scale': [{
            'target_n': s.get('target_n'),
            'enroll_nodes_per_s': (s.get('enroll') or {}).get('nodes_per_s'),
            'nodes_first_page_median_ms': ((s.get('list') or {}).get(
                'nodes_first_page') or {}).get('median_ms'),
            'detail_first_page_median_ms': ((s.get('list') or {}).get(
                'nodes_detail_first_page') or {}).get('median_ms'),
        } for s in bench.get('scale') or []],
        'sources': {'bench': args.bench, 'bench_log': args.bench_log,
                    'sampler': args.sampler, 'timeline': args.timeline},
    }
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    print(text)
    return 0 if all_ok and not bench.get('fatal') else 1


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('sample', help='sample process trees until signalled')
    s.add_argument('--pid', type=int, action='append', required=True,
                   help='root PID (repeat for several services)')
    s.add_argument('--interval', type=float, default=0.5)
    s.add_argument('--out', help='summary JSON (default: stdout)')
    s.add_argument('--timeline', help='JSON-lines file, one line a sample')
    r = sub.add_parser('report', help='combine bench.py and sampler output')
    r.add_argument('--bench', required=True, help='bench.py --out JSON')
    r.add_argument('--bench-log', help="bench.py's stderr")
    r.add_argument('--sampler', help='summary JSON of "sample"')
    r.add_argument('--timeline', help='timeline of "sample"')
    r.add_argument('--label', default=None)
    r.add_argument('--layout', help='JSON object describing the layout')
    r.add_argument('--out')
    args = ap.parse_args(argv)
    return cmd_sample(args) if args.cmd == 'sample' else cmd_report(args)


if __name__ == '__main__':
    sys.exit(main())

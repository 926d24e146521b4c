#!/usr/bin/env python3
"""Power-state sync figures: sweeps over N Redfish nodes on the emulator.

Target: a sweep over 1,000 Redfish nodes in at most 10 s on this machine
with one BMC request per node, and the same with 100 unreachable BMCs
mixed in.

The sync runs in this process, exactly as the conductor's periodic task
calls it (``bootflow.conductor.power.sync_power_states``), on a fresh
SQLite database, against one tools/bmc/redfish_emulator.py process
serving every machine (so every healthy node is behind ONE BMC address,
and ``[conductor]sync_power_state_per_bmc`` caps how many are read at
once). Timing it in-process rather than through the periodic loop gives
each sweep's exact start and end.

1. ``healthy``: N nodes. Sweep 1 is cold (the Redfish connection is being
   made), sweeps 2..K warm. Before each warm sweep, ``--flips`` machines
   change power behind bootflow's back (emulator PATCH); with
   ``force_power_state_during_sync`` off the sweep records what it finds,
   so "caught" counts nodes whose recorded state followed.
2. ``dead``: the same N plus ``--dead`` unreachable BMCs, each its own
   address: 40 % at closed ports (refused at once), 30 % at a blackhole
   that accepts and never answers (the read budget runs out), 30 % at a
   blackhole whose listen queue is full (the connect timeout runs out).
   Nodes whose read failed become suspects, read in a side pool that the
   next sweeps do not wait for; after the last sweep the bench waits for
   that pool to drain.

Per sweep: seconds, power reads made (from a timing wrapper around the
Redfish power interface's ``get_power_state``), emulator requests
(counted by the emulator itself) per healthy node, how many distinct
systems were read and how many more than once, and how long after the
sweep began a healthy node's read ended (its state's staleness).

    .tox/py3/bin/python benchmarks/power_sync_bench.py [--nodes 1000]
        [--dead 100] [--sweeps 4] [--workers 8] [--per-bmc 4]
        [--json out.json] [--set section.option=value ...]

Figures on stdout (a table, or JSON with --json -), progress on stderr.
"""

import argparse
import collections
import json
import logging
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests.functional import bmc_emulators  # noqa: E402

UUID_PREFIX = 'b0f10000-0000-4000-8000-'
USERNAME, PASSWORD = 'admin', 'bench-bmc-pass'
SUSPECT_THREAD = 'power-sync-suspects'


def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def rnd(x, digits=2):
    return None if x is None else round(x, digits)


def system_uuid(i):
    return '%s%012x' % (UUID_PREFIX, i)


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class DeadBMC(bmc_emulators._Process):
    """tools/bmc/blackhole.py in one of its modes, on its own port."""

    def __init__(self, workdir, mode):
        self.port = bmc_emulators.free_port()
        super().__init__([bmc_emulators.TOOLS / 'blackhole.py', '--port',
                          self.port, '--mode', mode], workdir,
                         'blackhole-%s-%d' % (mode, self.port))
        self.address = 'http://127.0.0.1:%d' % self.port


def closed_ports(count, taken):
    """Ports nothing listens on (bound once, then released)."""
    ports = set()
    while len(ports) < count:
        port = bmc_emulators.free_port()
        if port not in taken:
            ports.add(port)
    return sorted(ports)


class ReadRecorder:
    """Times every Redfish power read: which node, when, on which thread,
    and whether it succeeded."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reads = []

    def install(self):
        from bootflow.drivers.modules.redfish import power as rf_power
        original = rf_power.RedfishPower.get_power_state
        recorder = self

        def timed(iface, task):
            start, ok = time.monotonic(), False
            try:
                state = original(iface, task)
                ok = True
                return state
            finally:
                with recorder.lock:
                    recorder.reads.append(
                        (task.node.uuid, start, time.monotonic(), ok,
                         threading.current_thread().name))
        rf_power.RedfishPower.get_power_state = timed

    def since(self, mark):
        with self.lock:
            return self.reads[mark:]

    def mark(self):
        with self.lock:
            return len(self.reads)


# --- setting up -------------------------------------------------------------


def configure(args, work):
    from bootflow.conf import CONF
    CONF([], project='bootflow', default_config_files=[])
    options = {
        'DEFAULT': {'host': 'powerbench', 'state_path': work},
        'database': {'connection': 'sqlite:///%s/bootflow.sqlite' % work},
        'conductor': {'sync_power_state_interval': 0,
                      'sync_power_state_workers': args.workers,
                      'sync_power_state_per_bmc': args.per_bmc,
                      'force_power_state_during_sync': False},
    }
    if args.read_budget is not None:
        options['conductor']['sync_power_state_timeout'] = args.read_budget
    for item in args.set:
        key, value = item.split('=', 1)
        section, option = key.rsplit('.', 1) if '.' in key else (
            'DEFAULT', key)
        options.setdefault(section, {})[option] = value
    for section, values in options.items():
        group = None if section == 'DEFAULT' else section
        for name, value in values.items():
            CONF.set_override(name, value, group)
    return CONF


def start_service(work):
    from bootflow.conductor import service as conductor_service
    from bootflow.db import engine as db_engine
    from bootflow.db import migration
    db_engine.dispose()
    migration.upgrade()
    svc = conductor_service.ConductorService(host='powerbench')
    svc.start(with_rpc=False)
    return svc


def enroll(name, driver_info):
    from bootflow.common import states
    from bootflow.db import api as db_api
    values = {'name': name, 'driver': 'redfish', 'driver_info': driver_info,
              'provision_state': states.AVAILABLE,
              'power_state': states.POWER_OFF}
    for kind in ('bios', 'boot', 'console', 'deploy', 'firmware', 'inspect',
                 'management', 'network', 'power', 'raid', 'rescue',
                 'storage', 'vendor'):
        values['%s_interface' % kind] = None
    values['power_interface'] = values['management_interface'] = 'redfish'
    return db_api.create_node(values)


def enroll_healthy(emulator, count):
    nodes = {}
    for i in range(count):
        uuid = system_uuid(i)
        row = enroll('rf-%04d' % i, emulator.driver_info(
            '/redfish/v1/Systems/' + uuid))
        nodes[row['uuid']] = {'system': uuid, 'id': row['id']}
    return nodes


def start_dead(args, work):
    """The unreachable BMCs: (kind, address) per dead node."""
    refused = args.dead * 4 // 10
    accept = (args.dead - refused) // 2
    syn_drop = args.dead - refused - accept
    procs = ([DeadBMC(work, 'accept') for _ in range(accept)] +
             [DeadBMC(work, 'syn-drop') for _ in range(syn_drop)])
    taken = {p.port for p in procs}
    bmcs = [('refused', 'http://127.0.0.1:%d' % port)
            for port in closed_ports(refused, taken)]
    bmcs += [('accept' if i < accept else 'syn-drop', p.address)
             for i, p in enumerate(procs)]
    return procs, bmcs


def enroll_dead(bmcs):
    nodes = {}
    for i, (kind, address) in enumerate(bmcs):
        row = enroll('dead-%03d-%s' % (i, kind), {
            'redfish_address': address,
            'redfish_system_id': '/redfish/v1/Systems/1',
            'redfish_username': USERNAME, 'redfish_password': PASSWORD})
        nodes[row['uuid']] = {'kind': kind, 'id': row['id']}
    return nodes


# --- sweeping ---------------------------------------------------------------


def flip(emulator, healthy, count, rng):
    """Change ``count`` machines' power on the emulator; returns
    {node uuid: the recorded state it should now have}."""
    from bootflow.common import states
    from bootflow.db import api as db_api
    flipped = {}
    for uuid in rng.sample(sorted(healthy), min(count, len(healthy))):
        node = db_api.get_node(healthy[uuid]['id'])
        now_on = node['power_state'] != states.POWER_ON
        resp = emulator.http.patch(
            emulator.address + '/_emulator/systems/' +
            healthy[uuid]['system'],
            json={'power_state': 'On' if now_on else 'Off'}, timeout=30)
        resp.raise_for_status()
        flipped[uuid] = states.POWER_ON if now_on else states.POWER_OFF
    return flipped


def caught(flipped, healthy):
    from bootflow.db import api as db_api
    return sum(1 for uuid, want in flipped.items()
               if db_api.get_node(healthy[uuid]['id'])['power_state'] == want)


def suspect_queue(service):
    """Suspect reads submitted and not yet started (the executor's queue;
    a private attribute, read only for this figure)."""
    sync = getattr(service, '_power_sync', None)
    pool = sync and sync.suspect_pool
    return pool._work_queue.qsize() if pool is not None else 0


def cpu_seconds(pid):
    """User+system CPU seconds of process ``pid`` so far."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def one_sweep(service, emulator, recorder, healthy, dead, flipped):
    from bootflow.conductor import power
    emulator.reset_requests()
    mark = recorder.mark()
    emulator_cpu = cpu_seconds(emulator.proc.pid)
    own_cpu = time.process_time()
    start = time.monotonic()
    listed = power.sync_power_states(service)
    seconds = time.monotonic() - start
    own_cpu = time.process_time() - own_cpu
    emulator_cpu = cpu_seconds(emulator.proc.pid) - emulator_cpu
    seen = emulator.requests_seen()
    reads = recorder.since(mark)
    main = [r for r in reads if not r[4].startswith(SUSPECT_THREAD)]
    healthy_reads = [r for r in main if r[0] in healthy]
    per_node = collections.Counter(r[0] for r in healthy_reads)
    stale = [r[2] - start for r in healthy_reads]
    system_paths = [p for p in seen['by_path'] if p.count('/') == 4 and
                    p.startswith('/redfish/v1/Systems/')]
    result = {
        'seconds': rnd(seconds, 3), 'nodes_listed': listed,
        'cpu_bench': rnd(own_cpu), 'cpu_emulator': rnd(emulator_cpu),
        'healthy_read': len(per_node),
        'healthy_read_more_than_once': sum(
            1 for n in per_node.values() if n > 1),
        'healthy_failed': sum(1 for r in healthy_reads if not r[3]),
        'dead_read_in_sweep': sum(1 for r in main if r[0] in dead),
        'emulator_requests': seen['total'],
        'requests_per_node': rnd(seen['total'] / max(1, len(healthy)), 3),
        'by_method': seen.get('by_method', {}),
        'systems_requested': sum(1 for p in system_paths),
        'systems_requested_more_than_once': sum(
            1 for p in system_paths if seen['by_path'][p] > 1),
        'non_system_requests': {
            k: v for k, v in sorted(seen.get('by_request', {}).items())
            if not k.split(' ', 1)[1].startswith('/redfish/v1/Systems/')},
        'read_ms_p50': rnd(1000 * pct([r[2] - r[1] for r in healthy_reads],
                                      0.5), 1),
        'read_ms_p95': rnd(1000 * pct([r[2] - r[1] for r in healthy_reads],
                                      0.95), 1),
        'stale_p50': rnd(pct(stale, 0.5)), 'stale_p95': rnd(pct(stale, 0.95)),
        'stale_max': rnd(max(stale) if stale else None),
        'suspect_queue_after': suspect_queue(service),
    }
    if flipped:
        result['flipped'] = len(flipped)
        result['caught'] = caught(flipped, healthy)
    return result, start


def run_sweeps(args, service, emulator, recorder, healthy, dead, label):
    from bootflow.drivers.modules.redfish import utils as rf_utils
    rf_utils.clear_cache()
    rng = random.Random(args.seed)
    sweeps = []
    for k in range(1, args.sweeps + 1):
        flipped = (flip(emulator, healthy, args.flips, rng)
                   if k > 1 and args.flips else {})
        result, start = one_sweep(service, emulator, recorder, healthy,
                                  dead, flipped)
        result['sweep'] = k
        result['kind'] = 'cold' if k == 1 else 'warm'
        result['start'] = start
        sweeps.append(result)
        log('%s sweep %d: %.2fs, %d emulator requests, %s healthy read%s'
            % (label, k, result['seconds'], result['emulator_requests'],
               result['healthy_read'],
               ', caught %d/%d flips' % (result['caught'],
                                         result['flipped'])
               if flipped else ''))
        if args.interval and k < args.sweeps:
            time.sleep(args.interval)
    return sweeps


def drain_suspects(service, recorder, dead, sweeps, timeout):
    """Wait until no suspect read is queued or running; what they cost."""
    sync = getattr(service, '_power_sync', None)
    began = time.monotonic()
    while sync is not None and (suspect_queue(service) or not sync.idle()):
        if time.monotonic() - began > timeout:
            break
        time.sleep(0.05)
    drained = time.monotonic() - began
    reads = [r for r in recorder.since(0)
             if r[4].startswith(SUSPECT_THREAD)]
    per_sweep = []
    starts = [s['start'] for s in sweeps] + [float('inf')]
    for i, s in enumerate(sweeps):
        mine = [r for r in reads if starts[i] <= r[1] < starts[i + 1]]
        per_sweep.append(len(mine))
    by_kind = collections.defaultdict(list)
    for r in reads:
        if r[0] in dead:
            by_kind[dead[r[0]]['kind']].append(r[2] - r[1])
    per_node = collections.Counter(r[0] for r in reads)
    return {
        'drain_seconds_after_last_sweep': rnd(drained),
        'drained': bool(sync is None or (not suspect_queue(service)
                                         and sync.idle())),
        'suspect_reads_total': len(reads),
        'suspect_reads_started_per_sweep_window': per_sweep,
        'suspect_reads_per_dead_node_max': max(per_node.values())
        if per_node else 0,
        'suspect_threads': len({r[4] for r in reads}),
        'suspect_read_seconds_by_kind': {
            kind: {'n': len(v), 'mean': rnd(statistics.mean(v)),
                   'max': rnd(max(v))}
            for kind, v in sorted(by_kind.items())},
        'last_suspect_read_end_after_last_sweep_start': rnd(
            max(r[2] for r in reads) - sweeps[-1]['start'])
        if reads else None,
    }


def dead_summary(dead):
    from bootflow.db import api as db_api
    rows = [db_api.get_node(d['id']) for d in dead.values()]
    return {'maintenance_power_failure': sum(
        1 for r in rows if r['maintenance'] and r['fault'] ==
        'power failure'),
        'failures_recorded': sum(
            1 for r in rows
            if (r['driver_internal_info'] or {}).get('power_sync_failures'))}


# --- output -----------------------------------------------------------------

COLUMNS = [('sweep', 'sweep', 5), ('kind', 'kind', 4),
           ('seconds', 'seconds', 8), ('cpu_bench', 'cpu sync', 8),
           ('cpu_emulator', 'cpu emul', 8), ('healthy_read', 'read', 5),
           ('healthy_read_more_than_once', '>1x', 4),
           ('healthy_failed', 'fail', 4),
           ('dead_read_in_sweep', 'dead', 4),
           ('emulator_requests', 'bmc req', 7),
           ('systems_requested', 'systems', 7),
           ('requests_per_node', 'req/node', 8),
           ('read_ms_p50', 'read p50 ms', 11),
           ('stale_p50', 'stale p50', 9), ('stale_max', 'stale max', 9),
           ('suspect_queue_after', 'susp.queue', 10),
           ('caught', 'flips', 7)]


def table(sweeps):
    lines = ['  '.join(h.rjust(w) for _k, h, w in COLUMNS)]
    for s in sweeps:
        cells = []
        for key, _h, width in COLUMNS:
            value = s.get(key, '')
            if key == 'caught' and 'flipped' in s:
                value = '%d/%d' % (s['caught'], s['flipped'])
            cells.append(str(value).rjust(width))
        lines.append('  '.join(cells))
    return '\n'.join(lines)


def print_report(report):
    m, c = report['machine'], report['config']
    print('Power-state sync benchmark (%s)' % report['date'])
    print('machine: %s, nproc %d, Python %s, sushy %s, sushy-tools %s'
          % (m['host'], m['nproc'], m['python'], m['sushy'],
             m['sushy_tools']))
    print('config: workers %(workers)s, per-BMC %(per_bmc)s, suspect '
          'threads %(suspect_threads)s, read budget %(read_budget)ss, '
          'redfish connect/read timeout %(connect_timeout)s/'
          '%(read_timeout)ss, auth %(auth_type)s, force_power_state_during_'
          'sync %(force)s' % c)
    for name in ('healthy', 'dead'):
        sc = report.get(name)
        if not sc:
            continue
        print()
        print('scenario %s: %s' % (name, sc['description']))
        print(table(sc['sweeps']))
        warm = [s['seconds'] for s in sc['sweeps'] if s['kind'] == 'warm']
        if warm:
            print('warm sweeps: mean %.2fs, max %.2fs; requests per node '
                  'per warm sweep: %s' % (
                      statistics.mean(warm), max(warm),
                      sorted({s['requests_per_node'] for s in sc['sweeps']
                              if s['kind'] == 'warm'})))
        cold = sc['sweeps'][0]
        print('cold sweep non-system requests: %s'
              % json.dumps(cold['non_system_requests']))
        if 'suspects' in sc:
            print('suspects: %s' % json.dumps(sc['suspects']))
            print('dead nodes after: %s' % json.dumps(sc['dead_nodes']))
    print()
    print('warnings logged: %s' % json.dumps(report['log']))


def log_counts(path):
    counts = collections.Counter()
    with open(path, errors='replace') as f:
        for line in f:
            parts = line.split(' ', 3)
            if len(parts) == 4 and parts[2] in ('WARNING', 'ERROR'):
                counts[parts[2]] += 1
    return dict(counts)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--nodes', type=int, default=1000,
                   help='healthy Redfish nodes (emulated systems)')
    p.add_argument('--dead', type=int, default=100,
                   help='unreachable BMCs in scenario 2 (0: skip it)')
    p.add_argument('--sweeps', type=int, default=4,
                   help='sweeps per scenario (the first is cold)')
    p.add_argument('--workers', type=int, default=8,
                   help='[conductor]sync_power_state_workers')
    p.add_argument('--per-bmc', type=int, default=4,
                   help='[conductor]sync_power_state_per_bmc')
    p.add_argument('--read-budget', type=float, default=None,
                   help='[conductor]sync_power_state_timeout (default: '
                        'bootflow\'s)')
    p.add_argument('--flips', type=int, default=20,
                   help='machines whose power changes before each warm '
                        'sweep')
    p.add_argument('--interval', type=float, default=0,
                   help='seconds between sweeps (default back to back)')
    p.add_argument('--drain-timeout', type=float, default=900,
                   help='seconds to wait for suspect reads after the last '
                        'sweep')
    p.add_argument('--emulator-threads', type=int, default=32)
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--set', action='append', default=[],
                   metavar='SECTION.OPTION=VALUE',
                   help='any other bootflow option')
    p.add_argument('--json', help='also write the figures as JSON here '
                                  '("-": JSON on stdout instead of a table)')
    p.add_argument('--keep', action='store_true',
                   help='keep the work directory')
    return p.parse_args(argv)


def machine():
    import sushy
    from importlib import metadata
    return {'host': platform.node(), 'nproc': os.cpu_count(),
            'python': platform.python_version(),
            'sushy': getattr(sushy, '__version__', None) or
            metadata.version('sushy'),
            'sushy_tools': metadata.version('sushy-tools')}


def config_report(conf):
    return {'workers': conf.conductor.sync_power_state_workers,
            'per_bmc': conf.conductor.sync_power_state_per_bmc,
            'suspect_threads': max(
                1, conf.conductor.sync_power_state_workers // 4),
            'read_budget': conf.conductor.sync_power_state_timeout,
            'connect_timeout': conf.redfish.connect_timeout,
            'read_timeout': conf.redfish.read_timeout,
            'auth_type': conf.redfish.auth_type,
            'force': conf.conductor.force_power_state_during_sync,
            'max_retries': conf.conductor.power_state_sync_max_retries}


def run(args, work):
    logfile = os.path.join(work, 'bootflow.log')
    logging.basicConfig(filename=logfile, level=logging.WARNING,
                        format='%(asctime)s %(levelname)s %(name)s: '
                               '%(message)s')
    conf = configure(args, work)
    report = {'date': time.strftime('%Y-%m-%d %H:%M'), 'machine': machine(),
              'config': config_report(conf), 'args': vars(args)}
    log('starting the emulator with %d systems' % args.nodes)
    t0 = time.monotonic()
    emulator = bmc_emulators.RedfishEmulator(
        work, systems=args.nodes, username=USERNAME, password=PASSWORD,
        power_delay=0)
    report['emulator_start_seconds'] = rnd(time.monotonic() - t0)
    procs, service = [], None
    recorder = ReadRecorder()
    recorder.install()
    try:
        service = start_service(work)
        healthy = enroll_healthy(emulator, args.nodes)
        log('enrolled %d nodes' % len(healthy))
        report['healthy'] = {
            'description': '%d nodes behind one emulator' % args.nodes,
            'sweeps': run_sweeps(args, service, emulator, recorder, healthy,
                                 {}, 'healthy')}
        if args.dead:
            procs, bmcs = start_dead(args, work)
            dead = enroll_dead(bmcs)
            kinds = collections.Counter(d['kind'] for d in dead.values())
            log('enrolled %d unreachable nodes: %s' % (len(dead),
                                                       dict(kinds)))
            sweeps = run_sweeps(args, service, emulator, recorder, healthy,
                                dead, 'dead')
            report['dead'] = {
                'description': '%d nodes + %d unreachable (%s)' % (
                    args.nodes, len(dead), ', '.join(
                        '%d %s' % (n, k) for k, n in sorted(kinds.items()))),
                'sweeps': sweeps,
                'suspects': drain_suspects(service, recorder, dead, sweeps,
                                           args.drain_timeout),
                'dead_nodes': dead_summary(dead)}
    finally:
        if service is not None:
            service.stop()
        for proc in procs:
            proc.stop()
        emulator.stop()
    report['log'] = log_counts(logfile)
    for sc in ('healthy', 'dead'):
        for s in report.get(sc, {}).get('sweeps', []):
            s.pop('start', None)
    return report


def main(argv=None):
    args = parse_args(argv)
    work = tempfile.mkdtemp(prefix='power-sync-bench-')
    try:
        report = run(args, work)
    finally:
        if args.keep:
            log('work directory kept: %s' % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json == '-':
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print_report(report)
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(report, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""BootOS inspection benchmark: N real agents inspecting N nodes at once.

Starts bootflow all-in-one on a fresh database and a free loopback port,
enrolls N fake-hardware nodes (inspect_interface agent, deploy_interface
bootos), parks them all in "inspect wait" and launches N real
``bootos-agent --inspect`` processes at once, each on its own copy of the
``vm`` fixture tree with a unique MAC: seconds until every node is
manageable with its port, agent and service RSS. Then the ramdisk API
(lookup, idle poll, heartbeat, and the three mixed) from T client threads
on K nodes in "inspect wait". JSON on stdout, summary on stderr; exit 1
if a node or an agent failed.
"""

import argparse
import collections
import concurrent.futures
import datetime
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests

import endpoint_ready
import proc_sampler

HEADERS = {'X-OpenStack-Ironic-API-Version': 'latest'}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(REPO, 'tests', 'fixtures', 'hosts', 'vm')
FIXTURE_MAC = '02:fc:00:00:00:01'
MAC_FILES = ('sys/class/net/eth0/address', 'proc/cmdline')
PHASES = ('lookup', 'poll', 'heartbeat', 'mixed')


class BenchError(Exception):
    pass


def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def rnd(x, digits=1):
    return None if x is None else round(x, digits)


def cpu_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def pg_admin(sql):
    import psycopg2
    conn = psycopg2.connect(host='127.0.0.1', user='postgres',
                            dbname='postgres', connect_timeout=5)
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


class Service:
    """bootflow all-in-one; config, database and log in the work dir."""

    def __init__(self, args, work):
        self.work, self.proc, self.pg_db = work, None, None
        self.port = free_port()
        self.endpoint = 'http://127.0.0.1:%d' % self.port
        self.logfile = os.path.join(work, 'bootflow.log')
        db = 'sqlite:///%s/bootflow.sqlite' % work
        if args.db == 'postgresql':
            self.pg_db = 'bf_bench_%s' % uuid.uuid4().hex[:10]
            pg_admin('CREATE DATABASE "%s"' % self.pg_db)
            db = 'postgresql+psycopg2://postgres@127.0.0.1/' + self.pg_db
        os.makedirs(os.path.join(work, 'templates'))
        self.workers = args.workers or max(100, args.nodes)
        conf = {'DEFAULT': {'host': 'bootosbench', 'state_path': work},
                'api': {'host_ip': '127.0.0.1', 'port': self.port},
                'database': {'connection': db},
                'deploy': {'http_server_host': '127.0.0.1',
                           'http_server_port': free_port()},
                'agent': {'poll_interval': args.poll_interval},
                'bootos': {'templates_path': work + '/templates'},
                'conductor': {'api_url': self.endpoint,
                              'workers_pool_size': self.workers,
                              'sync_power_state_interval': 0}}
        for item in args.set:
            key, value = item.split('=', 1)
            section, option = key.rsplit('.', 1)
            conf.setdefault(section, {})[option] = value
        self.conf = os.path.join(work, 'bootflow.conf')
        with open(self.conf, 'w') as f:
            for section, options in conf.items():
                f.write('[%s]\n' % section + ''.join(
                    '%s = %s\n' % kv for kv in options.items()))

    def start(self, timeout=120):
        log('starting bootflow on %s in %s' % (self.endpoint, self.work))
        with open(self.logfile, 'wb') as out:
            self.proc = subprocess.Popen(
                [sys.executable, '-m', 'bootflow.cmd.aio', '--config-file',
                 self.conf], stdout=out, stderr=subprocess.STDOUT,
                cwd=REPO)
        deadline = time.monotonic() + timeout
        while not endpoint_ready.main(self.endpoint):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError('bootflow not ready (exit status %s):\n%s'
                                 % (self.proc.poll(), self.log_tail()))
            time.sleep(0.5)
        return self.proc.pid

    def log_tail(self, lines=40):
        with open(self.logfile, errors='replace') as f:
            return ''.join(collections.deque(f, lines))

    def log_summary(self):
        """WARNING/ERROR lines counted by level and by message start."""
        counts = collections.Counter()
        with open(self.logfile, errors='replace') as f:
            for line in f:
                m = re.search(r' (WARNING|ERROR|CRITICAL) (\S+ \S+ .*)', line)
                if m:
                    text = re.sub(r'[0-9a-f]{8}-[0-9a-f-]{27}', 'UUID',
                                  m.group(2))
                    counts[m.group(1)] += 1
                    counts['%s %s' % (m.group(1), text[:110])] += 1
        return dict(counts.most_common(12))

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.pg_db:
            pg_admin('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.pg_db)


class Api:
    """Set-up calls: one keep-alive session per thread, 409/503 retried."""

    def __init__(self, endpoint):
        self.endpoint, self.tls = endpoint, threading.local()
        self.retries = collections.Counter()

    def call(self, method, path, body=None, ok=(200,), params=None):
        if not hasattr(self.tls, 'session'):
            self.tls.session = requests.Session()
        deadline = time.monotonic() + 120
        while True:
            resp = self.tls.session.request(
                method, self.endpoint + path, json=body, params=params,
                headers=HEADERS, timeout=60)
            if resp.status_code in ok:
                return resp.json() if resp.content else None
            if resp.status_code not in (409, 503) or \
                    time.monotonic() > deadline:
                raise BenchError('%s %s -> %d: %s' % (
                    method, path, resp.status_code, resp.text[:400]))
            self.retries[resp.status_code] += 1
            time.sleep(0.2)

    def collect(self, path, key, fields, node_uuids):
        items, marker = [], None
        while True:
            page = self.call('GET', path, params={
                'fields': fields, 'limit': 1000, 'marker': marker})
            items += [i for i in page[key]
                      if i.get('node_uuid', i['uuid']) in node_uuids]
            if not page.get('next') or not page[key]:
                return items
            marker = page[key][-1]['uuid']

    def states(self, uuids):
        return {n['uuid']: n for n in self.collect(
            '/v1/nodes', 'nodes', 'uuid,provision_state,reservation,'
            'last_error,inspection_finished_at', set(uuids))}

    def ports(self, uuids):
        return self.collect('/v1/ports', 'ports', 'uuid,node_uuid,address',
                            set(uuids))


def count_states(nodes):
    return dict(collections.Counter(n['provision_state']
                                    for n in nodes.values()))


def provision(api, pool, uuids, verb, state, timeout=600):
    """Send verb to every node, wait until all rest in state (seconds)."""
    start = time.monotonic()
    list(pool.map(lambda u: api.call('PUT', '/v1/nodes/%s/states/provision'
                                     % u, {'target': verb}, ok=(202,)),
                  uuids))
    while True:
        nodes = api.states(uuids)
        if all(n['provision_state'] == state and not n['reservation']
               for n in nodes.values()):
            return round(time.monotonic() - start, 2)
        if time.monotonic() - start > timeout:
            raise BenchError('%s: not all in %r: %s'
                             % (verb, state, count_states(nodes)))
        time.sleep(0.25)


def make_fixture(work, i):
    """A copy of the vm tree whose MAC (interface address and BOOTIF on
    the kernel command line, the only places it appears) is unique."""
    mac = '02:bf:%02x:%02x:%02x:%02x' % tuple((i + 1).to_bytes(4, 'big'))
    tree = os.path.join(work, 'hosts', 'node%04d' % i)
    shutil.copytree(FIXTURE, tree, symlinks=True)
    for path in (os.path.join(tree, rel) for rel in MAC_FILES):
        with open(path) as f:
            text = f.read().replace(FIXTURE_MAC, mac)
        with open(path, 'w') as f:
            f.write(text.replace(FIXTURE_MAC.replace(':', '-'),
                                 mac.replace(':', '-')))
    return tree


class RssSampler:
    """Every 0.5 s: VmRSS of each live agent, and the service's process
    tree through proc_sampler.Sampler (which keeps its peak)."""

    def __init__(self, service_pid, interval=0.5):
        self.service = proc_sampler.Sampler([service_pid], interval)
        self.agents, self.agent_sum_peak = {}, 0
        self.interval, self.stop = interval, threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()

    def watch(self, pid):
        with self.lock:
            self.agents[pid] = []

    def _loop(self):
        while not self.stop.wait(self.interval):
            self.service.sample()
            total = 0
            with self.lock:
                for pid, rows in self.agents.items():
                    rss = (proc_sampler.read_status(pid) or {}).get('VmRSS')
                    if rss:
                        rows.append(rss)
                        total += rss
            self.agent_sum_peak = max(self.agent_sum_peak, total)

    def agent_summary(self):
        with self.lock:
            rows = [r for r in self.agents.values() if r]
        if not rows:
            return {'processes_sampled': 0}
        peaks = [max(r) / 1024.0 for r in rows]
        return {'processes_sampled': len(rows),
                'per_process_median_mib': rnd(statistics.median(
                    statistics.median(r) / 1024.0 for r in rows)),
                'per_process_max_mib': rnd(max(peaks)),
                'median_of_process_peaks_mib': rnd(statistics.median(peaks)),
                'all_agents_sum_peak_mib': rnd(self.agent_sum_peak / 1024.0)}


def launch_agents(endpoint, sampler, uuids, work):
    exe = os.path.join(os.path.dirname(sys.executable), 'bootos-agent')
    cmd = [exe] if os.path.exists(exe) else [sys.executable, '-m',
                                             'bootflow.agent.main']
    trees = [make_fixture(work, i) for i in range(len(uuids))]
    os.makedirs(os.path.join(work, 'agents'))
    procs = []
    log('launching %d agents (%s)' % (len(uuids), cmd[-1]))
    start, launched = time.monotonic(), time.time()
    for node_uuid, tree in zip(uuids, trees):
        with open(os.path.join(work, 'agents', node_uuid + '.log'),
                  'wb') as out:
            procs.append(subprocess.Popen(
                cmd + ['--api-url', endpoint, '--root', tree,
                       '--cmdline-file', os.devnull, '--node-uuid',
                       node_uuid, '--inspect'],
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, cwd=REPO))
        sampler.watch(procs[-1].pid)
    return procs, start, launched


def agent_logs(work, uuids, launched):
    """From the agents' logs: retries by HTTP status, error lines, and
    when (s after launch, median and max) they logged their start, were
    identified (inventory accepted) and finished."""
    retries, errors, when = collections.Counter(), [], {}
    marks = (('started', 'starting; API'), ('identified', 'This machine is'),
             ('finished', 'Finished: the server'))
    for node_uuid in uuids:
        with open(os.path.join(work, 'agents', node_uuid + '.log'),
                  errors='replace') as f:
            for line in f:
                m = re.search(r'returned (\d+):.*retrying', line)
                if m or 'retrying in' in line:
                    retries[m.group(1) if m else 'no answer'] += 1
                elif re.search(r'ERROR|Traceback', line) and len(errors) < 5:
                    errors.append('%s: %s' % (node_uuid, line.strip()[:300]))
                for name in (n for n, text in marks if text in line):
                    when.setdefault(name, []).append(time.mktime(
                        time.strptime(line[:19], '%Y-%m-%d %H:%M:%S')) +
                        int(line[20:23]) / 1000.0 - launched)
    return {'agent_retries': dict(retries), 'agent_error_lines': errors,
            'agent_seconds_after_launch': {
                k: {'median': rnd(statistics.median(v), 2),
                    'max': rnd(max(v), 2), 'count': len(v)}
                for k, v in when.items()}}


def wait_inspected(args, api, procs, uuids, start):
    """Seconds until every node is manageable with its port (polled
    every 0.5 s; None if some never is), and until the last agent exits."""
    out = {'seconds_to_all_manageable': None}
    while time.monotonic() - start < args.timeout:
        done = collections.Counter(
            'ok' if n['provision_state'] == 'manageable' and
            not n['reservation'] else n['provision_state']
            for n in api.states(uuids).values())
        if done['ok'] == len(uuids) and len(api.ports(uuids)) >= len(uuids):
            out['seconds_to_all_manageable'] = rnd(time.monotonic() - start,
                                                   2)
            break
        if all(p.poll() is not None for p in procs) and \
                done['ok'] + done['inspect failed'] == len(uuids):
            break
        time.sleep(0.5)
    for p in procs:
        try:
            p.wait(max(5, args.timeout - (time.monotonic() - start)))
        except subprocess.TimeoutExpired:
            pass   # killed by the caller, counted as failed
    out['seconds_to_last_agent_exit'] = rnd(time.monotonic() - start, 2)
    return out


def inspect_all(args, api, sampler, uuids, work):
    cpu = cpu_children()
    procs, start, launched = launch_agents(api.endpoint, sampler, uuids,
                                           work)
    launch_seconds = round(time.monotonic() - start, 2)
    try:
        out = wait_inspected(args, api, procs, uuids, start)
    finally:   # on a timeout or an error too: no agent outlives the run
        for p in (p for p in procs if p.poll() is None):
            p.kill()
            p.wait()
    nodes = api.states(uuids)
    done = [datetime.datetime.fromisoformat(n['inspection_finished_at'])
            .timestamp() - launched for n in nodes.values()
            if n['inspection_finished_at']]
    bad = [(u, p.returncode) for u, p in zip(uuids, procs)
           if p.returncode or nodes[u]['provision_state'] != 'manageable']
    out.update(launch_seconds=launch_seconds,
               agent_exit_codes=dict(collections.Counter(
                   str(p.returncode) for p in procs)), failures=len(bad),
               failed_samples=[dict(nodes[u], rc=rc) for u, rc in bad[:5]],
               ports=len(api.ports(uuids)), final_states=count_states(nodes),
               agent_rss=sampler.agent_summary(), agents_cpu_seconds=rnd(
                   cpu_children() - cpu), inspection_finished_after_launch={
                   'median': rnd(statistics.median(done), 2),
                   'max': rnd(max(done), 2)} if done else None)
    out.update(agent_logs(work, uuids, launched))
    return out


def arm(api, pool, uuids, macs):
    """Every node freshly in "inspect wait" (those still waiting aborted
    first), with the token its first lookup gives."""
    nodes = api.states(uuids)
    waiting = [u for u in uuids
               if nodes[u]['provision_state'] == 'inspect wait']
    if waiting:
        provision(api, pool, waiting, 'abort', 'inspect failed')
    provision(api, pool, uuids, 'inspect', 'inspect wait')
    armed = []
    for u in uuids:
        token = api.call('GET', '/v1/lookup', params={'node_uuid': u})[
            'config']['agent_token']
        if token == '******':
            raise BenchError('node %s gave no token at first lookup' % u)
        armed.append((u, macs[u], token))
    return armed


def hit(session, endpoint, kind, node):
    node_uuid, mac, token = node
    if kind == 'lookup':
        return session.get(endpoint + '/v1/lookup', headers=HEADERS,
                           params={'addresses': mac}, timeout=60)
    body = {'agent_token': token}
    if kind == 'heartbeat':
        body['callback_url'] = 'http://127.0.0.1:9'
    path = ('/v1/bootos/%s/poll' if kind == 'poll' else '/v1/heartbeat/%s')
    return session.post(endpoint + path % node_uuid, headers=HEADERS,
                        json=body, timeout=60)


def load_worker(endpoint, phase, nodes, index, threads, deadline):
    """Requests back to back on one session, walking the nodes from this
    thread's own offset; (kind, status, seconds) per request."""
    session, rows = requests.Session(), []
    kinds = ('lookup', 'poll', 'heartbeat') if phase == 'mixed' else (phase,)
    j = index * len(nodes) // threads * len(kinds)
    while time.monotonic() < deadline:
        kind, node = kinds[j % len(kinds)], nodes[j // len(kinds) % len(nodes)]
        t0 = time.monotonic()
        try:
            status = hit(session, endpoint, kind, node).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        rows.append((kind, status, time.monotonic() - t0))
        j += 1
    return rows


def figures(rows, elapsed):
    lat = sorted(r[2] * 1000 for r in rows)
    errors = collections.Counter(str(r[1]) for r in rows
                                 if str(r[1])[:1] != '2')
    return {'requests': len(rows), 'errors': dict(errors),
            'ok_per_s': rnd((len(rows) - sum(errors.values())) / elapsed),
            'p50_ms': rnd(lat[len(lat) // 2], 2),
            'p99_ms': rnd(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2),
            'max_ms': rnd(lat[-1]), 'over_900ms': sum(x > 900 for x in lat)}


def api_load(args, api, pool, uuids, macs):
    out = {}
    for phase in args.phases:
        nodes = arm(api, pool, uuids, macs)
        log('%s: %d threads for %.0f s on %d nodes'
            % (phase, args.threads, args.duration, len(nodes)))
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.threads) as workers:
            rows = sum(workers.map(lambda i: load_worker(
                api.endpoint, phase, nodes, i, args.threads,
                start + args.duration), range(args.threads)), [])
        elapsed = time.monotonic() - start
        out[phase] = {kind: figures([r for r in rows if r[0] == kind],
                                    elapsed)
                      for kind in sorted({r[0] for r in rows})}
        out[phase].update(seconds=rnd(elapsed, 2),
                          states_after=count_states(api.states(uuids)))
    return out


def enroll(args, api, pool):
    tag = uuid.uuid4().hex[:6]
    log('enrolling %d nodes, manage, inspect' % args.nodes)
    start = time.monotonic()
    uuids = list(pool.map(lambda i: api.call('POST', '/v1/nodes', {
        'driver': 'fake-hardware', 'name': 'bos-%s-%04d' % (tag, i),
        'inspect_interface': 'agent', 'deploy_interface': 'bootos'},
        ok=(201,))['uuid'], range(args.nodes)))
    took = {'enroll': round(time.monotonic() - start, 2)}
    took['manage'] = provision(api, pool, uuids, 'manage', 'manageable')
    took['inspect_to_wait'] = provision(api, pool, uuids, 'inspect',
                                        'inspect wait')
    return uuids, took


def run(args, work, result):
    svc = result['_svc'] = Service(args, work)
    info = result['service'] = {'workers_pool_size': svc.workers,
                                'pid': svc.start()}
    sampler, api = RssSampler(svc.proc.pid), Api(svc.endpoint)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        uuids, result['setup_seconds'] = enroll(args, api, pool)
        cpu = proc_sampler.cpu_seconds(svc.proc.pid)
        result['inspection'] = inspect_all(args, api, sampler, uuids, work)
        info['cpu_seconds_inspection'] = rnd(
            proc_sampler.cpu_seconds(svc.proc.pid) - cpu)
        info['peak_rss_mib_inspection'] = rnd(sampler.service.peak_rss_kb
                                              / 1024.0)
        macs = {p['node_uuid']: p['address'] for p in api.ports(uuids)}
        some = [u for u in uuids if u in macs][:args.api_nodes]
        if args.phases and some:
            result['api'] = api_load(args, api, pool, some, macs)
        nodes = api.states(some)
        waiting = [u for u in some
                   if nodes[u]['provision_state'] == 'inspect wait']
        if waiting:
            provision(api, pool, waiting, 'abort', 'inspect failed')
        result['final_states'] = count_states(api.states(uuids))
    sampler.stop.set()
    info.update(peak_rss_mib=rnd(sampler.service.peak_rss_kb / 1024.0),
                setup_retries=dict(api.retries))


def machine():
    commit = subprocess.run(['git', '-C', REPO, 'describe', '--always',
                             '--dirty'], capture_output=True, text=True)
    return {'nproc': os.cpu_count(), 'python': platform.python_version(),
            'platform': platform.platform(), 'loadavg': os.getloadavg(),
            'bootflow': commit.stdout.strip(), 'date': datetime.datetime.now(
                datetime.timezone.utc).isoformat(timespec='seconds')}


def summary(r):
    ins = r.get('inspection') or {}
    rss = ins.get('agent_rss') or {}
    lines = ['%(nodes)d nodes, poll interval %(poll_interval)s s, %(db)s'
             % r['parameters']] + ['  %s: %s' % (k, ins.get(k)) for k in (
                 'seconds_to_all_manageable',
                 'inspection_finished_after_launch', 'failures',
                 'agent_exit_codes', 'agent_retries',
                 'agents_cpu_seconds')] + [
        '  agent RSS MiB median %s, max %s; service peak RSS MiB %s' % (
            rss.get('per_process_median_mib'), rss.get('per_process_max_mib'),
            (r.get('service') or {}).get('peak_rss_mib'))]
    for phase, kinds in (r.get('api') or {}).items():
        lines += ['  %-9s %-9s %7.1f req/s  p50 %6.1f ms  p99 %7.1f ms  '
                  'errors %s' % (phase, k, f['ok_per_s'], f['p50_ms'],
                                 f['p99_ms'], f['errors'] or 0)
                  for k, f in kinds.items() if k in PHASES]
    log('summary: ' + '\n'.join(lines))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    add = p.add_argument
    add('--nodes', type=int, default=200)
    add('--poll-interval', type=float, default=1.0,
        help='[agent] poll_interval of the service (1.0)')
    add('--api-nodes', type=int, default=50)
    add('--duration', type=float, default=10.0, help='s per API phase (10)')
    add('--threads', type=int, default=16)
    add('--phases', default=','.join(PHASES),
        help='ramdisk API phases, in order ("" for none)')
    add('--workers', type=int, help='workers_pool_size (max(100, nodes))')
    add('--set', action='append', default=[], metavar='SECTION.OPT=VALUE',
        help='more service config')
    add('--db', choices=('sqlite', 'postgresql'), default='sqlite')
    add('--timeout', type=float, default=900.0, help='for the agents (900)')
    add('--out', help='also write the JSON here')
    add('--keep', action='store_true', help='keep the temp dir')
    args = p.parse_args()
    args.phases = [x for x in args.phases.split(',') if x]
    if set(args.phases) - set(PHASES):
        p.error('phases are %s' % ', '.join(PHASES))
    return args


def main():
    args = parse_args()
    work = tempfile.mkdtemp(prefix='bootos-bench.')
    result = {'parameters': {k: v for k, v in vars(args).items()
                             if k not in ('out', 'keep')},
              'machine': machine()}
    rc = 1
    try:
        run(args, work, result)
        rc = 0 if result['inspection']['failures'] == 0 else 1
    except (BenchError, requests.RequestException) as exc:
        result['error'] = str(exc)
        log('FAILED: %s' % exc)
    finally:
        svc = result.pop('_svc', None)
        if svc and svc.proc:
            result['service_log'] = svc.log_summary()
            if rc:
                log('service log tail:\n' + svc.log_tail())
            svc.stop()
    result['machine']['loadavg_end'] = os.getloadavg()
    summary(result)
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    if args.keep or rc:
        log('work dir kept: %s' % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())

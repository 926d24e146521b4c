#!/usr/bin/env python3
"""Parked-flow benchmark: N nodes waiting for their ramdisk at once.

A deploy waiting for the ramdisk's callback parks its flow, holding no
worker thread and no lock. To show it, N fake-hardware nodes with
``driver_info.fake_deploy_wait`` are deployed; the service's threads and RSS
are sampled while all N wait in ``wait call-back``, then while one heartbeat
per node wakes them. Without --endpoint/--pid it starts bootflow itself on a
fresh SQLite DB. JSON on stdout, progress on stderr; exit 1 if a node did
not end active or the run failed.
"""

import argparse
import collections
import concurrent.futures
import configparser
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

import requests

import endpoint_ready
import proc_sampler

HEADER = 'X-OpenStack-Ironic-API-Version'
FAILURE_STATES = {'deploy failed', 'clean failed', 'error'}
WAIT_STATE = 'wait call-back'
CALLBACK_URL = 'http://127.0.0.1:9/'


class BenchError(Exception):
    pass


def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def tree_usage(root):
    """(threads, RSS kB) over root and its descendants: a service that forks
    workers must not look lighter than one that does not."""
    threads = rss = 0
    for pid in proc_sampler.tree(root):
        status = proc_sampler.read_status(pid) or {}   # None: gone meanwhile
        threads += status.get('Threads', 0)
        rss += status.get('VmRSS', 0)
    return threads, rss


class Sampler:
    """Samples every 50 ms in the background, so that short-lived thread
    spikes between the benchmark's own polls still count in a peak."""

    def __init__(self, pid):
        self.pid, self.samples = pid, []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            self.now()
            time.sleep(0.05)

    def now(self):
        threads, rss = tree_usage(self.pid)
        self.samples.append((time.monotonic(), threads, rss))
        return {'threads': threads, 'rss_mib': round(rss / 1024.0, 1)}

    def peak(self, since):
        self.now()
        window = [s for s in self.samples if s[0] >= since]
        return {'threads': max(s[1] for s in window),
                'rss_mib': round(max(s[2] for s in window) / 1024.0, 1)}


def workers_pool_size(pid):
    """From the service's own --config-file(s) (last wins, as in
    oslo.config), so it is right for a service we did not start too."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = f.read().decode(errors='replace').split('\0')
    except OSError:
        return None
    size = 100   # bootflow's default
    for path in [b for a, b in zip(argv, argv[1:]) if a == '--config-file']:
        conf = configparser.ConfigParser(interpolation=None, strict=False)
        conf.read(path)
        size = conf.getint('conductor', 'workers_pool_size', fallback=size)
    return size


class Service:
    """bootflow all-in-one on a fresh SQLite database, so that nothing but
    this run's nodes weighs on the figures."""

    def __init__(self, extra_conf=()):
        self.work = tempfile.mkdtemp(prefix='bootflow-wait-bench.')
        self.proc = None
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            self.endpoint = 'http://127.0.0.1:%d' % s.getsockname()[1]
        self.conf = os.path.join(self.work, 'bootflow.conf')
        self.logfile = os.path.join(self.work, 'bootflow.log')
        lines = ['[DEFAULT]', 'host = waitbench', 'state_path = ' + self.work,
                 '[api]', 'host_ip = 127.0.0.1',
                 'port = ' + self.endpoint.rsplit(':', 1)[1], '[database]',
                 'connection = sqlite:///%s/bootflow.sqlite' % self.work,
                 '[conductor]', 'sync_power_state_interval = 0',
                 '[deploy]', 'http_server_enabled = false']
        with open(self.conf, 'w') as f:
            f.write('\n'.join(lines + list(extra_conf)) + '\n')

    def start(self, timeout=120):
        log('starting bootflow on %s in %s' % (self.endpoint, self.work))
        with open(self.logfile, 'wb') as out:
            self.proc = subprocess.Popen(
                [sys.executable, '-m', 'bootflow.cmd.aio', '--config-file',
                 self.conf], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not endpoint_ready.main(self.endpoint):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError('bootflow not ready (exit status %s)'
                                 % self.proc.poll())
            time.sleep(0.5)
        log('bootflow ready (pid %d)' % self.proc.pid)
        return self.proc.pid

    def log_tail(self, lines=30):
        with open(self.logfile, errors='replace') as f:
            return ''.join(collections.deque(f, lines))

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            log('stopping bootflow (pid %d)' % self.proc.pid)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log('no exit after %ds: SIGKILL' % timeout)
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)


class Client:
    """One keep-alive session per client thread, like a pool of real
    clients; 409 (node locked) and 503 (workers busy) mean "come back
    later", so they are retried after a pause, and counted."""

    def __init__(self, endpoint, patience=120.0):
        self.endpoint, self.patience = endpoint, patience
        self.version, self.retries = None, collections.Counter()
        self.tls, self.lock = threading.local(), threading.Lock()
        self.stopping = threading.Event()

    def call(self, method, path, body=None, ok=(200,), params=None):
        if not hasattr(self.tls, 'session'):
            self.tls.session = requests.Session()
        headers = {HEADER: self.version} if self.version else {}
        deadline = time.monotonic() + self.patience
        while True:
            try:
                resp = self.tls.session.request(
                    method, self.endpoint + path, json=body, params=params,
                    headers=headers, timeout=60)
                status, text = resp.status_code, resp.text
            except requests.RequestException as exc:
                status, text = 'connection', str(exc)
            if status in ok:
                return json.loads(text) if text else None
            if status not in (409, 503, 'connection') or \
                    self.stopping.is_set() or time.monotonic() > deadline:
                raise BenchError('%s %s -> %s: %s'
                                 % (method, path, status, text[:300]))
            with self.lock:
                self.retries[str(status)] += 1
            time.sleep(0.2)

    def states(self, wanted):
        """{uuid: node} for our nodes, from the paginated short listing."""
        found, marker = {}, None
        while True:
            page = self.call('GET', '/v1/nodes', params={
                'fields': 'uuid,provision_state,reservation,last_error',
                'limit': 1000, 'marker': marker})
            found.update((n['uuid'], n) for n in page['nodes']
                         if n['uuid'] in wanted)
            if not page.get('next') or not page['nodes']:
                return found
            marker = page['nodes'][-1]['uuid']


def wait_for(client, uuids, done, what, timeout, start):
    """Seconds from start until done(node) holds for every node; fails fast
    on failure states, since a node there never gets to the state wanted."""
    wanted = set(uuids)
    while True:
        nodes = client.states(wanted)
        if len(nodes) == len(wanted) and all(map(done, nodes.values())):
            return round(time.monotonic() - start, 2)
        failed = [n for n in nodes.values()
                  if n['provision_state'] in FAILURE_STATES]
        if failed or time.monotonic() - start > timeout:
            seen = collections.Counter(n['provision_state']
                                       for n in nodes.values())
            raise BenchError('waiting for %s: %d node(s) failed, states %s; '
                             'first: %s' % (what, len(failed), dict(seen),
                                            failed[:1]))
        time.sleep(0.25)


def in_state(state):
    return lambda n: n['provision_state'] == state and n['reservation'] is None


def send_all(pool, client, method, path, body, uuids):
    """Seconds to get every request accepted (202), retries included."""
    start = time.monotonic()
    list(pool.map(lambda u: client.call(method, path % u, body, ok=(202,)),
                  uuids))
    return round(time.monotonic() - start, 2)


def make_available(args, client, pool):
    token = uuid.uuid4().hex[:8]
    log('enrolling %d nodes' % args.nodes)
    uuids = list(pool.map(lambda i: client.call('POST', '/v1/nodes', {
        'driver': 'fake-hardware', 'name': 'waitbench-%s-%d' % (token, i),
        'driver_info': {'fake_deploy_wait': True}}, ok=(201,))['uuid'],
        range(args.nodes)))
    took = {}
    for verb, state in (('manage', 'manageable'), ('provide', 'available')):
        log('%s -> %s' % (verb, state))
        start = time.monotonic()
        send_all(pool, client, 'PUT', '/v1/nodes/%s/states/provision',
                 {'target': verb}, uuids)
        took[verb] = wait_for(client, uuids, in_state(state), state,
                              args.phase_timeout, start)
    return uuids, took


def run(args, client, sampler, pool):
    summary = {'nodes': args.nodes, 'client_threads': args.concurrency,
               'idle': sampler.now()}
    uuids, summary['seconds_to'] = make_available(args, client, pool)
    time.sleep(args.settle)
    summary['baseline'] = sampler.now()

    log('deploying %d nodes; waiting for %r' % (args.nodes, WAIT_STATE))
    start = time.monotonic()
    sent = send_all(pool, client, 'PUT', '/v1/nodes/%s/states/provision',
                    {'target': 'active'}, uuids)
    parked = wait_for(client, uuids, in_state(WAIT_STATE), WAIT_STATE,
                      args.phase_timeout, start)
    since = time.monotonic()
    time.sleep(args.settle)
    summary['parked'] = {'seconds_to_park_all': parked,
                         'seconds_sending_deploys': sent,
                         'sampled_seconds': args.settle,
                         'peak': sampler.peak(since), 'final': sampler.now()}
    log('all parked: %s' % summary['parked'])

    log('heartbeating %d nodes' % args.nodes)
    start = time.monotonic()
    sent = send_all(pool, client, 'POST', '/v1/heartbeat/%s',
                    {'callback_url': CALLBACK_URL}, uuids)
    summary['heartbeats'] = {
        'seconds_first_heartbeat_to_all_active': wait_for(
            client, uuids, in_state('active'), 'active', args.phase_timeout,
            start),
        'seconds_sending_heartbeats': sent, 'peak': sampler.peak(start)}
    log('all active: %s' % summary['heartbeats'])
    time.sleep(args.settle)
    summary['after'] = sampler.now()
    final = client.states(set(uuids))
    summary['final_states'] = dict(collections.Counter(
        n['provision_state'] for n in final.values()))
    summary['ok'] = summary['final_states'] == {'active': args.nodes}
    return summary


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--nodes', type=int, default=1000)
    p.add_argument('--endpoint', help='a running service (loopback only)')
    p.add_argument('--pid', type=int, help='its process id (with --endpoint)')
    p.add_argument('-c', '--concurrency', type=int, default=16)
    p.add_argument('--settle', type=float, default=5.0,
                   help='seconds sampled while the nodes wait (5)')
    p.add_argument('--phase-timeout', type=float, default=900.0)
    p.add_argument('--conf', action='append', default=[], metavar='LINE',
                   help='extra config line for the service we start')
    p.add_argument('--out', help='also write the JSON summary here')
    args = p.parse_args()
    if bool(args.endpoint) != bool(args.pid):
        p.error('--endpoint and --pid go together')
    if args.endpoint:
        args.endpoint = args.endpoint.rstrip('/')
        if urllib.parse.urlsplit(args.endpoint).hostname != '127.0.0.1':
            p.error('--endpoint must be on 127.0.0.1')
    return args


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    service, summary, rc = None, {}, 1
    client = Client(args.endpoint)
    pool = concurrent.futures.ThreadPoolExecutor(args.concurrency)
    info = {'endpoint': args.endpoint, 'pid': args.pid}
    try:
        if not args.endpoint:
            service = Service(args.conf)
            info['pid'] = service.start()
            client.endpoint = info['endpoint'] = service.endpoint
        info['workers_pool_size'] = workers_pool_size(info['pid'])
        client.version = client.call('GET', '/')['default_version']['version']
        summary = run(args, client, Sampler(info['pid']), pool)
        rc = 0 if summary['ok'] else 1
    except BenchError as exc:
        summary['error'] = str(exc)
        log('FAILED: %s' % exc)
    finally:   # on a signal too: no client call outlives the service
        client.stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)
        if service:
            if rc:
                log('service log tail:\n' + service.log_tail())
            service.stop()
    summary.update(info, api_version=client.version,
                   retries=dict(client.retries))
    text = json.dumps(summary, indent=2, sort_keys=True)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return rc


if __name__ == '__main__':
    sys.exit(main())
